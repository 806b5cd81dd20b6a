//! String commands against the real binary: replies, options, errors.

mod common;
use common::TestServer;
use redis::Commands;

#[test]
fn set_and_get_with_options() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.cmd(&["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(r.cmd(&["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(r.cmd(&["GET", "missing"]), "$-1\r\n");
    // NX / XX
    assert_eq!(r.cmd(&["SET", "k", "w", "NX"]), "$-1\r\n");
    assert_eq!(r.cmd(&["SET", "new", "w", "XX"]), "$-1\r\n");
    assert_eq!(r.cmd(&["SET", "k", "w", "xx"]), "+OK\r\n");
    // GET flag returns the old value, also when NX blocks the write
    assert_eq!(r.cmd(&["SET", "k", "x", "GET"]), "$1\r\nw\r\n");
    assert_eq!(r.cmd(&["SET", "k", "y", "NX", "GET"]), "$1\r\nx\r\n");
    assert_eq!(r.cmd(&["SET", "fresh", "y", "GET"]), "$-1\r\n");
    // expiry options
    assert_eq!(r.cmd(&["SET", "e", "v", "EX", "100"]), "+OK\r\n");
    assert_eq!(r.cmd(&["TTL", "e"]), ":100\r\n");
    assert_eq!(r.cmd(&["SET", "e", "v2", "KEEPTTL"]), "+OK\r\n");
    assert_eq!(r.cmd(&["TTL", "e"]), ":100\r\n");
    assert_eq!(r.cmd(&["SET", "e", "v3"]), "+OK\r\n");
    assert_eq!(r.cmd(&["TTL", "e"]), ":-1\r\n");
    assert_eq!(r.cmd(&["SET", "p", "v", "PX", "5000"]), "+OK\r\n");
    let pttl: i64 = r.cmd(&["PTTL", "p"]).trim_start_matches(':').trim().parse().unwrap();
    assert!(pttl > 4000 && pttl <= 5000, "{pttl}");
    let at = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1000).to_string();
    assert_eq!(r.cmd(&["SET", "a", "v", "EXAT", &at]), "+OK\r\n");
    assert_eq!(r.cmd(&["EXPIRETIME", "a"]), format!(":{at}\r\n"));
    assert_eq!(r.cmd(&["SET", "b", "v", "PXAT", &format!("{at}000")]), "+OK\r\n");
    assert_eq!(r.cmd(&["PEXPIRETIME", "b"]), format!(":{at}000\r\n"));
    // errors, exactly as Redis words them
    assert_eq!(r.cmd(&["SET", "k", "v", "EX", "0"]), "-ERR invalid expire time in 'set' command\r\n");
    assert_eq!(r.cmd(&["SET", "k", "v", "EX", "-5"]), "-ERR invalid expire time in 'set' command\r\n");
    assert_eq!(r.cmd(&["SET", "k", "v", "EX", "abc"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(r.cmd(&["SET", "k", "v", "KEEPTTL", "EX", "10"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["SET", "k", "v", "NX", "XX"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["SET", "k", "v", "EX", "10", "PX", "10"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["SET", "k", "v", "BOGUS"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["SET", "k", "v", "EX"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["SET", "k", "v", "EX", "9223372036854775807"]), "-ERR invalid expire time in 'set' command\r\n");
    assert_eq!(r.cmd(&["SET", "k"]), "-ERR wrong number of arguments for 'set' command\r\n");
    assert_eq!(r.cmd(&["GET"]), "-ERR wrong number of arguments for 'get' command\r\n");
    assert_eq!(r.cmd(&["GET", "a", "b"]), "-ERR wrong number of arguments for 'get' command\r\n");
}

#[test]
fn set_variants() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.cmd(&["SETNX", "k", "1"]), ":1\r\n");
    assert_eq!(r.cmd(&["SETNX", "k", "2"]), ":0\r\n");
    assert_eq!(r.cmd(&["GET", "k"]), "$1\r\n1\r\n");
    assert_eq!(r.cmd(&["SETEX", "k", "10", "v"]), "+OK\r\n");
    assert_eq!(r.cmd(&["TTL", "k"]), ":10\r\n");
    assert_eq!(r.cmd(&["SETEX", "k", "0", "v"]), "-ERR invalid expire time in 'setex' command\r\n");
    assert_eq!(r.cmd(&["PSETEX", "k", "-1", "v"]), "-ERR invalid expire time in 'psetex' command\r\n");
    assert_eq!(r.cmd(&["PSETEX", "k", "100000", "v"]), "+OK\r\n");
    assert_eq!(r.cmd(&["TTL", "k"]), ":100\r\n");
    assert_eq!(r.cmd(&["GETSET", "k", "new"]), "$1\r\nv\r\n");
    assert_eq!(r.cmd(&["TTL", "k"]), ":-1\r\n");
    assert_eq!(r.cmd(&["GETSET", "nokey", "x"]), "$-1\r\n");
    assert_eq!(r.cmd(&["GETDEL", "k"]), "$3\r\nnew\r\n");
    assert_eq!(r.cmd(&["GETDEL", "k"]), "$-1\r\n");
    assert_eq!(r.cmd(&["EXISTS", "k"]), ":0\r\n");
}

#[test]
fn getex() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    r.cmd(&["SET", "k", "v"]);
    assert_eq!(r.cmd(&["GETEX", "k", "EX", "50"]), "$1\r\nv\r\n");
    assert_eq!(r.cmd(&["TTL", "k"]), ":50\r\n");
    assert_eq!(r.cmd(&["GETEX", "k"]), "$1\r\nv\r\n");
    assert_eq!(r.cmd(&["TTL", "k"]), ":50\r\n");
    assert_eq!(r.cmd(&["GETEX", "k", "PERSIST"]), "$1\r\nv\r\n");
    assert_eq!(r.cmd(&["TTL", "k"]), ":-1\r\n");
    assert_eq!(r.cmd(&["GETEX", "k", "PX", "20000"]), "$1\r\nv\r\n");
    assert_eq!(r.cmd(&["TTL", "k"]), ":20\r\n");
    assert_eq!(r.cmd(&["GETEX", "k", "KEEPTTL"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["GETEX", "k", "EX", "10", "PERSIST"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["GETEX", "k", "EX", "0"]), "-ERR invalid expire time in 'getex' command\r\n");
    assert_eq!(r.cmd(&["GETEX", "nokey", "EX", "10"]), "$-1\r\n");
    // an absolute time in the past deletes the key
    assert_eq!(r.cmd(&["GETEX", "k", "PXAT", "1"]), "$1\r\nv\r\n");
    assert_eq!(r.cmd(&["EXISTS", "k"]), ":0\r\n");
}

#[test]
fn multi_key_strings() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    let _: () = c.mset(&[("a", "1"), ("b", "2"), ("c", "3")]).unwrap();
    let vals: Vec<Option<String>> = c.mget(&["a", "nokey", "c"]).unwrap();
    assert_eq!(vals, vec![Some("1".into()), None, Some("3".into())]);
    let mut r = s.raw();
    assert_eq!(r.cmd(&["MSET", "a"]), "-ERR wrong number of arguments for 'mset' command\r\n");
    assert_eq!(r.cmd(&["MSET", "a", "1", "b"]), "-ERR wrong number of arguments for 'mset' command\r\n");
    assert_eq!(r.cmd(&["MSETNX", "x", "1", "a", "9"]), ":0\r\n");
    assert_eq!(r.cmd(&["EXISTS", "x"]), ":0\r\n");
    assert_eq!(r.cmd(&["GET", "a"]), "$1\r\n1\r\n");
    assert_eq!(r.cmd(&["MSETNX", "x", "1", "y", "2"]), ":1\r\n");
    assert_eq!(r.cmd(&["MGET", "x", "y"]), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    // MSET clears TTLs
    r.cmd(&["SET", "t", "v", "EX", "100"]);
    r.cmd(&["MSET", "t", "w"]);
    assert_eq!(r.cmd(&["TTL", "t"]), ":-1\r\n");
}

#[test]
fn counters() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.cmd(&["INCR", "n"]), ":1\r\n");
    assert_eq!(r.cmd(&["INCRBY", "n", "10"]), ":11\r\n");
    assert_eq!(r.cmd(&["DECR", "n"]), ":10\r\n");
    assert_eq!(r.cmd(&["DECRBY", "n", "20"]), ":-10\r\n");
    assert_eq!(r.cmd(&["INCRBY", "n", "x"]), "-ERR value is not an integer or out of range\r\n");
    r.cmd(&["SET", "s", "abc"]);
    assert_eq!(r.cmd(&["INCR", "s"]), "-ERR value is not an integer or out of range\r\n");
    r.cmd(&["SET", "s", " 1"]);
    assert_eq!(r.cmd(&["INCR", "s"]), "-ERR value is not an integer or out of range\r\n");
    r.cmd(&["SET", "big", "9223372036854775807"]);
    assert_eq!(r.cmd(&["INCR", "big"]), "-ERR increment or decrement would overflow\r\n");
    assert_eq!(r.cmd(&["DECRBY", "n", "-9223372036854775808"]), "-ERR decrement would overflow\r\n");
    // INCR keeps the TTL
    r.cmd(&["SET", "t", "1", "EX", "100"]);
    r.cmd(&["INCR", "t"]);
    assert_eq!(r.cmd(&["TTL", "t"]), ":100\r\n");
    // INCRBYFLOAT prints as Redis does
    r.cmd(&["SET", "f", "10.50"]);
    assert_eq!(r.cmd(&["INCRBYFLOAT", "f", "0.1"]), "$4\r\n10.6\r\n");
    assert_eq!(r.cmd(&["INCRBYFLOAT", "g", "0.1"]), "$3\r\n0.1\r\n");
    assert_eq!(r.cmd(&["INCRBYFLOAT", "g", "0.2"]), "$3\r\n0.3\r\n");
    r.cmd(&["SET", "h", "5.0e3"]);
    assert_eq!(r.cmd(&["INCRBYFLOAT", "h", "2.0e2"]), "$4\r\n5200\r\n");
    assert_eq!(r.cmd(&["INCRBYFLOAT", "s", "1"]), "-ERR value is not a valid float\r\n");
    assert_eq!(r.cmd(&["INCRBYFLOAT", "h", "abc"]), "-ERR value is not a valid float\r\n");
    assert_eq!(r.cmd(&["INCRBYFLOAT", "h", "inf"]), "-ERR increment would produce NaN or Infinity\r\n");
}

#[test]
fn append_strlen_ranges() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.cmd(&["APPEND", "k", "Hello"]), ":5\r\n");
    assert_eq!(r.cmd(&["APPEND", "k", " World"]), ":11\r\n");
    assert_eq!(r.cmd(&["STRLEN", "k"]), ":11\r\n");
    assert_eq!(r.cmd(&["STRLEN", "nokey"]), ":0\r\n");
    assert_eq!(r.cmd(&["GETRANGE", "k", "0", "4"]), "$5\r\nHello\r\n");
    assert_eq!(r.cmd(&["GETRANGE", "k", "-5", "-1"]), "$5\r\nWorld\r\n");
    assert_eq!(r.cmd(&["GETRANGE", "k", "0", "-1"]), "$11\r\nHello World\r\n");
    assert_eq!(r.cmd(&["GETRANGE", "k", "5", "3"]), "$0\r\n\r\n");
    assert_eq!(r.cmd(&["GETRANGE", "k", "-1", "-5"]), "$0\r\n\r\n");
    assert_eq!(r.cmd(&["GETRANGE", "k", "10", "100"]), "$1\r\nd\r\n");
    assert_eq!(r.cmd(&["GETRANGE", "nokey", "0", "1"]), "$0\r\n\r\n");
    assert_eq!(r.cmd(&["SUBSTR", "k", "0", "0"]), "$1\r\nH\r\n");
    assert_eq!(r.cmd(&["SETRANGE", "k", "6", "Redis"]), ":11\r\n");
    assert_eq!(r.cmd(&["GET", "k"]), "$11\r\nHello Redis\r\n");
    assert_eq!(r.cmd(&["SETRANGE", "pad", "3", "x"]), ":4\r\n");
    assert_eq!(r.cmd(&["GET", "pad"]), "$4\r\n\0\0\0x\r\n");
    assert_eq!(r.cmd(&["SETRANGE", "none", "5", ""]), ":0\r\n");
    assert_eq!(r.cmd(&["EXISTS", "none"]), ":0\r\n");
    assert_eq!(r.cmd(&["SETRANGE", "k", "-1", "x"]), "-ERR offset is out of range\r\n");
    assert_eq!(r.cmd(&["SETRANGE", "k", "536870911", "xx"]), "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
}

#[test]
fn binary_keys_and_values() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    let key: Vec<u8> = (0..=255u8).collect();
    let value: Vec<u8> = (0..=255u8).rev().cycle().take(10_000).collect();
    let _: () = c.set(&key, &value).unwrap();
    let back: Vec<u8> = c.get(&key).unwrap();
    assert_eq!(back, value);
    let big = vec![b'x'; 5 * 1024 * 1024];
    let _: () = c.set("big", &big).unwrap();
    let back: Vec<u8> = c.get("big").unwrap();
    assert_eq!(back.len(), big.len());
}

/// LCS, with the examples of Redis's documentation, byte for byte.
#[test]
fn lcs() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.cmd(&["MSET", "key1", "ohmytext", "key2", "mynewtext", "empty", ""]), "+OK\r\n");
    assert_eq!(r.cmd(&["LCS", "key1", "key2"]), "$6\r\nmytext\r\n");
    assert_eq!(r.cmd(&["LCS", "key1", "key2", "LEN"]), ":6\r\n");
    assert_eq!(
        r.cmd(&["LCS", "key1", "key2", "IDX"]),
        "*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n"
    );
    assert_eq!(
        r.cmd(&["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]),
        "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"
    );
    // missing keys are empty strings
    assert_eq!(r.cmd(&["LCS", "key1", "nokey"]), "$0\r\n\r\n");
    assert_eq!(r.cmd(&["LCS", "empty", "nokey", "LEN"]), ":0\r\n");
    // errors
    assert_eq!(r.cmd(&["LCS", "key1", "key2", "LEN", "IDX"]), "-ERR If you want both the length and indexes, please just use IDX.\r\n");
    assert_eq!(r.cmd(&["LCS", "key1", "key2", "BOGUS"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["LCS", "key1", "key2", "MINMATCHLEN"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "x"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(r.cmd(&["LCS", "key1"]), "-ERR wrong number of arguments for 'lcs' command\r\n");
    // RESP3: a map
    r.cmd(&["HELLO", "3"]);
    assert!(r.cmd(&["LCS", "key1", "key2", "IDX"]).starts_with("%2\r\n$7\r\nmatches\r\n"));
}

/// LCS on random strings, against redis-server itself: the subsequence, the
/// ranges and their order (ties in the table are resolved as Redis does).
#[test]
fn lcs_matches_redis_server_on_random_strings() {
    let ours = TestServer::start(&[]);
    let redis = TestServer::start_redis_server(&[]);
    let (mut a, mut b) = (ours.raw(), redis.raw());
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..60 {
        let random_text = |len: u64, next: &mut dyn FnMut() -> u64| -> String { (0..len).map(|_| (b'a' + (next() % 4) as u8) as char).collect() };
        let x = random_text(next() % 40, &mut next);
        let y = random_text(next() % 40, &mut next);
        for r in [&mut a, &mut b] {
            r.cmd(&["MSET", "x", &x, "y", &y]);
        }
        for cmd in [vec!["LCS", "x", "y"], vec!["LCS", "x", "y", "IDX", "WITHMATCHLEN"], vec!["LCS", "y", "x", "IDX", "MINMATCHLEN", "2"]] {
            assert_eq!(a.cmd(&cmd), b.cmd(&cmd), "round {round}: {cmd:?} with x={x} y={y}");
        }
    }
}
