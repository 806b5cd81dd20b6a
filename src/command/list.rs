//! List commands, as Redis 7.0's `t_list.c` answers them: reply shapes in
//! RESP2 and RESP3, error texts and the order checks happen in (arguments
//! before the key for LRANGE, LTRIM, LREM, LPOS; the key first for LINDEX
//! and LSET). Writes go through the keyspace's one write path
//! ([`crate::store::Locked::modify`]), which edits the list in place and
//! removes it once empty.

use super::{Ctx, is, not_integer, syntax_error, wrong_arity, wrong_type};
use crate::resp::Reply;
use crate::store::list::{self, Limits, ListRef};
use crate::store::notify;
use crate::store::{Entry, Kind, Locked, WrongType, effects};
use crate::util;
use bytes::Bytes;

pub use crate::store::list::limits_of;

fn limits(ctx: &Ctx) -> Limits {
    limits_of(&ctx.server.config)
}

/// The list under `key` for a read: `Ok(None)` when missing.
fn read<'a>(e: Option<Entry<'a>>) -> Result<Option<ListRef<'a>>, Reply> {
    match e {
        None => Ok(None),
        Some(e) => e.list().map(Some).map_err(|_| wrong_type()),
    }
}

/// Redis's `getLongFromObjectOrReply` with its default message.
fn arg_long(arg: &[u8]) -> Result<i64, Reply> {
    util::parse_i64(arg).ok_or_else(not_integer)
}

/// Redis's `getRangeLongFromObjectOrReply` with a message: the same text
/// for "not a number" and "out of range".
use super::arg_ranged;

/// LEFT / RIGHT: true for LEFT (the head).
fn arg_side(arg: &[u8]) -> Result<bool, Reply> {
    if is(arg, "left") {
        Ok(true)
    } else if is(arg, "right") {
        Ok(false)
    } else {
        Err(syntax_error())
    }
}

/// An inclusive `start..=stop` range with negative indexes from the end, as
/// Redis clamps it; `None` when empty.
fn range_of(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop.min(len - 1) as usize))
}

/// An index with negative values from the end, if inside the list.
fn index_of(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&i).then_some(i as usize)
}

fn bulks(items: Vec<Vec<u8>>) -> Reply {
    Reply::Array(items.into_iter().map(|v| Reply::Bulk(v.into())).collect())
}

/// LPUSH, RPUSH, LPUSHX, RPUSHX.
fn push(ctx: &mut Ctx, args: &[Bytes], front: bool, only_existing: bool) -> Reply {
    let limits = limits(ctx);
    let mut l = ctx.lock(&args[1]);
    match l.modify(&args[1], Kind::List, !only_existing, |slot| list::push(slot, limits, &args[2..], front)) {
        Err(WrongType) => wrong_type(),
        Ok(None) => Reply::Int(0),
        Ok(Some(n)) => {
            pushed(&l, &args[1], front);
            Reply::Int(n as i64)
        }
    }
}

/// Redis's events for a push: `lpush` or `rpush`.
fn pushed(l: &Locked<'_>, key: &[u8], front: bool) {
    l.notify(notify::LIST, if front { "lpush" } else { "rpush" }, key);
}

/// Redis's events for a pop (`listElementsRemoved`): `lpop` or `rpop`,
/// then `del` if the list went.
fn popped(l: &mut Locked<'_>, key: &[u8], front: bool) {
    l.notify_removed(notify::LIST, if front { "lpop" } else { "rpop" }, key);
}

pub fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push(ctx, args, true, false)
}

pub fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push(ctx, args, false, false)
}

pub fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push(ctx, args, true, true)
}

pub fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push(ctx, args, false, true)
}

/// Pops up to `count` from `key`: `None` when the key is missing.
pub fn pop_from(l: &mut Locked<'_>, limits: Limits, key: &[u8], front: bool, count: usize) -> Result<Option<Vec<Vec<u8>>>, WrongType> {
    l.modify(key, Kind::List, false, |slot| list::pop(slot, limits, front, count))
}

