//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (see [`crate::script`]).

use super::keys::help_reply;
use super::{Ctx, arg_i64, flags, is};
use crate::resp::Reply;
use bytes::Bytes;

/// A command called by a script (`redis.call` / `redis.pcall`): checked
/// as Redis checks it, then run as a command queued in a transaction.
fn call_from_script(ctx: &mut Ctx, argv: &[Bytes], read_only: bool) -> Reply {
    let Some((_, cmd)) = super::lookup(&argv[0]) else {
        return Reply::error("ERR Unknown Redis command called from script");
    };
    if !super::arity_ok(cmd.arity, argv.len()) {
        return Reply::error("ERR Wrong number of args calling Redis command from script");
    }
    if cmd.flags & (flags::NOSCRIPT | flags::NO_QUEUE | flags::TXN) != 0 && cmd.name != "ping" {
        return Reply::error("ERR This Redis command is not allowed from script");
    }
    if cmd.flags & flags::WRITE != 0 {
        if read_only {
            return Reply::error("ERR Write commands are not allowed from read-only scripts.");
        }
        ctx.server.scripting.run.note_write();
    }
    super::execute_queued(ctx, argv)
}

fn eval_generic(ctx: &mut Ctx, args: &[Bytes], by_sha: bool, read_only: bool) -> Reply {
    let numkeys = match arg_i64(&args[2]) {
        Ok(n) if n < 0 => return Reply::error("ERR Number of keys can't be negative"),
        Ok(n) if n as usize > args.len() - 3 => return Reply::error("ERR Number of keys can't be greater than number of args"),
        Ok(n) => n as usize,
        Err(r) => return r,
    };
    let (keys, argv) = args[3..].split_at(numkeys);
    let server = ctx.server;
    let mut engine = server.scripting.engine();
    let sha = if by_sha {
        String::from_utf8_lossy(&args[1]).to_ascii_lowercase()
    } else {
        match engine.load(&args[1]) {
            Ok(sha) => sha,
            Err(r) => return r,
        }
    };
    let run = &server.scripting.run;
    run.start();
    if ctx.server.monitors.active() {
        let source = (!ctx.client.in_script).then_some(ctx.client.info.addr.as_str());
        ctx.server.monitors.feed(ctx.client.db, source, args, &ctx.server.config.output_limits[2]);
    }
    ctx.client.in_exec = true;
    ctx.client.in_script = true;
    // Lua speaks RESP2 whatever the caller's protocol (Redis's scripts do
    // until `redis.setresp(3)`): commands shape their replies for it
    let resp3 = std::mem::replace(&mut ctx.client.resp3, false);
    // A long script keeps this thread; let another take over the other
    // connections meanwhile (they are told BUSY past the threshold).
    let kill = run.kill_flag();
    let mut call = |argv: &[Bytes]| call_from_script(ctx, argv, read_only);
    let reply = match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| engine.run(&sha, keys, argv, kill, &mut call))
        }
        _ => engine.run(&sha, keys, argv, kill, &mut call),
    };
    ctx.client.in_exec = false;
    ctx.client.in_script = false;
    ctx.client.resp3 = resp3;
    run.finish();
    server.keyspace.waits.wake_parked();
    reply
}

pub fn eval(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    eval_generic(ctx, args, false, false)
}

pub fn evalsha(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    eval_generic(ctx, args, true, false)
}

pub fn eval_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    eval_generic(ctx, args, false, true)
}

pub fn evalsha_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    eval_generic(ctx, args, true, true)
}

pub fn script_load(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match ctx.server.scripting.engine().load(&args[2]) {
        Ok(sha) => Reply::bulk(sha),
        Err(r) => r,
    }
}

pub fn script_exists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let engine = ctx.server.scripting.engine();
    Reply::Array(args[2..].iter().map(|sha| Reply::Int(i64::from(engine.exists(&String::from_utf8_lossy(sha))))).collect())
}

pub fn script_flush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 3 || args.len() == 3 && !(is(&args[2], "async") || is(&args[2], "sync")) {
        return super::syntax_error();
    }
    ctx.server.scripting.engine().flush();
    Reply::Ok
}

/// Reached only when no script runs (the dispatcher answers SCRIPT KILL
/// itself while one does).
pub fn script_kill(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    match ctx.server.scripting.run.request_kill() {
        Ok(()) => Reply::Ok,
        Err(r) => r,
    }
}

pub fn script_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "SCRIPT",
        &[
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    )
}

/// For the dispatcher: how long a running script may go before others get
/// `-BUSY` (`busy-reply-threshold`, alias `lua-time-limit`, in ms).
pub fn busy_threshold_ms(ctx: &Ctx) -> u64 {
    ctx.server.config.get("busy-reply-threshold").and_then(|v| v.parse().ok()).unwrap_or(5000)
}
