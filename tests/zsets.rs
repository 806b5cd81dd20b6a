//! Sorted sets, checked against redis-server 7.0 byte for byte: random
//! command sequences in RESP2 and RESP3 (every option, errors, wrong
//! types, scores written every way strtod reads them, the listpack ->
//! skiplist conversion, whose OBJECT ENCODING must agree, STORE results'
//! encodings), a large sorted set's ranks and ranges, blocking pops woken
//! and timed out, DUMP payloads both ways, ZSCAN under writes.

mod common;

use common::{Pair, TestServer, elements, xorshift};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// The text a bulk (or RESP3 double) frame holds.
fn text(frame: &str) -> String {
    if let Some(d) = frame.strip_prefix(',') {
        return d.trim_end().to_string();
    }
    frame.split("\r\n").nth(1).expect("a bulk string").to_string()
}

fn pair(resp3: bool) -> (TestServer, TestServer, Pair) {
    pair_with(&[], resp3)
}

fn pair_with(config: &[&str], resp3: bool) -> (TestServer, TestServer, Pair) {
    let ours = TestServer::start(config);
    let redis = TestServer::start_redis_server(config);
    let mut p = Pair { ours: ours.raw(), redis: redis.raw() };
    if resp3 {
        let (a, b) = (p.ours.cmd(&["HELLO", "3"]), p.redis.cmd(&["HELLO", "3"]));
        assert!(a.starts_with('%') && b.starts_with('%'));
    }
    (ours, redis, p)
}

const SCORES: &[&str] = &[
    "1",
    "2",
    "3",
    "-1",
    "0",
    "-0",
    "1.5",
    "1.1",
    "0.1",
    "2.5",
    "1e-5",
    "1e17",
    "123456789012345678",
    "4611686018427387904",
    "4611686018427387905",
    "inf",
    "-inf",
    "+inf",
    "0x10",
    ".5",
    "5.",
    "+3",
    "1e400",
    "nan",
    " 1",
    "1 ",
    "",
    "x",
    "1e-400",
    "-9007199254740993",
];

