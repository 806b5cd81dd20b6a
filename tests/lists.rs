//! Lists, checked against redis-server 7.0 byte for byte: random command
//! sequences in RESP2 and RESP3 (errors, wrong types, edge indexes, both
//! encodings of ours, which Redis reports as `quicklist` alike), the whole
//! list compared after every step.

mod common;

use common::{Pair, TestServer, bulk_bytes, xorshift};

fn pick<'a>(next: &mut dyn FnMut() -> u64, from: &[&'a str]) -> &'a str {
    from[(next() % from.len() as u64) as usize]
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
    let keys = ["l1", "l2", "s"];
    let indexes = ["0", "1", "-1", "-2", "3", "7", "-100", "100", "x", "9223372036854775807", "-9223372036854775808"];
    for round in 0..rounds {
        let ctx = format!("resp3={resp3} config={config:?} round {round}");
        let key = keys[(next() % 3) as usize];
        let other = keys[(next() % 3) as usize];
        let elem = |n: &mut dyn FnMut() -> u64| match n() % 8 {
            0 => "e".repeat(10 + (n() % 90) as usize),
            1 => String::new(),
            2 => format!("{}", n() % 100_000),
            // integers of every listpack width, and texts that look like
            // integers but are not canonical (kept as strings)
            3 => [
                "-1",
                "127",
                "128",
                "-4096",
                "4096",
                "-32769",
                "8388608",
                "-2147483649",
                "9223372036854775807",
                "-9223372036854775808",
                "-0",
                "007",
                "+5",
                "9223372036854775808",
            ][(n() % 14) as usize]
                .to_string(),
            _ => format!("v{}", n() % 6),
        };
        let e = elem(&mut next);
        let i1 = pick(&mut next, &indexes).to_string();
        let i2 = pick(&mut next, &indexes).to_string();
        let cmd: Vec<String> = match next() % 26 {
            0..=3 => {
                let mut c = vec![pick(&mut next, &["LPUSH", "RPUSH", "RPUSH"]).to_string(), key.into()];
                for _ in 0..1 + next() % 4 {
                    c.push(elem(&mut next));
                }
                c
            }
            4 => vec![pick(&mut next, &["LPUSHX", "RPUSHX"]).into(), key.into(), e],
            5 => vec![pick(&mut next, &["LPOP", "RPOP"]).into(), key.into()],
            6 => vec![pick(&mut next, &["LPOP", "RPOP"]).into(), key.into(), pick(&mut next, &["0", "1", "3", "100", "-1", "x"]).into()],
            7 => vec!["LLEN".into(), key.into()],
            8 => vec!["LINDEX".into(), key.into(), i1],
            9 => vec!["LSET".into(), key.into(), i1, e],
            10 => vec!["LINSERT".into(), key.into(), pick(&mut next, &["BEFORE", "after", "middle"]).into(), format!("v{}", next() % 6), e],
            11 | 12 => vec!["LRANGE".into(), key.into(), i1, i2],
            13 => vec!["LTRIM".into(), key.into(), pick(&mut next, &["0", "1", "-5", "2"]).into(), pick(&mut next, &["-1", "-2", "10", "0"]).into()],
            14 => vec![
                "LREM".into(),
                key.into(),
                pick(&mut next, &["0", "1", "-1", "2", "-2", "x"]).into(),
                pick(&mut next, &["v1", "v3", "128", "-1", "007", "-9223372036854775808"]).into(),
            ],
            15 => {
                let mut c = vec!["LPOS".to_string(), key.into(), format!("v{}", next() % 6)];
                for _ in 0..next() % 3 {
                    c.push(pick(&mut next, &["RANK", "COUNT", "MAXLEN", "bogus"]).into());
                    c.push(pick(&mut next, &["1", "2", "-1", "-3", "0", "x"]).into());
                }
                c
            }
            16 => vec!["LMOVE".into(), key.into(), other.into(), pick(&mut next, &["LEFT", "right", "up"]).into(), pick(&mut next, &["left", "RIGHT"]).into()],
            17 => vec!["RPOPLPUSH".into(), key.into(), other.into()],
            18 => {
                let mut c = vec!["LMPOP".to_string(), pick(&mut next, &["1", "2", "3", "0", "x"]).into(), key.into(), other.into()];
                c.push(pick(&mut next, &["LEFT", "RIGHT", "sideways"]).into());
                if next().is_multiple_of(2) {
                    c.push("COUNT".into());
                    c.push(pick(&mut next, &["1", "2", "10", "0", "-1"]).into());
                }
                c
            }
            19 => vec!["SET".into(), "s".into(), e],
            20 => vec!["DEL".into(), key.into()],
            21 => vec!["TYPE".into(), key.into()],
            22 => vec!["GET".into(), key.into()],
            23 => vec![pick(&mut next, &["LPUSH", "LPOP", "LINDEX", "LSET", "LRANGE", "LMPOP"]).into(), key.into()],
            24 => vec!["EXPIRE".into(), key.into(), "1000".into()],
            _ => vec!["TTL".into(), key.into()],
        };
        let c: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
        p.same(&c, &ctx);
        for k in ["l1", "l2"] {
            p.same(&["LRANGE", k, "0", "-1"], &ctx);
            p.same(&["OBJECT", "ENCODING", k], &ctx);
        }
    }
    for key in keys {
        p.same(&["TYPE", key], "end");
        p.same(&["TTL", key], "end");
    }
}

