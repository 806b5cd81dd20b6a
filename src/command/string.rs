//! String commands. SET and its relatives share one parsed-options path
//! (`SetOptions` + `set_generic`), as Redis's `setGenericCommand` does.

use super::{Ctx, arg_i64, is, not_integer, syntax_error, wrong_arity};
use crate::resp::Reply;
use crate::store::Entry;
use crate::store::effects;
use crate::store::notify;
use crate::util;
use bytes::Bytes;
use std::sync::atomic::Ordering;

/// The string held by an entry, or the WRONGTYPE error once other types
/// exist.
fn as_str<'a>(e: Entry<'a>) -> Result<&'a [u8], Reply> {
    e.string().map_err(|_| super::wrong_type())
}

/// When a key set by a command expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Relative, in milliseconds.
    In(i64),
    /// Absolute Unix milliseconds.
    At(i64),
    KeepTtl,
    Persist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    Nx,
    Xx,
    /// Redis 8.4: only if the key holds exactly this value (never creates).
    IfEq(Bytes),
    /// Redis 8.4: unless the key holds exactly this value (may create).
    IfNe(Bytes),
}

#[derive(Debug, Default)]
struct SetOptions {
    condition: Option<Condition>,
    expiry: Option<Expiry>,
    get: bool,
}

/// Reads the expiry options SET and GETEX accept. `allow` says which
/// keywords the command takes. Conflicts are a syntax error, as in Redis.
fn parse_expiry(args: &[Bytes], i: &mut usize, current: &mut Option<Expiry>, allow_keepttl: bool, allow_persist: bool) -> Result<bool, Reply> {
    let a = &args[*i];
    let unit: Option<(bool, i64)> = if is(a, "ex") {
        Some((false, 1000))
    } else if is(a, "px") {
        Some((false, 1))
    } else if is(a, "exat") {
        Some((true, 1000))
    } else if is(a, "pxat") {
        Some((true, 1))
    } else {
        None
    };
    if let Some((absolute, mul)) = unit {
        if current.is_some() || *i + 1 >= args.len() {
            return Err(syntax_error());
        }
        let n = arg_i64(&args[*i + 1])?;
        let cmd = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        let invalid = || Reply::error(format!("ERR invalid expire time in '{cmd}' command"));
        if n <= 0 {
            return Err(invalid());
        }
        let ms = n.checked_mul(mul).ok_or_else(invalid)?;
        *current = Some(if absolute { Expiry::At(ms) } else { Expiry::In(ms) });
        *i += 2;
        return Ok(true);
    }
    if allow_keepttl && is(a, "keepttl") || allow_persist && is(a, "persist") {
        if current.is_some() {
            return Err(syntax_error());
        }
        *current = Some(if is(a, "keepttl") { Expiry::KeepTtl } else { Expiry::Persist });
        *i += 1;
        return Ok(true);
    }
    Ok(false)
}

/// The absolute expiry for `e` at `now`; `Err` on overflow. `old` is the
/// key's current expiry (for KEEPTTL).
fn resolve_expiry(cmd: &[u8], e: Option<Expiry>, now: u64, old: u64) -> Result<u64, Reply> {
    let invalid = || Reply::error(format!("ERR invalid expire time in '{}' command", String::from_utf8_lossy(cmd).to_ascii_lowercase()));
    Ok(match e {
        None | Some(Expiry::Persist) => 0,
        Some(Expiry::KeepTtl) => old,
        Some(Expiry::In(ms)) => (now as i64).checked_add(ms).ok_or_else(invalid)? as u64,
        Some(Expiry::At(ms)) => ms as u64,
    })
}

