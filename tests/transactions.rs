//! Optimistic locking: WATCH / MULTI / EXEC / DISCARD / UNWATCH with Redis
//! 7's semantics, checked byte for byte, plus concurrency: a check-and-set
//! counter and the atomicity of a large EXEC.

mod common;
use common::{TestServer, against_redis};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[test]
fn multi_exec_discard_rules() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.cmd(&["EXEC"]), "-ERR EXEC without MULTI\r\n");
    assert_eq!(r.cmd(&["DISCARD"]), "-ERR DISCARD without MULTI\r\n");
    assert_eq!(r.cmd(&["MULTI"]), "+OK\r\n");
    // nested MULTI and WATCH inside MULTI are errors that do not abort
    assert_eq!(r.cmd(&["MULTI"]), "-ERR MULTI calls can not be nested\r\n");
    assert_eq!(r.cmd(&["WATCH", "k"]), "-ERR WATCH inside MULTI is not allowed\r\n");
    assert_eq!(r.cmd(&["SET", "k", "1"]), "+QUEUED\r\n");
    assert_eq!(r.cmd(&["INCR", "k"]), "+QUEUED\r\n");
    assert_eq!(r.cmd(&["GET", "k"]), "+QUEUED\r\n");
    assert_eq!(r.cmd(&["EXEC"]), "*3\r\n+OK\r\n:2\r\n$1\r\n2\r\n");
    // DISCARD drops the queue
    r.cmd(&["MULTI"]);
    r.cmd(&["SET", "k", "discarded"]);
    assert_eq!(r.cmd(&["DISCARD"]), "+OK\r\n");
    assert_eq!(r.cmd(&["GET", "k"]), "$1\r\n2\r\n");
    // queueing errors: EXECABORT, nothing applied
    r.cmd(&["MULTI"]);
    assert_eq!(r.cmd(&["SET", "k"]), "-ERR wrong number of arguments for 'set' command\r\n");
    assert_eq!(r.cmd(&["NOSUCH"]), "-ERR unknown command 'NOSUCH', with args beginning with: \r\n");
    assert_eq!(r.cmd(&["SET", "k", "aborted"]), "+QUEUED\r\n");
    assert_eq!(r.cmd(&["EXEC"]), "-EXECABORT Transaction discarded because of previous errors.\r\n");
    assert_eq!(r.cmd(&["GET", "k"]), "$1\r\n2\r\n");
    // runtime errors sit inside the reply; the other commands run
    r.cmd(&["SET", "s", "abc"]);
    r.cmd(&["MULTI"]);
    r.cmd(&["INCR", "s"]);
    r.cmd(&["SET", "t", "1"]);
    assert_eq!(r.cmd(&["EXEC"]), "*2\r\n-ERR value is not an integer or out of range\r\n+OK\r\n");
    assert_eq!(r.cmd(&["GET", "t"]), "$1\r\n1\r\n");
    // SELECT inside MULTI applies to the rest of the transaction
    r.cmd(&["MULTI"]);
    r.cmd(&["SELECT", "1"]);
    r.cmd(&["SET", "x", "db1"]);
    assert_eq!(r.cmd(&["EXEC"]), "*2\r\n+OK\r\n+OK\r\n");
    assert_eq!(r.cmd(&["GET", "x"]), "$3\r\ndb1\r\n");
    r.cmd(&["SELECT", "0"]);
    // empty transaction, UNWATCH is queued
    r.cmd(&["MULTI"]);
    assert_eq!(r.cmd(&["EXEC"]), "*0\r\n");
    r.cmd(&["MULTI"]);
    assert_eq!(r.cmd(&["UNWATCH"]), "+QUEUED\r\n");
    assert_eq!(r.cmd(&["EXEC"]), "*1\r\n+OK\r\n");
    assert_eq!(r.cmd(&["WATCH"]), "-ERR wrong number of arguments for 'watch' command\r\n");
    // RESET leaves MULTI
    r.cmd(&["MULTI"]);
    r.cmd(&["SET", "k", "reset"]);
    assert_eq!(r.cmd(&["RESET"]), "+RESET\r\n");
    assert_eq!(r.cmd(&["EXEC"]), "-ERR EXEC without MULTI\r\n");
    assert_eq!(r.cmd(&["GET", "k"]), "$1\r\n2\r\n");
}

