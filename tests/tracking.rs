//! Client-side caching against redis-server 7.0: CLIENT TRACKING in its
//! modes (default, OPTIN / OPTOUT with CLIENT CACHING, NOLOOP, BCAST with
//! prefixes, REDIRECT to a RESP2 connection subscribed to
//! `__redis__:invalidate`), the invalidation pushes and messages byte for
//! byte after a script of reads and writes, FLUSHALL's null, a redirect
//! target that goes away, CLIENT GETREDIR / TRACKINGINFO, the option
//! errors, the INFO counts; `tracking-table-max-keys`; the proxy's
//! refusal.

mod common;

use common::{Pair, Raw, TestServer};
use std::time::Duration;

/// Frames that arrive within `wait`.
fn drain(r: &mut Raw, wait: Duration) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(f) = r.try_read_reply(wait) {
        out.push(f);
    }
    out
}

struct Side {
    _server: TestServer,
    tracker: Raw,
    writer: Raw,
    listener: Raw,
}

fn side(server: TestServer) -> Side {
    let tracker = server.raw();
    let writer = server.raw();
    let listener = server.raw();
    Side { _server: server, tracker, writer, listener }
}

/// Runs `steps` on both servers: (who, command); `T` the tracking client,
/// `W` another client, `L` the redirect listener. After every step the
/// replies and everything the three connections received must match.
fn same_steps(steps: &[(&str, &str)]) {
    let mut ours = side(TestServer::start(&[]));
    let mut redis = side(TestServer::start_redis_server(&[]));
    for s in [&mut ours, &mut redis] {
        s.listener.send(&["CLIENT", "ID"]);
    }
    let ids = [ours.listener.read_reply(), redis.listener.read_reply()];
    let ids: Vec<String> = ids.iter().map(|r| r.trim_start_matches(':').trim().to_string()).collect();
    for (who, line) in steps {
        for (i, s) in [&mut ours, &mut redis].into_iter().enumerate() {
            let line = line.replace("$LISTENER", &ids[i]);
            let args: Vec<&str> = line.split(' ').collect();
            let c = match *who {
                "T" => &mut s.tracker,
                "W" => &mut s.writer,
                _ => &mut s.listener,
            };
            c.send(&args);
        }
        let wait = Duration::from_millis(60);
        // client IDs differ between the servers: HELLO's and the
        // listener's are masked
        let got = |s: &mut Side, id: &str| {
            [drain(&mut s.tracker, wait), drain(&mut s.writer, wait), drain(&mut s.listener, wait)].map(|frames| {
                frames
                    .into_iter()
                    .map(|f| {
                        let f = match f.find("$2\r\nid\r\n:") {
                            Some(at) => {
                                let end = at + 9 + f[at + 9..].find("\r\n").unwrap();
                                format!("{}ID{}", &f[..at + 9], &f[end..])
                            }
                            None => f,
                        };
                        // (the listener's ID in GETREDIR and TRACKINGINFO replies)
                        if f.starts_with(':') || f.contains("redirect") { f.replace(&format!(":{id}\r\n"), ":$LISTENER\r\n") } else { f }
                    })
                    .collect::<Vec<_>>()
            })
        };
        let (a, b) = (got(&mut ours, &ids[0]), got(&mut redis, &ids[1]));
        assert_eq!(a, b, "{who}: {line}");
    }
}

