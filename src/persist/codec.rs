//! Redis's serialization of values (RDB object encodings), shared by
//! DUMP / RESTORE payloads, RDB files and the AOF's RDB preamble.
//!
//! A payload is Redis's RDB encoding of one value followed by a 2-byte RDB
//! version (little-endian) and a CRC64 (Jones polynomial, little-endian) of
//! everything before it. Strings are written as Redis 7.0 writes them,
//! except that values longer than 20 bytes are stored as they are rather
//! than LZF-compressed (any Redis reads that back); RESTORE reads every
//! string encoding Redis writes, LZF included. Hashes are written as
//! `RDB_TYPE_HASH` (a count and field/value strings: every Redis version
//! reads it); RESTORE also reads what Redis 7.0 writes for small hashes
//! (`RDB_TYPE_HASH_LISTPACK`) and older versions' ziplists and zipmaps'
//! successor (`RDB_TYPE_HASH_ZIPLIST`), by the readers of Redis's
//! listpack and ziplist formats at the end of this file. Lists are written
//! as `RDB_TYPE_LIST` (a count and element strings; every Redis reads it);
//! RESTORE also reads Redis 7.0's quicklists of listpacks
//! (`RDB_TYPE_LIST_QUICKLIST_2`, plain and packed nodes), 3.2-6.2's
//! quicklists of ziplists and older ziplists. Sorted sets are written as
//! `RDB_TYPE_ZSET_2` (a count, then each member and its score as a binary
//! double, highest first, as Redis writes a skiplist); RESTORE also reads
//! 7.0's listpacks, older ziplists and the text-score `RDB_TYPE_ZSET`, and
//! picks the encoding as Redis's loader does.

use crate::store::Entry;

/// The RDB version written: Redis 7.0's, so that 7.0 accepts our payloads.
pub const RDB_VERSION: u16 = 10;
/// The newest RDB version read. Newer Redis (7.2: 11, 7.4 and 8: 12) and
/// Valkey did not change how strings are encoded.
pub const RDB_VERSION_READ: u16 = 12;
const RDB_TYPE_STRING: u8 = 0;
const RDB_TYPE_LIST: u8 = 1;
const RDB_TYPE_SET: u8 = 2;
const RDB_TYPE_HASH: u8 = 4;
const RDB_TYPE_SET_INTSET: u8 = 11;
const RDB_TYPE_LIST_ZIPLIST: u8 = 10;
const RDB_TYPE_LIST_QUICKLIST: u8 = 14;
const RDB_TYPE_LIST_QUICKLIST_2: u8 = 18;
const QUICKLIST_NODE_PLAIN: u64 = 1;
const QUICKLIST_NODE_PACKED: u64 = 2;
const RDB_TYPE_ZSET: u8 = 3;
const RDB_TYPE_ZSET_2: u8 = 5;
const RDB_TYPE_ZSET_ZIPLIST: u8 = 12;
const RDB_TYPE_ZSET_LISTPACK: u8 = 17;
const RDB_TYPE_HASH_ZIPLIST: u8 = 13;
const RDB_TYPE_HASH_LISTPACK: u8 = 16;
const RDB_TYPE_STREAM_LISTPACKS: u8 = 15;
const RDB_TYPE_STREAM_LISTPACKS_2: u8 = 19;
/// Redis 7.2 on.
const RDB_TYPE_SET_LISTPACK: u8 = 20;
const RDB_TYPE_STREAM_LISTPACKS_3: u8 = 21;
/// Redis 2.4's small hashes.
const RDB_TYPE_HASH_ZIPMAP: u8 = 9;
/// The highest type Redis (7.4, 8) knows: 22 to 25 are hashes with field
/// expiry, which shardis has not.
const RDB_TYPE_MAX: u8 = 25;

