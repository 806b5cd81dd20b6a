//! The order of a large sorted set: an order-statistics B+tree of
//! `(score, member)` pairs, so that rank, select (element at a rank) and
//! every range lookup take O(log n), and a range of k elements O(log n + k).
//!
//! Redis keeps a skiplist with spans for this; a B+tree with packed leaves
//! does the same work with fewer cache misses and far less memory: a leaf
//! is one byte run of entries `[score: f64 LE][member length: LEB128]
//! [member]` (at most [`LEAF_ENTRIES`] of them, or [`LEAF_BYTES`] bytes
//! when members are long), so an element costs its bytes plus nine, where
//! a skiplist node costs about 48 bytes and a pointer. Inner nodes hold
//! their children's element counts (the order statistics) and separator
//! keys: `seps[i]` is a lower bound for every key under `children[i + 1]`
//! and above every key under `children[i]`; separators change only when
//! nodes split or merge.
//!
//! Written by hand: no crate offers an order-statistics tree over packed
//! byte keys with a float-then-bytes order. The member to score map is the
//! keyspace's table ([`super::zset`]); this tree only orders.

use std::cmp::Ordering;

/// A leaf splits past this many entries.
const LEAF_ENTRIES: usize = 64;
/// ... or past this many bytes (when it holds two entries at least).
const LEAF_BYTES: usize = 2048;
/// An inner node splits past this many children.
const FANOUT: usize = 48;

/// The order of elements: by score, then by member bytes (Redis's).
pub fn cmp(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    match s1.partial_cmp(&s2) {
        Some(Ordering::Equal) | None => m1.cmp(m2),
        Some(o) => o,
    }
}

/// A separator key: a lower bound of the keys right of it.
type Sep = (f64, Box<[u8]>);

#[derive(Clone, Default)]
pub struct Tree {
    root: Node,
}

#[derive(Clone)]
enum Node {
    Leaf(Box<Leaf>),
    Inner(Box<Inner>),
}

impl Default for Node {
    fn default() -> Node {
        Node::Leaf(Box::default())
    }
}

#[derive(Clone, Default)]
struct Leaf {
    n: usize,
    bytes: Vec<u8>,
}

#[derive(Clone)]
struct Inner {
    total: usize,
    children: Vec<Node>,
    counts: Vec<usize>,
    seps: Vec<Sep>,
}

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// The entry at `at`: its score, member and where the next one starts.
fn entry(bytes: &[u8], at: usize) -> (f64, &[u8], usize) {
    let score = f64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let (mut len, mut shift, mut i) = (0usize, 0, at + 8);
    loop {
        let b = bytes[i];
        len |= usize::from(b & 0x7f) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    (score, &bytes[i..i + len], i + len)
}

fn encode(score: f64, member: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 2 + member.len());
    out.extend_from_slice(&score.to_le_bytes());
    put_len(&mut out, member.len());
    out.extend_from_slice(member);
    out
}

impl Leaf {
    fn iter(&self) -> impl Iterator<Item = (f64, &[u8], usize)> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            (at < self.bytes.len()).then(|| {
                let (s, m, next) = entry(&self.bytes, at);
                let start = at;
                at = next;
                (s, m, start)
            })
        })
    }

    /// The index and byte offset of the first entry not below the key,
    /// and whether it is the key.
    fn seek(&self, score: f64, member: &[u8]) -> (usize, usize, bool) {
        for (i, (s, m, at)) in self.iter().enumerate() {
            match cmp(s, m, score, member) {
                Ordering::Less => {}
                o => return (i, at, o == Ordering::Equal),
            }
        }
        (self.n, self.bytes.len(), false)
    }

    fn too_big(&self) -> bool {
        self.n > LEAF_ENTRIES || (self.bytes.len() > LEAF_BYTES && self.n >= 2)
    }

    fn too_small(&self) -> bool {
        self.n < LEAF_ENTRIES / 4 && self.bytes.len() < LEAF_BYTES / 4
    }

    /// Splits off the upper half: `(its first key, it)`.
    fn split(&mut self) -> (Sep, Leaf) {
        let half = self.n / 2;
        let (_, _, at) = self.iter().nth(half).expect("a middle entry");
        let right = Leaf { n: self.n - half, bytes: self.bytes[at..].to_vec() };
        self.bytes.truncate(at);
        self.bytes.shrink_to_fit();
        self.n = half;
        let (s, m, _) = entry(&right.bytes, 0);
        ((s, m.into()), right)
    }
}

