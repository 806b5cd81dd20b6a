//! Fuzz target bodies: one function per parser that takes arbitrary bytes
//! from a client, a backend, a file or a peer. Each must never panic, hang
//! or allocate more than its input justifies, and each checks a property
//! beyond "no crash" where one exists (incremental parsing agrees with
//! parsing at once; what decodes re-encodes).
//!
//! Two drivers call them: libFuzzer (`tests/fuzz/`, run by `scripts/fuzz`
//! for as long as asked) and `tests/fuzz_corpus.rs`, which runs every seed
//! and a few thousand deterministic mutations of them on stable Rust in the
//! test suite.

use crate::resp::{Limits, ProtocolError, parse_request_spans};
use bytes::BytesMut;

/// A fuzz target body.
pub type Target = fn(&[u8]);

/// The targets by name, as `scripts/fuzz` and the corpus test know them.
pub const TARGETS: [(&str, Target); 11] = [
    ("request_parser", request_parser),
    ("reply_scanner", reply_scanner),
    ("dump_payload", dump_payload),
    ("config_file", config_file),
    ("proxy_yaml", proxy_yaml),
    ("hyperloglog", hyperloglog),
    ("strtod", strtod),
    ("sorted_set", sorted_set),
    ("stream_id", stream_id),
    ("rdb_file", rdb_file),
    ("aof_manifest", aof_manifest),
];

type Parsed = Result<Vec<Vec<Vec<u8>>>, ProtocolError>;

/// Every request in `chunks` fed one after another, as a connection reads
/// them: the arguments of each complete request, then the error if any.
fn parse_stream(chunks: &[&[u8]], limits: Limits) -> (Parsed, usize) {
    let mut buf = BytesMut::new();
    let mut spans = Vec::new();
    let mut requests = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match parse_request_spans(&mut buf, limits, &mut spans) {
                Ok(Some(frame)) => {
                    for &(s, e) in &spans {
                        assert!(s <= e && e <= frame.len(), "span {s}..{e} outside a frame of {}", frame.len());
                    }
                    requests.push(spans.iter().map(|&(s, e)| frame[s..e].to_vec()).collect());
                }
                Ok(None) => break,
                Err(e) => return (Err(e), buf.len()),
            }
        }
    }
    (Ok(requests), buf.len())
}

/// The request parser (multibulk and inline), as authenticated and as
/// unauthenticated client: the requests found must not depend on how the
/// bytes were split across reads.
pub fn request_parser(data: &[u8]) {
    let Some((&split, data)) = data.split_first() else { return };
    let cut = (split as usize * data.len() / 255).min(data.len());
    for authenticated in [true, false] {
        let limits = Limits { max_bulk_len: 1024 * 1024, authenticated };
        let (whole, _) = parse_stream(&[data], limits);
        let (parts, _) = parse_stream(&[&data[..cut], &data[cut..]], limits);
        match (&whole, &parts) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "split at {cut} changed the requests"),
            // An error may surface earlier in one (a limit seen on a partial
            // header): both must then agree on the requests before it.
            (Err(_), _) | (_, Err(_)) => {}
        }
    }
}

/// The proxy's reply scanner: walking a buffer that grows read by read
/// finds the same reply ends as walking it whole.
pub fn reply_scanner(data: &[u8]) {
    use crate::proxy::backend::{ReplyScanner, reply_end};
    let Some((&split, data)) = data.split_first() else { return };
    let mut ends = Vec::new();
    let mut pos = 0;
    while let Ok(Some(end)) = reply_end(data, pos) {
        assert!(end > pos && end <= data.len());
        ends.push(end);
        pos = end;
    }
    // The same buffer arriving in pieces of `split` bytes (at least one).
    let step = split as usize + 1;
    let mut scanner = ReplyScanner::at(0);
    let mut resumed = Vec::new();
    let mut have = 0;
    while have < data.len() {
        have = (have + step).min(data.len());
        while let Ok(true) = scanner.step(&data[..have]) {
            resumed.push(scanner.pos);
            scanner = ReplyScanner::at(scanner.pos);
        }
    }
    assert_eq!(&resumed[..ends.len().min(resumed.len())], &ends[..ends.len().min(resumed.len())], "resumed walk disagrees");
}

