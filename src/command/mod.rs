//! The command table and the dispatcher.
//!
//! One table ([`table::COMMANDS`]) holds every command's name, arity, flags,
//! key positions, documentation and handler. The dispatcher checks existence,
//! arity and authentication, and runs eviction before commands that may grow
//! memory, all *before* a handler runs (Redis's `processCommand`). `COMMAND`
//! replies, and later the proxy's key extraction, read the same table.

pub mod bitmap;
pub mod connection;
pub mod dump;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod keys;
pub mod list;
pub mod lock;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod set;
pub mod sort;
pub mod stream;
pub mod string;
pub mod table;
pub mod transaction;
pub mod txn;
pub mod zset;

use crate::node::{Client, Server};
pub use crate::node::{CommandStat, Ctx};
use crate::resp::Reply;
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::time::Instant;
pub use table::{COMMANDS, Command, Keys, lookup};

/// Command flags, as Redis names them in `COMMAND INFO`.
pub mod flags {
    pub const WRITE: u32 = 1;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const FAST: u32 = 1 << 4;
    /// Allowed before authentication.
    pub const NO_AUTH: u32 = 1 << 5;
    pub const LOADING: u32 = 1 << 6;
    pub const STALE: u32 = 1 << 7;
    pub const NOSCRIPT: u32 = 1 << 8;
    /// Runs at once inside MULTI instead of being queued (EXEC, DISCARD,
    /// MULTI, WATCH, QUIT, RESET).
    pub const NO_QUEUE: u32 = 1 << 9;
    /// Runs with the server's exclusive gate: nothing else runs meanwhile
    /// (EXEC).
    pub const EXCLUSIVE: u32 = 1 << 10;
    /// A 2PC participant command (never waits for transaction key locks).
    pub const TXN: u32 = 1 << 11;
    /// Runs without the server's gate and takes it itself when needed: it
    /// may wait on the network first (TXN.ABORT asking the primary).
    pub const NO_GATE: u32 = 1 << 12;
    /// May block the client (BLPOP and friends, LOCK.ACQUIRE ... WAIT).
    pub const BLOCKING: u32 = 1 << 13;
    /// Runs with the exclusive gate when its arguments name keys by
    /// pattern (SORT ... BY / GET), which it then locks one by one.
    pub const PATTERNS: u32 = 1 << 14;
    /// A pub/sub command (`pubsub` in COMMAND INFO).
    pub const PUBSUB: u32 = 1 << 15;
    /// Refused inside MULTI (SAVE, SHUTDOWN, SYNC, PSYNC).
    pub const NO_MULTI: u32 = 1 << 16;
    /// In the order Redis 7.0 lists them (`flagNames` in server.c).
    pub const NAMES: [(u32, &str); 12] = [
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MULTI, "no_multi"),
    ];
}

pub type Handler = fn(&mut Ctx, &[Bytes]) -> Reply;

impl<'a> Ctx<'a> {
    /// The shard of `key` in the client's database, locked, with the
    /// client's lookup rules applied (CLIENT NO-TOUCH: no access time or
    /// frequency update; only TOUCH itself ignores it, as in Redis). The
    /// guard borrows the server, not the context, so the handler may go on
    /// changing the client's state while it holds it.
    pub fn lock(&self, key: &[u8]) -> crate::store::Locked<'a> {
        let mut l = self.server.keyspace.lock(self.client.db, key);
        l.set_touch(!self.client.no_touch);
        l
    }

    /// [`Ctx::lock`] for keys in several databases (COPY ... DB, MOVE).
    pub fn lock_dbs_many(&self, keys: &[(usize, &[u8])]) -> crate::store::Locked<'a> {
        let mut l = self.server.keyspace.lock_dbs_many(keys);
        l.set_touch(!self.client.no_touch);
        l
    }

    /// [`Ctx::lock`] for several keys.
    pub fn lock_many<K: AsRef<[u8]>>(&self, keys: &[K]) -> crate::store::Locked<'a> {
        let mut l = self.server.keyspace.lock_many(self.client.db, keys);
        l.set_touch(!self.client.no_touch);
        l
    }
}

