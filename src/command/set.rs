//! Set commands, as Redis 7.0's `t_set.c` answers them: reply shapes in
//! RESP2 and RESP3 (sets as `~` in RESP3 where Redis uses a set reply,
//! SRANDMEMBER's and SMISMEMBER's arrays), error texts and the order checks
//! happen in, and the encodings a result ends in (SUNION, SDIFF and the
//! STORE forms build their result as Redis's `setTypeAdd` would, so an
//! all-integer result is an intset, listed in ascending order). Writes go
//! through the keyspace's one write path ([`crate::store::Locked::modify`]).

use super::{Ctx, arg_i64, is, syntax_error, wrong_type};
use crate::resp::Reply;
use crate::store::notify;
use crate::store::set::{self, Building, Limits, SetRef};
use crate::store::{Entry, Kind, Locked, WrongType, effects};
use crate::util;
use bytes::Bytes;

/// Repeated random picks (SRANDMEMBER with a negative count) are refused
/// past this many: the reply is built whole, and Redis's own answer to a
/// huge count is to grow its output buffer until the process dies.
pub const MAX_RANDOM_PICKS: u64 = 1 << 24;

pub use crate::store::set::limits_of;

fn limits(ctx: &Ctx) -> Limits {
    limits_of(&ctx.server.config)
}

/// The set under `key` for a read: `Ok(None)` when missing.
fn read<'a>(e: Option<Entry<'a>>) -> Result<Option<SetRef<'a>>, Reply> {
    match e {
        None => Ok(None),
        Some(e) => e.set().map(Some).map_err(|_| wrong_type()),
    }
}

fn empty_set() -> Reply {
    Reply::Set(Vec::new())
}

fn set_reply(members: Vec<Vec<u8>>) -> Reply {
    Reply::Set(members.into_iter().map(|m| Reply::Bulk(m.into())).collect())
}

pub fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let limits = limits(ctx);
    let mut l = ctx.lock(&args[1]);
    match l.modify(&args[1], Kind::Set, true, |slot| args[2..].iter().filter(|m| set::add(slot, limits, m)).count()) {
        Err(WrongType) => wrong_type(),
        Ok(n) => {
            let n = n.unwrap_or(0);
            if n > 0 {
                l.notify(notify::SET, "sadd", &args[1]);
            }
            Reply::Int(n as i64)
        }
    }
}

pub fn srem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match l.modify(&args[1], Kind::Set, false, |slot| args[2..].iter().filter(|m| set::remove(slot, m)).count()) {
        Err(WrongType) => wrong_type(),
        Ok(n) => {
            let n = n.unwrap_or(0);
            if n > 0 {
                l.notify_removed(notify::SET, "srem", &args[1]);
            }
            Reply::Int(n as i64)
        }
    }
}

pub fn scard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Ok(s) => Reply::Int(s.map_or(0, |s| s.len()) as i64),
        Err(r) => r,
    }
}

pub fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Ok(s) => Reply::Int(s.is_some_and(|s| s.contains(&args[2])) as i64),
        Err(r) => r,
    }
}

pub fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Ok(s) => Reply::Array(args[2..].iter().map(|m| Reply::Int(s.is_some_and(|s| s.contains(m)) as i64)).collect()),
        Err(r) => r,
    }
}

/// SMOVE: checks as Redis's (a missing source answers 0 before any type
/// check; the same key on both sides is a membership test).
pub fn smove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let limits = limits(ctx);
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    let mut l = ctx.lock_many(&args[1..3]);
    let Some(src_kind) = l.lookup(src).map(|e| e.kind) else { return Reply::Int(0) };
    let dst_kind = l.lookup(dst).map(|e| e.kind);
    if src_kind != Kind::Set || dst_kind.is_some_and(|k| k != Kind::Set) {
        return wrong_type();
    }
    if src == dst {
        let db = l.db();
        return Reply::Int(l.entry_ref(db, src).is_some_and(|e| SetRef::of(e).contains(member)) as i64);
    }
    if l.modify(src, Kind::Set, false, |slot| set::remove(slot, member)) != Ok(Some(true)) {
        return Reply::Int(0);
    }
    l.notify_removed(notify::SET, "srem", src);
    if l.modify(dst, Kind::Set, true, |slot| set::add(slot, limits, member)) == Ok(Some(true)) {
        l.notify(notify::SET, "sadd", dst);
    }
    Reply::Int(1)
}

