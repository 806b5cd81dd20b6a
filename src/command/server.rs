//! Server commands: INFO, DBSIZE, FLUSHDB/FLUSHALL, CONFIG, COMMAND (built
//! from the command table), TIME, SHUTDOWN and the answers clients and test
//! harnesses expect from a server without scripting or persistence.

use super::connection::REDIS_VERSION;
use super::keys::help_reply;
use super::{COMMANDS, Command, Ctx, Keys, flags, is, lookup, syntax_error, wrong_arity};
use crate::config::ConfigError;
use crate::resp::Reply;
use crate::store::NUM_DBS;
use crate::util;
use bytes::Bytes;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

pub fn ok(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Ok
}

pub fn dbsize(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Int(ctx.server.keyspace.dbsize(ctx.client.db) as i64)
}

/// `ASYNC`, `SYNC` or nothing (`lazyfree-lazy-user-flush`); true for ASYNC.
fn flush_mode(ctx: &Ctx, args: &[Bytes]) -> Result<bool, Reply> {
    match args.len() {
        1 => Ok(ctx.server.config.lazyfree_lazy_user_flush.load(Ordering::Relaxed)),
        2 if is(&args[1], "async") => Ok(true),
        2 if is(&args[1], "sync") => Ok(false),
        _ => Err(syntax_error()),
    }
}

pub fn flushdb(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match flush_mode(ctx, args) {
        Ok(lazy) => {
            ctx.server.keyspace.flush_db(ctx.client.db, lazy);
            ctx.server.tracking_flush();
            Reply::Ok
        }
        Err(r) => r,
    }
}

pub fn flushall(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match flush_mode(ctx, args) {
        Ok(lazy) => {
            for db in 0..NUM_DBS {
                ctx.server.keyspace.flush_db(db, lazy);
            }
            ctx.server.tracking_flush();
            Reply::Ok
        }
        Err(r) => r,
    }
}

pub fn time(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Reply::Array(vec![Reply::bulk(now.as_secs().to_string()), Reply::bulk(now.subsec_micros().to_string())])
}

/// MONITOR: from now on, every command the server runs is written to this
/// client (`crate::node::monitor`); RESET or QUIT ends it.
pub fn monitor(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if ctx.client.monitor.is_none() {
        let outbox = ctx.client.outbox();
        ctx.client.monitor = Some(ctx.server.monitors.subscribe(outbox));
        ctx.client.info.monitoring.store(true, Ordering::Relaxed);
    }
    Reply::Ok
}

pub fn lastsave(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Int(ctx.server.lastsave.load(Ordering::Relaxed) as i64)
}

pub fn save(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    match crate::persist::save(ctx.server) {
        Ok(Ok(_)) => Reply::Ok,
        // the reason is in the log, as Redis's plain `-ERR`
        Ok(Err(_)) => Reply::error("ERR"),
        Err(crate::persist::NotStarted::InProgress) => Reply::error("ERR Background save already in progress"),
    }
}

/// BGSAVE [SCHEDULE]: a snapshot written in the background; with SCHEDULE
/// while another save runs, one follows it.
pub fn bgsave(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let schedule = match &args[1..] {
        [] => false,
        [a] if is(a, "schedule") => true,
        _ => return syntax_error(),
    };
    match crate::persist::bgsave(&ctx.server.arc()) {
        Ok(()) => Reply::status("Background saving started"),
        Err(crate::persist::NotStarted::InProgress) if schedule => {
            ctx.server.persistence.bgsave_scheduled.store(true, Ordering::Relaxed);
            Reply::status("Background saving scheduled")
        }
        Err(crate::persist::NotStarted::InProgress) => Reply::error("ERR Background save already in progress"),
    }
}

/// BGREWRITEAOF: a new base from a snapshot, the increments since
/// folded into it (`crate::persist::aof`).
pub fn bgrewriteaof(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if !ctx.server.persistence.aof.on.load(Ordering::Acquire) {
        return Reply::error("ERR shardis rewrites the AOF only while it is on (appendonly yes)");
    }
    match crate::persist::aof::rewrite(&ctx.server.arc()) {
        Ok(true) => Reply::status("Background append only file rewriting started"),
        Ok(false) => Reply::status("Background append only file rewriting scheduled"),
        Err(e) => Reply::error(e),
    }
}

pub fn role(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let replicas = ctx
        .server
        .replicas
        .list()
        .iter()
        .filter(|r| r.is_online())
        .map(|r| Reply::Array(vec![Reply::bulk(r.ip.clone()), Reply::bulk(r.port.to_string()), Reply::bulk(r.ack_offset.load(Ordering::Relaxed).to_string())]))
        .collect();
    Reply::Array(vec![Reply::bulk("master"), Reply::Int(ctx.server.keyspace.effects.end() as i64), Reply::Array(replicas)])
}

