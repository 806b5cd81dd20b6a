//! Streams, in Redis's own representation: an ordered map from each node's
//! master ID to a listpack of entries (Redis keeps the same listpacks in a
//! radix tree keyed by the 128-bit big-endian ID; an ordered map gives the
//! same order and the same seeks), plus the consumer groups.
//!
//! A node's listpack (headerless here, see [`super::listpack`]) starts with
//! the *master entry* `count deleted num-fields field_1 .. field_N 0` and
//! continues with entries `flags ms-diff seq-diff [num-fields] [field]
//! value .. lp-count`: the ID as the difference to the node's master ID,
//! the field names left out when they are the master's (`SAMEFIELDS`), and
//! `lp-count` the number of elements before it, so the entry can be walked
//! backwards. A deleted entry stays as a tombstone (`DELETED` flag, counted
//! in the master entry) until its node goes. New nodes start at
//! `stream-node-max-bytes` (of Redis's listpack, header included) or
//! `stream-node-max-entries`, exactly as Redis decides it, because what
//! approximate trimming (`MAXLEN ~`) removes is whole nodes: the same
//! commands leave the same entries here as in Redis. Written by hand for
//! that reason, and because DUMP then writes Redis's RDB stream encoding
//! from these bytes as they are.

use super::listpack::{self, Elem};
use std::collections::{BTreeMap, BTreeSet};

pub const FLAG_DELETED: i64 = 1;
pub const FLAG_SAMEFIELDS: i64 = 2;
/// The largest listpack Redis makes (`STREAM_LISTPACK_MAX_SIZE`).
pub const LISTPACK_MAX_SIZE: usize = 1 << 30;
/// What Redis's listpack adds around the elements: a 6-byte header and
/// the end byte.
const LP_OVERHEAD: usize = 7;
/// A group's read counter when it is not known (`SCG_INVALID_ENTRIES_READ`).
pub const INVALID_ENTRIES_READ: i64 = -1;

/// An entry ID: milliseconds and a sequence number, ordered as a pair.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The next ID (Redis's `streamIncrID`); `None` past the last.
    pub fn incr(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (u64::MAX, u64::MAX) => None,
            (ms, u64::MAX) => Some(StreamId::new(ms + 1, 0)),
            (ms, seq) => Some(StreamId::new(ms, seq + 1)),
        }
    }

    /// The previous ID (`streamDecrID`); `None` before the first.
    pub fn decr(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (0, 0) => None,
            (ms, 0) => Some(StreamId::new(ms - 1, u64::MAX)),
            (ms, seq) => Some(StreamId::new(ms, seq - 1)),
        }
    }

    /// `<ms>-<seq>` as clients see it.
    pub fn text(self) -> String {
        format!("{}-{}", self.ms, self.seq)
    }

    /// The 128-bit big-endian form (Redis's radix tree key, RDB's IDs).
    pub fn to_be(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    pub fn from_be(b: &[u8]) -> Option<StreamId> {
        let b: &[u8; 16] = b.try_into().ok()?;
        Some(StreamId::new(u64::from_be_bytes(b[..8].try_into().ok()?), u64::from_be_bytes(b[8..].try_into().ok()?)))
    }
}

/// How an ID argument was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedId {
    pub id: StreamId,
    /// False for `<ms>-*` (the sequence is to be generated).
    pub seq_given: bool,
}

/// Redis's `streamGenericParseIDOrReply`: `-` and `+` (unless `strict`),
/// `<ms>` (the sequence is `missing_seq`), `<ms>-<seq>`, and `<ms>-*` where
/// `seq_star` allows it. `None` is "Invalid stream ID".
pub fn parse_id(arg: &[u8], missing_seq: u64, strict: bool, seq_star: bool) -> Option<ParsedId> {
    if arg.len() > 127 {
        return None;
    }
    match arg {
        b"-" | b"+" if strict => return None,
        b"-" => return Some(ParsedId { id: StreamId::MIN, seq_given: true }),
        b"+" => return Some(ParsedId { id: StreamId::MAX, seq_given: true }),
        _ => {}
    }
    // C string semantics: the argument ends at a NUL
    let arg = &arg[..arg.iter().position(|&c| c == 0).unwrap_or(arg.len())];
    let (ms, seq) = match arg.iter().position(|&c| c == b'-') {
        None => (arg, None),
        Some(dash) => (&arg[..dash], Some(&arg[dash + 1..])),
    };
    let ms = crate::util::string2ull(ms)?;
    match seq {
        None => Some(ParsedId { id: StreamId::new(ms, missing_seq), seq_given: true }),
        Some(b"*") if seq_star => Some(ParsedId { id: StreamId::new(ms, 0), seq_given: false }),
        Some(s) => Some(ParsedId { id: StreamId::new(ms, crate::util::string2ull(s)?), seq_given: true }),
    }
}

