//! Geo commands on sorted sets, as Redis 7.0's `geo.c` answers them: the
//! order arguments are checked in (the key's type first), its error texts,
//! the cells a search scans and the order it finds points in (unsorted
//! results come out in redis-server's order), distances with four decimals
//! and coordinates as `%.17Lf` trimmed. The arithmetic is in
//! [`crate::store::geohash`].

use super::{Ctx, arg_i64, is, syntax_error, wrong_type};
use crate::resp::Reply;
use crate::store::geohash::{self, Search, Shape};
use crate::store::zset::{Building, ZSetRef};
use crate::store::{Entry, effects};
use bytes::Bytes;

fn read(e: Option<Entry<'_>>) -> Result<Option<ZSetRef<'_>>, Reply> {
    match e {
        None => Ok(None),
        Some(e) => e.zset().map(Some).map_err(|_| wrong_type()),
    }
}

/// A longitude and latitude (Redis's `extractLongLatOrReply`).
fn long_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), Reply> {
    let (Some(x), Some(y)) = (crate::util::parse_score(lon), crate::util::parse_score(lat)) else {
        return Err(Reply::error("ERR value is not a valid float"));
    };
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&x) || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&y) {
        return Err(Reply::error(format!("ERR invalid longitude,latitude pair {x:.6},{y:.6}")));
    }
    Ok((x, y))
}

/// Meters per unit (Redis's `extractUnitOrReply`).
fn unit(arg: &[u8]) -> Result<f64, Reply> {
    match arg {
        u if is(u, "m") => Ok(1.0),
        u if is(u, "km") => Ok(1000.0),
        u if is(u, "ft") => Ok(0.3048),
        u if is(u, "mi") => Ok(1609.34),
        _ => Err(Reply::error("ERR unsupported unit provided. please use M, KM, FT, MI")),
    }
}

fn number(arg: &[u8], msg: &'static str) -> Result<f64, Reply> {
    crate::util::parse_score(arg).ok_or_else(|| Reply::error(format!("ERR {msg}")))
}

/// `radius unit`: the radius and meters per unit.
fn radius(args: &[Bytes]) -> Result<(f64, f64), Reply> {
    let r = number(&args[0], "need numeric radius")?;
    if r < 0.0 {
        return Err(Reply::error("ERR radius cannot be negative"));
    }
    Ok((r, unit(&args[1])?))
}

/// `width height unit`.
fn dimensions(args: &[Bytes]) -> Result<(f64, f64, f64), Reply> {
    let w = number(&args[0], "need numeric width")?;
    let h = number(&args[1], "need numeric height")?;
    if h < 0.0 || w < 0.0 {
        return Err(Reply::error("ERR height or width cannot be negative"));
    }
    Ok((w, h, unit(&args[2])?))
}

pub fn geoadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut at = 2;
    let (mut nx, mut xx) = (false, false);
    while at < args.len() {
        if is(&args[at], "nx") {
            nx = true;
        } else if is(&args[at], "xx") {
            xx = true;
        } else if !is(&args[at], "ch") {
            break;
        }
        at += 1;
    }
    if !(args.len() - at).is_multiple_of(3) || (xx && nx) {
        return syntax_error();
    }
    // the equivalent ZADD, as Redis rewrites the command into it
    let mut zadd: Vec<Bytes> = vec![Bytes::from_static(b"ZADD")];
    zadd.extend(args[1..at].iter().cloned());
    for triple in args[at..].chunks_exact(3) {
        let (x, y) = match long_lat(&triple[0], &triple[1]) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let score = geohash::score_of(x, y).unwrap_or(0);
        zadd.push(Bytes::from(score.to_string()));
        zadd.push(triple[2].clone());
    }
    let reply = super::zset::zadd(ctx, &zadd);
    if !matches!(reply, Reply::Error(_)) {
        effects::rewrite(|| vec![zadd.clone()]);
    }
    reply
}

