//! Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET and
//! the CLIENT family.

use super::keys::{help_reply, parse_db};
use super::{Ctx, arg_i64, is, syntax_error, wrong_arity};
use crate::node::{ClientInfo, ReplyMode, Server};
use crate::resp::Reply;
use bytes::Bytes;
use std::sync::atomic::Ordering;

/// The Redis version we answer to clients that gate features on it.
pub use crate::config::REDIS_VERSION;

pub fn ping(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match args.len() {
        1 => Reply::status("PONG"),
        2 => Reply::Bulk(args[1].clone()),
        _ => wrong_arity("ping"),
    }
}

pub fn echo(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Bulk(args[1].clone())
}

fn wrongpass() -> Reply {
    Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
}

/// Checks credentials against `requirepass` (the default user).
fn check_password(ctx: &Ctx, user: Option<&[u8]>, pass: &[u8]) -> bool {
    if user.is_some_and(|u| u != b"default") {
        return false;
    }
    match ctx.server.config.requirepass() {
        Some(p) => p.as_bytes() == pass,
        None => true,
    }
}

pub fn auth(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (user, pass) = match args.len() {
        2 => (None, &args[1]),
        3 => (Some(&args[1][..]), &args[2]),
        _ => return syntax_error(),
    };
    if user.is_none() && ctx.server.config.requirepass().is_none() {
        return Reply::error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
    }
    if check_password(ctx, user, pass) {
        ctx.client.authenticated = true;
        Reply::Ok
    } else {
        wrongpass()
    }
}

fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

/// redis-server 7.0.15's words, byte for byte.
pub const HELLO_NOAUTH: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";

pub fn hello(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut proto = None;
    if args.len() >= 2 {
        match arg_i64(&args[1]) {
            Ok(v) if v == 2 || v == 3 => proto = Some(v == 3),
            Ok(_) => return Reply::error("NOPROTO unsupported protocol version"),
            Err(_) => {
                return Reply::error("ERR Protocol version is not an integer or out of range");
            }
        }
    }
    let mut auth: Option<(&Bytes, &Bytes)> = None;
    let mut setname: Option<&Bytes> = None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - i - 1;
        if is(&args[i], "auth") && more >= 2 {
            auth = Some((&args[i + 1], &args[i + 2]));
            i += 3;
        } else if is(&args[i], "setname") && more >= 1 {
            setname = Some(&args[i + 1]);
            i += 2;
        } else {
            return Reply::error(format!("ERR Syntax error in HELLO option '{}'", String::from_utf8_lossy(&args[i])));
        }
    }
    if let Some((user, pass)) = auth {
        if !check_password(ctx, Some(user), pass) {
            return wrongpass();
        }
        ctx.client.authenticated = true;
    }
    if !ctx.client.authenticated {
        return Reply::error(HELLO_NOAUTH);
    }
    if let Some(name) = setname {
        if !valid_name(name) {
            return Reply::error("ERR Client names cannot contain spaces, newlines or special characters.");
        }
        ctx.client.info.set_name(String::from_utf8_lossy(name).into_owned());
    }
    if let Some(resp3) = proto {
        ctx.client.set_resp(resp3);
    }
    Reply::Map(vec![
        (Reply::bulk("server"), Reply::bulk("redis")),
        (Reply::bulk("version"), Reply::bulk(REDIS_VERSION)),
        (Reply::bulk("proto"), Reply::Int(if ctx.client.resp3 { 3 } else { 2 })),
        (Reply::bulk("id"), Reply::Int(ctx.client.id as i64)),
        (Reply::bulk("mode"), Reply::bulk("standalone")),
        (Reply::bulk("role"), Reply::bulk("master")),
        (Reply::bulk("modules"), Reply::Array(vec![])),
    ])
}

pub fn select(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match parse_db(&args[1]) {
        Ok(db) => {
            ctx.client.select(db);
            Reply::Ok
        }
        Err(r) => r,
    }
}

