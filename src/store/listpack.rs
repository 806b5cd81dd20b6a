//! The compact encoding of small collections, Redis's listpack entry
//! format: a run of entries, each `[encoding][data][backlen]`, walkable
//! from either end.
//!
//! - the first byte tells what follows, as in Redis's listpack: `0xxxxxxx`
//!   an integer 0..=127 in those bits; `10xxxxxx` a string of up to 63
//!   bytes; `110xxxxx` + 1 byte a 13-bit signed integer; `1110xxxx` + 1
//!   byte a string of up to 4095 bytes; `0xF0` + 4 bytes a longer string;
//!   `0xF1`..`0xF4` + 2, 3, 4, 8 bytes a 16, 24, 32, 64-bit integer
//!   (little-endian);
//! - `backlen` is the size of encoding plus data, written so that it reads
//!   from its last byte backwards: the last byte holds the low seven bits,
//!   and a set high bit says another byte precedes.
//!
//! An element that is the canonical text of a 64-bit integer (Redis's
//! `lpStringToInt64` rules: no sign but `-`, no leading zeros, no `-0`) is
//! stored as that integer and read back as the same text, so `123456`
//! takes 5 bytes and a 10-byte string 12, both as in Redis. There is no
//! header: the container knows the total length (the entry's value length
//! or a `Vec`'s), and counts are walked (collections stay compact only
//! while small). Written by hand because the byte layout is the point: it
//! lives inside the keyspace entry's own allocation, so a small hash or
//! list costs one allocation with its key.
//!
//! Edits are expressed as splices (`range` of the encoding replaced by new
//! bytes), which the owner applies to wherever the bytes live.

use std::ops::Range;

/// Bytes `n` takes as a backlen.
fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn put_backlen(out: &mut Vec<u8>, n: usize) {
    let groups = varint_len(n);
    for g in (0..groups).rev() {
        let bits = ((n >> (7 * g)) & 0x7f) as u8;
        out.push(if g + 1 < groups { bits | 0x80 } else { bits });
    }
}

/// The integer `item` is the canonical text of, if any (Redis's
/// `lpStringToInt64`).
pub fn int_of(item: &[u8]) -> Option<i64> {
    let digits = match item {
        [] => return None,
        [b'0'] => return Some(0),
        [b'-', rest @ ..] => rest,
        _ => item,
    };
    if digits.len() > 19 || !matches!(digits.first(), Some(b'1'..=b'9')) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // at most 19 digits: fits in u64; then the sign's range
    let n = digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    if item[0] == b'-' { (n <= 1 << 63).then(|| (n as i64).wrapping_neg()) } else { i64::try_from(n).ok() }
}

/// Encoding plus data bytes of an integer.
fn int_head_len(v: i64) -> usize {
    match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8_388_608..=8_388_607 => 4,
        -2_147_483_648..=2_147_483_647 => 5,
        _ => 9,
    }
}

/// Encoding plus data bytes of a string of `n` bytes.
fn str_head_len(n: usize) -> usize {
    n + match n {
        0..64 => 1,
        64..4096 => 2,
        _ => 5,
    }
}

/// Bytes one element takes encoded.
pub fn encoded_len(item: &[u8]) -> usize {
    let head = match int_of(item) {
        Some(v) => int_head_len(v),
        None => str_head_len(item.len()),
    };
    head + varint_len(head)
}

/// Appends one encoded element.
pub fn encode(out: &mut Vec<u8>, item: &[u8]) {
    let before = out.len();
    match int_of(item) {
        Some(v @ 0..=127) => out.push(v as u8),
        Some(v @ -4096..=4095) => {
            let u = (v as u16) & 0x1fff;
            out.extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
        }
        Some(v) => {
            let (tag, width) = match int_head_len(v) {
                3 => (0xF1, 2),
                4 => (0xF2, 3),
                5 => (0xF3, 4),
                _ => (0xF4, 8),
            };
            out.push(tag);
            out.extend_from_slice(&v.to_le_bytes()[..width]);
        }
        None => {
            let n = item.len();
            match n {
                0..64 => out.push(0x80 | n as u8),
                64..4096 => out.extend_from_slice(&[0xE0 | (n >> 8) as u8, n as u8]),
                _ => {
                    out.push(0xF0);
                    out.extend_from_slice(&(n as u32).to_le_bytes());
                }
            }
            out.extend_from_slice(item);
        }
    }
    put_backlen(out, out.len() - before);
}

