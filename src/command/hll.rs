//! HyperLogLog commands (PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST) as
//! Redis 7.0's `hyperloglog.c` answers them, over its own representation
//! ([`crate::store::hll`]). A single-key PFCOUNT stores the cardinality it
//! computed in the string's header, as Redis does, and logs itself so a
//! reader of the effect log holds the same bytes.

use super::{Ctx, wrong_type};
use crate::resp::Reply;
use crate::store::hll::{self, Corrupt};
use crate::store::notify;
use crate::store::{Kind, Locked, WrongType, effects};
use bytes::Bytes;
use std::sync::atomic::Ordering;

fn corrupt() -> Reply {
    Reply::error("INVALIDOBJ Corrupted HLL object detected")
}

fn not_hll() -> Reply {
    Reply::error("WRONGTYPE Key is not a valid HyperLogLog string value.")
}

fn max_bytes(ctx: &Ctx) -> usize {
    ctx.server.config.hll_sparse_max_bytes.load(Ordering::Relaxed).min(usize::MAX as u64) as usize
}

/// The HyperLogLog under `key` for reading: `Ok(None)` when missing
/// (Redis's `isHLLObjectOrReply`).
fn lookup(l: &mut Locked<'_>, key: &[u8]) -> Result<Option<Vec<u8>>, Reply> {
    let db = l.db();
    match l.read_in(db, key) {
        None => Ok(None),
        Some(e) => match e.string() {
            Err(WrongType) => Err(wrong_type()),
            Ok(s) if hll::is_valid(s) => Ok(Some(s.to_vec())),
            Ok(_) => Err(not_hll()),
        },
    }
}

/// Writes `v` over `key` (a string, kept with its TTL), or creates it.
fn store(l: &mut Locked<'_>, key: &[u8], v: &[u8]) {
    let _ = l.modify(key, Kind::String, true, |slot| slot.set_inline(Kind::String, v));
}

pub fn pfadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let max = max_bytes(ctx);
    let mut l = ctx.lock(&args[1]);
    // a dense HyperLogLog (12 kB) changes in place, registers only
    let db = l.db();
    let dense = l.read_in(db, &args[1]).and_then(|e| e.string().ok()).is_some_and(|s| hll::is_valid(s) && hll::is_dense(s));
    if dense {
        let changed = l.modify(&args[1], Kind::String, false, |slot| {
            let value = slot.entry().value();
            let mut raise: Vec<(usize, u8)> = Vec::new();
            for ele in &args[2..] {
                let (i, count) = hll::pattern(ele);
                if count > hll::dense_get(&value[hll::HEADER..], i) {
                    raise.push((i, count));
                }
            }
            if raise.is_empty() {
                return false;
            }
            let bytes = slot.inline_mut();
            for (i, count) in raise {
                hll::dense_set(&mut bytes[hll::HEADER..], i, count);
            }
            hll::invalidate(bytes);
            true
        });
        let changed = changed == Ok(Some(true));
        if changed {
            l.notify(notify::STRING, "pfadd", &args[1]);
        }
        return Reply::Int(i64::from(changed));
    }
    let existing = match lookup(&mut l, &args[1]) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let created = existing.is_none();
    let mut v = existing.unwrap_or_else(hll::new_sparse);
    let mut updated = created;
    for ele in &args[2..] {
        match hll::add(&mut v, ele, max) {
            Ok(changed) => updated |= changed,
            Err(Corrupt) => return corrupt(),
        }
    }
    if updated {
        hll::invalidate(&mut v);
        store(&mut l, &args[1], &v);
        l.notify(notify::STRING, "pfadd", &args[1]);
    }
    Reply::Int(i64::from(updated))
}

pub fn pfcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock_many(&args[1..]);
    if args.len() > 2 {
        // the cardinality of the union
        let mut regs = vec![0u8; hll::REGISTERS];
        for k in &args[1..] {
            match lookup(&mut l, k) {
                Ok(None) => {}
                Ok(Some(v)) => {
                    if hll::merge(&mut regs, &v).is_err() {
                        return corrupt();
                    }
                }
                Err(r) => return r,
            }
        }
        return Reply::Int(hll::count_registers(&regs) as i64);
    }
    let key = &args[1];
    let v = match lookup(&mut l, key) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::Int(0),
        Err(r) => return r,
    };
    if let Some(card) = hll::cached(&v) {
        return Reply::Int(card as i64);
    }
    let Ok(card) = hll::count(&v) else { return corrupt() };
    // the cache is part of the value: it changes, WATCH sees it, and the
    // log gets this PFCOUNT, which computes the same bytes when replayed
    let _ = l.modify(key, Kind::String, false, |slot| hll::set_cache(slot.inline_mut(), card));
    let keeping = l.keeps_effects();
    effects::rewrite_always(|| vec![vec![Bytes::from_static(b"PFCOUNT"), key.clone()]], keeping);
    Reply::Int(card as i64)
}

