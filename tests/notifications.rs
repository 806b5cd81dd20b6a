//! Keyspace notifications against redis-server 7.0: for a script of
//! commands covering every event class, the messages a pattern subscriber
//! receives on `__keyspace@*` and `__keyevent@*` (names, keys, order),
//! byte for byte in RESP2 and RESP3; `notify-keyspace-events` parsing and
//! printing; `expired`, `evicted` and `keymiss`; and that nothing is
//! published while notifications are off.

mod common;

use common::{Pair, Raw, TestServer};
use std::time::Duration;

/// The frames `sub` receives up to and including the marker message
/// `PUBLISH mark <n>`.
fn until_mark(sub: &mut Raw, n: usize) -> Vec<String> {
    let mut frames = Vec::new();
    loop {
        let f = sub.try_read_reply(Duration::from_secs(10)).unwrap_or_else(|| panic!("marker {n} never arrived; got {frames:?}"));
        if f.contains("\r\nmark\r\n") {
            assert!(f.ends_with(&format!("\r\n{n}\r\n")), "marker {n} out of order: {f:?}");
            return frames;
        }
        frames.push(f);
    }
}

struct Side {
    _server: TestServer,
    cmd: Raw,
    sub: Raw,
}

fn side(server: TestServer, classes: &str, resp3: bool) -> Side {
    let mut cmd = server.raw();
    assert_eq!(cmd.cmd(&["CONFIG", "SET", "notify-keyspace-events", classes]), "+OK\r\n");
    let mut sub = server.raw();
    if resp3 {
        assert!(sub.cmd(&["HELLO", "3"]).starts_with('%'));
    }
    sub.send(&["PSUBSCRIBE", "__key*__:*"]);
    assert!(sub.read_reply().contains("psubscribe"));
    sub.send(&["SUBSCRIBE", "mark"]);
    assert!(sub.read_reply().contains("subscribe"));
    Side { _server: server, cmd, sub }
}

/// Runs `script` on shardis and redis-server with `classes` enabled and
/// requires the same replies and the same notifications after every
/// command (`SLEEP ms` pauses, `DUMP-RESTORE src dst [opts]` restores each
/// side's own DUMP, a `?` before a command compares only its events).
fn same_events(classes: &str, resp3: bool, script: &[Vec<&str>]) {
    let mut ours = side(TestServer::start(&[]), classes, resp3);
    let mut redis = side(TestServer::start_redis_server(&[]), classes, resp3);
    let mut in_multi = false;
    for (n, c) in script.iter().enumerate() {
        let ctx = format!("classes {classes} resp3={resp3}: {c:?}");
        if c[0] == "SLEEP" {
            std::thread::sleep(Duration::from_millis(c[1].parse().unwrap()));
        } else if c[0] == "DUMP-RESTORE" {
            // each side restores its own DUMP of the key
            for s in [&mut ours, &mut redis] {
                let payload = common::bulk_bytes(&s.cmd.cmd_raw(&["DUMP", c[1]]));
                let mut args: Vec<&[u8]> = vec![b"RESTORE", c[2].as_bytes(), b"0", &payload];
                args.extend(c[3..].iter().map(|a| a.as_bytes()));
                assert_eq!(s.cmd.cmd_bytes(&args), "+OK\r\n", "{ctx}");
            }
        } else if let Some(name) = c[0].strip_prefix('?') {
            // a random reply (SPOP): only its events are compared
            let mut c = c.clone();
            c[0] = name;
            assert_eq!(ours.cmd.cmd(&c).as_bytes()[0], redis.cmd.cmd(&c).as_bytes()[0], "{ctx}");
        } else {
            let mut p = Pair { ours: ours.cmd, redis: redis.cmd };
            p.same(c, &ctx);
            (ours.cmd, redis.cmd) = (p.ours, p.redis);
        }
        // inside MULTI the marker would be queued; after a SLEEP the
        // active expiry of either server may or may not have run yet:
        // their events are compared with the next command's
        in_multi = (in_multi || c[0] == "MULTI") && c[0] != "EXEC";
        if in_multi || c[0] == "SLEEP" {
            continue;
        }
        let mark = n.to_string();
        for s in [&mut ours, &mut redis] {
            assert_eq!(s.cmd.cmd(&["PUBLISH", "mark", &mark]), ":1\r\n");
        }
        let (a, b) = (until_mark(&mut ours.sub, n), until_mark(&mut redis.sub, n));
        assert_eq!(a, b, "{ctx}");
    }
}

