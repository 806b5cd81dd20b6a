//! HyperLogLog in Redis's own representation, byte for byte (Redis 7.0's
//! `hyperloglog.c`), so a HyperLogLog string DUMPed from redis-server
//! counts the same here and the other way round:
//!
//! - a 16-byte header: `HYLL`, the encoding (0 dense, 1 sparse), three
//!   zero bytes, the cached cardinality (little-endian; the top bit of
//!   its last byte set means "stale");
//! - dense: 16384 registers of 6 bits, least significant bits first;
//! - sparse: run-length opcodes, ZERO `00xxxxxx` (1-64 zero registers),
//!   XZERO `01xxxxxx yyyyyyyy` (1-16384), VAL `1vvvvvxx` (1-4 registers of
//!   value 1-32), promoted to dense past `hll-sparse-max-bytes` or at a
//!   value over 32.
//!
//! Elements are hashed with MurmurHash64A (seed `0xadc83b19`); the count
//! is Ertl's improved estimator, computed with the same floating-point
//! steps as Redis so the numbers agree exactly. Updates to a sparse
//! HyperLogLog follow Redis's splitting and merging of opcodes step by
//! step: the same elements added in the same order give the same bytes.
//!
//! Written by hand: no crate implements Redis's representation.

/// Registers (`HLL_P` = 14).
pub const REGISTERS: usize = 1 << 14;
const P: u32 = 14;
const Q: u32 = 64 - P;
pub const HEADER: usize = 16;
pub const DENSE_SIZE: usize = HEADER + REGISTERS * 6 / 8;
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// The HyperLogLog is corrupt (Redis's `-INVALIDOBJ`).
#[derive(Debug, PartialEq, Eq)]
pub struct Corrupt;

/// Redis's MurmurHash64A.
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, &b) in rest.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element goes to and the length of its 0...1 pattern.
pub fn pattern(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, 0xadc8_3b19);
    let index = (hash as usize) & (REGISTERS - 1);
    let rest = (hash >> P) | (1 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// A new, empty HyperLogLog (sparse: one XZERO covering every register).
pub fn new_sparse() -> Vec<u8> {
    let mut v = header(SPARSE);
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        push_xzero(&mut v, n);
        left -= n;
    }
    v
}

fn header(encoding: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(if encoding == DENSE { DENSE_SIZE } else { 64 });
    v.extend_from_slice(b"HYLL");
    v.extend_from_slice(&[encoding, 0, 0, 0]);
    v.extend_from_slice(&[0; 8]);
    v
}

fn push_xzero(v: &mut Vec<u8>, len: usize) {
    let l = len - 1;
    v.push((l >> 8) as u8 | 0x40);
    v.push((l & 0xff) as u8);
}

/// Whether `s` is a HyperLogLog Redis would accept (`isHLLObjectOrReply`).
pub fn is_valid(s: &[u8]) -> bool {
    s.len() >= HEADER && &s[..4] == b"HYLL" && s[4] <= SPARSE && (s[4] != DENSE || s.len() == DENSE_SIZE)
}

pub fn is_dense(s: &[u8]) -> bool {
    s[4] == DENSE
}

/// The cached cardinality, if it is not stale.
pub fn cached(s: &[u8]) -> Option<u64> {
    (s[15] & 0x80 == 0).then(|| u64::from_le_bytes(s[8..16].try_into().expect("8 bytes")))
}

pub fn set_cache(s: &mut [u8], card: u64) {
    s[8..16].copy_from_slice(&card.to_le_bytes());
}

pub fn invalidate(s: &mut [u8]) {
    s[15] |= 0x80;
}

/// A dense register (`HLL_DENSE_GET_REGISTER`; the byte after the last
/// register reads as zero, as Redis's terminator does).
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = u16::from(regs[byte]);
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & 63) as u8
}

