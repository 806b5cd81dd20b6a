//! The keyspace: 16 databases, each split into shards by key hash, each
//! shard a hash table ([`table`]) behind its own short-held mutex.
//!
//! - Every access goes through [`Locked`], which holds the shard locks a
//!   command needs (taken in ascending shard order, so multi-key commands
//!   never deadlock) and applies the rules every command shares: lazy expiry,
//!   access time (LRU) or frequency (LFU) on reads, hit/miss statistics, the
//!   TTL index.
//! - Memory is counted by the global allocator ([`crate::alloc`]); eviction
//!   ([`Keyspace::evict_if_needed`]) runs before commands that may grow
//!   memory, as Redis's `performEvictions` does, and approximates LRU and
//!   LFU as Redis does: sampled keys feed a pool of the best candidates.
//! - Each shard keeps a min-heap of `(expire_at, key)` for keys with a TTL:
//!   active expiry and `volatile-ttl` pop it instead of scanning. Heap
//!   entries go stale when a TTL changes; they are checked against the entry
//!   when popped, and the heap is rebuilt when stale entries dominate.

use crate::config::{EvictionPolicy, RuntimeConfig};
use crate::util;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub mod effects;
pub mod geohash;
pub mod hash;
pub mod hll;
pub mod lazyfree;
pub mod list;
pub mod listpack;
pub mod notify;
pub mod record;
pub mod scan;
pub mod set;
pub mod snapshot;
pub mod stream;
pub mod table;
pub mod value;
pub mod wait;
pub mod watch;
pub mod zset;
pub mod ztree;

pub use record::{EntryRef, Kind, Meta, Record, View};
use table::{Slot, Table};

/// A key as kept outside the map (TTL heap, KEYS and SCAN results).
pub type Key = Box<[u8]>;

pub const NUM_DBS: usize = 16;
pub const SHARDS_PER_DB: usize = 32;

/// What a lookup sees of an entry: its type, value and metadata.
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    pub kind: Kind,
    /// The value's bytes as stored: a string's bytes (only meaningful for
    /// `Kind::String`; collections are read through `entry`).
    pub value: &'a [u8],
    /// Absolute expiry in Unix milliseconds; 0 = no expiry.
    pub expire_at: u64,
    pub meta: Meta,
    pub entry: EntryRef<'a>,
}

impl<'a> Entry<'a> {
    /// The entry of a stored record (as [`Locked::entry_ref`] gives it).
    pub fn of(e: EntryRef<'a>) -> Entry<'a> {
        Entry::new(e)
    }

    fn new(e: EntryRef<'a>) -> Entry<'a> {
        Entry { kind: e.kind(), value: e.value(), expire_at: e.meta().expire_at(), meta: e.meta(), entry: e }
    }

    /// The string value, or `WrongType`.
    pub fn string(self) -> Result<&'a [u8], WrongType> {
        if self.kind == Kind::String { Ok(self.value) } else { Err(WrongType) }
    }

    /// The list, or `WrongType`.
    pub fn list(self) -> Result<list::ListRef<'a>, WrongType> {
        if self.kind == Kind::List { Ok(list::ListRef::of(self.entry)) } else { Err(WrongType) }
    }

    /// The set, or `WrongType`.
    pub fn set(self) -> Result<set::SetRef<'a>, WrongType> {
        if self.kind == Kind::Set { Ok(set::SetRef::of(self.entry)) } else { Err(WrongType) }
    }

    /// The sorted set, or `WrongType`.
    pub fn zset(self) -> Result<zset::ZSetRef<'a>, WrongType> {
        if self.kind == Kind::ZSet { Ok(zset::ZSetRef::of(self.entry)) } else { Err(WrongType) }
    }

    /// The stream, or `WrongType`.
    pub fn stream(self) -> Result<&'a stream::Stream, WrongType> {
        match self.entry.view() {
            View::Boxed(value::Boxed::Stream(s)) if self.kind == Kind::Stream => Ok(s),
            _ => Err(WrongType),
        }
    }

    /// The hash, or `WrongType`.
    pub fn hash(self) -> Result<hash::HashRef<'a>, WrongType> {
        if self.kind == Kind::Hash { Ok(hash::HashRef::of(self.entry)) } else { Err(WrongType) }
    }
}

/// mimalloc's size class for `n` bytes (8-byte steps to 64, then 16;
/// close enough beyond).
fn block_size(n: usize) -> usize {
    if n <= 64 { n.div_ceil(8) * 8 } else { n.div_ceil(16) * 16 }
}

/// MEMORY USAGE: the bytes an entry takes: its allocation and bucket slot,
/// and a boxed collection's own allocations.
pub fn memory_usage(e: EntryRef<'_>) -> usize {
    let entry = |e: EntryRef<'_>| block_size(std::mem::size_of::<record::Node>() + e.key().len() + e.value().len()) + 8;
    entry(e)
        + match e.view() {
            View::Inline(_) => 0,
            View::Boxed(b) => {
                block_size(std::mem::size_of::<value::Boxed>())
                    + match b {
                        value::Boxed::Hash(t) | value::Boxed::Set(t) => {
                            let mut n = t.bucket_bytes();
                            t.for_each(|f| n += entry(f) - 8);
                            n
                        }
                        value::Boxed::List(q) => q.heap_bytes(),
                        value::Boxed::Stream(st) => st.heap_bytes(),
                        value::Boxed::ZSet(z) => {
                            let mut n = z.table().bucket_bytes() + z.heap_bytes();
                            z.table().for_each(|f| n += entry(f) - 8);
                            n
                        }
                    }
            }
        }
}

