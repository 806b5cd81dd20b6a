//! Sorted set commands, as Redis 7.0's `t_zset.c` answers them: the order
//! arguments are checked in (ranges and scores before the key lookup), its
//! error texts, reply shapes in RESP2 and RESP3 (scores as doubles printed
//! `%.17g`; WITHSCORES flat in RESP2 and as pairs in RESP3), and the
//! encoding a result ends in. Writes go through the keyspace's one write
//! path ([`crate::store::Locked::modify`]); pops from blocking and
//! multi-key forms are logged as the ZPOPMIN / ZPOPMAX they amount to, as
//! Redis propagates them.

use super::{Ctx, arg_i64, arg_ranged, is, syntax_error, wrong_type};
use crate::resp::Reply;
use crate::store::notify;
use crate::store::zset::{self, AddFlags, Added, Building, Limits, ZSetRef};
use crate::store::{Entry, Kind, Locked, WrongType, effects};
use crate::util;
use bytes::Bytes;
use std::collections::HashMap;

pub use crate::store::zset::limits_of;

fn limits(ctx: &Ctx) -> Limits {
    limits_of(&ctx.server.config)
}

/// The sorted set under `key` for a read: `Ok(None)` when missing.
fn read(e: Option<Entry<'_>>) -> Result<Option<ZSetRef<'_>>, Reply> {
    match e {
        None => Ok(None),
        Some(e) => e.zset().map(Some).map_err(|_| wrong_type()),
    }
}

fn not_float() -> Reply {
    Reply::error("ERR value is not a valid float")
}

fn arg_score(arg: &[u8]) -> Result<f64, Reply> {
    util::parse_score(arg).ok_or_else(not_float)
}

/// Elements as a reply: members only, or with their scores (flat in
/// RESP2, `[member, score]` pairs in RESP3), encoded as they come.
type Elements = crate::resp::reply::ScoredArray;

// ---- ranges ----------------------------------------------------------------

/// A score interval (Redis's `zrangespec`).
#[derive(Clone, Copy)]
struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

/// One end of a score interval: `(` makes it open; the number is `strtod`
/// of the rest, up to a NUL as C reads it, and may not be NaN.
fn score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let arg = arg.split(|&b| b == 0).next().unwrap_or(b"");
    let (text, ex) = match arg.split_first() {
        Some((b'(', rest)) => (rest, true),
        _ => (arg, false),
    };
    let (v, n, _) = util::strtod(text);
    (n == text.len() && !v.is_nan()).then_some((v, ex))
}

fn score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, Reply> {
    match (score_bound(min), score_bound(max)) {
        (Some((min, minex)), Some((max, maxex))) => Ok(ScoreRange { min, minex, max, maxex }),
        _ => Err(Reply::error("ERR min or max is not a float")),
    }
}

impl ScoreRange {
    /// The ranks `start..end` the interval covers.
    fn ranks(self, z: ZSetRef<'_>) -> (usize, usize) {
        let start = z.count_below(|s, _| if self.minex { s <= self.min } else { s < self.min });
        let end = z.count_below(|s, _| if self.maxex { s < self.max } else { s <= self.max });
        (start, end.max(start))
    }
}

/// One end of a lexicographic interval.
#[derive(Clone)]
enum Lex {
    /// `-`
    Min,
    /// `+`
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

fn lex_bound(arg: &[u8]) -> Option<Lex> {
    // a C string: `+` and `-` may be followed by a NUL only
    let alone = arg.len() == 1 || arg.get(1) == Some(&0);
    match arg.first() {
        Some(b'+') if alone => Some(Lex::Max),
        Some(b'-') if alone => Some(Lex::Min),
        Some(b'(') => Some(Lex::Excl(arg[1..].to_vec())),
        Some(b'[') => Some(Lex::Incl(arg[1..].to_vec())),
        _ => None,
    }
}

#[derive(Clone)]
struct LexRange {
    min: Lex,
    max: Lex,
}

fn lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, Reply> {
    match (lex_bound(min), lex_bound(max)) {
        (Some(min), Some(max)) => Ok(LexRange { min, max }),
        _ => Err(Reply::error("ERR min or max not valid string range item")),
    }
}

impl LexRange {
    fn gte_min(&self, m: &[u8]) -> bool {
        match &self.min {
            Lex::Min => true,
            Lex::Max => false,
            Lex::Incl(v) => m >= &v[..],
            Lex::Excl(v) => m > &v[..],
        }
    }

    fn lte_max(&self, m: &[u8]) -> bool {
        match &self.max {
            Lex::Max => true,
            Lex::Min => false,
            Lex::Incl(v) => m <= &v[..],
            Lex::Excl(v) => m < &v[..],
        }
    }

    /// The ranks the interval covers. Meaningful when all scores are
    /// equal (Redis's precondition); a listpack is walked as Redis walks
    /// it, so its answer is Redis's even when they are not.
    fn ranks(&self, z: ZSetRef<'_>) -> (usize, usize) {
        if matches!(z, ZSetRef::Listpack(_)) {
            return self.walk(z, false, 0, -1);
        }
        let start = z.count_below(|_, m| !self.gte_min(m));
        let end = z.count_below(|_, m| self.lte_max(m));
        (start, end.max(start))
    }