/// `WAIT numreplicas timeout`: the replicas whose acknowledgements cover
/// this client's last write, once there are `numreplicas` of them or the
/// timeout (ms; 0 = none) passes. Meanwhile every replica is asked for an
/// acknowledgement, and each one that arrives counts again.
pub fn wait(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let wanted = match super::arg_i64(&args[1]) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let timeout = match crate::util::parse_i64(&args[2]) {
        Some(t) if t < 0 => return Reply::error("ERR timeout is negative"),
        Some(t) => t,
        None => return Reply::error("ERR timeout is not an integer or out of range"),
    };
    let replicas = &ctx.server.replicas;
    let acked = replicas.acknowledged(ctx.client.write_offset);
    let now = std::time::Instant::now();
    let deadline = *ctx.client.wait_deadline.get_or_insert_with(|| {
        if timeout == 0 { now + std::time::Duration::from_secs(u32::MAX as u64) } else { now + std::time::Duration::from_millis(timeout as u64) }
    });
    // inside MULTI or a script it cannot wait: the count now, as Redis
    if acked as i64 >= wanted || now >= deadline || ctx.client.in_exec || ctx.client.in_script {
        ctx.client.wait_deadline = None;
        return Reply::Int(acked as i64);
    }
    replicas.getack.notify_waiters();
    let waiter = ctx.client.lock_waiter.clone().unwrap_or_default();
    let place = ctx.server.keyspace.waits.park_while(ctx.client.db, &waiter, || true);
    // woken by each acknowledgement that covers more; a look each second
    // and at the deadline in any case
    let wake_at = deadline.min(now + std::time::Duration::from_secs(1));
    ctx.client.blocked = Some(crate::node::Blocked::waiting(place, wake_at, args));
    Reply::NoReply
}

pub fn shutdown(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    for a in &args[1..] {
        if is(a, "abort") {
            return Reply::error("ERR No shutdown in progress.");
        }
        if !(is(a, "nosave") || is(a, "save") || is(a, "now") || is(a, "force")) {
            return syntax_error();
        }
    }
    let asked = if args[1..].iter().any(|a| is(a, "nosave")) {
        Some(false)
    } else if args[1..].iter().any(|a| is(a, "save")) {
        Some(true)
    } else {
        None
    };
    let force = args[1..].iter().any(|a| is(a, "force"));
    if crate::persist::save_on_shutdown(ctx.server, asked).is_err() && !force {
        return Reply::error("ERR Errors trying to SHUTDOWN. Check logs.");
    }
    ctx.server.persistence.final_save_done.store(true, Ordering::Relaxed);
    tracing::info!(client = ctx.client.id, "SHUTDOWN requested");
    ctx.server.request_shutdown();
    ctx.client.close = true;
    Reply::NoReply
}

pub fn debug_sleep(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(secs) = util::parse_f64(&args[2]).filter(|s| *s >= 0.0) else {
        return Reply::error("ERR value is not a valid float");
    };
    // Like Redis, DEBUG SLEEP blocks the thread that runs it.
    std::thread::sleep(std::time::Duration::from_secs_f64(secs));
    Reply::Ok
}

/// DEBUG EFFECTS offset [count]: the effect log from `offset` (a shardis
/// addition; replication reads the same log). DEBUG EFFECTS KEEP attaches
/// a reader: the log keeps effects from then on.
pub fn debug_effects(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let log = &ctx.server.keyspace.effects;
    if args.len() == 3 && is(&args[2], "keep") {
        log.keep();
        return Reply::Ok;
    }
    if !log.keeping() {
        return Reply::error("ERR the effect log keeps nothing until a reader attaches (DEBUG EFFECTS KEEP)");
    }
    let (Some(offset), count) = (util::parse_i64(&args[2]).filter(|o| *o >= 0), args.get(3).map(|c| util::parse_i64(c).filter(|c| *c > 0))) else {
        return Reply::error("ERR value is not an integer or out of range");
    };
    let count = match count {
        None => 10_000,
        Some(Some(c)) => c as usize,
        Some(None) => return Reply::error("ERR value is not an integer or out of range"),
    };
    match ctx.server.keyspace.effects.since(offset as u64, count) {
        Ok(list) => Reply::Array(
            list.into_iter()
                .map(|e| Reply::Array(vec![Reply::Int(e.offset as i64), Reply::Int(e.db as i64), Reply::Array(e.args.into_iter().map(Reply::Bulk).collect())]))
                .collect(),
        ),
        Err(oldest) => Reply::error(format!("ERR offset {offset} is not in the effect log (it holds {oldest} to {})", ctx.server.keyspace.effects.end())),
    }
}

pub fn function_flush(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match args.len() {
        2 => Reply::Ok,
        3 if is(&args[2], "async") || is(&args[2], "sync") => Reply::Ok,
        _ => syntax_error(),
    }
}

pub fn function_list(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Array(vec![])
}

pub fn function_stats(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Map(vec![
        (Reply::bulk("running_script"), Reply::Nil),
        (
            Reply::bulk("engines"),
            Reply::Map(vec![(
                Reply::bulk("LUA"),
                Reply::Map(vec![(Reply::bulk("libraries_count"), Reply::Int(0)), (Reply::bulk("functions_count"), Reply::Int(0))]),
            )]),
        ),
    ])
}

