//! Key-space commands: deletion, existence, iteration, renaming, copying,
//! introspection and expiry.

use super::{Ctx, arg_i64, is, syntax_error};
use crate::resp::Reply;
use crate::store::NUM_DBS;
use crate::store::effects;
use crate::store::notify;
use crate::store::scan::ScanArgs;
use bytes::Bytes;

pub fn del(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if ctx.server.config.lazyfree_lazy_user_del.load(std::sync::atomic::Ordering::Relaxed) {
        return unlink(ctx, args);
    }
    let keys = &args[1..];
    let mut l = ctx.lock_many(keys);
    Reply::Int(keys.iter().filter(|k| l.delete(k) && deleted(&l, k)).count() as i64)
}

/// A key a command deleted: Redis's `del` event.
fn deleted(l: &crate::store::Locked<'_>, key: &[u8]) -> bool {
    l.notify(notify::GENERIC, "del", key);
    true
}

/// UNLINK: DEL that frees big values in the background.
pub fn unlink(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let keys = &args[1..];
    let mut l = ctx.lock_many(keys);
    Reply::Int(keys.iter().filter(|k| l.unlink(k) && deleted(&l, k)).count() as i64)
}

pub fn exists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let keys = &args[1..];
    let mut l = ctx.lock_many(keys);
    Reply::Int(keys.iter().filter(|k| l.exists(k)).count() as i64)
}

/// TOUCH updates access times even under CLIENT NO-TOUCH (that is what it
/// is for; Redis exempts it too).
pub fn touch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let keys = &args[1..];
    let mut l = ctx.lock_many(keys);
    l.set_touch(true);
    Reply::Int(keys.iter().filter(|k| l.lookup(k).is_some()).count() as i64)
}

pub fn type_(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    Reply::status(l.kind_of(&args[1]).map(|k| k.name()).unwrap_or("none"))
}

pub fn keys(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Array(ctx.server.keyspace.keys(ctx.client.db, &args[1]).into_iter().map(|k| Reply::Bulk(Bytes::from(k.into_vec()))).collect())
}

pub fn scan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(cursor) = crate::util::parse_scan_cursor(&args[1]) else {
        return Reply::error("ERR invalid cursor");
    };
    let mut opts = ScanArgs { count: 10, pattern: None, type_name: None };
    let mut type_arg = String::new();
    let mut i = 2;
    while i < args.len() {
        if i + 1 >= args.len() {
            return syntax_error();
        }
        let value = &args[i + 1];
        if is(&args[i], "count") {
            match arg_i64(value) {
                Ok(n) if n >= 1 => opts.count = n as usize,
                Ok(_) => return syntax_error(),
                Err(r) => return r,
            }
        } else if is(&args[i], "match") {
            opts.pattern = Some(value);
        } else if is(&args[i], "type") {
            type_arg = String::from_utf8_lossy(value).to_ascii_lowercase();
        } else {
            return syntax_error();
        }
        i += 2;
    }
    if !type_arg.is_empty() {
        opts.type_name = Some(&type_arg);
    }
    let (next, keys) = ctx.server.keyspace.scan(ctx.client.db, cursor, &opts);
    Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(keys.into_iter().map(|k| Reply::Bulk(Bytes::from(k.into_vec()))).collect())])
}

fn rename_generic(ctx: &mut Ctx, args: &[Bytes], nx: bool) -> Reply {
    let (src, dst) = (&args[1], &args[2]);
    let db = ctx.client.db;
    let mut l = ctx.lock_many(&[src, dst]);
    if l.lookup(src).is_none() {
        return Reply::error("ERR no such key");
    }
    if src == dst {
        return if nx { Reply::Int(0) } else { Reply::Ok };
    }
    if nx && l.exists(dst) {
        return Reply::Int(0);
    }
    let record = l.take_in(db, src).expect("looked up");
    // Redis deletes the target before adding the key under its name: it
    // is always new
    l.delete_in(db, dst);
    l.put_in(db, record.rekey(dst));
    l.notify(notify::GENERIC, "rename_from", src);
    l.notify(notify::GENERIC, "rename_to", dst);
    if nx { Reply::Int(1) } else { Reply::Ok }
}

pub fn rename(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rename_generic(ctx, args, false)
}

pub fn renamenx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rename_generic(ctx, args, true)
}

pub fn randomkey(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    match ctx.server.keyspace.random_key(ctx.client.db) {
        Some(k) => Reply::Bulk(Bytes::from(k.into_vec())),
        None => Reply::Nil,
    }
}