#[test]
fn watch_touched_by_anyone_aborts() {
    let s = TestServer::start(&[]);
    let mut me = s.raw();
    let mut other = s.raw();
    // another client writes
    me.cmd(&["SET", "w", "0"]);
    me.cmd(&["WATCH", "w"]);
    other.cmd(&["SET", "w", "1"]);
    me.cmd(&["MULTI"]);
    me.cmd(&["SET", "w", "mine"]);
    assert_eq!(me.cmd(&["EXEC"]), "*-1\r\n");
    assert_eq!(me.cmd(&["GET", "w"]), "$1\r\n1\r\n");
    // the watching client itself writes before MULTI
    me.cmd(&["WATCH", "w"]);
    me.cmd(&["SET", "w", "self"]);
    me.cmd(&["MULTI"]);
    me.cmd(&["GET", "w"]);
    assert_eq!(me.cmd(&["EXEC"]), "*-1\r\n");
    // untouched: the transaction runs, and its own writes do not count
    me.cmd(&["WATCH", "w", "other"]);
    me.cmd(&["MULTI"]);
    me.cmd(&["SET", "w", "a"]);
    me.cmd(&["SET", "w", "b"]);
    assert_eq!(me.cmd(&["EXEC"]), "*2\r\n+OK\r\n+OK\r\n");
    // EXEC unwatches: a later write does not affect the next transaction
    other.cmd(&["SET", "w", "later"]);
    me.cmd(&["MULTI"]);
    me.cmd(&["GET", "w"]);
    assert_eq!(me.cmd(&["EXEC"]), "*1\r\n$5\r\nlater\r\n");
    // UNWATCH forgets
    me.cmd(&["WATCH", "w"]);
    me.cmd(&["UNWATCH"]);
    other.cmd(&["SET", "w", "x"]);
    me.cmd(&["MULTI"]);
    me.cmd(&["GET", "w"]);
    assert_eq!(me.cmd(&["EXEC"]), "*1\r\n$1\r\nx\r\n");
    // DISCARD unwatches too
    me.cmd(&["WATCH", "w"]);
    me.cmd(&["MULTI"]);
    me.cmd(&["DISCARD"]);
    other.cmd(&["SET", "w", "y"]);
    me.cmd(&["MULTI"]);
    me.cmd(&["GET", "w"]);
    assert_eq!(me.cmd(&["EXEC"]), "*1\r\n$1\r\ny\r\n");
    // DEL, RENAME, EXPIRE of a watched key touch it; a write to another db does not
    for touch in [&["DEL", "w"][..], &["RENAME", "w", "w2"], &["EXPIRE", "w", "100"], &["APPEND", "w", "z"]] {
        other.cmd(&["SET", "w", "v"]);
        me.cmd(&["WATCH", "w"]);
        other.cmd(touch);
        me.cmd(&["MULTI"]);
        me.cmd(&["PING"]);
        assert_eq!(me.cmd(&["EXEC"]), "*-1\r\n", "{touch:?} did not touch the watched key");
    }
    other.cmd(&["SET", "w", "v"]);
    me.cmd(&["WATCH", "w"]);
    other.cmd(&["SELECT", "3"]);
    other.cmd(&["SET", "w", "elsewhere"]);
    me.cmd(&["MULTI"]);
    me.cmd(&["PING"]);
    assert_eq!(me.cmd(&["EXEC"]), "*1\r\n+PONG\r\n");
    // RESP3: the aborted EXEC is a null
    me.cmd(&["HELLO", "3"]);
    me.cmd(&["WATCH", "h"]);
    other.cmd(&["SELECT", "0"]);
    other.cmd(&["SET", "h", "1"]);
    me.cmd(&["MULTI"]);
    me.cmd(&["GET", "h"]);
    assert_eq!(me.cmd(&["EXEC"]), "_\r\n");
}