    /// Redis's `sdscmplex(min, max)` says the interval is empty.
    fn is_empty(&self) -> bool {
        use std::cmp::Ordering::*;
        let ex = |l: &Lex| !matches!(l, Lex::Incl(_));
        let order = match (&self.min, &self.max) {
            (Lex::Min, Lex::Min) | (Lex::Max, Lex::Max) => Equal,
            (Lex::Min, _) | (_, Lex::Max) => Less,
            (Lex::Max, _) | (_, Lex::Min) => Greater,
            (Lex::Incl(a) | Lex::Excl(a), Lex::Incl(b) | Lex::Excl(b)) => a.cmp(b),
        };
        order == Greater || (order == Equal && (ex(&self.min) || ex(&self.max)))
    }

    /// The ranks a listpack walk emits (Redis's `zzlFirstInLexRange` /
    /// `zzlLastInLexRange`, then `offset` skipped unchecked and elements
    /// taken while in range, up to `limit`): contiguous, and defined even
    /// when scores differ.
    fn walk(&self, z: ZSetRef<'_>, rev: bool, offset: i64, limit: i64) -> (usize, usize) {
        let mut ms: Vec<Vec<u8>> = Vec::with_capacity(z.len());
        z.for_each(|m, _| ms.push(m.to_vec()));
        let n = ms.len();
        if self.is_empty() || n == 0 || !self.gte_min(&ms[n - 1]) || !self.lte_max(&ms[0]) || offset < 0 {
            return (0, 0);
        }
        let room = |taken: usize| limit < 0 || (taken as i64) < limit;
        if !rev {
            let Some(first) = ms.iter().position(|m| self.gte_min(m)) else { return (0, 0) };
            if !self.lte_max(&ms[first]) {
                return (0, 0);
            }
            let start = (first as u64).saturating_add(offset as u64).min(n as u64) as usize;
            let mut end = start;
            while end < n && room(end - start) && self.lte_max(&ms[end]) {
                end += 1;
            }
            (start, end)
        } else {
            let Some(last) = ms.iter().rposition(|m| self.lte_max(m)) else { return (0, 0) };
            if !self.gte_min(&ms[last]) || offset as u64 > last as u64 {
                return (0, 0);
            }
            let top = last + 1 - offset as usize;
            let mut low = top;
            while low > 0 && room(top - low) && self.gte_min(&ms[low - 1]) {
                low -= 1;
            }
            (low, top)
        }
    }
}

/// Redis's rank clamping for `start stop` (ZRANGE, ZREMRANGEBYRANK):
/// `None` when empty.
fn rank_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize + 1))
}

// ---- writes ----------------------------------------------------------------

/// ZADD and ZINCRBY (Redis's `zaddGenericCommand`).
fn zadd_generic(ctx: &mut Ctx, args: &[Bytes], mut flags: AddFlags) -> Reply {
    let mut ch = false;
    let mut at = 2;
    while at < args.len() {
        let a = &args[at];
        if is(a, "nx") {
            flags.nx = true;
        } else if is(a, "xx") {
            flags.xx = true;
        } else if is(a, "ch") {
            ch = true;
        } else if is(a, "incr") {
            flags.incr = true;
        } else if is(a, "gt") {
            flags.gt = true;
        } else if is(a, "lt") {
            flags.lt = true;
        } else {
            break;
        }
        at += 1;
    }
    let pairs = args.len() - at;
    if pairs % 2 == 1 || pairs == 0 {
        return syntax_error();
    }
    if flags.nx && flags.xx {
        return Reply::error("ERR XX and NX options at the same time are not compatible");
    }
    if [flags.gt, flags.lt, flags.nx].iter().filter(|&&f| f).count() > 1 {
        return Reply::error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if flags.incr && pairs > 2 {
        return Reply::error("ERR INCR option supports a single increment-element pair");
    }
    let mut scores = Vec::with_capacity(pairs / 2);
    for i in (at..args.len()).step_by(2) {
        match arg_score(&args[i]) {
            Ok(s) => scores.push(s),
            Err(r) => return r,
        }
    }
    let limits = limits(ctx);
    let key = &args[1];
    let mut l = ctx.lock(key);
    let done = l.modify(key, Kind::ZSet, !flags.xx, |slot| {
        let (mut added, mut updated, mut processed, mut last) = (0, 0, 0, 0.0);
        for (j, &score) in scores.iter().enumerate() {
            match zset::add(slot, limits, score, &args[at + 1 + 2 * j], flags)? {
                (Added::Added, s) => (added, processed, last) = (added + 1, processed + 1, s),
                (Added::Updated, s) => (updated, processed, last) = (updated + 1, processed + 1, s),
                (Added::Same, s) => (processed, last) = (processed + 1, s),
                (Added::Nop, _) => {}
            }
        }
        Ok((added, updated, processed, last))
    });
    if let Ok(Some(Ok((added, updated, _, _)))) = done
        && added + updated > 0
    {
        l.notify(notify::ZSET, if flags.incr { "zincr" } else { "zadd" }, key);
    }
    match done {
        Err(WrongType) => wrong_type(),
        Ok(Some(Err(zset::NanScore))) => Reply::error("ERR resulting score is not a number (NaN)"),
        Ok(None) if flags.incr => Reply::Nil,
        Ok(None) => Reply::Int(0),
        Ok(Some(Ok((_, _, processed, last)))) if flags.incr => {
            if processed > 0 {
                Reply::Double(last)
            } else {
                Reply::Nil
            }
        }
        Ok(Some(Ok((added, updated, _, _)))) => Reply::Int(if ch { added + updated } else { added }),
    }
}

pub fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zadd_generic(ctx, args, AddFlags::default())
}

