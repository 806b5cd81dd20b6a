//! Server settings: flags, an optional redis.conf-style file, and the live
//! view CONFIG GET/SET reads and changes.
//!
//! Every setting, whatever its source, goes through [`RuntimeConfig::set`],
//! so a flag, a config file line and `CONFIG SET` validate the same way.
//! Hot settings are mirrored in atomics so the command path never takes the
//! settings lock.

/// The Redis version shardis answers as (INFO, HELLO, RDB files).
pub const REDIS_VERSION: &str = "7.0.15";

use crate::util;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering};

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

    pub fn is_lru(self) -> bool {
        matches!(self, EvictionPolicy::AllKeysLru | EvictionPolicy::VolatileLru)
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

/// Every directive redis-server 7.0 reads from its config file (its
/// `CONFIG GET *` names plus those only a file has). One shardis does not
/// act on is accepted at startup and named in one warning, so a stock
/// redis.conf loads; anything else stops startup, as in redis-server.
const REDIS_DIRECTIVES: &[&str] = &[
    "acl-pubsub-default",
    "aclfile",
    "acllog-max-len",
    "active-defrag-cycle-max",
    "active-defrag-cycle-min",
    "active-defrag-ignore-bytes",
    "active-defrag-max-scan-fields",
    "active-defrag-threshold-lower",
    "active-defrag-threshold-upper",
    "active-expire-effort",
    "activedefrag",
    "activerehashing",
    "always-show-logo",
    "aof-disable-auto-gc",
    "aof-load-truncated",
    "aof-rewrite-incremental-fsync",
    "aof-timestamp-enabled",
    "aof-use-rdb-preamble",
    "aof_rewrite_cpulist",
    "appenddirname",
    "appendfilename",
    "appendfsync",
    "appendonly",
    "auto-aof-rewrite-min-size",
    "auto-aof-rewrite-percentage",
    "bgsave_cpulist",
    "bind",
    "bind-source-addr",
    "bio_cpulist",
    "busy-reply-threshold",
    "client-output-buffer-limit",
    "cluster-allow-pubsubshard-when-down",
    "cluster-allow-reads-when-down",
    "cluster-allow-replica-migration",
    "cluster-announce-bus-port",
    "cluster-announce-hostname",
    "cluster-announce-ip",
    "cluster-announce-port",
    "cluster-announce-tls-port",
    "cluster-config-file",
    "cluster-enabled",
    "cluster-link-sendbuf-limit",
    "cluster-migration-barrier",
    "cluster-node-timeout",
    "cluster-port",
    "cluster-preferred-endpoint-type",
    "cluster-replica-no-failover",
    "cluster-replica-validity-factor",
    "cluster-require-full-coverage",
    "cluster-slave-no-failover",
    "cluster-slave-validity-factor",
    "crash-log-enabled",
    "crash-memcheck-enabled",
    "daemonize",
    "databases",
    "dbfilename",
    "dir",
    "disable-thp",
    "dynamic-hz",
    "enable-debug-command",
    "enable-module-command",
    "enable-protected-configs",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "hash-max-ziplist-entries",
    "hash-max-ziplist-value",
    "hll-sparse-max-bytes",
    "hz",
    "ignore-warnings",
    "io-threads",
    "io-threads-do-reads",
    "jemalloc-bg-thread",
    "latency-monitor-threshold",
    "latency-tracking",
    "latency-tracking-info-percentiles",
    "lazyfree-lazy-eviction",
    "lazyfree-lazy-expire",
    "lazyfree-lazy-server-del",
    "lazyfree-lazy-user-del",
    "lazyfree-lazy-user-flush",
    "lfu-decay-time",
    "lfu-log-factor",
    "list-compress-depth",
    "list-max-listpack-size",
    "list-max-ziplist-size",
    "logfile",
    "loglevel",
    "lua-time-limit",
    "masterauth",
    "masteruser",
    "maxclients",
    "maxmemory",
    "maxmemory-clients",
    "maxmemory-eviction-tenacity",
    "maxmemory-policy",
    "maxmemory-samples",
    "min-replicas-max-lag",
    "min-replicas-to-write",
    "min-slaves-max-lag",
    "min-slaves-to-write",
    "no-appendfsync-on-rewrite",
    "notify-keyspace-events",
    "oom-score-adj",
    "oom-score-adj-values",
    "pidfile",
    "port",
    "proc-title-template",
    "propagation-error-behavior",
    "protected-mode",
    "proto-max-bulk-len",
    "rdb-del-sync-files",
    "rdb-save-incremental-fsync",
    "rdbchecksum",
    "rdbcompression",
    "repl-backlog-size",
    "repl-backlog-ttl",
    "repl-disable-tcp-nodelay",
    "repl-diskless-load",
    "repl-diskless-sync",
    "repl-diskless-sync-delay",
    "repl-diskless-sync-max-replicas",
    "repl-ping-replica-period",
    "repl-ping-slave-period",
    "repl-timeout",
    "replica-announce-ip",
    "replica-announce-port",
    "replica-announced",
    "replica-ignore-disk-write-errors",
    "replica-ignore-maxmemory",
    "replica-lazy-flush",
    "replica-priority",
    "replica-read-only",
    "replica-serve-stale-data",
    "replicaof",
    "requirepass",
    "sanitize-dump-payload",
    "save",
    "server_cpulist",
    "set-max-intset-entries",
    "set-proc-title",
    "shutdown-on-sigint",
    "shutdown-on-sigterm",
    "shutdown-timeout",
    "slave-announce-ip",
    "slave-announce-port",
    "slave-ignore-maxmemory",
    "slave-lazy-flush",
    "slave-priority",
    "slave-read-only",
    "slave-serve-stale-data",
    "slaveof",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "socket-mark-id",
    "stop-writes-on-bgsave-error",
    "stream-node-max-bytes",
    "stream-node-max-entries",
    "supervised",
    "syslog-enabled",
    "syslog-facility",
    "syslog-ident",
    "tcp-backlog",
    "tcp-keepalive",
    "timeout",
    "tls-auth-clients",
    "tls-ca-cert-dir",
    "tls-ca-cert-file",
    "tls-cert-file",
    "tls-ciphers",
    "tls-ciphersuites",
    "tls-client-cert-file",
    "tls-client-key-file",
    "tls-client-key-file-pass",
    "tls-cluster",
    "tls-dh-params-file",
    "tls-key-file",
    "tls-key-file-pass",
    "tls-port",
    "tls-prefer-server-ciphers",
    "tls-protocols",
    "tls-replication",
    "tls-session-cache-size",
    "tls-session-cache-timeout",
    "tls-session-caching",
    "tracking-table-max-keys",
    "unixsocket",
    "unixsocketperm",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "zset-max-ziplist-entries",
    "zset-max-ziplist-value",
    "rename-command",
    "user",
    "loadmodule",
    "sentinel",
];

/// Settings that exist for client compatibility and are stored as given.
const PASSIVE: &[(&str, &str)] = &[
    ("save", "3600 1 300 100 60 10000"),
    ("rdbcompression", "yes"),
    ("rdbchecksum", "yes"),
    ("stop-writes-on-bgsave-error", "yes"),
    ("appendonly", "no"),
    ("appendfsync", "everysec"),
    ("appenddirname", "appendonlydir"),
    ("appendfilename", "appendonly.aof"),
    ("aof-load-truncated", "yes"),
    ("aof-use-rdb-preamble", "yes"),
    ("aof-rewrite-incremental-fsync", "yes"),
    ("auto-aof-rewrite-percentage", "100"),
    ("auto-aof-rewrite-min-size", "67108864"),
    ("no-appendfsync-on-rewrite", "no"),
    ("databases", "16"),
    ("hz", "10"),
    ("loglevel", "notice"),
    ("dbfilename", "dump.rdb"),
    ("tcp-keepalive", "300"),
    ("lazyfree-lazy-eviction", "no"),
    ("lazyfree-lazy-expire", "no"),
    ("replica-read-only", "yes"),
    ("repl-timeout", "60"),
    ("cluster-enabled", "no"),
    ("busy-reply-threshold", "5000"),
    ("lua-time-limit", "5000"),
    ("latency-tracking", "yes"),
    ("maxmemory-clients", "0"),
    ("tcp-backlog", "511"),
    ("daemonize", "no"),
    ("protected-mode", "yes"),
    ("pidfile", ""),
    ("logfile", ""),
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
    /// A hash stays a listpack while it has at most this many fields
    /// (`hash-max-listpack-entries`, alias `hash-max-ziplist-entries`)...
    pub hash_max_listpack_entries: AtomicU64,
    /// ...and no field or value longer than this (`hash-max-listpack-value`).
    pub hash_max_listpack_value: AtomicU64,
    /// A sparse HyperLogLog becomes dense past this many bytes
    /// (`hll-sparse-max-bytes`).
    pub hll_sparse_max_bytes: AtomicU64,
    /// A set of integers stays an intset up to this many members
    /// (`set-max-intset-entries`).
    pub set_max_intset_entries: AtomicU64,
    /// A sorted set stays a listpack while it has at most this many
    /// members (`zset-max-listpack-entries`, alias
    /// `zset-max-ziplist-entries`)...
    pub zset_max_listpack_entries: AtomicU64,
    /// ...and none longer than this (`zset-max-listpack-value`).
    pub zset_max_listpack_value: AtomicU64,
    /// A stream node is closed at this many bytes of listpack
    /// (`stream-node-max-bytes`; 0: no limit)...
    pub stream_node_max_bytes: AtomicU64,
    /// ...or this many entries (`stream-node-max-entries`; 0: no limit).
    pub stream_node_max_entries: AtomicU64,
    /// Keys client-side caching remembers at most (`tracking-table-max-keys`).
    pub tracking_table_max_keys: AtomicU64,
    /// `client-output-buffer-limit`: hard bytes, soft bytes, soft seconds
    /// for the normal, replica and pubsub classes (only pubsub is enforced
    /// so far: normal clients have no limit by default, and there are no
    /// replicas yet).
    pub output_limits: [crate::node::pubsub::BufferLimit; 3],
    /// The classes of keyspace notifications published
    /// (`notify-keyspace-events`, as `store::notify`'s flags).
    pub notify_keyspace_events: std::sync::atomic::AtomicU32,
    /// A list node's limit (`list-max-listpack-size`, alias
    /// `list-max-ziplist-size`): negative caps its bytes (-1 4 kB ... -5
    /// 64 kB), positive its elements.
    pub list_max_listpack_size: AtomicI64,
    /// `list-compress-depth`: kept and reported; nodes are not compressed.
    pub list_compress_depth: AtomicU64,
    /// `lazyfree-lazy-user-del`: DEL frees big values in the background, as
    /// UNLINK does.
    pub lazyfree_lazy_user_del: AtomicBool,
    /// `lazyfree-lazy-user-flush`: FLUSHALL / FLUSHDB without SYNC or ASYNC
    /// are ASYNC.
    pub lazyfree_lazy_user_flush: AtomicBool,
    /// Bytes of the effect log kept for readers (`repl-backlog-size`).
    pub repl_backlog_size: AtomicU64,
    /// `min-replicas-to-write` / `min-replicas-max-lag` (aliases
    /// `min-slaves-*`): writes are refused with fewer good replicas.
    pub min_replicas_to_write: AtomicU64,
    pub min_replicas_max_lag: AtomicU64,
    /// Who may run DEBUG (`enable-debug-command`; startup only).
    pub enable_debug_command: AtomicU8,
    /// Who may CONFIG SET `dir` and `dbfilename`
    /// (`enable-protected-configs`; startup only).
    pub enable_protected_configs: AtomicU8,
    /// Idle seconds before a client is closed; 0 = never.
    pub timeout: AtomicU64,
    pub proto_max_bulk_len: AtomicI64,
    /// A client whose unprocessed input passes this many bytes is closed
    /// (`client-query-buffer-limit`).
    pub client_query_buffer_limit: AtomicU64,
    pub port: AtomicU64,
    /// Longest timeout a TXN.PREPARE may ask for, in ms (`txn-max-timeout`).
    pub txn_max_timeout: AtomicU64,
    /// Prepared cross-node transactions held at once (`txn-max-prepared`).
    pub txn_max_prepared: AtomicU64,
    /// Commands running at least this many microseconds are logged in the
    /// slow log; negative: none (`slowlog-log-slower-than`).
    pub slowlog_log_slower_than: AtomicI64,
    /// Entries the slow log keeps (`slowlog-max-len`).
    pub slowlog_max_len: AtomicU64,
    requirepass: Mutex<Option<String>>,
    cluster_secret: Mutex<Option<String>>,
    bind: Mutex<String>,
    passive: Mutex<BTreeMap<String, String>>,
    /// The file the settings were read from (INFO `config_file`, CONFIG
    /// REWRITE).
    file: Mutex<Option<std::path::PathBuf>>,
    /// Redis directives read at startup that have no effect here yet.
    ignored: Mutex<std::collections::BTreeSet<String>>,
    /// A `save` directive was read at startup.
    save_given: std::sync::atomic::AtomicBool,
    /// `dir` changes the working directory and `include` reads files
    /// (off for the fuzz target: [`RuntimeConfig::sandboxed`]).
    touches_files: bool,
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
            hash_max_listpack_entries: AtomicU64::new(512),
            set_max_intset_entries: AtomicU64::new(512),
            zset_max_listpack_entries: AtomicU64::new(128),
            zset_max_listpack_value: AtomicU64::new(64),
            stream_node_max_bytes: AtomicU64::new(4096),
            stream_node_max_entries: AtomicU64::new(100),
            tracking_table_max_keys: AtomicU64::new(1_000_000),
            notify_keyspace_events: std::sync::atomic::AtomicU32::new(0),
            output_limits: [
                crate::node::pubsub::BufferLimit::new(0, 0, 0),
                crate::node::pubsub::BufferLimit::new(256 << 20, 64 << 20, 60),
                crate::node::pubsub::BufferLimit::new(32 << 20, 8 << 20, 60),
            ],
            hll_sparse_max_bytes: AtomicU64::new(3000),
            hash_max_listpack_value: AtomicU64::new(64),
            list_max_listpack_size: AtomicI64::new(-2),
            list_compress_depth: AtomicU64::new(0),
            lazyfree_lazy_user_del: AtomicBool::new(false),
            lazyfree_lazy_user_flush: AtomicBool::new(false),
            repl_backlog_size: AtomicU64::new(1 << 20),
            min_replicas_to_write: AtomicU64::new(0),
            min_replicas_max_lag: AtomicU64::new(10),
            enable_debug_command: AtomicU8::new(Allowed::No as u8),
            enable_protected_configs: AtomicU8::new(Allowed::No as u8),
            timeout: AtomicU64::new(0),
            proto_max_bulk_len: AtomicI64::new(512 * 1024 * 1024),
            client_query_buffer_limit: AtomicU64::new(1024 * 1024 * 1024),
            port: AtomicU64::new(6379),
            txn_max_timeout: AtomicU64::new(60_000),
            txn_max_prepared: AtomicU64::new(10_000),
            slowlog_log_slower_than: AtomicI64::new(10_000),
            slowlog_max_len: AtomicU64::new(128),
            requirepass: Mutex::new(None),
            cluster_secret: Mutex::new(None),
            bind: Mutex::new("127.0.0.1".into()),
            passive: Mutex::new(PASSIVE.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            file: Mutex::new(None),
            ignored: Mutex::new(Default::default()),
            save_given: Default::default(),
            touches_files: true,
        }
    }
}

