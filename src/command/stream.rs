//! Stream commands (Redis's `t_stream.c`): XADD, XRANGE, XREVRANGE, XLEN,
//! XDEL, XTRIM, XSETID, XREAD (BLOCK on the one wait registry), consumer
//! groups (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM) and
//! XINFO, with Redis 7.0's checks in Redis's order, its error texts, and
//! its propagation forms in the effect log (the generated ID, an
//! approximate trim as the exact one it came to, a group read as the
//! XCLAIMs and XGROUP SETID it amounts to).

use super::{Ctx, arg_i64, is, syntax_error, wrong_arity, wrong_type};
use crate::resp::Reply;
use crate::store::notify;
use crate::store::stream::{self, AppendError, Group, Item, ParsedId, Stream, StreamId, Trim};
use crate::store::value::Boxed;
use crate::store::{Entry, Kind, Locked, effects};
use bytes::Bytes;
use std::sync::atomic::Ordering;

fn invalid_id() -> Reply {
    Reply::error("ERR Invalid stream ID specified as stream command argument")
}

fn strict_id(arg: &[u8]) -> Result<StreamId, Reply> {
    stream::parse_id(arg, 0, true, false).map(|p| p.id).ok_or_else(invalid_id)
}

/// A range bound: `(` makes it exclusive (Redis's
/// `streamParseIntervalIDOrReply`), moved by one ID inwards.
fn interval(arg: &[u8], missing_seq: u64, start: bool) -> Result<StreamId, Reply> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = stream::parse_id(&arg[1..], missing_seq, true, false).ok_or_else(invalid_id)?.id;
        let moved = if start { id.incr() } else { id.decr() };
        return moved.ok_or_else(|| Reply::error(if start { "ERR invalid start ID for the interval" } else { "ERR invalid end ID for the interval" }));
    }
    stream::parse_id(arg, missing_seq, false, false).map(|p| p.id).ok_or_else(invalid_id)
}

fn read(e: Option<Entry<'_>>) -> Result<Option<&Stream>, Reply> {
    match e {
        None => Ok(None),
        Some(e) => e.stream().map(Some).map_err(|_| wrong_type()),
    }
}

/// The stream under `key` in the locked shards, looked up already (no
/// side effects), if it is one.
fn stream_at<'l>(l: &'l Locked<'_>, key: &[u8]) -> Option<&'l Stream> {
    l.entry_ref(l.db(), key).and_then(|e| Entry::of(e).stream().ok())
}

/// The stream XINFO asks about: a missing key is Redis's "no such key".
fn existing(e: Option<Entry<'_>>) -> Result<&Stream, Reply> {
    read(e)?.ok_or_else(|| Reply::error("ERR no such key"))
}

fn limits(ctx: &Ctx) -> stream::Limits {
    let c = &ctx.server.config;
    stream::Limits {
        max_bytes: c.stream_node_max_bytes.load(Ordering::Relaxed) as usize,
        max_entries: c.stream_node_max_entries.load(Ordering::Relaxed) as usize,
    }
}

/// The stream in a slot, created empty first if the key was just made.
fn stream_mut<'s>(slot: &'s mut crate::store::table::Slot<'_>) -> &'s mut Stream {
    if !matches!(slot.boxed_mut(), Some(Boxed::Stream(_))) {
        slot.set_boxed(Kind::Stream, Box::new(Boxed::Stream(Box::default())));
    }
    match slot.boxed_mut() {
        Some(Boxed::Stream(s)) => s,
        _ => unreachable!("just made a stream"),
    }
}

fn raw(b: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(b))
}

fn id_reply(id: StreamId) -> Reply {
    Reply::bulk(id.text())
}

/// `[id, [field, value, ...]]`.
fn entry_reply(it: &Item<'_>) -> Reply {
    let mut fv = Vec::with_capacity(2 * it.nfields);
    for (f, v) in it.pairs() {
        fv.push(Reply::bulk(&*f));
        fv.push(Reply::bulk(&*v));
    }
    Reply::Array(vec![id_reply(it.id), Reply::Array(fv)])
}

fn range_reply(s: &Stream, start: StreamId, end: StreamId, rev: bool, count: usize) -> Vec<Reply> {
    let mut out = Vec::new();
    s.scan(start, end, rev, |it| {
        out.push(entry_reply(&it));
        count == 0 || out.len() < count
    });
    out
}

fn subcommand_error(args: &[Bytes]) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        super::sanitize(&args[1], 128),
        String::from_utf8_lossy(&args[0]).to_ascii_uppercase()
    ))
}

// ---- XADD and XTRIM --------------------------------------------------------

#[derive(Default)]
struct AddTrim {
    id: Option<ParsedId>,
    nomkstream: bool,
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    /// Where the MAXLEN count or MINID id is (to rewrite it).
    trim_at: usize,
    limit_at: Option<usize>,
    /// Where the ID is (XADD).
    id_at: usize,
}