pub fn memory(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if is(&args[1], "usage") {
        if args.len() < 3 {
            return wrong_arity("memory|usage");
        }
        let mut l = ctx.lock(&args[2]).no_touch();
        return match l.lookup(&args[2]) {
            None => Reply::Nil,
            Some(e) => Reply::Int(crate::store::memory_usage(e.entry) as i64),
        };
    }
    if is(&args[1], "help") {
        return help_reply("MEMORY", &["USAGE <key> [SAMPLES <count>]", "    Return memory in bytes used by <key> and its value."]);
    }
    Reply::error(format!("ERR unknown subcommand '{}'. Try MEMORY HELP.", String::from_utf8_lossy(&args[1])))
}

pub fn slowlog(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let log = &ctx.server.slowlog;
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    match (sub.as_str(), args.len()) {
        ("get", 2) => log.get(Some(10)),
        ("get", 3) => match crate::util::parse_i64(&args[2]) {
            Some(-1) => log.get(None),
            Some(n) if n >= 0 => log.get(Some(n as usize)),
            _ => Reply::error("ERR count should be greater than or equal to -1"),
        },
        ("len", 2) => Reply::Int(log.len() as i64),
        ("reset", 2) => {
            log.reset();
            Reply::Ok
        }
        // Its own wording ("Prints"), not the common HELP ending.
        ("help", 2) => Reply::Array(
            [
                "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|l| Reply::Status(l.to_string().into()))
            .collect(),
        ),
        ("get" | "len" | "reset" | "help", _) => wrong_arity(&format!("slowlog|{sub}")),
        _ => Reply::error(format!("ERR unknown subcommand '{}'. Try SLOWLOG HELP.", String::from_utf8_lossy(&args[1]))),
    }
}

// ---- CONFIG -----------------------------------------------------------------

pub fn config_get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let cfg = &ctx.server.config;
    let names = cfg.names();
    let mut out: Vec<(Reply, Reply)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for pattern in &args[2..] {
        let p = pattern.to_ascii_lowercase();
        for name in &names {
            if util::glob_match(&p, name.as_bytes(), true) && seen.insert(name.clone()) {
                out.push((Reply::bulk(name), Reply::bulk(cfg.get(name).unwrap_or_default())));
            }
        }
    }
    Reply::Map(out)
}

pub fn config_set(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if !args.len().is_multiple_of(2) {
        return wrong_arity("config|set");
    }
    for pair in args[2..].chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).into_owned();
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        match ctx.server.config.set_from_client(&name, &value, &ctx.client.info.addr) {
            Ok(()) => {}
            Err(ConfigError::Unknown) => {
                return Reply::error(format!("ERR Unknown option or number of arguments for CONFIG SET - '{name}'"));
            }
            Err(ConfigError::Invalid(why)) => {
                return Reply::error(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"));
            }
        }
    }
    if args[2..].chunks(2).any(|p| is(&p[0], "appendonly")) {
        if ctx.server.config.flag("appendonly", false) {
            crate::persist::aof::enable(&ctx.server.arc());
        } else {
            crate::persist::aof::disable(ctx.server);
        }
    }
    if args[2..].chunks(2).any(|p| is(&p[0], "appendfsync")) {
        let policy = match ctx.server.config.get("appendfsync").as_deref() {
            Some("always") => 0,
            Some("no") => 2,
            _ => 1,
        };
        ctx.server.persistence.aof.fsync.store(policy, Ordering::Relaxed);
    }
    // A lower maxmemory takes effect at once, as in Redis, which warns.
    let max = ctx.server.config.maxmemory.load(Ordering::Relaxed);
    let used = crate::alloc::used_memory();
    if args[2..].chunks(2).any(|p| is(&p[0], "maxmemory")) && max > 0 && used > max {
        tracing::warn!(
            "WARNING: the new maxmemory value set via CONFIG SET ({max}) is smaller than the current memory usage ({used}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy."
        );
    }
    let _ = ctx.server.keyspace.evict_if_needed();
    Reply::Ok
}

pub fn config_resetstat(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let s = ctx.server;
    for c in [&s.keyspace.stats.keyspace_hits, &s.keyspace.stats.keyspace_misses, &s.keyspace.stats.expired_keys, &s.keyspace.stats.evicted_keys] {
        c.store(0, Ordering::Relaxed);
    }
    for c in [
        &s.stats.total_commands_processed,
        &s.stats.total_connections_received,
        &s.stats.rejected_connections,
        &s.stats.net_input_bytes,
        &s.stats.net_output_bytes,
    ] {
        c.store(0, Ordering::Relaxed);
    }
    for st in &s.command_stats {
        for c in [&st.calls, &st.usec, &st.rejected_calls, &st.failed_calls] {
            c.store(0, Ordering::Relaxed);
        }
    }
    Reply::Ok
}

pub fn config_rewrite(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    match ctx.server.config.rewrite() {
        Ok(()) => {
            tracing::info!("CONFIG REWRITE executed with success.");
            Reply::Ok
        }
        Err(e) => Reply::error(format!("ERR {e}")),
    }
}

pub fn config_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    )
}

// ---- COMMAND ----------------------------------------------------------------