impl Node {
    fn count(&self) -> usize {
        match self {
            Node::Leaf(l) => l.n,
            Node::Inner(i) => i.total,
        }
    }

    fn too_small(&self) -> bool {
        match self {
            Node::Leaf(l) => l.too_small(),
            Node::Inner(i) => i.children.len() < FANOUT / 4,
        }
    }

    /// Inserts a key known to be absent; a split hands back the new right
    /// sibling and its separator.
    fn insert(&mut self, score: f64, member: &[u8]) -> Option<(Sep, Node)> {
        match self {
            Node::Leaf(l) => {
                let (_, at, found) = l.seek(score, member);
                debug_assert!(!found, "inserting a present key");
                let enc = encode(score, member);
                if l.bytes.capacity() < l.bytes.len() + enc.len() {
                    l.bytes.reserve_exact(enc.len().max(l.bytes.len() / 4));
                }
                l.bytes.splice(at..at, enc);
                l.n += 1;
                if l.too_big() {
                    let (sep, right) = l.split();
                    return Some((sep, Node::Leaf(Box::new(right))));
                }
                None
            }
            Node::Inner(inner) => {
                let i = inner.child_for(score, member);
                inner.total += 1;
                inner.counts[i] += 1;
                if let Some((sep, right)) = inner.children[i].insert(score, member) {
                    inner.counts[i] = inner.children[i].count();
                    inner.counts.insert(i + 1, right.count());
                    inner.children.insert(i + 1, right);
                    inner.seps.insert(i, sep);
                    if inner.children.len() > FANOUT {
                        let (sep, right) = inner.split();
                        return Some((sep, Node::Inner(Box::new(right))));
                    }
                }
                None
            }
        }
    }

    fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        match self {
            Node::Leaf(l) => {
                let (_, at, found) = l.seek(score, member);
                if found {
                    let (_, _, next) = entry(&l.bytes, at);
                    l.bytes.drain(at..next);
                    l.n -= 1;
                    if l.bytes.capacity() > 2 * l.bytes.len() + 64 {
                        l.bytes.shrink_to_fit();
                    }
                }
                found
            }
            Node::Inner(inner) => {
                let i = inner.child_for(score, member);
                if !inner.children[i].remove(score, member) {
                    return false;
                }
                inner.total -= 1;
                inner.counts[i] -= 1;
                if inner.children[i].too_small() && inner.children.len() > 1 {
                    inner.rebalance(if i + 1 < inner.children.len() { i } else { i - 1 });
                }
                true
            }
        }
    }
}

impl Inner {
    /// The child whose range holds the key.
    fn child_for(&self, score: f64, member: &[u8]) -> usize {
        self.seps.partition_point(|(s, m)| cmp(*s, m, score, member) != Ordering::Greater)
    }

    fn split(&mut self) -> (Sep, Inner) {
        let half = self.children.len() / 2;
        let children = self.children.split_off(half);
        let counts = self.counts.split_off(half);
        let mut seps = self.seps.split_off(half - 1);
        let sep = seps.remove(0);
        let total = counts.iter().sum();
        self.total -= total;
        (sep, Inner { total, children, counts, seps })
    }

    /// Merges children `i` and `i + 1` (one of them too small), splitting
    /// the result again if it is too big: a merge or a rebalance.
    fn rebalance(&mut self, i: usize) {
        let right = self.children.remove(i + 1);
        self.counts.remove(i + 1);
        let sep = self.seps.remove(i);
        match (&mut self.children[i], right) {
            (Node::Leaf(l), Node::Leaf(r)) => {
                l.bytes.extend_from_slice(&r.bytes);
                l.n += r.n;
                if l.too_big() {
                    let (sep, right) = l.split();
                    self.counts[i] = l.n;
                    self.counts.insert(i + 1, right.n);
                    self.children.insert(i + 1, Node::Leaf(Box::new(right)));
                    self.seps.insert(i, sep);
                    return;
                }
            }
            (Node::Inner(l), Node::Inner(r)) => {
                let r = *r;
                l.seps.push(sep);
                l.seps.extend(r.seps);
                l.children.extend(r.children);
                l.counts.extend(r.counts);
                l.total += r.total;
                if l.children.len() > FANOUT {
                    let (sep, right) = l.split();
                    self.counts[i] = l.total;
                    self.counts.insert(i + 1, right.total);
                    self.children.insert(i + 1, Node::Inner(Box::new(right)));
                    self.seps.insert(i, sep);
                    return;
                }
            }
            _ => unreachable!("siblings are of one height"),
        }
        self.counts[i] = self.children[i].count();
    }
}