pub fn quit(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    ctx.client.close = true;
    Reply::Ok
}

pub fn reset(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    super::transaction::discard_state(ctx.server, ctx.client);
    super::pubsub::leave_all(ctx.server, ctx.client);
    let c = &mut *ctx.client;
    c.select(0);
    c.set_resp(false);
    c.reply_mode = ReplyMode::On;
    c.monitor = None;
    c.info.monitoring.store(false, Ordering::Relaxed);
    if c.tracking.take().is_some() {
        ctx.server.tracking.disable(c.id);
        ctx.server.note_tracking();
    }
    c.tracking_caching = false;
    c.no_touch = false;
    c.info.no_touch.store(false, Ordering::Relaxed);
    c.info.no_evict.store(false, Ordering::Relaxed);
    if ctx.server.config.requirepass().is_some() {
        c.authenticated = false;
    }
    Reply::status("RESET")
}

// ---- CLIENT -----------------------------------------------------------------

pub fn client_id(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Int(ctx.client.id as i64)
}

pub fn client_setname(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if !valid_name(&args[2]) {
        return Reply::error("ERR Client names cannot contain spaces, newlines or special characters.");
    }
    ctx.client.info.set_name(String::from_utf8_lossy(&args[2]).into_owned());
    Reply::Ok
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends a blocking command's wait, with
/// its timeout reply or `-UNBLOCKED`; 1 if the client was blocked.
pub fn client_unblock(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let error = match args.get(3) {
        None => false,
        Some(a) if super::is(a, "timeout") => false,
        Some(a) if super::is(a, "error") => true,
        Some(_) => return Reply::error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
    };
    let id = match super::arg_i64(&args[2]) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let target = ctx.server.clients().values().find(|c| c.id as i64 == id).cloned();
    Reply::Int(target.is_some_and(|c| c.unblock(error)) as i64)
}

pub fn client_getname(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let name = ctx.client.info.name();
    if name.is_empty() { Reply::Nil } else { Reply::bulk(name) }
}

/// One CLIENT LIST / CLIENT INFO line, fields as Redis 7.2 prints them.
fn client_line(server: &Server, c: &ClientInfo) -> String {
    let cmd = c.last_command().map_or_else(|| "NULL".into(), |(idx, sub)| super::full_name(idx, sub));
    let mut flags = String::new();
    if c.monitoring.load(Ordering::Relaxed) {
        flags.push('O');
    }
    if c.blocked.load(Ordering::Relaxed) {
        flags.push('b');
    }
    if c.no_evict.load(Ordering::Relaxed) {
        flags.push('e');
    }
    if c.no_touch.load(Ordering::Relaxed) {
        flags.push('T');
    }
    if c.is_pubsub() {
        flags.push('P');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let (qbuf, alloc, omem) = (c.qbuf.load(Ordering::Relaxed), c.qbuf_alloc.load(Ordering::Relaxed), c.omem.load(Ordering::Relaxed));
    // tot-mem as Redis counts it: the client's buffers plus its own state
    let tot = alloc + omem + std::mem::size_of::<crate::node::Client>() + std::mem::size_of::<crate::node::ClientInfo>();
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi=-1 qbuf={qbuf} qbuf-free={} argv-mem=0 multi-mem=0 rbs={alloc} rbp={qbuf} obl=0 oll=0 omem={omem} tot-mem={tot} events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}\n",
        c.id,
        c.addr,
        c.laddr,
        c.fd.load(Ordering::Relaxed),
        c.name(),
        c.created.elapsed().as_secs(),
        c.idle_secs(server.started),
        flags,
        c.db.load(Ordering::Relaxed),
        c.subs.load(Ordering::Relaxed),
        c.psubs.load(Ordering::Relaxed),
        c.ssubs.load(Ordering::Relaxed),
        alloc.saturating_sub(qbuf),
        cmd,
        c.resp.load(Ordering::Relaxed),
        c.lib_name.lock().unwrap_or_else(|p| p.into_inner()),
        c.lib_ver.lock().unwrap_or_else(|p| p.into_inner()),
    )
}

