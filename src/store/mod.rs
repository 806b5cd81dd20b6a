//! The keyspace: 16 databases, each split into shards by key hash, each
//! shard an LRU-ordered map behind its own short-held mutex.
//!
//! - Every access goes through [`Locked`], which holds the shard locks a
//!   command needs (taken in ascending shard order, so multi-key commands
//!   never deadlock) and applies the rules every command shares: lazy expiry,
//!   LRU recency on reads, hit/miss statistics, the TTL index.
//! - Memory is counted by the global allocator ([`crate::alloc`]); eviction
//!   ([`Keyspace::evict_if_needed`]) runs before commands that may grow
//!   memory, as Redis's `performEvictions` does.
//! - Each shard keeps a min-heap of `(expire_at, key)` for keys with a TTL:
//!   active expiry and `volatile-ttl` pop it instead of scanning. Heap
//!   entries go stale when a TTL changes; they are checked against the entry
//!   when popped, and the heap is rebuilt when stale entries dominate.

use crate::config::{EvictionPolicy, RuntimeConfig};
use crate::util;
use lru::LruCache;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub mod scan;
pub mod watch;

pub mod record;

pub use record::{Meta, Record};

/// A key as kept outside the map (TTL heap, KEYS and SCAN results).
pub type Key = Box<[u8]>;

pub const NUM_DBS: usize = 16;
pub const SHARDS_PER_DB: usize = 32;

/// What a lookup sees of an entry: its value and its metadata.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub value: &'a [u8],
    /// Absolute expiry in Unix milliseconds; 0 = no expiry.
    pub expire_at: u64,
    pub meta: Meta,
}

impl<'a> Entry<'a> {
    fn new(record: &'a Record, meta: Meta) -> Entry<'a> {
        Entry { value: record.value(), expire_at: meta.expire_at(), meta }
    }
}

impl Meta {
    /// The Redis type name (TYPE, SCAN TYPE); only strings exist so far.
    pub fn type_name(self) -> &'static str {
        "string"
    }
}

/// Server-wide counters reported by INFO stats.
#[derive(Default)]
pub struct Stats {
    pub keyspace_hits: AtomicU64,
    pub keyspace_misses: AtomicU64,
    pub expired_keys: AtomicU64,
    pub evicted_keys: AtomicU64,
}

struct Shard {
    map: LruCache<Record, Meta>,
    /// Keys in `map` with an expiry.
    volatile: usize,
    ttl_heap: BinaryHeap<Reverse<(u64, Key)>>,
    /// The most keys the shard held since its table was last sized: a hash
    /// table keeps the capacity of its peak (17 bytes a bucket, a third of
    /// a small key's memory), however few keys remain.
    peak: usize,
}

impl Shard {
    fn new() -> Shard {
        Shard { map: LruCache::unbounded(), volatile: 0, ttl_heap: BinaryHeap::new(), peak: 0 }
    }

    /// True when the table is at least twice as large as what it holds.
    fn oversized(&self) -> bool {
        self.peak >= 2048 && self.map.len() * 2 < self.peak
    }

    /// Rebuilds the table at the size of what it holds, in LRU order (as
    /// Redis resizes its dicts when they empty out): the memory a lowered
    /// maxmemory or a mass DEL frees is then free for keys again.
    fn shrink(&mut self) {
        let mut fresh = LruCache::unbounded();
        while let Some((record, meta)) = self.map.pop_lru() {
            fresh.push(record, meta);
        }
        self.map = fresh;
        self.ttl_heap.shrink_to_fit();
        self.peak = self.map.len();
    }

    fn note_expire(&mut self, key: &[u8], old: u64, new: u64) {
        match (old != 0, new != 0) {
            (false, true) => self.volatile += 1,
            (true, false) => self.volatile -= 1,
            _ => {}
        }
        if new != 0 && new != old {
            self.ttl_heap.push(Reverse((new, key.into())));
            if self.ttl_heap.len() > 1024 && self.ttl_heap.len() > 4 * self.volatile {
                self.rebuild_heap();
            }
        }
    }