impl Tree {
    pub fn new() -> Tree {
        Tree::default()
    }

    pub fn len(&self) -> usize {
        self.root.count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a key that is not in the tree.
    pub fn insert(&mut self, score: f64, member: &[u8]) {
        if let Some((sep, right)) = self.root.insert(score, member) {
            let left = std::mem::take(&mut self.root);
            let counts = vec![left.count(), right.count()];
            self.root = Node::Inner(Box::new(Inner { total: counts[0] + counts[1], children: vec![left, right], counts, seps: vec![sep] }));
        }
    }

    /// Removes a key; false if it was not there.
    pub fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        let found = self.root.remove(score, member);
        // a root left with one child gives way to it
        while let Node::Inner(inner) = &mut self.root {
            if inner.children.len() > 1 {
                break;
            }
            let child = inner.children.pop().expect("one child");
            self.root = child;
        }
        found
    }

    /// How many elements satisfy `below`, which must hold for a prefix of
    /// the order (all elements under a bound): the rank the bound starts at.
    pub fn count_below(&self, below: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut node = &self.root;
        let mut n = 0;
        loop {
            match node {
                Node::Leaf(l) => return n + l.iter().take_while(|(s, m, _)| below(*s, m)).count(),
                Node::Inner(inner) => {
                    let t = inner.seps.partition_point(|(s, m)| below(*s, m));
                    n += inner.counts[..t].iter().sum::<usize>();
                    node = &inner.children[t];
                }
            }
        }
    }

    /// The 0-based rank of a key known to be present.
    pub fn rank(&self, score: f64, member: &[u8]) -> usize {
        self.count_below(|s, m| cmp(s, m, score, member) == Ordering::Less)
    }

    /// The element at `rank`.
    pub fn get(&self, mut rank: usize) -> Option<(f64, &[u8])> {
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(l) => return l.iter().nth(rank).map(|(s, m, _)| (s, m)),
                Node::Inner(inner) => {
                    let mut i = 0;
                    while i + 1 < inner.counts.len() && rank >= inner.counts[i] {
                        rank -= inner.counts[i];
                        i += 1;
                    }
                    node = &inner.children[i];
                }
            }
        }
    }

    /// Visits the elements of ranks `from..to` in order (`rev`: from the
    /// highest of them down).
    pub fn visit<'a>(&'a self, from: usize, to: usize, rev: bool, f: &mut impl FnMut(f64, &'a [u8])) {
        visit(&self.root, from, to.min(self.len()), rev, f);
    }
}

fn visit<'a>(node: &'a Node, from: usize, to: usize, rev: bool, f: &mut impl FnMut(f64, &'a [u8])) {
    if from >= to {
        return;
    }
    match node {
        Node::Leaf(l) => {
            let it = l.iter().skip(from).take(to - from);
            if rev {
                let v: Vec<(f64, &[u8])> = it.map(|(s, m, _)| (s, m)).collect();
                v.into_iter().rev().for_each(|(s, m)| f(s, m));
            } else {
                it.for_each(|(s, m, _)| f(s, m));
            }
        }
        Node::Inner(inner) => {
            let k = inner.children.len();
            if rev {
                let mut end = inner.total;
                for i in (0..k).rev() {
                    let c = inner.counts[i];
                    let b = end - c;
                    if b < to && end > from {
                        visit(&inner.children[i], from.saturating_sub(b), (to - b).min(c), rev, f);
                    }
                    if b <= from {
                        break;
                    }
                    end = b;
                }
            } else {
                let mut b = 0;
                for i in 0..k {
                    let c = inner.counts[i];
                    if b + c > from && b < to {
                        visit(&inner.children[i], from.saturating_sub(b), (to - b).min(c), rev, f);
                    }
                    b += c;
                    if b >= to {
                        break;
                    }
                }
            }
        }
    }
}

