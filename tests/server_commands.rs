//! Server commands: INFO, CONFIG, COMMAND, FLUSH*, TIME, FUNCTION, SHUTDOWN.

mod common;
use common::{TestServer, against_redis};
use std::collections::HashMap;
use std::time::Duration;

fn info_fields(text: &str) -> HashMap<String, String> {
    text.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_string(), v.trim().to_string())).collect()
}

#[test]
fn info_sections_and_fields() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    let _: () = redis::cmd("SET").arg("k").arg("v").arg("EX").arg(100).query(&mut c).unwrap();
    let _: Option<String> = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    let _: Option<String> = redis::cmd("GET").arg("nokey").query(&mut c).unwrap();
    let all: String = redis::cmd("INFO").query(&mut c).unwrap();
    for section in ["# Server", "# Clients", "# Memory", "# Persistence", "# Stats", "# Replication", "# CPU", "# Keyspace"] {
        assert!(all.contains(section), "INFO lacks {section}");
    }
    assert!(!all.contains("# Commandstats"), "commandstats is not a default section");
    let f = info_fields(&all);
    for field in [
        "redis_version",
        "redis_mode",
        "process_id",
        "run_id",
        "tcp_port",
        "uptime_in_seconds",
        "connected_clients",
        "maxclients",
        "used_memory",
        "used_memory_human",
        "used_memory_rss",
        "maxmemory",
        "maxmemory_policy",
        "total_connections_received",
        "total_commands_processed",
        "keyspace_hits",
        "keyspace_misses",
        "expired_keys",
        "evicted_keys",
        "role",
        "used_cpu_sys",
        "used_cpu_user",
    ] {
        assert!(f.contains_key(field), "INFO lacks {field}");
    }
    assert_eq!(f["tcp_port"], s.port.to_string());
    let (used, peak): (u64, u64) = (f["used_memory"].parse().unwrap(), f["used_memory_peak"].parse().unwrap());
    assert!(peak >= used && used > 0, "used {used} peak {peak}");
    assert_eq!(f["keyspace_hits"], "1");
    assert_eq!(f["keyspace_misses"], "1");
    assert!(f["db0"].starts_with("keys=1,expires=1,"));
    let stats: String = redis::cmd("INFO").arg("commandstats").query(&mut c).unwrap();
    let f = info_fields(&stats);
    assert!(f["cmdstat_get"].starts_with("calls=2,usec="), "{stats}");
    assert!(f["cmdstat_set"].contains("rejected_calls=0,failed_calls=0"), "{stats}");
    let two: String = redis::cmd("INFO").arg("memory").arg("clients").query(&mut c).unwrap();
    assert!(two.contains("# Memory") && two.contains("# Clients") && !two.contains("# Server"));
    let everything: String = redis::cmd("INFO").arg("everything").query(&mut c).unwrap();
    assert!(everything.contains("# Commandstats"));
    // CONFIG RESETSTAT clears the counters
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
    let stats: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    assert_eq!(info_fields(&stats)["keyspace_hits"], "0");
}

#[test]
fn config_get_set() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    for name in ["maxmemory", "maxmemory-policy", "maxmemory-samples", "requirepass", "timeout", "maxclients", "proto-max-bulk-len", "save", "appendonly"] {
        let reply = r.cmd(&["CONFIG", "GET", name]);
        assert!(reply.starts_with("*2\r\n"), "CONFIG GET {name}: {reply}");
    }
    assert_eq!(r.cmd(&["CONFIG", "GET", "nosuch"]), "*0\r\n");
    assert_eq!(r.cmd(&["CONFIG", "SET", "maxmemory", "10mb"]), "+OK\r\n");
    assert_eq!(r.cmd(&["CONFIG", "GET", "maxmemory"]), "*2\r\n$9\r\nmaxmemory\r\n$8\r\n10485760\r\n");
    assert_eq!(r.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]), "+OK\r\n");
    assert_eq!(r.cmd(&["CONFIG", "GET", "maxmemory-policy"]), "*2\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lru\r\n");
    assert_eq!(r.cmd(&["CONFIG", "SET", "maxmemory", "0"]), "+OK\r\n");
    assert_eq!(r.cmd(&["CONFIG", "SET", "save", ""]), "+OK\r\n");
    assert_eq!(r.cmd(&["CONFIG", "SET", "appendonly", "no"]), "+OK\r\n");
    assert_eq!(r.cmd(&["CONFIG", "SET", "foo", "bar"]), "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n");
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "maxmemory", "lots"]),
        "-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value\r\n"
    );
    assert_eq!(r.cmd(&["CONFIG", "SET", "maxmemory"]), "-ERR wrong number of arguments for 'config|set' command\r\n");
    // patterns, several at once
    let reply = r.cmd(&["CONFIG", "GET", "maxmemory*"]);
    assert!(reply.contains("maxmemory-policy") && reply.contains("maxmemory-samples"), "{reply}");
    let reply = r.cmd(&["CONFIG", "GET", "timeout", "maxclients"]);
    assert!(reply.starts_with("*4\r\n"), "{reply}");
    // requirepass set at run time applies to new connections
    assert_eq!(r.cmd(&["CONFIG", "SET", "requirepass", "pw"]), "+OK\r\n");
    let mut fresh = s.raw();
    assert_eq!(fresh.cmd(&["GET", "x"]), "-NOAUTH Authentication required.\r\n");
    assert_eq!(r.cmd(&["CONFIG", "SET", "requirepass", ""]), "+OK\r\n");
}

