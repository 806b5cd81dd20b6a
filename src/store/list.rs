//! Lists: a listpack inside the entry while the list fits one node, then a
//! quicklist: a chain of listpack nodes behind the entry, each within
//! `list-max-listpack-size` (a negative value caps a node's bytes at 4, 8,
//! 16, 32 or 64 kB; a positive one caps its element count, with Redis's
//! 8 kB safety limit). Redis 7.0 reports `quicklist` for both, and so do
//! we. Unlike 7.0 (but like 7.2) a quicklist that shrinks back to one small
//! node moves back into the entry, which saves its allocations; the
//! threshold is half a node, so a list at the edge does not flap.
//!
//! Pushes and pops at either end touch one node; an index walks nodes from
//! the nearer end by their counts, then one node: O(n / node size), as in
//! Redis. A node that outgrows its limit after an insert in the middle is
//! split in two; LREM and LTRIM merge what they leave too small.

use super::listpack as lp;
pub use super::listpack::Elem;
use super::record::{EntryRef, Kind, Meta, Record, View};
use super::table::Slot;
use super::value::Boxed;
use std::collections::VecDeque;

/// Bytes a node may reach under a positive fill (Redis's `SIZE_SAFETY_LIMIT`).
const SAFETY_LIMIT: usize = 8192;
/// Node byte limits for fill -1 ... -5.
const LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];

/// `list-max-listpack-size`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub fill: i64,
}

impl Limits {
    /// Whether a node of `bytes` and `count` elements is within the limit
    /// (a single element always is).
    fn fits(self, bytes: usize, count: usize) -> bool {
        if count <= 1 {
            return true;
        }
        if self.fill < 0 { bytes <= LEVELS[((-self.fill - 1) as usize).min(4)] } else { bytes <= SAFETY_LIMIT && count as i64 <= self.fill }
    }

    /// The most bytes a node may hold (a single larger element aside).
    fn max_bytes(self) -> usize {
        if self.fill < 0 { LEVELS[((-self.fill - 1) as usize).min(4)] } else { SAFETY_LIMIT }
    }

    /// Small enough to move back into the entry.
    fn small(self, bytes: usize, count: usize) -> bool {
        if self.fill < 0 {
            bytes <= LEVELS[((-self.fill - 1) as usize).min(4)] / 2
        } else {
            bytes <= SAFETY_LIMIT / 2 && count as i64 <= (self.fill / 2).max(1)
        }
    }
}

/// One node of a quicklist.
#[derive(Clone)]
pub struct Node {
    lp: Vec<u8>,
    count: usize,
}

impl Node {
    fn new(lp: Vec<u8>, count: usize) -> Node {
        let mut n = Node { lp, count };
        n.lp.shrink_to_fit();
        n
    }

    /// The byte range of the element at `i` of this node.
    fn range_of(&self, i: usize) -> std::ops::Range<usize> {
        if i >= self.count / 2 { lp::iter_rev(&self.lp).nth(self.count - 1 - i).expect("in node").1 } else { lp::iter(&self.lp).nth(i).expect("in node").1 }
    }

    /// Replaces `range` of the encoding with `with`: the tail moves once
    /// (one `memmove`, as Redis's `lpInsert`), nothing is copied byte by
    /// byte.
    fn splice(&mut self, range: std::ops::Range<usize>, with: &[u8]) {
        let (old, new, len) = (range.len(), with.len(), self.lp.len());
        if new > old {
            self.lp.resize(len + new - old, 0);
        }
        self.lp.copy_within(range.end..len, range.start + new);
        if new < old {
            self.lp.truncate(len + new - old);
        }
        self.lp[range.start..range.start + new].copy_from_slice(with);
    }

    /// Splits the node in two halves (by count).
    fn split(self) -> (Node, Node) {
        let half = self.count / 2;
        let at = lp::iter(&self.lp).nth(half).expect("more than one element").1.start;
        let back = self.lp[at..].to_vec();
        let mut front = self.lp;
        front.truncate(at);
        (Node::new(front, half), Node::new(back, self.count - half))
    }
}