/// A delivered, not yet acknowledged entry of a group.
#[derive(Clone, Debug, PartialEq)]
pub struct Nack {
    /// Unix ms of the last delivery.
    pub delivery_time: u64,
    pub delivery_count: u64,
    /// Its consumer's name (shared with the consumer's entry: no
    /// allocation per pending entry).
    pub consumer: Name,
}

/// A consumer's name, shared by its pending entries.
pub type Name = std::sync::Arc<[u8]>;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Consumer {
    pub name: Name,
    /// Unix ms of its last read or claim.
    pub seen_time: u64,
    /// The IDs pending for it (their NACKs are in the group's PEL).
    pub pel: BTreeSet<StreamId>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    /// By name, in byte order (as Redis's radix tree lists them).
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group { last_id, entries_read, pel: BTreeMap::new(), consumers: BTreeMap::new() }
    }

    /// The consumer, created (seen now) if missing; true if created.
    pub fn consumer(&mut self, name: &[u8], now: u64) -> (&mut Consumer, bool) {
        let created = !self.consumers.contains_key(name);
        let c = self.consumers.entry(name.to_vec()).or_insert_with(|| Consumer { name: name.into(), seen_time: now, pel: BTreeSet::new() });
        (c, created)
    }

    /// Hands `id` to `consumer` (delivered now, count `count`), taking it
    /// from whoever had it.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8], now: u64, count: u64) {
        if let Some(old) = self.pel.get(&id)
            && *old.consumer != *consumer
            && let Some(c) = self.consumers.get_mut(&*old.consumer)
        {
            c.pel.remove(&id);
        }
        let c = self.consumer(consumer, now).0;
        c.pel.insert(id);
        let name = c.name.clone();
        self.pel.insert(id, Nack { delivery_time: now, delivery_count: count, consumer: name });
    }

    /// Acknowledges `id`; true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(&id) else { return false };
        if let Some(c) = self.consumers.get_mut(&*nack.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Removes a consumer and its pending entries; how many it had.
    pub fn remove_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }
}

/// The master entry of a node.
#[derive(Clone, Copy)]
struct Master {
    count: i64,
    deleted: i64,
    nfields: usize,
    /// Where the master's first field starts.
    fields_at: usize,
    /// Where the first entry starts (after the master's 0).
    entries_at: usize,
}

fn master(lp: &[u8]) -> Master {
    let count = listpack::int_at(lp, 0);
    let at = listpack::next_at(lp, 0);
    let deleted = listpack::int_at(lp, at);
    let at = listpack::next_at(lp, at);
    let nfields = listpack::int_at(lp, at).max(0) as usize;
    let fields_at = listpack::next_at(lp, at);
    let mut at = fields_at;
    for _ in 0..nfields {
        at = listpack::next_at(lp, at);
    }
    Master { count, deleted, nfields, fields_at, entries_at: listpack::next_at(lp, at) }
}

/// One entry of a node as stored.
#[derive(Clone, Copy)]
struct Raw {
    /// Where its flags are.
    at: usize,
    flags: i64,
    id: StreamId,
    nfields: usize,
    /// Where its first field (or, with SAMEFIELDS, value) is.
    data_at: usize,
    /// Where the next entry starts.
    end: usize,
}

fn raw_at(lp: &[u8], at: usize, master_id: StreamId, m: &Master) -> Raw {
    let flags = listpack::int_at(lp, at);
    let p = listpack::next_at(lp, at);
    let ms = master_id.ms.wrapping_add(listpack::int_at(lp, p) as u64);
    let p = listpack::next_at(lp, p);
    let seq = master_id.seq.wrapping_add(listpack::int_at(lp, p) as u64);
    let mut p = listpack::next_at(lp, p);
    let (nfields, elems) = if flags & FLAG_SAMEFIELDS != 0 {
        (m.nfields, m.nfields)
    } else {
        let n = listpack::int_at(lp, p).max(0) as usize;
        p = listpack::next_at(lp, p);
        (n, 2 * n)
    };
    let data_at = p;
    for _ in 0..elems {
        p = listpack::next_at(lp, p);
    }
    // skip lp-count
    let end = listpack::next_at(lp, p);
    Raw { at, flags, id: StreamId::new(ms, seq), nfields, data_at, end }
}