fn script() -> Vec<Vec<&'static str>> {
    let s = |line: &'static str| line.split(' ').collect::<Vec<_>>();
    [
        // strings
        "SET s v",
        "SET s w EX 100",
        "SET s x KEEPTTL",
        "SETNX s y",
        "SETNX s2 y",
        "GETSET s z",
        "SETEX s3 100 v",
        "PSETEX s3 100000 v",
        "SET s4 v NX PX 100000",
        "SET s4 v XX GET",
        "MSET m1 a m2 b",
        "MSETNX m1 a m3 c",
        "APPEND s5 abc",
        "APPEND s5 def",
        "SETRANGE s5 1 XY",
        "SETRANGE s6 0 ",
        "INCR n",
        "INCRBY n 10",
        "DECR n",
        "DECRBY n 3",
        "INCRBYFLOAT f 1.5",
        "GETDEL s2",
        "GETDEL nothing",
        "GETEX s EX 50",
        "GETEX s PERSIST",
        "GETEX s PERSIST",
        "GETEX s",
        "SETBIT b 7 1",
        "SETBIT b 7 1",
        "BITFIELD bf SET u8 0 200 GET u8 0",
        "BITFIELD bf GET u8 0",
        "BITFIELD bf2 OVERFLOW FAIL INCRBY u2 0 10",
        "BITOP OR bo b bf",
        "BITOP AND bo nothing nothing2",
        "PFADD h1 a b c",
        "PFADD h1 a",
        "PFADD h2",
        "PFMERGE h3 h1 h2",
        // generic
        "EXPIRE s 100",
        "PEXPIRE s 100000 NX",
        "EXPIREAT s 99999999999",
        "PERSIST s",
        "PERSIST s",
        "EXPIRE s -1",
        "EXISTS s",
        "RENAME s3 s3r",
        "RENAME s3r m1",
        "RENAMENX m1 m2",
        "RENAMENX m1 m9",
        "COPY m2 m2c",
        "COPY m2 m9 REPLACE",
        "COPY m2 m9",
        "MOVE m2c 3",
        "DEL m9 nothing m3",
        "UNLINK m2",
        // lists
        "LPUSH l a b c",
        "RPUSH l d",
        "LPUSHX l2 a",
        "RPUSHX l e",
        "LINSERT l BEFORE a x",
        "LINSERT l BEFORE nope x",
        "LSET l 0 y",
        "LPOP l",
        "RPOP l 2",
        "LREM l 0 zzz",
        "LREM l 1 x",
        "LTRIM l 0 -1",
        "LMOVE l l2 LEFT RIGHT",
        "RPOPLPUSH l2 l2",
        "LMPOP 2 nothing l LEFT COUNT 5",
        "RPUSH q 1 2",
        "BLPOP q 0",
        "BRPOP q 0",
        "RPUSH q 3 1 2",
        "SORT q STORE sq",
        "SORT q STORE sq",
        "SORT nothing STORE sq",
        "LTRIM q 5 10",
        // sets
        "SADD st a b c 1",
        "SADD st a",
        "SREM st a zz",
        "SMOVE st st2 b",
        "SMOVE st st2 b",
        "?SPOP st",
        "SADD st x y z w v u",
        "SPOP st 0",
        "?SPOP st 2",
        "?SPOP st 10",
        "SADD sa 1 2 3",
        "SADD sb 2 3 4",
        "SINTERSTORE si sa sb",
        "SUNIONSTORE su sa sb",
        "SDIFFSTORE sd sa sb",
        "SDIFFSTORE sd sa sa",
        "SINTERSTORE su sa nothing",
        "SREM st2 b",
        // hashes
        "HSET hh f1 v1 f2 v2",
        "HSET hh f1 v1",
        "HMSET hh f3 v3",
        "HSETNX hh f1 x",
        "HSETNX hh f4 x",
        "HINCRBY hh n 5",
        "HINCRBYFLOAT hh fl 0.5",
        "HDEL hh f1 nope",
        "HDEL hh nope",
        "HDEL hh f2 f3 f4 n fl",
        // sorted sets
        "ZADD z 1 a 2 b 3 c",
        "ZADD z 1 a",
        "ZADD z XX 5 zz",
        "ZADD z CH 9 a",
        "ZINCRBY z 1 b",
        "ZADD z INCR 1 b",
        "ZREM z nope",
        "ZREM z a",
        "ZADD z 4 d 5 e 6 f 7 g",
        "ZREMRANGEBYSCORE z 100 200",
        "ZREMRANGEBYSCORE z 3 4",
        "ZREMRANGEBYRANK z 0 0",
        "ZREMRANGEBYLEX z [a [b",
        "ZPOPMIN z",
        "ZPOPMAX z 1",
        "ZMPOP 1 z MIN COUNT 1",
        "ZADD z2 1 x 2 y",
        "BZPOPMIN z2 0",
        "BZPOPMAX z2 0",
        "ZADD za 1 a 2 b",
        "ZADD zb 2 b 3 c",
        "ZUNIONSTORE zu 2 za zb",
        "ZINTERSTORE zi 2 za zb",
        "ZDIFFSTORE zd 2 za zb",
        "ZDIFFSTORE zd 2 za za",
        "ZRANGESTORE zr za 0 -1",
        "ZRANGESTORE zr za 5 6",
        "GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
        "GEOSEARCHSTORE gs g FROMLONLAT 15 37 BYRADIUS 200 km ASC",
        "GEOSEARCHSTORE gs g FROMLONLAT 15 37 BYRADIUS 1 m ASC",
        "GEORADIUS g 15 37 200 km STORE gr",
        "GEORADIUS nothing 15 37 200 km STORE gr",
        // streams
        "XADD x 1-1 f v",
        "XADD x 2-1 f v",
        "XADD x MAXLEN 1 3-1 f v",
        "XADD x NOMKSTREAM 4-1 f v",
        "XADD nox NOMKSTREAM 4-1 f v",
        "XADD x 1-1 f v",
        "XTRIM x MAXLEN 5",
        "XTRIM x MAXLEN 0",
        "XADD x 5-1 f v",
        "XDEL x 9-9",
        "XDEL x 5-1",
        "XSETID x 9-0",
        "XGROUP CREATE x g 0",
        "XGROUP CREATE x2 g $ MKSTREAM",
        "XGROUP CREATECONSUMER x g alice",
        "XGROUP CREATECONSUMER x g alice",
        "XADD x 10-1 f v",
        "XREADGROUP GROUP g bob STREAMS x >",
        "XCLAIM x g carol 0 10-1",
        "XAUTOCLAIM x g dave 0 0",
        "XACK x g 10-1",
        "XGROUP SETID x g 0",
        "XGROUP DELCONSUMER x g bob",
        "XGROUP DELCONSUMER x g nobody",
        "XGROUP DESTROY x g",
        "XGROUP DESTROY x g",
        "DEL x x2",
        // expiry
        "SET e v PX 1",
        "SLEEP 30",
        "GET e",
        "SET e2 v PX 1",
        "SLEEP 30",
        "SET e2 w",
        "SET e3 v PX 1",
        "SLEEP 30",
        "RENAME e3 e4",
        // a transaction and a script name their commands' events
        "MULTI",
        "SET t1 v",
        "LPUSH t2 a",
        "EXEC",
        "EVAL redis.call('set',KEYS[1],'x');redis.call('del',KEYS[1]) 1 ev",
        // restore
        "DUMP-RESTORE sa rs",
        "DUMP-RESTORE sa rs REPLACE",
        "DUMP-RESTORE zb rs REPLACE",
        // other databases
        "SELECT 5",
        "SET other v",
        "MOVE other 0",
        "SELECT 0",
        "DEL other",
        "FLUSHALL",
    ]
    .into_iter()
    .map(|l| {
        // a Lua body keeps its spaces
        if let Some(rest) = l.strip_prefix("EVAL ") {
            let (body, tail) = rest.split_once(" 1 ").unwrap();
            return vec!["EVAL", body, "1", tail];
        }
        s(l)
    })
    .collect()
}

