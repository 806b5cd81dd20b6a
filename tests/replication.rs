//! Replication with real processes: a stock redis-server 7.0 replica of a
//! shardis primary (`--replicaof`), through the full synchronisation (the
//! fork-less snapshot, diskless and through a file) and the command stream
//! fed by the effect log.

mod common;

use common::dataset::{fingerprint, loaded_conn, populate};
use common::{TestServer, against_redis};
use redis::Commands;
use std::time::Duration;

/// Writes of every kind the stream must carry: plain writes, relative
/// expiries (sent as absolute), a transaction, a script, deletes, and keys
/// in other databases.
fn more_writes(con: &mut redis::Connection) {
    let _: () = con.set("after:plain", "1").unwrap();
    let _: () = redis::cmd("SET").arg("after:ttl").arg("v").arg("EX").arg(5000).query(con).unwrap();
    let _: () = redis::pipe().atomic().incr("after:counter", 5).lpush("after:list", "x").query(con).unwrap();
    let _: i64 =
        redis::cmd("EVAL").arg("redis.call('hset', KEYS[1], 'f', 'v'); return redis.call('hlen', KEYS[1])").arg(1).arg("after:hash").query(con).unwrap();
    let _: () = con.del("db0:str").unwrap();
    let _: () = con.zincr("db0:zset", "a", 2.5).unwrap();
    let _: String = redis::cmd("XADD").arg("db0:stream").arg("*").arg("new").arg("entry").query(con).unwrap();
    redis::cmd("SELECT").arg(7).exec(con).unwrap();
    let _: () = con.set("in db 7", "yes").unwrap();
    redis::cmd("SELECT").arg(0).exec(con).unwrap();
}

/// Waits until the replica (`raw`) reports its link to the primary up.
fn wait_link_up(raw: &mut common::Raw, secs: u64) {
    common::wait_until("the replica never synchronised", Duration::from_secs(secs), Duration::from_millis(20), || {
        common::info_field(raw, "replication", "master_link_status").as_deref() == Some("up")
    });
}

/// Waits until the replica shows exactly the primary's dataset.
fn converges(primary: &mut redis::Connection, replica: &mut redis::Connection, what: &str) {
    let want = fingerprint(primary);
    let mut got = Default::default();
    common::wait_until(what, Duration::from_secs(30), Duration::from_millis(50), || {
        got = fingerprint(replica);
        got == want
    });
}

#[test]
fn a_redis_server_replica_follows_a_shardis_primary() {
    if against_redis() {
        return;
    }
    for diskless in ["yes", "no"] {
        let primary = TestServer::start(&["--save", ""]);
        let mut con = loaded_conn(&primary);
        populate(&mut con);
        // a redis-server 7.0 replica, diskless load or through its file
        let replica = TestServer::start_redis_server(&[
            "--replicaof",
            "127.0.0.1",
            &primary.port.to_string(),
            "--repl-diskless-load",
            if diskless == "yes" { "swapdb" } else { "disabled" },
        ]);
        let mut raw = replica.raw();
        wait_link_up(&mut raw, 30);
        let mut rcon = replica.conn();
        converges(&mut con, &mut rcon, "the replica's dataset differs after the full synchronisation");
        more_writes(&mut con);
        converges(&mut con, &mut rcon, "the replica did not follow the writes after the synchronisation");
        // the replica is read-only, as Redis's are
        assert!(raw.cmd(&["SET", "x", "y"]).starts_with("-READONLY"));
        // the primary lists it, with the offset it acknowledges each second
        let mut p = primary.raw();
        assert_eq!(common::info_field(&mut p, "replication", "connected_slaves").as_deref(), Some("1"));
        let port = replica.port.to_string();
        common::wait_until("the replica's acknowledgements never showed", Duration::from_secs(10), Duration::from_millis(50), || {
            common::info_field(&mut p, "replication", "slave0")
                .is_some_and(|l| l.starts_with(&format!("ip=127.0.0.1,port={port},state=online,offset=")) && !l.contains("offset=0,"))
        });
        let role = p.cmd(&["ROLE"]);
        assert!(role.starts_with("*3\r\n$6\r\nmaster\r\n:"), "{role}");
        assert!(role.contains(&format!("*1\r\n*3\r\n$9\r\n127.0.0.1\r\n${}\r\n{port}\r\n", port.len())), "{role}");
        drop(replica);
        common::wait_until("the gone replica stayed listed", Duration::from_secs(10), Duration::from_millis(20), || {
            common::info_field(&mut p, "replication", "connected_slaves").as_deref() == Some("0")
        });
    }
}

