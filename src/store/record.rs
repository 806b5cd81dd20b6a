//! The compact in-memory form of one entry.
//!
//! An entry is one exact-size allocation, `[header][key][value]`: the
//! 32-byte header holds the link to the next entry of its hash bucket, the
//! [`Meta`] (expiry and access time), the value's [`Kind`] and whether it
//! is stored inline or boxed, and the two lengths. A string's bytes and a
//! small collection's compact encoding (a [`super::listpack`]) are the
//! value bytes themselves, changed in place (resizing the allocation); a
//! large collection ([`Boxed`]) lives in its own allocation, and the value
//! bytes hold the pointer to it. The shard's
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

use super::value::Boxed;
use std::alloc::{Layout, alloc, dealloc, realloc};
use std::marker::PhantomData;
use std::ops::Range;
use std::ptr::NonNull;

/// The type of a value, numbered as Redis numbers them (`OBJ_STRING`...),
/// which is also what RDB type bytes and module APIs build on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    String = 0,
    List = 1,
    Set = 2,
    ZSet = 3,
    Hash = 4,
    Stream = 6,
}

impl Kind {
    /// The name TYPE and SCAN ... TYPE use.
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
            Kind::Hash => "hash",
            Kind::Stream => "stream",
        }
    }

    fn from_tag(tag: u8) -> Kind {
        match tag & !BOXED {
            0 => Kind::String,
            1 => Kind::List,
            2 => Kind::Set,
            3 => Kind::ZSet,
            4 => Kind::Hash,
            _ => Kind::Stream,
        }
    }
}

/// Set in a node's tag when the value bytes hold a `Box<Boxed>` pointer.
const BOXED: u8 = 0x80;
const PTR: usize = std::mem::size_of::<*mut Boxed>();

/// The header every entry starts with.
#[repr(C)]
pub struct Node {
    /// The next entry of the same bucket; owned by the table.
    pub(super) next: Option<NonNull<Node>>,
    meta: Meta,
    /// The [`Kind`], plus [`BOXED`].
    tag: u8,
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
    /// A string entry.
    ///
    /// # Panics
    /// If the key or the value is longer than [`MAX_PART`]; the protocol
    /// limit (`proto-max-bulk-len`) keeps them below.
    pub fn new(key: &[u8], value: &[u8], meta: Meta) -> Record {
        Record::inline(key, Kind::String, value, meta)
    }

    /// An entry whose value is stored in its own bytes: a string, or a
    /// collection in its compact encoding.
    pub fn inline(key: &[u8], kind: Kind, value: &[u8], meta: Meta) -> Record {
        assert!(key.len() <= MAX_PART && value.len() <= MAX_PART, "record part over 4 GiB");
        let layout = layout(key.len() + value.len());
        // SAFETY: the layout has a non-zero size (the header).
        let raw = unsafe { alloc(layout) } as *mut Node;
        let Some(ptr) = NonNull::new(raw) else { std::alloc::handle_alloc_error(layout) };
        // SAFETY: `ptr` points to `HEADER + key.len() + value.len()` writable
        // bytes, aligned for `Node`, that do not overlap the sources.
        unsafe {
            ptr.as_ptr().write(Node { next: None, meta, tag: kind as u8, key_len: key.len() as u32, value_len: value.len() as u32 });
            let bytes = (ptr.as_ptr() as *mut u8).add(HEADER);
            std::ptr::copy_nonoverlapping(key.as_ptr(), bytes, key.len());
            std::ptr::copy_nonoverlapping(value.as_ptr(), bytes.add(key.len()), value.len());
        }
        Record(ptr)
    }

    /// An entry holding a large collection.
    pub fn boxed(key: &[u8], kind: Kind, value: Box<Boxed>, meta: Meta) -> Record {
        let raw = Box::into_raw(value);
        let r = Record::inline(key, kind, &(raw as usize).to_ne_bytes(), meta);
        // SAFETY: the record is ours alone; its value bytes now hold the
        // pointer, which it owns from here on.
        unsafe { (*r.0.as_ptr()).tag |= BOXED };
        r
    }

    /// The same entry under another key (RENAME, MOVE): the value, boxed
    /// or not, moves into the new allocation.
    pub fn rekey(self, key: &[u8]) -> Record {
        let e = self.entry();
        // SAFETY: the header is initialised; `raw_value` is the bytes as
        // stored (a boxed value's pointer moves with them).
        let (tag, bytes) = unsafe { (self.0.as_ref().tag, split(self.0).1) };
        let r = Record::inline(key, Kind::from_tag(tag), bytes, e.meta());
        // SAFETY: both records are ours; the new one takes over the boxed
        // value, so the old one must not free it: clear its flag first.
        unsafe {
            (*r.0.as_ptr()).tag = tag;
            (*self.0.as_ptr()).tag &= !BOXED;
        }
        r
    }

