//! Hashes: a listpack of alternating fields and values inside the entry
//! while small (insertion order, as Redis's), a table of field entries
//! once it passes `hash-max-listpack-entries` fields or holds a field or
//! value longer than `hash-max-listpack-value` bytes. As in Redis 7.0 a
//! hash never converts back.

use super::listpack as lp;
use super::listpack::Elem;
use super::record::{EntryRef, Kind, Meta, Record, View};
use super::table::{Slot, Table};
use super::value::Boxed;

/// The conversion thresholds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_entries: usize,
    pub max_value: usize,
}

/// A read-only view of a hash entry.
#[derive(Clone, Copy)]
pub enum HashRef<'a> {
    Listpack(&'a [u8]),
    Table(&'a Table),
}

impl<'a> HashRef<'a> {
    /// # Panics
    /// If the entry is not a hash.
    pub fn of(e: EntryRef<'a>) -> HashRef<'a> {
        debug_assert_eq!(e.kind(), Kind::Hash);
        match e.view() {
            View::Inline(bytes) => HashRef::Listpack(bytes),
            View::Boxed(Boxed::Hash(t)) => HashRef::Table(t),
            View::Boxed(_) => unreachable!("a hash entry holds a hash"),
        }
    }

    pub fn encoding(self) -> &'static str {
        match self {
            HashRef::Listpack(_) => "listpack",
            HashRef::Table(_) => "hashtable",
        }
    }

    pub fn len(self) -> usize {
        match self {
            HashRef::Listpack(bytes) => lp::count(bytes) / 2,
            HashRef::Table(t) => t.len(),
        }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    pub fn get(self, field: &[u8]) -> Option<Elem<'a>> {
        match self {
            HashRef::Listpack(bytes) => lp::find_pair(bytes, field).map(|p| p.value),
            HashRef::Table(t) => t.get(field).map(|e| Elem::Bytes(e.value())),
        }
    }

    /// Every field and value, in the encoding's order.
    pub fn for_each(self, mut f: impl FnMut(Elem<'a>, Elem<'a>)) {
        match self {
            HashRef::Listpack(bytes) => lp::pairs(bytes).for_each(|(k, v)| f(k, v)),
            HashRef::Table(t) => t.for_each(|e| f(Elem::Bytes(e.key()), Elem::Bytes(e.value()))),
        }
    }

    /// One field and its value picked at random (uniformly).
    pub fn random(self) -> Option<(Elem<'a>, Elem<'a>)> {
        match self {
            HashRef::Listpack(bytes) => {
                let n = self.len();
                (n > 0).then(|| lp::pairs(bytes).nth(crate::util::random_u64() as usize % n).expect("in range"))
            }
            HashRef::Table(t) => t.random().map(|e| (Elem::Bytes(e.key()), Elem::Bytes(e.value()))),
        }
    }

    /// HSCAN: one step from `cursor` (the table's bucket cursor; a
    /// listpack answers whole, cursor 0, as Redis's).
    pub fn scan(self, cursor: u64, count: usize, mut f: impl FnMut(Elem<'a>, Elem<'a>)) -> u64 {
        match self {
            HashRef::Listpack(_) => {
                self.for_each(f);
                0
            }
            HashRef::Table(t) => t.scan_count(cursor, count, |e| f(Elem::Bytes(e.key()), Elem::Bytes(e.value()))),
        }
    }
}

/// A new, empty hash entry.
pub fn new_record(key: &[u8], meta: Meta) -> Record {
    Record::inline(key, Kind::Hash, b"", meta)
}

/// Moves a listpack hash into a table.
fn convert(slot: &mut Slot<'_>) {
    let View::Inline(bytes) = slot.entry().view() else { return };
    let mut t = Table::new();
    for (f, v) in lp::pairs(bytes) {
        t.insert(Record::new(&f, &v, Meta::default()));
    }
    slot.set_boxed(Kind::Hash, Box::new(Boxed::Hash(t)));
}

/// Converts when any of `lens` (field and value lengths about to be
/// written) passes `hash-max-listpack-value` (Redis's
/// `hashTypeTryConversion`).
pub fn try_conversion(slot: &mut Slot<'_>, limits: Limits, mut lens: impl Iterator<Item = usize>) {
    if matches!(slot.entry().view(), View::Inline(_)) && lens.any(|l| l > limits.max_value) {
        convert(slot);
    }
}

/// Sets `field` to `value`; true if the field is new. Converts when the
/// hash passes `max_entries`, or when either is longer than `max_value`.
pub fn set(slot: &mut Slot<'_>, limits: Limits, field: &[u8], value: &[u8]) -> bool {
    try_conversion(slot, limits, [field.len(), value.len()].into_iter());
    match slot.entry().view() {
        View::Inline(bytes) => match lp::find_pair(bytes, field) {
            Some(p) => {
                let enc = lp::encode_all([value]);
                slot.splice(p.value_range, &enc);
                false
            }
            None => {
                let end = bytes.len();
                let enc = lp::encode_all([field, value]);
                slot.splice(end..end, &enc);
                if HashRef::of(slot.entry()).len() > limits.max_entries {
                    convert(slot);
                }
                true
            }
        },
        View::Boxed(_) => {
            let Some(Boxed::Hash(t)) = slot.boxed_mut() else { unreachable!("a boxed hash") };
            if t.replace_value(field, value) {
                false
            } else {
                t.insert(Record::new(field, value, Meta::default()));
                true
            }
        }
    }
}

/// Removes `field`; true if it was there.
pub fn delete(slot: &mut Slot<'_>, field: &[u8]) -> bool {
    match slot.entry().view() {
        View::Inline(bytes) => match lp::find_pair(bytes, field) {
            Some(p) => {
                slot.splice(p.range, b"");
                true
            }
            None => false,
        },
        View::Boxed(_) => {
            let Some(Boxed::Hash(t)) = slot.boxed_mut() else { unreachable!("a boxed hash") };
            t.remove(field).is_some()
        }
    }
}

/// The hash conversion thresholds as configured now.
pub fn limits_of(c: &crate::config::RuntimeConfig) -> Limits {
    Limits {
        max_entries: c.hash_max_listpack_entries.load(std::sync::atomic::Ordering::Relaxed).min(usize::MAX as u64) as usize,
        max_value: c.hash_max_listpack_value.load(std::sync::atomic::Ordering::Relaxed).min(usize::MAX as u64) as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_at_the_thresholds_and_keeps_every_field() {
        let limits = Limits { max_entries: 4, max_value: 8 };
        let mut t = Table::new();
        t.insert(new_record(b"h", Meta::default()));
        let mut slot = t.slot(b"h").unwrap();
        for i in 0..4 {
            assert!(set(&mut slot, limits, format!("f{i}").as_bytes(), b"v"));
        }
        assert!(!set(&mut slot, limits, b"f1", b"changed"));
        assert_eq!(HashRef::of(slot.entry()).encoding(), "listpack");
        assert!(delete(&mut slot, b"f0"));
        assert!(!delete(&mut slot, b"f0"));
        assert!(set(&mut slot, limits, b"f0", b"back"));
        let mut order = Vec::new();
        HashRef::of(slot.entry()).for_each(|f, _| order.push(f.to_vec()));
        assert_eq!(order, [&b"f1"[..], b"f2", b"f3", b"f0"], "a listpack keeps insertion order");
        assert!(set(&mut slot, limits, b"f4", b"v"));
        let h = HashRef::of(slot.entry());
        assert_eq!((h.encoding(), h.len(), h.get(b"f1").as_deref(), h.get(b"f0").as_deref()), ("hashtable", 5, Some(&b"changed"[..]), Some(&b"back"[..])));
        // a long value converts a small hash
        let mut t2 = Table::new();
        t2.insert(new_record(b"h", Meta::default()));
        let mut slot = t2.slot(b"h").unwrap();
        set(&mut slot, limits, b"f", b"123456789");
        assert_eq!(HashRef::of(slot.entry()).encoding(), "hashtable");
        assert!(delete(&mut slot, b"f"));
        assert!(HashRef::of(slot.entry()).is_empty());
    }
}
