//! The 2PC coordinator: a cross-node `EXEC` through the proxy.
//!
//! Phase 1 sends `TXN.PREPARE` to every participant at once, each on the
//! client's dedicated connection to that node (where its WATCHes live, so
//! the node checks them as its own EXEC would). Phase 2 commits at the
//! primary first (its decision record is the commit point), then at the
//! others. A "no" vote aborts everywhere: a touched watched key answers the
//! client nil; a key held by another prepared transaction is a conflict,
//! resolved by aborting and retrying after a random backoff (no deadlock:
//! nothing waits while holding locks). The proxy keeps no state beyond the
//! call, so several proxies can coordinate over the same nodes; a crash of
//! the proxy is recovered by the participants (see `crate::node::recovery`).
//! Protocol and failure cases: `docs/2pc.md`.

use super::txn::Pinned;
use crate::resp::Reply;
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One node's share of a transaction.
pub struct Part {
    pub node: usize,
    pub addr: String,
    pub conn: Pinned,
    /// (position in the client's EXEC reply, command)
    pub commands: Vec<(usize, Vec<Bytes>)>,
}

pub struct Plan {
    /// Unique per proxy process; txid = `<prefix>:<counter>`.
    pub txid_prefix: Arc<str>,
    pub counter: Arc<AtomicU64>,
    pub timeout_ms: u64,
    /// Sorted by node; the first is the primary.
    pub parts: Vec<Part>,
    /// Commands in the transaction (the EXEC reply's length).
    pub total: usize,
    /// MSETNX: prepare only if none of the keys exists; the reply is 1 or 0.
    pub nx: bool,
}

/// Deterministic fault points for tests (`SHARDIS_FAULT`): the proxy
/// process exits at that step, as if it crashed.
fn fault(point: &str) {
    if std::env::var("SHARDIS_FAULT").is_ok_and(|f| f == point) {
        tracing::warn!(point, "fault injection: exiting");
        std::process::exit(86);
    }
}

enum Vote {
    Yes,
    /// A watched key was touched: the EXEC answer is nil.
    Watch,
    /// A key is held by another prepared transaction: retry.
    Locked,
    /// NX and a key exists: the answer is 0.
    Cond,
    Failed(String),
}

async fn send(conn: &Pinned, cmd: Vec<Bytes>) -> Result<Reply, String> {
    let mut c = conn.lock().await;
    c.call(&[cmd]).await.map(|mut r| r.pop().unwrap_or(Reply::Nil)).map_err(|e| e.0)
}

fn b(s: impl Into<Vec<u8>>) -> Bytes {
    Bytes::from(s.into())
}

/// Runs the transaction; the reply is what the client's EXEC answers.
/// Afterwards the participants' connections drop their WATCHes (an UNWATCH
/// sent with the connection's next command), as EXEC does.
pub async fn run(plan: Plan) -> Reply {
    let reply = run_attempts(&plan).await;
    for p in &plan.parts {
        let mut c = p.conn.lock().await;
        if c.watching {
            c.watching = false;
            c.unwatch_first = true;
        }
    }
    reply
}

async fn run_attempts(plan: &Plan) -> Reply {
    let deadline = Instant::now() + Duration::from_millis(plan.timeout_ms.max(1000));
    let primary_addr = plan.parts[0].addr.clone();
    let mut attempt = 0u32;
    loop {
        let txid = b(format!("{}:{}", plan.txid_prefix, plan.counter.fetch_add(1, Ordering::Relaxed)));
        // Phase 1, in parallel.
        let mut handles = Vec::new();
        for (i, p) in plan.parts.iter().enumerate() {
            let mut cmd =
                vec![b("TXN.PREPARE"), txid.clone(), b(if i == 0 { "PRIMARY" } else { "SECONDARY" }), b(primary_addr.clone()), b(plan.timeout_ms.to_string())];
            if plan.nx {
                cmd.push(b("NX"));
            }
            cmd.push(b(p.commands.len().to_string()));
            for (_, c) in &p.commands {
                cmd.push(b(c.len().to_string()));
                cmd.extend(c.iter().cloned());
            }
            let conn = p.conn.clone();
            handles.push(tokio::spawn(async move {
                match send(&conn, cmd).await {
                    Ok(Reply::Status(s)) if s == "PREPARED" => Vote::Yes,
                    Ok(Reply::Error(e)) if e.starts_with("TXNWATCH") => Vote::Watch,
                    Ok(Reply::Error(e)) if e.starts_with("TXNLOCKED") => Vote::Locked,
                    Ok(Reply::Error(e)) if e.starts_with("TXNCOND") => Vote::Cond,
                    other => Vote::Failed(describe(&other)),
                }
            }));
        }
        let mut votes = Vec::new();
        for h in handles {
            votes.push(h.await.unwrap_or_else(|e| Vote::Failed(e.to_string())));
        }
        if votes.iter().all(|v| matches!(v, Vote::Yes)) {
            fault("exit-after-prepare");
            if std::env::var("SHARDIS_FAULT").is_ok_and(|f| f == "drop-after-prepare") {
                // The connections to the secondaries drop between the phases.
                for p in &plan.parts[1..] {
                    p.conn.lock().await.disconnect();
                }
            }
            let reply = commit(plan, txid).await;
            return match (plan.nx, reply) {
                (true, Reply::Array(_)) => Reply::Int(1),
                (_, r) => r,
            };
        }
        // Abort wherever the vote was yes (and harmlessly elsewhere).
        abort_all(plan, &txid).await;
        if votes.iter().any(|v| matches!(v, Vote::Watch)) {
            return Reply::NilArray;
        }
        if votes.iter().any(|v| matches!(v, Vote::Cond)) {
            return Reply::Int(0);
        }
        if let Some(Vote::Failed(why)) = votes.iter().find(|v| matches!(v, Vote::Failed(_))) {
            return Reply::error(format!("ERR cross-node transaction aborted, nothing was applied: {why}"));
        }
        // Lock conflict with another transaction: back off and retry.
        attempt += 1;
        if Instant::now() >= deadline {
            return Reply::error("ERR cross-node transaction aborted, nothing was applied: keys stayed locked by other transactions");
        }
        let backoff = crate::util::random_u64() % (1u64 << attempt.min(7)) + 1;
        tokio::time::sleep(Duration::from_millis(backoff)).await;
    }
}