/// Redis's `streamParseAddOrTrimArgsOrReply`.
fn parse_add_trim(ctx: &Ctx, args: &[Bytes], xadd: bool) -> Result<AddTrim, Reply> {
    let mut o = AddTrim::default();
    let mut i = 2;
    let mut limit_given = false;
    let both = || Reply::error("ERR syntax error, MAXLEN and MINID options at the same time are not compatible");
    while i < args.len() {
        let more = args.len() - 1 - i;
        let a = &args[i];
        if xadd && a.as_ref() == b"*" {
            break;
        } else if (is(a, "maxlen") || is(a, "minid")) && more > 0 {
            if o.trim.is_some() {
                return Err(both());
            }
            o.approx = false;
            let next = &args[i + 1];
            if more >= 2 && (next.as_ref() == b"~" || next.as_ref() == b"=") {
                o.approx = next.as_ref() == b"~";
                i += 1;
            }
            if is(a, "maxlen") {
                let n = arg_i64(&args[i + 1])?;
                if n < 0 {
                    return Err(Reply::error("ERR The MAXLEN argument must be >= 0."));
                }
                o.trim = Some(Trim::MaxLen(n as u64));
            } else {
                o.trim = Some(Trim::MinId(strict_id(&args[i + 1])?));
            }
            i += 1;
            o.trim_at = i;
        } else if is(a, "limit") && more > 0 {
            let n = arg_i64(&args[i + 1])?;
            if n < 0 {
                return Err(Reply::error("ERR The LIMIT argument must be >= 0."));
            }
            o.limit = n as u64;
            limit_given = true;
            o.limit_at = Some(i);
            i += 1;
        } else if xadd && is(a, "nomkstream") {
            o.nomkstream = true;
        } else if xadd {
            o.id = Some(stream::parse_id(a, 0, true, true).ok_or_else(invalid_id)?);
            break;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    o.id_at = i;
    if o.limit > 0 && o.trim.is_none() {
        return Err(Reply::error("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"));
    }
    if !xadd && o.trim.is_none() {
        return Err(Reply::error("ERR syntax error, XTRIM must be called with a trimming strategy"));
    }
    if limit_given {
        if !o.approx {
            return Err(Reply::error("ERR syntax error, LIMIT cannot be used without the special ~ option"));
        }
    } else if o.approx {
        let entries = ctx.server.config.stream_node_max_entries.load(Ordering::Relaxed) as i64;
        let l = entries.saturating_mul(100);
        o.limit = if l <= 0 { 10_000 } else { l.min(1_000_000) } as u64;
    } else {
        o.limit = 0;
    }
    Ok(o)
}

/// The effect of an approximate trim: the exact one it came to, without
/// LIMIT (`MAXLEN = <length>` or `MINID = <first ID>`), as Redis
/// propagates it.
fn exact_trim(args: &mut Vec<Bytes>, o: &AddTrim, s: &Stream) {
    args[o.trim_at - 1] = Bytes::from_static(b"=");
    args[o.trim_at] = Bytes::from(match o.trim {
        Some(Trim::MaxLen(_)) => s.length.to_string(),
        _ => s.first_stored_id().text(),
    });
    if let Some(at) = o.limit_at {
        args.drain(at..at + 2);
    }
}

pub fn xadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let o = match parse_add_trim(ctx, args, true) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let fields_at = o.id_at + 1;
    if args.len() < fields_at + 2 || !(args.len() - fields_at).is_multiple_of(2) {
        return wrong_arity("xadd");
    }
    if let Some(ParsedId { id, seq_given: true }) = o.id
        && id.is_zero()
    {
        return Reply::error("ERR The ID specified in XADD must be greater than 0-0");
    }
    let limits = limits(ctx);
    let key = &args[1];
    let mut l = ctx.lock(key);
    match read(l.lookup(key)) {
        Err(r) => return r,
        Ok(None) if o.nomkstream => return Reply::Nil,
        Ok(Some(s)) if s.last_id == StreamId::MAX => return Reply::error("ERR The stream has exhausted the last possible ID, unable to add more items"),
        Ok(_) => {}
    }
    let now = crate::util::clock_ms();
    let keeping = l.keeps_effects();
    let done = l.modify(key, Kind::Stream, true, |slot| {
        let s = stream_mut(slot);
        let id = s.append(&args[fields_at..], o.id, now, limits)?;
        let trimmed = o.trim.map_or(0, |how| s.trim(how, o.approx, o.limit));
        if keeping {
            let mut effect = args.to_vec();
            if o.trim.is_some() && o.approx {
                exact_trim(&mut effect, &o, s);
            }
            let id_at = o.id_at - (args.len() - effect.len());
            effect[id_at] = Bytes::from(id.text());
            effects::rewrite(|| vec![effect]);
        }
        Ok::<_, AppendError>((id, trimmed))
    });
    match done {
        Err(_) => wrong_type(),
        Ok(None) => Reply::Nil,
        Ok(Some(Err(AppendError::NotGreater))) => Reply::error("ERR The ID specified in XADD is equal or smaller than the target stream top item"),
        Ok(Some(Err(AppendError::TooLarge))) => Reply::error("ERR Elements are too large to be stored"),
        Ok(Some(Ok((id, trimmed)))) => {
            l.notify(notify::STREAM, "xadd", key);
            if trimmed > 0 {
                l.notify(notify::STREAM, "xtrim", key);
            }
            id_reply(id)
        }
    }
}

pub fn xtrim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let o = match parse_add_trim(ctx, args, false) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let key = &args[1];
    let mut l = ctx.lock(key);
    match read(l.lookup(key)) {
        Err(r) => return r,
        Ok(None) => return Reply::Int(0),
        Ok(Some(_)) => {}
    }
    let keeping = l.keeps_effects();
    let how = o.trim.expect("XTRIM has a strategy");
    let trimmed = l
        .modify(key, Kind::Stream, false, |slot| {
            let s = stream_mut(slot);
            let n = s.trim(how, o.approx, o.limit);
            if keeping && n > 0 {
                let mut effect = args.to_vec();
                if o.approx {
                    exact_trim(&mut effect, &o, s);
                }
                effects::rewrite(|| vec![effect]);
            }
            n
        })
        .ok()
        .flatten()
        .unwrap_or(0);
    if trimmed > 0 {
        l.notify(notify::STREAM, "xtrim", key);
    }
    Reply::Int(trimmed as i64)
}

// ---- reads -----------------------------------------------------------------

fn xrange_generic(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> Reply {
    let (start_arg, end_arg) = if rev { (&args[3], &args[2]) } else { (&args[2], &args[3]) };
    let start = match interval(start_arg, 0, true) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let end = match interval(end_arg, u64::MAX, false) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if is(&args[j], "count") && j + 1 < args.len() {
            count = match arg_i64(&args[j + 1]) {
                Ok(n) => n.max(0),
                Err(r) => return r,
            };
            j += 2;
        } else {
            return syntax_error();
        }
    }
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Err(r) => r,
        Ok(None) => Reply::Array(Vec::new()),
        Ok(Some(_)) if count == 0 => Reply::NilArray,
        Ok(Some(s)) => Reply::Array(range_reply(s, start, end, rev, count.max(0) as usize)),
    }
}

pub fn xrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    xrange_generic(ctx, args, false)
}

