//! Hash commands, as Redis 7.0's `t_hash.c` answers them (reply shapes in
//! RESP2 and RESP3, error texts, the order checks happen in). Writes go
//! through the keyspace's one write path ([`crate::store::Locked::modify`]),
//! which changes the hash in place and removes it once empty.

use super::{Ctx, arg_i64, is, not_integer, syntax_error, wrong_arity, wrong_type};
use crate::resp::Reply;
use crate::store::hash::{self, HashRef, Limits};
use crate::store::notify;
use crate::store::{Entry, Kind, WrongType};
use crate::util;
use bytes::Bytes;

fn limits(ctx: &Ctx) -> Limits {
    limits_of(&ctx.server.config)
}

pub use crate::store::hash::limits_of;

/// The hash under `key` for a read command: `Ok(None)` when missing.
fn read<'a>(e: Option<Entry<'a>>) -> Result<Option<HashRef<'a>>, Reply> {
    match e {
        None => Ok(None),
        Some(e) => e.hash().map(Some).map_err(|_| wrong_type()),
    }
}

/// HSET and HMSET (which answers OK).
pub fn hset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() % 2 == 1 {
        return wrong_arity(&String::from_utf8_lossy(&args[0]));
    }
    let limits = limits(ctx);
    let mut l = ctx.lock(&args[1]);
    let created = l.modify(&args[1], Kind::Hash, true, |slot| {
        hash::try_conversion(slot, limits, args[2..].iter().map(|a| a.len()));
        args[2..].chunks(2).filter(|p| hash::set(slot, limits, &p[0], &p[1])).count()
    });
    if created.is_ok() {
        l.notify(notify::HASH, "hset", &args[1]);
    }
    match created {
        Err(WrongType) => wrong_type(),
        Ok(n) if is(&args[0], "hmset") => {
            let _ = n;
            Reply::Ok
        }
        Ok(n) => Reply::Int(n.unwrap_or(0) as i64),
    }
}

pub fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let limits = limits(ctx);
    let mut l = ctx.lock(&args[1]);
    let set = l.modify(&args[1], Kind::Hash, true, |slot| {
        if HashRef::of(slot.entry()).get(&args[2]).is_some() {
            return false;
        }
        hash::set(slot, limits, &args[2], &args[3])
    });
    match set {
        Err(WrongType) => wrong_type(),
        Ok(set) => {
            let set = set.unwrap_or(false);
            if set {
                l.notify(notify::HASH, "hset", &args[1]);
            }
            Reply::Int(set as i64)
        }
    }
}

pub fn hget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Ok(h) => h.and_then(|h| h.get(&args[2])).map(Reply::bulk).unwrap_or(Reply::Nil),
        Err(r) => r,
    }
}

pub fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Ok(h) => Reply::Array(args[2..].iter().map(|f| h.and_then(|h| h.get(f)).map(Reply::bulk).unwrap_or(Reply::Nil)).collect()),
        Err(r) => r,
    }
}

pub fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    let deleted = l.modify(&args[1], Kind::Hash, false, |slot| args[2..].iter().filter(|f| hash::delete(slot, f)).count());
    match deleted {
        Err(WrongType) => wrong_type(),
        Ok(n) => {
            let n = n.unwrap_or(0);
            if n > 0 {
                l.notify_removed(notify::HASH, "hdel", &args[1]);
            }
            Reply::Int(n as i64)
        }
    }
}

pub fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Ok(h) => Reply::Int(h.map_or(0, |h| h.len()) as i64),
        Err(r) => r,
    }
}

pub fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Ok(h) => Reply::Int(h.and_then(|h| h.get(&args[2])).map_or(0, |v| v.len()) as i64),
        Err(r) => r,
    }
}

pub fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Ok(h) => Reply::Int(h.and_then(|h| h.get(&args[2])).is_some() as i64),
        Err(r) => r,
    }
}

/// HGETALL, HKEYS and HVALS.
fn getall(ctx: &mut Ctx, args: &[Bytes], keys: bool, values: bool) -> Reply {
    let mut l = ctx.lock(&args[1]);
    let h = match read(l.read(&args[1])) {
        Ok(h) => h,
        Err(r) => return r,
    };
    if keys && values {
        let mut out = Vec::with_capacity(h.map_or(0, |h| h.len()));
        if let Some(h) = h {
            h.for_each(|f, v| out.push((Reply::bulk(f), Reply::bulk(v))));
        }
        return Reply::Map(out);
    }
    let mut out = Vec::new();
    if let Some(h) = h {
        h.for_each(|f, v| out.push(Reply::bulk(if keys { f } else { v })));
    }
    Reply::Array(out)
}

pub fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    getall(ctx, args, true, true)
}

pub fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    getall(ctx, args, true, false)
}

pub fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    getall(ctx, args, false, true)
}

pub fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Ok(by) = arg_i64(&args[3]) else { return not_integer() };
    let limits = limits(ctx);
    let mut l = ctx.lock(&args[1]);
    let r = l.modify(&args[1], Kind::Hash, true, |slot| {
        let current = match HashRef::of(slot.entry()).get(&args[2]) {
            None => 0,
            Some(v) => match util::parse_i64(&v) {
                Some(n) => n,
                None => return Reply::error("ERR hash value is not an integer"),
            },
        };
        let Some(new) = current.checked_add(by) else {
            return Reply::error("ERR increment or decrement would overflow");
        };
        hash::set(slot, limits, &args[2], new.to_string().as_bytes());
        Reply::Int(new)
    });
    if matches!(r, Ok(Some(Reply::Int(_)))) {
        l.notify(notify::HASH, "hincrby", &args[1]);
    }
    r.map(|r| r.expect("created")).unwrap_or_else(|_| wrong_type())
}

