//! The one wait registry: FIFO queues of blocked commands per (db, key),
//! fed by the keyspace's modification hook, for every reason a command
//! blocks on a key (BLPOP and the other blocking list commands, LOCK.ACQUIRE
//! ... WAIT; later zset pops and XREAD).
//!
//! A blocked command is re-executed when woken, as Redis 7 re-runs it: the
//! command itself decides whether it can go on now. What the registry adds
//! is the order Redis gives:
//!
//! - **FIFO.** A command may wait on several keys; on each it stands in
//!   arrival order, once.
//! - **The head goes first.** When a key with waiters changes, it is
//!   *reserved* for its first waiter, which is woken. Until that waiter has
//!   run again, every other command on the key waits (the dispatcher asks
//!   [`WaitRegistry::may_pass`]); so a push is served to the longest waiter
//!   before any later command sees it, as Redis serves blocked clients right
//!   after the command that pushed. When the head is done (served, timed
//!   out, gone), the reservation passes to the next waiter, which looks for
//!   itself; when it stays blocked, the reservation ends (and is renewed at
//!   once if the key changed meanwhile, so no push is missed) - unless it
//!   found the key of another type than it waits for (a BLPOP on a key
//!   that is now a sorted set): then the key passes to the waiter behind
//!   it, as Redis serves the next blocked client of the right type.
//! - **Cheap when unused.** Every modification reads one atomic while no
//!   one waits, and the dispatcher one while nothing is reserved.
//!
//! Every reason a command waits goes through here:
//!
//! - a blocking command waits on its keys ([`WaitRegistry::queue`]);
//! - a command on a key held by a prepared cross-node transaction waits in
//!   the same FIFO queue of that key; releasing the key is an event on it
//!   ([`WaitRegistry::key_changed`], called by the 2PC table), so such
//!   commands run in arrival order once the transaction is decided;
//! - a command on a key reserved for a woken waiter, or any command while a
//!   script runs, is *parked* ([`WaitRegistry::park_while`]) until the node
//!   says that what it waited for ended ([`WaitRegistry::wake_parked`]).
//!
//! A command's standing is a [`Place`]: dropping it (the command was
//! served, timed out, was unblocked, or its client left, however) takes it
//! out of every queue and hands its reservations on, so no path can leave a
//! gone client at the head of a queue holding the key for ever.
//!
//! Lock order: a shard lock may be held when the registry lock is taken,
//! never the other way round. Queue-ups happen under the shard lock of the
//! key, so no change can slip between "nothing there" and "waiting".

use super::Key;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// One blocked command (or one parked behind a reservation).
#[derive(Default)]
pub struct Waiter {
    wake: Notify,
    /// Queues this waiter stands in.
    queues: AtomicUsize,
}

impl Waiter {
    /// Wakes the command waiting here (it then checks again).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Completes when what this waiter waits for may have happened.
    pub async fn woken(&self) {
        self.wake.notified().await
    }
}

#[derive(Default)]
struct Queue {
    waiters: VecDeque<Arc<Waiter>>,
    /// The waiter the key is held for until it has run again.
    reserved: Option<Arc<Waiter>>,
    /// The key changed while reserved.
    again: bool,
}

#[derive(Default)]
struct Inner {
    queues: HashMap<(usize, Key), Queue>,
    /// Commands waiting for a reservation to end.
    parked: Vec<Arc<Waiter>>,
}

#[derive(Default)]
pub struct WaitRegistry {
    inner: Mutex<Inner>,
    /// Entries over all queues (read on every modification).
    queued: AtomicUsize,
    /// Reserved keys (read by the dispatcher).
    reserved: AtomicUsize,
    /// Distinct waiters in some queue (INFO `blocked_clients`).
    clients: AtomicUsize,
}

impl WaitRegistry {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds `q`'s key for its first waiter and wakes it.
    fn reserve_head(&self, q: &mut Queue) {
        if q.reserved.is_none()
            && let Some(head) = q.waiters.front().cloned()
        {
            self.reserve(q, head);
        }
    }

    /// Holds `q`'s key (free now) for `w` and wakes it.
    fn reserve(&self, q: &mut Queue, w: Arc<Waiter>) {
        w.wake();
        q.reserved = Some(w);
        q.again = false;
        self.reserved.fetch_add(1, Ordering::SeqCst);
    }