/// Appends an integer element (Redis's `lpAppendInteger`).
pub fn encode_int(out: &mut Vec<u8>, v: i64) {
    encode(out, &crate::util::Decimal::new(v));
}

/// The element at `at` as an integer (Redis's `lpGetInteger`: a string
/// element is read as decimal text, 0 if it is none).
pub fn int_at(lp: &[u8], at: usize) -> i64 {
    match raw_at(lp, at) {
        Ok(v) => v,
        Err(b) => crate::util::parse_i64(b).unwrap_or(0),
    }
}

/// The encoding of `items`, in order.
pub fn encode_all<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for i in items {
        encode(&mut out, i);
    }
    out
}

/// One element as read: its bytes, borrowed from the encoding, or an
/// integer written out as text on the stack. Derefs to the bytes.
#[derive(Clone, Copy)]
pub enum Elem<'a> {
    Bytes(&'a [u8]),
    Int(crate::util::Decimal),
}

impl Elem<'_> {
    fn int(v: i64) -> Self {
        Elem::Int(crate::util::Decimal::new(v))
    }
}

impl std::ops::Deref for Elem<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Elem::Bytes(b) => b,
            Elem::Int(d) => d,
        }
    }
}

impl AsRef<[u8]> for Elem<'_> {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq<[u8]> for Elem<'_> {
    fn eq(&self, other: &[u8]) -> bool {
        **self == *other
    }
}

impl PartialEq<&[u8]> for Elem<'_> {
    fn eq(&self, other: &&[u8]) -> bool {
        **self == **other
    }
}

impl PartialEq for Elem<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for Elem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

/// Sign-extends the low `bits` of `u`.
fn signed(u: u64, bits: u32) -> i64 {
    ((u << (64 - bits)) as i64) >> (64 - bits)
}

fn le(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0, |n, &b| n << 8 | u64::from(b))
}

/// The element starting at `at`, and the size of its encoding plus data.
fn decode(lp: &[u8], at: usize) -> (Elem<'_>, usize) {
    match decode_raw(lp, at) {
        (Ok(v), n) => (Elem::int(v), n),
        (Err(b), n) => (Elem::Bytes(b), n),
    }
}

/// The element starting at `at` as stored: an integer (`Ok`) or bytes.
pub fn raw_at(lp: &[u8], at: usize) -> Result<i64, &[u8]> {
    decode_raw(lp, at).0
}

fn decode_raw(lp: &[u8], at: usize) -> (Result<i64, &[u8]>, usize) {
    let b = lp[at];
    let string = |data: usize, n: usize| (Err(&lp[at + data..at + data + n]), data + n);
    match b {
        0x00..=0x7f => (Ok(i64::from(b)), 1),
        0x80..=0xbf => string(1, usize::from(b & 0x3f)),
        0xc0..=0xdf => (Ok(signed(u64::from(b & 0x1f) << 8 | u64::from(lp[at + 1]), 13)), 2),
        0xe0..=0xef => string(2, usize::from(b & 0x0f) << 8 | usize::from(lp[at + 1])),
        0xf0 => string(5, le(&lp[at + 1..at + 5]) as usize),
        _ => {
            let width = match b {
                0xf1 => 2,
                0xf2 => 3,
                0xf3 => 4,
                _ => 8,
            };
            (Ok(signed(le(&lp[at + 1..at + 1 + width]), 8 * width as u32)), 1 + width)
        }
    }
}

/// The size of the encoding plus data of the element at `at`.
fn head_len(lp: &[u8], at: usize) -> usize {
    let b = lp[at];
    match b {
        0x00..=0x7f => 1,
        0x80..=0xbf => 1 + usize::from(b & 0x3f),
        0xc0..=0xdf => 2,
        0xe0..=0xef => 2 + (usize::from(b & 0x0f) << 8 | usize::from(lp[at + 1])),
        0xf0 => 5 + le(&lp[at + 1..at + 5]) as usize,
        0xf1 => 3,
        0xf2 => 4,
        0xf3 => 5,
        _ => 9,
    }
}

