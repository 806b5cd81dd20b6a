//! Streams against redis-server 7.0: random command sequences over every
//! stream command and option (explicit, `ms-*` and `*` IDs, MAXLEN and
//! MINID with `=` and `~` and LIMIT, exclusive ranges, consumer groups,
//! XREADGROUP history and NOACK, XCLAIM and XAUTOCLAIM options, XPENDING,
//! XINFO STREAM [FULL] / GROUPS / CONSUMERS, XSETID), compared reply by
//! reply in RESP2 and RESP3 with small node limits so that nodes split and
//! approximate trims cut whole nodes as Redis's do; times (delivery and
//! seen times, idle times) and `radix-tree-nodes` are masked. Also XREAD
//! and XREADGROUP BLOCK woken and timed out, DUMP/RESTORE both ways,
//! keyspace events and the effect log.

mod common;

use common::{Pair, TestServer};
use std::time::Duration;

/// A parsed reply, to mask what depends on time.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Simple(char, String),
    Bulk(Option<String>),
    Agg(char, Option<Vec<V>>),
}

fn parse(b: &[u8], at: &mut usize) -> V {
    let t = b[*at] as char;
    let end = *at + b[*at..].windows(2).position(|w| w == b"\r\n").unwrap();
    let line = String::from_utf8_lossy(&b[*at + 1..end]).into_owned();
    *at = end + 2;
    match t {
        '$' | '=' | '!' => {
            let n: i64 = line.parse().unwrap();
            if n < 0 {
                return V::Bulk(None);
            }
            let s = String::from_utf8_lossy(&b[*at..*at + n as usize]).into_owned();
            *at += n as usize + 2;
            V::Bulk(Some(s))
        }
        '*' | '%' | '~' | '>' => {
            let n: i64 = line.parse().unwrap();
            if n < 0 {
                return V::Agg(t, None);
            }
            let n = if t == '%' { 2 * n } else { n };
            V::Agg(t, Some((0..n).map(|_| parse(b, at)).collect()))
        }
        _ => V::Simple(t, line),
    }
}

fn tree(reply: &str) -> V {
    let mut at = 0;
    parse(reply.as_bytes(), &mut at)
}

/// Masks what depends on the clock: integers that look like Unix
/// milliseconds, and the values after the names Redis gives times.
fn mask(v: &mut V, cmd: &str) {
    if let V::Agg(_, Some(items)) = v {
        let mut i = 0;
        while i < items.len() {
            if let V::Bulk(Some(name)) = &items[i]
                && matches!(name.as_str(), "idle" | "seen-time" | "radix-tree-nodes")
                && i + 1 < items.len()
            {
                items[i + 1] = V::Simple(':', "masked".into());
                i += 2;
                continue;
            }
            mask(&mut items[i], cmd);
            i += 1;
        }
        // XPENDING's extended form: [id, consumer, idle, deliveries]
        if cmd == "XPENDING" && items.len() == 4 && matches!(items[1], V::Bulk(Some(_))) && matches!(items[2], V::Simple(':', _)) {
            items[2] = V::Simple(':', "masked".into());
        }
    }
    if let V::Simple(':', n) = v
        && n.parse::<i64>().is_ok_and(|n| n > 1_000_000_000_000)
    {
        *n = "masked".into();
    }
}

/// Sends `cmd` to both and compares the replies with times masked; the
/// reply's auto IDs (`*`) are compared by shape.
fn same(p: &mut Pair, cmd: &[String], ctx: &str) -> String {
    let args: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
    let (a, b) = (p.ours.cmd(&args), p.redis.cmd(&args));
    let name = cmd[0].to_ascii_uppercase();
    let (mut ta, mut tb) = (tree(&a), tree(&b));
    mask(&mut ta, &name);
    mask(&mut tb, &name);
    assert_eq!(ta, tb, "{ctx}: {cmd:?}\n ours: {a:?}\nredis: {b:?}");
    a
}

