//! The replica side of Redis's replication handshake, as far as a node
//! serves it today: `REPLCONF` (the options a replica states) and `SYNC`
//! with `REPLCONF rdb-only 1`, which is what `redis-cli --rdb` sends to
//! fetch a snapshot. The payload is an RDB file made by the fork-less
//! snapshot (`crate::persist::rdb`), in the `$<len>` form or, for a client
//! that said `capa eof`, streamed in the `$EOF:<mark>` form, and to a
//! replica (plain SYNC, PSYNC) the command stream after it; the connection
//! layer sends them (`crate::net::sync`).

use super::{Ctx, is, not_integer, syntax_error};
use crate::node::SyncKind;
use crate::resp::Reply;
use bytes::Bytes;

/// `REPLCONF option value [option value ...]`, Redis 7.0's options.
pub fn replconf(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len().is_multiple_of(2) {
        return syntax_error();
    }
    let mut conf = ctx.client.repl;
    for pair in args[1..].chunks(2) {
        let (option, value) = (&pair[0], &pair[1]);
        if is(option, "listening-port") {
            match crate::util::parse_i64(value) {
                Some(port) => conf.listening_port = Some(port),
                None => return not_integer(),
            }
        } else if is(option, "ip-address") {
            // NET_HOST_STR_LEN: 256
            if value.len() >= 256 {
                return Reply::error(format!("ERR REPLCONF ip-address provided by replica instance is too long: {} bytes", value.len()));
            }
        } else if is(option, "capa") {
            // capabilities this node does not know are ignored, as in Redis
            if is(value, "eof") {
                conf.capa_eof = true;
            }
        } else if is(option, "ack") || is(option, "getack") {
            // the acknowledgements of a replication stream: only a replica
            // has one, and they are never answered
            return Reply::NoReply;
        } else if is(option, "rdb-only") {
            match crate::util::parse_i64(value) {
                Some(v @ 0..=1) => conf.rdb_only = v == 1,
                Some(_) => return Reply::error("ERR value is out of range, value must between 0 and 1"),
                None => return not_integer(),
            }
        } else {
            return Reply::error(format!("ERR Unrecognized REPLCONF option: {}", String::from_utf8_lossy(option)));
        }
    }
    ctx.client.repl = conf;
    Reply::Ok
}

/// `SYNC`: with `REPLCONF rdb-only 1`, the snapshot and then the end of
/// the connection; the connection layer sends it once the replies before
/// it are out.
pub fn sync(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    ctx.client.sync = Some(if ctx.client.repl.rdb_only { SyncKind::RdbOnly } else { SyncKind::Sync });
    Reply::NoReply
}

/// `PSYNC replid offset`: always a full resynchronisation for now (the
/// snapshot, then the stream); partial ones come with the backlog's
/// replication IDs.
pub fn psync(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if crate::util::parse_i64(&args[2]).is_none() {
        return not_integer();
    }
    ctx.client.sync = Some(if ctx.client.repl.rdb_only { SyncKind::RdbOnly } else { SyncKind::Psync });
    Reply::NoReply
}