    fn rebuild_heap(&mut self) {
        self.ttl_heap = self.map.iter().filter(|(_, m)| m.expire_at() != 0).map(|(r, m)| Reverse((m.expire_at(), r.key().into()))).collect();
    }

    fn remove(&mut self, key: &[u8]) -> bool {
        match self.map.pop(key) {
            Some(m) => {
                if m.expire_at() != 0 {
                    self.volatile -= 1;
                }
                true
            }
            None => false,
        }
    }

    /// Pops the heap until it finds a key whose current expiry is the heap
    /// entry's and that is due at `now` (or any, with `now == u64::MAX`).
    fn pop_due(&mut self, now: u64) -> Option<Key> {
        while let Some(Reverse((at, _))) = self.ttl_heap.peek() {
            if *at > now {
                return None;
            }
            let Reverse((at, key)) = self.ttl_heap.pop().expect("peeked");
            if self.map.peek(&key[..]).is_some_and(|m| m.expire_at() == at) {
                return Some(key);
            }
        }
        None
    }
}

/// One logical database (SELECT n).
pub struct Db {
    shards: Box<[Mutex<Shard>]>,
    keys: AtomicUsize,
}

impl Db {
    fn new() -> Db {
        Db { shards: (0..SHARDS_PER_DB).map(|_| Mutex::new(Shard::new())).collect(), keys: AtomicUsize::new(0) }
    }

    fn shard(&self, i: usize) -> MutexGuard<'_, Shard> {
        // A panic while holding a shard lock leaves the shard consistent
        // (every mutation is a single map operation), so poison is ignored.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Stable 64-bit hash of a key: picks the shard (low bits) and orders SCAN
/// within the shard (all bits).
pub fn key_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // murmur3 fmix64 spreads FNV's weak low bits.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

fn shard_of(key: &[u8]) -> usize {
    (key_hash(key) as usize) % SHARDS_PER_DB
}

/// All databases plus the counters and settings that govern them.
pub struct Keyspace {
    dbs: Box<[Db]>,
    pub stats: Stats,
    pub config: Arc<RuntimeConfig>,
    evict_cursor: AtomicUsize,
    /// Clients watching keys (WATCH).
    pub watches: watch::WatchRegistry,
    /// Wait queues and fencing tokens of LOCK.ACQUIRE.
    pub locks: crate::lock::LockManager,
    /// Prepared cross-node transactions, their key locks and decisions.
    pub txns: crate::txn::TxnTable,
}

/// `lfu-log-factor` and `lfu-decay-time`.
#[derive(Debug, Clone, Copy)]
pub struct LfuSettings {
    pub log_factor: u64,
    pub decay_minutes: u64,
}

/// Why a write was refused before it ran.
#[derive(Debug, PartialEq, Eq)]
pub struct OutOfMemory;

impl Keyspace {
    pub fn new(config: Arc<RuntimeConfig>) -> Keyspace {
        Keyspace {
            dbs: (0..NUM_DBS).map(|_| Db::new()).collect(),
            stats: Stats::default(),
            config,
            evict_cursor: AtomicUsize::new(0),
            watches: watch::WatchRegistry::default(),
            locks: crate::lock::LockManager::default(),
            txns: crate::txn::TxnTable::default(),
        }
    }

    /// The LFU settings when an LFU policy is selected.
    pub fn lfu(&self) -> Option<LfuSettings> {
        self.config.policy().is_lfu().then(|| LfuSettings {
            log_factor: self.config.lfu_log_factor.load(Ordering::Relaxed),
            decay_minutes: self.config.lfu_decay_time.load(Ordering::Relaxed),
        })
    }

