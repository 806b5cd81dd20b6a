//! The effect log, proven by replay: a random workload from several
//! clients at once (strings, hashes, lists, sets, sorted sets, bitmaps,
//! HyperLogLogs, streams with consumer groups, TTLs, expiry, eviction under a small maxmemory, blocking
//! pops, scripts, MULTI/EXEC, RESTORE, MOVE, SELECT), then the node's effect log (DEBUG EFFECTS) replayed onto a fresh
//! node gives the same keyspace, key by key: type, value and absolute
//! expiry.

mod common;

use common::{TestServer, xorshift};
use redis::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// One random command of the workload.
fn random_command(next: &mut dyn FnMut() -> u64) -> Vec<Vec<u8>> {
    let k = |n: &mut dyn FnMut() -> u64, p: &str| format!("{p}:{}", n() % 40).into_bytes();
    let v = |n: &mut dyn FnMut() -> u64| {
        let len = if n().is_multiple_of(10) { 300 + n() % 700 } else { n() % 40 };
        let c = b'a' + (n() % 26) as u8;
        vec![c; len as usize]
    };
    let num = |n: &mut dyn FnMut() -> u64| format!("{}", n() % 100).into_bytes();
    let s = |x: &str| x.as_bytes().to_vec();
    match next() % 62 {
        0 => vec![s("SET"), k(next, "s"), v(next)],
        1 => vec![s("SET"), k(next, "s"), v(next), s("EX"), s("1000")],
        2 => vec![s("SET"), k(next, "s"), v(next), s("PX"), s("900000"), s("NX")],
        3 => vec![s("SET"), k(next, "s"), v(next), s("KEEPTTL"), s("XX"), s("GET")],
        4 => vec![s("INCR"), k(next, "n")],
        5 => vec![s("INCRBYFLOAT"), k(next, "n"), s("0.1")],
        6 => vec![s("APPEND"), k(next, "s"), v(next)],
        7 => vec![s("SETRANGE"), k(next, "s"), num(next), s("xyz")],
        8 => vec![s("GETDEL"), k(next, "s")],
        9 => vec![s("GETEX"), k(next, "s"), s("PX"), s("800000")],
        10 => vec![s("GETEX"), k(next, "s"), s("PERSIST")],
        11 => vec![s("MSET"), k(next, "s"), v(next), k(next, "n"), num(next)],
        12 => vec![s("DEL"), k(next, "s"), k(next, "h")],
        13 => vec![s("UNLINK"), k(next, "l")],
        14 => vec![s("EXPIRE"), k(next, "h"), s("1000")],
        15 => vec![s("PEXPIRE"), k(next, "l"), s("700000"), s("NX")],
        16 => vec![s("PERSIST"), k(next, "s")],
        17 => vec![s("RENAME"), k(next, "s"), k(next, "s")],
        18 => vec![s("COPY"), k(next, "h"), k(next, "h"), s("REPLACE")],
        19 | 20 => vec![s("HSET"), k(next, "h"), k(next, "f"), v(next), k(next, "f"), num(next)],
        21 => vec![s("HDEL"), k(next, "h"), k(next, "f")],
        22 => vec![s("HINCRBY"), k(next, "h"), s("count"), s("3")],
        23 => vec![s("HINCRBYFLOAT"), k(next, "h"), s("f:float"), s("1.25")],
        24 | 25 => vec![s("RPUSH"), k(next, "l"), v(next), num(next)],
        26 => vec![s("LPUSH"), k(next, "l"), num(next)],
        27 => vec![s("LPOP"), k(next, "l"), s("2")],
        28 => vec![s("LMOVE"), k(next, "l"), k(next, "l"), s("LEFT"), s("RIGHT")],
        29 => vec![s("LTRIM"), k(next, "l"), s("0"), s("30")],
        30 => vec![s("LREM"), k(next, "l"), s("1"), num(next)],
        31 => vec![s("LMPOP"), s("2"), k(next, "l"), k(next, "l"), s("RIGHT"), s("COUNT"), s("3")],
        32 => vec![s("BLPOP"), k(next, "l"), k(next, "l"), s("0.01")],
        33 => vec![s("BLMOVE"), k(next, "l"), k(next, "l"), s("RIGHT"), s("LEFT"), s("0.01")],
        34 => vec![
            s("EVAL"),
            s("redis.call('incr', KEYS[1]); redis.call('rpush', KEYS[2], ARGV[1]); return redis.call('hset', KEYS[3], 'by-script', ARGV[1])"),
            s("3"),
            k(next, "n"),
            k(next, "l"),
            k(next, "h"),
            v(next),
        ],
        35 => vec![s("LSET"), k(next, "l"), s("0"), v(next)],
        36 => vec![s("LINSERT"), k(next, "l"), s("BEFORE"), num(next), v(next)],
        37 => vec![s("MOVE"), k(next, "s"), s("1")],
        38 => vec![s("PEXPIREAT"), k(next, "n"), s("99999999999999")],
        39 | 40 => vec![s("SADD"), k(next, "t"), num(next), v(next), num(next)],
        41 => vec![s("SREM"), k(next, "t"), num(next)],
        42 => vec![s("SPOP"), k(next, "t")],
        43 => vec![s("SPOP"), k(next, "t"), s("3")],
        44 => vec![s("SMOVE"), k(next, "t"), k(next, "t"), num(next)],
        45 => vec![[s("SINTERSTORE"), s("SUNIONSTORE"), s("SDIFFSTORE")][(next() % 3) as usize].clone(), k(next, "t"), k(next, "t"), k(next, "t")],
        46 => vec![s("EVAL"), s("return redis.call('spop', KEYS[1], 2)"), s("1"), k(next, "t")],
        47 if next().is_multiple_of(2) => vec![s("SETBIT"), k(next, "b"), format!("{}", next() % 3000).into_bytes(), s("1")],
        47 if next().is_multiple_of(2) => vec![s("BITFIELD"), k(next, "b"), s("INCRBY"), s("i5"), s("#3"), num(next), s("GET"), s("u4"), s("0")],
        47 => vec![s("BITOP"), s("OR"), k(next, "b"), k(next, "b"), k(next, "b")],
        48 if next().is_multiple_of(2) => vec![s("PFADD"), k(next, "p"), v(next), num(next), num(next)],
        48 if next().is_multiple_of(2) => vec![s("PFCOUNT"), k(next, "p")],
        48 => vec![s("PFMERGE"), k(next, "p"), k(next, "p"), k(next, "p")],
        49 | 50 => vec![s("ZADD"), k(next, "z"), num(next), v(next), s("1.5"), num(next)],
        51 => vec![s("ZINCRBY"), k(next, "z"), s("0.1"), num(next)],
        52 if next().is_multiple_of(2) => vec![s("ZPOPMIN"), k(next, "z"), s("2")],
        52 if next().is_multiple_of(2) => vec![s("ZMPOP"), s("2"), k(next, "z"), k(next, "z"), s("MAX"), s("COUNT"), s("3")],
        52 => vec![s("BZPOPMAX"), k(next, "z"), k(next, "z"), s("0.01")],
        53 if next().is_multiple_of(2) => vec![s("ZREMRANGEBYSCORE"), k(next, "z"), s("-inf"), num(next)],
        53 => vec![s("ZRANGESTORE"), k(next, "z"), k(next, "z"), s("0"), num(next)],
        54 => vec![[s("ZUNIONSTORE"), s("ZINTERSTORE"), s("ZDIFFSTORE")][(next() % 3) as usize].clone(), k(next, "z"), s("2"), k(next, "z"), k(next, "t")],
        55 | 56 => vec![s("XADD"), k(next, "x"), s("*"), s("f"), v(next), s("n"), num(next)],
        57 if next().is_multiple_of(2) => vec![s("XADD"), k(next, "x"), s("MAXLEN"), s("~"), s("3"), s("*"), s("f"), v(next)],
        57 => vec![s("XTRIM"), k(next, "x"), s("MAXLEN"), s("~"), num(next)],
        58 => vec![s("XGROUP"), s("CREATE"), k(next, "x"), s("g"), s("0"), s("MKSTREAM")],
        59 if next().is_multiple_of(3) => {
            vec![s("XREADGROUP"), s("GROUP"), s("g"), k(next, "c"), s("NOACK"), s("COUNT"), s("2"), s("STREAMS"), k(next, "x"), s(">")]
        }
        59 => vec![s("XREADGROUP"), s("GROUP"), s("g"), k(next, "c"), s("COUNT"), s("3"), s("STREAMS"), k(next, "x"), s(">")],
        60 if next().is_multiple_of(2) => vec![s("XAUTOCLAIM"), k(next, "x"), s("g"), k(next, "c"), s("0"), s("0"), s("COUNT"), s("2")],
        60 => vec![s("XGROUP"), s("SETID"), k(next, "x"), s("g"), s("0")],
        _ => vec![s("HSETNX"), k(next, "h"), k(next, "f"), v(next)],
    }
}

