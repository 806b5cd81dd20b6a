//! The blocking lock with fencing tokens (see `docs/locks.md`):
//!
//! - `LOCK.ACQUIRE key owner ttl_ms [WAIT ms] [AFTER token]`: sets `key` to
//!   `owner` with a TTL if it is free (or already `owner`'s) and returns a
//!   fencing token, greater than `token` with AFTER; with WAIT, queues FIFO
//!   until granted or `ms` pass (0 = no limit), then nil. Without WAIT, or
//!   inside MULTI, it answers nil at once.
//! - `LOCK.RELEASE key owner`: deletes the key if it holds `owner`; 1 or 0.
//! - `LOCK.EXTEND key owner ttl_ms`: resets the TTL if the key holds
//!   `owner`; 1 or 0.
//!
//! The lock is the key itself, so GET, TTL, DEL and SET NX see and affect
//! it; the wait queue and the token counter live in [`crate::lock`].

use super::{Ctx, arg_i64, is, syntax_error};
use crate::resp::Reply;
use bytes::Bytes;
use std::time::{Duration, Instant};

fn positive_ms(cmd: &[u8], arg: &[u8]) -> Result<u64, Reply> {
    match arg_i64(arg)? {
        n if n > 0 => Ok(n as u64),
        _ => Err(Reply::error(format!("ERR invalid ttl in '{}' command", String::from_utf8_lossy(cmd).to_ascii_lowercase()))),
    }
}

pub fn acquire(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, owner) = (&args[1], &args[2]);
    let ttl = match positive_ms(&args[0], &args[3]) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let (mut wait_ms, mut after) = (None, 0u64);
    let mut i = 4;
    while i < args.len() {
        let value = match args.get(i + 1).map(|v| arg_i64(v)) {
            Some(Ok(n)) => n,
            Some(Err(r)) => return r,
            None => return syntax_error(),
        };
        if is(&args[i], "wait") && wait_ms.is_none() {
            if value < 0 {
                return Reply::error("ERR invalid wait in 'lock.acquire' command");
            }
            wait_ms = Some(value as u64);
        } else if is(&args[i], "after") {
            if value < 0 {
                return Reply::error("ERR invalid after in 'lock.acquire' command");
            }
            after = after.max(value as u64);
        } else {
            return syntax_error();
        }
        i += 2;
    }
    let db = ctx.client.db;
    let locks = &ctx.server.locks;
    let waits = &ctx.server.keyspace.waits;
    let mine = ctx.client.lock_waiter.clone();
    let mut l = ctx.lock(key);
    let now = l.now();
    let holder = match l.lookup(key) {
        Some(e) if e.kind != crate::store::Kind::String => return super::wrong_type(),
        e => e.map(|e| (e.value == &owner[..], e.expire_at)),
    };
    let free = match holder {
        None => waits.is_first(db, key, mine.as_ref()),
        Some((same_owner, _)) => same_owner,
    };
    if free {
        l.set(key, owner, now + ttl);
        crate::store::effects::rewrite(|| vec![crate::store::effects::args(&[b"SET", key, owner, b"PXAT", (now + ttl).to_string().as_bytes()])]);
        let token = locks.next_token(after);
        // the high-water mark is durable with the grant (AOF, replicas)
        ctx.server.keyspace.effects.append(db, crate::store::effects::args(&[b"TXN.FENCE", token.to_string().as_bytes()]));
        return Reply::Int(token as i64);
    }
    let Some(wait_ms) = wait_ms else {
        return Reply::Nil;
    };
    // Queue up (under the shard lock, so no release can slip in between);
    // inside MULTI or a script the answer is nil at once.
    let deadline = (wait_ms > 0).then(|| Instant::now() + Duration::from_millis(wait_ms));
    let blocked = super::block_on(ctx.server, ctx.client, &[key], deadline, Reply::Nil, Reply::Nil, args);
    drop(l);
    match blocked {
        Ok(mut b) => {
            // retry when the holder's lease ends
            b.wake_at =
                holder.map(|(_, expire_at)| expire_at).filter(|at| *at > 0).map(|at| Instant::now() + Duration::from_millis(at.saturating_sub(now) + 1));
            ctx.client.blocked = Some(b);
            Reply::NoReply
        }
        Err(reply) => reply,
    }
}

pub fn release(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, owner) = (&args[1], &args[2]);
    let mut l = ctx.lock(key);
    let held = l.lookup(key).is_some_and(|e| e.string() == Ok(&owner[..]));
    crate::store::effects::rewrite(|| vec![crate::store::effects::args(&[b"DEL", key])]);
    Reply::Int(i64::from(held && l.delete(key)))
}

pub fn extend(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, owner) = (&args[1], &args[2]);
    let ttl = match positive_ms(&args[0], &args[3]) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let mut l = ctx.lock(key);
    let now = l.now();
    let held = l.lookup(key).is_some_and(|e| e.string() == Ok(&owner[..]));
    crate::store::effects::rewrite(|| vec![crate::store::effects::args(&[b"PEXPIREAT", key, (now + ttl).to_string().as_bytes()])]);
    Reply::Int(i64::from(held && l.set_expire(key, now + ttl)))
}