impl RuntimeConfig {
    /// Settings whose `dir` and `include` leave the process and the file
    /// system alone (for fuzzing the config reader).
    pub fn sandboxed() -> RuntimeConfig {
        RuntimeConfig { touches_files: false, ..RuntimeConfig::default() }
    }
}

/// Who may take a protected action (Redis's `no`, `yes`, `local`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Allowed {
    No = 0,
    Yes = 1,
    /// Only clients on a loopback address.
    Local = 2,
}

impl Allowed {
    fn parse(v: &str) -> Option<Allowed> {
        match v.to_ascii_lowercase().as_str() {
            "no" => Some(Allowed::No),
            "yes" => Some(Allowed::Yes),
            "local" => Some(Allowed::Local),
            _ => None,
        }
    }

    fn load(a: &AtomicU8) -> Allowed {
        match a.load(Ordering::Relaxed) {
            1 => Allowed::Yes,
            2 => Allowed::Local,
            _ => Allowed::No,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Allowed::No => "no",
            Allowed::Yes => "yes",
            Allowed::Local => "local",
        }
    }

    /// Whether a client at `peer` (its `ip:port`) may.
    pub fn permits(self, peer: &str) -> bool {
        match self {
            Allowed::No => false,
            Allowed::Yes => true,
            Allowed::Local => {
                let ip = peer.rsplit_once(':').map_or(peer, |(ip, _)| ip);
                ip == "127.0.0.1" || ip == "::1" || ip == "[::1]"
            }
        }
    }
}

