//! Server settings: flags, an optional redis.conf-style file, and the live
//! view CONFIG GET/SET reads and changes.
//!
//! Every setting, whatever its source, goes through [`RuntimeConfig::set`],
//! so a flag, a config file line and `CONFIG SET` validate the same way.
//! Hot settings are mirrored in atomics so the command path never takes the
//! settings lock.

use crate::util;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EvictionPolicy {
    NoEviction,
    AllKeysLru,
    VolatileLru,
    AllKeysRandom,
    VolatileRandom,
    VolatileTtl,
    AllKeysLfu,
    VolatileLfu,
}

impl EvictionPolicy {
    const ALL: [(EvictionPolicy, &'static str); 8] = [
        (EvictionPolicy::NoEviction, "noeviction"),
        (EvictionPolicy::AllKeysLru, "allkeys-lru"),
        (EvictionPolicy::VolatileLru, "volatile-lru"),
        (EvictionPolicy::AllKeysRandom, "allkeys-random"),
        (EvictionPolicy::VolatileRandom, "volatile-random"),
        (EvictionPolicy::VolatileTtl, "volatile-ttl"),
        (EvictionPolicy::AllKeysLfu, "allkeys-lfu"),
        (EvictionPolicy::VolatileLfu, "volatile-lfu"),
    ];

    /// Keys carry an access-frequency counter instead of an access time.
    pub fn is_lfu(self) -> bool {
        matches!(self, EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu)
    }

    pub fn parse(s: &str) -> Option<EvictionPolicy> {
        Self::ALL.iter().find(|(_, n)| n.eq_ignore_ascii_case(s)).map(|(p, _)| *p)
    }

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(p, _)| *p == self).map(|(_, n)| *n).unwrap_or("noeviction")
    }
}

/// Why a setting was refused; the text follows Redis's CONFIG SET errors.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    Unknown,
    Invalid(String),
}

