//! Pub/sub against redis-server 7.0: subscribe and unsubscribe
//! confirmations, messages and pattern messages byte for byte in RESP2 and
//! RESP3, subscribed mode's allowed commands and PING form, PUBSUB
//! introspection, shard channels; a subscriber that never reads is cut off
//! at `client-output-buffer-limit pubsub` with the node's memory bounded;
//! redis-py's pub/sub unchanged.

mod common;

use common::{Pair, TestServer, python_with_redis_py, rss_kb};
use std::time::Duration;

fn pairs(resp3: bool) -> (TestServer, TestServer, Pair) {
    let ours = TestServer::start(&[]);
    let redis = TestServer::start_redis_server(&[]);
    let mut p = Pair { ours: ours.raw(), redis: redis.raw() };
    if resp3 {
        assert!(p.ours.cmd(&["HELLO", "3"]).starts_with('%'));
        assert!(p.redis.cmd(&["HELLO", "3"]).starts_with('%'));
    }
    (ours, redis, p)
}

/// Reads what arrives within `wait` (for several frames at once).
fn drain(r: &mut common::Raw, wait: Duration) -> String {
    let mut all = String::new();
    while let Some(s) = r.try_read_reply(wait) {
        all.push_str(&s);
    }
    all
}

#[test]
fn confirmations_and_messages_match_redis_server() {
    for resp3 in [false, true] {
        let (ours, redis, mut p) = pairs(resp3);
        let ctx = format!("resp3={resp3}");
        let subscribed = |p: &mut Pair, cmd: &[&str]| {
            // a command answered by several frames: read them all
            p.ours.send(cmd);
            p.redis.send(cmd);
            let (a, b) = (drain(&mut p.ours, Duration::from_millis(150)), drain(&mut p.redis, Duration::from_millis(150)));
            assert_eq!(a, b, "{ctx}: {cmd:?}");
        };
        subscribed(&mut p, &["SUBSCRIBE", "news", "sport"]);
        subscribed(&mut p, &["SUBSCRIBE", "news"]);
        p.same(&["GET", "k"], &ctx);
        p.same(&["PING"], &ctx);
        p.same(&["PING", "hello"], &ctx);
        if !resp3 {
            // refused in RESP2 subscribed mode (a subcommand's full name)
            p.same(&["CLIENT", "ID"], &ctx);
        }
        subscribed(&mut p, &["PSUBSCRIBE", "n*"]);
        subscribed(&mut p, &["SSUBSCRIBE", "shard-a"]);
        subscribed(&mut p, &["UNSUBSCRIBE", "weather"]);
        // a publisher on each side
        let (mut po, mut pr) = (ours.raw(), redis.raw());
        for (ch, msg) in [("news", "hello"), ("nothing", "x"), ("sport", ""), ("nope", "y")] {
            assert_eq!(po.cmd(&["PUBLISH", ch, msg]), pr.cmd(&["PUBLISH", ch, msg]), "PUBLISH {ch}");
            let (a, b) = (drain(&mut p.ours, Duration::from_millis(150)), drain(&mut p.redis, Duration::from_millis(150)));
            assert_eq!(a, b, "{ctx}: delivered from {ch}");
        }
        assert_eq!(po.cmd(&["SPUBLISH", "shard-a", "s"]), pr.cmd(&["SPUBLISH", "shard-a", "s"]));
        assert_eq!(drain(&mut p.ours, Duration::from_millis(150)), drain(&mut p.redis, Duration::from_millis(150)), "{ctx}: smessage");
        assert_eq!(po.cmd(&["PUBLISH", "shard-a", "not a shard message"]), ":0\r\n");
        for c in [
            &["PUBSUB", "NUMSUB", "news", "sport", "none"][..],
            &["PUBSUB", "NUMPAT"],
            &["PUBSUB", "SHARDNUMSUB", "shard-a"],
            &["PUBSUB", "SHARDCHANNELS"],
            &["PUBSUB", "CHANNELS", "s*"],
            &["PUBSUB", "NUMSUB"],
            &["PUBSUB", "BOGUS"],
            &["PUBLISH", "a"],
        ] {
            assert_eq!(po.cmd(c), pr.cmd(c), "{c:?}");
        }
        let info = |r: &mut common::Raw| r.cmd(&["INFO", "stats"]).lines().filter(|l| l.starts_with("pubsub")).collect::<Vec<_>>().join(",");
        assert_eq!(info(&mut po), info(&mut pr));
        subscribed(&mut p, &["PUNSUBSCRIBE"]);
        subscribed(&mut p, &["SUNSUBSCRIBE"]);
        subscribed(&mut p, &["UNSUBSCRIBE", "news"]);
        subscribed(&mut p, &["UNSUBSCRIBE"]);
        subscribed(&mut p, &["UNSUBSCRIBE"]);
        p.same(&["PING"], &ctx);
        p.same(&["SET", "k", "v"], &ctx);
        // RESET leaves every subscription
        subscribed(&mut p, &["SUBSCRIBE", "x"]);
        p.same(&["RESET"], &ctx);
        assert_eq!(po.cmd(&["PUBSUB", "NUMSUB", "x"]), pr.cmd(&["PUBSUB", "NUMSUB", "x"]));
        // a subscriber that leaves is forgotten
        let mut gone = ours.raw();
        gone.send(&["SUBSCRIBE", "bye"]);
        assert!(gone.read_reply().contains("subscribe"));
        assert!(po.cmd(&["CLIENT", "LIST", "TYPE", "pubsub"]).contains("sub=1"));
        drop(gone);
        for _ in 0..100 {
            if po.cmd(&["PUBSUB", "NUMSUB", "bye"]).ends_with(":0\r\n") {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(po.cmd(&["PUBLISH", "bye", "x"]), ":0\r\n");
    }
}

/// CLIENT KILL TYPE pubsub and CLIENT LIST TYPE pubsub find subscribers
/// only.
#[test]
fn client_kill_and_list_by_type_pubsub() {
    let s = TestServer::start(&[]);
    let mut admin = s.raw();
    let mut sub = s.raw();
    sub.send(&["PSUBSCRIBE", "*"]);
    assert!(sub.read_reply().contains("psubscribe"));
    let mut plain = s.raw();
    assert_eq!(plain.cmd(&["PING"]), "+PONG\r\n");
    let list = admin.cmd(&["CLIENT", "LIST", "TYPE", "pubsub"]);
    assert_eq!(list.matches("id=").count(), 1, "{list}");
    assert!(list.contains("flags=P") && list.contains("psub=1"));
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]), ":1\r\n");
    assert!(sub.is_closed());
    assert_eq!(plain.cmd(&["PING"]), "+PONG\r\n");
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "TYPE", "bogus"]), "-ERR Unknown client type 'bogus'\r\n");
}

