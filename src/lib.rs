//! shardis: a Redis-protocol-compatible cache node and a sharding proxy
//! with cross-node transactions, in one crate.
//!
//! # Layout
//! - [`resp`]: request framing (RESP multibulk and inline) and reply
//!   encoding (RESP2 and RESP3).
//! - [`command`]: the command table (name, arity, flags, key positions,
//!   docs, handler) and the dispatcher; one module per command family.
//! - [`script`]: Lua scripting (EVAL), sandboxed, atomic.
//! - [`store`]: the keyspace: 16 databases of LRU-ordered shards, TTLs (lazy
//!   and active expiry), eviction under `maxmemory`, SCAN.
//! - [`lock`]: wait queues and fencing tokens of the blocking lock.
//! - [`net`]: the listener, per-connection tasks, client state, shutdown.
//! - [`proxy`]: the proxy role: ketama ring, twemproxy config, routing,
//!   backend pools, and the 2PC coordinator for cross-node EXEC.
//! - [`config`]: flags, config files and the live CONFIG GET/SET view.
//! - [`alloc`]: the counting allocator behind `used_memory` and eviction.
//! - [`persist`]: Redis's RDB format (DUMP payloads, dump.rdb), SAVE and
//!   BGSAVE over snapshots without fork, loading at startup.
//! - [`txn`]: the participant side of cross-node transactions (2PC).
//! - [`util`]: Redis's number parsing and formatting rules, glob matching.
//! - `fuzzing`: the fuzz target bodies (`tests/fuzz/`, `scripts/fuzz`).
//!
//! The binary (`src/main.rs`) parses the command line and runs a node
//! (`shardis server`) or a proxy (`shardis proxy`).

pub mod alloc;
pub mod command;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod lock;
pub mod net;
pub mod node;
pub mod persist;
pub mod proxy;
pub mod resp;
pub mod script;
pub mod store;
pub mod txn;
pub mod util;