pub fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zadd_generic(ctx, args, AddFlags { incr: true, ..AddFlags::default() })
}

pub fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    let done = l.modify(&args[1], Kind::ZSet, false, |slot| {
        let mut n = 0;
        for m in &args[2..] {
            n += zset::remove(slot, m) as i64;
            if ZSetRef::of(slot.entry()).is_empty() {
                break;
            }
        }
        n
    });
    removed(&mut l, &args[1], done, "zrem")
}

/// The end of a command removing members: Redis's `event` (and `del` if
/// the key went) when some were, and the count.
fn removed(l: &mut Locked<'_>, key: &[u8], done: Result<Option<i64>, WrongType>, event: &str) -> Reply {
    match done {
        Err(WrongType) => wrong_type(),
        Ok(n) => {
            let n = n.unwrap_or(0);
            if n > 0 {
                l.notify_removed(notify::ZSET, event, key);
            }
            Reply::Int(n)
        }
    }
}

enum RangeKind {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

fn zremrange(ctx: &mut Ctx, args: &[Bytes], kind: &str) -> Reply {
    let range = match kind {
        "rank" => match (arg_i64(&args[2]), arg_i64(&args[3])) {
            (Ok(a), Ok(b)) => RangeKind::Rank(a, b),
            (Err(r), _) | (_, Err(r)) => return r,
        },
        "score" => match score_range(&args[2], &args[3]) {
            Ok(r) => RangeKind::Score(r),
            Err(r) => return r,
        },
        _ => match lex_range(&args[2], &args[3]) {
            Ok(r) => RangeKind::Lex(r),
            Err(r) => return r,
        },
    };
    let mut l = ctx.lock(&args[1]);
    let done = l.modify(&args[1], Kind::ZSet, false, |slot| {
        let z = ZSetRef::of(slot.entry());
        let (from, to) = match &range {
            RangeKind::Rank(a, b) => rank_range(*a, *b, z.len()).unwrap_or((0, 0)),
            RangeKind::Score(r) => r.ranks(z),
            RangeKind::Lex(r) => r.ranks(z),
        };
        zset::remove_ranks(slot, from, to).len() as i64
    });
    let event = match kind {
        "rank" => "zremrangebyrank",
        "score" => "zremrangebyscore",
        _ => "zremrangebylex",
    };
    removed(&mut l, &args[1], done, event)
}

pub fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zremrange(ctx, args, "rank")
}

pub fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zremrange(ctx, args, "score")
}

pub fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zremrange(ctx, args, "lex")
}

// ---- reads -----------------------------------------------------------------

pub fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Ok(z) => Reply::Int(z.map_or(0, |z| z.len()) as i64),
        Err(r) => r,
    }
}

pub fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Ok(z) => z.and_then(|z| z.score(&args[2])).map_or(Reply::Nil, Reply::Double),
        Err(r) => r,
    }
}

pub fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Ok(z) => Reply::Array(args[2..].iter().map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Nil, Reply::Double)).collect()),
        Err(r) => r,
    }
}

fn zrank_generic(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Ok(z) => z.and_then(|z| z.rank(&args[2], rev)).map_or(Reply::Nil, |r| Reply::Int(r as i64)),
        Err(r) => r,
    }
}

pub fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zrank_generic(ctx, args, false)
}

pub fn zrevrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zrank_generic(ctx, args, true)
}

/// ZCOUNT and ZLEXCOUNT: the size of a parsed range (parsed before the key
/// is looked up, as Redis does).
fn count_in(ctx: &mut Ctx, args: &[Bytes], range: Result<RangeKind, Reply>) -> Reply {
    let range = match range {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Ok(z) => Reply::Int(z.map_or(0, |z| {
            let (a, b) = match &range {
                RangeKind::Score(r) => r.ranks(z),
                RangeKind::Lex(r) => r.ranks(z),
                RangeKind::Rank(..) => (0, 0),
            };
            b - a
        }) as i64),
        Err(r) => r,
    }
}

pub fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    count_in(ctx, args, score_range(&args[2], &args[3]).map(RangeKind::Score))
}