/// Settings Redis fixes at startup (`IMMUTABLE_CONFIG`): CONFIG SET refuses
/// them.
const IMMUTABLE: &[&str] = &[
    "rdbchecksum",
    "daemonize",
    "io-threads-do-reads",
    "always-show-logo",
    "set-proc-title",
    "syslog-enabled",
    "cluster-enabled",
    "disable-thp",
    "aclfile",
    "unixsocket",
    "pidfile",
    "cluster-config-file",
    "syslog-ident",
    "appendfilename",
    "appenddirname",
    "server_cpulist",
    "bio_cpulist",
    "aof_rewrite_cpulist",
    "bgsave_cpulist",
    "logfile",
    "supervised",
    "syslog-facility",
    "enable-protected-configs",
    "enable-debug-command",
    "enable-module-command",
    "databases",
    "io-threads",
    "tcp-backlog",
    "cluster-port",
    "unixsocketperm",
    "socket-mark-id",
];

fn yes_no(v: bool) -> String {
    if v { "yes" } else { "no" }.to_string()
}

/// `save` points: pairs of seconds and changes, or nothing (`""`).
fn parse_save_points(v: &str) -> Option<Vec<(u64, u64)>> {
    let v = v.trim();
    if v.is_empty() || v == "\"\"" {
        return Some(Vec::new());
    }
    let nums: Vec<u64> = v.split_whitespace().map(|n| n.parse().ok()).collect::<Option<_>>()?;
    nums.len().is_multiple_of(2).then(|| nums.chunks(2).map(|p| (p[0], p[1])).collect())
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
            "client-query-buffer-limit",
            "port",
            "requirepass",
            "bind",
            "dir",
            "txn-max-timeout",
            "txn-max-prepared",
            "slowlog-log-slower-than",
            "slowlog-max-len",
            "hash-max-listpack-entries",
            "hash-max-listpack-value",
            "hash-max-ziplist-entries",
            "hash-max-ziplist-value",
            "list-max-listpack-size",
            "list-max-ziplist-size",
            "list-compress-depth",
            "set-max-intset-entries",
            "zset-max-listpack-entries",
            "zset-max-listpack-value",
            "zset-max-ziplist-entries",
            "zset-max-ziplist-value",
            "client-output-buffer-limit",
            "hll-sparse-max-bytes",
            "lazyfree-lazy-user-del",
            "lazyfree-lazy-user-flush",
            "repl-backlog-size",
            "min-replicas-to-write",
            "min-replicas-max-lag",
            "enable-debug-command",
            "enable-protected-configs",
            "notify-keyspace-events",
            "stream-node-max-bytes",
            "stream-node-max-entries",
            "tracking-table-max-keys",
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
            "client-query-buffer-limit" => self.client_query_buffer_limit.load(Ordering::Relaxed).to_string(),
            "port" => self.port.load(Ordering::Relaxed).to_string(),
            "txn-max-timeout" => self.txn_max_timeout.load(Ordering::Relaxed).to_string(),
            "txn-max-prepared" => self.txn_max_prepared.load(Ordering::Relaxed).to_string(),
            "slowlog-log-slower-than" => self.slowlog_log_slower_than.load(Ordering::Relaxed).to_string(),
            "slowlog-max-len" => self.slowlog_max_len.load(Ordering::Relaxed).to_string(),
            "hash-max-listpack-entries" | "hash-max-ziplist-entries" => self.hash_max_listpack_entries.load(Ordering::Relaxed).to_string(),
            "hash-max-listpack-value" | "hash-max-ziplist-value" => self.hash_max_listpack_value.load(Ordering::Relaxed).to_string(),
            "list-max-listpack-size" | "list-max-ziplist-size" => self.list_max_listpack_size.load(Ordering::Relaxed).to_string(),
            "list-compress-depth" => self.list_compress_depth.load(Ordering::Relaxed).to_string(),
            "set-max-intset-entries" => self.set_max_intset_entries.load(Ordering::Relaxed).to_string(),
            "zset-max-listpack-entries" | "zset-max-ziplist-entries" => self.zset_max_listpack_entries.load(Ordering::Relaxed).to_string(),
            "client-output-buffer-limit" => ["normal", "slave", "pubsub"]
                .iter()
                .zip(&self.output_limits)
                .map(|(name, l)| {
                    format!("{name} {} {} {}", l.hard.load(Ordering::Relaxed), l.soft.load(Ordering::Relaxed), l.soft_secs.load(Ordering::Relaxed))
                })
                .collect::<Vec<_>>()
                .join(" "),
            "zset-max-listpack-value" | "zset-max-ziplist-value" => self.zset_max_listpack_value.load(Ordering::Relaxed).to_string(),
            "hll-sparse-max-bytes" => self.hll_sparse_max_bytes.load(Ordering::Relaxed).to_string(),
            "repl-backlog-size" => self.repl_backlog_size.load(Ordering::Relaxed).to_string(),
            "min-replicas-to-write" | "min-slaves-to-write" => self.min_replicas_to_write.load(Ordering::Relaxed).to_string(),
            "min-replicas-max-lag" | "min-slaves-max-lag" => self.min_replicas_max_lag.load(Ordering::Relaxed).to_string(),
            "enable-debug-command" => Allowed::load(&self.enable_debug_command).name().to_string(),
            "enable-protected-configs" => Allowed::load(&self.enable_protected_configs).name().to_string(),
            "lazyfree-lazy-user-del" => yes_no(self.lazyfree_lazy_user_del.load(Ordering::Relaxed)),
            "lazyfree-lazy-user-flush" => yes_no(self.lazyfree_lazy_user_flush.load(Ordering::Relaxed)),
            "stream-node-max-bytes" => self.stream_node_max_bytes.load(Ordering::Relaxed).to_string(),
            "tracking-table-max-keys" => self.tracking_table_max_keys.load(Ordering::Relaxed).to_string(),
            "stream-node-max-entries" => self.stream_node_max_entries.load(Ordering::Relaxed).to_string(),
            "notify-keyspace-events" => crate::store::notify::format_classes(self.notify_keyspace_events.load(Ordering::Relaxed)),
            "requirepass" => self.requirepass().unwrap_or_default(),
            "cluster-secret" => String::new(),
            "bind" => self.bind(),
            // Redis's `dir` is its working directory (it chdirs to it).
            "dir" => std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
            _ => {
                return self.passive.lock().unwrap_or_else(|p| p.into_inner()).get(&n).cloned();
            }
        })
    }

    /// The save points (`save`): snapshot after `.0` seconds if at least
    /// `.1` keys changed.
    pub fn save_points(&self) -> Vec<(u64, u64)> {
        parse_save_points(&self.get("save").unwrap_or_default()).unwrap_or_default()
    }

    /// A yes/no setting kept as text (`rdbchecksum`, ...); `default` if unset.
    pub fn flag(&self, name: &str, default: bool) -> bool {
        self.get(name).and_then(|v| parse_bool(&v)).unwrap_or(default)
    }

    /// Who may run DEBUG.
    pub fn debug_command(&self) -> Allowed {
        Allowed::load(&self.enable_debug_command)
    }

    /// CONFIG SET from a client at `peer`: as [`RuntimeConfig::set`], but
    /// startup-only settings are refused, and `dir` and `dbfilename` unless
    /// `enable-protected-configs` lets this client (as Redis 7.0 does:
    /// CONFIG SET dir is how a Redis open to the network gets its files
    /// written anywhere).
    pub fn set_from_client(&self, name: &str, value: &str, peer: &str) -> Result<(), ConfigError> {
        let n = name.to_ascii_lowercase();
        if IMMUTABLE.contains(&n.as_str()) {
            return Err(ConfigError::Invalid("can't set immutable config".into()));
        }
        if matches!(n.as_str(), "dir" | "dbfilename") && !Allowed::load(&self.enable_protected_configs).permits(peer) {
            return Err(ConfigError::Invalid("can't set protected config".into()));
        }
        self.set(name, value)
    }

    /// Changes a setting, validating it as Redis does.
    pub fn set(&self, name: &str, value: &str) -> Result<(), ConfigError> {
        let n = name.to_ascii_lowercase();
        let invalid = |why: &str| ConfigError::Invalid(why.to_string());
        match n.as_str() {
            "enable-debug-command" | "enable-protected-configs" => {
                let a = Allowed::parse(value).ok_or_else(|| invalid("argument(s) must be one of the following: no, yes, local"))?;
                let slot = if n == "enable-debug-command" { &self.enable_debug_command } else { &self.enable_protected_configs };
                slot.store(a as u8, Ordering::Relaxed);
            }
            "stream-node-max-bytes" => {
                self.stream_node_max_bytes.store(util::parse_memory(value).ok_or_else(|| invalid("argument must be a memory value"))?, Ordering::Relaxed)
            }
            "tracking-table-max-keys" => self.tracking_table_max_keys.store(parse_ranged(value, 0, i64::MAX as u64)?, Ordering::Relaxed),
            "stream-node-max-entries" => self.stream_node_max_entries.store(parse_ranged(value, 0, i64::MAX as u64)?, Ordering::Relaxed),
            "notify-keyspace-events" => {
                let flags = crate::store::notify::parse_classes(value).ok_or_else(|| invalid("Invalid event class character. Use 'Ag$lshzxeKEtmdn'."))?;
                self.notify_keyspace_events.store(flags, Ordering::Relaxed);
            }
            "maxmemory" => self.maxmemory.store(util::parse_memory(value).ok_or_else(|| invalid("argument must be a memory value"))?, Ordering::Relaxed),
            "min-replicas-to-write" | "min-slaves-to-write" => self.min_replicas_to_write.store(parse_ranged(value, 0, i32::MAX as u64)?, Ordering::Relaxed),
            "min-replicas-max-lag" | "min-slaves-max-lag" => self.min_replicas_max_lag.store(parse_ranged(value, 0, i32::MAX as u64)?, Ordering::Relaxed),
            // Redis keeps at least 16 kB of backlog (CONFIG_REPL_BACKLOG_MIN_SIZE)
            "repl-backlog-size" => {
                let size = util::parse_memory(value).filter(|&v| v >= 1).ok_or_else(|| invalid("argument must be a memory value"))?;
                self.repl_backlog_size.store(size.max(16 * 1024), Ordering::Relaxed)
            }
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
            "client-query-buffer-limit" => {
                let v = util::parse_memory(value).ok_or_else(|| invalid("argument must be a memory value"))?;
                if v < 1024 * 1024 || v > i64::MAX as u64 {
                    return Err(invalid("argument must be between 1048576 and 9223372036854775807 inclusive"));
                }
                self.client_query_buffer_limit.store(v, Ordering::Relaxed);
            }
            "port" => self.port.store(parse_ranged(value, 0, 65535)?, Ordering::Relaxed),
            "txn-max-timeout" => self.txn_max_timeout.store(parse_ranged(value, 1, 24 * 3600 * 1000)?, Ordering::Relaxed),
            "txn-max-prepared" => self.txn_max_prepared.store(parse_ranged(value, 1, i32::MAX as u64)?, Ordering::Relaxed),
            "slowlog-log-slower-than" => match value.parse::<i64>() {
                Ok(v) => self.slowlog_log_slower_than.store(v, Ordering::Relaxed),
                Err(_) => return Err(invalid("argument couldn't be parsed into an integer")),
            },
            "slowlog-max-len" => self.slowlog_max_len.store(parse_ranged(value, 0, i64::MAX as u64)?, Ordering::Relaxed),
            "hash-max-listpack-entries" | "hash-max-ziplist-entries" => {
                self.hash_max_listpack_entries.store(parse_ranged(value, 0, i64::MAX as u64)?, Ordering::Relaxed)
            }
            "hash-max-listpack-value" | "hash-max-ziplist-value" => {
                self.hash_max_listpack_value.store(parse_ranged(value, 0, i64::MAX as u64)?, Ordering::Relaxed)
            }
            "list-max-listpack-size" | "list-max-ziplist-size" => match value.parse::<i64>() {
                Ok(v) if (i32::MIN as i64..=i32::MAX as i64).contains(&v) => self.list_max_listpack_size.store(v, Ordering::Relaxed),
                Ok(_) => return Err(ConfigError::Invalid(format!("argument must be between {} and {} inclusive", i32::MIN, i32::MAX))),
                Err(_) => return Err(invalid("argument couldn't be parsed into an integer")),
            },
            "hll-sparse-max-bytes" => self.hll_sparse_max_bytes.store(parse_ranged(value, 0, i64::MAX as u64)?, Ordering::Relaxed),
            "set-max-intset-entries" => self.set_max_intset_entries.store(parse_ranged(value, 0, i64::MAX as u64)?, Ordering::Relaxed),
            "zset-max-listpack-entries" | "zset-max-ziplist-entries" => {
                self.zset_max_listpack_entries.store(parse_ranged(value, 0, i64::MAX as u64)?, Ordering::Relaxed)
            }
            "client-output-buffer-limit" => {
                // `<class> <hard> <soft> <seconds>`, one or more, all
                // checked before any applies (Redis's rule)
                let words: Vec<&str> = value.split_whitespace().collect();
                if !words.len().is_multiple_of(4) || words.is_empty() {
                    return Err(invalid("Wrong number of arguments in buffer limit configuration."));
                }
                let mut parsed = Vec::new();
                for w in words.chunks(4) {
                    let class = match w[0].to_ascii_lowercase().as_str() {
                        "normal" => 0,
                        "slave" | "replica" => 1,
                        "pubsub" => 2,
                        _ => return Err(invalid("Invalid client class specified in buffer limit configuration.")),
                    };
                    let (Some(hard), Some(soft), Ok(secs)) = (util::parse_memory(w[1]), util::parse_memory(w[2]), w[3].parse::<u64>()) else {
                        return Err(invalid("Error in hard, soft or soft_seconds setting in buffer limit configuration."));
                    };
                    parsed.push((class, hard, soft, secs));
                }
                for (class, hard, soft, secs) in parsed {
                    let l = &self.output_limits[class];
                    l.hard.store(hard, Ordering::Relaxed);
                    l.soft.store(soft, Ordering::Relaxed);
                    l.soft_secs.store(secs, Ordering::Relaxed);
                }
            }
            "zset-max-listpack-value" | "zset-max-ziplist-value" => {
                self.zset_max_listpack_value.store(parse_ranged(value, 0, i64::MAX as u64)?, Ordering::Relaxed)
            }
            "list-compress-depth" => self.list_compress_depth.store(parse_ranged(value, 0, i32::MAX as u64)?, Ordering::Relaxed),
            "lazyfree-lazy-user-del" => {
                self.lazyfree_lazy_user_del.store(parse_bool(value).ok_or_else(|| invalid("argument must be 'yes' or 'no'"))?, Ordering::Relaxed)
            }
            "lazyfree-lazy-user-flush" => {
                self.lazyfree_lazy_user_flush.store(parse_bool(value).ok_or_else(|| invalid("argument must be 'yes' or 'no'"))?, Ordering::Relaxed)
            }
            "requirepass" => *self.requirepass.lock().unwrap_or_else(|p| p.into_inner()) = if value.is_empty() { None } else { Some(value.to_string()) },
            "bind" => {
                if value.split_whitespace().next().is_none() {
                    return Err(invalid("Too many bind addresses specified."));
                }
                *self.bind.lock().unwrap_or_else(|p| p.into_inner()) = value.to_string()
            }
            "dir" if self.touches_files => std::env::set_current_dir(value).map_err(|e| invalid(&e.to_string()))?,
            "dir" => {}
            "appendfsync" if !matches!(value.to_ascii_lowercase().as_str(), "always" | "everysec" | "no") => {
                return Err(invalid("argument(s) must be one of the following: always, everysec, no"));
            }
            "appendfsync" => {
                self.passive.lock().unwrap_or_else(|p| p.into_inner()).insert(n.clone(), value.to_ascii_lowercase());
            }
            "auto-aof-rewrite-min-size" => {
                let bytes = util::parse_memory(value).ok_or_else(|| invalid("argument must be a memory value"))?;
                self.passive.lock().unwrap_or_else(|p| p.into_inner()).insert(n.clone(), bytes.to_string());
            }
            "auto-aof-rewrite-percentage" => {
                let pct = parse_ranged(value, 0, i32::MAX as u64)?;
                self.passive.lock().unwrap_or_else(|p| p.into_inner()).insert(n.clone(), pct.to_string());
            }
            "appenddirname" | "appendfilename" if value.is_empty() || value.contains('/') => {
                return Err(invalid(if n == "appendfilename" {
                    "appendfilename can't be a path, just a filename"
                } else {
                    "appenddirname can't be a path, just a dirname"
                }));
            }
            "save" => {
                let points = parse_save_points(value).ok_or_else(|| invalid("Invalid save parameters"))?;
                let text = points.iter().map(|(s, c)| format!("{s} {c}")).collect::<Vec<_>>().join(" ");
                self.passive.lock().unwrap_or_else(|p| p.into_inner()).insert("save".into(), text);
            }
            "cluster-secret" => *self.cluster_secret.lock().unwrap_or_else(|p| p.into_inner()) = if value.is_empty() { None } else { Some(value.to_string()) },
            _ => {
                let mut passive = self.passive.lock().unwrap_or_else(|p| p.into_inner());
                let Some(slot) = passive.get_mut(&n) else {
                    return Err(ConfigError::Unknown);
                };
                if matches!(
                    n.as_str(),
                    "appendonly"
                        | "protected-mode"
                        | "daemonize"
                        | "rdbcompression"
                        | "rdbchecksum"
                        | "stop-writes-on-bgsave-error"
                        | "aof-load-truncated"
                        | "aof-use-rdb-preamble"
                        | "aof-rewrite-incremental-fsync"
                        | "no-appendfsync-on-rewrite"
                ) && parse_bool(value).is_none()
                {
                    return Err(invalid("argument must be 'yes' or 'no'"));
                }
                *slot = value.to_string();
            }
        }
        Ok(())
    }

    /// Applies a redis.conf-style file as redis-server reads it: `name
    /// value...` per line, `#` comments, `include` of other files. A Redis
    /// directive shardis does not act on is accepted (see
    /// [`RuntimeConfig::ignored_directives`]); anything else is the
    /// [`FatalConfig`] report redis-server prints.
    pub fn load_file(&self, path: &std::path::Path) -> Result<(), FatalConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| FatalConfig::open(path, &e))?;
        if self.file.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
            let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            *self.file.lock().unwrap_or_else(|p| p.into_inner()) = Some(abs);
        }
        self.load_text(&text, path)
    }

    /// [`RuntimeConfig::load_file`] on text already read; `path` resolves
    /// `include` directives.
    pub fn load_text(&self, text: &str, path: &std::path::Path) -> Result<(), FatalConfig> {
        self.load_nested(text, path, 0)
    }

    fn load_nested(&self, text: &str, path: &std::path::Path, depth: usize) -> Result<(), FatalConfig> {
        for (lineno, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fatal = |why: &str| FatalConfig { line: lineno + 1, text: trimmed.to_string(), reason: why.to_string() };
            let words = crate::resp::parser::split_args(trimmed.as_bytes()).ok_or_else(|| fatal("Unbalanced quotes in configuration line"))?;
            let mut words = words.into_iter().map(|w| String::from_utf8_lossy(&w).into_owned());
            let name = words.next().unwrap_or_default().to_ascii_lowercase();
            let values: Vec<String> = words.collect();
            if values.is_empty() {
                return Err(fatal("wrong number of arguments"));
            }
            if name == "include" && !self.touches_files {
                return Err(fatal("include is off here"));
            }
            if name == "include" {
                let inc = std::path::Path::new(&values[0]);
                let inc = if inc.is_relative() { path.parent().unwrap_or(std::path::Path::new(".")).join(inc) } else { inc.to_path_buf() };
                if depth >= 16 {
                    return Err(fatal("includes nested too deep (an include loop?)"));
                }
                let text = std::fs::read_to_string(&inc).map_err(|e| fatal(&format!("Can't open the include file {}: {e}", inc.display())))?;
                self.load_nested(&text, &inc, depth + 1)?;
                continue;
            }
            self.apply_startup(&name, &values.join(" ")).map_err(|why| fatal(&why))?;
        }
        Ok(())
    }

    /// One setting from the command line or a config file. Unlike CONFIG
    /// SET, save points are accepted (redis.conf files carry them) and
    /// named in the startup warning; so is any other Redis directive
    /// shardis does not act on.
    pub fn apply_startup(&self, name: &str, value: &str) -> Result<(), String> {
        let name = name.to_ascii_lowercase();
        // The first `save` line replaces the default points, the next ones
        // add theirs (`save ""` clears), as redis-server reads its file.
        let value = if name == "save" && self.save_given.swap(true, Ordering::Relaxed) && parse_save_points(value).is_some_and(|p| !p.is_empty()) {
            format!("{} {value}", self.get("save").unwrap_or_default())
        } else {
            value.to_string()
        };
        let value = value.as_str();
        match self.set(&name, value) {
            Ok(()) => Ok(()),
            Err(ConfigError::Invalid(why)) => Err(why),
            Err(ConfigError::Unknown) if REDIS_DIRECTIVES.contains(&name.as_str()) => {
                self.ignored.lock().unwrap_or_else(|p| p.into_inner()).insert(name);
                Ok(())
            }
            Err(ConfigError::Unknown) => Err("Bad directive or wrong number of arguments".into()),
        }
    }

    /// Redis directives given at startup that have no effect here (yet).
    pub fn ignored_directives(&self) -> Vec<String> {
        self.ignored.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }

    /// The config file the node was started with.
    pub fn file(&self) -> Option<std::path::PathBuf> {
        self.file.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// CONFIG REWRITE: the file keeps its lines and comments; each setting
    /// that differs from its default, or that the file sets, is written on
    /// the line that set it (repeats dropped), new ones at the end, as
    /// redis-server does. Written to a temporary file, then renamed.
    pub fn rewrite(&self) -> Result<(), String> {
        let path = self.file().ok_or("The server is running without a config file")?;
        let text = std::fs::read_to_string(&path).map_err(|e| format!("Rewriting config file: {e}"))?;
        let defaults = RuntimeConfig::default();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut generated = Vec::new();
        for name in self.names() {
            if name == "dir" {
                continue;
            }
            let value = self.get(&name).unwrap_or_default();
            let shown = if value.is_empty() { "\"\"".to_string() } else { value.clone() };
            let directive = |l: &str| {
                let mut w = l.split_whitespace();
                w.next().is_some_and(|n| n.eq_ignore_ascii_case(&name)) && !l.trim_start().starts_with('#')
            };
            let at: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| directive(l)).map(|(i, _)| i).collect();
            if let Some(&first) = at.first() {
                lines[first] = format!("{name} {shown}");
                for &i in at[1..].iter().rev() {
                    lines.remove(i);
                }
            } else if defaults.get(&name) != Some(value) {
                generated.push(format!("{name} {shown}"));
            }
        }
        if !generated.is_empty() {
            lines.push("# Generated by CONFIG REWRITE".into());
            lines.extend(generated);
        }
        let tmp = path.with_extension("rewrite.tmp");
        std::fs::write(&tmp, lines.join("\n") + "\n").and_then(|()| std::fs::rename(&tmp, &path)).map_err(|e| format!("Rewriting config file: {e}"))
    }
}