/// A value as a payload carries it.
#[derive(Debug, PartialEq)]
pub enum Value {
    String(Vec<u8>),
    List(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    Set(Vec<Vec<u8>>),
    /// Redis's intset blob (an 8-byte header, then the sorted members).
    IntSet(Vec<u8>),
    /// Members and scores; `packed` when the payload held a listpack or a
    /// ziplist (Redis then keeps it compact by its count alone).
    ZSet {
        elements: Vec<(Vec<u8>, f64)>,
        packed: bool,
    },
    /// A stream as it is stored: Redis's node listpacks are ours.
    Stream(Box<crate::store::stream::Stream>),
}

/// The DUMP payload of an entry.
pub fn payload_of(e: Entry<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    write_object(e, None, &mut out);
    finish_payload(out)
}

/// Appends an entry's value as Redis's RDB object (its type byte, then
/// its encoding), as DUMP and RDB files hold it: straight from the store,
/// nothing copied out first. With a `key`, it goes between the type and
/// the value, as an RDB file's key-value pair holds it.
pub fn write_object(e: Entry<'_>, key: Option<&[u8]>, out: &mut Vec<u8>) {
    let head = |t: u8, out: &mut Vec<u8>| {
        out.push(t);
        if let Some(k) = key {
            encode_string(k, out);
        }
    };
    if let Ok(s) = e.stream() {
        head(RDB_TYPE_STREAM_LISTPACKS_2, out);
        return write_stream(s, out);
    }
    if let Ok(l) = e.list() {
        head(RDB_TYPE_LIST, out);
        encode_len(l.len() as u64, out);
        l.iter().for_each(|i| encode_string(&i, out));
        return;
    }
    if let Ok(z) = e.zset() {
        head(RDB_TYPE_ZSET_2, out);
        encode_len(z.len() as u64, out);
        // highest first, as Redis walks its skiplist from the tail
        z.range(0, usize::MAX, true, |m, s| {
            encode_string(m, out);
            out.extend_from_slice(&s.to_le_bytes());
        });
        return;
    }
    if let Ok(s) = e.set() {
        match s {
            // an intset as Redis writes it: its blob, byte for byte
            crate::store::set::SetRef::Ints(i) => {
                head(RDB_TYPE_SET_INTSET, out);
                encode_string(&crate::store::set::intset_blob(i), out);
            }
            _ => {
                head(RDB_TYPE_SET, out);
                encode_len(s.len() as u64, out);
                s.for_each(|m| encode_string(&m, out));
            }
        }
        return;
    }
    match e.hash() {
        Ok(h) => {
            head(RDB_TYPE_HASH, out);
            encode_len(h.len() as u64, out);
            h.for_each(|f, v| {
                encode_string(&f, out);
                encode_string(&v, out);
            });
        }
        Err(_) => {
            head(RDB_TYPE_STRING, out);
            encode_string(e.value, out);
        }
    }
}

/// The DUMP payload of a value.
pub fn encode_payload(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match v {
        Value::String(s) => {
            out.push(RDB_TYPE_STRING);
            encode_string(s, &mut out);
        }
        Value::List(items) => {
            out.push(RDB_TYPE_LIST);
            encode_len(items.len() as u64, &mut out);
            for i in items {
                encode_string(i, &mut out);
            }
        }
        Value::Hash(pairs) => {
            out.push(RDB_TYPE_HASH);
            encode_len(pairs.len() as u64, &mut out);
            for (f, v) in pairs {
                encode_string(f, &mut out);
                encode_string(v, &mut out);
            }
        }
        Value::Set(members) => {
            out.push(RDB_TYPE_SET);
            encode_len(members.len() as u64, &mut out);
            for m in members {
                encode_string(m, &mut out);
            }
        }
        Value::IntSet(blob) => {
            out.push(RDB_TYPE_SET_INTSET);
            encode_string(blob, &mut out);
        }
        Value::Stream(st) => {
            out.push(RDB_TYPE_STREAM_LISTPACKS_2);
            write_stream(st, &mut out);
            return finish_payload(out);
        }
        Value::ZSet { elements, .. } => {
            out.push(RDB_TYPE_ZSET_2);
            encode_len(elements.len() as u64, &mut out);
            // highest first, as Redis walks its skiplist from the tail
            for (m, s) in elements.iter().rev() {
                encode_string(m, &mut out);
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Appends the footer (RDB version, CRC64) to a payload body.
fn finish_payload(mut out: Vec<u8>) -> Vec<u8> {
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A stream as Redis 7.0 writes it (`RDB_TYPE_STREAM_LISTPACKS_2`, after
/// its type byte): each node's master ID and listpack (with Redis's
/// header), the metadata, and each group with its pending entries and
/// consumers.
fn write_stream(s: &crate::store::stream::Stream, out: &mut Vec<u8>) {
    encode_len(s.node_count() as u64, out);
    for (master_id, lp) in s.nodes() {
        encode_string(&master_id.to_be(), out);
        let count = crate::store::listpack::count(lp);
        let mut blob = Vec::with_capacity(lp.len() + 7);
        blob.extend_from_slice(&((lp.len() + 7) as u32).to_le_bytes());
        blob.extend_from_slice(&(count.min(65535) as u16).to_le_bytes());
        blob.extend_from_slice(lp);
        blob.push(0xff);
        encode_len(blob.len() as u64, out);
        out.extend_from_slice(&blob);
    }
    for n in [s.length, s.last_id.ms, s.last_id.seq, s.first_id.ms, s.first_id.seq, s.max_deleted_id.ms, s.max_deleted_id.seq, s.entries_added] {
        encode_len(n, out);
    }
    encode_len(s.groups.len() as u64, out);
    for (name, g) in &s.groups {
        encode_string(name, out);
        encode_len(g.last_id.ms, out);
        encode_len(g.last_id.seq, out);
        encode_len(g.entries_read as u64, out);
        encode_len(g.pel.len() as u64, out);
        for (id, n) in &g.pel {
            out.extend_from_slice(&id.to_be());
            out.extend_from_slice(&n.delivery_time.to_le_bytes());
            encode_len(n.delivery_count, out);
        }
        encode_len(g.consumers.len() as u64, out);
        for (cname, c) in &g.consumers {
            encode_string(cname, out);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            encode_len(c.pel.len() as u64, out);
            for id in &c.pel {
                out.extend_from_slice(&id.to_be());
            }
        }
    }
}

/// Reads a stream payload's body (after its type byte), checking what the
/// store relies on: each node's listpack and entries (IDs in order, counts
/// that add up to the length, none past the last ID), every pending entry
/// owned by exactly one consumer of its group.
fn decode_stream(b: &[u8], pos: &mut usize, version: u8) -> Option<crate::store::stream::Stream> {
    let v2 = version >= 2;
    use crate::store::stream::{Consumer, Group, Nack, Stream, StreamId, validate_node};
    let len = |pos: &mut usize| decode_len(b, pos).and_then(|l| l.ok());
    let mut s = Stream::new();
    let nodes = len(pos)?;
    let (mut live, mut max_id, mut prev_last) = (0u64, StreamId::MIN, None::<StreamId>);
    for _ in 0..nodes {
        let key = decode_string(b, pos)?;
        let master_id = StreamId::from_be(&key)?;
        let blob = decode_string(b, pos)?;
        redis_listpack(&blob)?;
        let lp = blob[6..blob.len() - 1].to_vec();
        let (n, last) = validate_node(&lp, master_id)?;
        // nodes in order, none overlapping the one before
        if prev_last.is_some_and(|p| master_id <= p) {
            return None;
        }
        prev_last = Some(last);
        live += n;
        max_id = max_id.max(last);
        s.push_node(master_id, lp);
    }
    s.length = len(pos)?;
    s.last_id = StreamId::new(len(pos)?, len(pos)?);
    if v2 {
        s.first_id = StreamId::new(len(pos)?, len(pos)?);
        s.max_deleted_id = StreamId::new(len(pos)?, len(pos)?);
        s.entries_added = len(pos)?;
    } else {
        s.entries_added = s.length;
        s.first_id = if s.length == 0 { StreamId::MIN } else { s.edge_id(true) };
    }
    if s.length != live || max_id > s.last_id {
        return None;
    }
    let groups = len(pos)?;
    for _ in 0..groups {
        let name = decode_string(b, pos)?;
        let last_id = StreamId::new(len(pos)?, len(pos)?);
        let entries_read = if v2 { len(pos)? as i64 } else { s.estimate_distance(last_id) };
        let mut g = Group::new(last_id, entries_read);
        let pel = len(pos)?;
        for _ in 0..pel {
            let id = StreamId::from_be(b.get(*pos..*pos + 16)?)?;
            let time = u64::from_le_bytes(b.get(*pos + 16..*pos + 24)?.try_into().ok()?);
            *pos += 24;
            let count = len(pos)?;
            if g.pel.insert(id, Nack { delivery_time: time, delivery_count: count, consumer: Default::default() }).is_some() {
                return None;
            }
        }
        let consumers = len(pos)?;
        let mut owned = 0usize;
        let mut owned_ids = std::collections::HashSet::new();
        for _ in 0..consumers {
            let cname = decode_string(b, pos)?;
            let seen_time = u64::from_le_bytes(b.get(*pos..*pos + 8)?.try_into().ok()?);
            *pos += 8;
            if version >= 3 {
                // Redis 7.2's active-time, which 7.0 (and shardis) has not
                b.get(*pos..*pos + 8)?;
                *pos += 8;
            }
            let name: crate::store::stream::Name = cname.as_slice().into();
            let mut c = Consumer { name: name.clone(), seen_time, pel: Default::default() };
            for _ in 0..len(pos)? {
                let id = StreamId::from_be(b.get(*pos..*pos + 16)?)?;
                *pos += 16;
                let n = g.pel.get_mut(&id)?;
                // owned once (a consumer named "" is a name too)
                if owned_ids.contains(&id) || !c.pel.insert(id) {
                    return None;
                }
                owned_ids.insert(id);
                n.consumer = name.clone();
                owned += 1;
            }
            if g.consumers.insert(cname, c).is_some() {
                return None;
            }
        }
        if owned != g.pel.len() || s.groups.insert(name, g).is_some() {
            return None;
        }
    }
    Some(s)
}

/// The DUMP payload of a string value.
pub fn payload(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 20);
    out.push(RDB_TYPE_STRING);
    encode_string(value, &mut out);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

thread_local! {
    /// Strings written on this thread are LZF-compressed where Redis would
    /// compress them ([`compressing`]).
    static COMPRESS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with every string it encodes compressed as Redis's
/// `rdbcompression yes` does (longer than 20 bytes and at least 4 bytes
/// saved). A per-thread switch rather than a parameter of every encoder:
/// only RDB files compress, DUMP payloads are written plain.
pub fn compressing<R>(on: bool, f: impl FnOnce() -> R) -> R {
    let before = COMPRESS.replace(on);
    let r = f();
    COMPRESS.set(before);
    r
}

/// Redis's `rdbSaveRawString`: short canonical integers that fit 32 bits
/// as integers, long strings LZF-compressed when [`compressing`], anything
/// else length-prefixed.
pub fn encode_string(s: &[u8], out: &mut Vec<u8>) {
    if s.len() > 20
        && COMPRESS.get()
        && let Some(packed) = lzf_compress(s, s.len() - 4)
    {
        out.push(0xc3);
        encode_len(packed.len() as u64, out);
        encode_len(s.len() as u64, out);
        out.extend_from_slice(&packed);
        return;
    }
    if s.len() <= 11
        && let Some(n) = crate::util::parse_i64(s)
        && n.to_string().as_bytes() == s
    {
        if let Ok(v) = i8::try_from(n) {
            out.extend_from_slice(&[0xc0, v as u8]);
            return;
        }
        if let Ok(v) = i16::try_from(n) {
            out.push(0xc1);
            out.extend_from_slice(&v.to_le_bytes());
            return;
        }
        if let Ok(v) = i32::try_from(n) {
            out.push(0xc2);
            out.extend_from_slice(&v.to_le_bytes());
            return;
        }
    }
    encode_len(s.len() as u64, out);
    out.extend_from_slice(s);
}

/// Redis's `rdbSaveLen`: 6, 14, 32 or 64 bits, big-endian beyond 6.
pub fn encode_len(len: u64, out: &mut Vec<u8>) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    } else if len <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Why a payload cannot be restored.
#[derive(Debug, PartialEq, Eq)]
pub enum BadPayload {
    /// Too short, from a newer RDB version, or a wrong checksum.
    VersionOrChecksum,
    /// The value does not decode.
    Format,
    /// A valid value of a type shardis does not store.
    Type(u8),
}

/// Checks a payload's footer and decodes the string it holds.
pub fn decode_payload(p: &[u8]) -> Result<Vec<u8>, BadPayload> {
    match decode_value(p)? {
        Value::String(s) => Ok(s),
        Value::List(_) => Err(BadPayload::Type(RDB_TYPE_LIST)),
        Value::Hash(_) => Err(BadPayload::Type(RDB_TYPE_HASH)),
        Value::Set(_) => Err(BadPayload::Type(RDB_TYPE_SET)),
        Value::IntSet(_) => Err(BadPayload::Type(RDB_TYPE_SET_INTSET)),
        Value::ZSet { .. } => Err(BadPayload::Type(RDB_TYPE_ZSET_2)),
        Value::Stream(_) => Err(BadPayload::Type(RDB_TYPE_STREAM_LISTPACKS_2)),
    }
}

/// Checks a payload's footer and decodes the value it holds.
pub fn decode_value(p: &[u8]) -> Result<Value, BadPayload> {
    if p.len() < 10 {
        return Err(BadPayload::VersionOrChecksum);
    }
    let footer = &p[p.len() - 10..];
    if u16::from_le_bytes([footer[0], footer[1]]) > RDB_VERSION_READ {
        return Err(BadPayload::VersionOrChecksum);
    }
    if crc64(0, &p[..p.len() - 8]).to_le_bytes() != footer[2..] {
        return Err(BadPayload::VersionOrChecksum);
    }
    read_object(&p[..p.len() - 10], &mut 0)
}

/// Reads one RDB object (its type byte, then its encoding) at `pos`, as
/// Redis's `rdbLoadObject` does, checking what Redis checks.
pub fn read_object(body: &[u8], pos: &mut usize) -> Result<Value, BadPayload> {
    let Some(&rdb_type) = body.get(*pos) else { return Err(BadPayload::Format) };
    *pos += 1;
    read_value(rdb_type, body, pos)
}

/// Reads the encoding of an RDB object of type `rdb_type` at `pos` (an RDB
/// file has the key between the type and the value).
pub fn read_value(rdb_type: u8, body: &[u8], pos: &mut usize) -> Result<Value, BadPayload> {
    let value = match rdb_type {
        RDB_TYPE_STRING => Value::String(decode_string(body, pos).ok_or(BadPayload::Format)?),
        RDB_TYPE_HASH => {
            let n = decode_len(body, pos).and_then(|l| l.ok()).ok_or(BadPayload::Format)?;
            // a count is a claim: each pair takes at least two bytes
            if n > (body.len() as u64) / 2 {
                return Err(BadPayload::Format);
            }
            let mut pairs = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let f = decode_string(body, pos).ok_or(BadPayload::Format)?;
                let v = decode_string(body, pos).ok_or(BadPayload::Format)?;
                pairs.push((f, v));
            }
            Value::Hash(pairs)
        }
        t @ (RDB_TYPE_HASH_LISTPACK | RDB_TYPE_HASH_ZIPLIST) => {
            let blob = decode_string(body, pos).ok_or(BadPayload::Format)?;
            let items = if t == RDB_TYPE_HASH_LISTPACK { redis_listpack(&blob) } else { redis_ziplist(&blob) }.ok_or(BadPayload::Format)?;
            if items.len() % 2 != 0 {
                return Err(BadPayload::Format);
            }
            let mut it = items.into_iter();
            let mut pairs = Vec::new();
            while let (Some(f), Some(v)) = (it.next(), it.next()) {
                pairs.push((f, v));
            }
            Value::Hash(pairs)
        }
        RDB_TYPE_SET => {
            let n = decode_len(body, pos).and_then(|l| l.ok()).ok_or(BadPayload::Format)?;
            // a count is a claim: each member takes at least a byte
            if n > body.len() as u64 {
                return Err(BadPayload::Format);
            }
            let mut members = Vec::with_capacity(n as usize);
            for _ in 0..n {
                members.push(decode_string(body, pos).ok_or(BadPayload::Format)?);
            }
            Value::Set(members)
        }
        RDB_TYPE_SET_INTSET => {
            let blob = decode_string(body, pos).ok_or(BadPayload::Format)?;
            // checked in full (sorted, unique, a known width) before use
            let limits = crate::store::set::Limits { max_intset: usize::MAX };
            match crate::store::set::intset_from_blob(&blob, limits) {
                Some((_, n)) if n > 0 => Value::IntSet(blob),
                _ => return Err(BadPayload::Format),
            }
        }
        RDB_TYPE_LIST => {
            let n = decode_len(body, pos).and_then(|l| l.ok()).ok_or(BadPayload::Format)?;
            // a count is a claim: each element takes at least a byte
            if n > body.len() as u64 {
                return Err(BadPayload::Format);
            }
            let mut items = Vec::with_capacity(n as usize);
            for _ in 0..n {
                items.push(decode_string(body, pos).ok_or(BadPayload::Format)?);
            }
            Value::List(items)
        }
        RDB_TYPE_LIST_ZIPLIST => {
            let blob = decode_string(body, pos).ok_or(BadPayload::Format)?;
            Value::List(redis_ziplist(&blob).ok_or(BadPayload::Format)?)
        }
        t @ (RDB_TYPE_LIST_QUICKLIST | RDB_TYPE_LIST_QUICKLIST_2) => {
            let n = decode_len(body, pos).and_then(|l| l.ok()).ok_or(BadPayload::Format)?;
            if n > body.len() as u64 {
                return Err(BadPayload::Format);
            }
            let mut items = Vec::new();
            for _ in 0..n {
                let container =
                    if t == RDB_TYPE_LIST_QUICKLIST_2 { decode_len(body, pos).and_then(|l| l.ok()).ok_or(BadPayload::Format)? } else { QUICKLIST_NODE_PACKED };
                let blob = decode_string(body, pos).ok_or(BadPayload::Format)?;
                match container {
                    _ if blob.is_empty() => return Err(BadPayload::Format),
                    QUICKLIST_NODE_PLAIN => items.push(blob),
                    QUICKLIST_NODE_PACKED if t == RDB_TYPE_LIST_QUICKLIST_2 => items.extend(redis_listpack(&blob).ok_or(BadPayload::Format)?),
                    QUICKLIST_NODE_PACKED => items.extend(redis_ziplist(&blob).ok_or(BadPayload::Format)?),
                    _ => return Err(BadPayload::Format),
                }
            }
            Value::List(items)
        }
        t @ (RDB_TYPE_ZSET | RDB_TYPE_ZSET_2) => {
            let n = decode_len(body, pos).and_then(|l| l.ok()).ok_or(BadPayload::Format)?;
            // a count is a claim: each element takes at least two bytes
            if n > body.len() as u64 / 2 {
                return Err(BadPayload::Format);
            }
            let mut elements = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let m = decode_string(body, pos).ok_or(BadPayload::Format)?;
                let score = if t == RDB_TYPE_ZSET_2 {
                    let b = body.get(*pos..*pos + 8).ok_or(BadPayload::Format)?;
                    *pos += 8;
                    f64::from_le_bytes(b.try_into().expect("8 bytes"))
                } else {
                    // Redis's `rdbLoadDoubleValue`: a length byte, or
                    // 253 / 254 / 255 for NaN / inf / -inf
                    let len = *body.get(*pos).ok_or(BadPayload::Format)?;
                    *pos += 1;
                    match len {
                        255 => f64::NEG_INFINITY,
                        254 => f64::INFINITY,
                        253 => f64::NAN,
                        _ => {
                            let text = body.get(*pos..*pos + len as usize).ok_or(BadPayload::Format)?;
                            *pos += len as usize;
                            match crate::util::strtod(text) {
                                (v, n, _) if n > 0 => v,
                                _ => return Err(BadPayload::Format),
                            }
                        }
                    }
                };
                elements.push((m, score));
            }
            Value::ZSet { elements, packed: false }
        }
        t @ (RDB_TYPE_ZSET_LISTPACK | RDB_TYPE_ZSET_ZIPLIST) => {
            let blob = decode_string(body, pos).ok_or(BadPayload::Format)?;
            let items = if t == RDB_TYPE_ZSET_LISTPACK { redis_listpack(&blob) } else { redis_ziplist(&blob) }.ok_or(BadPayload::Format)?;
            if items.len() % 2 != 0 {
                return Err(BadPayload::Format);
            }
            let mut elements = Vec::with_capacity(items.len() / 2);
            for pair in items.chunks_exact(2) {
                // the score as Redis's `zzlStrtod` reads it
                let score = crate::util::strtod(&pair[1][..pair[1].len().min(127)]).0;
                elements.push((pair[0].clone(), score));
            }
            Value::ZSet { elements, packed: true }
        }
        t @ (RDB_TYPE_STREAM_LISTPACKS | RDB_TYPE_STREAM_LISTPACKS_2 | RDB_TYPE_STREAM_LISTPACKS_3) => Value::Stream(Box::new(
            decode_stream(
                body,
                pos,
                match t {
                    RDB_TYPE_STREAM_LISTPACKS => 1,
                    RDB_TYPE_STREAM_LISTPACKS_2 => 2,
                    _ => 3,
                },
            )
            .ok_or(BadPayload::Format)?,
        )),
        RDB_TYPE_SET_LISTPACK => {
            let blob = decode_string(body, pos).ok_or(BadPayload::Format)?;
            Value::Set(redis_listpack(&blob).ok_or(BadPayload::Format)?)
        }
        RDB_TYPE_HASH_ZIPMAP => {
            let blob = decode_string(body, pos).ok_or(BadPayload::Format)?;
            Value::Hash(redis_zipmap(&blob).ok_or(BadPayload::Format)?)
        }
        t if t <= RDB_TYPE_MAX => return Err(BadPayload::Type(t)),
        _ => return Err(BadPayload::Format),
    };
    // Redis refuses empty collections and repeated hash fields.
    if matches!(&value, Value::List(items) | Value::Set(items) if items.is_empty()) {
        return Err(BadPayload::Format);
    }
    if let Value::Set(members) = &value {
        let mut seen = std::collections::HashSet::with_capacity(members.len());
        if !members.iter().all(|m| seen.insert(&m[..])) {
            return Err(BadPayload::Format);
        }
    }
    if let Value::ZSet { elements, .. } = &value {
        // Redis refuses NaN scores and repeated members
        let mut seen = std::collections::HashSet::with_capacity(elements.len());
        if elements.is_empty() || !elements.iter().all(|(m, s)| !s.is_nan() && seen.insert(&m[..])) {
            return Err(BadPayload::Format);
        }
    }
    if let Value::Hash(pairs) = &value {
        let mut fields = std::collections::HashSet::with_capacity(pairs.len());
        if pairs.is_empty() || !pairs.iter().all(|(f, _)| fields.insert(&f[..])) {
            return Err(BadPayload::Format);
        }
    }
    Ok(value)
}

/// One length (`Ok`) or special encoding (`Err` with its number).
pub fn decode_len(b: &[u8], pos: &mut usize) -> Option<Result<u64, u8>> {
    let first = *b.get(*pos)?;
    *pos += 1;
    Some(match first >> 6 {
        0 => Ok((first & 0x3f) as u64),
        1 => {
            let second = *b.get(*pos)?;
            *pos += 1;
            Ok((((first & 0x3f) as u64) << 8) | second as u64)
        }
        2 => {
            let width = match first {
                0x80 => 4,
                0x81 => 8,
                _ => return None,
            };
            let bytes = b.get(*pos..*pos + width)?;
            *pos += width;
            Ok(bytes.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64))
        }
        _ => Err(first & 0x3f),
    })
}

/// Redis's `rdbGenericLoadStringObject`: a length-prefixed string, an
/// integer (8, 16 or 32 bits) or an LZF-compressed string.
pub fn decode_string(b: &[u8], pos: &mut usize) -> Option<Vec<u8>> {
    let take = |n: usize, pos: &mut usize| -> Option<&[u8]> {
        let s = b.get(*pos..pos.checked_add(n)?)?;
        *pos += n;
        Some(s)
    };
    match decode_len(b, pos)? {
        Ok(len) => Some(take(usize::try_from(len).ok()?, pos)?.to_vec()),
        Err(0) => Some((take(1, pos)?[0] as i8).to_string().into_bytes()),
        Err(1) => Some(i16::from_le_bytes(take(2, pos)?.try_into().ok()?).to_string().into_bytes()),
        Err(2) => Some(i32::from_le_bytes(take(4, pos)?.try_into().ok()?).to_string().into_bytes()),
        Err(3) => {
            let compressed = usize::try_from(decode_len(b, pos)?.ok()?).ok()?;
            let len = usize::try_from(decode_len(b, pos)?.ok()?).ok()?;
            lzf_decompress(take(compressed, pos)?, len)
        }
        Err(_) => None,
    }
}

/// liblzf's format, as Redis writes it: a control byte below 32 starts a
/// run of that many plus one literal bytes; otherwise its top 3 bits (7:
/// plus the next byte) plus 2 are a length and the rest, with the next
/// byte, an offset back into the output. `None` unless the input decodes to
/// exactly `len` bytes.
///
/// `len` comes from the payload: a claim checked against what the input
/// can produce (a 3-byte back reference yields at most 264 bytes) before
/// anything is reserved, so a small hostile payload cannot make us allocate
/// gigabytes (found by the `dump_payload` fuzz target).
pub fn lzf_decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    if len > input.len().saturating_mul(88) {
        return None;
    }
    let mut out: Vec<u8> = Vec::with_capacity(len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let run = input.get(i..i + ctrl + 1)?;
            out.extend_from_slice(run);
            i += ctrl + 1;
        } else {
            let mut n = ctrl >> 5;
            if n == 7 {
                n += *input.get(i)? as usize;
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            let start = out.len().checked_sub(back)?;
            if out.len() + n + 2 > len {
                return None;
            }
            // may overlap what it is producing: byte by byte
            for k in 0..n + 2 {
                out.push(out[start + k]);
            }
        }
        if out.len() > len {
            return None;
        }
    }
    (out.len() == len).then_some(out)
}

/// liblzf's format (see [`lzf_decompress`]), greedily: a hash of the next
/// three bytes finds the last place they were seen, within the 8 KiB a
/// back reference reaches, and the match is extended up to 264 bytes.
/// `None` if the result would be longer than `max` bytes.
pub fn lzf_compress(input: &[u8], max: usize) -> Option<Vec<u8>> {
    const HLOG: u32 = 14;
    const MAX_OFF: usize = 1 << 13;
    const MAX_REF: usize = (1 << 8) + (1 << 3);
    let mut table = vec![0u32; 1 << HLOG];
    let hash = |p: usize| {
        let v = (input[p] as u32) << 16 | (input[p + 1] as u32) << 8 | input[p + 2] as u32;
        (v.wrapping_mul(2654435761) >> (32 - HLOG)) as usize
    };
    let mut out = Vec::with_capacity(max.min(input.len()) + 1);
    let mut lit_start = 0;
    let flush_literals = |out: &mut Vec<u8>, from: usize, to: usize| {
        for chunk in input[from..to].chunks(32) {
            out.push(chunk.len() as u8 - 1);
            out.extend_from_slice(chunk);
        }
    };
    let mut i = 0;
    while i + 2 < input.len() {
        let h = hash(i);
        let candidate = table[h] as usize;
        table[h] = i as u32 + 1;
        if candidate > 0 {
            let r = candidate - 1;
            let off = i - r;
            if off <= MAX_OFF && input[r..r + 3] == input[i..i + 3] {
                let limit = (input.len() - i).min(MAX_REF);
                let mut len = 3;
                while len < limit && input[r + len] == input[i + len] {
                    len += 1;
                }
                flush_literals(&mut out, lit_start, i);
                let (code, back) = (len - 2, off - 1);
                if code < 7 {
                    out.push(((code << 5) | (back >> 8)) as u8);
                } else {
                    out.push(((7 << 5) | (back >> 8)) as u8);
                    out.push((code - 7) as u8);
                }
                out.push(back as u8);
                i += len;
                lit_start = i;
                if out.len() > max {
                    return None;
                }
                continue;
            }
        }
        i += 1;
    }
    flush_literals(&mut out, lit_start, input.len());
    (out.len() <= max).then_some(out)
}

/// CRC-64/Jones as Redis computes it (reflected, polynomial
/// 0xad93d23594c935a9, no final xor).
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    static TABLE: std::sync::LazyLock<[u64; 256]> = std::sync::LazyLock::new(|| {
        // 0xad93d23594c935a9 with its bits reversed
        const POLY: u64 = 0x95ac_9329_ac4b_c9b5;
        let mut t = [0u64; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u64;
            for _ in 0..8 {
                c = if c & 1 == 1 { (c >> 1) ^ POLY } else { c >> 1 };
            }
            *slot = c;
        }
        t
    });
    for &b in data {
        crc = TABLE[((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// The elements of a listpack in Redis's own format (`listpack.c`): a
/// 6-byte header (total bytes, count), entries of an encoding byte, data
/// and a backward length, and 0xFF. Integers come back as their decimal
/// text. `None` for anything malformed.
fn redis_listpack(lp: &[u8]) -> Option<Vec<Vec<u8>>> {
    let total = u32::from_le_bytes(lp.get(0..4)?.try_into().ok()?) as usize;
    if total != lp.len() || lp.last() != Some(&0xff) {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 6;
    let int = |bytes: &[u8], bits: u32| -> Vec<u8> {
        let raw = bytes.iter().rev().fold(0u64, |acc, &b| (acc << 8) | b as u64);
        let shift = 64 - bits;
        (((raw << shift) as i64) >> shift).to_string().into_bytes()
    };
    while *lp.get(i)? != 0xff {
        let b = lp[i];
        let (item, len) = match b {
            0x00..=0x7f => ((b as u64).to_string().into_bytes(), 1),
            0x80..=0xbf => {
                let n = (b & 0x3f) as usize;
                (lp.get(i + 1..i + 1 + n)?.to_vec(), 1 + n)
            }
            0xc0..=0xdf => (int(&[*lp.get(i + 1)?, b & 0x1f], 13), 2),
            0xe0..=0xef => {
                let n = (((b & 0x0f) as usize) << 8) | *lp.get(i + 1)? as usize;
                (lp.get(i + 2..i + 2 + n)?.to_vec(), 2 + n)
            }
            0xf0 => {
                let n = u32::from_le_bytes(lp.get(i + 1..i + 5)?.try_into().ok()?) as usize;
                (lp.get(i + 5..i.checked_add(5 + n)?)?.to_vec(), 5 + n)
            }
            0xf1 => (int(lp.get(i + 1..i + 3)?, 16), 3),
            0xf2 => (int(lp.get(i + 1..i + 4)?, 24), 4),
            0xf3 => (int(lp.get(i + 1..i + 5)?, 32), 5),
            0xf4 => (int(lp.get(i + 1..i + 9)?, 64), 9),
            _ => return None,
        };
        let backlen = match len {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        i = i.checked_add(len + backlen)?;
        if i >= lp.len() {
            return None;
        }
        out.push(item);
    }
    (i == lp.len() - 1).then_some(out)
}

/// The elements of a ziplist (`ziplist.c`, what Redis before 7.0 wrote):
/// a 10-byte header, entries of a previous-entry length, an encoding and
/// data, and 0xFF.
fn redis_ziplist(zl: &[u8]) -> Option<Vec<Vec<u8>>> {
    let total = u32::from_le_bytes(zl.get(0..4)?.try_into().ok()?) as usize;
    if total != zl.len() || zl.last() != Some(&0xff) {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 10;
    let le_int = |bytes: &[u8]| -> i64 {
        let bits = 8 * bytes.len() as u32;
        let raw = bytes.iter().rev().fold(0u64, |acc, &b| (acc << 8) | b as u64);
        ((raw << (64 - bits)) as i64) >> (64 - bits)
    };
    while *zl.get(i)? != 0xff {
        i += if zl[i] == 0xfe { 5 } else { 1 };
        let b = *zl.get(i)?;
        let (item, len) = match b >> 6 {
            0 => {
                let n = (b & 0x3f) as usize;
                (zl.get(i + 1..i + 1 + n)?.to_vec(), 1 + n)
            }
            1 => {
                let n = (((b & 0x3f) as usize) << 8) | *zl.get(i + 1)? as usize;
                (zl.get(i + 2..i + 2 + n)?.to_vec(), 2 + n)
            }
            2 => {
                let n = u32::from_be_bytes(zl.get(i + 1..i + 5)?.try_into().ok()?) as usize;
                (zl.get(i + 5..i.checked_add(5 + n)?)?.to_vec(), 5 + n)
            }
            _ => {
                let (v, n) = match b {
                    0xc0 => (le_int(zl.get(i + 1..i + 3)?), 2),
                    0xd0 => (le_int(zl.get(i + 1..i + 5)?), 4),
                    0xe0 => (le_int(zl.get(i + 1..i + 9)?), 8),
                    0xf0 => (le_int(zl.get(i + 1..i + 4)?), 3),
                    0xfe => (le_int(zl.get(i + 1..i + 2)?), 1),
                    0xf1..=0xfd => ((b & 0x0f) as i64 - 1, 0),
                    _ => return None,
                };
                (v.to_string().into_bytes(), 1 + n)
            }
        };
        i = i.checked_add(len)?;
        out.push(item);
    }
    (i == zl.len() - 1).then_some(out)
}

/// Stores a decoded value under `key` (known absent) with `expire_at` (0:
/// none), in the encoding Redis's loader would pick: RESTORE, RDB loading.
pub fn install(l: &mut crate::store::Locked<'_>, key: &[u8], value: Value, expire_at: u64, config: &crate::config::RuntimeConfig) {
    match value {
        Value::String(v) => l.set(key, &v, expire_at),
        Value::List(items) => {
            let limits = crate::store::list::limits_of(config);
            let _ = l.modify(key, crate::store::Kind::List, true, |slot| crate::store::list::push(slot, limits, &items, false));
            if expire_at != 0 {
                l.set_expire(key, expire_at);
            }
        }
        Value::Set(members) => {
            let limits = crate::store::set::limits_of(config);
            let meta = l.new_meta(expire_at);
            let db = l.db();
            l.put_in(db, crate::store::set::restored(&members, limits, key, meta).expect("checked: not empty, no repeats"));
        }
        Value::IntSet(blob) => {
            let limits = crate::store::set::limits_of(config);
            let meta = l.new_meta(expire_at);
            let db = l.db();
            let (b, _) = crate::store::set::intset_from_blob(&blob, limits).expect("checked");
            l.put_in(db, b.into_record(key, meta));
        }
        Value::ZSet { elements, packed } => {
            let mut limits = crate::store::zset::limits_of(config);
            if packed {
                // Redis keeps a listpack payload compact by its count alone
                limits.max_value = usize::MAX;
            }
            let mut b = crate::store::zset::Building::new();
            elements.into_iter().for_each(|(m, s)| b.push(m, s));
            let meta = l.new_meta(expire_at);
            let db = l.db();
            l.put_in(db, b.into_record(key, limits, meta));
        }
        Value::Stream(st) => {
            let meta = l.new_meta(expire_at);
            let db = l.db();
            let record = crate::store::record::Record::boxed(key, crate::store::Kind::Stream, Box::new(crate::store::value::Boxed::Stream(st)), meta);
            l.put_in(db, record);
        }
        Value::Hash(pairs) => {
            let limits = crate::store::hash::limits_of(config);
            let _ = l.modify(key, crate::store::Kind::Hash, true, |slot| {
                for (f, v) in &pairs {
                    crate::store::hash::set(slot, limits, f, v);
                }
            });
            if expire_at != 0 {
                l.set_expire(key, expire_at);
            }
        }
    }
}

/// The pairs of a zipmap (Redis 2.4's small hashes, `zipmap.c`): a count
/// byte, then per pair a length, the field, a length, a free-space byte,
/// the value and that much padding, and 0xFF. A length is one byte below
/// 254, else 254 and four little-endian bytes.
fn redis_zipmap(zm: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut i = 1;
    let len = |i: &mut usize| -> Option<usize> {
        let first = *zm.get(*i)?;
        *i += 1;
        match first {
            0..=253 => Some(first as usize),
            254 => {
                let n = u32::from_le_bytes(zm.get(*i..*i + 4)?.try_into().ok()?) as usize;
                *i += 4;
                Some(n)
            }
            _ => None,
        }
    };
    let mut out = Vec::new();
    while *zm.get(i)? != 0xff {
        let flen = len(&mut i)?;
        let field = zm.get(i..i.checked_add(flen)?)?.to_vec();
        i += flen;
        let vlen = len(&mut i)?;
        let free = *zm.get(i)? as usize;
        i += 1;
        let value = zm.get(i..i.checked_add(vlen)?)?.to_vec();
        i += vlen + free;
        out.push((field, value));
    }
    (i == zm.len() - 1).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lzf_round_trips_and_refuses_what_does_not_shrink() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut inputs: Vec<Vec<u8>> = vec![b"abcabcabc".repeat(100), vec![0; 70_000], b"aaaa".to_vec()];
        for n in [21, 100, 300, 5000, 20_000] {
            // a small alphabet: repeats near and far, runs past 264 bytes
            inputs.push((0..n).map(|i| if i % 700 < 400 { b'x' } else { b"ab"[(rand() % 2) as usize] }).collect());
            inputs.push((0..n).map(|_| (rand() % 4) as u8).collect());
        }
        let mut packed_some = 0;
        for input in &inputs {
            if let Some(packed) = lzf_compress(input, input.len()) {
                assert!(packed.len() <= input.len());
                assert_eq!(lzf_decompress(&packed, input.len()).as_deref(), Some(&input[..]), "{} bytes", input.len());
                packed_some += 1;
            }
        }
        assert!(packed_some >= inputs.len() - 2, "{packed_some} of {}", inputs.len());
        // random bytes do not shrink: stored plain
        let noise: Vec<u8> = (0..1000).map(|_| rand() as u8).collect();
        assert_eq!(lzf_compress(&noise, noise.len() - 4), None);
        // as an RDB string, compressed only when asked
        let mut plain = Vec::new();
        encode_string(&inputs[0], &mut plain);
        let mut packed = Vec::new();
        compressing(true, || encode_string(&inputs[0], &mut packed));
        assert!(packed[0] == 0xc3 && packed.len() < plain.len() / 5);
        assert_eq!(decode_string(&packed, &mut 0).unwrap(), inputs[0]);
    }

    /// A ziplist as Redis 6 wrote it: every entry encoding once.
    fn ziplist() -> Vec<u8> {
        let entries: Vec<Vec<u8>> = vec![
            vec![0x01, b'a'],                            // 6-bit length string
            vec![0xf6],                                  // immediate 5
            vec![0xfe, 0x9c],                            // int8 -100
            vec![0xc0, 0x30, 0x75],                      // int16 30000
            vec![0xf0, 0x00, 0x00, 0x80],                // int24 -8388608
            vec![0xd0, 0x00, 0x94, 0x35, 0x77],          // int32 2000000000
            vec![0xe0, 0, 0, 0, 0, 0, 0, 0, 0x80],       // int64 min
            [vec![0x40, 0x46], vec![b'L'; 70]].concat(), // 14-bit length string
        ];
        let mut body = Vec::new();
        let mut prev = 0usize;
        for e in &entries {
            body.push(prev as u8);
            body.extend_from_slice(e);
            prev = e.len() + 1;
        }
        let total = 10 + body.len() + 1;
        let mut zl = (total as u32).to_le_bytes().to_vec();
        zl.extend_from_slice(&0u32.to_le_bytes());
        zl.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        zl.extend_from_slice(&body);
        zl.push(0xff);
        zl
    }

    #[test]
    fn reads_redis_ziplist_hashes() {
        let zl = ziplist();
        assert_eq!(redis_ziplist(&zl).unwrap().len(), 8);
        let mut body = vec![RDB_TYPE_HASH_ZIPLIST];
        encode_len(zl.len() as u64, &mut body);
        body.extend_from_slice(&zl);
        body.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = crc64(0, &body);
        body.extend_from_slice(&crc.to_le_bytes());
        let text = |s: &str| s.as_bytes().to_vec();
        assert_eq!(
            decode_value(&body).unwrap(),
            Value::Hash(vec![
                (text("a"), text("5")),
                (text("-100"), text("30000")),
                (text("-8388608"), text("2000000000")),
                (text("-9223372036854775808"), vec![b'L'; 70]),
            ])
        );
        // cut anywhere, it is refused, never misread
        for cut in 0..zl.len() {
            assert!(redis_ziplist(&zl[..cut]).is_none());
        }
    }

    #[test]
    fn crc64_is_redis_jones() {
        // the check value Redis's crc64.c tests itself with
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn payloads_as_redis_writes_them() {
        // DUMP output of redis-server 7.0.15 for the same values
        let cases: &[(&[u8], &[u8])] = &[
            (b"hello", b"\x00\x05hello\x0a\x00\x63\x72\xdf\x76\x65\x34\x20\x0a"),
            (b"12345", b"\x00\xc1\x39\x30\x0a\x00\x9d\x94\xea\x27\x93\xfc\x08\xb9"),
            (b"5", b"\x00\xc0\x05\x0a\x00\x63\x2f\x5f\x66\x83\x2f\xb3\x51"),
            (b"-200", b"\x00\xc1\x38\xff\x0a\x00\x22\x3b\x8f\xbb\xe8\xf4\x61\xf3"),
            (b"4294967296", b"\x00\x0a4294967296\x0a\x00\xa5\xa3\x89\xc8\x1a\x8c\x46\x56"),
            (b"", b"\x00\x00\x0a\x00\x5d\x9b\x5c\x40\x0f\x7f\xa2\xda"),
        ];
        for (value, dumped) in cases {
            assert_eq!(payload(value), *dumped, "{}", String::from_utf8_lossy(value));
            assert_eq!(decode_payload(dumped).as_deref(), Ok(*value));
        }
    }

    #[test]
    fn reads_redis_lzf_strings() {
        // redis-server's DUMP of "ab" x 30 (LZF-compressed)
        let dumped = b"\x00\xc3\x0a\x3c\x02aba\xe0\x2e\x01\x01ab\x0a\x00\xbb\x16\xd3\xeb\xae\x6f\xc5\x74";
        assert_eq!(decode_payload(dumped), Ok(b"ab".repeat(30)));
        // corrupt: a back reference before the start
        assert_eq!(lzf_decompress(b"\x20\x05", 3), None);
    }

    #[test]
    fn long_strings_and_bad_payloads() {
        for len in [63usize, 64, 16383, 16384, 70000] {
            let v = vec![b'x'; len];
            assert_eq!(decode_payload(&payload(&v)), Ok(v));
        }
        let mut p = payload(b"hello");
        assert_eq!(decode_payload(&p[..9]), Err(BadPayload::VersionOrChecksum));
        let n = p.len();
        p[n - 1] ^= 1;
        assert_eq!(decode_payload(&p), Err(BadPayload::VersionOrChecksum));
        // a newer RDB version than we read
        let mut newer = b"\x00\x05hello".to_vec();
        newer.extend_from_slice(&13u16.to_le_bytes());
        let crc = crc64(0, &newer);
        newer.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_payload(&newer), Err(BadPayload::VersionOrChecksum));
    }
}
