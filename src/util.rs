//! Small pure helpers shared by commands: Redis's number parsing and
//! formatting rules, glob matching, size parsing, a cheap random source.

use std::cell::Cell;

/// Redis's `string2ll`: an optional '-', then digits with no leading zero
/// (except "0" itself), no '+', no spaces, within i64.
/// Redis's `string2ull`: a strict integer that is not negative, or else
/// what C's `strtoull` reads (leading white space, a sign, leading zeros;
/// a `-` negates modulo 2^64) when it reads the whole string.
pub fn string2ull(b: &[u8]) -> Option<u64> {
    if let Some(v) = parse_i64(b) {
        return u64::try_from(v).ok();
    }
    let mut s = b;
    while let [c, rest @ ..] = s
        && matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
    {
        s = rest;
    }
    let (negative, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

pub fn parse_i64(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    if b == b"0" {
        return Some(0);
    }
    let (neg, digits) = if b[0] == b'-' { (true, &b[1..]) } else { (false, b) };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 { None } else { Some(-(v as i128) as i64) }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Redis's `string2ld` as used by INCRBYFLOAT and friends: no leading
/// space, no NaN, the whole string must be a number.
pub fn parse_f64(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_whitespace()) || s.ends_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    if v.is_nan() { None } else { Some(v) }
}

/// C's `strtod` over `b` (glibc's rules, the C locale): leading white
/// space, a sign, then `inf`/`infinity`, `nan` (with an optional
/// `(chars)`), a hexadecimal float or a decimal one. Returns the value, the
/// bytes taken (0 when no number starts there, value 0) and whether the
/// result over- or underflowed (`ERANGE`). Decimal digits are converted by
/// Rust's correctly rounded parser, as glibc rounds.
pub fn strtod(b: &[u8]) -> (f64, usize, bool) {
    let mut i = b.iter().take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')).count();
    let neg = match b.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let sign = |v: f64| if neg { -v } else { v };
    let rest = &b[i..];
    let starts = |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    if starts(b"infinity") {
        return (sign(f64::INFINITY), i + 8, false);
    }
    if starts(b"inf") {
        return (sign(f64::INFINITY), i + 3, false);
    }
    if starts(b"nan") {
        let mut end = i + 3;
        if b.get(end) == Some(&b'(') {
            let body = b[end + 1..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
            if b.get(end + 1 + body) == Some(&b')') {
                end += body + 2;
            }
        }
        return (sign(f64::NAN), end, false);
    }
    if rest.len() > 2
        && rest[0] == b'0'
        && rest[1] | 0x20 == b'x'
        && let Some((v, n)) = hex_float(&rest[2..])
    {
        let mantissa = rest[2..2 + n].iter().take_while(|c| *c | 0x20 != b'p');
        let nonzero = mantissa.into_iter().any(|c| (b'1'..=b'9').contains(c) || matches!(c | 0x20, b'a'..=b'f'));
        return (sign(v), i + 2 + n, v.is_infinite() || (v == 0.0 && nonzero));
    }
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int = digits(i);
    let mut end = i + int;
    let mut frac = 0;
    if b.get(end) == Some(&b'.') {
        frac = digits(end + 1);
        if int + frac > 0 {
            end += 1 + frac;
        }
    }
    if int + frac == 0 {
        return (0.0, 0, false);
    }
    if matches!(b.get(end), Some(b'e' | b'E')) {
        let mut at = end + 1;
        if matches!(b.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let exp = digits(at);
        if exp > 0 {
            end = at + exp;
        }
    }
    let text = std::str::from_utf8(&b[i..end]).expect("ASCII");
    let v: f64 = text.parse().unwrap_or(0.0);
    let nonzero = b[i..end].iter().take_while(|c| !matches!(c, b'e' | b'E')).any(|c| (b'1'..=b'9').contains(c));
    (sign(v), end, v.is_infinite() || (v == 0.0 && nonzero))
}

/// The digits of a hexadecimal float after `0x` (`h[.h][p[sign]d]`): the
/// value, correctly rounded (to nearest, ties to even, as glibc), and the
/// bytes taken.
fn hex_float(b: &[u8]) -> Option<(f64, usize)> {
    // up to 30 significant hex digits exactly, then a sticky bit
    let (mut m, mut sticky, mut exp, mut i, mut any) = (0u128, false, 0i64, 0, false);
    let mut digit = |d: u32, frac: bool, m: &mut u128, exp: &mut i64| {
        if *m >> 116 == 0 {
            *m = *m << 4 | u128::from(d);
            if frac {
                *exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !frac {
                *exp += 4;
            }
        }
    };
    while let Some(d) = b.get(i).and_then(|c| (*c as char).to_digit(16)) {
        digit(d, false, &mut m, &mut exp);
        i += 1;
        any = true;
    }
    if b.get(i) == Some(&b'.') {
        let mut j = i + 1;
        let mut frac_any = false;
        while let Some(d) = b.get(j).and_then(|c| (*c as char).to_digit(16)) {
            digit(d, true, &mut m, &mut exp);
            j += 1;
            frac_any = true;
        }
        if any || frac_any {
            i = j;
            any = true;
        }
    }
    if !any {
        return None;
    }
    if matches!(b.get(i), Some(b'p' | b'P')) {
        let mut at = i + 1;
        let neg = b.get(at) == Some(&b'-');
        if matches!(b.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let n = b[at..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n > 0 {
            let e = b[at..at + n].iter().fold(0i64, |e, &c| (e * 10 + i64::from(c - b'0')).min(1 << 40));
            exp += if neg { -e } else { e };
            i = at + n;
        }
    }
    Some((round_to_f64(m, sticky, exp), i))
}

/// `m * 2^exp` (plus a nonzero tail below `m` when `sticky`) rounded to
/// the nearest f64, ties to even.
fn round_to_f64(m: u128, sticky: bool, exp: i64) -> f64 {
    if m == 0 {
        return 0.0;
    }
    let len = 128 - i64::from(m.leading_zeros());
    // keep 53 bits, and no bit below 2^-1074
    let shift = (len - 53).max(-1074 - exp);
    let (q, k) = if shift <= 0 {
        (m, exp)
    } else if shift >= 128 {
        (0, exp + shift)
    } else {
        let q = m >> shift;
        let rem = m & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        let up = rem > half || (rem == half && (sticky || q & 1 == 1));
        (q + u128::from(up), exp + shift)
    };
    if q == 0 {
        return 0.0;
    }
    if k > 1023 {
        return f64::INFINITY;
    }
    // q < 2^54 is exact; scaling by a power of two is exact while the
    // result is representable (the rounding above made it so)
    let mut v = q as f64;
    let mut k = k;
    while k > 0 {
        let step = k.min(1000);
        v *= f64::from_bits(((step + 1023) as u64) << 52);
        k -= step;
    }
    while k < 0 {
        let step = (-k).min(1000);
        let scale = if step <= 1022 { f64::from_bits(((1023 - step) as u64) << 52) } else { f64::from_bits(1u64 << (1074 - step)) };
        v *= scale;
        k += step;
    }
    v
}

/// Redis's `getDoubleFromObject` (ZADD scores, ZINCRBY, WEIGHTS): all of
/// the argument a number by `strtod`, no leading space, not NaN, no
/// overflow to infinity or underflow to zero.
pub fn parse_score(b: &[u8]) -> Option<f64> {
    if b.is_empty() || matches!(b[0], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        return None;
    }
    let (v, n, range) = strtod(b);
    (n == b.len() && !range && !v.is_nan()).then_some(v)
}

/// The integer `%.17g` prints `d` as, when it is one: integral, below
/// 1e17 in magnitude, and not `-0`.
pub fn g17_integer(d: f64) -> Option<i64> {
    (d.fract() == 0.0 && d.abs() < 1e17 && !(d == 0.0 && d.is_sign_negative())).then_some(d as i64)
}

/// C's `printf("%.17g", d)`: 17 significant digits, trailing zeros
/// dropped, exponent form below 1e-4 or from 1e17 (two exponent digits at
/// least); `inf`, `-inf`, `nan` as glibc prints them.
pub fn format_g17(d: f64) -> String {
    if d.is_nan() {
        return if d.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    if let Some(i) = g17_integer(d) {
        return Decimal::new(i).iter().map(|&c| c as char).collect();
    }
    let e = format!("{d:.16e}");
    let (mantissa, exp) = e.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    let strip = |s: &str| -> String { if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s.to_string() } };
    if !(-4..17).contains(&exp) {
        format!("{}e{}{:02}", strip(mantissa), if exp < 0 { '-' } else { '+' }, exp.unsigned_abs())
    } else {
        strip(&format!("{:.*}", (16 - exp) as usize, d))
    }
}

/// Redis's `d2string`: an integral value within +-2^62 as an integer,
/// anything else as `%.17g` (`-0` and `0` as such).
pub fn d2string(d: f64) -> String {
    if d != 0.0 && double2ll(d).is_some() { Decimal::new(d as i64).iter().map(|&c| c as char).collect() } else { format_g17(d) }
}

/// Redis's `double2ll`: the integer `d` equals, if it is integral and
/// within +-2^62.
pub fn double2ll(d: f64) -> Option<i64> {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if !(-LIMIT..=LIMIT).contains(&d) {
        return None;
    }
    let l = d as i64;
    (l as f64 == d).then_some(l)
}

/// Redis's `pqsort` (NetBSD's quicksort, recursing only into the parts
/// that overlap ranks `lrange..=rrange`), step for step, so that equal
/// elements come out in Redis's order (GEOSEARCH ... COUNT, SORT ... LIMIT).
pub fn pqsort<T>(v: &mut [T], cmp: &impl Fn(&T, &T) -> std::cmp::Ordering, lrange: usize, rrange: usize) {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let med3 = |v: &[T], a: usize, b: usize, c: usize| {
        if cmp(&v[a], &v[b]) == Less {
            if cmp(&v[b], &v[c]) == Less {
                b
            } else if cmp(&v[a], &v[c]) == Less {
                c
            } else {
                a
            }
        } else if cmp(&v[b], &v[c]) == Greater {
            b
        } else if cmp(&v[a], &v[c]) == Less {
            a
        } else {
            c
        }
    };
    let vecswap = |v: &mut [T], a: usize, b: usize, n: usize| (0..n).for_each(|i| v.swap(a + i, b + i));
    let outside = |start: usize, len: usize| {
        let last = start + len - 1;
        (lrange < start && rrange < start) || (lrange > last && rrange > last)
    };
    fn go<T>(
        v: &mut [T],
        mut a: usize,
        mut n: usize,
        cmp: &impl Fn(&T, &T) -> std::cmp::Ordering,
        med3: &impl Fn(&[T], usize, usize, usize) -> usize,
        vecswap: &impl Fn(&mut [T], usize, usize, usize),
        outside: &impl Fn(usize, usize) -> bool,
    ) {
        loop {
            if n < 7 {
                for pm in a + 1..a + n {
                    let mut pl = pm;
                    while pl > a && cmp(&v[pl - 1], &v[pl]) == Greater {
                        v.swap(pl, pl - 1);
                        pl -= 1;
                    }
                }
                return;
            }
            let mut pm = a + n / 2;
            if n > 7 {
                let (mut pl, mut pn) = (a, a + n - 1);
                if n > 40 {
                    let d = n / 8;
                    pl = med3(v, pl, pl + d, pl + 2 * d);
                    pm = med3(v, pm - d, pm, pm + d);
                    pn = med3(v, pn - 2 * d, pn - d, pn);
                }
                pm = med3(v, pl, pm, pn);
            }
            v.swap(a, pm);
            let (mut pa, mut pb) = (a + 1, a + 1);
            let (mut pc, mut pd) = (a + n - 1, a + n - 1);
            loop {
                while pb <= pc {
                    let c = cmp(&v[pb], &v[a]);
                    if c == Greater {
                        break;
                    }
                    if c == Equal {
                        v.swap(pa, pb);
                        pa += 1;
                    }
                    pb += 1;
                }
                while pb <= pc {
                    let c = cmp(&v[pc], &v[a]);
                    if c == Less {
                        break;
                    }
                    if c == Equal {
                        v.swap(pc, pd);
                        pd -= 1;
                    }
                    pc -= 1;
                }
                if pb > pc {
                    break;
                }
                v.swap(pb, pc);
                pb += 1;
                pc -= 1;
            }
            let pn = a + n;
            let r = (pa - a).min(pb - pa);
            vecswap(v, a, pb - r, r);
            let r = (pd - pc).min(pn - pd - 1);
            vecswap(v, pb, pn - r, r);
            let r = pb - pa;
            if r > 1 && !outside(a, r) {
                go(v, a, r, cmp, med3, vecswap, outside);
            }
            let r = pd - pc;
            if r > 1 {
                a = pn - r;
                n = r;
                if !outside(a, r) {
                    continue;
                }
            }
            return;
        }
    }
    let n = v.len();
    go(v, 0, n, cmp, &med3, &vecswap, &outside);
}

/// The human form INCRBYFLOAT stores and replies with. Redis computes in
/// `long double` and prints `%.17Lf` with trailing zeros removed; with f64
/// we round to 15 significant digits first, so that 0.1 + 0.2 gives "0.3"
/// as it does in Redis, and print in fixed notation, never with an exponent.
pub fn format_human_float(v: f64) -> String {
    let rounded: f64 = format!("{v:.14e}").parse().unwrap_or(v);
    let s = format!("{rounded}");
    if s == "-0" { "0".to_string() } else { s }
}

/// Redis's `stringmatchlen`: `*`, `?`, `[...]` with `^` and ranges, and
/// backslash escapes. Byte-wise, with linear backtracking to the last `*`.
///
/// ```
/// use shardis::util::glob_match;
/// assert!(glob_match(b"user:*:name", b"user:42:name", false));
/// assert!(glob_match(b"h[a-e]llo", b"hello", false));
/// assert!(!glob_match(b"h\\*llo", b"hello", false));
/// ```
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    // Where to resume after the last '*': (pattern index, string index).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() && pattern[p] == b'*' {
            while p + 1 < pattern.len() && pattern[p + 1] == b'*' {
                p += 1;
            }
            star = Some((p, i));
            p += 1;
            continue;
        }
        if p >= pattern.len() && i == s.len() {
            return true;
        }
        if p < pattern.len()
            && i < s.len()
            && let Some(next) = match_token(pattern, p, s[i], nocase)
        {
            p = next;
            i += 1;
            continue;
        }
        // Mismatch: let the last star eat one more byte.
        match star {
            Some((sp, si)) if si < s.len() => {
                star = Some((sp, si + 1));
                p = sp + 1;
                i = si + 1;
            }
            _ => return false,
        }
    }
}

/// Matches the single-byte token at `pattern[p]` (not `*`) against `c`;
/// returns the index after the token when it matches.
fn match_token(pattern: &[u8], p: usize, c: u8, nocase: bool) -> Option<usize> {
    let eq = |a: u8, b: u8| {
        if nocase { a.eq_ignore_ascii_case(&b) } else { a == b }
    };
    match pattern[p] {
        b'?' => Some(p + 1),
        b'[' => match_class(pattern, p, c, nocase).and_then(|(matched, next)| matched.then_some(next)),
        b'\\' if p + 1 < pattern.len() => eq(pattern[p + 1], c).then_some(p + 2),
        other => eq(other, c).then_some(p + 1),
    }
}

/// Matches a `[...]` class at `pattern[p]` against `c`; returns whether it
/// matched and the index after the class.
fn match_class(pattern: &[u8], p: usize, c: u8, nocase: bool) -> Option<(bool, usize)> {
    let mut j = p + 1;
    let not = j < pattern.len() && pattern[j] == b'^';
    if not {
        j += 1;
    }
    let lc = |x: u8| if nocase { x.to_ascii_lowercase() } else { x };
    let mut matched = false;
    loop {
        if j >= pattern.len() {
            // Unterminated class: Redis treats the end as closing it.
            break;
        }
        if pattern[j] == b']' {
            break;
        }
        if pattern[j] == b'\\' && j + 1 < pattern.len() {
            j += 1;
            if pattern[j] == c {
                matched = true;
            }
        } else if j + 2 < pattern.len() && pattern[j + 1] == b'-' {
            let (mut start, mut end) = (lc(pattern[j]), lc(pattern[j + 2]));
            if start > end {
                std::mem::swap(&mut start, &mut end);
            }
            let cc = lc(c);
            if cc >= start && cc <= end {
                matched = true;
            }
            j += 2;
        } else if lc(pattern[j]) == lc(c) {
            matched = true;
        }
        j += 1;
    }
    let next = if j < pattern.len() { j + 1 } else { j };
    Some((matched != not, next))
}

/// Parses `100mb`, `1gb`, `8MB`, `1024`, `2k` as redis.conf does (k = 1000,
/// kb = 1024, and so on).
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mul = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mul)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
    static CLOCK_MS: Cell<u64> = const { Cell::new(0) };
}

/// Process start, the origin of the monotonic clock below.
static MONO_BASE: std::sync::LazyLock<std::time::Instant> = std::sync::LazyLock::new(std::time::Instant::now);
/// Wall-clock milliseconds minus monotonic milliseconds since MONO_BASE,
/// re-read by [`resync_clock`] (every 100 ms from the active expiry task).
static WALL_OFFSET_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Re-reads the wall clock so that [`refresh_clock`] follows clock steps.
pub fn resync_clock() {
    let mono = MONO_BASE.elapsed().as_millis() as u64;
    WALL_OFFSET_MS.store(now_ms().saturating_sub(mono), std::sync::atomic::Ordering::Relaxed);
}

/// Caches "now" for the command about to run on this thread (Redis caches
/// `mstime` per command the same way): every key a command touches sees
/// the same time. It is derived from `start`, the instant the dispatcher
/// already read for INFO commandstats, so the hot path reads the clock once.
pub fn refresh_clock(start: std::time::Instant) {
    CLOCK_MS.with(|c| c.set(clock_at(start)));
}

/// Wall-clock milliseconds at `at`, as the monotonic clock and the last
/// [`resync_clock`] give it: the one clock every thread reads, so times
/// taken on different threads (a key's access time by a worker, its idle
/// time by a snapshot's writer) compare without skew.
fn clock_at(at: std::time::Instant) -> u64 {
    let mut offset = WALL_OFFSET_MS.load(std::sync::atomic::Ordering::Relaxed);
    if offset == 0 {
        resync_clock();
        offset = WALL_OFFSET_MS.load(std::sync::atomic::Ordering::Relaxed);
    }
    at.saturating_duration_since(*MONO_BASE).as_millis() as u64 + offset
}

/// The time cached by [`refresh_clock`], or the current time (of the same
/// clock) on a thread that has not cached one.
pub fn clock_ms() -> u64 {
    match CLOCK_MS.with(|c| c.get()) {
        0 => clock_at(std::time::Instant::now()),
        t => t,
    }
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
    let local = 0u8;
    (t ^ (&local as *const u8 as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1
}

/// A fast thread-local xorshift generator: good enough for sampling victims
/// and RANDOMKEY, not for anything secret.
pub fn random_u64() -> u64 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.set(x);
        x
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints() {
        for v in [0, 7, -1, 10, -10, 123456, i64::MAX, i64::MIN] {
            assert_eq!(&*Decimal::new(v), v.to_string().as_bytes());
        }
        assert_eq!(parse_i64(b"0"), Some(0));
        for (c, v) in [(&b""[..], Some(0)), (b"12", Some(12)), (b"+3", Some(3)), (b"-1", Some(u64::MAX)), (b"18446744073709551615", Some(u64::MAX))] {
            assert_eq!(parse_scan_cursor(c), v, "{c:?}");
        }
        for c in [&b"-"[..], b" 1", b"1 ", b"0x1", b"18446744073709551616"] {
            assert_eq!(parse_scan_cursor(c), None, "{c:?}");
        }
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [&b"9223372036854775808"[..], b"+1", b" 1", b"01", b"-0", b"", b"-", b"1a"] {
            assert_eq!(parse_i64(bad), None, "{:?}", std::str::from_utf8(bad));
        }
    }

    #[test]
    fn floats() {
        assert_eq!(format_human_float(0.1 + 0.2), "0.3");
        assert_eq!(format_human_float(10.5 + 0.1), "10.6");
        assert_eq!(format_human_float(5200.0), "5200");
        assert_eq!(format_human_float(1e20), "100000000000000000000");
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b"anything", false));
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h*llo", b"heeeello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(glob_match(b"h\\*llo", b"h*llo", false));
        assert!(!glob_match(b"h\\*llo", b"hello", false));
        assert!(glob_match(b"*:*:x", b"a:b:c:x", false));
        assert!(!glob_match(b"a*b", b"acbd", false));
        assert!(glob_match(b"FOO", b"foo", true));
    }

    /// libc's own `snprintf(buf, n, "%.17g", d)`.
    fn libc_g17(d: f64) -> String {
        unsafe extern "C" {
            fn snprintf(buf: *mut u8, n: usize, fmt: *const u8, ...) -> i32;
        }
        let mut buf = [0u8; 64];
        // SAFETY: the buffer is 64 bytes and snprintf writes at most that
        // many, NUL included; the format is NUL-terminated and takes one
        // double.
        let n = unsafe { snprintf(buf.as_mut_ptr(), buf.len(), c"%.17g".as_ptr().cast(), d) };
        String::from_utf8(buf[..n as usize].to_vec()).unwrap()
    }

    #[test]
    fn g17_is_printf() {
        let mut values = vec![
            1.1,
            1.5,
            0.1,
            1e17,
            1e16,
            123456789.0,
            0.0001,
            0.00001,
            -2.5e-300,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            3.0,
            -0.0,
            0.0,
            9.999999999999999e16,
            99999999999999999.0,
        ];
        for _ in 0..20000 {
            let bits = random_u64();
            let d = f64::from_bits(bits);
            if d.is_finite() {
                values.push(d);
            }
            values.push((random_u64() % 2_000_000) as f64 / 1000.0 - 1000.0);
        }
        for d in values {
            assert_eq!(format_g17(d), libc_g17(d), "{d:e}");
        }
        assert_eq!(d2string(3.0), "3");
        assert_eq!(d2string(-0.0), "-0");
        assert_eq!(d2string(4611686018427387904.0), "4611686018427387904");
        assert_eq!(d2string(9223372036854775807.0), "9.2233720368547758e+18");
    }

    #[test]
    fn strtod_is_libc() {
        unsafe extern "C" {
            fn strtod(s: *const std::ffi::c_char, end: *mut *mut std::ffi::c_char) -> f64;
        }
        let alphabet = b"0123456789.eE+-xXpPaAfFinINtyY() \t";
        let mut inputs: Vec<Vec<u8>> =
            ["1.5", " -0x1.8p1", "1e308", "1e309", "4.9e-324", "2e-324", "nan(x_1)", "-nan", "Infinityx", "0x.8", "00012", "1..2", "+.e1"]
                .iter()
                .map(|s| s.as_bytes().to_vec())
                .collect();
        for _ in 0..20000 {
            let n = (random_u64() % 12) as usize;
            inputs.push((0..n).map(|_| alphabet[(random_u64() % alphabet.len() as u64) as usize]).collect());
        }
        for input in inputs {
            let c = std::ffi::CString::new(input.clone()).unwrap();
            let mut end = std::ptr::null_mut();
            // SAFETY: a NUL-terminated string and a place for the end
            // pointer, which points into it afterwards.
            let (want, taken) = unsafe {
                let v = strtod(c.as_ptr(), &mut end);
                (v, end.offset_from(c.as_ptr()) as usize)
            };
            let (got, n, _) = super::strtod(&input);
            let text = String::from_utf8_lossy(&input);
            assert_eq!(n, taken, "{text:?}");
            assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "{text:?}: {got} vs {want}");
        }
    }

    #[test]
    fn strtod_as_glibc() {
        assert_eq!(strtod(b" 1.5x"), (1.5, 4, false));
        assert_eq!(strtod(b"-inFinity"), (f64::NEG_INFINITY, 9, false));
        assert_eq!(strtod(b"infx"), (f64::INFINITY, 3, false));
        assert_eq!(strtod(b"0x10"), (16.0, 4, false));
        assert_eq!(strtod(b"0x1p-2"), (0.25, 6, false));
        assert_eq!(strtod(b"0x"), (0.0, 1, false));
        assert_eq!(strtod(b"1e"), (1.0, 1, false));
        assert_eq!(strtod(b"1e+5"), (1e5, 4, false));
        assert_eq!(strtod(b".5"), (0.5, 2, false));
        assert_eq!(strtod(b"5."), (5.0, 2, false));
        assert_eq!(strtod(b"."), (0.0, 0, false));
        assert_eq!(strtod(b""), (0.0, 0, false));
        assert_eq!(strtod(b"1e400"), (f64::INFINITY, 5, true));
        assert_eq!(strtod(b"1e-400"), (0.0, 6, true));
        assert_eq!(strtod(b"0e-400"), (0.0, 6, false));
        assert!(strtod(b"nan(123)").0.is_nan() && strtod(b"nan(123)").1 == 8);
        assert_eq!(parse_score(b"1e400"), None);
        assert_eq!(parse_score(b" 1"), None);
        assert_eq!(parse_score(b"1 "), None);
        assert_eq!(parse_score(b"nan"), None);
        assert_eq!(parse_score(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"-1.5"), Some(-1.5));
    }

    #[test]
    fn memory() {
        assert_eq!(parse_memory("100mb"), Some(100 * 1024 * 1024));
        assert_eq!(parse_memory("1GB"), Some(1024 * 1024 * 1024));
        assert_eq!(parse_memory("2k"), Some(2000));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("x"), None);
    }
}