/// Like redis-server, any setting can be given on the command line as
/// `--name value`; an unknown one stops the server at startup.
#[test]
fn settings_on_the_command_line() {
    let s = TestServer::start(&["--busy-reply-threshold", "150", "--hz", "20", "--maxmemory", "5mb"]);
    let mut r = s.raw();
    assert_eq!(r.cmd(&["CONFIG", "GET", "busy-reply-threshold"]), "*2\r\n$20\r\nbusy-reply-threshold\r\n$3\r\n150\r\n");
    assert_eq!(r.cmd(&["CONFIG", "GET", "hz"]), "*2\r\n$2\r\nhz\r\n$2\r\n20\r\n");
    assert_eq!(r.cmd(&["CONFIG", "GET", "maxmemory"]), "*2\r\n$9\r\nmaxmemory\r\n$7\r\n5242880\r\n");
    if !common::against_redis() {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_shardis")).args(["server", "--port", "0", "--nosuch-setting", "1"]).output().unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("nosuch-setting"), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn command_introspection() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut c).unwrap();
    assert!(count > 50);
    let all: Vec<redis::Value> = redis::cmd("COMMAND").query(&mut c).unwrap();
    assert_eq!(all.len() as i64, count);
    let mut r = s.raw();
    let get = r.cmd(&["COMMAND", "INFO", "get"]);
    assert!(get.starts_with("*1\r\n*10\r\n$3\r\nget\r\n:2\r\n"), "{get}");
    assert!(get.contains("+readonly\r\n") && get.contains("+fast\r\n"), "{get}");
    let mset = r.cmd(&["COMMAND", "INFO", "mset", "nosuch"]);
    assert!(mset.contains("$4\r\nmset\r\n:-3\r\n") && mset.ends_with("$-1\r\n"), "{mset}");
    assert_eq!(r.cmd(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]), "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    assert_eq!(r.cmd(&["COMMAND", "GETKEYS", "GET", "k"]), "*1\r\n$1\r\nk\r\n");
    assert_eq!(r.cmd(&["COMMAND", "GETKEYS", "NOSUCH", "k"]), "-ERR Invalid command specified\r\n");
    assert_eq!(r.cmd(&["COMMAND", "GETKEYS", "GET", "a", "b"]), "-ERR Invalid number of arguments specified for command\r\n");
    let names: Vec<String> = redis::cmd("COMMAND").arg("LIST").query(&mut c).unwrap();
    assert!(names.contains(&"get".to_string()) && names.contains(&"config|get".to_string()));
    let names: Vec<String> = redis::cmd("COMMAND").arg("LIST").arg("FILTERBY").arg("PATTERN").arg("get*").query(&mut c).unwrap();
    assert!(names.iter().all(|n| n.starts_with("get")) && names.contains(&"getrange".to_string()));
    let docs = r.cmd(&["COMMAND", "DOCS", "get"]);
    assert!(docs.starts_with("*2\r\n$3\r\nget\r\n") && docs.contains("summary"), "{docs}");
    let mut r3 = s.raw();
    r3.cmd(&["HELLO", "3"]);
    let docs = r3.cmd(&["COMMAND", "DOCS", "set"]);
    assert!(docs.starts_with("%1\r\n$3\r\nset\r\n%"), "{docs}");
}

#[test]
fn flush_time_and_harness_commands() {
    let s = TestServer::start(&["--enable-debug-command", "local"]);
    let mut r = s.raw();
    r.cmd(&["SET", "a", "1"]);
    r.cmd(&["SELECT", "1"]);
    r.cmd(&["SET", "b", "1"]);
    assert_eq!(r.cmd(&["FLUSHDB"]), "+OK\r\n");
    assert_eq!(r.cmd(&["DBSIZE"]), ":0\r\n");
    r.cmd(&["SELECT", "0"]);
    assert_eq!(r.cmd(&["DBSIZE"]), ":1\r\n");
    assert_eq!(r.cmd(&["FLUSHALL", "ASYNC"]), "+OK\r\n");
    assert_eq!(r.cmd(&["DBSIZE"]), ":0\r\n");
    r.cmd(&["SET", "a", "1"]);
    assert_eq!(r.cmd(&["FLUSHALL", "SYNC"]), "+OK\r\n");
    assert_eq!(r.cmd(&["DBSIZE"]), ":0\r\n");
    assert_eq!(r.cmd(&["FLUSHALL", "LATER"]), "-ERR syntax error\r\n");
    let time = r.cmd(&["TIME"]);
    let parts: Vec<&str> = time.split("\r\n").collect();
    let secs: u64 = parts[2].parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(secs.abs_diff(now) <= 2);
    assert!(r.cmd(&["LASTSAVE"]).starts_with(':'));
    assert_eq!(r.cmd(&["FUNCTION", "FLUSH"]), "+OK\r\n");
    assert_eq!(r.cmd(&["FUNCTION", "LIST"]), "*0\r\n");
    assert_eq!(r.cmd(&["DEBUG", "SLEEP", "0"]), "+OK\r\n");
}

#[test]
fn shutdown_command_stops_the_server() {
    let mut s = TestServer::start(&[]);
    let mut other = s.raw();
    other.cmd(&["PING"]);
    let mut r = s.raw();
    r.send(&["SHUTDOWN", "NOSAVE"]);
    assert!(r.is_closed());
    assert!(other.is_closed());
    let status = s.wait_exit(Duration::from_secs(10)).expect("server did not exit");
    if !against_redis() {
        assert!(status.success(), "{status:?}");
    }
}

#[test]
fn sigterm_shuts_down_gracefully() {
    if against_redis() {
        return;
    }
    let mut s = TestServer::start(&[]);
    let mut r = s.raw();
    r.cmd(&["SET", "k", "v"]);
    let pid = s.pid().to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(r.is_closed());
    let status = s.wait_exit(Duration::from_secs(10)).expect("server did not exit on SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[test]
fn config_file_then_flags() {
    if against_redis() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("shardis-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("node.conf");
    std::fs::write(&path, "# a redis.conf-style file\nmaxmemory 5mb\nmaxmemory-policy volatile-ttl\ntimeout 30\nsave \"\"\n").unwrap();
    let s = TestServer::start(&[path.to_str().unwrap(), "--timeout", "40"]);
    let mut r = s.raw();
    assert_eq!(r.cmd(&["CONFIG", "GET", "maxmemory"]), "*2\r\n$9\r\nmaxmemory\r\n$7\r\n5242880\r\n");
    assert_eq!(r.cmd(&["CONFIG", "GET", "maxmemory-policy"]), "*2\r\n$16\r\nmaxmemory-policy\r\n$12\r\nvolatile-ttl\r\n");
    // flags override the file
    assert_eq!(r.cmd(&["CONFIG", "GET", "timeout"]), "*2\r\n$7\r\ntimeout\r\n$2\r\n40\r\n");
    // a bad file stops the server with an error instead of starting
    std::fs::write(&path, "maxmemory lots\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shardis")).args(["server", path.to_str().unwrap(), "--port", "0"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("maxmemory"), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

/// MONITOR shows every command as Redis does: after it ran (a transaction's
/// commands at EXEC, before EXEC), scripts before their own calls (as
/// `lua`), the database after the command, quoted as `sdscatrepr`, secrets
/// redacted, admin and refused commands left out; RESET ends it.
#[test]
fn monitor() {
    let s = TestServer::start(&[]);
    let mut m = s.raw();
    assert_eq!(m.cmd(&["MONITOR"]), "+OK\r\n");
    let mut c = s.raw();
    let commands: Vec<Vec<&str>> = vec![
        vec!["SET", "k", "a\"b"],
        vec!["GET", "k"],
        vec!["MULTI"],
        vec!["INCR", "n"],
        vec!["EXEC"],
        vec!["CONFIG", "GET", "hz"],
        vec!["AUTH", "secret"],
        vec!["SELECT", "2"],
        vec!["GET", "\u{1}\n\\x"],
        vec!["EVAL", "return redis.call('get', 'k')", "0"],
        vec!["NOSUCH"],
        vec!["PING"],
    ];
    for cmd in &commands {
        c.cmd(cmd);
    }
    // (CLIENT LIST is an admin command: not shown)
    let list = c.cmd(&["CLIENT", "LIST"]);
    assert!(list.lines().any(|l| l.contains(" flags=O ") && l.contains(" cmd=monitor ")), "{list}");
    let addr = {
        let list = c.cmd(&["CLIENT", "INFO"]);
        let start = list.find("addr=").unwrap() + 5;
        list[start..].split(' ').next().unwrap().to_string()
    };
    let expect = [
        "[0 ADDR] \"SET\" \"k\" \"a\\\"b\"",
        "[0 ADDR] \"GET\" \"k\"",
        "[0 ADDR] \"MULTI\"",
        "[0 ADDR] \"INCR\" \"n\"",
        "[0 ADDR] \"EXEC\"",
        "[0 ADDR] \"AUTH\" \"(redacted)\"",
        "[2 ADDR] \"SELECT\" \"2\"",
        "[2 ADDR] \"GET\" \"\\x01\\n\\\\x\"",
        "[2 ADDR] \"EVAL\" \"return redis.call('get', 'k')\" \"0\"",
        "[2 lua] \"get\" \"k\"",
        "[2 ADDR] \"PING\"",
        "[2 ADDR] \"CLIENT\" \"INFO\"",
    ];
    for want in expect {
        let line = m.read_reply();
        // "+<seconds>.<microseconds> " then the rest
        let (stamp, rest) = line.trim_end().split_once(' ').unwrap();
        let (secs, micros) = stamp.trim_start_matches('+').split_once('.').unwrap();
        assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{line}");
        assert_eq!(rest.replace(&addr, "ADDR"), want);
    }
    // the monitoring client can still talk; RESET ends monitor mode
    assert_eq!(m.cmd(&["PING"]), "+PONG\r\n");
    assert!(m.read_reply().ends_with("\"PING\"\r\n"));
    assert_eq!(m.cmd(&["RESET"]), "+RESET\r\n");
    c.cmd(&["GET", "k"]);
    assert_eq!(m.try_read_reply(std::time::Duration::from_millis(200)), None);
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("shardis-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Debian's stock redis.conf loads as it is (its daemonize, pidfile,
/// logfile and dir overridden on the command line, as a test must), with
/// `bind 127.0.0.1 -::1` honoured; the node names the file in INFO.
#[test]
fn debian_redis_conf_loads() {
    let stock = std::path::Path::new("/etc/redis/redis.conf");
    assert!(stock.exists(), "redis-server's package installs {}", stock.display());
    let dir = scratch_dir("stock");
    let pid = dir.join("pid");
    let s =
        TestServer::start(&[stock.to_str().unwrap(), "--daemonize", "no", "--logfile", "", "--pidfile", pid.to_str().unwrap(), "--dir", dir.to_str().unwrap()]);
    let mut r = s.raw();
    let info = info_fields(&r.cmd(&["INFO", "server"]));
    if !against_redis() {
        assert_eq!(info["config_file"], "/etc/redis/redis.conf");
        assert_eq!(std::fs::read_to_string(&pid).unwrap().trim(), info["process_id"]);
    }
    assert_eq!(r.cmd(&["CONFIG", "GET", "bind"]), "*2\r\n$4\r\nbind\r\n$14\r\n127.0.0.1 -::1\r\n");
    assert_eq!(r.cmd(&["CONFIG", "GET", "dir"]), format!("*2\r\n$3\r\ndir\r\n${}\r\n{}\r\n", dir.to_str().unwrap().len(), dir.to_str().unwrap()));
    assert_eq!(r.cmd(&["SET", "k", "v"]), "+OK\r\n");
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
}

/// A bad directive stops startup with redis-server's report.
#[test]
fn bad_config_file_is_a_fatal_error() {
    let dir = scratch_dir("badconf");
    let conf = dir.join("bad.conf");
    for (text, line, reason) in [
        ("port 0\nfoo bar\n", "Reading the configuration file, at line 2\n>>> 'foo bar'\nBad directive or wrong number of arguments", "unknown"),
        (
            "maxmemory-policy foo\n",
            "Reading the configuration file, at line 1\n>>> 'maxmemory-policy foo'\nargument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
            "value",
        ),
        ("port\n", "Reading the configuration file, at line 1\n>>> 'port'\nwrong number of arguments", "arity"),
    ] {
        std::fs::write(&conf, text).unwrap();
        let bin = if against_redis() { "redis-server".to_string() } else { env!("CARGO_BIN_EXE_shardis").to_string() };
        let mut cmd = std::process::Command::new(&bin);
        if !against_redis() {
            cmd.arg("server");
        }
        let out = cmd.arg(&conf).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{reason}");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
        assert!(stderr.contains("*** FATAL CONFIG FILE ERROR ("), "{reason}: {stderr}");
        assert!(stderr.contains(line), "{reason}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// CONFIG REWRITE keeps the file's comments and lines, rewrites the
/// settings it has, appends the changed ones; a restart reads them back.
/// Persistence settings are validated; save points survive a rewrite.
#[test]
fn config_rewrite_and_persistence_refusals() {
    if against_redis() {
        return; // redis-server writes its own full rewrite; the file shape differs
    }
    let dir = scratch_dir("rewrite");
    let conf = dir.join("node.conf");
    std::fs::write(&conf, "# my settings\nmaxmemory 10mb\nmaxmemory 11mb\nsave 3600 1\n").unwrap();
    let s = TestServer::start(&[conf.to_str().unwrap()]);
    let mut r = s.raw();
    assert_eq!(r.cmd(&["CONFIG", "SET", "maxmemory", "20mb"]), "+OK\r\n");
    assert_eq!(r.cmd(&["CONFIG", "SET", "timeout", "7"]), "+OK\r\n");
    assert_eq!(r.cmd(&["CONFIG", "REWRITE"]), "+OK\r\n");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.starts_with("# my settings\nmaxmemory 20971520\n"), "{text}");
    assert_eq!(text.matches("maxmemory ").count(), 1, "{text}");
    assert!(text.contains("# Generated by CONFIG REWRITE\n") && text.contains("\ntimeout 7\n"), "{text}");
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "appendfsync", "sometimes"]),
        "-ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must be one of the following: always, everysec, no\r\n"
    );
    assert_eq!(r.cmd(&["CONFIG", "SET", "appendonly", "no"]), "+OK\r\n");
    // save points are real: set, saved by REWRITE, read back
    assert_eq!(r.cmd(&["CONFIG", "SET", "save", "900 1 30 5"]), "+OK\r\n");
    assert_eq!(r.cmd(&["CONFIG", "REWRITE"]), "+OK\r\n");
    assert_eq!(r.cmd(&["SAVE"]), "+OK\r\n");
    drop(s);
    let again = TestServer::start(&[conf.to_str().unwrap()]);
    let mut r = again.raw();
    assert_eq!(r.cmd(&["CONFIG", "GET", "maxmemory"]), "*2\r\n$9\r\nmaxmemory\r\n$8\r\n20971520\r\n");
    assert_eq!(r.cmd(&["CONFIG", "GET", "timeout"]), "*2\r\n$7\r\ntimeout\r\n$1\r\n7\r\n");
    assert_eq!(r.cmd(&["CONFIG", "GET", "save"]), "*2\r\n$4\r\nsave\r\n$10\r\n900 1 30 5\r\n");
    let _ = std::fs::remove_dir_all(dir);
}

/// `daemonize yes`: the command returns at once, the node runs on in the
/// background, writes its pid file and log file, and removes the pid file
/// when it shuts down.
#[test]
fn daemonize_pidfile_logfile() {
    if against_redis() {
        return;
    }
    let dir = scratch_dir("daemon");
    let (pid, log) = (dir.join("node.pid"), dir.join("node.log"));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_shardis"))
        .args(["server", "--port", &port.to_string(), "--daemonize", "yes", "--pidfile", pid.to_str().unwrap(), "--logfile", log.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut up = None;
    for _ in 0..100 {
        if let Ok(c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            up = Some(c);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(up.is_some(), "the daemon never listened");
    let mut r = common::Raw::connect(port);
    let info = info_fields(&r.cmd(&["INFO", "server"]));
    assert_eq!(std::fs::read_to_string(&pid).unwrap().trim(), info["process_id"]);
    r.send(&["SHUTDOWN", "NOSAVE"]);
    assert!(r.is_closed());
    for _ in 0..100 {
        if !pid.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!pid.exists(), "the pid file outlived the node");
    assert!(std::fs::read_to_string(&log).unwrap().contains("ready to accept connections"));
    let _ = std::fs::remove_dir_all(dir);
}

/// SLOWLOG as Redis 7.0 keeps it: every command at threshold 0, newest
/// first, 32 arguments at most, arguments cut at 128 bytes, AUTH redacted,
/// client address and name, the length bound, the error texts; none with a
/// negative threshold. The same test passes against redis-server.
#[test]
fn slowlog_as_redis() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.cmd(&["SLOWLOG", "LEN"]), ":0\r\n");
    assert_eq!(r.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]), "+OK\r\n");
    assert_eq!(r.cmd(&["SLOWLOG", "RESET"]), "+OK\r\n");
    r.cmd(&["CLIENT", "SETNAME", "probe"]);
    let long = "x".repeat(200);
    r.cmd(&["SET", "k", &long]);
    let mut many = vec!["DEL"];
    let names: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    many.extend(names.iter().map(String::as_str));
    r.cmd(&many);
    r.cmd(&["AUTH", "nosuch-password"]);
    let got = r.cmd(&["SLOWLOG", "GET", "3"]);
    let addr = r.stream.local_addr().unwrap().to_string();
    let entry = |args: &[String]| {
        let mut e = format!("*{}\r\n", args.len());
        for a in args {
            e.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        e
    };
    // newest first: AUTH (redacted), DEL (32 shown), SET (cut)
    let auth = entry(&["AUTH".into(), "(redacted)".into()]);
    let mut del: Vec<String> = vec!["DEL".into()];
    del.extend(names[..30].iter().cloned());
    del.push("... (10 more arguments)".into());
    let set = entry(&["SET".into(), "k".into(), format!("{}... (72 more bytes)", "x".repeat(128))]);
    let tail = format!("${}\r\n{addr}\r\n$5\r\nprobe\r\n", addr.len());
    for (i, e) in [auth, entry(&del), set].iter().enumerate() {
        let wanted = format!("{e}{tail}");
        assert!(got.contains(&wanted), "entry {i} {wanted:?} not in {got:?}");
    }
    assert!(got.starts_with("*3\r\n*6\r\n:"), "{got}");
    assert_eq!(r.cmd(&["SLOWLOG", "GET", "-2"]), "-ERR count should be greater than or equal to -1\r\n");
    assert_eq!(r.cmd(&["SLOWLOG", "LEN", "1"]), "-ERR wrong number of arguments for 'slowlog|len' command\r\n");
    assert_eq!(r.cmd(&["SLOWLOG", "FOO"]), "-ERR unknown subcommand 'FOO'. Try SLOWLOG HELP.\r\n");
    assert!(r.cmd(&["SLOWLOG", "HELP"]).ends_with("+HELP\r\n+    Prints this help.\r\n"));
    // bounded by slowlog-max-len
    r.cmd(&["CONFIG", "SET", "slowlog-max-len", "5"]);
    for _ in 0..20 {
        r.cmd(&["PING"]);
    }
    assert_eq!(r.cmd(&["SLOWLOG", "LEN"]), ":5\r\n");
    // a negative threshold logs nothing
    r.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    r.cmd(&["SLOWLOG", "RESET"]);
    r.cmd(&["PING"]);
    assert_eq!(r.cmd(&["SLOWLOG", "LEN"]), ":0\r\n");
}

/// DEBUG is off unless enabled at startup, `dir` and `dbfilename` are
/// protected, and startup-only settings refuse CONFIG SET: a hostile client
/// can neither stall a thread with DEBUG SLEEP nor point the server's files
/// elsewhere. The same against redis-server.
#[test]
fn debug_and_protected_configs_are_off_by_default() {
    let refused = "-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.\r\n";
    for redis in [false, true] {
        let start = |args: &[&str]| if redis { TestServer::start_redis_server(args) } else { TestServer::start(args) };
        let s = start(&["--enable-debug-command", "no", "--requirepass", "pw"]);
        let mut r = s.raw();
        // refused before authentication is asked for, as Redis does
        assert_eq!(r.cmd(&["DEBUG", "SLEEP", "1000"]), refused, "redis={redis}");
        assert_eq!(r.cmd(&["AUTH", "pw"]), "+OK\r\n");
        assert_eq!(r.cmd(&["DEBUG", "SLEEP", "1000"]), refused);
        // inside MULTI the refusal dooms the transaction
        assert_eq!(r.cmd(&["MULTI"]), "+OK\r\n");
        assert_eq!(r.cmd(&["DEBUG", "SLEEP", "0"]), refused);
        assert!(r.cmd(&["EXEC"]).starts_with("-EXECABORT"));
        for (name, value, why) in [
            ("enable-debug-command", "yes", "immutable"),
            ("databases", "32", "immutable"),
            ("daemonize", "yes", "immutable"),
            ("dir", "/tmp", "protected"),
            ("dbfilename", "x.rdb", "protected"),
        ] {
            assert_eq!(
                r.cmd(&["CONFIG", "SET", name, value]),
                format!("-ERR CONFIG SET failed (possibly related to argument '{name}') - can't set {why} config\r\n"),
                "redis={redis}"
            );
        }
        assert_eq!(r.cmd(&["CONFIG", "GET", "enable-debug-command"]), "*2\r\n$20\r\nenable-debug-command\r\n$2\r\nno\r\n");
        assert_eq!(r.cmd(&["CONFIG", "GET", "databases"]), "*2\r\n$9\r\ndatabases\r\n$2\r\n16\r\n");
        drop(s);
        // enabled for local clients (the tests connect over 127.0.0.1)
        let s = start(&["--enable-debug-command", "local", "--enable-protected-configs", "yes"]);
        let mut r = s.raw();
        assert_eq!(r.cmd(&["DEBUG", "SLEEP", "0"]), "+OK\r\n", "redis={redis}");
        assert_eq!(r.cmd(&["CONFIG", "GET", "enable-debug-command"]), "*2\r\n$20\r\nenable-debug-command\r\n$5\r\nlocal\r\n");
        let cwd = std::env::current_dir().unwrap();
        let dir = cwd.to_str().unwrap();
        assert_eq!(r.cmd(&["CONFIG", "SET", "dir", dir]), "+OK\r\n");
        // an unknown mode stops startup in both
        let bad = std::process::Command::new(if redis { "redis-server" } else { env!("CARGO_BIN_EXE_shardis") })
            .args(if redis { vec!["--port", "0", "--enable-debug-command", "maybe"] } else { vec!["server", "--port", "0", "--enable-debug-command", "maybe"] })
            .output()
            .unwrap();
        assert!(!bad.status.success(), "redis={redis}");
    }
}

/// COMMAND INFO lists a command's flags in Redis 7.0's order (its
/// `flagNames`), byte for byte where shardis has the same flags.
#[test]
fn command_info_flags_come_in_redis_order() {
    if against_redis() {
        return;
    }
    let ours = TestServer::start(&[]);
    let redis = TestServer::start_redis_server(&[]);
    let flags = |s: &TestServer, name: &str| -> String {
        let reply = s.raw().cmd(&["COMMAND", "INFO", name]);
        // *1, *10 (or more), name, arity, then the flags' set/array
        let at = reply.find("\r\n:").expect("arity");
        let rest = &reply[at + 3..];
        let after_arity = &rest[rest.find("\r\n").unwrap() + 2..];
        let n: usize = after_arity[1..after_arity.find("\r\n").unwrap()].parse().unwrap();
        after_arity.split("\r\n").skip(1).take(n).map(|f| f.trim_start_matches('+')).collect::<Vec<_>>().join(" ")
    };
    for name in ["get", "set", "ping", "subscribe", "blpop", "publish", "echo", "lpush", "save", "sync", "del", "multi", "bgsave"] {
        let (a, b) = (flags(&ours, name), flags(&redis, name));
        // flags shardis does not have (allow_busy, skip_slowlog, no_async_loading...) aside
        let known = ["write", "readonly", "denyoom", "admin", "pubsub", "noscript", "blocking", "loading", "stale", "fast", "no_auth", "no_multi"];
        let b: Vec<&str> = b.split(' ').filter(|f| known.contains(f)).collect();
        assert_eq!(a, b.join(" "), "COMMAND INFO {name} flags");
    }
}