fn worker(port: u16, seed: u64, rounds: usize) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut c = client.get_connection().unwrap();
    let mut next = xorshift(seed);
    for round in 0..rounds {
        match next() % 25 {
            // a transaction of a few commands
            0 => {
                let mut pipe = redis::pipe();
                pipe.atomic();
                for _ in 0..1 + next() % 4 {
                    let cmd = random_command(&mut next);
                    let mut r = redis::cmd(std::str::from_utf8(&cmd[0]).unwrap());
                    cmd[1..].iter().for_each(|a| {
                        r.arg(&a[..]);
                    });
                    pipe.add_command(r);
                }
                let _: Result<Value, _> = pipe.query(&mut c);
            }
            // a DUMP moved to another key by RESTORE (absolute or relative TTL)
            1 => {
                let prefix = if next().is_multiple_of(2) { "h" } else { "t" };
                let from = format!("{prefix}:{}", next() % 40);
                let payload: Option<Vec<u8>> = redis::cmd("DUMP").arg(&from).query(&mut c).unwrap();
                if let Some(p) = payload {
                    let ttl = if next().is_multiple_of(2) { "0" } else { "600000" };
                    let _: Result<Value, _> = redis::cmd("RESTORE").arg(format!("{prefix}:{}", next() % 40)).arg(ttl).arg(p).arg("REPLACE").query(&mut c);
                }
            }
            // now and then in database 1
            2 => {
                let _: () = redis::cmd("SELECT").arg(1).query(&mut c).unwrap();
                let cmd = random_command(&mut next);
                let _: Result<Value, _> = redis::cmd(std::str::from_utf8(&cmd[0]).unwrap()).arg(&cmd[1..]).query(&mut c);
                let _: () = redis::cmd("SELECT").arg(0).query(&mut c).unwrap();
            }
            _ => {
                let cmd = random_command(&mut next);
                let r: Result<Value, _> = redis::cmd(std::str::from_utf8(&cmd[0]).unwrap()).arg(&cmd[1..]).query(&mut c);
                if let Err(e) = &r {
                    // wrong types and missing keys are part of the mix; anything
                    // else is not
                    let text = e.to_string();
                    assert!(
                        text.contains("WRONGTYPE")
                            || text.contains("no such key")
                            || text.contains("not an integer")
                            || text.contains("not a valid float")
                            || text.contains("index out of range")
                            || text.contains("same")
                            || text.contains("OOM")
                            || text.contains("NOGROUP")
                            || text.contains("BUSYGROUP")
                            || text.contains("requires the key to exist"),
                        "round {round}: {cmd:?}: {text}"
                    );
                }
            }
        }
    }
}

