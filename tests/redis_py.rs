//! redis-py, unchanged, against the real binary: its connect handshake
//! (HELLO, CLIENT SETINFO) and everyday use in RESP2 and RESP3. The test
//! makes a venv under target/ with redis-py from PyPI the first time.

mod common;
use common::TestServer;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn redis_py_works_unchanged() {
    let python = common::python_with_redis_py();
    let s = TestServer::start(&[]);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/redis_py_smoke.py");
    let out = Command::new(python).arg(script).arg(s.port.to_string()).output().unwrap();
    assert!(out.status.success(), "redis-py smoke test failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("redis-py ok"));
}
