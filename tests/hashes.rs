//! Hashes, checked against redis-server 7.0 byte for byte: random command
//! sequences in RESP2 and RESP3 (including errors, wrong types and the
//! listpack -> hashtable conversions, whose OBJECT ENCODING must agree),
//! plus HRANDFIELD, HSCAN and WATCH behaviour.

mod common;

use common::{Pair, TestServer, bulk_bytes, elements, xorshift};
use std::collections::HashSet;

/// A reply whose element order depends on the hash table's layout, made
/// comparable: elements (or field/value pairs) sorted.
fn unordered(reply: &str, pairs: bool) -> Vec<String> {
    let e = elements(reply);
    let mut items: Vec<String> = if pairs { e.chunks(2).map(|p| p.concat()).collect() } else { e };
    items.sort();
    items
}

impl Pair {
    /// As `same`, but order-insensitive once the key is a hashtable.
    fn same_set(&mut self, key: &str, cmd: &[&str], pairs: bool, context: &str) {
        let enc = self.redis.cmd(&["OBJECT", "ENCODING", key]);
        if enc.contains("hashtable") {
            let (a, b) = (self.ours.cmd(cmd), self.redis.cmd(cmd));
            assert_eq!(a.lines().next(), b.lines().next(), "{context}: {cmd:?} (length)");
            assert_eq!(unordered(&a, pairs), unordered(&b, pairs), "{context}: {cmd:?}");
        } else {
            self.same(cmd, context);
        }
    }
}

fn random_sequence(config: &[&str], resp3: bool, seed: u64, rounds: usize) {
    let ours = TestServer::start(config);
    let redis = TestServer::start_redis_server(config);
    let mut p = Pair { ours: ours.raw(), redis: redis.raw() };
    if resp3 {
        let (a, b) = (p.ours.cmd(&["HELLO", "3"]), p.redis.cmd(&["HELLO", "3"]));
        assert!(a.starts_with('%') && b.starts_with('%'));
    }
    let mut next = xorshift(seed);
    let keys = ["h1", "h2", "s"];
    for round in 0..rounds {
        let ctx = format!("resp3={resp3} config={config:?} round {round}");
        let key = keys[(next() % 3) as usize];
        let field = |n: &mut dyn FnMut() -> u64| format!("f{}", n() % 12);
        let value = |n: &mut dyn FnMut() -> u64| match n() % 10 {
            0 => "x".repeat(20 + (n() % 60) as usize),
            1 => format!("{}", n() % 1000) + ".5",
            2 => String::new(),
            _ => format!("{}", (n() % 2000) as i64 - 1000),
        };
        let f = field(&mut next);
        let v = value(&mut next);
        let cmd: Vec<String> = match next() % 22 {
            0..=2 => {
                let mut c = vec!["HSET".to_string(), key.into()];
                for _ in 0..1 + next() % 3 {
                    c.push(field(&mut next));
                    c.push(value(&mut next));
                }
                c
            }
            3 => vec!["HSETNX".into(), key.into(), f, v],
            4 => vec!["HMSET".into(), key.into(), f, v],
            5 => vec!["HGET".into(), key.into(), f],
            6 => vec!["HMGET".into(), key.into(), f, field(&mut next), "nope".into()],
            7 => vec!["HDEL".into(), key.into(), f, field(&mut next)],
            8 => vec!["HLEN".into(), key.into()],
            9 => vec!["HSTRLEN".into(), key.into(), f],
            10 => vec!["HEXISTS".into(), key.into(), f],
            11 => vec!["HINCRBY".into(), key.into(), f, ["1", "-7", "x", "9223372036854775807"][(next() % 4) as usize].into()],
            12 => vec!["HINCRBYFLOAT".into(), key.into(), f, ["1.5", "-0.25", "abc", "inf", "3"][(next() % 5) as usize].into()],
            13 => {
                for c in [["HGETALL", key], ["HKEYS", key], ["HVALS", key]] {
                    p.same_set(key, &c, c[0] == "HGETALL", &ctx);
                }
                continue;
            }
            14 => {
                p.same_set(key, &["HRANDFIELD", key, "100"], false, &ctx);
                p.same_set(key, &["HRANDFIELD", key, "100", "WITHVALUES"], !resp3, &ctx);
                p.same(&["HRANDFIELD", key, "0"], &ctx);
                continue;
            }
            15 => {
                p.same_set(key, &["HGETALL", key], true, &ctx);
                if !p.redis.cmd(&["OBJECT", "ENCODING", key]).contains("hashtable") {
                    p.same(&["HSCAN", key, "0"], &ctx);
                    p.same(&["HSCAN", key, "0", "MATCH", "f1*", "COUNT", "3"], &ctx);
                }
                continue;
            }
            16 => vec!["SET".into(), "s".into(), v],
            17 => vec!["GET".into(), key.into()],
            18 => vec!["DEL".into(), key.into()],
            19 => vec!["TYPE".into(), key.into()],
            20 => vec![["HSET", "HGET", "HDEL", "HINCRBY"][(next() % 4) as usize].into(), key.into()],
            _ => vec!["EXISTS".into(), key.into()],
        };
        let c: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
        if c[0] == "HINCRBYFLOAT" && c.len() == 4 {
            // a documented deviation: Redis adds in long double (64-bit
            // mantissa), shardis in f64, so past 15 significant digits the
            // results differ (the same holds for INCRBYFLOAT)
            let current = p.redis.cmd(&["HGET", c[1], c[2]]);
            if current.lines().nth(1).is_some_and(|v| v.trim_start_matches('-').len() > 15) {
                continue;
            }
        }
        p.same(&c, &ctx);
        p.same(&["OBJECT", "ENCODING", key], &ctx);
    }
    // what is left agrees too
    for key in keys {
        p.same(&["TYPE", key], "end");
        p.same_set(key, &["HGETALL", key], true, "end");
    }
}

