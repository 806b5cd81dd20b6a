//! Bitmap commands on strings, as Redis 7.0's `bitops.c` answers them:
//! SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO, with
//! its argument checks in its order (the key before the range for BITCOUNT
//! and BITPOS; every BITFIELD operation before the key), its offset limit
//! (`proto-max-bulk-len` bytes) and its overflow rules. Bits are numbered
//! from the most significant bit of the first byte.
//!
//! Writes change the string in place through the keyspace's one write
//! path ([`crate::store::Locked::modify`]): a SETBIT on a 512 MB bitmap
//! touches one byte, where a read-copy-write would copy it all.

use super::{Ctx, arg_i64, is, syntax_error, wrong_type};
use crate::resp::Reply;
use crate::store::notify;
use crate::store::{Entry, Kind, WrongType};
use crate::util;
use bytes::Bytes;
use std::sync::atomic::Ordering;

const OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";

/// A bit offset (Redis's `getBitOffsetFromArgument`): `#n` counts in
/// units of `bits` where a BITFIELD type allows it; the byte holding it
/// must be inside `proto-max-bulk-len`.
fn bit_offset(ctx: &Ctx, arg: &[u8], bits: Option<u32>) -> Result<u64, Reply> {
    let err = || Reply::error(OFFSET_ERR);
    let (digits, unit) = match (arg.first(), bits) {
        (Some(b'#'), Some(b)) => (&arg[1..], i64::from(b)),
        _ => (arg, 1),
    };
    let n = util::parse_i64(digits).ok_or_else(err)?.checked_mul(unit).ok_or_else(err)?;
    let max = ctx.server.config.proto_max_bulk_len.load(Ordering::Relaxed);
    if n < 0 || (n as u64 >> 3) >= max as u64 {
        return Err(err());
    }
    Ok(n as u64)
}

/// The string under `key` for a read: `Ok(None)` when missing.
fn read<'a>(e: Option<Entry<'a>>) -> Result<Option<&'a [u8]>, Reply> {
    match e {
        None => Ok(None),
        Some(e) => e.string().map(Some).map_err(|_| wrong_type()),
    }
}

fn bit_at(s: &[u8], offset: u64) -> u8 {
    let byte = (offset >> 3) as usize;
    s.get(byte).map_or(0, |b| (b >> (7 - (offset & 7))) & 1)
}

pub fn setbit(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let offset = match bit_offset(ctx, &args[2], None) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let on = match util::parse_i64(&args[3]) {
        Some(v @ (0 | 1)) => v as u8,
        _ => return Reply::error("ERR bit is not an integer or out of range"),
    };
    let mut l = ctx.lock(&args[1]);
    let byte = (offset >> 3) as usize;
    let shift = 7 - (offset & 7) as u8;
    let old = l.modify(&args[1], Kind::String, true, |slot| {
        slot.grow_zeroed(byte + 1);
        let old = (slot.entry().value()[byte] >> shift) & 1;
        // as Redis 7.0.15: a change (signalled, logged, announced) when
        // the string was created or grew, or the bit flips
        if slot.changed() || old != on {
            let b = &mut slot.inline_mut()[byte];
            *b = (*b & !(1 << shift)) | (on << shift);
        }
        (old, slot.changed())
    });
    match old {
        Err(WrongType) => wrong_type(),
        Ok(r) => {
            let (old, changed) = r.unwrap_or((0, false));
            if changed {
                l.notify(notify::STRING, "setbit", &args[1]);
            }
            Reply::Int(i64::from(old))
        }
    }
}

pub fn getbit(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let offset = match bit_offset(ctx, &args[2], None) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Ok(s) => Reply::Int(i64::from(s.map_or(0, |s| bit_at(s, offset)))),
        Err(r) => r,
    }
}

/// A `start end [BYTE|BIT]` range over `len` bytes as Redis clamps it, in
/// bits, inclusive; `None` when empty. `end` defaults to the string's end.
fn bit_range(len: usize, start: i64, end: Option<i64>, bit_unit: bool) -> Option<(u64, u64)> {
    let total = if bit_unit { (len as i64) << 3 } else { len as i64 };
    let (mut start, mut end) = (start, end.unwrap_or(total - 1));
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    let (start, end) = (start.max(0), end.max(0).min(total - 1));
    if start > end {
        return None;
    }
    Some(if bit_unit { (start as u64, end as u64) } else { ((start as u64) << 3, ((end as u64) << 3) + 7) })
}