/// A list past one node.
#[derive(Clone, Default)]
pub struct Quicklist {
    nodes: VecDeque<Node>,
    len: usize,
}

impl Quicklist {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the nodes (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>() + self.nodes.iter().map(|n| n.lp.capacity()).sum::<usize>()
    }

    /// The nodes' listpacks in order, with their counts (DUMP).
    pub fn nodes(&self) -> impl Iterator<Item = (&[u8], usize)> {
        self.nodes.iter().map(|n| (&n.lp[..], n.count))
    }

    /// Builds a quicklist from one encoding, cut into nodes within `limits`.
    fn from_listpack(bytes: &[u8], limits: Limits) -> Quicklist {
        let mut q = Quicklist::default();
        for (item, _) in lp::iter(bytes) {
            q.push(limits, &item, false);
        }
        q
    }

    fn push(&mut self, limits: Limits, item: &[u8], front: bool) {
        let add = lp::encoded_len(item);
        let node = if front { self.nodes.front_mut() } else { self.nodes.back_mut() };
        match node {
            Some(n) if limits.fits(n.lp.len() + add, n.count + 1) => {
                // grow by doubling, but never past what the node may hold:
                // a full node keeps no slack (doubling from one element
                // would leave a 8 kB node in a 10 kB buffer)
                let need = n.lp.len() + add;
                if n.lp.capacity() < need {
                    let to = (n.lp.capacity() * 2).min(limits.max_bytes()).max(need);
                    n.lp.reserve_exact(to - n.lp.len());
                }
                if front {
                    let mut enc = Vec::with_capacity(add);
                    lp::encode(&mut enc, item);
                    n.splice(0..0, &enc);
                } else {
                    lp::encode(&mut n.lp, item);
                }
                n.count += 1;
            }
            _ => {
                // the node this one starts next to is done growing
                if let Some(n) = node {
                    n.lp.shrink_to_fit();
                }
                let mut enc = Vec::with_capacity(add);
                lp::encode(&mut enc, item);
                if front {
                    self.nodes.push_front(Node { lp: enc, count: 1 });
                } else {
                    self.nodes.push_back(Node { lp: enc, count: 1 });
                }
            }
        }
        self.len += 1;
    }

    fn pop(&mut self, front: bool) -> Option<Vec<u8>> {
        let n = if front { self.nodes.front_mut()? } else { self.nodes.back_mut()? };
        let range = if front { 0..lp::entry_at(&n.lp, 0).1 } else { lp::start_before(&n.lp, n.lp.len())..n.lp.len() };
        let item = lp::entry_at(&n.lp, range.start).0.to_vec();
        n.splice(range, b"");
        n.count -= 1;
        if n.count == 0 {
            if front {
                self.nodes.pop_front();
            } else {
                self.nodes.pop_back();
            }
        }
        self.len -= 1;
        Some(item)
    }

    /// The node holding element `i` and the element's index in it.
    fn locate(&self, i: usize) -> (usize, usize) {
        debug_assert!(i < self.len);
        if i < self.len / 2 {
            let mut at = i;
            for (n, node) in self.nodes.iter().enumerate() {
                if at < node.count {
                    return (n, at);
                }
                at -= node.count;
            }
        } else {
            let mut from_end = self.len - 1 - i;
            for (n, node) in self.nodes.iter().enumerate().rev() {
                if from_end < node.count {
                    return (n, node.count - 1 - from_end);
                }
                from_end -= node.count;
            }
        }
        unreachable!("index within the list")
    }

