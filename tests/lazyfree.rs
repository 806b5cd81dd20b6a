//! Lazy freeing: UNLINK (and DEL under `lazyfree-lazy-user-del`, FLUSHALL
//! under `lazyfree-lazy-user-flush`) frees big values in the background:
//! the key is gone at once, the memory comes back soon after, and INFO
//! counts what was freed that way. Run against redis-server too.

mod common;

use common::{Raw, TestServer, info_field};
use std::time::Duration;

fn field(r: &mut Raw, name: &str) -> u64 {
    info_field(r, "memory", name).unwrap_or_else(|| panic!("{name} in INFO memory")).parse().unwrap()
}

fn big_hash(r: &mut Raw, key: &str, fields: usize) {
    for chunk in 0..fields / 1000 {
        let mut c = vec!["HSET".to_string(), key.to_string()];
        for f in chunk * 1000..(chunk + 1) * 1000 {
            c.push(format!("field:{f}"));
            c.push(format!("value:{f}"));
        }
        let c: Vec<&str> = c.iter().map(|s| s.as_str()).collect();
        r.cmd(&c);
    }
}

/// Waits for the background frees to finish; the count freed that way.
fn settle(r: &mut Raw) -> u64 {
    let done = (0..2000).any(|_| {
        let done = field(r, "lazyfree_pending_objects") == 0;
        if !done {
            std::thread::sleep(Duration::from_millis(10));
        }
        done
    });
    assert!(done, "lazy frees never finished");
    field(r, "lazyfreed_objects")
}

#[test]
fn big_values_are_freed_in_the_background() {
    for (name, s) in [("shardis", TestServer::start(&[])), ("redis-server", TestServer::start_redis_server(&[]))] {
        let mut r = s.raw();
        let base = field(&mut r, "used_memory");
        big_hash(&mut r, "big", 200_000);
        let full = field(&mut r, "used_memory");
        assert!(full > base + 10_000_000, "{name}: the hash takes memory ({base} -> {full})");
        assert_eq!(r.cmd(&["UNLINK", "big", "missing"]), ":1\r\n", "{name}");
        assert_eq!(r.cmd(&["EXISTS", "big"]), ":0\r\n", "{name}: gone at once");
        assert_eq!(settle(&mut r), 1, "{name}: freed in the background");
        let after = field(&mut r, "used_memory");
        assert!(after < base + (full - base) / 10, "{name}: memory came back ({after} after {full}, base {base})");
        // small values are freed in place; DEL frees in place by default
        r.cmd(&["RPUSH", "small", "a", "b"]);
        assert_eq!(r.cmd(&["UNLINK", "small"]), ":1\r\n", "{name}");
        big_hash(&mut r, "big2", 10_000);
        assert_eq!(r.cmd(&["DEL", "big2"]), ":1\r\n", "{name}");
        assert_eq!(settle(&mut r), 1, "{name}: neither went to the background");
        // ...unless lazyfree-lazy-user-del says otherwise
        assert_eq!(r.cmd(&["CONFIG", "SET", "lazyfree-lazy-user-del", "yes"]), "+OK\r\n", "{name}");
        assert_eq!(r.cmd(&["CONFIG", "GET", "lazyfree-lazy-user-del"]), "*2\r\n$22\r\nlazyfree-lazy-user-del\r\n$3\r\nyes\r\n");
        big_hash(&mut r, "big3", 10_000);
        assert_eq!(r.cmd(&["DEL", "big3"]), ":1\r\n", "{name}");
        assert_eq!(settle(&mut r), 2, "{name}: DEL went to the background");
        assert!(r.cmd(&["CONFIG", "SET", "lazyfree-lazy-user-flush", "maybe"]).starts_with("-ERR"), "{name}");
    }
}

#[test]
fn flushall_async_returns_at_once_and_frees_later() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    let base = field(&mut r, "used_memory");
    big_hash(&mut r, "h", 100_000);
    for l in 0..50 {
        r.cmd(&["RPUSH", &format!("l{l}"), &"x".repeat(1000), &"y".repeat(1000)]);
    }
    assert_eq!(r.cmd(&["CONFIG", "SET", "lazyfree-lazy-user-flush", "yes"]), "+OK\r\n");
    let before = settle(&mut r);
    assert_eq!(r.cmd(&["FLUSHALL"]), "+OK\r\n");
    assert_eq!(r.cmd(&["DBSIZE"]), ":0\r\n");
    assert!(settle(&mut r) > before, "the flush went to the background");
    assert!(field(&mut r, "used_memory") < base + 2_000_000);
}