fn unit_arg(arg: &[u8]) -> Result<bool, Reply> {
    if is(arg, "bit") {
        Ok(true)
    } else if is(arg, "byte") {
        Ok(false)
    } else {
        Err(syntax_error())
    }
}

/// Set bits in `s` from bit `from` to bit `to`, inclusive.
fn popcount(s: &[u8], from: u64, to: u64) -> u64 {
    let (fb, tb) = ((from >> 3) as usize, (to >> 3) as usize);
    // eight bytes at a time (Redis's `redisPopcount` works by words too)
    let bytes = &s[fb..=tb];
    let mut words = bytes.chunks_exact(8);
    let mut n: u64 = (&mut words).map(|w| u64::from(u64::from_ne_bytes(w.try_into().expect("8 bytes")).count_ones())).sum();
    n += words.remainder().iter().map(|b| u64::from(b.count_ones())).sum::<u64>();
    // the bits of the edge bytes outside the range
    n -= u64::from((s[fb] & !(0xffu8 >> (from & 7))).count_ones());
    n -= u64::from((s[tb] & ((1u8 << (7 - (to & 7))) - 1)).count_ones());
    n
}

/// BITCOUNT key [start end [BYTE|BIT]]
pub fn bitcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    let s = match read(l.read(&args[1])) {
        Ok(Some(s)) => s,
        Ok(None) => return Reply::Int(0),
        Err(r) => return r,
    };
    let range = match args.len() {
        2 => bit_range(s.len(), 0, None, false),
        4 | 5 => {
            let (start, end) = match (arg_i64(&args[2]), arg_i64(&args[3])) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(r), _) | (_, Err(r)) => return r,
            };
            if start < 0 && end < 0 && start > end {
                return Reply::Int(0);
            }
            let bit_unit = match args.get(4).map(|a| unit_arg(a)) {
                None => false,
                Some(Ok(b)) => b,
                Some(Err(r)) => return r,
            };
            bit_range(s.len(), start, Some(end), bit_unit)
        }
        _ => return syntax_error(),
    };
    Reply::Int(range.map_or(0, |(a, b)| popcount(s, a, b)) as i64)
}

/// BITPOS key bit [start [end [BYTE|BIT]]]
pub fn bitpos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let bit = match arg_i64(&args[2]) {
        Ok(b @ (0 | 1)) => b as u8,
        Ok(_) => return Reply::error("ERR The bit argument must be 1 or 0."),
        Err(r) => return r,
    };
    let mut l = ctx.lock(&args[1]);
    let s = match read(l.read(&args[1])) {
        Ok(Some(s)) => s,
        Ok(None) => return Reply::Int(if bit == 1 { -1 } else { 0 }),
        Err(r) => return r,
    };
    if args.len() > 6 {
        return syntax_error();
    }
    let mut end_given = false;
    let range = if args.len() == 3 {
        bit_range(s.len(), 0, None, false)
    } else {
        let start = match arg_i64(&args[3]) {
            Ok(v) => v,
            Err(r) => return r,
        };
        let bit_unit = match args.get(5).map(|a| unit_arg(a)) {
            None => false,
            Some(Ok(b)) => b,
            Some(Err(r)) => return r,
        };
        let end = match args.get(4).map(|a| arg_i64(a)) {
            None => None,
            Some(Ok(v)) => {
                end_given = true;
                Some(v)
            }
            Some(Err(r)) => return r,
        };
        bit_range(s.len(), start, end, bit_unit)
    };
    let Some((from, to)) = range else { return Reply::Int(-1) };
    match (from..=to).find(|&i| bit_at(s, i) == bit) {
        Some(i) => Reply::Int(i as i64),
        // no clear bit: the string continues with zeros after its end,
        // unless the range was given an end
        None if bit == 0 && !end_given => Reply::Int((((to >> 3) + 1) << 3) as i64),
        None => Reply::Int(-1),
    }
}

