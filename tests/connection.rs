//! Protocol and connection behaviour: RESP3, inline commands, pipelining,
//! malformed input, AUTH, CLIENT, limits.

mod common;
use common::{Raw, TestServer, against_redis};
use std::time::Duration;

#[test]
fn unknown_command_and_arity() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.cmd(&["foo", "x", "y"]), "-ERR unknown command 'foo', with args beginning with: 'x' 'y' \r\n");
    assert_eq!(r.cmd(&["foo"]), "-ERR unknown command 'foo', with args beginning with: \r\n");
    assert_eq!(r.cmd(&["PING", "a", "b"]), "-ERR wrong number of arguments for 'ping' command\r\n");
    assert_eq!(r.cmd(&["ping"]), "+PONG\r\n");
    assert_eq!(r.cmd(&["PING", "hi"]), "$2\r\nhi\r\n");
    assert_eq!(r.cmd(&["ECHO", "hello"]), "$5\r\nhello\r\n");
    assert_eq!(r.cmd(&["CLIENT", "FOO"]), "-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n");
    assert_eq!(r.cmd(&["CONFIG", "GET"]), "-ERR wrong number of arguments for 'config|get' command\r\n");
}

#[test]
fn resp3_after_hello() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    let hello = r.cmd(&["HELLO", "3"]);
    assert!(hello.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n"), "{hello}");
    assert!(hello.contains("$5\r\nproto\r\n:3\r\n"));
    assert_eq!(r.cmd(&["GET", "nokey"]), "_\r\n");
    r.cmd(&["SET", "f", "1.5"]);
    assert_eq!(r.cmd(&["CONFIG", "GET", "maxmemory"]), "%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
    assert!(r.cmd(&["INFO", "server"]).starts_with('='));
    // back to RESP2
    let hello2 = r.cmd(&["HELLO", "2"]);
    assert!(hello2.starts_with("*14\r\n"), "{hello2}");
    assert_eq!(r.cmd(&["GET", "nokey"]), "$-1\r\n");
    assert_eq!(r.cmd(&["HELLO", "4"]), "-NOPROTO unsupported protocol version\r\n");
    assert_eq!(r.cmd(&["HELLO", "x"]), "-ERR Protocol version is not an integer or out of range\r\n");
    assert_eq!(r.cmd(&["HELLO", "3", "BOGUS"]), "-ERR Syntax error in HELLO option 'BOGUS'\r\n");
    r.cmd(&["HELLO", "3", "SETNAME", "myconn"]);
    assert_eq!(r.cmd(&["CLIENT", "GETNAME"]), "$6\r\nmyconn\r\n");
    // the redis crate speaks RESP3 too
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/?protocol=resp3", s.port)).unwrap();
    let mut c = client.get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let v: Option<String> = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v.as_deref(), Some("v"));
    let missing: Option<String> = redis::cmd("GET").arg("nokey").query(&mut c).unwrap();
    assert_eq!(missing, None);
}

#[test]
fn inline_commands_and_pipelining() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    r.send_bytes(b"PING\r\n");
    assert_eq!(r.read_reply(), "+PONG\r\n");
    r.send_bytes(b"set \"inline key\" 'a b'\r\nget \"inline key\"\n\r\n");
    assert_eq!(r.read_reply(), "+OK\r\n");
    assert_eq!(r.read_reply(), "$3\r\na b\r\n");
    // a pipeline of many commands in one write, including a partial frame
    let mut batch = Vec::new();
    for i in 0..1000 {
        let (key, value) = (format!("k{i}"), i.to_string());
        batch.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n", key.len(), value.len()).as_bytes());
    }
    batch.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$4\r\nk999\r\n");
    let (a, b) = batch.split_at(batch.len() - 7);
    r.send_bytes(a);
    std::thread::sleep(Duration::from_millis(50));
    r.send_bytes(b);
    for _ in 0..1000 {
        assert_eq!(r.read_reply(), "+OK\r\n");
    }
    assert_eq!(r.read_reply(), "$3\r\n999\r\n");
    // the redis crate's pipelines
    let mut c = s.conn();
    let mut pipe = redis::pipe();
    for i in 0..100 {
        pipe.cmd("INCRBY").arg("counter").arg(i);
    }
    let results: Vec<i64> = pipe.query(&mut c).unwrap();
    assert_eq!(results.len(), 100);
    assert_eq!(*results.last().unwrap(), (0..100).sum::<i64>());
}

