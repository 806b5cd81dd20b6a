//! Sets, in three encodings:
//!
//! - an **intset** while every member is an integer (Redis's rules: the
//!   canonical decimal form of an `i64`) and there are at most
//!   `set-max-intset-entries` of them: inside the entry, one width byte (2,
//!   4 or 8, the widest member ever added, as Redis's intset never narrows)
//!   then the members sorted, little-endian. Redis's intset is the same
//!   but for an 8-byte header, so a DUMP writes Redis's blob exactly;
//! - a **listpack** of members while small (at most 128 members of at
//!   most 64 bytes: Redis 7.2's `set-max-listpack-*` defaults): inside the
//!   entry, a zero byte then the members. Redis 7.0 has no such encoding
//!   and keeps these as hashtables, which cost it about four times the
//!   memory; OBJECT ENCODING says `hashtable` for it, as 7.0 would, and a
//!   DUMP writes 7.0's plain set;
//! - a **table** of member entries (empty values) past either: the
//!   keyspace's own chained table ([`super::table`]), so SSCAN has SCAN's
//!   cursor guarantees and SRANDMEMBER / SPOP its fair random pick.
//!
//! A set converts only "up" (intset to listpack or table, listpack to
//! table), never back, as in Redis. An empty value (a set just created) is
//! an empty intset.

use super::listpack as lp;
use super::listpack::Elem;
use super::record::{EntryRef, Kind, Meta, Record, View};
use super::table::{Slot, Table};
use super::value::Boxed;
use crate::util::Decimal;

/// Members past this many make a listpack set a table.
const LISTPACK_ENTRIES: usize = 128;
/// A member longer than this makes a listpack set a table.
const LISTPACK_VALUE: usize = 64;
/// The tag byte a listpack set starts with (an intset starts with its
/// width).
const LISTPACK_TAG: u8 = 0;

/// The conversion threshold (`set-max-intset-entries`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_intset: usize,
}

/// The members of an intset: `width` bytes each, sorted.
#[derive(Clone, Copy)]
pub struct Ints<'a> {
    width: usize,
    data: &'a [u8],
}