impl Tree {
    /// Bytes held by the tree's allocations (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        fn node(n: &Node) -> usize {
            match n {
                Node::Leaf(l) => std::mem::size_of::<Leaf>() + l.bytes.capacity(),
                Node::Inner(i) => {
                    std::mem::size_of::<Inner>()
                        + i.children.capacity() * std::mem::size_of::<Node>()
                        + i.counts.capacity() * 8
                        + i.seps.iter().map(|(_, m)| 24 + m.len()).sum::<usize>()
                        + i.children.iter().map(node).sum::<usize>()
                }
            }
        }
        node(&self.root)
    }

    /// Checks the invariants (tests and fuzzing): counts, order, separator
    /// bounds, and that no node but the root is empty.
    pub fn check(&self) {
        fn walk(n: &Node, lo: Option<(f64, &[u8])>, hi: Option<(f64, &[u8])>, root: bool) -> usize {
            match n {
                Node::Leaf(l) => {
                    let items: Vec<(f64, &[u8])> = l.iter().map(|(s, m, _)| (s, m)).collect();
                    assert_eq!(items.len(), l.n);
                    assert!(root || l.n > 0, "an empty leaf");
                    for w in items.windows(2) {
                        assert_eq!(cmp(w[0].0, w[0].1, w[1].0, w[1].1), Ordering::Less);
                    }
                    for (s, m) in &items {
                        assert!(lo.is_none_or(|(ls, lm)| cmp(*s, m, ls, lm) != Ordering::Less));
                        assert!(hi.is_none_or(|(hs, hm)| cmp(*s, m, hs, hm) == Ordering::Less));
                    }
                    l.n
                }
                Node::Inner(i) => {
                    assert_eq!(i.children.len(), i.seps.len() + 1);
                    assert!(i.children.len() >= 2 || !root);
                    let mut total = 0;
                    for (k, c) in i.children.iter().enumerate() {
                        let clo = if k == 0 { lo } else { Some((i.seps[k - 1].0, &i.seps[k - 1].1[..])) };
                        let chi = if k == i.seps.len() { hi } else { Some((i.seps[k].0, &i.seps[k].1[..])) };
                        let n = walk(c, clo, chi, false);
                        assert_eq!(n, i.counts[k]);
                        total += n;
                    }
                    assert_eq!(total, i.total);
                    total
                }
            }
        }
        walk(&self.root, None, None, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[derive(PartialEq)]
    struct K(f64, Vec<u8>);
    impl Eq for K {}
    impl PartialOrd for K {
        fn partial_cmp(&self, o: &K) -> Option<Ordering> {
            Some(std::cmp::Ord::cmp(self, o))
        }
    }
    impl Ord for K {
        fn cmp(&self, o: &K) -> Ordering {
            cmp(self.0, &self.1, o.0, &o.1)
        }
    }

    #[test]
    fn agrees_with_a_btreeset_under_random_edits() {
        let mut t = Tree::new();
        let mut model = BTreeSet::new();
        for step in 0..60_000u64 {
            let r = crate::util::random_u64();
            let score = (r % 50) as f64 - 25.0;
            let len = if r.is_multiple_of(97) { 300 } else { (r >> 8) as usize % 12 };
            let member: Vec<u8> = (0..len).map(|i| b'a' + ((r >> (i % 8 * 4)) % 26) as u8).collect();
            // grow for the first half, then shrink
            let add = (r >> 40) % 10 < if step < 30_000 { 7 } else { 3 };
            let k = K(score, member.clone());
            if add && !model.contains(&k) {
                t.insert(score, &member);
                model.insert(k);
            } else if !add {
                let present = model.remove(&k);
                assert_eq!(t.remove(score, &member), present);
            }
            if step % 5000 == 0 {
                t.check();
            }
        }
        t.check();
        assert_eq!(t.len(), model.len());
        let all: Vec<(f64, Vec<u8>)> = model.iter().map(|k| (k.0, k.1.clone())).collect();
        for (rank, (s, m)) in all.iter().enumerate().step_by(7) {
            assert_eq!(t.rank(*s, m), rank);
            assert_eq!(t.get(rank), Some((*s, &m[..])));
        }
        let mut seen = Vec::new();
        t.visit(10, 200, false, &mut |s, m| seen.push((s, m.to_vec())));
        assert_eq!(seen, all[10..200.min(all.len())]);
        let mut back = Vec::new();
        t.visit(10, 200, true, &mut |s, m| back.push((s, m.to_vec())));
        back.reverse();
        assert_eq!(back, seen);
        assert_eq!(t.count_below(|s, _| s < 0.0), all.iter().filter(|(s, _)| *s < 0.0).count());
        // drain it
        for (s, m) in &all {
            assert!(t.remove(*s, m));
        }
        t.check();
        assert!(t.is_empty());
    }
}
