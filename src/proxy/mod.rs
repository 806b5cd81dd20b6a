//! The proxy role: routes each command to the node that owns its key by
//! twemproxy-compatible ketama hashing.
//!
//! - [`ketama`]: the ring, key hashes and hash tags.
//! - [`config`]: twemproxy's YAML pool format.

pub mod config;
pub mod ketama;
