//! The compact in-memory form of one entry.
//!
//! An entry is one exact-size allocation, `[header][key][value]`: the
//! 32-byte header holds the link to the next entry of its hash bucket, the
//! [`Meta`] (expiry and access time) and the two lengths, with 4 bytes to
//! spare (for the value's type, when collections arrive). The shard's
//! table ([`super::table`]) chains entries through that link, so a key costs
//! its allocation plus one bucket pointer and nothing else: a 16-byte key
//! with a 32-byte value takes an 80-byte mimalloc block and 8-16 bytes of
//! bucket array, where Redis spends a dictEntry, a robj and two sds
//! strings (about 136 bytes). Keys and values are limited to 4 GiB each
//! (`proto-max-bulk-len` is capped accordingly).
//!
//! [`Record`] owns an entry that is not in a table (being inserted or just
//! removed); the table owns the rest and lends them out as [`EntryRef`] and
//! [`EntryMut`].

use std::alloc::{Layout, alloc, dealloc, realloc};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// The header every entry starts with.
#[repr(C)]
pub struct Node {
    /// The next entry of the same bucket; owned by the table.
    pub(super) next: Option<NonNull<Node>>,
    meta: Meta,
    key_len: u32,
    value_len: u32,
}

const HEADER: usize = std::mem::size_of::<Node>();

/// The largest key or value a record can hold.
pub const MAX_PART: usize = u32::MAX as usize;

fn layout(parts: usize) -> Layout {
    Layout::from_size_align(HEADER + parts, std::mem::align_of::<Node>()).expect("record layout")
}

/// An entry outside any table; frees its allocation when dropped.
pub struct Record(NonNull<Node>);

// SAFETY: a Record uniquely owns its allocation, like a Box.
unsafe impl Send for Record {}

impl Record {
    /// # Panics
    /// If the key or the value is longer than [`MAX_PART`]; the protocol
    /// limit (`proto-max-bulk-len`) keeps them below.
    pub fn new(key: &[u8], value: &[u8], meta: Meta) -> Record {
        assert!(key.len() <= MAX_PART && value.len() <= MAX_PART, "record part over 4 GiB");
        let layout = layout(key.len() + value.len());
        // SAFETY: the layout has a non-zero size (the header).
        let raw = unsafe { alloc(layout) } as *mut Node;
        let Some(ptr) = NonNull::new(raw) else { std::alloc::handle_alloc_error(layout) };
        // SAFETY: `ptr` points to `HEADER + key.len() + value.len()` writable
        // bytes, aligned for `Node`, that do not overlap the sources.
        unsafe {
            ptr.as_ptr().write(Node { next: None, meta, key_len: key.len() as u32, value_len: value.len() as u32 });
            let bytes = (ptr.as_ptr() as *mut u8).add(HEADER);
            std::ptr::copy_nonoverlapping(key.as_ptr(), bytes, key.len());
            std::ptr::copy_nonoverlapping(value.as_ptr(), bytes.add(key.len()), value.len());
        }
        Record(ptr)
    }

    /// Gives the allocation to a table.
    pub(super) fn into_raw(self) -> NonNull<Node> {
        let ptr = self.0;
        std::mem::forget(self);
        ptr
    }

    /// # Safety
    /// `ptr` came from [`Record::into_raw`] and nothing else owns it now.
    pub(super) unsafe fn from_raw(ptr: NonNull<Node>) -> Record {
        Record(ptr)
    }

    pub fn entry(&self) -> EntryRef<'_> {
        EntryRef { ptr: self.0, _life: PhantomData }
    }

    pub fn key(&self) -> &[u8] {
        self.entry().key()
    }

    pub fn value(&self) -> &[u8] {
        self.entry().value()
    }

    pub fn meta(&self) -> Meta {
        self.entry().meta()
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        // SAFETY: the record owns the allocation, made by `new` (or resized
        // by `replace_value`) with exactly this layout.
        unsafe {
            let n = self.0.as_ref();
            dealloc(self.0.as_ptr() as *mut u8, layout(n.key_len as usize + n.value_len as usize));
        }
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Record({:?} => {} bytes)", String::from_utf8_lossy(self.key()), self.value().len())
    }
}

/// # Safety
/// `ptr` is a live entry; the slice lives as long as the caller keeps the
/// entry alive and unchanged (`'a`).
unsafe fn split<'a>(ptr: NonNull<Node>) -> (&'a [u8], &'a [u8]) {
    // SAFETY: per the contract, the header is initialised and followed by
    // `key_len + value_len` initialised bytes of the same allocation.
    unsafe {
        let n = ptr.as_ref();
        let bytes = (ptr.as_ptr() as *const u8).add(HEADER);
        let key = std::slice::from_raw_parts(bytes, n.key_len as usize);
        let value = std::slice::from_raw_parts(bytes.add(n.key_len as usize), n.value_len as usize);
        (key, value)
    }
}

