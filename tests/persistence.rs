//! RDB persistence with real processes and real files: SAVE, BGSAVE,
//! SHUTDOWN and loading at startup, shardis -> shardis, shardis ->
//! redis-server 7.0 and redis-server 7.0 -> shardis (every type and
//! encoding, TTLs, 16 databases), Redis's own `redis-check-rdb` on our
//! files, a snapshot taken while writers and evictions run, and broken
//! files.

mod common;

use common::{TestServer, against_redis, fresh_dir};
use redis::Commands;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Fills the keyspace with every type in both of its encodings, keys with
/// and without TTLs, across all 16 databases.
fn populate(con: &mut redis::Connection) {
    for db in 0..16 {
        redis::cmd("SELECT").arg(db).exec(con).unwrap();
        let p = format!("db{db}:");
        let _: () = con.set(format!("{p}str"), format!("value of {db}")).unwrap();
        let _: () = con.set(format!("{p}int"), 1000 + db).unwrap();
        let _: () = con.set(format!("{p}neg"), -70000).unwrap();
        let _: () = con.set(format!("{p}big"), "x".repeat(5000)).unwrap();
        let _: () = con.set(format!("{p}bin"), vec![0u8, 255, 13, 10, 1]).unwrap();
        let _: () = redis::cmd("SET").arg(format!("{p}ttl")).arg("soon").arg("PX").arg(3_600_000).query(con).unwrap();
        if db > 2 {
            continue;
        }
        let _: () = con.rpush(format!("{p}list"), &["a", "b", "1", "-2"]).unwrap();
        let long: Vec<String> = (0..300).map(|i| format!("element-{i}")).collect();
        let _: () = con.rpush(format!("{p}longlist"), &long).unwrap();
        let _: () = con.hset_multiple(format!("{p}hash"), &[("f1", "v1"), ("f2", "2"), ("f3", "")]).unwrap();
        let fields: Vec<(String, String)> = (0..200).map(|i| (format!("field{i}"), format!("value{i}"))).collect();
        let _: () = con.hset_multiple(format!("{p}bighash"), &fields).unwrap();
        let _: () = con.sadd(format!("{p}intset"), &[1, 2, 3, -5, 100000]).unwrap();
        let _: () = con.sadd(format!("{p}set"), &["a", "b", "c"]).unwrap();
        let many: Vec<i64> = (0..1000).collect();
        let _: () = con.sadd(format!("{p}bigset"), &many).unwrap();
        let _: () = con.zadd_multiple(format!("{p}zset"), &[(1.5, "a"), (-2.0, "b"), (3.0, "c")]).unwrap();
        let members: Vec<(f64, String)> = (0..200).map(|i| (i as f64 / 3.0, format!("member{i}"))).collect();
        let _: () = con.zadd_multiple(format!("{p}bigzset"), &members).unwrap();
        let _: () = redis::cmd("ZADD").arg(format!("{p}infz")).arg("inf").arg("top").arg("-inf").arg("bottom").query(con).unwrap();
        for i in 0..20 {
            let _: String = redis::cmd("XADD").arg(format!("{p}stream")).arg(format!("{}-{i}", 1000 + i)).arg("n").arg(i).arg("f").arg("v").query(con).unwrap();
        }
        let _: () = redis::cmd("XGROUP").arg("CREATE").arg(format!("{p}stream")).arg("g1").arg("0").query(con).unwrap();
        let _: redis::Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("g1")
            .arg("alice")
            .arg("COUNT")
            .arg(3)
            .arg("STREAMS")
            .arg(format!("{p}stream"))
            .arg(">")
            .query(con)
            .unwrap();
        let _: () = con.expire(format!("{p}hash"), 7200).unwrap();
        let _: () = con.pexpire(format!("{p}zset"), 9_000_000).unwrap();
    }
    redis::cmd("SELECT").arg(0).exec(con).unwrap();
}