    /// A deep copy under `key` (COPY).
    pub fn clone_as(&self, key: &[u8]) -> Record {
        self.entry().copy_as(key)
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

    pub fn set_meta(&mut self, meta: Meta) {
        // SAFETY: the record is ours alone; `meta` is a plain field.
        unsafe { (*self.0.as_ptr()).meta = meta };
    }
}

/// # Safety
/// `ptr` is a live entry owned by the caller; if boxed, its value bytes
/// hold a pointer from `Box::into_raw`, which this takes back (the caller
/// then clears the flag or frees the entry).
unsafe fn take_boxed(ptr: NonNull<Node>) -> Option<Box<Boxed>> {
    // SAFETY: per the contract.
    unsafe {
        if ptr.as_ref().tag & BOXED == 0 {
            return None;
        }
        let raw = boxed_ptr(ptr);
        (*ptr.as_ptr()).tag &= !BOXED;
        Some(Box::from_raw(raw))
    }
}

/// # Safety
/// `ptr` is a live boxed entry.
unsafe fn boxed_ptr(ptr: NonNull<Node>) -> *mut Boxed {
    // SAFETY: a boxed entry's value is exactly the pointer's bytes
    // (possibly unaligned: the key before it has any length).
    unsafe {
        let bytes = split(ptr).1;
        debug_assert_eq!(bytes.len(), PTR);
        usize::from_ne_bytes(bytes.try_into().expect("pointer bytes")) as *mut Boxed
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        // SAFETY: the record owns the allocation, made by `inline` (or
        // resized by the functions below) with exactly this layout, and a
        // boxed value it points to.
        unsafe {
            drop(take_boxed(self.0));
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

/// Resizes a live entry's value to `len` bytes, keeping its key, header
/// and the value's first `min(old, len)` bytes. Returns the entry's (new)
/// address.
///
/// # Safety
/// The caller owns `ptr` exclusively, holds no reference into it, and
/// replaces every pointer to it (its bucket link) with the returned one.
unsafe fn resize_value(ptr: NonNull<Node>, len: usize) -> NonNull<Node> {
    assert!(len <= MAX_PART, "record part over 4 GiB");
    // SAFETY: per the contract the entry is live and exclusively ours; the
    // resized block keeps the header and key (realloc preserves the prefix).
    unsafe {
        let (key_len, value_len) = (ptr.as_ref().key_len as usize, ptr.as_ref().value_len as usize);
        if value_len == len {
            return ptr;
        }
        let old = layout(key_len + value_len);
        let new = layout(key_len + len);
        let raw = realloc(ptr.as_ptr() as *mut u8, old, new.size()) as *mut Node;
        let Some(moved) = NonNull::new(raw) else { std::alloc::handle_alloc_error(new) };
        (*moved.as_ptr()).value_len = len as u32;
        moved
    }
}

/// Replaces the value of a live entry with `value` stored inline as a
/// `kind` (freeing a boxed value it held); keeps key, meta and link.
///
/// # Safety
/// As for [`resize_value`]; `value` does not point into the entry.
pub(super) unsafe fn replace_value(ptr: NonNull<Node>, kind: Kind, value: &[u8]) -> NonNull<Node> {
    // SAFETY: per the contract.
    unsafe {
        drop(take_boxed(ptr));
        let ptr = resize_value(ptr, value.len());
        (*ptr.as_ptr()).tag = kind as u8;
        let key_len = ptr.as_ref().key_len as usize;
        let dst = (ptr.as_ptr() as *mut u8).add(HEADER + key_len);
        std::ptr::copy_nonoverlapping(value.as_ptr(), dst, value.len());
        ptr
    }
}

/// Replaces the value of a live entry with a boxed `kind`.
///
/// # Safety
/// As for [`resize_value`].
pub(super) unsafe fn replace_boxed(ptr: NonNull<Node>, kind: Kind, value: Box<Boxed>) -> NonNull<Node> {
    // SAFETY: per the contract; the pointer's bytes become the value and
    // the entry owns the box from here on.
    unsafe {
        let raw = Box::into_raw(value);
        let ptr = replace_value(ptr, kind, &(raw as usize).to_ne_bytes());
        (*ptr.as_ptr()).tag |= BOXED;
        ptr
    }
}

/// Replaces `range` of an inline value with `with` (the listpack edit:
/// insert, delete or overwrite), moving the tail and resizing the
/// allocation as needed.
///
/// # Safety
/// As for [`resize_value`]; the entry is inline, `range` lies within its
/// value and `with` does not point into it.
pub(super) unsafe fn splice_value(ptr: NonNull<Node>, range: Range<usize>, with: &[u8]) -> NonNull<Node> {
    // SAFETY: per the contract; every copy stays inside the value as it
    // is before (growing: resize first) or after (shrinking: resize last).
    unsafe {
        debug_assert_eq!(ptr.as_ref().tag & BOXED, 0);
        let (key_len, len) = (ptr.as_ref().key_len as usize, ptr.as_ref().value_len as usize);
        assert!(range.start <= range.end && range.end <= len, "splice out of range");
        let new_len = len - range.len() + with.len();
        let tail = len - range.end;
        let ptr = if new_len > len { resize_value(ptr, new_len) } else { ptr };
        let value = (ptr.as_ptr() as *mut u8).add(HEADER + key_len);
        std::ptr::copy(value.add(range.end), value.add(range.start + with.len()), tail);
        std::ptr::copy_nonoverlapping(with.as_ptr(), value.add(range.start), with.len());
        if new_len < len { resize_value(ptr, new_len) } else { ptr }
    }
}

/// Grows the inline value of a live entry to `len` bytes, the new ones
/// zero (SETBIT, BITFIELD past the end); a shorter `len` changes nothing.
///
/// # Safety
/// As for [`resize_value`].
pub(super) unsafe fn grow_zeroed(ptr: NonNull<Node>, len: usize) -> NonNull<Node> {
    // SAFETY: per the contract; the new bytes are inside the resized value.
    unsafe {
        debug_assert_eq!(ptr.as_ref().tag & BOXED, 0);
        let (key_len, old) = (ptr.as_ref().key_len as usize, ptr.as_ref().value_len as usize);
        if len <= old {
            return ptr;
        }
        let ptr = resize_value(ptr, len);
        std::ptr::write_bytes((ptr.as_ptr() as *mut u8).add(HEADER + key_len + old), 0, len - old);
        ptr
    }
}

/// The inline value of a live entry, to change in place.
///
/// # Safety
/// The caller has exclusive access to the entry for `'a`.
pub(super) unsafe fn inline_mut<'a>(ptr: NonNull<Node>) -> &'a mut [u8] {
    // SAFETY: per the contract; the value bytes follow the header and key.
    unsafe {
        debug_assert_eq!(ptr.as_ref().tag & BOXED, 0);
        let (key_len, len) = (ptr.as_ref().key_len as usize, ptr.as_ref().value_len as usize);
        std::slice::from_raw_parts_mut((ptr.as_ptr() as *mut u8).add(HEADER + key_len), len)
    }
}

/// The boxed value of a live entry, to change in place.
///
/// # Safety
/// The caller has exclusive access to the entry for `'a`.
pub(super) unsafe fn boxed_mut<'a>(ptr: NonNull<Node>) -> Option<&'a mut Boxed> {
    // SAFETY: per the contract; the entry owns the box.
    unsafe { (ptr.as_ref().tag & BOXED != 0).then(|| &mut *boxed_ptr(ptr)) }
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

    /// The value's bytes as stored: a string's bytes, a compact
    /// collection's encoding (see [`EntryRef::view`] for boxed ones).
    pub fn value(self) -> &'a [u8] {
        // SAFETY: as in `key`.
        unsafe { split(self.ptr).1 }
    }

    pub fn meta(self) -> Meta {
        // SAFETY: as in `key`.
        unsafe { self.ptr.as_ref().meta }
    }

    pub fn kind(self) -> Kind {
        // SAFETY: as in `key`.
        Kind::from_tag(unsafe { self.ptr.as_ref().tag })
    }

    /// A deep copy of the entry under `key`.
    pub fn copy_as(self, key: &[u8]) -> Record {
        match self.view() {
            View::Inline(bytes) => Record::inline(key, self.kind(), bytes, self.meta()),
            View::Boxed(b) => Record::boxed(key, self.kind(), Box::new(b.clone()), self.meta()),
        }
    }

    pub fn to_record(self) -> Record {
        self.copy_as(self.key())
    }

    /// The value: its inline bytes, or the boxed collection.
    pub fn view(self) -> View<'a> {
        // SAFETY: as in `key`; a boxed entry owns its box, alive as long.
        unsafe { if self.ptr.as_ref().tag & BOXED != 0 { View::Boxed(&*boxed_ptr(self.ptr)) } else { View::Inline(split(self.ptr).1) } }
    }
}

/// How an entry's value is stored.
#[derive(Clone, Copy)]
pub enum View<'a> {
    /// A string, or a collection in its compact encoding.
    Inline(&'a [u8]),
    Boxed(&'a Boxed),
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
///
/// Packed to 4-byte alignment (12 bytes), so the node's type tag fits in
/// what would be its padding and the header stays 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C, packed(4))]
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
            ptr = unsafe { replace_value(ptr, Kind::String, v) };
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
