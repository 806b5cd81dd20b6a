//! Pub/sub commands, as Redis 7.0 answers them: (P|S)SUBSCRIBE and
//! (P|S)UNSUBSCRIBE reply with one push frame per channel (an array in
//! RESP2, `>` in RESP3) carrying the client's subscription count, PUBLISH
//! counts the clients reached, PUBSUB reports the registry. Messages
//! travel through each subscriber's outbox ([`crate::node::pubsub`]).

use super::Ctx;
use crate::node::pubsub::{Outbox, Space, frame};
use crate::resp::Reply;
use bytes::{Bytes, BytesMut};

/// The error a RESP2 client gets for any other command while subscribed.
pub fn not_in_subscribed_mode(name: &str) -> Reply {
    Reply::error(format!("ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"))
}

/// Whether `name` may run in RESP2 subscribed mode.
pub fn allowed_when_subscribed(name: &str) -> bool {
    matches!(name, "subscribe" | "ssubscribe" | "psubscribe" | "unsubscribe" | "sunsubscribe" | "punsubscribe" | "ping" | "quit" | "reset")
}

fn outbox(ctx: &mut Ctx) -> std::sync::Arc<Outbox> {
    ctx.client.outbox()
}

fn list_of<'c>(ctx: &'c mut Ctx<'_>, space: Space) -> &'c mut Vec<Bytes> {
    match space {
        Space::Channel => &mut ctx.client.subs.channels,
        Space::Pattern => &mut ctx.client.subs.patterns,
        Space::Shard => &mut ctx.client.subs.shard,
    }
}

/// The count a confirmation carries: channels and patterns together, or
/// shard channels alone (Redis's `clientSubscriptionsCount` and
/// `clientShardSubscriptionsCount`).
fn count(ctx: &Ctx, space: Space) -> i64 {
    let s = &ctx.client.subs;
    (if space == Space::Shard { s.shard.len() } else { s.channels.len() + s.patterns.len() }) as i64
}

fn kind(space: Space, sub: bool) -> &'static [u8] {
    match (space, sub) {
        (Space::Channel, true) => b"subscribe",
        (Space::Channel, false) => b"unsubscribe",
        (Space::Pattern, true) => b"psubscribe",
        (Space::Pattern, false) => b"punsubscribe",
        (Space::Shard, true) => b"ssubscribe",
        (Space::Shard, false) => b"sunsubscribe",
    }
}

fn subscribe_generic(ctx: &mut Ctx, args: &[Bytes], space: Space) -> Reply {
    let ob = outbox(ctx);
    let id = ctx.client.id;
    let mut out = BytesMut::new();
    for name in &args[1..] {
        if ctx.server.pubsub.subscribe(space, name, id, &ob) {
            list_of(ctx, space).push(name.clone());
        }
        out.extend_from_slice(&frame(ctx.client.resp3, &[Some(kind(space, true)), Some(name)], Some(count(ctx, space))));
    }
    ctx.client.note_subscriptions();
    Reply::Encoded(out.freeze())
}

fn unsubscribe_generic(ctx: &mut Ctx, args: &[Bytes], space: Space) -> Reply {
    let id = ctx.client.id;
    let names: Vec<Bytes> = if args.len() > 1 { args[1..].to_vec() } else { list_of(ctx, space).clone() };
    let mut out = BytesMut::new();
    for name in &names {
        if ctx.server.pubsub.unsubscribe(space, name, id) {
            list_of(ctx, space).retain(|n| n != name);
        }
        out.extend_from_slice(&frame(ctx.client.resp3, &[Some(kind(space, false)), Some(name)], Some(count(ctx, space))));
    }
    if names.is_empty() {
        // nothing to leave: one confirmation with a null channel
        out.extend_from_slice(&frame(ctx.client.resp3, &[Some(kind(space, false)), None], Some(count(ctx, space))));
    }
    ctx.client.note_subscriptions();
    Reply::Encoded(out.freeze())
}

pub fn subscribe(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    subscribe_generic(ctx, args, Space::Channel)
}

pub fn psubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    subscribe_generic(ctx, args, Space::Pattern)
}

pub fn ssubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    subscribe_generic(ctx, args, Space::Shard)
}

pub fn unsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    unsubscribe_generic(ctx, args, Space::Channel)
}

pub fn punsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    unsubscribe_generic(ctx, args, Space::Pattern)
}

pub fn sunsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    unsubscribe_generic(ctx, args, Space::Shard)
}

/// Every subscription of the client ends (RESET, disconnect).
pub fn leave_all(server: &crate::node::Server, client: &mut crate::node::Client) {
    let id = client.id;
    for (space, names) in [
        (Space::Channel, std::mem::take(&mut client.subs.channels)),
        (Space::Pattern, std::mem::take(&mut client.subs.patterns)),
        (Space::Shard, std::mem::take(&mut client.subs.shard)),
    ] {
        for n in names {
            server.pubsub.unsubscribe(space, &n, id);
        }
    }
    if client.monitor.is_none() {
        client.subs.outbox = None;
    }
    client.note_subscriptions();
}

pub fn publish(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Int(ctx.server.pubsub.publish(&args[1], &args[2], false, &ctx.server.config.output_limits[2]) as i64)
}

pub fn spublish(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Int(ctx.server.pubsub.publish(&args[1], &args[2], true, &ctx.server.config.output_limits[2]) as i64)
}

fn channels_reply(ctx: &Ctx, args: &[Bytes], shard: bool) -> Reply {
    let pattern = args.get(2).map(|p| &p[..]);
    Reply::Array(ctx.server.pubsub.channels(pattern, shard).into_iter().map(Reply::Bulk).collect())
}

fn numsub_reply(ctx: &Ctx, args: &[Bytes], shard: bool) -> Reply {
    let mut out = Vec::with_capacity((args.len() - 2) * 2);
    for ch in &args[2..] {
        out.push(Reply::Bulk(ch.clone()));
        out.push(Reply::Int(ctx.server.pubsub.numsub(ch, shard) as i64));
    }
    Reply::Array(out)
}

pub fn pubsub_channels(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    channels_reply(ctx, args, false)
}

pub fn pubsub_shardchannels(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    channels_reply(ctx, args, true)
}

pub fn pubsub_numsub(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    numsub_reply(ctx, args, false)
}

pub fn pubsub_shardnumsub(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    numsub_reply(ctx, args, true)
}

pub fn pubsub_numpat(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Int(ctx.server.pubsub.numpat() as i64)
}

pub fn pubsub_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let lines = [
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ];
    Reply::Array(lines.iter().map(|l| Reply::Status(std::borrow::Cow::Borrowed(l))).collect())
}

/// PING in RESP2 subscribed mode: `["pong", message or ""]`.
pub fn subscribed_ping(args: &[Bytes]) -> Reply {
    let msg = args.get(1).cloned().unwrap_or_default();
    Reply::Array(vec![Reply::bulk("pong"), Reply::Bulk(msg)])
}