// ---- error replies shared by the command families -------------------------

pub fn wrong_arity(name: &str) -> Reply {
    Reply::error(format!("ERR wrong number of arguments for '{}' command", name.to_ascii_lowercase()))
}

pub fn syntax_error() -> Reply {
    Reply::status_err("ERR syntax error")
}

pub fn not_integer() -> Reply {
    Reply::status_err("ERR value is not an integer or out of range")
}

pub fn wrong_type() -> Reply {
    Reply::status_err("WRONGTYPE Operation against a key holding the wrong kind of value")
}

impl Reply {
    fn status_err(s: &'static str) -> Reply {
        Reply::Error(std::borrow::Cow::Borrowed(s))
    }
}

/// An argument as an integer, or Redis's "not an integer" error.
pub fn arg_i64(arg: &[u8]) -> Result<i64, Reply> {
    crate::util::parse_i64(arg).ok_or_else(not_integer)
}

/// An integer of at least `min`, or `ERR {msg}` (Redis's
/// `getRangeLongFromObjectOrReply` with a message: one text for both).
pub fn arg_ranged(arg: &[u8], min: i64, msg: &'static str) -> Result<i64, Reply> {
    match crate::util::parse_i64(arg) {
        Some(v) if v >= min => Ok(v),
        _ => Err(Reply::error(format!("ERR {msg}"))),
    }
}

/// Case-insensitive comparison of an argument with an option name.
/// HSCAN's and SSCAN's options from `args[from..]`: COUNT (at least 1,
/// default 10) and MATCH, in any order, as Redis's `scanGenericCommand`
/// reads them.
pub fn scan_options(args: &[Bytes], from: usize) -> Result<(usize, Option<&Bytes>), Reply> {
    let (mut count, mut pattern) = (10usize, None);
    let mut i = from;
    while i < args.len() {
        if i + 1 >= args.len() {
            return Err(syntax_error());
        }
        if is(&args[i], "count") {
            match arg_i64(&args[i + 1])? {
                n if n >= 1 => count = n as usize,
                _ => return Err(syntax_error()),
            }
        } else if is(&args[i], "match") {
            pattern = Some(&args[i + 1]);
        } else {
            return Err(syntax_error());
        }
        i += 2;
    }
    Ok((count, pattern))
}

pub fn is(arg: &[u8], name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

pub fn unknown_command(args: &[Bytes]) -> Reply {
    let mut msg = format!("ERR unknown command '{}', with args beginning with: ", sanitize(&args[0], 128));
    for a in &args[1..] {
        if msg.len() >= 128 + 60 {
            break;
        }
        msg.push_str(&format!("'{}' ", sanitize(a, 128)));
    }
    Reply::error(msg)
}

/// Error texts must stay on one line: Redis maps CR/LF to spaces.
pub fn sanitize(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&b[..b.len().min(max)]).replace(['\r', '\n'], " ")
}

pub(crate) fn arity_ok(arity: i32, n: usize) -> bool {
    if arity >= 0 { n == arity as usize } else { n >= (-arity) as usize }
}

/// Runs one request and returns its reply. The single entry point from the
/// connection layer: checks existence, arity, authentication and memory,
/// queues inside MULTI, and runs the command under the server's gate.
pub fn dispatch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let appended = crate::store::effects::EffectLog::last_appended_here();
    let result = check_and_run(ctx, args);
    // what this command wrote reaches replicas at this offset (WAIT)
    let now = crate::store::effects::EffectLog::last_appended_here();
    if now != appended {
        ctx.client.write_offset = now;
    }
    match result {
        Ok(reply) => reply,
        Err(refused) => {
            // Inside MULTI a refused command dooms the transaction (EXECABORT).
            if ctx.client.multi.is_some() {
                ctx.client.multi_error = true;
            }
            refused
        }
    }
}

