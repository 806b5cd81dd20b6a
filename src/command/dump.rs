//! DUMP, RESTORE and MIGRATE: a value in Redis's serialization format
//! ([`crate::persist::codec`]), so keys move between shardis and Redis (or
//! Valkey) in both directions.

use super::{Ctx, arg_i64, is, syntax_error};
use crate::persist::codec::{BadPayload, decode_value, payload_of};
use crate::resp::Reply;
use crate::store::notify;
use bytes::{Bytes, BytesMut};

/// DUMP key: the serialized value, or nil.
pub fn dump(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut l = ctx.lock(&args[1]);
    match l.read(&args[1]) {
        None => Reply::Nil,
        Some(e) => Reply::Bulk(Bytes::from(payload_of(e))),
    }
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ n]`, with
/// Redis's order of checks and its errors.
pub fn restore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut replace, mut absttl, mut idle, mut freq) = (false, false, None, None);
    let mut j = 4;
    while j < args.len() {
        let more = j + 1 < args.len();
        if is(&args[j], "replace") {
            replace = true;
        } else if is(&args[j], "absttl") {
            absttl = true;
        } else if is(&args[j], "idletime") && more && freq.is_none() {
            match arg_i64(&args[j + 1]) {
                Ok(n) if n < 0 => return Reply::error("ERR Invalid IDLETIME value, must be >= 0"),
                Ok(n) => idle = Some(n as u64),
                Err(r) => return r,
            }
            j += 1;
        } else if is(&args[j], "freq") && more && idle.is_none() {
            match arg_i64(&args[j + 1]) {
                Ok(n) if !(0..=255).contains(&n) => return Reply::error("ERR Invalid FREQ value, must be >= 0 and <= 255"),
                Ok(n) => freq = Some(n as u64),
                Err(r) => return r,
            }
            j += 1;
        } else {
            return syntax_error();
        }
        j += 1;
    }
    let key = &args[1];
    let mut l = ctx.lock(key);
    if !replace && l.lookup(key).is_some() {
        return Reply::error("BUSYKEY Target key name already exists.");
    }
    let ttl = match arg_i64(&args[2]) {
        Ok(t) if t < 0 => return Reply::error("ERR Invalid TTL value, must be >= 0"),
        Ok(t) => t,
        Err(r) => return r,
    };
    let value = match decode_value(&args[3]) {
        Ok(v) => v,
        Err(BadPayload::VersionOrChecksum) => return Reply::error("ERR DUMP payload version or checksum are wrong"),
        Err(BadPayload::Format) => return Reply::error("ERR Bad data format"),
        Err(BadPayload::Type(t)) => return Reply::error(format!("ERR Bad data format: RDB type {t} is not a type shardis stores yet")),
    };
    let now = l.now() as i64;
    let expire_at = match (ttl, absttl) {
        (0, _) => 0,
        (t, true) => t,
        (t, false) => now.saturating_add(t),
    };
    let replaced = replace && l.delete(key);
    if expire_at != 0 && expire_at <= now {
        // already expired: nothing is created (a replaced key is gone)
        crate::store::effects::rewrite(|| vec![crate::store::effects::args(&[b"DEL", key])]);
        if replaced {
            l.notify(notify::GENERIC, "del", key);
        }
        return Reply::Ok;
    }
    // the TTL in absolute form, the rest as given
    crate::store::effects::rewrite(|| {
        let mut effect = crate::store::effects::args(&[b"RESTORE", key, expire_at.to_string().as_bytes(), &args[3], b"REPLACE", b"ABSTTL"]);
        effect.extend(args[4..].iter().filter(|a| !is(a, "replace") && !is(a, "absttl")).cloned());
        vec![effect]
    });
    crate::persist::codec::install(&mut l, key, value, expire_at as u64, &ctx.server.config);
    if let Some(secs) = idle {
        l.set_idle(key, secs);
    }
    if let Some(counter) = freq {
        l.set_freq(key, counter);
    }
    l.notify(notify::GENERIC, "restore", key);
    Reply::Ok
}

/// `MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw]
/// [AUTH2 user pw] [KEYS key ...]`: RESTOREs the keys on another server
/// (shardis or Redis) and, unless COPY, deletes the ones it accepted here.
/// Blocking, as in Redis, but only for this connection: the keys are read
/// under their lock, the lock is released for the network round trip, and
/// taken again to delete. Each call opens its own connection (Redis keeps a
/// cache of them).
pub fn migrate(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut copy, mut replace) = (false, false);
    let (mut user, mut password): (Option<&Bytes>, Option<&Bytes>) = (None, None);
    let mut keys: &[Bytes] = &args[3..4];
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(&args[j], "copy") {
            copy = true;
        } else if is(&args[j], "replace") {
            replace = true;
        } else if is(&args[j], "auth") && more >= 1 {
            password = Some(&args[j + 1]);
            j += 1;
        } else if is(&args[j], "auth2") && more >= 2 {
            (user, password) = (Some(&args[j + 1]), Some(&args[j + 2]));
            j += 2;
        } else if is(&args[j], "keys") {
            if !args[3].is_empty() {
                return Reply::error("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string");
            }
            keys = &args[j + 1..];
            break;
        } else {
            return syntax_error();
        }
        j += 1;
    }
    let (timeout_ms, db) = match (arg_i64(&args[5]), arg_i64(&args[4])) {
        (Ok(t), Ok(d)) => (if t <= 0 { 1000 } else { t as u64 }, d),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    // The keys that exist, with their payloads and remaining TTLs.
    let found: Vec<(&Bytes, Vec<u8>, u64)> = {
        let mut l = ctx.lock_many(keys);
        let now = l.now();
        keys.iter()
            .filter_map(|k| {
                let e = l.read(k)?;
                let ttl = if e.expire_at == 0 { 0 } else { e.expire_at.saturating_sub(now).max(1) };
                Some((k, payload_of(e), ttl))
            })
            .collect()
    };
    if found.is_empty() {
        return Reply::status("NOKEY");
    }
    let mut request = BytesMut::new();
    let mut encode = |parts: &[&[u8]]| crate::resp::encode_command_into(&mut request, parts);
    match (user, password) {
        (Some(u), Some(p)) => encode(&[b"AUTH", u, p]),
        (None, Some(p)) => encode(&[b"AUTH", p]),
        _ => {}
    }
    encode(&[b"SELECT", db.to_string().as_bytes()]);
    for (key, payload, ttl) in &found {
        let ttl = ttl.to_string();
        let mut restore: Vec<&[u8]> = vec![b"RESTORE", key, ttl.as_bytes(), payload];
        if replace {
            restore.push(b"REPLACE");
        }
        encode(&restore);
    }
    let host = String::from_utf8_lossy(&args[1]).into_owned();
    let port = String::from_utf8_lossy(&args[2]).into_owned();
    let expected = found.len() + 1 + password.is_some() as usize;
    let exchange = || migrate_exchange(&host, &port, &request, expected, std::time::Duration::from_millis(timeout_ms));
    let replies = match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(exchange),
        _ => exchange(),
    };
    let replies = match replies {
        Ok(r) => r,
        Err(e) => return e,
    };
    // Replies: [AUTH], SELECT, one per RESTORE. An AUTH or SELECT error is
    // the reply, and no key is deleted; else keys accepted are deleted.
    let skip = expected - found.len();
    let mut error = replies[..skip].iter().find(|r| r.starts_with('-')).cloned();
    let mut l = ctx.lock_many(keys);
    let mut deleted = vec![Bytes::from_static(b"DEL")];
    for ((key, _, _), reply) in found.iter().zip(&replies[skip..]) {
        if reply.starts_with('-') {
            error.get_or_insert_with(|| reply.clone());
        } else if !copy && error.is_none() && l.delete(key) {
            l.notify(notify::GENERIC, "del", key);
            deleted.push(Bytes::copy_from_slice(key));
        }
    }
    // here a migration is the deletion of what left
    crate::store::effects::rewrite(|| vec![deleted]);
    match error {
        Some(e) => Reply::error(format!("ERR Target instance replied with error: {}", &e[1..])),
        None => Reply::Ok,
    }
}