fn acl_categories(c: &Command) -> Vec<Reply> {
    let mut cats = Vec::new();
    let group_cat = match c.group {
        "string" => Some("@string"),
        "generic" => Some("@keyspace"),
        "connection" => Some("@connection"),
        "scripting" => Some("@scripting"),
        _ => None,
    };
    cats.extend(group_cat);
    if c.flags & flags::WRITE != 0 {
        cats.push("@write");
    }
    if c.flags & flags::READONLY != 0 {
        cats.push("@read");
    }
    if c.flags & flags::ADMIN != 0 {
        cats.extend(["@admin", "@slow", "@dangerous"]);
    } else if c.flags & flags::FAST != 0 {
        cats.push("@fast");
    } else {
        cats.push("@slow");
    }
    cats.into_iter().map(Reply::status).collect()
}

fn command_entry(c: &Command, parent: Option<&str>) -> Reply {
    let name = match parent {
        Some(p) => format!("{p}|{}", c.name),
        None => c.name.to_string(),
    };
    let flag_names = flags::NAMES.iter().filter(|(f, _)| c.flags & f != 0).map(|(_, n)| Reply::status(n)).collect();
    let mut flag_names: Vec<Reply> = flag_names;
    if c.movable_keys() {
        flag_names.push(Reply::status("movablekeys"));
    }
    let (first, last, step) = c.legacy_keys();
    let rw = || ("flags", Reply::Set(vec![Reply::status(if c.flags & flags::WRITE != 0 { "RW" } else { "RO" })]));
    let map = |pairs: Vec<(&str, Reply)>| Reply::Map(pairs.into_iter().map(|(k, v)| (Reply::bulk(k), v)).collect());
    let index = |i: i64| map(vec![("type", Reply::bulk("index")), ("spec", map(vec![("index", Reply::Int(i))]))]);
    let range = |lastkey: i64, keystep: i64| {
        map(vec![
            ("type", Reply::bulk("range")),
            ("spec", map(vec![("lastkey", Reply::Int(lastkey)), ("keystep", Reply::Int(keystep)), ("limit", Reply::Int(0))])),
        ])
    };
    let keynum = |at: usize| {
        map(vec![
            rw(),
            ("begin_search", index(at as i64)),
            (
                "find_keys",
                map(vec![
                    ("type", Reply::bulk("keynum")),
                    ("spec", map(vec![("keynumidx", Reply::Int(0)), ("firstkey", Reply::Int(1)), ("keystep", Reply::Int(1))])),
                ]),
            ),
        ])
    };
    let key_specs = match c.keys {
        Keys::None => vec![],
        Keys::Range(f, l, s) => {
            vec![map(vec![rw(), ("begin_search", index(f as i64)), ("find_keys", range(if l < 0 { l as i64 } else { (l - f) as i64 }, s as i64))])]
        }
        Keys::Counted(at) => vec![keynum(at)],
        Keys::StoreCounted(at) => vec![map(vec![rw(), ("begin_search", index(1)), ("find_keys", range(0, 1))]), keynum(at)],
        Keys::Sort => vec![map(vec![rw(), ("begin_search", index(1)), ("find_keys", range(0, 1))])],
        Keys::StoreKeyword(from) => {
            let keyword = |word: &str| {
                map(vec![
                    rw(),
                    (
                        "begin_search",
                        map(vec![
                            ("type", Reply::bulk("keyword")),
                            ("spec", map(vec![("keyword", Reply::bulk(word)), ("startfrom", Reply::Int(from as i64))])),
                        ]),
                    ),
                    ("find_keys", range(0, 1)),
                ])
            };
            vec![map(vec![rw(), ("begin_search", index(1)), ("find_keys", range(0, 1))]), keyword("STORE"), keyword("STOREDIST")]
        }
        Keys::Streams => vec![map(vec![
            rw(),
            (
                "begin_search",
                map(vec![("type", Reply::bulk("keyword")), ("spec", map(vec![("keyword", Reply::bulk("STREAMS")), ("startfrom", Reply::Int(1))]))]),
            ),
            ("find_keys", range(-1, 2)),
        ])],
        Keys::Migrate => vec![
            map(vec![rw(), ("begin_search", index(3)), ("find_keys", range(0, 1))]),
            map(vec![
                rw(),
                (
                    "begin_search",
                    map(vec![("type", Reply::bulk("keyword")), ("spec", map(vec![("keyword", Reply::bulk("KEYS")), ("startfrom", Reply::Int(-2))]))]),
                ),
                ("find_keys", range(-1, 1)),
            ]),
        ],
    };
    Reply::Array(vec![
        Reply::bulk(&name),
        Reply::Int(c.arity as i64),
        Reply::Set(flag_names),
        Reply::Int(first as i64),
        Reply::Int(last as i64),
        Reply::Int(step as i64),
        Reply::Set(acl_categories(c)),
        Reply::Set(vec![]),
        Reply::Array(key_specs),
        Reply::Array(c.subcommands.iter().map(|s| command_entry(s, Some(c.name))).collect()),
    ])
}

