//! Point-in-time snapshots without fork (BGSAVE, and later the full-sync
//! payload of replication).
//!
//! Redis forks and lets the kernel's copy-on-write keep the parent's pages
//! as they were; its peak extra memory is every page a writer touches
//! during the save, 4 KiB at a time. Here the keyspace keeps serving in the
//! same process and the snapshot keeps what it needs itself, per entry, as
//! Dragonfly does:
//!
//! - **Begin.** Every shard of every database is locked at once (in the
//!   order commands lock them, so this cannot deadlock) and given a
//!   [`ShardSnap`]; the caller also holds the exclusive gate, so no
//!   transaction or script is half-applied. That instant is the snapshot.
//! - **Pre-write hook.** Before a shard changes, expires, evicts or
//!   deletes a key, [`ShardSnap::preserve`] serialises the entry as it was
//!   (once per key: the key is remembered as done). A key created after
//!   the start is remembered as done too, with nothing written.
//! - **Walk.** The writer takes the shards one at a time: under the shard
//!   lock it serialises every entry not yet done, takes the shard's buffer
//!   and ends the shard's snapshot. From then on that shard costs nothing.
//! - FLUSHDB and SWAPDB settle a shard (serialise everything left) before
//!   its table goes, so the snapshot still sees the old contents.
//!
//! The serialiser is the persistence layer's (it lives above the store),
//! passed in as a function. Its bytes are counted in
//! [`Progress::buffered`], reported by INFO and left out of `maxmemory`
//! accounting, as Redis leaves copy-on-write pages out.

use super::{Entry, Key};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Serialises one entry (its expiry, type, key and value) for the
/// snapshot; skips it if it should not be saved.
pub type Encoder = fn(&mut Vec<u8>, Entry<'_>);

/// What all shards of one snapshot share.
pub struct Progress {
    pub encoder: Encoder,
    /// Bytes serialised and not yet taken by the writer (the keyspace's
    /// counter, which `maxmemory` leaves out).
    pub buffered: Arc<AtomicU64>,
    /// The most bytes buffered at once.
    pub peak: AtomicU64,
    /// Entries serialised by the pre-write hook (a writer came first).
    pub preserved: AtomicU64,
}

impl Progress {
    pub fn new(encoder: Encoder, buffered: Arc<AtomicU64>) -> Arc<Progress> {
        Arc::new(Progress { encoder, buffered, peak: AtomicU64::new(0), preserved: AtomicU64::new(0) })
    }

    fn grew(&self, n: usize) {
        let now = self.buffered.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }
}

/// One shard's part of a snapshot in progress.
pub struct ShardSnap {
    progress: Arc<Progress>,
    /// Keys already serialised, or created after the start.
    done: HashSet<Key>,
    /// True once every entry of the start is in `out` (a flush or swap
    /// settled the shard): the hook has nothing left to do.
    settled: bool,
    out: Vec<u8>,
}

impl ShardSnap {
    pub fn new(progress: Arc<Progress>) -> Box<ShardSnap> {
        Box::new(ShardSnap { progress, done: HashSet::new(), settled: false, out: Vec::new() })
    }

    /// Before `key` changes: serialise it as it is (`current`, `None` if
    /// absent), once.
    pub fn preserve(&mut self, key: &[u8], current: Option<Entry<'_>>) {
        if self.settled || self.done.contains(key) {
            return;
        }
        self.done.insert(key.into());
        if let Some(e) = current {
            self.write(e);
            self.progress.preserved.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn write(&mut self, e: Entry<'_>) {
        let before = self.out.len();
        (self.progress.encoder)(&mut self.out, e);
        self.progress.grew(self.out.len() - before);
    }

    /// Serialises every entry of `table` not yet done: the shard's whole
    /// state as of the start is then in the buffer.
    pub fn settle(&mut self, table: &super::table::Table) {
        if self.settled {
            return;
        }
        table.for_each(|e| {
            if !self.done.contains(e.key()) {
                let before = self.out.len();
                (self.progress.encoder)(&mut self.out, Entry::new(e));
                self.progress.grew(self.out.len() - before);
            }
        });
        self.settled = true;
        self.done = HashSet::new();
    }

    /// The serialised bytes so far (the writer takes them).
    pub fn take(&mut self) -> Vec<u8> {
        let out = std::mem::take(&mut self.out);
        self.progress.buffered.fetch_sub(out.len() as u64, Ordering::Relaxed);
        out
    }
}

impl Drop for ShardSnap {
    fn drop(&mut self) {
        self.progress.buffered.fetch_sub(self.out.len() as u64, Ordering::Relaxed);
    }
}
