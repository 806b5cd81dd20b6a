//! A shard's hash table: chained buckets whose links live in the entries.
//!
//! Written by hand because the properties the keyspace needs are exactly
//! what general-purpose maps hide:
//! - **Memory.** Each entry is one allocation ([`super::record`]) that holds
//!   its own bucket link, so a key costs its allocation plus one 8-byte
//!   bucket slot at a load factor between 0.5 and 1. The `lru` crate's map
//!   (what the shards used before) adds a 48-byte list node and a 16-byte
//!   table slot per key: a third of a small key's memory.
//! - **SCAN.** Buckets are a power-of-two array, so Redis's reverse-binary
//!   cursor works: one call walks a few buckets, and every key present for a
//!   whole iteration is returned at least once however the table grows or
//!   shrinks in between (it may be returned twice after a shrink, as in
//!   Redis). Open-addressing maps move entries between probe positions and
//!   cannot give that guarantee.
//! - **No stalls.** Resizing is incremental, as Redis's dict rehashes: a
//!   second bucket array is filled a few buckets per insert or removal and
//!   from the cron, so a million-key shard never stops for a full rehash.
//! - **Sampling.** Eviction samples consecutive buckets from a random one
//!   (Redis's `dictGetSomeKeys`), and RANDOMKEY picks a fair random entry.
//!
//! Bucket index: bits of [`super::key_hash`] above the ones that choose the
//! shard, so each shard's table uses all of its buckets.

use super::record::{EntryMut, EntryRef, Kind, Node, Record, key_of};
use super::record::{boxed_mut, grow_zeroed, inline_mut, replace_boxed, replace_value, splice_value};
use super::value::Boxed;
use std::ptr::NonNull;

type Link = Option<NonNull<Node>>;

/// Bucket cursors are numbers of this many bits (the shard goes above).
pub const CURSOR_BITS: u32 = 48;
const CURSOR_MASK: u64 = (1 << CURSOR_BITS) - 1;
/// The smallest non-empty table (Redis's `DICT_HT_INITIAL_SIZE`).
const MIN_SIZE: usize = 4;
/// A table is shrunk when less than 1/`MIN_FILL` of its buckets are used
/// (Redis's `HASHTABLE_MIN_FILL`).
const MIN_FILL: usize = 10;

fn bucket_hash(key: &[u8]) -> u64 {
    super::key_hash(key) >> 8
}

fn reverse(v: u64) -> u64 {
    v.reverse_bits() >> (64 - CURSOR_BITS)
}

/// The cursor after `v` in a table of mask `m`: the bits above the mask are
/// set, then the reversed number is incremented (Redis's `dictScan` step).
fn advance(v: u64, m: u64) -> u64 {
    reverse((reverse(v | (!m & CURSOR_MASK)) + 1) & CURSOR_MASK)
}

struct Buckets(Box<[Link]>);

impl Buckets {
    fn empty() -> Buckets {
        Buckets(Box::new([]))
    }

    fn with_size(n: usize) -> Buckets {
        Buckets(vec![None; n].into_boxed_slice())
    }

    fn size(&self) -> usize {
        self.0.len()
    }

    fn mask(&self) -> u64 {
        (self.0.len() as u64).wrapping_sub(1)
    }

    fn index(&self, h: u64) -> usize {
        (h & self.mask()) as usize
    }
}

/// Walks a chain from `link`, calling `f` with each entry.
///
/// # Safety
/// Every entry reachable from `link` is live and stays so during the call.
unsafe fn walk(mut link: Link, mut f: impl FnMut(NonNull<Node>)) {
    while let Some(n) = link {
        // SAFETY: live per the contract; `next` is read before `f` runs, so
        // `f` may not free `n` but may read it.
        link = unsafe { n.as_ref().next };
        f(n);
    }
}

/// Entries hashed by key, owned by the table.
pub struct Table {
    /// `t[0]` is the table; `t[1]` is its successor while a resize moves
    /// entries over (then `rehash` is `Some`).
    t: [Buckets; 2],
    /// While resizing: the buckets of `t[0]` below this index are empty.
    rehash: Option<usize>,
    len: usize,
}

