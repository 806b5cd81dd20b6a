//! Blocking list commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP): FIFO
//! among waiters, a push served to the longest waiter before any later
//! command sees it, several keys, timeouts, disconnects, CLIENT UNBLOCK,
//! chains, MULTI and scripts, and through the proxy. The sequences that
//! have one right answer run against redis-server too.

mod common;

use common::{Raw, TestServer, blocked_clients};
use std::time::Duration;

/// Waits until `n` clients are blocked.
fn until_blocked(r: &mut Raw, n: usize) {
    // a bounded number of looks
    for _ in 0..2000 {
        if blocked_clients(r) == n {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("never saw {n} blocked clients (now {})", blocked_clients(r));
}

/// `n` clients of `via` blocked in BLPOP on keys of their own (counted on
/// the node `ctl` talks to): kB of `pid`'s RSS each, and the clients.
fn block_many(via: &TestServer, pid: u32, ctl: &mut Raw, n: usize) -> (f64, Vec<Raw>) {
    let before = common::rss_kb(pid);
    let waiters: Vec<Raw> = (0..n)
        .map(|i| {
            let mut w = via.raw();
            w.send(&["BLPOP", &format!("q{i}"), "0"]);
            w
        })
        .collect();
    until_blocked(ctl, n);
    (common::rss_kb(pid).saturating_sub(before) as f64 / n as f64, waiters)
}

fn servers() -> Vec<(&'static str, TestServer)> {
    vec![("shardis", TestServer::start(&[])), ("redis-server", TestServer::start_redis_server(&[]))]
}

#[test]
fn waiters_are_served_in_arrival_order_and_before_later_commands() {
    for (name, s) in servers() {
        let mut ctl = s.raw();
        let mut waiters: Vec<Raw> = Vec::new();
        for i in 0..5 {
            let mut w = s.raw();
            w.send(&["BLPOP", "q", "0"]);
            waiters.push(w);
            until_blocked(&mut ctl, i + 1);
        }
        // five elements: each waiter gets the one its arrival order says;
        // the pusher's next command sees an empty list
        assert_eq!(ctl.cmd(&["RPUSH", "q", "a", "b", "c", "d", "e"]), ":5\r\n", "{name}");
        assert_eq!(ctl.cmd(&["LLEN", "q"]), ":0\r\n", "{name}: waiters served before the pusher's next command");
        for (w, want) in waiters.iter_mut().zip(["a", "b", "c", "d", "e"]) {
            assert_eq!(w.read_reply(), format!("*2\r\n$1\r\nq\r\n$1\r\n{want}\r\n"), "{name}");
        }
        assert_eq!(blocked_clients(&mut ctl), 0, "{name}");
        // a push followed at once by the pusher's own pop: the waiter wins
        let mut w = s.raw();
        for round in 0..100 {
            w.send(&["BRPOP", "q2", "0"]);
            until_blocked(&mut ctl, 1);
            ctl.send(&["LPUSH", "q2", &format!("x{round}")]);
            ctl.send(&["RPOP", "q2"]);
            assert_eq!(ctl.read_reply(), ":1\r\n");
            assert_eq!(ctl.read_reply(), "$-1\r\n", "{name} round {round}: the waiter got it first");
            assert_eq!(w.read_reply(), format!("*2\r\n$2\r\nq2\r\n${}\r\nx{round}\r\n", format!("x{round}").len()));
        }
    }
}

#[test]
fn a_waiter_on_several_keys_takes_the_first_that_fills() {
    for (name, s) in servers() {
        let mut ctl = s.raw();
        let mut w = s.raw();
        // the first non-empty key in argument order, at once
        ctl.cmd(&["RPUSH", "k3", "three"]);
        ctl.cmd(&["RPUSH", "k2", "two"]);
        assert_eq!(w.cmd(&["BLPOP", "k1", "k2", "k3", "0"]), "*2\r\n$2\r\nk2\r\n$3\r\ntwo\r\n", "{name}");
        w.send(&["BRPOP", "k1", "k2", "0"]);
        until_blocked(&mut ctl, 1);
        ctl.cmd(&["RPUSH", "k2", "late"]);
        assert_eq!(w.read_reply(), "*2\r\n$2\r\nk2\r\n$4\r\nlate\r\n", "{name}");
        assert_eq!(blocked_clients(&mut ctl), 0, "{name}: left every queue");
        ctl.cmd(&["RPUSH", "k1", "stays"]);
        assert_eq!(ctl.cmd(&["LLEN", "k1"]), ":1\r\n", "{name}");
        // BLMPOP with a count
        w.send(&["BLMPOP", "0", "2", "m1", "m2", "RIGHT", "COUNT", "2"]);
        until_blocked(&mut ctl, 1);
        ctl.cmd(&["RPUSH", "m2", "a", "b", "c"]);
        assert_eq!(w.read_reply(), "*2\r\n$2\r\nm2\r\n*2\r\n$1\r\nc\r\n$1\r\nb\r\n", "{name}");
        // a wrong type on a key answers at once
        ctl.cmd(&["SET", "str", "x"]);
        assert!(w.cmd(&["BLPOP", "nothing", "str", "0"]).starts_with("-WRONGTYPE"), "{name}");
    }
}

#[test]
fn timeouts_argument_errors_and_resp3_nulls() {
    for (name, s) in servers() {
        let mut r = s.raw();
        let mut ctl = s.raw();
        // it waits (another client sees it blocked), then times out
        r.send(&["BLPOP", "none", "1"]);
        until_blocked(&mut ctl, 1);
        assert_eq!(r.read_reply(), "*-1\r\n", "{name}");
        until_blocked(&mut ctl, 0);
        // Redis 7.0 times every blocked list command out with a null array
        assert_eq!(r.cmd(&["BLMOVE", "none", "dst", "LEFT", "RIGHT", "0.05"]), "*-1\r\n", "{name}");
        assert_eq!(r.cmd(&["BRPOPLPUSH", "none", "dst", "0.05"]), "*-1\r\n", "{name}");
        assert_eq!(r.cmd(&["BLMPOP", "0.05", "1", "none", "LEFT"]), "*-1\r\n", "{name}");
        for t in ["-1", "abc", "inf", "1e30", "nan"] {
            let (a, b) = (r.cmd(&["BLPOP", "none", t]), r.cmd(&["BRPOP", "none", t]));
            assert_eq!(a, b, "{name} {t}");
            assert!(a.starts_with("-ERR timeout is"), "{name} {t}: {a}");
        }
        assert_eq!(r.cmd(&["BLMOVE", "a", "b", "UP", "LEFT", "0"]), "-ERR syntax error\r\n", "{name}");
        assert_eq!(r.cmd(&["BLMPOP", "0", "0", "a", "LEFT"]), "-ERR numkeys should be greater than 0\r\n", "{name}");
        assert_eq!(r.cmd(&["BLMPOP", "x", "1", "a", "LEFT"]), "-ERR timeout is not a float or out of range\r\n", "{name}");
        assert!(r.cmd(&["HELLO", "3"]).starts_with('%'));
        assert_eq!(r.cmd(&["BLPOP", "none", "0.05"]), "_\r\n", "{name}");
        assert_eq!(r.cmd(&["BLMOVE", "none", "dst", "LEFT", "RIGHT", "0.05"]), "_\r\n", "{name}");
    }
}

#[test]
fn a_waiter_that_leaves_loses_its_place_and_takes_nothing() {
    for (name, s) in servers() {
        let mut ctl = s.raw();
        let mut gone = s.raw();
        gone.send(&["BLPOP", "q", "0"]);
        until_blocked(&mut ctl, 1);
        let mut second = s.raw();
        second.send(&["BLPOP", "q", "0"]);
        until_blocked(&mut ctl, 2);
        drop(gone);
        until_blocked(&mut ctl, 1);
        ctl.cmd(&["RPUSH", "q", "one", "two"]);
        assert_eq!(second.read_reply(), "*2\r\n$1\r\nq\r\n$3\r\none\r\n", "{name}");
        assert_eq!(ctl.cmd(&["LRANGE", "q", "0", "-1"]), "*1\r\n$3\r\ntwo\r\n", "{name}");
    }
}

/// A waiter whose connection is reset (not closed) leaves its queues too:
/// were it left at the head, the next push would be held for it for ever
/// and every command on the key would hang.
#[test]
fn a_waiter_whose_connection_is_reset_leaves_its_queues() {
    for (name, s) in servers() {
        let mut ctl = s.raw();
        let mut gone = s.raw();
        // PONG stays unread: closing a socket with unread input sends RST
        gone.send(&["PING"]);
        gone.send(&["BLPOP", "q", "0"]);
        until_blocked(&mut ctl, 1);
        std::thread::sleep(Duration::from_millis(50));
        drop(gone);
        until_blocked(&mut ctl, 0);
        let mut other = s.raw();
        other.send(&["BLPOP", "q", "0"]);
        until_blocked(&mut ctl, 1);
        assert_eq!(ctl.cmd(&["RPUSH", "q", "one", "two"]), ":2\r\n", "{name}");
        assert_eq!(other.read_reply(), "*2\r\n$1\r\nq\r\n$3\r\none\r\n", "{name}");
        assert_eq!(ctl.cmd(&["LPOP", "q"]), "$3\r\ntwo\r\n", "{name}");
    }
}

/// Thousands of blocked clients cost a few kB each, as on redis-server (a
/// blocked command keeps its own copy of its arguments, not the read
/// buffer they came in), and what a blocked client sends meanwhile is
/// answered, in order, once it is served.
#[test]
fn blocked_clients_are_cheap_and_keep_their_pipeline() {
    for (name, s) in servers() {
        let mut ctl = s.raw();
        let (per_client, mut waiters) = block_many(&s, s.pid(), &mut ctl, 1000);
        assert!(per_client < 12.0, "{name}: {per_client:.1} kB per blocked client");
        // a pipeline behind a blocked command waits for it, then runs
        let w = &mut waiters[0];
        w.send(&["PING"]);
        w.send(&["SET", "after", "1"]);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(ctl.cmd(&["GET", "after"]), "$-1\r\n", "{name}: not run before the blocked command");
        assert_eq!(ctl.cmd(&["RPUSH", "q0", "x"]), ":1\r\n");
        assert_eq!(w.read_reply(), "*2\r\n$2\r\nq0\r\n$1\r\nx\r\n", "{name}");
        assert_eq!(w.read_reply(), "+PONG\r\n", "{name}");
        assert_eq!(w.read_reply(), "+OK\r\n", "{name}");
    }
}

/// A client that blocks and then streams without end is closed at
/// `client-query-buffer-limit`, as redis-server closes it; the others go on.
#[test]
fn a_blocked_client_streaming_input_is_closed_at_the_query_buffer_limit() {
    for (name, s) in servers() {
        let mut ctl = s.raw();
        assert_eq!(ctl.cmd(&["CONFIG", "SET", "client-query-buffer-limit", "1mb"]), "+OK\r\n", "{name}");
        assert_eq!(ctl.cmd(&["CONFIG", "GET", "client-query-buffer-limit"]), "*2\r\n$25\r\nclient-query-buffer-limit\r\n$7\r\n1048576\r\n", "{name}");
        assert!(ctl.cmd(&["CONFIG", "SET", "client-query-buffer-limit", "1000"]).starts_with("-ERR CONFIG SET failed (possibly related to argument 'client-query-buffer-limit') - argument must be between 1048576 and 9223372036854775807 inclusive"), "{name}");
        use std::io::{Read, Write};
        let mut hog = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        hog.write_all(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n").unwrap();
        until_blocked(&mut ctl, 1);
        // 4 MB of one unfinished request, never parsed while blocked; the
        // writes start failing once the server has closed the connection
        let _ = hog.write_all(b"*2\r\n$4\r\nECHO\r\n$4000000\r\n");
        let chunk = vec![b'x'; 64 * 1024];
        let sent = (0..61).take_while(|_| hog.write_all(&chunk).is_ok()).count();
        hog.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 64];
        let closed = loop {
            match hog.read(&mut buf) {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e) => break e.kind() == std::io::ErrorKind::ConnectionReset,
            }
        };
        assert!(closed, "{name}: the hog was not closed (sent {sent} chunks)");
        until_blocked(&mut ctl, 0);
        assert_eq!(ctl.cmd(&["PING"]), "+PONG\r\n", "{name}");
    }
}

/// A proxy's shared node connection (TXN.NOWAIT) never waits: a command on
/// a key held for a woken waiter is deferred to the client's own
/// connection, as for a key a cross-node transaction holds, with the keyed
/// commands after it; commands on other keys were answered before it.
#[test]
fn a_shared_connection_defers_a_key_held_for_a_waiter() {
    let s = TestServer::start(&[]);
    let mut ctl = s.raw();
    let mut waiter = s.raw();
    waiter.send(&["BLPOP", "q", "0"]);
    until_blocked(&mut ctl, 1);
    let mut shared = s.txn_raw();
    assert_eq!(shared.cmd(&["TXN.NOWAIT"]), "+OK\r\n");
    // one input: the push holds q for the waiter until it has run, which
    // cannot happen before this input is answered
    shared.send_bytes(
        b"*3\r\n$5\r\nLPUSH\r\n$1\r\nq\r\n$1\r\nx\r\n*2\r\n$4\r\nINCR\r\n$5\r\nother\r\n*2\r\n$4\r\nLLEN\r\n$1\r\nq\r\n*2\r\n$3\r\nGET\r\n$5\r\nother\r\n",
    );
    assert_eq!(shared.read_reply(), ":1\r\n");
    assert_eq!(shared.read_reply(), ":1\r\n");
    assert!(shared.read_reply().starts_with("-TXNDEFER"), "a shared connection must not wait");
    assert!(shared.read_reply().starts_with("-TXNDEFER"), "keyed commands after a deferred one are deferred too");
    assert_eq!(waiter.read_reply(), "*2\r\n$1\r\nq\r\n$1\r\nx\r\n");
    assert_eq!(shared.cmd(&["LLEN", "q"]), ":0\r\n");
}

#[test]
fn client_unblock_answers_timeout_or_error() {
    for (name, s) in servers() {
        let mut ctl = s.raw();
        let mut w = s.raw();
        let id = w.cmd(&["CLIENT", "ID"]).trim().trim_start_matches(':').to_string();
        assert_eq!(ctl.cmd(&["CLIENT", "UNBLOCK", &id]), ":0\r\n", "{name}: not blocked");
        w.send(&["BLPOP", "q", "0"]);
        until_blocked(&mut ctl, 1);
        assert!(ctl.cmd(&["CLIENT", "LIST"]).lines().any(|l| l.contains(&format!("id={id} ")) && l.contains("flags=b")), "{name}: flag b");
        assert_eq!(ctl.cmd(&["CLIENT", "UNBLOCK", &id]), ":1\r\n", "{name}");
        assert_eq!(w.read_reply(), "*-1\r\n", "{name}");
        w.send(&["BLMOVE", "q", "d", "LEFT", "LEFT", "0"]);
        until_blocked(&mut ctl, 1);
        assert_eq!(ctl.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]), ":1\r\n", "{name}");
        assert_eq!(w.read_reply(), "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n", "{name}");
        assert_eq!(ctl.cmd(&["CLIENT", "UNBLOCK", &id, "MAYBE"]), "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n", "{name}");
        assert_eq!(blocked_clients(&mut ctl), 0, "{name}");
        // the connection goes on as usual
        assert_eq!(w.cmd(&["PING"]), "+PONG\r\n");
    }
}