pub fn client_list(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut ids: Option<Vec<u64>> = None;
    // TYPE normal (false) or pubsub (true)
    let mut kind: Option<bool> = None;
    let mut i = 2;
    while i < args.len() {
        if is(&args[i], "type") && i + 1 < args.len() {
            let t = &args[i + 1];
            if !(is(t, "normal") || is(t, "master") || is(t, "replica") || is(t, "pubsub")) {
                return Reply::error(format!("ERR Unknown client type '{}'", String::from_utf8_lossy(t)));
            }
            if is(t, "master") || is(t, "replica") {
                return Reply::Verbatim(Bytes::new());
            }
            kind = Some(is(t, "pubsub"));
            i += 2;
        } else if is(&args[i], "id") && i + 1 < args.len() {
            let mut list = Vec::new();
            for a in &args[i + 1..] {
                match crate::util::parse_i64(a) {
                    Some(n) if n > 0 => list.push(n as u64),
                    _ => return Reply::error("ERR Invalid client ID"),
                }
            }
            ids = Some(list);
            i = args.len();
        } else {
            return syntax_error();
        }
    }
    let mut clients: Vec<_> = ctx.server.clients().values().cloned().collect();
    clients.sort_by_key(|c| c.id);
    let text: String = clients
        .iter()
        .filter(|c| ids.as_ref().is_none_or(|ids| ids.contains(&c.id)) && kind.is_none_or(|p| c.is_pubsub() == p))
        .map(|c| client_line(ctx.server, c))
        .collect();
    Reply::Verbatim(Bytes::from(text))
}

pub fn client_info(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Verbatim(Bytes::from(client_line(ctx.server, &ctx.client.info)))
}

pub fn client_kill(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let clients: Vec<_> = ctx.server.clients().values().cloned().collect();
    if args.len() == 3 {
        // Old form: CLIENT KILL addr:port
        let addr = String::from_utf8_lossy(&args[2]);
        return match clients.iter().find(|c| c.addr == addr) {
            Some(c) => {
                c.kill();
                Reply::Ok
            }
            None => Reply::error("ERR No such client"),
        };
    }
    let mut id = None;
    let mut addr = None;
    let mut laddr = None;
    let mut skipme = true;
    let mut kind: Option<bool> = None;
    let mut i = 2;
    while i + 1 < args.len() {
        let v = &args[i + 1];
        if is(&args[i], "id") {
            match crate::util::parse_i64(v) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => return Reply::error("ERR client-id should be greater than 0"),
            }
        } else if is(&args[i], "addr") {
            addr = Some(String::from_utf8_lossy(v).into_owned());
        } else if is(&args[i], "laddr") {
            laddr = Some(String::from_utf8_lossy(v).into_owned());
        } else if is(&args[i], "skipme") {
            if is(v, "yes") {
                skipme = true;
            } else if is(v, "no") {
                skipme = false;
            } else {
                return syntax_error();
            }
        } else if is(&args[i], "type") {
            if is(v, "pubsub") || is(v, "normal") {
                kind = Some(is(v, "pubsub"));
            } else if is(v, "master") || is(v, "replica") || is(v, "slave") {
                return Reply::Int(0);
            } else {
                return Reply::error(format!("ERR Unknown client type '{}'", String::from_utf8_lossy(v)));
            }
        } else if is(&args[i], "user") {
            if !is(v, "default") {
                return Reply::error(format!("ERR No such user '{}'", String::from_utf8_lossy(v)));
            }
        } else {
            return syntax_error();
        }
        i += 2;
    }
    if i != args.len() {
        return syntax_error();
    }
    let mut killed = 0;
    for c in &clients {
        if id.is_some_and(|id| id != c.id)
            || addr.as_ref().is_some_and(|a| *a != c.addr)
            || laddr.as_ref().is_some_and(|a| *a != c.laddr)
            || kind.is_some_and(|p| c.is_pubsub() != p)
        {
            continue;
        }
        if skipme && c.id == ctx.client.id {
            continue;
        }
        if c.id == ctx.client.id {
            ctx.client.close = true;
        } else {
            c.kill();
        }
        killed += 1;
    }
    Reply::Int(killed)
}