fn parse_set_options(args: &[Bytes]) -> Result<SetOptions, Reply> {
    let mut o = SetOptions::default();
    let mut i = 3;
    while i < args.len() {
        if parse_expiry(args, &mut i, &mut o.expiry, true, false)? {
            continue;
        }
        let a = &args[i];
        if is(a, "ifeq") || is(a, "ifne") {
            if o.condition.is_some() || i + 1 >= args.len() {
                return Err(syntax_error());
            }
            let v = args[i + 1].clone();
            o.condition = Some(if is(a, "ifeq") { Condition::IfEq(v) } else { Condition::IfNe(v) });
            i += 2;
            continue;
        }
        if is(a, "nx") || is(a, "xx") {
            if o.condition.is_some() {
                return Err(syntax_error());
            }
            o.condition = Some(if is(a, "nx") { Condition::Nx } else { Condition::Xx });
        } else if is(a, "get") {
            o.get = true;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    Ok(o)
}

/// SET with parsed options: the one path for SET, SETNX, SETEX, PSETEX and
/// GETSET.
fn set_generic(ctx: &mut Ctx, cmd: &[u8], key: &[u8], value: &[u8], o: &SetOptions) -> Reply {
    let mut l = ctx.lock(key);
    let now = l.now();
    let needs_value = o.get || matches!(o.condition, Some(Condition::IfEq(_) | Condition::IfNe(_)));
    // A plain SET needs nothing of the old entry: `set` replaces it (and
    // counts it as expired if it was). Under LFU the lookup is the access
    // that counts, as Redis's SET makes one.
    let needs_old = needs_value || o.condition.is_some() || matches!(o.expiry, Some(Expiry::KeepTtl)) || ctx.server.keyspace.lfu().is_some();
    let old = match if needs_old { l.lookup(key) } else { None } {
        Some(e) if needs_value => match as_str(e) {
            Ok(s) => Some((Some(Bytes::copy_from_slice(s)), e.expire_at)),
            Err(r) => return r,
        },
        Some(e) => Some((None, e.expire_at)),
        None => None,
    };
    let holds = |m: &Bytes| matches!(&old, Some((Some(v), _)) if v == m);
    let blocked = match &o.condition {
        Some(Condition::Nx) => old.is_some(),
        Some(Condition::Xx) => old.is_none(),
        Some(Condition::IfEq(m)) => !holds(m),
        Some(Condition::IfNe(m)) => holds(m),
        None => false,
    };
    let old_value = if o.get { old.as_ref().and_then(|(v, _)| v.clone()) } else { None };
    if !blocked {
        let expire_at = match resolve_expiry(cmd, o.expiry, now, old.as_ref().map(|(_, e)| *e).unwrap_or(0)) {
            Ok(at) => at,
            Err(r) => return r,
        };
        l.set(key, value, expire_at);
        l.notify(notify::STRING, "set", key);
        if matches!(o.expiry, Some(Expiry::In(_) | Expiry::At(_))) {
            l.notify(notify::GENERIC, "expire", key);
        }
        // the TTL in absolute form, whatever option gave it
        effects::rewrite(|| {
            let mut effect = effects::args(&[b"SET", key, value]);
            if expire_at > 0 {
                effect.extend(effects::args(&[b"PXAT", expire_at.to_string().as_bytes()]));
            }
            vec![effect]
        });
    }
    match (o.get, blocked) {
        (true, _) => old_value.map(Reply::Bulk).unwrap_or(Reply::Nil),
        (false, true) => Reply::Nil,
        (false, false) => Reply::Ok,
    }
}

pub fn get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match l.read(&args[1]) {
        Some(e) => match as_str(e) {
            Ok(s) => Reply::bulk(s),
            Err(r) => r,
        },
        None => Reply::Nil,
    }
}

pub fn set(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match parse_set_options(args) {
        Ok(o) => set_generic(ctx, &args[0], &args[1], &args[2], &o),
        Err(r) => r,
    }
}

pub fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let o = SetOptions { condition: Some(Condition::Nx), ..Default::default() };
    match set_generic(ctx, &args[0], &args[1], &args[2], &o) {
        Reply::Ok => Reply::Int(1),
        Reply::Nil => Reply::Int(0),
        other => other,
    }
}

fn setex_generic(ctx: &mut Ctx, args: &[Bytes], mul: i64) -> Reply {
    let n = match arg_i64(&args[2]) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let invalid = || Reply::error(format!("ERR invalid expire time in '{}' command", String::from_utf8_lossy(&args[0]).to_ascii_lowercase()));
    if n <= 0 {
        return invalid();
    }
    let Some(ms) = n.checked_mul(mul) else {
        return invalid();
    };
    let o = SetOptions { expiry: Some(Expiry::In(ms)), ..Default::default() };
    set_generic(ctx, &args[0], &args[1], &args[3], &o)
}

pub fn setex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    setex_generic(ctx, args, 1000)
}

pub fn psetex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    setex_generic(ctx, args, 1)
}

pub fn getset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let o = SetOptions { get: true, ..Default::default() };
    set_generic(ctx, &args[0], &args[1], &args[2], &o)
}