pub fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    count_in(ctx, args, lex_range(&args[2], &args[3]).map(RangeKind::Lex))
}

/// What a ZRANGE form asks for, parsed as Redis's `zrangeGenericCommand`.
struct RangeQuery {
    kind: RangeKind,
    rev: bool,
    scores: bool,
    offset: i64,
    limit: i64,
}

#[derive(Clone, Copy, PartialEq)]
enum Fixed {
    /// ZRANGE, ZRANGESTORE: BYSCORE / BYLEX / REV allowed.
    Auto,
    Rank(bool),
    Score(bool),
    Lex(bool),
}

fn parse_range(args: &[Bytes], at: usize, store: bool, fixed: Fixed) -> Result<RangeQuery, Reply> {
    let (mut by, mut rev) = match fixed {
        Fixed::Auto => (None, None),
        Fixed::Rank(r) => (Some("rank"), Some(r)),
        Fixed::Score(r) => (Some("score"), Some(r)),
        Fixed::Lex(r) => (Some("lex"), Some(r)),
    };
    let (mut scores, mut offset, mut limit) = (false, 0, -1);
    let mut j = at + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if !store && is(a, "withscores") {
            scores = true;
        } else if is(a, "limit") && left >= 2 {
            offset = arg_i64(&args[j + 1])?;
            limit = arg_i64(&args[j + 2])?;
            j += 2;
        } else if fixed == Fixed::Auto && rev.is_none() && is(a, "rev") {
            rev = Some(true);
        } else if fixed == Fixed::Auto && by.is_none() && is(a, "bylex") {
            by = Some("lex");
        } else if fixed == Fixed::Auto && by.is_none() && is(a, "byscore") {
            by = Some("score");
        } else {
            return Err(syntax_error());
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    let by = by.unwrap_or("rank");
    if limit != -1 && by == "rank" {
        return Err(Reply::error("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"));
    }
    if scores && by == "lex" {
        return Err(Reply::error("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    let (mut lo, mut hi) = (&args[at + 1], &args[at + 2]);
    if rev && by != "rank" {
        std::mem::swap(&mut lo, &mut hi);
    }
    let kind = match by {
        "rank" => RangeKind::Rank(arg_i64(lo)?, arg_i64(hi)?),
        "score" => RangeKind::Score(score_range(lo, hi)?),
        _ => RangeKind::Lex(lex_range(lo, hi)?),
    };
    Ok(RangeQuery { kind, rev, scores, offset, limit })
}

impl RangeQuery {
    /// The elements asked for, in reply order.
    fn run(&self, z: ZSetRef<'_>, mut f: impl FnMut(&[u8], f64)) {
        if let (RangeKind::Lex(r), ZSetRef::Listpack(_)) = (&self.kind, z) {
            let (from, to) = r.walk(z, self.rev, self.offset, self.limit);
            return z.range(from, to, self.rev, &mut f);
        }
        if let (RangeKind::Score(r), false, true) = (&self.kind, self.rev, self.limit >= 0) {
            // forward with a LIMIT: from the range's start, at most `limit`
            // elements, stopping at its end (no second descent for it)
            if self.offset < 0 || (self.offset > 0 && self.offset as u64 >= z.len() as u64) {
                return;
            }
            let start = z.count_below(|s, _| if r.minex { s <= r.min } else { s < r.min });
            let from = start.saturating_add(self.offset as usize).min(z.len());
            let to = from.saturating_add(self.limit as usize).min(z.len());
            let mut inside = true;
            return z.range(from, to, false, |m, s| {
                inside = inside && if r.maxex { s < r.max } else { s <= r.max };
                if inside {
                    f(m, s);
                }
            });
        }
        let (from, to) = match &self.kind {
            RangeKind::Rank(a, b) => match rank_range(*a, *b, z.len()) {
                None => return,
                Some((from, to)) if self.rev => (z.len() - to, z.len() - from),
                Some(r) => r,
            },
            RangeKind::Score(r) => r.ranks(z),
            RangeKind::Lex(r) => r.ranks(z),
        };
        let (from, to) = if matches!(self.kind, RangeKind::Rank(..)) {
            (from, to)
        } else {
            // LIMIT: a negative offset finds nothing, a negative count
            // takes everything (Redis's loops)
            if self.offset < 0 || (self.offset > 0 && self.offset as u64 >= z.len() as u64) {
                return;
            }
            let n = (to - from).saturating_sub(self.offset as usize);
            let n = if self.limit < 0 { n } else { n.min(self.limit as usize) };
            if n == 0 {
                return;
            }
            if self.rev { (to - self.offset as usize - n, to - self.offset as usize) } else { (from + self.offset as usize, from + self.offset as usize + n) }
        };
        z.range(from, to, self.rev, &mut f);
    }
}

/// ZRANGE and its older forms.
fn zrange_generic(ctx: &mut Ctx, args: &[Bytes], fixed: Fixed) -> Reply {
    let q = match parse_range(args, 1, false, fixed) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let resp3 = ctx.client.resp3;
    let mut l = ctx.lock(&args[1]);
    match read(l.read(&args[1])) {
        Err(r) => r,
        Ok(None) => Reply::Array(Vec::new()),
        Ok(Some(z)) => {
            let mut out = Elements::new(q.scores, resp3, resp3);
            q.run(z, |m, s| out.push(m, s));
            out.finish()
        }
    }
}

pub fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zrange_generic(ctx, args, Fixed::Auto)
}

pub fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zrange_generic(ctx, args, Fixed::Rank(true))
}

pub fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zrange_generic(ctx, args, Fixed::Score(false))
}

pub fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zrange_generic(ctx, args, Fixed::Score(true))
}