/// The sets under `keys` after Redis's lookups (each looked up for
/// reading, in order; the first of another type is WRONGTYPE).
fn lookup_sets(l: &mut Locked<'_>, keys: &[Bytes]) -> Result<(), Reply> {
    let db = l.db();
    for k in keys {
        if l.read_in(db, k).is_some_and(|e| e.kind != Kind::Set) {
            return Err(wrong_type());
        }
    }
    Ok(())
}

/// Locks `keys` (and the destination of a STORE form) and looks the
/// sources up as Redis does.
fn lock_sets<'a>(ctx: &Ctx<'a>, dst: Option<&Bytes>, keys: &[Bytes]) -> Result<Locked<'a>, Reply> {
    let mut all: Vec<&Bytes> = keys.iter().collect();
    all.extend(dst);
    let mut l = ctx.lock_many(&all);
    lookup_sets(&mut l, keys)?;
    Ok(l)
}

fn sets_of<'l>(l: &'l Locked<'_>, keys: &[Bytes]) -> Vec<Option<SetRef<'l>>> {
    let db = l.db();
    keys.iter().map(|k| l.entry_ref(db, k).map(SetRef::of)).collect()
}

/// What an intersection is for.
enum Inter {
    Reply,
    Card(usize),
    Store,
}

/// The intersection of `sets` (Redis's `sinterGenericCommand`): the
/// members of the smallest, in its order, that all the others hold.
fn intersect(sets: &[Option<SetRef<'_>>], limit: usize, mut f: impl FnMut(&[u8])) {
    let Some(mut sets) = sets.iter().copied().collect::<Option<Vec<SetRef<'_>>>>() else { return };
    sets.sort_by_key(|s| s.len());
    let (first, rest) = sets.split_first().expect("a key at least");
    let mut found = 0;
    let mut done = false;
    first.for_each(|m| {
        if done || !rest.iter().all(|s| s.contains(&m)) {
            return;
        }
        f(&m);
        found += 1;
        done = limit != 0 && found >= limit;
    });
}

fn sinter_generic(ctx: &mut Ctx, dst: Option<&Bytes>, keys: &[Bytes], how: Inter) -> Reply {
    let limits = limits(ctx);
    let mut l = match lock_sets(ctx, dst, keys) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let sets = sets_of(&l, keys);
    match how {
        Inter::Card(limit) => {
            let mut n = 0;
            intersect(&sets, limit, |_| n += 1);
            Reply::Int(n as i64)
        }
        Inter::Reply => {
            let mut out = Vec::new();
            intersect(&sets, 0, |m| out.push(Reply::bulk(m)));
            Reply::Set(out)
        }
        Inter::Store => {
            let mut b = Building::new(limits);
            intersect(&sets, 0, |m| {
                b.add(m);
            });
            drop(sets);
            store(&mut l, dst.expect("a destination"), b, "sinterstore")
        }
    }
}

/// A STORE form's end: the result replaces `dst` (no TTL), or an empty
/// result deletes it.
fn store(l: &mut Locked<'_>, dst: &[u8], b: Building, event: &str) -> Reply {
    let db = l.db();
    if b.is_empty() {
        if l.delete(dst) {
            l.notify(notify::GENERIC, "del", dst);
        }
        return Reply::Int(0);
    }
    let n = b.len();
    let meta = l.new_meta(0);
    l.put_in(db, b.into_record(dst, meta));
    l.notify(notify::SET, event, dst);
    Reply::Int(n as i64)
}

/// SMEMBERS (Redis 7.0 answers it as SINTER of one key).
pub fn smembers(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    sinter_generic(ctx, None, &args[1..2], Inter::Reply)
}

pub fn sinter(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    sinter_generic(ctx, None, &args[1..], Inter::Reply)
}

pub fn sinterstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    sinter_generic(ctx, Some(&args[1]), &args[2..], Inter::Store)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn sintercard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let numkeys = match util::parse_i64(&args[1]) {
        Some(n) if n >= 1 => n as usize,
        _ => return Reply::error("ERR numkeys should be greater than 0"),
    };
    if numkeys > args.len() - 2 {
        return Reply::error("ERR Number of keys can't be greater than number of args");
    }
    let mut limit = 0;
    let mut i = 2 + numkeys;
    while i < args.len() {
        if is(&args[i], "limit") && i + 1 < args.len() {
            match util::parse_i64(&args[i + 1]) {
                Some(n) if n >= 0 => limit = n as usize,
                _ => return Reply::error("ERR LIMIT can't be negative"),
            }
            i += 2;
        } else {
            return syntax_error();
        }
    }
    sinter_generic(ctx, None, &args[2..2 + numkeys], Inter::Card(limit))
}