#[test]
fn every_class_matches_redis_server_in_both_protocols() {
    for resp3 in [false, true] {
        same_events("KEA", resp3, &script());
    }
}

#[test]
fn class_subsets_new_keys_and_key_misses_match_redis_server() {
    let script = script();
    // one class at a time, one channel kind at a time, and the classes A
    // leaves out
    for classes in ["Kg", "E$", "Kl", "Es", "Kh", "Ez", "Kx", "Et", "KEn"] {
        same_events(classes, false, &script);
    }
    let s = |line: &'static str| line.split(' ').collect::<Vec<_>>();
    let misses: Vec<Vec<&str>> =
        ["GET nope", "SET k v", "GET k", "MGET k nope2 nope3", "HGET h f", "LRANGE l 0 -1", "SMEMBERS s", "ZSCORE z m", "STRLEN nope", "GETRANGE nope 0 1"]
            .into_iter()
            .map(s)
            .collect();
    same_events("KEm", false, &misses);
}

#[test]
fn notify_keyspace_events_reads_and_prints_as_redis_server() {
    let ours = TestServer::start(&[]);
    let redis = TestServer::start_redis_server(&[]);
    let mut p = Pair { ours: ours.raw(), redis: redis.raw() };
    p.same(&["CONFIG", "GET", "notify-keyspace-events"], "default");
    for classes in ["KEA", "Elg$", "nKm", "AnK", "gl$shzxetdK", "tE", "", "xyz", "K E", "AKEmn"] {
        p.same(&["CONFIG", "SET", "notify-keyspace-events", classes], classes);
        p.same(&["CONFIG", "GET", "notify-keyspace-events"], classes);
    }
}