fn random_sequence(config: &[&str], resp3: bool, seed: u64, rounds: usize) {
    let (_ours, _redis, mut p) = pair_with(config, resp3);
    // one generator shared by the helpers below (a Cell, so all may call it)
    let state = std::cell::Cell::new(seed);
    let next = || {
        let mut s = state.get();
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        state.set(s);
        s
    };
    let keys = ["z1", "z2", "z3", "s", "str"];
    p.same(&["SADD", "s", "a", "b", "7"], "set");
    for round in 0..rounds {
        let ctx = format!("resp3={resp3} config={config:?} round {round}");
        let pick = |items: &[&'static str]| items[(next() % items.len() as u64) as usize];
        let key = pick(&["z1", "z1", "z2", "z2", "z3", "s", "str"]).to_string();
        let other = pick(&keys).to_string();
        let member = |n: u64| -> String {
            match n % 10 {
                0 => "y".repeat(5 + (n / 10 % 8) as usize),
                1 => format!("{}", n / 10 % 5),
                _ => ["a", "b", "c", "d", "e", "f", "g", "aa", "ab", "ba"][(n / 10 % 10) as usize].to_string(),
            }
        };
        let m = member(next());
        let score = SCORES[(next() % SCORES.len() as u64) as usize].to_string();
        let good = ["1", "2", "-1", "0", "1.5", "2.5", "inf", "-inf", "3", "1.1"][(next() % 10) as usize].to_string();
        let bound =
            |n: u64| -> String { ["-inf", "+inf", "(1", "1", "(1.5", "2", "0", "(inf", "x", "(", "", "nan", "1e400", "-1"][(n % 14) as usize].to_string() };
        let lex = |n: u64| -> String { ["-", "+", "[a", "(a", "[b", "(c", "[aa", "(ba", "a", "+x", "[", "("][(n % 12) as usize].to_string() };
        let rank = |n: u64| -> String { ["0", "1", "-1", "-2", "2", "10", "-100", "x", "3"][(n % 9) as usize].to_string() };
        let cmd: Vec<String> = match next() % 40 {
            0..=5 => {
                let mut c = vec!["ZADD".to_string(), key.clone()];
                for opt in ["NX", "XX", "GT", "LT", "CH", "INCR"] {
                    if next().is_multiple_of(7) {
                        c.push(opt.into());
                    }
                }
                for _ in 0..1 + next() % 3 {
                    c.push(if next().is_multiple_of(5) { score.clone() } else { good.clone() });
                    c.push(member(next()));
                }
                if next().is_multiple_of(20) {
                    c.pop();
                }
                c
            }
            6 => vec!["ZINCRBY".into(), key.clone(), if next().is_multiple_of(3) { score.clone() } else { good.clone() }, m],
            7 => vec!["ZREM".into(), key.clone(), m, member(next())],
            8 => vec!["ZCARD".into(), key.clone()],
            9 => vec!["ZSCORE".into(), key.clone(), m],
            10 => vec!["ZMSCORE".into(), key.clone(), m, member(next()), "nope".into()],
            11 => vec![pick(&["ZRANK", "ZREVRANK"]).into(), key.clone(), m],
            12 => vec!["ZCOUNT".into(), key.clone(), bound(next()), bound(next())],
            13 => vec!["ZLEXCOUNT".into(), key.clone(), lex(next()), lex(next())],
            14..=17 => {
                let by = pick(&["", "", "BYSCORE", "BYLEX"]);
                let (lo, hi) = match by {
                    "BYSCORE" => (bound(next()), bound(next())),
                    "BYLEX" => (lex(next()), lex(next())),
                    _ => (rank(next()), rank(next())),
                };
                let mut c = vec!["ZRANGE".to_string(), key.clone(), lo, hi];
                if !by.is_empty() {
                    c.push(by.into());
                }
                if next().is_multiple_of(2) {
                    c.push("REV".into());
                }
                if next().is_multiple_of(3) {
                    c.extend(["LIMIT".to_string(), pick(&["0", "1", "-1", "2", "5"]).into(), pick(&["1", "2", "-1", "0", "-5"]).into()]);
                }
                if next().is_multiple_of(2) {
                    c.push("WITHSCORES".into());
                }
                if next().is_multiple_of(25) {
                    c.push("BOGUS".into());
                }
                c
            }
            18 => {
                let mut c = vec!["ZRANGESTORE".to_string(), pick(&keys).into(), key.clone(), rank(next()), rank(next())];
                if next().is_multiple_of(2) {
                    c = vec!["ZRANGESTORE".to_string(), pick(&keys).into(), key.clone(), bound(next()), bound(next()), "BYSCORE".into()];
                }
                if next().is_multiple_of(3) {
                    c.push("REV".into());
                }
                c
            }
            19 => {
                let mut c = vec![pick(&["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]).to_string(), key.clone(), bound(next()), bound(next())];
                if next().is_multiple_of(2) {
                    c.push("WITHSCORES".into());
                }
                if next().is_multiple_of(2) {
                    c.extend(["LIMIT".to_string(), pick(&["0", "1", "-1", "3"]).into(), pick(&["1", "2", "-1", "0"]).into()]);
                }
                c
            }
            20 => {
                let mut c = vec![pick(&["ZRANGEBYLEX", "ZREVRANGEBYLEX"]).to_string(), key.clone(), lex(next()), lex(next())];
                if next().is_multiple_of(2) {
                    c.extend(["LIMIT".to_string(), pick(&["0", "1", "-1"]).into(), pick(&["1", "2", "-1"]).into()]);
                }
                c
            }
            21 => vec!["ZREVRANGE".into(), key.clone(), rank(next()), rank(next()), pick(&["WITHSCORES", "withscores", "x"]).into()],
            22 => vec!["ZREMRANGEBYRANK".into(), key.clone(), rank(next()), rank(next())],
            23 => vec!["ZREMRANGEBYSCORE".into(), key.clone(), bound(next()), bound(next())],
            24 => vec!["ZREMRANGEBYLEX".into(), key.clone(), lex(next()), lex(next())],
            25 | 26 => {
                let mut c = vec![pick(&["ZPOPMIN", "ZPOPMAX"]).to_string(), key.clone()];
                if next().is_multiple_of(2) {
                    c.push(pick(&["0", "1", "2", "10", "-1", "x"]).into());
                }
                c
            }
            27 => {
                let mut c = vec!["ZMPOP".to_string(), pick(&["1", "2", "0", "x"]).into(), key.clone(), other.clone(), pick(&["MIN", "MAX", "mid"]).into()];
                if next().is_multiple_of(2) {
                    c.extend(["COUNT".to_string(), pick(&["1", "3", "0", "-1"]).into()]);
                }
                c
            }
            28..=31 => {
                let op = pick(&["ZUNION", "ZINTER", "ZDIFF", "ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE", "ZINTERCARD"]);
                let mut c = vec![op.to_string()];
                if op.ends_with("STORE") {
                    c.push(pick(&keys).into());
                }
                let n = pick(&["1", "2", "3", "2", "0", "9"]);
                c.push(n.into());
                c.extend([key.clone(), other.clone(), pick(&keys).into()].into_iter().take(3));
                if next().is_multiple_of(2) {
                    c.extend(["WEIGHTS".to_string(), pick(&["2", "0.5", "-1", "inf", "x"]).into(), pick(&["1", "3", "0"]).into(), "1".into()]);
                }
                if next().is_multiple_of(2) {
                    c.extend(["AGGREGATE".to_string(), pick(&["SUM", "MIN", "MAX", "avg"]).into()]);
                }
                if next().is_multiple_of(2) {
                    c.push("WITHSCORES".into());
                }
                if op == "ZINTERCARD" && next().is_multiple_of(2) {
                    c = vec![op.into(), "2".into(), key.clone(), other.clone(), "LIMIT".into(), pick(&["0", "1", "-1", "x"]).into()];
                }
                c
            }
            32 => {
                // random picks: the same reply shape, members of the set
                let count = pick(&["5", "-5", "1", "0", "100", "-1"]);
                let mut c = vec!["ZRANDMEMBER", key.as_str(), count];
                if next().is_multiple_of(2) {
                    c.push("WITHSCORES");
                }
                let (a, b) = (p.ours.cmd(&c), p.redis.cmd(&c));
                assert_eq!(a.lines().next(), b.lines().next(), "{ctx}: {c:?}");
                continue;
            }
            33 => {
                if p.redis.cmd(&["OBJECT", "ENCODING", &key]).contains("listpack") {
                    p.same(&["ZSCAN", &key, "0"], &ctx);
                    p.same(&["ZSCAN", &key, "0", "MATCH", "*a*"], &ctx);
                }
                vec!["ZSCAN".into(), key.clone(), pick(&["x", "0"]).into(), "COUNT".into(), pick(&["0", "y"]).into()]
            }
            34 => vec!["SET".into(), "str".into(), m],
            35 => vec!["DEL".into(), key.clone()],
            36 => vec!["TYPE".into(), key.clone()],
            37 => vec![pick(&["ZADD", "ZREM", "ZCARD", "ZRANGE", "ZUNIONSTORE", "ZPOPMIN", "ZMPOP", "ZSCAN"]).into(), key.clone()],
            38 => match next() % 3 {
                // ZRANDMEMBER's argument errors (a pick itself is random)
                0 => vec!["ZRANDMEMBER".into(), key.clone(), "x".into(), "WITHSCORES".into()],
                1 => vec!["ZRANDMEMBER".into(), key.clone(), "1".into(), "x".into()],
                _ => vec!["ZRANDMEMBER".into(), key.clone(), "4611686018427387904".into(), "WITHSCORES".into()],
            },
            _ => vec!["EXPIRE".into(), key.clone(), "100".into()],
        };
        let c: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
        // a lex range over differing scores is defined by Redis's listpack
        // walk (which we follow) but by its skiplist's random levels
        // otherwise: skip those
        let lex = c.iter().any(|a| a.eq_ignore_ascii_case("bylex")) || c[0].contains("LEX");
        if lex && p.redis.cmd(&["OBJECT", "ENCODING", &key]).contains("skiplist") {
            let all = elements(&p.redis.cmd(&["ZRANGE", &key, "0", "-1", "WITHSCORES"]));
            let scores: HashSet<String> = all.iter().skip(1).step_by(2).cloned().collect();
            if scores.len() > 1 {
                continue;
            }
        }
        p.same(&c, &ctx);
        p.same(&["OBJECT", "ENCODING", &key], &ctx);
        if c[0].ends_with("STORE") && c.len() > 1 {
            p.same(&["OBJECT", "ENCODING", c[1]], &ctx);
            p.same(&["ZRANGE", c[1], "0", "-1", "WITHSCORES"], &ctx);
            p.same(&["TTL", c[1]], &ctx);
        }
    }
    for key in keys {
        p.same(&["TYPE", key], "end");
        p.same(&["ZRANGE", key, "0", "-1", "WITHSCORES"], "end");
    }
}

#[test]
fn random_sorted_set_commands_match_redis_server_in_resp2() {
    random_sequence(&[], false, 0x9e37_79b9_7f4a_7c15, 2000);
}

#[test]
fn random_sorted_set_commands_match_redis_server_in_resp3() {
    random_sequence(&[], true, 0x2545_f491_4f6c_dd1d, 2000);
}

#[test]
fn random_sorted_set_commands_match_redis_server_past_small_listpack_limits() {
    let config = ["--zset-max-listpack-entries", "4", "--zset-max-listpack-value", "6"];
    random_sequence(&config, false, 0xdead_beef_cafe_f00d, 1500);
    random_sequence(&config, true, 0x1234_5678_9abc_def1, 1500);
}

/// Scores in and out: every form strtod reads, Redis 7.0's `%.17g`
/// replies, the listpack's integer and text forms (seen through ZSCAN),
/// and the conversion thresholds and config names.
#[test]
fn scores_and_encodings_as_redis() {
    for resp3 in [false, true] {
        let (_o, _r, mut p) = pair(resp3);
        for (i, s) in SCORES.iter().enumerate() {
            let m = format!("m{i}");
            p.same(&["ZADD", "z", s, &m], s);
            p.same(&["ZSCORE", "z", &m], s);
            p.same(&["ZINCRBY", "z", "0.1", &m], s);
            p.same(&["ZADD", "big", s, &m], s);
        }
        p.same(&["ZRANGE", "z", "0", "-1", "WITHSCORES"], "all");
        p.same(&["ZSCAN", "z", "0"], "listpack texts");
        p.same(&["ZMSCORE", "z", "m0", "m5", "none"], "mscore");
        p.same(&["ZMSCORE", "none", "m0"], "mscore of nothing");
        p.same(&["ZADD", "z", "inf", "pinf", "-inf", "ninf"], "infinities");
        p.same(&["ZINCRBY", "z", "-inf", "pinf"], "inf - inf");
        p.same(&["ZADD", "z", "INCR", "-inf", "pinf"], "inf - inf");
        p.same(&["ZINCRBY", "z", "1e308", "m0"], "near max");
        p.same(&["ZINCRBY", "z", "1e308", "m0"], "overflow to inf");
        for cfg in ["zset-max-listpack-entries", "zset-max-ziplist-entries", "zset-max-listpack-value", "zset-max-ziplist-value"] {
            p.same(&["CONFIG", "GET", cfg], cfg);
        }
        for i in 0..130 {
            p.same(&["ZADD", "conv", &i.to_string(), &format!("e{i}")], "entries");
            if i >= 126 {
                p.same(&["OBJECT", "ENCODING", "conv"], "entries");
            }
        }
        p.same(&["ZREMRANGEBYRANK", "conv", "0", "-3"], "shrink");
        p.same(&["OBJECT", "ENCODING", "conv"], "a skiplist stays one");
        p.same(&["ZADD", "long", "1", &"x".repeat(64)], "value");
        p.same(&["OBJECT", "ENCODING", "long"], "64 bytes");
        p.same(&["ZADD", "long", "1", &"x".repeat(65)], "value");
        p.same(&["OBJECT", "ENCODING", "long"], "65 bytes");
        p.same(&["ZADD", "longfirst", "1", &"x".repeat(65)], "value");
        p.same(&["OBJECT", "ENCODING", "longfirst"], "65 bytes first");
        p.same(&["CONFIG", "SET", "zset-max-ziplist-entries", "0"], "alias");
        p.same(&["ZADD", "zero", "1", "a"], "no listpack");
        p.same(&["OBJECT", "ENCODING", "zero"], "no listpack");
        p.same(&["ZUNIONSTORE", "u", "2", "z", "s-missing"], "store of a listpack source");
        p.same(&["OBJECT", "ENCODING", "u"], "store with entries 0");
        p.same(&["CONFIG", "SET", "zset-max-listpack-entries", "128"], "back");
        p.same(&["ZRANGESTORE", "r", "conv", "0", "-1"], "rangestore");
        p.same(&["OBJECT", "ENCODING", "r"], "rangestore result");
        p.same(&["ZUNIONSTORE", "u", "1", "conv"], "union result");
        p.same(&["OBJECT", "ENCODING", "u"], "union result");
        p.same(&["ZUNION", "2", "conv", "z", "WITHSCORES"], "union with a skiplist");
    }
}

/// One large sorted set: ranks, rank windows, score and lex ranges with
/// LIMIT, counts and range removals agree with redis-server's skiplist.
#[test]
fn a_large_sorted_set_agrees_in_rank_and_range() {
    let (_o, _r, mut p) = pair(false);
    let mut next = xorshift(0x51ab_1e55);
    let n = 20_000;
    let mut batch = vec!["ZADD".to_string(), "big".into()];
    for i in 0..n {
        // many ties, so member order within a score matters
        batch.push(format!("{}", next() % 3000));
        batch.push(format!("member:{i}"));
        if batch.len() > 2000 || i == n - 1 {
            let c: Vec<&str> = batch.iter().map(|s| s.as_str()).collect();
            p.same(&c, "load");
            batch.truncate(2);
        }
    }
    p.same(&["OBJECT", "ENCODING", "big"], "skiplist");
    for round in 0..400 {
        let ctx = format!("round {round}");
        let m = format!("member:{}", next() % (n + 50));
        let lo = (next() % 3100).to_string();
        let hi = (next() % 3100).to_string();
        let a = (next() % (n + 100)) as i64 - 50;
        let b = a + (next() % 60) as i64;
        match round % 10 {
            0 => p.same(&["ZRANK", "big", &m], &ctx),
            1 => p.same(&["ZREVRANK", "big", &m], &ctx),
            2 => p.same(&["ZRANGE", "big", &a.to_string(), &b.to_string(), "WITHSCORES"], &ctx),
            3 => p.same(&["ZREVRANGE", "big", &a.to_string(), &b.to_string()], &ctx),
            4 => p.same(&["ZRANGEBYSCORE", "big", &format!("({lo}"), &hi, "LIMIT", &(next() % 30).to_string(), "20"], &ctx),
            5 => p.same(&["ZREVRANGEBYSCORE", "big", &hi, &lo, "WITHSCORES", "LIMIT", "3", "10"], &ctx),
            6 => p.same(&["ZCOUNT", "big", &lo, &hi], &ctx),
            7 => p.same(&["ZADD", "big", "INCR", &format!("{}", next() % 7), &m], &ctx),
            8 => p.same(&["ZREMRANGEBYRANK", "big", &a.to_string(), &(a + 2).to_string()], &ctx),
            _ => p.same(&["ZREM", "big", &m], &ctx),
        };
    }
    // equal scores: lex ranges over one score
    for i in 0..500 {
        p.same(&["ZADD", "lex", "0", &format!("k{:04}", (i * 7919) % 500)], "lex load");
    }
    for (lo, hi) in [("[k0100", "(k0200"), ("-", "[k0003"), ("(k0498", "+"), ("[k0300", "[k0300"), ("(k0300", "(k0300")] {
        p.same(&["ZRANGEBYLEX", "lex", lo, hi, "LIMIT", "2", "5"], "bylex");
        p.same(&["ZREVRANGEBYLEX", "lex", hi, lo], "revbylex");
        p.same(&["ZLEXCOUNT", "lex", lo, hi], "lexcount");
    }
    p.same(&["ZREMRANGEBYLEX", "lex", "[k0100", "(k0400"], "remrangebylex");
    p.same(&["ZRANGE", "lex", "0", "-1"], "after");
    p.same(&["ZREMRANGEBYSCORE", "big", "100", "(2000"], "remrangebyscore");
    p.same(&["ZCARD", "big"], "after");
    p.same(&["ZRANGE", "big", "0", "-1", "WITHSCORES"], "everything");
}

/// BZPOPMIN / BZPOPMAX / BZMPOP wait on the one wait registry: woken by a
/// ZADD from another connection, FIFO among waiters, timing out with the
/// null array, answering at once inside MULTI; logged as the pop.
#[test]
fn blocking_pops_wake_time_out_and_refuse_to_wait_in_multi() {
    for resp3 in [false, true] {
        let (ours, redis, mut p) = pair(resp3);
        for (server, other) in [(&ours, &mut p.ours), (&redis, &mut p.redis)] {
            let mut waiter = server.raw();
            if resp3 {
                waiter.cmd(&["HELLO", "3"]);
            }
            // each waits before the next comes: FIFO order is arrival order
            waiter.send(&["BZPOPMIN", "q1", "q2", "0"]);
            wait_blocked(other, 1);
            let mut second = server.raw();
            second.send(&["BZMPOP", "0", "1", "q2", "MAX", "COUNT", "5"]);
            wait_blocked(other, 2);
            assert_eq!(other.cmd(&["ZADD", "q2", "1", "a", "2", "b", "3", "c"]), ":3\r\n");
            let first = waiter.read_reply();
            let expect_first = if resp3 { "*3\r\n$2\r\nq2\r\n$1\r\na\r\n,1\r\n" } else { "*3\r\n$2\r\nq2\r\n$1\r\na\r\n$1\r\n1\r\n" };
            assert_eq!(first, expect_first, "resp3={resp3}");
            let rest = second.read_reply();
            assert_eq!(rest, "*2\r\n$2\r\nq2\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n");
            assert_eq!(other.cmd(&["EXISTS", "q2"]), ":0\r\n");
            assert!(waiter.cmd(&["BZPOPMAX", "q1", "0.05"]).starts_with(if resp3 { "_" } else { "*-1" }));
            assert_eq!(waiter.cmd(&["MULTI"]), "+OK\r\n");
            waiter.cmd(&["BZPOPMIN", "q1", "0"]);
            waiter.cmd(&["BZMPOP", "0", "1", "q1", "MIN"]);
            let exec = waiter.cmd(&["EXEC"]);
            assert_eq!(exec, if resp3 { "*2\r\n_\r\n_\r\n" } else { "*2\r\n*-1\r\n*-1\r\n" });
        }
        p.same(&["BZPOPMIN", "k", "-1"], "negative timeout");
        p.same(&["BZPOPMIN", "k", "x"], "bad timeout");
        p.same(&["SET", "str", "x"], "str");
        p.same(&["BZPOPMIN", "str", "0"], "wrong type");
        p.same(&["BZMPOP", "0", "0", "k", "MIN"], "numkeys");
        p.same(&["BZMPOP", "x", "1", "k", "MIN"], "timeout after syntax");
        p.same(&["ZADD", "k", "1", "one"], "k");
        p.same(&["BZPOPMAX", "none", "k", "0"], "ready at once");
    }
}

/// Waits (boundedly) until `n` clients are blocked in a sorted set pop.
fn wait_blocked(r: &mut common::Raw, n: usize) {
    for _ in 0..500 {
        if r.cmd(&["CLIENT", "LIST"]).matches("cmd=bz").count() >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{n} clients never blocked");
}

/// DUMP payloads move both ways: redis-server's listpack and skiplist
/// payloads restore here with the same elements and encoding, ours restore
/// there.
#[test]
fn dump_payloads_move_both_ways() {
    let (_o, _r, mut p) = pair(false);
    let mut big = vec!["ZADD", "big"];
    let members: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    let scores: Vec<String> = (0..300).map(|i| format!("{}", i as f64 * 0.37 - 20.0)).collect();
    for (m, s) in members.iter().zip(&scores) {
        big.push(s);
        big.push(m);
    }
    for (from_ours, name) in [(true, "ours"), (false, "redis")] {
        let (src, dst) = if from_ours { (&mut p.ours, &mut p.redis) } else { (&mut p.redis, &mut p.ours) };
        src.cmd(&["ZADD", "small", "1.5", "a", "-inf", "b", "3", "c", "123456789012345678", "d"]);
        src.cmd(&big);
        for key in ["small", "big"] {
            let dump = src.cmd_raw(&["DUMP", key]);
            let payload = common::bulk_bytes(&dump);
            let target = format!("{key}-from-{name}");
            assert_eq!(dst.cmd_bytes(&[b"RESTORE", target.as_bytes(), b"0", &payload]), "+OK\r\n", "{name} {key}");
            assert_eq!(dst.cmd(&["ZRANGE", &target, "0", "-1", "WITHSCORES"]), src.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"]), "{name} {key}");
            assert_eq!(dst.cmd(&["OBJECT", "ENCODING", &target]), src.cmd(&["OBJECT", "ENCODING", key]), "{name} {key}");
        }
    }
    // corrupt payloads are refused the same way
    let dump = common::bulk_bytes(&p.redis.cmd_raw(&["DUMP", "small"]));
    let mut bad = dump.clone();
    bad[3] ^= 0xff;
    assert_eq!(p.ours.cmd_bytes(&[b"RESTORE", b"bad", b"0", &bad]), p.redis.cmd_bytes(&[b"RESTORE", b"bad", b"0", &bad]));
}

/// ZSCAN over a skiplist sees every member that stays throughout, with its
/// score, however the set changes between calls.
#[test]
fn zscan_of_a_skiplist_under_writes_misses_nothing_that_stays() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    let mut c = vec!["ZADD".to_string(), "z".into()];
    for i in 0..2000 {
        c.extend([format!("{i}.5"), format!("stay{i}")]);
    }
    let c: Vec<&str> = c.iter().map(|s| s.as_str()).collect();
    r.cmd(&c);
    let mut seen = HashMap::new();
    let mut cursor = "0".to_string();
    let mut step = 0;
    loop {
        let reply = r.cmd(&["ZSCAN", "z", &cursor, "COUNT", "50"]);
        let parts = elements(&reply);
        cursor = text(&parts[0]);
        let items = elements(&parts[1]);
        for kv in items.chunks(2) {
            seen.insert(text(&kv[0]), text(&kv[1]));
        }
        for j in 0..30 {
            r.cmd(&["ZADD", "z", "1", &format!("new{step}-{j}")]);
        }
        step += 1;
        if cursor == "0" {
            break;
        }
    }
    for i in 0..2000 {
        assert_eq!(seen.get(&format!("stay{i}")).map(|s| s.as_str()), Some(format!("{i}.5").as_str()), "stay{i}");
    }
    let distinct: HashSet<&String> = seen.keys().collect();
    assert_eq!(distinct.len(), seen.len());
}

/// ZRANDMEMBER by Redis's count rules, and fair.
#[test]
fn zrandmember_follows_the_count_rules_and_is_fair() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    for (key, n) in [("small", 40), ("big", 300)] {
        let mut c = vec!["ZADD".to_string(), key.into()];
        for i in 0..n {
            c.extend([i.to_string(), format!("m{i}")]);
        }
        let c: Vec<&str> = c.iter().map(|s| s.as_str()).collect();
        r.cmd(&c);
        for want in [1usize, 3, n - 1, n, n + 10] {
            let got = elements(&r.cmd(&["ZRANDMEMBER", key, &want.to_string()]));
            assert_eq!(got.len(), want.min(n), "{key} {want}");
            assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len(), "{key} {want}: repeated member");
        }
        let with = elements(&r.cmd(&["ZRANDMEMBER", key, "-7", "WITHSCORES"]));
        assert_eq!(with.len(), 14);
        for kv in with.chunks(2) {
            assert_eq!(format!("m{}", text(&kv[1])), text(&kv[0]), "the score belongs to the member");
        }
        let mut counts = HashMap::new();
        let draws = 40 * n;
        for e in elements(&r.cmd(&["ZRANDMEMBER", key, &format!("-{draws}")])) {
            *counts.entry(e).or_insert(0usize) += 1;
        }
        assert_eq!(counts.len(), n, "{key}: every member comes up");
        let (lo, hi) = (counts.values().min().unwrap(), counts.values().max().unwrap());
        assert!(*lo > 10 && *hi < 90, "{key}: picks between {lo} and {hi} of an expected 40");
    }
    assert!(r.cmd(&["ZRANDMEMBER", "small", "-99999999999"]).starts_with("-ERR count is out of range"));
}

/// WATCH sees a sorted set change by any command, pops included.
#[test]
fn watch_sees_sorted_set_writes() {
    let s = TestServer::start(&[]);
    let (mut a, mut b) = (s.raw(), s.raw());
    a.cmd(&["ZADD", "z", "1", "x", "2", "y"]);
    for change in [&["ZADD", "z", "5", "w"][..], &["ZINCRBY", "z", "1", "x"], &["ZPOPMIN", "z"], &["ZREMRANGEBYSCORE", "z", "-inf", "+inf"]] {
        a.cmd(&["ZADD", "z", "1", "x", "2", "y"]);
        a.cmd(&["WATCH", "z"]);
        a.cmd(&["MULTI"]);
        a.cmd(&["ZCARD", "z"]);
        b.cmd(change);
        assert_eq!(a.cmd(&["EXEC"]), "*-1\r\n", "{change:?}");
    }
    // a no-op does not touch the key
    a.cmd(&["ZADD", "z", "1", "x"]);
    a.cmd(&["WATCH", "z"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["ZCARD", "z"]);
    b.cmd(&["ZADD", "z", "NX", "9", "x"]);
    b.cmd(&["ZREM", "z", "nothing"]);
    assert_eq!(a.cmd(&["EXEC"]), "*1\r\n:1\r\n");
}

/// A script sees RESP2 replies whatever its caller speaks: WITHSCORES
/// flat, scores and coordinates as strings (a RESP3 caller's EVAL got
/// RESP3 shapes inside Lua before).
#[test]
fn scripts_see_resp2_replies_from_a_resp3_caller() {
    let (_o, _r, mut p) = pair(true);
    p.same(&["ZADD", "z", "1.5", "a", "2", "b"], "z");
    p.same(&["HSET", "h", "f", "v"], "h");
    p.same(&["GEOADD", "g", "13.361389", "38.115556", "Palermo"], "g");
    for script in [
        "return redis.call('zrange', KEYS[1], 0, -1, 'withscores')",
        "return redis.call('zpopmin', KEYS[1], 1)",
        "return redis.call('zscore', KEYS[1], 'b')",
        "return redis.call('hrandfield', 'h', 1, 'withvalues')",
        "return redis.call('geopos', 'g', 'Palermo')",
        "return redis.call('zrandmember', KEYS[1], 1, 'withscores')",
        "return redis.call('zunion', 1, KEYS[1], 'withscores')",
    ] {
        p.same(&["EVAL", script, "1", "z"], script);
    }
}

/// Waiters of different types on one key: a sorted set written there
/// serves the sorted set pop behind a BLPOP, which goes on waiting (not a
/// WRONGTYPE), as redis-server serves the next client of the right type;
/// a string written there leaves both waiting.
#[test]
fn waiters_of_another_type_are_passed_over_not_failed() {
    for server in [TestServer::start(&[]), TestServer::start_redis_server(&[])] {
        let mut o = server.raw();
        let mut blpop = server.raw();
        blpop.send(&["BLPOP", "k", "0"]);
        wait_blocked_on(&mut o, "cmd=blpop", 1);
        let mut blmpop = server.raw();
        blmpop.send(&["BLMPOP", "0", "1", "k", "LEFT"]);
        wait_blocked_on(&mut o, "cmd=blmpop", 1);
        let mut bzpop = server.raw();
        bzpop.send(&["BZPOPMIN", "k", "0"]);
        wait_blocked_on(&mut o, "cmd=bzpopmin", 1);
        assert_eq!(o.cmd(&["SET", "k", "x"]), "+OK\r\n");
        assert_eq!(o.cmd(&["DEL", "k"]), ":1\r\n");
        assert_eq!(o.cmd(&["ZADD", "k", "1", "m"]), ":1\r\n");
        assert_eq!(bzpop.read_reply(), "*3\r\n$1\r\nk\r\n$1\r\nm\r\n$1\r\n1\r\n");
        assert_eq!(blpop.try_read_reply(Duration::from_millis(200)), None, "BLPOP goes on waiting");
        assert_eq!(blmpop.try_read_reply(Duration::from_millis(50)), None, "BLMPOP goes on waiting");
        assert_eq!(o.cmd(&["RPUSH", "k", "a", "b"]), ":2\r\n");
        assert_eq!(blpop.read_reply(), "*2\r\n$1\r\nk\r\n$1\r\na\r\n");
        assert_eq!(blmpop.read_reply(), "*2\r\n$1\r\nk\r\n*1\r\n$1\r\nb\r\n");
    }
}

fn wait_blocked_on(r: &mut common::Raw, what: &str, n: usize) {
    for _ in 0..500 {
        if r.cmd(&["CLIENT", "LIST"]).matches(what).count() >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{n} {what} never blocked");
}

/// COPY clones a sorted set (either encoding, independent afterwards),
/// MIGRATE moves one to redis-server and back with its scores.
#[test]
fn copy_and_migrate_sorted_sets() {
    let ours = TestServer::start(&[]);
    let redis = TestServer::start_redis_server(&[]);
    let (mut a, mut r) = (ours.raw(), redis.raw());
    let mut big = vec!["ZADD".to_string(), "big".into()];
    for i in 0..500 {
        big.extend([format!("{}.25", i % 37), format!("m{i}")]);
    }
    let big: Vec<&str> = big.iter().map(|s| s.as_str()).collect();
    a.cmd(&big);
    a.cmd(&["ZADD", "small", "1", "a", "-2.5", "b"]);
    for key in ["small", "big"] {
        let copy = format!("{key}-copy");
        assert_eq!(a.cmd(&["COPY", key, &copy]), ":1\r\n");
        assert_eq!(a.cmd(&["ZRANGE", &copy, "0", "-1", "WITHSCORES"]), a.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"]));
        assert_eq!(a.cmd(&["OBJECT", "ENCODING", &copy]), a.cmd(&["OBJECT", "ENCODING", key]));
        a.cmd(&["ZADD", &copy, "100", "only-in-copy"]);
        assert_eq!(a.cmd(&["ZSCORE", key, "only-in-copy"]), "$-1\r\n", "the copy is independent");
        let before = a.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"]);
        assert_eq!(a.cmd(&["MIGRATE", "127.0.0.1", &redis.port.to_string(), key, "0", "5000"]), "+OK\r\n");
        assert_eq!(r.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"]), before);
        assert_eq!(r.cmd(&["MIGRATE", "127.0.0.1", &ours.port.to_string(), key, "0", "5000"]), "+OK\r\n");
        assert_eq!(a.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"]), before);
        let expect = if key == "big" { "$8\r\nskiplist\r\n" } else { "$8\r\nlistpack\r\n" };
        assert_eq!(a.cmd(&["OBJECT", "ENCODING", key]), expect, "{key} came back in its encoding");
    }
}
