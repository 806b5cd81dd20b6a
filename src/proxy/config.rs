//! Proxy configuration: twemproxy's YAML pool format, so a twemproxy user
//! can move over with the config they have.
//!
//! ```yaml
//! alpha:
//!   listen: 127.0.0.1:22121
//!   hash: fnv1a_64
//!   distribution: ketama
//!   hash_tag: "{}"
//!   timeout: 400
//!   auto_eject_hosts: true
//!   server_retry_timeout: 30000
//!   server_failure_limit: 3
//!   servers:
//!    - 127.0.0.1:6379:1 server1
//!    - 127.0.0.1:6380:1
//! ```
//!
//! Only the flat subset twemproxy configs use is read (a pool name, `key:
//! value` lines, a `servers:` list); anything else is an error naming the
//! line, never silently ignored.

use super::ketama::{KeyHash, RingServer};

/// One backend, from `host:port:weight [name]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub host: String,
    pub port: u16,
    pub weight: u32,
    pub name: Option<String>,
}

impl ServerSpec {
    /// Parses `host:port:weight [name]` (also `host:port` with weight 1).
    pub fn parse(s: &str) -> Result<ServerSpec, String> {
        let mut words = s.split_whitespace();
        let addr = words.next().ok_or("empty server")?;
        let name = words.next().map(str::to_string);
        if words.next().is_some() {
            return Err(format!("server '{s}': expected host:port:weight [name]"));
        }
        let parts: Vec<&str> = addr.rsplitn(3, ':').collect();
        let (host, port, weight) = match parts.as_slice() {
            [w, p, h] => (*h, *p, w.parse::<u32>().map_err(|_| format!("server '{s}': bad weight"))?),
            [p, h] => (*h, *p, 1),
            _ => return Err(format!("server '{s}': expected host:port:weight [name]")),
        };
        let port = port.parse::<u16>().map_err(|_| format!("server '{s}': bad port"))?;
        if weight == 0 {
            return Err(format!("server '{s}': weight must be positive"));
        }
        Ok(ServerSpec { host: host.to_string(), port, weight, name })
    }

    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The name points are derived from: the configured name, else
    /// `host:port`, else just `host` when the port is 11211 (twemproxy's
    /// libmemcached compatibility rule).
    pub fn ring_server(&self) -> RingServer {
        let name = match &self.name {
            Some(n) => n.clone(),
            None if self.port == 11211 => self.host.clone(),
            None => self.addr(),
        };
        RingServer { name, weight: self.weight }
    }
}

/// One pool's settings, with twemproxy's defaults.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub name: String,
    pub listen: Option<String>,
    pub hash: KeyHash,
    pub hash_tag: Option<[u8; 2]>,
    /// Milliseconds to wait for a backend reply; `None` = forever.
    pub timeout_ms: Option<u64>,
    pub auto_eject_hosts: bool,
    pub server_retry_timeout_ms: u64,
    pub server_failure_limit: u32,
    pub servers: Vec<ServerSpec>,
    /// Pipelined connections to each backend, shared by all clients
    /// (twemproxy's `server_connections`); `None`: one per proxy thread.
    pub server_connections: Option<usize>,
    /// Clients served at once (twemproxy's `client_connections`); 0 = no
    /// limit other than the process's file descriptors.
    pub client_connections: u64,
    /// twemproxy's `redis_auth`: the password the proxy gives every node
    /// (AUTH on each connection) and asks of its own clients.
    pub redis_auth: Option<String>,
    /// twemproxy's `redis_db`: the database the proxy SELECTs on each node
    /// connection; clients see it as their database 0.
    pub redis_db: u32,
    /// Presented to nodes (TXN.HELLO) before 2PC commands.
    pub cluster_secret: Option<String>,
    /// How long a prepared cross-node transaction may wait for its commit
    /// before the nodes presume the coordinator gone.
    pub txn_timeout_ms: u64,
}

impl PoolConfig {
    /// Commands every connection to a node starts with (AUTH, SELECT).
    pub fn node_setup(&self) -> Vec<Vec<bytes::Bytes>> {
        let mut setup = Vec::new();
        if let Some(pw) = &self.redis_auth {
            setup.push(vec![bytes::Bytes::from_static(b"AUTH"), bytes::Bytes::from(pw.clone())]);
        }
        if self.redis_db != 0 {
            setup.push(vec![bytes::Bytes::from_static(b"SELECT"), bytes::Bytes::from(self.redis_db.to_string())]);
        }
        setup
    }

    pub fn new(name: &str, servers: Vec<ServerSpec>) -> PoolConfig {
        PoolConfig {
            name: name.to_string(),
            listen: None,
            hash: KeyHash::Fnv1a64,
            hash_tag: None,
            timeout_ms: None,
            auto_eject_hosts: false,
            server_retry_timeout_ms: 30_000,
            server_failure_limit: 2,
            servers,
            server_connections: None,
            client_connections: 0,
            redis_auth: None,
            redis_db: 0,
            cluster_secret: None,
            txn_timeout_ms: 5000,
        }
    }
}

fn unquote(v: &str) -> &str {
    let v = v.trim();
    if v.len() >= 2 && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\''))) { &v[1..v.len() - 1] } else { v }
}

fn parse_bool(v: &str, line: usize) -> Result<bool, String> {
    match unquote(v) {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        other => Err(format!("line {line}: expected true or false, got '{other}'")),
    }
}