/// BITOP AND | OR | XOR | NOT destkey key [key ...]
pub fn bitop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    #[derive(PartialEq)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let op = match &args[1] {
        a if is(a, "and") => Op::And,
        a if is(a, "or") => Op::Or,
        a if is(a, "xor") => Op::Xor,
        a if is(a, "not") => Op::Not,
        _ => return syntax_error(),
    };
    if op == Op::Not && args.len() != 4 {
        return Reply::error("ERR BITOP NOT must be called with a single source key.");
    }
    let mut l = ctx.lock_many(&args[2..]);
    let db = l.db();
    let mut sources: Vec<Option<Vec<u8>>> = Vec::with_capacity(args.len() - 3);
    for k in &args[3..] {
        match read(l.read_in(db, k)) {
            Ok(s) => sources.push(s.map(|s| s.to_vec())),
            Err(r) => return r,
        }
    }
    let max = sources.iter().map(|s| s.as_ref().map_or(0, |s| s.len())).max().unwrap_or(0);
    let mut out = vec![0u8; max];
    for (i, o) in out.iter_mut().enumerate() {
        let byte = |s: &Option<Vec<u8>>| s.as_ref().and_then(|s| s.get(i)).copied().unwrap_or(0);
        let mut it = sources.iter().map(byte);
        let first = it.next().unwrap_or(0);
        *o = match op {
            Op::Not => !first,
            Op::And => it.fold(first, |a, b| a & b),
            Op::Or => it.fold(first, |a, b| a | b),
            Op::Xor => it.fold(first, |a, b| a ^ b),
        };
    }
    if max == 0 {
        if l.delete(&args[2]) {
            l.notify(notify::GENERIC, "del", &args[2]);
        }
    } else {
        l.set(&args[2], &out, 0);
        l.notify(notify::STRING, "set", &args[2]);
    }
    Reply::Int(max as i64)
}

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

enum FieldOp {
    Get,
    Set(i64),
    Incr(i64),
}

struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

/// `i8` ... `i64`, `u1` ... `u63`.
fn field_type(arg: &[u8]) -> Result<(bool, u32), Reply> {
    let err = || Reply::error("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.");
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err()),
    };
    match util::parse_i64(&arg[1..]) {
        Some(b) if b >= 1 && b <= if signed { 64 } else { 63 } => Ok((signed, b as u32)),
        _ => Err(err()),
    }
}

/// The `bits`-wide field at bit `offset` of `s` (zeros past its end).
fn get_field(s: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0u64, |v, i| (v << 1) | u64::from(bit_at(s, offset + i)))
}

