//! The compact encoding of small collections, after Redis's listpack: a
//! run of entries, each `[length][bytes][backlen]`, walkable from either
//! end.
//!
//! - `length` is the byte count as a LEB128 varint (one byte up to 127);
//! - `backlen` is the size of `length` plus the bytes, written so that it
//!   reads from its last byte backwards: the last byte holds the low seven
//!   bits, and a set high bit says another byte precedes.
//!
//! A 10-byte element costs 12 bytes, as in Redis's listpack (Redis also
//! packs integers tighter; we do not yet). There is no header: the
//! container knows the total length (the entry's value length or a
//! `Vec`'s), and counts are walked (collections stay compact only while
//! small). Written by hand because the byte layout is the point: it lives
//! inside the keyspace entry's own allocation, so a small hash or list
//! costs one allocation with its key.
//!
//! Edits are expressed as splices (`range` of the encoding replaced by new
//! bytes), which the owner applies to wherever the bytes live.

use std::ops::Range;

/// Bytes `n` takes as a forward varint.
fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_backlen(out: &mut Vec<u8>, n: usize) {
    let groups = varint_len(n);
    for g in (0..groups).rev() {
        let bits = ((n >> (7 * g)) & 0x7f) as u8;
        out.push(if g + 1 < groups { bits | 0x80 } else { bits });
    }
}

/// Bytes one element takes encoded.
pub fn encoded_len(item: &[u8]) -> usize {
    let head = varint_len(item.len()) + item.len();
    head + varint_len(head)
}

/// Appends one encoded element.
pub fn encode(out: &mut Vec<u8>, item: &[u8]) {
    put_varint(out, item.len());
    out.extend_from_slice(item);
    put_backlen(out, varint_len(item.len()) + item.len());
}

/// The encoding of `items`, in order.
pub fn encode_all<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for i in items {
        encode(&mut out, i);
    }
    out
}

/// The element starting at `at`, and where the next one starts.
pub fn entry_at(lp: &[u8], at: usize) -> (&[u8], usize) {
    let (mut len, mut shift, mut i) = (0usize, 0, at);
    loop {
        let b = lp[i];
        len |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let item = &lp[i..i + len];
    let head = i - at + len;
    (item, i + len + varint_len(head))
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

/// Walks the elements front to back: `(element, its byte range)`.
pub fn iter(lp: &[u8]) -> impl Iterator<Item = (&[u8], Range<usize>)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        (at < lp.len()).then(|| {
            let (item, next) = entry_at(lp, at);
            let r = at..next;
            at = next;
            (item, r)
        })
    })
}

/// Walks the elements back to front.
pub fn iter_rev(lp: &[u8]) -> impl Iterator<Item = (&[u8], Range<usize>)> + '_ {
    let mut end = lp.len();
    std::iter::from_fn(move || {
        (end > 0).then(|| {
            let start = start_before(lp, end);
            let r = start..end;
            end = start;
            (entry_at(lp, start).0, r)
        })
    })
}

pub fn count(lp: &[u8]) -> usize {
    iter(lp).count()
}

/// A field of a hash stored as alternating field and value elements: the
/// value, the pair's byte range and the value's.
pub struct Pair<'a> {
    pub value: &'a [u8],
    pub range: Range<usize>,
    pub value_range: Range<usize>,
}

/// Finds `field` in a field/value listpack.
pub fn find_pair<'a>(lp: &'a [u8], field: &[u8]) -> Option<Pair<'a>> {
    let mut at = 0;
    while at < lp.len() {
        let (f, vstart) = entry_at(lp, at);
        let (v, end) = entry_at(lp, vstart);
        if f == field {
            return Some(Pair { value: v, range: at..end, value_range: vstart..end });
        }
        at = end;
    }
    None
}

/// The field/value pairs of a hash listpack.
pub fn pairs(lp: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
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
        let fwd: Vec<&[u8]> = iter(&lp).map(|(i, _)| i).collect();
        assert_eq!(fwd, items.iter().map(|v| &v[..]).collect::<Vec<_>>());
        let mut back: Vec<&[u8]> = iter_rev(&lp).map(|(i, _)| i).collect();
        back.reverse();
        assert_eq!(back, fwd);
        assert_eq!(count(&lp), items.len());
        // a 10-byte element: one length byte and one backlen byte
        assert_eq!(encoded_len(b"0123456789"), 12);
    }

    #[test]
    fn finds_pairs() {
        let lp = encode_all([&b"f1"[..], b"v1", b"f2", b"", b"v1", b"f1"]);
        let p = find_pair(&lp, b"f2").unwrap();
        assert_eq!(p.value, b"");
        assert_eq!(&lp[p.range.clone()], &encode_all([&b"f2"[..], b""])[..]);
        // a value equal to a field name is not a field
        assert_eq!(find_pair(&lp, b"v1").unwrap().value, b"f1");
        assert!(find_pair(&lp, b"nope").is_none());
        assert_eq!(pairs(&lp).count(), 3);
    }
}
