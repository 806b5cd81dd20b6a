//! Bitmaps, checked against redis-server 7.0 byte for byte: random
//! sequences of SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO (every range form, negative indexes, BYTE and BIT units,
//! every field type and overflow policy, bad arguments) in RESP2 and RESP3,
//! with the strings compared after each write; then the limits.

mod common;

use common::{Pair, TestServer, xorshift};

fn random_sequence(resp3: bool, seed: u64, rounds: usize) {
    let ours = TestServer::start(&[]);
    let redis = TestServer::start_redis_server(&[]);
    let mut p = Pair { ours: ours.raw(), redis: redis.raw() };
    if resp3 {
        p.ours.cmd(&["HELLO", "3"]);
        p.redis.cmd(&["HELLO", "3"]);
    }
    let mut next = xorshift(seed);
    let keys = ["b1", "b2", "b3", "list"];
    p.same(&["RPUSH", "list", "x"], "setup");
    for round in 0..rounds {
        let ctx = format!("resp3={resp3} round {round}");
        let key = keys[(next() % 4) as usize].to_string();
        let int = |n: &mut dyn FnMut() -> u64, span: u64| format!("{}", (n() % (2 * span + 1)) as i64 - span as i64);
        let offset = |n: &mut dyn FnMut() -> u64| match n() % 10 {
            0 => "x".to_string(),
            1 => "-1".to_string(),
            2 => format!("#{}", n() % 8),
            _ => format!("{}", n() % 200),
        };
        let unit = |n: &mut dyn FnMut() -> u64| ["BIT", "BYTE", "bit", "nope"][(n() % 4) as usize].to_string();
        let ftype = |n: &mut dyn FnMut() -> u64| match n() % 12 {
            0 => "i64".to_string(),
            1 => "u64".to_string(),
            2 => "u63".to_string(),
            3 => "x8".to_string(),
            4 => "i0".to_string(),
            k if k < 8 => format!("u{}", 1 + n() % 16),
            _ => format!("i{}", 1 + n() % 20),
        };
        let value = |n: &mut dyn FnMut() -> u64| match n() % 8 {
            0 => "9223372036854775807".to_string(),
            1 => "-9223372036854775808".to_string(),
            2 => "abc".to_string(),
            _ => format!("{}", (n() % 2001) as i64 - 1000),
        };
        let cmd: Vec<String> = match next() % 14 {
            0..=2 => vec!["SETBIT".into(), key.clone(), offset(&mut next), ["0", "1", "1", "2"][(next() % 4) as usize].into()],
            3 => vec!["GETBIT".into(), key.clone(), offset(&mut next)],
            4 => match next() % 4 {
                0 => vec!["BITCOUNT".into(), key.clone()],
                1 => vec!["BITCOUNT".into(), key.clone(), int(&mut next, 30)],
                2 => vec!["BITCOUNT".into(), key.clone(), int(&mut next, 30), int(&mut next, 30)],
                _ => vec!["BITCOUNT".into(), key.clone(), int(&mut next, 200), int(&mut next, 200), unit(&mut next)],
            },
            5 | 6 => {
                let mut c = vec!["BITPOS".into(), key.clone(), ["0", "1", "1", "0", "2"][(next() % 5) as usize].into()];
                let extra = next() % 4;
                let span = if extra == 3 { 200 } else { 30 };
                for _ in 0..extra {
                    c.push(int(&mut next, span));
                }
                if extra == 3 {
                    c[5] = unit(&mut next);
                }
                c
            }
            7 => {
                let op = ["AND", "OR", "XOR", "NOT", "nand"][(next() % 5) as usize];
                let mut c = vec!["BITOP".into(), op.into(), keys[(next() % 3) as usize].into(), key.clone()];
                if op != "NOT" || next().is_multiple_of(4) {
                    c.push(keys[(next() % 4) as usize].into());
                }
                c
            }
            8..=10 => {
                let name = if next().is_multiple_of(5) { "BITFIELD_RO" } else { "BITFIELD" };
                let mut c = vec![name.to_string(), key.clone()];
                for _ in 0..1 + next() % 4 {
                    match next() % 6 {
                        0 => c.extend(["OVERFLOW".to_string(), ["WRAP", "SAT", "FAIL", "sat", "bad"][(next() % 5) as usize].to_string()]),
                        1 | 2 => c.extend(["GET".to_string(), ftype(&mut next), offset(&mut next)]),
                        3 => c.extend(["SET".to_string(), ftype(&mut next), offset(&mut next), value(&mut next)]),
                        _ => c.extend(["INCRBY".to_string(), ftype(&mut next), offset(&mut next), value(&mut next)]),
                    }
                }
                if next().is_multiple_of(10) {
                    c.push("GET".into());
                }
                c
            }
            11 => vec!["SET".into(), key.clone(), ["", "a", "\u{ff}\u{0f}", "hello world"][(next() % 4) as usize].into()],
            12 => vec!["APPEND".into(), key.clone(), "\u{80}".into()],
            _ => vec!["DEL".into(), key.clone()],
        };
        let c: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
        p.same(&c, &ctx);
        p.same(&["GET", &key], &ctx);
        if c[0] == "BITOP" {
            p.same(&["GET", c[2]], &ctx);
        }
    }
}