#[test]
fn random_hash_commands_match_redis_server_in_resp2() {
    random_sequence(&[], false, 0x9e37_79b9_7f4a_7c15, 1500);
}

#[test]
fn random_hash_commands_match_redis_server_in_resp3() {
    random_sequence(&[], true, 0x2545_f491_4f6c_dd1d, 1500);
}

#[test]
fn random_hash_commands_match_redis_server_with_small_thresholds() {
    // conversions happen often: 4 fields, 16-byte values
    let config = ["--hash-max-listpack-entries", "4", "--hash-max-listpack-value", "16"];
    random_sequence(&config, false, 0xdead_beef_cafe_f00d, 1200);
    random_sequence(&config, true, 0x1234_5678_9abc_def1, 1200);
}

/// Conversion at each threshold, and never back, as redis-server 7.0 does;
/// the `*-ziplist-*` names are aliases.
#[test]
fn encodings_convert_at_redis_thresholds() {
    let ours = TestServer::start(&[]);
    let redis = TestServer::start_redis_server(&[]);
    let mut p = Pair { ours: ours.raw(), redis: redis.raw() };
    // redis-server 7.0's built-in default is 512 (its sample redis.conf
    // says 128)
    p.same(&["CONFIG", "GET", "hash-max-listpack-entries"], "default");
    for i in 0..513 {
        p.same(&["HSET", "big", &format!("f{i}"), "v"], "entries");
        if i >= 510 {
            p.same(&["OBJECT", "ENCODING", "big"], &format!("after {} fields", i + 1));
        }
    }
    assert!(p.ours.cmd(&["OBJECT", "ENCODING", "big"]).contains("hashtable"));
    for i in 0..513 {
        p.same(&["HDEL", "big", &format!("f{i}")], "shrinking");
        if i == 500 {
            p.same(&["OBJECT", "ENCODING", "big"], "a hashtable stays one");
        }
    }
    p.same(&["EXISTS", "big"], "emptied");
    let long64 = "v".repeat(64);
    let long65 = "v".repeat(65);
    p.same(&["HSET", "vals", "f", &long64], "value 64");
    p.same(&["OBJECT", "ENCODING", "vals"], "value 64");
    p.same(&["HSET", "vals", &long65, "x"], "field 65");
    p.same(&["OBJECT", "ENCODING", "vals"], "field 65");
    // HINCRBYFLOAT writes a value and converts too when it is long
    p.same(&["CONFIG", "SET", "hash-max-ziplist-value", "3"], "alias");
    p.same(&["CONFIG", "GET", "hash-max-listpack-value"], "alias");
    p.same(&["HSET", "fl", "f", "1"], "float");
    p.same(&["HINCRBYFLOAT", "fl", "f", "0.125"], "float");
    p.same(&["OBJECT", "ENCODING", "fl"], "float");
    p.same(&["CONFIG", "SET", "hash-max-listpack-entries", "0"], "zero");
    p.same(&["HSET", "zero", "a", "b"], "zero");
    p.same(&["OBJECT", "ENCODING", "zero"], "zero");
}

