//! `TXN.*`: the participant commands of cross-node transactions (see
//! `docs/2pc.md` and [`crate::txn`]). Internal: sent by `shardis proxy`,
//! or by an operator for TXN.LIST / TXN.RESOLVE. With `cluster-secret`
//! configured a connection must first send `TXN.HELLO <secret>`.
//!
//! - `TXN.HELLO secret`
//! - `TXN.PREPARE txid PRIMARY|SECONDARY primary-addr timeout-ms [NX] n
//!   argc arg... (n times)`: votes. It locks the commands' keys and the keys
//!   this connection WATCHes (two-phase locking: the transaction is
//!   serialized at its prepare). With NX it votes `-TXNCOND` if any of the
//!   keys exists (MSETNX across nodes). `+PREPARED`, or `-TXNWATCH` (a key this
//!   connection WATCHes was touched: the transaction answers nil),
//!   `-TXNLOCKED` (a key is held by another prepared transaction: abort and
//!   retry), `-TXNSTALE` (already decided).
//! - `TXN.COMMIT txid`: applies the node's commands, atomically, and returns
//!   their replies; `+COMMITTED` if it was committed before.
//! - `TXN.ABORT txid`: `+OK`; `-TXNCOMMITTED` after a commit.
//! - `TXN.STATUS txid [FINAL]`: `+committed`, `+aborted`, `+prepared`,
//!   `+unknown`. With FINAL (a participant asking the primary during
//!   recovery) an unknown transaction is recorded as aborted.
//! - `TXN.LIST`: the in-doubt (prepared) transactions.
//! - `TXN.RESOLVE txid COMMIT|ABORT`: an operator's decision for an in-doubt
//!   transaction.

use super::{Ctx, arg_i64, is};
use crate::resp::Reply;
use crate::txn::{Decision, PrepareOutcome, Prepared, Status};
use bytes::Bytes;
use std::time::{Duration, Instant};

/// Refuses TXN.* to connections that did not present the cluster secret.
fn authorized(ctx: &Ctx) -> Result<(), Reply> {
    match ctx.server.config.cluster_secret() {
        Some(_) if !ctx.client.txn_authorized => Err(Reply::error("NOPERM TXN commands need TXN.HELLO with the cluster secret")),
        _ => Ok(()),
    }
}

pub fn hello(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match ctx.server.config.cluster_secret() {
        Some(secret) if secret.as_bytes() == &args[1][..] => {
            ctx.client.txn_authorized = true;
            Reply::Ok
        }
        Some(_) => Reply::error("NOPERM wrong cluster secret"),
        None => {
            ctx.client.txn_authorized = true;
            Reply::Ok
        }
    }
}

/// Parses `n` then n commands as `argc arg...`.
fn parse_commands(args: &[Bytes]) -> Result<Vec<Vec<Bytes>>, Reply> {
    let bad = || Reply::error("ERR TXN.PREPARE: malformed command list");
    let n = arg_i64(args.first().ok_or_else(bad)?)?;
    let mut i = 1;
    let mut commands = Vec::new();
    for _ in 0..n {
        let argc = arg_i64(args.get(i).ok_or_else(bad)?)? as usize;
        let cmd = args.get(i + 1..i + 1 + argc).ok_or_else(bad)?.to_vec();
        if cmd.is_empty() {
            return Err(bad());
        }
        commands.push(cmd);
        i += 1 + argc;
    }
    if i != args.len() {
        return Err(bad());
    }
    Ok(commands)
}

