//! The compact in-memory form of one entry.
//!
//! A key and its string value live in a single exact-size allocation,
//! `[key][value]`, owned by a 16-byte [`Record`] (pointer + two 32-bit
//! lengths), which is the map's key type: it hashes and compares by the key
//! part only and borrows as `[u8]`, so lookups take a plain `&[u8]`. The
//! map's value type is [`Meta`], one `u64` with the expiry and the last
//! access time.
//!
//! Why a hand-made owner instead of `Box<[u8]>`: a box carries one length,
//! so the key length would have to live inside the allocation, and that one
//! byte moves a 16-byte key + 32-byte value from mimalloc's 48-byte class to
//! the 64-byte one. With this layout such an entry costs a 48-byte LRU node,
//! a 48-byte record and a hash table slot: about 132 bytes against Redis's
//! 136 (`cargo bench --bench compare -- memory`). Keys and values are limited
//! to 4 GiB each (`proto-max-bulk-len` is capped accordingly).

use std::alloc::{Layout, alloc, dealloc};
use std::borrow::Borrow;
use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::ptr::NonNull;

/// A key and its value in one allocation. Never a view into a read buffer.
pub struct Record {
    /// Start of `key_len + value_len` initialised bytes allocated with
    /// `Layout::array::<u8>(len)`, or dangling when both are empty. In a
    /// `Cell` (with `value_len`) so that [`Record::replace_value`] can change
    /// the value of a record the map holds as its key.
    ptr: Cell<NonNull<u8>>,
    key_len: u32,
    value_len: Cell<u32>,
}

// SAFETY: a Record uniquely owns its bytes, like a Box<[u8]>.
unsafe impl Send for Record {}
// SAFETY: shared access only reads the bytes; the one mutation through a
// shared reference, `replace_value`, is unsafe and requires exclusive access.
unsafe impl Sync for Record {}

/// The largest key or value a record can hold.
pub const MAX_PART: usize = u32::MAX as usize;

impl Record {
    /// # Panics
    /// If the key or the value is longer than [`MAX_PART`]; the protocol
    /// limit (`proto-max-bulk-len`) keeps them below.
    pub fn new(key: &[u8], value: &[u8]) -> Record {
        assert!(key.len() <= MAX_PART && value.len() <= MAX_PART, "record part over 4 GiB");
        let len = key.len() + value.len();
        let ptr = if len == 0 {
            NonNull::dangling()
        } else {
            let layout = Layout::array::<u8>(len).expect("record layout");
            // SAFETY: `layout` has a non-zero size.
            let raw = unsafe { alloc(layout) };
            let Some(ptr) = NonNull::new(raw) else { std::alloc::handle_alloc_error(layout) };
            // SAFETY: `ptr` points to `len` writable bytes that do not
            // overlap the sources.
            unsafe {
                std::ptr::copy_nonoverlapping(key.as_ptr(), ptr.as_ptr(), key.len());
                std::ptr::copy_nonoverlapping(value.as_ptr(), ptr.as_ptr().add(key.len()), value.len());
            }
            ptr
        };
        Record { ptr: Cell::new(ptr), key_len: key.len() as u32, value_len: Cell::new(value.len() as u32) }
    }

    fn len(&self) -> usize {
        self.key_len as usize + self.value_len.get() as usize
    }