/// Whether `lp` is a well-formed run of elements: every encoding known,
/// every length within the bytes, every backlen the one its element
/// needs (what an untrusted payload must pass before it is walked).
pub fn is_valid(lp: &[u8]) -> bool {
    let mut at = 0;
    while at < lp.len() {
        let b = lp[at];
        let need = match b {
            0xc0..=0xef => 2,
            0xf0 => 5,
            0xf5..=0xff => return false,
            _ => 1,
        };
        if at + need > lp.len() {
            return false;
        }
        let head = head_len(lp, at);
        let Some(end) = at.checked_add(head + varint_len(head)).filter(|&e| e <= lp.len()) else { return false };
        let mut backlen = Vec::with_capacity(5);
        put_backlen(&mut backlen, head);
        if lp[at + head..end] != backlen[..] {
            return false;
        }
        at = end;
    }
    true
}

/// Where the element after the one at `at` starts (nothing decoded).
pub fn next_at(lp: &[u8], at: usize) -> usize {
    let head = head_len(lp, at);
    at + head + varint_len(head)
}

/// The element starting at `at`, and where the next one starts.
pub fn entry_at(lp: &[u8], at: usize) -> (Elem<'_>, usize) {
    let (e, head) = decode(lp, at);
    (e, at + head + varint_len(head))
}

/// Where the element ending at `end` (exclusive) starts.
pub fn start_before(lp: &[u8], end: usize) -> usize {
    let (mut head, mut shift, mut i) = (0usize, 0, end);
    loop {
        i -= 1;
        let b = lp[i];
        head |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    i - head
}

/// The byte ranges of the elements, front to back (nothing decoded).
pub fn ranges(lp: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        (at < lp.len()).then(|| {
            let next = next_at(lp, at);
            let r = at..next;
            at = next;
            r
        })
    })
}

/// The byte ranges of the elements, back to front.
pub fn ranges_rev(lp: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut end = lp.len();
    std::iter::from_fn(move || {
        (end > 0).then(|| {
            let start = start_before(lp, end);
            let r = start..end;
            end = start;
            r
        })
    })
}

/// Walks the elements front to back: `(element, its byte range)`.
pub fn iter(lp: &[u8]) -> impl Iterator<Item = (Elem<'_>, Range<usize>)> + '_ {
    ranges(lp).map(move |r| (decode(lp, r.start).0, r))
}

/// Walks the elements back to front.
pub fn iter_rev(lp: &[u8]) -> impl Iterator<Item = (Elem<'_>, Range<usize>)> + '_ {
    ranges_rev(lp).map(move |r| (decode(lp, r.start).0, r))
}

pub fn count(lp: &[u8]) -> usize {
    ranges(lp).count()
}

/// A field of a hash stored as alternating field and value elements: the
/// value, the pair's byte range and the value's.
pub struct Pair<'a> {
    pub value: Elem<'a>,
    pub range: Range<usize>,
    pub value_range: Range<usize>,
}

/// Finds `field` in a field/value listpack.
pub fn find_pair<'a>(lp: &'a [u8], field: &[u8]) -> Option<Pair<'a>> {
    let mut at = 0;
    while at < lp.len() {
        let (f, vstart) = entry_at(lp, at);
        let end = next_at(lp, vstart);
        if f == field {
            return Some(Pair { value: entry_at(lp, vstart).0, range: at..end, value_range: vstart..end });
        }
        at = end;
    }
    None
}

