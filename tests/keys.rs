//! Key-space and expiry commands against the real binary.

mod common;
use common::TestServer;
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[test]
fn del_exists_type_touch() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    r.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(r.cmd(&["EXISTS", "a", "a", "nokey"]), ":2\r\n");
    assert_eq!(r.cmd(&["TYPE", "a"]), "+string\r\n");
    assert_eq!(r.cmd(&["TYPE", "nokey"]), "+none\r\n");
    assert_eq!(r.cmd(&["TOUCH", "a", "b", "nokey"]), ":2\r\n");
    assert_eq!(r.cmd(&["DEL", "a", "b", "nokey"]), ":2\r\n");
    assert_eq!(r.cmd(&["UNLINK", "c", "c"]), ":1\r\n");
    assert_eq!(r.cmd(&["DBSIZE"]), ":0\r\n");
    assert_eq!(r.cmd(&["DEL"]), "-ERR wrong number of arguments for 'del' command\r\n");
}

#[test]
fn keys_and_randomkey() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.cmd(&["RANDOMKEY"]), "$-1\r\n");
    r.cmd(&["MSET", "hello", "1", "hallo", "2", "hxllo", "3", "world", "4", "h*llo", "5"]);
    let mut c = s.conn();
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("h?llo").query(&mut c).unwrap();
    keys.sort();
    assert_eq!(keys, vec!["h*llo", "hallo", "hello", "hxllo"]);
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("h[ae]llo").query(&mut c).unwrap();
    keys.sort();
    assert_eq!(keys, vec!["hallo", "hello"]);
    let keys: Vec<String> = redis::cmd("KEYS").arg("h\\*llo").query(&mut c).unwrap();
    assert_eq!(keys, vec!["h*llo"]);
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    assert_eq!(keys.len(), 5);
    let k: String = redis::cmd("RANDOMKEY").query(&mut c).unwrap();
    assert!(keys.contains(&k));
}

#[test]
fn scan_options_and_guarantee() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    for i in 0..1000 {
        let _: () = redis::cmd("SET").arg(format!("key:{i}")).arg(i).query(&mut c).unwrap();
    }
    let _: () = redis::cmd("SET").arg("other").arg(1).query(&mut c).unwrap();
    // Full iteration with concurrent writes: every key present throughout
    // comes back.
    let mut writer = s.conn();
    let mut seen = HashSet::new();
    let mut cursor = 0u64;
    let mut round = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN").arg(cursor).arg("COUNT").arg(25).query(&mut c).unwrap();
        seen.extend(keys);
        for j in 0..10 {
            let _: () = redis::cmd("SET").arg(format!("churn:{round}:{j}")).arg(1).query(&mut writer).unwrap();
        }
        let _: () = redis::cmd("DEL").arg(format!("churn:{}:3", round.max(1) - 1)).query(&mut writer).unwrap();
        round += 1;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    for i in 0..1000 {
        assert!(seen.contains(&format!("key:{i}")), "SCAN missed key:{i}");
    }
    // MATCH and TYPE
    let mut matched = HashSet::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN").arg(cursor).arg("MATCH").arg("key:99*").arg("TYPE").arg("string").query(&mut c).unwrap();
        matched.extend(keys);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(matched.len(), 11, "{matched:?}");
    let (_, keys): (u64, Vec<String>) = redis::cmd("SCAN").arg(0).arg("TYPE").arg("list").arg("COUNT").arg(10000).query(&mut c).unwrap();
    assert!(keys.is_empty());
    let mut r = s.raw();
    assert_eq!(r.cmd(&["SCAN", "abc"]), "-ERR invalid cursor\r\n");
    assert_eq!(r.cmd(&["SCAN", "0", "COUNT", "0"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["SCAN", "0", "COUNT"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["SCAN", "0", "FOO", "1"]), "-ERR syntax error\r\n");
}

#[test]
fn rename_and_copy() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.cmd(&["RENAME", "nokey", "x"]), "-ERR no such key\r\n");
    r.cmd(&["SET", "a", "1", "EX", "100"]);
    assert_eq!(r.cmd(&["RENAME", "a", "b"]), "+OK\r\n");
    assert_eq!(r.cmd(&["EXISTS", "a"]), ":0\r\n");
    assert_eq!(r.cmd(&["TTL", "b"]), ":100\r\n");
    assert_eq!(r.cmd(&["RENAME", "b", "b"]), "+OK\r\n");
    r.cmd(&["SET", "c", "3"]);
    assert_eq!(r.cmd(&["RENAMENX", "b", "c"]), ":0\r\n");
    assert_eq!(r.cmd(&["RENAMENX", "b", "d"]), ":1\r\n");
    assert_eq!(r.cmd(&["GET", "d"]), "$1\r\n1\r\n");
    // COPY
    assert_eq!(r.cmd(&["COPY", "d", "e"]), ":1\r\n");
    assert_eq!(r.cmd(&["TTL", "e"]), ":100\r\n");
    assert_eq!(r.cmd(&["COPY", "d", "c"]), ":0\r\n");
    assert_eq!(r.cmd(&["COPY", "d", "c", "REPLACE"]), ":1\r\n");
    assert_eq!(r.cmd(&["GET", "c"]), "$1\r\n1\r\n");
    assert_eq!(r.cmd(&["COPY", "d", "d"]), "-ERR source and destination objects are the same\r\n");
    assert_eq!(r.cmd(&["COPY", "nokey", "z"]), ":0\r\n");
    assert_eq!(r.cmd(&["COPY", "d", "d", "DB", "5"]), ":1\r\n");
    assert_eq!(r.cmd(&["COPY", "d", "d", "DB", "16"]), "-ERR DB index is out of range\r\n");
    assert_eq!(r.cmd(&["COPY", "d", "d", "BOGUS"]), "-ERR syntax error\r\n");
    r.cmd(&["SELECT", "5"]);
    assert_eq!(r.cmd(&["GET", "d"]), "$1\r\n1\r\n");
    assert_eq!(r.cmd(&["DBSIZE"]), ":1\r\n");
}