#[test]
fn random_list_commands_match_redis_server_in_resp2() {
    random_sequence(&[], false, 0x9e37_79b9_7f4a_7c15, 1500);
}

#[test]
fn random_list_commands_match_redis_server_in_resp3() {
    random_sequence(&[], true, 0x2545_f491_4f6c_dd1d, 1500);
}

#[test]
fn random_list_commands_match_redis_server_with_small_nodes() {
    // nodes of 3 elements: splits, merges and the way back inline happen often
    random_sequence(&["--list-max-listpack-size", "3"], false, 0xdead_beef_cafe_f00d, 1200);
    random_sequence(&["--list-max-listpack-size", "3"], true, 0x1234_5678_9abc_def1, 1200);
}

/// A long list (many nodes) answers index and range commands as Redis does
/// from both ends, and its config names and aliases are Redis's.
#[test]
fn long_lists_and_config_names() {
    let ours = TestServer::start(&[]);
    let redis = TestServer::start_redis_server(&[]);
    let mut p = Pair { ours: ours.raw(), redis: redis.raw() };
    for name in ["list-max-listpack-size", "list-max-ziplist-size", "list-compress-depth"] {
        p.same(&["CONFIG", "GET", name], name);
    }
    p.same(&["CONFIG", "SET", "list-max-ziplist-size", "-1"], "alias");
    p.same(&["CONFIG", "GET", "list-max-listpack-size"], "alias");
    p.same(&["CONFIG", "SET", "list-max-listpack-size", "x"], "bad");
    for chunk in 0..20 {
        let mut c = vec!["RPUSH".to_string(), "big".into()];
        c.extend((0..500).map(|i| format!("element-{}-{}", chunk, i)));
        let c: Vec<&str> = c.iter().map(|s| s.as_str()).collect();
        p.same(&c, "fill");
    }
    p.same(&["OBJECT", "ENCODING", "big"], "encoding");
    for i in ["0", "1", "4999", "5000", "9999", "10000", "-1", "-10000", "-10001", "2500", "7777"] {
        p.same(&["LINDEX", "big", i], i);
        p.same(&["LRANGE", "big", i, &format!("{}", i.parse::<i64>().unwrap() + 3)], i);
    }
    p.same(&["LSET", "big", "5000", "middle"], "lset");
    p.same(&["LINSERT", "big", "BEFORE", "middle", "before-middle"], "linsert");
    p.same(&["LPOS", "big", "middle"], "lpos");
    p.same(&["LPOS", "big", "element-3-7", "RANK", "-1", "COUNT", "0", "MAXLEN", "9000"], "lpos");
    p.same(&["LREM", "big", "-1", "element-19-499"], "lrem");
    p.same(&["LTRIM", "big", "1000", "-1000"], "ltrim");
    p.same(&["LLEN", "big"], "llen");
    p.same(&["LRANGE", "big", "0", "-1"], "all");
    p.same(&["LPOP", "big", "3000"], "pop");
    p.same(&["RPOP", "big", "3000"], "pop");
    p.same(&["LRANGE", "big", "0", "-1"], "all");
    p.same(&["LMPOP", "2", "nothing", "big", "RIGHT", "COUNT", "100000"], "drain");
    p.same(&["EXISTS", "big"], "gone");
}