/// SUNION and SDIFF and their STORE forms (Redis's
/// `sunionDiffGenericCommand`, including its choice of diff algorithm,
/// which decides the result's encoding).
fn sunion_diff(ctx: &mut Ctx, dst: Option<&Bytes>, keys: &[Bytes], diff: bool) -> Reply {
    let limits = limits(ctx);
    let mut l = match lock_sets(ctx, dst, keys) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let sets = sets_of(&l, keys);
    let mut b = Building::new(limits);
    if !diff {
        for s in sets.iter().flatten() {
            s.for_each(|m| {
                b.add(&m);
            });
        }
    } else if let Some(first) = sets[0] {
        let same = keys[1..].iter().zip(&sets[1..]).any(|(k, s)| s.is_some() && *k == keys[0]);
        if !same {
            let others = || sets[1..].iter().flatten();
            let one = others().map(|_| first.len()).sum::<usize>() + first.len();
            let two = others().map(|s| s.len()).sum::<usize>() + first.len();
            if one / 2 <= two {
                first.for_each(|m| {
                    if !others().any(|s| s.contains(&m)) {
                        b.add(&m);
                    }
                });
            } else {
                first.for_each(|m| {
                    b.add(&m);
                });
                for s in others() {
                    s.for_each(|m| {
                        b.remove(&m);
                    });
                    if b.is_empty() {
                        break;
                    }
                }
            }
        }
    }
    drop(sets);
    match dst {
        Some(dst) => store(&mut l, dst, b, if diff { "sdiffstore" } else { "sunionstore" }),
        None => set_reply(b.members()),
    }
}

pub fn sunion(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    sunion_diff(ctx, None, &args[1..], false)
}

pub fn sunionstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    sunion_diff(ctx, Some(&args[1]), &args[2..], false)
}

pub fn sdiff(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    sunion_diff(ctx, None, &args[1..], true)
}

pub fn sdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    sunion_diff(ctx, Some(&args[1]), &args[2..], true)
}

/// SRANDMEMBER key [count], with Redis's count rules: a negative count
/// may repeat members, a positive one never does.
pub fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return syntax_error();
    }
    let count = match args.get(2) {
        None => None,
        Some(c) => match arg_i64(c) {
            Ok(i64::MIN) => return Reply::error(format!("ERR value is out of range, value must between {} and {}", -i64::MAX, i64::MAX)),
            Ok(n) if n < 0 && n.unsigned_abs() > MAX_RANDOM_PICKS => {
                return Reply::error(format!("ERR count is out of range: shardis repeats at most {MAX_RANDOM_PICKS} random members"));
            }
            Ok(n) => Some(n),
            Err(r) => return r,
        },
    };
    let mut l = ctx.lock(&args[1]);
    let s = match read(l.read(&args[1])) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(n) = count else {
        return s.and_then(|s| s.random()).map(Reply::bulk).unwrap_or(Reply::Nil);
    };
    let Some(s) = s else { return Reply::Array(Vec::new()) };
    if n == 0 {
        return Reply::Array(Vec::new());
    }
    if n < 0 || n == 1 {
        return Reply::Array((0..n.unsigned_abs()).map(|_| Reply::bulk(s.random().expect("not empty"))).collect());
    }
    let mut all = s.members();
    let want = (n as u64).min(all.len() as u64) as usize;
    if want < all.len() {
        // a random subset (partial Fisher-Yates)
        for i in 0..want {
            let j = i + util::random_u64() as usize % (all.len() - i);
            all.swap(i, j);
        }
        all.truncate(want);
    }
    Reply::Array(all.into_iter().map(|m| Reply::Bulk(m.into())).collect())
}

