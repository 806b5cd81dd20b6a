//! The proxy role: routes each command to the node that owns its key by
//! twemproxy-compatible ketama hashing.
//!
//! - [`ketama`]: the ring, key hashes and hash tags.
//! - [`config`]: twemproxy's YAML pool format.
//! - [`backend`]: pipelined, reconnecting connections to the nodes.
//! - [`server`]: the client side: routing, splitting, merging.

pub mod backend;
pub mod config;
pub mod coordinator;
pub mod ketama;
pub mod pubsub;
pub mod server;
pub mod txn;
