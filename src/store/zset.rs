//! Sorted sets, in Redis 7.0's two encodings:
//!
//! - a **listpack** while small (at most `zset-max-listpack-entries`
//!   members, none longer than `zset-max-listpack-value` bytes): inside
//!   the entry, member then score for each element, sorted by score then
//!   member, exactly as Redis lays it out (a score that is an integer
//!   within +-2^62 is stored as that integer, any other as its `%.17g`
//!   text: Redis's `zzlInsertAt`);
//! - past either, a **table** from member to score (the keyspace's own
//!   chained table, so ZSCAN has SCAN's guarantees and ZRANDMEMBER a fair
//!   pick) beside an order-statistics B+tree of `(score, member)`
//!   ([`super::ztree`]), Redis's dict plus skiplist. OBJECT ENCODING says
//!   `skiplist` for it, as Redis does.
//!
//! A sorted set converts only up, never back, as in Redis (results built
//! whole, STORE forms and RESTORE, pick their encoding by their final size
//! as Redis's `zsetConvertToListpackIfNeeded` does). Scores are never NaN.

use super::listpack as lp;
use super::listpack::Elem;
use super::record::{EntryRef, Kind, Meta, Record, View};
use super::table::{Slot, Table};
use super::value::Boxed;
use super::ztree::{Tree, cmp};
use crate::util::{Decimal, double2ll, format_g17};
use std::cmp::Ordering;

/// The conversion thresholds (`zset-max-listpack-entries` / `-value`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl Limits {
    fn fit(self, n: usize, longest: usize) -> bool {
        n <= self.max_entries && longest <= self.max_value
    }
}

/// A large sorted set: member to score, and the order.
#[derive(Default)]
pub struct Big {
    members: Table,
    tree: Tree,
}

impl Clone for Big {
    fn clone(&self) -> Big {
        Big { members: self.members.deep_clone(), tree: self.tree.clone() }
    }
}

fn score_of(value: &[u8]) -> f64 {
    f64::from_le_bytes(value.try_into().expect("an 8-byte score"))
}

impl Big {
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    pub fn table(&self) -> &Table {
        &self.members
    }

    pub fn heap_bytes(&self) -> usize {
        self.tree.heap_bytes()
    }

    /// Checks the invariants (fuzzing): the tree's own, and one element
    /// in it per member in the table, at the table's score.
    pub fn check(&self) {
        self.tree.check();
        assert_eq!(self.members.len(), self.tree.len());
        self.members.for_each(|e| {
            let s = score_of(e.value());
            assert_eq!(self.tree.get(self.tree.rank(s, e.key())), Some((s, e.key())));
        });
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        self.members.get(member).map(|e| score_of(e.value()))
    }

    fn insert(&mut self, score: f64, member: &[u8]) {
        self.members.insert(Record::new(member, &score.to_le_bytes(), Meta::default()));
        self.tree.insert(score, member);
    }

    fn set_score(&mut self, old: f64, score: f64, member: &[u8]) {
        self.members.replace_value(member, &score.to_le_bytes());
        self.tree.remove(old, member);
        self.tree.insert(score, member);
    }

    fn remove(&mut self, member: &[u8]) -> bool {
        let Some(r) = self.members.remove(member) else { return false };
        self.tree.remove(score_of(r.value()), member);
        true
    }
}

/// A score as the listpack reads it back (Redis's `zzlGetScore`).
fn lp_score(bytes: &[u8], at: usize) -> f64 {
    match lp::raw_at(bytes, at) {
        Ok(i) => i as f64,
        Err(text) => crate::util::strtod(text).0,
    }
}

/// Appends a member and its score as Redis's `zzlInsertAt` writes them.
fn lp_encode_pair(out: &mut Vec<u8>, member: &[u8], score: f64) {
    lp::encode(out, member);
    match double2ll(score) {
        Some(i) => lp::encode(out, &Decimal::new(i)),
        None => lp::encode(out, format_g17(score).as_bytes()),
    }
}