/// What a node answered, in words for an error text.
fn describe(answer: &Result<Reply, String>) -> String {
    match answer {
        Ok(Reply::Error(e)) => e.to_string(),
        Ok(Reply::Status(s)) => format!("unexpected reply '{s}'"),
        Ok(_) => "unexpected reply".into(),
        Err(e) => e.clone(),
    }
}

/// The primary first: it records "aborted", which is what a prepared
/// secondary checks before it lets go (a secondary never aborts on its
/// own word alone).
async fn abort_all(plan: &Plan, txid: &Bytes) {
    let _ = send(&plan.parts[0].conn, vec![b("TXN.ABORT"), txid.clone()]).await;
    let mut handles = Vec::new();
    for p in &plan.parts[1..] {
        let conn = p.conn.clone();
        let cmd = vec![b("TXN.ABORT"), txid.clone()];
        handles.push(tokio::spawn(async move { send(&conn, cmd).await }));
    }
    for h in handles {
        let _ = h.await;
    }
}

/// Phase 2: the primary first, then the others; replies merged in order.
async fn commit(plan: &Plan, txid: Bytes) -> Reply {
    let mut out = vec![Reply::Nil; plan.total];
    let primary = &plan.parts[0];
    match send(&primary.conn, vec![b("TXN.COMMIT"), txid.clone()]).await {
        Ok(Reply::Array(replies)) => place(&mut out, &primary.commands, replies),
        Ok(Reply::Error(e)) if e.starts_with("TXNABORTED") => {
            // The primary timed the transaction out before our commit.
            abort_all(plan, &txid).await;
            return Reply::error("ERR cross-node transaction aborted, nothing was applied: it timed out at the primary");
        }
        other => {
            // The outcome at the primary is unknown (connection lost):
            // participants learn it from the primary by themselves.
            return Reply::error(format!(
                "ERR cross-node transaction {} in doubt: commit at the primary {} failed ({}); the nodes resolve it from the primary's decision",
                String::from_utf8_lossy(&txid),
                primary.addr,
                describe(&other)
            ));
        }
    }
    fault("exit-after-primary-commit");
    let mut handles = Vec::new();
    for p in &plan.parts[1..] {
        let conn = p.conn.clone();
        let cmd = vec![b("TXN.COMMIT"), txid.clone()];
        handles.push(tokio::spawn(async move { send(&conn, cmd).await }));
    }
    let mut all_acknowledged = true;
    for (p, h) in plan.parts[1..].iter().zip(handles) {
        match h.await.unwrap_or_else(|e| Err(e.to_string())) {
            Ok(Reply::Array(replies)) => place(&mut out, &p.commands, replies),
            other => {
                // Committed at the primary, so committed: a secondary
                // cannot abort a transaction its primary committed, so this
                // node applies it on recovery; its replies are not
                // available here.
                all_acknowledged = false;
                let err = Reply::error(format!(
                    "ERR cross-node transaction committed at the primary; the part on {} is applied there on recovery, its reply is unavailable ({})",
                    p.addr,
                    describe(&other)
                ));
                for (pos, _) in &p.commands {
                    out[*pos] = err.clone();
                }
            }
        }
    }
    if all_acknowledged {
        // Every participant has the commit: the primary may drop its
        // decision record (it keeps unreleased ones for 10 minutes). Sent
        // with the next command on that connection, or when it closes.
        primary.conn.lock().await.forget.push(txid);
    }
    Reply::Array(out)
}

fn place(out: &mut [Reply], commands: &[(usize, Vec<Bytes>)], replies: Vec<Reply>) {
    for ((pos, _), r) in commands.iter().zip(replies) {
        out[*pos] = r;
    }
}