// SAFETY: the table uniquely owns every entry reachable from its buckets,
// as a `Vec<Box<_>>` would.
unsafe impl Send for Table {}

impl Default for Table {
    fn default() -> Self {
        Table::new()
    }
}

impl Table {
    pub fn new() -> Table {
        Table { t: [Buckets::empty(), Buckets::empty()], rehash: None, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_resizing(&self) -> bool {
        self.rehash.is_some()
    }

    /// The link slot that points at `key`'s entry, if there is one.
    fn find_slot(&mut self, key: &[u8]) -> Option<*mut Link> {
        if self.len == 0 {
            return None;
        }
        let h = bucket_hash(key);
        let tables = if self.is_resizing() { 2 } else { 1 };
        for t in &mut self.t[..tables] {
            if t.size() == 0 {
                continue;
            }
            let i = t.index(h);
            let mut slot: *mut Link = &mut t.0[i];
            // SAFETY: `slot` is a bucket or the `next` field of a live entry
            // of this table, which we borrow mutably.
            unsafe {
                while let Some(n) = *slot {
                    if key_of(n) == key {
                        return Some(slot);
                    }
                    slot = &raw mut (*n.as_ptr()).next;
                }
            }
        }
        None
    }

    fn find(&self, key: &[u8]) -> Option<NonNull<Node>> {
        if self.len == 0 {
            return None;
        }
        let h = bucket_hash(key);
        let tables = if self.is_resizing() { 2 } else { 1 };
        for t in &self.t[..tables] {
            if t.size() == 0 {
                continue;
            }
            let mut link = t.0[t.index(h)];
            while let Some(n) = link {
                // SAFETY: entries reachable from our buckets are live while
                // we are borrowed.
                unsafe {
                    if key_of(n) == key {
                        return Some(n);
                    }
                    link = n.as_ref().next;
                }
            }
        }
        None
    }

    pub fn get(&self, key: &[u8]) -> Option<EntryRef<'_>> {
        // SAFETY: the entry is ours and lives while `self` is borrowed.
        self.find(key).map(|n| unsafe { EntryRef::new(n) })
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<EntryMut<'_>> {
        // SAFETY: as in `get`, and `self` is borrowed mutably.
        self.find(key).map(|n| unsafe { EntryMut::new(n) })
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// Adds an entry whose key is not in the table.
    pub fn insert(&mut self, record: Record) {
        self.rehash_step(1);
        if !self.is_resizing() && self.len >= self.t[0].size() {
            self.resize((self.len + 1).next_power_of_two().max(MIN_SIZE));
        }
        let h = bucket_hash(record.key());
        let t = &mut self.t[if self.is_resizing() { 1 } else { 0 }];
        let i = t.index(h);
        let node = record.into_raw();
        // SAFETY: `node` was just given to us and is linked nowhere else.
        unsafe { (*node.as_ptr()).next = t.0[i] };
        t.0[i] = Some(node);
        self.len += 1;
    }

    /// Unlinks `key`'s entry and hands it back.
    pub fn remove(&mut self, key: &[u8]) -> Option<Record> {
        self.rehash_step(1);
        let slot = self.find_slot(key)?;
        // SAFETY: `slot` points at a live link of ours that holds the entry;
        // unlinking it makes the entry owned by nobody but the new Record.
        unsafe {
            let n = (*slot).expect("found");
            *slot = n.as_ref().next;
            (*n.as_ptr()).next = None;
            self.len -= 1;
            Some(Record::from_raw(n))
        }
    }

    /// Replaces the value of `key`'s entry in place (its allocation may
    /// move); false if there is no such entry.
    pub fn replace_value(&mut self, key: &[u8], value: &[u8]) -> bool {
        self.update(key, value, |_| {})
    }

    /// Lets `meta` change the entry's metadata, then replaces its value
    /// with the string `value`; false (and `meta` not called) if there is
    /// no such entry.
    pub fn update(&mut self, key: &[u8], value: &[u8], meta: impl FnOnce(&mut super::Meta)) -> bool {
        let Some(mut slot) = self.slot(key) else { return false };
        meta(slot.meta_mut());
        slot.set_inline(Kind::String, value);
        true
    }

    /// Exclusive access to `key`'s entry, whose value may change in place.
    pub fn slot(&mut self, key: &[u8]) -> Option<Slot<'_>> {
        self.find_slot(key).map(|link| Slot { link, changed: false, _life: std::marker::PhantomData })
    }

    /// A copy of every entry (a collection's deep copy).
    pub fn deep_clone(&self) -> Table {
        let mut t = Table::new();
        self.for_each(|e| t.insert(e.to_record()));
        t
    }
    /// Starts moving the entries to a table of `size` buckets (a power of
    /// two); the move itself happens in [`Table::rehash_step`].
    fn resize(&mut self, size: usize) {
        debug_assert!(size.is_power_of_two() && !self.is_resizing());
        if self.len == 0 {
            self.t[0] = Buckets::with_size(size);
            return;
        }
        self.t[1] = Buckets::with_size(size);
        self.rehash = Some(0);
    }

    /// Makes room for `n` entries at once (an RDB file's RESIZEDB hint,
    /// as Redis's `dictExpand`): loading then inserts without rehashing.
    pub fn reserve(&mut self, n: usize) {
        if !self.is_resizing() && self.t[0].size() < n {
            self.resize(n.next_power_of_two().max(MIN_SIZE));
        }
    }

    /// True when less than a tenth of the buckets are used.
    pub fn wants_shrink(&self) -> bool {
        !self.is_resizing() && self.t[0].size() > MIN_SIZE && self.len * MIN_FILL < self.t[0].size()
    }

    /// Starts shrinking to the smallest table that fits (Redis's
    /// `dictResize`, from the cron); all at once when the table is empty.
    pub fn shrink(&mut self) {
        if self.len == 0 {
            *self = Table::new();
        } else if self.wants_shrink() {
            self.resize(self.len.next_power_of_two().max(MIN_SIZE));
        }
    }

    /// Moves up to `n` buckets (visiting at most `10 n` empty ones) to the
    /// new table; true if the resize is still unfinished.
    pub fn rehash_step(&mut self, n: usize) -> bool {
        let Some(mut i) = self.rehash else { return false };
        let [from, to] = &mut self.t;
        let (mut moved, mut empty) = (0, 0);
        while moved < n && empty < 10 * n && i < from.size() {
            let link = from.0[i].take();
            if link.is_none() {
                empty += 1;
            }
            // SAFETY: every entry of the chain is ours; it is relinked into
            // `to` after its successor was read (`walk` reads it first).
            unsafe {
                walk(link, |node| {
                    let j = to.index(bucket_hash(key_of(node)));
                    (*node.as_ptr()).next = to.0[j];
                    to.0[j] = Some(node);
                });
            }
            moved += link.is_some() as usize;
            i += 1;
        }
        if i < from.size() {
            self.rehash = Some(i);
            return true;
        }
        self.t[0] = std::mem::replace(&mut self.t[1], Buckets::empty());
        self.rehash = None;
        false
    }

    /// HSCAN / SSCAN: SCAN steps from cursor `v` until `count` entries were
    /// seen or `10 count` buckets visited (Redis's `maxiterations`), the
    /// next cursor returned.
    pub fn scan_count<'a>(&'a self, mut v: u64, count: usize, mut f: impl FnMut(EntryRef<'a>)) -> u64 {
        let (mut seen, mut buckets) = (0, 0);
        loop {
            v = self.scan(v, |e| {
                seen += 1;
                f(e)
            });
            buckets += 1;
            if v == 0 || seen >= count || buckets >= 10 * count.max(1) {
                return v;
            }
        }
    }

    /// One SCAN step from bucket cursor `v`: calls `f` with every entry of
    /// the buckets it visits and returns the next cursor (0 = done).
    pub fn scan<'a>(&'a self, v: u64, mut f: impl FnMut(EntryRef<'a>)) -> u64 {
        if self.len == 0 {
            return 0;
        }
        // SAFETY (both closures): entries reachable from our buckets live
        // while `self` is borrowed.
        let mut visit = |link: Link| unsafe { walk(link, |n| f(EntryRef::new(n))) };
        if !self.is_resizing() {
            let t = &self.t[0];
            visit(t.0[t.index(v)]);
            return advance(v, t.mask());
        }
        let (small, large) = if self.t[0].size() <= self.t[1].size() { (&self.t[0], &self.t[1]) } else { (&self.t[1], &self.t[0]) };
        let (ms, ml) = (small.mask(), large.mask());
        visit(small.0[small.index(v)]);
        // Then every bucket of the larger table that the small bucket
        // expands to.
        let mut v = v;
        loop {
            visit(large.0[large.index(v)]);
            v = advance(v, ml);
            if v & (ms ^ ml) == 0 {
                return v;
            }
        }
    }

    /// Calls `f` with up to `count` entries from consecutive buckets
    /// starting at a random one (Redis's `dictGetSomeKeys`): cheap, and
    /// random enough for eviction's sampling.
    pub fn sample<'a>(&'a self, count: usize, mut f: impl FnMut(EntryRef<'a>)) {
        let count = count.min(self.len);
        let mut i = crate::util::random_u64();
        let (mut got, mut steps) = (0, 0);
        let tables = if self.is_resizing() { 2 } else { 1 };
        while got < count && steps < 10 * count + 64 {
            for t in &self.t[..tables] {
                if t.size() == 0 {
                    continue;
                }
                // SAFETY: as in `scan`.
                unsafe {
                    walk(t.0[t.index(i)], |n| {
                        if got < count {
                            f(EntryRef::new(n));
                            got += 1;
                        }
                    })
                };
            }
            i = i.wrapping_add(1);
            steps += 1;
        }
    }

    /// A random entry, every entry about equally likely (RANDOMKEY).
    pub fn random(&self) -> Option<EntryRef<'_>> {
        if self.len == 0 {
            return None;
        }
        // Rejection sampling: a random bucket and a random position below
        // CHAIN; a hit is uniform over every entry in the first CHAIN places
        // of its chain (with a good hash, all of them). At a load of at
        // least a tenth, 256 tries miss rarely; then a random non-empty
        // bucket's random entry, which favours short chains a little.
        const CHAIN: usize = 8;
        let (s0, s1) = (self.t[0].size(), if self.is_resizing() { self.t[1].size() } else { 0 });
        let start = self.rehash.unwrap_or(0);
        let bucket = |r: usize| if r < s0 { self.t[0].0[r] } else { self.t[1].0[r - s0] };
        for _ in 0..256 {
            let r = crate::util::random_u64() as usize;
            let (mut link, mut j) = (bucket(start + r % (s0 - start + s1)), (r >> 40) % CHAIN);
            while let Some(n) = link {
                if j == 0 {
                    // SAFETY: as in `scan`.
                    return Some(unsafe { EntryRef::new(n) });
                }
                j -= 1;
                // SAFETY: as in `scan`.
                link = unsafe { n.as_ref().next };
            }
        }
        for _ in 0..100 {
            let link = bucket(start + (crate::util::random_u64() as usize) % (s0 - start + s1));
            let mut len = 0;
            // SAFETY (all three): as in `scan`.
            unsafe { walk(link, |_| len += 1) };
            if len > 0 {
                let mut pick = (crate::util::random_u64() as usize) % len;
                let mut chosen = None;
                unsafe {
                    walk(link, |n| {
                        if pick == 0 && chosen.is_none() {
                            chosen = Some(n);
                        }
                        pick = pick.wrapping_sub(1);
                    })
                };
                return chosen.map(|n| unsafe { EntryRef::new(n) });
            }
        }
        // A table emptied faster than the cron shrinks it: any entry.
        let mut any = None;
        self.for_each(|e| {
            any = any.or(Some(e));
        });
        any
    }

