//! ioredis, unchanged, against the real binary. The test installs ioredis
//! from the npm registry under target/ the first time.

mod common;
use common::TestServer;
use std::path::PathBuf;
use std::process::Command;

fn node_modules() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/node");
    if !dir.join("node_modules/ioredis").exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let ok = Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg("ioredis@5")
            .status()
            .expect("npm is installed")
            .success();
        assert!(ok, "npm install ioredis failed");
    }
    dir.join("node_modules")
}

#[test]
fn ioredis_works_unchanged() {
    let modules = node_modules();
    let s = TestServer::start(&[]);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node/ioredis_smoke.js");
    let out = Command::new("node").arg(script).arg(s.port.to_string()).env("NODE_PATH", modules).output().unwrap();
    assert!(out.status.success(), "ioredis smoke test failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ioredis ok"));
}