/// `Err` is a refusal before the command ran (Redis's `rejectCommand`).
fn check_and_run(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let Some((idx, cmd)) = lookup(&args[0]) else {
        return Err(unknown_command(args));
    };
    let stat = &ctx.server.command_stats[idx];
    let reject = |reply: Reply| {
        stat.rejected_calls.fetch_add(1, Ordering::Relaxed);
        Err(reply)
    };
    let (cmd, sub) = match resolve_subcommand(cmd, args) {
        Ok(found) => found,
        Err(reply) => return reject(reply),
    };
    if !arity_ok(cmd.arity, args.len()) {
        return reject(wrong_arity(&full_name(idx, sub)));
    }
    // checked before authentication, as Redis 7.0 does
    if is(&args[0], "debug") && !ctx.server.config.debug_command().permits(&ctx.client.info.addr) {
        return reject(Reply::error(
            "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
        ));
    }
    if cmd.flags & flags::NO_MULTI != 0 && ctx.client.multi.is_some() {
        return reject(Reply::error("ERR Command not allowed inside a transaction"));
    }
    if !ctx.client.authenticated && cmd.flags & flags::NO_AUTH == 0 {
        return reject(Reply::status_err("NOAUTH Authentication required."));
    }
    if cmd.flags & flags::LOADING == 0 && ctx.server.persistence.loading.load(Ordering::Acquire) && !ctx.client.replaying {
        return reject(Reply::status_err("LOADING Redis is loading the dataset in memory"));
    }
    if (cmd.flags & flags::WRITE != 0 || is(&args[0], "ping"))
        && !ctx.client.replaying
        && let Some(refusal) = crate::persist::writes_refused(ctx.server)
    {
        return reject(Reply::Error(refusal.into()));
    }
    // min-replicas-to-write: a write (or an EXEC of one) needs that many
    // replicas that acknowledged within min-replicas-max-lag seconds
    let needed = ctx.server.config.min_replicas_to_write.load(Ordering::Relaxed);
    if needed > 0 && !ctx.client.replaying && (cmd.flags & flags::WRITE != 0 || (cmd.name == "exec" && queued_write(ctx))) {
        let lag = ctx.server.config.min_replicas_max_lag.load(Ordering::Relaxed);
        if lag > 0 && (ctx.server.replicas.good(lag) as u64) < needed {
            return reject(Reply::status_err("NOREPLICAS Not enough good replicas to write."));
        }
    }
    // RESP2 subscribed mode: only the pub/sub commands, PING, QUIT, RESET
    if !ctx.client.resp3 && ctx.client.subs.active() {
        let name = if sub.is_some() { args[0].to_ascii_lowercase() } else { cmd.name.as_bytes().to_vec() };
        if !pubsub::allowed_when_subscribed(&String::from_utf8_lossy(&name)) {
            return reject(pubsub::not_in_subscribed_mode(&full_name(idx, sub)));
        }
        if cmd.name == "ping" && args.len() <= 2 {
            return Ok(pubsub::subscribed_ping(args));
        }
    }
    let server = ctx.server;
    // A script is running (on another thread, holding the exclusive gate):
    // SCRIPT KILL acts at once; others wait, or hear BUSY past the threshold.
    // Nothing a replayed file runs ever waits: it is what happened, in the
    // order it happened (a client's WATCH during loading may hold a key).
    if let Some(ms) = server.scripting.run.running_for_ms().filter(|_| !ctx.client.replaying) {
        if cmd.name == "kill" && is(&args[0], "script") {
            return Ok(script_kill_now(ctx));
        }
        if cmd.name == "shutdown" {
            // The only way out of an unkillable script, as in Redis: stop
            // the process without waiting for it.
            tracing::warn!("SHUTDOWN while a script runs: exiting at once");
            std::process::exit(0);
        }
        {
            let threshold = scripting::busy_threshold_ms(ctx);
            if ms >= threshold {
                return reject(Reply::status_err("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."));
            }
            let waiter = ctx.client.lock_waiter.clone().unwrap_or_default();
            let run = &server.scripting.run;
            let place = server.keyspace.waits.park_while(ctx.client.db, &waiter, || run.running_for_ms().is_some());
            let wake_at = Instant::now() + std::time::Duration::from_millis(threshold - ms);
            ctx.client.blocked = Some(crate::node::Blocked::waiting(place, wake_at, args));
            return Ok(Reply::NoReply);
        }
    }
    // Isolation from prepared cross-node transactions: a command touching a
    // key they hold waits until they are decided (or, on a TXN.NOWAIT
    // connection, is deferred at once, with the keyed commands after it).
    // A command queued in MULTI is not run yet: EXEC waits for its keys.
    let queueing = ctx.client.multi.is_some() && cmd.flags & flags::NO_QUEUE == 0;
    if ctx.client.txn_deferring && cmd.flags & flags::TXN == 0 && cmd.key_iter(args.len(), |i| &args[i]).next().is_some() {
        return Ok(txn_defer());
    }
    if !server.txns.is_idle() && cmd.flags & flags::TXN == 0 && !queueing && !ctx.client.replaying {
        let locked = txn_locked_keys(ctx, cmd, args);
        if !locked.is_empty() {
            if ctx.client.txn_nowait {
                ctx.client.txn_deferring = true;
                return Ok(txn_defer());
            }
            wait_for_txn(ctx, &locked, args);
            return Ok(Reply::NoReply);
        }
    }
    // A key held for a woken blocked command: everyone else waits until it
    // has run (so a push serves the longest waiter first, as in Redis).
    if server.keyspace.waits.any_reserved() && !ctx.client.in_exec && !queueing && !ctx.client.replaying && held_for_another(ctx, cmd, args) {
        // a proxy's shared connection never waits, not even for this
        if ctx.client.txn_nowait {
            ctx.client.txn_deferring = true;
            return Ok(Reply::status_err("TXNDEFER a key is held for a blocked client; run the command on a connection that may wait"));
        }
        let waiter = ctx.client.lock_waiter.clone().unwrap_or_default();
        let place = server.keyspace.waits.park(ctx.client.db, &waiter);
        let wake_at = Instant::now() + std::time::Duration::from_millis(100);
        ctx.client.blocked = Some(crate::node::Blocked::waiting(place, wake_at, args));
        return Ok(Reply::NoReply);
    }
    if cmd.flags & flags::NO_QUEUE == 0
        && let Some(queue) = ctx.client.multi.as_mut()
    {
        // Queueing takes memory: over the limit nothing is queued, reads
        // included (Redis's `reject_cmd_on_oom` for MULTI).
        let over = {
            let _gate = server.gate_shared();
            server.keyspace.evict_if_needed().is_err()
        };
        if over {
            return reject(oom());
        }
        queue.push(args.to_vec());
        return Ok(Reply::status("QUEUED"));
    }
    let exclusive = cmd.flags & flags::EXCLUSIVE != 0 || (cmd.flags & flags::PATTERNS != 0 && sort::needs_exclusive(args));
    let _gate = if exclusive {
        Some(server.gate_exclusive())
    } else if cmd.flags & flags::NO_GATE != 0 {
        None
    } else {
        Some(server.gate_shared())
    };
    if cmd.flags & flags::DENYOOM != 0 && server.keyspace.evict_if_needed().is_err() {
        return reject(oom());
    }
    Ok(execute(ctx, idx, sub, cmd, args))
}