    /// Every entry, in bucket order.
    pub fn for_each<'a>(&'a self, mut f: impl FnMut(EntryRef<'a>)) {
        for t in &self.t {
            for &link in t.0.iter() {
                // SAFETY: as in `scan`.
                unsafe { walk(link, |n| f(EntryRef::new(n))) };
            }
        }
    }

    /// Bytes of bucket arrays (MEMORY STATS-like accounting, tests).
    pub fn bucket_bytes(&self) -> usize {
        (self.t[0].size() + self.t[1].size()) * std::mem::size_of::<Link>()
    }
}

/// One entry of a table, held exclusively: its metadata and value change
/// in place, and when the allocation moves, its bucket link follows.
pub struct Slot<'a> {
    link: *mut Link,
    changed: bool,
    _life: std::marker::PhantomData<&'a mut Table>,
}

impl Slot<'_> {
    fn node(&self) -> NonNull<Node> {
        // SAFETY: `link` is a live link of the table we borrow mutably, and
        // it holds the entry (found so, and only we change it).
        unsafe { (*self.link).expect("slot holds an entry") }
    }

    pub fn entry(&self) -> EntryRef<'_> {
        // SAFETY: the entry lives, unchanged, while `self` is borrowed.
        unsafe { EntryRef::new(self.node()) }
    }

    /// True once the value was changed through this slot.
    pub fn changed(&self) -> bool {
        self.changed
    }

    pub fn meta_mut(&mut self) -> &mut super::Meta {
        // SAFETY: exclusive while `self` is borrowed mutably.
        unsafe { &mut *(EntryMut::new(self.node()).meta_mut() as *mut super::Meta) }
    }

    /// Replaces the value with inline bytes of `kind`.
    pub fn set_inline(&mut self, kind: Kind, value: &[u8]) {
        self.changed = true;
        // SAFETY: the entry is ours exclusively, no reference into it is
        // held (`self` is borrowed mutably), `value` is not inside it (the
        // borrow checker keeps `entry()`'s borrows out), and its only
        // pointer, `*link`, gets the new address.
        unsafe { *self.link = Some(replace_value(self.node(), kind, value)) };
    }

    /// Replaces the value with a boxed `kind`.
    pub fn set_boxed(&mut self, kind: Kind, value: Box<Boxed>) {
        self.changed = true;
        // SAFETY: as in `set_inline`.
        unsafe { *self.link = Some(replace_boxed(self.node(), kind, value)) };
    }

    /// Replaces `range` of the inline value with `with`.
    ///
    /// # Panics
    /// If the value is boxed or `range` is outside it.
    pub fn splice(&mut self, range: std::ops::Range<usize>, with: &[u8]) {
        assert!(matches!(self.entry().view(), super::View::Inline(_)), "splice of a boxed value");
        self.changed = true;
        // SAFETY: as in `set_inline`; inline and in range (checked).
        unsafe { *self.link = Some(splice_value(self.node(), range, with)) };
    }

    /// Grows the inline value to `len` bytes with zeros (no change when it
    /// is as long already).
    ///
    /// # Panics
    /// If the value is boxed.
    pub fn grow_zeroed(&mut self, len: usize) {
        assert!(matches!(self.entry().view(), super::View::Inline(_)), "growing a boxed value");
        if len > self.entry().value().len() {
            self.changed = true;
            // SAFETY: as in `set_inline`; inline (checked).
            unsafe { *self.link = Some(grow_zeroed(self.node(), len)) };
        }
    }

    /// The inline value's bytes, to change in place (counts as a change).
    ///
    /// # Panics
    /// If the value is boxed.
    pub fn inline_mut(&mut self) -> &mut [u8] {
        assert!(matches!(self.entry().view(), super::View::Inline(_)), "bytes of a boxed value");
        self.changed = true;
        // SAFETY: exclusive while `self` is borrowed mutably; inline.
        unsafe { inline_mut(self.node()) }
    }

    /// The boxed value, to change (counts as a change).
    pub fn boxed_mut(&mut self) -> Option<&mut Boxed> {
        self.changed = true;
        // SAFETY: exclusive while `self` is borrowed mutably.
        unsafe { boxed_mut(self.node()) }
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        for t in &mut self.t {
            for link in t.0.iter_mut() {
                // SAFETY: every entry is ours and linked exactly once; the
                // successor is read before the entry is freed.
                unsafe { walk(link.take(), |n| drop(Record::from_raw(n))) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Meta;
    use std::collections::{HashMap, HashSet};

    fn rec(k: &str, v: &str) -> Record {
        Record::new(k.as_bytes(), v.as_bytes(), Meta::new(0, 0))
    }

    #[test]
    fn behaves_like_a_map_through_resizes() {
        let mut t = Table::new();
        let mut model: HashMap<String, String> = HashMap::new();
        let mut seed = 7u64;
        for step in 0..40_000u64 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let k = format!("k{}", (seed >> 33) % if step < 20_000 { 5000 } else { 300 });
            match (seed >> 20) % 4 {
                0 | 1 => {
                    let v = format!("v{step}{}", "x".repeat((seed % 40) as usize));
                    if model.insert(k.clone(), v.clone()).is_some() {
                        assert!(t.replace_value(k.as_bytes(), v.as_bytes()));
                    } else {
                        t.insert(rec(&k, &v));
                    }
                }
                2 => assert_eq!(t.remove(k.as_bytes()).is_some(), model.remove(&k).is_some()),
                _ => assert_eq!(t.get(k.as_bytes()).map(|e| e.value().to_vec()), model.get(&k).map(|v| v.as_bytes().to_vec())),
            }
            if step % 1000 == 0 {
                t.shrink();
            }
            assert_eq!(t.len(), model.len());
        }
        let mut all = HashSet::new();
        t.for_each(|e| assert!(all.insert(e.key().to_vec())));
        assert_eq!(all.len(), model.len());
        // a table used below a tenth shrinks; an emptied one frees it all
        for k in model.keys() {
            t.remove(k.as_bytes());
        }
        t.shrink();
        assert_eq!(t.bucket_bytes(), 0);
    }

    #[test]
    fn scan_returns_every_stable_key_across_resizes() {
        let mut t = Table::new();
        for i in 0..3000 {
            t.insert(rec(&format!("stable{i}"), "v"));
        }
        let mut seen = HashSet::new();
        let (mut v, mut round) = (0, 0u64);
        loop {
            v = t.scan(v, |e| {
                seen.insert(e.key().to_vec());
            });
            // grow the table through several resizes, then shrink it back
            // while the iteration goes on
            for j in 0..40 {
                let k = format!("churn{round}-{j}");
                t.insert(rec(&k, "v"));
            }
            if round % 50 == 49 {
                for r in round - 49..=round {
                    for j in 0..40 {
                        t.remove(format!("churn{r}-{j}").as_bytes());
                    }
                }
                t.shrink();
            }
            t.rehash_step(3);
            round += 1;
            if v == 0 {
                break;
            }
        }
        for i in 0..3000 {
            assert!(seen.contains(format!("stable{i}").as_bytes()), "missed stable{i}");
        }
    }

    #[test]
    fn sampling_and_random_pick_live_entries() {
        let mut t = Table::new();
        assert!(t.random().is_none());
        for i in 0..1000 {
            t.insert(rec(&format!("k{i}"), "v"));
        }
        let mut got = 0;
        t.sample(5, |e| {
            assert!(e.key().starts_with(b"k"));
            got += 1;
        });
        assert_eq!(got, 5);
        let picks: HashSet<Vec<u8>> = (0..2000).map(|_| t.random().unwrap().key().to_vec()).collect();
        // a fair pick of 2000 among 1000 reaches most of them
        assert!(picks.len() > 700, "{}", picks.len());
    }
}