/// Parses a database index argument (SELECT, MOVE, COPY ... DB): an int, as
/// Redis's `getIntFromObjectOrReply` (with its wording), then a valid index.
pub fn parse_db(arg: &[u8]) -> Result<usize, Reply> {
    match crate::util::parse_i64(arg) {
        Some(n) if i32::try_from(n).is_ok() => db_index(n),
        Some(_) => Err(Reply::error("ERR value is out of range, value must between -2147483648 and 2147483647")),
        None => Err(super::not_integer()),
    }
}

/// A database index in range, or Redis's error.
fn db_index(n: i64) -> Result<usize, Reply> {
    if n < 0 || n >= NUM_DBS as i64 {
        return Err(Reply::error("ERR DB index is out of range"));
    }
    Ok(n as usize)
}

pub fn copy(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (src, dst) = (&args[1], &args[2]);
    let mut dst_db = ctx.client.db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "replace") {
            replace = true;
            i += 1;
        } else if is(&args[i], "db") && i + 1 < args.len() {
            match parse_db(&args[i + 1]) {
                Ok(d) => dst_db = d,
                Err(r) => return r,
            }
            i += 2;
        } else {
            return syntax_error();
        }
    }
    let src_db = ctx.client.db;
    if src_db == dst_db && src == dst {
        return Reply::error("ERR source and destination objects are the same");
    }
    let mut l = ctx.lock_dbs_many(&[(src_db, src), (dst_db, dst)]);
    let Some(copy) = l.copy_in(src_db, src, dst) else {
        return Reply::Int(0);
    };
    if l.peek_in(dst_db, dst).is_some() && !replace {
        return Reply::Int(0);
    }
    l.delete_in(dst_db, dst);
    l.put_in(dst_db, copy);
    l.notify_in(notify::GENERIC, "copy_to", dst_db, dst);
    Reply::Int(1)
}

// ---- OBJECT -----------------------------------------------------------------

pub fn object_encoding(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[2]).no_touch();
    match l.lookup(&args[2]) {
        None => Reply::Nil,
        Some(e) => Reply::bulk(match e.kind {
            crate::store::Kind::String => string_encoding(e.value),
            crate::store::Kind::Hash => crate::store::hash::HashRef::of(e.entry).encoding(),
            crate::store::Kind::Set => crate::store::set::SetRef::of(e.entry).encoding(),
            crate::store::Kind::ZSet => crate::store::zset::ZSetRef::of(e.entry).encoding(),
            // Redis 7.0 says quicklist for every list
            crate::store::Kind::List => "quicklist",
            crate::store::Kind::Stream => "stream",
        }),
    }
}

/// Redis's encodings for a string: `int` for integers that fit a long,
/// `embstr` up to 44 bytes, `raw` beyond.
fn string_encoding(s: &[u8]) -> &'static str {
    if s.len() <= 20 && crate::util::parse_i64(s).is_some() {
        "int"
    } else if s.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}

pub fn object_idletime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let lfu = ctx.server.keyspace.lfu();
    let mut l = ctx.lock(&args[2]);
    let now = l.now();
    match l.peek(&args[2]) {
        None => Reply::Nil,
        Some(_) if lfu.is_some() => Reply::error(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ),
        Some(m) => Reply::Int(m.idle_secs(now) as i64),
    }
}

pub fn object_freq(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let lfu = ctx.server.keyspace.lfu();
    let mut l = ctx.lock(&args[2]);
    let now = l.now();
    match (l.peek(&args[2]), lfu) {
        (None, _) => Reply::Nil,
        (Some(m), Some(lfu)) => Reply::Int(m.lfu_counter(now, lfu.decay_minutes) as i64),
        (Some(_), None) => Reply::error(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ),
    }
}

pub fn object_refcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[2]).no_touch();
    match l.lookup(&args[2]) {
        None => Reply::Nil,
        // Redis shares the objects of small integers (0..10000).
        Some(e) => match crate::util::parse_i64(e.value) {
            Some(n) if e.kind == crate::store::Kind::String && (0..10000).contains(&n) => Reply::Int(i32::MAX as i64),
            _ => Reply::Int(1),
        },
    }
}

pub fn object_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    )
}

/// The reply shape of every `... HELP` subcommand.
pub fn help_reply(cmd: &str, lines: &[&str]) -> Reply {
    let mut out = vec![Reply::Status(format!("{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").into())];
    out.extend(lines.iter().map(|l| Reply::Status(l.to_string().into())));
    out.push(Reply::status("HELP"));
    out.push(Reply::status("    Prints this help."));
    Reply::Array(out)
}

// ---- expiry -----------------------------------------------------------------