fn txn_defer() -> Reply {
    Reply::status_err("TXNDEFER a key is held by a cross-node transaction; run the command on a connection that may wait")
}

/// A write among the commands queued for EXEC.
fn queued_write(ctx: &Ctx) -> bool {
    ctx.client.multi.iter().flatten().any(|a| lookup(&a[0]).is_some_and(|(_, c)| resolve_subcommand(c, a).is_ok_and(|(c, _)| c.flags & flags::WRITE != 0)))
}

/// The keys of `args` locked by prepared transactions; for EXEC, those of
/// the queued commands.
fn txn_locked_keys(ctx: &mut Ctx, cmd: &'static Command, args: &[Bytes]) -> Vec<Bytes> {
    let db = ctx.client.db;
    let txns = &ctx.server.txns;
    let mut locked = Vec::new();
    let mut of = |cmd: &'static Command, args: &[Bytes]| {
        for i in cmd.key_iter(args.len(), |i| &args[i]) {
            if txns.locked_by(db, &args[i]).is_some() && !locked.contains(&args[i]) {
                locked.push(args[i].clone());
            }
        }
    };
    if cmd.name == "exec" {
        for a in ctx.client.multi.iter().flatten() {
            if let Some((_, c)) = lookup(&a[0])
                && let Ok((c, _)) = resolve_subcommand(c, a)
            {
                of(c, a);
            }
        }
    } else {
        of(cmd, args);
    }
    locked
}

