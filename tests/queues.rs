//! Job queues built on Redis, run unchanged against shardis, on a node and
//! through the proxy: rq (Python: two queues, a dependent job, retries, a
//! failing job, registries; through the proxy its MULTI pipelines span
//! nodes and commit by two-phase commit) and BullMQ (Node: delayed,
//! prioritized, retried with backoff and failing jobs, bulk adds, the
//! events stream; through the proxy with the `{bull}` prefix Redis
//! Cluster users give it, the proxy keeping hash tags together).

mod common;
use common::{TestServer, addrs};
use std::path::PathBuf;
use std::process::Command;

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join(name)
}

fn run_rq(port: u16) {
    let python = common::python_with("rq>=2,<3", "rq");
    let out = Command::new(python).arg(script("python/rq_worker.py")).arg(port.to_string()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains(&format!("ok {port}")), "rq failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
}

fn run_bullmq(port: u16, prefix: &str) {
    let modules = common::node_modules_with("bullmq@5", "bullmq");
    let out = Command::new("node").arg(script("node/bullmq_smoke.js")).arg(port.to_string()).arg(prefix).env("NODE_PATH", modules).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("bullmq ok"), "BullMQ failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn rq_on_a_node() {
    run_rq(TestServer::start(&[]).port);
}

#[test]
fn rq_through_the_proxy() {
    let nodes: Vec<TestServer> = (0..3).map(|_| TestServer::start(&[])).collect();
    let proxy = TestServer::start_proxy(&addrs(&nodes), &[]);
    run_rq(proxy.port);
    // the jobs' keys were spread over the nodes
    let spread = nodes.iter().filter(|n| n.raw().cmd(&["DBSIZE"]) != ":0\r\n").count();
    assert!(spread >= 2, "rq's keys all landed on one node");
}

#[test]
fn bullmq_on_a_node() {
    run_bullmq(TestServer::start(&[]).port, "bull");
}

#[test]
fn bullmq_through_the_proxy() {
    let nodes: Vec<TestServer> = (0..3).map(|_| TestServer::start(&[])).collect();
    let proxy = TestServer::start_proxy(&addrs(&nodes), &["--hash-tag", "{}"]);
    run_bullmq(proxy.port, "{bull}");
}