pub fn client_setinfo(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let value = &args[3];
    let slot = if is(&args[2], "lib-name") {
        &ctx.client.info.lib_name
    } else if is(&args[2], "lib-ver") {
        &ctx.client.info.lib_ver
    } else {
        return Reply::error(format!("ERR Unrecognized option '{}'", String::from_utf8_lossy(&args[2])));
    };
    if !valid_name(value) {
        return Reply::error(format!("ERR {} cannot contain spaces, newlines or special characters.", String::from_utf8_lossy(&args[2]).to_ascii_lowercase()));
    }
    *slot.lock().unwrap_or_else(|p| p.into_inner()) = String::from_utf8_lossy(value).into_owned();
    Reply::Ok
}

fn on_off(arg: &[u8]) -> Option<bool> {
    if is(arg, "on") {
        Some(true)
    } else if is(arg, "off") {
        Some(false)
    } else {
        None
    }
}

pub fn client_no_evict(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match on_off(&args[2]) {
        Some(v) => {
            ctx.client.info.no_evict.store(v, Ordering::Relaxed);
            Reply::Ok
        }
        None => syntax_error(),
    }
}

pub fn client_no_touch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match on_off(&args[2]) {
        Some(v) => {
            ctx.client.no_touch = v;
            ctx.client.info.no_touch.store(v, Ordering::Relaxed);
            Reply::Ok
        }
        None => syntax_error(),
    }
}

pub fn client_reply(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if is(&args[2], "on") {
        ctx.client.reply_mode = ReplyMode::On;
        Reply::Ok
    } else if is(&args[2], "off") {
        ctx.client.reply_mode = ReplyMode::Off;
        Reply::NoReply
    } else if is(&args[2], "skip") {
        if ctx.client.reply_mode == ReplyMode::On {
            ctx.client.reply_mode = ReplyMode::Skip;
        }
        Reply::NoReply
    } else {
        syntax_error()
    }
}

pub fn client_unpause(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Ok
}

pub fn client_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "CLIENT",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are: ID, ADDR, LADDR, TYPE, USER, SKIPME.",
            "LIST [options ...]",
            "    Return information about client connections.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
        ],
    )
}

// ---- client-side caching -----------------------------------------------------