pub fn xrevrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    xrange_generic(ctx, args, true)
}

pub fn xlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Err(r) => r,
        Ok(s) => Reply::Int(s.map_or(0, |s| s.length) as i64),
    }
}

pub fn xdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let mut l = ctx.lock(key);
    match read(l.lookup(key)) {
        Err(r) => return r,
        Ok(None) => return Reply::Int(0),
        Ok(Some(_)) => {}
    }
    let mut ids = Vec::with_capacity(args.len() - 2);
    for a in &args[2..] {
        match strict_id(a) {
            Ok(id) => ids.push(id),
            Err(r) => return r,
        }
    }
    // only a deletion changes anything (no WATCH touch otherwise)
    let any = {
        let s = stream_at(&l, key);
        s.is_some_and(|s| ids.iter().any(|id| s.get(*id).is_some()))
    };
    if !any {
        return Reply::Int(0);
    }
    let n = l.modify(key, Kind::Stream, false, |slot| stream_mut(slot).delete_ids(&ids)).ok().flatten().unwrap_or(0);
    if n > 0 {
        l.notify(notify::STREAM, "xdel", key);
    }
    Reply::Int(n as i64)
}

pub fn xsetid(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let id = match strict_id(&args[2]) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let (mut entries_added, mut max_deleted): (i64, StreamId) = (-1, StreamId::MIN);
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if is(&args[i], "entriesadded") && more > 0 {
            match arg_i64(&args[i + 1]) {
                Ok(n) if n < 0 => return Reply::error("ERR entries_added must be positive"),
                Ok(n) => entries_added = n,
                Err(r) => return r,
            }
        } else if is(&args[i], "maxdeletedid") && more > 0 {
            match strict_id(&args[i + 1]) {
                Ok(m) if id < m => return Reply::error("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"),
                Ok(m) => max_deleted = m,
                Err(r) => return r,
            }
        } else {
            return syntax_error();
        }
        i += 2;
    }
    let key = &args[1];
    let mut l = ctx.lock(key);
    let s = match read(l.lookup(key)) {
        Err(r) => return r,
        Ok(None) => return Reply::error("ERR no such key"),
        Ok(Some(s)) => s,
    };
    if s.length > 0 {
        if id < s.edge_id(false) {
            return Reply::error("ERR The ID specified in XSETID is smaller than the target stream top item");
        }
        if entries_added != -1 && s.length > entries_added as u64 {
            return Reply::error("ERR The entries_added specified in XSETID is smaller than the target stream length");
        }
    }
    let _ = l.modify(key, Kind::Stream, false, |slot| {
        let s = stream_mut(slot);
        s.last_id = id;
        if entries_added != -1 {
            s.entries_added = entries_added as u64;
        }
        if !max_deleted.is_zero() {
            s.max_deleted_id = max_deleted;
        }
    });
    l.notify(notify::STREAM, "xsetid", key);
    Reply::Ok
}

// ---- XREAD and XREADGROUP --------------------------------------------------

/// Entries served to a client blocked without COUNT (Redis's
/// `XREAD_BLOCKED_DEFAULT_COUNT`).
const BLOCKED_DEFAULT_COUNT: i64 = 1000;

struct ReadArgs {
    block: Option<Option<std::time::Instant>>,
    count: i64,
    count_given: bool,
    streams_at: usize,
    n: usize,
    group: Option<(Bytes, Bytes)>,
    noack: bool,
}