    /// Locks the shard holding `key` in database `db`.
    pub fn lock<'a>(&'a self, db: usize, key: &[u8]) -> Locked<'a> {
        let i = shard_of(key);
        Locked { ks: self, db, guards: Guards::One(i, self.dbs[db].shard(i)), now: util::clock_ms(), touch: true }
    }

    /// Locks every shard holding one of `keys` (ascending order).
    pub fn lock_many<'a, K: AsRef<[u8]>>(&'a self, db: usize, keys: &[K]) -> Locked<'a> {
        self.lock_dbs_many(&keys.iter().map(|k| (db, k.as_ref())).collect::<Vec<_>>())
    }

    /// Locks shards across databases (COPY ... DB n, SWAPDB-like needs).
    pub fn lock_dbs_many<'a>(&'a self, keys: &[(usize, &[u8])]) -> Locked<'a> {
        let mut idx: Vec<(usize, usize)> = keys.iter().map(|(db, k)| (*db, shard_of(k))).collect();
        idx.sort_unstable();
        idx.dedup();
        let db = keys.first().map(|k| k.0).unwrap_or(0);
        let guards = idx.into_iter().map(|(d, i)| ((d, i), self.dbs[d].shard(i))).collect();
        Locked { ks: self, db, guards: Guards::Many(guards), now: util::clock_ms(), touch: true }
    }

    pub fn dbsize(&self, db: usize) -> usize {
        self.dbs[db].keys.load(Ordering::Relaxed)
    }

    /// Keys with an expiry in `db` (INFO keyspace `expires=`).
    pub fn volatile_count(&self, db: usize) -> usize {
        (0..SHARDS_PER_DB).map(|i| self.dbs[db].shard(i).volatile).sum()
    }

    /// Removes every key of `db`; returns them for watchers and stats.
    pub fn flush_db(&self, db: usize, lazy: bool) {
        let d = &self.dbs[db];
        let mut garbage = Vec::new();
        for i in 0..SHARDS_PER_DB {
            let mut s = d.shard(i);
            let old = std::mem::replace(&mut *s, Shard::new());
            d.keys.fetch_sub(old.map.len(), Ordering::Relaxed);
            // WATCH: a flush touches the watched keys that existed.
            self.watches.touch_existing(db, |k| shard_of(k) == i && old.map.contains(k));
            self.locks.db_flushed(db);
            if lazy {
                garbage.push(old);
            }
        }
        if lazy && !garbage.is_empty() {
            std::thread::spawn(move || drop(garbage));
        }
    }

    /// SWAPDB: databases `a` and `b` exchange their contents. A WATCHed key
    /// of either database is touched when it exists in either (its value as
    /// seen from its database may change), as Redis does; lock waiters of
    /// both databases look again. Callers hold the exclusive gate.
    pub fn swap_dbs(&self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let (lo, hi) = (a.min(b), a.max(b));
        for i in 0..SHARDS_PER_DB {
            let mut x = self.dbs[lo].shard(i);
            let mut y = self.dbs[hi].shard(i);
            for db in [lo, hi] {
                self.watches.touch_existing(db, |k| shard_of(k) == i && (x.map.contains(k) || y.map.contains(k)));
            }
            std::mem::swap(&mut *x, &mut *y);
        }
        let (ka, kb) = (self.dbs[lo].keys.load(Ordering::Relaxed), self.dbs[hi].keys.load(Ordering::Relaxed));
        self.dbs[lo].keys.store(kb, Ordering::Relaxed);
        self.dbs[hi].keys.store(ka, Ordering::Relaxed);
        self.locks.db_flushed(lo);
        self.locks.db_flushed(hi);
    }

    /// Every live key of `db` matching `pattern` (KEYS).
    pub fn keys(&self, db: usize, pattern: &[u8]) -> Vec<Key> {
        let now = util::now_ms();
        let all = pattern == b"*";
        let mut out = Vec::new();
        for i in 0..SHARDS_PER_DB {
            let s = self.dbs[db].shard(i);
            for (r, m) in s.map.iter() {
                let key = r.key();
                if !m.is_expired(now) && (all || util::glob_match(pattern, key, false)) {
                    out.push(key.into());
                }
            }
        }
        out
    }

    /// A random live key of `db` (RANDOMKEY), expiring dead ones it meets.
    pub fn random_key(&self, db: usize) -> Option<Key> {
        for _ in 0..100 {
            if self.dbsize(db) == 0 {
                return None;
            }
            let start = util::random_u64() as usize;
            for j in 0..SHARDS_PER_DB {
                let i = (start + j) % SHARDS_PER_DB;
                let mut locked = Locked { ks: self, db, guards: Guards::One(i, self.dbs[db].shard(i)), now: util::clock_ms(), touch: false };
                let shard = locked.shard_at(i);
                let len = shard.map.len();
                if len == 0 {
                    continue;
                }
                let n = (util::random_u64() as usize) % len;
                let key: Key = shard.map.iter().nth(n).map(|(r, _)| r.key().into())?;
                if locked.exists(&key) {
                    return Some(key);
                }
                break;
            }
        }
        None
    }

    /// Removes due keys with an expiry, at most `budget` per shard; returns
    /// how many were removed. Called by the active expiry task.
    pub fn active_expire(&self, budget: usize) -> usize {
        let now = util::now_ms();
        let mut removed = 0;
        for (db, d) in self.dbs.iter().enumerate() {
            if d.keys.load(Ordering::Relaxed) == 0 {
                continue;
            }
            for i in 0..SHARDS_PER_DB {
                let mut s = d.shard(i);
                if s.volatile == 0 {
                    if !s.ttl_heap.is_empty() {
                        s.ttl_heap.clear();
                    }
                    continue;
                }
                let mut n = 0;
                while n < budget {
                    let Some(key) = s.pop_due(now) else { break };
                    s.remove(&key);
                    d.keys.fetch_sub(1, Ordering::Relaxed);
                    self.signal_modified(db, &key);
                    n += 1;
                }
                removed += n;
            }
        }
        self.stats.expired_keys.fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Rebuilds, from the cron, up to `budget` tables left at less than
    /// half their peak (after DEL, expiry, FLUSH of many keys).
    pub fn shrink_tables(&self, budget: usize) -> usize {
        let mut rebuilt = 0;
        for d in self.dbs.iter() {
            for i in 0..SHARDS_PER_DB {
                if rebuilt == budget {
                    return rebuilt;
                }
                let mut s = d.shard(i);
                if s.oversized() {
                    s.shrink();
                    rebuilt += 1;
                }
            }
        }
        rebuilt
    }

    /// The single hook every modification of a key goes through (Redis's
    /// `signalModifiedKey`): WATCH builds on it.
    fn signal_modified(&self, db: usize, key: &[u8]) {
        self.watches.touch(db, key);
        self.locks.key_changed(db, key);
    }

    /// Evicts keys until memory is under `maxmemory`. `Err` when over the
    /// limit and nothing can be evicted (or the policy is `noeviction`):
    /// the caller refuses the write with Redis's OOM error.
    pub fn evict_if_needed(&self) -> Result<(), OutOfMemory> {
        let max = self.config.maxmemory.load(Ordering::Relaxed);
        if max == 0 || crate::alloc::used_memory() <= max {
            return Ok(());
        }
        let policy = self.config.policy();
        if policy == EvictionPolicy::NoEviction {
            return Err(OutOfMemory);
        }
        let total = NUM_DBS * SHARDS_PER_DB;
        let decay_minutes = self.config.lfu_decay_time.load(Ordering::Relaxed);
        let samples = self.config.maxmemory_samples.load(Ordering::Relaxed) as usize;
        let mut fruitless = 0;
        while crate::alloc::used_memory() > max {
            let c = self.evict_cursor.fetch_add(1, Ordering::Relaxed) % total;
            let (db, i) = (c / SHARDS_PER_DB, c % SHARDS_PER_DB);
            let d = &self.dbs[db];
            let evicted = d.keys.load(Ordering::Relaxed) > 0 && {
                let mut s = d.shard(i);
                match evict_one(&mut s, policy, util::clock_ms(), decay_minutes, samples) {
                    Some(key) => {
                        d.keys.fetch_sub(1, Ordering::Relaxed);
                        // Evicting a shard down to half its table: give the
                        // table's memory back before evicting more keys.
                        if s.oversized() {
                            s.shrink();
                        }
                        drop(s);
                        self.signal_modified(db, &key);
                        true
                    }
                    None => false,
                }
            };
            if evicted {
                self.stats.evicted_keys.fetch_add(1, Ordering::Relaxed);
                fruitless = 0;
            } else {
                fruitless += 1;
                if fruitless > total {
                    return Err(OutOfMemory);
                }
            }
        }
        Ok(())
    }
}

