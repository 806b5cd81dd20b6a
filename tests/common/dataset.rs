//! A dataset of every type and encoding, and its fingerprint: what the
//! persistence and replication tests write, reload, copy and compare.

use redis::Commands;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::TestServer;

/// Fills the keyspace with every type in both of its encodings, keys with
/// and without TTLs, across all 16 databases.
pub fn populate(con: &mut redis::Connection) {
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
pub fn fingerprint(con: &mut redis::Connection) -> BTreeMap<String, String> {
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

/// Requires `s` (shardis or redis-server) to have loaded exactly
/// `expected`; its connection, for more.
pub fn assert_loads(s: &TestServer, expected: &BTreeMap<String, String>, what: &str) -> redis::Connection {
    let mut con = loaded_conn(s);
    let got = fingerprint(&mut con);
    assert!(*expected == got, "{what}:\n{}", diff(expected, &got));
    con
}

/// A connection that waits out `-LOADING` (the dataset loads after start).
pub fn loaded_conn(s: &TestServer) -> redis::Connection {
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

pub fn diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> String {
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
