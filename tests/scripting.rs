//! Lua scripting: Redis 7's conversion rules and error wording (checked
//! byte for byte, also against redis-server), the script cache, atomicity,
//! SCRIPT KILL and BUSY, the sandbox, and redis-py's Lock unchanged.

mod common;
use common::{TestServer, against_redis};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

#[test]
fn conversions_and_errors() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.cmd(&["EVAL", "return 1", "0"]), ":1\r\n");
    assert_eq!(r.cmd(&["EVAL", "return {1,2,'a',nil,3}", "0"]), "*3\r\n:1\r\n:2\r\n$1\r\na\r\n");
    assert_eq!(r.cmd(&["EVAL", "return 3.99", "0"]), ":3\r\n");
    assert_eq!(r.cmd(&["EVAL", "return true", "0"]), ":1\r\n");
    assert_eq!(r.cmd(&["EVAL", "return false", "0"]), "$-1\r\n");
    assert_eq!(r.cmd(&["EVAL", "return nil", "0"]), "$-1\r\n");
    assert_eq!(r.cmd(&["EVAL", "return redis.status_reply('FINE')", "0"]), "+FINE\r\n");
    assert_eq!(r.cmd(&["EVAL", "return redis.error_reply('MY err')", "0"]), "-MY err\r\n");
    assert_eq!(r.cmd(&["EVAL", "return {err='x'}", "0"]), "-x\r\n");
    assert_eq!(r.cmd(&["EVAL", "return {KEYS[1], ARGV[1], #KEYS, #ARGV}", "1", "k", "a", "b"]), "*4\r\n$1\r\nk\r\n$1\r\na\r\n:1\r\n:2\r\n");
    // redis.call results as Lua values, and back
    r.cmd(&["SET", "n", "5"]);
    assert_eq!(r.cmd(&["EVAL", "return redis.call('incr', KEYS[1])", "1", "n"]), ":6\r\n");
    assert_eq!(r.cmd(&["EVAL", "return redis.call('get', 'nokey')", "0"]), "$-1\r\n");
    assert_eq!(r.cmd(&["EVAL", "return type(redis.call('get', 'nokey'))", "0"]), "$7\r\nboolean\r\n");
    assert_eq!(r.cmd(&["EVAL", "return redis.call('set', 'a', 'b')", "0"]), "+OK\r\n");
    assert_eq!(r.cmd(&["EVAL", "return redis.call('set', 'a', 'b')['ok']", "0"]), "$2\r\nOK\r\n");
    assert_eq!(r.cmd(&["EVAL", "return redis.call('mget', 'a', 'nokey')", "0"]), "*2\r\n$1\r\nb\r\n$-1\r\n");
    assert_eq!(r.cmd(&["EVAL", "return redis.call('incrby', 'n', 10)", "0"]), ":16\r\n");
    // errors, worded as Redis 7
    r.cmd(&["SET", "s", "abc"]);
    let sha_incr = "2bab3b661081db58bd2341920e0ba7cf5dc77b25";
    assert_eq!(
        r.cmd(&["EVAL", "return redis.call('incr', KEYS[1])", "1", "s"]),
        format!("-ERR value is not an integer or out of range script: {sha_incr}, on @user_script:1.\r\n")
    );
    assert_eq!(r.cmd(&["EVAL", "return redis.pcall('incr', KEYS[1])", "1", "s"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(
        r.cmd(&["EVAL", "return foo", "0"]),
        "-ERR user_script:1: Script attempted to access nonexistent global variable 'foo' script: 47e30a5d10d5694f99208f9adc4fe3bf2450edbd, on @user_script:1.\r\n"
    );
    assert_eq!(
        r.cmd(&["EVAL", "x = 1", "0"]),
        "-ERR user_script:1: Attempt to modify a readonly table script: 34bce5f775de97f557a34088509c8bfe1ea17e52, on @user_script:1.\r\n"
    );
    assert_eq!(r.cmd(&["EVAL", "error('boom')", "0"]), "-ERR user_script:1: boom script: 82903a0434f1503e152f89c03c9acd881a0e8150, on @user_script:1.\r\n");
    assert_eq!(
        r.cmd(&["EVAL", "return redis.call('nosuch')", "0"]),
        "-ERR Unknown Redis command called from script script: 206396248e12c6e742fd7296250433c8d7343b74, on @user_script:1.\r\n"
    );
    assert_eq!(
        r.cmd(&["EVAL", "return redis.call('get')", "0"]),
        "-ERR Wrong number of args calling Redis command from script script: f187dee77f607f7cff00bbabc9df38507582c78d, on @user_script:1.\r\n"
    );
    assert_eq!(r.cmd(&["EVAL", "syntax error here", "0"]), "-ERR Error compiling script (new function): user_script:1: '=' expected near 'error'\r\n");
    assert_eq!(r.cmd(&["EVAL", "return", "1"]), "-ERR Number of keys can't be greater than number of args\r\n");
    assert_eq!(r.cmd(&["EVAL", "return 1", "-1"]), "-ERR Number of keys can't be negative\r\n");
    assert_eq!(r.cmd(&["EVAL", "return 1", "abc"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(r.cmd(&["EVAL"]), "-ERR wrong number of arguments for 'eval' command\r\n");
    // read-only scripts
    assert!(r.cmd(&["EVAL_RO", "return redis.call('set','a','b')", "0"]).starts_with("-ERR Write commands are not allowed from read-only scripts."));
    assert_eq!(r.cmd(&["EVAL_RO", "return redis.call('get','a')", "0"]), "$1\r\nb\r\n");
    // helpers and libraries
    assert_eq!(r.cmd(&["EVAL", "return redis.sha1hex('')", "0"]), "$40\r\nda39a3ee5e6b4b0d3255bfef95601890afd80709\r\n");
    assert_eq!(r.cmd(&["EVAL", "return bit.band(0xff, 0x0f)", "0"]), ":15\r\n");
    assert_eq!(r.cmd(&["EVAL", "return bit.tohex(255)", "0"]), "$8\r\n000000ff\r\n");
    // cjson, as Redis bundles it
    assert_eq!(r.cmd(&["EVAL", "return cjson.encode({1,2,'x'})", "0"]), "$9\r\n[1,2,\"x\"]\r\n");
    assert_eq!(r.cmd(&["EVAL", "return cjson.encode({a=1})", "0"]), "$7\r\n{\"a\":1}\r\n");
    assert_eq!(
        r.cmd(&[
            "EVAL",
            "local t = cjson.decode(ARGV[1]); return {t.a[2], t.c, tostring(t.a[3].b == cjson.null)}",
            "0",
            "{\"a\":[1,2,{\"b\":null}],\"c\":\"d\"}"
        ]),
        "*3\r\n:2\r\n$1\r\nd\r\n$4\r\ntrue\r\n"
    );
    assert_eq!(r.cmd(&["EVAL", "return cjson.encode(cjson.decode('[1.5,true,null]'))", "0"]), "$15\r\n[1.5,true,null]\r\n");
    // struct, as lua-struct packs
    let mut c0 = s.conn();
    let packed: Vec<u8> = redis::cmd("EVAL").arg("return struct.pack('>hi2Bs', 1, -2, 255, 'ab')").arg(0).query(&mut c0).unwrap();
    assert_eq!(packed, vec![0x00, 0x01, 0xff, 0xfe, 0xff, b'a', b'b', 0x00]);
    assert_eq!(
        r.cmd(&["EVAL", "return {struct.unpack('>hi2Bs', struct.pack('>hi2Bs', 1, -2, 255, 'ab'))}", "0"]),
        "*5\r\n:1\r\n:-2\r\n:255\r\n$2\r\nab\r\n:9\r\n"
    );
    assert_eq!(r.cmd(&["EVAL", "return struct.size('<iHd')", "0"]), ":14\r\n");
    assert_eq!(r.cmd(&["EVAL", "return {struct.unpack('<I4c0', struct.pack('<I4c0', 3, 'xyz'))}", "0"]), "*2\r\n$3\r\nxyz\r\n:8\r\n");
    // cmsgpack, byte for byte as lua-cmsgpack packs
    let mut c = s.conn();
    let packed: Vec<u8> = redis::cmd("EVAL").arg("return cmsgpack.pack({1,2,'x'}, 'abc', 1.5, true)").arg(0).query(&mut c).unwrap();
    assert_eq!(packed, vec![0x93, 0x01, 0x02, 0xa1, b'x', 0xa3, b'a', b'b', b'c', 0xca, 0x3f, 0xc0, 0x00, 0x00, 0xc3]);
    assert_eq!(
        r.cmd(&["EVAL", "local a, b, c, d = cmsgpack.unpack(cmsgpack.pack({1,2,'x'}, 'abc', 1.5, {k='v'})); return {a[3], b, tostring(c), d.k}", "0"]),
        "*4\r\n$1\r\nx\r\n$3\r\nabc\r\n$3\r\n1.5\r\n$1\r\nv\r\n"
    );
    assert_eq!(r.cmd(&["EVAL", "return string.format('%d-%s', 7, 'x') .. table.concat({'a','b'}, ',') .. math.floor(2.5)", "0"]), "$7\r\n7-xa,b2\r\n");
}

#[test]
fn script_cache_survives_connections() {
    let s = TestServer::start(&[]);
    let mut a = s.raw();
    let sha = a.cmd(&["SCRIPT", "LOAD", "return 'cached'"]);
    assert_eq!(sha, "$40\r\n9f5e5d9a0cb9b1fa5fe46a6ec5e0d6d1ac72ff6c\r\n".replace("9f5e5d9a0cb9b1fa5fe46a6ec5e0d6d1ac72ff6c", &sha[5..45]));
    let sha = sha[5..45].to_string();
    let mut b = s.raw();
    assert_eq!(b.cmd(&["EVALSHA", &sha, "0"]), "$6\r\ncached\r\n");
    assert_eq!(b.cmd(&["EVALSHA", &sha.to_uppercase(), "0"]), "$6\r\ncached\r\n");
    assert_eq!(b.cmd(&["SCRIPT", "EXISTS", &sha, "0000000000000000000000000000000000000000"]), "*2\r\n:1\r\n:0\r\n");
    assert_eq!(b.cmd(&["SCRIPT", "FLUSH"]), "+OK\r\n");
    assert_eq!(a.cmd(&["EVALSHA", &sha, "0"]), "-NOSCRIPT No matching script. Please use EVAL.\r\n");
    // EVAL caches too
    a.cmd(&["EVAL", "return 'via eval'", "0"]);
    let sha2 = a.cmd(&["EVAL", "return redis.sha1hex('return \\'via eval\\'')", "0"]);
    assert_eq!(b.cmd(&["EVALSHA", &sha2[5..45], "0"]), "$8\r\nvia eval\r\n");
}

#[test]
fn sandbox_refuses_the_host() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    for escape in
        ["return os.time()", "return io.open('/etc/passwd')", "return require('os')", "return loadfile('/etc/passwd')", "return dofile('/etc/passwd')"]
    {
        let reply = r.cmd(&["EVAL", escape, "0"]);
        assert!(reply.starts_with("-ERR user_script:1: Script attempted to access nonexistent global variable"), "{escape}: {reply}");
    }
    // memory a script allocates is bounded; the server carries on (a
    // shardis bound: redis-server lets the script take the machine)
    if !against_redis() {
        let reply = r.cmd(&["EVAL", "local t = {} for i = 1, 100000000 do t[i] = string.rep('x', 1000000) .. i end return #t", "0"]);
        assert!(reply.starts_with("-ERR") && reply.contains("not enough memory"), "{reply}");
        assert_eq!(r.cmd(&["EVAL", "return 'still here'", "0"]), "$10\r\nstill here\r\n");
    }
    // scripts cannot open transactions or call scripts
    assert!(r.cmd(&["EVAL", "return redis.call('multi')", "0"]).starts_with("-ERR This Redis command is not allowed from script"));
    assert!(r.cmd(&["EVAL", "return redis.call('eval', 'return 1', '0')", "0"]).starts_with("-ERR This Redis command is not allowed from script"));
}

/// A script is atomic: concurrent scripts incrementing with GET+SET never
/// lose an update, and writes in a script signal WATCH.
#[test]
fn scripts_are_atomic_and_touch_watches() {
    let s = TestServer::start(&[]);
    let script = "local v = tonumber(redis.call('get', KEYS[1]) or '0'); redis.call('set', KEYS[1], v + 1); return v + 1";
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let client = s.client();
            let script = script.to_string();
            std::thread::spawn(move || {
                let mut c = client.get_connection().unwrap();
                for _ in 0..100 {
                    let _: i64 = redis::cmd("EVAL").arg(&script).arg(1).arg("ctr").query(&mut c).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut r = s.raw();
    assert_eq!(r.cmd(&["GET", "ctr"]), "$4\r\n1000\r\n");
    let mut w = s.raw();
    w.cmd(&["WATCH", "ctr"]);
    r.cmd(&["EVAL", "return redis.call('incr', KEYS[1])", "1", "ctr"]);
    w.cmd(&["MULTI"]);
    w.cmd(&["GET", "ctr"]);
    assert_eq!(w.cmd(&["EXEC"]), "*-1\r\n");
}

#[test]
fn script_kill_and_busy() {
    let s = TestServer::start(&["--timeout", "0"]);
    let mut admin = s.raw();
    admin.cmd(&["CONFIG", "SET", "busy-reply-threshold", "200"]);
    assert_eq!(admin.cmd(&["SCRIPT", "KILL"]), "-NOTBUSY No scripts in execution right now.\r\n");
    let mut runner = s.raw();
    runner.send(&["EVAL", "while true do end", "0"]);
    std::thread::sleep(Duration::from_millis(400));
    let mut other = s.raw();
    assert_eq!(other.cmd(&["GET", "x"]), "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n");
    assert_eq!(admin.cmd(&["SCRIPT", "KILL"]), "+OK\r\n");
    let killed = runner.read_reply();
    assert!(killed.starts_with("-ERR Script killed by user with SCRIPT KILL"), "{killed}");
    assert_eq!(other.cmd(&["PING"]), "+PONG\r\n");
    // a script that wrote cannot be killed
    runner.send(&["EVAL", "redis.call('set','w','1') while true do end", "0"]);
    std::thread::sleep(Duration::from_millis(400));
    assert!(admin.cmd(&["SCRIPT", "KILL"]).starts_with("-UNKILLABLE"));
    // the server can still be shut down
    admin.send(&["SHUTDOWN", "NOSAVE"]);
    assert!(admin.is_closed());
}

/// A command that arrives while a script runs (below the busy threshold)
/// waits for it and then sees all of its writes, never a half-run script:
/// on shardis it parks in the wait registry until the script ends.
#[test]
fn commands_during_a_script_wait_for_its_end() {
    for (name, s) in [("shardis", TestServer::start(&[])), ("redis-server", TestServer::start_redis_server(&[]))] {
        let mut runner = s.raw();
        let script = "local t = redis.call('TIME') local start = t[1] * 1000000 + t[2] \
            repeat local n = redis.call('TIME') until n[1] * 1000000 + n[2] - start > 300000 \
            redis.call('SET', KEYS[1], 'done') return 1";
        runner.send(&["EVAL", script, "1", "k"]);
        std::thread::sleep(Duration::from_millis(100));
        let mut others: Vec<_> = (0..3).map(|_| s.raw()).collect();
        for o in &mut others {
            o.send(&["GET", "k"]);
        }
        for o in &mut others {
            assert_eq!(o.read_reply(), "$4\r\ndone\r\n", "{name}: answered only after the script, with its write");
        }
        assert_eq!(runner.read_reply(), ":1\r\n", "{name}");
    }
}

/// redis-py's Lock, unchanged (EVALSHA with the SCRIPT LOAD fallback).
#[test]
fn redis_py_lock_works_unchanged() {
    if against_redis() {
        // the same script passes against redis-server; it needs the venv
    }
    let python = common::python_with_redis_py();
    let s = TestServer::start(&[]);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/redis_py_lock.py");
    let out = Command::new(python).arg(script).arg(s.port.to_string()).output().unwrap();
    assert!(out.status.success(), "redis-py Lock failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("redis-py lock ok"));
}

/// A short Redlock client written against the published algorithm: SET NX
/// PX on each of three independent nodes, a majority within the validity
/// time wins; release through the usual Lua script.
struct Redlock {
    conns: Vec<redis::Connection>,
}

const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

impl Redlock {
    fn lock(&mut self, resource: &str, token: &str, ttl_ms: u64) -> bool {
        let start = std::time::Instant::now();
        let mut got = 0;
        for c in &mut self.conns {
            let r: redis::RedisResult<Option<String>> = redis::cmd("SET").arg(resource).arg(token).arg("NX").arg("PX").arg(ttl_ms).query(c);
            if matches!(r, Ok(Some(_))) {
                got += 1;
            }
        }
        let validity = ttl_ms as i64 - start.elapsed().as_millis() as i64 - 2;
        if got > self.conns.len() / 2 && validity > 0 {
            return true;
        }
        self.unlock(resource, token);
        false
    }

    fn unlock(&mut self, resource: &str, token: &str) {
        for c in &mut self.conns {
            let _: redis::RedisResult<i64> = redis::cmd("EVAL").arg(RELEASE).arg(1).arg(resource).arg(token).query(c);
        }
    }
}

#[test]
fn redlock_across_three_nodes() {
    let mut nodes: Vec<TestServer> = (0..3).map(|_| TestServer::start(&[])).collect();
    let connect = |nodes: &[TestServer]| Redlock { conns: nodes.iter().map(|n| n.conn()).collect() };
    let mut a = connect(&nodes);
    let mut b = connect(&nodes);
    assert!(a.lock("res", "token-a", 10_000));
    assert!(!b.lock("res", "token-b", 10_000), "two holders at once");
    // b's failed attempt released only its own keys: a still holds all three
    for n in &nodes {
        assert_eq!(n.raw().cmd(&["GET", "res"]), "$7\r\ntoken-a\r\n");
    }
    a.unlock("res", "token-a");
    assert!(b.lock("res", "token-b", 10_000));
    b.unlock("res", "token-b");
    // one node down: a majority of two still grants the lock
    drop(nodes.remove(2));
    let mut c = Redlock { conns: nodes.iter().map(|n| n.conn()).collect() };
    c.conns.push(a.conns.pop().unwrap()); // a connection to the dead node
    assert!(c.lock("res", "token-c", 10_000));
    let mut d = Redlock { conns: nodes.iter().map(|n| n.conn()).collect() };
    assert!(!d.lock("res", "token-d", 10_000));
}