fn parse_read(args: &[Bytes], group_cmd: bool, in_script: bool) -> Result<ReadArgs, Reply> {
    let mut r = ReadArgs { block: None, count: 0, count_given: false, streams_at: 0, n: 0, group: None, noack: false };
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let a = &args[i];
        if is(a, "block") && more > 0 {
            if in_script {
                return Err(Reply::error(format!("ERR {} command is not allowed with BLOCK option from scripts", String::from_utf8_lossy(&args[0]))));
            }
            i += 1;
            let ms = crate::util::parse_i64(&args[i]).ok_or_else(|| Reply::error("ERR timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(Reply::error("ERR timeout is negative"));
            }
            let ms = (ms as u64).min(100 * 365 * 86_400_000);
            r.block = Some((ms > 0).then(|| std::time::Instant::now() + std::time::Duration::from_millis(ms)));
        } else if is(a, "count") && more > 0 {
            i += 1;
            r.count = arg_i64(&args[i])?.max(0);
            r.count_given = true;
        } else if is(a, "streams") && more > 0 {
            r.streams_at = i + 1;
            let n = args.len() - r.streams_at;
            if !n.is_multiple_of(2) {
                return Err(Reply::error("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."));
            }
            r.n = n / 2;
            break;
        } else if is(a, "group") && more >= 2 {
            if !group_cmd {
                return Err(Reply::error("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."));
            }
            r.group = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 2;
        } else if is(a, "noack") {
            if !group_cmd {
                return Err(Reply::error("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."));
            }
            r.noack = true;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    if r.streams_at == 0 {
        return Err(syntax_error());
    }
    if group_cmd && r.group.is_none() {
        return Err(Reply::error("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

/// Where a read starts on one stream: after this ID, or `>` (the group's
/// new entries).
#[derive(Clone, Copy, PartialEq)]
enum From {
    After(StreamId),
    New,
}

pub fn xread(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    read_generic(ctx, args, false)
}

pub fn xreadgroup(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    read_generic(ctx, args, true)
}

fn read_generic(ctx: &mut Ctx, args: &[Bytes], group_cmd: bool) -> Reply {
    let r = match parse_read(args, group_cmd, ctx.client.in_script) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let keys = &args[r.streams_at..r.streams_at + r.n];
    let id_args = &args[r.streams_at + r.n..];
    let retry = ctx.client.lock_waiter.is_some();
    let resp3 = ctx.client.resp3;
    let mut l = ctx.lock_many(keys);
    // resolve the IDs (and check the groups) before serving anything
    let mut from = Vec::with_capacity(r.n);
    for (key, a) in keys.iter().zip(id_args) {
        let s = match read(l.read(key)) {
            Ok(s) => s,
            Err(e) => return e,
        };
        if let Some((group, _)) = &r.group
            && s.is_none_or(|s| !s.groups.contains_key(group.as_ref()))
        {
            return Reply::error(if retry {
                "NOGROUP the consumer group this client was blocked on no longer exists".to_string()
            } else {
                format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(group)
                )
            });
        }
        if a.as_ref() == b"$" {
            if group_cmd {
                return Reply::error(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                );
            }
            from.push(From::After(s.map_or(StreamId::MIN, |s| s.last_id)));
        } else if a.as_ref() == b">" {
            if !group_cmd {
                return Reply::error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
            }
            from.push(From::New);
        } else {
            match strict_id(a) {
                Ok(id) => from.push(From::After(id)),
                Err(e) => return e,
            }
        }
    }
    let count = if retry && !r.count_given { BLOCKED_DEFAULT_COUNT } else { r.count } as usize;
    let now = crate::util::clock_ms();
    let keeping = l.keeps_effects();
    let mut served: Vec<(Bytes, Reply)> = Vec::new();
    let mut all_effects: Vec<Vec<Bytes>> = Vec::new();
    for (key, f) in keys.iter().zip(&from) {
        let Some(s) = stream_at(&l, key) else { continue };
        match &r.group {
            None => {
                let From::After(after) = *f else { continue };
                if s.length == 0 || s.edge_id(false) <= after {
                    continue;
                }
                let Some(start) = after.incr() else { continue };
                served.push((key.clone(), Reply::Array(range_reply(s, start, StreamId::MAX, false, count))));
            }
            Some((group, consumer)) => {
                let g = &s.groups[group.as_ref()];
                let (start, history) = match *f {
                    From::After(id) => (id, true),
                    From::New if s.length > 0 && s.edge_id(false) > g.last_id => (g.last_id, false),
                    From::New => continue,
                };
                let Some(start) = start.incr() else { continue };
                let mut effects_here = Vec::new();
                let reply = l
                    .modify(key, Kind::Stream, false, |slot| {
                        let s = stream_mut(slot);
                        deliver(s, key, group, consumer, start, count, history, r.noack, now, keeping.then_some(&mut effects_here))
                    })
                    .ok()
                    .flatten()
                    .expect("the stream is there");
                if reply.1 {
                    l.notify(notify::STREAM, "xgroup-createconsumer", key);
                }
                all_effects.extend(effects_here);
                served.push((key.clone(), reply.0));
            }
        }
    }
    if group_cmd {
        // what the group read amounts to (nothing at all for history)
        effects::rewrite(|| all_effects);
    }
    if !served.is_empty() {
        return if resp3 {
            Reply::Map(served.into_iter().map(|(k, v)| (Reply::Bulk(k), v)).collect())
        } else {
            Reply::Array(served.into_iter().map(|(k, v)| Reply::Array(vec![Reply::Bulk(k), v])).collect())
        };
    }
    let Some(deadline) = r.block else { return Reply::NilArray };
    // blocked: run again with the IDs resolved now and Redis's default
    // count for a served blocked read
    let mut again: Vec<Bytes> = args.to_vec();
    for (i, f) in from.iter().enumerate() {
        if let From::After(id) = f {
            again[r.streams_at + r.n + i] = Bytes::from(id.text());
        }
    }
    super::block_keys(ctx, l, keys, deadline, Reply::NilArray, Reply::NilArray, &again)
}

/// Serves a group read from `start` on one stream: `(reply, consumer
/// created)`. New entries (`!history`) move the group on and enter the
/// consumer's pending list (unless `noack`); history comes from the
/// consumer's own pending list, missing entries as `[id, nil]`.
#[allow(clippy::too_many_arguments)]
fn deliver(
    s: &mut Stream,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    start: StreamId,
    count: usize,
    history: bool,
    noack: bool,
    now: u64,
    mut effects: Option<&mut Vec<Vec<Bytes>>>,
) -> (Reply, bool) {
    let g = s.groups.get_mut(group).expect("checked");
    let (c, created) = g.consumer(consumer, now);
    c.seen_time = now;
    if created
        && noack
        && let Some(e) = effects.as_deref_mut()
    {
        e.push(effects::args(&[b"XGROUP", b"CREATECONSUMER", key, group, consumer]));
    }
    if history {
        let ids: Vec<StreamId> = c.pel.range(start..).take(if count == 0 { usize::MAX } else { count }).copied().collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match s.get(id) {
                Some(it) => {
                    out.push(entry_reply(&it));
                    if let Some(n) = s.groups.get_mut(group).and_then(|g| g.pel.get_mut(&id)) {
                        n.delivery_time = now;
                        n.delivery_count += 1;
                    }
                }
                None => out.push(Reply::Array(vec![id_reply(id), Reply::NilArray])),
            }
        }
        return (Reply::Array(out), created);
    }
    let mut out = Vec::new();
    let mut ids = Vec::new();
    s.scan(start, StreamId::MAX, false, |it| {
        out.push(entry_reply(&it));
        ids.push(it.id);
        count == 0 || ids.len() < count
    });
    let mut moved = false;
    for id in ids {
        let before = s.groups[group].last_id;
        s.advance_group(group, id);
        moved |= s.groups[group].last_id != before;
        if !noack {
            let g = s.groups.get_mut(group).expect("checked");
            g.assign(id, consumer, now, 1);
            if let Some(e) = effects.as_deref_mut() {
                e.push(xclaim_effect(key, group, id, g));
            }
        }
    }
    // the group's position with its entries-read, always (Redis 7.0 sends
    // it only with NOACK, so its replicas and AOF lose `entries-read`;
    // 7.2 sends it always, as here)
    if moved && let Some(e) = effects {
        e.push(setid_effect(key, group, &s.groups[group]));
    }
    (Reply::Array(out), created)
}

/// Redis's propagation of a pending entry (`streamPropagateXCLAIM`).
fn xclaim_effect(key: &[u8], group: &[u8], id: StreamId, g: &Group) -> Vec<Bytes> {
    xclaim_effect_of(key, group, id, &g.pel[&id], g.last_id)
}

/// ... and of a group's position (`streamPropagateGroupID`).
fn setid_effect(key: &[u8], group: &[u8], g: &Group) -> Vec<Bytes> {
    effects::args(&[b"XGROUP", b"SETID", key, group, g.last_id.text().as_bytes(), b"ENTRIESREAD", g.entries_read.to_string().as_bytes()])
}

/// ... with the NACK given (an XCLAIM that dropped a vanished entry's NACK
/// is propagated with the NACK as it was).
fn xclaim_effect_of(key: &[u8], group: &[u8], id: StreamId, n: &stream::Nack, last_id: StreamId) -> Vec<Bytes> {
    effects::args(&[
        b"XCLAIM",
        key,
        group,
        &n.consumer,
        b"0",
        id.text().as_bytes(),
        b"TIME",
        n.delivery_time.to_string().as_bytes(),
        b"RETRYCOUNT",
        n.delivery_count.to_string().as_bytes(),
        b"FORCE",
        b"JUSTID",
        b"LASTID",
        last_id.text().as_bytes(),
    ])
}

// ---- groups ----------------------------------------------------------------

fn no_group(group: &[u8], key: &[u8]) -> Reply {
    Reply::error(format!("NOGROUP No such consumer group '{}' for key name '{}'", String::from_utf8_lossy(group), String::from_utf8_lossy(key)))
}

fn no_key_or_group(key: &[u8], group: &[u8]) -> Reply {
    Reply::error(format!("NOGROUP No such key '{}' or consumer group '{}'", String::from_utf8_lossy(key), String::from_utf8_lossy(group)))
}

/// XGROUP CREATE | SETID | DESTROY | CREATECONSUMER | DELCONSUMER, one
/// handler as Redis's `xgroupCommand`, checks in its order.
pub fn xgroup(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let mut mkstream = false;
    let mut entries_read = stream::INVALID_ENTRIES_READ;
    let key = args.get(2).cloned().unwrap_or_default();
    let group = args.get(3).cloned().unwrap_or_default();
    if args.len() >= 4 {
        let (create, setid) = (sub == "create", sub == "setid");
        let mut i = 5;
        while i < args.len() {
            if create && is(&args[i], "mkstream") {
                mkstream = true;
                i += 1;
            } else if (create || setid) && is(&args[i], "entriesread") && i + 1 < args.len() {
                match arg_i64(&args[i + 1]) {
                    Ok(n) if n < 0 && n != stream::INVALID_ENTRIES_READ => return Reply::error("ERR value for ENTRIESREAD must be positive or -1"),
                    Ok(n) => entries_read = n,
                    Err(r) => return r,
                }
                i += 2;
            } else {
                return subcommand_error(args);
            }
        }
    }
    let mut l = ctx.lock(&key);
    let (exists, has_group, last_id) = match read(l.lookup(&key)) {
        Err(r) => return r,
        Ok(None) => (false, false, StreamId::MIN),
        Ok(Some(s)) => (true, s.groups.contains_key(group.as_ref()), s.last_id),
    };
    if args.len() >= 4 && !mkstream {
        if !exists {
            return Reply::error(
                "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
            );
        }
        if !has_group && matches!(sub.as_str(), "setid" | "createconsumer" | "delconsumer") {
            return no_group(&group, &key);
        }
    }
    let now = crate::util::clock_ms();
    match sub.as_str() {
        "create" if (5..=8).contains(&args.len()) => {
            let id = if args[4].as_ref() == b"$" {
                last_id
            } else {
                match strict_id(&args[4]) {
                    Ok(id) => id,
                    Err(r) => return r,
                }
            };
            if has_group {
                return Reply::error("BUSYGROUP Consumer Group name already exists");
            }
            let _ = l.modify(&key, Kind::Stream, true, |slot| {
                stream_mut(slot).groups.insert(group.to_vec(), Group::new(id, entries_read));
            });
            l.notify(notify::STREAM, "xgroup-create", &key);
            Reply::Ok
        }
        "setid" if args.len() == 5 || args.len() == 7 => {
            let id = if args[4].as_ref() == b"$" {
                last_id
            } else {
                match stream::parse_id(&args[4], 0, false, false) {
                    Some(p) => p.id,
                    None => return invalid_id(),
                }
            };
            let _ = l.modify(&key, Kind::Stream, false, |slot| {
                let g = stream_mut(slot).groups.get_mut(group.as_ref()).expect("checked");
                g.last_id = id;
                g.entries_read = entries_read;
            });
            l.notify(notify::STREAM, "xgroup-setid", &key);
            Reply::Ok
        }
        "destroy" if args.len() == 4 => {
            if !has_group {
                return Reply::Int(0);
            }
            // the change wakes blocked group readers, who find it gone
            let _ = l.modify(&key, Kind::Stream, false, |slot| stream_mut(slot).groups.remove(group.as_ref()));
            l.notify(notify::STREAM, "xgroup-destroy", &key);
            Reply::Int(1)
        }
        "createconsumer" if args.len() == 5 => {
            let there = stream_at(&l, &key).is_some_and(|s| s.groups[group.as_ref()].consumers.contains_key(args[4].as_ref()));
            if there {
                return Reply::Int(0);
            }
            let _ = l.modify(&key, Kind::Stream, false, |slot| {
                stream_mut(slot).groups.get_mut(group.as_ref()).expect("checked").consumer(&args[4], now);
            });
            l.notify(notify::STREAM, "xgroup-createconsumer", &key);
            Reply::Int(1)
        }
        "delconsumer" if args.len() == 5 => {
            let there = stream_at(&l, &key).is_some_and(|s| s.groups[group.as_ref()].consumers.contains_key(args[4].as_ref()));
            if !there {
                return Reply::Int(0);
            }
            let pending = l
                .modify(&key, Kind::Stream, false, |slot| stream_mut(slot).groups.get_mut(group.as_ref()).expect("checked").remove_consumer(&args[4]))
                .ok()
                .flatten()
                .flatten()
                .unwrap_or(0);
            l.notify(notify::STREAM, "xgroup-delconsumer", &key);
            Reply::Int(pending as i64)
        }
        _ => subcommand_error(args),
    }
}

pub fn xgroup_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    super::keys::help_reply(
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    )
}

pub fn xack(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group) = (&args[1], &args[2]);
    let mut l = ctx.lock(key);
    let has_group = match read(l.read(key)) {
        Err(r) => return r,
        Ok(s) => s.is_some_and(|s| s.groups.contains_key(group.as_ref())),
    };
    if !has_group {
        return Reply::Int(0);
    }
    let mut ids = Vec::with_capacity(args.len() - 3);
    for a in &args[3..] {
        match strict_id(a) {
            Ok(id) => ids.push(id),
            Err(r) => return r,
        }
    }
    let any = stream_at(&l, key).is_some_and(|s| ids.iter().any(|id| s.groups[group.as_ref()].pel.contains_key(id)));
    if !any {
        return Reply::Int(0);
    }
    let n = l
        .modify(key, Kind::Stream, false, |slot| {
            let g = stream_mut(slot).groups.get_mut(group.as_ref()).expect("checked");
            ids.iter().filter(|id| g.ack(**id)).count()
        })
        .ok()
        .flatten()
        .unwrap_or(0);
    Reply::Int(n as i64)
}

pub fn xpending(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group) = (&args[1], &args[2]);
    let summary = args.len() == 3;
    if !summary && !(6..=9).contains(&args.len()) {
        return syntax_error();
    }
    let (mut start, mut end, mut count, mut min_idle, mut consumer) = (StreamId::MIN, StreamId::MAX, 0i64, 0i64, None);
    if !summary {
        let mut at = 3;
        if is(&args[3], "idle") {
            min_idle = match arg_i64(&args[4]) {
                Ok(n) => n,
                Err(r) => return r,
            };
            if args.len() < 8 {
                return syntax_error();
            }
            at += 2;
        }
        count = match arg_i64(&args[at + 2]) {
            Ok(n) => n.max(0),
            Err(r) => return r,
        };
        start = match interval(&args[at], 0, true) {
            Ok(id) => id,
            Err(r) => return r,
        };
        end = match interval(&args[at + 1], u64::MAX, false) {
            Ok(id) => id,
            Err(r) => return r,
        };
        consumer = args.get(at + 3);
    }
    let mut l = ctx.lock(key);
    let s = match read(l.read(key)) {
        Err(r) => return r,
        Ok(s) => s,
    };
    let Some(g) = s.and_then(|s| s.groups.get(group.as_ref())) else { return no_key_or_group(key, group) };
    if summary {
        if g.pel.is_empty() {
            return Reply::Array(vec![Reply::Int(0), Reply::Nil, Reply::Nil, Reply::NilArray]);
        }
        let first = *g.pel.keys().next().expect("not empty");
        let last = *g.pel.keys().next_back().expect("not empty");
        let owners =
            g.consumers.iter().filter(|(_, c)| !c.pel.is_empty()).map(|(n, c)| Reply::Array(vec![raw(n), Reply::bulk(c.pel.len().to_string())])).collect();
        return Reply::Array(vec![Reply::Int(g.pel.len() as i64), id_reply(first), id_reply(last), Reply::Array(owners)]);
    }
    let now = crate::util::clock_ms() as i64;
    let ids: Box<dyn Iterator<Item = StreamId>> = match consumer {
        Some(name) => match g.consumers.get(name.as_ref()) {
            None => return Reply::Array(Vec::new()),
            Some(c) => Box::new(c.pel.range(start..).copied()),
        },
        None => Box::new(g.pel.range(start..).map(|(id, _)| *id)),
    };
    let mut out = Vec::new();
    if start <= end {
        for id in ids {
            if count == 0 || id > end {
                break;
            }
            let n = &g.pel[&id];
            let idle = (now - n.delivery_time as i64).max(0);
            if min_idle > 0 && now - (n.delivery_time as i64) < min_idle {
                continue;
            }
            count -= 1;
            out.push(Reply::Array(vec![id_reply(id), raw(&n.consumer), Reply::Int(idle), Reply::Int(n.delivery_count as i64)]));
        }
    }
    Reply::Array(out)
}

pub fn xclaim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group, consumer) = (&args[1], &args[2], &args[3]);
    let mut l = ctx.lock(key);
    let has_group = match read(l.read(key)) {
        Err(r) => return r,
        Ok(s) => s.is_some_and(|s| s.groups.contains_key(group.as_ref())),
    };
    if !has_group {
        return no_key_or_group(key, group);
    }
    let min_idle = match crate::util::parse_i64(&args[4]) {
        Some(n) => n.max(0),
        None => return Reply::error("ERR Invalid min-idle-time argument for XCLAIM"),
    };
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match stream::parse_id(&args[j], 0, true, false) {
            Some(p) => ids.push(p.id),
            None => break,
        }
        j += 1;
    }
    let now = crate::util::clock_ms() as i64;
    let (mut force, mut justid, mut retrycount, mut delivery, mut last_id) = (false, false, -1i64, -1i64, StreamId::MIN);
    while j < args.len() {
        let more = args.len() - 1 - j;
        let a = &args[j];
        let num = |v: &[u8], what: &str| crate::util::parse_i64(v).ok_or_else(|| Reply::error(format!("ERR Invalid {what} option argument for XCLAIM")));
        if is(a, "force") {
            force = true;
        } else if is(a, "justid") {
            justid = true;
        } else if is(a, "idle") && more > 0 {
            j += 1;
            match num(&args[j], "IDLE") {
                Ok(v) => delivery = now.wrapping_sub(v),
                Err(r) => return r,
            }
        } else if is(a, "time") && more > 0 {
            j += 1;
            match num(&args[j], "TIME") {
                Ok(v) => delivery = v,
                Err(r) => return r,
            }
        } else if is(a, "retrycount") && more > 0 {
            j += 1;
            match num(&args[j], "RETRYCOUNT") {
                Ok(v) => retrycount = v,
                Err(r) => return r,
            }
        } else if is(a, "lastid") && more > 0 {
            j += 1;
            match strict_id(&args[j]) {
                Ok(id) => last_id = id,
                Err(r) => return r,
            }
        } else {
            return Reply::error(format!("ERR Unrecognized XCLAIM option '{}'", String::from_utf8_lossy(a)));
        }
        j += 1;
    }
    if delivery < 0 || delivery > now {
        delivery = now;
    }
    let keeping = l.keeps_effects();
    let mut created = false;
    let mut effects_out: Vec<Vec<Bytes>> = Vec::new();
    let out = l
        .modify(key, Kind::Stream, false, |slot| {
            let s = stream_mut(slot);
            let mut propagate_last_id = false;
            {
                let g = s.groups.get_mut(group.as_ref()).expect("checked");
                if last_id > g.last_id {
                    g.last_id = last_id;
                    propagate_last_id = true;
                }
            }
            let mut out = Vec::new();
            for id in ids {
                let exists = s.get(id).is_some();
                let g = s.groups.get_mut(group.as_ref()).expect("checked");
                if !exists {
                    if let Some(n) = g.pel.get(&id).cloned() {
                        if keeping {
                            effects_out.push(xclaim_effect_of(key, group, id, &n, g.last_id));
                        }
                        propagate_last_id = false;
                        g.ack(id);
                    }
                    continue;
                }
                // a NACK FORCE makes has no owner yet, one delivery, and no
                // idle time to check (Redis's `streamCreateNACK(NULL)`)
                let had = g.pel.get(&id).map(|n| (n.delivery_time, n.delivery_count));
                let (old_time, old_count, unowned) = match (had, force) {
                    (Some((t, c)), _) => (t, c, false),
                    (None, true) => (now as u64, 1, true),
                    (None, false) => continue,
                };
                if !unowned && min_idle > 0 && now - (old_time as i64) < min_idle {
                    continue;
                }
                let (_, made) = g.consumer(consumer, now as u64);
                created |= made;
                g.consumers.get_mut(consumer.as_ref()).expect("made").seen_time = now as u64;
                let count = if retrycount >= 0 {
                    retrycount as u64
                } else if !justid {
                    old_count + 1
                } else {
                    old_count
                };
                g.assign(id, consumer, delivery as u64, count);
                if keeping {
                    effects_out.push(xclaim_effect(key, group, id, g));
                }
                propagate_last_id = false;
                out.push(if justid { id_reply(id) } else { entry_reply(&s.get(id).expect("exists")) });
            }
            if propagate_last_id && keeping {
                effects_out.push(setid_effect(key, group, &s.groups[group.as_ref()]));
            }
            out
        })
        .ok()
        .flatten()
        .unwrap_or_default();
    effects::rewrite(|| effects_out);
    if created {
        l.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    Reply::Array(out)
}

