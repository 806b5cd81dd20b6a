//! WATCH bookkeeping: which clients watch which keys (Redis's
//! `watched_keys`), and the one hook every modification goes through.
//!
//! A client owns one [`WatchState`]; each key it watches maps to that state
//! here. Any modification of a watched key (write, delete, expiry, eviction,
//! flush of an existing key) marks the states watching it dirty, and EXEC
//! refuses to run for a dirty client. When nobody watches anything the hook
//! costs one relaxed atomic load.
//!
//! Lock order: a shard lock may be held when the registry lock is taken,
//! never the other way round.

use super::{Key, Keyspace};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// One client's "something I watch was touched" flag.
#[derive(Default, Debug)]
pub struct WatchState {
    dirty: AtomicBool,
}

impl WatchState {
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.dirty.store(false, Ordering::SeqCst);
    }

    fn mark(&self) {
        self.dirty.store(true, Ordering::SeqCst);
    }
}

type Watchers = Vec<(usize, Arc<WatchState>)>;

/// key -> (db, watcher) pairs.
#[derive(Default)]
pub struct WatchRegistry {
    map: Mutex<HashMap<Key, Watchers>>,
    /// Number of keys in `map`, read without the lock on every write.
    keys: AtomicUsize,
}

impl WatchRegistry {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Watchers>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks every client watching `key` in `db` dirty.
    pub fn touch(&self, db: usize, key: &[u8]) {
        if self.keys.load(Ordering::SeqCst) == 0 {
            return;
        }
        if let Some(list) = self.lock().get(key) {
            list.iter().filter(|(d, _)| *d == db).for_each(|(_, w)| w.mark());
        }
    }

    /// Marks dirty every client watching a key of `db` for which `exists`
    /// is true (FLUSHDB / FLUSHALL touch only keys that existed).
    pub fn touch_existing(&self, db: usize, exists: impl Fn(&[u8]) -> bool) {
        if self.keys.load(Ordering::SeqCst) == 0 {
            return;
        }
        for (key, list) in self.lock().iter() {
            if list.iter().any(|(d, _)| *d == db) && exists(key) {
                list.iter().filter(|(d, _)| *d == db).for_each(|(_, w)| w.mark());
            }
        }
    }

    /// Distinct watched keys (INFO clients `total_watched_keys`).
    pub fn watched_keys(&self) -> usize {
        self.keys.load(Ordering::SeqCst)
    }

    pub fn add(&self, db: usize, key: &[u8], state: &Arc<WatchState>) {
        let mut map = self.lock();
        let list = map.entry(key.into()).or_default();
        if list.is_empty() {
            self.keys.fetch_add(1, Ordering::SeqCst);
        }
        if !list.iter().any(|(d, w)| *d == db && Arc::ptr_eq(w, state)) {
            list.push((db, state.clone()));
        }
    }

    pub fn remove(&self, keys: &[(usize, Key)], state: &Arc<WatchState>) {
        let mut map = self.lock();
        for (db, key) in keys {
            if let Some(list) = map.get_mut(key) {
                list.retain(|(d, w)| !(*d == *db && Arc::ptr_eq(w, state)));
                if list.is_empty() {
                    map.remove(key);
                    self.keys.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
    }
}

impl Keyspace {
    /// True if `key` is present in `db` but past its TTL (not yet removed).
    /// EXEC treats such a watched key as touched, as Redis 7 does.
    pub fn is_logically_expired(&self, db: usize, key: &[u8]) -> bool {
        let now = crate::util::now_ms();
        self.lock(db, key).peek_raw(key).is_some_and(|m| m.is_expired(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_marks_only_matching_db() {
        let r = WatchRegistry::default();
        let a = Arc::new(WatchState::default());
        let b = Arc::new(WatchState::default());
        r.add(0, b"k", &a);
        r.add(1, b"k", &b);
        r.touch(0, b"k");
        assert!(a.is_dirty() && !b.is_dirty());
        r.remove(&[(0, b"k"[..].into())], &a);
        r.remove(&[(1, b"k"[..].into())], &b);
        assert_eq!(r.keys.load(Ordering::SeqCst), 0);
        a.reset();
        r.touch(0, b"k");
        assert!(!a.is_dirty());
    }
}