fn command_docs_entry(c: &Command) -> Reply {
    let mut doc =
        vec![(Reply::bulk("summary"), Reply::bulk(c.summary)), (Reply::bulk("since"), Reply::bulk(c.since)), (Reply::bulk("group"), Reply::bulk(c.group))];
    if !c.subcommands.is_empty() {
        doc.push((
            Reply::bulk("subcommands"),
            Reply::Map(c.subcommands.iter().map(|s| (Reply::bulk(format!("{}|{}", c.name, s.name)), command_docs_entry(s))).collect()),
        ));
    }
    Reply::Map(doc)
}

pub fn command_reply(args: &[Bytes]) -> Reply {
    // Bare COMMAND (subcommands are resolved by the dispatcher).
    debug_assert_eq!(args.len(), 1);
    Reply::Array(COMMANDS.iter().map(|c| command_entry(c, None)).collect())
}

pub fn command_count_reply(_args: &[Bytes]) -> Reply {
    Reply::Int(COMMANDS.len() as i64)
}

pub fn command_info_reply(args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        return Reply::Array(COMMANDS.iter().map(|c| command_entry(c, None)).collect());
    }
    Reply::Array(args[2..].iter().map(|n| lookup(n).map(|(_, c)| command_entry(c, None)).unwrap_or(Reply::Nil)).collect())
}

pub fn command_docs_reply(args: &[Bytes]) -> Reply {
    let selected: Vec<&Command> =
        if args.len() == 2 { COMMANDS.iter().collect() } else { args[2..].iter().filter_map(|n| lookup(n).map(|(_, c)| c)).collect() };
    Reply::Map(selected.into_iter().map(|c| (Reply::bulk(c.name), command_docs_entry(c))).collect())
}

pub fn command_list_reply(args: &[Bytes]) -> Reply {
    let mut names: Vec<String> = Vec::new();
    for c in COMMANDS.iter() {
        names.push(c.name.to_string());
        names.extend(c.subcommands.iter().map(|s| format!("{}|{}", c.name, s.name)));
    }
    match args.len() {
        2 => {}
        5 if is(&args[2], "filterby") => {
            let v = &args[4];
            if is(&args[3], "pattern") {
                names.retain(|n| util::glob_match(v, n.as_bytes(), true));
            } else if is(&args[3], "aclcat") {
                let cat = format!("@{}", String::from_utf8_lossy(v).to_ascii_lowercase());
                names.retain(|n| {
                    lookup(n.split('|').next().unwrap_or_default().as_bytes())
                        .is_some_and(|(_, c)| acl_categories(c).contains(&Reply::Status(cat.clone().into())))
                });
            } else if is(&args[3], "module") {
                names.clear();
            } else {
                return syntax_error();
            }
        }
        _ => return syntax_error(),
    }
    Reply::Array(names.into_iter().map(Reply::bulk).collect())
}

pub fn command_getkeys_reply(args: &[Bytes]) -> Reply {
    let target = &args[2..];
    let Some((_, c)) = lookup(&target[0]) else {
        return Reply::error("ERR Invalid command specified");
    };
    let arity_ok = if c.arity >= 0 { target.len() == c.arity as usize } else { target.len() >= (-c.arity) as usize };
    if !arity_ok {
        return Reply::error("ERR Invalid number of arguments specified for command");
    }
    let keys = c.key_positions(target);
    if keys.is_empty() {
        return Reply::error("ERR The command has no key arguments");
    }
    Reply::Array(keys.into_iter().map(|i| Reply::Bulk(target[i].clone())).collect())
}

pub fn command_help_reply(_args: &[Bytes]) -> Reply {
    help_reply(
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
        ],
    )
}

/// COMMAND and its subcommands without a connection: the proxy answers
/// them from the same table.
pub fn introspect(args: &[Bytes]) -> Reply {
    if args.len() < 2 {
        return command_reply(args);
    }
    let sub = &args[1];
    if is(sub, "count") {
        command_count_reply(args)
    } else if is(sub, "info") {
        command_info_reply(args)
    } else if is(sub, "docs") {
        command_docs_reply(args)
    } else if is(sub, "list") {
        command_list_reply(args)
    } else if is(sub, "getkeys") && args.len() >= 3 {
        command_getkeys_reply(args)
    } else if is(sub, "help") {
        command_help_reply(args)
    } else {
        Reply::error(format!("ERR unknown subcommand '{}'. Try COMMAND HELP.", String::from_utf8_lossy(sub)))
    }
}

pub fn command(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    command_reply(args)
}

pub fn command_count(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    command_count_reply(args)
}

pub fn command_info(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    command_info_reply(args)
}

pub fn command_docs(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    command_docs_reply(args)
}

pub fn command_list(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    command_list_reply(args)
}

pub fn command_getkeys(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    command_getkeys_reply(args)
}

pub fn command_help(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    command_help_reply(args)
}

// ---- INFO -------------------------------------------------------------------

const DEFAULT_SECTIONS: &[&str] =
    &["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules", "errorstats", "cluster", "keyspace", "transactions"];
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "cluster",
    "keyspace",
    "transactions",
];