/// LPOP and RPOP, with or without a count.
fn pop(ctx: &mut Ctx, args: &[Bytes], front: bool) -> Reply {
    if args.len() > 3 {
        return wrong_arity(&String::from_utf8_lossy(&args[0]));
    }
    let count = match args.get(2) {
        None => None,
        Some(c) => match arg_ranged(c, 0, "value is out of range, must be positive") {
            Ok(c) => Some(c as usize),
            Err(r) => return r,
        },
    };
    let limits = limits(ctx);
    let mut l = ctx.lock(&args[1]);
    if count == Some(0) {
        // Redis checks the key (and its type) before the fast exit.
        return match l.kind_of(&args[1]) {
            None => Reply::NilArray,
            Some(Kind::List) => Reply::Array(vec![]),
            Some(_) => wrong_type(),
        };
    }
    let r = pop_from(&mut l, limits, &args[1], front, count.unwrap_or(1));
    if let Ok(Some(_)) = r {
        popped(&mut l, &args[1], front);
    }
    match r {
        Err(WrongType) => wrong_type(),
        Ok(None) if count.is_some() => Reply::NilArray,
        Ok(None) => Reply::Nil,
        Ok(Some(items)) if count.is_some() => bulks(items),
        Ok(Some(mut items)) => Reply::Bulk(items.pop().expect("a list has an element").into()),
    }
}

pub fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop(ctx, args, true)
}

pub fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop(ctx, args, false)
}

pub fn llen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Ok(list) => Reply::Int(list.map_or(0, |l| l.len()) as i64),
        Err(r) => r,
    }
}

pub fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    let list = match read(l.read(&args[1])) {
        Ok(None) => return Reply::Nil,
        Ok(Some(list)) => list,
        Err(r) => return r,
    };
    let index = match arg_long(&args[2]) {
        Ok(i) => i,
        Err(r) => return r,
    };
    index_of(index, list.len()).and_then(|i| list.get(i)).map(Reply::bulk).unwrap_or(Reply::Nil)
}

pub fn lset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let limits = limits(ctx);
    let mut l = ctx.lock(&args[1]);
    let len = match read(l.read(&args[1])) {
        Ok(None) => return Reply::error("ERR no such key"),
        Ok(Some(list)) => list.len(),
        Err(r) => return r,
    };
    let Some(i) = (match arg_long(&args[2]) {
        Ok(i) => index_of(i, len),
        Err(r) => return r,
    }) else {
        return Reply::error("ERR index out of range");
    };
    let _ = l.modify(&args[1], Kind::List, false, |slot| list::set(slot, limits, i, &args[3]));
    l.notify(notify::LIST, "lset", &args[1]);
    Reply::Ok
}

pub fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let after = if is(&args[2], "after") {
        true
    } else if is(&args[2], "before") {
        false
    } else {
        return syntax_error();
    };
    let limits = limits(ctx);
    let mut l = ctx.lock(&args[1]);
    let pivot = match read(l.read(&args[1])) {
        Ok(None) => return Reply::Int(0),
        Ok(Some(list)) => list.iter().position(|e| *e == args[3][..]),
        Err(r) => return r,
    };
    let Some(at) = pivot else { return Reply::Int(-1) };
    let at = if after { at + 1 } else { at };
    match l.modify(&args[1], Kind::List, false, |slot| {
        list::insert(slot, limits, at, &args[4]);
        ListRef::of(slot.entry()).len()
    }) {
        Ok(Some(n)) => {
            l.notify(notify::LIST, "linsert", &args[1]);
            Reply::Int(n as i64)
        }
        _ => Reply::Int(0),
    }
}

