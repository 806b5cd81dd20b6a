//! Cross-node transactions under real faults, during a bank workload: a
//! proxy killed with SIGKILL and restarted, a node stopped (SIGSTOP) past
//! the timeouts, connections dropped between prepare and commit, a
//! participant killed. After each: no key stays locked, the invariant holds,
//! and the counts of committed, aborted and recovered transactions are
//! printed.

mod common;
use common::{TestServer, addrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ACCOUNTS: usize = 8;
const START: i64 = 1000;

fn proxy_for(nodes: &[String]) -> TestServer {
    TestServer::start_proxy(nodes, &["--hash", "md5", "--txn-timeout", "500", "--timeout", "1000"])
}

fn accounts() -> Vec<String> {
    (0..ACCOUNTS).map(|i| format!("fault:acct:{i}")).collect()
}

#[derive(Default)]
struct Counts {
    committed: AtomicU64,
    watch_aborts: AtomicU64,
    failed: AtomicU64,
    snapshots: AtomicU64,
}

/// Transfers and snapshot reads through the proxies whose ports are in
/// `ports` (read at every reconnect, so a restarted proxy is picked up),
/// until `stop`.
fn start_load(ports: Arc<Mutex<Vec<u16>>>, stop: Arc<AtomicBool>, counts: Arc<Counts>, check_snapshots: bool) -> Vec<std::thread::JoinHandle<()>> {
    let mut threads = Vec::new();
    for t in 0..8usize {
        let (ports, stop, counts) = (ports.clone(), stop.clone(), counts.clone());
        threads.push(std::thread::spawn(move || {
            let accts = accounts();
            let mut i = 0usize;
            let mut conn: Option<redis::Connection> = None;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                if conn.is_none() {
                    let port = ports.lock().unwrap()[t % 2];
                    conn = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                        .ok()
                        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)).ok());
                    if conn.is_none() {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                    let c = conn.as_mut().unwrap();
                    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                }
                let c = conn.as_mut().unwrap();
                let from = &accts[(t * 7 + i * 3) % ACCOUNTS];
                let to = &accts[(t * 5 + i * 11 + 1) % ACCOUNTS];
                if from == to {
                    continue;
                }
                let result: redis::RedisResult<Option<(i64, i64)>> = if t % 2 == 0 {
                    redis::cmd("WATCH")
                        .arg(from)
                        .arg(to)
                        .query::<()>(c)
                        .and_then(|_| redis::pipe().atomic().cmd("DECRBY").arg(from).arg(3).cmd("INCRBY").arg(to).arg(3).query(c))
                } else {
                    redis::pipe().atomic().cmd("DECRBY").arg(from).arg(5).cmd("INCRBY").arg(to).arg(5).query(c).map(Some)
                };
                match result {
                    Ok(Some(_)) => counts.committed.fetch_add(1, Ordering::Relaxed),
                    Ok(None) => counts.watch_aborts.fetch_add(1, Ordering::Relaxed),
                    Err(_) => {
                        conn = None;
                        counts.failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    if check_snapshots {
        let (ports, stop, counts) = (ports.clone(), stop.clone(), counts.clone());
        threads.push(std::thread::spawn(move || {
            let accts = accounts();
            while !stop.load(Ordering::Relaxed) {
                let port = ports.lock().unwrap()[1];
                let Ok(mut c) =
                    redis::Client::open(format!("redis://127.0.0.1:{port}/")).and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)))
                else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                while !stop.load(Ordering::Relaxed) {
                    let mut pipe = redis::pipe();
                    pipe.atomic();
                    for a in &accts {
                        pipe.cmd("GET").arg(a);
                    }
                    match pipe.query::<Vec<i64>>(&mut c) {
                        Ok(b) => {
                            assert_eq!(b.iter().sum::<i64>(), START * ACCOUNTS as i64, "a snapshot saw a partial transaction: {b:?}");
                            counts.snapshots.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => break,
                    }
                }
            }
        }));
    }
    threads
}

/// A running bank workload; `finish` stops it and returns its counts.
struct Load {
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(ports: Arc<Mutex<Vec<u16>>>, check_snapshots: bool) -> Load {
        let (stop, counts) = (Arc::new(AtomicBool::new(false)), Arc::new(Counts::default()));
        let threads = start_load(ports, stop.clone(), counts.clone(), check_snapshots);
        Load { stop, counts, threads }
    }

    fn finish(self) -> Arc<Counts> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        self.counts
    }
}

/// Waits until no node holds a prepared transaction; returns (recovered
/// commits, recovered aborts) summed over the nodes.
fn settle(nodes: &[&TestServer]) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    for node in nodes {
        loop {
            let info = node.raw().cmd(&["INFO", "transactions"]);
            if info.contains("txn_in_doubt:0") {
                break;
            }
            if Instant::now() >= deadline {
                panic!("a transaction stayed in doubt: {info}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let field = |info: &str, name: &str| -> u64 { info.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().parse().unwrap()).unwrap_or(0) };
    nodes.iter().fold((0, 0), |(c, a), n| {
        let info = n.raw().cmd(&["INFO", "transactions"]);
        (c + field(&info, "txn_recovered_commits:"), a + field(&info, "txn_recovered_aborts:"))
    })
}

fn total(proxy: &TestServer) -> i64 {
    // a proxy's pooled connection to a restarted node fails once
    for _ in 0..20 {
        let mut c = proxy.conn();
        if let Ok(values) = accounts().iter().map(|a| redis::cmd("GET").arg(a).query::<i64>(&mut c)).collect::<Result<Vec<i64>, _>>() {
            return values.iter().sum();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the accounts could not be read through the proxy");
}

/// Three nodes with the accounts, two proxies, and the bank workload
/// running through both.
fn bank_under_load() -> (Vec<TestServer>, TestServer, TestServer, Load) {
    let nodes: Vec<TestServer> = (0..3).map(|_| TestServer::start(&[])).collect();
    let a = addrs(&nodes);
    let p1 = setup(&a);
    let p2 = proxy_for(&a);
    let load = Load::start(Arc::new(Mutex::new(vec![p1.port, p2.port])), false);
    (nodes, p1, p2, load)
}

fn setup(nodes: &[String]) -> TestServer {
    let p = proxy_for(nodes);
    let mut c = p.conn();
    for a in accounts() {
        let _: () = redis::cmd("SET").arg(a).arg(START).query(&mut c).unwrap();
    }
    p
}

fn report(name: &str, counts: &Counts, recovered: (u64, u64)) {
    eprintln!(
        "{name}: {} committed, {} aborted by WATCH, {} failed cleanly, {} snapshots; recovery: {} committed, {} aborted",
        counts.committed.load(Ordering::Relaxed),
        counts.watch_aborts.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
        counts.snapshots.load(Ordering::Relaxed),
        recovered.0,
        recovered.1
    );
}

#[test]
fn proxy_killed_and_restarted_during_load() {
    let nodes: Vec<TestServer> = (0..3).map(|_| TestServer::start(&[])).collect();
    let a = addrs(&nodes);
    let steady = setup(&a);
    let mut victim = proxy_for(&a);
    let ports = Arc::new(Mutex::new(vec![victim.port, steady.port]));
    let load = Load::start(ports.clone(), true);
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(150 + 70 * round));
        drop(victim); // SIGKILL, mid-traffic
        std::thread::sleep(Duration::from_millis(50));
        victim = proxy_for(&a);
        ports.lock().unwrap()[0] = victim.port;
    }
    std::thread::sleep(Duration::from_millis(300));
    let counts = load.finish();
    let recovered = settle(&nodes.iter().collect::<Vec<_>>());
    assert_eq!(total(&steady), START * ACCOUNTS as i64);
    assert!(counts.committed.load(Ordering::Relaxed) > 0);
    report("proxy SIGKILL x3", &counts, recovered);
}

#[test]
fn node_stopped_past_the_timeouts() {
    let (nodes, p1, _p2, load) = bank_under_load();
    std::thread::sleep(Duration::from_millis(300));
    let pid = nodes[1].pid().to_string();
    std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    std::process::Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let counts = load.finish();
    let recovered = settle(&nodes.iter().collect::<Vec<_>>());
    assert_eq!(total(&p1), START * ACCOUNTS as i64);
    report("node SIGSTOP 1.5s", &counts, recovered);
}

#[test]
fn connections_dropped_between_prepare_and_commit() {
    let nodes: Vec<TestServer> = (0..3).map(|_| TestServer::start(&[])).collect();
    let a = addrs(&nodes);
    let p = setup(&a);
    let dropping = TestServer::start_proxy_env(&a, &["--hash", "md5", "--txn-timeout", "500"], &[("SHARDIS_FAULT", "drop-after-prepare")]);
    let accts = accounts();
    let mut c = dropping.conn();
    let mut committed = 0;
    for i in 0..20 {
        let (from, to) = (&accts[i % ACCOUNTS], &accts[(i * 3 + 1) % ACCOUNTS]);
        if from == to {
            continue;
        }
        // With WATCH the dropped connection loses the watches, so the
        // coordinator cannot commit there and the node learns the decision
        // from the primary (recovery); without, the commit reconnects.
        if i % 2 == 0 {
            let _: () = redis::cmd("WATCH").arg(from).arg(to).query(&mut c).unwrap();
        }
        let r: redis::RedisResult<Option<(i64, i64)>> = redis::pipe().atomic().cmd("DECRBY").arg(from).arg(1).cmd("INCRBY").arg(to).arg(1).query(&mut c);
        if matches!(r, Ok(Some(_))) {
            committed += 1;
        }
    }
    let recovered = settle(&nodes.iter().collect::<Vec<_>>());
    assert_eq!(total(&p), START * ACCOUNTS as i64);
    assert!(committed > 0);
    eprintln!("drop-after-prepare: {committed} committed; recovery: {} committed, {} aborted", recovered.0, recovered.1);
}

#[test]
fn participant_killed_during_load() {
    let (mut nodes, _p1, _p2, load) = bank_under_load();
    std::thread::sleep(Duration::from_millis(300));
    // The last node that holds an account (the ring depends on the random
    // ports, so node 2 may hold none): never the primary of a transaction
    // that touches another node (the primary is the lowest index), so the
    // survivors can settle every transaction from their primaries.
    let holds = |n: &TestServer| accounts().iter().any(|a| n.raw().cmd(&["EXISTS", a]) == ":1\r\n");
    let victim = (1..nodes.len()).rev().find(|&i| holds(&nodes[i])).expect("accounts on nodes 1 and 2");
    drop(nodes.remove(victim)); // SIGKILL a participant mid-traffic
    // Run on until transactions touching the dead node have failed (a
    // worker may first wait out keys locked by a transaction in doubt).
    let deadline = Instant::now() + Duration::from_secs(10);
    while load.counts.failed.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let counts = load.finish();
    // The survivors hold no transaction and serve every key they own.
    let recovered = settle(&nodes.iter().collect::<Vec<_>>());
    for n in &nodes {
        assert_eq!(n.txn_raw().cmd(&["TXN.LIST"]), "*0\r\n");
    }
    assert!(counts.failed.load(Ordering::Relaxed) > 0, "transactions touching the dead node should fail");
    report("participant SIGKILL", &counts, recovered);
}

/// Someone with the cluster secret polls TXN.LIST on every node and aborts
/// whatever is prepared (TXN.ABORT, TXN.RESOLVE ... ABORT) during the bank
/// load. A secondary lets go only when its primary has aborted, so no
/// transfer is ever applied on one node only: the total holds.
#[test]
fn aborting_prepared_transactions_by_hand_splits_none() {
    let (nodes, p1, _p2, load) = bank_under_load();
    let stop = Arc::new(AtomicBool::new(false));
    let attacks: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut r = n.txn_raw();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut sent, mut refused) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let list = r.cmd(&["TXN.LIST"]);
                    let lines: Vec<&str> = list.lines().collect();
                    // each entry: *4, $len, id, :age, primary, role
                    for id in lines.windows(3).filter(|w| w[0] == "*4").map(|w| w[2]) {
                        let reply = if (sent + i as u64).is_multiple_of(2) { r.cmd(&["TXN.ABORT", id]) } else { r.cmd(&["TXN.RESOLVE", id, "ABORT"]) };
                        sent += 1;
                        refused += u64::from(reply.starts_with('-'));
                    }
                }
                (sent, refused)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let (sent, refused) = attacks.into_iter().map(|a| a.join().unwrap()).fold((0, 0), |(s, r), (a, b)| (s + a, r + b));
    let counts = load.finish();
    let recovered = settle(&nodes.iter().collect::<Vec<_>>());
    assert_eq!(total(&p1), START * ACCOUNTS as i64, "a transaction was applied on some nodes only");
    assert!(sent > 0, "the attacker never saw a prepared transaction");
    assert!(counts.committed.load(Ordering::Relaxed) > 0);
    eprintln!("hand aborts: {sent} sent, {refused} refused");
    report("aborts by hand", &counts, recovered);
}

/// Every node keeps an AOF (`appendfsync always`); during the bank load
/// the primary of most transactions (node 0) and then a secondary are
/// killed with SIGKILL and restarted on their ports with their files.
/// Prepared records and decisions come back from the AOF, so every
/// transaction in doubt is settled from its primary's decision, nothing
/// stays in doubt, and the bank total holds.
#[test]
fn participants_restarted_from_their_aof_during_load() {
    let dirs: Vec<std::path::PathBuf> = (0..3).map(|_| common::fresh_dir()).collect();
    let aof = ["--appendonly", "yes", "--appendfsync", "always", "--save", ""];
    let mut nodes: Vec<TestServer> = dirs.iter().map(|d| TestServer::start_in(d, &aof)).collect();
    nodes.iter().for_each(wait_loaded);
    let a = addrs(&nodes);
    let p1 = setup(&a);
    let p2 = proxy_for(&a);
    let load = Load::start(Arc::new(Mutex::new(vec![p1.port, p2.port])), false);
    for victim in [0, 2, 1] {
        std::thread::sleep(Duration::from_millis(400));
        let port = nodes[victim].port;
        let _ = std::process::Command::new("kill").args(["-KILL", &nodes[victim].pid().to_string()]).status();
        std::thread::sleep(Duration::from_millis(100));
        nodes[victim] = TestServer::start_in_on_port(&dirs[victim], port, &aof);
    }
    nodes.iter().for_each(wait_loaded);
    std::thread::sleep(Duration::from_millis(500));
    let counts = load.finish();
    let recovered = settle(&nodes.iter().collect::<Vec<_>>());
    for n in &nodes {
        assert_eq!(n.txn_raw().cmd(&["TXN.LIST"]), "*0\r\n");
    }
    assert_eq!(total(&p1), START * ACCOUNTS as i64, "a transaction was applied on some nodes only");
    assert!(counts.committed.load(Ordering::Relaxed) > 0);
    report("participants SIGKILL + AOF restart", &counts, recovered);
    drop(nodes);
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Waits until a node answers commands (not `-LOADING`).
fn wait_loaded(n: &TestServer) {
    let mut r = n.raw();
    common::wait_until("the node did not finish loading", Duration::from_secs(20), Duration::from_millis(10), || !r.cmd(&["PING"]).starts_with("-LOADING"));
}