pub fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(by) = util::parse_f64(&args[3]) else {
        return Reply::error("ERR value is not a valid float");
    };
    if !by.is_finite() {
        return Reply::error("ERR value is NaN or Infinity");
    }
    let limits = limits(ctx);
    let mut l = ctx.lock(&args[1]);
    let r = l.modify(&args[1], Kind::Hash, true, |slot| {
        let current = match HashRef::of(slot.entry()).get(&args[2]) {
            None => 0.0,
            Some(v) => match util::parse_f64(&v) {
                Some(n) => n,
                None => return Reply::error("ERR hash value is not a float"),
            },
        };
        let new = current + by;
        if !new.is_finite() {
            return Reply::error("ERR increment would produce NaN or Infinity");
        }
        let text = util::format_human_float(new);
        hash::set(slot, limits, &args[2], text.as_bytes());
        crate::store::effects::rewrite(|| vec![crate::store::effects::args(&[b"HSET", &args[1], &args[2], text.as_bytes()])]);
        Reply::bulk(text)
    });
    if matches!(r, Ok(Some(Reply::Bulk(_)))) {
        l.notify(notify::HASH, "hincrbyfloat", &args[1]);
    }
    r.map(|r| r.expect("created")).unwrap_or_else(|_| wrong_type())
}

/// HRANDFIELD key [count [WITHVALUES]], as Redis 7.0's cases: a negative
/// count may repeat fields (random order), a positive one gives distinct
/// fields (the whole hash when it asks for as many or more).
pub fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut count = None;
    let mut withvalues = false;
    if args.len() >= 3 {
        let n = match arg_i64(&args[2]) {
            Ok(n) if n == i64::MIN => {
                return Reply::error(format!("ERR value is out of range, value must between {} and {}", -i64::MAX, i64::MAX));
            }
            Ok(n) => n,
            Err(r) => return r,
        };
        if args.len() > 4 || (args.len() == 4 && !is(&args[3], "withvalues")) {
            return syntax_error();
        }
        if args.len() == 4 {
            withvalues = true;
            if !(-i64::MAX / 2..=i64::MAX / 2).contains(&n) {
                return Reply::error("ERR value is out of range");
            }
        }
        if n < 0 && n.unsigned_abs() > super::set::MAX_RANDOM_PICKS {
            return Reply::error(format!("ERR count is out of range: shardis repeats at most {} random fields", super::set::MAX_RANDOM_PICKS));
        }
        count = Some(n);
    }
    let resp3 = ctx.client.resp3;
    let mut l = ctx.lock(&args[1]);
    let h = match read(l.read(&args[1])) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let Some(n) = count else {
        return h.and_then(|h| h.random()).map(|(f, _)| Reply::bulk(f)).unwrap_or(Reply::Nil);
    };
    let Some(h) = h else { return Reply::Array(Vec::new()) };
    let size = h.len();
    if n == 0 || size == 0 {
        return Reply::Array(Vec::new());
    }
    let mut picked = Vec::new();
    if n < 0 || n == 1 {
        // with repetitions (or just one)
        for _ in 0..n.unsigned_abs() {
            picked.push(h.random().expect("not empty"));
        }
    } else {
        let mut all = Vec::with_capacity(size);
        h.for_each(|f, v| all.push((f, v)));
        let want = (n as u64).min(size as u64) as usize;
        if want < size {
            // a random subset in random order (partial Fisher-Yates)
            for i in 0..want {
                let j = i + util::random_u64() as usize % (size - i);
                all.swap(i, j);
            }
            all.truncate(want);
        }
        picked = all;
    }
    let mut out = Vec::with_capacity(picked.len() * if withvalues { 2 } else { 1 });
    for (f, v) in picked {
        match (withvalues, resp3) {
            (false, _) => out.push(Reply::bulk(f)),
            (true, true) => out.push(Reply::Array(vec![Reply::bulk(f), Reply::bulk(v)])),
            (true, false) => {
                out.push(Reply::bulk(f));
                out.push(Reply::bulk(v));
            }
        }
    }
    Reply::Array(out)
}

/// HSCAN key cursor [MATCH pattern] [COUNT count].
pub fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(cursor) = crate::util::parse_scan_cursor(&args[2]) else {
        return Reply::error("ERR invalid cursor");
    };
    // the key first, then the options, as Redis's HSCAN: a missing key
    // answers an empty scan whatever the options
    let mut l = ctx.lock(&args[1]);
    let h = match read(l.read(&args[1])) {
        Ok(Some(h)) => h,
        Ok(None) => return Reply::Array(vec![Reply::bulk("0"), Reply::Array(Vec::new())]),
        Err(r) => return r,
    };
    let (count, pattern) = match super::scan_options(args, 3) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut out = Vec::new();
    let next = h.scan(cursor, count, |f, v| {
        if pattern.is_none_or(|p| util::glob_match(p, &f, false)) {
            out.push(Reply::bulk(f));
            out.push(Reply::bulk(v));
        }
    });
    Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(out)])
}