pub fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    let value = match l.read(&args[1]) {
        None => return Reply::Nil,
        Some(e) => match as_str(e) {
            Ok(s) => Reply::bulk(s),
            Err(r) => return r,
        },
    };
    l.delete(&args[1]);
    effects::rewrite(|| vec![effects::args(&[b"DEL", &args[1]])]);
    l.notify(notify::GENERIC, "del", &args[1]);
    value
}

pub fn getex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut expiry = None;
    let mut i = 2;
    while i < args.len() {
        match parse_expiry(args, &mut i, &mut expiry, false, true) {
            Ok(true) => {}
            Ok(false) => return syntax_error(),
            Err(r) => return r,
        }
    }
    let key = &args[1];
    let mut l = ctx.lock(key);
    let now = l.now();
    let (value, had_ttl) = match l.read(key) {
        None => return Reply::Nil,
        Some(e) => match as_str(e) {
            Ok(s) => (Bytes::copy_from_slice(s), e.expire_at != 0),
            Err(r) => return r,
        },
    };
    match expiry {
        None => {}
        Some(Expiry::Persist) => {
            l.set_expire(key, 0);
            if had_ttl {
                l.notify(notify::GENERIC, "persist", key);
            }
            effects::rewrite(|| vec![effects::args(&[b"PERSIST", key])]);
        }
        Some(e) => match resolve_expiry(&args[0], Some(e), now, 0) {
            Ok(at) if at <= now => {
                l.delete(key);
                effects::rewrite(|| vec![effects::args(&[b"DEL", key])]);
                l.notify(notify::GENERIC, "del", key);
            }
            Ok(at) => {
                l.set_expire(key, at);
                effects::rewrite(|| vec![effects::args(&[b"PEXPIREAT", key, at.to_string().as_bytes()])]);
                l.notify(notify::GENERIC, "expire", key);
            }
            Err(r) => return r,
        },
    }
    Reply::Bulk(value)
}

pub fn mget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let keys = &args[1..];
    let mut l = ctx.lock_many(keys);
    Reply::Array(
        keys.iter()
            .map(|k| match l.read(k) {
                Some(e) if e.kind == crate::store::Kind::String => Reply::bulk(e.value),
                _ => Reply::Nil,
            })
            .collect(),
    )
}

fn mset_generic(ctx: &mut Ctx, args: &[Bytes], nx: bool) -> Reply {
    if args.len().is_multiple_of(2) {
        return wrong_arity(&String::from_utf8_lossy(&args[0]));
    }
    let keys: Vec<&Bytes> = args[1..].iter().step_by(2).collect();
    let mut l = ctx.lock_many(&keys);
    if nx && keys.iter().any(|k| l.exists(k)) {
        return Reply::Int(0);
    }
    for pair in args[1..].chunks(2) {
        l.set(&pair[0], &pair[1], 0);
        l.notify(notify::STRING, "set", &pair[0]);
    }
    if nx { Reply::Int(1) } else { Reply::Ok }
}

pub fn mset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    mset_generic(ctx, args, false)
}

pub fn msetnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    mset_generic(ctx, args, true)
}

/// Adds `by` to the integer at `key` (0 when missing), keeping its TTL.
fn incr_generic(ctx: &mut Ctx, key: &[u8], by: i64) -> Reply {
    let mut l = ctx.lock(key);
    let current = match l.lookup(key) {
        None => 0,
        Some(e) => match as_str(e) {
            Ok(s) => match util::parse_i64(s) {
                Some(n) => n,
                None => return not_integer(),
            },
            Err(r) => return r,
        },
    };
    let Some(new) = current.checked_add(by) else {
        return Reply::error("ERR increment or decrement would overflow");
    };
    l.set_keep_ttl(key, new.to_string().as_bytes());
    l.notify(notify::STRING, "incrby", key);
    Reply::Int(new)
}

pub fn incr(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    incr_generic(ctx, &args[1], 1)
}

pub fn decr(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    incr_generic(ctx, &args[1], -1)
}

pub fn incrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match arg_i64(&args[2]) {
        Ok(by) => incr_generic(ctx, &args[1], by),
        Err(r) => r,
    }
}

pub fn decrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match arg_i64(&args[2]) {
        Ok(i64::MIN) => Reply::error("ERR decrement would overflow"),
        Ok(by) => incr_generic(ctx, &args[1], -by),
        Err(r) => r,
    }
}