pub fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zrange_generic(ctx, args, Fixed::Lex(false))
}

pub fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zrange_generic(ctx, args, Fixed::Lex(true))
}

/// A STORE form's end: the result replaces `dst` (no TTL), or an empty
/// result deletes it.
/// `event` names the command in the keyspace notification (GEOSEARCHSTORE
/// and GEORADIUS ... STORE end here too).
pub(super) fn store(l: &mut Locked<'_>, dst: &[u8], b: Building, limits: Limits, event: &str) -> Reply {
    if b.is_empty() {
        if l.delete(dst) {
            l.notify(notify::GENERIC, "del", dst);
        }
        return Reply::Int(0);
    }
    let (db, n) = (l.db(), b.len());
    let meta = l.new_meta(0);
    l.put_in(db, b.into_record(dst, limits, meta));
    l.notify(notify::ZSET, event, dst);
    Reply::Int(n as i64)
}

pub fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let q = match parse_range(args, 2, true, Fixed::Auto) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let limits = limits(ctx);
    let mut l = ctx.lock_many(&args[1..3]);
    let mut b = Building::new();
    match read(l.read(&args[2])) {
        Err(r) => return r,
        Ok(None) => {}
        Ok(Some(z)) => {
            // Redis adds the results one by one to a listpack (unless a rank
            // range is known to be too long), which stores -0 as the
            // integer 0, until one passes its limits
            let mut packed = match q.kind {
                RangeKind::Rank(a, c) => rank_range(a, c, z.len()).is_none_or(|(from, to)| to - from <= limits.max_entries),
                _ => true,
            };
            q.run(z, |m, s| {
                if packed && (b.len() + 1 > limits.max_entries || m.len() > limits.max_value) {
                    packed = false;
                }
                b.push(m.to_vec(), if packed && s == 0.0 { 0.0 } else { s });
            });
        }
    }
    store(&mut l, &args[1], b, limits, "zrangestore")
}

// ---- pops ------------------------------------------------------------------

/// A member and its score, copied out.
type Scored = (Vec<u8>, f64);

/// Pops from `key`: `None` when it is missing.
/// With its events: `zpopmin` or `zpopmax`, and `del` if the set went.
fn pop_from(l: &mut Locked<'_>, key: &[u8], max: bool, count: usize) -> Result<Option<Vec<Scored>>, WrongType> {
    let r = l.modify(key, Kind::ZSet, false, |slot| zset::pop(slot, max, count));
    if let Ok(Some(_)) = r {
        l.notify_removed(notify::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
    }
    r
}

fn pop_name(max: bool) -> &'static [u8] {
    if max { b"ZPOPMAX" } else { b"ZPOPMIN" }
}

fn zpop(ctx: &mut Ctx, args: &[Bytes], max: bool) -> Reply {
    if args.len() > 3 {
        return syntax_error();
    }
    let count = match args.get(2) {
        None => None,
        Some(c) => match arg_ranged(c, 0, "value is out of range, must be positive") {
            Ok(c) => Some(c as usize),
            Err(r) => return r,
        },
    };
    let resp3 = ctx.client.resp3;
    let mut l = ctx.lock(&args[1]);
    if count == Some(0) {
        return match l.kind_of(&args[1]) {
            Some(k) if k != Kind::ZSet => wrong_type(),
            _ => Reply::Array(Vec::new()),
        };
    }
    match pop_from(&mut l, &args[1], max, count.unwrap_or(1)) {
        Err(WrongType) => wrong_type(),
        Ok(None) => Reply::Array(Vec::new()),
        Ok(Some(popped)) => {
            let mut out = Elements::new(true, resp3 && count.is_some(), resp3);
            popped.iter().for_each(|(m, s)| out.push(m, *s));
            out.finish()
        }
    }
}

pub fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zpop(ctx, args, false)
}

pub fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zpop(ctx, args, true)
}

/// MIN (true) or MAX.
fn arg_min(arg: &[u8]) -> Result<bool, Reply> {
    if is(arg, "min") {
        Ok(true)
    } else if is(arg, "max") {
        Ok(false)
    } else {
        Err(syntax_error())
    }
}

