//! `TXN.*`: the participant commands of cross-node transactions (see
//! `docs/2pc.md` and [`crate::txn`]). Internal: sent by `shardis proxy`,
//! or by an operator for TXN.LIST / TXN.RESOLVE. A connection must first
//! send `TXN.HELLO <cluster secret>` (after AUTH when the node has a
//! password); a node without a secret refuses every TXN command
//! ([`crate::txn::secret`]).
//!
//! A secondary never decides on its own: TXN.ABORT or TXN.RESOLVE of a
//! transaction prepared here as a secondary first asks the primary
//! (`TXN.STATUS txid FINAL`) and acts only on its decision, so nobody, not
//! even an operator, can split a transaction.
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
//! - `TXN.ABORT txid`: `+OK`; `-TXNCOMMITTED` after a commit;
//!   `-TXNINDOUBT` for a prepared secondary whose primary has not aborted.
//! - `TXN.FORGET txid`: at the primary, every participant has the commit;
//!   the decision need not be kept for them any longer.
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
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const DISABLED: &str = "NOPERM cross-node transactions are disabled on this node: it has no cluster secret (see --cluster-secret-file)";

/// Refuses TXN.* to connections that did not present the cluster secret.
fn authorized(ctx: &Ctx) -> Result<(), Reply> {
    match ctx.server.config.cluster_secret() {
        None => Err(Reply::error(DISABLED)),
        Some(_) if !ctx.client.txn_authorized => Err(Reply::error("NOPERM TXN commands need TXN.HELLO with the cluster secret")),
        Some(_) => Ok(()),
    }
}

/// The journal's commands (`TXN.RECORD`, `TXN.DECIDED`, `TXN.FENCE`) are
/// for replay (the AOF loader) and for coordinators' peers only.
fn replay_authorized(ctx: &Ctx) -> Result<(), Reply> {
    if ctx.client.replaying { Ok(()) } else { authorized(ctx) }
}