fn dense_put(regs: &mut [u8], i: usize, val: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = u16::from(val);
    regs[byte] &= !((63u16 << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if let Some(next) = regs.get_mut(byte + 1) {
        *next &= !((63u16 >> (8 - fb)) as u8);
        *next |= (v >> (8 - fb)) as u8;
    }
}

/// Raises register `i` of a dense HyperLogLog's registers to `count`;
/// true if it changed.
pub fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

/// One sparse opcode: (registers it covers, value, bytes).
fn opcode(b: &[u8], at: usize) -> (usize, u8, usize) {
    let c = b[at];
    if c & 0xc0 == 0 {
        (usize::from(c & 0x3f) + 1, 0, 1)
    } else if c & 0x80 == 0 {
        let second = b.get(at + 1).copied().unwrap_or(0);
        ((usize::from(c & 0x3f) << 8 | usize::from(second)) + 1, 0, 2)
    } else {
        (usize::from(c & 0x3) + 1, ((c >> 2) & 0x1f) + 1, 1)
    }
}

fn val_op(val: u8, len: usize) -> u8 {
    ((val - 1) << 2 | (len as u8 - 1)) | 0x80
}

/// The registers of any HyperLogLog, one byte each.
pub fn registers(s: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let mut regs = vec![0u8; REGISTERS];
    merge(&mut regs, s)?;
    Ok(regs)
}

/// `max[i] = max(max[i], register i)` (Redis's `hllMerge`).
pub fn merge(max: &mut [u8], s: &[u8]) -> Result<(), Corrupt> {
    if is_dense(s) {
        let regs = &s[HEADER..];
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(regs, i));
        }
        return Ok(());
    }
    let (mut at, mut i) = (HEADER, 0usize);
    while at < s.len() {
        let (run, val, len) = opcode(s, at);
        if val > 0 {
            if run + i > REGISTERS {
                break;
            }
            for m in &mut max[i..i + run] {
                *m = (*m).max(val);
            }
        }
        i += run;
        at += len;
    }
    if i != REGISTERS { Err(Corrupt) } else { Ok(()) }
}

/// The dense form of `s` (Redis's `hllSparseToDense`: the header, with its
/// cache, is kept).
pub fn to_dense(s: &[u8]) -> Result<Vec<u8>, Corrupt> {
    if is_dense(s) {
        return Ok(s.to_vec());
    }
    let mut out = s[..HEADER].to_vec();
    out[4] = DENSE;
    out.resize(DENSE_SIZE, 0);
    let (mut at, mut i) = (HEADER, 0usize);
    while at < s.len() {
        let (run, val, len) = opcode(s, at);
        if val > 0 {
            if run + i > REGISTERS {
                break;
            }
            for r in i..i + run {
                dense_put(&mut out[HEADER..], r, val);
            }
        }
        i += run;
        at += len;
    }
    if i != REGISTERS { Err(Corrupt) } else { Ok(out) }
}

/// Raises register `index` of the HyperLogLog in `v` to `count` (Redis's
/// `hllSparseSet` / `hllDenseSet`); true if it changed. A sparse one may
/// become dense (past `max_bytes`, or a value over 32).
pub fn set(v: &mut Vec<u8>, index: usize, count: u8, max_bytes: usize) -> Result<bool, Corrupt> {
    if is_dense(v) {
        return Ok(dense_set(&mut v[HEADER..], index, count));
    }
    if count > VAL_MAX_VALUE {
        return promote(v, index, count);
    }
    // step 1: the opcode covering `index`
    let (mut at, mut first, mut prev) = (HEADER, 0usize, None);
    let mut found = None;
    while at < v.len() {
        let (span, val, len) = opcode(v, at);
        if index < first + span {
            found = Some((span, val, len));
            break;
        }
        prev = Some(at);
        at += len;
        first += span;
    }
    let Some((span, val, oplen)) = found else { return Err(Corrupt) };
    if at + oplen > v.len() {
        // an XZERO cut short by the end of the string
        return Err(Corrupt);
    }
    let is_val = v[at] & 0x80 != 0;
    if is_val {
        // already as high: nothing to do; alone in its run: just raise it
        if val >= count {
            return Ok(false);
        }
        if span == 1 {
            v[at] = val_op(count, 1);
            merge_adjacent(v, prev);
            return Ok(true);
        }
    }
    if !is_val && oplen == 1 && span == 1 {
        v[at] = val_op(count, 1);
        merge_adjacent(v, prev);
        return Ok(true);
    }
    // step 2: split the run around `index`
    let last = first + span - 1;
    let mut seq = Vec::with_capacity(5);
    let zeros = |seq: &mut Vec<u8>, len: usize| {
        if len > ZERO_MAX_LEN {
            push_xzero(seq, len);
        } else {
            seq.push((len - 1) as u8);
        }
    };
    if !is_val {
        if index != first {
            zeros(&mut seq, index - first);
        }
        seq.push(val_op(count, 1));
        if index != last {
            zeros(&mut seq, last - index);
        }
    } else {
        if index != first {
            seq.push(val_op(val, index - first));
        }
        seq.push(val_op(count, 1));
        if index != last {
            seq.push(val_op(val, last - index));
        }
    }
    if seq.len() > oplen && v.len() + seq.len() - oplen > max_bytes {
        return promote(v, index, count);
    }
    v.splice(at..at + oplen, seq);
    merge_adjacent(v, prev);
    Ok(true)
}