#[derive(Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: `unit` converts the argument to
/// milliseconds, `absolute` says whether it is a timestamp.
fn expire_generic(ctx: &mut Ctx, args: &[Bytes], unit: i64, absolute: bool) -> Reply {
    let cmd = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let n = match arg_i64(&args[2]) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let mut f = ExpireFlags::default();
    for a in &args[3..] {
        if is(a, "nx") {
            f.nx = true;
        } else if is(a, "xx") {
            f.xx = true;
        } else if is(a, "gt") {
            f.gt = true;
        } else if is(a, "lt") {
            f.lt = true;
        } else {
            return Reply::error(format!("ERR Unsupported option {}", String::from_utf8_lossy(a)));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Reply::error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if f.gt && f.lt {
        return Reply::error("ERR GT and LT options at the same time are not compatible");
    }
    let key = &args[1];
    let mut l = ctx.lock(key);
    let now = l.now() as i64;
    let invalid = || Reply::error(format!("ERR invalid expire time in '{cmd}' command"));
    let Some(mut when) = n.checked_mul(unit) else {
        return invalid();
    };
    if !absolute {
        let Some(w) = when.checked_add(now) else {
            return invalid();
        };
        when = w;
    }
    let Some(current) = l.lookup(key).map(|e| e.expire_at) else {
        return Reply::Int(0);
    };
    // A key without a TTL has an infinite one for GT and LT.
    let allowed = if f.nx {
        current == 0
    } else if f.xx && current == 0 {
        false
    } else if f.gt {
        current != 0 && when > current as i64
    } else if f.lt {
        current == 0 || when < current as i64
    } else {
        true
    };
    if !allowed {
        return Reply::Int(0);
    }
    if when <= now {
        l.delete(key);
        effects::rewrite(|| vec![effects::args(&[b"DEL", key])]);
        l.notify(notify::GENERIC, "del", key);
    } else {
        l.set_expire(key, when as u64);
        effects::rewrite(|| vec![effects::args(&[b"PEXPIREAT", key, when.to_string().as_bytes()])]);
        l.notify(notify::GENERIC, "expire", key);
    }
    Reply::Int(1)
}

pub fn expire(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, 1000, false)
}

pub fn pexpire(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, 1, false)
}

pub fn expireat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, 1000, true)
}

pub fn pexpireat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, 1, true)
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for a missing key, -1 for no TTL.
fn ttl_generic(ctx: &mut Ctx, key: &[u8], ms: bool, absolute: bool) -> Reply {
    let mut l = ctx.lock(key);
    let now = l.now();
    match l.peek(key).map(|m| m.expire_at()) {
        None => Reply::Int(-2),
        Some(0) => Reply::Int(-1),
        Some(at) if absolute => Reply::Int(if ms { at as i64 } else { (at / 1000) as i64 }),
        Some(at) => {
            let left = at.saturating_sub(now) as i64;
            Reply::Int(if ms { left } else { (left + 500) / 1000 })
        }
    }
}

pub fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, &args[1], false, false)
}

pub fn pttl(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, &args[1], true, false)
}

pub fn expiretime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, &args[1], false, true)
}

pub fn pexpiretime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, &args[1], true, true)
}

pub fn persist(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let mut l = ctx.lock(key);
    match l.lookup(key).map(|e| e.expire_at) {
        Some(at) if at != 0 => {
            l.set_expire(key, 0);
            l.notify(notify::GENERIC, "persist", key);
            Reply::Int(1)
        }
        _ => Reply::Int(0),
    }
}

/// MOVE key db: moves the key, with its TTL, to another database unless it
/// exists there.
pub fn move_key(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let dst_db = match parse_db(&args[2]) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let src_db = ctx.client.db;
    if src_db == dst_db {
        return Reply::error("ERR source and destination objects are the same");
    }
    let mut l = ctx.lock_dbs_many(&[(src_db, key), (dst_db, key)]);
    if l.lookup_in(src_db, key).is_none() || l.lookup_in(dst_db, key).is_some() {
        return Reply::Int(0);
    }
    let record = l.take_in(src_db, key).expect("looked up");
    l.put_in(dst_db, record);
    l.notify_in(notify::GENERIC, "move_from", src_db, key);
    l.notify_in(notify::GENERIC, "move_to", dst_db, key);
    Reply::Int(1)
}

/// SWAPDB index1 index2: clients of either database see the other's keys.
/// Runs alone (exclusive gate), so the swap is atomic.
pub fn swapdb(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let index = |arg: &[u8], which: &str| match crate::util::parse_i64(arg) {
        Some(n) if i32::try_from(n).is_ok() => Ok(n),
        _ => Err(Reply::error(format!("ERR invalid {which} DB index"))),
    };
    let (a, b) = match (index(&args[1], "first"), index(&args[2], "second")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    match (db_index(a), db_index(b)) {
        (Ok(a), Ok(b)) => {
            ctx.server.keyspace.swap_dbs(a, b);
            Reply::Ok
        }
        _ => Reply::error("ERR DB index is out of range"),
    }
}