pub fn xautoclaim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group, consumer) = (&args[1], &args[2], &args[3]);
    let min_idle = match crate::util::parse_i64(&args[4]) {
        Some(n) => n.max(0),
        None => return Reply::error("ERR Invalid min-idle-time argument for XAUTOCLAIM"),
    };
    let start = match interval(&args[5], 0, true) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let (mut count, mut justid) = (100i64, false);
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(&args[j], "count") && more > 0 {
            match crate::util::parse_i64(&args[j + 1]) {
                Some(n) if (1..=i64::MAX / 16).contains(&n) => count = n,
                _ => return Reply::error("ERR COUNT must be > 0"),
            }
            j += 1;
        } else if is(&args[j], "justid") {
            justid = true;
        } else {
            return syntax_error();
        }
        j += 1;
    }
    let mut l = ctx.lock(key);
    let has_group = match read(l.read(key)) {
        Err(r) => return r,
        Ok(s) => s.is_some_and(|s| s.groups.contains_key(group.as_ref())),
    };
    if !has_group {
        return Reply::error(format!("NOGROUP No such key '{}' or consumer group '{}'", String::from_utf8_lossy(key), String::from_utf8_lossy(group)));
    }
    let now = crate::util::clock_ms();
    let keeping = l.keeps_effects();
    let mut created = false;
    let mut effects_out: Vec<Vec<Bytes>> = Vec::new();
    let reply = l
        .modify(key, Kind::Stream, false, |slot| {
            let s = stream_mut(slot);
            let mut attempts = count.saturating_mul(10);
            let (mut claimed, mut deleted) = (Vec::new(), Vec::new());
            let mut cursor = Some(start);
            let mut next = None;
            while let Some(from) = cursor {
                let candidate = s.groups[group.as_ref()].pel.range(from..).next().map(|(id, _)| *id);
                if attempts == 0 || count == 0 {
                    next = candidate;
                    break;
                }
                attempts -= 1;
                let Some(id) = candidate else { break };
                cursor = id.incr();
                if s.get(id).is_none() {
                    let g = s.groups.get_mut(group.as_ref()).expect("checked");
                    let n = g.pel[&id].clone();
                    if keeping {
                        effects_out.push(xclaim_effect_of(key, group, id, &n, g.last_id));
                    }
                    g.ack(id);
                    deleted.push(id_reply(id));
                    count -= 1;
                    continue;
                }
                let g = s.groups.get_mut(group.as_ref()).expect("checked");
                let n = &g.pel[&id];
                if min_idle > 0 && (now as i64) - (n.delivery_time as i64) < min_idle {
                    continue;
                }
                let delivered = n.delivery_count + u64::from(!justid);
                let (_, made) = g.consumer(consumer, now);
                created |= made;
                g.consumers.get_mut(consumer.as_ref()).expect("made").seen_time = now;
                g.assign(id, consumer, now, delivered);
                if keeping {
                    effects_out.push(xclaim_effect(key, group, id, g));
                }
                claimed.push(if justid { id_reply(id) } else { entry_reply(&s.get(id).expect("exists")) });
                count -= 1;
            }
            let next = next.unwrap_or(StreamId::MIN);
            Reply::Array(vec![id_reply(next), Reply::Array(claimed), Reply::Array(deleted)])
        })
        .ok()
        .flatten()
        .expect("the stream is there");
    effects::rewrite(|| effects_out);
    if created {
        l.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    reply
}