#[test]
fn blmove_chains_pass_an_element_along() {
    for (name, s) in servers() {
        let mut ctl = s.raw();
        let mut a = s.raw();
        let mut b = s.raw();
        a.send(&["BLMOVE", "c1", "c2", "RIGHT", "LEFT", "0"]);
        until_blocked(&mut ctl, 1);
        b.send(&["BRPOPLPUSH", "c2", "c3", "0"]);
        until_blocked(&mut ctl, 2);
        ctl.cmd(&["LPUSH", "c1", "token"]);
        assert_eq!(a.read_reply(), "$5\r\ntoken\r\n", "{name}");
        assert_eq!(b.read_reply(), "$5\r\ntoken\r\n", "{name}");
        for (k, want) in [("c1", "*0\r\n"), ("c2", "*0\r\n"), ("c3", "*1\r\n$5\r\ntoken\r\n")] {
            assert_eq!(ctl.cmd(&["LRANGE", k, "0", "-1"]), want, "{name} {k}");
        }
    }
}

#[test]
fn inside_multi_and_scripts_blocking_commands_do_not_block() {
    for (name, s) in servers() {
        let mut ctl = s.raw();
        let mut r = s.raw();
        r.cmd(&["MULTI"]);
        r.cmd(&["BLPOP", "none", "0"]);
        r.cmd(&["BLMOVE", "none", "d", "LEFT", "LEFT", "0"]);
        assert_eq!(r.cmd(&["EXEC"]), "*2\r\n*-1\r\n$-1\r\n", "{name}");
        let denied = r.cmd(&["EVAL", "return redis.call('blpop', KEYS[1], 0)", "1", "none"]);
        assert!(denied.starts_with("-ERR This Redis command is not allowed from script"), "{name}: {denied}");
        assert_eq!(r.cmd(&["EVAL", "return redis.call('blmpop', 0, 1, KEYS[1], 'LEFT')", "1", "none"]), "$-1\r\n", "{name}");
        // a push and a pop in one EXEC leave the waiter waiting, first in line
        let mut w = s.raw();
        w.send(&["BLPOP", "q", "0"]);
        until_blocked(&mut ctl, 1);
        r.cmd(&["MULTI"]);
        r.cmd(&["RPUSH", "q", "x"]);
        r.cmd(&["LPOP", "q"]);
        assert_eq!(r.cmd(&["EXEC"]), "*2\r\n:1\r\n$1\r\nx\r\n", "{name}");
        assert!(w.try_read_reply(Duration::from_millis(200)).is_none(), "{name}: nothing was left to serve");
        assert_eq!(blocked_clients(&mut ctl), 1, "{name}");
        ctl.cmd(&["RPUSH", "q", "y"]);
        assert_eq!(w.read_reply(), "*2\r\n$1\r\nq\r\n$1\r\ny\r\n", "{name}");
    }
}