/// The pairs of a listpack sorted set: member, score, the pair's range.
fn lp_pairs(bytes: &[u8]) -> impl Iterator<Item = (Elem<'_>, f64, std::ops::Range<usize>)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= bytes.len() {
            return None;
        }
        let (m, score_at) = lp::entry_at(bytes, at);
        let end = lp::next_at(bytes, score_at);
        let r = at..end;
        at = end;
        Some((m, lp_score(bytes, score_at), r))
    })
}

/// A read-only view of a sorted set entry.
#[derive(Clone, Copy)]
pub enum ZSetRef<'a> {
    Listpack(&'a [u8]),
    Big(&'a Big),
}

impl<'a> ZSetRef<'a> {
    /// # Panics
    /// If the entry is not a sorted set.
    pub fn of(e: EntryRef<'a>) -> ZSetRef<'a> {
        debug_assert_eq!(e.kind(), Kind::ZSet);
        match e.view() {
            View::Inline(bytes) => ZSetRef::Listpack(bytes),
            View::Boxed(Boxed::ZSet(z)) => ZSetRef::Big(z),
            View::Boxed(_) => unreachable!("a zset entry holds a zset"),
        }
    }

    pub fn encoding(self) -> &'static str {
        match self {
            ZSetRef::Listpack(_) => "listpack",
            ZSetRef::Big(_) => "skiplist",
        }
    }

    pub fn len(self) -> usize {
        match self {
            ZSetRef::Listpack(b) => lp::count(b) / 2,
            ZSetRef::Big(z) => z.len(),
        }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    pub fn score(self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetRef::Listpack(b) => lp_pairs(b).find(|(m, _, _)| *m == *member).map(|(_, s, _)| s),
            ZSetRef::Big(z) => z.score(member),
        }
    }

    /// The member's rank, 0 for the lowest (`rev`: for the highest).
    pub fn rank(self, member: &[u8], rev: bool) -> Option<usize> {
        let rank = match self {
            ZSetRef::Listpack(b) => lp_pairs(b).position(|(m, _, _)| m == *member)?,
            ZSetRef::Big(z) => z.tree.rank(z.score(member)?, member),
        };
        Some(if rev { self.len() - 1 - rank } else { rank })
    }

    /// How many elements satisfy `below` (true for a prefix of the order):
    /// the rank a range bound falls at.
    pub fn count_below(self, below: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSetRef::Listpack(b) => lp_pairs(b).take_while(|(m, s, _)| below(*s, m)).count(),
            ZSetRef::Big(z) => z.tree.count_below(below),
        }
    }

    /// The elements of ranks `from..to` in order, or from the highest of
    /// them down (`rev`).
    pub fn range(self, from: usize, to: usize, rev: bool, mut f: impl FnMut(&[u8], f64)) {
        match self {
            ZSetRef::Listpack(b) => {
                let pairs = lp_pairs(b).skip(from).take(to.saturating_sub(from));
                if rev {
                    let v: Vec<(Elem<'_>, f64)> = pairs.map(|(m, s, _)| (m, s)).collect();
                    v.iter().rev().for_each(|(m, s)| f(m, *s));
                } else {
                    pairs.for_each(|(m, s, _)| f(&m, s));
                }
            }
            ZSetRef::Big(z) => z.tree.visit(from, to, rev, &mut |s, m| f(m, s)),
        }
    }

    /// Every element, lowest first.
    pub fn for_each(self, f: impl FnMut(&[u8], f64)) {
        self.range(0, usize::MAX, false, f);
    }

    /// Every element, copied out, lowest first.
    pub fn elements(self) -> Vec<(Vec<u8>, f64)> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|m, s| out.push((m.to_vec(), s)));
        out
    }

    /// One element picked uniformly at random.
    pub fn random(self) -> Option<(Vec<u8>, f64)> {
        match self {
            ZSetRef::Listpack(b) => {
                let n = lp::count(b) / 2;
                if n == 0 {
                    return None;
                }
                let at = crate::util::random_u64() as usize % n;
                lp_pairs(b).nth(at).map(|(m, s, _)| (m.to_vec(), s))
            }
            ZSetRef::Big(z) => z.members.random().map(|e| (e.key().to_vec(), score_of(e.value()))),
        }
    }

    /// ZSCAN: one step from `cursor` (the table's bucket cursor; a listpack
    /// answers whole, cursor 0, as in Redis).
    pub fn scan(self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match self {
            ZSetRef::Big(z) => z.members.scan_count(cursor, count, |e| f(e.key(), score_of(e.value()))),
            ZSetRef::Listpack(_) => {
                self.for_each(f);
                0
            }
        }
    }
}

