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
        common::wait_until("the replica never synchronised", Duration::from_secs(30), Duration::from_millis(20), || {
            common::info_field(&mut raw, "replication", "master_link_status").as_deref() == Some("up")
        });
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