/// MOVE and SWAPDB, with Redis's replies and errors, and SWAPDB's effect on
/// WATCH (a watched key that exists in either database is touched).
#[test]
fn move_and_swapdb() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    r.cmd(&["SET", "m", "v", "PX", "100000"]);
    r.cmd(&["SET", "taken", "here"]);
    assert_eq!(r.cmd(&["MOVE", "m", "3"]), ":1\r\n");
    assert_eq!(r.cmd(&["EXISTS", "m"]), ":0\r\n");
    assert_eq!(r.cmd(&["MOVE", "m", "3"]), ":0\r\n");
    r.cmd(&["SELECT", "2"]);
    r.cmd(&["SET", "taken", "there"]);
    assert_eq!(r.cmd(&["MOVE", "taken", "0"]), ":0\r\n", "the key exists in the target");
    r.cmd(&["SELECT", "3"]);
    let pttl: i64 = r.cmd(&["PTTL", "m"]).trim_start_matches(':').trim().parse().unwrap();
    assert!((90_000..=100_000).contains(&pttl), "MOVE keeps the TTL: {pttl}");
    assert_eq!(r.cmd(&["MOVE", "m", "3"]), "-ERR source and destination objects are the same\r\n");
    assert_eq!(r.cmd(&["MOVE", "m", "16"]), "-ERR DB index is out of range\r\n");
    assert_eq!(r.cmd(&["MOVE", "m", "x"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(r.cmd(&["MOVE", "m", "4294967296"]), "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n");
    assert_eq!(r.cmd(&["SELECT", "4294967296"]), "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n");
    // SWAPDB: db 3 (m) and db 0 (taken) trade places
    assert_eq!(r.cmd(&["SWAPDB", "3", "0"]), "+OK\r\n");
    assert_eq!(r.cmd(&["GET", "taken"]), "$4\r\nhere\r\n");
    assert_eq!(r.cmd(&["DBSIZE"]), ":1\r\n");
    r.cmd(&["SELECT", "0"]);
    assert_eq!(r.cmd(&["GET", "m"]), "$1\r\nv\r\n");
    assert_eq!(r.cmd(&["DBSIZE"]), ":1\r\n");
    assert_eq!(r.cmd(&["SWAPDB", "0", "0"]), "+OK\r\n");
    assert_eq!(r.cmd(&["SWAPDB", "0", "16"]), "-ERR DB index is out of range\r\n");
    assert_eq!(r.cmd(&["SWAPDB", "x", "1"]), "-ERR invalid first DB index\r\n");
    assert_eq!(r.cmd(&["SWAPDB", "1", "4294967296"]), "-ERR invalid second DB index\r\n");
    // WATCH: touched when the key exists in either database, not otherwise
    let mut w = s.raw();
    for (watched, touched) in [("m", true), ("taken", true), ("neither", false)] {
        assert_eq!(w.cmd(&["WATCH", watched]), "+OK\r\n");
        assert_eq!(r.cmd(&["SWAPDB", "0", "3"]), "+OK\r\n");
        w.cmd(&["MULTI"]);
        w.cmd(&["PING"]);
        let exec = w.cmd(&["EXEC"]);
        assert_eq!(exec, if touched { "*-1\r\n" } else { "*1\r\n+PONG\r\n" }, "WATCH {watched}");
    }
}

#[test]
fn object_subcommands() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    r.cmd(&["SET", "n", "12345"]);
    r.cmd(&["SET", "small", "5"]);
    r.cmd(&["SET", "s", "short string"]);
    r.cmd(&["SET", "l", &"x".repeat(100)]);
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "n"]), "$3\r\nint\r\n");
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "s"]), "$6\r\nembstr\r\n");
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "l"]), "$3\r\nraw\r\n");
    assert_eq!(r.cmd(&["OBJECT", "ENCODING", "nokey"]), "$-1\r\n");
    assert_eq!(r.cmd(&["OBJECT", "REFCOUNT", "s"]), ":1\r\n");
    assert_eq!(r.cmd(&["OBJECT", "REFCOUNT", "small"]), ":2147483647\r\n");
    assert_eq!(r.cmd(&["OBJECT", "IDLETIME", "s"]), ":0\r\n");
    assert!(r.cmd(&["OBJECT", "FREQ", "s"]).starts_with("-ERR An LFU maxmemory policy is not selected"));
    assert_eq!(r.cmd(&["OBJECT", "FOO", "s"]), "-ERR unknown subcommand 'FOO'. Try OBJECT HELP.\r\n");
    assert_eq!(r.cmd(&["OBJECT"]), "-ERR wrong number of arguments for 'object' command\r\n");
    assert_eq!(r.cmd(&["OBJECT", "ENCODING"]), "-ERR wrong number of arguments for 'object|encoding' command\r\n");
    assert!(r.cmd(&["OBJECT", "HELP"]).starts_with('*'));
}

