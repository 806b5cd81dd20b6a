//! Cross-node MULTI/EXEC through the proxy (two-phase commit): replies,
//! WATCH on either node, the bank invariant under concurrency with two
//! proxies, and crashes of the coordinator at each step.

mod common;
use common::{TestServer, addrs};
use shardis::proxy::config::ServerSpec;
use shardis::proxy::ketama::{Distribution, KeyHash, Ring};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

fn dist(nodes: &[TestServer]) -> Distribution {
    let servers: Vec<_> = addrs(nodes).iter().map(|a| ServerSpec::parse(a).unwrap().ring_server()).collect();
    Distribution { hash: KeyHash::Md5, tag: None, ring: Ring::build(&servers, &vec![true; servers.len()]) }
}

/// Keys named `prefix:N`, one per node in node order.
fn keys_per_node(d: &Distribution, prefix: &str, nodes: usize) -> Vec<String> {
    (0..nodes).map(|n| (0..10_000).map(|i| format!("{prefix}:{i}")).find(|k| d.server_for_key(k.as_bytes()) == Some(n)).unwrap()).collect()
}

fn nodes(n: usize, args: &[&str]) -> Vec<TestServer> {
    (0..n).map(|_| TestServer::start(args)).collect()
}

fn proxy(nodes: &[TestServer], extra: &[&str]) -> TestServer {
    let mut args = vec!["--hash", "md5"];
    args.extend_from_slice(extra);
    TestServer::start_proxy(&addrs(nodes), &args)
}