pub fn geodist(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let to_meter = match args.len() {
        5 => match unit(&args[4]) {
            Ok(u) => u,
            Err(r) => return r,
        },
        n if n > 5 => return syntax_error(),
        _ => 1.0,
    };
    let mut l = ctx.lock(&args[1]);
    let z = match read(l.read(&args[1])) {
        Ok(Some(z)) => z,
        Ok(None) => return Reply::Nil,
        Err(r) => return r,
    };
    let (Some(a), Some(b)) = (z.score(&args[2]), z.score(&args[3])) else { return Reply::Nil };
    match (geohash::decode_score(a), geohash::decode_score(b)) {
        (Some((x1, y1)), Some((x2, y2))) => Reply::bulk(geohash::format_distance(geohash::distance(x1, y1, x2, y2) / to_meter)),
        _ => Reply::Nil,
    }
}

pub fn geohash(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    let z = match read(l.read(&args[1])) {
        Ok(z) => z,
        Err(r) => return r,
    };
    Reply::Array(args[2..].iter().map(|m| z.and_then(|z| z.score(m)).and_then(geohash::geohash_string).map_or(Reply::Nil, Reply::bulk)).collect())
}

/// A coordinate: `%.17Lf` trimmed, a RESP3 double.
fn coordinate(d: f64, resp3: bool) -> Reply {
    let text = geohash::format_coordinate(d);
    if resp3 { Reply::Encoded(Bytes::from(format!(",{text}\r\n"))) } else { Reply::bulk(text) }
}

pub fn geopos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let resp3 = ctx.client.resp3;
    let mut l = ctx.lock(&args[1]);
    let z = match read(l.read(&args[1])) {
        Ok(z) => z,
        Err(r) => return r,
    };
    Reply::Array(
        args[2..]
            .iter()
            .map(|m| match z.and_then(|z| z.score(m)).and_then(geohash::decode_score) {
                Some((x, y)) => Reply::Array(vec![coordinate(x, resp3), coordinate(y, resp3)]),
                None => Reply::NilArray,
            })
            .collect(),
    )
}

/// Which form of the search command this is (Redis's flags).
#[derive(Clone, Copy, PartialEq)]
enum Form {
    Radius { ro: bool },
    ByMember { ro: bool },
    Search,
    SearchStore,
}

#[derive(Clone, Copy, PartialEq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// One point found.
struct Point {
    member: Vec<u8>,
    score: f64,
    x: f64,
    y: f64,
    dist: f64,
}

/// Where a search's result goes: `(key, STOREDIST)`.
type Store<'a> = Option<(&'a Bytes, bool)>;