fn pair(config: &[&str], resp3: bool) -> (TestServer, TestServer, Pair) {
    let ours = TestServer::start(config);
    let redis = TestServer::start_redis_server(config);
    let mut p = Pair { ours: ours.raw(), redis: redis.raw() };
    if resp3 {
        assert!(p.ours.cmd(&["HELLO", "3"]).starts_with('%'));
        assert!(p.redis.cmd(&["HELLO", "3"]).starts_with('%'));
    }
    (ours, redis, p)
}

fn random_sequence(resp3: bool, seed: u64, rounds: usize) {
    let config = ["--stream-node-max-entries", "4", "--stream-node-max-bytes", "200"];
    let (_o, _r, mut p) = pair(&config, resp3);
    let rng = common::Rng::new(seed);
    let keys = ["s1", "s2", "str"];
    let groups = ["g1", "g2", "nogroup"];
    let consumers = ["alice", "bob", "carol"];
    let fields = ["f", "g", "name", "1", ""];
    let values = ["v", "1", "22", "hello world", "", "-5", "1234567890123"];
    p.ours.cmd(&["SET", "str", "x"]);
    p.redis.cmd(&["SET", "str", "x"]);
    let mut ms = 1u64;
    let (mut added, mut delivered, mut claimed) = (0, 0, 0);
    for round in 0..rounds {
        let pick = |items: &[&str]| rng.pick(items).to_string();
        let r = |n: u64| rng.next() % n;
        let key = if r(10) == 0 { "str".to_string() } else { pick(&keys[..2]) };
        let id_near = |r: &dyn Fn(u64) -> u64, ms: u64| -> String {
            match r(8) {
                0 => "-".into(),
                1 => "+".into(),
                2 => format!("({}-{}", r(ms + 2), r(3)),
                3 => format!("{}", r(ms + 2)),
                4 => "0-0".into(),
                5 => "bad-id".into(),
                _ => format!("{}-{}", r(ms + 2), r(3)),
            }
        };
        let cmd: Vec<String> = match r(20) {
            0..=4 => {
                let mut c = vec!["XADD".to_string(), key.clone()];
                match r(8) {
                    0 => c.extend(["MAXLEN".into(), "~".into(), r(12).to_string()]),
                    1 => c.extend(["MAXLEN".into(), r(10).to_string()]),
                    2 => c.extend(["MINID".into(), "=".into(), format!("{}-0", r(ms + 1))]),
                    3 => c.extend(["MINID".into(), "~".into(), format!("{}", r(ms + 1)), "LIMIT".into(), r(6).to_string()]),
                    4 => c.push("NOMKSTREAM".into()),
                    _ => {}
                }
                ms += r(3);
                c.push(match r(10) {
                    0 => format!("{}-*", ms),
                    1 => format!("{}-{}", ms.saturating_sub(1), r(5)),
                    2 => "0-0".into(),
                    _ => format!("{}-{}", ms, r(4)),
                });
                for _ in 0..=r(3) {
                    c.push(pick(&fields));
                    c.push(pick(&values));
                }
                if r(30) == 0 {
                    c.pop();
                }
                c
            }
            5 => {
                let mut c = vec!["XDEL".to_string(), key.clone()];
                for _ in 0..=r(3) {
                    c.push(format!("{}-{}", r(ms + 1), r(4)));
                }
                c
            }
            6 => {
                let mut c = vec!["XTRIM".to_string(), key.clone()];
                if r(2) == 0 {
                    c.extend(["MAXLEN".into(), pick(&["~", "=", "5"])]);
                } else {
                    c.extend(["MINID".into(), pick(&["~", "="])]);
                }
                c.push(format!("{}", r(ms + 1)));
                if r(4) == 0 {
                    c.extend(["LIMIT".into(), r(5).to_string()]);
                }
                c
            }
            7 | 8 => {
                let name = pick(&["XRANGE", "XREVRANGE"]);
                let mut c = vec![name, key.clone(), id_near(&r, ms), id_near(&r, ms)];
                if r(2) == 0 {
                    c.extend(["COUNT".into(), (r(6) as i64 - 1).to_string()]);
                }
                c
            }
            9 => vec!["XLEN".into(), key.clone()],
            10 => {
                let g = pick(&groups[..2]);
                match r(6) {
                    0 => vec!["XGROUP".into(), "CREATE".into(), key.clone(), g, pick(&["$", "0", "0-0"]), pick(&["MKSTREAM", "ENTRIESREAD"])]
                        .into_iter()
                        .chain((r(3) == 0).then(|| r(5).to_string()))
                        .collect(),
                    1 => vec!["XGROUP".into(), "CREATE".into(), key.clone(), g, format!("{}-0", r(ms + 1))],
                    2 => vec!["XGROUP".into(), "SETID".into(), key.clone(), g, pick(&["$", "0", "-", "1-1"])],
                    3 => vec!["XGROUP".into(), "DESTROY".into(), key.clone(), pick(&groups)],
                    4 => vec!["XGROUP".into(), "CREATECONSUMER".into(), key.clone(), pick(&groups), pick(&consumers)],
                    _ => vec!["XGROUP".into(), "DELCONSUMER".into(), key.clone(), pick(&groups), pick(&consumers)],
                }
            }
            11 | 12 => {
                let mut c = vec!["XREADGROUP".to_string(), "GROUP".into(), pick(&groups), pick(&consumers)];
                if r(2) == 0 {
                    c.extend(["COUNT".into(), r(4).to_string()]);
                }
                if r(4) == 0 {
                    c.push("NOACK".into());
                }
                c.extend(["STREAMS".into(), key.clone(), pick(&[">", ">", "0", "0-0", "$"])]);
                c
            }
            13 => {
                let mut c = vec!["XACK".to_string(), key.clone(), pick(&groups)];
                for _ in 0..=r(3) {
                    c.push(format!("{}-{}", r(ms + 1), r(4)));
                }
                c
            }
            14 => {
                let mut c = vec!["XCLAIM".to_string(), key.clone(), pick(&groups), pick(&consumers), pick(&["0", "0", "100000", "-1", "x"])];
                for _ in 0..=r(2) {
                    c.push(format!("{}-{}", r(ms + 1), r(4)));
                }
                for _ in 0..r(3) {
                    match r(6) {
                        0 => c.push("JUSTID".into()),
                        1 => c.push("FORCE".into()),
                        2 => c.extend(["RETRYCOUNT".into(), r(5).to_string()]),
                        3 => c.extend(["LASTID".into(), format!("{}-0", r(ms + 1))]),
                        4 => c.extend(["IDLE".into(), "0".into()]),
                        _ => c.push("BOGUS".into()),
                    }
                }
                c
            }
            15 => {
                let mut c =
                    vec!["XAUTOCLAIM".to_string(), key.clone(), pick(&groups), pick(&consumers), pick(&["0", "0", "100000"]), pick(&["0", "-", "(1-0", "2"])];
                if r(2) == 0 {
                    c.extend(["COUNT".into(), pick(&["1", "2", "3", "0"])]);
                }
                if r(3) == 0 {
                    c.push("JUSTID".into());
                }
                c
            }
            16 => {
                let mut c = vec!["XPENDING".to_string(), key.clone(), pick(&groups)];
                if r(2) == 0 {
                    if r(3) == 0 {
                        c.extend(["IDLE".into(), "0".into()]);
                    }
                    c.extend([id_near(&r, ms), id_near(&r, ms), r(5).to_string()]);
                    if r(2) == 0 {
                        c.push(pick(&consumers));
                    }
                }
                c
            }
            17 => match r(4) {
                0 => vec!["XINFO".into(), "STREAM".into(), key.clone()],
                1 => vec!["XINFO".into(), "STREAM".into(), key.clone(), "FULL".into(), "COUNT".into(), r(4).to_string()],
                2 => vec!["XINFO".into(), "GROUPS".into(), key.clone()],
                _ => vec!["XINFO".into(), "CONSUMERS".into(), key.clone(), pick(&groups)],
            },
            18 => {
                let mut c = vec!["XSETID".to_string(), key.clone(), format!("{}-{}", ms + r(3), r(3))];
                if r(2) == 0 {
                    c.extend(["ENTRIESADDED".into(), r(30).to_string()]);
                }
                if r(3) == 0 {
                    c.extend(["MAXDELETEDID".into(), format!("{}-0", r(ms + 1))]);
                }
                c
            }
            _ => {
                let mut c = vec!["XREAD".to_string()];
                if r(2) == 0 {
                    c.extend(["COUNT".into(), r(4).to_string()]);
                }
                c.push("STREAMS".into());
                let n = 1 + r(2) as usize;
                let ks: Vec<String> = (0..n).map(|_| pick(&keys)).collect();
                c.extend(ks);
                for _ in 0..n {
                    c.push(pick(&["0", "$", "1-1", "3"]));
                }
                c
            }
        };
        let reply = same(&mut p, &cmd, &format!("seed {seed} round {round} resp3={resp3}"));
        let name = cmd[0].as_str();
        if name == "XADD" && reply.starts_with('$') {
            added += 1;
        }
        if name == "XREADGROUP" && reply.len() > 40 {
            delivered += 1;
        }
        if (name == "XCLAIM" || name == "XAUTOCLAIM") && reply.len() > 30 {
            claimed += 1;
        }
        if round % 25 == 24 {
            for k in &keys[..2] {
                same(&mut p, &["XINFO".into(), "STREAM".into(), k.to_string(), "FULL".into()], "periodic check");
                same(&mut p, &["XRANGE".into(), k.to_string(), "-".into(), "+".into()], "periodic check");
            }
        }
    }
    // the sequence exercised what it is for
    assert!(added > rounds / 10 && delivered > rounds / 50 && claimed > rounds / 100, "added {added}, delivered {delivered}, claimed {claimed}");
}