/// Replaces the value of a live entry and keeps its key, header and link:
/// in place when the length is unchanged, else by resizing the allocation,
/// which may move it. Returns the entry's (new) address.
///
/// # Safety
/// The caller owns `ptr` exclusively, holds no reference into it, and
/// replaces every pointer to it (its bucket link) with the returned one.
pub(super) unsafe fn replace_value(ptr: NonNull<Node>, value: &[u8]) -> NonNull<Node> {
    assert!(value.len() <= MAX_PART, "record part over 4 GiB");
    // SAFETY: per the contract the entry is live and exclusively ours; the
    // resized block keeps the header and key (realloc preserves the prefix)
    // and has room for the new value behind them.
    unsafe {
        let (key_len, value_len) = (ptr.as_ref().key_len as usize, ptr.as_ref().value_len as usize);
        let ptr = if value_len == value.len() {
            ptr
        } else {
            let old = layout(key_len + value_len);
            let new = layout(key_len + value.len());
            let raw = realloc(ptr.as_ptr() as *mut u8, old, new.size()) as *mut Node;
            let Some(moved) = NonNull::new(raw) else { std::alloc::handle_alloc_error(new) };
            (*moved.as_ptr()).value_len = value.len() as u32;
            moved
        };
        let dst = (ptr.as_ptr() as *mut u8).add(HEADER + key_len);
        std::ptr::copy_nonoverlapping(value.as_ptr(), dst, value.len());
        ptr
    }
}

/// The key of a live entry (table internals: hashing and matching).
///
/// # Safety
/// As for [`split`].
pub(super) unsafe fn key_of<'a>(ptr: NonNull<Node>) -> &'a [u8] {
    // SAFETY: the caller's contract is `split`'s.
    unsafe { split(ptr).0 }
}

/// A shared view of an entry held by a table.
#[derive(Clone, Copy)]
pub struct EntryRef<'a> {
    ptr: NonNull<Node>,
    _life: PhantomData<&'a Node>,
}

impl<'a> EntryRef<'a> {
    /// # Safety
    /// `ptr` is a live entry that stays alive and unchanged for `'a`.
    pub(super) unsafe fn new(ptr: NonNull<Node>) -> EntryRef<'a> {
        EntryRef { ptr, _life: PhantomData }
    }

    pub fn key(self) -> &'a [u8] {
        // SAFETY: alive and unchanged for 'a (constructor's contract).
        unsafe { split(self.ptr).0 }
    }

    pub fn value(self) -> &'a [u8] {
        // SAFETY: as in `key`.
        unsafe { split(self.ptr).1 }
    }

    pub fn meta(self) -> Meta {
        // SAFETY: as in `key`.
        unsafe { self.ptr.as_ref().meta }
    }
}

/// An exclusive view of an entry held by a table: its metadata may change.
pub struct EntryMut<'a> {
    ptr: NonNull<Node>,
    _life: PhantomData<&'a mut Node>,
}

impl<'a> EntryMut<'a> {
    /// # Safety
    /// `ptr` is a live entry nobody else accesses for `'a`.
    pub(super) unsafe fn new(ptr: NonNull<Node>) -> EntryMut<'a> {
        EntryMut { ptr, _life: PhantomData }
    }

    pub fn meta_mut(&mut self) -> &mut Meta {
        // SAFETY: exclusive for 'a (constructor's contract); the header is
        // initialised and `meta` is a plain field.
        unsafe { &mut (*self.ptr.as_ptr()).meta }
    }

    pub fn into_ref(self) -> EntryRef<'a> {
        EntryRef { ptr: self.ptr, _life: PhantomData }
    }
}

const EXPIRE_BITS: u32 = 44;
const EXPIRE_MASK: u64 = (1 << EXPIRE_BITS) - 1;
/// The LRU clock's tick: 10 ms, so eviction tells apart keys used within
/// the same second (Redis's clock ticks once a second), and 32 bits of it
/// wrap after 497 days (Redis's after 194).
const TICK_MS: u64 = 10;

/// Redis's `LFU_INIT_VAL`: a new key's frequency counter.
pub const LFU_INIT: u64 = 5;
const LFU_MINUTES_MASK: u64 = 0xffff;

fn lfu_minutes(now_ms: u64) -> u64 {
    (now_ms / 60_000) & LFU_MINUTES_MASK
}

fn ticks(now_ms: u64) -> u32 {
    (now_ms / TICK_MS) as u32
}

/// Expiry and access time.
///
/// - expiry: Unix milliseconds (until the year 2527, in 44 bits; later
///   times are clamped to that, i.e. "practically never"); 0 = none;
/// - last access: the LRU clock (10 ms ticks, modulo 2^32), for OBJECT
///   IDLETIME and LRU eviction. Under an LFU policy the same 32 bits hold
///   the minute the counter was last decayed (16 bits, as Redis) and the
///   access frequency counter (8 bits), as Redis reuses its LRU field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    expire: u64,
    access: u32,
}

impl Meta {
    pub fn new(expire_at: u64, now_ms: u64) -> Meta {
        let mut m = Meta { expire: 0, access: 0 };
        m.set_expire_at(expire_at);
        m.touch(now_ms);
        m
    }