/// ZADD's options.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// What one ZADD element did (Redis's `ZADD_OUT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Skipped by NX, XX, GT or LT.
    Nop,
    Added,
    Updated,
    /// Processed without change (the same score again).
    Same,
}

/// The increment made the score NaN (`inf` plus `-inf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NanScore;

/// Moves a listpack sorted set into the large encoding.
fn convert(slot: &mut Slot<'_>) {
    let ZSetRef::Listpack(bytes) = ZSetRef::of(slot.entry()) else { return };
    let mut big = Big::default();
    for (m, s, _) in lp_pairs(bytes) {
        big.insert(s, &m);
    }
    slot.set_boxed(Kind::ZSet, Box::new(Boxed::ZSet(big)));
}

fn big_mut<'s>(slot: &'s mut Slot<'_>) -> &'s mut Big {
    let Some(Boxed::ZSet(z)) = slot.boxed_mut() else { unreachable!("a boxed zset") };
    z
}

/// Inserts into a listpack sorted set at the place the order gives.
fn lp_insert(slot: &mut Slot<'_>, score: f64, member: &[u8]) {
    let ZSetRef::Listpack(bytes) = ZSetRef::of(slot.entry()) else { unreachable!("a listpack") };
    let at = lp_pairs(bytes).find(|(m, s, _)| cmp(*s, m, score, member) == Ordering::Greater).map_or(bytes.len(), |(_, _, r)| r.start);
    let mut enc = Vec::with_capacity(member.len() + 32);
    lp_encode_pair(&mut enc, member, score);
    slot.splice(at..at, &enc);
}

fn lp_remove(slot: &mut Slot<'_>, member: &[u8]) -> bool {
    let ZSetRef::Listpack(bytes) = ZSetRef::of(slot.entry()) else { unreachable!("a listpack") };
    let Some((_, _, r)) = lp_pairs(bytes).find(|(m, _, _)| *m == *member) else { return false };
    slot.splice(r, b"");
    true
}

/// Redis's `zsetAdd`: adds `member` or updates its score under `flags`,
/// converting a listpack that would pass its limits. Returns what it did
/// and the element's score afterwards.
pub fn add(slot: &mut Slot<'_>, limits: Limits, score: f64, member: &[u8], flags: AddFlags) -> Result<(Added, f64), NanScore> {
    let z = ZSetRef::of(slot.entry());
    match z.score(member) {
        Some(cur) => {
            if flags.nx {
                return Ok((Added::Nop, cur));
            }
            let new = if flags.incr { score + cur } else { score };
            if new.is_nan() {
                return Err(NanScore);
            }
            if (flags.lt && new >= cur) || (flags.gt && new <= cur) {
                return Ok((Added::Nop, cur));
            }
            if new == cur {
                return Ok((Added::Same, new));
            }
            if matches!(z, ZSetRef::Listpack(_)) {
                lp_remove(slot, member);
                lp_insert(slot, new, member);
            } else {
                big_mut(slot).set_score(cur, new, member);
            }
            Ok((Added::Updated, new))
        }
        None if flags.xx => Ok((Added::Nop, score)),
        None => {
            if matches!(z, ZSetRef::Listpack(_)) && !limits.fit(z.len() + 1, member.len()) {
                convert(slot);
            }
            match ZSetRef::of(slot.entry()) {
                ZSetRef::Listpack(_) => lp_insert(slot, score, member),
                ZSetRef::Big(_) => big_mut(slot).insert(score, member),
            }
            Ok((Added::Added, score))
        }
    }
}

/// Removes `member`; true if it was there.
pub fn remove(slot: &mut Slot<'_>, member: &[u8]) -> bool {
    match ZSetRef::of(slot.entry()) {
        ZSetRef::Listpack(_) => lp_remove(slot, member),
        ZSetRef::Big(z) => z.score(member).is_some() && big_mut(slot).remove(member),
    }
}