#[test]
fn random_stream_commands_match_redis_server_in_resp2() {
    let extra: u64 = std::env::var("STREAM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    for seed in [1, 2, 3].into_iter().chain(100..100 + extra) {
        random_sequence(false, seed, 500);
    }
}

#[test]
fn random_stream_commands_match_redis_server_in_resp3() {
    for seed in [11, 12] {
        random_sequence(true, seed, 500);
    }
}

/// Errors and edge cases Redis words its own way.
#[test]
fn errors_and_edges_match_redis_server() {
    let (_o, _r, mut p) = pair(&[], false);
    let s = |line: &str| line.split(' ').map(String::from).collect::<Vec<_>>();
    for line in [
        "XADD s 0-0 f v",
        "XADD s 1-1 f",
        "XADD s 1-1",
        "XADD s MAXLEN -1 * f v",
        "XADD s MAXLEN 1 MINID 1 * f v",
        "XADD s LIMIT 5 * f v",
        "XADD s MAXLEN 5 LIMIT 5 * f v",
        "XADD s NOMKSTREAM * f v",
        "XADD s 18446744073709551615-18446744073709551615 f v",
        "XADD s * f v",
        "XADD s 5 f v",
        "XTRIM s",
        "XTRIM s FOO 1",
        "XTRIM s MAXLEN x",
        "XRANGE s (0-0 +",
        "XRANGE s - (0-0",
        "XRANGE s - + COUNT",
        "XRANGE s - + COUNT x",
        "XRANGE s - + FOO 1",
        "XREAD STREAMS s",
        "XREAD COUNT 1 s 0",
        "XREAD GROUP g c STREAMS s 0",
        "XREAD NOACK STREAMS s 0",
        "XREAD STREAMS s >",
        "XREADGROUP STREAMS s >",
        "XREADGROUP GROUP g c STREAMS s >",
        "XGROUP CREATE nokey g $",
        "XGROUP CREATE s g $",
        "XGROUP CREATE s g $",
        "XGROUP CREATE s g2 $ ENTRIESREAD -5",
        "XGROUP CREATE s g3 $ BOGUS",
        "XGROUP SETID s nog $",
        "XGROUP BOGUS s g",
        "XGROUP HELP",
        "XGROUP CREATE s",
        "XREADGROUP GROUP g c STREAMS s $",
        "XREADGROUP GROUP g c BLOCK -1 STREAMS s >",
        "XREAD BLOCK x STREAMS s 0",
        "XINFO HELP",
        "XINFO STREAM nokey",
        "XINFO STREAM s FULL COUNT",
        "XINFO STREAM s BOGUS",
        "XINFO CONSUMERS s nog",
        "XINFO BOGUS s",
        "XPENDING s nog",
        "XPENDING s g - +",
        "XPENDING s g IDLE x - + 1",
        "XPENDING s g IDLE 5 - +",
        "XCLAIM s nog c 0 1-1",
        "XCLAIM s g c x 1-1",
        "XCLAIM s g c 0 1-1 IDLE x",
        "XAUTOCLAIM s g c 0 0 COUNT 0",
        "XAUTOCLAIM s nog c 0 0",
        "XSETID s 1-1",
        "XSETID nokey 1-1",
        "XSETID s 99999999999999-0 ENTRIESADDED 0",
        "XSETID s 99999999999999-0 MAXDELETEDID 999999999999999-0",
        "XDEL s bad",
        "XACK s g bad",
        "XLEN str",
        "SET str x",
        "XADD str * f v",
        "XRANGE str - +",
        "XREAD STREAMS str 0",
        "TYPE s",
        "OBJECT ENCODING s",
    ] {
        same(&mut p, &s(line), line);
    }
}