/// The entries of one node, in order.
fn raws(lp: &[u8], master_id: StreamId) -> impl Iterator<Item = Raw> + '_ {
    let m = master(lp);
    let mut at = m.entries_at;
    std::iter::from_fn(move || {
        (at < lp.len()).then(|| {
            let r = raw_at(lp, at, master_id, &m);
            at = r.end;
            r
        })
    })
}

/// A live entry: its ID and its fields.
#[derive(Clone, Copy)]
pub struct Item<'a> {
    pub id: StreamId,
    lp: &'a [u8],
    fields_at: usize,
    data_at: usize,
    pub nfields: usize,
    same: bool,
}

impl<'a> Item<'a> {
    /// The field/value pairs, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (Elem<'a>, Elem<'a>)> + 'a {
        let (lp, same) = (self.lp, self.same);
        let (mut f, mut d) = (self.fields_at, self.data_at);
        (0..self.nfields).map(move |_| {
            let field = if same {
                let (e, next) = listpack::entry_at(lp, f);
                f = next;
                e
            } else {
                let (e, next) = listpack::entry_at(lp, d);
                d = next;
                e
            };
            let (value, next) = listpack::entry_at(lp, d);
            d = next;
            (field, value)
        })
    }
}

fn item<'a>(lp: &'a [u8], m: &Master, r: &Raw) -> Item<'a> {
    Item { id: r.id, lp, fields_at: m.fields_at, data_at: r.data_at, nfields: r.nfields, same: r.flags & FLAG_SAMEFIELDS != 0 }
}

/// Node limits (`stream-node-max-bytes`, `stream-node-max-entries`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_entries: usize,
}

/// Why XADD could not append.
#[derive(Debug, PartialEq, Eq)]
pub enum AppendError {
    /// The ID is not above the last one (Redis's EDOM).
    NotGreater,
    /// The fields and values are too big for a node (ERANGE).
    TooLarge,
}