/// An integer written out in decimal on the stack (replies, the effect
/// log, listpack integers read back as text): no allocation.
#[derive(Clone, Copy)]
pub struct Decimal {
    bytes: [u8; 20],
    start: u8,
}

impl Decimal {
    pub fn new(i: i64) -> Decimal {
        // two digits per division (as Redis's `ull2string`)
        const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
            2021222324252627282930313233343536373839\
            4041424344454647484950515253545556575859\
            6061626364656667686970717273747576777879\
            8081828384858687888990919293949596979899";
        let mut bytes = [0u8; 20];
        let mut pos = bytes.len();
        let mut n = i.unsigned_abs();
        while n >= 100 {
            let d = (n % 100) as usize * 2;
            n /= 100;
            pos -= 2;
            bytes[pos..pos + 2].copy_from_slice(&PAIRS[d..d + 2]);
        }
        if n >= 10 {
            let d = n as usize * 2;
            pos -= 2;
            bytes[pos..pos + 2].copy_from_slice(&PAIRS[d..d + 2]);
        } else {
            pos -= 1;
            bytes[pos] = b'0' + n as u8;
        }
        if i < 0 {
            pos -= 1;
            bytes[pos] = b'-';
        }
        Decimal { bytes, start: pos as u8 }
    }
}

impl std::ops::Deref for Decimal {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[self.start as usize..]
    }
}

/// A SCAN cursor as Redis reads it (`strtoul` in base 10): an optional
/// sign (a minus wraps around, so `-1` is the largest cursor), digits that
/// fit 64 bits, nothing after them and no leading space; an empty string
/// is cursor 0.
pub fn parse_scan_cursor(arg: &[u8]) -> Option<u64> {
    let (negative, digits) = match arg {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, arg),
    };
    if digits.is_empty() {
        return arg.is_empty().then_some(0);
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if negative { n.wrapping_neg() } else { n })
}

/// A copy of `args` in one allocation of their own, for a command that
/// waits: slices of a connection's read buffer would keep that whole
/// buffer alive for as long as the command waits.
pub fn compact_copy(args: &[bytes::Bytes]) -> Vec<bytes::Bytes> {
    let all = bytes::Bytes::from(args.concat());
    let mut at = 0;
    args.iter()
        .map(|a| {
            at += a.len();
            all.slice(at - a.len()..at)
        })
        .collect()
}