/// Picks and removes one victim from a shard under `policy`.
///
/// LRU is exact within a shard (the `lru` crate's list); across shards the
/// victims are taken round-robin, which approximates global LRU closely
/// because keys spread evenly over shards. The `volatile-*` and `random`
/// policies look at a bounded window from the LRU end rather than scanning
/// the whole shard, like Redis's sampling.
///
/// The LFU policies sweep the shard like a clock hand: they look at keys
/// from the LRU end, at least `samples` and until one is no more used than a
/// new key (or `8 * samples` were seen), evict the least frequently used
/// (decayed counter, at `now`) and move the others to the front, so the next
/// eviction looks at the next keys. A frequently used key is thereby passed
/// over until its counter decays, however long ago it was last read, where
/// Redis samples random keys.
fn evict_one(s: &mut Shard, policy: EvictionPolicy, now: u64, decay_minutes: u64, samples: usize) -> Option<Key> {
    const WINDOW: usize = 1024;
    let least_frequent = |s: &mut Shard, volatile_only: bool| -> Option<Key> {
        // (maxmemory-samples may be set as high as Redis allows)
        let samples = samples.clamp(1, 1024);
        let mut candidates: Vec<(Key, u64)> = Vec::with_capacity(samples);
        let keys = s.map.iter().rev().take(if volatile_only { WINDOW } else { usize::MAX }).filter(|(_, m)| !volatile_only || m.expire_at() != 0);
        for (r, m) in keys.take(8 * samples) {
            candidates.push((Key::from(r.key()), m.lfu_counter(now, decay_minutes)));
            if candidates.len() >= samples && candidates.iter().any(|(_, c)| *c <= crate::store::record::LFU_INIT) {
                break;
            }
        }
        let (victim, _) = candidates.iter().enumerate().min_by_key(|(_, (_, counter))| *counter)?;
        for (i, (key, _)) in candidates.iter().enumerate() {
            if i != victim {
                s.map.promote(&key[..]);
            }
        }
        Some(candidates[victim].0.clone())
    };
    let victim: Key = match policy {
        EvictionPolicy::NoEviction => return None,
        EvictionPolicy::AllKeysLru => {
            let (r, m) = s.map.pop_lru()?;
            if m.expire_at() != 0 {
                s.volatile -= 1;
            }
            return Some(r.key().into());
        }
        EvictionPolicy::VolatileLru => s.map.iter().rev().take(WINDOW).find(|(_, m)| m.expire_at() != 0).map(|(r, _)| r.key().into())?,
        EvictionPolicy::AllKeysRandom => {
            let len = s.map.len().min(WINDOW);
            if len == 0 {
                return None;
            }
            let n = util::random_u64() as usize % len;
            s.map.iter().rev().nth(n).map(|(r, _)| r.key().into())?
        }
        EvictionPolicy::VolatileRandom => {
            if s.volatile == 0 {
                return None;
            }
            let candidates: Vec<&Record> = s.map.iter().rev().take(WINDOW).filter(|(_, m)| m.expire_at() != 0).map(|(r, _)| r).take(16).collect();
            if candidates.is_empty() {
                return None;
            }
            candidates[util::random_u64() as usize % candidates.len()].key().into()
        }
        EvictionPolicy::VolatileTtl => s.pop_due(u64::MAX)?,
        EvictionPolicy::AllKeysLfu => least_frequent(s, false)?,
        EvictionPolicy::VolatileLfu => least_frequent(s, true)?,
    };
    s.remove(&victim);
    Some(victim)
}