/// How to trim (XADD's and XTRIM's options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stream {
    /// The nodes by master ID, in order (a deque, not a tree: nodes are
    /// added at the back and trimmed from the front, found by binary
    /// search, and cost 40 bytes each with no half-empty tree nodes).
    nodes: std::collections::VecDeque<(StreamId, Vec<u8>)>,
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    /// By name, in byte order.
    pub groups: BTreeMap<Vec<u8>, Group>,
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Nodes (`radix-tree-keys` in XINFO STREAM).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes, master ID and listpack elements (DUMP).
    pub fn nodes(&self) -> impl Iterator<Item = (StreamId, &[u8])> {
        self.nodes.iter().map(|(k, v)| (*k, v.as_slice()))
    }

    /// Adds a node as read from a payload (RESTORE); the caller checked
    /// it with [`validate_node`] and sets the metadata.
    pub fn push_node(&mut self, master_id: StreamId, lp: Vec<u8>) {
        debug_assert!(self.nodes.back().is_none_or(|(k, _)| *k < master_id));
        self.nodes.push_back((master_id, lp));
    }

    /// Bytes of the stream's own allocations (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        let per_node = 16 + 24 + 16;
        let mut n = self.nodes.iter().map(|(_, lp)| lp.capacity() + per_node).sum::<usize>();
        for (name, g) in &self.groups {
            n += name.len() + 128 + g.pel.len() * 80;
            n += g.consumers.iter().map(|(c, cons)| c.len() + 64 + cons.pel.len() * 24).sum::<usize>();
        }
        n
    }

    /// Appends an entry (Redis's `streamAppendItem`): `id` given (with or
    /// without its sequence) or the next one.
    pub fn append<F: AsRef<[u8]>>(&mut self, pairs: &[F], given: Option<ParsedId>, now_ms: u64, limits: Limits) -> Result<StreamId, AppendError> {
        let id = match given {
            Some(ParsedId { id, seq_given: true }) => id,
            Some(ParsedId { id, seq_given: false }) if id.ms == self.last_id.ms => {
                if self.last_id.seq == u64::MAX {
                    return Err(AppendError::NotGreater);
                }
                StreamId::new(id.ms, self.last_id.seq + 1)
            }
            Some(ParsedId { id, .. }) => id,
            None => {
                if now_ms > self.last_id.ms {
                    StreamId::new(now_ms, 0)
                } else {
                    self.last_id.incr().unwrap_or(StreamId::MIN)
                }
            }
        };
        if id <= self.last_id {
            return Err(AppendError::NotGreater);
        }
        let nfields = pairs.len() / 2;
        let total: usize = pairs.iter().map(|p| p.as_ref().len()).sum();
        if total > LISTPACK_MAX_SIZE {
            return Err(AppendError::TooLarge);
        }
        let max_bytes = if limits.max_bytes == 0 || limits.max_bytes > LISTPACK_MAX_SIZE { LISTPACK_MAX_SIZE } else { limits.max_bytes };
        // the tail node, unless it is full
        let mut tail = self.nodes.back().map(|(k, _)| *k);
        if tail.is_some() {
            let lp = &self.nodes.back().expect("tail").1;
            let m = master(lp);
            let full = lp.len() + LP_OVERHEAD + total >= max_bytes || (limits.max_entries > 0 && (m.count + m.deleted) as usize >= limits.max_entries);
            if full {
                // a closed node keeps exactly its bytes (a reallocation in
                // place, what `shrink_to_fit` may get, would keep the
                // tail's spare room)
                let lp = &mut self.nodes.back_mut().expect("tail").1;
                *lp = lp.as_slice().to_vec();
                tail = None;
            }
        }
        let (master_id, same) = match tail {
            None => {
                let mut lp = Vec::with_capacity(max_bytes.min(4096).min(64 + total * 2));
                listpack::encode_int(&mut lp, 1);
                listpack::encode_int(&mut lp, 0);
                listpack::encode_int(&mut lp, nfields as i64);
                for f in pairs.iter().step_by(2) {
                    listpack::encode(&mut lp, f.as_ref());
                }
                listpack::encode_int(&mut lp, 0);
                self.nodes.push_back((id, lp));
                (id, true)
            }
            Some(k) => {
                let lp = &mut self.nodes.back_mut().expect("tail").1;
                let m = master(lp);
                set_counts(lp, m.count + 1, m.deleted);
                let m = master(lp);
                let same =
                    m.nfields == nfields && listpack::iter(&lp[m.fields_at..]).take(nfields).zip(pairs.iter().step_by(2)).all(|((e, _), f)| e == f.as_ref());
                (k, same)
            }
        };
        let lp = &mut self.nodes.back_mut().expect("node").1;
        let flags = if same { FLAG_SAMEFIELDS } else { 0 };
        listpack::encode_int(lp, flags);
        listpack::encode_int(lp, id.ms.wrapping_sub(master_id.ms) as i64);
        listpack::encode_int(lp, id.seq.wrapping_sub(master_id.seq) as i64);
        if !same {
            listpack::encode_int(lp, nfields as i64);
        }
        for pair in pairs.chunks(2) {
            if !same {
                listpack::encode(lp, pair[0].as_ref());
            }
            listpack::encode(lp, pair[1].as_ref());
        }
        let lp_count = 3 + nfields + if same { 0 } else { nfields + 1 };
        listpack::encode_int(lp, lp_count as i64);
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(id)
    }

    /// Calls `f` with the live entries from `start` to `end` (inclusive),
    /// backwards if `rev`, until it returns false.
    pub fn scan<'a>(&'a self, start: StreamId, end: StreamId, rev: bool, mut f: impl FnMut(Item<'a>) -> bool) {
        if start > end {
            return;
        }
        if !rev {
            // the node holding `start` (the last with a master ID <= it)
            let from = self.nodes.partition_point(|(k, _)| *k <= start).saturating_sub(1);
            for (master_id, lp) in self.nodes.range(from..) {
                if *master_id > end {
                    return;
                }
                let m = master(lp);
                for r in raws(lp, *master_id) {
                    if r.id > end {
                        return;
                    }
                    if r.id >= start && r.flags & FLAG_DELETED == 0 && !f(item(lp, &m, &r)) {
                        return;
                    }
                }
            }
        } else {
            let to = self.nodes.partition_point(|(k, _)| *k <= end);
            for (master_id, lp) in self.nodes.range(..to).rev() {
                let m = master(lp);
                let entries: Vec<Raw> = raws(lp, *master_id).collect();
                for r in entries.iter().rev() {
                    if r.id < start {
                        return;
                    }
                    if r.id <= end && r.flags & FLAG_DELETED == 0 && !f(item(lp, &m, r)) {
                        return;
                    }
                }
            }
        }
    }

    /// The live entry `id`, if there is one.
    pub fn get(&self, id: StreamId) -> Option<Item<'_>> {
        let mut found = None;
        self.scan(id, id, false, |it| {
            found = Some(it);
            false
        });
        found
    }

    /// The first or last live entry's ID (`streamGetEdgeID` skipping
    /// tombstones): the extreme ID of the other end when there is none.
    pub fn edge_id(&self, first: bool) -> StreamId {
        let mut found = None;
        self.scan(StreamId::MIN, StreamId::MAX, !first, |it| {
            found = Some(it.id);
            false
        });
        found.unwrap_or(if first { StreamId::MAX } else { StreamId::MIN })
    }

    /// The first entry's ID, tombstones included (what approximate
    /// trimming propagates for MINID).
    pub fn first_stored_id(&self) -> StreamId {
        self.nodes.front().and_then(|(k, lp)| raws(lp, *k).next().map(|r| r.id)).unwrap_or(StreamId::MAX)
    }

    /// Marks `id` deleted (Redis's `streamDeleteItem`); true if it was
    /// live. A node left with no live entry goes.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some(at) = self.nodes.partition_point(|(k, _)| *k <= id).checked_sub(1) else { return false };
        let (master_id, lp) = &mut self.nodes[at];
        let master_id = *master_id;
        let Some(r) = raws(lp, master_id).find(|r| r.id == id) else { return false };
        if r.flags & FLAG_DELETED != 0 {
            return false;
        }
        set_flags(lp, r.at, r.flags | FLAG_DELETED);
        let m = master(lp);
        if m.count == 1 {
            self.nodes.remove(at);
        } else {
            set_counts(lp, m.count - 1, m.deleted + 1);
        }
        self.length -= 1;
        true
    }

    /// XDEL's bookkeeping around [`Stream::delete`].
    pub fn delete_ids(&mut self, ids: &[StreamId]) -> usize {
        let (mut deleted, mut first) = (0, false);
        for &id in ids {
            if self.delete(id) {
                first |= id == self.first_id;
                if id > self.max_deleted_id {
                    self.max_deleted_id = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first {
                self.first_id = self.edge_id(true);
            }
        }
        deleted
    }

    /// Trims from the oldest entries (Redis's `streamTrim`): whole nodes
    /// while they can go, then, unless `approx`, entries of the next node
    /// marked deleted; at most `limit` entries (0: no limit). Returns how
    /// many went.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        loop {
            if let Trim::MaxLen(max) = how
                && self.length <= max
            {
                break;
            }
            let Some((master_id, lp)) = self.nodes.front_mut() else { break };
            let master_id = *master_id;
            let m = master(lp);
            let entries = m.count as u64;
            if limit > 0 && deleted + entries > limit {
                break;
            }
            let remove_node = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => raws(lp, master_id).last().is_some_and(|r| r.id < min),
            };
            if remove_node {
                self.nodes.pop_front();
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            // mark entries of this node deleted until the condition holds
            let mut marked = 0;
            let entries_list: Vec<Raw> = raws(lp, master_id).collect();
            for r in entries_list {
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => r.id >= min,
                };
                if stop {
                    break;
                }
                if r.flags & FLAG_DELETED == 0 {
                    set_flags(lp, r.at, r.flags | FLAG_DELETED);
                    marked += 1;
                    self.length -= 1;
                }
            }
            deleted += marked;
            set_counts(lp, m.count - marked as i64, m.deleted + marked as i64);
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge_id(true);
        }
        deleted
    }

    /// Whether tombstones may lie in `start..=end` (`streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() || self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// `streamEstimateDistanceFromFirstEverEntry`: the logical read
    /// counter of `id`, or [`INVALID_ENTRIES_READ`].
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        }
        if id > self.last_id {
            return INVALID_ENTRIES_READ;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return (self.entries_added - self.length) as i64;
            }
            if id == self.first_id {
                return (self.entries_added - self.length + 1) as i64;
            }
        }
        INVALID_ENTRIES_READ
    }

    /// A group's lag (`streamReplyWithCGLag`); `None` when unknown.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_ENTRIES_READ && !self.range_has_tombstones(g.last_id, StreamId::MAX) {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let read = self.estimate_distance(g.last_id);
        (read != INVALID_ENTRIES_READ).then(|| self.entries_added as i64 - read)
    }

    /// Moves group `name`'s read position past `id`, as a delivery does.
    pub fn advance_group(&mut self, name: &[u8], id: StreamId) {
        let has_tombstones = self.range_has_tombstones(id, StreamId::MAX);
        let added = self.entries_added;
        let estimate = self.estimate_distance(id);
        let Some(g) = self.groups.get_mut(name) else { return };
        if id > g.last_id {
            if g.entries_read != INVALID_ENTRIES_READ && !has_tombstones {
                g.entries_read += 1;
            } else if added > 0 {
                g.entries_read = estimate;
            }
            g.last_id = id;
        }
    }
}

