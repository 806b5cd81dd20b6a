//! RDB persistence with real processes and real files: SAVE, BGSAVE,
//! SHUTDOWN and loading at startup, shardis -> shardis, shardis ->
//! redis-server 7.0 and redis-server 7.0 -> shardis (every type and
//! encoding, TTLs, 16 databases), Redis's own `redis-check-rdb` on our
//! files, a snapshot taken while writers and evictions run, and broken
//! files.

mod common;

use common::dataset::{assert_loads, fingerprint, loaded_conn, populate};
use common::{TestServer, against_redis, fresh_dir};
use redis::Commands;
use std::path::Path;
use std::time::Duration;

fn check_rdb(path: &Path) {
    let out = std::process::Command::new("redis-check-rdb").arg(path).output().expect("redis-check-rdb (redis-tools)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("RDB looks OK"), "redis-check-rdb refused {}: {text}", path.display());
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
    let before_save: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut con).unwrap();
    assert!(info.contains("rdb_changes_since_last_save:0\r"), "{info}");
    assert!(info.contains("rdb_saves:1\r"), "{info}");
    // LASTSAVE moved to this save, and INFO says the same
    let lastsave: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    assert!(lastsave >= before_save, "LASTSAVE {lastsave} went back from {before_save}");
    assert!(info.contains(&format!("rdb_last_save_time:{lastsave}\r")), "{info}");
    drop(s); // SIGKILL: only the file remains
    check_rdb(&dir.join("dump.rdb"));

    // shardis -> shardis
    let s = TestServer::start_in(&dir, &[]);
    let mut con = assert_loads(&s, &before, "reloaded dataset differs");
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut con).unwrap();
    assert!(info.contains(&format!("rdb_last_load_keys_loaded:{}\r", before.len())), "{info}");
    drop(s);

    // shardis -> redis-server 7.0: the same dataset, encodings included
    let r = TestServer::start_redis_in(&dir, &["--dbfilename", "dump.rdb"]);
    assert_loads(&r, &before, "redis-server loaded another dataset");
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
    let mut con = assert_loads(&s, &expected, "shardis loaded another dataset");
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
    common::wait_until("BGSAVE did not finish", Duration::from_secs(20), Duration::from_millis(10), || {
        common::info_field(&mut raw, "persistence", "rdb_bgsave_in_progress").as_deref() == Some("0") && dir.join("data.rdb").exists()
    });
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
    // one change is below the save point: counted, nothing saved for it
    assert_eq!(common::info_field(&mut raw, "persistence", "rdb_changes_since_last_save").as_deref(), Some("1"));
    assert_eq!(common::info_field(&mut raw, "persistence", "rdb_saves").as_deref(), Some("0"));
    assert_eq!(raw.cmd(&["MSET", "b", "2", "c", "3"]), "+OK\r\n");
    common::wait_until("the save point did not save", Duration::from_secs(20), Duration::from_millis(50), || dir.join("dump.rdb").exists());
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
        let value = "f".repeat(10_000);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let _: () = redis::cmd("SET").arg(format!("fill:{i}")).arg(&value).arg("EX").arg(3600).query(&mut con).unwrap();
            i += 1;
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut raw = s.raw();
    // the writers are well under way (every seq key written once)
    common::wait_until("the writers and evictions did not get going", Duration::from_secs(60), Duration::from_millis(20), || {
        raw.cmd(&["EXISTS", "seq:499"]) == ":1\r\n" && common::info_field(&mut raw, "stats", "evicted_keys").as_deref() != Some("0")
    });
    assert_eq!(raw.cmd(&["BGSAVE"]), "+Background saving started\r\n");
    common::wait_until("BGSAVE did not finish", Duration::from_secs(60), Duration::from_millis(10), || {
        common::info_field(&mut raw, "persistence", "rdb_bgsave_in_progress").as_deref() == Some("0") && dir.join("dump.rdb").exists()
    });
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
    common::wait_until("the failed BGSAVE was not reported", Duration::from_secs(20), Duration::from_millis(10), || {
        common::info_field(&mut raw, "persistence", "rdb_last_bgsave_status").as_deref() == Some("err")
    });
    // writes are refused as Redis refuses them; reads go on
    assert!(raw.cmd(&["SET", "k", "w"]).starts_with("-MISCONF Redis is configured to save RDB snapshots"));
    assert_eq!(raw.cmd(&["GET", "k"]), "$1\r\nv\r\n");
    // the disk comes back: the next save succeeds and writes are accepted
    std::fs::create_dir(dir.join("sub")).unwrap();
    assert_eq!(raw.cmd(&["BGSAVE"]), "+Background saving started\r\n");
    common::wait_until("the BGSAVE after recovery did not succeed", Duration::from_secs(20), Duration::from_millis(10), || {
        common::info_field(&mut raw, "persistence", "rdb_last_bgsave_status").as_deref() == Some("ok")
    });
    assert_eq!(raw.cmd(&["SET", "k", "w"]), "+OK\r\n");
    assert!(dir.join("sub/dump.rdb").exists());
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- AOF -------------------------------------------------------------------