    fn get(&self, i: usize) -> Elem<'_> {
        let (n, at) = self.locate(i);
        let node = &self.nodes[n];
        lp::entry_at(&node.lp, node.range_of(at).start).0
    }

    /// Splits node `n` if it outgrew the limit.
    fn fix(&mut self, limits: Limits, n: usize) {
        let node = &self.nodes[n];
        if !limits.fits(node.lp.len(), node.count) {
            let (a, b) = self.nodes.remove(n).expect("node").split();
            self.nodes.insert(n, b);
            self.nodes.insert(n, a);
            self.fix(limits, n + 1);
            self.fix(limits, n);
        }
    }

    fn replace(&mut self, limits: Limits, i: usize, item: &[u8]) {
        let (n, at) = self.locate(i);
        let node = &mut self.nodes[n];
        let range = node.range_of(at);
        node.splice(range, &lp::encode_all([item]));
        self.fix(limits, n);
    }

    /// Inserts `item` before element `i` (`i == len` appends).
    fn insert(&mut self, limits: Limits, i: usize, item: &[u8]) {
        if i == self.len {
            return self.push(limits, item, false);
        }
        let (n, at) = self.locate(i);
        let node = &mut self.nodes[n];
        let start = node.range_of(at).start;
        node.splice(start..start, &lp::encode_all([item]));
        node.count += 1;
        self.len += 1;
        self.fix(limits, n);
    }

    /// Keeps elements `start..end` only.
    fn keep(&mut self, limits: Limits, start: usize, end: usize) {
        let mut drop_front = start;
        while let Some(n) = self.nodes.front_mut() {
            if drop_front == 0 {
                break;
            }
            if n.count <= drop_front {
                drop_front -= n.count;
                self.nodes.pop_front();
            } else {
                let cut = lp::iter(&n.lp).nth(drop_front).expect("in node").1.start;
                n.splice(0..cut, b"");
                n.count -= drop_front;
                drop_front = 0;
            }
        }
        let mut drop_back = self.len - end;
        while let Some(n) = self.nodes.back_mut() {
            if drop_back == 0 {
                break;
            }
            if n.count <= drop_back {
                drop_back -= n.count;
                self.nodes.pop_back();
            } else {
                let cut = lp::iter_rev(&n.lp).nth(drop_back - 1).expect("in node").1.start;
                n.lp.truncate(cut);
                n.count -= drop_back;
                drop_back = 0;
            }
        }
        self.len = end - start;
        self.merge(limits);
    }

    /// Removes up to `count` elements equal to `item` (0: all), from the
    /// tail when `reverse`.
    fn remove_equal(&mut self, limits: Limits, item: &[u8], count: usize, reverse: bool) -> usize {
        let mut removed = 0;
        let order: Vec<usize> = if reverse { (0..self.nodes.len()).rev().collect() } else { (0..self.nodes.len()).collect() };
        for n in order {
            if count != 0 && removed == count {
                break;
            }
            let node = &mut self.nodes[n];
            let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
            let mut take = |e: Elem<'_>, r: std::ops::Range<usize>| {
                if e == item && (count == 0 || removed < count) {
                    ranges.push(r);
                    removed += 1;
                }
            };
            if reverse {
                lp::iter_rev(&node.lp).for_each(|(e, r)| take(e, r));
                ranges.reverse();
            } else {
                lp::iter(&node.lp).for_each(|(e, r)| take(e, r));
            }
            for r in ranges.iter().rev() {
                node.splice(r.clone(), b"");
            }
            node.count -= ranges.len();
        }
        self.len -= removed;
        if removed > 0 {
            self.nodes.retain(|n| n.count > 0);
            self.merge(limits);
        }
        removed
    }

    /// Joins neighbours that fit one node together.
    fn merge(&mut self, limits: Limits) {
        let mut out: VecDeque<Node> = VecDeque::with_capacity(self.nodes.len());
        for n in self.nodes.drain(..) {
            match out.back_mut() {
                Some(last) if limits.fits(last.lp.len() + n.lp.len(), last.count + n.count) && last.count + n.count > 1 => {
                    last.lp.extend_from_slice(&n.lp);
                    last.count += n.count;
                }
                _ => out.push_back(n),
            }
        }
        self.nodes = out;
    }

    fn iter(&self) -> impl DoubleEndedIterator<Item = Elem<'_>> {
        self.nodes.iter().flat_map(|n| Elements { lp: &n.lp, front: 0, back: n.lp.len() })
    }

    /// Elements from index `start` on.
    fn iter_from(&self, start: usize) -> impl Iterator<Item = Elem<'_>> {
        let (first, skip) = if start >= self.len { (self.nodes.len(), 0) } else { self.locate(start) };
        let begin = self.nodes.get(first).map_or(0, |n| if skip == 0 { 0 } else { n.range_of(skip).start });
        self.nodes.iter().skip(first).enumerate().flat_map(move |(k, n)| Elements { lp: &n.lp, front: if k == 0 { begin } else { 0 }, back: n.lp.len() })
    }
}