/// The first existing sorted set of `keys`, popped: `[key, [[m, s]...]]`.
/// On a blocked command's retry (`retry`) a key of another type is passed
/// over, as Redis leaves such a waiter waiting.
fn mpop_from(l: &mut Locked<'_>, keys: &[Bytes], max: bool, count: usize, resp3: bool, mut retry: Option<&mut bool>) -> Result<Option<Reply>, WrongType> {
    for k in keys {
        let popped = match pop_from(l, k, max, count) {
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
        if let Some(popped) = popped {
            effects::rewrite(|| vec![effects::args(&[pop_name(max), k, popped.len().to_string().as_bytes()])]);
            let mut out = Elements::new(true, true, resp3);
            popped.iter().for_each(|(m, s)| out.push(m, *s));
            return Ok(Some(Reply::Array(vec![Reply::Bulk(k.clone()), out.finish()])));
        }
    }
    Ok(None)
}

pub fn zmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let m = match super::parse_mpop(args, 1, arg_min) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let keys = &args[m.keys];
    let resp3 = ctx.client.resp3;
    let mut l = ctx.lock_many(keys);
    match mpop_from(&mut l, keys, !m.first, m.count, resp3, None) {
        Err(WrongType) => wrong_type(),
        Ok(None) => Reply::NilArray,
        Ok(Some(r)) => r,
    }
}

/// Queues the command on `keys` while `l` still holds their shards; Redis
/// answers a timeout, and a client that may not block, with the null
/// array.
fn block(ctx: &mut Ctx, l: Locked<'_>, keys: &[Bytes], deadline: Option<std::time::Instant>, args: &[Bytes]) -> Reply {
    super::block_keys(ctx, l, keys, deadline, Reply::NilArray, Reply::NilArray, args)
}

/// BZPOPMIN and BZPOPMAX: `[key, member, score]` from the first non-empty
/// sorted set.
fn bzpop(ctx: &mut Ctx, args: &[Bytes], max: bool) -> Reply {
    let deadline = match super::arg_timeout(&args[args.len() - 1]) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let keys = &args[1..args.len() - 1];
    let retry = ctx.client.lock_waiter.is_some();
    let mut l = ctx.lock_many(keys);
    for k in keys {
        match pop_from(&mut l, k, max, 1) {
            // woken by a key that is now another type: go on waiting
            Err(WrongType) if retry => ctx.client.passed_wrong_type = true,
            Err(WrongType) => return wrong_type(),
            Ok(None) => {}
            Ok(Some(mut popped)) => {
                effects::rewrite(|| vec![effects::args(&[pop_name(max), k])]);
                let (m, s) = popped.pop().expect("one element");
                return Reply::Array(vec![Reply::Bulk(k.clone()), Reply::Bulk(m.into()), Reply::Double(s)]);
            }
        }
    }
    block(ctx, l, keys, deadline, args)
}

pub fn bzpopmin(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bzpop(ctx, args, false)
}

pub fn bzpopmax(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bzpop(ctx, args, true)
}

pub fn bzmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let m = match super::parse_mpop(args, 2, arg_min) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let deadline = match super::arg_timeout(&args[1]) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let keys = &args[m.keys];
    let (resp3, retry) = (ctx.client.resp3, ctx.client.lock_waiter.is_some());
    let mut l = ctx.lock_many(keys);
    match mpop_from(&mut l, keys, !m.first, m.count, resp3, retry.then_some(&mut ctx.client.passed_wrong_type)) {
        Err(WrongType) => wrong_type(),
        Ok(Some(r)) => r,
        Ok(None) => block(ctx, l, keys, deadline, args),
    }
}

// ---- random members, scans -------------------------------------------------

pub fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut count = None;
    let mut scores = false;
    if let Some(c) = args.get(2) {
        let n = match arg_i64(c) {
            Ok(i64::MIN) => return Reply::error(format!("ERR value is out of range, value must between {} and {}", -i64::MAX, i64::MAX)),
            Ok(n) => n,
            Err(r) => return r,
        };
        if args.len() > 4 || (args.len() == 4 && !is(&args[3], "withscores")) {
            return syntax_error();
        }
        if args.len() == 4 {
            scores = true;
            if !(-i64::MAX / 2..=i64::MAX / 2).contains(&n) {
                return Reply::error("ERR value is out of range");
            }
        }
        if n < 0 && n.unsigned_abs() > super::set::MAX_RANDOM_PICKS {
            return Reply::error(format!("ERR count is out of range: shardis repeats at most {} random members", super::set::MAX_RANDOM_PICKS));
        }
        count = Some(n);
    }
    let resp3 = ctx.client.resp3;
    let mut l = ctx.lock(&args[1]);
    let z = match read(l.read(&args[1])) {
        Ok(z) => z,
        Err(r) => return r,
    };
    let Some(n) = count else {
        return z.and_then(|z| z.random()).map_or(Reply::Nil, |(m, _)| Reply::Bulk(m.into()));
    };
    let Some(z) = z else { return Reply::Array(Vec::new()) };
    let mut out = Elements::new(scores, resp3, resp3);
    if n == 0 {
        return out.finish();
    }
    if n < 0 || n == 1 {
        for _ in 0..n.unsigned_abs() {
            let (m, s) = z.random().expect("not empty");
            out.push(&m, s);
        }
        return out.finish();
    }
    let mut all = z.elements();
    let want = (n as u64).min(all.len() as u64) as usize;
    if want < all.len() {
        // a random subset (partial Fisher-Yates), in random order as
        // Redis's dictionary-based picks come out
        for i in 0..want {
            let j = i + util::random_u64() as usize % (all.len() - i);
            all.swap(i, j);
        }
        all.truncate(want);
    }
    all.iter().for_each(|(m, s)| out.push(m, *s));
    out.finish()
}