    /// Ends `q`'s reservation if `w` holds it; true if it did.
    fn unreserve(&self, q: &mut Queue, w: &Arc<Waiter>) -> bool {
        if q.reserved.as_ref().is_some_and(|r| Arc::ptr_eq(r, w)) {
            q.reserved = None;
            self.reserved.fetch_sub(1, Ordering::SeqCst);
            return true;
        }
        false
    }

    fn wake_parked_locked(inner: &mut Inner) {
        inner.parked.drain(..).for_each(|w| w.wake());
    }

    /// Queues `w` on `keys` of `db` (at the back where it is not yet in
    /// line): the place it leaves when dropped.
    pub fn queue<K: AsRef<[u8]>>(self: &Arc<Self>, db: usize, keys: &[K], w: &Arc<Waiter>) -> Place {
        self.enqueue(db, keys, w);
        Place { waits: self.clone(), db, keys: keys.iter().map(|k| Key::from(k.as_ref())).collect(), waiter: w.clone(), parked: false }
    }

    /// Parks `w` until [`wake_parked`](Self::wake_parked) (or a reservation
    /// ends); woken at once if `waiting` (checked under the registry's lock,
    /// after `w` is parked) says the reason is gone already, so no wake-up
    /// can slip between the check that made it park and the parking.
    pub fn park_while(self: &Arc<Self>, db: usize, w: &Arc<Waiter>, waiting: impl FnOnce() -> bool) -> Place {
        let mut inner = self.lock();
        if !inner.parked.iter().any(|x| Arc::ptr_eq(x, w)) {
            inner.parked.push(w.clone());
        }
        if !waiting() {
            w.wake();
        }
        drop(inner);
        Place { waits: self.clone(), db, keys: Vec::new(), waiter: w.clone(), parked: true }
    }

    /// Parks `w` until no key is held for a woken waiter.
    pub fn park(self: &Arc<Self>, db: usize, w: &Arc<Waiter>) -> Place {
        self.park_while(db, w, || self.reserved.load(Ordering::SeqCst) > 0)
    }

    /// Something every parked command may wait for ended (a script, a
    /// reservation): they all look again.
    pub fn wake_parked(&self) {
        Self::wake_parked_locked(&mut self.lock());
    }

    fn unpark(&self, w: &Arc<Waiter>) {
        self.lock().parked.retain(|x| !Arc::ptr_eq(x, w));
    }