/// Settings that exist for client compatibility and are stored as given.
const PASSIVE: &[(&str, &str)] = &[
    ("save", ""),
    ("appendonly", "no"),
    ("databases", "16"),
    ("hz", "10"),
    ("loglevel", "notice"),
    ("dir", "/"),
    ("dbfilename", "dump.rdb"),
    ("tcp-keepalive", "300"),
    ("lazyfree-lazy-eviction", "no"),
    ("lazyfree-lazy-expire", "no"),
    ("lazyfree-lazy-user-del", "no"),
    ("lazyfree-lazy-user-flush", "no"),
    ("replica-read-only", "yes"),
    ("cluster-enabled", "no"),
    ("notify-keyspace-events", ""),
    ("busy-reply-threshold", "5000"),
    ("lua-time-limit", "5000"),
    ("slowlog-log-slower-than", "10000"),
    ("slowlog-max-len", "128"),
    ("latency-tracking", "yes"),
    ("client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
    ("maxmemory-clients", "0"),
    ("tcp-backlog", "511"),
    ("daemonize", "no"),
    ("protected-mode", "yes"),
];

/// The live settings of one server.
pub struct RuntimeConfig {
    pub maxmemory: AtomicU64,
    policy: AtomicU8,
    pub maxmemory_samples: AtomicU64,
    /// How slowly the LFU counter grows (Redis's `lfu-log-factor`).
    pub lfu_log_factor: AtomicU64,
    /// Minutes per LFU counter decrement of an idle key; 0 = no decay.
    pub lfu_decay_time: AtomicU64,
    pub maxclients: AtomicU64,
    /// Idle seconds before a client is closed; 0 = never.
    pub timeout: AtomicU64,
    pub proto_max_bulk_len: AtomicI64,
    pub port: AtomicU64,
    /// Longest timeout a TXN.PREPARE may ask for, in ms (`txn-max-timeout`).
    pub txn_max_timeout: AtomicU64,
    /// Prepared cross-node transactions held at once (`txn-max-prepared`).
    pub txn_max_prepared: AtomicU64,
    requirepass: Mutex<Option<String>>,
    cluster_secret: Mutex<Option<String>>,
    bind: Mutex<String>,
    passive: Mutex<BTreeMap<String, String>>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            maxmemory: AtomicU64::new(0),
            policy: AtomicU8::new(EvictionPolicy::NoEviction as u8),
            maxmemory_samples: AtomicU64::new(5),
            lfu_log_factor: AtomicU64::new(10),
            lfu_decay_time: AtomicU64::new(1),
            maxclients: AtomicU64::new(10000),
            timeout: AtomicU64::new(0),
            proto_max_bulk_len: AtomicI64::new(512 * 1024 * 1024),
            port: AtomicU64::new(6379),
            txn_max_timeout: AtomicU64::new(60_000),
            txn_max_prepared: AtomicU64::new(10_000),
            requirepass: Mutex::new(None),
            cluster_secret: Mutex::new(None),
            bind: Mutex::new("127.0.0.1".into()),
            passive: Mutex::new(PASSIVE.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

impl RuntimeConfig {
    /// On every key lookup (LRU or LFU bookkeeping): one load, one index
    /// (`ALL` is in declaration order).
    #[inline]
    pub fn policy(&self) -> EvictionPolicy {
        EvictionPolicy::ALL.get(self.policy.load(Ordering::Relaxed) as usize).map_or(EvictionPolicy::NoEviction, |(p, _)| *p)
    }

    pub fn requirepass(&self) -> Option<String> {
        self.requirepass.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The secret TXN.HELLO must present; `None` = TXN.* refused to all.
    pub fn cluster_secret(&self) -> Option<String> {
        self.cluster_secret.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// What coordinators may ask of this node (see [`crate::txn::Limits`]).
    pub fn txn_limits(&self) -> crate::txn::Limits {
        let max_prepared = self.txn_max_prepared.load(Ordering::Relaxed) as usize;
        crate::txn::Limits { max_prepared, max_pinned: max_prepared.saturating_mul(10) }
    }

    pub fn bind(&self) -> String {
        self.bind.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The names of every setting CONFIG GET knows, in a stable order.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = [
            "maxmemory",
            "maxmemory-policy",
            "maxmemory-samples",
            "lfu-log-factor",
            "lfu-decay-time",
            "maxclients",
            "timeout",
            "proto-max-bulk-len",
            "port",
            "requirepass",
            "bind",
            "txn-max-timeout",
            "txn-max-prepared",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        names.extend(self.passive.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned());
        names
    }

    /// The current value of a setting as CONFIG GET prints it.
    pub fn get(&self, name: &str) -> Option<String> {
        let n = name.to_ascii_lowercase();
        Some(match n.as_str() {
            "maxmemory" => self.maxmemory.load(Ordering::Relaxed).to_string(),
            "maxmemory-policy" => self.policy().name().to_string(),
            "maxmemory-samples" => self.maxmemory_samples.load(Ordering::Relaxed).to_string(),
            "lfu-log-factor" => self.lfu_log_factor.load(Ordering::Relaxed).to_string(),
            "lfu-decay-time" => self.lfu_decay_time.load(Ordering::Relaxed).to_string(),
            "maxclients" => self.maxclients.load(Ordering::Relaxed).to_string(),
            "timeout" => self.timeout.load(Ordering::Relaxed).to_string(),
            "proto-max-bulk-len" => self.proto_max_bulk_len.load(Ordering::Relaxed).to_string(),
            "port" => self.port.load(Ordering::Relaxed).to_string(),
            "txn-max-timeout" => self.txn_max_timeout.load(Ordering::Relaxed).to_string(),
            "txn-max-prepared" => self.txn_max_prepared.load(Ordering::Relaxed).to_string(),
            "requirepass" => self.requirepass().unwrap_or_default(),
            "cluster-secret" => String::new(),
            "bind" => self.bind(),
            _ => {
                return self.passive.lock().unwrap_or_else(|p| p.into_inner()).get(&n).cloned();
            }
        })
    }

    /// Changes a setting, validating it as Redis does.
    pub fn set(&self, name: &str, value: &str) -> Result<(), ConfigError> {
        let n = name.to_ascii_lowercase();
        let invalid = |why: &str| ConfigError::Invalid(why.to_string());
        match n.as_str() {
            "maxmemory" => self.maxmemory.store(util::parse_memory(value).ok_or_else(|| invalid("argument must be a memory value"))?, Ordering::Relaxed),
            "maxmemory-policy" => {
                let p = EvictionPolicy::parse(value).ok_or_else(|| {
                    invalid("argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction")
                })?;
                self.policy.store(p as u8, Ordering::Relaxed);
            }
            "maxmemory-samples" => self.maxmemory_samples.store(parse_ranged(value, 1, i32::MAX as u64)?, Ordering::Relaxed),
            "lfu-log-factor" => self.lfu_log_factor.store(parse_ranged(value, 0, i32::MAX as u64)?, Ordering::Relaxed),
            "lfu-decay-time" => self.lfu_decay_time.store(parse_ranged(value, 0, i32::MAX as u64)?, Ordering::Relaxed),
            "maxclients" => self.maxclients.store(parse_ranged(value, 1, u32::MAX as u64)?, Ordering::Relaxed),
            "timeout" => self.timeout.store(parse_ranged(value, 0, i32::MAX as u64)?, Ordering::Relaxed),
            "proto-max-bulk-len" => {
                let v = util::parse_memory(value).ok_or_else(|| invalid("argument must be a memory value"))?;
                if v < 1024 * 1024 {
                    return Err(invalid("argument must be between 1048576 and 9223372036854775807 inclusive"));
                }
                // A record holds keys and values of up to 4 GiB each.
                if v > crate::store::record::MAX_PART as u64 {
                    return Err(invalid("argument must be between 1048576 and 4294967295 inclusive"));
                }
                self.proto_max_bulk_len.store(v as i64, Ordering::Relaxed);
            }
            "port" => self.port.store(parse_ranged(value, 0, 65535)?, Ordering::Relaxed),
            "txn-max-timeout" => self.txn_max_timeout.store(parse_ranged(value, 1, 24 * 3600 * 1000)?, Ordering::Relaxed),
            "txn-max-prepared" => self.txn_max_prepared.store(parse_ranged(value, 1, i32::MAX as u64)?, Ordering::Relaxed),
            "requirepass" => *self.requirepass.lock().unwrap_or_else(|p| p.into_inner()) = if value.is_empty() { None } else { Some(value.to_string()) },
            "bind" => *self.bind.lock().unwrap_or_else(|p| p.into_inner()) = value.to_string(),
            "cluster-secret" => *self.cluster_secret.lock().unwrap_or_else(|p| p.into_inner()) = if value.is_empty() { None } else { Some(value.to_string()) },
            _ => {
                let mut passive = self.passive.lock().unwrap_or_else(|p| p.into_inner());
                let Some(slot) = passive.get_mut(&n) else {
                    return Err(ConfigError::Unknown);
                };
                if n == "appendonly" && parse_bool(value).is_none() {
                    return Err(invalid("argument must be 'yes' or 'no'"));
                }
                *slot = value.to_string();
            }
        }
        Ok(())
    }

    /// Applies a redis.conf-style file: `name value...` per line, `#`
    /// comments. Unknown names are errors, as in redis-server.
    pub fn load_file(&self, text: &str) -> Result<(), String> {
        for (lineno, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words = crate::resp::parser::split_args(line.as_bytes()).ok_or_else(|| format!("line {}: unbalanced quotes", lineno + 1))?;
            let mut words = words.into_iter().map(|w| String::from_utf8_lossy(&w).into_owned());
            let name = words.next().unwrap_or_default();
            let value = words.collect::<Vec<_>>().join(" ");
            self.set(&name, &value).map_err(|e| format!("line {}: '{}': {:?}", lineno + 1, name, e))?;
        }
        Ok(())
    }
}

fn parse_ranged(value: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    match value.parse::<i64>() {
        Ok(v) if v >= 0 && (min..=max).contains(&(v as u64)) => Ok(v as u64),
        Ok(_) => Err(ConfigError::Invalid(format!("argument must be between {min} and {max} inclusive"))),
        Err(_) => Err(ConfigError::Invalid("argument couldn't be parsed into an integer".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_listed_in_declaration_order() {
        for (i, (p, _)) in EvictionPolicy::ALL.iter().enumerate() {
            assert_eq!(*p as usize, i);
        }
    }

    #[test]
    fn set_and_get() {
        let c = RuntimeConfig::default();
        c.set("maxmemory", "100mb").unwrap();
        assert_eq!(c.get("maxmemory").unwrap(), "104857600");
        c.set("maxmemory-policy", "ALLKEYS-LRU").unwrap();
        assert_eq!(c.policy(), EvictionPolicy::AllKeysLru);
        assert_eq!(c.set("nosuch", "1"), Err(ConfigError::Unknown));
        assert!(c.set("maxclients", "0").is_err());
        c.load_file("# comment\nsave \"\"\nappendonly no\ntimeout 5\n").unwrap();
        assert_eq!(c.get("timeout").unwrap(), "5");
    }
}