enum Guards<'a> {
    One(usize, MutexGuard<'a, Shard>),
    Many(Vec<((usize, usize), MutexGuard<'a, Shard>)>),
}

/// The shards a command holds, and the shared rules for touching keys in
/// them. Dropping it releases the locks.
pub struct Locked<'a> {
    ks: &'a Keyspace,
    db: usize,
    guards: Guards<'a>,
    now: u64,
    touch: bool,
}

impl<'a> Locked<'a> {
    /// Reads do not update recency or idle time (CLIENT NO-TOUCH, OBJECT).
    pub fn no_touch(mut self) -> Self {
        self.touch = false;
        self
    }

    pub fn set_touch(&mut self, touch: bool) {
        self.touch = touch;
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    fn shard_at(&mut self, i: usize) -> &mut Shard {
        self.shard_in(self.db, i)
    }

    fn shard_in(&mut self, db: usize, i: usize) -> &mut Shard {
        match &mut self.guards {
            Guards::One(j, g) if *j == i => g,
            Guards::One(..) => panic!("shard {i} not locked"),
            Guards::Many(gs) => {
                let pos = gs.iter().position(|(k, _)| *k == (db, i)).expect("shard not locked");
                &mut gs[pos].1
            }
        }
    }

    fn shard_for(&mut self, db: usize, key: &[u8]) -> &mut Shard {
        self.shard_in(db, shard_of(key))
    }

    /// Removes `key` from `db` if its TTL has passed; true if it did.
    fn expire_if_due(&mut self, db: usize, key: &[u8]) -> bool {
        let now = self.now;
        let s = self.shard_for(db, key);
        // Most caches hold no TTLs at all: skip the extra lookup then.
        let due = s.volatile > 0 && s.map.peek(key).is_some_and(|m| m.is_expired(now));
        if due {
            s.remove(key);
            self.ks.dbs[db].keys.fetch_sub(1, Ordering::Relaxed);
            self.ks.stats.expired_keys.fetch_add(1, Ordering::Relaxed);
            self.ks.signal_modified(db, key);
        }
        due
    }

    /// A read lookup (Redis's `lookupKeyRead`): expires, counts a hit or a
    /// miss, and refreshes recency and idle time.
    pub fn read(&mut self, key: &[u8]) -> Option<Entry<'_>> {
        self.read_in(self.db, key)
    }

    pub fn read_in(&mut self, db: usize, key: &[u8]) -> Option<Entry<'_>> {
        let stats = &self.ks.stats;
        let found = self.lookup_in(db, key);
        let counter = if found.is_some() { &stats.keyspace_hits } else { &stats.keyspace_misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// A lookup for writing (Redis's `lookupKeyWrite`): expires, refreshes
    /// recency, no hit/miss statistics.
    pub fn lookup(&mut self, key: &[u8]) -> Option<Entry<'_>> {
        self.lookup_in(self.db, key)
    }

    pub fn lookup_in(&mut self, db: usize, key: &[u8]) -> Option<Entry<'_>> {
        self.expire_if_due(db, key);
        let (touch, now) = (self.touch, self.now);
        // The lru crate cannot hand out a key without promoting it, so a
        // no-touch read still moves the key in the LRU list; it keeps the
        // idle time, which is what OBJECT IDLETIME and NO-TOUCH report.
        let lfu = self.ks.lfu();
        let s = self.shard_for(db, key);
        let (record, meta) = s.map.get_key_value_mut(key)?;
        if touch {
            match lfu {
                Some(l) => meta.lfu_touch(now, l.log_factor, l.decay_minutes),
                None => meta.touch(now),
            }
        }
        Some(Entry::new(record, *meta))
    }

    /// The metadata of a live key, without statistics or recency (TYPE,
    /// TTL, EXISTS, OBJECT IDLETIME).
    pub fn peek(&mut self, key: &[u8]) -> Option<Meta> {
        self.peek_in(self.db, key)
    }

    pub fn peek_in(&mut self, db: usize, key: &[u8]) -> Option<Meta> {
        self.expire_if_due(db, key);
        self.shard_for(db, key).map.peek(key).copied()
    }

    /// The metadata as stored, expired or not; no side effects.
    pub fn peek_raw(&mut self, key: &[u8]) -> Option<Meta> {
        self.shard_for(self.db, key).map.peek(key).copied()
    }

    pub fn exists(&mut self, key: &[u8]) -> bool {
        self.peek(key).is_some()
    }

    /// Stores `value` under `key` with `expire_at` (0 = none), replacing
    /// whatever was there.
    pub fn set(&mut self, key: &[u8], value: &[u8], expire_at: u64) {
        self.set_in(self.db, key, value, expire_at)
    }

    pub fn set_in(&mut self, db: usize, key: &[u8], value: &[u8], expire_at: u64) {
        let now = self.now;
        let ks = self.ks;
        let lfu = ks.lfu().is_some();
        let s = self.shard_for(db, key);
        let mut meta = if lfu { Meta::new_lfu(expire_at, now) } else { Meta::new(expire_at, now) };
        // An existing key keeps its record, whose value is replaced (one
        // lookup, which also makes it the most recently used); an old entry
        // already past its TTL counts as expired, as in Redis. Under LFU it
        // keeps its frequency, as Redis's `dbOverwrite` does.
        let old_expire = match s.map.get_key_value_mut(key) {
            Some((record, m)) => {
                if m.is_expired(now) {
                    ks.stats.expired_keys.fetch_add(1, Ordering::Relaxed);
                }
                let old = m.expire_at();
                if lfu {
                    meta = *m;
                    meta.set_expire_at(expire_at);
                }
                *m = meta;
                // SAFETY: the shard is locked and borrowed mutably, so nothing
                // else can reach the record, and `value` is the caller's.
                unsafe { record.replace_value(value) };
                old
            }
            None => {
                ks.dbs[db].keys.fetch_add(1, Ordering::Relaxed);
                s.map.put(Record::new(key, value), meta);
                s.peak = s.peak.max(s.map.len());
                0
            }
        };
        s.note_expire(key, old_expire, meta.expire_at());
        ks.signal_modified(db, key);
    }

    /// Replaces the value, keeping the TTL (APPEND, INCR, SETRANGE, KEEPTTL).
    pub fn set_keep_ttl(&mut self, key: &[u8], value: &[u8]) {
        let expire_at = self.peek(key).map(|m| m.expire_at()).unwrap_or(0);
        self.set(key, value, expire_at);
    }

    /// Sets the idle time OBJECT IDLETIME reports for `key` (RESTORE ...
    /// IDLETIME), without moving it in the LRU list.
    pub fn set_idle(&mut self, key: &[u8], idle_secs: u64) {
        let now = self.now;
        if self.ks.lfu().is_some() {
            return;
        }
        if let Some(m) = self.shard_for(self.db, key).map.peek_mut(key) {
            m.touch(now.saturating_sub(idle_secs.saturating_mul(1000)));
        }
    }

    /// Sets the access frequency of `key` under an LFU policy (RESTORE ...
    /// FREQ); nothing under the others, as in Redis.
    pub fn set_freq(&mut self, key: &[u8], counter: u64) {
        let now = self.now;
        if self.ks.lfu().is_none() {
            return;
        }
        if let Some(m) = self.shard_for(self.db, key).map.peek_mut(key) {
            m.set_lfu(now, counter);
        }
    }

    /// Changes the expiry of an existing key; false if there is none.
    pub fn set_expire(&mut self, key: &[u8], expire_at: u64) -> bool {
        self.expire_if_due(self.db, key);
        let s = self.shard_for(self.db, key);
        let Some(m) = s.map.peek_mut(key) else {
            return false;
        };
        let old = m.expire_at();
        m.set_expire_at(expire_at);
        let new = m.expire_at();
        s.note_expire(key, old, new);
        self.ks.signal_modified(self.db, key);
        true
    }

    /// Deletes `key`; true if it existed.
    pub fn delete(&mut self, key: &[u8]) -> bool {
        self.delete_in(self.db, key)
    }

    pub fn delete_in(&mut self, db: usize, key: &[u8]) -> bool {
        if self.expire_if_due(db, key) || !self.shard_for(db, key).remove(key) {
            return false;
        }
        self.ks.dbs[db].keys.fetch_sub(1, Ordering::Relaxed);
        self.ks.signal_modified(db, key);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks() -> Keyspace {
        Keyspace::new(Arc::new(RuntimeConfig::default()))
    }

    fn s(v: &str) -> &[u8] {
        v.as_bytes()
    }

    #[test]
    fn set_get_delete() {
        let ks = ks();
        ks.lock(0, b"a").set(b"a", s("1"), 0);
        assert_eq!(ks.lock(0, b"a").read(b"a").unwrap().value, s("1"));
        assert_eq!(ks.dbsize(0), 1);
        assert!(ks.lock(0, b"a").delete(b"a"));
        assert_eq!(ks.dbsize(0), 0);
        assert_eq!(ks.stats.keyspace_hits.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn lazy_and_active_expiry() {
        let ks = ks();
        let past = util::now_ms() - 1;
        ks.lock(0, b"a").set(b"a", s("1"), past);
        ks.lock(0, b"b").set(b"b", s("1"), past);
        assert!(ks.lock(0, b"a").read(b"a").is_none());
        assert_eq!(ks.active_expire(100), 1);
        assert_eq!(ks.dbsize(0), 0);
        assert_eq!(ks.stats.expired_keys.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn multi_shard_lock_is_ordered() {
        let ks = ks();
        let keys: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
        let mut l = ks.lock_many(0, &keys);
        for k in &keys {
            l.set(k.as_bytes(), s("v"), 0);
        }
        drop(l);
        assert_eq!(ks.dbsize(0), 100);
        assert_eq!(ks.keys(0, b"k1*").len(), 11);
    }

    #[test]
    fn eviction_policies_pick_victims() {
        let mut sh = Shard::new();
        sh.map.put(Record::new(b"old", b"v"), Meta::new(0, 0));
        sh.map.put(Record::new(b"ttl", b"v"), Meta::new(5, 0));
        sh.note_expire(b"ttl", 0, 5);
        sh.map.put(Record::new(b"new", b"v"), Meta::new(0, 0));
        assert_eq!(&*evict_one(&mut sh, EvictionPolicy::VolatileLru, 0, 1, 5).unwrap(), b"ttl");
        assert_eq!(evict_one(&mut sh, EvictionPolicy::VolatileTtl, 0, 1, 5), None);
        assert_eq!(&*evict_one(&mut sh, EvictionPolicy::AllKeysLru, 0, 1, 5).unwrap(), b"old");
        // LFU: the least frequently used of the examined keys goes; the
        // others move to the front, so the sweep goes on past them
        let mut sh = Shard::new();
        let mut hot = Meta::new_lfu(0, 0);
        for _ in 0..20 {
            hot.lfu_touch(0, 0, 1);
        }
        for k in [&b"hot1"[..], b"hot2", b"cold1", b"hot3", b"cold2"] {
            sh.map.put(Record::new(k, b"v"), if k.starts_with(b"hot") { hot } else { Meta::new_lfu(0, 0) });
        }
        // the sweep passes hot1 and hot2 to find cold1, then hot3 for cold2
        assert_eq!(&*evict_one(&mut sh, EvictionPolicy::AllKeysLfu, 0, 1, 2).unwrap(), b"cold1");
        assert_eq!(&*evict_one(&mut sh, EvictionPolicy::AllKeysLfu, 0, 1, 2).unwrap(), b"cold2");
        // only hot keys left: the least frequently used of them goes
        assert!(evict_one(&mut sh, EvictionPolicy::AllKeysLfu, 0, 1, 2).unwrap().starts_with(b"hot"));
        assert_eq!(sh.map.len(), 2);
    }
}