/// A subscriber that never reads while a publisher floods: cut off at the
/// hard limit, the node's memory bounded, publishers never held up.
#[test]
fn a_subscriber_that_never_reads_is_disconnected_at_the_limit() {
    let s = TestServer::start(&[]);
    let mut admin = s.raw();
    assert_eq!(admin.cmd(&["CONFIG", "SET", "client-output-buffer-limit", "pubsub 4mb 1mb 60"]), "+OK\r\n");
    assert!(
        admin.cmd(&["CONFIG", "GET", "client-output-buffer-limit"]).ends_with("\r\nnormal 0 0 0 slave 268435456 67108864 60 pubsub 4194304 1048576 60\r\n")
    );
    let mut slow = s.raw();
    slow.send(&["SUBSCRIBE", "flood"]);
    std::thread::sleep(Duration::from_millis(100));
    let before = rss_kb(s.pid());
    let payload = "x".repeat(16 * 1024);
    let mut reached = 0;
    let mut publisher = s.raw();
    // 200 MB of messages in pipelined batches
    for batch in 0..100 {
        for _ in 0..128 {
            publisher.send(&["PUBLISH", "flood", &payload]);
        }
        for _ in 0..128 {
            let r = publisher.read_reply();
            reached += usize::from(r == ":1\r\n");
        }
        if batch % 10 == 0 {
            assert!(rss_kb(s.pid()) < before + 64 * 1024, "RSS grew past the limit's reach");
        }
    }
    assert!(reached < 12_800, "the subscriber was cut off ({reached} deliveries)");
    assert_eq!(admin.cmd(&["PUBSUB", "NUMSUB", "flood"]), "*2\r\n$5\r\nflood\r\n:0\r\n");
    assert!(rss_kb(s.pid()) < before + 64 * 1024);
    assert_eq!(admin.cmd(&["PING"]), "+PONG\r\n");
    assert!(admin.cmd(&["CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb"]).starts_with("-ERR"), "a partial class is refused");
}