/// Every key of every database as typed reads show it (sorted where the
/// type has no order), with its encoding and absolute expiry: equal
/// fingerprints mean equal datasets.
fn fingerprint(con: &mut redis::Connection) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for db in 0..16 {
        redis::cmd("SELECT").arg(db).exec(con).unwrap();
        let keys: Vec<Vec<u8>> = con.keys("*").unwrap();
        for key in keys {
            let t: String = redis::cmd("TYPE").arg(&key).query(con).unwrap();
            let value = match t.as_str() {
                "string" => format!("{:?}", con.get::<_, Vec<u8>>(&key).unwrap()),
                "list" => format!("{:?}", con.lrange::<_, Vec<String>>(&key, 0, -1).unwrap()),
                "hash" => format!("{:?}", con.hgetall::<_, BTreeMap<String, String>>(&key).unwrap()),
                "set" => {
                    let mut m: Vec<String> = con.smembers(&key).unwrap();
                    m.sort();
                    format!("{m:?}")
                }
                "zset" => format!("{:?}", redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).arg("WITHSCORES").query::<Vec<String>>(con).unwrap()),
                "stream" => {
                    let entries: redis::Value = redis::cmd("XRANGE").arg(&key).arg("-").arg("+").query(con).unwrap();
                    let groups: redis::Value = redis::cmd("XINFO").arg("GROUPS").arg(&key).query(con).unwrap();
                    let pending: redis::Value = redis::cmd("XPENDING").arg(&key).arg("g1").arg("-").arg("+").arg(100).query(con).unwrap_or(redis::Value::Nil);
                    let ids: Vec<String> = match pending {
                        redis::Value::Array(v) => v
                            .into_iter()
                            .map(|p| match p {
                                redis::Value::Array(f) => format!("{:?}/{:?}/{:?}", f[0], f[1], f[3]),
                                _ => String::new(),
                            })
                            .collect(),
                        _ => vec![],
                    };
                    format!("{entries:?} {groups:?} {ids:?}")
                }
                other => panic!("unexpected type {other}"),
            };
            let enc: String = redis::cmd("OBJECT").arg("ENCODING").arg(&key).query(con).unwrap();
            let at: i64 = redis::cmd("PEXPIRETIME").arg(&key).query(con).unwrap();
            out.insert(format!("{db}/{}", String::from_utf8_lossy(&key)), format!("{t} {enc} {at} {value}"));
        }
    }
    redis::cmd("SELECT").arg(0).exec(con).unwrap();
    out
}

/// A connection that waits out `-LOADING` (the dataset loads after start).
fn loaded_conn(s: &TestServer) -> redis::Connection {
    let mut con = s.conn();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match redis::cmd("DBSIZE").query::<i64>(&mut con) {
            Ok(_) => return con,
            Err(e) if e.code() == Some("LOADING") && Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("not loaded: {e}"),
        }
    }
}