/// `CLIENT TRACKING on|off [REDIRECT id] [PREFIX p]... [BCAST] [OPTIN]
/// [OPTOUT] [NOLOOP]`, checked in Redis's order with its texts.
pub fn client_tracking(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut redirect, mut bcast, mut optin, mut optout, mut noloop) = (0i64, false, false, false, false);
    let mut prefixes: Vec<Bytes> = Vec::new();
    let mut j = 3;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let a = &args[j];
        if is(a, "redirect") && more > 0 {
            j += 1;
            if redirect != 0 {
                return Reply::error("ERR A client can only redirect to a single other client");
            }
            redirect = match super::arg_i64(&args[j]) {
                Ok(n) => n,
                Err(r) => return r,
            };
            if !ctx.server.clients().contains_key(&(redirect as u64)) {
                return Reply::error("ERR The client ID you want redirect to does not exist");
            }
        } else if is(a, "bcast") {
            bcast = true;
        } else if is(a, "optin") {
            optin = true;
        } else if is(a, "optout") {
            optout = true;
        } else if is(a, "noloop") {
            noloop = true;
        } else if is(a, "prefix") && more > 0 {
            j += 1;
            prefixes.push(args[j].clone());
        } else {
            return syntax_error();
        }
        j += 1;
    }
    let id = ctx.client.id;
    if is(&args[2], "off") {
        ctx.server.tracking.disable(id);
        ctx.client.tracking = None;
        ctx.server.note_tracking();
        return Reply::Ok;
    }
    if !is(&args[2], "on") {
        return syntax_error();
    }
    if !bcast && !prefixes.is_empty() {
        return Reply::error("ERR PREFIX option requires BCAST mode to be enabled");
    }
    let current = ctx.server.tracking.mode(id);
    if let Some((m, _)) = &current
        && m.bcast != bcast
    {
        return Reply::error(
            "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
        );
    }
    if bcast && (optin || optout) {
        return Reply::error("ERR OPTIN and OPTOUT are not compatible with BCAST");
    }
    if optin && optout {
        return Reply::error("ERR You can't specify both OPTIN mode and OPTOUT mode");
    }
    if let Some((m, _)) = &current
        && ((optin && m.optout) || (optout && m.optin))
    {
        return Reply::error(
            "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
        );
    }
    if bcast {
        // no two prefixes of one client may overlap (one a prefix of the other)
        let overlaps = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
        let existing = current.as_ref().map(|(m, _)| m.prefixes.clone()).unwrap_or_default();
        for (i, p) in prefixes.iter().enumerate() {
            if let Some(old) = existing.iter().find(|old| overlaps(old, p)) {
                return Reply::error(format!(
                    "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(old)
                ));
            }
            if let Some(other) = prefixes[i + 1..].iter().find(|q| overlaps(p, q)) {
                return Reply::error(format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(other)
                ));
            }
        }
    }
    let outbox = ctx.client.outbox();
    let mode = crate::node::tracking::Mode { redirect: redirect as u64, bcast, optin, optout, noloop, prefixes };
    ctx.server.tracking.enable(id, mode, outbox);
    ctx.client.tracking = Some((bcast, optin, optout));
    ctx.server.note_tracking();
    Reply::Ok
}

/// CLIENT CACHING yes|no: the next command is (OPTIN) or is not (OPTOUT)
/// tracked.
pub fn client_caching(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some((_, optin, optout)) = ctx.client.tracking else {
        return Reply::error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
    };
    if is(&args[2], "yes") {
        if !optin {
            return Reply::error("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.");
        }
    } else if is(&args[2], "no") {
        if !optout {
            return Reply::error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");
        }
    } else {
        return syntax_error();
    }
    ctx.client.tracking_caching = true;
    Reply::Ok
}

pub fn client_getredir(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    match ctx.server.tracking.mode(ctx.client.id) {
        Some((m, _)) => Reply::Int(m.redirect as i64),
        None => Reply::Int(-1),
    }
}

pub fn client_trackinginfo(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let b = Reply::bulk;
    let state = ctx.server.tracking.mode(ctx.client.id);
    let mut flags = vec![b(if state.is_some() { "on" } else { "off" })];
    let (redirect, prefixes) = match &state {
        None => (-1, Vec::new()),
        Some((m, broken)) => {
            if m.bcast {
                flags.push(b("bcast"));
            }
            if m.optin {
                flags.push(b("optin"));
                if ctx.client.tracking_caching {
                    flags.push(b("caching-yes"));
                }
            }
            if m.optout {
                flags.push(b("optout"));
                if ctx.client.tracking_caching {
                    flags.push(b("caching-no"));
                }
            }
            if m.noloop {
                flags.push(b("noloop"));
            }
            if *broken {
                flags.push(b("broken_redirect"));
            }
            (m.redirect as i64, m.prefixes.iter().map(|p| Reply::Bulk(p.clone())).collect())
        }
    };
    Reply::Map(vec![(b("flags"), Reply::Set(flags)), (b("redirect"), Reply::Int(redirect)), (b("prefixes"), Reply::Array(prefixes))])
}