/// SPOP key [count]: logged as the SREM (or, for the whole set, the DEL)
/// it amounts to, as Redis propagates it.
pub fn spop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return syntax_error();
    }
    let key = &args[1];
    let count = match args.get(2) {
        None => None,
        Some(c) => match util::parse_i64(c) {
            Some(n) if n >= 0 => Some(n as u64),
            // Redis's `getPositiveLongFromObjectOrReply`: one text for both
            _ => return Reply::error("ERR value is out of range, must be positive"),
        },
    };
    let limits = limits(ctx);
    let mut l = ctx.lock(key);
    let Some(count) = count else {
        return match l.modify(key, Kind::Set, false, set::pop_random) {
            Err(WrongType) => wrong_type(),
            Ok(Some(Some(m))) => {
                l.notify_removed(notify::SET, "spop", key);
                effects::rewrite(|| vec![effects::args(&[b"SREM", key, &m])]);
                Reply::Bulk(m.into())
            }
            Ok(_) => Reply::Nil,
        };
    };
    let size = match l.lookup(key) {
        None => return empty_set(),
        Some(e) => match e.set() {
            Ok(s) => s.len() as u64,
            Err(_) => return wrong_type(),
        },
    };
    if count == 0 {
        return empty_set();
    }
    l.notify(notify::SET, "spop", key);
    if count >= size {
        let db = l.db();
        let members = l.entry_ref(db, key).map(|e| SetRef::of(e).members()).unwrap_or_default();
        l.delete(key);
        effects::rewrite(|| vec![effects::args(&[b"DEL", key])]);
        l.notify(notify::GENERIC, "del", key);
        return set_reply(members);
    }
    let remaining = size - count;
    let popped = if remaining * 5 > count {
        // few: pick and remove them one by one
        l.modify(key, Kind::Set, false, |slot| (0..count).filter_map(|_| set::pop_random(slot)).collect::<Vec<_>>()).ok().flatten().unwrap_or_default()
    } else {
        // most: pick the survivors into a new set, as Redis does (which
        // can make it an intset again), and hand over the rest
        let db = l.db();
        let Some(e) = l.entry_ref(db, key) else { return empty_set() };
        let expire_at = e.meta().expire_at();
        let mut rest: Vec<Vec<u8>> = SetRef::of(e).members();
        let mut survivors: Option<Building> = None;
        for _ in 0..remaining {
            let at = util::random_u64() as usize % rest.len();
            let m = rest.swap_remove(at);
            survivors.get_or_insert_with(|| Building::for_first(limits, &m)).add(&m);
        }
        let meta = l.new_meta(expire_at);
        l.put_in(db, survivors.expect("some remain").into_record(key, meta));
        rest.sort_unstable_by_key(|m| set_order_key(m));
        rest
    };
    effects::rewrite(|| {
        let mut srem = effects::args(&[b"SREM", key]);
        srem.extend(popped.iter().map(|m| Bytes::copy_from_slice(m)));
        vec![srem]
    });
    set_reply(popped)
}

/// Integers first in numeric order: an intset's members keep its order
/// when handed over whole.
fn set_order_key(m: &[u8]) -> (i64, Vec<u8>) {
    match crate::store::listpack::int_of(m) {
        Some(v) => (v, Vec::new()),
        None => (i64::MAX, m.to_vec()),
    }
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]: the key before the
/// options, as Redis checks them.
pub fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(cursor) = crate::util::parse_scan_cursor(&args[2]) else {
        return Reply::error("ERR invalid cursor");
    };
    let mut l = ctx.lock(&args[1]);
    let s = match read(l.read(&args[1])) {
        Ok(Some(s)) => s,
        Ok(None) => return Reply::Array(vec![Reply::bulk("0"), Reply::Array(Vec::new())]),
        Err(r) => return r,
    };
    let (count, pattern) = match super::scan_options(args, 3) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut out = Vec::new();
    let next = s.scan(cursor, count, |m| {
        if pattern.is_none_or(|p| util::glob_match(p, &m, false)) {
            out.push(Reply::bulk(m));
        }
    });
    Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(out)])
}