fn check_rdb(path: &Path) {
    let out = std::process::Command::new("redis-check-rdb").arg(path).output().expect("redis-check-rdb (redis-tools)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("RDB looks OK"), "redis-check-rdb refused {}: {text}", path.display());
}

fn diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> String {
    let mut d = String::new();
    for (k, v) in a {
        if b.get(k) != Some(v) {
            d.push_str(&format!("{k}:\n  {v}\n  {:?}\n", b.get(k)));
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        d.push_str(&format!("{k}: only in the second\n"));
    }
    d
}

#[test]
fn save_then_restart_restores_every_type_and_redis_agrees() {
    if against_redis() {
        return;
    }
    let dir = fresh_dir();
    let s = TestServer::start_in(&dir, &[]);
    let mut con = s.conn();
    populate(&mut con);
    let before = fingerprint(&mut con);
    assert!(before.len() > 60, "{}", before.len());
    let changes: String = redis::cmd("INFO").arg("persistence").query(&mut con).unwrap();
    assert!(!changes.contains("rdb_changes_since_last_save:0\r"), "{changes}");
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut con).unwrap();
    assert!(info.contains("rdb_changes_since_last_save:0\r"), "{info}");
    assert!(info.contains("rdb_saves:1\r"), "{info}");
    let lastsave: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now - lastsave).abs() <= 2, "{lastsave} vs {now}");
    drop(s); // SIGKILL: only the file remains
    check_rdb(&dir.join("dump.rdb"));

    // shardis -> shardis
    let s = TestServer::start_in(&dir, &[]);
    let mut con = loaded_conn(&s);
    let after = fingerprint(&mut con);
    assert!(before == after, "reloaded dataset differs:\n{}", diff(&before, &after));
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut con).unwrap();
    assert!(info.contains(&format!("rdb_last_load_keys_loaded:{}\r", before.len())), "{info}");
    drop(s);

    // shardis -> redis-server 7.0: the same dataset, encodings included
    let r = TestServer::start_redis_in(&dir, &["--dbfilename", "dump.rdb"]);
    let mut con = r.conn();
    let in_redis = fingerprint(&mut con);
    assert!(before == in_redis, "redis-server loaded another dataset:\n{}", diff(&before, &in_redis));
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_redis_dataset_loads_into_shardis() {
    if against_redis() {
        return;
    }
    let dir = fresh_dir();
    let r = TestServer::start_redis_in(&dir, &["--dbfilename", "dump.rdb"]);
    let mut con = r.conn();
    populate(&mut con);
    // what Redis compresses (LZF) and packs (listpacks, quicklists, intsets)
    let _: () = con.set("compressible", "abcabcabc".repeat(100)).unwrap();
    let expected = fingerprint(&mut con);
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    drop(r);
    let s = TestServer::start_in(&dir, &[]);
    let mut con = loaded_conn(&s);
    let got = fingerprint(&mut con);
    assert!(expected == got, "shardis loaded another dataset:\n{}", diff(&expected, &got));
    // and what shardis writes of it, Redis's checker accepts
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    check_rdb(&dir.join("dump.rdb"));
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bgsave_shutdown_and_sigterm_save_as_redis_does() {
    if against_redis() {
        return;
    }
    let dir = fresh_dir();
    let mut s = TestServer::start_in(&dir, &["--dbfilename", "data.rdb"]);
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["SET", "k", "v1"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["BGSAVE", "NOW"]), "-ERR syntax error\r\n");
    assert_eq!(raw.cmd(&["BGSAVE"]), "+Background saving started\r\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    while common::info_field(&mut raw, "persistence", "rdb_bgsave_in_progress").as_deref() != Some("0") || !dir.join("data.rdb").exists() {
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(common::info_field(&mut raw, "persistence", "rdb_last_bgsave_status").as_deref(), Some("ok"));
    assert_eq!(common::info_field(&mut raw, "persistence", "rdb_saves").as_deref(), Some("1"));
    // SHUTDOWN (save points are set by default, as in Redis): the final save
    assert_eq!(raw.cmd(&["SET", "k", "v2"]), "+OK\r\n");
    raw.send(&["SHUTDOWN"]);
    assert!(s.wait_exit(Duration::from_secs(20)).is_some(), "SHUTDOWN did not stop the server");
    let s = TestServer::start_in(&dir, &["--dbfilename", "data.rdb"]);
    let mut con = loaded_conn(&s);
    assert_eq!(con.get::<_, String>("k").unwrap(), "v2");
    // SHUTDOWN NOSAVE keeps the file as it was
    let _: () = con.set("k", "v3").unwrap();
    let mut raw = s.raw();
    raw.send(&["SHUTDOWN", "NOSAVE"]);
    let mut s = s;
    assert!(s.wait_exit(Duration::from_secs(20)).is_some());
    // SIGTERM saves too
    let mut s = TestServer::start_in(&dir, &["--dbfilename", "data.rdb"]);
    let mut con = loaded_conn(&s);
    assert_eq!(con.get::<_, String>("k").unwrap(), "v2");
    let _: () = con.set("k", "v4").unwrap();
    unsafe_kill(s.pid(), "TERM");
    assert!(s.wait_exit(Duration::from_secs(20)).is_some());
    // with no save points, nothing is saved on the way out
    let mut s = TestServer::start_in(&dir, &["--dbfilename", "data.rdb", "--save", ""]);
    let mut con = loaded_conn(&s);
    assert_eq!(con.get::<_, String>("k").unwrap(), "v4");
    let _: () = con.set("k", "v5").unwrap();
    unsafe_kill(s.pid(), "TERM");
    assert!(s.wait_exit(Duration::from_secs(20)).is_some());
    let s = TestServer::start_in(&dir, &["--dbfilename", "data.rdb"]);
    let mut con = loaded_conn(&s);
    assert_eq!(con.get::<_, String>("k").unwrap(), "v4");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends a signal with kill(1) (no libc in the tests).
fn unsafe_kill(pid: u32, sig: &str) {
    assert!(std::process::Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().unwrap().success());
}

#[test]
fn save_points_start_a_background_save() {
    if against_redis() {
        return;
    }
    let dir = fresh_dir();
    let s = TestServer::start_in(&dir, &["--save", "1 3"]);
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["CONFIG", "GET", "save"]), "*2\r\n$4\r\nsave\r\n$3\r\n1 3\r\n");
    assert_eq!(raw.cmd(&["CONFIG", "SET", "save", "1 2 3"]), "-ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters\r\n");
    assert_eq!(raw.cmd(&["SET", "a", "1"]), "+OK\r\n");
    std::thread::sleep(Duration::from_millis(2500));
    assert!(!dir.join("dump.rdb").exists(), "one change is below the save point");
    assert_eq!(raw.cmd(&["MSET", "b", "2", "c", "3"]), "+OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dir.join("dump.rdb").exists() {
        assert!(Instant::now() < deadline, "the save point did not save");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn loading_clients_get_loading_until_the_data_is_there() {
    if against_redis() {
        return;
    }
    let dir = fresh_dir();
    let s = TestServer::start_in(&dir, &[]);
    let mut con = s.conn();
    // enough keys that loading takes a moment
    let n = 300_000;
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let mut cmd = redis::cmd("MSET");
        for i in chunk {
            cmd.arg(format!("key:{i}")).arg(i);
        }
        let _: () = cmd.query(&mut con).unwrap();
    }
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    drop(s);
    let s = TestServer::start_in(&dir, &[]);
    let mut raw = s.raw();
    let first = raw.cmd(&["GET", "key:7"]);
    assert_eq!(first, "-LOADING Redis is loading the dataset in memory\r\n");
    // INFO answers while loading, with progress
    let info = raw.cmd(&["INFO", "persistence"]);
    assert!(info.contains("loading:1\r\n") || info.contains("loading:0\r\n"), "{info}");
    if info.contains("loading:1\r\n") {
        assert!(info.contains("loading_loaded_perc:") && info.contains("loading_eta_seconds:"), "{info}");
    }
    let mut con = loaded_conn(&s);
    assert_eq!(con.get::<_, i64>("key:7").unwrap(), 7);
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut con).unwrap(), n as i64);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One writer sets `seq:{i % 500}` to `i` for i = 0, 1, 2, ... (one total
/// order of writes, the log); another moves amounts between accounts in
/// MULTI/EXEC; filler keys with TTLs are evicted under maxmemory all the
/// while. A BGSAVE in the middle must be exactly the state after some
/// prefix of the log: every `seq` key holds the last value below one cut,
/// and the accounts add up.
#[test]
fn a_snapshot_is_the_keyspace_as_of_its_start_while_writers_and_evictions_run() {
    if against_redis() {
        return;
    }
    let dir = fresh_dir();
    let s = TestServer::start_in(&dir, &["--maxmemory-policy", "volatile-random"]);
    let mut con = s.conn();
    let accounts = 50;
    for a in 0..accounts {
        let _: () = con.set(format!("acct:{a}"), 100).unwrap();
    }
    // a keyspace big enough that the walk takes a while
    for chunk in (0..200_000).collect::<Vec<_>>().chunks(10_000) {
        let mut cmd = redis::cmd("MSET");
        for i in chunk {
            cmd.arg(format!("bulk:{i}")).arg(i);
        }
        let _: () = cmd.query(&mut con).unwrap();
    }
    // a few megabytes above what the node uses now: the filler must go
    let used: u64 = common::info_field(&mut s.raw(), "memory", "used_memory").unwrap().parse().unwrap();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(used + 4_000_000).query(&mut con).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let port = s.port;
    let spawn = |f: fn(u16, &std::sync::atomic::AtomicBool)| {
        let stop = stop.clone();
        std::thread::spawn(move || f(port, &stop))
    };
    let seq = spawn(|port, stop| {
        let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
        let mut i = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let _: () = con.set(format!("seq:{}", i % 500), i).unwrap();
            i += 1;
        }
    });
    let bank = spawn(|port, stop| {
        let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
        let mut rng = common::xorshift(7);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let (a, b) = (rng() % 50, rng() % 50);
            let _: () = redis::pipe().atomic().decr(format!("acct:{a}"), 3).incr(format!("acct:{b}"), 3).query(&mut con).unwrap();
        }
    });
    let filler = spawn(|port, stop| {
        let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
        let mut i = 0u64;
        let value = "f".repeat(1000);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let _: () = redis::cmd("SET").arg(format!("fill:{i}")).arg(&value).arg("EX").arg(3600).query(&mut con).unwrap();
            i += 1;
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["BGSAVE"]), "+Background saving started\r\n");
    let deadline = Instant::now() + Duration::from_secs(60);
    while common::info_field(&mut raw, "persistence", "rdb_bgsave_in_progress").as_deref() != Some("0") || !dir.join("dump.rdb").exists() {
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in [seq, bank, filler] {
        t.join().unwrap();
    }
    let evicted: u64 = common::info_field(&mut raw, "stats", "evicted_keys").unwrap().parse().unwrap();
    assert!(evicted > 0, "the filler should have been evicted during the test");
    let last: u64 = con.get("seq:0").unwrap();
    let preserved: u64 = common::info_field(&mut raw, "persistence", "rdb_last_preserved_keys").unwrap().parse().unwrap();
    assert!(preserved > 0, "no writer met the snapshot: the test proves nothing");
    drop(s);
    check_rdb(&dir.join("dump.rdb"));
    // the snapshot, loaded into a fresh node (no memory limit)
    let s = TestServer::start_in(&dir, &[]);
    let mut con = loaded_conn(&s);
    let values: Vec<Option<u64>> = (0..500).map(|j| con.get(format!("seq:{j}")).unwrap()).collect();
    let cut = values.iter().flatten().max().map_or(0, |m| m + 1);
    assert!(cut > 500 && cut <= last + 500, "cut {cut}, writer reached about {last}");
    for (j, v) in values.iter().enumerate() {
        // the last write of key j before the cut
        let expected = ((j as u64) < cut).then(|| (cut - 1 - j as u64) / 500 * 500 + j as u64);
        assert_eq!(*v, expected, "seq:{j} in a snapshot cut at {cut}");
    }
    assert!(redis::cmd("DBSIZE").query::<i64>(&mut con).unwrap() > 200_000);
    for i in [0, 77_777, 199_999] {
        assert_eq!(con.get::<_, u64>(format!("bulk:{i}")).unwrap(), i);
    }
    let total: i64 = (0..accounts).map(|a| con.get::<_, i64>(format!("acct:{a}")).unwrap()).sum();
    assert_eq!(total, 100 * accounts as i64, "a transaction was half in the snapshot");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes `bytes` as dump.rdb in a fresh dir and starts shardis on it:
/// the process must exit with an error naming the problem.
fn refuses_to_start(bytes: &[u8], why: &str) {
    let dir = fresh_dir();
    std::fs::write(dir.join("dump.rdb"), bytes).unwrap();
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_shardis")).current_dir(&dir).args(["server", "--port", "0"]).env("RUST_LOG", "info").output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started on a bad file ({why})");
    assert!(log.contains(why), "the log should say {why:?}:\n{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corrupt_truncated_and_foreign_files_are_clear_startup_errors() {
    if against_redis() {
        return;
    }
    let dir = fresh_dir();
    let s = TestServer::start_in(&dir, &[]);
    let mut con = s.conn();
    for i in 0..100 {
        let _: () = con.set(format!("k{i}"), format!("value number {i}")).unwrap();
    }
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    drop(s);
    let good = std::fs::read(dir.join("dump.rdb")).unwrap();
    // a flipped bit inside a value: only the checksum can tell
    let mut flipped = good.clone();
    let at = good.windows(15).position(|w| w == b"value number 50").unwrap();
    flipped[at + 3] ^= 0x20;
    refuses_to_start(&flipped, "Wrong RDB checksum");
    // a broken structure
    let mut broken = good.clone();
    broken[at - 1] = 0xbf;
    refuses_to_start(&broken, "truncated or corrupt");
    refuses_to_start(&good[..good.len() - 20], "truncated");
    refuses_to_start(b"REDIS0099\xff", "Can't handle RDB format version 99");
    refuses_to_start(b"NOTREDIS!", "Wrong signature");
    // a module value: named, not skipped
    let mut module = b"REDIS0010\xfe\x00\x07\x03key".to_vec();
    module.extend_from_slice(&[0; 16]);
    refuses_to_start(&module, "module value");
    refuses_to_start(b"REDIS0010\xf5\x03lib\xff", "Redis functions");
    // an empty but valid file is an empty dataset
    let s = {
        std::fs::write(dir.join("dump.rdb"), b"REDIS0010\xff\x00\x00\x00\x00\x00\x00\x00\x00").unwrap();
        TestServer::start_in(&dir, &[])
    };
    let mut con = loaded_conn(&s);
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut con).unwrap(), 0);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unwritable_dir_fails_the_save_and_refuses_writes_until_it_works() {
    if against_redis() {
        return;
    }
    let dir = fresh_dir();
    let s = TestServer::start_in(&dir, &["--dbfilename", "sub/dump.rdb"]);
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["SET", "k", "v"]), "+OK\r\n");
    // the directory of the file does not exist: the save fails, loudly
    assert_eq!(raw.cmd(&["SAVE"]), "-ERR\r\n");
    assert_eq!(raw.cmd(&["BGSAVE"]), "+Background saving started\r\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    while common::info_field(&mut raw, "persistence", "rdb_last_bgsave_status").as_deref() != Some("err") {
        assert!(Instant::now() < deadline, "the failed BGSAVE was not reported");
        std::thread::sleep(Duration::from_millis(10));
    }
    // writes are refused as Redis refuses them; reads go on
    assert!(raw.cmd(&["SET", "k", "w"]).starts_with("-MISCONF Redis is configured to save RDB snapshots"));
    assert_eq!(raw.cmd(&["GET", "k"]), "$1\r\nv\r\n");
    // the disk comes back: the next save succeeds and writes are accepted
    std::fs::create_dir(dir.join("sub")).unwrap();
    assert_eq!(raw.cmd(&["BGSAVE"]), "+Background saving started\r\n");
    while common::info_field(&mut raw, "persistence", "rdb_last_bgsave_status").as_deref() != Some("ok") {
        assert!(Instant::now() < deadline, "the BGSAVE after recovery did not succeed");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(raw.cmd(&["SET", "k", "w"]), "+OK\r\n");
    assert!(dir.join("sub/dump.rdb").exists());
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