// ---- XINFO -----------------------------------------------------------------

fn group_lag(s: &Stream, g: &Group) -> Reply {
    s.lag(g).map_or(Reply::Nil, Reply::Int)
}

fn entries_read(g: &Group) -> Reply {
    if g.entries_read == stream::INVALID_ENTRIES_READ { Reply::Nil } else { Reply::Int(g.entries_read) }
}

/// Redis's `radix-tree-nodes` depends on its radix tree's layout; this is
/// the count of a compressed trie over the same 16-byte keys, which is
/// what Redis's tree holds for them (close, not always equal).
fn tree_nodes(s: &Stream) -> i64 {
    let keys: Vec<[u8; 16]> = s.nodes().map(|(id, _)| id.to_be()).collect();
    fn count(keys: &[[u8; 16]], depth: usize) -> i64 {
        if keys.len() <= 1 || depth >= 16 {
            return 1;
        }
        // the common prefix from `depth` is one compressed node
        let mut d = depth;
        while d < 16 && keys.iter().all(|k| k[d] == keys[0][d]) {
            d += 1;
        }
        if d >= 16 {
            return 1;
        }
        let mut n = 1 + i64::from(d > depth);
        let mut i = 0;
        while i < keys.len() {
            let j = keys[i..].iter().position(|k| k[d] != keys[i][d]).map_or(keys.len(), |p| i + p);
            n += count(&keys[i..j], d + 1);
            i = j;
        }
        n
    }
    if keys.is_empty() { 1 } else { count(&keys, 0) }
}