#[test]
fn cross_node_exec_replies_in_order_and_watch() {
    let n = nodes(3, &[]);
    let p = proxy(&n, &[]);
    let d = dist(&n);
    let k = keys_per_node(&d, "acct", 3);
    let mut r = p.raw();
    let mut other = p.raw();
    r.cmd(&["MSET", &k[0], "100", &k[1], "100", &k[2], "100"]);
    // a transfer touching three nodes; replies in the client's order
    assert_eq!(r.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(r.cmd(&["DECRBY", &k[2], "30"]), "+QUEUED\r\n");
    assert_eq!(r.cmd(&["INCRBY", &k[0], "10"]), "+QUEUED\r\n");
    assert_eq!(r.cmd(&["PING"]), "+QUEUED\r\n");
    assert_eq!(r.cmd(&["INCRBY", &k[1], "20"]), "+QUEUED\r\n");
    assert_eq!(r.cmd(&["GET", &k[2]]), "+QUEUED\r\n");
    assert_eq!(r.cmd(&["EXEC"]), "*5\r\n:70\r\n:110\r\n+PONG\r\n:120\r\n$2\r\n70\r\n");
    // each node holds its part
    for (i, node) in n.iter().enumerate() {
        let expect = ["110", "120", "70"][i];
        assert_eq!(node.raw().cmd(&["GET", &k[i]]), format!("${}\r\n{expect}\r\n", expect.len()));
    }
    // runtime errors sit inside the reply, the rest applies
    r.cmd(&["SET", "text", "abc"]);
    let text_node = d.server_for_key(b"text").unwrap();
    let other_key = &k[(text_node + 1) % 3];
    r.cmd(&["MULTI"]);
    r.cmd(&["INCR", "text"]);
    r.cmd(&["INCR", other_key]);
    let exec = r.cmd(&["EXEC"]);
    assert!(exec.starts_with("*2\r\n-ERR value is not an integer or out of range\r\n:"), "{exec}");
    // WATCH on either node: touched -> nil, nothing applied
    for touched in 0..2 {
        let before: Vec<String> = k.iter().map(|key| r.cmd(&["GET", key])).collect();
        assert_eq!(r.cmd(&["WATCH", &k[0], &k[1]]), "+OK\r\n");
        assert_eq!(other.cmd(&["INCR", &k[touched]]), format!(":{}\r\n", before[touched].lines().nth(1).unwrap().parse::<i64>().unwrap() + 1));
        r.cmd(&["MULTI"]);
        r.cmd(&["SET", &k[0], "0"]);
        r.cmd(&["SET", &k[2], "0"]);
        assert_eq!(r.cmd(&["EXEC"]), "*-1\r\n", "a write on node {touched} must abort the transaction");
        assert_ne!(r.cmd(&["GET", &k[2]]), "$1\r\n0\r\n", "nothing may be applied");
    }
    // WATCH untouched on two nodes: applied
    r.cmd(&["WATCH", &k[0], &k[1]]);
    r.cmd(&["MULTI"]);
    r.cmd(&["SET", &k[0], "1"]);
    r.cmd(&["SET", &k[1], "2"]);
    assert_eq!(r.cmd(&["EXEC"]), "*2\r\n+OK\r\n+OK\r\n");
    // EXECABORT and DISCARD still behave as in Redis
    r.cmd(&["MULTI"]);
    r.cmd(&["SET", &k[0], "x"]);
    r.cmd(&["SET", &k[1]]);
    assert_eq!(r.cmd(&["EXEC"]), "-EXECABORT Transaction discarded because of previous errors.\r\n");
    r.cmd(&["MULTI"]);
    r.cmd(&["SET", &k[0], "y"]);
    r.cmd(&["SET", &k[1], "y"]);
    assert_eq!(r.cmd(&["DISCARD"]), "+OK\r\n");
    assert_eq!(r.cmd(&["MGET", &k[0], &k[1]]), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    // nothing stays locked
    for node in &n {
        assert_eq!(node.txn_raw().cmd(&["TXN.LIST"]), "*0\r\n");
    }
}

/// 8 accounts over 3 nodes; 20 clients transfer at random through two
/// proxies at once (WATCH/GET/MULTI/EXEC or plain MULTI/EXEC), while readers
/// read every balance in one MULTI: the total never changes, and every
/// reader sees it.
#[test]
fn bank_invariant_with_two_proxies() {
    let n = nodes(3, &[]);
    let proxies = [proxy(&n, &[]), proxy(&n, &[])];
    let accounts: Vec<String> = (0..8).map(|i| format!("bank:acct:{i}")).collect();
    let mut setup = proxies[0].conn();
    for a in &accounts {
        let _: () = redis::cmd("SET").arg(a).arg(1000).query(&mut setup).unwrap();
    }
    let total = 8 * 1000;
    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(AtomicU64::new(0));
    let aborted = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for t in 0..20 {
        let client = proxies[t % 2].client();
        let accounts = accounts.clone();
        let (committed, aborted) = (committed.clone(), aborted.clone());
        threads.push(std::thread::spawn(move || {
            let mut c = client.get_connection().unwrap();
            for i in 0..25 {
                let from = &accounts[(t * 7 + i * 3) % 8];
                let to = &accounts[(t * 5 + i * 11 + 1) % 8];
                if from == to {
                    continue;
                }
                if t % 2 == 0 {
                    // optimistic: read, check, write
                    let _: () = redis::cmd("WATCH").arg(from).arg(to).query(&mut c).unwrap();
                    let balance: i64 = redis::cmd("GET").arg(from).query(&mut c).unwrap();
                    let amount = balance.clamp(0, 50);
                    let res: Option<(i64, i64)> =
                        redis::pipe().atomic().cmd("DECRBY").arg(from).arg(amount).cmd("INCRBY").arg(to).arg(amount).query(&mut c).unwrap();
                    if res.is_some() { &committed } else { &aborted }.fetch_add(1, Ordering::Relaxed);
                } else {
                    let _: (i64, i64) = redis::pipe().atomic().cmd("DECRBY").arg(from).arg(7).cmd("INCRBY").arg(to).arg(7).query(&mut c).unwrap();
                    committed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let readers: Vec<_> = (0..2)
        .map(|i| {
            let client = proxies[i].client();
            let accounts = accounts.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = client.get_connection().unwrap();
                let mut reads = 0;
                while !stop.load(Ordering::Relaxed) {
                    let mut pipe = redis::pipe();
                    pipe.atomic();
                    for a in &accounts {
                        pipe.cmd("GET").arg(a);
                    }
                    let balances: Vec<i64> = pipe.query(&mut c).unwrap();
                    assert_eq!(balances.iter().sum::<i64>(), total, "a reader saw a partial transfer: {balances:?}");
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let reads: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let sum: i64 = accounts.iter().map(|a| redis::cmd("GET").arg(a).query::<i64>(&mut setup).unwrap()).sum();
    assert_eq!(sum, total);
    for node in &n {
        assert_eq!(node.txn_raw().cmd(&["TXN.LIST"]), "*0\r\n", "a key stayed locked");
    }
    eprintln!("bank: {} committed, {} aborted by WATCH, {reads} consistent snapshots", committed.load(Ordering::Relaxed), aborted.load(Ordering::Relaxed));
}

/// The coordinator dies after every participant voted yes: the keys are
/// locked (readers wait), then the primary's timeout aborts the
/// transaction, the secondaries learn it from the primary, and nothing is
/// applied or left locked.
#[test]
fn coordinator_crash_after_prepare_aborts() {
    let n = nodes(2, &[]);
    let d = dist(&n);
    let k = keys_per_node(&d, "crash", 2);
    let good = proxy(&n, &[]);
    good.raw().cmd(&["MSET", &k[0], "old", &k[1], "old"]);
    let mut crashing = TestServer::start_proxy_env(&addrs(&n), &["--hash", "md5", "--txn-timeout", "500"], &[("SHARDIS_FAULT", "exit-after-prepare")]);
    let mut c = crashing.raw();
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", &k[0], "new"]);
    c.cmd(&["SET", &k[1], "new"]);
    c.send(&["EXEC"]);
    assert!(c.is_closed(), "the coordinator should have died");
    assert!(crashing.wait_exit(Duration::from_secs(5)).is_some());
    // both nodes hold it prepared for a moment (visible to operators),
    // then resolve it
    for node in &n {
        let info = node.raw().cmd(&["INFO", "transactions"]);
        assert!(info.contains("txn_in_doubt:1"), "{info}");
        assert!(node.txn_raw().cmd(&["TXN.LIST"]).starts_with("*1\r\n"));
    }
    let mut reader = good.raw();
    assert_eq!(reader.cmd(&["MGET", &k[0], &k[1]]), "*2\r\n$3\r\nold\r\n$3\r\nold\r\n");
    for node in &n {
        let mut r = node.txn_raw();
        for _ in 0..100 {
            if r.cmd(&["TXN.LIST"]) == "*0\r\n" {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(r.cmd(&["TXN.LIST"]), "*0\r\n", "still in doubt");
    }
    assert_eq!(reader.cmd(&["MGET", &k[0], &k[1]]), "*2\r\n$3\r\nold\r\n$3\r\nold\r\n");
}

/// The coordinator dies after the primary committed: the secondary learns
/// "committed" from the primary and applies its part.
#[test]
fn coordinator_crash_after_primary_commit_commits_everywhere() {
    let n = nodes(2, &[]);
    let d = dist(&n);
    let k = keys_per_node(&d, "half", 2);
    let good = proxy(&n, &[]);
    good.raw().cmd(&["MSET", &k[0], "old", &k[1], "old"]);
    let mut crashing = TestServer::start_proxy_env(&addrs(&n), &["--hash", "md5", "--txn-timeout", "500"], &[("SHARDIS_FAULT", "exit-after-primary-commit")]);
    let mut c = crashing.raw();
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", &k[0], "new"]);
    c.cmd(&["SET", &k[1], "new"]);
    c.send(&["EXEC"]);
    assert!(c.is_closed());
    assert!(crashing.wait_exit(Duration::from_secs(5)).is_some());
    // a reader never sees old + new: the secondary's key waits until resolved
    let mut reader = good.raw();
    let mut resolved = false;
    for _ in 0..100 {
        let v = reader.cmd(&["MGET", &k[0], &k[1]]);
        assert_eq!(v, "*2\r\n$3\r\nnew\r\n$3\r\nnew\r\n", "a reader saw part of the transaction");
        if n.iter().all(|node| node.txn_raw().cmd(&["TXN.LIST"]) == "*0\r\n") {
            resolved = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(resolved, "the secondary never learnt the decision");
}

/// TXN.* is not a way in: with a cluster secret, a connection must present
/// it; bad input changes nothing.
#[test]
fn txn_commands_need_the_cluster_secret() {
    let node = TestServer::start(&["--cluster-secret", "s3"]);
    let mut r = node.raw();
    assert_eq!(
        r.cmd(&["TXN.PREPARE", "t1", "PRIMARY", "x:1", "1000", "1", "3", "SET", "k", "v"]),
        "-NOPERM TXN commands need TXN.HELLO with the cluster secret\r\n"
    );
    assert_eq!(r.cmd(&["TXN.HELLO", "wrong"]), "-NOPERM wrong cluster secret\r\n");
    assert_eq!(r.cmd(&["TXN.COMMIT", "t1"]), "-NOPERM TXN commands need TXN.HELLO with the cluster secret\r\n");
    assert_eq!(r.cmd(&["TXN.HELLO", "s3"]), "+OK\r\n");
    assert_eq!(r.cmd(&["TXN.PREPARE", "t1", "PRIMARY", "x:1", "1000", "2", "3", "SET", "k"]), "-ERR TXN.PREPARE: malformed command list\r\n");
    assert_eq!(r.cmd(&["TXN.PREPARE", "t1", "BOSS", "x:1", "1000", "0"]), "-ERR TXN.PREPARE: role must be PRIMARY or SECONDARY\r\n");
    assert_eq!(r.cmd(&["TXN.COMMIT", "nope"]), "-TXNUNKNOWN transaction nope is not prepared here\r\n");
    assert_eq!(r.cmd(&["EXISTS", "k"]), ":0\r\n");
    // a proxy with the secret works
    let n = vec![node];
    let p = TestServer::start_proxy(&addrs(&n), &["--cluster-secret", "s3"]);
    let other = TestServer::start(&["--cluster-secret", "s3"]);
    drop(p);
    let both = vec![n.into_iter().next().unwrap(), other];
    let p = proxy(&both, &["--cluster-secret", "s3"]);
    let d = dist(&both);
    let k = keys_per_node(&d, "sec", 2);
    let mut c = p.raw();
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", &k[0], "1"]);
    c.cmd(&["SET", &k[1], "2"]);
    assert_eq!(c.cmd(&["EXEC"]), "*2\r\n+OK\r\n+OK\r\n");
    // and with another secret the cross-node EXEC fails, applying nothing
    let bad = proxy(&both, &["--cluster-secret", "guess"]);
    let mut c = bad.raw();
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", &k[0], "x"]);
    c.cmd(&["SET", &k[1], "x"]);
    assert!(c.cmd(&["EXEC"]).starts_with("-ERR cross-node transaction aborted, nothing was applied"));
    assert_eq!(c.cmd(&["MGET", &k[0], &k[1]]), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
}

/// MSETNX across nodes is all or nothing.
#[test]
fn msetnx_across_nodes_is_atomic() {
    let n = nodes(3, &[]);
    let p = proxy(&n, &[]);
    let d = dist(&n);
    let k = keys_per_node(&d, "nx", 3);
    let mut r = p.raw();
    assert_eq!(r.cmd(&["MSETNX", &k[0], "a", &k[1], "b", &k[2], "c"]), ":1\r\n");
    assert_eq!(r.cmd(&["MGET", &k[0], &k[1], &k[2]]), "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
    // one existing key on one node: nothing is set anywhere
    let fresh = keys_per_node(&d, "fresh", 3);
    assert_eq!(r.cmd(&["MSETNX", &fresh[0], "x", &k[1], "x", &fresh[2], "x"]), ":0\r\n");
    assert_eq!(r.cmd(&["EXISTS", &fresh[0], &fresh[2]]), ":0\r\n");
    assert_eq!(r.cmd(&["GET", &k[1]]), "$1\r\nb\r\n");
    for node in &n {
        assert_eq!(node.txn_raw().cmd(&["TXN.LIST"]), "*0\r\n");
    }
}

/// An operator sees in-doubt transactions and resolves them by hand, but
/// only as the primary decided: a secondary asks its primary first.
#[test]
fn operator_lists_and_resolves_in_doubt_transactions() {
    let node = TestServer::start(&[]);
    let mut r = node.txn_raw();
    // prepared as a secondary of a primary that does not exist: in doubt
    assert_eq!(r.cmd(&["TXN.PREPARE", "op:1", "SECONDARY", "127.0.0.1:1", "100", "1", "3", "SET", "k", "v"]), "+PREPARED\r\n");
    std::thread::sleep(Duration::from_millis(300));
    let list = r.cmd(&["TXN.LIST"]);
    assert!(list.starts_with("*1\r\n") && list.contains("op:1") && list.contains("secondary"), "{list}");
    assert!(r.cmd(&["INFO", "transactions"]).contains("txn_in_doubt:1"));
    assert_eq!(r.cmd(&["TXN.STATUS", "op:1"]), "+prepared\r\n");
    // nobody can decide for an unreachable primary, in either direction
    for how in ["COMMIT", "ABORT"] {
        let reply = r.cmd(&["TXN.RESOLVE", "op:1", how]);
        assert!(reply.starts_with("-TXNINDOUBT the primary 127.0.0.1:1 of transaction op:1 did not answer"), "{reply}");
    }
    assert!(r.cmd(&["TXN.ABORT", "op:1"]).starts_with("-TXNINDOUBT"));
    assert_eq!(r.cmd(&["TXN.STATUS", "op:1"]), "+prepared\r\n");

    // with a primary that is still undecided, neither; once the primary
    // decides (here by hand, where the decision is taken), the secondary
    // follows it whatever it was asked
    let primary = TestServer::start(&[]);
    let mut p = primary.txn_raw();
    let pa = primary.addr();
    assert_eq!(p.cmd(&["TXN.PREPARE", "op:2", "PRIMARY", &pa, "60000", "1", "3", "SET", "a", "1"]), "+PREPARED\r\n");
    assert_eq!(r.cmd(&["TXN.PREPARE", "op:2", "SECONDARY", &pa, "60000", "1", "3", "SET", "b", "2"]), "+PREPARED\r\n");
    let reply = r.cmd(&["TXN.RESOLVE", "op:2", "ABORT"]);
    assert!(reply.starts_with("-TXNINDOUBT transaction op:2 is prepared at its primary"), "{reply}");
    assert_eq!(p.cmd(&["TXN.RESOLVE", "op:2", "COMMIT"]), "+OK\r\n");
    assert_eq!(r.cmd(&["TXN.RESOLVE", "op:2", "ABORT"]), "-TXNCONFLICT transaction op:2 was committed at its primary; applied that here\r\n");
    assert_eq!(r.cmd(&["GET", "b"]), "$1\r\n2\r\n");
    assert_eq!(p.cmd(&["GET", "a"]), "$1\r\n1\r\n");
    assert_eq!(r.cmd(&["TXN.RESOLVE", "op:2", "COMMIT"]), "-ERR TXN.RESOLVE: the transaction is not in doubt here\r\n");
    // and an abort the primary agrees with goes through
    assert_eq!(p.cmd(&["TXN.PREPARE", "op:3", "PRIMARY", &pa, "60000", "1", "3", "SET", "a", "3"]), "+PREPARED\r\n");
    assert_eq!(r.cmd(&["TXN.PREPARE", "op:3", "SECONDARY", &pa, "60000", "1", "3", "SET", "b", "3"]), "+PREPARED\r\n");
    assert_eq!(p.cmd(&["TXN.ABORT", "op:3"]), "+OK\r\n");
    assert_eq!(r.cmd(&["TXN.ABORT", "op:3"]), "+OK\r\n");
    assert_eq!(r.cmd(&["MGET", "a", "b"]), "*2\r\n$-1\r\n$1\r\n2\r\n");
    assert_eq!(r.cmd(&["TXN.STATUS", "op:3"]), "+aborted\r\n");
    assert!(p.cmd(&["INFO", "transactions"]).contains("txn_commits_kept_for_secondaries:1"));
    assert_eq!(p.cmd(&["TXN.FORGET", "op:2"]), "+OK\r\n");
    assert!(p.cmd(&["INFO", "transactions"]).contains("txn_commits_kept_for_secondaries:0"));
}

/// A client without the cluster secret can do nothing with TXN.*, and a
/// hand-made prepare can lock nothing for long, nor pile up.
#[test]
fn txn_commands_are_closed_to_ordinary_clients() {
    let node = TestServer::start(&["--requirepass", "pw", "--txn-max-prepared", "3"]);
    let mut r = node.raw();
    // before AUTH not even TXN.HELLO answers (no probing of the secret)
    assert_eq!(r.cmd(&["TXN.HELLO", "guess"]), "-NOAUTH Authentication required.\r\n");
    assert_eq!(r.cmd(&["AUTH", "pw"]), "+OK\r\n");
    for cmd in
        [&["TXN.LIST"][..], &["TXN.ABORT", "x:1"], &["TXN.RESOLVE", "x:1", "ABORT"], &["TXN.STATUS", "x:1"], &["TXN.COMMIT", "x:1"], &["TXN.FORGET", "x:1"]]
    {
        assert_eq!(r.cmd(cmd), "-NOPERM TXN commands need TXN.HELLO with the cluster secret\r\n", "{cmd:?}");
    }
    assert_eq!(r.cmd(&["TXN.HELLO", "guess"]), "-NOPERM wrong cluster secret\r\n");
    assert_eq!(r.cmd(&["TXN.HELLO", &common::default_cluster_secret()]), "+OK\r\n");
    // a prepare may not hold keys past txn-max-timeout
    assert_eq!(
        r.cmd(&["TXN.PREPARE", "evil", "PRIMARY", "h:1", "9223372036854775807", "1", "3", "SET", "k", "x"]),
        "-ERR TXN.PREPARE: timeout must be between 1 and txn-max-timeout (60000) ms\r\n"
    );
    assert_eq!(r.cmd(&["CONFIG", "SET", "txn-max-timeout", "200"]), "+OK\r\n");
    assert_eq!(r.cmd(&["TXN.PREPARE", "evil", "PRIMARY", "h:1", "200", "1", "3", "SET", "k", "x"]), "+PREPARED\r\n");
    for i in 0..2 {
        assert_eq!(r.cmd(&["TXN.PREPARE", &format!("e{i}"), "PRIMARY", "h:1", "200", "1", "3", "SET", &format!("k{i}"), "x"]), "+PREPARED\r\n");
    }
    assert_eq!(
        r.cmd(&["TXN.PREPARE", "e9", "PRIMARY", "h:1", "200", "1", "3", "SET", "k9", "x"]),
        "-TXNBUSY this node holds as many prepared transactions as txn-max-prepared allows\r\n"
    );
    // a reader of k waits, then the primary's own timeout frees it
    let mut reader = node.raw();
    reader.cmd(&["AUTH", "pw"]);
    assert_eq!(reader.cmd(&["GET", "k"]), "$-1\r\n");
    // the two prepared after it time out on their own (bounded look)
    let gone = (0..400).any(|_| {
        let done = r.cmd(&["INFO", "transactions"]).contains("txn_in_doubt:0");
        if !done {
            std::thread::sleep(Duration::from_millis(5));
        }
        done
    });
    assert!(gone, "every hand-made prepare timed out");
}

/// A key held by a prepared cross-node transaction delays only the commands
/// on that key, through any proxy: a reader of it waits (on its own node
/// connection), while other clients' commands to the same node are answered
/// meanwhile; a pipeline touching the key keeps its order.
#[test]
fn a_locked_key_holds_up_only_its_own_commands() {
    let n = nodes(1, &[]);
    let proxies = [proxy(&n, &[]), proxy(&n, &[])];
    proxies[0].raw().cmd(&["MSET", "locked", "old", "free", "1"]);
    // a transaction prepared by hand, as a coordinator that went quiet
    let mut op = n[0].txn_raw();
    let me = n[0].addr();
    assert_eq!(op.cmd(&["TXN.PREPARE", "held:1", "PRIMARY", &me, "30000", "1", "3", "SET", "locked", "new"]), "+PREPARED\r\n");
    let mut waiting = Vec::new();
    for p in &proxies {
        let mut r = p.raw();
        r.send(&["GET", "locked"]);
        waiting.push(r);
    }
    let mut pipelined = proxies[1].raw();
    pipelined.send_bytes(b"*3\r\n$3\r\nSET\r\n$6\r\nlocked\r\n$4\r\nmine\r\n*2\r\n$3\r\nGET\r\n$6\r\nlocked\r\n*2\r\n$3\r\nGET\r\n$4\r\nfree\r\n");
    // everyone else is served while the key stays locked
    for p in &proxies {
        let mut other = p.raw();
        for i in 0..200 {
            assert_eq!(other.cmd(&["INCR", "free"]), format!(":{}\r\n", i + 2 + 200 * usize::from(p.port == proxies[1].port)));
        }
    }
    for r in &mut waiting {
        assert_eq!(r.try_read_reply(Duration::from_millis(100)), None, "a reader of the locked key was answered");
    }
    assert!(op.cmd(&["TXN.LIST"]).starts_with("*1\r\n"), "the key must still be locked");
    // the decision (here: abort by hand at the primary) releases them
    assert_eq!(op.cmd(&["TXN.ABORT", "held:1"]), "+OK\r\n");
    for r in &mut waiting {
        let got = r.read_reply();
        assert!(got == "$3\r\nold\r\n" || got == "$4\r\nmine\r\n", "{got}");
    }
    assert_eq!(pipelined.read_reply(), "+OK\r\n");
    assert_eq!(pipelined.read_reply(), "$4\r\nmine\r\n");
    assert_eq!(pipelined.read_reply(), "$3\r\n401\r\n");
}

/// Commands on a key held by a prepared transaction wait in the key's
/// queue of the one wait registry: once the decision releases the key they
/// run in the order they came, before any command that came after; one
/// whose client leaves meanwhile leaves the queue, and commands on other
/// keys are not held up.
#[test]
fn commands_on_a_locked_key_run_in_arrival_order_after_the_decision() {
    let (node, mut op, mut ctl) = node_with_k_locked("fifo:1", "base:");
    let mut waiting = Vec::new();
    for i in 0..6 {
        let mut r = node.raw();
        if i == 3 {
            // a transaction whose queued command touches the key waits too
            assert_eq!(r.cmd(&["MULTI"]), "+OK\r\n");
            assert_eq!(r.cmd(&["APPEND", "k", "3"]), "+QUEUED\r\n");
            r.send(&["EXEC"]);
        } else {
            r.send(&["APPEND", "k", &i.to_string()]);
        }
        waiting.push(r);
        assert_eq!(wait_blocked_count(&mut ctl, i + 1), i + 1);
    }
    // the fifth one leaves while waiting: it must not hold up the others
    drop(waiting.remove(4));
    assert_eq!(wait_blocked_count(&mut ctl, 5), 5);
    assert_eq!(ctl.cmd(&["SET", "other", "x"]), "+OK\r\n", "other keys are served meanwhile");
    assert_eq!(op.cmd(&["TXN.COMMIT", "fifo:1"]), "*1\r\n+OK\r\n");
    let replies: Vec<String> = waiting.iter_mut().map(|r| r.read_reply()).collect();
    assert_eq!(replies, [":6\r\n", ":7\r\n", ":8\r\n", "*1\r\n:9\r\n", ":10\r\n"]);
    assert_eq!(ctl.cmd(&["GET", "k"]), "$10\r\nbase:01235\r\n");
    assert_eq!(common::blocked_clients(&mut ctl), 0);
}

/// Polls INFO until `n` commands wait (bounded), then says how many do.
fn wait_blocked_count(r: &mut common::Raw, n: usize) -> usize {
    for _ in 0..2000 {
        if common::blocked_clients(r) == n {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    common::blocked_clients(r)
}

/// Hundreds of clients piling up on a key a prepared transaction holds,
/// half of them leaving (closed or reset) while they wait: the decision
/// serves the rest in order, every place in the queue is given back, and
/// the node's memory does not keep what the leavers held.
#[test]
fn waiters_on_a_locked_key_that_leave_are_forgotten() {
    let (node, mut op, mut ctl) = node_with_k_locked("pile:1", "0");
    let rss_before = common::rss_kb(node.pid());
    let mut stay = Vec::new();
    for i in 0..400 {
        let mut r = node.raw();
        // each command is seen waiting before the next is sent: arrival
        // order across connections is only defined that way
        if i % 2 == 0 {
            r.send(&["INCR", "k"]);
            stay.push(r);
            assert_eq!(wait_blocked_count(&mut ctl, stay.len()), stay.len());
        } else {
            // an unread PONG makes the close a reset for every fourth
            if i % 4 == 1 {
                r.send(&["PING"]);
            }
            r.send(&["INCR", "k"]);
            assert_eq!(wait_blocked_count(&mut ctl, stay.len() + 1), stay.len() + 1);
            drop(r);
            assert_eq!(wait_blocked_count(&mut ctl, stay.len()), stay.len(), "a leaver left its queue");
        }
    }
    assert_eq!(common::blocked_clients(&mut ctl), 200, "the leavers left their queues");
    assert_eq!(op.cmd(&["TXN.COMMIT", "pile:1"]), "*1\r\n+OK\r\n");
    let got: Vec<i64> = stay.iter_mut().map(|r| r.read_reply().trim_start_matches(':').trim().parse().unwrap()).collect();
    assert_eq!(got, (1..=200).collect::<Vec<_>>(), "served in arrival order");
    assert_eq!(ctl.cmd(&["GET", "k"]), "$3\r\n200\r\n");
    assert_eq!(common::blocked_clients(&mut ctl), 0);
    drop(stay);
    // 400 connections came and went: no more than a few kB each stays
    let grown = common::rss_kb(node.pid()).saturating_sub(rss_before);
    assert!(grown < 400 * 16, "RSS grew {grown} kB for 400 connections that are gone");
}

/// A node where `txid`, prepared by hand as its own primary, holds `k`
/// (to be set to `value`); a TXN connection and a plain one.
fn node_with_k_locked(txid: &str, value: &str) -> (TestServer, common::Raw, common::Raw) {
    let node = TestServer::start(&[]);
    let mut op = node.txn_raw();
    let me = node.addr();
    assert_eq!(op.cmd(&["TXN.PREPARE", txid, "PRIMARY", &me, "30000", "1", "3", "SET", "k", value]), "+PREPARED\r\n");
    let ctl = node.raw();
    (node, op, ctl)
}