/// Redis's step 4: merges adjacent VAL opcodes of one value, scanning up
/// to five opcodes from the one before the change.
fn merge_adjacent(v: &mut Vec<u8>, prev: Option<usize>) {
    let mut p = prev.unwrap_or(HEADER);
    let mut scan = 5;
    while p < v.len() && scan > 0 {
        scan -= 1;
        let c = v[p];
        if c & 0xc0 == 0x40 {
            p += 2;
            continue;
        }
        if c & 0xc0 == 0 {
            p += 1;
            continue;
        }
        if p + 1 < v.len() && v[p + 1] & 0x80 != 0 {
            let (l1, v1, _) = opcode(v, p);
            let (l2, v2, _) = opcode(v, p + 1);
            if v1 == v2 && l1 + l2 <= VAL_MAX_LEN {
                v[p + 1] = val_op(v1, l1 + l2);
                v.remove(p);
                continue;
            }
        }
        p += 1;
    }
}

fn promote(v: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    *v = to_dense(v)?;
    dense_set(&mut v[HEADER..], index, count);
    Ok(true)
}

/// PFADD of one element; true if a register changed.
pub fn add(v: &mut Vec<u8>, ele: &[u8], max_bytes: usize) -> Result<bool, Corrupt> {
    let (index, count) = pattern(ele);
    set(v, index, count, max_bytes)
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let z_prime = z;
        z += x * y;
        y += y;
        if z_prime == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let z_prime = z;
        y *= 0.5;
        z -= (1.0 - x).powf(2.0) * y;
        if z_prime == z {
            return z / 3.0;
        }
    }
}

/// The estimate from a histogram of register values (Redis's `hllCount`).
fn estimate(histo: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(histo[Q as usize + 1])) / m);
    for j in (1..=Q as usize).rev() {
        z += f64::from(histo[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// The cardinality of a HyperLogLog (ignoring its cache).
pub fn count(s: &[u8]) -> Result<u64, Corrupt> {
    let mut histo = [0u32; 64];
    if is_dense(s) {
        let regs = &s[HEADER..];
        for i in 0..REGISTERS {
            histo[usize::from(dense_get(regs, i))] += 1;
        }
    } else {
        let (mut at, mut i) = (HEADER, 0usize);
        while at < s.len() {
            let (run, val, len) = opcode(s, at);
            histo[usize::from(val)] += run as u32;
            i += run;
            at += len;
        }
        if i != REGISTERS {
            return Err(Corrupt);
        }
    }
    Ok(estimate(&histo))
}

/// The cardinality of registers given one per byte (PFCOUNT of several).
pub fn count_registers(regs: &[u8]) -> u64 {
    let mut histo = [0u32; 64];
    for &r in regs {
        histo[usize::from(r & 63)] += 1;
    }
    estimate(&histo)
}

/// A sparse HyperLogLog holding `regs` (PFMERGE into a sparse target: set
/// register by register, as Redis does).
pub fn merged_into(mut target: Vec<u8>, regs: &[u8], max_bytes: usize) -> Result<Vec<u8>, Corrupt> {
    for (i, &r) in regs.iter().enumerate() {
        if r != 0 {
            set(&mut target, i, r, max_bytes)?;
        }
    }
    invalidate(&mut target);
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur_matches_the_reference() {
        // MurmurHash64A reference values (seed 0)
        assert_eq!(murmur64a(b"", 0), 0);
        assert_ne!(murmur64a(b"a", 0xadc8_3b19), murmur64a(b"b", 0xadc8_3b19));
    }

    #[test]
    fn registers_round_trip_and_sparse_promotes() {
        let mut v = new_sparse();
        assert_eq!(v.len(), HEADER + 2);
        assert_eq!(count(&v), Ok(0));
        for i in 0..1000 {
            add(&mut v, format!("e{i}").as_bytes(), 3000).unwrap();
        }
        assert!(!is_dense(&v));
        let c = count(&v).unwrap();
        assert!((950..=1050).contains(&c), "{c}");
        let dense = to_dense(&v).unwrap();
        assert_eq!(count(&dense), Ok(c));
        assert_eq!(registers(&dense).unwrap(), registers(&v).unwrap());
        for i in 1000..5000 {
            add(&mut v, format!("e{i}").as_bytes(), 3000).unwrap();
        }
        assert!(is_dense(&v), "past 3000 bytes");
        let mut regs = vec![0u8; DENSE_SIZE - HEADER];
        dense_put(&mut regs, REGISTERS - 1, 63);
        assert_eq!(dense_get(&regs, REGISTERS - 1), 63);
        assert_eq!(dense_get(&regs, REGISTERS - 2), 0);
    }
}
