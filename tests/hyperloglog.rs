//! HyperLogLog, checked against redis-server 7.0: the same elements give
//! the same bytes (sparse and dense, cache included), so PFCOUNT agrees
//! and payloads move both ways; random PFADD / PFCOUNT / PFMERGE sequences
//! compared byte for byte; corrupt and foreign strings refused as Redis
//! refuses them; the error on a million elements within Redis's bounds.

mod common;

use common::{Pair, TestServer, xorshift};

fn random_sequence(config: &[&str], resp3: bool, seed: u64, rounds: usize) {
    let ours = TestServer::start(config);
    let redis = TestServer::start_redis_server(config);
    let mut p = Pair { ours: ours.raw(), redis: redis.raw() };
    if resp3 {
        p.ours.cmd(&["HELLO", "3"]);
        p.redis.cmd(&["HELLO", "3"]);
    }
    let mut next = xorshift(seed);
    let keys = ["h1", "h2", "h3", "str"];
    p.same(&["SET", "str", "not a hll"], "setup");
    for round in 0..rounds {
        let ctx = format!("resp3={resp3} config={config:?} round {round}");
        let key = keys[(next() % 4) as usize];
        let cmd: Vec<String> = match next() % 10 {
            0..=4 => {
                let mut c = vec!["PFADD".to_string(), key.into()];
                let n = if next().is_multiple_of(8) { 200 + next() % 600 } else { next() % 6 };
                let base = next() % 5000;
                c.extend((0..n).map(|i| format!("e{}", base + i * 7)));
                c
            }
            5 | 6 => vec!["PFCOUNT".into(), key.into()],
            7 => vec!["PFCOUNT".into(), key.into(), keys[(next() % 3) as usize].into(), "nokey".into()],
            8 => vec!["PFMERGE".into(), keys[(next() % 4) as usize].into(), key.into(), keys[(next() % 3) as usize].into()],
            _ => vec!["PFDEBUG".into(), ["ENCODING", "DECODE", "TODENSE"][(next() % 3) as usize].into(), key.into()],
        };
        let c: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
        p.same(&c, &ctx);
        // the representation itself, byte for byte
        let (a, b) = (p.ours.cmd_raw(&["GET", key]), p.redis.cmd_raw(&["GET", key]));
        assert!(a == b, "{ctx}: {c:?}: the strings differ ({} vs {} bytes)", a.len(), b.len());
    }
    for key in keys {
        p.same(&["PFCOUNT", key], "end");
    }
}

#[test]
fn random_hll_commands_match_redis_server_byte_for_byte() {
    random_sequence(&[], false, 0x9e37_79b9_7f4a_7c15, 600);
}

#[test]
fn random_hll_commands_match_redis_server_in_resp3_with_small_sparse_limit() {
    random_sequence(&["--hll-sparse-max-bytes", "300"], true, 0x2545_f491_4f6c_dd1d, 600);
}

/// Payloads move both ways and count the same; GETREG agrees; foreign and
/// corrupt strings are refused with Redis's errors.
#[test]
fn hll_payloads_registers_and_errors_match_redis_server() {
    let ours = TestServer::start(&[]);
    let redis = TestServer::start_redis_server(&[]);
    let mut p = Pair { ours: ours.raw(), redis: redis.raw() };
    let elements: Vec<String> = (0..3000).map(|i| format!("user:{i}")).collect();
    let mut c = vec!["PFADD", "big"];
    c.extend(elements.iter().map(|s| s.as_str()));
    p.same(&c, "big");
    p.same(&["PFDEBUG", "ENCODING", "big"], "dense");
    p.same(&["PFADD", "small", "a", "b", "c"], "small");
    for key in ["big", "small"] {
        p.same(&["PFDEBUG", "GETREG", key], key);
        for from_ours in [true, false] {
            let (from, to) = if from_ours { (&mut p.ours, &mut p.redis) } else { (&mut p.redis, &mut p.ours) };
            let payload = common::bulk_bytes(&from.cmd_raw(&["DUMP", key]));
            let copy = format!("{key}:copy");
            assert_eq!(to.cmd_bytes(&[b"RESTORE", copy.as_bytes(), b"0", &payload]), "+OK\r\n");
            assert_eq!(to.cmd(&["PFCOUNT", &copy]), from.cmd(&["PFCOUNT", key]), "{key}: the same count after moving");
            to.cmd(&["DEL", &copy]);
        }
    }
    // errors
    p.same(&["SET", "plain", "hello world, not an hll"], "plain");
    p.same(&["PFADD", "plain", "x"], "foreign");
    p.same(&["PFCOUNT", "plain"], "foreign");
    p.same(&["PFMERGE", "plain", "small"], "foreign");
    p.same(&["LPUSH", "list", "x"], "list");
    p.same(&["PFADD", "list", "x"], "wrong type");
    p.same(&["PFCOUNT", "small", "list"], "wrong type");
    p.same(&["PFDEBUG", "ENCODING", "nokey"], "missing");
    p.same(&["PFDEBUG", "NOPE", "small"], "unknown");
    p.same(&["PFDEBUG", "DECODE", "big"], "dense decode");
    // a sparse HLL whose opcodes cover too few registers is corrupt
    p.same(&["PFADD", "bad", "a"], "bad");
    p.same(&["SETRANGE", "bad", "16", "\u{1}"], "corrupt it");
    p.same(&["PFCOUNT", "bad"], "corrupt");
    p.same(&["PFADD", "bad", "zzz"], "corrupt");
    p.same(&["PFCOUNT", "bad", "small"], "corrupt");
    // a dense one of the wrong size is not an HLL at all
    p.same(&["APPEND", "big", "x"], "grow");
    p.same(&["PFCOUNT", "big"], "wrong size");
    assert!(p.ours.cmd(&["PFSELFTEST"]) == "+OK\r\n");
}

/// A million distinct elements: the estimate within Redis's documented
/// error (0.81% standard error; 5 sigma here), and exactly redis-server's.
#[test]
fn a_million_elements_count_within_the_error_bound() {
    let ours = TestServer::start(&[]);
    let redis = TestServer::start_redis_server(&[]);
    let mut conns = [ours.conn(), redis.conn()];
    for c in &mut conns {
        for chunk in 0..1000 {
            let mut cmd = redis::cmd("PFADD");
            cmd.arg("million");
            for i in 0..1000 {
                cmd.arg(format!("element:{}", chunk * 1000 + i));
            }
            let _: i64 = cmd.query(c).unwrap();
        }
    }
    let counts: Vec<i64> = conns.iter_mut().map(|c| redis::cmd("PFCOUNT").arg("million").query(c).unwrap()).collect();
    assert_eq!(counts[0], counts[1], "the same estimate as redis-server");
    let err = (counts[0] as f64 - 1e6).abs() / 1e6;
    assert!(err < 5.0 * 0.0081, "estimate {} is {err:.4} off", counts[0]);
}