/// Each malformed frame gets Redis's protocol error and closes only its own
/// connection; another client keeps working throughout.
#[test]
fn malformed_input_closes_only_that_connection() {
    let s = TestServer::start(&[]);
    let mut bystander = s.raw();
    bystander.cmd(&["SET", "safe", "1"]);
    let mut cases: Vec<(&[u8], &str)> = vec![
        (b"*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n$-1\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n$abc\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\nfoo\r\n", "-ERR Protocol error: expected '$', got 'f'\r\n"),
        (b"*3000000000\r\n", "-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n$1073741824\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"set \"a b\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"),
        (b"get 'x\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"),
    ];
    if !against_redis() {
        // Redis skips the two bytes after a bulk without checking them.
        cases.push((b"*1\r\n$4\r\nPINGxx", "-ERR Protocol error: expected CRLF after bulk data\r\n"));
    }
    for (input, expected) in cases {
        let mut bad = s.raw();
        bad.send_bytes(input);
        assert_eq!(bad.read_reply(), expected, "input {:?}", String::from_utf8_lossy(input));
        assert!(bad.is_closed(), "connection stayed open after {:?}", String::from_utf8_lossy(input));
        assert_eq!(bystander.cmd(&["GET", "safe"]), "$1\r\n1\r\n");
    }
}