/// GEORADIUS and friends, GEOSEARCH and GEOSEARCHSTORE (Redis's
/// `georadiusGeneric`).
fn search(ctx: &mut Ctx, args: &[Bytes], src_at: usize, form: Form) -> Reply {
    let resp3 = ctx.client.resp3;
    let limits = super::zset::limits_of(&ctx.server.config);
    // the destination is known only after parsing: lock every candidate
    let mut keys = vec![&args[src_at]];
    keys.extend(store_keys_of(args, form));
    let mut l = ctx.lock_many(&keys);
    if let Err(r) = read(l.read(&args[src_at])) {
        return r;
    }
    let db = l.db();
    let z = l.entry_ref(db, &args[src_at]).map(ZSetRef::of);
    let (mut center, mut shape, mut conversion) = (None, None, 1.0);
    let base = match form {
        Form::Radius { .. } => {
            match long_lat(&args[2], &args[3]) {
                Ok(p) => center = Some(p),
                Err(r) => return r,
            }
            match radius(&args[4..6]) {
                Ok((r, c)) => (shape, conversion) = (Some(Shape::Circle(r)), c),
                Err(r) => return r,
            }
            6
        }
        Form::ByMember { .. } => {
            if let Some(z) = z {
                match z.score(&args[2]).and_then(geohash::decode_score) {
                    Some(p) => center = Some(p),
                    None => return Reply::error("ERR could not decode requested zset member"),
                }
                match radius(&args[3..5]) {
                    Ok((r, c)) => (shape, conversion) = (Some(Shape::Circle(r)), c),
                    Err(r) => return r,
                }
            }
            5
        }
        Form::Search => 2,
        Form::SearchStore => 3,
    };
    let geosearch = matches!(form, Form::Search | Form::SearchStore);
    let nostore = matches!(form, Form::Radius { ro: true } | Form::ByMember { ro: true });
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut count: i64 = 0;
    let mut store: Store<'_> = if form == Form::SearchStore { Some((&args[1], false)) } else { None };
    let rest = &args[base..];
    let mut i = 0;
    while i < rest.len() {
        let a = &rest[i];
        let left = rest.len() - i - 1;
        if is(a, "withdist") {
            withdist = true;
        } else if is(a, "withhash") {
            withhash = true;
        } else if is(a, "withcoord") {
            withcoord = true;
        } else if is(a, "any") {
            any = true;
        } else if is(a, "asc") {
            sort = Sort::Asc;
        } else if is(a, "desc") {
            sort = Sort::Desc;
        } else if is(a, "count") && left >= 1 {
            count = match arg_i64(&rest[i + 1]) {
                Ok(n) if n <= 0 => return Reply::error("ERR COUNT must be > 0"),
                Ok(n) => n,
                Err(r) => return r,
            };
            i += 1;
        } else if (is(a, "store") || is(a, "storedist")) && left >= 1 && !nostore && !geosearch {
            store = Some((&rest[i + 1], is(a, "storedist")));
            i += 1;
        } else if is(a, "storedist") && form == Form::SearchStore {
            store = Some((&args[1], true));
        } else if is(a, "frommember") && left >= 1 && geosearch && !fromloc {
            if let Some(z) = z {
                match z.score(&rest[i + 1]).and_then(geohash::decode_score) {
                    Some(p) => center = Some(p),
                    None => return Reply::error("ERR could not decode requested zset member"),
                }
            }
            frommember = true;
            i += 1;
        } else if is(a, "fromlonlat") && left >= 2 && geosearch && !frommember {
            match long_lat(&rest[i + 1], &rest[i + 2]) {
                Ok(p) => center = Some(p),
                Err(r) => return r,
            }
            fromloc = true;
            i += 2;
        } else if is(a, "byradius") && left >= 2 && geosearch && !bybox {
            match radius(&rest[i + 1..i + 3]) {
                Ok((r, c)) => (shape, conversion) = (Some(Shape::Circle(r)), c),
                Err(r) => return r,
            }
            byradius = true;
            i += 2;
        } else if is(a, "bybox") && left >= 3 && geosearch && !byradius {
            match dimensions(&rest[i + 1..i + 4]) {
                Ok((w, h, c)) => (shape, conversion) = (Some(Shape::Box(w, h)), c),
                Err(r) => return r,
            }
            bybox = true;
            i += 3;
        } else {
            return syntax_error();
        }
        i += 1;
    }
    if store.is_some() && (withdist || withhash || withcoord) {
        let what = if form == Form::SearchStore { "GEOSEARCHSTORE" } else { "STORE option in GEORADIUS" };
        return Reply::error(format!("ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"));
    }
    let name = String::from_utf8_lossy(&args[0]);
    if geosearch && !(frommember || fromloc) {
        return Reply::error(format!("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"));
    }
    if geosearch && !(byradius || bybox) {
        return Reply::error(format!("ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"));
    }
    if any && count == 0 {
        return Reply::error("ERR the ANY argument requires COUNT argument");
    }
    let (Some(z), Some((x, y)), Some(shape)) = (z, center, shape) else {
        // no such key
        return match store {
            Some((dst, _)) => {
                if l.delete(dst) {
                    l.notify(crate::store::notify::GENERIC, "del", dst);
                }
                Reply::Int(0)
            }
            None => Reply::Array(Vec::new()),
        };
    };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let s = Search { longitude: x, latitude: y, shape, conversion };
    let mut points = find(z, &s, if any { count as usize } else { 0 });
    let returned = if count == 0 { points.len() } else { points.len().min(count as usize) };
    let order = |a: &Point, b: &Point| {
        let o = a.dist.partial_cmp(&b.dist).unwrap_or(std::cmp::Ordering::Equal);
        if sort == Sort::Desc { o.reverse() } else { o }
    };
    if sort != Sort::None && !points.is_empty() {
        // all sorted: glibc's qsort, a stable merge sort; the first few:
        // Redis's own partial quicksort, whose order among equal
        // distances is its own
        if returned == points.len() {
            points.sort_by(order);
        } else {
            crate::util::pqsort(&mut points, &order, 0, returned - 1);
        }
    }
    points.truncate(returned);
    for p in &mut points {
        p.dist /= conversion;
    }
    match store {
        Some((dst, storedist)) => {
            let mut b = Building::new();
            for p in points {
                b.push(p.member, if storedist { p.dist } else { p.score });
            }
            super::zset::store(&mut l, dst, b, limits, if geosearch { "geosearchstore" } else { "georadiusstore" })
        }
        None => {
            let extra = usize::from(withdist) + usize::from(withhash) + usize::from(withcoord);
            Reply::Array(
                points
                    .into_iter()
                    .map(|p| {
                        let m = Reply::Bulk(p.member.into());
                        if extra == 0 {
                            return m;
                        }
                        let mut item = vec![m];
                        if withdist {
                            item.push(Reply::bulk(geohash::format_distance(p.dist)));
                        }
                        if withhash {
                            item.push(Reply::Int(p.score as i64));
                        }
                        if withcoord {
                            item.push(Reply::Array(vec![coordinate(p.x, resp3), coordinate(p.y, resp3)]));
                        }
                        Reply::Array(item)
                    })
                    .collect(),
            )
        }
    }
}