/// redis-py's pub/sub in both protocols, on a node and through the proxy:
/// subscribe, pattern subscribe, get_message, a listener thread,
/// unsubscribe.
#[test]
fn redis_py_pubsub_works_unchanged() {
    let s = TestServer::start(&[]);
    let script = r#"
import sys, time, threading
import redis
port = int(sys.argv[1])
for protocol in (2, 3):
    r = redis.Redis(port=port, protocol=protocol, decode_responses=True)
    p = r.pubsub()
    p.subscribe("jobs")
    p.psubscribe("events.*")
    assert p.get_message(timeout=1)["type"] == "subscribe"
    assert p.get_message(timeout=1)["type"] == "psubscribe"
    assert r.publish("jobs", "j1") == 1
    assert r.publish("events.login", "alice") == 1
    m = p.get_message(timeout=1)
    assert (m["type"], m["channel"], m["data"]) == ("message", "jobs", "j1"), m
    m = p.get_message(timeout=1)
    assert (m["type"], m["pattern"], m["channel"], m["data"]) == ("pmessage", "events.*", "events.login", "alice"), m
    assert r.pubsub_numsub("jobs") == [("jobs", 1)] and r.pubsub_numpat() == 1
    got = []
    def handler(msg):
        got.append(msg["data"])
    p2 = r.pubsub()
    p2.subscribe(**{"work": handler})
    t = p2.run_in_thread(sleep_time=0.01)
    time.sleep(0.2)
    for i in range(50):
        r.publish("work", str(i))
    deadline = time.time() + 5
    while len(got) < 50 and time.time() < deadline:
        time.sleep(0.01)
    t.stop()
    assert got == [str(i) for i in range(50)], got
    p.unsubscribe()
    p.punsubscribe()
    p.close()
    p2.close()
    r.close()
print("pubsub ok")
"#;
    // a node, and the proxy in front of two nodes
    let other = TestServer::start(&[]);
    let proxy = TestServer::start_proxy(&[s.addr(), other.addr()], &[]);
    for port in [s.port, proxy.port] {
        let out = std::process::Command::new(python_with_redis_py()).arg("-c").arg(script).arg(port.to_string()).output().expect("python");
        assert!(out.status.success(), "port {port}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("pubsub ok"));
    }
}

/// MONITOR goes through the same bounded outbox: a monitor that never
/// reads is disconnected at the limit, no line is silently lost before,
/// and the node goes on serving.
#[test]
fn a_monitor_that_never_reads_is_disconnected_at_the_limit() {
    let s = TestServer::start(&[]);
    let mut admin = s.raw();
    assert_eq!(admin.cmd(&["CONFIG", "SET", "client-output-buffer-limit", "pubsub 2mb 0 0"]), "+OK\r\n");
    let mut reader = s.raw();
    assert_eq!(reader.cmd(&["MONITOR"]), "+OK\r\n");
    let mut slow = s.raw();
    assert_eq!(slow.cmd(&["MONITOR"]), "+OK\r\n");
    // a reading monitor sees every command in order
    for i in 0..50 {
        admin.cmd(&["SET", &format!("k{i}"), "v"]);
    }
    for i in 0..50 {
        let line = reader.read_reply();
        assert!(line.contains(&format!("\"SET\" \"k{i}\" \"v\"")), "{line}");
    }
    drop(reader);
    let before = rss_kb(s.pid());
    let value = "v".repeat(8 * 1024);
    for i in 0..3000 {
        admin.send(&["SET", &format!("big{i}"), &value]);
    }
    for _ in 0..3000 {
        assert_eq!(admin.read_reply(), "+OK\r\n");
    }
    for _ in 0..100 {
        if !admin.cmd(&["CLIENT", "LIST"]).contains("cmd=monitor") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!admin.cmd(&["CLIENT", "LIST"]).contains("cmd=monitor"), "the slow monitor was cut off");
    assert!(rss_kb(s.pid()) < before + 48 * 1024);
    assert_eq!(admin.cmd(&["DBSIZE"]), ":3050\r\n");
}

/// Through the proxy a subscriber that never reads is cut off too: its
/// links stop reading, the node's limit cuts them, the proxy closes the
/// client (even while stuck writing to it), and its memory stays bounded.
#[test]
fn a_subscriber_that_never_reads_through_the_proxy_is_cut_off() {
    let node = TestServer::start(&[]);
    let proxy = TestServer::start_proxy(&[node.addr()], &[]);
    assert_eq!(node.raw().cmd(&["CONFIG", "SET", "client-output-buffer-limit", "pubsub 2mb 0 0"]), "+OK\r\n");
    let mut slow = proxy.raw();
    slow.send(&["PSUBSCRIBE", "*"]);
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_kb(proxy.pid());
    let mut publisher = proxy.raw();
    let payload = "x".repeat(32 * 1024);
    let mut reached = 0;
    for _ in 0..40 {
        for _ in 0..100 {
            publisher.send(&["PUBLISH", "flood", &payload]);
        }
        for _ in 0..100 {
            reached += usize::from(publisher.read_reply() == ":1\r\n");
        }
    }
    assert!(reached < 4000, "the link was cut ({reached} deliveries of 4000)");
    assert!(rss_kb(proxy.pid()) < before + 48 * 1024, "the proxy's memory stayed bounded");
    let mut admin = proxy.raw();
    assert_eq!(admin.cmd(&["PING"]), "+PONG\r\n");
    // the stuck client is closed: its socket reports EOF once drained
    assert!(slow.is_closed(), "the proxy closed the client whose link was cut");
}