/// The field/value pairs of a hash listpack.
pub fn pairs(lp: &[u8]) -> impl Iterator<Item = (Elem<'_>, Elem<'_>)> + '_ {
    let mut it = iter(lp);
    std::iter::from_fn(move || Some((it.next()?.0, it.next()?.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_both_ways_across_length_boundaries() {
        let items: Vec<Vec<u8>> =
            [0usize, 1, 125, 126, 127, 128, 16_380, 16_383, 16_384, 70_000].iter().enumerate().map(|(i, &n)| vec![b'a' + i as u8; n]).collect();
        let lp = encode_all(items.iter().map(|v| &v[..]));
        assert_eq!(lp.len(), items.iter().map(|i| encoded_len(i)).sum::<usize>());
        let fwd: Vec<Vec<u8>> = iter(&lp).map(|(i, _)| i.to_vec()).collect();
        assert_eq!(fwd, items.iter().map(|v| &v[..]).collect::<Vec<_>>());
        let mut back: Vec<Vec<u8>> = iter_rev(&lp).map(|(i, _)| i.to_vec()).collect();
        back.reverse();
        assert_eq!(back, fwd);
        assert_eq!(count(&lp), items.len());
        // a 10-byte element: one length byte and one backlen byte
        assert_eq!(encoded_len(b"abcdefghij"), 12);
    }

    #[test]
    fn finds_pairs() {
        let lp = encode_all([&b"f1"[..], b"v1", b"f2", b"", b"v1", b"f1"]);
        let p = find_pair(&lp, b"f2").unwrap();
        assert_eq!(&*p.value, b"");
        assert_eq!(&lp[p.range.clone()], &encode_all([&b"f2"[..], b""])[..]);
        // a value equal to a field name is not a field
        assert_eq!(&*find_pair(&lp, b"v1").unwrap().value, b"f1");
        assert!(find_pair(&lp, b"nope").is_none());
        assert_eq!(pairs(&lp).count(), 3);
    }

    #[test]
    fn integers_take_redis_sizes_and_read_back_as_the_same_text() {
        // (text, encoded bytes incl. backlen) as Redis's listpack stores them
        let cases: &[(&str, usize)] = &[
            ("0", 2),
            ("127", 2),
            ("128", 3),
            ("-1", 3),
            ("-4096", 3),
            ("4095", 3),
            ("4096", 4),
            ("-32768", 4),
            ("32768", 5),
            ("-8388608", 5),
            ("8388607", 5),
            ("8388608", 6),
            ("123456", 5),
            ("2147483647", 6),
            ("-2147483649", 10),
            ("9223372036854775807", 10),
            ("-9223372036854775808", 10),
        ];
        let mut lp = Vec::new();
        for (text, size) in cases {
            assert!(int_of(text.as_bytes()).is_some(), "{text}");
            assert_eq!(encoded_len(text.as_bytes()), *size, "{text}");
            let before = lp.len();
            encode(&mut lp, text.as_bytes());
            assert_eq!(lp.len() - before, *size, "{text}");
        }
        let back: Vec<Vec<u8>> = iter(&lp).map(|(e, _)| e.to_vec()).collect();
        assert_eq!(back, cases.iter().map(|(t, _)| t.as_bytes().to_vec()).collect::<Vec<_>>());
        let mut rev: Vec<Vec<u8>> = iter_rev(&lp).map(|(e, _)| e.to_vec()).collect();
        rev.reverse();
        assert_eq!(rev, back);
        // not canonical: kept as the bytes they are
        for text in ["", "-", "-0", "00", "01", "+1", " 1", "1 ", "1.0", "9223372036854775808", "-9223372036854775809", "12345678901234567890"] {
            assert!(int_of(text.as_bytes()).is_none(), "{text:?}");
            let lp = encode_all([text.as_bytes()]);
            assert_eq!(lp.len(), encoded_len(text.as_bytes()));
            assert_eq!(&*entry_at(&lp, 0).0, text.as_bytes());
        }
        // strings at each length class boundary
        for n in [63usize, 64, 4095, 4096] {
            let v = vec![b'x'; n];
            let lp = encode_all([&v[..], b"7"]);
            assert_eq!(lp.len(), encoded_len(&v) + 2);
            assert_eq!(&*entry_at(&lp, 0).0, &v[..]);
            assert_eq!(&*entry_at(&lp, next_at(&lp, 0)).0, b"7");
        }
    }

    #[test]
    fn random_elements_round_trip() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let items: Vec<Vec<u8>> = (0..2000)
            .map(|_| match next() % 4 {
                0 => (next() as i64 >> (next() % 64)).to_string().into_bytes(),
                1 => format!("{}", next() % 1000).into_bytes(),
                2 => (0..next() % 100).map(|_| b"0123456789-+ a"[(next() % 14) as usize]).collect(),
                _ => vec![b'z'; (next() % 5000) as usize],
            })
            .collect();
        let lp = encode_all(items.iter().map(|v| &v[..]));
        assert_eq!(lp.len(), items.iter().map(|i| encoded_len(i)).sum::<usize>());
        let back: Vec<Vec<u8>> = iter(&lp).map(|(e, _)| e.to_vec()).collect();
        assert_eq!(back, items);
        assert_eq!(ranges_rev(&lp).count(), items.len());
    }
}