/// Rewrites a node's live and deleted counts.
fn set_counts(lp: &mut Vec<u8>, count: i64, deleted: i64) {
    let end = listpack::next_at(lp, listpack::next_at(lp, 0));
    let mut w = Vec::with_capacity(24);
    listpack::encode_int(&mut w, count);
    listpack::encode_int(&mut w, deleted);
    if w.len() == end {
        // the same size (nearly always): in place, as Redis's
        // `lpReplaceInteger`, not a move of the whole node
        lp[..end].copy_from_slice(&w);
    } else {
        lp.splice(0..end, w);
    }
}

/// Rewrites an entry's flags (small integers: always one byte and its
/// backlen, so in place).
fn set_flags(lp: &mut [u8], at: usize, flags: i64) {
    debug_assert!((0..128).contains(&flags) && lp[at] < 0x80);
    lp[at] = flags as u8;
}

/// Checks a node's listpack (elements, without Redis's header) as RESTORE
/// reads it from a payload: the master entry, every entry's shape, IDs
/// above the master's and in order, the counts; `Some((live, last ID))`.
pub fn validate_node(lp: &[u8], master_id: StreamId) -> Option<(u64, StreamId)> {
    // every element well-formed first, so the walks below cannot overrun
    if !listpack::is_valid(lp) {
        return None;
    }
    let elems: Vec<std::ops::Range<usize>> = listpack::ranges(lp).collect();
    let int = |i: usize| -> Option<i64> { elems.get(i).and_then(|r| listpack::raw_at(lp, r.start).ok()) };
    let (count, deleted, nfields) = (int(0)?, int(1)?, int(2)?);
    if count < 0 || deleted < 0 || nfields < 0 || count + deleted == 0 {
        return None;
    }
    let nfields = nfields as usize;
    let mut i = 3 + nfields;
    if int(i)? != 0 {
        return None;
    }
    i += 1;
    let (mut live, mut dead, mut last) = (0i64, 0i64, None::<StreamId>);
    while i < elems.len() {
        let start = i;
        let flags = int(i)?;
        if !(0..4).contains(&flags) {
            return None;
        }
        let ms = master_id.ms.checked_add(u64::try_from(int(i + 1)?).ok()?)?;
        let seq = master_id.seq.checked_add(u64::try_from(int(i + 2)?).ok()?)?;
        let id = StreamId::new(ms, seq);
        if last.is_some_and(|l| id <= l) || id < master_id {
            return None;
        }
        last = Some(id);
        i += 3;
        let values = if flags & FLAG_SAMEFIELDS != 0 {
            nfields
        } else {
            let n = usize::try_from(int(i)?).ok()?;
            i += 1;
            n.checked_mul(2)?
        };
        i = i.checked_add(values)?;
        if i >= elems.len() || int(i)? != (i - start) as i64 {
            return None;
        }
        i += 1;
        if flags & FLAG_DELETED != 0 {
            dead += 1;
        } else {
            live += 1;
        }
    }
    (live == count && dead == deleted).then_some((count as u64, last?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_bytes: 4096, max_entries: 100 };

    fn add(s: &mut Stream, ms: u64, pairs: &[&str]) -> StreamId {
        let pairs: Vec<&[u8]> = pairs.iter().map(|p| p.as_bytes()).collect();
        s.append(&pairs, Some(ParsedId { id: StreamId::new(ms, 0), seq_given: false }), 0, LIMITS).unwrap()
    }

    fn all(s: &Stream, rev: bool) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        s.scan(StreamId::MIN, StreamId::MAX, rev, |it| {
            out.push((
                it.id.text(),
                it.pairs().flat_map(|(f, v)| [String::from_utf8_lossy(&f).into_owned(), String::from_utf8_lossy(&v).into_owned()]).collect(),
            ));
            true
        });
        out
    }

    #[test]
    fn ids_parse_as_redis_reads_them() {
        let p = |a: &str| parse_id(a.as_bytes(), 7, false, true).map(|p| (p.id.text(), p.seq_given));
        assert_eq!(p("5"), Some(("5-7".into(), true)));
        assert_eq!(p("5-3"), Some(("5-3".into(), true)));
        assert_eq!(p("5-*"), Some(("5-0".into(), false)));
        assert_eq!(p("-"), Some(("0-0".into(), true)));
        assert_eq!(p("+"), Some((StreamId::MAX.text(), true)));
        // as C's strtoull reads them, when the strict form fails
        assert_eq!(p(" 5"), Some(("5-7".into(), true)));
        assert_eq!(p("+5-05"), Some(("5-5".into(), true)));
        assert_eq!(p("1--05"), Some((format!("1-{}", u64::MAX - 4), true)));
        for bad in ["", "-1", "a", "5-", "5-x", "5--1", "18446744073709551616", "5 ", "5-3-1"] {
            assert_eq!(p(bad), None, "{bad}");
        }
        assert_eq!(parse_id(b"-", 0, true, false), None);
        assert_eq!(parse_id(b"1-*", 0, false, false), None);
        assert_eq!(StreamId::new(1, u64::MAX).incr(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.incr(), None);
        assert_eq!(StreamId::new(2, 0).decr(), Some(StreamId::new(1, u64::MAX)));
    }

    #[test]
    fn entries_compress_fields_and_walk_both_ways() {
        let mut s = Stream::new();
        add(&mut s, 1, &["a", "1", "b", "2"]);
        add(&mut s, 1, &["a", "3", "b", "4"]);
        add(&mut s, 2, &["x", "5"]);
        assert_eq!(s.length, 3);
        assert_eq!(s.node_count(), 1);
        let fwd = all(&s, false);
        assert_eq!(fwd[1], ("1-1".into(), vec!["a".into(), "3".into(), "b".into(), "4".into()]));
        assert_eq!(fwd[2], ("2-0".into(), vec!["x".into(), "5".into()]));
        let mut rev = all(&s, true);
        rev.reverse();
        assert_eq!(fwd, rev);
        assert!(validate_node(&s.nodes[0].1, StreamId::new(1, 0)).is_some());
    }

    #[test]
    fn nodes_split_deletes_and_trims_as_redis() {
        let mut s = Stream::new();
        for i in 1..=250 {
            add(&mut s, i, &["f", "v"]);
        }
        assert_eq!(s.node_count(), 3);
        assert!(s.delete(StreamId::new(5, 0)));
        assert!(!s.delete(StreamId::new(5, 0)));
        assert_eq!(s.length, 249);
        assert!(s.get(StreamId::new(5, 0)).is_none());
        // approximate: whole nodes only
        assert_eq!(s.trim(Trim::MaxLen(200), true, 0), 0);
        assert_eq!(s.trim(Trim::MaxLen(150), true, 0), 99);
        assert_eq!(s.length, 150);
        assert_eq!(s.trim(Trim::MaxLen(120), true, 0), 0);
        assert_eq!(s.trim(Trim::MaxLen(120), false, 0), 30);
        assert_eq!(s.first_id, StreamId::new(131, 0));
        assert_eq!(s.trim(Trim::MinId(StreamId::new(240, 0)), false, 0), 109);
        assert_eq!(all(&s, false).len(), 11);
        for (k, lp) in &s.nodes {
            assert!(validate_node(lp, *k).is_some());
        }
        assert_eq!(s.delete_ids(&(240..=250).map(|i| StreamId::new(i, 0)).collect::<Vec<_>>()), 11);
        assert_eq!((s.length, s.node_count(), s.first_id), (0, 0, StreamId::MIN));
    }
}