/// DUMP of redis-server (a quicklist of listpacks, every integer and string
/// encoding) restores here, and ours restores there; COPY, RENAME and MOVE
/// carry lists with their TTL.
#[test]
fn list_payloads_move_both_ways_with_redis_server() {
    let ours = TestServer::start(&[]);
    let redis = TestServer::start_redis_server(&[]);
    let (mut a, mut b) = (ours.raw(), redis.raw());
    let long = "L".repeat(70);
    let huge = "H".repeat(5000);
    let small = ["s", "1", "127", "-4096", "30000", "-8000000", "2000000000", "-9000000000000000000", "", long.as_str(), huge.as_str(), "x"];
    let mut big = vec!["RPUSH".to_string(), "big".to_string()];
    big.extend((0..5000).map(|i| format!("{}", i * 37)));
    let big: Vec<&str> = big.iter().map(|s| s.as_str()).collect();
    for redis_first in [true, false] {
        let name = if redis_first { "redis -> shardis" } else { "shardis -> redis" };
        let (from, to) = if redis_first { (&mut b, &mut a) } else { (&mut a, &mut b) };
        let mut push = vec!["RPUSH", "small"];
        push.extend(&small);
        from.cmd(&push);
        from.cmd(&big);
        from.cmd(&["PEXPIRE", "small", "100000"]);
        for key in ["small", "big"] {
            let payload = bulk_bytes(&from.cmd_raw(&["DUMP", key]));
            assert_eq!(payload[0], if redis_first { 18 } else { 1 }, "{name}: payload type");
            to.cmd(&["DEL", key]);
            let restored = to.cmd_bytes(&[b"RESTORE", key.as_bytes(), b"0", &payload]);
            assert_eq!(restored, "+OK\r\n", "{name} {key}");
            let (x, y) = (from.cmd(&["LRANGE", key, "0", "-1"]), to.cmd(&["LRANGE", key, "0", "-1"]));
            assert!(x == y, "{name} {key}: same elements in order ({} vs {} bytes)", x.len(), y.len());
            assert_eq!(to.cmd(&["OBJECT", "ENCODING", key]), "$9\r\nquicklist\r\n");
        }
        from.cmd(&["DEL", "small", "big"]);
        to.cmd(&["DEL", "small", "big"]);
    }
    // copies and moves keep elements and TTL
    a.cmd(&push_cmd("src", 20_000));
    a.cmd(&["PEXPIRE", "src", "500000"]);
    assert_eq!(a.cmd(&["COPY", "src", "copy"]), ":1\r\n");
    assert_eq!(a.cmd(&["LPUSH", "copy", "only-in-copy"]), ":20001\r\n");
    assert_eq!(a.cmd(&["LLEN", "src"]), ":20000\r\n", "a copy is deep");
    assert_eq!(a.cmd(&["RENAME", "src", "renamed"]), "+OK\r\n");
    let pttl = a.cmd(&["PTTL", "renamed"]);
    let pttl: u64 = pttl.trim().trim_start_matches(':').parse().unwrap();
    assert!((400_000..=500_000).contains(&pttl), "{pttl}");
    assert_eq!(a.cmd(&["MOVE", "renamed", "3"]), ":1\r\n");
    a.cmd(&["SELECT", "3"]);
    assert_eq!(a.cmd(&["LINDEX", "renamed", "-1"]), "$7\r\ne-19999\r\n");
    assert_eq!(a.cmd(&["TYPE", "renamed"]), "+list\r\n");
}

fn push_cmd(key: &str, n: usize) -> Vec<&'static str> {
    let mut c: Vec<&'static str> = vec!["RPUSH", Box::leak(key.to_string().into_boxed_str())];
    c.extend((0..n).map(|i| &*Box::leak(format!("e-{i}").into_boxed_str())));
    c
}