pub fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(cursor) = util::parse_scan_cursor(&args[2]) else {
        return Reply::error("ERR invalid cursor");
    };
    let mut l = ctx.lock(&args[1]);
    let z = match read(l.read(&args[1])) {
        Ok(Some(z)) => z,
        Ok(None) => return Reply::Array(vec![Reply::bulk("0"), Reply::Array(Vec::new())]),
        Err(r) => return r,
    };
    let (count, pattern) = match super::scan_options(args, 3) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let listpack = matches!(z, ZSetRef::Listpack(_));
    let mut out = Vec::new();
    let next = z.scan(cursor, count, |m, s| {
        if pattern.is_none_or(|p| util::glob_match(p, m, false)) {
            // a listpack's scores as stored (Redis hands out its text), a
            // skiplist's as `%.17Lg`
            let text = if listpack { util::d2string(s) } else { util::format_g17(s) };
            out.extend([Reply::Bulk(Bytes::copy_from_slice(m)), Reply::bulk(text)]);
        }
    });
    Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(out)])
}

// ---- ZUNION, ZINTER, ZDIFF and their STORE forms ---------------------------

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, target: &mut f64, v: f64) {
        match self {
            Aggregate::Sum => {
                *target += v;
                // inf + -inf is NaN: Redis makes it 0
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => *target = if v < *target { v } else { *target },
            Aggregate::Max => *target = if v > *target { v } else { *target },
        }
    }
}

/// One input: a sorted set, a set (every member scores 1) or nothing.
#[derive(Clone, Copy)]
enum Source<'a> {
    None,
    ZSet(ZSetRef<'a>),
    Set(crate::store::set::SetRef<'a>),
}

impl Source<'_> {
    fn len(self) -> usize {
        match self {
            Source::None => 0,
            Source::ZSet(z) => z.len(),
            Source::Set(s) => s.len(),
        }
    }

    fn for_each(self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Source::None => {}
            Source::ZSet(z) => z.for_each(f),
            Source::Set(s) => s.for_each(|m| f(&m, 1.0)),
        }
    }

    fn score(self, member: &[u8]) -> Option<f64> {
        match self {
            Source::None => None,
            Source::ZSet(z) => z.score(member),
            Source::Set(s) => s.contains(member).then_some(1.0),
        }
    }
}

/// What the operation's result is for.
enum Output {
    Reply(bool),
    Store,
    Card,
}

