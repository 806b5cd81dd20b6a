//! Pessimistic locks: SET IFEQ/IFNE, DELEX and DELIFEQ for leases, and the
//! blocking LOCK.ACQUIRE with FIFO queues and fencing tokens.

mod common;
use common::{Raw, TestServer, against_redis, blocked_clients};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn token(reply: &str) -> u64 {
    reply.strip_prefix(':').and_then(|t| t.trim().parse().ok()).unwrap_or_else(|| panic!("not a token: {reply:?}"))
}

#[test]
fn compare_and_set_and_delete() {
    if against_redis() {
        return; // IFEQ, DELEX and DELIFEQ are Redis 8.4 / Valkey 9
    }
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    // IFEQ never creates; IFNE may
    assert_eq!(r.cmd(&["SET", "k", "v1", "IFEQ", "x"]), "$-1\r\n");
    assert_eq!(r.cmd(&["EXISTS", "k"]), ":0\r\n");
    assert_eq!(r.cmd(&["SET", "k", "v1", "IFNE", "x"]), "+OK\r\n");
    assert_eq!(r.cmd(&["SET", "k", "v2", "IFNE", "v1"]), "$-1\r\n");
    assert_eq!(r.cmd(&["SET", "k", "v2", "IFEQ", "v1", "PX", "10000"]), "+OK\r\n");
    assert!(r.cmd(&["PTTL", "k"]).starts_with(":"));
    assert_eq!(r.cmd(&["SET", "k", "v3", "IFEQ", "v2", "GET"]), "$2\r\nv2\r\n");
    assert_eq!(r.cmd(&["SET", "k", "v4", "IFEQ", "nope", "GET"]), "$2\r\nv3\r\n");
    assert_eq!(r.cmd(&["GET", "k"]), "$2\r\nv3\r\n");
    assert_eq!(r.cmd(&["SET", "k", "v", "IFEQ", "a", "NX"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["SET", "k", "v", "XX", "IFNE", "a"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["SET", "k", "v", "IFEQ"]), "-ERR syntax error\r\n");
    // DELEX
    assert_eq!(r.cmd(&["DELEX", "k", "IFEQ", "other"]), ":0\r\n");
    assert_eq!(r.cmd(&["DELEX", "k", "IFNE", "v3"]), ":0\r\n");
    assert_eq!(r.cmd(&["DELEX", "k", "IFEQ", "v3"]), ":1\r\n");
    assert_eq!(r.cmd(&["DELEX", "k", "IFEQ", "v3"]), ":0\r\n");
    r.cmd(&["SET", "k", "a"]);
    assert_eq!(r.cmd(&["DELEX", "k", "IFNE", "b"]), ":1\r\n");
    r.cmd(&["SET", "k", "a"]);
    assert_eq!(r.cmd(&["DELEX", "k"]), ":1\r\n");
    assert_eq!(r.cmd(&["DELEX", "k"]), ":0\r\n");
    assert_eq!(r.cmd(&["DELEX", "k", "IFEQ"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["DELEX", "k", "FOO", "x"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["DELEX"]), "-ERR wrong number of arguments for 'delex' command\r\n");
    // DELIFEQ
    r.cmd(&["SET", "k", "tok"]);
    assert_eq!(r.cmd(&["DELIFEQ", "k", "other"]), ":0\r\n");
    assert_eq!(r.cmd(&["DELIFEQ", "k", "tok"]), ":1\r\n");
    assert_eq!(r.cmd(&["DELIFEQ", "k", "tok"]), ":0\r\n");
}

#[test]
fn lock_commands_basics() {
    if against_redis() {
        return;
    }
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    let t1 = token(&r.cmd(&["LOCK.ACQUIRE", "L", "alice", "10000"]));
    // the lock is an ordinary key holding the owner
    assert_eq!(r.cmd(&["GET", "L"]), "$5\r\nalice\r\n");
    assert!(token(&r.cmd(&["PTTL", "L"])) > 9000);
    assert_eq!(r.cmd(&["SET", "L", "x", "NX"]), "$-1\r\n");
    assert_eq!(r.cmd(&["LOCK.ACQUIRE", "L", "bob", "10000"]), "$-1\r\n");
    // re-acquiring by the holder refreshes it with a newer token
    let t2 = token(&r.cmd(&["LOCK.ACQUIRE", "L", "alice", "20000"]));
    assert!(t2 > t1);
    assert_eq!(r.cmd(&["LOCK.EXTEND", "L", "bob", "5000"]), ":0\r\n");
    assert_eq!(r.cmd(&["LOCK.EXTEND", "L", "alice", "50000"]), ":1\r\n");
    assert!(token(&r.cmd(&["PTTL", "L"])) > 40000);
    assert_eq!(r.cmd(&["LOCK.RELEASE", "L", "bob"]), ":0\r\n");
    assert_eq!(r.cmd(&["LOCK.RELEASE", "L", "alice"]), ":1\r\n");
    assert_eq!(r.cmd(&["LOCK.RELEASE", "L", "alice"]), ":0\r\n");
    assert_eq!(r.cmd(&["EXISTS", "L"]), ":0\r\n");
    // errors
    assert_eq!(r.cmd(&["LOCK.ACQUIRE", "L", "a", "0"]), "-ERR invalid ttl in 'lock.acquire' command\r\n");
    assert_eq!(r.cmd(&["LOCK.ACQUIRE", "L", "a", "x"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(r.cmd(&["LOCK.ACQUIRE", "L", "a", "10", "WAIT"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["LOCK.ACQUIRE", "L", "a", "10", "WAIT", "-1"]), "-ERR invalid wait in 'lock.acquire' command\r\n");
    assert_eq!(r.cmd(&["LOCK.ACQUIRE", "L", "a", "10", "AFTER", "-1"]), "-ERR invalid after in 'lock.acquire' command\r\n");
    assert_eq!(r.cmd(&["LOCK.ACQUIRE", "L", "a", "10", "AFTER", "x"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(r.cmd(&["LOCK.ACQUIRE", "L", "a", "10", "WAIT", "5", "BOGUS", "1"]), "-ERR syntax error\r\n");
    assert_eq!(r.cmd(&["LOCK.ACQUIRE", "L"]), "-ERR wrong number of arguments for 'lock.acquire' command\r\n");
    // a timeout answers nil
    r.cmd(&["LOCK.ACQUIRE", "T", "holder", "10000"]);
    assert_eq!(r.cmd(&["LOCK.ACQUIRE", "T", "late", "10000", "WAIT", "100"]), "$-1\r\n");
    // inside MULTI, WAIT does not block
    r.cmd(&["MULTI"]);
    r.cmd(&["LOCK.ACQUIRE", "T", "late", "10000", "WAIT", "0"]);
    assert_eq!(r.cmd(&["EXEC"]), "*1\r\n$-1\r\n");
    assert_eq!(blocked_clients(&mut r), 0);
}

/// Tokens strictly increase across acquisitions, expiries, deletions and
/// re-creations, and a paused holder's token is older than the next one's.
#[test]
fn fencing_tokens_strictly_increase() {
    if against_redis() {
        return;
    }
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    let mut last = 0;
    let mut check = |t: u64| {
        assert!(t > last, "token {t} not above {last}");
        last = t;
    };
    check(token(&r.cmd(&["LOCK.ACQUIRE", "F", "a", "10000"])));
    r.cmd(&["LOCK.RELEASE", "F", "a"]);
    check(token(&r.cmd(&["LOCK.ACQUIRE", "F", "b", "50"])));
    std::thread::sleep(Duration::from_millis(120)); // expires
    check(token(&r.cmd(&["LOCK.ACQUIRE", "F", "c", "10000"])));
    r.cmd(&["DEL", "F"]);
    check(token(&r.cmd(&["LOCK.ACQUIRE", "F", "d", "10000"])));
    r.cmd(&["FLUSHALL"]);
    check(token(&r.cmd(&["LOCK.ACQUIRE", "F", "e", "10000"])));
    check(token(&r.cmd(&["LOCK.ACQUIRE", "other-key", "e", "10000"])));
    // a paused holder: its lease runs out, the next holder's token is newer,
    // so a resource that remembers the highest token refuses the old holder
    let paused = token(&r.cmd(&["LOCK.ACQUIRE", "P", "slow", "100"]));
    std::thread::sleep(Duration::from_millis(200));
    let next = token(&r.cmd(&["LOCK.ACQUIRE", "P", "fast", "10000"]));
    assert!(next > paused);
    assert_eq!(r.cmd(&["LOCK.RELEASE", "P", "slow"]), ":0\r\n", "the paused holder must not release the new lease");
    // AFTER: a token seen on another node (here far ahead of this node's
    // clock) is exceeded, and later tokens stay above it
    let elsewhere = next + 3_600_000_000;
    let after = token(&r.cmd(&["LOCK.ACQUIRE", "Q", "x", "10000", "AFTER", &elsewhere.to_string(), "WAIT", "100"]));
    assert!(after > elsewhere, "{after} not above {elsewhere}");
    r.cmd(&["LOCK.RELEASE", "Q", "x"]);
    assert!(token(&r.cmd(&["LOCK.ACQUIRE", "Q", "y", "10000"])) > after);
}

/// Waiters are granted in arrival order; a timed-out or disconnected waiter
/// is skipped.
#[test]
fn waiters_are_served_fifo() {
    if against_redis() {
        return;
    }
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    r.cmd(&["LOCK.ACQUIRE", "Q", "holder", "60000"]);
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    // arrivals: w0, w1, (gone: disconnects), w2, (short: times out), w3
    let mut gone = None;
    for name in ["w0", "w1", "gone", "w2", "short", "w3"] {
        let before = blocked_clients(&mut r);
        if name == "gone" {
            let mut g = s.raw();
            g.send(&["LOCK.ACQUIRE", "Q", "gone", "60000", "WAIT", "0"]);
            gone = Some(g);
        } else {
            let port = s.port;
            let order = order.clone();
            let wait = if name == "short" { "300" } else { "0" };
            threads.push(std::thread::spawn(move || {
                let mut c = Raw::connect(port);
                c.stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let reply = c.cmd(&["LOCK.ACQUIRE", "Q", name, "60000", "WAIT", wait]);
                if reply.starts_with(':') {
                    order.lock().unwrap().push(name.to_string());
                    std::thread::sleep(Duration::from_millis(20));
                    assert_eq!(c.cmd(&["LOCK.RELEASE", "Q", name]), ":1\r\n");
                } else {
                    assert_eq!(reply, "$-1\r\n");
                    order.lock().unwrap().push(format!("{name}:timeout"));
                }
            }));
        }
        // wait until this arrival is queued, so arrival order is known
        for _ in 0..500 {
            if blocked_clients(&mut r) > before {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(blocked_clients(&mut r), before + 1, "{name} did not queue");
    }
    drop(gone); // disconnects while queued
    std::thread::sleep(Duration::from_millis(400)); // "short" times out meanwhile
    assert_eq!(r.cmd(&["LOCK.RELEASE", "Q", "holder"]), ":1\r\n");
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec!["short:timeout", "w0", "w1", "w2", "w3"]);
    assert_eq!(blocked_clients(&mut r), 0);
}

/// 20 clients contend for one lease lock (SET NX PX + DELEX IFEQ) and for
/// one blocking lock; each holder checks a shared "current holder" record:
/// never two holders at once.
#[test]
fn mutual_exclusion_under_contention() {
    if against_redis() {
        return;
    }
    let s = TestServer::start(&[]);
    for blocking in [false, true] {
        let current = Arc::new(AtomicUsize::new(0));
        let grants = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (1..=20usize)
            .map(|id| {
                let client = s.client();
                let current = current.clone();
                let grants = grants.clone();
                std::thread::spawn(move || {
                    let mut c = client.get_connection().unwrap();
                    let owner = format!("client-{id}");
                    for _ in 0..10 {
                        loop {
                            let got = if blocking {
                                let t: Option<u64> = redis::cmd("LOCK.ACQUIRE").arg("M").arg(&owner).arg(5000).arg("WAIT").arg(10000).query(&mut c).unwrap();
                                t.is_some()
                            } else {
                                let r: Option<String> = redis::cmd("SET").arg("M").arg(&owner).arg("NX").arg("PX").arg(5000).query(&mut c).unwrap();
                                r.is_some()
                            };
                            if got {
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        assert_eq!(current.swap(id, Ordering::SeqCst), 0, "two holders at once");
                        // the holder record on the server agrees
                        let v: String = redis::cmd("GET").arg("M").query(&mut c).unwrap();
                        assert_eq!(v, owner);
                        std::thread::sleep(Duration::from_micros(200));
                        assert_eq!(current.swap(0, Ordering::SeqCst), id, "someone entered meanwhile");
                        grants.fetch_add(1, Ordering::SeqCst);
                        let released: i64 = if blocking {
                            redis::cmd("LOCK.RELEASE").arg("M").arg(&owner).query(&mut c).unwrap()
                        } else {
                            redis::cmd("DELEX").arg("M").arg("IFEQ").arg(&owner).query(&mut c).unwrap()
                        };
                        assert_eq!(released, 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(grants.load(Ordering::SeqCst), 200);
    }
}

/// A holder that crashes without releasing is replaced once its TTL ends,
/// by a waiter that was queued (woken by the expiry, not by polling).
#[test]
fn crashed_holder_is_replaced_after_ttl() {
    if against_redis() {
        return;
    }
    let s = TestServer::start(&[]);
    {
        let mut crashing = s.raw();
        token(&crashing.cmd(&["LOCK.ACQUIRE", "C", "crashed", "300"]));
        // dropped here without releasing
    }
    let mut next = s.raw();
    let t = token(&next.cmd(&["LOCK.ACQUIRE", "C", "next", "10000", "WAIT", "5000"]));
    assert!(t > 0);
    assert_eq!(next.cmd(&["GET", "C"]), "$4\r\nnext\r\n");
    // the same with a lease lock: SET NX succeeds once the TTL has passed
    let mut lease = s.raw();
    assert_eq!(lease.cmd(&["SET", "D", "crashed", "NX", "PX", "200"]), "+OK\r\n");
    drop(lease);
    let mut other = s.raw();
    let mut acquired = false;
    for _ in 0..100 {
        if other.cmd(&["SET", "D", "other", "NX", "PX", "10000"]) == "+OK\r\n" {
            acquired = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(acquired, "the crashed lease was never replaced");
}