pub fn incrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let not_float = || Reply::error("ERR value is not a valid float");
    let Some(by) = util::parse_f64(&args[2]) else {
        return not_float();
    };
    let key = &args[1];
    let mut l = ctx.lock(key);
    let current = match l.lookup(key) {
        None => 0.0,
        Some(e) => match as_str(e) {
            Ok(s) => match util::parse_f64(s) {
                Some(n) => n,
                None => return not_float(),
            },
            Err(r) => return r,
        },
    };
    let new = current + by;
    if !new.is_finite() {
        return Reply::error("ERR increment would produce NaN or Infinity");
    }
    let text = util::format_human_float(new);
    l.set_keep_ttl(key, text.as_bytes());
    l.notify(notify::STRING, "incrbyfloat", key);
    effects::rewrite(|| vec![effects::args(&[b"SET", key, text.as_bytes(), b"KEEPTTL"])]);
    Reply::bulk(text)
}

fn check_size(ctx: &Ctx, total: u64) -> Result<(), Reply> {
    if total > ctx.server.config.proto_max_bulk_len.load(Ordering::Relaxed) as u64 {
        return Err(Reply::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)"));
    }
    Ok(())
}

pub fn append(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let mut l = ctx.lock(key);
    let mut value = match l.lookup(key) {
        None => Vec::new(),
        Some(e) => match as_str(e) {
            Ok(s) => s.to_vec(),
            Err(r) => return r,
        },
    };
    if let Err(r) = check_size(ctx, (value.len() + args[2].len()) as u64) {
        return r;
    }
    value.extend_from_slice(&args[2]);
    let len = value.len();
    l.set_keep_ttl(key, &value);
    l.notify(notify::STRING, "append", key);
    Reply::Int(len as i64)
}

pub fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match l.read(&args[1]) {
        None => Reply::Int(0),
        Some(e) => match as_str(e) {
            Ok(s) => Reply::Int(s.len() as i64),
            Err(r) => r,
        },
    }
}

pub fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut start, mut end) = match (arg_i64(&args[2]), arg_i64(&args[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let mut l = ctx.lock(&args[1]);
    let s = match l.read(&args[1]) {
        None => return Reply::bulk(""),
        Some(e) => match as_str(e) {
            Ok(s) => s,
            Err(r) => return r,
        },
    };
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Reply::bulk("");
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Reply::bulk("");
    }
    Reply::bulk(&s[start as usize..=end as usize])
}

pub fn setrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let offset = match arg_i64(&args[2]) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if offset < 0 {
        return Reply::error("ERR offset is out of range");
    }
    let patch = &args[3];
    let key = &args[1];
    let mut l = ctx.lock(key);
    let mut value = match l.lookup(key) {
        None => {
            if patch.is_empty() {
                return Reply::Int(0);
            }
            Vec::new()
        }
        Some(e) => match as_str(e) {
            Ok(s) => s.to_vec(),
            Err(r) => return r,
        },
    };
    if patch.is_empty() {
        return Reply::Int(value.len() as i64);
    }
    if let Err(r) = check_size(ctx, offset as u64 + patch.len() as u64) {
        return r;
    }
    let end = offset as usize + patch.len();
    if value.len() < end {
        value.resize(end, 0);
    }
    value[offset as usize..end].copy_from_slice(patch);
    let len = value.len();
    l.set_keep_ttl(key, &value);
    l.notify(notify::STRING, "setrange", key);
    Reply::Int(len as i64)
}

/// DELEX key [IFEQ value | IFNE value] (Redis 8.4): deletes the key, or only
/// if its value matches (IFEQ) or differs (IFNE); 1 if deleted, else 0.
pub fn delex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let condition = match args.len() {
        2 => None,
        4 if is(&args[2], "ifeq") => Some((true, &args[3])),
        4 if is(&args[2], "ifne") => Some((false, &args[3])),
        _ => return syntax_error(),
    };
    delete_if(ctx, &args[1], condition)
}

/// DELIFEQ key value (Valkey 9): deletes the key only if it holds `value`.
pub fn delifeq(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    delete_if(ctx, &args[1], Some((true, &args[2])))
}