impl<'a> Ints<'a> {
    fn of(bytes: &'a [u8]) -> Ints<'a> {
        match bytes.split_first() {
            None => Ints { width: 2, data: &[] },
            Some((&w, data)) => Ints { width: usize::from(w), data },
        }
    }

    pub fn len(self) -> usize {
        self.data.len() / self.width
    }

    pub fn is_empty(self) -> bool {
        self.data.is_empty()
    }

    pub fn width(self) -> usize {
        self.width
    }

    pub fn get(self, i: usize) -> i64 {
        read_int(&self.data[i * self.width..(i + 1) * self.width])
    }

    /// `Ok(index)` of `v`, or `Err(where it would go)`.
    fn search(self, v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(self, v: i64) -> bool {
        self.search(v).is_ok()
    }

    pub fn iter(self) -> impl DoubleEndedIterator<Item = i64> + ExactSizeIterator + 'a {
        self.data.chunks_exact(self.width).map(read_int)
    }
}

fn read_int(b: &[u8]) -> i64 {
    match b.len() {
        2 => i64::from(i16::from_le_bytes([b[0], b[1]])),
        4 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        _ => i64::from_le_bytes(b.try_into().expect("8 bytes")),
    }
}

fn write_int(out: &mut Vec<u8>, v: i64, width: usize) {
    out.extend_from_slice(&v.to_le_bytes()[..width]);
}

/// The narrowest intset width holding `v` (Redis's `_intsetValueEncoding`).
fn width_for(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

/// A read-only view of a set entry.
#[derive(Clone, Copy)]
pub enum SetRef<'a> {
    Ints(Ints<'a>),
    Listpack(&'a [u8]),
    Table(&'a Table),
}

/// One member, borrowed or an integer written out.
pub type Member<'a> = Elem<'a>;

impl<'a> SetRef<'a> {
    /// # Panics
    /// If the entry is not a set.
    pub fn of(e: EntryRef<'a>) -> SetRef<'a> {
        debug_assert_eq!(e.kind(), Kind::Set);
        match e.view() {
            View::Inline([LISTPACK_TAG, rest @ ..]) => SetRef::Listpack(rest),
            View::Inline(bytes) => SetRef::Ints(Ints::of(bytes)),
            View::Boxed(Boxed::Set(t)) => SetRef::Table(t),
            View::Boxed(_) => unreachable!("a set entry holds a set"),
        }
    }

    /// What OBJECT ENCODING says: Redis 7.0's name for the same history.
    pub fn encoding(self) -> &'static str {
        match self {
            SetRef::Ints(_) => "intset",
            SetRef::Listpack(_) | SetRef::Table(_) => "hashtable",
        }
    }

    pub fn len(self) -> usize {
        match self {
            SetRef::Ints(i) => i.len(),
            SetRef::Listpack(bytes) => lp::count(bytes),
            SetRef::Table(t) => t.len(),
        }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    pub fn contains(self, member: &[u8]) -> bool {
        match self {
            SetRef::Ints(i) => lp::int_of(member).is_some_and(|v| i.contains(v)),
            SetRef::Listpack(bytes) => lp::iter(bytes).any(|(m, _)| m == *member),
            SetRef::Table(t) => t.contains(member),
        }
    }

    /// Every member, in the encoding's order (an intset's is ascending).
    pub fn for_each(self, mut f: impl FnMut(Member<'a>)) {
        match self {
            SetRef::Ints(i) => i.iter().for_each(|v| f(Elem::Int(Decimal::new(v)))),
            SetRef::Listpack(bytes) => lp::iter(bytes).for_each(|(m, _)| f(m)),
            SetRef::Table(t) => t.for_each(|e| f(Elem::Bytes(e.key()))),
        }
    }

    /// Every member, copied out.
    pub fn members(self) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|m| out.push(m.to_vec()));
        out
    }

    /// One member picked at random (uniformly).
    pub fn random(self) -> Option<Member<'a>> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let at = crate::util::random_u64() as usize % n;
        match self {
            SetRef::Ints(i) => Some(Elem::Int(Decimal::new(i.get(at)))),
            SetRef::Listpack(bytes) => lp::iter(bytes).nth(at).map(|(m, _)| m),
            SetRef::Table(t) => t.random().map(|e| Elem::Bytes(e.key())),
        }
    }

    /// SSCAN: one step from `cursor` (the table's bucket cursor; the
    /// compact encodings answer whole, cursor 0, as Redis's intset does).
    pub fn scan(self, cursor: u64, count: usize, mut f: impl FnMut(Member<'a>)) -> u64 {
        match self {
            SetRef::Table(t) => t.scan_count(cursor, count, |e| f(Elem::Bytes(e.key()))),
            _ => {
                self.for_each(f);
                0
            }
        }
    }
}

/// A set being built outside the keyspace (the result of SUNION, SDIFF,
/// SINTERSTORE, RESTORE, SPOP's survivors), added to and removed from with
/// Redis's `setTypeAdd` / `setTypeRemove` rules, so it ends in the
/// encoding Redis's would.
pub struct Building {
    limits: Limits,
    enc: Built,
}

enum Built {
    /// Sorted members and the widest width seen.
    Ints(Vec<i64>, usize),
    /// Members in insertion order, with an index to find them.
    Other(Vec<Vec<u8>>, std::collections::HashMap<Vec<u8>, usize>),
}

impl Building {
    /// An empty set that starts as an intset (Redis's `createIntsetObject`).
    pub fn new(limits: Limits) -> Building {
        Building { limits, enc: Built::Ints(Vec::new(), 2) }
    }

    /// An empty set of the encoding Redis's `setTypeCreate(first)` picks.
    pub fn for_first(limits: Limits, first: &[u8]) -> Building {
        let mut b = Building::new(limits);
        if lp::int_of(first).is_none() {
            b.convert();
        }
        b
    }

    fn convert(&mut self) {
        if let Built::Ints(v, _) = &self.enc {
            let members: Vec<Vec<u8>> = v.iter().map(|&i| Decimal::new(i).to_vec()).collect();
            let index = members.iter().enumerate().map(|(i, m)| (m.clone(), i)).collect();
            self.enc = Built::Other(members, index);
        }
    }

    pub fn len(&self) -> usize {
        match &self.enc {
            Built::Ints(v, _) => v.len(),
            Built::Other(m, _) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if `member` is new.
    pub fn add(&mut self, member: &[u8]) -> bool {
        if let Built::Ints(v, width) = &mut self.enc {
            match lp::int_of(member) {
                Some(i) => {
                    let Err(at) = v.binary_search(&i) else { return false };
                    v.insert(at, i);
                    *width = (*width).max(width_for(i));
                    if v.len() > self.limits.max_intset.min(1 << 30) {
                        self.convert();
                    }
                    return true;
                }
                None => self.convert(),
            }
        }
        let Built::Other(members, index) = &mut self.enc else { unreachable!("converted") };
        if index.contains_key(member) {
            return false;
        }
        index.insert(member.to_vec(), members.len());
        members.push(member.to_vec());
        true
    }

    /// True if `member` was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.enc {
            Built::Ints(v, _) => match lp::int_of(member).map(|i| v.binary_search(&i)) {
                Some(Ok(at)) => {
                    v.remove(at);
                    true
                }
                _ => false,
            },
            Built::Other(members, index) => match index.remove(member) {
                Some(at) => {
                    members.swap_remove(at);
                    if let Some(moved) = members.get(at) {
                        index.insert(moved.clone(), at);
                    }
                    true
                }
                None => false,
            },
        }
    }

    /// The members, in the order the built set will have them.
    pub fn members(&self) -> Vec<Vec<u8>> {
        match &self.enc {
            Built::Ints(v, _) => v.iter().map(|&i| Decimal::new(i).to_vec()).collect(),
            Built::Other(m, _) => m.clone(),
        }
    }

    /// The entry for `key` holding this set.
    pub fn into_record(self, key: &[u8], meta: Meta) -> Record {
        match self.enc {
            Built::Ints(v, width) => {
                let mut bytes = Vec::with_capacity(1 + v.len() * width);
                if !v.is_empty() {
                    bytes.push(width as u8);
                    v.iter().for_each(|&i| write_int(&mut bytes, i, width));
                }
                Record::inline(key, Kind::Set, &bytes, meta)
            }
            Built::Other(members, _) => {
                if fits_listpack(members.len(), members.iter().map(|m| m.len())) {
                    let mut bytes = vec![LISTPACK_TAG];
                    members.iter().for_each(|m| lp::encode(&mut bytes, m));
                    Record::inline(key, Kind::Set, &bytes, meta)
                } else {
                    let mut t = Table::new();
                    for m in &members {
                        t.insert(Record::new(m, b"", Meta::default()));
                    }
                    Record::boxed(key, Kind::Set, Box::new(Boxed::Set(t)), meta)
                }
            }
        }
    }
}

/// An intset given as Redis's blob (RESTORE of `RDB_TYPE_SET_INTSET`):
/// `None` unless well formed (a known width, sorted, unique, in range).
pub fn intset_from_blob(blob: &[u8], limits: Limits) -> Option<(Building, usize)> {
    if blob.len() < 8 {
        return None;
    }
    let width = u32::from_le_bytes(blob[0..4].try_into().ok()?) as usize;
    let n = u32::from_le_bytes(blob[4..8].try_into().ok()?) as usize;
    if ![2, 4, 8].contains(&width) || blob.len() != 8 + n.checked_mul(width)? {
        return None;
    }
    let ints = Ints { width, data: &blob[8..] };
    let mut prev = None;
    for v in ints.iter() {
        if prev.is_some_and(|p| p >= v) {
            return None;
        }
        prev = Some(v);
    }
    let mut b = Building::new(limits);
    b.enc = Built::Ints(ints.iter().collect(), width);
    if n > limits.max_intset {
        b.convert();
    }
    Some((b, n))
}

/// Redis's intset blob for `ints` (DUMP of an intset).
pub fn intset_blob(ints: Ints<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + ints.data.len());
    out.extend_from_slice(&(ints.width as u32).to_le_bytes());
    out.extend_from_slice(&(ints.len() as u32).to_le_bytes());
    out.extend_from_slice(ints.data);
    out
}

fn fits_listpack(n: usize, mut lens: impl Iterator<Item = usize>) -> bool {
    n <= LISTPACK_ENTRIES && lens.all(|l| l <= LISTPACK_VALUE)
}

/// Moves a compact set into a listpack (when it fits) or a table.
fn convert(slot: &mut Slot<'_>, extra: usize, extra_len: usize) {
    let set = SetRef::of(slot.entry());
    let n = set.len();
    let mut lens = Vec::with_capacity(n);
    set.for_each(|m| lens.push(m.len()));
    let listpack = !matches!(set, SetRef::Listpack(_)) && fits_listpack(n + extra, lens.into_iter().chain([extra_len]));
    if listpack {
        let mut bytes = vec![LISTPACK_TAG];
        set.for_each(|m| lp::encode(&mut bytes, &m));
        slot.set_inline(Kind::Set, &bytes);
    } else {
        let mut t = Table::new();
        set.for_each(|m| t.insert(Record::new(&m, b"", Meta::default())));
        slot.set_boxed(Kind::Set, Box::new(Boxed::Set(t)));
    }
}

/// Adds `member` to the set in `slot`; true if it is new. Converts an
/// intset at a non-integer or past `max_intset`, a listpack past its
/// limits (Redis's `setTypeAdd`).
pub fn add(slot: &mut Slot<'_>, limits: Limits, member: &[u8]) -> bool {
    match SetRef::of(slot.entry()) {
        SetRef::Ints(ints) => match lp::int_of(member) {
            Some(v) => {
                let Err(at) = ints.search(v) else { return false };
                let (old, need) = (ints.width, width_for(v));
                let n = ints.len();
                if need > old || n == 0 {
                    // a wider member widens them all (and an empty set
                    // gets its width byte)
                    let width = need.max(old);
                    let mut bytes = Vec::with_capacity(1 + (n + 1) * width);
                    bytes.push(width as u8);
                    ints.iter().take(at).for_each(|i| write_int(&mut bytes, i, width));
                    write_int(&mut bytes, v, width);
                    ints.iter().skip(at).for_each(|i| write_int(&mut bytes, i, width));
                    slot.set_inline(Kind::Set, &bytes);
                } else {
                    let pos = 1 + at * old;
                    slot.splice(pos..pos, &v.to_le_bytes()[..old]);
                }
                if n + 1 > limits.max_intset.min(1 << 30) {
                    convert(slot, 0, 0);
                }
                true
            }
            None => {
                convert(slot, 1, member.len());
                add(slot, limits, member)
            }
        },
        SetRef::Listpack(bytes) => {
            if lp::iter(bytes).any(|(m, _)| m == *member) {
                return false;
            }
            if !fits_listpack(lp::count(bytes) + 1, [member.len()].into_iter()) {
                convert(slot, 1, member.len());
                return add(slot, limits, member);
            }
            let end = slot.entry().value().len();
            let mut enc = Vec::with_capacity(lp::encoded_len(member));
            lp::encode(&mut enc, member);
            slot.splice(end..end, &enc);
            true
        }
        SetRef::Table(t) => {
            if t.contains(member) {
                return false;
            }
            let Some(Boxed::Set(t)) = slot.boxed_mut() else { unreachable!("a boxed set") };
            t.insert(Record::new(member, b"", Meta::default()));
            true
        }
    }
}

/// Removes `member`; true if it was there.
pub fn remove(slot: &mut Slot<'_>, member: &[u8]) -> bool {
    match SetRef::of(slot.entry()) {
        SetRef::Ints(ints) => {
            let Some(Ok(at)) = lp::int_of(member).map(|v| ints.search(v)) else { return false };
            let w = ints.width;
            if ints.len() == 1 {
                slot.set_inline(Kind::Set, b"");
            } else {
                slot.splice(1 + at * w..1 + (at + 1) * w, b"");
            }
            true
        }
        SetRef::Listpack(bytes) => {
            let found = lp::iter(bytes).find(|(m, _)| *m == *member).map(|(_, r)| (r, lp::count(bytes)));
            let Some((range, n)) = found else { return false };
            {
                if n == 1 {
                    slot.set_inline(Kind::Set, b"");
                } else {
                    slot.splice(range.start + 1..range.end + 1, b"");
                }
                true
            }
        }
        SetRef::Table(t) => {
            if !t.contains(member) {
                return false;
            }
            let Some(Boxed::Set(t)) = slot.boxed_mut() else { unreachable!("a boxed set") };
            t.remove(member).is_some()
        }
    }
}

/// Removes a random member and hands it over (SPOP).
pub fn pop_random(slot: &mut Slot<'_>) -> Option<Vec<u8>> {
    let m = SetRef::of(slot.entry()).random()?.to_vec();
    remove(slot, &m);
    Some(m)
}

/// The set conversion threshold as configured now.
pub fn limits_of(c: &crate::config::RuntimeConfig) -> Limits {
    Limits { max_intset: c.set_max_intset_entries.load(std::sync::atomic::Ordering::Relaxed).min(usize::MAX as u64) as usize }
}

/// The entry for a set restored from a payload (Redis's `rdbLoadObject`
/// for `RDB_TYPE_SET`: an intset unless there are more members than
/// `set-max-intset-entries` or one is not an integer); `None` for an empty
/// set or a repeated member, which Redis refuses too.
pub fn restored(members: &[Vec<u8>], limits: Limits, key: &[u8], meta: super::Meta) -> Option<super::Record> {
    let first = members.first()?;
    let mut b = if members.len() > limits.max_intset { Building::for_first(limits, b"-") } else { Building::for_first(limits, first) };
    for m in members {
        if !b.add(m) {
            return None;
        }
    }
    Some(b.into_record(key, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_set(f: impl FnOnce(&mut Slot<'_>)) {
        let mut t = Table::new();
        t.insert(Record::inline(b"s", Kind::Set, b"", Meta::default()));
        let mut slot = t.slot(b"s").unwrap();
        f(&mut slot);
    }

    #[test]
    fn an_intset_stays_sorted_widens_and_converts() {
        let limits = Limits { max_intset: 5 };
        with_set(|slot| {
            for v in ["5", "-3", "100", "5"] {
                add(slot, limits, v.as_bytes());
            }
            let s = SetRef::of(slot.entry());
            assert_eq!((s.encoding(), s.members()), ("intset", vec![b"-3".to_vec(), b"5".to_vec(), b"100".to_vec()]));
            assert!(add(slot, limits, b"70000"));
            let SetRef::Ints(i) = SetRef::of(slot.entry()) else { panic!("intset") };
            assert_eq!((i.width(), i.iter().collect::<Vec<_>>()), (4, vec![-3, 5, 100, 70000]));
            assert!(remove(slot, b"70000"));
            let SetRef::Ints(i) = SetRef::of(slot.entry()) else { panic!("intset") };
            assert_eq!(i.width(), 4, "an intset never narrows");
            assert!(!remove(slot, b"05"), "not the canonical form of 5");
            assert!(SetRef::of(slot.entry()).contains(b"-3"));
            assert!(add(slot, limits, b"1"));
            assert!(add(slot, limits, b"2"));
            assert_eq!(SetRef::of(slot.entry()).encoding(), "intset");
            assert!(add(slot, limits, b"3"), "the sixth");
            let s = SetRef::of(slot.entry());
            assert!(matches!(s, SetRef::Listpack(_)));
            assert_eq!((s.encoding(), s.len()), ("hashtable", 6));
        });
    }

    #[test]
    fn a_string_member_makes_a_listpack_then_a_table() {
        let limits = Limits { max_intset: 512 };
        with_set(|slot| {
            add(slot, limits, b"7");
            add(slot, limits, b"a");
            assert!(matches!(SetRef::of(slot.entry()), SetRef::Listpack(_)));
            assert!(SetRef::of(slot.entry()).contains(b"7"));
            assert!(!add(slot, limits, b"7"));
            assert!(remove(slot, b"7"));
            assert!(!SetRef::of(slot.entry()).contains(b"7"));
            assert!(add(slot, limits, &[b'x'; 65]));
            let s = SetRef::of(slot.entry());
            assert!(matches!(s, SetRef::Table(_)));
            assert_eq!(s.len(), 2);
            assert!(s.contains(b"a") && s.contains(&[b'x'; 65]));
            assert!(remove(slot, b"a"));
            assert!(remove(slot, &[b'x'; 65]));
            assert!(SetRef::of(slot.entry()).is_empty());
        });
    }

    #[test]
    fn building_follows_set_type_add() {
        let limits = Limits { max_intset: 3 };
        let mut b = Building::new(limits);
        for v in ["3", "1", "2"] {
            assert!(b.add(v.as_bytes()));
        }
        assert!(!b.add(b"2"));
        assert_eq!(b.members(), [b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
        b.add(b"4");
        assert!(matches!(b.enc, Built::Other(..)), "past max_intset");
        assert!(b.remove(b"1") && !b.remove(b"1"));
        assert_eq!(b.len(), 3);
        let r = b.into_record(b"k", Meta::default());
        assert_eq!(SetRef::of(r.entry()).encoding(), "hashtable");
        let blob = {
            let mut b = Building::new(Limits { max_intset: 512 });
            b.add(b"-70000");
            b.add(b"9");
            let r = b.into_record(b"k", Meta::default());
            let SetRef::Ints(i) = SetRef::of(r.entry()) else { panic!("intset") };
            intset_blob(i)
        };
        assert_eq!(&blob[..8], &[4, 0, 0, 0, 2, 0, 0, 0]);
        let (back, n) = intset_from_blob(&blob, Limits { max_intset: 512 }).unwrap();
        assert_eq!((n, back.members()), (2, vec![b"-70000".to_vec(), b"9".to_vec()]));
        assert!(intset_from_blob(&[2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 1, 0], Limits { max_intset: 512 }).is_none(), "unsorted");
    }
}