pub fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (start, stop) = match (arg_long(&args[2]), arg_long(&args[3])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Ok(None) => Reply::Array(vec![]),
        Ok(Some(list)) => match range_of(start, stop, list.len()) {
            None => Reply::Array(vec![]),
            Some((a, b)) => {
                let mut out = crate::resp::reply::BulkArray::new(b - a + 1);
                list.iter_from(a).take(b - a + 1).for_each(|e| out.push(&e));
                out.finish()
            }
        },
        Err(r) => r,
    }
}

pub fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (start, stop) = match (arg_long(&args[2]), arg_long(&args[3])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let limits = limits(ctx);
    let mut l = ctx.lock(&args[1]);
    let len = match read(l.read(&args[1])) {
        Ok(None) => return Reply::Ok,
        Ok(Some(list)) => list.len(),
        Err(r) => return r,
    };
    let (a, b) = range_of(start, stop, len).map_or((0, 0), |(a, b)| (a, b + 1));
    // Redis signals the key even when nothing was trimmed (so does keep).
    let _ = l.modify(&args[1], Kind::List, false, |slot| list::keep(slot, limits, a, b));
    l.notify_removed(notify::LIST, "ltrim", &args[1]);
    Reply::Ok
}

pub fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let count = match arg_long(&args[2]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let limits = limits(ctx);
    let mut l = ctx.lock(&args[1]);
    match l.modify(&args[1], Kind::List, false, |slot| list::remove(slot, limits, &args[3], count.unsigned_abs().min(usize::MAX as u64) as usize, count < 0)) {
        Err(WrongType) => wrong_type(),
        Ok(n) => {
            let n = n.unwrap_or(0);
            if n > 0 {
                l.notify_removed(notify::LIST, "lrem", &args[1]);
            }
            Reply::Int(n as i64)
        }
    }
}

pub fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0usize);
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        if is(&args[j], "rank") && more {
            j += 1;
            rank = match arg_long(&args[j]) {
                Ok(0) => {
                    return Reply::error(
                        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                    );
                }
                Ok(r) => r,
                Err(r) => return r,
            };
        } else if is(&args[j], "count") && more {
            j += 1;
            count = match arg_ranged(&args[j], 0, "COUNT can't be negative") {
                Ok(c) => Some(c as usize),
                Err(r) => return r,
            };
        } else if is(&args[j], "maxlen") && more {
            j += 1;
            maxlen = match arg_ranged(&args[j], 0, "MAXLEN can't be negative") {
                Ok(m) => m as usize,
                Err(r) => return r,
            };
        } else {
            return syntax_error();
        }
        j += 1;
    }
    let mut l = ctx.lock(&args[1]);
    let list = match read(l.read(&args[1])) {
        Ok(None) if count.is_some() => return Reply::Array(vec![]),
        Ok(None) => return Reply::Nil,
        Ok(Some(list)) => list,
        Err(r) => return r,
    };
    let len = list.len();
    let reverse = rank < 0;
    let skip = rank.unsigned_abs() - 1;
    let scan = if maxlen == 0 { len } else { maxlen.min(len) };
    let items: Box<dyn Iterator<Item = crate::store::list::Elem<'_>>> = if reverse { Box::new(list.iter().rev()) } else { list.iter() };
    let matches = items
        .take(scan)
        .enumerate()
        .filter(|(_, e)| **e == args[2][..])
        .map(|(i, _)| if reverse { len - 1 - i } else { i })
        .skip(skip.min(usize::MAX as u64) as usize);
    match count {
        None => matches.take(1).next().map_or(Reply::Nil, |i| Reply::Int(i as i64)),
        Some(c) => Reply::Array(matches.take(if c == 0 { usize::MAX } else { c }).map(|i| Reply::Int(i as i64)).collect()),
    }
}