/// Deletes `key` when `condition` (equal?, value) holds; 1 if deleted.
fn delete_if(ctx: &mut Ctx, key: &[u8], condition: Option<(bool, &Bytes)>) -> Reply {
    let mut l = ctx.lock(key);
    let matches = match (condition, l.lookup(key)) {
        (_, None) => return Reply::Int(0),
        (None, Some(_)) => true,
        (Some((equal, m)), Some(e)) => match as_str(e) {
            Ok(v) => (v == &m[..]) == equal,
            Err(r) => return r,
        },
    };
    effects::rewrite(|| vec![effects::args(&[b"DEL", key])]);
    let deleted = matches && l.delete(key);
    if deleted {
        l.notify(notify::GENERIC, "del", key);
    }
    Reply::Int(i64::from(deleted))
}

// ---- LCS ----------------------------------------------------------------------

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]`: the longest
/// common subsequence of two strings, by Redis's dynamic programming table
/// and walk-back (so ties resolve and ranges come out exactly as Redis
/// gives them: from the end of the strings backwards).
pub fn lcs(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (a, b) = {
        let mut l = ctx.lock_many(&args[1..3]);
        let mut read = |k: &[u8]| match l.read(k) {
            Some(e) => e.string().map(|s| s.to_vec()),
            None => Ok(Vec::new()),
        };
        match (read(&args[1]), read(&args[2])) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return Reply::error("ERR The specified keys must contain string values"),
        }
    };
    let (mut get_len, mut get_idx, mut with_match_len, mut min_match_len) = (false, false, false, 0i64);
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "idx") {
            get_idx = true;
        } else if is(&args[i], "len") {
            get_len = true;
        } else if is(&args[i], "withmatchlen") {
            with_match_len = true;
        } else if is(&args[i], "minmatchlen") && i + 1 < args.len() {
            match arg_i64(&args[i + 1]) {
                Ok(n) => min_match_len = n.max(0),
                Err(r) => return r,
            }
            i += 1;
        } else {
            return syntax_error();
        }
        i += 1;
    }
    if get_idx && get_len {
        return Reply::error("ERR If you want both the length and indexes, please just use IDX.");
    }
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Reply::error("ERR String too long for LCS");
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells * 4 > ctx.server.config.proto_max_bulk_len.load(Ordering::Relaxed) as u64 {
        return Reply::error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    // table[i * (blen + 1) + j]: LCS length of a[..i] and b[..j]
    let width = blen + 1;
    let mut table = vec![0u32; cells as usize];
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * width + j] =
                if a[i - 1] == b[j - 1] { table[(i - 1) * width + j - 1] + 1 } else { table[(i - 1) * width + j].max(table[i * width + j - 1]) };
        }
    }
    let total = table[alen * width + blen];
    if get_len {
        return Reply::Int(total as i64);
    }
    // Walk back from the end, collecting the subsequence and the ranges of
    // contiguous matches (a range is [start, end] in a and in b).
    let mut result = vec![0u8; total as usize];
    let mut matches = Vec::new();
    let mut range: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j, mut k) = (alen, blen, total as usize);
    while i > 0 && j > 0 {
        let emit = if a[i - 1] == b[j - 1] {
            result[k - 1] = a[i - 1];
            range = Some(match range {
                None => (i - 1, i - 1, j - 1, j - 1),
                // contiguous with the current range: extend it backwards
                Some((a_start, a_end, b_start, b_end)) => (a_start - 1, a_end, b_start - 1, b_end),
            });
            k -= 1;
            i -= 1;
            j -= 1;
            // a match with the first byte of either string ends the walk
            i == 0 || j == 0
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            range.is_some()
        };
        if emit && let Some((a_start, a_end, b_start, b_end)) = range.take() {
            let len = (a_end - a_start + 1) as i64;
            if get_idx && (min_match_len == 0 || len >= min_match_len) {
                let mut m = vec![
                    Reply::Array(vec![Reply::Int(a_start as i64), Reply::Int(a_end as i64)]),
                    Reply::Array(vec![Reply::Int(b_start as i64), Reply::Int(b_end as i64)]),
                ];
                if with_match_len {
                    m.push(Reply::Int(len));
                }
                matches.push(Reply::Array(m));
            }
        }
    }
    if get_idx {
        return Reply::Map(vec![(Reply::bulk("matches"), Reply::Array(matches)), (Reply::bulk("len"), Reply::Int(total as i64))]);
    }
    Reply::Bulk(Bytes::from(result))
}
