//! `redis-cli` against the real binary: single commands, `--pipe` mass
//! insertion, INFO, and the RESP3 mode. Needs `redis-cli` (Debian's
//! redis-tools), which `scripts/test` installs.

mod common;
use common::TestServer;
use std::io::Write;
use std::process::{Command, Stdio};

fn cli(s: &TestServer, args: &[&str]) -> String {
    let out = Command::new("redis-cli").args(["-p", &s.port.to_string()]).args(args).output().expect("redis-cli is installed (scripts/test installs it)");
    assert!(out.status.success(), "redis-cli {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn single_commands() {
    let s = TestServer::start(&[]);
    assert_eq!(cli(&s, &["set", "greeting", "hello", "EX", "60"]), "OK\n");
    assert_eq!(cli(&s, &["get", "greeting"]), "hello\n");
    assert_eq!(cli(&s, &["ttl", "greeting"]), "60\n");
    assert_eq!(cli(&s, &["incr", "n"]), "1\n");
    assert_eq!(cli(&s, &["get", "nokey"]), "\n");
    assert_eq!(cli(&s, &["mget", "greeting", "nokey", "n"]), "hello\n\n1\n");
    assert_eq!(cli(&s, &["foo", "x"]), "ERR unknown command 'foo', with args beginning with: 'x' \n\n");
    assert_eq!(cli(&s, &["get"]), "ERR wrong number of arguments for 'get' command\n\n");
    // a tty-less redis-cli prints raw; --no-raw shows the types
    assert_eq!(cli(&s, &["--no-raw", "get", "nokey"]), "(nil)\n");
    assert_eq!(cli(&s, &["--no-raw", "incr", "n"]), "(integer) 2\n");
    assert_eq!(cli(&s, &["-3", "--no-raw", "get", "nokey"]), "(nil)\n");
    assert_eq!(cli(&s, &["-n", "2", "set", "x", "1"]), "OK\n");
    assert_eq!(cli(&s, &["-n", "2", "dbsize"]), "1\n");
}

#[test]
fn info_through_redis_cli() {
    let s = TestServer::start(&[]);
    let info = cli(&s, &["info"]);
    assert!(info.contains("# Server") && info.contains("redis_version:") && info.contains("# Keyspace"), "{info}");
    let mem = cli(&s, &["info", "memory"]);
    assert!(mem.contains("used_memory:") && !mem.contains("# Server"), "{mem}");
}

#[test]
fn pipe_mass_insertion_of_100k_keys() {
    let s = TestServer::start(&[]);
    let mut input = Vec::with_capacity(100_000 * 50);
    for i in 0..100_000 {
        let (k, v) = (format!("key:{i}"), format!("value:{i}"));
        write!(input, "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n", k.len(), v.len()).unwrap();
    }
    let mut child = Command::new("redis-cli")
        .args(["-p", &s.port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("errors: 0, replies: 100000"), "{text}");
    assert_eq!(cli(&s, &["dbsize"]), "100000\n");
    assert_eq!(cli(&s, &["get", "key:99999"]), "value:99999\n");
}