#[test]
fn default_mode_optin_optout_noloop_match_redis_server() {
    same_steps(&[
        ("T", "HELLO 3"),
        ("T", "CLIENT TRACKING ON"),
        ("T", "CLIENT TRACKINGINFO"),
        ("T", "CLIENT GETREDIR"),
        ("T", "GET a"),
        ("T", "MGET b c"),
        ("T", "HGET h f"),
        ("W", "SET a 1"),
        ("W", "SET a 2"),
        ("W", "MSET b 1 c 2"),
        ("W", "HSET h f v"),
        ("T", "GET a"),
        ("T", "SET a 3"),
        ("T", "GET a"),
        ("W", "DEL a"),
        ("T", "GET a"),
        ("T", "EXISTS a"),
        ("W", "SET a x PX 1"),
        ("T", "GET zz"),
        ("W", "FLUSHALL"),
        ("T", "CLIENT TRACKING ON NOLOOP"),
        ("T", "CLIENT TRACKINGINFO"),
        ("T", "GET n"),
        ("T", "SET n 1"),
        ("T", "GET n"),
        ("W", "SET n 2"),
        ("T", "CLIENT TRACKING OFF"),
        ("T", "CLIENT TRACKING ON OPTIN"),
        ("T", "GET o1"),
        ("T", "CLIENT CACHING YES"),
        ("T", "GET o2"),
        ("T", "GET o3"),
        ("T", "CLIENT TRACKINGINFO"),
        ("W", "MSET o1 1 o2 2 o3 3"),
        ("T", "CLIENT CACHING NO"),
        ("T", "CLIENT TRACKING ON OPTOUT"),
        ("T", "CLIENT TRACKING OFF"),
        ("T", "CLIENT TRACKING ON OPTOUT"),
        ("T", "GET p1"),
        ("T", "CLIENT CACHING NO"),
        ("T", "GET p2"),
        ("W", "MSET p1 1 p2 2"),
        ("T", "CLIENT CACHING YES"),
        ("T", "CLIENT TRACKING OFF"),
        ("T", "CLIENT CACHING YES"),
        ("T", "CLIENT GETREDIR"),
    ]);
}

#[test]
fn bcast_prefixes_and_redirect_match_redis_server() {
    same_steps(&[
        ("T", "HELLO 3"),
        ("T", "CLIENT TRACKING ON BCAST PREFIX user: PREFIX obj:"),
        ("T", "CLIENT TRACKINGINFO"),
        ("W", "MSET user:1 a user:2 b other x obj:9 z"),
        ("W", "SET user:1 c"),
        ("T", "SET user:3 d"),
        ("T", "CLIENT TRACKING ON BCAST PREFIX us"),
        ("T", "CLIENT TRACKING ON BCAST PREFIX session: PREFIX sess"),
        ("T", "CLIENT TRACKING ON BCAST PREFIX session:"),
        ("W", "SET session:1 x"),
        ("T", "CLIENT TRACKING ON"),
        ("T", "CLIENT TRACKING OFF"),
        ("T", "CLIENT TRACKING ON BCAST NOLOOP"),
        ("T", "SET mine 1"),
        ("W", "SET theirs 1"),
        ("T", "MSET mine 2 theirs 2"),
        ("W", "FLUSHDB"),
        ("T", "CLIENT TRACKING OFF"),
        // redirect to a RESP2 connection in pub/sub mode
        ("L", "SUBSCRIBE __redis__:invalidate"),
        ("T", "HELLO 2"),
        ("T", "CLIENT TRACKING ON REDIRECT $LISTENER"),
        ("T", "CLIENT GETREDIR"),
        ("T", "GET r1"),
        ("W", "SET r1 x"),
        ("T", "CLIENT TRACKING ON BCAST REDIRECT $LISTENER"),
        ("T", "CLIENT TRACKING OFF"),
        ("T", "CLIENT TRACKING ON BCAST REDIRECT $LISTENER PREFIX r"),
        ("W", "SET r2 x"),
        ("W", "FLUSHALL"),
        ("L", "UNSUBSCRIBE"),
        ("T", "GET r3"),
    ]);
}