/// Many producers and consumers at once: every element is delivered exactly
/// once, and nobody is left blocked.
#[test]
fn concurrent_producers_and_consumers_lose_nothing() {
    let s = TestServer::start(&[]);
    let per = 500;
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let mut r = s.raw();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    let reply = r.cmd(&["BLPOP", "jobs", "jobs2", "1"]);
                    if reply == "*-1\r\n" {
                        return got;
                    }
                    got.push(reply.lines().nth(4).unwrap().to_string());
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let mut r = s.raw();
            std::thread::spawn(move || {
                for i in 0..per {
                    r.cmd(&[if i % 2 == 0 { "RPUSH" } else { "LPUSH" }, if i % 3 == 0 { "jobs2" } else { "jobs" }, &format!("{p}-{i}")]);
                }
            })
        })
        .collect();
    producers.into_iter().for_each(|p| p.join().unwrap());
    let mut all: Vec<String> = consumers.into_iter().flat_map(|c| c.join().unwrap()).collect();
    all.sort();
    let mut want: Vec<String> = (0..4).flat_map(|p| (0..per).map(move |i| format!("{p}-{i}"))).collect();
    want.sort();
    assert_eq!(all, want);
    let mut ctl = s.raw();
    assert_eq!(blocked_clients(&mut ctl), 0);
    assert_eq!(ctl.cmd(&["EXISTS", "jobs", "jobs2"]), ":0\r\n");
}