/// A replica without `capa eof` (here: raw SYNC) gets the `$<length>` form
/// and then the stream; and PSYNC answers `+FULLRESYNC <replid> <offset>`.
#[test]
fn sync_and_psync_stream_after_the_snapshot() {
    if against_redis() {
        return;
    }
    let primary = TestServer::start(&["--save", ""]);
    let mut con = loaded_conn(&primary);
    let _: () = con.set("before", "1").unwrap();
    let mut sync = primary.raw();
    sync.send(&["SYNC"]);
    let payload = sync.read_sync_payload();
    assert!(payload.starts_with(b"REDIS0010"));
    let _: () = con.set("after", "2").unwrap();
    // the stream begins with the database's SELECT
    assert_eq!(sync.read_reply(), "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n");
    assert_eq!(sync.read_reply(), "*3\r\n$3\r\nSET\r\n$5\r\nafter\r\n$1\r\n2\r\n");

    let mut psync = primary.raw();
    psync.send(&["PSYNC", "?", "-1"]);
    let line = psync.read_reply();
    let replid = common::info_field(&mut primary.raw(), "replication", "master_replid").unwrap();
    assert!(line.starts_with(&format!("+FULLRESYNC {replid} ")), "{line}");
    let payload = psync.read_sync_payload();
    assert!(payload.starts_with(b"REDIS0010"));
    let _: () = con.del("before").unwrap();
    assert_eq!(psync.read_reply(), "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n");
    assert_eq!(psync.read_reply(), "*2\r\n$3\r\nDEL\r\n$6\r\nbefore\r\n");
}