    /// Replaces the value and keeps the key: in place when the length is
    /// unchanged, else by moving to a new allocation. The key bytes, all that
    /// hashing and equality look at, stay the same, so the record may be the
    /// key of a map (SET on an existing key: one lookup instead of a removal
    /// and an insertion).
    ///
    /// # Safety
    /// The caller has exclusive access to the record (it holds the map that
    /// owns it mutably) and no reference into its bytes is alive.
    pub unsafe fn replace_value(&self, value: &[u8]) {
        assert!(value.len() <= MAX_PART, "record part over 4 GiB");
        if value.len() == self.value_len.get() as usize {
            // SAFETY: the allocation holds `key_len + value.len()` bytes that
            // nobody else can see now (the caller's contract); `value` is not
            // inside it, since no reference into it is alive.
            unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), self.ptr.get().as_ptr().add(self.key_len as usize), value.len()) };
            return;
        }
        let fresh = Record::new(self.key(), value);
        // Swap the allocations; `fresh` then owns and frees the old one.
        fresh.ptr.set(self.ptr.replace(fresh.ptr.get()));
        fresh.value_len.set(self.value_len.replace(fresh.value_len.get()));
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` holds `len()` initialised bytes owned by `self` (or
        // is dangling with length 0, which is valid for a slice).
        unsafe { std::slice::from_raw_parts(self.ptr.get().as_ptr(), self.len()) }
    }

    /// (key, value)
    #[inline]
    pub fn split(&self) -> (&[u8], &[u8]) {
        self.bytes().split_at(self.key_len as usize)
    }

    #[inline]
    pub fn key(&self) -> &[u8] {
        self.split().0
    }

    #[inline]
    pub fn value(&self) -> &[u8] {
        self.split().1
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        let len = self.len();
        if len > 0 {
            // SAFETY: allocated in `new` with exactly this layout.
            unsafe { dealloc(self.ptr.get().as_ptr(), Layout::array::<u8>(len).expect("record layout")) };
        }
    }
}

impl Hash for Record {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must hash exactly as `[u8]` does, since lookups borrow as `[u8]`.
        self.key().hash(state)
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Record {}

impl Borrow<[u8]> for Record {
    fn borrow(&self) -> &[u8] {
        self.key()
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Record({:?} => {} bytes)", String::from_utf8_lossy(self.key()), self.value_len.get())
    }
}

const EXPIRE_BITS: u32 = 44;
const EXPIRE_MASK: u64 = (1 << EXPIRE_BITS) - 1;
const ACCESS_BITS: u32 = 64 - EXPIRE_BITS;
const ACCESS_MASK: u64 = (1 << ACCESS_BITS) - 1;

/// Redis's `LFU_INIT_VAL`: a new key's frequency counter.
pub const LFU_INIT: u64 = 5;
const LFU_MINUTES_MASK: u64 = (1 << (ACCESS_BITS - 8)) - 1;

fn lfu_minutes(now_ms: u64) -> u64 {
    (now_ms / 60_000) & LFU_MINUTES_MASK
}

/// Expiry and access time packed in 8 bytes.
///
/// - expiry: Unix milliseconds in 44 bits (until the year 2527; later
///   times are clamped to that, i.e. "practically never"); 0 = none;
/// - last access: Unix seconds modulo 2^20 (12 days), like Redis's 24-bit
///   LRU clock; it only feeds OBJECT IDLETIME, because eviction order is the
///   LRU list itself. Under an LFU policy the same 20 bits hold an access
///   frequency counter and the minute it was last decayed, as Redis reuses
///   its LRU field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta(u64);

impl Meta {
    pub fn new(expire_at: u64, now_ms: u64) -> Meta {
        let mut m = Meta(0);
        m.set_expire_at(expire_at);
        m.touch(now_ms);
        m
    }

    #[inline]
    pub fn expire_at(self) -> u64 {
        self.0 & EXPIRE_MASK
    }

    pub fn set_expire_at(&mut self, at: u64) {
        self.0 = (self.0 & !EXPIRE_MASK) | at.min(EXPIRE_MASK);
    }

    #[inline]
    pub fn touch(&mut self, now_ms: u64) {
        self.0 = (self.0 & EXPIRE_MASK) | (((now_ms / 1000) & ACCESS_MASK) << EXPIRE_BITS);
    }

    /// A new entry's metadata under an LFU policy: the counter starts at
    /// Redis's `LFU_INIT_VAL` (5), so a new key is not evicted at once.
    pub fn new_lfu(expire_at: u64, now_ms: u64) -> Meta {
        let mut m = Meta(0);
        m.set_expire_at(expire_at);
        m.set_access(lfu_minutes(now_ms) << 8 | LFU_INIT);
        m
    }

    fn set_access(&mut self, access: u64) {
        self.0 = (self.0 & EXPIRE_MASK) | ((access & ACCESS_MASK) << EXPIRE_BITS);
    }

    /// The access-frequency counter under an LFU policy, decayed by one per
    /// `decay_minutes` since it was last decremented (Redis's
    /// `LFUDecrAndReturn`). The access field then holds the minutes (12
    /// bits: they wrap after 68 hours, where Redis's 16 bits wrap after 45
    /// days) and the counter (8 bits).
    pub fn lfu_counter(self, now_ms: u64, decay_minutes: u64) -> u64 {
        let access = self.0 >> EXPIRE_BITS;
        let (then, counter) = (access >> 8, access & 0xff);
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

    pub fn idle_secs(self, now_ms: u64) -> u64 {
        let now = (now_ms / 1000) & ACCESS_MASK;
        let then = self.0 >> EXPIRE_BITS;
        now.wrapping_sub(then) & ACCESS_MASK
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
            let r = Record::new(&key, b"value");
            assert_eq!(r.split(), (&key[..], &b"value"[..]));
        }
        // values replaced in place (same length) and moved (other lengths)
        let r = Record::new(b"key", b"abc");
        for v in [&b"xyz"[..], b"", b"a much longer value", b"", b"q"] {
            // SAFETY: `r` is not shared and nothing borrows its bytes.
            unsafe { r.replace_value(v) };
            assert_eq!(r.split(), (&b"key"[..], v));
        }
        let empty = Record::new(b"", b"");
        assert_eq!(empty.split(), (&b""[..], &b""[..]));
        assert_eq!(std::mem::size_of::<Record>(), 16);
        let a = Record::new(b"same", b"1");
        let b = Record::new(b"same", b"2");
        assert!(a == b);
        let mut h1 = std::collections::hash_map::DefaultHasher::new();
        let mut h2 = std::collections::hash_map::DefaultHasher::new();
        a.hash(&mut h1);
        b"same"[..].hash(&mut h2);
        assert_eq!(h1.finish(), h2.finish());
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