/// Eviction raises `evicted` for exactly the keys it removed, and with
/// notifications off nothing is published at all.
#[test]
fn evictions_are_announced_and_nothing_is_published_when_off() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let mut sub = server.raw();
    sub.send(&["PSUBSCRIBE", "*"]);
    assert!(sub.read_reply().contains("psubscribe"));
    // off by default: writes publish nothing
    for i in 0..50 {
        c.cmd(&["SET", &format!("quiet{i}"), "v"]);
    }
    c.cmd(&["FLUSHALL"]);
    assert!(sub.try_read_reply(Duration::from_millis(200)).is_none(), "published while notifications were off");

    assert_eq!(c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Ee"]), "+OK\r\n");
    let value = "x".repeat(1000);
    for i in 0..2000 {
        c.cmd(&["SET", &format!("key:{i}"), &value]);
    }
    let used: u64 = common::info_field(&mut c, "memory", "used_memory").unwrap().parse().unwrap();
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-random"]), "+OK\r\n");
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", &(used - 500_000).to_string()]), "+OK\r\n");
    c.cmd(&["SET", "trigger", "v"]);
    let evicted: usize = common::info_field(&mut c, "stats", "evicted_keys").unwrap().parse().unwrap();
    assert!(evicted > 100, "evicted {evicted}");
    c.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    let mut keys = Vec::new();
    while keys.len() < evicted {
        let f = sub.try_read_reply(Duration::from_secs(5)).unwrap_or_else(|| panic!("{} of {evicted} evicted events", keys.len()));
        assert!(f.contains("__keyevent@0__:evicted"), "{f:?}");
        keys.push(common::strings(&f).last().unwrap().clone());
    }
    assert!(sub.try_read_reply(Duration::from_millis(100)).is_none(), "more evicted events than evicted keys");
    for k in keys {
        assert_eq!(c.cmd(&["EXISTS", &k]), ":0\r\n", "{k} was announced as evicted");
    }
}

