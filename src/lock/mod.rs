//! Blocking locks: FIFO wait queues per key and fencing tokens.
//!
//! A lock is an ordinary string key whose value is the owner (so GET, TTL,
//! DEL and SET NX interoperate with it); this module only adds what a key
//! cannot hold:
//!
//! - **Wait queues.** `LOCK.ACQUIRE ... WAIT ms` on a held key enqueues a
//!   [`Waiter`]. Every modification of the key (release, DEL, expiry,
//!   eviction, overwrite) goes through the keyspace's modification hook,
//!   which calls [`LockManager::key_changed`]: the head waiter is woken and
//!   retries. Waiters are woken in arrival order and only the head may take
//!   a free key, so grants are FIFO. No polling: besides the hook, a waiter
//!   sleeps exactly until the holder's TTL ends.
//! - **Fencing tokens.** Every grant returns `max(previous + 1, now in µs)`
//!   from one node-wide counter: strictly greater than every token this node
//!   granted before, for any key, including after the key was deleted and
//!   re-created, and after a restart as long as the clock does not go back.
//!   See `docs/locks.md` for keys that move between nodes.
//!
//! Lock order: the shard lock of the key, then this manager's mutex.

use crate::store::Key;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// One blocked `LOCK.ACQUIRE`.
#[derive(Default)]
pub struct Waiter {
    wake: Notify,
}

impl Waiter {
    /// Wakes the command waiting here (it then checks again).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Completes when the key this waiter waits for may have become free.
    pub async fn woken(&self) {
        self.wake.notified().await
    }
}

/// (db, key) -> waiters in arrival order.
type Queues = HashMap<(usize, Key), VecDeque<Arc<Waiter>>>;

#[derive(Default)]
pub struct LockManager {
    queues: Mutex<Queues>,
    /// Any queue non-empty? Read on every key modification without the lock.
    waiting: AtomicU64,
    last_token: AtomicU64,
}

impl LockManager {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
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

    /// True if `waiter` may take the key now: nobody waits, or it is first.
    pub fn may_acquire(&self, db: usize, key: &[u8], waiter: Option<&Arc<Waiter>>) -> bool {
        if self.waiting.load(Ordering::SeqCst) == 0 {
            return true;
        }
        match self.lock().get(&(db, Key::from(key))) {
            None => true,
            Some(q) => match (q.front(), waiter) {
                (None, _) => true,
                (Some(head), Some(w)) => Arc::ptr_eq(head, w),
                (Some(_), None) => false,
            },
        }
    }

    /// Adds a waiter at the back of the key's queue (once).
    pub fn enqueue(&self, db: usize, key: &[u8], waiter: &Arc<Waiter>) {
        let mut queues = self.lock();
        let q = queues.entry((db, key.into())).or_default();
        if !q.iter().any(|w| Arc::ptr_eq(w, waiter)) {
            q.push_back(waiter.clone());
            self.waiting.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Removes a waiter (granted, timed out, disconnected). If it was at
    /// the head, the next waiter is woken to look at the key in its place.
    pub fn dequeue(&self, db: usize, key: &[u8], waiter: &Arc<Waiter>) {
        let mut queues = self.lock();
        let k = (db, Key::from(key));
        let Some(q) = queues.get_mut(&k) else { return };
        let Some(pos) = q.iter().position(|w| Arc::ptr_eq(w, waiter)) else {
            return;
        };
        q.remove(pos);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        if pos == 0
            && let Some(next) = q.front()
        {
            next.wake.notify_one();
        }
        if q.is_empty() {
            queues.remove(&k);
        }
    }

    /// The keyspace's modification hook: the key may be free now, so the
    /// first waiter retries.
    pub fn key_changed(&self, db: usize, key: &[u8]) {
        if self.waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        if let Some(head) = self.lock().get(&(db, Key::from(key))).and_then(|q| q.front()) {
            head.wake.notify_one();
        }
    }

    /// FLUSHDB / FLUSHALL freed every key of `db`: wake each queue's head.
    pub fn db_flushed(&self, db: usize) {
        if self.waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        for ((d, _), q) in self.lock().iter() {
            if *d == db
                && let Some(head) = q.front()
            {
                head.wake.notify_one();
            }
        }
    }

    /// Waiters queued on `key` (tests, INFO).
    pub fn queue_len(&self, db: usize, key: &[u8]) -> usize {
        self.lock().get(&(db, Key::from(key))).map_or(0, |q| q.len())
    }

    /// Waiters queued on all keys (INFO clients `blocked_clients`).
    pub fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::SeqCst)
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

    #[test]
    fn fifo_head_only() {
        let m = LockManager::default();
        let (a, b) = (Arc::new(Waiter::default()), Arc::new(Waiter::default()));
        assert!(m.may_acquire(0, b"k", None));
        m.enqueue(0, b"k", &a);
        m.enqueue(0, b"k", &b);
        assert!(!m.may_acquire(0, b"k", None));
        assert!(m.may_acquire(0, b"k", Some(&a)));
        assert!(!m.may_acquire(0, b"k", Some(&b)));
        m.dequeue(0, b"k", &a);
        assert!(m.may_acquire(0, b"k", Some(&b)));
        m.dequeue(0, b"k", &b);
        assert_eq!(m.waiting(), 0);
        assert!(m.may_acquire(0, b"k", None));
    }
}
