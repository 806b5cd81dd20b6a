//! Recovery of prepared transactions whose coordinator went quiet.
//!
//! Every 100 ms the node looks for prepared transactions past their
//! timeout. The primary decides alone: its prepare timed out without a
//! commit, so the coordinator is gone and it records "aborted" (the commit
//! point was never reached). A secondary asks the primary with
//! `TXN.STATUS txid FINAL` and applies the answer; a primary that never saw
//! the transaction records and answers "aborted". Without an answer
//! (primary unreachable, or still undecided) it asks again later; the
//! transaction stays in doubt, visible in INFO and TXN.LIST, where an
//! operator can resolve it with TXN.RESOLVE.
//!
//! Applying a commit runs the transaction's commands, which is the command
//! layer's work: the caller passes it in as [`ApplyCommit`], so this module
//! imports nothing above the node's state.

use super::{Client, ClientInfo, Ctx, Server};
use crate::txn::{Decision, TxId};
use bytes::BytesMut;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Applies a prepared transaction's commands (`command::txn::apply_commit`).
pub type ApplyCommit = fn(&mut Ctx, &TxId) -> crate::resp::Reply;

/// One recovery round; spawns the queries to primaries.
pub fn recover(server: &Arc<Server>, apply_commit: ApplyCommit) {
    for (txid, is_primary, primary) in server.txns.due_for_recovery(Instant::now()) {
        if is_primary {
            // Under the gate, so no TXN.COMMIT is half way through applying
            // it (it holds the gate exclusively); busy now: next round.
            let Some(_gate) = server.try_gate_shared() else {
                server.txns.retry_later(&txid);
                continue;
            };
            tracing::warn!(txid = %String::from_utf8_lossy(&txid), "prepared transaction timed out at its primary: aborting");
            if server.txns.abort(&txid).is_ok() {
                server.txns.recovered_aborts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            continue;
        }
        let server = server.clone();
        tokio::spawn(async move {
            let answer =
                tokio::time::timeout(Duration::from_secs(2), ask_primary(&primary, server.config.requirepass(), server.config.cluster_secret(), &txid)).await;
            match answer {
                Ok(Some(s)) if s == "committed" => {
                    tracing::info!(txid = %String::from_utf8_lossy(&txid), "recovered: committed at the primary");
                    // Applying takes the exclusive gate: off the worker threads.
                    let _ = tokio::task::spawn_blocking(move || apply(&server, &txid, Decision::Committed, apply_commit)).await;
                }
                Ok(Some(s)) if s == "aborted" => {
                    tracing::info!(txid = %String::from_utf8_lossy(&txid), "recovered: aborted at the primary");
                    let _ = tokio::task::spawn_blocking(move || apply(&server, &txid, Decision::Aborted, apply_commit)).await;
                }
                other => {
                    tracing::debug!(txid = %String::from_utf8_lossy(&txid), ?other, "primary gave no decision yet");
                    server.txns.retry_later(&txid);
                }
            }
        });
    }
}

/// Applies a decision learnt from the primary.
fn apply(server: &Arc<Server>, txid: &TxId, decision: Decision, apply_commit: ApplyCommit) {
    let counter = match decision {
        Decision::Committed => &server.txns.recovered_commits,
        Decision::Aborted => &server.txns.recovered_aborts,
    };
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match decision {
        Decision::Aborted => {
            let _gate = server.gate_shared();
            let _ = server.txns.abort(txid);
        }
        Decision::Committed => {
            let mut client = Client::new(Arc::new(ClientInfo::new(0, "recovery".into(), String::new())), true);
            let _gate = server.gate_exclusive();
            let _ = apply_commit(&mut Ctx { server, client: &mut client }, txid);
        }
    }
}

/// [`ask_primary`] from a command handler (TXN.ABORT, TXN.RESOLVE at a
/// secondary), which holds no gate: the worker thread blocks for at most
/// two seconds, with tokio told so (`block_in_place`).
pub fn ask_primary_now(server: &Server, primary: &str, txid: &TxId) -> Option<String> {
    let handle = tokio::runtime::Handle::try_current().ok().filter(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)?;
    let secret = server.config.cluster_secret();
    let password = server.config.requirepass();
    tokio::task::block_in_place(|| handle.block_on(tokio::time::timeout(Duration::from_secs(2), ask_primary(primary, password, secret, txid)))).ok().flatten()
}

/// `TXN.STATUS txid FINAL` at the primary: its answer, or `None`. Nodes of
/// one cluster share their password (`requirepass`) as they share the
/// cluster secret.
async fn ask_primary(addr: &str, password: Option<String>, secret: Option<String>, txid: &TxId) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let mut commands = Vec::new();
    if let Some(p) = password {
        commands.push(vec![bytes::Bytes::from_static(b"AUTH"), bytes::Bytes::from(p)]);
    }
    if let Some(s) = secret {
        commands.push(vec![bytes::Bytes::from_static(b"TXN.HELLO"), bytes::Bytes::from(s)]);
    }
    commands.push(vec![bytes::Bytes::from_static(b"TXN.STATUS"), txid.clone(), bytes::Bytes::from_static(b"FINAL")]);
    let mut out = Vec::new();
    for c in &commands {
        out.extend_from_slice(&crate::resp::encode_command(c));
    }
    stream.write_all(&out).await.ok()?;
    let mut buf = BytesMut::new();
    let mut replies = Vec::new();
    while replies.len() < commands.len() {
        match redis_protocol::resp2::decode::decode_bytes_mut(&mut buf) {
            Ok(Some((frame, _, _))) => replies.push(frame),
            Ok(None) => {
                if stream.read_buf(&mut buf).await.ok()? == 0 {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
    match replies.pop()? {
        redis_protocol::resp2::types::BytesFrame::SimpleString(s) => Some(String::from_utf8_lossy(&s).into_owned()),
        _ => None,
    }
}