#[test]
fn flushall_touches_only_existing_watched_keys() {
    let s = TestServer::start(&[]);
    let mut me = s.raw();
    let mut other = s.raw();
    me.cmd(&["WATCH", "missing"]);
    other.cmd(&["FLUSHALL"]);
    me.cmd(&["MULTI"]);
    me.cmd(&["PING"]);
    assert_eq!(me.cmd(&["EXEC"]), "*1\r\n+PONG\r\n");
    me.cmd(&["SET", "present", "1"]);
    me.cmd(&["WATCH", "present"]);
    other.cmd(&["FLUSHDB"]);
    me.cmd(&["MULTI"]);
    me.cmd(&["PING"]);
    assert_eq!(me.cmd(&["EXEC"]), "*-1\r\n");
}

#[test]
fn expiry_of_watched_keys_aborts() {
    let s = TestServer::start(&[]);
    let mut me = s.raw();
    // logically expired at EXEC time (whether or not removed yet)
    me.cmd(&["SET", "px", "1", "PX", "100"]);
    me.cmd(&["WATCH", "px"]);
    std::thread::sleep(Duration::from_millis(250));
    me.cmd(&["MULTI"]);
    me.cmd(&["PING"]);
    assert_eq!(me.cmd(&["EXEC"]), "*-1\r\n");
    // removed by active expiry while watched
    me.cmd(&["SET", "active", "1", "PX", "50"]);
    me.cmd(&["WATCH", "active"]);
    std::thread::sleep(Duration::from_millis(400));
    me.cmd(&["MULTI"]);
    me.cmd(&["PING"]);
    assert_eq!(me.cmd(&["EXEC"]), "*-1\r\n");
}

