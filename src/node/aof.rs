//! The append-only file's shared state: what the connection tasks, the
//! writer thread and INFO see. The files themselves are handled by
//! `crate::persist::aof`; this is the data it works on.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Condvar, Mutex};

/// One file of a multi-part AOF, as its manifest names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofPart {
    pub name: String,
    pub seq: u64,
    /// `b` base, `i` incremental, `h` history (to delete).
    pub kind: char,
}

/// The incremental file being appended to, and what could not be written.
#[derive(Default)]
pub struct AofOutput {
    pub file: Option<std::fs::File>,
    /// Bytes taken from the effect log that the file has not got yet (a
    /// failed write keeps them for the next try).
    pub pending: Vec<u8>,
    /// The effect-log offset `pending` reaches.
    pub pending_end: u64,
    /// The manifest's files, in order.
    pub parts: Vec<AofPart>,
    /// Bytes in the incremental file, and the size after the last rewrite.
    pub incr_size: u64,
    pub base_size: u64,
}

/// The AOF writer thread's wake-up flag and its condition variable.
pub type WriterWake = (Mutex<bool>, Condvar);

#[derive(Default)]
pub struct AofState {
    /// The AOF is on (`appendonly yes` and loaded).
    pub on: AtomicBool,
    /// `appendfsync`: 0 always, 1 everysec, 2 no.
    pub fsync: std::sync::atomic::AtomicU8,
    /// Effect-log offsets written to the file, and made durable.
    pub written: AtomicU64,
    pub synced: AtomicU64,
    /// Woken when `synced` moves (clients waiting under `always`).
    pub synced_notify: tokio::sync::Notify,
    /// The writer thread's wake-up: set when a sync is wanted (shared with
    /// the workers' idle hook, `crate::persist::aof::on_worker_idle`).
    pub wake: std::sync::Arc<WriterWake>,
    /// Clients waiting for a sync right now (`always`).
    pub waiting: std::sync::atomic::AtomicUsize,
    pub output: Mutex<AofOutput>,
    /// The last write or fsync failed (writes are refused meanwhile).
    pub write_failed: AtomicBool,
    pub last_error: Mutex<String>,
    pub rewrite_in_progress: AtomicBool,
    pub rewrite_scheduled: AtomicBool,
    pub last_rewrite_ok: AtomicBool,
    pub rewrites: AtomicU64,
    pub last_rewrite_secs: std::sync::atomic::AtomicI64,
    /// Seconds of the last fsync's start (for the "fsync is slow" delay).
    pub fsyncs: AtomicU64,
}

impl AofState {
    pub fn new() -> AofState {
        AofState { last_rewrite_ok: AtomicBool::new(true), last_rewrite_secs: std::sync::atomic::AtomicI64::new(-1), ..AofState::default() }
    }
}