/// Pops one element from `src` and pushes it onto `dst`: `Ok(None)` when
/// `src` is missing. Both keys are locked by the caller.
pub fn move_one(l: &mut Locked<'_>, limits: Limits, src: &[u8], dst: &[u8], from_head: bool, to_head: bool) -> Result<Option<Vec<u8>>, WrongType> {
    match l.kind_of(src) {
        None => return Ok(None),
        Some(Kind::List) => {}
        Some(_) => return Err(WrongType),
    }
    if !matches!(l.kind_of(dst), None | Some(Kind::List)) {
        return Err(WrongType);
    }
    if src == dst {
        // One edit, so a one-element list keeps its key (and TTL), as Redis does.
        let r = l.modify(src, Kind::List, false, |slot| {
            let item = list::pop(slot, limits, from_head, 1).pop().expect("a list has an element");
            list::push(slot, limits, &[&item[..]], to_head);
            item
        });
        pushed(l, dst, to_head);
        popped(l, src, from_head);
        return r;
    }
    let item = pop_from(l, limits, src, from_head, 1)?.and_then(|mut v| v.pop()).expect("a list has an element");
    l.modify(dst, Kind::List, true, |slot| list::push(slot, limits, &[&item[..]], to_head))?;
    // Redis's order: the push's events, then the pop's
    pushed(l, dst, to_head);
    popped(l, src, from_head);
    Ok(Some(item))
}

fn lmove_reply(r: Result<Option<Vec<u8>>, WrongType>) -> Reply {
    match r {
        Err(WrongType) => wrong_type(),
        Ok(None) => Reply::Nil,
        Ok(Some(item)) => Reply::Bulk(item.into()),
    }
}

pub fn lmove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (from, to) = match (arg_side(&args[3]), arg_side(&args[4])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let limits = limits(ctx);
    let mut l = ctx.lock_many(&args[1..3]);
    lmove_reply(move_one(&mut l, limits, &args[1], &args[2], from, to))
}

pub fn rpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let limits = limits(ctx);
    let mut l = ctx.lock_many(&args[1..3]);
    lmove_reply(move_one(&mut l, limits, &args[1], &args[2], false, true))
}

/// The first non-empty list of `keys`, popped: `[key, [elements]]`.
/// On a blocked command's retry (`retry`) a key of another type is passed
/// over: Redis serves a waiter only from a key of its type and leaves it
/// waiting otherwise.
fn mpop_from(l: &mut Locked<'_>, limits: Limits, keys: &[Bytes], front: bool, count: usize, mut retry: Option<&mut bool>) -> Result<Option<Reply>, WrongType> {
    for k in keys {
        let popped = match pop_from(l, limits, k, front, count) {
            Err(WrongType) if retry.is_some() => {
                // a retry found another type: go on waiting, and let the
                // next waiter look
                if let Some(passed) = retry.as_deref_mut() {
                    *passed = true;
                }
                continue;
            }
            r => r?,
        };
        if let Some(items) = popped {
            self::popped(l, k, front);
            effects::rewrite(|| vec![effects::args(&[if front { b"LPOP" } else { b"RPOP" }, k, items.len().to_string().as_bytes()])]);
            return Ok(Some(Reply::Array(vec![Reply::Bulk(k.clone()), bulks(items)])));
        }
    }
    Ok(None)
}

pub fn lmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let m = match super::parse_mpop(args, 1, arg_side) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let limits = limits(ctx);
    let keys = &args[m.keys];
    let mut l = ctx.lock_many(keys);
    match mpop_from(&mut l, limits, keys, m.first, m.count, None) {
        Err(WrongType) => wrong_type(),
        Ok(None) => Reply::NilArray,
        Ok(Some(r)) => r,
    }
}

// ---- blocking variants -------------------------------------------------------
//
// Each tries once like its non-blocking form; finding nothing, it queues on
// its keys (under their shard locks) and is run again when one changes.
// Inside MULTI or a script it answers its timeout reply at once.