#[test]
fn hrandfield_counts_and_shapes() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    let fields: Vec<String> = (0..50).map(|i| format!("f{i}")).collect();
    for big in [false, true] {
        let key = if big { "big" } else { "small" };
        let n = if big { 50 } else { 5 };
        let mut c = vec!["HSET", key];
        for f in &fields[..n] {
            c.push(f);
            c.push(f);
        }
        r.cmd(&c);
        if big {
            r.cmd(&["HSET", key, "long", &"x".repeat(100)]);
            r.cmd(&["HDEL", key, "long"]);
            assert!(r.cmd(&["OBJECT", "ENCODING", key]).contains("hashtable"));
        }
        // distinct fields, as many as asked, all of the hash's
        for want in [1usize, 3, n - 1, n, n + 10] {
            let reply = r.cmd(&["HRANDFIELD", key, &want.to_string()]);
            let got = elements(&reply);
            assert_eq!(got.len(), want.min(n), "{key} {want}");
            assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len(), "{key} {want}: repeated field");
        }
        // negative: exactly that many, repeats allowed (and seen)
        let got = elements(&r.cmd(&["HRANDFIELD", key, "-200"]));
        assert_eq!(got.len(), 200);
        assert!(got.iter().collect::<HashSet<_>>().len() < 200);
        // every field comes up over many tries
        let seen: HashSet<String> = (0..20).flat_map(|_| elements(&r.cmd(&["HRANDFIELD", key, "-20"]))).collect();
        assert_eq!(seen.len(), n, "{key}: a fair pick reaches every field");
        // WITHVALUES: flat pairs in RESP2, [field, value] arrays in RESP3
        let flat = elements(&r.cmd(&["HRANDFIELD", key, "-3", "WITHVALUES"]));
        assert_eq!(flat.len(), 6);
        assert!(flat.chunks(2).all(|p| p[0] == p[1]), "a value belongs to its field");
        r.cmd(&["HELLO", "3"]);
        let nested = elements(&r.cmd(&["HRANDFIELD", key, "-3", "WITHVALUES"]));
        assert_eq!(nested.len(), 3);
        assert!(nested.iter().all(|p| p.starts_with("*2\r\n")));
        r.cmd(&["HELLO", "2"]);
    }
    // a huge repeat count is refused rather than built (Redis grows the
    // reply until its memory runs out)
    assert!(r.cmd(&["HRANDFIELD", "small", "-99999999999"]).starts_with("-ERR count is out of range"));
    // HSCAN looks the key up before reading its options, as Redis does
    assert_eq!(r.cmd(&["HSCAN", "missing", "0", "COUNT", "0"]), "*2\r\n$1\r\n0\r\n*0\r\n");
    assert_eq!(r.cmd(&["HSCAN", "small", "0", "COUNT", "0"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["HRANDFIELD", "missing"]), "$-1\r\n");
    assert_eq!(r.cmd(&["HRANDFIELD", "missing", "3"]), "*0\r\n");
    assert_eq!(
        r.cmd(&["HRANDFIELD", "small", "-9223372036854775808"]),
        "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"
    );
    assert_eq!(r.cmd(&["HRANDFIELD", "small", "-9223372036854775807", "WITHVALUES"]), "-ERR value is out of range\r\n");
    assert_eq!(r.cmd(&["HRANDFIELD", "small", "1", "WITHSCORES"]), "-ERR syntax error\r\n");
}

/// HSCAN over a hashtable returns every field that is there throughout,
/// while other fields come and go between calls.
#[test]
fn hscan_sees_every_stable_field_across_writes() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    let stable: Vec<String> = (0..2000).map(|i| format!("stable:{i}")).collect();
    for chunk in stable.chunks(500) {
        let mut cmd = redis::cmd("HSET");
        cmd.arg("h");
        for f in chunk {
            cmd.arg(f).arg("v");
        }
        let _: i64 = cmd.query(&mut c).unwrap();
    }
    let mut seen = HashSet::new();
    let mut cursor = 0u64;
    let mut calls = 0;
    loop {
        let (next, items): (u64, Vec<String>) = redis::cmd("HSCAN").arg("h").arg(cursor).arg("COUNT").arg(50).query(&mut c).unwrap();
        assert!(items.len() % 2 == 0);
        seen.extend(items.chunks(2).map(|p| p[0].clone()));
        // churn: add and remove other fields (the table grows and shrinks)
        for j in 0..40 {
            let _: i64 = redis::cmd("HSET").arg("h").arg(format!("churn:{calls}:{j}")).arg("x").query(&mut c).unwrap();
        }
        if calls > 2 {
            let old: Vec<String> = (0..40).map(|j| format!("churn:{}:{j}", calls - 2)).collect();
            let _: i64 = redis::cmd("HDEL").arg("h").arg(&old).query(&mut c).unwrap();
        }
        calls += 1;
        cursor = next;
        if cursor == 0 {
            break;
        }
        assert!(calls < 10_000, "HSCAN does not finish");
    }
    let missing: Vec<&String> = stable.iter().filter(|f| !seen.contains(*f)).collect();
    assert!(missing.is_empty(), "HSCAN missed {} stable fields, e.g. {:?}", missing.len(), &missing[..missing.len().min(3)]);
}