/// Through the proxy a blocking pop waits on the client's own connection:
/// other clients' commands to the same node are answered meanwhile.
#[test]
fn blocking_through_the_proxy_holds_up_no_one() {
    let nodes: Vec<TestServer> = (0..2).map(|_| TestServer::start(&[])).collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr()).collect();
    let proxy = TestServer::start_proxy(&addrs, &[]);
    let mut waiters: Vec<Raw> = (0..3)
        .map(|i| {
            let mut w = proxy.raw();
            w.send(&["BLPOP", &format!("{{q}}{i}"), "0"]);
            w
        })
        .collect();
    let node_ctl: Vec<Raw> = nodes.iter().map(|n| n.raw()).collect();
    let mut node_ctl = node_ctl;
    let reached = (0..2000).any(|_| {
        let here = node_ctl.iter_mut().map(blocked_clients).sum::<usize>() == 3;
        if !here {
            std::thread::sleep(Duration::from_millis(5));
        }
        here
    });
    assert!(reached, "waiters never reached the node");
    let mut other = proxy.raw();
    for i in 0..200 {
        assert_eq!(other.cmd(&["SET", &format!("k{i}"), "v"]), "+OK\r\n");
        assert_eq!(other.cmd(&["GET", &format!("k{i}")]), "$1\r\nv\r\n");
    }
    for (i, w) in waiters.iter_mut().enumerate() {
        assert_eq!(other.cmd(&["RPUSH", &format!("{{q}}{i}"), "job"]), ":1\r\n");
        assert_eq!(w.read_reply(), format!("*2\r\n$4\r\n{{q}}{i}\r\n$3\r\njob\r\n"));
    }
    // sorted set pops wait the same way
    let mut zwaiter = proxy.raw();
    zwaiter.send(&["BZPOPMIN", "{z}board", "0"]);
    let reached = (0..2000).any(|_| {
        let here = node_ctl.iter_mut().map(blocked_clients).sum::<usize>() == 1;
        if !here {
            std::thread::sleep(Duration::from_millis(5));
        }
        here
    });
    assert!(reached, "the sorted set waiter never reached the node");
    assert_eq!(other.cmd(&["GET", "k1"]), "$1\r\nv\r\n", "others go on meanwhile");
    assert_eq!(other.cmd(&["ZADD", "{z}board", "2.5", "ann"]), ":1\r\n");
    assert_eq!(zwaiter.read_reply(), "*3\r\n$8\r\n{z}board\r\n$3\r\nann\r\n$3\r\n2.5\r\n");
    // keys on two nodes cannot be waited on together
    // (short similar names hash close together: spread them)
    let a: Vec<String> = (0..100).map(|i| format!("queue:{}:jobs", i * 7919)).collect();
    let mut saw_crossslot = false;
    for k in &a[1..] {
        let r = other.cmd(&["BLPOP", &a[0], k, "0.01"]);
        if r.starts_with("-CROSSSLOT") {
            saw_crossslot = true;
            break;
        }
        assert_eq!(r, "*-1\r\n");
    }
    assert!(saw_crossslot, "some pair of 100 keys spans the two nodes");
    assert_eq!(other.cmd(&["BLPOP", "{t}a", "{t}b", "0.05"]), "*-1\r\n", "a hash tag keeps them together");
}

/// A thousand clients blocked through the proxy cost it a few kB each:
/// their read and write buffers are released while they wait, and the
/// waiting command keeps its own copy of its arguments.
#[test]
fn clients_blocked_through_the_proxy_are_cheap() {
    let node = TestServer::start(&[]);
    let proxy = TestServer::start_proxy(&[node.addr()], &[]);
    let mut ctl = node.raw();
    let (per_client, mut waiters) = block_many(&proxy, proxy.pid(), &mut ctl, 1000);
    assert!(per_client < 14.0, "{per_client:.1} kB of proxy RSS per blocked client");
    assert_eq!(proxy.raw().cmd(&["RPUSH", "q7", "x"]), ":1\r\n");
    assert_eq!(waiters[7].read_reply(), "*2\r\n$2\r\nq7\r\n$1\r\nx\r\n");
}
