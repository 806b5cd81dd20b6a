//! SORT and SORT_RO, as Redis 7.0's `sort.c` answers them: lists, sets and
//! sorted sets, numeric (by `strtod`) or ALPHA order, BY and GET patterns
//! (`*` replaced by the element, `->field` of a hash, `#` the element
//! itself, BY without `*` for no sorting), LIMIT with Redis's clamping,
//! DESC, STORE into a list. Sorting is glibc's stable merge sort where
//! Redis calls `qsort`, and Redis's own partial quicksort where it calls
//! `pqsort` (BY with LIMIT), so equal keys come out in Redis's order.
//!
//! A pattern names keys anywhere in the database, so a SORT with one runs
//! under the server's exclusive gate (the dispatcher checks
//! [`needs_exclusive`]) and locks each looked-up key in turn; without
//! patterns it is an ordinary one-key command.

use super::{Ctx, arg_i64, is, syntax_error, wrong_type};
use crate::resp::Reply;
use crate::store::{Kind, effects};
use bytes::Bytes;
use std::cmp::Ordering;

/// Whether `args` (a SORT or SORT_RO) look keys up by pattern.
pub fn needs_exclusive(args: &[Bytes]) -> bool {
    let mut j = 2;
    while j < args.len() {
        let a = &args[j];
        if (is(a, "by") || is(a, "get")) && j + 1 < args.len() {
            let p = &args[j + 1];
            if p.contains(&b'*') && &p[..] != b"#" {
                return true;
            }
            j += 1;
        } else if is(a, "limit") {
            j += 2;
        } else if is(a, "store") {
            j += 1;
        }
        j += 1;
    }
    false
}

/// The key a pattern names for `elem` and the hash field, if any (Redis's
/// `lookupKeyByPattern` before the lookup); `None` without a `*`.
fn pattern_key(pattern: &[u8], elem: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    // C strings: the pattern ends at a NUL
    let pattern = pattern.split(|&b| b == 0).next().unwrap_or(b"");
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let (post, field) = match after.windows(2).position(|w| w == b"->") {
        Some(at) if at + 2 < after.len() => (&after[..at], Some(after[at + 2..].to_vec())),
        _ => (after, None),
    };
    let mut key = pattern[..star].to_vec();
    key.extend_from_slice(elem);
    key.extend_from_slice(post);
    Some((key, field))
}

/// A pattern's value for `elem`: `#` is the element; otherwise the string
/// at the key it names, or the hash field.
fn lookup(ctx: &Ctx, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let (key, field) = pattern_key(pattern, elem)?;
    let mut l = ctx.lock(&key);
    let e = l.read(&key)?;
    match field {
        None => e.string().ok().map(|s| s.to_vec()),
        Some(f) => e.hash().ok()?.get(&f).map(|v| v.to_vec()),
    }
}

/// C's `strcoll` in the C locale: bytes up to a NUL.
fn collate(a: &[u8], b: &[u8]) -> Ordering {
    let cut = |s: &[u8]| s.iter().position(|&c| c == 0).map_or(s.len(), |n| n);
    a[..cut(a)].cmp(&b[..cut(b)])
}

struct Item {
    elem: Vec<u8>,
    score: f64,
    by: Option<Vec<u8>>,
}

pub fn sort(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    sort_generic(ctx, args, false)
}

pub fn sort_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    sort_generic(ctx, args, true)
}