pub fn prepare(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(r) = authorized(ctx) {
        return r;
    }
    let txid = args[1].clone();
    let is_primary = if is(&args[2], "primary") {
        true
    } else if is(&args[2], "secondary") {
        false
    } else {
        return Reply::error("ERR TXN.PREPARE: role must be PRIMARY or SECONDARY");
    };
    let primary = String::from_utf8_lossy(&args[3]).into_owned();
    let timeout = match arg_i64(&args[4]) {
        Ok(ms) if ms > 0 => Duration::from_millis(ms as u64),
        _ => return Reply::error("ERR TXN.PREPARE: timeout must be a positive integer"),
    };
    let nx = is(&args[5], "nx");
    let commands = match parse_commands(&args[if nx { 6 } else { 5 }..]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut keys = Vec::new();
    for cmd in &commands {
        let Some((_, c)) = super::lookup(&cmd[0]) else {
            return Reply::error(format!("ERR TXN.PREPARE: unknown command '{}'", String::from_utf8_lossy(&cmd[0])));
        };
        if !super::arity_ok(c.arity, cmd.len()) {
            return super::wrong_arity(c.name);
        }
        keys.extend(c.key_positions(cmd.len()).into_iter().map(|i| crate::store::Key::from(&cmd[i][..])));
    }
    // WATCH on this connection, checked as EXEC would
    if super::transaction::watch_failed(ctx) {
        return Reply::error("TXNWATCH a watched key was modified");
    }
    let db = ctx.client.db;
    let write_keys = keys.clone();
    keys.extend(ctx.client.watched.iter().filter(|(d, _, _)| *d == db).map(|(_, k, _)| k.clone()));
    keys.sort();
    keys.dedup();
    let record = Prepared { db: ctx.client.db, keys, commands, is_primary, primary, prepared_at: Instant::now(), timeout, resolving: false };
    match ctx.server.keyspace.txns.prepare(txid.clone(), record) {
        PrepareOutcome::Prepared if nx && write_keys.iter().any(|k| ctx.server.keyspace.lock(db, k).exists(k)) => {
            // The keys are locked and no command is in flight (the gate is
            // exclusive), so the answer holds until the decision.
            let _ = ctx.server.keyspace.txns.abort(&txid);
            Reply::error("TXNCOND a key exists")
        }
        PrepareOutcome::Prepared | PrepareOutcome::AlreadyPrepared => Reply::status("PREPARED"),
        PrepareOutcome::Locked(other) => Reply::error(format!("TXNLOCKED a key is held by transaction {}", String::from_utf8_lossy(&other))),
        PrepareOutcome::Decided(d) => Reply::error(format!("TXNSTALE transaction {} is already {}", String::from_utf8_lossy(&txid), d.name())),
    }
}

/// Applies a prepared transaction's commands and records the commit; the
/// caller holds the exclusive gate. Also used by recovery and TXN.RESOLVE.
pub fn apply_commit(ctx: &mut Ctx, txid: &Bytes) -> Reply {
    match ctx.server.keyspace.txns.prepared(txid) {
        Ok(p) => {
            let db = ctx.client.db;
            ctx.client.select(p.db);
            let replies = p.commands.iter().map(|c| super::execute_queued(ctx, c)).collect();
            ctx.client.select(db);
            ctx.server.keyspace.txns.finish(txid, Decision::Committed);
            Reply::Array(replies)
        }
        Err(Status::Decided(Decision::Committed)) => Reply::status("COMMITTED"),
        Err(Status::Decided(Decision::Aborted)) => Reply::error(format!("TXNABORTED transaction {} was aborted", String::from_utf8_lossy(txid))),
        Err(_) => Reply::error(format!("TXNUNKNOWN transaction {} is not prepared here", String::from_utf8_lossy(txid))),
    }
}

pub fn commit(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(r) = authorized(ctx) {
        return r;
    }
    apply_commit(ctx, &args[1])
}

pub fn abort(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(r) = authorized(ctx) {
        return r;
    }
    match ctx.server.keyspace.txns.abort(&args[1]) {
        Ok(()) => Reply::Ok,
        Err(_) => Reply::error(format!("TXNCOMMITTED transaction {} was committed", String::from_utf8_lossy(&args[1]))),
    }
}

pub fn status(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(r) = authorized(ctx) {
        return r;
    }
    let txns = &ctx.server.keyspace.txns;
    let s = match args.len() {
        2 => txns.status(&args[1]),
        3 if is(&args[2], "final") => txns.primary_status(&args[1]),
        _ => return super::syntax_error(),
    };
    Reply::status(match s {
        Status::Unknown => "unknown",
        Status::Prepared => "prepared",
        Status::Decided(d) => d.name(),
    })
}

pub fn list(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if let Err(r) = authorized(ctx) {
        return r;
    }
    Reply::Array(
        ctx.server
            .keyspace
            .txns
            .in_doubt()
            .into_iter()
            .map(|(id, age, primary, is_primary)| {
                Reply::Array(vec![Reply::Bulk(id), Reply::Int(age as i64), Reply::bulk(primary), Reply::bulk(if is_primary { "primary" } else { "secondary" })])
            })
            .collect(),
    )
}

pub fn resolve(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(r) = authorized(ctx) {
        return r;
    }
    if ctx.server.keyspace.txns.status(&args[1]) != Status::Prepared {
        return Reply::error("ERR TXN.RESOLVE: the transaction is not in doubt here");
    }
    if is(&args[2], "commit") {
        match apply_commit(ctx, &args[1]) {
            Reply::Array(_) => Reply::Ok,
            other => other,
        }
    } else if is(&args[2], "abort") {
        abort(ctx, &args[..2])
    } else {
        super::syntax_error()
    }
}