/// True if a key of `args` (for EXEC: of the queued commands) is held for
/// a woken waiter other than this client.
fn held_for_another(ctx: &mut Ctx, cmd: &'static Command, args: &[Bytes]) -> bool {
    let db = ctx.client.db;
    let waits = &ctx.server.keyspace.waits;
    let me = ctx.client.lock_waiter.as_ref();
    let held = |cmd: &'static Command, args: &[Bytes]| cmd.key_iter(args.len(), |i| &args[i]).any(|i| !waits.may_pass(db, &args[i], me));
    if cmd.name == "exec" {
        ctx.client.multi.as_ref().is_some_and(|q| {
            q.iter().any(|a| {
                lookup(&a[0]).is_some_and(|(_, c)| match resolve_subcommand(c, a) {
                    Ok((c, _)) => held(c, a),
                    Err(_) => false,
                })
            })
        })
    } else {
        held(cmd, args)
    }
}

/// Blocks the running command on `keys` of the client's database: call it
/// while their shards are still locked (so no change slips in between),
/// then store the result in `client.blocked` once they are released. A
/// client that may not block (inside MULTI or a script) gets `Err`: the
/// command answers `on_deny` at once, as Redis's would.
pub fn block_on<K: AsRef<[u8]>>(
    server: &Server,
    client: &Client,
    keys: &[K],
    deadline: Option<Instant>,
    on_timeout: Reply,
    on_deny: Reply,
    args: &[Bytes],
) -> Result<crate::node::Blocked, Reply> {
    if client.in_exec || client.in_script {
        return Err(on_deny);
    }
    let waiter = client.lock_waiter.clone().unwrap_or_default();
    let place = server.keyspace.waits.queue(client.db, keys, &waiter);
    Ok(crate::node::Blocked { place, blocking: true, deadline, wake_at: None, on_timeout, args: crate::util::compact_copy(args) })
}

/// LMPOP's, BLMPOP's, ZMPOP's and BZMPOP's `numkeys key... <end> [COUNT
/// n]` from `numkeys_at`: the key positions, the end (`end` reads it: LEFT
/// or MIN is true) and the count.
pub struct Mpop {
    pub keys: std::ops::Range<usize>,
    pub first: bool,
    pub count: usize,
}

pub fn parse_mpop(args: &[Bytes], numkeys_at: usize, end: impl Fn(&[u8]) -> Result<bool, Reply>) -> Result<Mpop, Reply> {
    let n = arg_ranged(&args[numkeys_at], 1, "numkeys should be greater than 0")? as u64;
    let where_at = (numkeys_at as u64 + 1).saturating_add(n);
    if where_at >= args.len() as u64 {
        return Err(syntax_error());
    }
    let where_at = where_at as usize;
    let first = end(&args[where_at])?;
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        if count.is_none() && is(&args[j], "count") && j + 1 < args.len() {
            j += 1;
            count = Some(arg_ranged(&args[j], 1, "count should be greater than 0")? as usize);
        } else {
            return Err(syntax_error());
        }
        j += 1;
    }
    Ok(Mpop { keys: numkeys_at + 1..where_at, first, count: count.unwrap_or(1) })
}

/// Queues the running command on `keys` while `l` still holds their shards
/// (nothing can change between the look and the wait), then releases
/// them: no reply yet, or `on_deny` at once where it may not block.
pub fn block_keys(
    ctx: &mut Ctx,
    l: crate::store::Locked<'_>,
    keys: &[Bytes],
    deadline: Option<Instant>,
    on_timeout: Reply,
    on_deny: Reply,
    args: &[Bytes],
) -> Reply {
    let blocked = block_on(ctx.server, ctx.client, keys, deadline, on_timeout, on_deny, args);
    drop(l);
    match blocked {
        Ok(b) => {
            ctx.client.blocked = Some(b);
            Reply::NoReply
        }
        Err(reply) => reply,
    }
}