    #[inline]
    pub fn expire_at(self) -> u64 {
        self.expire
    }

    pub fn set_expire_at(&mut self, at: u64) {
        self.expire = at.min(EXPIRE_MASK);
    }

    #[inline]
    pub fn touch(&mut self, now_ms: u64) {
        self.access = ticks(now_ms);
    }

    /// A new entry's metadata under an LFU policy: the counter starts at
    /// Redis's `LFU_INIT_VAL` (5), so a new key is not evicted at once.
    pub fn new_lfu(expire_at: u64, now_ms: u64) -> Meta {
        let mut m = Meta { expire: 0, access: 0 };
        m.set_expire_at(expire_at);
        m.set_access(lfu_minutes(now_ms) << 8 | LFU_INIT);
        m
    }

    fn set_access(&mut self, access: u64) {
        self.access = access as u32;
    }

    /// The access-frequency counter under an LFU policy, decayed by one per
    /// `decay_minutes` since it was last decremented (Redis's
    /// `LFUDecrAndReturn`).
    pub fn lfu_counter(self, now_ms: u64, decay_minutes: u64) -> u64 {
        let access = self.access as u64;
        let (then, counter) = ((access >> 8) & LFU_MINUTES_MASK, access & 0xff);
        if decay_minutes == 0 {
            return counter;
        }
        let elapsed = lfu_minutes(now_ms).wrapping_sub(then) & LFU_MINUTES_MASK;
        counter.saturating_sub(elapsed / decay_minutes)
    }

    /// Sets the LFU counter (RESTORE ... FREQ).
    pub fn set_lfu(&mut self, now_ms: u64, counter: u64) {
        self.set_access(lfu_minutes(now_ms) << 8 | counter.min(255));
    }

    /// An access under an LFU policy: decay, then a logarithmic increment
    /// (Redis's `LFULogIncr`: likelier the lower the counter, never past
    /// 255).
    pub fn lfu_touch(&mut self, now_ms: u64, log_factor: u64, decay_minutes: u64) {
        let mut counter = self.lfu_counter(now_ms, decay_minutes);
        if counter < 255 {
            let base = counter.saturating_sub(LFU_INIT) as f64;
            let p = 1.0 / (base * log_factor as f64 + 1.0);
            let r = (crate::util::random_u64() >> 11) as f64 / (1u64 << 53) as f64;
            if r < p {
                counter += 1;
            }
        }
        self.set_access(lfu_minutes(now_ms) << 8 | counter);
    }

    /// Time since the last access in LRU clock ticks (eviction's score).
    pub fn idle_ticks(self, now_ms: u64) -> u64 {
        ticks(now_ms).wrapping_sub(self.access) as u64
    }

    pub fn idle_secs(self, now_ms: u64) -> u64 {
        self.idle_ticks(now_ms) * TICK_MS / 1000
    }

    /// True if the entry has expired at `now_ms`.
    #[inline]
    pub fn is_expired(self, now_ms: u64) -> bool {
        let at = self.expire_at();
        at != 0 && at <= now_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        for klen in [0usize, 1, 127, 128, 300, 20000] {
            let key = vec![b'k'; klen];
            let r = Record::new(&key, b"value", Meta::new(0, 7000));
            assert_eq!((r.key(), r.value(), r.meta()), (&key[..], &b"value"[..], Meta::new(0, 7000)));
        }
        // values replaced in place (same length) and moved (other lengths)
        let mut ptr = Record::new(b"key", b"abc", Meta::new(0, 1000)).into_raw();
        for v in [&b"xyz"[..], b"", b"a much longer value than before", b"", b"q"] {
            // SAFETY: `ptr` is ours alone, and we keep the returned address.
            ptr = unsafe { replace_value(ptr, v) };
            // SAFETY: `ptr` is live and unchanged while `e` is used.
            let e = unsafe { EntryRef::new(ptr) };
            assert_eq!((e.key(), e.value(), e.meta()), (&b"key"[..], v, Meta::new(0, 1000)));
        }
        // SAFETY: nothing else owns `ptr`.
        drop(unsafe { Record::from_raw(ptr) });
        let empty = Record::new(b"", b"", Meta::new(0, 0));
        assert_eq!((empty.key(), empty.value()), (&b""[..], &b""[..]));
        assert_eq!(HEADER, 32);
    }

    #[test]
    fn meta_packing() {
        let now = 1_790_000_000_123;
        let mut m = Meta::new(now + 5000, now);
        assert_eq!(m.expire_at(), now + 5000);
        assert_eq!(m.idle_secs(now + 3000), 3);
        m.set_expire_at(0);
        assert_eq!(m.expire_at(), 0);
        assert!(!m.is_expired(now));
        m.set_expire_at(u64::MAX);
        assert_eq!(m.expire_at(), EXPIRE_MASK);
        assert_eq!(m.idle_secs(now + 3000), 3);
    }
}