/// The points of the search's nine cells inside its shape, in the order
/// Redis finds them; `limit` (ANY) stops early.
fn find(z: ZSetRef<'_>, s: &Search, limit: usize) -> Vec<Point> {
    let cells = s.cells();
    let mut out = Vec::new();
    let mut last = 0;
    for (i, cell) in cells.iter().enumerate() {
        if cell.bits == 0 && cell.step == 0 {
            continue;
        }
        // Redis skips a cell equal to the last one scanned (never
        // comparing with the center)
        if last != 0 && *cell == cells[last] {
            continue;
        }
        if limit > 0 && out.len() >= limit {
            break;
        }
        let (min, max) = geohash::cell_scores(*cell);
        let (min, max) = (min as f64, max as f64);
        let from = z.count_below(|sc, _| sc < min);
        let to = z.count_below(|sc, _| sc < max);
        let mut done = false;
        z.range(from, to, false, |m, score| {
            if done {
                return;
            }
            if let Some((x, y)) = geohash::decode_score(score)
                && let Some(dist) = s.contains(x, y)
            {
                out.push(Point { member: m.to_vec(), score, x, y, dist });
            }
            if limit > 0 && out.len() >= limit {
                done = true;
            }
        });
        last = i;
    }
    out
}

/// Every argument that may be the search's destination: GEOSEARCHSTORE's,
/// or any following a STORE / STOREDIST of GEORADIUS[BYMEMBER].
fn store_keys_of(args: &[Bytes], form: Form) -> Vec<&Bytes> {
    match form {
        Form::SearchStore => vec![&args[1]],
        Form::Radius { ro: false } | Form::ByMember { ro: false } => {
            let from = if matches!(form, Form::Radius { .. }) { 6 } else { 5 };
            (from..args.len().saturating_sub(1)).filter(|&i| is(&args[i], "store") || is(&args[i], "storedist")).map(|i| &args[i + 1]).collect()
        }
        _ => Vec::new(),
    }
}

pub fn georadius(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search(ctx, args, 1, Form::Radius { ro: false })
}

pub fn georadius_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search(ctx, args, 1, Form::Radius { ro: true })
}

pub fn georadiusbymember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search(ctx, args, 1, Form::ByMember { ro: false })
}

pub fn georadiusbymember_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search(ctx, args, 1, Form::ByMember { ro: true })
}

pub fn geosearch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search(ctx, args, 1, Form::Search)
}

pub fn geosearchstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search(ctx, args, 2, Form::SearchStore)
}