/// Removes the elements of ranks `from..to`; returns them, lowest first.
pub fn remove_ranks(slot: &mut Slot<'_>, from: usize, to: usize) -> Vec<(Vec<u8>, f64)> {
    let z = ZSetRef::of(slot.entry());
    let to = to.min(z.len());
    if from >= to {
        return Vec::new();
    }
    let mut gone = Vec::with_capacity(to - from);
    match z {
        ZSetRef::Listpack(bytes) => {
            let mut span = None::<std::ops::Range<usize>>;
            for (m, s, r) in lp_pairs(bytes).skip(from).take(to - from) {
                gone.push((m.to_vec(), s));
                span = Some(span.map_or(r.clone(), |sp| sp.start..r.end));
            }
            slot.splice(span.expect("a non-empty range"), b"");
        }
        ZSetRef::Big(_) => {
            z.range(from, to, false, |m, s| gone.push((m.to_vec(), s)));
            let big = big_mut(slot);
            for (m, _) in &gone {
                big.remove(m);
            }
            if big.members.wants_shrink() {
                big.members.shrink();
            }
        }
    }
    gone
}

/// Removes up to `count` of the lowest (or highest: `max`) elements and
/// hands them over in the order popped.
pub fn pop(slot: &mut Slot<'_>, max: bool, count: usize) -> Vec<(Vec<u8>, f64)> {
    let n = ZSetRef::of(slot.entry()).len();
    let k = count.min(n);
    if max {
        let mut v = remove_ranks(slot, n - k, n);
        v.reverse();
        v
    } else {
        remove_ranks(slot, 0, k)
    }
}

/// A sorted set being built outside the keyspace (the STORE forms'
/// results, RESTORE): its encoding is picked from its final size, as
/// Redis's `zsetConvertToListpackIfNeeded` picks it.
#[derive(Default)]
pub struct Building {
    elements: Vec<(Vec<u8>, f64)>,
}

impl Building {
    pub fn new() -> Building {
        Building::default()
    }

    /// Adds an element known not to be there yet.
    pub fn push(&mut self, member: Vec<u8>, score: f64) {
        self.elements.push((member, score));
    }