/// Through the proxy a keyspace channel is listened to on the node that
/// holds its key, a key event channel on every node, so a client sees the
/// events of keys wherever the ring puts them.
#[test]
fn keyspace_channels_through_the_proxy_follow_their_keys() {
    let nodes: Vec<TestServer> = (0..3).map(|_| TestServer::start(&[])).collect();
    for n in &nodes {
        assert_eq!(n.raw().cmd(&["CONFIG", "SET", "notify-keyspace-events", "KE$g"]), "+OK\r\n");
    }
    let proxy = TestServer::start_proxy(&common::addrs(&nodes), &["--hash", "md5"]);
    let keys: Vec<String> = (0..40).map(|i| format!("user:{i}")).collect();
    // the keys land on every node
    let mut c = proxy.raw();
    for k in &keys {
        assert_eq!(c.cmd(&["SET", k, "0"]), "+OK\r\n");
    }
    for n in &nodes {
        let size: u64 = n.raw().cmd(&["DBSIZE"]).trim_start_matches(':').trim().parse().unwrap();
        assert!(size > 0, "a node holds none of the keys: {}", n.port);
    }
    for resp3 in [false, true] {
        let mut sub = proxy.raw();
        if resp3 {
            assert!(sub.cmd(&["HELLO", "3"]).starts_with('%'));
        }
        for k in &keys {
            sub.send(&["SUBSCRIBE", &format!("__keyspace@0__:{k}")]);
            assert!(sub.read_reply().contains("subscribe"));
        }
        sub.send(&["SUBSCRIBE", "__keyevent@0__:del"]);
        assert!(sub.read_reply().contains("subscribe"));
        for k in &keys {
            assert_eq!(c.cmd(&["INCR", k]), if resp3 { ":2\r\n" } else { ":1\r\n" });
            let f = sub.try_read_reply(Duration::from_secs(5)).unwrap_or_else(|| panic!("no event for {k}"));
            assert_eq!(common::strings(&f), ["message".to_string(), format!("__keyspace@0__:{k}"), "incrby".into()], "{f:?}");
        }
        // every node's deletions reach the key event subscriber, and the
        // keyspace subscriber of each key
        let del: Vec<&str> = std::iter::once("DEL").chain(keys.iter().map(|k| k.as_str())).collect();
        assert_eq!(c.cmd(&del), format!(":{}\r\n", keys.len()));
        let mut events = Vec::new();
        while events.len() < 2 * keys.len() {
            let f = sub.try_read_reply(Duration::from_secs(5)).unwrap_or_else(|| panic!("{} of {} events: {events:?}", events.len(), 2 * keys.len()));
            events.push(common::strings(&f)[1..].join(" "));
        }
        for k in &keys {
            assert!(events.contains(&format!("__keyevent@0__:del {k}")), "{k}: {events:?}");
            assert!(events.contains(&format!("__keyspace@0__:{k} del")), "{k}: {events:?}");
        }
        for k in &keys {
            c.cmd(&["SET", k, "1"]);
            let f = sub.try_read_reply(Duration::from_secs(5)).unwrap_or_else(|| panic!("no set event for {k}"));
            assert_eq!(common::strings(&f)[1..], [format!("__keyspace@0__:{k}"), "set".into()], "{f:?}");
        }
        // counts as one server would give them
        sub.send(&["UNSUBSCRIBE"]);
        let mut last = String::new();
        for _ in 0..=keys.len() {
            last = sub.read_reply();
        }
        assert!(last.ends_with(":0\r\n"), "{last:?}");
    }
}