/// A full synchronisation that lasts longer than the backlog window under
/// a write load still ends in a replica that follows: the log keeps what
/// the replica has not read yet (within the replica output limit), so it
/// is not dropped and synchronised again and again.
#[test]
fn a_long_sync_under_writes_outlasting_the_backlog_does_not_restart() {
    if against_redis() {
        return;
    }
    let primary = TestServer::start(&["--save", "", "--repl-backlog-size", "16384"]);
    let mut con = loaded_conn(&primary);
    let value = "v".repeat(200);
    for chunk in 0..100 {
        let mut pipe = redis::pipe();
        for i in 0..1000 {
            pipe.set(format!("bulk:{chunk}:{i}"), &value).ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, client) = (stop.clone(), primary.client());
        std::thread::spawn(move || {
            let mut c = client.get_connection().unwrap();
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _: () = c.set(format!("w:{}", i % 5000), i).unwrap();
                i += 1;
            }
            i
        })
    };
    let replica = TestServer::start_redis_server(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    let mut raw = replica.raw();
    wait_link_up(&mut raw, 60);
    // the writes go on past the synchronisation
    let mut p = primary.raw();
    let seen = common::info_field(&mut p, "stats", "total_commands_processed").unwrap().parse::<u64>().unwrap();
    common::wait_until("the writer stalled", Duration::from_secs(30), Duration::from_millis(20), || {
        common::info_field(&mut p, "stats", "total_commands_processed").unwrap().parse::<u64>().unwrap() > seen + 20_000
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let last = writer.join().unwrap() - 1;
    let mut rcon = replica.conn();
    common::wait_until("the replica did not catch up", Duration::from_secs(30), Duration::from_millis(50), || {
        rcon.get::<_, Option<u64>>(format!("w:{}", last % 5000)).unwrap() == Some(last)
    });
    let sizes: (i64, i64) = (redis::cmd("DBSIZE").query(&mut con).unwrap(), redis::cmd("DBSIZE").query(&mut rcon).unwrap());
    assert_eq!(sizes.0, sizes.1);
    assert_eq!(common::info_field(&mut p, "stats", "sync_full").as_deref(), Some("1"), "the replica had to synchronise again");
}

/// WAIT counts the replicas whose acknowledgements cover the client's
/// last write: at once when they have it, the count at the timeout when
/// one is stopped, Redis's errors for bad arguments.
#[test]
fn wait_counts_the_replicas_that_acknowledged_the_write() {
    if against_redis() {
        return;
    }
    let primary = TestServer::start(&["--save", ""]);
    let mut r = primary.raw();
    assert_eq!(r.cmd(&["WAIT", "0", "0"]), ":0\r\n");
    assert_eq!(r.cmd(&["WAIT", "1", "100"]), ":0\r\n", "no replica: the count at the timeout");
    let redis = TestServer::start_redis_server(&[]);
    let mut p = common::Pair { ours: primary.raw(), redis: redis.raw() };
    for cmd in [&["WAIT", "1", "-1"][..], &["WAIT", "x", "10"], &["WAIT", "1", "x"], &["WAIT", "1"]] {
        p.same(cmd, "WAIT");
    }
    let replica = TestServer::start_redis_server(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    let mut raw = replica.raw();
    wait_link_up(&mut raw, 30);
    for i in 0..5 {
        assert_eq!(r.cmd(&["SET", "k", &i.to_string()]), "+OK\r\n");
        assert_eq!(r.cmd(&["WAIT", "1", "10000"]), ":1\r\n", "the replica did not acknowledge write {i}");
        assert_eq!(raw.cmd(&["GET", "k"]), format!("$1\r\n{i}\r\n"), "WAIT said 1 before the replica had the write");
    }
    // under a steady write load from another client as well
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (stop, client) = (stop.clone(), primary.client());
        std::thread::spawn(move || {
            let mut c = client.get_connection().unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut pipe = redis::pipe();
                for i in 0..200 {
                    pipe.set(format!("load:{i}"), i).ignore();
                }
                let _: () = pipe.query(&mut c).unwrap();
            }
        })
    };
    for i in 0..3 {
        assert_eq!(r.cmd(&["SET", "under-load", &i.to_string()]), "+OK\r\n");
        assert_eq!(r.cmd(&["WAIT", "1", "10000"]), ":1\r\n", "no acknowledgement under load");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.join().unwrap();
    // asking for more replicas than there are: the count at the timeout
    assert_eq!(r.cmd(&["WAIT", "2", "300"]), ":1\r\n");
    // a stopped replica acknowledges nothing
    let _ = std::process::Command::new("kill").args(["-STOP", &replica.pid().to_string()]).status();
    assert_eq!(r.cmd(&["SET", "k", "stopped"]), "+OK\r\n");
    assert_eq!(r.cmd(&["WAIT", "1", "500"]), ":0\r\n");
    let _ = std::process::Command::new("kill").args(["-CONT", &replica.pid().to_string()]).status();
    assert_eq!(r.cmd(&["WAIT", "1", "10000"]), ":1\r\n");
}

/// `min-replicas-to-write`: with fewer replicas that acknowledged within
/// `min-replicas-max-lag` seconds, writes (and EXECs of writes) are
/// refused with Redis's error and reads go on; writes come back with the
/// replica.
#[test]
fn min_replicas_to_write_refuses_writes_without_good_replicas() {
    if against_redis() {
        return;
    }
    // the error, as redis-server gives it with no replica at all
    let redis = TestServer::start_redis_server(&["--min-replicas-to-write", "1"]);
    let primary = TestServer::start(&["--save", "", "--min-replicas-to-write", "1", "--min-replicas-max-lag", "2"]);
    let mut p = common::Pair { ours: primary.raw(), redis: redis.raw() };
    p.same(&["SET", "k", "v"], "a write without replicas");
    p.same(&["GET", "k"], "a read without replicas");
    p.same(&["MULTI"], "MULTI");
    p.same(&["SET", "k", "v"], "a write queued without replicas");
    p.same(&["EXEC"], "EXEC");
    let replica = TestServer::start_redis_server(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    let mut raw = replica.raw();
    wait_link_up(&mut raw, 30);
    let mut r = primary.raw();
    common::wait_until("writes were not accepted with a replica", Duration::from_secs(10), Duration::from_millis(20), || {
        r.cmd(&["SET", "k", "v"]) == "+OK\r\n"
    });
    assert_eq!(common::info_field(&mut r, "replication", "min_slaves_good_slaves").as_deref(), Some("1"));
    let _ = std::process::Command::new("kill").args(["-STOP", &replica.pid().to_string()]).status();
    common::wait_until("writes went on with the replica stopped", Duration::from_secs(15), Duration::from_millis(100), || {
        r.cmd(&["SET", "k", "w"]) == "-NOREPLICAS Not enough good replicas to write.\r\n"
    });
    // reads go on (and show the last write accepted before the lag passed the limit)
    let got = r.cmd(&["GET", "k"]);
    assert!(got == "$1\r\nw\r\n" || got == "$1\r\nv\r\n", "{got}");
    let _ = std::process::Command::new("kill").args(["-CONT", &replica.pid().to_string()]).status();
    common::wait_until("writes did not come back with the replica", Duration::from_secs(15), Duration::from_millis(50), || {
        r.cmd(&["SET", "k", "w"]) == "+OK\r\n"
    });
}