#[test]
fn option_errors_match_redis_server() {
    let ours = TestServer::start(&[]);
    let redis = TestServer::start_redis_server(&[]);
    let mut p = Pair { ours: ours.raw(), redis: redis.raw() };
    for line in [
        "CLIENT TRACKING",
        "CLIENT TRACKING MAYBE",
        "CLIENT TRACKING ON BOGUS",
        "CLIENT TRACKING ON REDIRECT 999999",
        "CLIENT TRACKING ON REDIRECT x",
        "CLIENT TRACKING ON PREFIX a",
        "CLIENT TRACKING ON BCAST OPTIN",
        "CLIENT TRACKING ON OPTIN OPTOUT",
        "CLIENT TRACKING ON BCAST PREFIX a PREFIX ab",
        "CLIENT CACHING YES",
        "CLIENT CACHING MAYBE",
        "CLIENT TRACKINGINFO",
        "CLIENT GETREDIR",
        "CLIENT TRACKING ON OPTIN",
        "CLIENT CACHING NO",
        "CLIENT CACHING MAYBE",
        "CLIENT TRACKING ON OPTOUT",
        "CLIENT TRACKING ON BCAST",
        "CLIENT TRACKING OFF",
        "CLIENT TRACKING ON BCAST",
        "CLIENT TRACKING ON",
    ] {
        p.same(&line.split(' ').collect::<Vec<_>>(), line);
    }
    let info = |r: &mut Raw| r.cmd(&["INFO"]).lines().filter(|l| l.starts_with("tracking")).map(String::from).collect::<Vec<_>>();
    p.ours.cmd(&["GET", "k"]);
    assert_eq!(info(&mut p.ours), info(&mut p.redis));
}

/// A redirect target that disconnects: the tracking client is told once
/// it has something to say (RESP3), and TRACKINGINFO shows it.
#[test]
fn a_broken_redirect_is_reported() {
    for server in [TestServer::start(&[]), TestServer::start_redis_server(&[])] {
        let mut t = server.raw();
        let mut target = server.raw();
        let id = target.cmd(&["CLIENT", "ID"]).trim_start_matches(':').trim().to_string();
        assert!(t.cmd(&["HELLO", "3"]).starts_with('%'));
        assert_eq!(t.cmd(&["CLIENT", "TRACKING", "ON", "REDIRECT", &id]), "+OK\r\n");
        assert_eq!(t.cmd(&["GET", "k"]), "_\r\n");
        drop(target);
        let mut w = server.raw();
        for _ in 0..100 {
            if !w.cmd(&["CLIENT", "LIST"]).contains(&format!("id={id} ")) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(w.cmd(&["SET", "k", "v"]), "+OK\r\n");
        let push = t.try_read_reply(Duration::from_secs(2)).expect("a push");
        assert_eq!(push, format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{id}\r\n"));
        assert!(t.cmd(&["CLIENT", "TRACKINGINFO"]).contains("broken_redirect"));
    }
}

/// The table holds at most `tracking-table-max-keys`: reading more keys
/// invalidates (and forgets) older ones.
#[test]
fn the_table_is_bounded() {
    let server = TestServer::start(&[]);
    let mut t = server.raw();
    assert!(t.cmd(&["HELLO", "3"]).starts_with('%'));
    assert_eq!(t.cmd(&["CONFIG", "SET", "tracking-table-max-keys", "100"]), "+OK\r\n");
    assert_eq!(t.cmd(&["CLIENT", "TRACKING", "ON"]), "+OK\r\n");
    let mut pushes = 0;
    for i in 0..300 {
        t.send(&["GET", &format!("key:{i}")]);
        loop {
            let f = t.read_reply();
            if f.starts_with('>') {
                assert!(f.contains("invalidate"), "{f}");
                pushes += 1;
            } else {
                break;
            }
        }
    }
    pushes += drain(&mut t, Duration::from_millis(100)).len();
    let keys: usize = common::info_field(&mut t, "stats", "tracking_total_keys").unwrap().parse().unwrap();
    assert!(keys <= 100, "{keys} keys tracked");
    assert_eq!(pushes, 300 - keys, "every forgotten key was invalidated");
}

/// Through the proxy tracking is refused with a reason: the proxy's node
/// connections are shared, so no node could tell which client read what.
#[test]
fn the_proxy_refuses_tracking() {
    let node = TestServer::start(&[]);
    let proxy = TestServer::start_proxy(&[node.addr()], &[]);
    let mut c = proxy.raw();
    let r = c.cmd(&["CLIENT", "TRACKING", "ON"]);
    assert!(r.starts_with("-ERR CLIENT TRACKING is not supported"), "{r}");
}