/// A blocking command's timeout in seconds (Redis's
/// `getTimeoutFromObjectOrReply`): `None` waits for ever.
pub fn arg_timeout(arg: &[u8]) -> Result<Option<Instant>, Reply> {
    let Some(secs) = crate::util::parse_f64(arg) else {
        return Err(Reply::status_err("ERR timeout is not a float or out of range"));
    };
    // Redis converts `ceil(secs * 1000)` to a long long: what does not fit
    // (infinity included) comes out negative on x86-64.
    let ms = (secs * 1000.0).ceil();
    if !(0.0..9.223_372_036_854_775e18).contains(&ms) {
        return Err(Reply::status_err("ERR timeout is negative"));
    }
    if ms == 0.0 {
        return Ok(None);
    }
    // beyond a century is for ever in practice (and Instant cannot hold it)
    let ms = ms.min(100.0 * 365.0 * 86_400_000.0) as u64;
    Ok(Some(Instant::now() + std::time::Duration::from_millis(ms)))
}

/// Sets the client to wait, in the keys' FIFO queues, for the
/// transactions holding `locked`: a decision releasing one wakes the first
/// in line. A key released between the check and the queue-up wakes this
/// command at once.
fn wait_for_txn(ctx: &mut Ctx, locked: &[Bytes], args: &[Bytes]) {
    let (db, txns) = (ctx.client.db, &ctx.server.txns);
    let waiter = ctx.client.lock_waiter.clone().unwrap_or_default();
    let place = ctx.server.keyspace.waits.queue(db, locked, &waiter);
    if locked.iter().all(|k| txns.locked_by(db, k).is_none()) {
        waiter.wake();
    }
    // a safety net only: releases and decisions wake the waiters
    let wake_at = Instant::now() + std::time::Duration::from_secs(1);
    ctx.client.blocked = Some(crate::node::Blocked::waiting(place, wake_at, args));
}

fn script_kill_now(ctx: &Ctx) -> Reply {
    match ctx.server.scripting.run.request_kill() {
        Ok(()) => Reply::Ok,
        Err(r) => r,
    }
}

fn oom() -> Reply {
    tracing::debug!("command refused: used memory above maxmemory");
    Reply::status_err("OOM command not allowed when used memory > 'maxmemory'.")
}

/// Runs a checked command and counts it in INFO commandstats.
fn execute(ctx: &mut Ctx, idx: usize, sub: Option<usize>, cmd: &'static Command, args: &[Bytes]) -> Reply {
    let stat = &ctx.server.command_stats[idx];
    ctx.client.info.set_last_command(idx, sub);
    let start = Instant::now();
    crate::util::refresh_clock(start);
    // EXEC, scripts and commits run commands whose effects form one
    // transaction in the effect log
    let gather = matches!(cmd.name, "exec" | "eval" | "evalsha" | "eval_ro" | "evalsha_ro");
    let log = &ctx.server.keyspace.effects;
    // With no reader of the effect log there is nothing to record: no
    // frame at all (a command's frame is only ever read for the log).
    let framed = log.keeping();
    if framed {
        crate::store::effects::begin(ctx.client.db, args, cmd.flags & flags::WRITE != 0, gather);
    }
    let tracking = ctx.server.keyspace.notify.tracking_on.load(Ordering::Relaxed);
    if tracking {
        crate::node::tracking::set_current(ctx.client.id);
    }
    let reply = (cmd.handler)(ctx, args);
    if framed {
        crate::store::effects::end(&ctx.server.keyspace.effects);
    }
    if tracking {
        track_after(ctx, cmd, args);
    }
    // Scripts are shown before they run (their calls follow); admin
    // commands not at all, as in Redis.
    if ctx.server.monitors.active() && cmd.flags & flags::ADMIN == 0 && !matches!(cmd.name, "eval" | "evalsha" | "eval_ro" | "evalsha_ro") {
        let source = (!ctx.client.in_script).then_some(ctx.client.info.addr.as_str());
        ctx.server.monitors.feed(ctx.client.db, source, args, &ctx.server.config.output_limits[2]);
    }
    let micros = start.elapsed().as_micros() as u64;
    stat.calls.fetch_add(1, Ordering::Relaxed);
    stat.usec.fetch_add(micros, Ordering::Relaxed);
    // The slow log: commands scripts call are not logged (the script is),
    // nor EXEC (its commands are), as in Redis.
    let slower_than = ctx.server.config.slowlog_log_slower_than.load(Ordering::Relaxed);
    if slower_than >= 0 && micros >= slower_than as u64 && !ctx.client.in_script && cmd.name != "exec" && !matches!(reply, Reply::NoReply) {
        let max_len = ctx.server.config.slowlog_max_len.load(Ordering::Relaxed) as usize;
        ctx.server.slowlog.push(args, micros, &ctx.client.info.addr, &ctx.client.info.name(), max_len);
    }
    if reply.is_error() {
        stat.failed_calls.fetch_add(1, Ordering::Relaxed);
    }
    reply
}