pub fn xinfo_stream(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let opts = &args[3..];
    let full = !opts.is_empty();
    let mut count: i64 = 10;
    if full {
        if (opts.len() != 1 && opts.len() != 3) || !is(&opts[0], "full") || (opts.len() == 3 && !is(&opts[1], "count")) {
            return subcommand_error(args);
        }
        if opts.len() == 3 {
            count = match arg_i64(&opts[2]) {
                Ok(n) if n < 0 => 10,
                Ok(n) => n,
                Err(r) => return r,
            };
        }
    }
    let mut l = ctx.lock(&args[2]);
    let s = match existing(l.read(&args[2])) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let b = Reply::bulk;
    let mut m = vec![
        (b("length"), Reply::Int(s.length as i64)),
        (b("radix-tree-keys"), Reply::Int(s.node_count() as i64)),
        (b("radix-tree-nodes"), Reply::Int(tree_nodes(s))),
        (b("last-generated-id"), id_reply(s.last_id)),
        (b("max-deleted-entry-id"), id_reply(s.max_deleted_id)),
        (b("entries-added"), Reply::Int(s.entries_added as i64)),
        (b("recorded-first-entry-id"), id_reply(s.first_id)),
    ];
    let limit = count.max(0) as usize;
    if !full {
        m.push((b("groups"), Reply::Int(s.groups.len() as i64)));
        let first = range_reply(s, StreamId::MIN, StreamId::MAX, false, 1).pop().unwrap_or(Reply::Nil);
        let last = range_reply(s, StreamId::MIN, StreamId::MAX, true, 1).pop().unwrap_or(Reply::Nil);
        m.push((b("first-entry"), first));
        m.push((b("last-entry"), last));
        return Reply::Map(m);
    }
    m.push((b("entries"), Reply::Array(range_reply(s, StreamId::MIN, StreamId::MAX, false, limit))));
    let take = |n: usize| if limit == 0 { n } else { n.min(limit) };
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| {
            let pending = g
                .pel
                .iter()
                .take(take(g.pel.len()))
                .map(|(id, n)| Reply::Array(vec![id_reply(*id), raw(&n.consumer), Reply::Int(n.delivery_time as i64), Reply::Int(n.delivery_count as i64)]))
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let pel = c
                        .pel
                        .iter()
                        .take(take(c.pel.len()))
                        .map(|id| {
                            let n = &g.pel[id];
                            Reply::Array(vec![id_reply(*id), Reply::Int(n.delivery_time as i64), Reply::Int(n.delivery_count as i64)])
                        })
                        .collect();
                    Reply::Map(vec![
                        (b("name"), raw(cname)),
                        (b("seen-time"), Reply::Int(c.seen_time as i64)),
                        (b("pel-count"), Reply::Int(c.pel.len() as i64)),
                        (b("pending"), Reply::Array(pel)),
                    ])
                })
                .collect();
            Reply::Map(vec![
                (b("name"), raw(name)),
                (b("last-delivered-id"), id_reply(g.last_id)),
                (b("entries-read"), entries_read(g)),
                (b("lag"), group_lag(s, g)),
                (b("pel-count"), Reply::Int(g.pel.len() as i64)),
                (b("pending"), Reply::Array(pending)),
                (b("consumers"), Reply::Array(consumers)),
            ])
        })
        .collect();
    m.push((b("groups"), Reply::Array(groups)));
    Reply::Map(m)
}