fn human_bytes(n: u64) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{}B", n as u64)
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", n / (1024.0 * 1024.0 * 1024.0))
    }
}

/// CPU seconds (user, system) of this process, from `/proc/self/stat`.
fn cpu_times() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    // utime and stime are fields 14 and 15; `after` starts at field 3.
    (ticks(11), ticks(12))
}

pub fn info(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut sections: Vec<String> = args[1..].iter().map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).collect();
    if sections.is_empty() || sections.iter().any(|s| s == "default") {
        sections.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    if sections.iter().any(|s| s == "all" || s == "everything") {
        sections.extend(ALL_SECTIONS.iter().map(|s| s.to_string()));
    }
    let mut out = String::new();
    for name in ALL_SECTIONS {
        if sections.iter().any(|s| s == name) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            info_section(ctx, name, &mut out);
        }
    }
    Reply::Verbatim(Bytes::from(out))
}

fn info_section(ctx: &Ctx, name: &str, out: &mut String) {
    let s = ctx.server;
    let ks = &s.keyspace;
    let cfg = &s.config;
    let title = {
        let mut t = name.to_string();
        t[..1].make_ascii_uppercase();
        if name == "cpu" {
            t = "CPU".into();
        }
        t
    };
    let _ = write!(out, "# {title}\r\n");
    let mut kv = |k: &str, v: String| {
        let _ = write!(out, "{k}:{v}\r\n");
    };
    match name {
        "server" => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            kv("redis_version", REDIS_VERSION.into());
            kv("shardis_version", env!("CARGO_PKG_VERSION").into());
            kv("redis_git_sha1", "00000000".into());
            kv("redis_git_dirty", "0".into());
            kv("redis_build_id", "0".into());
            kv("redis_mode", "standalone".into());
            kv("os", format!("{} {}", std::env::consts::OS, std::env::consts::ARCH));
            kv("arch_bits", "64".into());
            kv("multiplexing_api", "epoll".into());
            kv("atomicvar_api", "c11-builtin".into());
            kv("process_id", std::process::id().to_string());
            kv("process_supervised", "no".into());
            kv("run_id", s.run_id.clone());
            kv("tcp_port", cfg.port.load(Ordering::Relaxed).to_string());
            kv("server_time_usec", now.as_micros().to_string());
            kv("uptime_in_seconds", s.uptime_secs().to_string());
            kv("uptime_in_days", (s.uptime_secs() / 86400).to_string());
            kv("hz", "10".into());
            kv("configured_hz", "10".into());
            kv("lru_clock", ((now.as_secs()) & ((1 << 24) - 1)).to_string());
            kv("executable", std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default());
            kv("config_file", cfg.file().map(|f| f.display().to_string()).unwrap_or_default());
            // Connections are served by several worker threads at once
            // (Redis's threaded I/O is the nearest thing it reports).
            kv("io_threads_active", u8::from(tokio::runtime::Handle::try_current().is_ok_and(|h| h.metrics().num_workers() > 1)).to_string());
        }
        "clients" => {
            kv("connected_clients", s.clients().len().to_string());
            kv("cluster_connections", "0".into());
            kv("maxclients", cfg.maxclients.load(Ordering::Relaxed).to_string());
            kv("client_recent_max_input_buffer", "0".into());
            kv("client_recent_max_output_buffer", "0".into());
            kv("blocked_clients", ks.waits.blocked_clients().to_string());
            kv("tracking_clients", s.tracking.counts().0.to_string());
            kv("clients_in_timeout_table", "0".into());
            kv("total_watched_keys", ks.watches.watched_keys().to_string());
        }
        "memory" => {
            let used = crate::alloc::used_memory();
            let rss = crate::alloc::rss_bytes();
            let max = cfg.maxmemory.load(Ordering::Relaxed);
            kv("used_memory", used.to_string());
            kv("used_memory_human", human_bytes(used));
            kv("used_memory_rss", rss.to_string());
            kv("used_memory_rss_human", human_bytes(rss));
            let peak = crate::alloc::update_peak();
            kv("used_memory_peak", peak.to_string());
            kv("used_memory_peak_human", human_bytes(peak));
            kv("maxmemory", max.to_string());
            kv("maxmemory_human", human_bytes(max));
            kv("maxmemory_policy", cfg.policy().name().into());
            kv("mem_fragmentation_ratio", format!("{:.2}", if used > 0 { rss as f64 / used as f64 } else { 0.0 }));
            kv("mem_allocator", "mimalloc".into());
            kv("mem_not_counted_for_evict", (s.keyspace.effects.memory() + s.keyspace.snapshot_memory()).to_string());
            kv("lazyfree_pending_objects", s.keyspace.lazyfree.pending().to_string());
            kv("lazyfreed_objects", s.keyspace.lazyfree.freed().to_string());
        }
        "persistence" => {
            let p = &s.persistence;
            let loading = p.loading.load(Ordering::Relaxed);
            kv("loading", (loading as u8).to_string());
            kv("async_loading", "0".into());
            let held = s.keyspace.snapshot_memory();
            kv("current_cow_peak", if p.saving.load(Ordering::Relaxed) { held.to_string() } else { "0".into() });
            kv("current_cow_size", held.to_string());
            kv("current_cow_size_age", "0".into());
            kv("current_fork_perc", "0.00".into());
            kv("current_save_keys_processed", "0".into());
            kv("current_save_keys_total", "0".into());
            if loading {
                let (total, done) = (p.loading_total_bytes.load(Ordering::Relaxed), p.loading_loaded_bytes.load(Ordering::Relaxed));
                let started = p.loading_started.load(Ordering::Relaxed);
                let elapsed = util::now_ms().saturating_sub(started) / 1000;
                let perc = if total > 0 { done as f64 * 100.0 / total as f64 } else { 0.0 };
                let eta = if done > 0 { (total.saturating_sub(done) as f64 * elapsed as f64 / done as f64) as u64 } else { 1 };
                kv("loading_start_time", (started / 1000).to_string());
                kv("loading_total_bytes", total.to_string());
                kv("loading_rdb_used_mem", "0".into());
                kv("loading_loaded_bytes", done.to_string());
                kv("loading_loaded_perc", format!("{perc:.2}"));
                kv("loading_eta_seconds", eta.to_string());
            }
            let dirty = ks.stats.dirty.get().saturating_sub(p.dirty_saved.load(Ordering::Relaxed));
            kv("rdb_changes_since_last_save", dirty.to_string());
            let bg = p.bgsave_in_progress.load(Ordering::Relaxed);
            kv("rdb_bgsave_in_progress", (bg as u8).to_string());
            kv("rdb_last_save_time", s.lastsave.load(Ordering::Relaxed).to_string());
            kv("rdb_last_bgsave_status", if p.last_bgsave_ok.load(Ordering::Relaxed) { "ok" } else { "err" }.into());
            kv("rdb_last_bgsave_time_sec", p.last_bgsave_secs.load(Ordering::Relaxed).to_string());
            let current = if bg { (util::now_ms().saturating_sub(p.save_started_ms.load(Ordering::Relaxed)) / 1000) as i64 } else { -1 };
            kv("rdb_current_bgsave_time_sec", current.to_string());
            kv("rdb_saves", p.saves.load(Ordering::Relaxed).to_string());
            kv("rdb_last_cow_size", p.last_snapshot_peak.load(Ordering::Relaxed).to_string());
            kv("rdb_last_load_keys_expired", p.keys_expired_on_load.load(Ordering::Relaxed).to_string());
            kv("rdb_last_load_keys_loaded", p.keys_loaded.load(Ordering::Relaxed).to_string());
            // shardis: entries the last snapshot kept for a writer that came first
            kv("rdb_last_preserved_keys", p.last_preserved.load(Ordering::Relaxed).to_string());
            let aof = &p.aof;
            let on = aof.on.load(Ordering::Relaxed);
            kv("aof_enabled", (on as u8).to_string());
            kv("aof_rewrite_in_progress", (aof.rewrite_in_progress.load(Ordering::Relaxed) as u8).to_string());
            kv("aof_rewrite_scheduled", (aof.rewrite_scheduled.load(Ordering::Relaxed) as u8).to_string());
            kv("aof_last_rewrite_time_sec", aof.last_rewrite_secs.load(Ordering::Relaxed).to_string());
            kv("aof_current_rewrite_time_sec", "-1".into());
            kv("aof_last_bgrewrite_status", if aof.last_rewrite_ok.load(Ordering::Relaxed) { "ok" } else { "err" }.into());
            kv("aof_rewrites", aof.rewrites.load(Ordering::Relaxed).to_string());
            kv("aof_rewrites_consecutive_failures", "0".into());
            kv("aof_last_write_status", if aof.write_failed.load(Ordering::Relaxed) { "err" } else { "ok" }.into());
            kv("aof_last_cow_size", "0".into());
            kv("module_fork_in_progress", "0".into());
            kv("module_fork_last_cow_size", "0".into());
            if on {
                let (incr, base) = {
                    let out = aof.output.lock().unwrap_or_else(|p| p.into_inner());
                    (out.incr_size, out.base_size)
                };
                kv("aof_current_size", (incr + base).to_string());
                kv("aof_base_size", base.to_string());
                kv("aof_pending_rewrite", "0".into());
                kv("aof_buffer_length", "0".into());
                kv("aof_pending_bio_fsync", "0".into());
                kv("aof_delayed_fsync", "0".into());
                // shardis: fsyncs of the AOF so far (ops per fsync = group commit)
                kv("aof_fsyncs", aof.fsyncs.load(Ordering::Relaxed).to_string());
            }
        }
        "stats" => {
            let st = &ks.stats;
            let failed: u64 = s.command_stats.iter().map(|c| c.failed_calls.load(Ordering::Relaxed) + c.rejected_calls.load(Ordering::Relaxed)).sum();
            kv("total_connections_received", s.stats.total_connections_received.load(Ordering::Relaxed).to_string());
            kv("total_commands_processed", s.stats.total_commands_processed.load(Ordering::Relaxed).to_string());
            kv("instantaneous_ops_per_sec", "0".into());
            kv("total_net_input_bytes", s.stats.net_input_bytes.load(Ordering::Relaxed).to_string());
            kv("total_net_output_bytes", s.stats.net_output_bytes.load(Ordering::Relaxed).to_string());
            kv("rejected_connections", s.stats.rejected_connections.load(Ordering::Relaxed).to_string());
            kv("sync_full", s.replicas.full_syncs.load(Ordering::Relaxed).to_string());
            kv("sync_partial_ok", "0".into());
            kv("sync_partial_err", "0".into());
            kv("expired_keys", st.expired_keys.load(Ordering::Relaxed).to_string());
            kv("expired_stale_perc", "0.00".into());
            kv("evicted_keys", st.evicted_keys.load(Ordering::Relaxed).to_string());
            kv("evicted_clients", "0".into());
            kv("keyspace_hits", st.keyspace_hits.load(Ordering::Relaxed).to_string());
            kv("keyspace_misses", st.keyspace_misses.load(Ordering::Relaxed).to_string());
            let (channels, patterns, shard) = s.pubsub.counts();
            kv("pubsub_channels", channels.to_string());
            kv("pubsub_patterns", patterns.to_string());
            kv("pubsubshard_channels", shard.to_string());
            let (_, keys, items, prefixes) = s.tracking.counts();
            kv("tracking_total_keys", keys.to_string());
            kv("tracking_total_items", items.to_string());
            kv("tracking_total_prefixes", prefixes.to_string());
            kv("latest_fork_usec", "0".into());
            kv("total_forks", "0".into());
            kv("total_error_replies", failed.to_string());
        }
        "replication" => {
            let replicas = s.replicas.list();
            let log = &s.keyspace.effects;
            let now = crate::util::now_ms() / 1000;
            kv("role", "master".into());
            kv("connected_slaves", replicas.len().to_string());
            let (needed, max_lag) = (s.config.min_replicas_to_write.load(Ordering::Relaxed), s.config.min_replicas_max_lag.load(Ordering::Relaxed));
            if needed > 0 && max_lag > 0 {
                kv("min_slaves_good_slaves", s.replicas.good(max_lag).to_string());
            }
            for (i, r) in replicas.iter().enumerate() {
                let lag = now.saturating_sub(r.ack_time.load(Ordering::Relaxed));
                kv(&format!("slave{i}"), format!("ip={},port={},state={},offset={},lag={lag}", r.ip, r.port, r.state(), r.ack_offset.load(Ordering::Relaxed)));
            }
            let (first, histlen) = log.backlog();
            let active = log.keeping();
            kv("master_failover_state", "no-failover".into());
            kv("master_replid", s.run_id.clone());
            kv("master_replid2", "0".repeat(40));
            kv("master_repl_offset", log.end().to_string());
            kv("second_repl_offset", "-1".into());
            kv("repl_backlog_active", (active as u8).to_string());
            kv("repl_backlog_size", s.config.repl_backlog_size.load(Ordering::Relaxed).to_string());
            kv("repl_backlog_first_byte_offset", if active { (first + 1).to_string() } else { "0".into() });
            kv("repl_backlog_histlen", if active { histlen.to_string() } else { "0".into() });
        }
        "cpu" => {
            let (user, sys) = cpu_times();
            kv("used_cpu_sys", format!("{sys:.6}"));
            kv("used_cpu_user", format!("{user:.6}"));
        }
        "commandstats" => {
            for (c, st) in COMMANDS.iter().zip(&s.command_stats) {
                let calls = st.calls.load(Ordering::Relaxed);
                let rejected = st.rejected_calls.load(Ordering::Relaxed);
                if calls == 0 && rejected == 0 {
                    continue;
                }
                let usec = st.usec.load(Ordering::Relaxed);
                kv(
                    &format!("cmdstat_{}", c.name),
                    format!(
                        "calls={calls},usec={usec},usec_per_call={:.2},rejected_calls={rejected},failed_calls={}",
                        if calls > 0 { usec as f64 / calls as f64 } else { 0.0 },
                        st.failed_calls.load(Ordering::Relaxed)
                    ),
                );
            }
        }
        "cluster" => kv("cluster_enabled", "0".into()),
        "transactions" => {
            // Counts only: the in-doubt transactions themselves are in
            // TXN.LIST (there may be thousands).
            let (prepared, decisions, pinned) = ctx.server.txns.counts();
            kv("txn_in_doubt", prepared.to_string());
            kv("txn_decisions_kept", decisions.to_string());
            kv("txn_commits_kept_for_secondaries", pinned.to_string());
            kv("txn_recovered_commits", ctx.server.txns.recovered_commits.load(Ordering::Relaxed).to_string());
            kv("txn_recovered_aborts", ctx.server.txns.recovered_aborts.load(Ordering::Relaxed).to_string());
        }
        "keyspace" => {
            for db in 0..NUM_DBS {
                let keys = ks.dbsize(db);
                if keys > 0 {
                    kv(&format!("db{db}"), format!("keys={keys},expires={},avg_ttl=0", ks.volatile_count(db)));
                }
            }
        }
        _ => {}
    }
}