fn sort_generic(ctx: &mut Ctx, args: &[Bytes], readonly: bool) -> Reply {
    let (mut desc, mut alpha, mut dontsort) = (false, false, false);
    let (mut limit_start, mut limit_count) = (0i64, -1i64);
    let mut store: Option<&Bytes> = None;
    let mut by: Option<&Bytes> = None;
    let mut gets: Vec<&Bytes> = Vec::new();
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if is(a, "asc") {
            desc = false;
        } else if is(a, "desc") {
            desc = true;
        } else if is(a, "alpha") {
            alpha = true;
        } else if is(a, "limit") && left >= 2 {
            match (arg_i64(&args[j + 1]), arg_i64(&args[j + 2])) {
                (Ok(s), Ok(c)) => (limit_start, limit_count) = (s, c),
                (Err(r), _) | (_, Err(r)) => return r,
            }
            j += 2;
        } else if !readonly && is(a, "store") && left >= 1 {
            store = Some(&args[j + 1]);
            j += 1;
        } else if is(a, "by") && left >= 1 {
            by = Some(&args[j + 1]);
            // C strings: a NUL ends the pattern
            dontsort = !args[j + 1].split(|&b| b == 0).next().unwrap_or(b"").contains(&b'*');
            j += 1;
        } else if is(a, "get") && left >= 1 {
            gets.push(&args[j + 1]);
            j += 1;
        } else {
            return syntax_error();
        }
        j += 1;
    }
    let key = &args[1];
    let in_script = ctx.client.in_script;
    let limits = super::list::limits_of(&ctx.server.config);
    // the elements, in the order Redis builds its vector
    let (kind, mut elems) = {
        let mut l = ctx.lock(key);
        match l.read(key) {
            None => (Kind::List, Vec::new()),
            Some(e) => match e.kind {
                Kind::List => (Kind::List, e.list().expect("a list").iter().map(|i| i.to_vec()).collect()),
                Kind::Set => (Kind::Set, e.set().expect("a set").members()),
                Kind::ZSet => (Kind::ZSet, e.zset().expect("a zset").elements().into_iter().map(|(m, _)| m).collect::<Vec<_>>()),
                _ => return wrong_type(),
            },
        }
    };
    if dontsort && kind == Kind::Set && (store.is_some() || in_script) {
        // an unordered set is sorted for a deterministic result
        (dontsort, alpha, by) = (false, true, None);
    }
    let len = elems.len() as i64;
    let mut start = limit_start.max(0).min(len);
    let count = limit_count.max(-1).min(len);
    let mut end = if count < 0 { len - 1 } else { start + count - 1 };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    if dontsort && kind != Kind::Set && end >= start {
        // lists and sorted sets unsorted: the range itself, reversed by DESC
        if desc {
            elems.reverse();
        }
        elems = elems.drain(start as usize..=end as usize).collect();
        end -= start;
        start = 0;
    } else if dontsort && kind != Kind::Set {
        elems.clear();
    }
    let mut items: Vec<Item> = elems.into_iter().map(|elem| Item { elem, score: 0.0, by: None }).collect();
    let mut conversion_error = false;
    if !dontsort {
        for it in &mut items {
            let value = match by {
                Some(p) => match lookup(ctx, p, &it.elem) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.elem.clone(),
            };
            if alpha {
                if by.is_some() {
                    it.by = Some(value);
                }
            } else {
                let text = value.split(|&b| b == 0).next().unwrap_or(b"");
                let (v, n, range) = crate::util::strtod(text);
                it.score = v;
                if n != text.len() || range || v.is_nan() {
                    conversion_error = true;
                }
            }
        }
        let storing = store.is_some();
        let by_pattern = by.is_some();
        let cmp = |a: &Item, b: &Item| {
            let o = if !alpha {
                match a.score.partial_cmp(&b.score) {
                    Some(Ordering::Equal) | None => a.elem.cmp(&b.elem),
                    Some(o) => o,
                }
            } else if by_pattern {
                match (&a.by, &b.by) {
                    (None, None) => Ordering::Equal,
                    (None, _) => Ordering::Less,
                    (_, None) => Ordering::Greater,
                    (Some(x), Some(y)) if storing => x.cmp(y),
                    (Some(x), Some(y)) => collate(x, y),
                }
            } else if storing {
                a.elem.cmp(&b.elem)
            } else {
                collate(&a.elem, &b.elem)
            };
            if desc { o.reverse() } else { o }
        };
        if conversion_error {
            // the answer is the error whatever the order (and a NaN makes
            // the comparison no order at all)
            return Reply::error("ERR One or more scores can't be converted into double");
        }
        if by_pattern && (start != 0 || end != len - 1) && !items.is_empty() {
            crate::util::pqsort(&mut items, &cmp, start.max(0) as usize, end.max(0) as usize);
        } else {
            items.sort_by(cmp);
        }
    }
    let range = if end >= start { &items[start as usize..=end as usize] } else { &items[..0] };
    match store {
        None => {
            let mut out = Vec::with_capacity(range.len() * gets.len().max(1));
            for it in range {
                if gets.is_empty() {
                    out.push(Reply::Bulk(it.elem.clone().into()));
                }
                for g in &gets {
                    out.push(lookup(ctx, g, &it.elem).map_or(Reply::Nil, |v| Reply::Bulk(v.into())));
                }
            }
            Reply::Array(out)
        }
        Some(dst) => {
            let mut values: Vec<Vec<u8>> = Vec::with_capacity(range.len() * gets.len().max(1));
            for it in range {
                if gets.is_empty() {
                    values.push(it.elem.clone());
                }
                for g in &gets {
                    values.push(lookup(ctx, g, &it.elem).unwrap_or_default());
                }
            }
            let mut l = ctx.lock(dst);
            if values.is_empty() {
                if l.delete(dst) {
                    l.notify(crate::store::notify::GENERIC, "del", dst);
                }
            } else {
                l.recreate(dst, Kind::List, |slot| crate::store::list::push(slot, limits, &values, false));
                l.notify(crate::store::notify::LIST, "sortstore", dst);
            }
            if by.is_some() || !gets.is_empty() {
                // the result depends on other keys: log what was stored
                effects::rewrite(|| {
                    let mut del = vec![effects::args(&[b"DEL", dst])];
                    if !values.is_empty() {
                        let mut push = effects::args(&[b"RPUSH", dst]);
                        push.extend(values.iter().map(|v| Bytes::copy_from_slice(v)));
                        del.push(push);
                    }
                    del
                });
            }
            Reply::Int(values.len() as i64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_name_keys_as_redis() {
        assert_eq!(pattern_key(b"w_*", b"3"), Some((b"w_3".to_vec(), None)));
        assert_eq!(pattern_key(b"h_*->f", b"a"), Some((b"h_a".to_vec(), Some(b"f".to_vec()))));
        assert_eq!(pattern_key(b"h_*->", b"a"), Some((b"h_a->".to_vec(), None)), "an empty field is no field");
        assert_eq!(pattern_key(b"->x*y", b"a"), Some((b"->xay".to_vec(), None)), "the arrow counts after the star");
        assert_eq!(pattern_key(b"nostar", b"a"), None);
        let args: Vec<Bytes> = ["SORT", "k", "BY", "w_*", "GET", "#"].iter().map(|s| Bytes::from(*s)).collect();
        assert!(needs_exclusive(&args));
        let args: Vec<Bytes> = ["SORT", "k", "BY", "nosort", "GET", "#", "LIMIT", "0", "1"].iter().map(|s| Bytes::from(*s)).collect();
        assert!(!needs_exclusive(&args));
    }
}