/// DUMP payloads given to RESTORE: any bytes, and the same bytes with a
/// valid footer (version and CRC64), so that the decoder behind the
/// checksum is reached. What decodes must encode back to the same value.
pub fn dump_payload(data: &[u8]) {
    use crate::persist::codec::{crc64, decode_value, encode_payload};
    let _ = decode_value(data);
    let mut framed = data.to_vec();
    framed.extend_from_slice(&10u16.to_le_bytes());
    let crc = crc64(0, &framed);
    framed.extend_from_slice(&crc.to_le_bytes());
    if let Ok(value) = decode_value(&framed) {
        // a sorted set is written highest first and as a plain ZSET_2:
        // compare its elements in order
        let norm = |v: crate::persist::codec::Value| match v {
            crate::persist::codec::Value::ZSet { mut elements, .. } => {
                elements.sort_by(|a, b| crate::store::ztree::cmp(a.1, &a.0, b.1, &b.0));
                crate::persist::codec::Value::ZSet { elements, packed: false }
            }
            v => v,
        };
        assert_eq!(decode_value(&encode_payload(&value)).ok().map(norm), Some(norm(value)));
    }
}

/// A HyperLogLog string as any client can SET it and then PFADD, PFCOUNT
/// or PFMERGE: the bytes as given, and behind a valid header (sparse or
/// dense by the first byte) so the opcode walker is reached. Whatever is
/// accepted counts the same sparse and dense, and stays valid when added
/// to.
pub fn hyperloglog(data: &[u8]) {
    use crate::store::hll;
    let mut framed = b"HYLL".to_vec();
    framed.extend_from_slice(&[data.first().map_or(1, |b| b & 1), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    framed.extend_from_slice(data.get(1..).unwrap_or_default());
    for s in [data, &framed[..]] {
        if !hll::is_valid(s) {
            continue;
        }
        let counted = hll::count(s);
        let mut regs = vec![0u8; hll::REGISTERS];
        let merged = hll::merge(&mut regs, s);
        if let Ok(dense) = hll::to_dense(s) {
            assert!(hll::is_valid(&dense));
            if let Ok(c) = counted {
                assert_eq!(hll::count(&dense), Ok(c), "sparse and dense disagree");
            }
            assert_eq!(hll::registers(&dense).ok(), merged.ok().map(|_| regs.clone()));
        }
        let mut v = s.to_vec();
        for (i, ele) in data.chunks(3).take(20).enumerate() {
            if hll::add(&mut v, ele, 200 + i * 50).is_err() {
                break;
            }
            assert!(hll::is_valid(&v), "an update broke the representation");
        }
        let _ = hll::merged_into(s.to_vec(), &regs, 3000);
    }
}

/// A redis.conf-style file.
pub fn config_file(data: &[u8]) {
    let config = crate::config::RuntimeConfig::sandboxed();
    let _ = config.load_text(&String::from_utf8_lossy(data), std::path::Path::new("/nonexistent/fuzz.conf"));
}

/// A twemproxy YAML file.
pub fn proxy_yaml(data: &[u8]) {
    let _ = crate::proxy::config::parse_yaml(&String::from_utf8_lossy(data));
}

/// Score text as clients send it (ZADD, ranges, WEIGHTS, GEO, SORT):
/// `util::strtod` reads exactly what libc's `strtod` reads, value and
/// length, and what it reads prints back as libc's `%.17g`.
pub fn strtod(data: &[u8]) {
    let text = data.split(|&b| b == 0).next().unwrap_or(b"");
    let (got, n, _) = crate::util::strtod(text);
    let c = std::ffi::CString::new(text).expect("no NUL");
    let mut end = std::ptr::null_mut();
    // SAFETY: a NUL-terminated string and a place for the end pointer,
    // which points into it afterwards.
    let (want, taken) = unsafe {
        let v = libc::strtod(c.as_ptr(), &mut end);
        (v, end.offset_from(c.as_ptr()) as usize)
    };
    assert_eq!(n, taken, "{text:?}");
    assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "{text:?}: {got:e} vs {want:e}");
    if got.is_finite() {
        let mut buf = [0u8; 64];
        // SAFETY: the buffer is 64 bytes and snprintf writes at most that
        // many, NUL included; the format takes one double.
        let len = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%.17g".as_ptr(), got) };
        assert_eq!(crate::util::format_g17(got).as_bytes(), &buf[..len as usize], "{got:e}");
    }
}

/// Stream IDs as clients send them (XADD, XRANGE, XREAD, XCLAIM, ...):
/// `util::string2ull` reads what Redis's `string2ull` reads (its strict
/// integers, else libc's `strtoull` over the whole text), and
/// `stream::parse_id` splits at the first `-` as Redis does; an ID read
/// prints back as text that reads as the same ID.
pub fn stream_id(data: &[u8]) {
    let text = data.split(|&b| b == 0).next().unwrap_or(b"");
    let reference = |t: &[u8]| -> Option<u64> {
        if let Some(v) = crate::util::parse_i64(t) {
            return u64::try_from(v).ok();
        }
        let c = std::ffi::CString::new(t).expect("no NUL");
        let mut end = std::ptr::null_mut();
        // SAFETY: a NUL-terminated string and a place for the end pointer;
        // errno is this thread's.
        let (v, taken, errno) = unsafe {
            *libc::__errno_location() = 0;
            let v = libc::strtoull(c.as_ptr(), &mut end, 10);
            (v, end.offset_from(c.as_ptr()) as usize, *libc::__errno_location())
        };
        (errno == 0 && !t.is_empty() && taken == t.len()).then_some(v)
    };
    assert_eq!(crate::util::string2ull(text), reference(text), "{text:?}");
    let parsed = crate::store::stream::parse_id(text, 7, false, true);
    if text.len() > 127 {
        assert!(parsed.is_none());
        return;
    }
    let want = match text {
        b"-" => Some((0, 0, true)),
        b"+" => Some((u64::MAX, u64::MAX, true)),
        _ => match text.iter().position(|&b| b == b'-') {
            None => reference(text).map(|ms| (ms, 7, true)),
            Some(d) if &text[d + 1..] == b"*" => reference(&text[..d]).map(|ms| (ms, 0, false)),
            Some(d) => reference(&text[..d]).zip(reference(&text[d + 1..])).map(|(ms, seq)| (ms, seq, true)),
        },
    };
    assert_eq!(parsed.map(|p| (p.id.ms, p.id.seq, p.seq_given)), want, "{text:?}");
    if let Some(p) = parsed {
        let again = crate::store::stream::parse_id(p.id.text().as_bytes(), 0, true, false).expect("prints as an ID");
        assert_eq!(again.id, p.id);
    }
}

/// A sorted set driven by bytes (adds with every flag, removals, pops,
/// rank-range removals) through both encodings at tiny limits, against a
/// model: the same elements in the same order, ranks and scores agree,
/// and the tree's invariants hold.
pub fn sorted_set(data: &[u8]) {
    use crate::store::record::{Kind, Meta, Record};
    use crate::store::table::Table;
    use crate::store::zset::{self, AddFlags, ZSetRef};
    use std::collections::BTreeMap;
    let mut t = Table::new();
    t.insert(Record::inline(b"z", Kind::ZSet, b"", Meta::default()));
    let limits = zset::Limits { max_entries: (data.first().copied().unwrap_or(4) % 9) as usize, max_value: 6 };
    let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
    for op in data.chunks(3).skip(1) {
        let [a, b, c] = [op[0], *op.get(1).unwrap_or(&0), *op.get(2).unwrap_or(&0)];
        let member: Vec<u8> = std::iter::repeat_n(b'a' + (b % 5), usize::from(b >> 5)).collect();
        let score = match c % 8 {
            0 => f64::INFINITY,
            1 => f64::NEG_INFINITY,
            2 => -0.0,
            3 => f64::from(c) / 7.0,
            _ => f64::from(c % 16),
        };
        let Some(mut slot) = t.slot(b"z") else { return };
        match a % 6 {
            0 | 1 => {
                let flags = AddFlags { nx: a & 8 != 0, xx: a & 16 != 0 && a & 8 == 0, gt: a & 32 != 0, lt: a & 64 != 0 && a & 32 == 0, incr: a & 128 != 0 };
                if let Ok((_, s)) = zset::add(&mut slot, limits, score, &member, flags) {
                    let cur = model.get(&member).copied();
                    let new = match cur {
                        Some(_) if flags.nx => None,
                        None if flags.xx => None,
                        Some(c) => {
                            let v = if flags.incr { c + score } else { score };
                            (!((flags.lt && v >= c) || (flags.gt && v <= c))).then_some(v)
                        }
                        None => Some(score),
                    };
                    if let Some(v) = new {
                        model.insert(member.clone(), v);
                        assert!(s.to_bits() == v.to_bits() || s == v, "score {s} vs model {v}");
                    }
                }
            }
            2 => assert_eq!(zset::remove(&mut slot, &member), model.remove(&member).is_some()),
            3 => {
                let popped = zset::pop(&mut slot, c & 1 == 1, usize::from(b % 4));
                for (m, _) in popped {
                    assert!(model.remove(&m).is_some());
                }
            }
            _ => {
                let n = ZSetRef::of(slot.entry()).len();
                let (from, to) = (usize::from(b) % (n + 1), usize::from(b) % (n + 1) + usize::from(c % 4));
                for (m, _) in zset::remove_ranks(&mut slot, from, to) {
                    assert!(model.remove(&m).is_some());
                }
            }
        }
        let z = ZSetRef::of(slot.entry());
        assert_eq!(z.len(), model.len());
        let mut ordered: Vec<(&Vec<u8>, f64)> = model.iter().map(|(m, s)| (m, *s)).collect();
        ordered.sort_by(|x, y| crate::store::ztree::cmp(x.1, x.0, y.1, y.0));
        let got = z.elements();
        assert_eq!(got.len(), ordered.len());
        for (i, ((m, s), (wm, ws))) in got.iter().zip(&ordered).enumerate() {
            assert_eq!((m, *s == *ws), (*wm, true), "element {i}");
            assert_eq!(z.rank(m, false), Some(i));
        }
        if let ZSetRef::Big(big) = z {
            big.check();
        }
    }
}

/// An RDB file at startup (a dump.rdb or an AOF base from anywhere): the
/// bytes as given, and behind a valid header and footer (so the checksum
/// passes and the opcode loop is reached). Whatever loads is in the
/// keyspace as counted. Also LZF: any bytes compress and decompress back.
pub fn rdb_file(data: &[u8]) {
    use crate::persist::codec::{crc64, lzf_compress, lzf_decompress};
    if let Some(packed) = lzf_compress(data, data.len()) {
        assert_eq!(lzf_decompress(&packed, data.len()).as_deref(), Some(data), "LZF round trip");
    }
    let config = std::sync::Arc::new(crate::config::RuntimeConfig::default());
    for framed in [data.to_vec(), {
        let mut f = b"REDIS0010".to_vec();
        f.extend_from_slice(data);
        f.push(0xff);
        let crc = crc64(0, &f);
        f.extend_from_slice(&crc.to_le_bytes());
        f
    }] {
        let server = crate::node::Server::new(config.clone(), crate::command::COMMANDS.len());
        if let Ok(loaded) = crate::persist::rdb::load(&server, &framed, |_| {}) {
            let keys: usize = (0..crate::store::NUM_DBS).map(|db| server.keyspace.dbsize(db)).sum();
            assert_eq!(loaded.keys as usize, keys, "keys loaded and keys in the keyspace");
        }
    }
}

/// An AOF manifest: what parses prints back to a manifest that parses the
/// same.
pub fn aof_manifest(data: &[u8]) {
    use crate::persist::aof::{manifest_text, parse_manifest};
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(parts) = parse_manifest(text) {
        assert_eq!(parse_manifest(&manifest_text(&parts)).as_ref(), Ok(&parts));
    }
}