pub fn xinfo_groups(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[2]);
    let s = match existing(l.read(&args[2])) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let b = Reply::bulk;
    Reply::Array(
        s.groups
            .iter()
            .map(|(name, g)| {
                Reply::Map(vec![
                    (b("name"), raw(name)),
                    (b("consumers"), Reply::Int(g.consumers.len() as i64)),
                    (b("pending"), Reply::Int(g.pel.len() as i64)),
                    (b("last-delivered-id"), id_reply(g.last_id)),
                    (b("entries-read"), entries_read(g)),
                    (b("lag"), group_lag(s, g)),
                ])
            })
            .collect(),
    )
}

pub fn xinfo_consumers(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[2]);
    let s = match existing(l.read(&args[2])) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(g) = s.groups.get(args[3].as_ref()) else { return no_group(&args[3], &args[2]) };
    let now = crate::util::clock_ms() as i64;
    let b = Reply::bulk;
    Reply::Array(
        g.consumers
            .iter()
            .map(|(name, c)| {
                Reply::Map(vec![
                    (b("name"), raw(name)),
                    (b("pending"), Reply::Int(c.pel.len() as i64)),
                    (b("idle"), Reply::Int((now - c.seen_time as i64).max(0))),
                ])
            })
            .collect(),
    )
}

pub fn xinfo_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    super::keys::help_reply(
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    )
}
