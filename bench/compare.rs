//! shardis vs redis-server, side by side in one run.
//!
//! ```text
//! cargo bench --bench compare                       # everything
//! cargo bench --bench compare -- throughput         # redis-benchmark, A B A B
//! cargo bench --bench compare -- memory             # bytes per key, 1M keys
//! cargo bench --bench compare -- collections        # bytes per hash field / list element
//! cargo bench --bench compare -- types              # set, zset, bitmap, HLL custom commands
//! cargo bench --bench compare -- pubsub             # PUBLISH to 1, 10, 100 subscribers
//! cargo bench --bench compare -- effects            # what keeping the effect log costs a write
//! cargo bench --bench compare -- hitratio           # Zipf read-through cache
//! cargo bench --bench compare -- locks              # lock and check-and-set rates
//! cargo bench --bench compare -- proxy              # shardis proxy vs nutcracker
//! cargo bench --bench compare -- txn                # cross-node vs single-node EXEC
//! cargo bench --bench compare -- hardening          # connects, idle clients, keys at maxmemory, shutdown
//! cargo bench --bench compare -- throughput --rounds 5 --requests 500000
//! ```
//!
//! Needs `redis-server` and `redis-benchmark` (Debian: redis-server,
//! redis-tools). Both servers run on free loopback ports with the same
//! settings; every figure is printed for both with the ratio shardis/redis.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Shardis,
    Redis,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Shardis => "shardis",
            Kind::Redis => "redis",
        }
    }
}

struct Server {
    child: Child,
    port: u16,
    /// Its working directory (files it writes), removed with it.
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A fresh working directory for one server.
fn scratch_dir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("shardis-bench-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a bench dir");
    dir
}

fn start(kind: Kind, args: &[&str]) -> Server {
    start_in(kind, scratch_dir(), args)
}

/// Starts `kind` working in `dir` (both keep no files unless `args` ask).
fn start_in(kind: Kind, dir: std::path::PathBuf, args: &[&str]) -> Server {
    let port = free_port();
    let child = match kind {
        Kind::Shardis => Command::new(env!("CARGO_BIN_EXE_shardis"))
            .current_dir(&dir)
            .arg("server")
            .args(["--port", &port.to_string(), "--save", ""])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start shardis"),
        Kind::Redis => Command::new("redis-server")
            .current_dir(&dir)
            .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (apt-get install redis-server)"),
    };
    for _ in 0..500 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Server { child, port, dir };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{} did not start", kind.name());
}

/// CPU seconds (user + system, all threads) of a process.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok()).unwrap_or(0) * 1024
}

/// A pipelining RESP client just good enough for loading and read-through.
struct Conn {
    stream: BufReader<TcpStream>,
}

#[derive(Debug, PartialEq)]
enum Resp {
    Ok,
    Nil,
    Bulk(Vec<u8>),
    Int(i64),
    Err(String),
    Array(Vec<Resp>),
    NilArray,
}

impl Conn {
    fn new(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_nodelay(true).unwrap();
        Conn { stream: BufReader::with_capacity(1 << 20, s) }
    }

    fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
        write!(out, "*{}\r\n", args.len()).unwrap();
        for a in args {
            write!(out, "${}\r\n", a.len()).unwrap();
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).unwrap();
    }

    fn read(&mut self) -> Resp {
        let mut line = Vec::new();
        self.stream.read_until(b'\n', &mut line).unwrap();
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        match line[0] {
            b'+' => Resp::Ok,
            b'-' => Resp::Err(text),
            b':' => Resp::Int(text.parse().unwrap()),
            b'$' => {
                let n: i64 = text.parse().unwrap();
                if n < 0 {
                    return Resp::Nil;
                }
                let mut buf = vec![0; n as usize + 2];
                self.stream.read_exact(&mut buf).unwrap();
                buf.truncate(n as usize);
                Resp::Bulk(buf)
            }
            b'*' => {
                let n: i64 = text.parse().unwrap();
                if n < 0 {
                    return Resp::NilArray;
                }
                Resp::Array((0..n).map(|_| self.read()).collect())
            }
            other => panic!("unexpected reply type {}", other as char),
        }
    }

    /// One command, one reply.
    fn call(&mut self, args: &[&[u8]]) -> Resp {
        let mut out = Vec::new();
        Self::encode(&mut out, args);
        self.send(&out);
        self.read()
    }

    fn info_field(&mut self, field: &str) -> u64 {
        let mut out = Vec::new();
        Self::encode(&mut out, &[b"INFO", b"memory"]);
        self.send(&out);
        let Resp::Bulk(text) = self.read() else { panic!("INFO failed") };
        let text = String::from_utf8_lossy(&text);
        text.lines().find_map(|l| l.strip_prefix(&format!("{field}:"))).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// `run` on each of the two servers in turn, `rounds` times: the medians
/// of (op/s) and of (CPU us per op), shardis's first.
fn side_by_side(rounds: usize, servers: &[Server], kinds: &[Kind], mut run: impl FnMut(&Server, &Kind) -> (f64, f64)) -> ((f64, f64), (f64, f64)) {
    let mut ops = [Vec::new(), Vec::new()];
    let mut cpu = [Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (i, s) in servers.iter().enumerate() {
            let (rps, us) = run(s, &kinds[i]);
            ops[i].push(rps);
            cpu[i].push(us);
        }
    }
    ((median(&mut ops[0]), median(&mut ops[1])), (median(&mut cpu[0]), median(&mut cpu[1])))
}

// ---- throughput -------------------------------------------------------------

fn throughput(rounds: usize, requests: usize) {
    println!("== throughput: redis-benchmark -c 50 -r 100000 -d 64, {requests} requests, {rounds} rounds A B A B");
    let servers = [start(Kind::Shardis, &[]), start(Kind::Redis, &[])];
    let kinds = [Kind::Shardis, Kind::Redis];
    println!("{:<10} {:>3} | {:>12} {:>12} {:>6} | {:>10} {:>10} {:>6}", "test", "P", "shardis op/s", "redis op/s", "ratio", "shardis us", "redis us", "ratio");
    for pipeline in [1, 16] {
        for test in ["set", "get", "lpush", "rpush", "lpop", "rpop", "hset", "sadd", "spop", "zadd", "zpopmin", "lrange_100", "lrange_600"] {
            let ((a, b), (ca, cb)) = side_by_side(rounds, &servers, &kinds, |s, k| run_benchmark(s, test, pipeline, requests, k.name()));
            println!("{:<10} {:>3} | {:>12.0} {:>12.0} {:>6.2} | {:>10.2} {:>10.2} {:>6.2}", test.to_uppercase(), pipeline, a, b, a / b, ca, cb, ca / cb);
        }
    }
    println!("(op/s: higher is better; us = server CPU microseconds per operation, lower is better)");
}

/// Commands of the set, bitmap and HyperLogLog families redis-benchmark has
/// no test for, as custom commands (`__rand_int__` filled in per request),
/// after a load of the keys they read.
fn types_bench(rounds: usize, requests: usize) {
    println!("== types: redis-benchmark custom commands -c 50 -r 100000, {requests} requests, {rounds} rounds A B A B");
    let servers = [start(Kind::Shardis, &[]), start(Kind::Redis, &[])];
    let kinds = [Kind::Shardis, Kind::Redis];
    for s in &servers {
        let mut c = Conn::new(s.port);
        pipeline_all(
            &mut c,
            Box::new((0..1000).map(|part| {
                let mut cmd = vec![b"SADD".to_vec(), b"bench:set".to_vec()];
                cmd.extend((part * 100..(part + 1) * 100).map(|e| format!("element:{e}").into_bytes()));
                cmd
            })),
        );
        // a leaderboard of 1M members with scores 0..1M
        pipeline_all(
            &mut c,
            Box::new((0..10_000).map(|part| {
                let mut cmd = vec![b"ZADD".to_vec(), b"bench:zset".to_vec()];
                for e in part * 100..(part + 1) * 100 {
                    cmd.push(format!("{}", (e * 7919) % 1_000_003).into_bytes());
                    cmd.push(format!("element:{e:012}").into_bytes());
                }
                cmd
            })),
        );
    }
    let commands: [&[&str]; 11] = [
        &["SISMEMBER", "bench:set", "element:__rand_int__"],
        &["SADD", "bench:ints", "__rand_int__"],
        &["PFADD", "bench:hll", "element:__rand_int__"],
        // (`__rand_int__` is zero-padded, which Redis refuses as an offset)
        &["SETBIT", "bench:bits", "99999", "1"],
        &["BITCOUNT", "bench:bits"],
        // (`__rand_int__` is 12 digits, as the members are written; -r
        // 100000 picks among the first 100k of the 1M)
        &["ZSCORE", "bench:zset", "element:__rand_int__"],
        &["ZRANK", "bench:zset", "element:__rand_int__"],
        &["ZADD", "bench:zset", "500000", "element:__rand_int__"],
        &["ZRANGE", "bench:zset", "500000", "500009", "WITHSCORES"],
        &["ZRANGE", "bench:zset", "0", "99", "WITHSCORES"],
        &["ZRANGEBYSCORE", "bench:zset", "500000", "+inf", "LIMIT", "0", "10"],
    ];
    println!(
        "{:<40} {:>3} | {:>12} {:>12} {:>6} | {:>10} {:>10} {:>6}",
        "command", "P", "shardis op/s", "redis op/s", "ratio", "shardis us", "redis us", "ratio"
    );
    compare_custom(&servers, &kinds, &commands, rounds, requests, 40);
    println!("(op/s: higher is better; us = server CPU microseconds per operation, lower is better)");
}

/// Each custom command at pipeline 1 and 16, `rounds` times on each
/// server in turn: medians of op/s and CPU per operation, and their
/// ratios (`width`: the command column).
fn compare_custom(servers: &[Server], kinds: &[Kind], commands: &[&[&str]], rounds: usize, requests: usize, width: usize) {
    for pipeline in [1, 16] {
        for cmd in commands {
            let ((a, b), (ca, cb)) = side_by_side(rounds, servers, kinds, |s, k| run_custom(s, cmd, pipeline, requests, k.name()));
            println!("{:<width$} {:>3} | {:>12.0} {:>12.0} {:>6.2} | {:>10.2} {:>10.2} {:>6.2}", cmd.join(" "), pipeline, a, b, a / b, ca, cb, ca / cb);
        }
    }
}

/// One redis-benchmark run of a custom command against `s`: op/s and the
/// server's CPU microseconds per operation.
fn run_custom(s: &Server, cmd: &[&str], pipeline: usize, requests: usize, name: &str) -> (f64, f64) {
    let before = cpu_secs(s.child.id());
    let out = Command::new("redis-benchmark")
        .args(["-p", &s.port.to_string(), "-n", &requests.to_string(), "-c", "50", "-r", "100000"])
        .args(["-P", &pipeline.to_string(), "--csv"])
        .args(cmd)
        .output()
        .expect("redis-benchmark (apt-get install redis-tools)");
    let after = cpu_secs(s.child.id());
    let text = String::from_utf8_lossy(&out.stdout);
    let rps: f64 = text
        .lines()
        .nth(1)
        .and_then(|l| l.split("\",\"").nth(1))
        .and_then(|v| v.trim_matches('"').parse().ok())
        .unwrap_or_else(|| panic!("cannot parse redis-benchmark output for {name} {cmd:?}: {text} {}", String::from_utf8_lossy(&out.stderr)));
    (rps, (after - before) * 1e6 / requests as f64)
}

/// PUBLISH to 1, 10 and 100 subscribers that read everything (each a
/// thread draining its socket), redis-benchmark publishing.
fn pubsub_bench(rounds: usize, requests: usize) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    println!("== pubsub: PUBLISH of 5 bytes, -c 50, {requests} requests, {rounds} rounds A B A B");
    println!(
        "{:<16} {:>3} | {:>12} {:>12} {:>6} | {:>10} {:>10} {:>6}",
        "subscribers", "P", "shardis op/s", "redis op/s", "ratio", "shardis us", "redis us", "ratio"
    );
    let servers = [start(Kind::Shardis, &[]), start(Kind::Redis, &[])];
    let kinds = [Kind::Shardis, Kind::Redis];
    for n in [1usize, 10, 100] {
        // subscribers on both servers for the whole row
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        for s in &servers {
            for _ in 0..n {
                let mut c = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
                c.write_all(b"*2\r\n$9\r\nSUBSCRIBE\r\n$10\r\nbench:chan\r\n").unwrap();
                c.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
                let (stop, received) = (stop.clone(), received.clone());
                threads.push(std::thread::spawn(move || {
                    let mut buf = vec![0u8; 1 << 16];
                    while !stop.load(Ordering::Relaxed) {
                        if let Ok(k) = c.read(&mut buf) {
                            if k == 0 {
                                break;
                            }
                            received.fetch_add(k as u64, Ordering::Relaxed);
                        }
                    }
                }));
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        for pipeline in [1, 16] {
            let ((a, b), (ca, cb)) =
                side_by_side(rounds, &servers, &kinds, |s, k| run_custom(s, &["PUBLISH", "bench:chan", "hello"], pipeline, requests, k.name()));
            println!("{:<16} {:>3} | {:>12.0} {:>12.0} {:>6.2} | {:>10.2} {:>10.2} {:>6.2}", n, pipeline, a, b, a / b, ca, cb, ca / cb);
        }
        stop.store(true, Ordering::Relaxed);
        threads.into_iter().for_each(|t| {
            let _ = t.join();
        });
    }
    println!("(op/s of PUBLISH: higher is better; us = server CPU microseconds per PUBLISH, all deliveries included)");
}

/// One redis-benchmark run of `test` against `s`: op/s and the server's
/// CPU microseconds per operation.
fn run_benchmark(s: &Server, test: &str, pipeline: usize, requests: usize, name: &str) -> (f64, f64) {
    let before = cpu_secs(s.child.id());
    let out = Command::new("redis-benchmark")
        .args(["-p", &s.port.to_string(), "-t", test, "-n", &requests.to_string(), "-c", "50", "-r", "100000", "-d", "64"])
        .args(["-P", &pipeline.to_string(), "--csv"])
        .output()
        .expect("redis-benchmark (apt-get install redis-tools)");
    let after = cpu_secs(s.child.id());
    let text = String::from_utf8_lossy(&out.stdout);
    let rps: f64 = text
        .lines()
        // "LRANGE_100 (first 100 elements)": the name, then a quote or a space
        .find(|l| l.to_ascii_lowercase().strip_prefix(&format!("\"{test}")).is_some_and(|rest| rest.starts_with(['"', ' '])))
        .and_then(|l| l.split(',').nth(1))
        .and_then(|v| v.trim_matches('"').parse().ok())
        .unwrap_or_else(|| panic!("cannot parse redis-benchmark output for {name}: {text}"));
    (rps, (after - before) * 1e6 / requests as f64)
}

// ---- effect log -------------------------------------------------------------

/// What keeping the effect log costs a write: shardis with and without a
/// log reader (`DEBUG EFFECTS KEEP`, what a replica or the AOF will do),
/// next to redis-server without and with a replica attached (which makes
/// it feed its replication backlog and the replica's output buffer).
fn effects_bench(rounds: usize, requests: usize) {
    println!("== effect log: server CPU us/op at pipeline 16, without / with a log reader (shardis) or a replica (redis)");
    let ours = [start(Kind::Shardis, &[]), start(Kind::Shardis, &["--enable-debug-command", "local"])];
    let mut c = Conn::new(ours[1].port);
    assert!(matches!(c.call(&[b"DEBUG", b"EFFECTS", b"KEEP"]), Resp::Ok), "DEBUG EFFECTS KEEP");
    let redis = [start(Kind::Redis, &[]), start(Kind::Redis, &[])];
    let primary = redis[1].port.to_string();
    let replica = start(Kind::Redis, &["--replicaof", "127.0.0.1", &primary]);
    let mut r = Conn::new(replica.port);
    let linked = (0..200).any(|_| {
        let Resp::Bulk(info) = r.call(&[b"INFO", b"replication"]) else { return false };
        let up = String::from_utf8_lossy(&info).contains("master_link_status:up");
        if !up {
            std::thread::sleep(Duration::from_millis(50));
        }
        up
    });
    assert!(linked, "the redis replica never linked up");
    println!("{:<6} | {:>10} {:>10} {:>6} | {:>10} {:>10} {:>6}", "test", "shd plain", "shd log", "cost", "redis", "w/replica", "cost");
    for test in ["set", "incr", "lpush", "hset"] {
        let mut us = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..rounds {
            for (i, s) in ours.iter().chain(redis.iter()).enumerate() {
                us[i].push(run_benchmark(s, test, 16, requests, test).1);
            }
        }
        let m: Vec<f64> = us.iter_mut().map(|v| median(v)).collect();
        println!("{:<6} | {:>10.2} {:>10.2} {:>6.2} | {:>10.2} {:>10.2} {:>6.2}", test.to_uppercase(), m[0], m[1], m[1] / m[0], m[2], m[3], m[3] / m[2]);
    }
    println!("(cost: CPU per op with the reader or replica over without; the replica's own CPU is not counted)");
}

// ---- persistence ------------------------------------------------------------

/// A field of an INFO section, as text.
fn info_text(c: &mut Conn, section: &str, field: &str) -> String {
    let Resp::Bulk(text) = c.call(&[b"INFO", section.as_bytes()]) else { return String::new() };
    String::from_utf8_lossy(&text).lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string())).unwrap_or_default()
}