/// Queues the command on `keys` while `l` still holds their shards. Redis
/// 7.0 answers a timeout with the null array for every list command, and a
/// command that may not block with its own null (`on_deny`).
fn block(ctx: &mut Ctx, l: Locked<'_>, keys: &[Bytes], deadline: Option<std::time::Instant>, on_deny: Reply, args: &[Bytes]) -> Reply {
    super::block_keys(ctx, l, keys, deadline, Reply::NilArray, on_deny, args)
}

/// BLPOP and BRPOP: `[key, element]` from the first non-empty list.
fn bpop(ctx: &mut Ctx, args: &[Bytes], front: bool) -> Reply {
    let deadline = match super::arg_timeout(&args[args.len() - 1]) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let keys = &args[1..args.len() - 1];
    let limits = limits(ctx);
    let retry = ctx.client.lock_waiter.is_some();
    let mut l = ctx.lock_many(keys);
    for k in keys {
        match pop_from(&mut l, limits, k, front, 1) {
            // woken by a key that is now another type: go on waiting
            Err(WrongType) if retry => ctx.client.passed_wrong_type = true,
            Err(WrongType) => return wrong_type(),
            Ok(None) => {}
            Ok(Some(mut items)) => {
                popped(&mut l, k, front);
                effects::rewrite(|| vec![effects::args(&[if front { b"LPOP" } else { b"RPOP" }, k])]);
                return Reply::Array(vec![Reply::Bulk(k.clone()), Reply::Bulk(items.pop().expect("one element").into())]);
            }
        }
    }
    block(ctx, l, keys, deadline, Reply::NilArray, args)
}

pub fn blpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bpop(ctx, args, true)
}

pub fn brpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bpop(ctx, args, false)
}

/// BLMOVE and BRPOPLPUSH.
fn bmove(ctx: &mut Ctx, args: &[Bytes], from: bool, to: bool, timeout: &[u8]) -> Reply {
    let deadline = match super::arg_timeout(timeout) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let limits = limits(ctx);
    let mut l = ctx.lock_many(&args[1..3]);
    match move_one(&mut l, limits, &args[1], &args[2], from, to) {
        Ok(None) => block(ctx, l, &args[1..2], deadline, Reply::Nil, args),
        r => {
            let side = |head: bool| if head { &b"LEFT"[..] } else { b"RIGHT" };
            effects::rewrite(|| vec![effects::args(&[b"LMOVE", &args[1], &args[2], side(from), side(to)])]);
            lmove_reply(r)
        }
    }
}

pub fn blmove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match (arg_side(&args[3]), arg_side(&args[4])) {
        (Ok(from), Ok(to)) => bmove(ctx, args, from, to, &args[5]),
        (Err(r), _) | (_, Err(r)) => r,
    }
}

pub fn brpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bmove(ctx, args, false, true, &args[3])
}

pub fn blmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let m = match super::parse_mpop(args, 2, arg_side) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let deadline = match super::arg_timeout(&args[1]) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let limits = limits(ctx);
    let keys = &args[m.keys];
    let mut l = ctx.lock_many(keys);
    let retry = ctx.client.lock_waiter.is_some();
    match mpop_from(&mut l, limits, keys, m.first, m.count, retry.then_some(&mut ctx.client.passed_wrong_type)) {
        Err(WrongType) => wrong_type(),
        Ok(Some(r)) => r,
        Ok(None) => block(ctx, l, keys, deadline, Reply::NilArray, args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_clamp_as_redis_does() {
        assert_eq!(range_of(0, -1, 3), Some((0, 2)));
        assert_eq!(range_of(-100, 100, 3), Some((0, 2)));
        assert_eq!(range_of(2, 1, 3), None);
        assert_eq!(range_of(3, 5, 3), None);
        assert_eq!(range_of(-1, -1, 3), Some((2, 2)));
        assert_eq!(range_of(0, -4, 3), None);
        assert_eq!(range_of(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(index_of(-1, 3), Some(2));
        assert_eq!(index_of(-4, 3), None);
        assert_eq!(index_of(3, 3), None);
    }
}