/// `TXN.RECORD txid PRIMARY|SECONDARY primary timeout-ms db nkeys key... n
/// argc arg...`: re-creates a prepared record (its keys locked again, its
/// timeout starting over) as the journal wrote it.
pub fn record(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(r) = replay_authorized(ctx) {
        return r;
    }
    let bad = || Reply::error("ERR TXN.RECORD: malformed record");
    let txid = args[1].clone();
    let is_primary = is(&args[2], "primary");
    let primary = String::from_utf8_lossy(&args[3]).into_owned();
    let (Ok(timeout), Ok(db), Ok(nkeys)) = (arg_i64(&args[4]), arg_i64(&args[5]), arg_i64(&args[6])) else { return bad() };
    if timeout <= 0 || !(0..crate::store::NUM_DBS as i64).contains(&db) || nkeys < 0 || 7 + nkeys as usize > args.len() {
        return bad();
    }
    let keys: Vec<crate::store::Key> = args[7..7 + nkeys as usize].iter().map(|k| crate::store::Key::from(&k[..])).collect();
    let commands = match parse_commands(&args[7 + nkeys as usize..]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p = Prepared {
        db: db as usize,
        keys,
        commands,
        is_primary,
        primary,
        prepared_at: Instant::now(),
        timeout: Duration::from_millis(timeout as u64),
        resolving: false,
    };
    let mut limits = ctx.server.config.txn_limits();
    // what was prepared before the restart is taken back whatever the limits say now
    limits.max_prepared = usize::MAX;
    limits.max_pinned = usize::MAX;
    match ctx.server.txns.prepare(txid, p, limits) {
        PrepareOutcome::Prepared | PrepareOutcome::AlreadyPrepared | PrepareOutcome::Decided(_) => Reply::Ok,
        PrepareOutcome::Locked(other) => Reply::error(format!("TXNLOCKED a key is held by transaction {}", String::from_utf8_lossy(&other))),
        PrepareOutcome::Full => Reply::error("TXNBUSY"),
    }
}

/// `TXN.DECIDED txid COMMITTED|ABORTED [PINNED]`: a decision as the journal wrote
/// it. A commit's writes come before it in the same MULTI/EXEC; this only
/// records the decision and releases the keys.
pub fn decided(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(r) = replay_authorized(ctx) {
        return r;
    }
    let d = if is(&args[2], "committed") {
        Decision::Committed
    } else if is(&args[2], "aborted") {
        Decision::Aborted
    } else {
        return super::syntax_error();
    };
    let pinned = match args.get(3) {
        None => false,
        Some(a) if is(a, "pinned") && args.len() == 4 => true,
        Some(_) => return super::syntax_error(),
    };
    ctx.server.txns.restore_decision(&args[1], d, pinned);
    Reply::Ok
}

/// `TXN.FENCE token`: fencing tokens from now on are greater.
pub fn fence(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(r) = replay_authorized(ctx) {
        return r;
    }
    match crate::util::parse_i64(&args[1]).filter(|t| *t > 0) {
        Some(t) => {
            ctx.server.locks.raise(t as u64);
            Reply::Ok
        }
        None => super::not_integer(),
    }
}

pub fn hello(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match ctx.server.config.cluster_secret() {
        Some(secret) if crate::txn::secret::matches(secret.as_bytes(), &args[1]) => {
            ctx.client.txn_authorized = true;
            Reply::Ok
        }
        Some(_) => {
            tracing::warn!(client = %ctx.client.info.addr, "TXN.HELLO with a wrong cluster secret");
            Reply::error("NOPERM wrong cluster secret")
        }
        None => Reply::error(DISABLED),
    }
}

fn txid_str(txid: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(txid)
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
    let max = ctx.server.config.txn_max_timeout.load(Ordering::Relaxed);
    let timeout = match arg_i64(&args[4]) {
        Ok(ms) if ms > 0 && ms as u64 <= max => Duration::from_millis(ms as u64),
        _ => return Reply::error(format!("ERR TXN.PREPARE: timeout must be between 1 and txn-max-timeout ({max}) ms")),
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
        keys.extend(c.key_positions(cmd).into_iter().map(|i| crate::store::Key::from(&cmd[i][..])));
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
    match ctx.server.txns.prepare(txid.clone(), record, ctx.server.config.txn_limits()) {
        PrepareOutcome::Prepared if nx && write_keys.iter().any(|k| ctx.server.keyspace.lock(db, k).exists(k)) => {
            // The keys are locked and no command is in flight (the gate is
            // exclusive), so the answer holds until the decision.
            let _ = ctx.server.txns.abort(&txid);
            Reply::error("TXNCOND a key exists")
        }
        PrepareOutcome::Prepared | PrepareOutcome::AlreadyPrepared => Reply::status("PREPARED"),
        PrepareOutcome::Locked(other) => Reply::error(format!("TXNLOCKED a key is held by transaction {}", String::from_utf8_lossy(&other))),
        PrepareOutcome::Decided(d) => Reply::error(format!("TXNSTALE transaction {} is already {}", txid_str(&txid), d.name())),
        PrepareOutcome::Full => Reply::error("TXNBUSY this node holds as many prepared transactions as txn-max-prepared allows"),
    }
}

/// Applies a prepared transaction's commands and records the commit; the
/// caller holds the exclusive gate. Also used by recovery and TXN.RESOLVE.
pub fn apply_commit(ctx: &mut Ctx, txid: &Bytes) -> Reply {
    match ctx.server.txns.prepared(txid) {
        Ok(p) => {
            let db = ctx.client.db;
            ctx.client.select(p.db);
            // one transaction in the effect log, however it is applied
            // (TXN.COMMIT, TXN.RESOLVE, recovery)
            crate::store::effects::begin(p.db, &[], false, true);
            let replies = p.commands.iter().map(|c| super::execute_queued(ctx, c)).collect();
            // the decision is journaled inside the same MULTI/EXEC as the
            // writes: a replay has both or neither
            ctx.server.txns.finish(txid, Decision::Committed);
            crate::store::effects::end(&ctx.server.keyspace.effects);
            ctx.client.select(db);
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

/// What the primary decided, for a transaction prepared here as a
/// secondary: `Ok(None)` when this node is not a prepared secondary of it
/// (it may decide by itself), `Err` when the primary has no decision to
/// give (still prepared, or unreachable). Asks over the network, so the
/// callers run without the gate.
fn primary_decision(ctx: &Ctx, txid: &Bytes) -> Result<Option<Decision>, Reply> {
    let Some((false, primary)) = ctx.server.txns.role(txid) else { return Ok(None) };
    match crate::node::recovery::ask_primary_now(ctx.server, &primary, txid).as_deref() {
        Some("committed") => Ok(Some(Decision::Committed)),
        Some("aborted") => Ok(Some(Decision::Aborted)),
        Some(other) => Err(Reply::error(format!("TXNINDOUBT transaction {} is {other} at its primary {primary}: only the primary decides", txid_str(txid)))),
        None => Err(Reply::error(format!("TXNINDOUBT the primary {primary} of transaction {} did not answer: only the primary decides", txid_str(txid)))),
    }
}

/// Applies a decision (the primary's, or this node's own as primary).
fn decide(ctx: &mut Ctx, txid: &Bytes, decision: Decision) -> Reply {
    match decision {
        Decision::Committed => {
            let _gate = ctx.server.gate_exclusive();
            match apply_commit(ctx, txid) {
                Reply::Array(_) => Reply::Ok,
                other => other,
            }
        }
        Decision::Aborted => {
            let _gate = ctx.server.gate_shared();
            match ctx.server.txns.abort(txid) {
                Ok(()) => Reply::Ok,
                Err(_) => Reply::error(format!("TXNCOMMITTED transaction {} was committed", txid_str(txid))),
            }
        }
    }
}

/// Runs without the gate (it may ask the primary); takes it to decide.
pub fn abort(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(r) = authorized(ctx) {
        return r;
    }
    let txid = &args[1];
    match primary_decision(ctx, txid) {
        Ok(None | Some(Decision::Aborted)) => decide(ctx, txid, Decision::Aborted),
        Ok(Some(Decision::Committed)) => {
            // Learnt on the way: apply it, and refuse the abort.
            decide(ctx, txid, Decision::Committed);
            Reply::error(format!("TXNCOMMITTED transaction {} was committed at its primary", txid_str(txid)))
        }
        Err(r) => r,
    }
}

/// `TXN.NOWAIT`: commands on keys held by a prepared transaction are
/// deferred (`-TXNDEFER`) on this connection instead of waiting. Needs no
/// secret: it changes nothing but this connection's own replies.
pub fn nowait(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    ctx.client.txn_nowait = true;
    Reply::Ok
}

/// At the primary every participant has the commit: it need not be kept.
pub fn forget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(r) = authorized(ctx) {
        return r;
    }
    ctx.server.txns.forget(&args[1]);
    Reply::Ok
}

pub fn status(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(r) = authorized(ctx) {
        return r;
    }
    let txns = &ctx.server.txns;
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
            .txns
            .in_doubt()
            .into_iter()
            .map(|(id, age, primary, is_primary)| {
                Reply::Array(vec![Reply::Bulk(id), Reply::Int(age as i64), Reply::bulk(primary), Reply::bulk(if is_primary { "primary" } else { "secondary" })])
            })
            .collect(),
    )
}

/// An operator's decision. At the primary it is the decision; at a
/// secondary it must agree with the primary's, which is asked first.
/// Runs without the gate (it may ask the primary); takes it to decide.
pub fn resolve(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(r) = authorized(ctx) {
        return r;
    }
    let txid = &args[1];
    let wanted = if is(&args[2], "commit") {
        Decision::Committed
    } else if is(&args[2], "abort") {
        Decision::Aborted
    } else {
        return super::syntax_error();
    };
    if ctx.server.txns.status(txid) != Status::Prepared {
        return Reply::error("ERR TXN.RESOLVE: the transaction is not in doubt here");
    }
    match primary_decision(ctx, txid) {
        Ok(None) => decide(ctx, txid, wanted),
        Ok(Some(d)) if d == wanted => decide(ctx, txid, d),
        Ok(Some(d)) => {
            decide(ctx, txid, d);
            Reply::error(format!("TXNCONFLICT transaction {} was {} at its primary; applied that here", txid_str(txid), d.name()))
        }
        Err(r) => r,
    }
}