/// Keys that expire within milliseconds, set, then read after their TTL:
/// expiry (lazy and active) is part of the log.
fn expirer(port: u16, rounds: usize) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut c = client.get_connection().unwrap();
    for i in 0..rounds {
        let key = format!("tmp:{}", i % 20);
        // (a write may meet OOM while the cache is full of one big list)
        let _: Result<(), _> = redis::cmd("SET").arg(&key).arg(i).arg("PX").arg(1).query(&mut c);
        let _: Result<i64, _> = redis::cmd("RPUSH").arg(format!("tmpl:{}", i % 5)).arg(i).query(&mut c);
        let _: i64 = redis::cmd("PEXPIRE").arg(format!("tmpl:{}", i % 5)).arg(2).query(&mut c).unwrap();
        std::thread::sleep(Duration::from_millis(3));
        let _: Option<String> = redis::cmd("GET").arg(&key).query(&mut c).unwrap();
    }
}

/// Every key of every database: (db, key) -> (type, value, absolute expiry).
fn snapshot(c: &mut redis::Connection) -> BTreeMap<(usize, Vec<u8>), (String, Value, i64)> {
    let mut out = BTreeMap::new();
    for db in 0..16 {
        let _: () = redis::cmd("SELECT").arg(db).query(c).unwrap();
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(c).unwrap();
        for k in keys {
            let t: String = redis::cmd("TYPE").arg(&k).query(c).unwrap();
            let value: Value = match t.as_str() {
                "string" => redis::cmd("GET").arg(&k).query(c).unwrap(),
                "list" => redis::cmd("LRANGE").arg(&k).arg(0).arg(-1).query(c).unwrap(),
                "hash" => {
                    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = redis::cmd("HGETALL").arg(&k).query(c).unwrap();
                    pairs.sort();
                    Value::Array(pairs.into_iter().flat_map(|(f, v)| [Value::BulkString(f), Value::BulkString(v)]).collect())
                }
                "set" => {
                    let mut members: Vec<Vec<u8>> = redis::cmd("SMEMBERS").arg(&k).query(c).unwrap();
                    members.sort();
                    Value::Array(members.into_iter().map(Value::BulkString).collect())
                }
                "zset" => redis::cmd("ZRANGE").arg(&k).arg(0).arg(-1).arg("WITHSCORES").query(c).unwrap(),
                "stream" => stream_state(c, &k),
                "none" => continue, // expired between KEYS and TYPE
                other => panic!("unexpected type {other}"),
            };
            let at: i64 = redis::cmd("PEXPIRETIME").arg(&k).query(c).unwrap();
            out.insert((db, k), (t, value, at));
        }
    }
    let _: () = redis::cmd("SELECT").arg(0).query(c).unwrap();
    out
}