fn set_field(s: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..u64::from(bits) {
        let bit = ((value >> (u64::from(bits) - 1 - i)) & 1) as u8;
        let at = offset + i;
        let (byte, shift) = ((at >> 3) as usize, 7 - (at & 7) as u8);
        s[byte] = (s[byte] & !(1 << shift)) | (bit << shift);
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    if bits == 64 { v as i64 } else { ((v << (64 - bits)) as i64) >> (64 - bits) }
}

/// The value written for `value + incr` in a field (Redis's
/// `check(Un)signedBitfieldOverflow`): `None` when it overflows and the
/// policy is FAIL. `value` is the field's old value for INCRBY, the given
/// value (as the bit pattern Redis would see) for SET.
fn fit(value: i128, incr: i128, signed: bool, bits: u32, overflow: Overflow) -> Option<u64> {
    let (min, max) = if signed { (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1) } else { (0, (1i128 << bits) - 1) };
    let sum = value + incr;
    if (min..=max).contains(&sum) {
        return Some(sum as u64 & mask(bits));
    }
    match overflow {
        Overflow::Fail => None,
        Overflow::Sat => Some((if sum > max { max } else { min }) as u64 & mask(bits)),
        Overflow::Wrap => Some((sum as u64) & mask(bits)),
    }
}

fn mask(bits: u32) -> u64 {
    if bits == 64 { u64::MAX } else { (1 << bits) - 1 }
}

/// BITFIELD and BITFIELD_RO (`read_only`): every operation is checked
/// before the key is looked up, as in Redis.
fn bitfield_generic(ctx: &mut Ctx, args: &[Bytes], read_only: bool) -> Reply {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest: Option<u64> = None;
    let mut j = 2;
    while j < args.len() {
        let rest = args.len() - j - 1;
        let a = &args[j];
        let op = if is(a, "get") && rest >= 2 {
            0
        } else if is(a, "set") && rest >= 3 {
            1
        } else if is(a, "incrby") && rest >= 3 {
            2
        } else if is(a, "overflow") && rest >= 1 {
            overflow = match &args[j + 1] {
                t if is(t, "wrap") => Overflow::Wrap,
                t if is(t, "sat") => Overflow::Sat,
                t if is(t, "fail") => Overflow::Fail,
                _ => return Reply::error("ERR Invalid OVERFLOW type specified"),
            };
            j += 2;
            continue;
        } else {
            return syntax_error();
        };
        let (signed, bits) = match field_type(&args[j + 1]) {
            Ok(t) => t,
            Err(r) => return r,
        };
        let offset = match bit_offset(ctx, &args[j + 2], Some(bits)) {
            Ok(o) => o,
            Err(r) => return r,
        };
        let op = match op {
            0 => FieldOp::Get,
            _ => {
                let v = match arg_i64(&args[j + 3]) {
                    Ok(v) => v,
                    Err(r) => return r,
                };
                let last = offset + u64::from(bits) - 1;
                highest = Some(highest.map_or(last, |h| h.max(last)));
                if op == 1 { FieldOp::Set(v) } else { FieldOp::Incr(v) }
            }
        };
        fields.push(Field { op, signed, bits, offset, overflow });
        j += if matches!(fields.last().map(|f| &f.op), Some(FieldOp::Get)) { 3 } else { 4 };
    }
    let value_of = |signed: bool, bits: u32, raw: u64| if signed { sign_extend(raw, bits) } else { raw as i64 };
    let mut l = ctx.lock(&args[1]);
    let Some(highest) = highest else {
        // reads only
        let s = match read(l.read(&args[1])) {
            Ok(s) => s.unwrap_or_default(),
            Err(r) => return r,
        };
        return Reply::Array(fields.iter().map(|f| Reply::Int(value_of(f.signed, f.bits, get_field(s, f.offset, f.bits)))).collect());
    };
    if read_only {
        return Reply::error("ERR BITFIELD_RO only supports the GET subcommand");
    }
    let replies = l.modify(&args[1], Kind::String, true, |slot| {
        slot.grow_zeroed((highest >> 3) as usize + 1);
        let mut out = Vec::with_capacity(fields.len());
        let mut changes = 0;
        for f in &fields {
            let old = get_field(slot.entry().value(), f.offset, f.bits);
            let old_value = value_of(f.signed, f.bits, old);
            let (new, reply) = match f.op {
                FieldOp::Get => {
                    out.push(Reply::Int(old_value));
                    continue;
                }
                FieldOp::Set(v) => {
                    // an unsigned field sees the value's bit pattern, as
                    // Redis's `uint64_t` does
                    let given = if f.signed { i128::from(v) } else { i128::from(v as u64) };
                    (fit(given, 0, f.signed, f.bits, f.overflow), old_value)
                }
                FieldOp::Incr(d) => {
                    let new = fit(i128::from(old_value), i128::from(d), f.signed, f.bits, f.overflow);
                    (new, new.map_or(0, |n| value_of(f.signed, f.bits, n)))
                }
            };
            match new {
                None => out.push(Reply::Nil),
                Some(n) => {
                    if n != old {
                        set_field(slot.inline_mut(), f.offset, f.bits, n);
                    }
                    changes += 1;
                    out.push(Reply::Int(reply));
                }
            }
        }
        (out, changes)
    });
    match replies {
        Err(WrongType) => wrong_type(),
        Ok(r) => {
            let (out, changes) = r.unwrap_or_default();
            if changes > 0 {
                l.notify(notify::STRING, "setbit", &args[1]);
            }
            Reply::Array(out)
        }
    }
}

pub fn bitfield(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bitfield_generic(ctx, args, false)
}

pub fn bitfield_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bitfield_generic(ctx, args, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn popcount_counts_inside_the_bit_range() {
        let s = [0xffu8, 0x0f, 0xf0];
        assert_eq!(popcount(&s, 0, 23), 16);
        assert_eq!(popcount(&s, 4, 11), 4);
        assert_eq!(popcount(&s, 12, 19), 8);
        assert_eq!(popcount(&s, 13, 13), 1);
        assert_eq!(popcount(&s, 8, 11), 0);
    }

    #[test]
    fn fields_round_trip_and_overflow_as_redis() {
        let mut s = [0u8; 4];
        set_field(&mut s, 3, 10, 0x2a5);
        assert_eq!(get_field(&s, 3, 10), 0x2a5);
        assert_eq!(sign_extend(get_field(&s, 3, 10), 10), 0x2a5 - 1024);
        assert_eq!(fit(250, 10, false, 8, Overflow::Wrap), Some(4));
        assert_eq!(fit(250, 10, false, 8, Overflow::Sat), Some(255));
        assert_eq!(fit(250, 10, false, 8, Overflow::Fail), None);
        assert_eq!(fit(-128, -1, true, 8, Overflow::Wrap), Some(127));
        assert_eq!(fit(-128, -1, true, 8, Overflow::Sat), Some(0x80));
        assert_eq!(fit(i128::from(i64::MAX), 1, true, 64, Overflow::Wrap), Some(i64::MIN as u64));
    }
}