pub fn pfmerge(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let max = max_bytes(ctx);
    let mut l = ctx.lock_many(&args[1..]);
    let mut regs = vec![0u8; hll::REGISTERS];
    let mut dense = false;
    for k in &args[1..] {
        match lookup(&mut l, k) {
            Ok(None) => {}
            Ok(Some(v)) => {
                dense |= hll::is_dense(&v);
                if hll::merge(&mut regs, &v).is_err() {
                    return corrupt();
                }
            }
            Err(r) => return r,
        }
    }
    let db = l.db();
    let mut target = l.entry_ref(db, &args[1]).map(|e| e.value().to_vec()).unwrap_or_else(hll::new_sparse);
    if dense {
        match hll::to_dense(&target) {
            Ok(d) => target = d,
            Err(Corrupt) => return corrupt(),
        }
    }
    let Ok(merged) = hll::merged_into(target, &regs, max) else { return corrupt() };
    store(&mut l, &args[1], &merged);
    l.notify(notify::STRING, "pfadd", &args[1]);
    Reply::Ok
}

/// PFDEBUG GETREG | DECODE | ENCODING | TODENSE key
pub fn pfdebug(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let sub = String::from_utf8_lossy(&args[1]).to_string();
    let key = &args[2];
    let mut l = ctx.lock(key);
    let v = match lookup(&mut l, key) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::error("ERR The specified key does not exist"),
        Err(r) => return r,
    };
    let to_dense = |l: &mut Locked<'_>, v: &[u8]| -> Result<Vec<u8>, Reply> {
        let d = hll::to_dense(v).map_err(|_| corrupt())?;
        if !hll::is_dense(v) {
            store(l, key, &d);
        }
        Ok(d)
    };
    match sub.to_ascii_lowercase().as_str() {
        "getreg" => match to_dense(&mut l, &v) {
            Ok(d) => Reply::Array((0..hll::REGISTERS).map(|i| Reply::Int(i64::from(hll::dense_get(&d[hll::HEADER..], i)))).collect()),
            Err(r) => r,
        },
        "decode" => {
            if hll::is_dense(&v) {
                return Reply::error("ERR HLL encoding is not sparse");
            }
            let mut out = Vec::new();
            let mut at = hll::HEADER;
            while at < v.len() {
                let c = v[at];
                if c & 0xc0 == 0 {
                    out.push(format!("z:{}", (c & 0x3f) + 1));
                    at += 1;
                } else if c & 0x80 == 0 {
                    let second = v.get(at + 1).copied().unwrap_or(0);
                    out.push(format!("Z:{}", ((usize::from(c & 0x3f) << 8) | usize::from(second)) + 1));
                    at += 2;
                } else {
                    out.push(format!("v:{},{}", ((c >> 2) & 0x1f) + 1, (c & 3) + 1));
                    at += 1;
                }
            }
            Reply::bulk(out.join(" "))
        }
        "encoding" => Reply::status(if hll::is_dense(&v) { "dense" } else { "sparse" }),
        "todense" => {
            let was_sparse = !hll::is_dense(&v);
            match to_dense(&mut l, &v) {
                Ok(_) => Reply::Int(i64::from(was_sparse)),
                Err(r) => r,
            }
        }
        _ => Reply::error(format!("ERR Unknown PFDEBUG subcommand '{sub}'")),
    }
}

/// PFSELFTEST: the register encodings and the estimator checked against
/// themselves (Redis's test, in brief): every register value round-trips
/// through the dense form, and sparse and dense forms agree on the count
/// within the error bound as elements are added.
pub fn pfselftest(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    for cycle in 0..64u64 {
        let expect: Vec<u8> = (0..hll::REGISTERS).map(|i| ((i as u64 * 7 + cycle * 13) % 64) as u8).collect();
        let mut dense = vec![0u8; hll::DENSE_SIZE - hll::HEADER];
        for (i, &r) in expect.iter().enumerate() {
            hll::dense_set(&mut dense, i, r);
        }
        if (0..hll::REGISTERS).any(|i| hll::dense_get(&dense, i) != expect[i]) {
            return Reply::error("ERR TESTFAILED Register error");
        }
    }
    // sparse up to Redis's default limit, then dense: each estimate
    // within five standard errors, and a sparse one the same as its dense
    // form's
    let mut sparse = hll::new_sparse();
    for i in 0..100_000u64 {
        let ele = i.to_le_bytes();
        if hll::add(&mut sparse, &ele, 3000).is_err() {
            return Reply::error("ERR TESTFAILED sparse update");
        }
        if i % 1000 == 999 {
            let dense = if hll::is_dense(&sparse) { Ok(sparse.clone()) } else { hll::to_dense(&sparse) };
            let Ok(dense) = dense else { return Reply::error("ERR TESTFAILED conversion") };
            let (a, b) = (hll::count(&sparse), hll::count(&dense));
            let err = 1.04 / (hll::REGISTERS as f64).sqrt() * 5.0;
            let real = (i + 1) as f64;
            match (a, b) {
                (Ok(a), Ok(b)) if a == b && ((a as f64 - real).abs() / real) <= err => {}
                _ => return Reply::error(format!("ERR TESTFAILED cardinality at {}", i + 1)),
            }
        }
    }
    Reply::Ok
}