#[test]
fn random_bitmap_commands_match_redis_server_in_resp2() {
    random_sequence(false, 0x9e37_79b9_7f4a_7c15, 2500);
}

#[test]
fn random_bitmap_commands_match_redis_server_in_resp3() {
    random_sequence(true, 0x2545_f491_4f6c_dd1d, 2500);
}

/// Offsets are bounded by `proto-max-bulk-len`, as in Redis; a bitmap
/// far out is one allocation, and a SETBIT into it changes one byte.
#[test]
fn offsets_are_bounded_and_big_bitmaps_work() {
    let ours = TestServer::start(&[]);
    let redis = TestServer::start_redis_server(&[]);
    let mut p = Pair { ours: ours.raw(), redis: redis.raw() };
    for cmd in [
        &["SETBIT", "k", "4294967296", "1"][..],
        &["SETBIT", "k", "4294967295", "2"],
        &["GETBIT", "k", "4294967296"],
        &["BITFIELD", "k", "SET", "u8", "4294967290", "1"],
        &["BITFIELD", "k", "GET", "i8", "#536870912"],
        &["BITFIELD", "k", "GET", "i8", "#-1"],
        &["BITFIELD_RO", "k", "INCRBY", "u2", "0", "1"],
        &["BITPOS", "k", "1", "0", "-1", "BIT", "x"],
    ] {
        p.same(cmd, "limits");
    }
    p.same(&["CONFIG", "SET", "proto-max-bulk-len", "1048576"], "limit");
    p.same(&["SETBIT", "k", "8388608", "1"], "past the lowered limit");
    p.same(&["SETBIT", "k", "8388607", "1"], "the last bit");
    p.same(&["STRLEN", "k"], "1 MB");
    p.same(&["BITCOUNT", "k"], "1 MB");
    p.same(&["BITPOS", "k", "1"], "1 MB");
    p.same(&["BITPOS", "k", "0", "-1"], "1 MB");
    p.same(&["BITCOUNT", "k", "-1", "-1", "BIT"], "1 MB");
    p.same(&["HSET", "h", "f", "v"], "type");
    for cmd in [
        &["SETBIT", "h", "1", "1"][..],
        &["GETBIT", "h", "1"],
        &["BITCOUNT", "h"],
        &["BITPOS", "h", "1"],
        &["BITOP", "OR", "d", "h"],
        &["BITFIELD", "h", "GET", "u8", "0"],
    ] {
        p.same(cmd, "wrong type");
    }
    // a write to a WATCHed bitmap touches it; a BITFIELD or SETBIT that
    // changes nothing does not (as Redis 7.0.15)
    let mut w = ours.raw();
    w.cmd(&["SET", "bm", "\u{1}"]);
    for (write, touches) in [
        (vec!["BITFIELD", "bm", "SET", "u8", "0", "1"], false),
        (vec!["SETBIT", "bm", "7", "1"], false),
        (vec!["SETBIT", "bm", "7", "0"], true),
        (vec!["SETBIT", "bm", "8", "0"], true),
        (vec!["BITFIELD", "bm", "INCRBY", "u8", "0", "1"], true),
    ] {
        w.cmd(&["WATCH", "bm"]);
        p.ours.cmd(&write);
        w.cmd(&["MULTI"]);
        w.cmd(&["PING"]);
        assert_eq!(w.cmd(&["EXEC"]) == "*-1\r\n", touches, "{write:?}");
    }
}