/// Redis's `zunionInterDiffGenericCommand`.
fn zsetop(ctx: &mut Ctx, args: &[Bytes], dst: Option<&Bytes>, numkeys_at: usize, op: SetOp, card: bool) -> Reply {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let setnum = match arg_i64(&args[numkeys_at]) {
        Ok(n) => n,
        Err(r) => return r,
    };
    if setnum < 1 {
        return Reply::error(format!("ERR at least 1 input key is needed for '{name}' command"));
    }
    if setnum > (args.len() - numkeys_at - 1) as i64 {
        return syntax_error();
    }
    let keys = &args[numkeys_at + 1..numkeys_at + 1 + setnum as usize];
    let mut all: Vec<&Bytes> = keys.iter().collect();
    all.extend(dst);
    let limits = limits(ctx);
    let resp3 = ctx.client.resp3;
    let mut l = ctx.lock_many(&all);
    let db = l.db();
    for k in keys {
        if l.read_in(db, k).is_some_and(|e| e.kind != Kind::ZSet && e.kind != Kind::Set) {
            return wrong_type();
        }
    }
    let mut weights = vec![1.0; keys.len()];
    let mut aggregate = Aggregate::Sum;
    let (mut withscores, mut limit) = (false, 0usize);
    let mut j = numkeys_at + 1 + keys.len();
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j];
        if op != SetOp::Diff && !card && remaining > keys.len() && is(a, "weights") {
            j += 1;
            for w in weights.iter_mut() {
                match util::parse_score(&args[j]) {
                    Some(v) => *w = v,
                    None => return Reply::error("ERR weight value is not a float"),
                }
                j += 1;
            }
        } else if op != SetOp::Diff && !card && remaining >= 2 && is(a, "aggregate") {
            aggregate = match &args[j + 1] {
                x if is(x, "sum") => Aggregate::Sum,
                x if is(x, "min") => Aggregate::Min,
                x if is(x, "max") => Aggregate::Max,
                _ => return syntax_error(),
            };
            j += 2;
        } else if dst.is_none() && !card && is(a, "withscores") {
            withscores = true;
            j += 1;
        } else if card && remaining >= 2 && is(a, "limit") {
            match arg_ranged(&args[j + 1], 0, "LIMIT can't be negative") {
                Ok(n) => limit = n as usize,
                Err(r) => return r,
            }
            j += 2;
        } else {
            return syntax_error();
        }
    }
    let output = if card {
        Output::Card
    } else if dst.is_some() {
        Output::Store
    } else {
        Output::Reply(withscores)
    };
    let mut srcs: Vec<(Source<'_>, f64, &Bytes)> = keys
        .iter()
        .zip(&weights)
        .map(|(k, &w)| {
            let src = match l.entry_ref(db, k) {
                None => Source::None,
                Some(e) if e.kind() == Kind::ZSet => Source::ZSet(ZSetRef::of(e)),
                Some(e) => Source::Set(crate::store::set::SetRef::of(e)),
            };
            (src, w, k)
        })
        .collect();
    if op != SetOp::Diff {
        srcs.sort_by_key(|(s, _, _)| s.len());
    }
    let mut result: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut cardinality = 0usize;
    match op {
        SetOp::Inter => {
            let (first, w0, k0) = srcs[0];
            let mut done = false;
            first.for_each(|m, s| {
                if done {
                    return;
                }
                let mut score = w0 * s;
                if score.is_nan() {
                    score = 0.0;
                }
                for &(src, w, k) in &srcs[1..] {
                    // the same key twice: its own score, as Redis reads it
                    let found = if k == k0 { Some(s) } else { src.score(m) };
                    match found {
                        Some(v) => aggregate.apply(&mut score, v * w),
                        None => return,
                    }
                }
                if card {
                    cardinality += 1;
                    done = limit > 0 && cardinality >= limit;
                } else {
                    result.push((m.to_vec(), score));
                }
            });
        }
        SetOp::Union => {
            let mut acc: HashMap<Vec<u8>, usize> = HashMap::new();
            for &(src, w, _) in &srcs {
                src.for_each(|m, s| {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get(m) {
                        Some(&i) => aggregate.apply(&mut result[i].1, score),
                        None => {
                            acc.insert(m.to_vec(), result.len());
                            result.push((m.to_vec(), score));
                        }
                    }
                });
            }
        }
        SetOp::Diff => {
            let (first, _, _) = srcs[0];
            first.for_each(|m, s| {
                if !srcs[1..].iter().any(|(src, _, _)| src.score(m).is_some()) {
                    result.push((m.to_vec(), s));
                }
            });
        }
    }
    drop(srcs);
    match output {
        Output::Card => Reply::Int(cardinality as i64),
        Output::Store => {
            let mut b = Building::new();
            result.into_iter().for_each(|(m, s)| b.push(m, s));
            let event = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            store(&mut l, dst.expect("a destination"), b, limits, event)
        }
        Output::Reply(scores) => {
            result.sort_unstable_by(|a, b| crate::store::ztree::cmp(a.1, &a.0, b.1, &b.0));
            let mut out = Elements::new(scores, resp3, resp3);
            result.iter().for_each(|(m, s)| out.push(m, *s));
            out.finish()
        }
    }
}

pub fn zunion(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zsetop(ctx, args, None, 1, SetOp::Union, false)
}

pub fn zinter(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zsetop(ctx, args, None, 1, SetOp::Inter, false)
}

pub fn zdiff(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zsetop(ctx, args, None, 1, SetOp::Diff, false)
}

pub fn zintercard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zsetop(ctx, args, None, 1, SetOp::Inter, true)
}

pub fn zunionstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zsetop(ctx, args, Some(&args[1]), 2, SetOp::Union, false)
}

pub fn zinterstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zsetop(ctx, args, Some(&args[1]), 2, SetOp::Inter, false)
}

pub fn zdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zsetop(ctx, args, Some(&args[1]), 2, SetOp::Diff, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_parse_as_redis() {
        assert_eq!(score_bound(b"(1.5"), Some((1.5, true)));
        assert_eq!(score_bound(b"-inf"), Some((f64::NEG_INFINITY, false)));
        assert_eq!(score_bound(b""), Some((0.0, false)), "strtod of nothing is 0 and Redis takes it");
        assert_eq!(score_bound(b"("), Some((0.0, true)));
        assert_eq!(score_bound(b"1\0junk"), Some((1.0, false)), "C stops at the NUL");
        assert_eq!(score_bound(b"nan"), None);
        assert_eq!(score_bound(b"1x"), None);
        assert!(matches!(lex_bound(b"+"), Some(Lex::Max)));
        assert!(lex_bound(b"+a").is_none());
        assert!(matches!(lex_bound(b"(a"), Some(Lex::Excl(v)) if v == b"a"));
        assert!(lex_bound(b"a").is_none());
        assert_eq!(rank_range(0, -1, 3), Some((0, 3)));
        assert_eq!(rank_range(-100, 1, 3), Some((0, 2)));
        assert_eq!(rank_range(2, 1, 3), None);
        assert_eq!(rank_range(3, 9, 3), None);
    }
}
