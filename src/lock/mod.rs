//! Blocking locks: FIFO wait queues per key and fencing tokens.
//!
//! A lock is an ordinary string key whose value is the owner (so GET, TTL,
//! DEL and SET NX interoperate with it); this module only adds what a key
//! cannot hold:
//!
//! - **Wait queues.** `LOCK.ACQUIRE ... WAIT ms` on a held key waits in the
//!   keyspace's one wait registry ([`crate::store::wait`]). Every
//!   modification of the key (release, DEL, expiry, eviction, overwrite)
//!   wakes the head waiter, which retries; only the first in line may take
//!   a free key, so grants are FIFO. No polling: besides the hook, a waiter
//!   sleeps exactly until the holder's TTL ends.
//! - **Fencing tokens.** Every grant returns `max(previous + 1, now in µs)`
//!   from one node-wide counter: strictly greater than every token this node
//!   granted before, for any key, including after the key was deleted and
//!   re-created, and after a restart as long as the clock does not go back.
//!   See `docs/locks.md` for keys that move between nodes.

use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::store::wait::Waiter;

#[derive(Default)]
pub struct LockManager {
    last_token: AtomicU64,
}

impl LockManager {
    /// Every token from now on is greater than `token` (replaying a
    /// journaled grant: the high-water mark survives a restart even when
    /// it ran ahead of the clock).
    pub fn raise(&self, token: u64) {
        self.last_token.fetch_max(token, Ordering::SeqCst);
    }

    /// The highest token granted.
    pub fn high_water(&self) -> u64 {
        self.last_token.load(Ordering::SeqCst)
    }

    /// The next fencing token: strictly increasing, close to wall-clock µs,
    /// and greater than `after` (a token the client saw elsewhere, e.g. from
    /// the node that held the key before the ring changed), so tokens stay
    /// increasing across nodes without trusting their clocks.
    pub fn next_token(&self, after: u64) -> u64 {
        let now_us = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
        let mut prev = self.last_token.load(Ordering::SeqCst);
        loop {
            let next = (prev + 1).max(now_us).max(after.saturating_add(1));
            match self.last_token.compare_exchange(prev, next, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return next,
                Err(actual) => prev = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_strictly_increase() {
        let m = LockManager::default();
        let mut last = 0;
        for _ in 0..10_000 {
            let t = m.next_token(0);
            assert!(t > last);
            last = t;
        }
    }
}