/// Connects, sends `request` and reads `expected` one-line replies, each
/// step within `limit`; Redis's IOERR replies on failure.
fn migrate_exchange(host: &str, port: &str, request: &[u8], expected: usize, limit: std::time::Duration) -> Result<Vec<String>, Reply> {
    use std::io::{BufRead, Write};
    use std::net::ToSocketAddrs;
    let io_error = |what: &str| Reply::error(format!("IOERR error or timeout {what} to target instance"));
    // As in Redis: a host that does not resolve fails the connect; a port
    // that cannot be reached (or parsed: Redis reads it with atoi) fails
    // the first write.
    let mut addr =
        (host, 0).to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or_else(|| Reply::error("IOERR error or timeout connecting to the client"))?;
    let port: u16 =
        port.bytes().take_while(u8::is_ascii_digit).fold(0u32, |n, d| n.saturating_mul(10).saturating_add((d - b'0') as u32)).try_into().unwrap_or(0);
    if port == 0 {
        return Err(io_error("writing"));
    }
    addr.set_port(port);
    let stream = std::net::TcpStream::connect_timeout(&addr, limit).map_err(|_| io_error("writing"))?;
    let _ = stream.set_nodelay(true);
    stream.set_write_timeout(Some(limit)).map_err(|_| io_error("writing"))?;
    stream.set_read_timeout(Some(limit)).map_err(|_| io_error("reading"))?;
    (&stream).write_all(request).map_err(|_| io_error("writing"))?;
    let mut reader = std::io::BufReader::new(&stream);
    let mut replies = Vec::with_capacity(expected);
    for _ in 0..expected {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(n) if n > 0 && line.ends_with("\r\n") => {
                line.truncate(line.len() - 2);
                replies.push(line);
            }
            _ => return Err(io_error("reading")),
        }
    }
    Ok(replies)
}