    /// Adds `w` at the back of each key's queue where it is not yet.
    fn enqueue<K: AsRef<[u8]>>(&self, db: usize, keys: &[K], w: &Arc<Waiter>) {
        let mut inner = self.lock();
        for k in keys {
            let q = inner.queues.entry((db, Key::from(k.as_ref()))).or_default();
            if !q.waiters.iter().any(|x| Arc::ptr_eq(x, w)) {
                q.waiters.push_back(w.clone());
                self.queued.fetch_add(1, Ordering::SeqCst);
                if w.queues.fetch_add(1, Ordering::SeqCst) == 0 {
                    self.clients.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }

    /// `w` is done (served, timed out, gone): it leaves every queue, and
    /// where it held the key or stood first, the next waiter looks.
    fn dequeue<K: AsRef<[u8]>>(&self, db: usize, keys: &[K], w: &Arc<Waiter>) {
        let mut inner = self.lock();
        let mut released = false;
        for k in keys {
            let id = (db, Key::from(k.as_ref()));
            let Some(q) = inner.queues.get_mut(&id) else { continue };
            let Some(pos) = q.waiters.iter().position(|x| Arc::ptr_eq(x, w)) else { continue };
            q.waiters.remove(pos);
            self.queued.fetch_sub(1, Ordering::SeqCst);
            if w.queues.fetch_sub(1, Ordering::SeqCst) == 1 {
                self.clients.fetch_sub(1, Ordering::SeqCst);
            }
            let held = self.unreserve(q, w);
            released |= held;
            if held || pos == 0 {
                self.reserve_head(q);
            }
            if q.waiters.is_empty() {
                inner.queues.remove(&id);
            }
        }
        if released {
            Self::wake_parked_locked(&mut inner);
        }
    }

    /// `w` ran again and still waits: its reservations end, renewed at
    /// once where the key changed meanwhile - or, when it found a key of
    /// another type (`pass`), handed to the waiter behind it in line.
    fn release<K: AsRef<[u8]>>(&self, db: usize, keys: &[K], w: &Arc<Waiter>, pass: bool) {
        let mut inner = self.lock();
        let mut released = false;
        for k in keys {
            let Some(q) = inner.queues.get_mut(&(db, Key::from(k.as_ref()))) else { continue };
            if !self.unreserve(q, w) {
                continue;
            }
            released = true;
            let next = pass.then(|| q.waiters.iter().position(|x| Arc::ptr_eq(x, w)).and_then(|pos| q.waiters.get(pos + 1)).cloned()).flatten();
            match next {
                Some(next) => self.reserve(q, next),
                None if q.again => self.reserve_head(q),
                None => {}
            }
        }
        if released {
            Self::wake_parked_locked(&mut inner);
        }
    }

    /// The keyspace's modification hook; also called when a cross-node
    /// transaction releases a key.
    pub fn key_changed(&self, db: usize, key: &[u8]) {
        if self.queued.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut inner = self.lock();
        if let Some(q) = inner.queues.get_mut(&(db, Key::from(key))) {
            if q.reserved.is_some() {
                q.again = true;
            } else {
                self.reserve_head(q);
            }
        }
    }

    /// FLUSHDB / FLUSHALL / SWAPDB changed every key of `db`.
    pub fn db_changed(&self, db: usize) {
        if self.queued.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut inner = self.lock();
        for ((d, _), q) in inner.queues.iter_mut() {
            if *d == db {
                if q.reserved.is_some() {
                    q.again = true;
                } else {
                    self.reserve_head(q);
                }
            }
        }
    }

    /// Whether a command of `me` (`None`: not a woken waiter) may touch
    /// `key` now: false while the key is held for another waiter.
    pub fn may_pass(&self, db: usize, key: &[u8], me: Option<&Arc<Waiter>>) -> bool {
        if self.reserved.load(Ordering::SeqCst) == 0 {
            return true;
        }
        match self.lock().queues.get(&(db, Key::from(key))).and_then(|q| q.reserved.as_ref()) {
            None => true,
            Some(r) => me.is_some_and(|me| Arc::ptr_eq(r, me)),
        }
    }

    /// Anything reserved at all (the dispatcher's fast path).
    pub fn any_reserved(&self) -> bool {
        self.reserved.load(Ordering::SeqCst) > 0
    }

    /// True if nobody waits on `key` ahead of `me` (LOCK.ACQUIRE: a free
    /// lock goes to the first in line).
    pub fn is_first(&self, db: usize, key: &[u8], me: Option<&Arc<Waiter>>) -> bool {
        if self.queued.load(Ordering::SeqCst) == 0 {
            return true;
        }
        match self.lock().queues.get(&(db, Key::from(key))).and_then(|q| q.waiters.front()) {
            None => true,
            Some(head) => me.is_some_and(|me| Arc::ptr_eq(head, me)),
        }
    }

    /// Waiters queued on `key`.
    pub fn queue_len(&self, db: usize, key: &[u8]) -> usize {
        self.lock().queues.get(&(db, Key::from(key))).map_or(0, |q| q.waiters.len())
    }

    /// Commands blocked on keys (INFO `blocked_clients`).
    pub fn blocked_clients(&self) -> usize {
        self.clients.load(Ordering::SeqCst)
    }
}

/// A command's standing in the registry: the key queues it is in and
/// whether it is parked. Dropped, it leaves them all (see the module doc).
pub struct Place {
    waits: Arc<WaitRegistry>,
    db: usize,
    keys: Vec<Key>,
    waiter: Arc<Waiter>,
    parked: bool,
}

impl Place {
    pub fn db(&self) -> usize {
        self.db
    }

    pub fn waiter(&self) -> &Arc<Waiter> {
        &self.waiter
    }

    /// The keys whose queues this command stands in.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The command ran again and waits on: `again` (the place its new run
    /// took, same waiter) joins this one, which keeps its place in line,
    /// and the reservations this run held end.
    pub fn carry_on(&mut self, again: Place) {
        self.join(again);
        self.waits.release(self.db, &self.keys, &self.waiter, false);
    }

    /// Takes over the keys and parking of `again` (the same waiter's new
    /// run).
    fn join(&mut self, mut again: Place) {
        debug_assert!(Arc::ptr_eq(&self.waiter, &again.waiter) && self.db == again.db);
        for k in std::mem::take(&mut again.keys) {
            if !self.keys.contains(&k) {
                self.keys.push(k);
            }
        }
        self.parked |= std::mem::take(&mut again.parked);
    }

    /// As [`carry_on`](Self::carry_on), when the run found a key of another
    /// type than it waits for: the keys it held pass to the next in line.
    pub fn pass_on(&mut self, again: Place) {
        self.join(again);
        self.waits.release(self.db, &self.keys, &self.waiter, true);
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if !self.keys.is_empty() {
            self.waits.dequeue(self.db, &self.keys, &self.waiter);
        }
        if self.parked {
            self.waits.unpark(&self.waiter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter() -> Arc<Waiter> {
        Arc::new(Waiter::default())
    }

    #[test]
    fn a_change_reserves_the_key_for_the_first_waiter() {
        let r = WaitRegistry::default();
        let (a, b) = (waiter(), waiter());
        r.enqueue(0, &[b"k"], &a);
        r.enqueue(0, &[b"k", b"j"], &b);
        r.enqueue(0, &[b"k"], &a);
        assert_eq!((r.queue_len(0, b"k"), r.blocked_clients()), (2, 2));
        assert!(r.may_pass(0, b"k", None), "nothing reserved yet");
        r.key_changed(0, b"k");
        assert!(!r.may_pass(0, b"k", None) && !r.may_pass(0, b"k", Some(&b)));
        assert!(r.may_pass(0, b"k", Some(&a)) && r.may_pass(0, b"j", None));
        // a is served: the key passes to b
        r.dequeue(0, &[b"k"], &a);
        assert!(r.may_pass(0, b"k", Some(&b)) && !r.may_pass(0, b"k", None));
        // b finds nothing and stays: the key is free again, b still first
        r.release(0, &[b"k", b"j"], &b, false);
        assert!(r.may_pass(0, b"k", None));
        assert!(r.is_first(0, b"k", Some(&b)) && !r.is_first(0, b"k", None));
        // a change while b runs again is not lost
        r.key_changed(0, b"k");
        r.key_changed(0, b"k");
        r.release(0, &[b"k"], &b, false);
        assert!(!r.may_pass(0, b"k", None), "renewed for the change that came meanwhile");
        r.dequeue(0, &[b"k", b"j"], &b);
        assert_eq!((r.queue_len(0, b"k"), r.queue_len(0, b"j"), r.blocked_clients()), (0, 0, 0));
        assert!(r.may_pass(0, b"k", None) && !r.any_reserved());
    }

    #[test]
    fn a_dropped_place_leaves_its_queues_and_hands_the_key_on() {
        let r = Arc::new(WaitRegistry::default());
        let (a, b) = (waiter(), waiter());
        let pa = r.queue(0, &[b"k"], &a);
        let mut pb = r.queue(0, &[b"k"], &b);
        r.key_changed(0, b"k");
        assert!(r.may_pass(0, b"k", Some(&a)) && !r.may_pass(0, b"k", Some(&b)));
        // a's client is gone while the key is held for it: b gets it
        drop(pa);
        assert!(r.may_pass(0, b"k", Some(&b)) && !r.may_pass(0, b"k", None));
        // b runs again and now also waits on j: one place, both queues
        let again = r.queue(0, &[b"k", b"j"], &b);
        pb.carry_on(again);
        assert_eq!(pb.keys().len(), 2);
        assert!(r.may_pass(0, b"k", None), "the run's reservation ended");
        assert_eq!((r.queue_len(0, b"k"), r.queue_len(0, b"j"), r.blocked_clients()), (1, 1, 1));
        drop(pb);
        assert_eq!((r.queue_len(0, b"k"), r.queue_len(0, b"j"), r.blocked_clients()), (0, 0, 0));
    }

    #[test]
    fn parking_wakes_at_once_when_the_reason_is_gone() {
        let r = Arc::new(WaitRegistry::default());
        let w = waiter();
        let place = r.park_while(0, &w, || false);
        // the permit is there: woken() completes without a wake_parked
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async { tokio::time::timeout(std::time::Duration::from_secs(5), w.woken()).await }).expect("woken at once");
        drop(place);
        assert!(r.lock().parked.is_empty(), "a dropped place leaves the parked list");
        let _still = r.park_while(0, &w, || true);
        assert_eq!(r.lock().parked.len(), 1);
        r.wake_parked();
        assert!(r.lock().parked.is_empty());
    }
}