/// A hash change touches a WATCHed key; a failed write does not.
#[test]
fn hash_writes_touch_watched_keys() {
    let s = TestServer::start(&[]);
    let mut a = s.raw();
    let mut b = s.raw();
    a.cmd(&["HSET", "h", "f", "1"]);
    for (write, touches) in [
        (vec!["HSET", "h", "f", "2"], true),
        (vec!["HSETNX", "h", "f", "3"], false),
        (vec!["HDEL", "h", "nope"], false),
        (vec!["HINCRBY", "h", "f", "1"], true),
        (vec!["HINCRBY", "h", "f", "x"], false),
        (vec!["HDEL", "h", "f"], true),
    ] {
        a.cmd(&["WATCH", "h"]);
        b.cmd(&write);
        a.cmd(&["MULTI"]);
        a.cmd(&["PING"]);
        let exec = a.cmd(&["EXEC"]);
        assert_eq!(exec == "*-1\r\n", touches, "{write:?}: EXEC gave {exec:?}");
    }
    assert_eq!(a.cmd(&["EXISTS", "h"]), ":0\r\n", "the last HDEL emptied the hash");
}

/// DUMP payloads of hashes move both ways between shardis and redis-server
/// (whose small hashes dump as listpacks with integer entries).
#[test]
fn hash_payloads_move_both_ways_with_redis_server() {
    // long values stay in the listpack, so its 12- and 32-bit string
    // encodings are read too
    let config = ["--hash-max-listpack-value", "8000"];
    let ours = TestServer::start(&config);
    let redis = TestServer::start_redis_server(&config);
    let (mut a, mut b) = (ours.raw(), redis.raw());
    let long = "L".repeat(70);
    let huge = "H".repeat(5000);
    let small: Vec<&str> = vec![
        "s",
        "1",
        "n7",
        "127",
        "n13",
        "-4096",
        "n16",
        "30000",
        "n24",
        "-8000000",
        "n32",
        "2000000000",
        "n64",
        "-9000000000000000000",
        "e",
        "",
        long.as_str(),
        "x",
        "y",
        huge.as_str(),
    ];
    let mut big = vec!["HSET".to_string(), "big".to_string()];
    for i in 0..600 {
        big.push(format!("f{i}"));
        big.push(format!("{}", i * 37));
    }
    let big: Vec<&str> = big.iter().map(|s| s.as_str()).collect();
    for redis_first in [true, false] {
        let name = if redis_first { "redis -> shardis" } else { "shardis -> redis" };
        let (from, to) = if redis_first { (&mut b, &mut a) } else { (&mut a, &mut b) };
        let mut hset = vec!["HSET", "small"];
        hset.extend(&small);
        from.cmd(&hset);
        from.cmd(&big);
        from.cmd(&["PEXPIRE", "small", "100000"]);
        for key in ["small", "big"] {
            let payload = bulk_bytes(&from.cmd_raw(&["DUMP", key]));
            if redis_first {
                // RDB_TYPE_HASH_LISTPACK for a small hash, RDB_TYPE_HASH else
                assert_eq!(payload[0], if key == "small" { 16 } else { 4 }, "redis-server's payload type");
            }
            to.cmd(&["DEL", key]);
            let restored = to.cmd_bytes(&[b"RESTORE", key.as_bytes(), b"0", &payload]);
            assert_eq!(restored, "+OK\r\n", "{name} {key}");
            let (x, y) = (from.cmd(&["HGETALL", key]), to.cmd(&["HGETALL", key]));
            if key == "small" {
                assert!(x == y, "{name} {key}: same fields in the same order: {} vs {}", x.len(), y.len());
            } else {
                assert_eq!(unordered(&x, true), unordered(&y, true), "{name} {key}");
            }
            assert_eq!(from.cmd(&["OBJECT", "ENCODING", key]), to.cmd(&["OBJECT", "ENCODING", key]), "{name} {key}");
        }
        from.cmd(&["DEL", "small", "big"]);
        to.cmd(&["DEL", "small", "big"]);
    }
    // a corrupted hash payload is refused without harm
    a.cmd(&["HSET", "h", "f", "v"]);
    let mut payload = bulk_bytes(&a.cmd_raw(&["DUMP", "h"]));
    payload[3] ^= 0x55;
    assert_eq!(a.cmd_bytes(&[b"RESTORE", b"h2", b"0", &payload]), "-ERR DUMP payload version or checksum are wrong\r\n");
}