/// A command met a key holding another type (Redis's `WRONGTYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

/// True for a collection left without elements (its key is removed).
fn is_empty_collection(e: EntryRef<'_>) -> bool {
    e.kind() != Kind::String
        && match e.view() {
            View::Inline(bytes) => bytes.is_empty(),
            View::Boxed(b) => b.is_empty(),
        }
}

/// Server-wide counters reported by INFO stats.
#[derive(Default)]
pub struct Stats {
    pub keyspace_hits: AtomicU64,
    pub keyspace_misses: AtomicU64,
    pub expired_keys: AtomicU64,
    pub evicted_keys: AtomicU64,
    /// Keys changed since startup (Redis's `server.dirty`; save points
    /// compare it with its value at the last save).
    pub dirty: Striped,
}

/// A counter every worker bumps on its own cache line (a single atomic
/// would bounce between cores on every write); reads sum the stripes.
#[derive(Default)]
pub struct Striped([Stripe; 8]);

#[derive(Default)]
#[repr(align(128))]
struct Stripe(AtomicU64);

impl Striped {
    pub fn add(&self, n: u64) {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static MINE: usize = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        let i = MINE.with(|m| *m) % self.0.len();
        self.0[i].0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

struct Shard {
    table: Table,
    /// Keys in `table` with an expiry.
    volatile: usize,
    ttl_heap: BinaryHeap<Reverse<(u64, Key)>>,
    /// This shard's part of a snapshot in progress.
    snap: Option<Box<snapshot::ShardSnap>>,
}

impl Shard {
    fn new() -> Shard {
        Shard { table: Table::new(), volatile: 0, ttl_heap: BinaryHeap::new(), snap: None }
    }

    /// The snapshot's pre-write hook: called before `key` changes in any
    /// way a snapshot would see (value, expiry, removal, creation).
    #[inline]
    fn preserve(&mut self, key: &[u8]) {
        if let Some(snap) = self.snap.as_mut() {
            snap.preserve(key, self.table.get(key).map(Entry::new));
        }
    }

    /// Serialises whatever of the snapshot's start the shard still holds
    /// (before its table goes: FLUSHDB, SWAPDB).
    fn settle(&mut self) {
        if let Some(snap) = self.snap.as_mut() {
            snap.settle(&self.table);
        }
    }

    /// The cron's share of table upkeep: starts a shrink when less than a
    /// tenth of the buckets are used (Redis's `tryResizeHashTables`) and
    /// moves up to `buckets` buckets of a resize in progress (Redis's
    /// `activerehashing`). True if there was something to do.
    fn maintain(&mut self, buckets: usize) -> bool {
        if self.table.wants_shrink() || (self.table.is_empty() && self.table.bucket_bytes() > 0) {
            self.table.shrink();
        }
        if self.ttl_heap.capacity() > 1024 && self.ttl_heap.capacity() > 4 * self.ttl_heap.len() {
            self.ttl_heap.shrink_to_fit();
        }
        self.table.is_resizing() && {
            self.table.rehash_step(buckets);
            true
        }
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
        let mut heap = Vec::with_capacity(self.volatile);
        self.table.for_each(|e| {
            if e.meta().expire_at() != 0 {
                heap.push(Reverse((e.meta().expire_at(), e.key().into())));
            }
        });
        self.ttl_heap = heap.into();
    }

    fn remove(&mut self, key: &[u8]) -> bool {
        self.preserve(key);
        match self.table.remove(key) {
            Some(r) => {
                if r.meta().expire_at() != 0 {
                    self.volatile -= 1;
                }
                true
            }
            None => false,
        }
    }

    /// A random key with an expiry (volatile-random, volatile-lru and
    /// volatile-lfu sample the TTL index, as Redis samples its `expires`
    /// dict): a few tries at random heap entries that are still current.
    fn random_volatile(&self) -> Option<EntryRef<'_>> {
        let heap = self.ttl_heap.as_slice();
        if self.volatile == 0 || heap.is_empty() {
            return None;
        }
        (0..16).find_map(|_| {
            let Reverse((at, key)) = &heap[util::random_u64() as usize % heap.len()];
            self.table.get(key).filter(|e| e.meta().expire_at() == *at)
        })
    }

    /// Pops the heap until it finds a key whose current expiry is the heap
    /// entry's and that is due at `now` (or any, with `now == u64::MAX`).
    fn pop_due(&mut self, now: u64) -> Option<Key> {
        while let Some(Reverse((at, _))) = self.ttl_heap.peek() {
            if *at > now {
                return None;
            }
            let Reverse((at, key)) = self.ttl_heap.pop().expect("peeked");
            if self.table.get(&key).is_some_and(|e| e.meta().expire_at() == at) {
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

/// 64-bit hash of a key, picking the shard (low bits) and the bucket in
/// the shard's table (high bits). SipHash-1-3 under a per-process random
/// key (std's `RandomState`), as Redis seeds its SipHash: the tables chain
/// their buckets, so a client able to predict the hash could send keys that
/// all share one bucket and make every lookup linear (hash flooding).
///
/// One command hashes its key several times (the lock, expiry, lookup,
/// then the write), so the last short key hashed on this thread is
/// remembered with its hash: again, it costs a compare instead of a
/// SipHash. The hash is a function of the bytes alone, so a remembered
/// one is always right.
pub fn key_hash(key: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    static SEED: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
    const MEMO: usize = 48;
    thread_local! {
        static LAST: std::cell::Cell<(u8, [u8; MEMO], u64)> = const { std::cell::Cell::new((u8::MAX, [0; MEMO], 0)) };
    }
    if key.len() > MEMO {
        return SEED.get_or_init(std::hash::RandomState::new).hash_one(key);
    }
    let (len, bytes, hash) = LAST.get();
    if len as usize == key.len() && bytes[..key.len()] == *key {
        return hash;
    }
    let hash = SEED.get_or_init(std::hash::RandomState::new).hash_one(key);
    let mut copy = [0u8; MEMO];
    copy[..key.len()].copy_from_slice(key);
    LAST.set((key.len() as u8, copy, hash));
    hash
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
    /// The best eviction candidates sampled so far (Redis's `EvictionPoolLRU`).
    evict_pool: Mutex<Vec<Candidate>>,
    /// Clients watching keys (WATCH).
    pub watches: watch::WatchRegistry,
    /// Commands blocked on keys.
    pub waits: std::sync::Arc<wait::WaitRegistry>,
    /// Big values freed in the background.
    pub lazyfree: lazyfree::LazyFree,
    /// Every change, in order, as the command that reproduces it.
    pub effects: effects::EffectLog,
    /// Keyspace notifications.
    pub notify: notify::Notifier,
    /// Bytes a snapshot in progress holds for the writer.
    snapshot_memory: Arc<AtomicU64>,
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
        let effects = effects::EffectLog::new(Arc::clone(&config));
        let notify = notify::Notifier::new(Arc::clone(&config));
        Keyspace {
            dbs: (0..NUM_DBS).map(|_| Db::new()).collect(),
            stats: Stats::default(),
            config,
            evict_cursor: AtomicUsize::new(0),
            evict_pool: Mutex::new(Vec::with_capacity(POOL_SIZE)),
            watches: watch::WatchRegistry::default(),
            waits: Default::default(),
            lazyfree: lazyfree::LazyFree::default(),
            effects,
            notify,
            snapshot_memory: Arc::default(),
        }
    }

    /// Begins a point-in-time snapshot ([`snapshot`]): every shard gets
    /// its part, all locked at once. The caller holds the exclusive gate
    /// (no transaction is half-applied) and must then take every shard
    /// with [`Keyspace::snapshot_take`]. Returns each database's key and
    /// expiry counts at the start.
    pub fn snapshot_begin(&self, encoder: snapshot::Encoder) -> (Arc<snapshot::Progress>, Vec<(usize, usize)>) {
        let progress = snapshot::Progress::new(encoder, Arc::clone(&self.snapshot_memory));
        let mut guards = Vec::with_capacity(NUM_DBS * SHARDS_PER_DB);
        for d in self.dbs.iter() {
            for i in 0..SHARDS_PER_DB {
                guards.push(d.shard(i));
            }
        }
        for g in guards.iter_mut() {
            g.snap = Some(snapshot::ShardSnap::new(Arc::clone(&progress)));
        }
        let sizes = guards.chunks(SHARDS_PER_DB).map(|db| (db.iter().map(|s| s.table.len()).sum(), db.iter().map(|s| s.volatile).sum())).collect();
        (progress, sizes)
    }

    /// Shard `i` of `db`'s part of the snapshot, serialised; the shard's
    /// snapshot ends (empty if there is none).
    pub fn snapshot_take(&self, db: usize, i: usize) -> Vec<u8> {
        let mut s = self.dbs[db].shard(i);
        s.settle();
        s.snap.take().map(|mut snap| snap.take()).unwrap_or_default()
    }

    /// Room for about `n` keys in `db` (loading a file that says how many).
    pub fn reserve(&self, db: usize, n: usize) {
        let per_shard = n.div_ceil(SHARDS_PER_DB);
        for i in 0..SHARDS_PER_DB {
            self.dbs[db].shard(i).table.reserve(per_shard);
        }
    }

    /// Bytes held for a snapshot in progress (INFO).
    pub fn snapshot_memory(&self) -> u64 {
        self.snapshot_memory.load(Ordering::Relaxed)
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
        effects::note_write();
        let d = &self.dbs[db];
        let mut garbage = Vec::new();
        for i in 0..SHARDS_PER_DB {
            let mut s = d.shard(i);
            s.settle();
            let snap = s.snap.take();
            let old = std::mem::replace(&mut *s, Shard::new());
            s.snap = snap;
            d.keys.fetch_sub(old.table.len(), Ordering::Relaxed);
            self.stats.dirty.add(old.table.len() as u64);
            // WATCH: a flush touches the watched keys that existed.
            self.watches.touch_existing(db, |k| shard_of(k) == i && old.table.contains(k));
            self.waits.db_changed(db);
            if lazy {
                garbage.push(old);
            }
        }
        if lazy && !garbage.is_empty() {
            self.lazyfree.free(Box::new(garbage));
        }
    }

    /// SWAPDB: databases `a` and `b` exchange their contents. A WATCHed key
    /// of either database is touched when it exists in either (its value as
    /// seen from its database may change), as Redis does; lock waiters of
    /// both databases look again. Callers hold the exclusive gate.
    pub fn swap_dbs(&self, a: usize, b: usize) {
        effects::note_write();
        if a == b {
            return;
        }
        let (lo, hi) = (a.min(b), a.max(b));
        for i in 0..SHARDS_PER_DB {
            let mut x = self.dbs[lo].shard(i);
            let mut y = self.dbs[hi].shard(i);
            for db in [lo, hi] {
                self.watches.touch_existing(db, |k| shard_of(k) == i && (x.table.contains(k) || y.table.contains(k)));
            }
            // a snapshot stays with its database: it has what it needs first
            x.settle();
            y.settle();
            std::mem::swap(&mut *x, &mut *y);
            std::mem::swap(&mut x.snap, &mut y.snap);
        }
        let (ka, kb) = (self.dbs[lo].keys.load(Ordering::Relaxed), self.dbs[hi].keys.load(Ordering::Relaxed));
        self.dbs[lo].keys.store(kb, Ordering::Relaxed);
        self.dbs[hi].keys.store(ka, Ordering::Relaxed);
        self.waits.db_changed(lo);
        self.waits.db_changed(hi);
    }

    /// Every live key of `db` matching `pattern` (KEYS).
    pub fn keys(&self, db: usize, pattern: &[u8]) -> Vec<Key> {
        let now = util::now_ms();
        let all = pattern == b"*";
        let mut out = Vec::new();
        for i in 0..SHARDS_PER_DB {
            let s = self.dbs[db].shard(i);
            s.table.for_each(|e| {
                let key = e.key();
                if !e.meta().is_expired(now) && (all || util::glob_match(pattern, key, false)) {
                    out.push(key.into());
                }
            });
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
                let Some(key) = locked.shard_at(i).table.random().map(|e| Key::from(e.key())) else {
                    continue;
                };
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
                    self.effects.append_del(db, &key);
                    self.signal_modified(db, &key);
                    self.notify.event(notify::EXPIRED, "expired", db, &key);
                    n += 1;
                }
                removed += n;
            }
        }
        self.stats.expired_keys.fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Table upkeep from the cron: shrinks tables left mostly empty (after
    /// DEL, expiry, eviction or FLUSH of many keys) and moves resizes along,
    /// `buckets` buckets per shard; returns how many shards had work.
    pub fn maintain_tables(&self, buckets: usize) -> usize {
        let mut busy = 0;
        for d in self.dbs.iter() {
            for i in 0..SHARDS_PER_DB {
                busy += d.shard(i).maintain(buckets) as usize;
            }
        }
        busy
    }

    /// The single hook every modification of a key goes through (Redis's
    /// `signalModifiedKey`): WATCH builds on it.
    /// A command changed `key`: the observers hear of it and the command
    /// becomes a writer whose effect is logged.
    fn wrote(&self, db: usize, key: &[u8]) {
        effects::note_write();
        self.stats.dirty.add(1);
        self.signal_modified(db, key);
    }

    fn signal_modified(&self, db: usize, key: &[u8]) {
        self.watches.touch(db, key);
        self.waits.key_changed(db, key);
        self.notify.key_changed(key);
    }

    /// Evicts keys until memory is under `maxmemory`. `Err` when over the
    /// limit and nothing can be evicted (or the policy is `noeviction`):
    /// the caller refuses the write with Redis's OOM error.
    /// Memory that counts against `maxmemory`: all but the effect log
    /// (Redis does not count its replication backlog either).
    pub fn counted_memory(&self) -> u64 {
        crate::alloc::used_memory().saturating_sub(self.effects.memory() + self.snapshot_memory.load(Ordering::Relaxed))
    }

    pub fn evict_if_needed(&self) -> Result<(), OutOfMemory> {
        let max = self.config.maxmemory.load(Ordering::Relaxed);
        if max == 0 || self.counted_memory() <= max {
            return Ok(());
        }
        let policy = self.config.policy();
        if policy == EvictionPolicy::NoEviction {
            return Err(OutOfMemory);
        }
        let total = NUM_DBS * SHARDS_PER_DB;
        let mut fruitless = 0;
        while self.counted_memory() > max {
            // The next shard of a database that has keys (the shards take
            // turns, so every key gets sampled alike).
            let (db, i) = (0..total)
                .map(|_| self.evict_cursor.fetch_add(1, Ordering::Relaxed) % total)
                .map(|c| (c / SHARDS_PER_DB, c % SHARDS_PER_DB))
                .find(|(db, _)| self.dbs[*db].keys.load(Ordering::Relaxed) > 0)
                .ok_or(OutOfMemory)?;
            let evicted = match policy {
                EvictionPolicy::AllKeysLru | EvictionPolicy::VolatileLru | EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu => {
                    self.evict_sampled(policy, db, i)
                }
                _ => self.evict_direct(policy, db, i),
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

    /// Removes an evicted key and tells the observers.
    fn evicted(&self, db: usize, mut s: MutexGuard<'_, Shard>, key: &[u8]) {
        s.remove(key);
        self.dbs[db].keys.fetch_sub(1, Ordering::Relaxed);
        // Evicting a shard down to a tenth of its table: start giving the
        // table's memory back.
        s.table.shrink();
        // logged and signalled under the shard lock: a write of the same
        // key cannot come between the eviction and its DEL
        self.effects.append_del(db, key);
        self.signal_modified(db, key);
        self.notify.event(notify::EVICTED, "evicted", db, key);
        drop(s);
    }

    /// The random and TTL policies: one victim from shard `i` of `db`.
    /// `volatile-ttl` takes the key that expires soonest in the shard (from
    /// the TTL index: exact, where Redis samples).
    fn evict_direct(&self, policy: EvictionPolicy, db: usize, i: usize) -> bool {
        let d = &self.dbs[db];
        if d.keys.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let mut s = d.shard(i);
        let victim: Option<Key> = match policy {
            EvictionPolicy::AllKeysRandom => s.table.random().map(|e| e.key().into()),
            EvictionPolicy::VolatileRandom => s.random_volatile().map(|e| e.key().into()),
            EvictionPolicy::VolatileTtl => s.pop_due(u64::MAX),
            _ => None,
        };
        let Some(key) = victim else { return false };
        self.evicted(db, s, &key);
        true
    }

    /// The LRU and LFU policies, as Redis approximates them: sample
    /// `maxmemory-samples` keys of shard `i` of `db` (the shards take turns),
    /// offer them to the pool of the best candidates seen so far, and evict
    /// the pool's best that is still there and has not been used since it
    /// was sampled.
    fn evict_sampled(&self, policy: EvictionPolicy, db: usize, i: usize) -> bool {
        let volatile_only = matches!(policy, EvictionPolicy::VolatileLru | EvictionPolicy::VolatileLfu);
        let lfu = policy.is_lfu().then(|| self.config.lfu_decay_time.load(Ordering::Relaxed));
        let now = util::clock_ms();
        let score = |m: Meta| match lfu {
            // idle for LRU; for LFU, 255 minus the decayed counter
            None => m.idle_ticks(now),
            Some(decay) => 255 - m.lfu_counter(now, decay).min(255),
        };
        let d = &self.dbs[db];
        if d.keys.load(Ordering::Relaxed) > 0 {
            let samples = (self.config.maxmemory_samples.load(Ordering::Relaxed) as usize).clamp(1, 64);
            let mut found = Vec::with_capacity(samples);
            {
                let s = d.shard(i);
                let mut offer = |e: EntryRef<'_>| found.push(Candidate { score: score(e.meta()), db, key: e.key().into() });
                if volatile_only {
                    (0..samples).filter_map(|_| s.random_volatile()).for_each(&mut offer);
                } else {
                    s.table.sample(samples, offer);
                }
            }
            let mut pool = self.evict_pool.lock().unwrap_or_else(|p| p.into_inner());
            for c in found {
                offer_candidate(&mut pool, c);
            }
        }
        loop {
            let Some(c) = self.evict_pool.lock().unwrap_or_else(|p| p.into_inner()).pop() else { return false };
            let s = self.dbs[c.db].shard(shard_of(&c.key));
            let still = s.table.get(&c.key).is_some_and(|e| (!volatile_only || e.meta().expire_at() != 0) && score(e.meta()) >= c.score);
            if still {
                self.evicted(c.db, s, &c.key);
                return true;
            }
        }
    }
}

/// Redis's `EVPOOL_SIZE`.
const POOL_SIZE: usize = 16;

/// A key sampled for eviction, and how strongly it asks for it.
struct Candidate {
    score: u64,
    db: usize,
    key: Key,
}

/// Keeps the `POOL_SIZE` best candidates, sorted by score (best last); a
/// key already in the pool is replaced by its newer sample.
fn offer_candidate(pool: &mut Vec<Candidate>, c: Candidate) {
    if let Some(p) = pool.iter().position(|x| x.db == c.db && x.key == c.key) {
        pool.remove(p);
    }
    if pool.len() == POOL_SIZE {
        if c.score <= pool[0].score {
            return;
        }
        pool.remove(0);
    }
    let at = pool.partition_point(|x| x.score <= c.score);
    pool.insert(at, c);
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

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // the running command's effect goes to the log while its shards
        // are still locked (the guards are released after this)
        effects::flush(&self.ks.effects);
    }
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

    fn shard_ref(&self, db: usize, i: usize) -> &Shard {
        match &self.guards {
            Guards::One(j, g) if *j == i => g,
            Guards::One(..) => panic!("shard {i} not locked"),
            Guards::Many(gs) => &gs.iter().find(|(k, _)| *k == (db, i)).expect("shard not locked").1,
        }
    }

    /// `key`'s entry as stored, with no side effects and borrowing the
    /// guard only shared, so several can be held at once (SINTER reads
    /// its sets together, after looking each up with [`Locked::read_in`]).
    pub fn entry_ref(&self, db: usize, key: &[u8]) -> Option<EntryRef<'_>> {
        let i = match self.guards {
            Guards::One(j, _) => j,
            Guards::Many(_) => shard_of(key),
        };
        self.shard_ref(db, i).table.get(key)
    }

    fn shard_for(&mut self, db: usize, key: &[u8]) -> &mut Shard {
        // one shard locked: the key is in it (no need to hash it again)
        let i = match self.guards {
            Guards::One(j, _) => {
                debug_assert!(j == shard_of(key), "shard not locked");
                j
            }
            Guards::Many(_) => shard_of(key),
        };
        self.shard_in(db, i)
    }

    /// Removes `key` from `db` if its TTL has passed; true if it did.
    fn expire_if_due(&mut self, db: usize, key: &[u8]) -> bool {
        let now = self.now;
        let s = self.shard_for(db, key);
        // Most caches hold no TTLs at all: skip the extra lookup then.
        let due = s.volatile > 0 && s.table.get(key).is_some_and(|e| e.meta().is_expired(now));
        if due {
            s.remove(key);
            self.ks.dbs[db].keys.fetch_sub(1, Ordering::Relaxed);
            self.ks.stats.expired_keys.fetch_add(1, Ordering::Relaxed);
            self.ks.effects.append_del(db, key);
            self.ks.signal_modified(db, key);
            self.ks.notify.event(notify::EXPIRED, "expired", db, key);
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
        let notify = &self.ks.notify;
        let found = self.lookup_in(db, key);
        let counter = if found.is_some() { &stats.keyspace_hits } else { &stats.keyspace_misses };
        counter.fetch_add(1, Ordering::Relaxed);
        if found.is_none() {
            notify.event(notify::KEY_MISS, "keymiss", db, key);
        }
        found
    }

    /// A lookup for writing (Redis's `lookupKeyWrite`): expires, refreshes
    /// the access time, no hit/miss statistics.
    pub fn lookup(&mut self, key: &[u8]) -> Option<Entry<'_>> {
        self.lookup_in(self.db, key)
    }

    pub fn lookup_in(&mut self, db: usize, key: &[u8]) -> Option<Entry<'_>> {
        self.expire_if_due(db, key);
        let (touch, now) = (self.touch, self.now);
        let lfu = self.ks.lfu();
        let s = self.shard_for(db, key);
        let mut e = s.table.get_mut(key)?;
        if touch {
            match lfu {
                Some(l) => e.meta_mut().lfu_touch(now, l.log_factor, l.decay_minutes),
                None => e.meta_mut().touch(now),
            }
        }
        Some(Entry::new(e.into_ref()))
    }

    /// The metadata of a live key, without statistics or recency (TYPE,
    /// TTL, EXISTS, OBJECT IDLETIME).
    pub fn peek(&mut self, key: &[u8]) -> Option<Meta> {
        self.peek_in(self.db, key)
    }

    pub fn peek_in(&mut self, db: usize, key: &[u8]) -> Option<Meta> {
        self.expire_if_due(db, key);
        self.shard_for(db, key).table.get(key).map(|e| e.meta())
    }

    /// The type of a live key, without statistics or recency (TYPE).
    pub fn kind_of(&mut self, key: &[u8]) -> Option<Kind> {
        self.expire_if_due(self.db, key);
        self.shard_for(self.db, key).table.get(key).map(|e| e.kind())
    }

    /// The metadata as stored, expired or not; no side effects.
    pub fn peek_raw(&mut self, key: &[u8]) -> Option<Meta> {
        self.shard_for(self.db, key).table.get(key).map(|e| e.meta())
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
        // An existing key keeps its entry, whose value is replaced (one
        // lookup); an old entry already past its TTL counts as expired, as
        // in Redis. Under LFU it keeps its frequency, as Redis's
        // `dbOverwrite` does.
        let mut old_expire = None;
        let mut was_expired = false;
        s.preserve(key);
        s.table.update(key, value, |m| {
            if m.is_expired(now) {
                ks.stats.expired_keys.fetch_add(1, Ordering::Relaxed);
                was_expired = true;
            }
            old_expire = Some(m.expire_at());
            if lfu {
                meta = *m;
                meta.set_expire_at(expire_at);
            }
            *m = meta;
        });
        if old_expire.is_none() {
            ks.dbs[db].keys.fetch_add(1, Ordering::Relaxed);
            s.table.insert(Record::new(key, value, meta));
        }
        s.note_expire(key, old_expire.unwrap_or(0), meta.expire_at());
        if was_expired {
            // as Redis's SET: the lookup expires the old key, then a new
            // one is added
            ks.notify.event(notify::EXPIRED, "expired", db, key);
        }
        if was_expired || old_expire.is_none() {
            ks.notify.event(notify::NEW, "new", db, key);
        }
        ks.wrote(db, key);
    }

    /// The one write path for collections: runs `f` on `key`'s entry of
    /// type `kind` in the current database, changing it in place through
    /// the [`Slot`]. A missing key is created empty first when `create` is
    /// set (and `f` not called otherwise: `Ok(None)`); another type is
    /// `Err(WrongType)`. Afterwards a collection left empty is removed, and
    /// a change is signalled to the observers, all under the shard lock.
    pub fn modify<R>(&mut self, key: &[u8], kind: Kind, create: bool, f: impl FnOnce(&mut Slot<'_>) -> R) -> Result<Option<R>, WrongType> {
        let db = self.db;
        let Some(found) = self.lookup_in(db, key).map(|e| e.kind) else {
            if !create {
                return Ok(None);
            }
            return Ok(Some(self.create(key, kind, true, f)));
        };
        if found != kind {
            return Err(WrongType);
        }
        let ks = self.ks;
        let s = self.shard_for(db, key);
        s.preserve(key);
        let mut slot = s.table.slot(key).expect("looked up");
        let r = f(&mut slot);
        let changed = slot.changed();
        let empty = is_empty_collection(slot.entry());
        if empty {
            s.remove(key);
            ks.dbs[db].keys.fetch_sub(1, Ordering::Relaxed);
        }
        if changed {
            ks.wrote(db, key);
        }
        Ok(Some(r))
    }

    /// Creates `key` (known absent) as an empty `kind` and fills it with
    /// `f`; removed again if left empty, else `new` when `is_new`.
    fn create<R>(&mut self, key: &[u8], kind: Kind, is_new: bool, f: impl FnOnce(&mut Slot<'_>) -> R) -> R {
        let db = self.db;
        let meta = self.new_meta(0);
        let s = self.shard_for(db, key);
        s.preserve(key);
        s.table.insert(Record::inline(key, kind, b"", meta));
        self.ks.dbs[db].keys.fetch_add(1, Ordering::Relaxed);
        let r = self.modify(key, kind, false, f).expect("its kind").expect("just created");
        // the key stayed: it is new (before the command names its own
        // event, as Redis's `dbAdd` comes first)
        if is_new && self.shard_for(db, key).table.get(key).is_some() {
            self.ks.notify.event(notify::NEW, "new", db, key);
        }
        r
    }

    /// Replaces whatever `key` holds with a new `kind` filled by `f`
    /// (SORT ... STORE: Redis's `setKey`, so a key that existed is not
    /// new).
    pub fn recreate<R>(&mut self, key: &[u8], kind: Kind, f: impl FnOnce(&mut Slot<'_>) -> R) -> R {
        let existed = self.delete_in(self.db, key);
        self.create(key, kind, !existed, f)
    }

    /// Whether the effect log keeps effects (a reader is attached).
    pub fn keeps_effects(&self) -> bool {
        self.ks.effects.keeping()
    }

    /// The current database.
    pub fn db(&self) -> usize {
        self.db
    }

    /// A new entry's metadata under the current policy.
    pub fn new_meta(&self, expire_at: u64) -> Meta {
        if self.ks.lfu().is_some() { Meta::new_lfu(expire_at, self.now) } else { Meta::new(expire_at, self.now) }
    }

    /// Replaces the value, keeping the TTL (APPEND, INCR, SETRANGE, KEEPTTL).
    pub fn set_keep_ttl(&mut self, key: &[u8], value: &[u8]) {
        let expire_at = self.peek(key).map(|m| m.expire_at()).unwrap_or(0);
        self.set(key, value, expire_at);
    }

    /// Sets the idle time OBJECT IDLETIME reports for `key` (RESTORE ...
    /// IDLETIME), which is also its age for LRU eviction.
    pub fn set_idle(&mut self, key: &[u8], idle_secs: u64) {
        let now = self.now;
        if self.ks.lfu().is_some() {
            return;
        }
        if let Some(mut e) = self.shard_for(self.db, key).table.get_mut(key) {
            e.meta_mut().touch(now.saturating_sub(idle_secs.saturating_mul(1000)));
        }
    }

    /// Sets the access frequency of `key` under an LFU policy (RESTORE ...
    /// FREQ); nothing under the others, as in Redis.
    pub fn set_freq(&mut self, key: &[u8], counter: u64) {
        let now = self.now;
        if self.ks.lfu().is_none() {
            return;
        }
        if let Some(mut e) = self.shard_for(self.db, key).table.get_mut(key) {
            e.meta_mut().set_lfu(now, counter);
        }
    }

    /// Changes the expiry of an existing key; false if there is none.
    pub fn set_expire(&mut self, key: &[u8], expire_at: u64) -> bool {
        self.expire_if_due(self.db, key);
        let s = self.shard_for(self.db, key);
        s.preserve(key);
        let Some(mut e) = s.table.get_mut(key) else {
            return false;
        };
        let m = e.meta_mut();
        let old = m.expire_at();
        m.set_expire_at(expire_at);
        let new = m.expire_at();
        s.note_expire(key, old, new);
        self.ks.wrote(self.db, key);
        true
    }

    /// Removes `key` from `db` and hands its entry over (RENAME, MOVE).
    pub fn take_in(&mut self, db: usize, key: &[u8]) -> Option<Record> {
        if self.expire_if_due(db, key) {
            return None;
        }
        let s = self.shard_for(db, key);
        s.preserve(key);
        let r = s.table.remove(key)?;
        if r.meta().expire_at() != 0 {
            s.volatile -= 1;
        }
        self.ks.dbs[db].keys.fetch_sub(1, Ordering::Relaxed);
        self.ks.wrote(db, key);
        Some(r)
    }

    /// Stores an entry in `db` under its own key, replacing what was there.
    /// A key that was not there is new (Redis's `setKey`: RENAME, COPY
    /// and RESTORE delete their target first, so theirs always is).
    pub fn put_in(&mut self, db: usize, record: Record) {
        let key: Key = record.key().into();
        let replaced = self.delete_in(db, &key);
        let expire_at = record.meta().expire_at();
        let s = self.shard_for(db, &key);
        s.preserve(&key);
        s.table.insert(record);
        s.note_expire(&key, 0, expire_at);
        self.ks.dbs[db].keys.fetch_add(1, Ordering::Relaxed);
        if !replaced {
            self.ks.notify.event(notify::NEW, "new", db, &key);
        }
        self.ks.wrote(db, &key);
    }

    /// Publishes keyspace event `event` of `class` for `key` in the
    /// current database (a command's own events, named as Redis names
    /// them).
    #[inline]
    pub fn notify(&self, class: u32, event: &str, key: &[u8]) {
        self.ks.notify.event(class, event, self.db, key);
    }

    pub fn notify_in(&self, class: u32, event: &str, db: usize, key: &[u8]) {
        self.ks.notify.event(class, event, db, key);
    }

    /// After a command took elements out of `key`: its `event`, then
    /// Redis's `del` when the key went with its last element.
    pub fn notify_removed(&mut self, class: u32, event: &str, key: &[u8]) {
        let n = &self.ks.notify;
        if !n.enabled(class | notify::GENERIC) {
            return;
        }
        n.event(class, event, self.db, key);
        if self.shard_for(self.db, key).table.get(key).is_none() {
            self.ks.notify.event(notify::GENERIC, "del", self.db, key);
        }
    }

    /// A copy of `key`'s entry in `db` under `as_key`, as a new object
    /// (COPY): fresh access time, the same expiry.
    pub fn copy_in(&mut self, db: usize, key: &[u8], as_key: &[u8]) -> Option<Record> {
        let expire_at = self.lookup_in(db, key)?.expire_at;
        let meta = self.new_meta(expire_at);
        let mut r = self.shard_for(db, key).table.get(key)?.copy_as(as_key);
        r.set_meta(meta);
        Some(r)
    }

    /// Deletes `key`; true if it existed.
    pub fn delete(&mut self, key: &[u8]) -> bool {
        self.delete_in(self.db, key)
    }

    /// UNLINK: removes `key`, freeing a big value in the background.
    pub fn unlink(&mut self, key: &[u8]) -> bool {
        match self.take_in(self.db, key) {
            Some(r) => {
                self.ks.lazyfree.dispose(r);
                true
            }
            None => false,
        }
    }

    pub fn delete_in(&mut self, db: usize, key: &[u8]) -> bool {
        if self.expire_if_due(db, key) || !self.shard_for(db, key).remove(key) {
            return false;
        }
        self.ks.dbs[db].keys.fetch_sub(1, Ordering::Relaxed);
        self.ks.wrote(db, key);
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
        sh.table.insert(Record::new(b"old", b"v", Meta::new(0, 0)));
        sh.table.insert(Record::new(b"ttl", b"v", Meta::new(5, 0)));
        sh.note_expire(b"ttl", 0, 5);
        sh.table.insert(Record::new(b"new", b"v", Meta::new(0, 0)));
        assert_eq!(sh.random_volatile().unwrap().key(), b"ttl");
        assert_eq!(sh.pop_due(u64::MAX).as_deref(), Some(&b"ttl"[..]));
        assert_eq!(sh.pop_due(u64::MAX), None);
    }

    #[test]
    fn sampled_lru_evicts_the_idle_keys() {
        let ks = ks();
        for i in 0..2000 {
            let k = format!("cold{i}");
            let mut l = ks.lock(0, k.as_bytes());
            l.set(k.as_bytes(), b"v", 0);
            l.set_idle(k.as_bytes(), 1000);
        }
        for i in 0..200 {
            let k = format!("hot{i}");
            ks.lock(0, k.as_bytes()).set(k.as_bytes(), b"v", 0);
        }
        // each step samples a shard, offers to the pool, evicts its best
        for i in 0..1000 {
            assert!(ks.evict_sampled(EvictionPolicy::AllKeysLru, 0, i % SHARDS_PER_DB));
        }
        assert_eq!(ks.dbsize(0), 1200);
        let hot_left = (0..200).filter(|i| ks.lock(0, format!("hot{i}").as_bytes()).exists(format!("hot{i}").as_bytes())).count();
        assert_eq!(hot_left, 200, "an idle key must go before a fresh one");
    }
}