/// Client-side caching after a command: a tracking client's read-only
/// command remembers its keys (unless OPTIN without CLIENT CACHING YES,
/// or OPTOUT with CLIENT CACHING NO); the CACHING flag lasts one command
/// (a transaction, or CLIENT commands, keep it); BCAST invalidations
/// collected meanwhile go out after a top-level command.
fn track_after(ctx: &mut Ctx, cmd: &'static Command, args: &[Bytes]) {
    if let Some((bcast, optin, optout)) = ctx.client.tracking {
        let caching = ctx.client.tracking_caching;
        if !bcast && cmd.flags & flags::READONLY != 0 && cmd.flags & flags::PUBSUB == 0 && !((optin && !caching) || (optout && caching)) {
            let keys: Vec<&[u8]> = cmd.key_iter(args.len(), |i| &args[i]).map(|i| &args[i][..]).collect();
            if !keys.is_empty() {
                let (s, max) = (ctx.server, ctx.server.config.tracking_table_max_keys.load(Ordering::Relaxed));
                s.tracking.remember(ctx.client.id, &keys, max, &|id| s.tracking_target(id), &s.config.output_limits[2]);
            }
        }
        if ctx.client.multi.is_none() && !ctx.client.in_exec && !args[0].eq_ignore_ascii_case(b"client") {
            ctx.client.tracking_caching = false;
        }
    }
    if !ctx.client.in_exec && !ctx.client.in_script {
        ctx.server.tracking_after_command();
    }
}

/// Runs a command queued by MULTI; it was checked when it was queued.
pub(crate) fn execute_queued(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some((idx, cmd)) = lookup(&args[0]) else {
        return unknown_command(args);
    };
    match resolve_subcommand(cmd, args) {
        Ok((cmd, sub)) => execute(ctx, idx, sub, cmd, args),
        Err(reply) => reply,
    }
}

/// For container commands (CONFIG, CLIENT, ...) finds the subcommand entry
/// and its index; other commands resolve to themselves.
fn resolve_subcommand(cmd: &'static Command, args: &[Bytes]) -> Result<(&'static Command, Option<usize>), Reply> {
    if cmd.subcommands.is_empty() {
        return Ok((cmd, None));
    }
    if args.len() < 2 {
        // COMMAND alone is a command of its own; CONFIG alone is not.
        return if arity_ok(cmd.arity, args.len()) { Ok((cmd, None)) } else { Err(wrong_arity(cmd.name)) };
    }
    match cmd.subcommands.iter().position(|s| is(&args[1], s.name)) {
        Some(i) => Ok((&cmd.subcommands[i], Some(i))),
        None => Err(Reply::error(format!("ERR unknown subcommand '{}'. Try {} HELP.", sanitize(&args[1], 128), cmd.name.to_ascii_uppercase()))),
    }
}

/// `get`, or `config|get` for a subcommand: the name Redis uses in errors,
/// CLIENT LIST and COMMAND.
pub fn full_name(parent: usize, sub: Option<usize>) -> String {
    let cmd = &COMMANDS[parent];
    match sub {
        Some(i) => format!("{}|{}", cmd.name, cmd.subcommands[i].name),
        None => cmd.name.to_string(),
    }
}