fn wait_blocked(r: &mut common::Raw, n: usize) {
    for _ in 0..500 {
        if common::blocked_clients(r) >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("never blocked");
}

/// XREAD BLOCK and XREADGROUP BLOCK: woken by an XADD (all readers of the
/// key, with what arrived after `$`), timed out with a null array, and
/// answered at once inside MULTI.
#[test]
fn blocking_reads_wake_time_out_and_refuse_to_wait_in_multi() {
    for server in [TestServer::start(&[]), TestServer::start_redis_server(&[])] {
        let mut c = server.raw();
        c.cmd(&["XADD", "s", "1-1", "old", "x"]);
        c.cmd(&["XGROUP", "CREATE", "s", "g", "$"]);
        let mut readers: Vec<common::Raw> = (0..3).map(|_| server.raw()).collect();
        readers[0].send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
        readers[1].send(&["XREAD", "COUNT", "5", "BLOCK", "10000", "STREAMS", "other", "s", "$", "$"]);
        readers[2].send(&["XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "s", ">"]);
        wait_blocked(&mut c, 3);
        assert_eq!(c.cmd(&["XADD", "s", "2-1", "new", "y"]), "$3\r\n2-1\r\n");
        let entry = "*2\r\n$3\r\n2-1\r\n*2\r\n$3\r\nnew\r\n$1\r\ny\r\n";
        for r in &mut readers {
            assert_eq!(r.read_reply(), format!("*1\r\n*2\r\n$1\r\ns\r\n*1\r\n{entry}"));
        }
        assert_eq!(c.cmd(&["XPENDING", "s", "g"]), "*4\r\n:1\r\n$3\r\n2-1\r\n$3\r\n2-1\r\n*1\r\n*2\r\n$5\r\nalice\r\n$1\r\n1\r\n");
        // a timeout
        assert_eq!(readers[0].cmd(&["XREAD", "BLOCK", "50", "STREAMS", "s", "$"]), "*-1\r\n");
        assert_eq!(readers[0].cmd(&["XREADGROUP", "GROUP", "g", "bob", "BLOCK", "50", "STREAMS", "s", ">"]), "*-1\r\n");
        // inside MULTI: at once
        c.cmd(&["MULTI"]);
        c.cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
        assert_eq!(c.cmd(&["EXEC"]), "*1\r\n*-1\r\n");
        // a group destroyed under a blocked reader
        readers[1].send(&["XREADGROUP", "GROUP", "g", "carol", "BLOCK", "0", "STREAMS", "s", ">"]);
        wait_blocked(&mut c, 1);
        assert_eq!(c.cmd(&["XGROUP", "DESTROY", "s", "g"]), ":1\r\n");
        assert_eq!(readers[1].read_reply(), "-NOGROUP the consumer group this client was blocked on no longer exists\r\n");
    }
}

/// DUMP payloads move both ways: a stream with deleted entries, several
/// nodes and consumer groups with pending entries restores to the same
/// XINFO STREAM FULL.
#[test]
fn dump_payloads_move_both_ways() {
    let ours = TestServer::start(&["--stream-node-max-entries", "3"]);
    let redis = TestServer::start_redis_server(&["--stream-node-max-entries", "3"]);
    let (mut a, mut b) = (ours.raw(), redis.raw());
    for c in [&mut a, &mut b] {
        for i in 1..=10 {
            c.cmd(&["XADD", "s", &format!("{i}-0"), "f", &i.to_string(), if i % 3 == 0 { "extra" } else { "f2" }, "v"]);
        }
        c.cmd(&["XDEL", "s", "2-0", "7-0"]);
        c.cmd(&["XGROUP", "CREATE", "s", "g", "0"]);
        c.cmd(&["XGROUP", "CREATE", "s", "h", "5-0", "ENTRIESREAD", "3"]);
        c.cmd(&["XREADGROUP", "GROUP", "g", "alice", "COUNT", "3", "STREAMS", "s", ">"]);
        c.cmd(&["XREADGROUP", "GROUP", "g", "bob", "COUNT", "2", "STREAMS", "s", ">"]);
        c.cmd(&["XACK", "s", "g", "3-0"]);
        c.cmd(&["XGROUP", "CREATECONSUMER", "s", "h", "idle"]);
        c.cmd(&["XADD", "empty", "1-1", "f", "v"]);
        c.cmd(&["XDEL", "empty", "1-1"]);
    }
    let mut p = Pair { ours: a, redis: b };
    for key in ["s", "empty"] {
        let from_ours = common::bulk_bytes(&p.ours.cmd_raw(&["DUMP", key]));
        let from_redis = common::bulk_bytes(&p.redis.cmd_raw(&["DUMP", key]));
        // each restores the other's payload
        assert_eq!(p.ours.cmd_bytes(&[b"RESTORE", b"copy", b"0", &from_redis]), "+OK\r\n", "{key}: redis's payload");
        assert_eq!(p.redis.cmd_bytes(&[b"RESTORE", b"copy", b"0", &from_ours]), "+OK\r\n", "{key}: our payload");
        for c in [&["XINFO", "STREAM", "copy", "FULL"][..], &["XINFO", "STREAM", key, "FULL"], &["XRANGE", "copy", "-", "+"], &["XINFO", "GROUPS", "copy"]] {
            same(&mut p, &c.iter().map(|s| s.to_string()).collect::<Vec<_>>(), key);
        }
        // and the payloads restore on their own servers too
        assert_eq!(p.ours.cmd_bytes(&[b"RESTORE", b"again", b"0", &from_ours]), "+OK\r\n");
        assert_eq!(p.redis.cmd_bytes(&[b"RESTORE", b"again", b"0", &from_redis]), "+OK\r\n");
        same(&mut p, &["XINFO".into(), "STREAM".into(), "again".into(), "FULL".into()], "own payload");
        p.ours.cmd(&["DEL", "copy", "again"]);
        p.redis.cmd(&["DEL", "copy", "again"]);
    }
}

/// Through the proxy: stream commands go to their key's node; an XREAD
/// over keys on several nodes is refused with CROSSSLOT, one over keys a
/// hash tag keeps together works; XREAD and XREADGROUP BLOCK wait on the
/// client's own node connection while other clients' commands flow, and
/// are woken by an XADD through another proxy client.
#[test]
fn streams_through_the_proxy() {
    let nodes: Vec<TestServer> = (0..3).map(|_| TestServer::start(&[])).collect();
    let proxy = TestServer::start_proxy(&common::addrs(&nodes), &["--hash", "md5", "--hash-tag", "{}"]);
    let mut c = proxy.raw();
    let keys: Vec<String> = (0..30).map(|i| format!("stream:{i}")).collect();
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(c.cmd(&["XADD", k, &format!("{}-1", i + 1), "n", &i.to_string()]), format!("${}\r\n{}-1\r\n", format!("{}-1", i + 1).len(), i + 1));
    }
    // each key is on one node, and the keys are spread
    let per_node: Vec<usize> = nodes.iter().map(|n| n.raw().cmd(&["DBSIZE"]).trim_start_matches(':').trim().parse().unwrap()).collect();
    assert_eq!(per_node.iter().sum::<usize>(), keys.len());
    assert!(per_node.iter().all(|&n| n > 0), "{per_node:?}");
    assert_eq!(c.cmd(&["XLEN", &keys[3]]), ":1\r\n");
    assert_eq!(c.cmd(&["XGROUP", "CREATE", &keys[3], "g", "0"]), "+OK\r\n");
    assert!(c.cmd(&["XREADGROUP", "GROUP", "g", "alice", "STREAMS", &keys[3], ">"]).contains("4-1"));
    assert_eq!(c.cmd(&["XACK", &keys[3], "g", "4-1"]), ":1\r\n");
    assert!(c.cmd(&["XINFO", "STREAM", &keys[3]]).contains("entries-added"));
    // several keys: one node or CROSSSLOT
    let mut all = vec!["XREAD", "STREAMS"];
    all.extend(keys.iter().map(|k| k.as_str()));
    all.extend(keys.iter().map(|_| "0"));
    assert!(c.cmd(&all).starts_with("-CROSSSLOT"), "keys on several nodes");
    for k in ["{u}a", "{u}b"] {
        c.cmd(&["XADD", k, "1-1", "f", k]);
    }
    let both = c.cmd(&["XREAD", "STREAMS", "{u}a", "{u}b", "0", "0"]);
    assert!(both.contains("{u}a") && both.contains("{u}b"), "{both}");
    // blocking reads wait on their own connections
    let mut waiters: Vec<common::Raw> = (0..2).map(|_| proxy.raw()).collect();
    waiters[0].send(&["XREAD", "BLOCK", "0", "STREAMS", &keys[5], "$"]);
    waiters[1].send(&["XREADGROUP", "GROUP", "g", "bob", "BLOCK", "0", "STREAMS", &keys[3], ">"]);
    // (each blocked read waits on the node holding its key)
    let mut raws: Vec<common::Raw> = nodes.iter().map(|n| n.raw()).collect();
    for _ in 0..500 {
        if raws.iter_mut().map(common::blocked_clients).sum::<usize>() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(raws.iter_mut().map(common::blocked_clients).sum::<usize>(), 2);
    for _ in 0..20 {
        assert_eq!(c.cmd(&["XLEN", &keys[7]]), ":1\r\n", "other commands flow meanwhile");
    }
    assert_eq!(c.cmd(&["XADD", &keys[5], "100-1", "late", "1"]), "$5\r\n100-1\r\n");
    assert!(waiters[0].read_reply().contains("100-1"));
    assert_eq!(c.cmd(&["XADD", &keys[3], "100-1", "late", "2"]), "$5\r\n100-1\r\n");
    assert!(waiters[1].read_reply().contains("100-1"));
    // a timeout through the proxy
    assert_eq!(waiters[0].cmd(&["XREAD", "BLOCK", "50", "STREAMS", &keys[5], "$"]), "*-1\r\n");
}