    pub fn len(&self) -> usize {
        self.elements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// True if some member is there twice (a corrupt RESTORE payload).
    pub fn has_duplicates(&self) -> bool {
        let mut seen = std::collections::HashSet::with_capacity(self.elements.len());
        !self.elements.iter().all(|(m, _)| seen.insert(&m[..]))
    }

    /// The entry for `key` holding this sorted set.
    pub fn into_record(mut self, key: &[u8], limits: Limits, meta: Meta) -> Record {
        self.elements.sort_unstable_by(|a, b| cmp(a.1, &a.0, b.1, &b.0));
        let longest = self.elements.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        if limits.fit(self.elements.len(), longest) {
            let mut bytes = Vec::new();
            for (m, s) in &self.elements {
                lp_encode_pair(&mut bytes, m, *s);
            }
            Record::inline(key, Kind::ZSet, &bytes, meta)
        } else {
            let mut big = Big::default();
            for (m, s) in &self.elements {
                big.insert(*s, m);
            }
            Record::boxed(key, Kind::ZSet, Box::new(Boxed::ZSet(big)), meta)
        }
    }
}

/// The sorted set thresholds as configured now.
pub fn limits_of(c: &crate::config::RuntimeConfig) -> Limits {
    let get = |v: &std::sync::atomic::AtomicU64| v.load(std::sync::atomic::Ordering::Relaxed).min(usize::MAX as u64) as usize;
    Limits { max_entries: get(&c.zset_max_listpack_entries), max_value: get(&c.zset_max_listpack_value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_zset(f: impl FnOnce(&mut Slot<'_>)) {
        let mut t = Table::new();
        t.insert(Record::inline(b"z", Kind::ZSet, b"", Meta::default()));
        let mut slot = t.slot(b"z").unwrap();
        f(&mut slot);
    }

    const ADD: AddFlags = AddFlags { nx: false, xx: false, gt: false, lt: false, incr: false };

    #[test]
    fn a_listpack_orders_by_score_then_member_and_converts() {
        let limits = Limits { max_entries: 4, max_value: 8 };
        with_zset(|slot| {
            for (s, m) in [(2.0, "b"), (1.5, "z"), (2.0, "a"), (-0.0, "zero")] {
                assert_eq!(add(slot, limits, s, m.as_bytes(), ADD), Ok((Added::Added, s)));
            }
            let z = ZSetRef::of(slot.entry());
            assert_eq!(z.encoding(), "listpack");
            let names: Vec<Vec<u8>> = z.elements().into_iter().map(|(m, _)| m).collect();
            assert_eq!(names, [b"zero".to_vec(), b"z".to_vec(), b"a".to_vec(), b"b".to_vec()]);
            assert_eq!(z.rank(b"a", false), Some(2));
            assert_eq!(z.rank(b"a", true), Some(1));
            assert_eq!(z.score(b"z"), Some(1.5));
            // -0 is stored as the integer 0, as Redis stores it
            assert!(z.score(b"zero").unwrap().is_sign_positive());
            assert_eq!(add(slot, limits, 1.0, b"z", AddFlags { incr: true, ..ADD }), Ok((Added::Updated, 2.5)));
            assert_eq!(add(slot, limits, 1.0, b"z", AddFlags { gt: true, ..ADD }), Ok((Added::Nop, 2.5)));
            assert_eq!(add(slot, limits, 2.5, b"z", ADD), Ok((Added::Same, 2.5)));
            assert_eq!(ZSetRef::of(slot.entry()).rank(b"z", true), Some(0));
            assert_eq!(add(slot, limits, 9.0, b"new", ADD), Ok((Added::Added, 9.0)), "the fifth");
            let z = ZSetRef::of(slot.entry());
            assert_eq!(z.encoding(), "skiplist");
            assert_eq!(z.len(), 5);
            assert_eq!(z.rank(b"new", false), Some(4));
            assert_eq!(add(slot, limits, f64::NEG_INFINITY, b"new", AddFlags { incr: true, ..ADD }), Ok((Added::Updated, f64::NEG_INFINITY)));
            assert_eq!(add(slot, limits, f64::INFINITY, b"new", AddFlags { incr: true, ..ADD }), Err(NanScore));
            assert_eq!(pop(slot, false, 2).into_iter().map(|(m, _)| m).collect::<Vec<_>>(), [b"new".to_vec(), b"zero".to_vec()]);
            assert_eq!(pop(slot, true, 1), [(b"z".to_vec(), 2.5)]);
            assert!(remove(slot, b"a") && !remove(slot, b"a"));
            assert_eq!(ZSetRef::of(slot.entry()).elements(), [(b"b".to_vec(), 2.0)]);
        });
    }

    #[test]
    fn listpack_bytes_are_redis_layout() {
        let limits = Limits { max_entries: 128, max_value: 64 };
        with_zset(|slot| {
            add(slot, limits, 1.5, b"a", ADD).unwrap();
            add(slot, limits, 3.0, b"b", ADD).unwrap();
            // "a" "1.5" "b" 3: strings 0x80|len, small int 0..127 as itself
            assert_eq!(slot.entry().value(), b"\x81a\x02\x831.5\x04\x81b\x02\x03\x01");
        });
    }

    #[test]
    fn building_picks_the_encoding_by_final_size() {
        let limits = Limits { max_entries: 2, max_value: 3 };
        let mut b = Building::new();
        b.push(b"x".to_vec(), 2.0);
        b.push(b"y".to_vec(), 1.0);
        let r = b.into_record(b"k", limits, Meta::default());
        let z = ZSetRef::of(r.entry());
        assert_eq!((z.encoding(), z.elements()), ("listpack", vec![(b"y".to_vec(), 1.0), (b"x".to_vec(), 2.0)]));
        let mut b = Building::new();
        b.push(b"long".to_vec(), 1.0);
        assert_eq!(ZSetRef::of(b.into_record(b"k", limits, Meta::default()).entry()).encoding(), "skiplist");
    }
}