/// A config file line redis-server would refuse, reported as it reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatalConfig {
    pub line: usize,
    pub text: String,
    pub reason: String,
}

impl FatalConfig {
    fn open(path: &std::path::Path, e: &std::io::Error) -> FatalConfig {
        FatalConfig { line: 0, text: String::new(), reason: format!("Fatal error, can't open config file '{}': {e}", path.display()) }
    }
}

impl std::fmt::Display for FatalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            return write!(f, "{}", self.reason);
        }
        write!(
            f,
            "\n*** FATAL CONFIG FILE ERROR (shardis {}) ***\nReading the configuration file, at line {}\n>>> '{}'\n{}",
            env!("CARGO_PKG_VERSION"),
            self.line,
            self.text,
            self.reason
        )
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
        c.load_text("# comment\nsave \"\"\nappendonly no\ntimeout 5\n", std::path::Path::new("x.conf")).unwrap();
        assert_eq!(c.get("timeout").unwrap(), "5");
        // Redis directives without effect are accepted and listed; others stop
        c.load_text("save 3600 1\nio-threads 4\nsave 60 10000\n", std::path::Path::new("x.conf")).unwrap();
        assert_eq!(c.ignored_directives(), ["io-threads"]);
        // the first save line cleared the default, the next added to it
        assert_eq!(c.save_points(), [(3600, 1), (60, 10000)]);
        assert!(c.set("save", "1 2 3").is_err());
        let e = c.load_text("port 1\nfoo bar\n", std::path::Path::new("x.conf")).unwrap_err();
        assert_eq!((e.line, e.text.as_str(), e.reason.as_str()), (2, "foo bar", "Bad directive or wrong number of arguments"));
        assert_eq!(c.load_text("port\n", std::path::Path::new("x.conf")).unwrap_err().reason, "wrong number of arguments");
        c.set("appendonly", "yes").unwrap();
        assert!(c.set("appendfsync", "sometimes").is_err());
        c.set("appendfsync", "ALWAYS").unwrap();
        assert_eq!(c.get("appendfsync").unwrap(), "always");
        c.set("save", "900 1").unwrap();
        assert_eq!(c.save_points(), [(900, 1)]);
        assert!(c.set("save", "").is_ok());
    }
}