fn check_aof(dir: &Path) {
    let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
    let out = std::process::Command::new("redis-check-aof").arg(&manifest).output().expect("redis-check-aof (redis-tools)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("All AOF files and manifest are valid"), "redis-check-aof refused {}: {text}", manifest.display());
}

fn manifest(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap()
}

#[test]
fn aof_round_trips_shardis_to_shardis_to_redis_and_back() {
    if against_redis() {
        return;
    }
    let dir = fresh_dir();
    let s = TestServer::start_in(&dir, &["--appendonly", "yes", "--save", ""]);
    let mut con = loaded_conn(&s);
    populate(&mut con);
    // time-relative commands reach the file as absolute ones, scripts and
    // transactions as their effects
    let _: () = redis::cmd("SET").arg("rel").arg("v").arg("EX").arg(5000).query(&mut con).unwrap();
    let _: i64 = redis::cmd("EVAL").arg("redis.call('incr', KEYS[1]); return redis.call('incr', KEYS[1])").arg(1).arg("counter").query(&mut con).unwrap();
    let _: () = redis::pipe().atomic().set("tx1", "a").set("tx2", "b").query(&mut con).unwrap();
    let _: () = con.del("db0:neg").unwrap();
    let _: () = redis::cmd("SWAPDB").arg(4).arg(5).query(&mut con).unwrap();
    let before = fingerprint(&mut con);
    drop(s); // SIGKILL: only the files remain
    check_aof(&dir);
    assert_eq!(manifest(&dir), "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n");

    let s = TestServer::start_in(&dir, &["--appendonly", "yes", "--save", ""]);
    assert_loads(&s, &before, "AOF reload differs");
    drop(s);

    // redis-server 7.0 loads our AOF directory, appends to it...
    let r = TestServer::start_redis_in(&dir, &["--appendonly", "yes"]);
    let mut con = assert_loads(&r, &before, "redis-server loaded another dataset");
    let _: () = con.set("written by redis", "yes").unwrap();
    let _: () = redis::cmd("HSET").arg("db0:hash").arg("from-redis").arg("1").query(&mut con).unwrap();
    let expected = fingerprint(&mut con);
    drop(r);
    // ...and shardis loads what it appended
    let s = TestServer::start_in(&dir, &["--appendonly", "yes", "--save", ""]);
    assert_loads(&s, &expected, "shardis did not load redis-server's appends");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_redis_aof_loads_into_shardis() {
    if against_redis() {
        return;
    }
    let dir = fresh_dir();
    let r = TestServer::start_redis_in(&dir, &["--appendonly", "yes"]);
    let mut con = r.conn();
    populate(&mut con);
    let _: () = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    let mut raw = r.raw();
    common::wait_until("redis-server did not finish its rewrite", Duration::from_secs(20), Duration::from_millis(10), || {
        common::info_field(&mut raw, "persistence", "aof_rewrites").as_deref() == Some("1")
            && common::info_field(&mut raw, "persistence", "aof_rewrite_in_progress").as_deref() == Some("0")
    });
    let _: () = con.set("after the rewrite", "1").unwrap();
    let expected = fingerprint(&mut con);
    drop(r);
    let s = TestServer::start_in(&dir, &["--appendonly", "yes", "--save", ""]);
    assert_loads(&s, &expected, "shardis loaded another dataset");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bgrewriteaof_folds_the_increments_into_a_new_base() {
    if against_redis() {
        return;
    }
    let dir = fresh_dir();
    let s = TestServer::start_in(&dir, &["--appendonly", "yes", "--save", ""]);
    let mut con = loaded_conn(&s);
    for i in 0..2000 {
        let _: () = con.set(format!("k{}", i % 100), i).unwrap();
    }
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["BGREWRITEAOF"]), "+Background append only file rewriting started\r\n");
    common::wait_until("the rewrite did not finish", Duration::from_secs(20), Duration::from_millis(10), || {
        common::info_field(&mut raw, "persistence", "aof_rewrite_in_progress").as_deref() == Some("0")
            && common::info_field(&mut raw, "persistence", "aof_rewrites").as_deref() == Some("1")
    });
    let _: () = con.set("after", "rewrite").unwrap();
    assert_eq!(manifest(&dir), "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n");
    let files: Vec<String> = std::fs::read_dir(dir.join("appendonlydir")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!files.iter().any(|f| f.contains(".1.")), "old files left: {files:?}");
    let incr = std::fs::metadata(dir.join("appendonlydir/appendonly.aof.2.incr.aof")).unwrap().len();
    assert!(incr < 200, "the new increment holds only what came after: {incr} bytes");
    let before = fingerprint(&mut con);
    drop(s);
    check_aof(&dir);
    let s = TestServer::start_in(&dir, &["--appendonly", "yes", "--save", ""]);
    let mut con = loaded_conn(&s);
    assert!(before == fingerprint(&mut con));
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_truncated_aof_tail_is_cut_off_or_refused_as_configured() {
    if against_redis() {
        return;
    }
    let dir = fresh_dir();
    let s = TestServer::start_in(&dir, &["--appendonly", "yes", "--save", ""]);
    let mut con = loaded_conn(&s);
    let _: () = con.set("a", "1").unwrap();
    let _: () = con.set("b", "2").unwrap();
    drop(s);
    let incr = dir.join("appendonlydir/appendonly.aof.1.incr.aof");
    let good = std::fs::read(&incr).unwrap();
    // a crash in the middle of writing a command, and a transaction cut short
    for tail in [&b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1"[..], b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n"] {
        std::fs::write(&incr, [&good[..], tail].concat()).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_shardis"))
            .current_dir(&dir)
            .args(["server", "--port", "0", "--appendonly", "yes", "--aof-load-truncated", "no"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "started on a truncated AOF with aof-load-truncated no");
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(log.contains("aof-load-truncated is no"), "{log}");
        let s = TestServer::start_in(&dir, &["--appendonly", "yes", "--save", ""]);
        let mut con = loaded_conn(&s);
        assert_eq!(con.get::<_, Option<String>>("b").unwrap().as_deref(), Some("2"));
        assert_eq!(con.get::<_, Option<String>>("c").unwrap(), None);
        // the file was cut back, so what follows is whole
        let _: () = con.set("d", "4").unwrap();
        drop(s);
        check_aof(&dir);
        let s = TestServer::start_in(&dir, &["--appendonly", "yes", "--save", ""]);
        let mut con = loaded_conn(&s);
        assert_eq!(con.get::<_, Option<String>>("d").unwrap().as_deref(), Some("4"));
        let _: () = con.del("d").unwrap();
        drop(s);
        std::fs::write(&incr, &good).unwrap();
    }
    // garbage in the middle is not a truncation
    std::fs::write(&incr, [&good[..], b"hello\r\n", &good[..]].concat()).unwrap();
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_shardis")).current_dir(&dir).args(["server", "--port", "0", "--appendonly", "yes"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Bad file format reading the append only file"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// 50 clients write under `appendfsync always` (and then `everysec`);
/// the node is killed with SIGKILL at a random moment, 20 times. Every
/// write that got its reply must be there after the restart.
#[test]
fn kill_9_under_load_loses_no_acknowledged_write() {
    if against_redis() {
        return;
    }
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    let mut rng = common::xorshift(2026);
    for (policy, rounds) in [("always", 14), ("everysec", 6)] {
        let dir = fresh_dir();
        let mut lost_total = 0;
        let mut acked_total = 0;
        for round in 0..rounds {
            let s = TestServer::start_in(&dir, &["--appendonly", "yes", "--appendfsync", policy, "--save", ""]);
            drop(loaded_conn(&s));
            let stop = Arc::new(AtomicBool::new(false));
            // per client: the last value acknowledged for its key
            let acked: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(vec![0; 50]));
            let writes = Arc::new(AtomicU64::new(0));
            let threads: Vec<_> = (0..50)
                .map(|c| {
                    let (stop, acked, writes, port) = (stop.clone(), acked.clone(), writes.clone(), s.port);
                    std::thread::spawn(move || {
                        let Ok(mut con) = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection() else { return };
                        let start = acked.lock().unwrap()[c];
                        let mut i = start;
                        while !stop.load(Ordering::Relaxed) {
                            i += 1;
                            if con.set::<_, _, ()>(format!("r{round}:c{c}"), i).is_err() {
                                return; // killed
                            }
                            acked.lock().unwrap()[c] = i;
                            writes.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(100 + rng() % 400));
            let pid = s.pid();
            unsafe_kill(pid, "KILL");
            stop.store(true, Ordering::Relaxed);
            for t in threads {
                t.join().unwrap();
            }
            drop(s);
            let s = TestServer::start_in(&dir, &["--appendonly", "yes", "--appendfsync", policy, "--save", ""]);
            let mut con = loaded_conn(&s);
            let acked = acked.lock().unwrap().clone();
            for (c, &value) in acked.iter().enumerate() {
                let got: Option<u64> = con.get(format!("r{round}:c{c}")).unwrap();
                let got = got.unwrap_or(0);
                assert!(got >= value || policy != "always", "{policy}: client {c} was told {value} was written, the restart has {got}");
                lost_total += value.saturating_sub(got);
            }
            acked_total += writes.load(Ordering::Relaxed);
            drop(s);
        }
        eprintln!("appendfsync {policy}: {rounds} kills under 50 writers, {acked_total} acknowledged writes, {lost_total} lost");
        assert!(acked_total > 1000, "the load was too light to prove anything: {acked_total}");
        if policy == "always" {
            assert_eq!(lost_total, 0);
        }
        check_aof(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn appendonly_can_be_switched_on_and_off_at_runtime() {
    if against_redis() {
        return;
    }
    let dir = fresh_dir();
    let s = TestServer::start_in(&dir, &["--save", ""]);
    let mut raw = s.raw();
    for i in 0..100 {
        raw.cmd(&["SET", &format!("k{i}"), &i.to_string()]);
    }
    assert_eq!(raw.cmd(&["CONFIG", "SET", "appendonly", "yes"]), "+OK\r\n");
    common::wait_until("the AOF did not start", Duration::from_secs(20), Duration::from_millis(10), || {
        common::info_field(&mut raw, "persistence", "aof_enabled").as_deref() == Some("1")
            && common::info_field(&mut raw, "persistence", "aof_rewrite_in_progress").as_deref() == Some("0")
    });
    assert_eq!(raw.cmd(&["SET", "after", "on"]), "+OK\r\n");
    drop(s);
    check_aof(&dir);
    let s = TestServer::start_in(&dir, &["--appendonly", "yes", "--save", ""]);
    let mut con = loaded_conn(&s);
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut con).unwrap(), 101);
    assert_eq!(con.get::<_, String>("after").unwrap(), "on");
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["CONFIG", "SET", "appendonly", "no"]), "+OK\r\n");
    assert_eq!(common::info_field(&mut raw, "persistence", "aof_enabled").as_deref(), Some("0"));
    assert_eq!(raw.cmd(&["SET", "after", "off"]), "+OK\r\n");
    drop(s);
    let s = TestServer::start_in(&dir, &["--appendonly", "yes", "--save", ""]);
    let mut con = loaded_conn(&s);
    assert_eq!(con.get::<_, String>("after").unwrap(), "on", "a write after appendonly no is not in the file");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The AOF on a 2 MB tmpfs: once the disk is full, writes get Redis's
/// `-MISCONF Errors writing to the AOF file: No space left on device`,
/// reads go on; when space comes back, writes are accepted again, and
/// nothing acknowledged is lost (the write that met the full disk was kept
/// and written then). Under `always` that write's reply would wait for the
/// disk instead. Needs root for the mount (skipped
/// otherwise, with a note).
#[test]
fn a_full_disk_refuses_writes_keeps_reads_and_recovers() {
    if against_redis() {
        return;
    }
    let mnt = fresh_dir();
    let mounted = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"]).arg(&mnt).status().is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _unmount = Unmount(mnt.clone());
    // ballast to free later
    std::fs::write(mnt.join("ballast"), vec![7u8; 1 << 20]).unwrap();
    let s = TestServer::start_in(&mnt, &["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]);
    drop(loaded_conn(&s));
    let mut raw = s.raw();
    let value = "v".repeat(10_000);
    let mut acked = 0;
    let refusal = loop {
        let r = raw.cmd(&["SET", &format!("k{acked}"), &value]);
        if r != "+OK\r\n" {
            break r;
        }
        acked += 1;
        assert!(acked < 1000, "the disk never filled");
    };
    assert_eq!(refusal, "-MISCONF Errors writing to the AOF file: No space left on device\r\n");
    assert_eq!(common::info_field(&mut raw, "persistence", "aof_last_write_status").as_deref(), Some("err"));
    assert_eq!(raw.cmd(&["EXISTS", "k0"]), ":1\r\n", "reads go on");
    assert!(raw.cmd(&["SET", "x", "y"]).starts_with("-MISCONF"));
    std::fs::remove_file(mnt.join("ballast")).unwrap();
    common::wait_until("writes were not accepted again after space came back", Duration::from_secs(20), Duration::from_millis(50), || {
        raw.cmd(&["SET", "x", "y"]) == "+OK\r\n"
    });
    assert_eq!(common::info_field(&mut raw, "persistence", "aof_last_write_status").as_deref(), Some("ok"));
    drop(s);
    let s = TestServer::start_in(&mnt, &["--appendonly", "yes", "--save", ""]);
    let mut con = loaded_conn(&s);
    for i in 0..acked {
        assert!(con.exists::<_, bool>(format!("k{i}")).unwrap(), "acknowledged k{i} lost");
    }
    assert_eq!(con.get::<_, String>("x").unwrap(), "y");
    drop(s);
}

/// Fencing tokens stay increasing across a restart with the AOF, even when
/// they ran ahead of the clock (AFTER a token from another node), and
/// across a rewrite (the new base is followed by the high-water mark).
#[test]
fn fencing_tokens_survive_a_restart_and_a_rewrite() {
    if against_redis() {
        return;
    }
    let dir = fresh_dir();
    let args = ["--appendonly", "yes", "--appendfsync", "always", "--save", ""];
    let s = TestServer::start_in(&dir, &args);
    drop(loaded_conn(&s));
    let mut raw = s.raw();
    // a token far ahead of the clock (µs): 100 years on
    let ahead: u64 = 5_000_000_000_000_000;
    let first = raw.cmd(&["LOCK.ACQUIRE", "res", "me", "100000", "AFTER", &ahead.to_string()]);
    let first: u64 = first.trim_start_matches(':').trim().parse().unwrap_or_else(|_| panic!("{first}"));
    assert!(first > ahead);
    assert_eq!(raw.cmd(&["LOCK.RELEASE", "res", "me"]), ":1\r\n");
    drop(s);
    let s = TestServer::start_in(&dir, &args);
    drop(loaded_conn(&s));
    let mut raw = s.raw();
    let second: u64 = raw.cmd(&["LOCK.ACQUIRE", "res", "you", "100000"]).trim_start_matches(':').trim().parse().unwrap();
    assert!(second > first, "token {second} after a restart is not above {first}");
    assert_eq!(raw.cmd(&["BGREWRITEAOF"]), "+Background append only file rewriting started\r\n");
    common::wait_until("the rewrite did not finish", Duration::from_secs(20), Duration::from_millis(10), || {
        common::info_field(&mut raw, "persistence", "aof_rewrites").as_deref() == Some("1")
    });
    drop(s);
    let s = TestServer::start_in(&dir, &args);
    drop(loaded_conn(&s));
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["LOCK.RELEASE", "res", "you"]), ":1\r\n");
    let third: u64 = raw.cmd(&["LOCK.ACQUIRE", "res", "them", "100000"]).trim_start_matches(':').trim().parse().unwrap();
    assert!(third > second, "token {third} after a rewrite and a restart is not above {second}");
    // TXN.FENCE is not for clients without the cluster secret
    let mut plain = s.raw();
    assert!(plain.cmd(&["TXN.FENCE", "9000000000000000000"]).starts_with("-NOPERM"));
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Under `appendfsync always` nobody learns of a write before it is on the
/// disk: not the writer (its reply waits for the fsync), and not another
/// client reading it or a secondary asking the primary for a decision
/// (`TXN.STATUS`). The fsync is held back by a fault point while the
/// replies are looked for; it fails if a reader's reply overtakes the disk.
#[test]
fn nobody_sees_a_write_before_the_disk_has_it() {
    if against_redis() {
        return;
    }
    let dir = fresh_dir();
    let hold = dir.join("hold-fsync");
    let fault = format!("hold-fsync:{}", hold.display());
    let s = TestServer::start_in_env(&dir, &["--appendonly", "yes", "--appendfsync", "always", "--save", ""], &[("SHARDIS_FAULT", &fault)]);
    drop(loaded_conn(&s));
    let mut writer = s.raw();
    let mut reader = s.raw();
    assert_eq!(writer.cmd(&["SET", "k", "before"]), "+OK\r\n");
    std::fs::write(&hold, b"").unwrap();
    writer.send(&["SET", "k", "after"]);
    assert_eq!(writer.try_read_reply(Duration::from_millis(300)), None, "the writer's reply did not wait for the fsync");
    reader.send(&["GET", "k"]);
    assert_eq!(reader.try_read_reply(Duration::from_millis(300)), None, "a reader saw a write the disk does not have yet");
    let mut other = s.raw();
    other.send(&["PING"]);
    std::fs::remove_file(&hold).unwrap();
    assert_eq!(reader.read_reply(), "$5\r\nafter\r\n");
    assert_eq!(writer.read_reply(), "+OK\r\n");
    assert_eq!(other.read_reply(), "+PONG\r\n");
    // nothing written since: replies do not wait for the disk
    std::fs::write(&hold, b"").unwrap();
    assert_eq!(reader.cmd(&["GET", "k"]), "$5\r\nafter\r\n");

    // the primary's commit decision, asked for by a secondary
    std::fs::remove_file(&hold).unwrap();
    let mut coordinator = s.txn_raw();
    let mut secondary = s.txn_raw();
    let addr = s.addr();
    assert_eq!(coordinator.cmd(&["TXN.PREPARE", "t1", "PRIMARY", &addr, "10000", "1", "3", "SET", "k", "txn"]), "+PREPARED\r\n");
    std::fs::write(&hold, b"").unwrap();
    coordinator.send(&["TXN.COMMIT", "t1"]);
    assert_eq!(coordinator.try_read_reply(Duration::from_millis(300)), None, "the commit was acknowledged before the disk had it");
    secondary.send(&["TXN.STATUS", "t1", "FINAL"]);
    assert_eq!(secondary.try_read_reply(Duration::from_millis(300)), None, "a secondary learnt a decision the disk does not have yet");
    std::fs::remove_file(&hold).unwrap();
    assert_eq!(secondary.read_reply(), "+committed\r\n");
    assert_eq!(coordinator.read_reply(), "*1\r\n+OK\r\n");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One command in RESP, as an AOF holds it.
fn aof_command(out: &mut Vec<u8>, args: &[&str]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
}

/// An AOF directory of one increment: a prepared record of `txid` on `k`
/// (as a secondary of `primary`, with `timeout_ms`), filler, the commit
/// (its write and decision in one MULTI/EXEC), two more writes of `k`,
/// more filler, `done`: `k` ends at 7.
fn aof_with_a_prepared_transfer(dir: &Path, txid: &str, primary: &str, timeout_ms: &str, fill: usize) {
    let mut aof = Vec::new();
    aof_command(&mut aof, &["SELECT", "0"]);
    aof_command(&mut aof, &["TXN.RECORD", txid, "SECONDARY", primary, timeout_ms, "0", "1", "k", "1", "3", "INCRBY", "k", "5"]);
    for i in 0..fill {
        aof_command(&mut aof, &["SET", &format!("before:{i}"), "v"]);
    }
    // the commit, and right after it more writes of the key it releases
    for c in [
        &["MULTI"][..],
        &["INCRBY", "k", "5"],
        &["TXN.DECIDED", txid, "COMMITTED"],
        &["EXEC"],
        &["INCRBY", "k", "1"],
        &["MULTI"],
        &["INCRBY", "k", "1"],
        &["SET", "x", "y"],
        &["EXEC"],
    ] {
        aof_command(&mut aof, c);
    }
    for i in 0..fill {
        aof_command(&mut aof, &["SET", &format!("after:{i}"), "v"]);
    }
    aof_command(&mut aof, &["SET", "done", "1"]);
    let d = dir.join("appendonlydir");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("appendonly.aof.1.incr.aof"), aof).unwrap();
    std::fs::write(d.join("appendonly.aof.manifest"), "file appendonly.aof.1.incr.aof seq 1 type i\n").unwrap();
}

/// A replayed file is what happened: a client's WATCH during loading that
/// waits for a key a replayed prepared record holds must not make the
/// replay's commit wait (it once left the replay inside that MULTI,
/// queueing, and so cutting off, the rest of the file).
#[test]
fn a_watch_during_loading_does_not_hold_up_the_replay() {
    if against_redis() {
        return;
    }
    let dir = fresh_dir();
    let fill = 150_000;
    aof_with_a_prepared_transfer(&dir, "t:1", "127.0.0.1:1", "600000", fill);
    let s = TestServer::start_in(&dir, &["--appendonly", "yes", "--save", ""]);
    // WATCH is allowed while loading (as in Redis); once the record is in,
    // it waits for the key until the commit releases it
    let mut watcher = s.raw();
    let mut waited = false;
    for _ in 0..2000 {
        watcher.send(&["WATCH", "k"]);
        match watcher.try_read_reply(Duration::from_millis(200)) {
            None => {
                waited = true;
                break;
            }
            Some(r) => {
                assert_eq!(r, "+OK\r\n");
                assert_eq!(watcher.cmd(&["UNWATCH"]), "+OK\r\n");
                if watcher.cmd(&["EXISTS", "done"]) == ":1\r\n" {
                    break;
                }
            }
        }
    }
    assert!(waited, "the WATCH never met the replayed prepared record (loading was too quick to test)");
    assert_eq!(watcher.read_reply(), "+OK\r\n");
    let mut con = loaded_conn(&s);
    let (k, done, size): (i64, Option<String>, i64) = redis::pipe().get("k").get("done").cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!((k, done.as_deref(), size), (7, Some("1"), 2 * fill as i64 + 3), "the replay lost what followed the commit");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A prepared record re-created by the replay is not settled while the
/// file is still loading: its primary says "committed", but the file holds
/// the commit too, and applying both would credit twice.
#[test]
fn a_replayed_prepared_record_is_not_settled_twice() {
    if against_redis() {
        return;
    }
    let primary = TestServer::start(&[]);
    let mut p = primary.txn_raw();
    assert_eq!(p.cmd(&["TXN.PREPARE", "t:2", "PRIMARY", &primary.addr(), "10000", "1", "3", "SET", "pk", "1"]), "+PREPARED\r\n");
    assert_eq!(p.cmd(&["TXN.COMMIT", "t:2"]), "*1\r\n+OK\r\n");
    let dir = fresh_dir();
    let fill = 150_000;
    // timed out at once: the node would ask the primary during the replay
    aof_with_a_prepared_transfer(&dir, "t:2", &primary.addr(), "1", fill);
    let s = TestServer::start_in(&dir, &["--appendonly", "yes", "--save", ""]);
    let mut con = loaded_conn(&s);
    let (k, done): (i64, Option<String>) = redis::pipe().get("k").get("done").query(&mut con).unwrap();
    assert_eq!((k, done.as_deref()), (7, Some("1")), "the commit was applied twice (or not at all)");
    assert_eq!(s.txn_raw().cmd(&["TXN.LIST"]), "*0\r\n");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `redis-cli --rdb` (REPLCONF capa eof, REPLCONF rdb-only 1, SYNC: the
/// diskless form) fetches the dataset from shardis, as from redis-server:
/// Redis's checker accepts the file and redis-server loads the same
/// dataset; a client without `capa eof` gets the `$<length>` form.
#[test]
fn redis_cli_rdb_fetches_a_snapshot() {
    if against_redis() {
        return;
    }
    let s = TestServer::start(&["--save", ""]);
    let mut con = loaded_conn(&s);
    populate(&mut con);
    let before = fingerprint(&mut con);
    let dir = fresh_dir();
    let out = std::process::Command::new("redis-cli").args(["-p", &s.port.to_string(), "--rdb"]).arg(dir.join("dump.rdb")).output().expect("redis-cli");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && log.contains("Transfer finished with success"), "redis-cli --rdb failed: {log}");
    assert!(log.contains("until EOF marker"), "redis-cli did not get the diskless form: {log}");
    check_rdb(&dir.join("dump.rdb"));
    let r = TestServer::start_redis_in(&dir, &["--dbfilename", "dump.rdb"]);
    assert_loads(&r, &before, "redis-server loaded another dataset from redis-cli --rdb");
    drop(r);

    // without capa eof: `$<length>\r\n`, the file, and the end of the connection
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["REPLCONF", "rdb-only", "1"]), "+OK\r\n");
    raw.send(&["SYNC"]);
    let payload = raw.read_sync_payload();
    assert!(payload.starts_with(b"REDIS0010"), "not an RDB file: {:?}", &payload[..payload.len().min(16)]);
    assert!(raw.is_closed(), "the connection stays open after an rdb-only SYNC");
    std::fs::write(dir.join("len.rdb"), &payload).unwrap();
    check_rdb(&dir.join("len.rdb"));
    // the node goes on serving, and its save slot is free again
    assert_eq!(s.raw().cmd(&["BGSAVE"]), "+Background saving started\r\n");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// REPLCONF's and SYNC's errors as redis-server 7.0 gives them, and the
/// commands Redis refuses inside MULTI.
#[test]
fn replconf_sync_and_no_multi_commands_answer_as_redis() {
    if against_redis() {
        return;
    }
    let ours = TestServer::start(&["--save", ""]);
    let redis = TestServer::start_redis_server(&[]);
    let mut p = common::Pair { ours: ours.raw(), redis: redis.raw() };
    for cmd in [
        &["REPLCONF"][..],
        &["REPLCONF", "capa"],
        &["REPLCONF", "capa", "eof", "capa", "psync2", "capa", "whatever"],
        &["REPLCONF", "listening-port", "6380"],
        &["REPLCONF", "listening-port", "x"],
        &["REPLCONF", "rdb-only", "2"],
        &["REPLCONF", "rdb-only", "-1"],
        &["REPLCONF", "rdb-only", "one"],
        &["REPLCONF", "rdb-only", "0"],
        &["REPLCONF", "nonsense", "1"],
        &["REPLCONF", "ip-address", &"x".repeat(300)],
        &["PSYNC", "?"],
        &["SYNC", "extra"],
    ] {
        p.same(cmd, "REPLCONF/SYNC");
    }
    // an acknowledgement is never answered
    p.ours.send(&["REPLCONF", "ack", "100"]);
    p.ours.send(&["PING"]);
    assert_eq!(p.ours.read_reply(), "+PONG\r\n");
    // refused inside MULTI, dooming the transaction
    for cmd in [&["SAVE"][..], &["SYNC"], &["PSYNC", "?", "-1"], &["SHUTDOWN"]] {
        p.same(&["MULTI"], "MULTI");
        p.same(cmd, "inside MULTI");
        p.same(&["EXEC"], "EXEC after a refused command");
    }
}

/// A client that asks for a snapshot and never reads it holds back only
/// itself: the node serves others, buffers no more than a few chunks for
/// it, and drops it after `repl-timeout`, freeing the save slot.
#[test]
fn a_snapshot_reader_that_never_reads_is_dropped() {
    if against_redis() {
        return;
    }
    let s = TestServer::start(&["--save", "", "--repl-timeout", "2"]);
    let mut con = loaded_conn(&s);
    // incompressible values: the snapshot is as large as the data
    let mut rng = common::xorshift(7);
    for chunk in 0..40 {
        let mut pipe = redis::pipe();
        for i in 0..100 {
            let value: Vec<u8> = (0..10_000).map(|_| rng() as u8).collect();
            pipe.set(format!("k{chunk}:{i}"), value).ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    let rss_before = common::rss_kb(s.pid());
    let mut stuck = s.raw();
    assert_eq!(stuck.cmd(&["REPLCONF", "capa", "eof", "rdb-only", "1"]), "+OK\r\n");
    stuck.send(&["SYNC"]);
    // others are served meanwhile; a save must wait for the snapshot
    let mut other = s.raw();
    common::wait_until("the snapshot did not start", Duration::from_secs(20), Duration::from_millis(10), || {
        common::info_field(&mut other, "persistence", "rdb_bgsave_in_progress").as_deref() == Some("1")
    });
    assert_eq!(other.cmd(&["SET", "x", "y"]), "+OK\r\n");
    assert_eq!(other.cmd(&["BGSAVE"]), "-ERR Background save already in progress\r\n");
    let grown = common::rss_kb(s.pid()).saturating_sub(rss_before);
    assert!(grown < 20_000, "the node buffered the unread snapshot: RSS grew {grown} kB for a 40 MB dataset");
    // past repl-timeout the reader is dropped and the slot is free
    common::wait_until("the stuck reader was never dropped", Duration::from_secs(30), Duration::from_millis(50), || {
        common::info_field(&mut other, "persistence", "rdb_bgsave_in_progress").as_deref() == Some("0")
    });
    assert_eq!(other.cmd(&["BGSAVE"]), "+Background saving started\r\n");
    drop(s);
}

/// Loading does not hold a copy of the file: an AOF of 150 MB that
/// overwrites a few keys loads in a few MB more than the keys need (the
/// file is mapped and parsed through a window, its pages let go behind
/// the loader), and an RDB of 100 MB in little more than its dataset.
#[test]
fn loading_a_large_file_does_not_hold_a_copy_of_it() {
    if against_redis() {
        return;
    }
    let dir = fresh_dir();
    let d = dir.join("appendonlydir");
    std::fs::create_dir_all(&d).unwrap();
    let mut aof = Vec::with_capacity(160 << 20);
    aof_command(&mut aof, &["SELECT", "0"]);
    let value = "x".repeat(1000);
    for i in 0..150_000 {
        aof_command(&mut aof, &["SET", &format!("k{}", i % 100), &value]);
    }
    let before_last = aof.len().to_string();
    aof_command(&mut aof, &["SET", "last", &before_last]);
    let size = aof.len();
    std::fs::write(d.join("appendonly.aof.1.incr.aof"), aof).unwrap();
    std::fs::write(d.join("appendonly.aof.manifest"), "file appendonly.aof.1.incr.aof seq 1 type i\n").unwrap();
    let s = TestServer::start_in(&dir, &["--appendonly", "yes", "--save", ""]);
    let mut con = loaded_conn(&s);
    let (keys, last): (i64, String) = redis::pipe().cmd("DBSIZE").get("last").query(&mut con).unwrap();
    assert_eq!((keys, last), (101, before_last), "the AOF was not loaded to its end");
    let peak = common::peak_rss_kb(s.pid());
    assert!(peak < 100_000, "loading a {} MB AOF peaked at {} MB of RSS", size >> 20, peak >> 10);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);

    // an RDB of 10,000 incompressible 10 kB values
    let dir = fresh_dir();
    let s = TestServer::start_in(&dir, &["--save", ""]);
    let mut con = loaded_conn(&s);
    let mut rng = common::xorshift(11);
    for chunk in 0..100 {
        let mut pipe = redis::pipe();
        for i in 0..100 {
            let v: Vec<u8> = (0..10_000).map(|_| rng() as u8).collect();
            pipe.set(format!("r{chunk}:{i}"), v).ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    drop(s);
    let file = std::fs::metadata(dir.join("dump.rdb")).unwrap().len() >> 10;
    let s = TestServer::start_in(&dir, &["--save", ""]);
    let mut con = loaded_conn(&s);
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut con).unwrap(), 10_000);
    let peak = common::peak_rss_kb(s.pid());
    assert!(peak < file + file / 2, "loading a {} MB RDB peaked at {} MB of RSS", file >> 10, peak >> 10);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Under an LRU policy an RDB keeps each key's idle time, under an LFU
/// one its access counter, as Redis's do: shardis reloads them and
/// redis-server reads them from shardis's file the same.
#[test]
fn idle_times_and_lfu_counters_survive_a_save() {
    if against_redis() {
        return;
    }
    for (policy, restore_opt, value, read) in [("allkeys-lru", "IDLETIME", 500i64, "IDLETIME"), ("allkeys-lfu", "FREQ", 100, "FREQ")] {
        let dir = fresh_dir();
        let args = ["--maxmemory-policy", policy, "--lfu-decay-time", "0", "--save", ""];
        let s = TestServer::start_in(&dir, &args);
        let mut raw = s.raw();
        assert_eq!(raw.cmd(&["SET", "plain", "v"]), "+OK\r\n");
        let payload = common::bulk_bytes(&raw.cmd_raw(&["DUMP", "plain"]));
        let restored = raw.cmd_bytes(&[b"RESTORE", b"kept", b"0", &payload, restore_opt.as_bytes(), value.to_string().as_bytes()]);
        assert_eq!(restored, "+OK\r\n");
        assert_eq!(raw.cmd(&["SAVE"]), "+OK\r\n");
        drop(s);
        let read_back = |r: &mut common::Raw| -> i64 { r.cmd(&["OBJECT", read, "kept"]).trim_start_matches(':').trim().parse().unwrap() };
        let s = TestServer::start_in(&dir, &args);
        drop(loaded_conn(&s));
        let ours = read_back(&mut s.raw());
        drop(s);
        let mut redis_args = vec!["--dbfilename", "dump.rdb"];
        redis_args.extend_from_slice(&args[..4]);
        let r = TestServer::start_redis_in(&dir, &redis_args);
        drop(loaded_conn(&r));
        let theirs = read_back(&mut r.raw());
        drop(r);
        if read == "FREQ" {
            assert_eq!((ours, theirs), (value, value), "{policy}: the LFU counter was not kept");
        } else {
            // idle time goes on growing while the test runs
            assert!(
                (value..value + 60).contains(&ours) && (value..value + 60).contains(&theirs),
                "{policy}: idle {ours} (shardis) / {theirs} (redis) after {value}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// With `aof-use-rdb-preamble no` a rewrite's base is the commands that
/// rebuild each key (`appendonly.aof.2.base.aof`), as Redis writes it:
/// shardis reloads every type from it, Redis's checker accepts it and
/// redis-server loads the same dataset; and shardis loads the base of
/// that kind redis-server writes.
#[test]
fn a_base_in_command_form_round_trips_with_redis() {
    if against_redis() {
        return;
    }
    let args = ["--appendonly", "yes", "--aof-use-rdb-preamble", "no", "--save", ""];
    let dir = fresh_dir();
    let s = TestServer::start_in(&dir, &args);
    let mut con = loaded_conn(&s);
    populate(&mut con);
    // an empty stream with a group, and one whose last entry was deleted
    let _: () = redis::cmd("XGROUP").arg("CREATE").arg("empty").arg("g").arg("$").arg("MKSTREAM").query(&mut con).unwrap();
    let _: String = redis::cmd("XADD").arg("trimmed").arg("5-1").arg("a").arg("1").query(&mut con).unwrap();
    let _: i64 = redis::cmd("XDEL").arg("trimmed").arg("5-1").query(&mut con).unwrap();
    let before = fingerprint(&mut con);
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["BGREWRITEAOF"]), "+Background append only file rewriting started\r\n");
    common::wait_until("the rewrite did not finish", Duration::from_secs(20), Duration::from_millis(10), || {
        common::info_field(&mut raw, "persistence", "aof_rewrites").as_deref() == Some("1")
            && common::info_field(&mut raw, "persistence", "aof_rewrite_in_progress").as_deref() == Some("0")
    });
    drop(s);
    assert_eq!(manifest(&dir), "file appendonly.aof.2.base.aof seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n");
    let base = std::fs::read(dir.join("appendonlydir/appendonly.aof.2.base.aof")).unwrap();
    assert!(base.starts_with(b"*2\r\n$6\r\nSELECT\r\n"), "not a base of commands: {:?}", String::from_utf8_lossy(&base[..base.len().min(40)]));
    check_aof(&dir);
    let s = TestServer::start_in(&dir, &args);
    assert_loads(&s, &before, "shardis did not rebuild its dataset from a base of commands");
    drop(s);
    let r = TestServer::start_redis_in(&dir, &["--appendonly", "yes", "--aof-use-rdb-preamble", "no"]);
    let mut con = assert_loads(&r, &before, "redis-server loaded another dataset from our base of commands");
    // redis-server's own base of commands, loaded by shardis
    let _: () = con.set("from redis", "1").unwrap();
    let _: () = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    let mut rr = r.raw();
    common::wait_until("redis-server did not finish its rewrite", Duration::from_secs(20), Duration::from_millis(10), || {
        common::info_field(&mut rr, "persistence", "aof_rewrite_in_progress").as_deref() == Some("0")
            && common::info_field(&mut rr, "persistence", "aof_rewrite_scheduled").as_deref() == Some("0")
            && manifest(&dir).contains("base.aof seq 3")
    });
    let expected = fingerprint(&mut con);
    drop(r);
    let s = TestServer::start_in(&dir, &args);
    assert_loads(&s, &expected, "shardis did not load redis-server's base of commands");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
