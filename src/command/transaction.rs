//! Optimistic locking: MULTI, EXEC, DISCARD, WATCH, UNWATCH, with Redis 7's
//! semantics (`src/multi.c`).
//!
//! Queueing lives in the dispatcher ([`super::dispatch`]): inside MULTI every
//! command but EXEC, DISCARD, MULTI, WATCH, QUIT and RESET is checked
//! (existence, arity, authentication, memory) and queued; a refused command
//! sets `multi_error`, which makes EXEC answer EXECABORT. EXEC runs with the
//! server's exclusive gate held, so no command of another client interleaves
//! with the transaction on any shard; it answers a null array when a watched
//! key was touched (see [`crate::store::watch`]) or has expired since WATCH.

use super::Ctx;
use crate::node::{Client, Server};
use crate::resp::Reply;
use bytes::Bytes;

pub fn multi(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if ctx.client.multi.is_some() {
        return Reply::error("ERR MULTI calls can not be nested");
    }
    ctx.client.multi = Some(Vec::new());
    ctx.client.multi_error = false;
    Reply::Ok
}

pub fn watch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if ctx.client.multi.is_some() {
        return Reply::error("ERR WATCH inside MULTI is not allowed");
    }
    let db = ctx.client.db;
    for key in &args[1..] {
        if ctx.client.watched.iter().any(|(d, k, _)| *d == db && **k == **key) {
            continue;
        }
        let expired = ctx.server.keyspace.is_logically_expired(db, key);
        ctx.server.keyspace.watches.add(db, key, &ctx.client.watch_state);
        ctx.client.watched.push((db, key[..].into(), expired));
    }
    Reply::Ok
}

pub fn unwatch(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    unwatch_all(ctx.server, ctx.client);
    Reply::Ok
}

/// Forgets every watched key of `client` (EXEC, DISCARD, UNWATCH, RESET,
/// disconnect).
pub fn unwatch_all(server: &Server, client: &mut Client) {
    if client.watched.is_empty() {
        return;
    }
    let keys: Vec<(usize, crate::store::Key)> = client.watched.drain(..).map(|(db, k, _)| (db, k)).collect();
    server.keyspace.watches.remove(&keys, &client.watch_state);
    client.watch_state.reset();
}

/// Leaves MULTI state and drops the queue (DISCARD, RESET, EXEC).
pub fn discard_state(server: &Server, client: &mut Client) {
    client.multi = None;
    client.multi_error = false;
    unwatch_all(server, client);
}

pub fn discard(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if ctx.client.multi.is_none() {
        return Reply::error("ERR DISCARD without MULTI");
    }
    discard_state(ctx.server, ctx.client);
    Reply::Ok
}

/// True if a watched key was touched, or expired after it was watched.
pub fn watch_failed(ctx: &Ctx) -> bool {
    ctx.client.watch_state.is_dirty()
        || ctx.client.watched.iter().any(|(db, key, expired_at_watch)| !expired_at_watch && ctx.server.keyspace.is_logically_expired(*db, key))
}

/// Runs the queue. The dispatcher holds the exclusive gate for EXEC.
pub fn exec(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let Some(queue) = ctx.client.multi.take() else {
        return Reply::error("ERR EXEC without MULTI");
    };
    if ctx.client.multi_error {
        discard_state(ctx.server, ctx.client);
        return Reply::error("EXECABORT Transaction discarded because of previous errors.");
    }
    if watch_failed(ctx) {
        discard_state(ctx.server, ctx.client);
        return Reply::NilArray;
    }
    // Unwatch first: the transaction's own writes must not count.
    discard_state(ctx.server, ctx.client);
    ctx.client.in_exec = true;
    let replies = queue.iter().map(|args| super::execute_queued(ctx, args)).collect();
    ctx.client.in_exec = false;
    Reply::Array(replies)
}