fn parse_num(v: &str, line: usize) -> Result<u64, String> {
    unquote(v).parse().map_err(|_| format!("line {line}: expected a number, got '{v}'"))
}

/// Parses a twemproxy YAML file into its pools.
pub fn parse_yaml(text: &str) -> Result<Vec<PoolConfig>, String> {
    let mut pools: Vec<PoolConfig> = Vec::new();
    let mut in_servers = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split(" #").next().unwrap_or("");
        if content.trim().is_empty() || content.trim_start().starts_with('#') {
            continue;
        }
        let indented = content.starts_with([' ', '\t']);
        let t = content.trim();
        if !indented {
            let name = t.strip_suffix(':').ok_or_else(|| format!("line {line}: expected 'pool_name:'"))?;
            pools.push(PoolConfig::new(name.trim(), Vec::new()));
            in_servers = false;
            continue;
        }
        let pool = pools.last_mut().ok_or_else(|| format!("line {line}: setting outside a pool"))?;
        if let Some(item) = t.strip_prefix('-') {
            if !in_servers {
                return Err(format!("line {line}: list item outside 'servers:'"));
            }
            pool.servers.push(ServerSpec::parse(unquote(item)).map_err(|e| format!("line {line}: {e}"))?);
            continue;
        }
        let (key, value) = t.split_once(':').ok_or_else(|| format!("line {line}: expected 'key: value'"))?;
        let value = value.trim();
        in_servers = false;
        match key.trim() {
            "servers" => in_servers = true,
            "listen" if unquote(value).starts_with('/') => {
                return Err(format!("line {line}: listening on a unix socket ('{}') is not supported; listen on host:port", unquote(value)));
            }
            "listen" => pool.listen = Some(unquote(value).to_string()),
            "hash" => pool.hash = KeyHash::parse(unquote(value)).map_err(|e| format!("line {line}: {e}"))?,
            "hash_tag" => {
                let tag = unquote(value).as_bytes();
                if tag.len() != 2 {
                    return Err(format!("line {line}: hash_tag must be two characters"));
                }
                pool.hash_tag = Some([tag[0], tag[1]]);
            }
            "distribution" => {
                if unquote(value) != "ketama" {
                    return Err(format!("line {line}: only 'distribution: ketama' is supported"));
                }
            }
            "timeout" => pool.timeout_ms = Some(parse_num(value, line)?),
            "auto_eject_hosts" => pool.auto_eject_hosts = parse_bool(value, line)?,
            "server_retry_timeout" => pool.server_retry_timeout_ms = parse_num(value, line)?,
            "server_failure_limit" => pool.server_failure_limit = parse_num(value, line)? as u32,
            "cluster_secret" => pool.cluster_secret = Some(unquote(value).to_string()),
            "txn_timeout" => pool.txn_timeout_ms = parse_num(value, line)?,
            "server_connections" => pool.server_connections = Some((parse_num(value, line)? as usize).max(1)),
            // Accepted twemproxy settings that do not change routing here.
            "client_connections" => pool.client_connections = parse_num(value, line)?,
            "redis_auth" => pool.redis_auth = Some(unquote(value).to_string()).filter(|p| !p.is_empty()),
            "redis_db" => pool.redis_db = parse_num(value, line)? as u32,
            "redis" if !parse_bool(value, line)? => {
                return Err(format!("line {line}: memcached pools ('redis: false') are not supported: shardis proxy speaks the Redis protocol only"));
            }
            "redis" | "preconnect" | "backlog" => {}
            other => return Err(format!("line {line}: unknown setting '{other}'")),
        }
    }
    if pools.is_empty() {
        return Err("no pool defined".into());
    }
    Ok(pools)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_specs() {
        let s = ServerSpec::parse("127.0.0.1:7401:2 alpha").unwrap();
        assert_eq!((s.host.as_str(), s.port, s.weight, s.name.as_deref()), ("127.0.0.1", 7401, 2, Some("alpha")));
        assert_eq!(ServerSpec::parse("10.0.0.1:11211:1").unwrap().ring_server().name, "10.0.0.1");
        assert_eq!(ServerSpec::parse("h:6379").unwrap().weight, 1);
        assert!(ServerSpec::parse("h:notaport:1").is_err());
    }

    #[test]
    fn yaml_pools() {
        let pools = parse_yaml(
            "# comment\npool:\n  listen: 127.0.0.1:22121\n  hash: md5\n  hash_tag: \"{}\"\n  auto_eject_hosts: true\n  timeout: 400\n  server_connections: 3\n  servers:\n   - 127.0.0.1:7401:1 a\n   - 127.0.0.1:7402:1\n",
        )
        .unwrap();
        assert_eq!(pools.len(), 1);
        let p = &pools[0];
        assert_eq!((p.hash, p.hash_tag, p.timeout_ms, p.auto_eject_hosts, p.servers.len()), (KeyHash::Md5, Some(*b"{}"), Some(400), true, 2));
        assert_eq!(p.server_connections, Some(3));
        assert!(parse_yaml("p:\n  hash: crc32\n").is_err());
        assert!(parse_yaml("p:\n  bogus: 1\n").is_err());
        // twemproxy's default hash is fnv1a_64
        assert_eq!(parse_yaml("p:\n  servers:\n   - h:1:1\n").unwrap()[0].hash, KeyHash::Fnv1a64);
    }
}