/// A client announcing a 1 GB bulk is refused before anything is buffered;
/// a large but allowed bulk arriving slowly is accepted.
#[test]
fn oversized_bulk_is_refused_without_allocating() {
    let s = TestServer::start(&["--proto-max-bulk-len", "2mb"]);
    let mut c = s.conn();
    let info: String = redis::cmd("INFO").arg("memory").query(&mut c).unwrap();
    let used = |info: &str| -> u64 { info.lines().find_map(|l| l.strip_prefix("used_memory:")).unwrap().trim().parse().unwrap() };
    let before = used(&info);
    let mut bad = s.raw();
    bad.send_bytes(b"*2\r\n$3\r\nGET\r\n$1000000000\r\nxxxx");
    assert_eq!(bad.read_reply(), "-ERR Protocol error: invalid bulk length\r\n");
    assert!(bad.is_closed());
    let info: String = redis::cmd("INFO").arg("memory").query(&mut c).unwrap();
    assert!(used(&info) < before + 10 * 1024 * 1024, "memory grew from {before}: {info}");
    // 1.5 MB in small pieces is fine
    let mut ok = s.raw();
    let value = vec![b'v'; 1_500_000];
    ok.send_bytes(format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n", value.len()).as_bytes());
    for chunk in value.chunks(100_000) {
        ok.send_bytes(chunk);
    }
    ok.send_bytes(b"\r\n");
    assert_eq!(ok.read_reply(), "+OK\r\n");
    assert_eq!(ok.cmd(&["STRLEN", "big"]), ":1500000\r\n");
}

#[test]
fn auth_and_requirepass() {
    let s = TestServer::start(&["--requirepass", "s3cret"]);
    let mut r = s.raw();
    assert_eq!(r.cmd(&["GET", "k"]), "-NOAUTH Authentication required.\r\n");
    assert_eq!(r.cmd(&["foo"]), "-ERR unknown command 'foo', with args beginning with: \r\n");
    assert_eq!(r.cmd(&["AUTH", "wrong"]), "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    assert_eq!(
        r.cmd(&["HELLO", "3"]),
        "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"
    );
    assert_eq!(r.cmd(&["AUTH", "s3cret"]), "+OK\r\n");
    assert_eq!(r.cmd(&["GET", "k"]), "$-1\r\n");
    let mut r2 = s.raw();
    assert!(r2.cmd(&["HELLO", "3", "AUTH", "default", "s3cret"]).starts_with('%'));
    assert_eq!(r2.cmd(&["GET", "k"]), "_\r\n");
    let mut r3 = s.raw();
    assert_eq!(r3.cmd(&["AUTH", "default", "s3cret"]), "+OK\r\n");
    assert_eq!(r3.cmd(&["AUTH", "bob", "s3cret"]), "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    // RESET drops the authentication
    assert_eq!(r3.cmd(&["RESET"]), "+RESET\r\n");
    assert_eq!(r3.cmd(&["GET", "k"]), "-NOAUTH Authentication required.\r\n");
    // the redis crate with a password in the URL
    let client = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}/", s.port)).unwrap();
    let mut c = client.get_connection().unwrap();
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    // an unauthenticated client cannot send big frames
    let mut big = s.raw();
    big.send_bytes(b"*20\r\n");
    assert_eq!(big.read_reply(), "-ERR Protocol error: unauthenticated multibulk length\r\n");
    // without requirepass
    let open = TestServer::start(&[]);
    let mut o = open.raw();
    assert_eq!(
        o.cmd(&["AUTH", "x"]),
        "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"
    );
}

#[test]
fn select_quit_reset() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    r.cmd(&["SET", "k", "db0"]);
    assert_eq!(r.cmd(&["SELECT", "3"]), "+OK\r\n");
    assert_eq!(r.cmd(&["GET", "k"]), "$-1\r\n");
    r.cmd(&["SET", "k", "db3"]);
    assert_eq!(r.cmd(&["SELECT", "16"]), "-ERR DB index is out of range\r\n");
    assert_eq!(r.cmd(&["SELECT", "x"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(r.cmd(&["RESET"]), "+RESET\r\n");
    assert_eq!(r.cmd(&["GET", "k"]), "$3\r\ndb0\r\n");
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{}/3", s.port)).unwrap().get_connection().unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "db3");
    assert_eq!(r.cmd(&["QUIT"]), "+OK\r\n");
    assert!(r.is_closed());
}

#[test]
fn client_commands() {
    let s = TestServer::start(&[]);
    let mut a = s.raw();
    let mut b = s.raw();
    let id_a: u64 = a.cmd(&["CLIENT", "ID"]).trim_start_matches(':').trim().parse().unwrap();
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), "$-1\r\n");
    assert_eq!(a.cmd(&["CLIENT", "SETNAME", "alpha"]), "+OK\r\n");
    assert_eq!(a.cmd(&["CLIENT", "SETNAME", "bad name"]), "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), "$5\r\nalpha\r\n");
    // CLIENT SETINFO is Redis 7.2 (clients send it on connect); 7.0 lacks it.
    if !against_redis() {
        assert_eq!(a.cmd(&["CLIENT", "SETINFO", "LIB-NAME", "mylib"]), "+OK\r\n");
        assert_eq!(a.cmd(&["CLIENT", "SETINFO", "LIB-VER", "1.0"]), "+OK\r\n");
        assert_eq!(a.cmd(&["CLIENT", "SETINFO", "FOO", "1"]), "-ERR Unrecognized option 'FOO'\r\n");
        assert!(a.cmd(&["CLIENT", "INFO"]).contains("lib-name=mylib"));
    }
    let info = a.cmd(&["CLIENT", "INFO"]);
    assert!(info.contains(&format!("id={id_a} ")) && info.contains("name=alpha"), "{info}");
    let list = b.cmd(&["CLIENT", "LIST"]);
    assert!(list.contains("name=alpha"), "{list}");
    assert!(list.contains("cmd=client|list"), "{list}");
    assert_eq!(list.matches("id=").count(), 2, "{list}");
    assert_eq!(a.cmd(&["CLIENT", "NO-EVICT", "on"]), "+OK\r\n");
    assert_eq!(a.cmd(&["CLIENT", "NO-EVICT", "maybe"]), "-ERR syntax error\r\n");
    // CLIENT REPLY OFF / SKIP / ON
    a.send(&["CLIENT", "REPLY", "OFF"]);
    a.send(&["SET", "silent", "1"]);
    a.send(&["CLIENT", "REPLY", "ON"]);
    assert_eq!(a.read_reply(), "+OK\r\n");
    a.send(&["CLIENT", "REPLY", "SKIP"]);
    a.send(&["GET", "silent"]);
    assert_eq!(a.cmd(&["GET", "silent"]), "$1\r\n1\r\n");
    // CLIENT KILL
    assert_eq!(b.cmd(&["CLIENT", "KILL", "ID", &id_a.to_string()]), ":1\r\n");
    assert!(a.is_closed());
    assert_eq!(b.cmd(&["CLIENT", "KILL", "1.2.3.4:5"]), "-ERR No such client\r\n");
    assert_eq!(b.cmd(&["CLIENT", "KILL", "ID", "999999"]), ":0\r\n");
}

#[test]
fn client_no_touch_keeps_idle_time() {
    if against_redis() {
        return; // CLIENT NO-TOUCH is Redis 7.2; the reference here is 7.0.
    }
    let s = TestServer::start(&["--enable-debug-command", "yes"]);
    let mut r = s.raw();
    r.cmd(&["SET", "k", "v"]);
    r.cmd(&["HSET", "h", "f", "v"]);
    r.cmd(&["RPUSH", "l", "a", "b"]);
    r.cmd(&["SET", "t", "v"]);
    r.cmd(&["DEBUG", "SLEEP", "0"]);
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(r.cmd(&["CLIENT", "NO-TOUCH", "on"]), "+OK\r\n");
    // every read, whatever its family, leaves the access time alone...
    for read in [
        &["GET", "k"][..],
        &["GETRANGE", "k", "0", "-1"],
        &["STRLEN", "k"],
        &["HGET", "h", "f"],
        &["HGETALL", "h"],
        &["LRANGE", "l", "0", "-1"],
        &["LINDEX", "l", "0"],
        &["EXISTS", "k"],
    ] {
        r.cmd(read);
    }
    for key in ["k", "h", "l"] {
        let idle: u64 = r.cmd(&["OBJECT", "IDLETIME", key]).trim_start_matches(':').trim().parse().unwrap();
        assert!(idle >= 2, "NO-TOUCH read of {key} reset idle time to {idle}");
    }
    // ...but TOUCH is what it says, as in Redis
    r.cmd(&["TOUCH", "t"]);
    assert_eq!(r.cmd(&["OBJECT", "IDLETIME", "t"]), ":0\r\n", "TOUCH is exempt from NO-TOUCH");
    assert_eq!(r.cmd(&["CLIENT", "NO-TOUCH", "off"]), "+OK\r\n");
    r.cmd(&["GET", "k"]);
    assert_eq!(r.cmd(&["OBJECT", "IDLETIME", "k"]), ":0\r\n");
}

#[test]
fn maxclients_and_timeout() {
    if against_redis() {
        return; // the harness's readiness probes count against redis-server's maxclients
    }
    let s = TestServer::start(&["--maxclients", "2", "--timeout", "1"]);
    let mut a = s.raw();
    let mut b = s.raw();
    a.cmd(&["PING"]);
    b.cmd(&["PING"]);
    let mut c = Raw::connect(s.port);
    assert_eq!(c.read_reply(), "-ERR max number of clients reached\r\n");
    // idle clients are closed after `timeout` seconds
    std::thread::sleep(Duration::from_millis(2500));
    assert!(a.is_closed());
    assert!(b.is_closed());
    let mut d = s.raw();
    assert_eq!(d.cmd(&["PING"]), "+PONG\r\n");
}

#[test]
fn nul_bytes_in_inline_requests() {
    let s = TestServer::start(&[]);
    let pid = (!against_redis()).then(|| s.pid());
    common::nul_lines_are_harmless(&s, pid);
}

/// Protected mode as in Redis 7.0: without a password only loopback
/// clients are served; a client from another host gets Redis's DENIED text
/// and the connection closes. With a password, or protected-mode no, it is
/// served. Checked from a second network namespace.
#[test]
fn protected_mode_refuses_other_hosts_without_a_password() {
    let other = common::OtherHost::create();
    let bind = format!("127.0.0.1 {}", other.our_addr);
    let open = TestServer::start(&["--bind", &bind]);
    let denied = other.exchange(open.port, b"PING\r\n");
    let text = String::from_utf8_lossy(&denied);
    assert!(
        text.starts_with("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user."),
        "{text}"
    );
    assert!(text.ends_with("accepting connections from the outside.\r\n"), "{text}");
    assert_eq!(open.raw().cmd(&["PING"]), "+PONG\r\n", "loopback stays open");
    let protected = TestServer::start(&["--bind", &bind, "--requirepass", "pw"]);
    assert_eq!(other.exchange(protected.port, b"AUTH pw\r\nPING\r\nQUIT\r\n"), b"+OK\r\n+PONG\r\n+OK\r\n");
    let off = TestServer::start(&["--bind", &bind, "--protected-mode", "no"]);
    assert_eq!(other.exchange(off.port, b"PING\r\nQUIT\r\n"), b"+PONG\r\n+OK\r\n");
    if !against_redis() {
        // byte for byte what redis-server 7.0.15 sends
        let redis = TestServer::start_redis_server(&["--bind", &bind]);
        assert_eq!(other.exchange(redis.port, b"PING\r\n"), denied);
    }
}

/// CLIENT LIST tells the truth about each connection: its real descriptor,
/// a partial request waiting in its query buffer, and replies a client that
/// does not read leaves queued (omem), all counted in tot-mem.
#[test]
fn client_list_shows_buffers_and_descriptors() {
    if against_redis() {
        return; // redis-server's figures differ in detail (its buffer sizes)
    }
    let s = TestServer::start(&[]);
    let mut admin = s.raw();
    admin.cmd(&["SET", "big", &"v".repeat(1 << 20)]);
    let mut partial = s.raw();
    partial.cmd(&["CLIENT", "SETNAME", "partial"]);
    partial.send_bytes(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nhalf");
    let mut stuck = s.raw();
    stuck.cmd(&["CLIENT", "SETNAME", "stuck"]);
    let mut pipeline = Vec::new();
    for _ in 0..20 {
        pipeline.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
    }
    stuck.send_bytes(&pipeline); // and never reads
    let field = |line: &str, name: &str| -> u64 {
        line.split_whitespace().find_map(|f| f.strip_prefix(&format!("{name}="))).unwrap_or_else(|| panic!("{name} in {line}")).parse().unwrap()
    };
    let mut seen = (false, false);
    for _ in 0..100 {
        let list = admin.cmd(&["CLIENT", "LIST"]);
        let line = |name: &str| list.lines().find(|l| l.contains(&format!("name={name} "))).unwrap().to_string();
        let (p, st) = (line("partial"), line("stuck"));
        assert!(field(&p, "fd") > 2 && field(&p, "fd") != field(&st, "fd"));
        seen.0 = field(&p, "qbuf") > 0 && field(&p, "tot-mem") >= field(&p, "qbuf");
        seen.1 = field(&st, "omem") > 0 && field(&st, "tot-mem") > field(&st, "omem");
        if seen.0 && seen.1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(seen.0, "the partial request was not shown in qbuf");
    assert!(seen.1, "the unread replies were not shown in omem");
    assert_eq!(admin.cmd(&["PING"]), "+PONG\r\n");
}