#[test]
fn expire_family() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.cmd(&["EXPIRE", "nokey", "10"]), ":0\r\n");
    assert_eq!(r.cmd(&["TTL", "nokey"]), ":-2\r\n");
    assert_eq!(r.cmd(&["PTTL", "nokey"]), ":-2\r\n");
    assert_eq!(r.cmd(&["EXPIRETIME", "nokey"]), ":-2\r\n");
    r.cmd(&["SET", "k", "v"]);
    assert_eq!(r.cmd(&["TTL", "k"]), ":-1\r\n");
    assert_eq!(r.cmd(&["EXPIRETIME", "k"]), ":-1\r\n");
    // NX / XX / GT / LT
    assert_eq!(r.cmd(&["EXPIRE", "k", "100", "XX"]), ":0\r\n");
    assert_eq!(r.cmd(&["EXPIRE", "k", "100", "GT"]), ":0\r\n");
    assert_eq!(r.cmd(&["EXPIRE", "k", "100", "NX"]), ":1\r\n");
    assert_eq!(r.cmd(&["EXPIRE", "k", "200", "NX"]), ":0\r\n");
    assert_eq!(r.cmd(&["EXPIRE", "k", "50", "GT"]), ":0\r\n");
    assert_eq!(r.cmd(&["EXPIRE", "k", "200", "GT"]), ":1\r\n");
    assert_eq!(r.cmd(&["EXPIRE", "k", "300", "LT"]), ":0\r\n");
    assert_eq!(r.cmd(&["EXPIRE", "k", "150", "lt"]), ":1\r\n");
    assert_eq!(r.cmd(&["TTL", "k"]), ":150\r\n");
    assert_eq!(r.cmd(&["PERSIST", "k"]), ":1\r\n");
    assert_eq!(r.cmd(&["PERSIST", "k"]), ":0\r\n");
    assert_eq!(r.cmd(&["EXPIRE", "k", "10", "LT"]), ":1\r\n");
    assert_eq!(r.cmd(&["PEXPIRE", "k", "100000"]), ":1\r\n");
    assert_eq!(r.cmd(&["TTL", "k"]), ":100\r\n");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(r.cmd(&["EXPIREAT", "k", &(now + 500).to_string()]), ":1\r\n");
    assert_eq!(r.cmd(&["EXPIRETIME", "k"]), format!(":{}\r\n", now + 500));
    assert_eq!(r.cmd(&["PEXPIREAT", "k", &((now + 600) * 1000).to_string()]), ":1\r\n");
    assert_eq!(r.cmd(&["PEXPIRETIME", "k"]), format!(":{}\r\n", (now + 600) * 1000));
    // errors
    assert_eq!(r.cmd(&["EXPIRE", "k", "10", "NX", "XX"]), "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
    assert_eq!(r.cmd(&["EXPIRE", "k", "10", "GT", "LT"]), "-ERR GT and LT options at the same time are not compatible\r\n");
    assert_eq!(r.cmd(&["EXPIRE", "k", "10", "FOO"]), "-ERR Unsupported option FOO\r\n");
    assert_eq!(r.cmd(&["EXPIRE", "k", "ten"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(r.cmd(&["EXPIRE", "k", "9223372036854775807"]), "-ERR invalid expire time in 'expire' command\r\n");
    assert_eq!(r.cmd(&["EXPIRE", "k"]), "-ERR wrong number of arguments for 'expire' command\r\n");
    // a time in the past deletes the key at once
    assert_eq!(r.cmd(&["EXPIRE", "k", "-1"]), ":1\r\n");
    assert_eq!(r.cmd(&["EXISTS", "k"]), ":0\r\n");
}

#[test]
fn lazy_and_active_expiry() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    r.cmd(&["SET", "lazy", "v", "PX", "50"]);
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(r.cmd(&["GET", "lazy"]), "$-1\r\n");
    // Active expiry: 500 keys that are never read again disappear.
    let mut c = s.conn();
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.cmd("SET").arg(format!("ttl:{i}")).arg("v").arg("PX").arg(100).ignore();
    }
    pipe.cmd("SET").arg("keeper").arg("v").ignore();
    let _: () = pipe.query(&mut c).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        if n == 1 {
            break;
        }
        if Instant::now() >= deadline {
            panic!("active expiry left {n} keys");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let info: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    let expired: u64 = info.lines().find_map(|l| l.strip_prefix("expired_keys:")).unwrap().trim().parse().unwrap();
    assert_eq!(expired, 501, "{info}");
}

/// DUMP / RESTORE: Redis's replies and errors, and payloads moving both ways
/// between shardis and redis-server (Redis's long strings arrive
/// LZF-compressed; integers in their integer encodings).
#[test]
fn dump_and_restore() {
    let s = TestServer::start(&[]);
    let mut r = s.conn();
    let mut raw = s.raw();
    let _: () = redis::cmd("SET").arg("k").arg("hello").query(&mut r).unwrap();
    let dumped: Vec<u8> = redis::cmd("DUMP").arg("k").query(&mut r).unwrap();
    assert_eq!(dumped, b"\x00\x05hello\x0a\x00\x63\x72\xdf\x76\x65\x34\x20\x0a");
    let none: Option<Vec<u8>> = redis::cmd("DUMP").arg("nokey").query(&mut r).unwrap();
    assert_eq!(none, None);
    let restore = |r: &mut redis::Connection, args: &[&[u8]]| -> String {
        match redis::cmd("RESTORE").arg(args).query::<redis::Value>(r) {
            Ok(v) => format!("{v:?}"),
            Err(e) => format!("{}: {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
        }
    };
    assert_eq!(restore(&mut r, &[b"k", b"0", &dumped]), "BUSYKEY: Target key name already exists.");
    assert_eq!(restore(&mut r, &[b"k2", b"-1", &dumped]), "ERR: Invalid TTL value, must be >= 0");
    assert_eq!(restore(&mut r, &[b"k2", b"0", b"garbage"]), "ERR: DUMP payload version or checksum are wrong");
    assert_eq!(restore(&mut r, &[b"k2", b"0", &dumped, b"IDLETIME", b"-1"]), "ERR: Invalid IDLETIME value, must be >= 0");
    assert_eq!(restore(&mut r, &[b"k2", b"0", &dumped, b"FREQ", b"256"]), "ERR: Invalid FREQ value, must be >= 0 and <= 255");
    assert_eq!(restore(&mut r, &[b"k2", b"0", &dumped, b"IDLETIME", b"1", b"FREQ", b"1"]), "ERR: syntax error");
    assert_eq!(restore(&mut r, &[b"k2", b"5000", &dumped]), "ok");
    assert_eq!(restore(&mut r, &[b"idle", b"0", &dumped, b"IDLETIME", b"1000"]), "ok");
    let idle: i64 = redis::cmd("OBJECT").arg("IDLETIME").arg("idle").query(&mut r).unwrap();
    assert!((1000..=1002).contains(&idle), "{idle}");
    let pttl: i64 = redis::cmd("PTTL").arg("k2").query(&mut r).unwrap();
    assert!((4000..=5000).contains(&pttl), "{pttl}");
    assert_eq!(restore(&mut r, &[b"k", b"0", &dumped, b"REPLACE"]), "ok");
    // ABSTTL in the past: nothing is created, a replaced key is gone
    assert_eq!(restore(&mut r, &[b"k", b"1000", &dumped, b"REPLACE", b"ABSTTL"]), "ok");
    assert_eq!(raw.cmd(&["EXISTS", "k"]), ":0\r\n");
    let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64 + 60_000;
    assert_eq!(restore(&mut r, &[b"k", at.to_string().as_bytes(), &dumped, b"ABSTTL"]), "ok");
    assert_eq!(raw.cmd(&["PEXPIRETIME", "k"]), format!(":{at}\r\n"));
    // both directions with redis-server
    let redis = TestServer::start_redis_server(&[]);
    let mut other = redis.conn();
    let values: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"7".to_vec(),
        b"-129".to_vec(),
        b"65536".to_vec(),
        b"2147483648".to_vec(),
        b"00123".to_vec(),
        b"ab".repeat(300),
        (0..5000u32).map(|i| (i * 7 % 251) as u8).collect(),
        b"compressible ".repeat(2000),
    ];
    for (i, v) in values.iter().enumerate() {
        let key = format!("v{i}");
        let move_value = |from: &mut redis::Connection, to: &mut redis::Connection| {
            let _: () = redis::cmd("SET").arg(&key).arg(v).query(from).unwrap();
            let payload: Vec<u8> = redis::cmd("DUMP").arg(&key).query(from).unwrap();
            let _: () = redis::cmd("RESTORE").arg(&key).arg(0).arg(&payload).arg("REPLACE").query(to).unwrap();
            let back: Vec<u8> = redis::cmd("GET").arg(&key).query(to).unwrap();
            assert_eq!(&back, v, "value {i}");
        };
        move_value(&mut r, &mut other);
        move_value(&mut other, &mut r);
        // short values: the same bytes as redis-server's DUMP
        if v.len() <= 20 {
            let ours: Vec<u8> = redis::cmd("DUMP").arg(&key).query(&mut r).unwrap();
            let theirs: Vec<u8> = redis::cmd("DUMP").arg(&key).query(&mut other).unwrap();
            assert_eq!(ours, theirs, "value {i}");
        }
    }
}

/// MIGRATE between servers, in both directions with redis-server: keys move
/// with their TTL (or are copied), errors from the target are passed on in
/// Redis's words, missing keys give NOKEY, an unreachable target IOERR.
#[test]
fn migrate() {
    let a = TestServer::start(&[]);
    let b = TestServer::start(&["--requirepass", "pw"]);
    let redis = TestServer::start_redis_server(&[]);
    let (mut ra, mut rr) = (a.raw(), redis.raw());
    let mut rb = b.raw();
    assert_eq!(rb.cmd(&["AUTH", "pw"]), "+OK\r\n");
    let (bp, rp) = (b.port.to_string(), redis.port.to_string());
    ra.cmd(&["SET", "k", "v", "EX", "100"]);
    assert_eq!(ra.cmd(&["MIGRATE", "127.0.0.1", &bp, "k", "0", "5000"]), "-ERR Target instance replied with error: NOAUTH Authentication required.\r\n");
    assert_eq!(ra.cmd(&["EXISTS", "k"]), ":1\r\n", "nothing is deleted when the target refuses");
    assert_eq!(
        ra.cmd(&["MIGRATE", "127.0.0.1", &bp, "k", "0", "5000", "AUTH", "wrong"]),
        "-ERR Target instance replied with error: WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(ra.cmd(&["MIGRATE", "127.0.0.1", &bp, "k", "3", "5000", "AUTH", "pw"]), "+OK\r\n");
    assert_eq!(ra.cmd(&["EXISTS", "k"]), ":0\r\n");
    rb.cmd(&["SELECT", "3"]);
    assert_eq!(rb.cmd(&["GET", "k"]), "$1\r\nv\r\n");
    let ttl: i64 = rb.cmd(&["TTL", "k"]).trim_start_matches(':').trim().parse().unwrap();
    assert!((95..=100).contains(&ttl), "{ttl}");
    // COPY keeps the key; the target refuses an existing key without REPLACE
    ra.cmd(&["SET", "k", "w"]);
    assert_eq!(
        ra.cmd(&["MIGRATE", "127.0.0.1", &bp, "k", "3", "5000", "COPY", "AUTH2", "default", "pw"]),
        "-ERR Target instance replied with error: BUSYKEY Target key name already exists.\r\n"
    );
    assert_eq!(ra.cmd(&["MIGRATE", "127.0.0.1", &bp, "k", "3", "5000", "COPY", "REPLACE", "AUTH", "pw"]), "+OK\r\n");
    assert_eq!(ra.cmd(&["GET", "k"]), "$1\r\nw\r\n");
    assert_eq!(rb.cmd(&["GET", "k"]), "$1\r\nw\r\n");
    // several keys, some missing; none at all
    ra.cmd(&["MSET", "x", "1", "y", "2"]);
    assert_eq!(ra.cmd(&["MIGRATE", "127.0.0.1", &rp, "", "0", "5000", "KEYS", "x", "nokey", "y"]), "+OK\r\n");
    assert_eq!(rr.cmd(&["MGET", "x", "y"]), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    assert_eq!(ra.cmd(&["EXISTS", "x", "y"]), ":0\r\n");
    assert_eq!(ra.cmd(&["MIGRATE", "127.0.0.1", &rp, "", "0", "5000", "KEYS", "nokey"]), "+NOKEY\r\n");
    assert_eq!(
        ra.cmd(&["MIGRATE", "127.0.0.1", &rp, "x", "0", "5000", "KEYS", "y"]),
        "-ERR When using MIGRATE KEYS option, the key argument must be set to the empty string\r\n"
    );
    assert_eq!(ra.cmd(&["MIGRATE", "127.0.0.1", &rp, "x", "0", "5000", "BOGUS"]), "-ERR syntax error\r\n");
    // and back from redis-server (its payloads, its MIGRATE)
    assert_eq!(rr.cmd(&["MIGRATE", "127.0.0.1", &a.port.to_string(), "", "0", "5000", "KEYS", "x", "y"]), "+OK\r\n");
    assert_eq!(ra.cmd(&["MGET", "x", "y"]), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    // an unreachable target
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    assert_eq!(ra.cmd(&["MIGRATE", "127.0.0.1", &closed, "x", "0", "1000"]), "-IOERR error or timeout writing to target instance\r\n");
    assert_eq!(ra.cmd(&["MIGRATE", "127.0.0.1", "notaport", "x", "0", "1000"]), "-IOERR error or timeout writing to target instance\r\n");
    assert_eq!(ra.cmd(&["MIGRATE", "nosuchhost.invalid", "1234", "x", "0", "1000"]), "-IOERR error or timeout connecting to the client\r\n");
    assert_eq!(ra.cmd(&["EXISTS", "x"]), ":1\r\n");
}

/// RESTORE of hostile payloads with a valid checksum (found by the
/// `dump_payload` fuzz target): an LZF header claiming a huge length once
/// made the node reserve that much (an abort, or a panic on capacity
/// overflow). Refused as Redis refuses them; the node keeps serving.
#[test]
fn restore_refuses_lzf_claims_it_cannot_back() {
    let s = TestServer::start(&[]);
    let mut raw = s.raw();
    for body in [
        &b"\x00\xc3\x00\x80\x80\x01\x04\xb8\xb8\x78\x00"[..],
        b"\x00\xc3\x01\x81\xfa\xff\xf7\xff\xad\xad\xad\xad\xad\xad\xad\xad\xad\xad\xad\xad\xad\xad\xad\xad\xad\xad\xad\xad\xad\xad\xad\x00",
    ] {
        let mut payload = body.to_vec();
        payload.extend_from_slice(&10u16.to_le_bytes());
        let crc = shardis::persist::codec::crc64(0, &payload);
        payload.extend_from_slice(&crc.to_le_bytes());
        let mut req = b"*4\r\n$7\r\nRESTORE\r\n$1\r\nk\r\n$1\r\n0\r\n".to_vec();
        req.extend_from_slice(format!("${}\r\n", payload.len()).as_bytes());
        req.extend_from_slice(&payload);
        req.extend_from_slice(b"\r\n");
        raw.send_bytes(&req);
        assert_eq!(raw.read_reply(), "-ERR Bad data format\r\n");
        assert_eq!(raw.cmd(&["EXISTS", "k"]), ":0\r\n");
    }
}