/// A listpack's elements between two byte offsets, from either end.
struct Elements<'a> {
    lp: &'a [u8],
    front: usize,
    back: usize,
}

impl<'a> Iterator for Elements<'a> {
    type Item = Elem<'a>;
    fn next(&mut self) -> Option<Elem<'a>> {
        (self.front < self.back).then(|| {
            let (item, next) = lp::entry_at(self.lp, self.front);
            self.front = next;
            item
        })
    }
}

impl DoubleEndedIterator for Elements<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        (self.front < self.back).then(|| {
            let start = lp::start_before(self.lp, self.back);
            self.back = start;
            lp::entry_at(self.lp, start).0
        })
    }
}

/// A read-only view of a list entry.
#[derive(Clone, Copy)]
pub enum ListRef<'a> {
    Listpack(&'a [u8]),
    Quick(&'a Quicklist),
}

impl<'a> ListRef<'a> {
    /// # Panics
    /// If the entry is not a list.
    pub fn of(e: EntryRef<'a>) -> ListRef<'a> {
        debug_assert_eq!(e.kind(), Kind::List);
        match e.view() {
            View::Inline(bytes) => ListRef::Listpack(bytes),
            View::Boxed(Boxed::List(q)) => ListRef::Quick(q),
            View::Boxed(_) => unreachable!("a list entry holds a list"),
        }
    }

    pub fn len(self) -> usize {
        match self {
            ListRef::Listpack(b) => lp::count(b),
            ListRef::Quick(q) => q.len(),
        }
    }

    pub fn is_empty(self) -> bool {
        match self {
            ListRef::Listpack(b) => b.is_empty(),
            ListRef::Quick(q) => q.is_empty(),
        }
    }

    pub fn get(self, i: usize) -> Option<Elem<'a>> {
        match self {
            ListRef::Listpack(b) => lp::iter(b).nth(i).map(|(e, _)| e),
            ListRef::Quick(q) => (i < q.len()).then(|| q.get(i)),
        }
    }

    /// Every element front to back.
    pub fn iter(self) -> Box<dyn DoubleEndedIterator<Item = Elem<'a>> + 'a> {
        match self {
            ListRef::Listpack(b) => Box::new(Elements { lp: b, front: 0, back: b.len() }),
            ListRef::Quick(q) => Box::new(q.iter()),
        }
    }

    /// Elements from index `start` on (LRANGE).
    pub fn iter_from(self, start: usize) -> Box<dyn Iterator<Item = Elem<'a>> + 'a> {
        match self {
            ListRef::Listpack(b) => Box::new(Elements { lp: b, front: 0, back: b.len() }.skip(start)),
            ListRef::Quick(q) => Box::new(q.iter_from(start)),
        }
    }
}

/// A new, empty list entry.
pub fn new_record(key: &[u8], meta: Meta) -> Record {
    Record::inline(key, Kind::List, b"", meta)
}

/// The list in `slot` as a quicklist, converting an inline one.
fn quick<'s>(slot: &'s mut Slot<'_>, limits: Limits) -> &'s mut Quicklist {
    if let View::Inline(bytes) = slot.entry().view() {
        let q = Quicklist::from_listpack(bytes, limits);
        slot.set_boxed(Kind::List, Box::new(Boxed::List(q)));
    }
    match slot.boxed_mut() {
        Some(Boxed::List(q)) => q,
        _ => unreachable!("a boxed list"),
    }
}

/// After an edit: an inline list past one node becomes a quicklist; a
/// quicklist down to one small node moves back inline.
fn settle(slot: &mut Slot<'_>, limits: Limits) {
    match slot.entry().view() {
        View::Inline(bytes) => {
            if !limits.fits(bytes.len(), if limits.fill < 0 { 2 } else { lp::count(bytes) }) {
                quick(slot, limits);
            }
        }
        View::Boxed(Boxed::List(q)) => {
            if q.nodes.len() <= 1 {
                let small = q.nodes.front().is_none_or(|n| limits.small(n.lp.len(), n.count));
                if small {
                    let bytes = q.nodes.front().map(|n| n.lp.clone()).unwrap_or_default();
                    slot.set_inline(Kind::List, &bytes);
                }
            }
        }
        View::Boxed(_) => unreachable!("a list"),
    }
}

/// LPUSH / RPUSH: pushes `items` in order at the head (each becomes the new
/// head) or the tail; the new length.
pub fn push<I: AsRef<[u8]>>(slot: &mut Slot<'_>, limits: Limits, items: &[I], front: bool) -> usize {
    if let View::Inline(bytes) = slot.entry().view() {
        let mut enc = Vec::new();
        if front {
            items.iter().rev().for_each(|i| lp::encode(&mut enc, i.as_ref()));
            slot.splice(0..0, &enc);
        } else {
            items.iter().for_each(|i| lp::encode(&mut enc, i.as_ref()));
            let end = bytes.len();
            slot.splice(end..end, &enc);
        }
        settle(slot, limits);
    } else {
        let q = quick(slot, limits);
        items.iter().for_each(|i| q.push(limits, i.as_ref(), front));
    }
    ListRef::of(slot.entry()).len()
}

/// Pops up to `count` elements from the head or the tail.
pub fn pop(slot: &mut Slot<'_>, limits: Limits, front: bool, count: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(count.min(1024));
    match slot.entry().view() {
        View::Inline(bytes) => {
            let range = if front {
                let mut at = 0;
                while out.len() < count && at < bytes.len() {
                    let (item, next) = lp::entry_at(bytes, at);
                    out.push(item.to_vec());
                    at = next;
                }
                0..at
            } else {
                let mut at = bytes.len();
                while out.len() < count && at > 0 {
                    let start = lp::start_before(bytes, at);
                    out.push(lp::entry_at(bytes, start).0.to_vec());
                    at = start;
                }
                at..bytes.len()
            };
            if !range.is_empty() {
                slot.splice(range, b"");
            }
        }
        View::Boxed(_) => {
            let q = quick(slot, limits);
            while out.len() < count {
                match q.pop(front) {
                    Some(item) => out.push(item),
                    None => break,
                }
            }
            settle(slot, limits);
        }
    }
    out
}

/// LSET: replaces element `i` (in range).
pub fn set(slot: &mut Slot<'_>, limits: Limits, i: usize, item: &[u8]) {
    match slot.entry().view() {
        View::Inline(bytes) => {
            let r = lp::iter(bytes).nth(i).expect("index in range").1;
            slot.splice(r, &lp::encode_all([item]));
            settle(slot, limits);
        }
        View::Boxed(_) => quick(slot, limits).replace(limits, i, item),
    }
}

/// LINSERT: inserts `item` before element `i` (`i == len` appends).
pub fn insert(slot: &mut Slot<'_>, limits: Limits, i: usize, item: &[u8]) {
    match slot.entry().view() {
        View::Inline(bytes) => {
            let at = lp::iter(bytes).nth(i).map_or(bytes.len(), |(_, r)| r.start);
            slot.splice(at..at, &lp::encode_all([item]));
            settle(slot, limits);
        }
        View::Boxed(_) => quick(slot, limits).insert(limits, i, item),
    }
}

/// LTRIM: keeps elements `start..end` (an empty range empties the list);
/// a change even when it keeps everything, as Redis signals it.
pub fn keep(slot: &mut Slot<'_>, limits: Limits, start: usize, end: usize) {
    match slot.entry().view() {
        View::Inline(bytes) => {
            let from = lp::iter(bytes).nth(start).filter(|_| start < end).map(|(_, r)| r.start);
            let kept = match from {
                None => Vec::new(),
                Some(from) => {
                    let to = lp::iter(bytes).nth(end - 1).map_or(bytes.len(), |(_, r)| r.end);
                    bytes[from..to].to_vec()
                }
            };
            slot.set_inline(Kind::List, &kept);
        }
        View::Boxed(_) => {
            let q = quick(slot, limits);
            if start >= end {
                *q = Quicklist::default();
            } else {
                q.keep(limits, start, end);
            }
            settle(slot, limits);
        }
    }
}

/// LREM: removes up to `count` elements equal to `item` (0: all) from the
/// head, or from the tail when `reverse`; how many it removed.
pub fn remove(slot: &mut Slot<'_>, limits: Limits, item: &[u8], count: usize, reverse: bool) -> usize {
    match slot.entry().view() {
        View::Inline(bytes) => {
            let mut hits: Vec<std::ops::Range<usize>> = Vec::new();
            let matches = |(e, r): (Elem<'_>, std::ops::Range<usize>)| (e == item).then_some(r);
            if reverse {
                hits.extend(lp::iter_rev(bytes).filter_map(matches).take(if count == 0 { usize::MAX } else { count }));
                hits.reverse();
            } else {
                hits.extend(lp::iter(bytes).filter_map(matches).take(if count == 0 { usize::MAX } else { count }));
            }
            if hits.is_empty() {
                return 0;
            }
            let mut kept = Vec::with_capacity(bytes.len());
            let mut at = 0;
            for r in &hits {
                kept.extend_from_slice(&bytes[at..r.start]);
                at = r.end;
            }
            kept.extend_from_slice(&bytes[at..]);
            slot.set_inline(Kind::List, &kept);
            hits.len()
        }
        View::Boxed(_) => {
            if !ListRef::of(slot.entry()).iter().any(|e| e == item) {
                return 0;
            }
            let n = quick(slot, limits).remove_equal(limits, item, count, reverse);
            settle(slot, limits);
            n
        }
    }
}

/// The node limit as configured now.
pub fn limits_of(c: &crate::config::RuntimeConfig) -> Limits {
    Limits { fill: c.list_max_listpack_size.load(std::sync::atomic::Ordering::Relaxed).clamp(-5, 1 << 15) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::table::Table;

    /// Every operation on a model `Vec` and on the list, compared after
    /// each step, under several fills (so both encodings and node splits
    /// and merges are exercised).
    #[test]
    fn matches_a_vec_model_under_every_fill() {
        for fill in [-2, -1, 1, 2, 5, 128] {
            let limits = Limits { fill };
            let mut t = Table::new();
            t.insert(new_record(b"l", Meta::default()));
            let mut model: Vec<Vec<u8>> = Vec::new();
            let (mut saw_quick, mut saw_inline_after) = (0, 0);
            let mut rng = 0x9e37_79b9_7f4a_7c15u64;
            let mut next = |n: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % n.max(1)
            };
            for step in 0..4000 {
                let mut slot = t.slot(b"l").unwrap();
                let item = vec![b'a' + next(4) as u8; 1 + next(if fill == -1 { 300 } else { 40 }) as usize];
                // grow for the first half, shrink in the second
                let op = match next(9) {
                    _ if step == 3000 => 9,
                    7 | 8 if step < 2000 => 0,
                    7 | 8 => 2,
                    op => op,
                };
                match op {
                    0 | 1 => {
                        let front = next(2) == 0;
                        let n = push(&mut slot, limits, &[&item[..], b"x"], front);
                        if front {
                            model.insert(0, item.clone());
                            model.insert(0, b"x".to_vec());
                        } else {
                            model.push(item.clone());
                            model.push(b"x".to_vec());
                        }
                        assert_eq!(n, model.len());
                    }
                    2 => {
                        let front = next(2) == 0;
                        let n = next(4) as usize;
                        let got = pop(&mut slot, limits, front, n);
                        let want: Vec<Vec<u8>> = if front {
                            model.drain(..n.min(model.len())).collect()
                        } else {
                            let k = model.len().saturating_sub(n);
                            model.drain(k..).rev().collect()
                        };
                        assert_eq!(got, want, "pop, fill {fill}, step {step}");
                    }
                    3 if !model.is_empty() => {
                        let i = next(model.len() as u64) as usize;
                        set(&mut slot, limits, i, &item);
                        model[i] = item.clone();
                    }
                    4 => {
                        let i = next(model.len() as u64 + 1) as usize;
                        insert(&mut slot, limits, i, &item);
                        model.insert(i, item.clone());
                    }
                    5 if next(200) == 0 => {
                        let s = next(model.len() as u64 + 1) as usize;
                        let e = s + next((model.len() - s) as u64 + 1) as usize;
                        keep(&mut slot, limits, s, e);
                        model = model[s..e].to_vec();
                    }
                    6 => {
                        let c = next(3) as usize;
                        let rev = next(2) == 0;
                        let got = remove(&mut slot, limits, &item, c, rev);
                        let mut want = 0;
                        if rev {
                            let mut i = model.len();
                            while i > 0 && (c == 0 || want < c) {
                                i -= 1;
                                if model[i] == item {
                                    model.remove(i);
                                    want += 1;
                                }
                            }
                        } else {
                            let mut i = 0;
                            while i < model.len() && (c == 0 || want < c) {
                                if model[i] == item {
                                    model.remove(i);
                                    want += 1;
                                } else {
                                    i += 1;
                                }
                            }
                        }
                        assert_eq!(got, want, "lrem, fill {fill}, step {step}");
                    }
                    9 => {
                        keep(&mut slot, limits, 0, model.len().min(1));
                        model.truncate(1);
                    }
                    _ => {}
                }
                let l = ListRef::of(slot.entry());
                assert_eq!(l.len(), model.len(), "len, fill {fill}, step {step}");
                assert_eq!(l.iter().map(|e| e.to_vec()).collect::<Vec<_>>(), model, "fill {fill}, step {step}");
                assert_eq!(l.iter().rev().map(|e| e.to_vec()).collect::<Vec<_>>(), model.iter().rev().cloned().collect::<Vec<_>>());
                if !model.is_empty() {
                    let i = next(model.len() as u64) as usize;
                    assert_eq!(l.get(i).as_deref(), Some(&model[i][..]));
                    assert_eq!(l.iter_from(i).map(|e| e.to_vec()).collect::<Vec<_>>(), model[i..].to_vec());
                }
                match l {
                    ListRef::Quick(_) => saw_quick += 1,
                    ListRef::Listpack(_) if saw_quick > 0 => saw_inline_after += 1,
                    ListRef::Listpack(_) => {}
                }
                if let ListRef::Quick(q) = l {
                    for (bytes, count) in q.nodes() {
                        assert!(limits.fits(bytes.len(), count), "node within the fill, fill {fill}");
                        assert_eq!(lp::count(bytes), count);
                    }
                }
            }
            assert!(saw_quick > 100 && saw_inline_after > 0, "both encodings and the way back, fill {fill}: {saw_quick} {saw_inline_after}");
        }
    }
}