/// Seconds until a server started on an existing dataset answers DBSIZE
/// (not `-LOADING`), and the keys it has.
fn time_to_loaded(kind: Kind, dir: std::path::PathBuf) -> (f64, i64, Server) {
    let t = Instant::now();
    let s = start_in(kind, dir, &[]);
    let mut c = Conn::new(s.port);
    loop {
        match c.call(&[b"DBSIZE"]) {
            Resp::Int(n) => return (t.elapsed().as_secs_f64(), n, s),
            _ => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// SET throughput with the AOF under each fsync policy; BGSAVE time and
/// its extra memory while 50 clients overwrite keys; the time to load the
/// same RDB file at startup. Both servers write to the same disk.
fn persistence_bench(rounds: usize, requests: usize, keys: usize) {
    println!("== AOF: SET, redis-benchmark -c 50 -d 64, {requests} requests, {rounds} rounds, appendonly yes, both on the same disk");
    println!("{:<9} {:>3} | {:>12} {:>12} {:>6} | {:>10} {:>10} {:>6}", "fsync", "P", "shardis op/s", "redis op/s", "ratio", "shardis us", "redis us", "ratio");
    for policy in ["always", "everysec", "no"] {
        let servers = [Kind::Shardis, Kind::Redis].map(|k| start(k, &["--appendonly", "yes", "--appendfsync", policy]));
        std::thread::sleep(Duration::from_millis(300));
        for pipeline in [1, 16] {
            let ((a, b), (ca, cb)) = side_by_side(rounds, &servers, &[Kind::Shardis, Kind::Redis], |s, _| run_benchmark(s, "set", pipeline, requests, policy));
            println!("{:<9} {:>3} | {:>12.0} {:>12.0} {:>6.2} | {:>10.2} {:>10.2} {:>6.2}", policy, pipeline, a, b, a / b, ca, cb, ca / cb);
        }
    }
    println!("(us = server CPU per SET, fsync threads included)");

    println!("== BGSAVE of {keys} keys (16-byte keys, 32-byte values) while 50 clients overwrite them with SET");
    println!("{:<8} | {:>8} {:>12} {:>14} {:>10}", "server", "secs", "extra MB", "RSS growth MB", "file MB");
    let mut files = Vec::new();
    for kind in [Kind::Shardis, Kind::Redis] {
        let s = start(kind, &[]);
        load_keys(s.port, keys);
        let mut c = Conn::new(s.port);
        let rss0 = rss_bytes(s.child.id());
        let port = s.port;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let load = {
            let stop = stop.clone();
            let keys = keys.to_string();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = Command::new("redis-benchmark")
                        .args(["-p", &port.to_string(), "-t", "set", "-n", "200000", "-c", "50", "-r", &keys, "-d", "32", "-q"])
                        .output();
                }
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        let _ = c.call(&[b"BGSAVE"]);
        let mut peak_rss = rss0;
        loop {
            std::thread::sleep(Duration::from_millis(5));
            peak_rss = peak_rss.max(rss_bytes(s.child.id()));
            if info_text(&mut c, "persistence", "rdb_bgsave_in_progress") == "0" && info_text(&mut c, "persistence", "rdb_saves") != "0" {
                break;
            }
        }
        let secs = t.elapsed().as_secs_f64();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = load.join();
        let cow: f64 = info_text(&mut c, "persistence", "rdb_last_cow_size").parse().unwrap_or(0.0);
        let file = s.dir.join("dump.rdb");
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        println!("{:<8} | {:>8.2} {:>12.1} {:>14.1} {:>10.1}", kind.name(), secs, cow / 1e6, (peak_rss.saturating_sub(rss0)) as f64 / 1e6, size as f64 / 1e6);
        let keep = scratch_dir();
        let _ = std::fs::copy(&file, keep.join("dump.rdb"));
        files.push(keep);
    }
    println!("(extra: shardis' preserved entries at their peak; redis: the child's copy-on-write pages; RSS growth: the main process only)");

    println!("== load at startup: redis-server's dump.rdb of {keys} keys, loaded by each");
    let source = files.pop().expect("redis' file");
    let mut secs = Vec::new();
    for kind in [Kind::Shardis, Kind::Redis] {
        let dir = scratch_dir();
        std::fs::copy(source.join("dump.rdb"), dir.join("dump.rdb")).expect("copy");
        let (t, n, _s) = time_to_loaded(kind, dir);
        assert_eq!(n as usize, keys, "{} loaded {n} keys", kind.name());
        secs.push(t);
    }
    println!("{:<8} | {:>8.2}\n{:<8} | {:>8.2}\nratio    | {:>8.2}", "shardis", secs[0], "redis", secs[1], secs[0] / secs[1]);
    for d in files.into_iter().chain([source]) {
        let _ = std::fs::remove_dir_all(d);
    }
}

// ---- memory -----------------------------------------------------------------

fn load_keys(port: u16, n: usize) {
    let mut c = Conn::new(port);
    let value = [b'v'; 32];
    let batch = 10_000;
    let mut i = 0;
    while i < n {
        let mut out = Vec::with_capacity(batch * 80);
        let end = (i + batch).min(n);
        for k in i..end {
            let key = format!("key:{k:012}");
            Conn::encode(&mut out, &[b"SET", key.as_bytes(), &value]);
        }
        c.send(&out);
        for _ in i..end {
            assert_eq!(c.read(), Resp::Ok);
        }
        i = end;
    }
}

fn memory(keys: usize) {
    println!("== memory: {keys} keys of 16 bytes with 32-byte values");
    println!("{:<8} | {:>14} {:>12}", "server", "used_memory B/k", "RSS B/key");
    let mut results = Vec::new();
    for kind in [Kind::Shardis, Kind::Redis] {
        let s = start(kind, &[]);
        let mut c = Conn::new(s.port);
        let used0 = c.info_field("used_memory");
        let rss0 = rss_bytes(s.child.id());
        load_keys(s.port, keys);
        std::thread::sleep(Duration::from_millis(200));
        let used = c.info_field("used_memory");
        let rss = rss_bytes(s.child.id());
        let per_used = (used.saturating_sub(used0)) as f64 / keys as f64;
        let per_rss = (rss.saturating_sub(rss0)) as f64 / keys as f64;
        println!("{:<8} | {:>14.1} {:>12.1}", kind.name(), per_used, per_rss);
        results.push((per_used, per_rss));
    }
    println!("ratio    | {:>14.2} {:>12.2}   (shardis/redis, lower is better)", results[0].0 / results[1].0, results[0].1 / results[1].1);
}

/// Sends `commands` pipelined in batches and checks none failed.
fn pipeline_all(c: &mut Conn, commands: impl Iterator<Item = Vec<Vec<u8>>>) {
    let mut out = Vec::new();
    let mut pending = 0;
    let flush = |c: &mut Conn, out: &mut Vec<u8>, pending: &mut usize| {
        c.send(out);
        for _ in 0..*pending {
            if let Resp::Err(e) = c.read() {
                panic!("load failed: {e}");
            }
        }
        out.clear();
        *pending = 0;
    };
    for cmd in commands {
        let args: Vec<&[u8]> = cmd.iter().map(|a| &a[..]).collect();
        Conn::encode(&mut out, &args);
        pending += 1;
        if pending == 1000 {
            flush(c, &mut out, &mut pending);
        }
    }
    flush(c, &mut out, &mut pending);
}

/// Memory per element of hashes and lists, small (listpack) and large
/// (hashtable, many quicklist nodes), against redis-server.
fn collections() {
    println!("== memory per element of collections (used_memory; RSS)");
    println!("{:<34} | {:>16} {:>16} {:>6}", "shape", "shardis B/elem", "redis B/elem", "ratio");
    type Load = Box<dyn Fn() -> Box<dyn Iterator<Item = Vec<Vec<u8>>>>>;
    let shapes: Vec<(&str, usize, Load)> = vec![
        (
            "100k hashes of 10 fields",
            1_000_000,
            Box::new(|| {
                Box::new((0..100_000).map(|h| {
                    let mut c = vec![b"HSET".to_vec(), format!("hash:{h:08}").into_bytes()];
                    for f in 0..10 {
                        c.push(format!("field:{f}").into_bytes());
                        c.push(format!("value:{h}:{f}").into_bytes());
                    }
                    c
                }))
            }),
        ),
        (
            "1k hashes of 1k fields",
            1_000_000,
            Box::new(|| {
                Box::new((0..1000).flat_map(|h| {
                    (0..10).map(move |part| {
                        let mut c = vec![b"HSET".to_vec(), format!("hash:{h:06}").into_bytes()];
                        for f in part * 100..(part + 1) * 100 {
                            c.push(format!("field:{f}").into_bytes());
                            c.push(format!("value:{h}:{f}").into_bytes());
                        }
                        c
                    })
                }))
            }),
        ),
        (
            "100k lists of 10 elements",
            1_000_000,
            Box::new(|| {
                Box::new((0..100_000).map(|l| {
                    let mut c = vec![b"RPUSH".to_vec(), format!("list:{l:08}").into_bytes()];
                    c.extend((0..10).map(|e| format!("element:{l}:{e}").into_bytes()));
                    c
                }))
            }),
        ),
        (
            "1 list of 1M elements",
            1_000_000,
            Box::new(|| {
                Box::new((0..10_000).map(|part| {
                    let mut c = vec![b"RPUSH".to_vec(), b"biglist".to_vec()];
                    c.extend((part * 100..(part + 1) * 100).map(|e| format!("element:{e}").into_bytes()));
                    c
                }))
            }),
        ),
        (
            "1 list of 1M integers",
            1_000_000,
            Box::new(|| {
                Box::new((0..10_000).map(|part| {
                    let mut c = vec![b"RPUSH".to_vec(), b"intlist".to_vec()];
                    c.extend((part * 100..(part + 1) * 100).map(|e| format!("{e}").into_bytes()));
                    c
                }))
            }),
        ),
        (
            "100k sets of 10 integers",
            1_000_000,
            Box::new(|| {
                Box::new((0..100_000).map(|k| {
                    let mut c = vec![b"SADD".to_vec(), format!("set:{k:08}").into_bytes()];
                    c.extend((0..10).map(|e| format!("{}", k * 10 + e).into_bytes()));
                    c
                }))
            }),
        ),
        (
            "100k sets of 10 strings",
            1_000_000,
            Box::new(|| {
                Box::new((0..100_000).map(|k| {
                    let mut c = vec![b"SADD".to_vec(), format!("set:{k:08}").into_bytes()];
                    c.extend((0..10).map(|e| format!("member:{k}:{e}").into_bytes()));
                    c
                }))
            }),
        ),
        (
            "1k HyperLogLogs of 2k elements (B/HLL)",
            1000,
            Box::new(|| {
                Box::new((0..1000).flat_map(|h| {
                    (0..20).map(move |part| {
                        let mut c = vec![b"PFADD".to_vec(), format!("hll:{h:06}").into_bytes()];
                        c.extend((part * 100..(part + 1) * 100).map(|e| format!("element:{h}:{e}").into_bytes()));
                        c
                    })
                }))
            }),
        ),
        (
            "100k sorted sets of 10",
            1_000_000,
            Box::new(|| {
                Box::new((0..100_000).map(|k| {
                    let mut c = vec![b"ZADD".to_vec(), format!("zset:{k:08}").into_bytes()];
                    for e in 0..10 {
                        c.push(format!("{}.5", k + e).into_bytes());
                        c.push(format!("member:{k}:{e}").into_bytes());
                    }
                    c
                }))
            }),
        ),
        (
            "1 sorted set of 1M",
            1_000_000,
            Box::new(|| {
                Box::new((0..10_000).map(|part| {
                    let mut c = vec![b"ZADD".to_vec(), b"bigzset".to_vec()];
                    for e in part * 100..(part + 1) * 100 {
                        c.push(format!("{}", (e * 7919) % 1_000_003).into_bytes());
                        c.push(format!("member:{e}").into_bytes());
                    }
                    c
                }))
            }),
        ),
        (
            "1 set of 1M strings",
            1_000_000,
            Box::new(|| {
                Box::new((0..10_000).map(|part| {
                    let mut c = vec![b"SADD".to_vec(), b"bigset".to_vec()];
                    c.extend((part * 100..(part + 1) * 100).map(|e| format!("member:{e}").into_bytes()));
                    c
                }))
            }),
        ),
    ];
    for (name, elements, load) in shapes {
        let mut per = Vec::new();
        for kind in [Kind::Shardis, Kind::Redis] {
            let s = start(kind, &[]);
            let mut c = Conn::new(s.port);
            let (used0, rss0) = (c.info_field("used_memory"), rss_bytes(s.child.id()));
            pipeline_all(&mut c, load());
            std::thread::sleep(Duration::from_millis(200));
            let (used, rss) = (c.info_field("used_memory"), rss_bytes(s.child.id()));
            per.push((used.saturating_sub(used0) as f64 / elements as f64, rss.saturating_sub(rss0) as f64 / elements as f64));
        }
        println!("{:<34} | {:>7.1}; {:>7.1} {:>7.1}; {:>7.1} {:>6.2}", name, per[0].0, per[0].1, per[1].0, per[1].1, per[0].0 / per[1].0);
    }
    println!("(ratio of used_memory per element, shardis/redis: lower is better)");
}

// ---- hit ratio ----------------------------------------------------------------

/// Zipf(s) over 1..=n by inverse CDF on a precomputed table.
/// Streams: memory per entry (1M entries of 3 small fields, and the same
/// with a consumer group holding them all pending), XADD throughput
/// (redis-benchmark, also with MAXLEN ~ trimming), and consumer-group
/// throughput: 8 consumers reading `XREADGROUP ... COUNT 10` and acking
/// what they got, until 200k entries are done.
fn streams_bench(rounds: usize, requests: usize) {
    println!("== streams: memory per entry (used_memory; RSS)");
    println!("{:<44} | {:>16} {:>16} {:>6}", "shape", "shardis B/entry", "redis B/entry", "ratio");
    for pending in [false, true] {
        let mut per = Vec::new();
        for kind in [Kind::Shardis, Kind::Redis] {
            let s = start(kind, &[]);
            let mut c = Conn::new(s.port);
            let (used0, rss0) = (c.info_field("used_memory"), rss_bytes(s.child.id()));
            pipeline_all(
                &mut c,
                Box::new((0..1_000_000u64).map(|i| {
                    vec![
                        b"XADD".to_vec(),
                        b"bench:stream".to_vec(),
                        b"*".to_vec(),
                        b"name".to_vec(),
                        format!("user{}", i % 1000).into_bytes(),
                        b"n".to_vec(),
                        format!("{i}").into_bytes(),
                        b"ok".to_vec(),
                        b"1".to_vec(),
                    ]
                })),
            );
            if pending {
                c.call(&[b"XGROUP", b"CREATE", b"bench:stream", b"g", b"0"]);
                pipeline_all(
                    &mut c,
                    Box::new((0..1000).map(|_| {
                        ["XREADGROUP", "GROUP", "g", "c", "COUNT", "1000", "STREAMS", "bench:stream", ">"].iter().map(|a| a.as_bytes().to_vec()).collect()
                    })),
                );
            }
            std::thread::sleep(Duration::from_millis(200));
            let (used, rss) = (c.info_field("used_memory"), rss_bytes(s.child.id()));
            per.push((used.saturating_sub(used0) as f64 / 1e6, rss.saturating_sub(rss0) as f64 / 1e6));
        }
        let name = if pending { "1M entries, 3 fields, all pending in a group" } else { "1M entries of 3 small fields" };
        println!("{:<44} | {:>7.1}; {:>7.1} {:>7.1}; {:>7.1} {:>6.2}", name, per[0].0, per[0].1, per[1].0, per[1].1, per[0].0 / per[1].0);
    }
    println!("(ratio of used_memory per entry, shardis/redis: lower is better)");

    println!("== streams: XADD, redis-benchmark -c 50, {requests} requests, {rounds} rounds A B A B");
    println!(
        "{:<44} {:>3} | {:>12} {:>12} {:>6} | {:>10} {:>10} {:>6}",
        "command", "P", "shardis op/s", "redis op/s", "ratio", "shardis us", "redis us", "ratio"
    );
    let servers = [start(Kind::Shardis, &[]), start(Kind::Redis, &[])];
    let kinds = [Kind::Shardis, Kind::Redis];
    let commands: [&[&str]; 2] =
        [&["XADD", "bench:x", "*", "field", "__rand_int__"], &["XADD", "bench:capped", "MAXLEN", "~", "1000", "*", "f", "__rand_int__", "g", "v"]];
    compare_custom(&servers, &kinds, &commands, rounds, requests, 44);

    println!("== streams: XREADGROUP COUNT 10 + XACK, 8 consumers, 200k entries, {rounds} rounds");
    println!("{:<44} | {:>12} {:>12} {:>6} | {:>10} {:>10} {:>6}", "", "shardis e/s", "redis e/s", "ratio", "shardis us", "redis us", "ratio");
    let (mut rate, mut cpu) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    for round in 0..rounds {
        for (i, s) in servers.iter().enumerate() {
            let key = format!("bench:work:{round}");
            let mut c = Conn::new(s.port);
            pipeline_all(
                &mut c,
                Box::new(
                    (0..200_000u64).map(|n| vec![b"XADD".to_vec(), key.clone().into_bytes(), b"*".to_vec(), b"job".to_vec(), format!("{n}").into_bytes()]),
                ),
            );
            c.call(&[b"XGROUP", b"CREATE", key.as_bytes(), b"g", b"0"]);
            let before = cpu_secs(s.child.id());
            let start_at = Instant::now();
            let workers: Vec<_> = (0..8)
                .map(|w| {
                    let (port, key) = (s.port, key.clone());
                    std::thread::spawn(move || {
                        let mut c = Conn::new(port);
                        let consumer = format!("c{w}");
                        let mut done = 0usize;
                        loop {
                            let reply = c.call(&[b"XREADGROUP", b"GROUP", b"g", consumer.as_bytes(), b"COUNT", b"10", b"STREAMS", key.as_bytes(), b">"]);
                            let Resp::Array(streams) = reply else { break };
                            let Some(Resp::Array(kv)) = streams.into_iter().next() else { break };
                            let Some(Resp::Array(entries)) = kv.into_iter().nth(1) else { break };
                            let mut ack: Vec<Vec<u8>> = vec![b"XACK".to_vec(), key.clone().into_bytes(), b"g".to_vec()];
                            for e in entries {
                                if let Resp::Array(parts) = e
                                    && let Some(Resp::Bulk(id)) = parts.into_iter().next()
                                {
                                    ack.push(id);
                                }
                            }
                            done += ack.len() - 3;
                            let refs: Vec<&[u8]> = ack.iter().map(|a| a.as_slice()).collect();
                            c.call(&refs);
                        }
                        done
                    })
                })
                .collect();
            let total: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
            let secs = start_at.elapsed().as_secs_f64();
            assert_eq!(total, 200_000, "every entry read once");
            rate[i].push(total as f64 / secs);
            cpu[i].push((cpu_secs(s.child.id()) - before) * 1e6 / total as f64);
        }
    }
    let (a, b) = (median(&mut rate[0]), median(&mut rate[1]));
    let (ca, cb) = (median(&mut cpu[0]), median(&mut cpu[1]));
    println!("{:<44} | {:>12.0} {:>12.0} {:>6.2} | {:>10.2} {:>10.2} {:>6.2}", "entries read and acked", a, b, a / b, ca, cb, ca / cb);
    println!("(e/s: entries per second, higher is better; us: server CPU per entry, lower is better)");
}

struct Zipf {
    cdf: Vec<f64>,
    rng: u64,
}

impl Zipf {
    fn new(n: usize, s: f64, seed: u64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for k in 1..=n {
            sum += 1.0 / (k as f64).powf(s);
            cdf.push(sum);
        }
        for v in &mut cdf {
            *v /= sum;
        }
        Zipf { cdf, rng: seed | 1 }
    }

    fn next(&mut self) -> usize {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let u = (z >> 11) as f64 / (1u64 << 53) as f64;
        self.cdf.partition_point(|&c| c < u)
    }
}

fn hitratio(gets: usize, keyspace: usize) {
    for policy in ["allkeys-lru", "allkeys-lfu"] {
        hitratio_with(gets, keyspace, policy);
    }
}

fn hitratio_with(gets: usize, keyspace: usize, policy: &str) {
    println!("== hit ratio: {gets} GETs over {keyspace} keys, Zipf(0.99), miss -> SET 100 B, maxmemory 16mb {policy}");
    let mut ratios = Vec::new();
    for kind in [Kind::Shardis, Kind::Redis] {
        let s = start(kind, &["--maxmemory", "16mb", "--maxmemory-policy", policy]);
        let mut c = Conn::new(s.port);
        let mut zipf = Zipf::new(keyspace, 0.99, 42);
        let value = [b'x'; 100];
        let mut hits = 0usize;
        let batch = 100;
        let started = Instant::now();
        let mut done = 0;
        while done < gets {
            let n = batch.min(gets - done);
            let keys: Vec<String> = (0..n).map(|_| format!("key:{}", zipf.next())).collect();
            let mut out = Vec::new();
            for k in &keys {
                Conn::encode(&mut out, &[b"GET", k.as_bytes()]);
            }
            c.send(&out);
            let mut misses = Vec::new();
            for k in &keys {
                match c.read() {
                    Resp::Bulk(_) => hits += 1,
                    Resp::Nil => misses.push(k),
                    other => panic!("GET: {other:?}"),
                }
            }
            let mut out = Vec::new();
            for k in &misses {
                Conn::encode(&mut out, &[b"SET", k.as_bytes(), &value]);
            }
            c.send(&out);
            for _ in &misses {
                let r = c.read();
                assert_eq!(r, Resp::Ok, "SET");
            }
            done += n;
        }
        let ratio = hits as f64 / gets as f64;
        println!("{:<8} hit ratio {:.4}  ({:.1}s)", kind.name(), ratio, started.elapsed().as_secs_f64());
        ratios.push(ratio);
    }
    println!("ratio    {:.3}  (shardis/redis, higher is better)", ratios[0] / ratios[1]);
}

// ---- locks and check-and-set ---------------------------------------------------

const LUA_RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

#[derive(Clone, Copy, PartialEq)]
enum LockKind {
    /// SET NX PX, then DELEX IFEQ (shardis) or the Lua release (redis).
    Lease,
    /// LOCK.ACQUIRE ... WAIT, then LOCK.RELEASE (shardis only).
    Blocking,
    /// WATCH / GET / MULTI / SET / EXEC increments.
    CheckAndSet,
}

/// Completed cycles per second: `clients` threads for `secs`, each on its
/// own key (uncontended) or all on one key (contended).
fn lock_rate(kind: Kind, port: u16, what: LockKind, clients: usize, contended: bool, secs: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let threads: Vec<_> = (0..clients)
        .map(|id| {
            std::thread::spawn(move || {
                let mut c = Conn::new(port);
                let key = if contended { "bench:lock".to_string() } else { format!("bench:lock:{id}") };
                let owner = format!("owner-{id}");
                let (k, o) = (key.as_bytes(), owner.as_bytes());
                let mut done = 0u64;
                while Instant::now() < deadline {
                    match what {
                        LockKind::Lease => {
                            if c.call(&[b"SET", k, o, b"NX", b"PX", b"5000"]) != Resp::Ok {
                                continue;
                            }
                            let released = match kind {
                                Kind::Shardis => c.call(&[b"DELEX", k, b"IFEQ", o]),
                                Kind::Redis => c.call(&[b"EVAL", LUA_RELEASE.as_bytes(), b"1", k, o]),
                            };
                            assert_eq!(released, Resp::Int(1));
                        }
                        LockKind::Blocking => {
                            match c.call(&[b"LOCK.ACQUIRE", k, o, b"5000", b"WAIT", b"1000"]) {
                                Resp::Int(_) => {}
                                _ => continue,
                            }
                            assert_eq!(c.call(&[b"LOCK.RELEASE", k, o]), Resp::Int(1));
                        }
                        LockKind::CheckAndSet => {
                            c.call(&[b"WATCH", k]);
                            let n = match c.call(&[b"GET", k]) {
                                Resp::Bulk(v) => String::from_utf8_lossy(&v).parse::<u64>().unwrap_or(0),
                                _ => 0,
                            };
                            c.call(&[b"MULTI"]);
                            c.call(&[b"SET", k, (n + 1).to_string().as_bytes()]);
                            if c.call(&[b"EXEC"]) == Resp::NilArray {
                                continue;
                            }
                        }
                    }
                    done += 1;
                }
                done
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    total as f64 / secs
}

fn locks(secs: f64) {
    println!("== locks: completed acquire+release (or check-and-set) cycles per second, {secs}s per cell");
    println!("{:<34} {:>3} {:>5} | {:>10} {:>10} {:>6}", "workload", "cl", "key", "shardis/s", "redis/s", "ratio");
    let servers = [start(Kind::Shardis, &[]), start(Kind::Redis, &[])];
    for (label, what) in [
        ("SET NX PX + DELEX (redis: Lua)", LockKind::Lease),
        ("LOCK.ACQUIRE + LOCK.RELEASE", LockKind::Blocking),
        ("WATCH/GET/MULTI/SET/EXEC", LockKind::CheckAndSet),
    ] {
        for clients in [1, 50] {
            for contended in [false, true] {
                if clients == 1 && contended {
                    continue;
                }
                let a = lock_rate(Kind::Shardis, servers[0].port, what, clients, contended, secs);
                let key = if contended { "one" } else { "own" };
                if what == LockKind::Blocking {
                    println!("{label:<34} {clients:>3} {key:>5} | {a:>10.0} {:>10} {:>6}", "-", "-");
                } else {
                    let b = lock_rate(Kind::Redis, servers[1].port, what, clients, contended, secs);
                    println!("{label:<34} {clients:>3} {key:>5} | {a:>10.0} {b:>10.0} {:>6.2}", a / b);
                }
            }
        }
    }
    println!("(redis-server 7.0 has no DELEX or LOCK.*: its lease release is the usual Lua script)");
}

// ---- proxy vs nutcracker ------------------------------------------------------

fn start_shardis_proxy(backends: &[u16]) -> Server {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shardis"));
    cmd.arg("proxy").args(["--port", &port.to_string()]);
    for b in backends {
        cmd.args(["--node", &format!("127.0.0.1:{b}:1")]);
    }
    let child = cmd.env("RUST_LOG", "warn").stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start shardis proxy");
    wait_port(port);
    Server { child, port, dir: scratch_dir() }
}

fn start_nutcracker(backends: &[u16]) -> Server {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("shardis-bench-nutcracker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("nutcracker.yml");
    let servers: String = backends.iter().map(|b| format!("   - 127.0.0.1:{b}:1\n")).collect();
    std::fs::write(
        &conf,
        format!("bench:\n  listen: 127.0.0.1:{port}\n  hash: fnv1a_64\n  distribution: ketama\n  redis: true\n  preconnect: true\n  server_connections: 1\n  servers:\n{servers}"),
    )
    .unwrap();
    let child = Command::new("nutcracker")
        .args(["-c", conf.to_str().unwrap(), "-s", &free_port().to_string(), "-o", dir.join("nutcracker.log").to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nutcracker (apt-get install nutcracker)");
    wait_port(port);
    Server { child, port, dir: scratch_dir() }
}

fn wait_port(port: u16) {
    for _ in 0..500 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("port {port} never opened");
}

/// One redis-benchmark run: (op/s, p50 ms, p99 ms).
fn redis_benchmark(port: u16, test: &str, pipeline: usize, requests: usize) -> (f64, f64, f64) {
    let mut cmd = Command::new("redis-benchmark");
    cmd.args(["-p", &port.to_string(), "-n", &requests.to_string(), "-c", "50", "-r", "100000", "-d", "64", "-P", &pipeline.to_string(), "--csv"]);
    if test == "mget" {
        cmd.arg("MGET");
        for _ in 0..10 {
            cmd.arg("key:__rand_int__");
        }
    } else {
        cmd.args(["-t", test]);
    }
    let out = cmd.output().expect("redis-benchmark (apt-get install redis-tools)");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with(&format!("\"{test}")))
        .unwrap_or_else(|| panic!("cannot parse redis-benchmark output: {text}"));
    let cols: Vec<f64> = line.split(',').skip(1).map(|v| v.trim_matches('"').parse().unwrap_or(0.0)).collect();
    // "test","rps","avg","min","p50","p95","p99","max"
    (cols[0], cols.get(3).copied().unwrap_or(0.0), cols.get(5).copied().unwrap_or(0.0))
}

fn proxy_bench(rounds: usize, requests: usize) {
    println!("== proxy: shardis proxy vs nutcracker (twemproxy 0.5.0) in front of the same 3 redis-server nodes, same ring");
    println!("   redis-benchmark -c 50 -r 100000 -d 64, {requests} requests, {rounds} rounds alternating; direct = one redis-server");
    let nodes: Vec<Server> = (0..3).map(|_| start(Kind::Redis, &[])).collect();
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    let proxies = [start_shardis_proxy(&ports), start_nutcracker(&ports)];
    let targets = [(proxies[0].port, Some(proxies[0].child.id())), (proxies[1].port, Some(proxies[1].child.id())), (ports[0], None)];
    println!(
        "{:<5} {:>3} | {:>9} {:>9} {:>9} {:>6} | {:>11} {:>11} | {:>7} {:>7} | {:>6} {:>6}",
        "test", "P", "shardis", "twemproxy", "direct", "ratio", "shd p50/p99", "twm p50/p99", "shd/dir", "twm/dir", "shd us", "twm us"
    );
    for pipeline in [1, 16] {
        for test in ["set", "get", "mget"] {
            let mut ops = [Vec::new(), Vec::new(), Vec::new()];
            let mut p50 = [Vec::new(), Vec::new(), Vec::new()];
            let mut p99 = [Vec::new(), Vec::new(), Vec::new()];
            let mut cpu = [Vec::new(), Vec::new(), Vec::new()];
            for _ in 0..rounds {
                for (i, (port, pid)) in targets.iter().enumerate() {
                    let before = pid.map(cpu_secs).unwrap_or(0.0);
                    let (r, a, b) = redis_benchmark(*port, test, pipeline, requests);
                    let after = pid.map(cpu_secs).unwrap_or(0.0);
                    ops[i].push(r);
                    p50[i].push(a);
                    p99[i].push(b);
                    cpu[i].push((after - before) * 1e6 / requests as f64);
                }
            }
            let m: Vec<f64> = ops.iter_mut().map(|v| median(v)).collect();
            let l50: Vec<f64> = p50.iter_mut().map(|v| median(v)).collect();
            let l99: Vec<f64> = p99.iter_mut().map(|v| median(v)).collect();
            let c: Vec<f64> = cpu.iter_mut().map(|v| median(v)).collect();
            println!(
                "{:<5} {:>3} | {:>9.0} {:>9.0} {:>9.0} {:>6.2} | {:>5.2}/{:<5.2} {:>5.2}/{:<5.2} | {:>7.2} {:>7.2} | {:>6.2} {:>6.2}",
                test.to_uppercase(),
                pipeline,
                m[0],
                m[1],
                m[2],
                m[0] / m[1],
                l50[0],
                l99[0],
                l50[1],
                l99[1],
                m[0] / m[2],
                m[1] / m[2],
                c[0],
                c[1]
            );
        }
    }
    println!("(op/s; ratio = shardis/twemproxy, target >= 1.5; p50/p99 in ms; us = proxy CPU per operation; MGET = 10 keys)");
}

// ---- cross-node transactions ---------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum TxnWork {
    PlainSets,
    SingleNodeExec,
    CrossNodeExec,
}

/// (ops/s, p50 µs, p99 µs) of `work` with `clients` clients for `secs`.
fn txn_rate(port: u16, work: TxnWork, keys: (String, String), clients: usize, secs: f64) -> (f64, f64, f64) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let threads: Vec<_> = (0..clients)
        .map(|id| {
            let (k1, k2) = (format!("{}:{id}", keys.0), format!("{}:{id}", keys.1));
            std::thread::spawn(move || {
                let mut c = Conn::new(port);
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match work {
                        TxnWork::PlainSets => {
                            assert_eq!(c.call(&[b"SET", k1.as_bytes(), b"v"]), Resp::Ok);
                            assert_eq!(c.call(&[b"SET", k2.as_bytes(), b"v"]), Resp::Ok);
                        }
                        _ => {
                            let mut out = Vec::new();
                            Conn::encode(&mut out, &[b"MULTI"]);
                            Conn::encode(&mut out, &[b"SET", k1.as_bytes(), b"v"]);
                            Conn::encode(&mut out, &[b"SET", k2.as_bytes(), b"v"]);
                            Conn::encode(&mut out, &[b"EXEC"]);
                            c.send(&out);
                            for _ in 0..3 {
                                c.read();
                            }
                            match c.read() {
                                Resp::Array(r) => assert_eq!(r.len(), 2),
                                other => panic!("EXEC: {other:?}"),
                            }
                        }
                    }
                    lat.push(t.elapsed().as_secs_f64() * 1e6);
                }
                lat
            })
        })
        .collect();
    let mut all: Vec<f64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0.0);
    (all.len() as f64 / secs, pct(0.5), pct(0.99))
}

fn txn_bench(secs: f64) {
    println!("== cross-node transactions through shardis proxy (3 shardis nodes), {secs}s per cell");
    let nodes: Vec<Server> = (0..3).map(|_| start(Kind::Shardis, &[])).collect();
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    let proxy = {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shardis"));
        cmd.arg("proxy").args(["--port", &port.to_string(), "--hash", "md5", "--hash-tag", "{}"]);
        for p in &ports {
            cmd.args(["--node", &format!("127.0.0.1:{p}")]);
        }
        let child = cmd.env("RUST_LOG", "warn").stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("proxy");
        wait_port(port);
        Server { child, port, dir: scratch_dir() }
    };
    // Two keys on different nodes: hash tags {a..} chosen by asking the proxy's ring via the nodes.
    let mut probe = Conn::new(proxy.port);
    let owner = |c: &mut Conn, key: &str| -> usize {
        c.call(&[b"SET", key.as_bytes(), b"x"]);
        ports.iter().position(|p| Conn::new(*p).call(&[b"EXISTS", key.as_bytes()]) == Resp::Int(1)).unwrap()
    };
    let first = owner(&mut probe, "{t0}");
    let other = (1..100).map(|i| format!("{{t{i}}}")).find(|k| owner(&mut probe, k) != first).unwrap();
    let cross = ("{t0}".to_string(), other);
    let single = ("{t0}:a".to_string(), "{t0}:b".to_string());
    println!("{:<26} {:>3} | {:>9} {:>9} {:>9}", "workload", "cl", "op/s", "p50 us", "p99 us");
    let mut p50s = std::collections::HashMap::new();
    for clients in [1, 50] {
        for (label, work, keys) in [
            ("2 plain SETs", TxnWork::PlainSets, single.clone()),
            ("single-node EXEC of 2 SETs", TxnWork::SingleNodeExec, single.clone()),
            ("cross-node EXEC of 2 SETs", TxnWork::CrossNodeExec, cross.clone()),
        ] {
            let (ops, p50, p99) = txn_rate(proxy.port, work, keys, clients, secs);
            p50s.insert((clients, label), p50);
            println!("{label:<26} {clients:>3} | {ops:>9.0} {p50:>9.0} {p99:>9.0}");
        }
        let ratio = p50s[&(clients, "cross-node EXEC of 2 SETs")] / p50s[&(clients, "single-node EXEC of 2 SETs")];
        println!("  cross-node / single-node EXEC p50 at {clients} clients: {ratio:.2} (target <= 3)");
    }
    locked_key_latency(&proxy, &nodes[first]);
}

/// GETs of other keys through the proxy, before and while a key of the same
/// node is held by a prepared transaction with readers waiting on it.
fn locked_key_latency(proxy: &Server, node: &Server) {
    let gets = |label: &str| {
        let mut c = Conn::new(proxy.port);
        let mut lat = Vec::with_capacity(5000);
        for _ in 0..5000 {
            let t = Instant::now();
            let _ = c.call(&[b"GET", b"{t0}:other"]);
            lat.push(t.elapsed().as_secs_f64() * 1e6);
        }
        lat.sort_by(f64::total_cmp);
        println!("GET of another key, {label:<28} | p50 {:>6.0} us  p99 {:>6.0} us", lat[lat.len() / 2], lat[lat.len() * 99 / 100]);
    };
    gets("no key locked");
    let secret =
        std::fs::read_to_string(std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".shardis/cluster-secret")).unwrap_or_default();
    let mut op = Conn::new(node.port);
    let _ = op.call(&[b"TXN.HELLO", secret.trim().as_bytes()]);
    let addr = format!("127.0.0.1:{}", node.port);
    let _ = op.call(&[b"TXN.PREPARE", b"bench:1", b"PRIMARY", addr.as_bytes(), b"30000", b"1", b"3", b"SET", b"{t0}", b"held"]);
    let waiters: Vec<_> = (0..10)
        .map(|_| {
            let port = proxy.port;
            std::thread::spawn(move || Conn::new(port).call(&[b"GET", b"{t0}"]))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    gets("a key locked, 10 readers wait");
    let _ = op.call(&[b"TXN.ABORT", b"bench:1"]);
    for w in waiters {
        let _ = w.join();
    }
}

// ---- hardening: connects, idle clients, keys at equal maxmemory, shutdown ----

/// `n` connects one after another (each also sends PING and reads PONG),
/// then closed: seconds taken.
fn connect_burst(port: u16, n: usize) -> f64 {
    let t = Instant::now();
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.write_all(b"PING\r\n").unwrap();
        let mut buf = [0u8; 16];
        let _ = s.read(&mut buf).unwrap();
        held.push(s);
    }
    t.elapsed().as_secs_f64()
}

/// RSS per idle client (after one PING each), in bytes, and RSS left
/// above the start once they are gone.
fn idle_rss(pid: u32, port: u16, n: usize) -> (f64, f64) {
    let before = rss_bytes(pid);
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.write_all(b"PING\r\n").unwrap();
        held.push(s);
    }
    for s in &mut held {
        let mut buf = [0u8; 16];
        let _ = s.read(&mut buf).unwrap();
    }
    // past shardis's 1 s buffer hold (redis-server frees an idle client's
    // query buffer after 2 s)
    std::thread::sleep(Duration::from_millis(2500));
    let during = rss_bytes(pid);
    drop(held);
    std::thread::sleep(Duration::from_millis(1500));
    let after = rss_bytes(pid);
    ((during.saturating_sub(before)) as f64 / n as f64, after.saturating_sub(before) as f64 / 1024.0)
}

/// RSS per client blocked in `BLPOP` on a key of its own, in bytes.
fn blocked_rss(pid: u32, port: u16, n: usize) -> f64 {
    let before = rss_bytes(pid);
    let held: Vec<TcpStream> = (0..n)
        .map(|i| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            s.write_all(format!("BLPOP q{i} 0\r\n").as_bytes()).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(2500));
    let during = rss_bytes(pid);
    drop(held);
    during.saturating_sub(before) as f64 / n as f64
}

/// `keys` SETs of 16-byte keys with 10-byte values, pipelined (errors such
/// as OOM are read and ignored).
fn fill_small_keys(c: &mut Conn, keys: usize) {
    let batch = 10_000;
    for start_at in (0..keys).step_by(batch) {
        let end = (start_at + batch).min(keys);
        let mut out = Vec::with_capacity(batch * 64);
        for k in start_at..end {
            Conn::encode(&mut out, &[b"SET", format!("key:{k:012}").as_bytes(), b"0123456789"]);
        }
        c.send(&out);
        for _ in start_at..end {
            let _ = c.read();
        }
    }
}

fn hardening(keys: usize) {
    let n = 3000;
    println!("== connects: {n} serial connects (PING each), 5000 idle clients");
    println!("{:<11} | {:>10} {:>14} {:>16}", "server", "connect s", "idle B/client", "kB left after");
    let mut rows = Vec::new();
    for kind in [Kind::Shardis, Kind::Redis] {
        let s = start(kind, &["--maxclients", "20000"]);
        let burst = connect_burst(s.port, n);
        let (per, left) = idle_rss(s.child.id(), s.port, 5000);
        println!("{:<11} | {burst:>10.3} {per:>14.0} {left:>16.0}", kind.name());
        rows.push((burst, per));
    }
    println!("ratio      | {:>10.2} {:>14.2}   (shardis/redis)", rows[0].0 / rows[1].0, rows[0].1 / rows[1].1);
    let node = start(Kind::Redis, &[]);
    let mut prow = Vec::new();
    for (name, proxy) in [("shardis-px", start_shardis_proxy(&[node.port])), ("nutcracker", start_nutcracker(&[node.port]))] {
        let burst = connect_burst(proxy.port, n);
        let (per, left) = idle_rss(proxy.child.id(), proxy.port, 5000);
        println!("{name:<11} | {burst:>10.3} {per:>14.0} {left:>16.0}");
        prow.push(burst);
    }
    println!("ratio      | {:>10.2}   (shardis proxy/nutcracker)", prow[0] / prow[1]);

    println!("== 5000 clients blocked in BLPOP (nutcracker has no blocking commands)");
    let mut per = Vec::new();
    for kind in [Kind::Shardis, Kind::Redis] {
        let s = start(kind, &["--maxclients", "20000"]);
        per.push(blocked_rss(s.child.id(), s.port, 5000));
        println!("{:<11} | {:>8.0} B/client", kind.name(), per[per.len() - 1]);
    }
    let node = start(Kind::Shardis, &["--maxclients", "20000"]);
    let proxy = start_shardis_proxy(&[node.port]);
    println!("{:<11} | {:>8.0} B/client (the proxy's RSS; each also holds a node connection)", "shardis-px", blocked_rss(proxy.child.id(), proxy.port, 5000));
    println!("ratio      | {:>8.2}   (shardis/redis)", per[0] / per[1]);

    println!("== keys held at maxmemory 60mb (allkeys-lru, 16-byte keys, 10-byte values)");
    let mut held = Vec::new();
    for kind in [Kind::Shardis, Kind::Redis] {
        let s = start(kind, &["--maxmemory", "60mb", "--maxmemory-policy", "allkeys-lru"]);
        let mut c = Conn::new(s.port);
        fill_small_keys(&mut c, keys);
        let count = match c.call(&[b"DBSIZE"]) {
            Resp::Int(n) => n as u64,
            _ => 0,
        };
        println!("{:<8} | {count:>9} keys", kind.name());
        held.push(count as f64);
    }
    println!("ratio    | {:>9.2}   (shardis/redis, higher is better)", held[0] / held[1]);

    println!("== keys held after lowering maxmemory to 60mb on a node holding {keys} such keys");
    let mut kept = Vec::new();
    for kind in [Kind::Shardis, Kind::Redis] {
        let s = start(kind, &["--maxmemory-policy", "allkeys-lru"]);
        let mut c = Conn::new(s.port);
        fill_small_keys(&mut c, keys);
        let _ = c.call(&[b"CONFIG", b"SET", b"maxmemory", b"60mb"]);
        // redis-server evicts in time-bounded steps, going on in its cron
        std::thread::sleep(Duration::from_secs(2));
        let count = match c.call(&[b"DBSIZE"]) {
            Resp::Int(n) => n as u64,
            _ => 0,
        };
        println!("{:<8} | {count:>9} keys", kind.name());
        kept.push(count as f64);
    }
    println!("ratio    | {:>9.2}   (shardis/redis, higher is better)", kept[0] / kept[1]);

    println!("== shutdown with {keys} keys: SHUTDOWN NOSAVE to process exit");
    let mut times = Vec::new();
    for kind in [Kind::Shardis, Kind::Redis] {
        let mut s = start(kind, &[]);
        load_keys(s.port, keys);
        let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        let t = Instant::now();
        c.write_all(b"SHUTDOWN NOSAVE\r\n").unwrap();
        let _ = s.child.wait();
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        println!("{:<8} | {ms:>9.1} ms", kind.name());
        times.push(ms);
    }
    println!("ratio    | {:>9.2}   (shardis/redis)", times[0] / times[1]);
}

/// Seconds `redis-cli <args>` takes against `port`; its output is counted
/// in lines.
fn redis_cli_secs(port: u16, args: &[&str]) -> (f64, usize) {
    let t = Instant::now();
    let out = std::process::Command::new("redis-cli").arg("-p").arg(port.to_string()).args(args).output().expect("redis-cli");
    (t.elapsed().as_secs_f64(), out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count())
}

/// SCAN at `keys` keys: `redis-cli --scan` and `--bigkeys` end to end, one
/// `SCAN 0 COUNT 10`'s latency, and another client's GET latency while a
/// scan runs.
fn scan_bench(keys: usize) {
    println!("== SCAN over {keys} keys: redis-cli --scan, --bigkeys; SCAN COUNT 10 p50; GET p50 during a scan");
    println!("{:<8} | {:>9} {:>10} {:>14} {:>16}", "server", "--scan s", "--bigkeys s", "SCAN 10 p50 us", "GET p50 us (scan)");
    let mut rows = Vec::new();
    for kind in [Kind::Shardis, Kind::Redis] {
        let s = start(kind, &[]);
        let mut c = Conn::new(s.port);
        fill_small_keys(&mut c, keys);
        let mut lat = Vec::new();
        let mut cursor = b"0".to_vec();
        for _ in 0..2000 {
            let t = Instant::now();
            let reply = c.call(&[b"SCAN", &cursor, b"COUNT", b"10"]);
            lat.push(t.elapsed().as_secs_f64() * 1e6);
            if let Resp::Array(parts) = reply
                && let Some(Resp::Bulk(next)) = parts.first()
            {
                cursor = next.clone();
            }
        }
        let scan_p50 = median(&mut lat);
        let port = s.port;
        let reader = std::thread::spawn(move || {
            let mut c = Conn::new(port);
            let mut lat = Vec::new();
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(2) {
                let t = Instant::now();
                let _ = c.call(&[b"GET", b"key:000000000042"]);
                lat.push(t.elapsed().as_secs_f64() * 1e6);
            }
            median(&mut lat)
        });
        let (scan_s, found) = redis_cli_secs(s.port, &["--scan"]);
        let get_p50 = reader.join().unwrap();
        let (big_s, _) = redis_cli_secs(s.port, &["--bigkeys"]);
        println!("{:<8} | {scan_s:>9.2} {big_s:>10.2} {scan_p50:>14.1} {get_p50:>16.1}   ({found} keys listed)", kind.name());
        rows.push((scan_s, big_s, scan_p50, get_p50));
    }
    let (a, b) = (rows[0], rows[1]);
    println!("ratio    | {:>9.2} {:>10.2} {:>14.2} {:>16.2}   (shardis/redis)", a.0 / b.0, a.1 / b.1, a.2 / b.2, a.3 / b.3);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let flag = |name: &str, default: usize| -> usize {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    let rounds = flag("--rounds", 3);
    let requests = flag("--requests", 300_000);
    let keys = flag("--keys", 1_000_000);
    let gets = flag("--gets", 2_000_000);
    let selected: Vec<&str> = args
        .iter()
        .map(|s| s.as_str())
        .filter(|a| {
            [
                "throughput",
                "types",
                "pubsub",
                "effects",
                "memory",
                "collections",
                "hitratio",
                "locks",
                "proxy",
                "txn",
                "hardening",
                "scan",
                "streams",
                "persistence",
            ]
            .contains(a)
        })
        .collect();
    let all = selected.is_empty();
    if all || selected.contains(&"throughput") {
        throughput(rounds, requests);
    }
    if all || selected.contains(&"types") {
        types_bench(rounds, requests);
    }
    if all || selected.contains(&"streams") {
        streams_bench(rounds, requests);
    }
    if all || selected.contains(&"pubsub") {
        pubsub_bench(rounds, requests);
    }
    if all || selected.contains(&"effects") {
        effects_bench(rounds, requests);
    }
    if all || selected.contains(&"memory") {
        memory(keys);
    }
    if all || selected.contains(&"collections") {
        collections();
    }
    if all || selected.contains(&"scan") {
        scan_bench(keys);
    }
    if all || selected.contains(&"hitratio") {
        hitratio(gets, gets);
    }
    if all || selected.contains(&"proxy") {
        proxy_bench(rounds, requests);
    }
    if all || selected.contains(&"txn") {
        txn_bench(flag("--secs", 2) as f64);
    }
    if all || selected.contains(&"locks") {
        locks(flag("--secs", 2) as f64);
    }
    if all || selected.contains(&"persistence") {
        persistence_bench(rounds, requests, keys);
    }
    if all || selected.contains(&"hardening") {
        hardening(keys);
    }
}