/// A stream's entries, metadata, groups with their pending entries
/// (owner and delivery count) and consumers; not what a replay may set
/// to its own clock (seen and idle times) or what Redis does not
/// propagate (a group's read counter, and so its lag).
fn stream_state(c: &mut redis::Connection, k: &[u8]) -> Value {
    let entries: Value = redis::cmd("XRANGE").arg(k).arg("-").arg("+").query(c).unwrap();
    let info: Vec<Value> = redis::cmd("XINFO").arg("STREAM").arg(k).query(c).unwrap();
    let mut out = vec![entries];
    for pair in info.chunks(2) {
        if matches!(bulk(&pair[0]).as_slice(), b"length" | b"last-generated-id" | b"max-deleted-entry-id" | b"entries-added" | b"recorded-first-entry-id") {
            out.extend(pair.iter().cloned());
        }
    }
    let groups: Vec<Vec<Value>> = redis::cmd("XINFO").arg("GROUPS").arg(k).query(c).unwrap();
    for g in groups {
        let name = bulk(&g[1]);
        out.push(Value::BulkString(name.clone()));
        out.push(g[7].clone()); // last-delivered-id
        let pending: Vec<Vec<Value>> = redis::cmd("XPENDING").arg(k).arg(&name).arg("-").arg("+").arg(100000).query(c).unwrap();
        for p in pending {
            out.extend([p[0].clone(), p[1].clone(), p[3].clone()]);
        }
        let consumers: Vec<Vec<Value>> = redis::cmd("XINFO").arg("CONSUMERS").arg(k).arg(&name).query(c).unwrap();
        for cons in consumers {
            out.extend([cons[1].clone(), cons[3].clone()]);
        }
    }
    Value::Array(out)
}