#[test]
fn eviction_of_a_watched_key_aborts() {
    let s = TestServer::start(&["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut me = s.raw();
    let mut c = s.conn();
    me.cmd(&["SET", "victim", "v"]);
    me.cmd(&["WATCH", "victim"]);
    let value = vec![b'x'; 1000];
    let mut pipe = redis::pipe();
    for i in 0..10_000 {
        pipe.cmd("SET").arg(format!("fill:{i}")).arg(&value).ignore();
    }
    let _: () = pipe.query(&mut c).unwrap();
    assert_eq!(me.cmd(&["EXISTS", "victim"]), ":0\r\n", "the watched key should have been evicted");
    me.cmd(&["MULTI"]);
    me.cmd(&["PING"]);
    assert_eq!(me.cmd(&["EXEC"]), "*-1\r\n");
}

#[test]
fn oom_while_queueing_aborts_the_transaction() {
    let s = TestServer::start(&["--maxmemory-policy", "noeviction"]);
    let mut r = s.raw();
    let value = "v".repeat(50_000);
    for i in 0..40 {
        r.cmd(&["SET", &format!("k{i}"), &value]);
    }
    // then a limit well below what is used (as a write storm would leave
    // it): memory that comes and goes between commands cannot bring the
    // node back under it
    let info = r.cmd(&["INFO", "memory"]);
    let used: u64 = info.lines().find_map(|l| l.strip_prefix("used_memory:")).unwrap().trim().parse().unwrap();
    assert_eq!(r.cmd(&["CONFIG", "SET", "maxmemory", &(used - 500_000).to_string()]), "+OK\r\n");
    r.cmd(&["MULTI"]);
    assert_eq!(r.cmd(&["SET", "more", "x"]), "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
    // while over the limit, Redis refuses to queue anything, reads included
    assert_eq!(r.cmd(&["GET", "k0"]), "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
    assert_eq!(r.cmd(&["EXEC"]), "-EXECABORT Transaction discarded because of previous errors.\r\n");
}

#[test]
fn disconnect_unwatches() {
    if against_redis() {
        return; // total_watched_keys is Redis 7.4
    }
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    let watched = |c: &mut redis::Connection| -> String {
        let info: String = redis::cmd("INFO").arg("clients").query(c).unwrap();
        info.lines().find_map(|l| l.strip_prefix("total_watched_keys:")).unwrap().trim().to_string()
    };
    {
        let mut w = s.raw();
        w.cmd(&["WATCH", "a", "b", "c"]);
        assert_eq!(watched(&mut c), "3");
    }
    for _ in 0..100 {
        if watched(&mut c) == "0" {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("a disconnected client still watches keys");
}

/// 20 clients increment one key 200 times each with WATCH/GET/MULTI/SET/EXEC
/// retry loops: no increment is lost.
#[test]
fn check_and_set_counter_is_exact() {
    let s = TestServer::start(&[]);
    let clients = 20;
    let per_client = 200;
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let client = s.client();
            std::thread::spawn(move || {
                let mut c = client.get_connection().unwrap();
                let mut retries = 0u64;
                for _ in 0..per_client {
                    loop {
                        let _: () = redis::cmd("WATCH").arg("counter").query(&mut c).unwrap();
                        let v: Option<i64> = redis::cmd("GET").arg("counter").query(&mut c).unwrap();
                        let next = v.unwrap_or(0) + 1;
                        let res: Option<(String,)> = redis::pipe().atomic().cmd("SET").arg("counter").arg(next).query(&mut c).unwrap();
                        if res.is_some() {
                            break;
                        }
                        retries += 1;
                    }
                }
                retries
            })
        })
        .collect();
    let retries: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let mut c = s.conn();
    let v: i64 = redis::cmd("GET").arg("counter").query(&mut c).unwrap();
    assert_eq!(v, clients * per_client);
    eprintln!("check-and-set: {} increments, {retries} retries", clients * per_client);
}

/// While EXEC of 1,000 SETs over many shards runs, a concurrent reader never
/// sees part of it.
#[test]
fn exec_is_atomic_for_concurrent_readers() {
    let s = TestServer::start(&[]);
    let keys: Vec<String> = (0..1000).map(|i| format!("atom:{i}")).collect();
    let mut w = s.conn();
    let _: () = redis::cmd("MSET").arg(keys.iter().flat_map(|k| [k.clone(), "gen0".into()]).collect::<Vec<_>>()).query(&mut w).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let client = s.client();
            let stop = stop.clone();
            let sample: Vec<String> = keys.iter().step_by(37).cloned().collect();
            std::thread::spawn(move || {
                let mut c = client.get_connection().unwrap();
                let mut reads = 0;
                while !stop.load(Ordering::Relaxed) {
                    let vals: Vec<String> = redis::cmd("MGET").arg(&sample).query(&mut c).unwrap();
                    assert!(vals.iter().all(|v| *v == vals[0]), "saw a partial transaction: {vals:?}");
                    // single-key reads, one at a time, in a MULTI so they are one snapshot
                    let (a, b): (String, String) =
                        redis::pipe().atomic().cmd("GET").arg(&sample[0]).cmd("GET").arg(&sample[sample.len() - 1]).query(&mut c).unwrap();
                    assert_eq!(a, b, "saw a partial transaction");
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for generation in 1..=20 {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for k in &keys {
            pipe.cmd("SET").arg(k).arg(format!("gen{generation}")).ignore();
        }
        let _: () = pipe.query(&mut w).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let reads: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(reads > 0);
    let v: String = redis::cmd("GET").arg("atom:999").query(&mut w).unwrap();
    assert_eq!(v, "gen20");
}