fn bulk(v: &Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b.clone(),
        other => panic!("not a bulk string: {other:?}"),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

#[test]
fn replaying_the_effect_log_rebuilds_the_keyspace() {
    let live = TestServer::start(&["--maxmemory-policy", "allkeys-lru", "--repl-backlog-size", "512mb", "--enable-debug-command", "yes"]);
    let port = live.port;
    let memory = |c: &mut redis::Connection, field: &str| -> u64 {
        let info: String = redis::cmd("INFO").arg("memory").query(c).unwrap();
        info.lines().find_map(|l| l.strip_prefix(&format!("{field}:"))).unwrap().trim().parse().unwrap()
    };
    let run = |seed: u64, rounds: usize| {
        let mut threads: Vec<_> = (0..3).map(|w| std::thread::spawn(move || worker(port, seed ^ ((w + 1) * 0x1234_5678), rounds))).collect();
        threads.push(std::thread::spawn(move || expirer(port, rounds / 8)));
        threads.into_iter().for_each(|t| t.join().unwrap());
    };
    let mut c = live.conn();
    // a node keeps no log until a reader attaches
    let none: Result<Value, _> = redis::cmd("DEBUG").arg("EFFECTS").arg(0).query(&mut c);
    assert!(none.unwrap_err().to_string().contains("until a reader attaches"));
    let _: () = redis::cmd("DEBUG").arg("EFFECTS").arg("KEEP").query(&mut c).unwrap();
    // a first round fills the cache; then maxmemory drops below what it
    // holds (the log not counted, as Redis leaves out replication buffers),
    // so the second round evicts while it writes
    run(0x9e37_79b9_7f4a_7c15, 1500);
    // (the workload's keys are small: 400 older values of 1 kB make room
    // to evict from)
    let mut fill = redis::pipe();
    for i in 0..400 {
        fill.cmd("SET").arg(format!("fill:{i}")).arg(vec![b'f'; 1000]).ignore();
    }
    let _: () = fill.query(&mut c).unwrap();
    let counted = memory(&mut c, "used_memory") - memory(&mut c, "mem_not_counted_for_evict");
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(counted - 200_000).query(&mut c).unwrap();
    run(0x2545_f491_4f6c_dd1d, 1000);
    std::thread::sleep(Duration::from_millis(50));
    let info: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    let stat = |name: &str| info.lines().find_map(|l| l.strip_prefix(&format!("{name}:"))).unwrap().trim().parse::<u64>().unwrap();
    assert!(stat("evicted_keys") > 0, "the workload evicts");
    assert!(stat("expired_keys") > 0, "the workload expires keys");
    let before = snapshot(&mut c);
    assert!(before.len() > 50, "a keyspace worth comparing: {} keys", before.len());
    // streams with groups and pending entries among them
    let pending = before.values().filter(|(t, v, _)| t == "stream" && matches!(v, Value::Array(a) if a.len() > 12)).count();
    assert!(pending > 0, "no stream with groups and pending entries");
    eprintln!("{} keys, {} evicted, {} expired", before.len(), stat("evicted_keys"), stat("expired_keys"));
    // read the whole log, page by page
    let mut effects: Vec<(i64, Vec<Vec<u8>>)> = Vec::new();
    let mut offset = 0i64;
    loop {
        let page: Vec<Value> = redis::cmd("DEBUG").arg("EFFECTS").arg(offset).arg(5000).query(&mut c).unwrap();
        let Some(last) = page.last() else { break };
        let Value::Array(last) = last else { panic!("entry") };
        let Value::Array(last_args) = &last[2] else { panic!("args") };
        // the next offset: this one plus its RESP length
        let len: usize = 3 + last_args.len().to_string().len() + last_args.iter().map(|a| 5 + bulk(a).len().to_string().len() + bulk(a).len()).sum::<usize>();
        let next_offset = int(&last[0]) + len as i64;
        for e in page {
            let Value::Array(e) = e else { panic!("entry") };
            let Value::Array(args) = &e[2] else { panic!("args") };
            effects.push((int(&e[1]), args.iter().map(bulk).collect()));
        }
        if next_offset == offset {
            break;
        }
        offset = next_offset;
        let end: Result<Vec<Value>, _> = redis::cmd("DEBUG").arg("EFFECTS").arg(offset).arg(1).query(&mut c);
        if end.map(|v| v.is_empty()).unwrap_or(true) {
            break;
        }
    }
    let names = |n: &str| effects.iter().filter(|(_, a)| a[0].eq_ignore_ascii_case(n.as_bytes())).count();
    // the propagation forms: absolute TTLs, pops for blocking pops, DEL for
    // expiry and eviction, MULTI/EXEC around transactions and scripts
    for absent in ["EXPIRE", "PEXPIRE", "SETEX", "GETEX", "INCRBYFLOAT", "HINCRBYFLOAT", "BLPOP", "BLMOVE", "LMPOP", "EVAL", "GETDEL", "SPOP"] {
        assert_eq!(names(absent), 0, "{absent} is logged in its propagation form");
    }
    for present in ["SET", "PEXPIREAT", "DEL", "MULTI", "EXEC", "HSET", "RPUSH", "RESTORE", "SADD", "SREM", "PFADD", "PFCOUNT"] {
        assert!(names(present) > 0, "{present} appears in the log");
    }
    assert!(effects.iter().all(|(_, a)| !a.iter().any(|x| x.eq_ignore_ascii_case(b"EX"))), "no relative TTL is logged");
    // every short-lived string was deleted by the log after it was set
    // (expired lazily on the read that follows, or actively)
    let mut last: BTreeMap<&[u8], &[u8]> = BTreeMap::new();
    for (_, a) in &effects {
        if a.len() > 1 && a[1].starts_with(b"tmp:") {
            last.insert(&a[1], &a[0]);
        }
    }
    assert!(!last.is_empty());
    for (k, cmd) in &last {
        assert_eq!(*cmd, b"DEL", "the last effect on {}", String::from_utf8_lossy(k));
    }
    // replay onto a fresh node, in order
    let replica = TestServer::start(&[]);
    let mut r = replica.conn();
    let mut db = 0i64;
    for (i, (edb, args)) in effects.iter().enumerate() {
        if *edb != db {
            let _: () = redis::cmd("SELECT").arg(*edb).query(&mut r).unwrap();
            db = *edb;
        }
        let res: Result<Value, _> = redis::cmd(std::str::from_utf8(&args[0]).unwrap()).arg(&args[1..]).query(&mut r);
        if let Err(e) = res {
            panic!("effect {i} {:?} failed on replay: {e}", args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>());
        }
    }
    let _: () = redis::cmd("SELECT").arg(0).query(&mut r).unwrap();
    let after = snapshot(&mut r);
    let tmp = |k: &[u8]| k.starts_with(b"tmp");
    for ((d, k), v) in &before {
        assert!(!tmp(k), "short-lived key {} outlived its TTL", String::from_utf8_lossy(k));
        assert_eq!(after.get(&(*d, k.clone())), Some(v), "db {d} key {}", String::from_utf8_lossy(k));
    }
    let extra: Vec<_> = after.keys().filter(|k| !before.contains_key(k)).map(|(d, k)| format!("{d}:{}", String::from_utf8_lossy(k))).collect();
    assert!(extra.is_empty(), "keys only the replay has: {extra:?}");
}
