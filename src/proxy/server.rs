//! The proxy's client side: parses requests with the node's parser, routes
//! each by the command table's key positions and the ketama ring, and
//! answers in each client's order even when its commands went to different
//! nodes.
//!
//! A client's pipeline is handled a batch at a time: every request in the
//! read buffer is routed and sent to its backends first, then the replies
//! are awaited in request order and written in one go. Requests whose keys
//! are on one node, and the parts of split ones, travel as received and
//! come back as the node sent them, one message per node per batch
//! (`RawOut`; `docs/proxy.md` has the data path and its ordering rules).
//!
//! Routing:
//! - one key, or several keys on one node: forwarded as is;
//! - MGET, DEL, UNLINK, EXISTS, TOUCH, MSET over several nodes: split by
//!   node, replies merged in the client's key order;
//! - other multi-key commands whose keys span nodes (MSETNX included, which
//!   must not be split non-atomically): refused with a CROSSSLOT error;
//! - key-less commands a client needs (PING, ECHO, HELLO, SELECT 0, QUIT,
//!   COMMAND, INFO, CLIENT, TIME, ...): answered by the proxy;
//! - DBSIZE, FLUSHDB, FLUSHALL, KEYS, SCAN, RANDOMKEY: fanned out;
//! - anything else without keys: refused clearly.

use super::backend::{Backend, BackendError, RawRx, ReplyRx, reply_end};
use super::config::PoolConfig;
use super::ketama::{Distribution, Ring};
use crate::command::{self, Command, is};
use crate::resp::{Limits, Reply, parse_request_spans};
use bytes::{Bytes, BytesMut};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Shared state of one proxy.
pub struct Proxy {
    pub pool: PoolConfig,
    pub backends: Vec<Backend>,
    dist: RwLock<Distribution>,
    /// Per backend: ejected from the ring until this instant.
    ejected_until: std::sync::Mutex<Vec<Option<Instant>>>,
    started: Instant,
    clients: AtomicU64,
    total_connections: AtomicU64,
    commands: AtomicU64,
    next_client_id: AtomicU64,
    /// Transaction ids: `<random per process>:<counter>`.
    txid_prefix: Arc<str>,
    txid_counter: Arc<AtomicU64>,
    /// What every node connection starts with (AUTH, SELECT), made once.
    node_setup: Arc<Vec<Vec<Bytes>>>,
}

/// A reply still to come: from one backend, from several to merge, or ready.
enum Pending {
    Ready(Reply),
    /// Work done when the reply is due (transactions on a pinned
    /// connection); the batch ends after it so later commands wait for it.
    Deferred(std::pin::Pin<Box<dyn Future<Output = Reply> + Send>>),
    /// Like `Deferred`, but may wait indefinitely (LOCK.ACQUIRE ... WAIT):
    /// given up if the client goes away meanwhile.
    Blocking(std::pin::Pin<Box<dyn Future<Output = Reply> + Send>>),
    One(ReplyRx),
    /// A command forwarded as received to this backend; its reply comes
    /// back undecoded, with the other forwarded ones (see [`RawOut`]).
    Raw(usize),
    /// A multi-key command split by node, each part forwarded like `Raw`:
    /// one reply from each of `nodes`, merged by `merge`.
    Split {
        nodes: Vec<usize>,
        merge: RawMerge,
    },
    /// Replies from several requests, merged by `merge`.
    Many(Vec<ReplyRx>, Merge),
    /// (P|S)(UN)SUBSCRIBE: run by the session itself once the replies
    /// before it are out (it opens node connections of its own).
    Subscribe(Vec<Bytes>),
}

/// How the undecoded replies of a split command are combined.
enum RawMerge {
    /// MGET: `positions[i]` lists, for part i, the indexes in the client's
    /// key order of the keys it carried.
    Mget { positions: Vec<Vec<usize>>, total: usize },
    /// DEL, UNLINK, EXISTS, TOUCH: integers added up.
    Sum,
    /// MSET: OK when every part says OK.
    AllOk,
}

/// How the replies of a fanned-out command are combined.
enum Merge {
    /// DBSIZE: integers added up.
    Sum,
    /// PUBSUB NUMPAT: the largest (a pattern subscribed through the proxy
    /// is on every node).
    Max,
    /// FLUSHALL, FLUSHDB, SCRIPT FLUSH: OK when every part says OK.
    AllOk,
    /// KEYS: arrays concatenated.
    Concat,
    /// SCRIPT LOAD on every node: the (identical) first reply.
    First,
    /// PUBSUB CHANNELS: arrays concatenated, each element once.
    Union,
    /// PUBSUB NUMSUB: `[name, count, ...]` arrays in the same order, counts
    /// added up.
    PairSum,
    /// SCAN on node `node` of `nodes`: the composite cursor.
    Scan { node: usize, nodes: usize },
}

/// The next message for a subscribed session (pending for ever when not
/// subscribed).
async fn next_push(subs: &mut Option<Box<super::pubsub::Subs>>) -> Option<Bytes> {
    match subs {
        Some(s) => s.rx.recv().await,
        None => std::future::pending().await,
    }
}

fn crossslot() -> Reply {
    Reply::error("CROSSSLOT Keys in request don't hash to the same node (a hash tag such as {user1} keeps keys together)")
}

impl Proxy {
    pub fn new(pool: PoolConfig) -> Arc<Proxy> {
        let timeout = pool.timeout_ms.map(Duration::from_millis);
        let node_setup = Arc::new(pool.node_setup());
        let backends: Vec<Backend> =
            pool.servers.iter().map(|s| Backend::new(s.addr(), pool.server_connections.unwrap_or(1), timeout, node_setup.clone())).collect();
        let ring_servers: Vec<_> = pool.servers.iter().map(|s| s.ring_server()).collect();
        let dist = Distribution { hash: pool.hash, tag: pool.hash_tag, ring: Ring::build(&ring_servers, &vec![true; ring_servers.len()]) };
        Arc::new(Proxy {
            pool,
            ejected_until: std::sync::Mutex::new(vec![None; backends.len()]),
            backends,
            dist: RwLock::new(dist),
            started: Instant::now(),
            clients: AtomicU64::new(0),
            total_connections: AtomicU64::new(0),
            commands: AtomicU64::new(0),
            next_client_id: AtomicU64::new(1),
            txid_prefix: format!("{:016x}", crate::util::random_u64() ^ std::process::id() as u64).into(),
            txid_counter: Arc::new(AtomicU64::new(1)),
            node_setup,
        })
    }

    /// The backend index owning `key`.
    pub fn node_for(&self, key: &[u8]) -> Option<usize> {
        self.dist.read().unwrap_or_else(|p| p.into_inner()).server_for_key(key)
    }

    /// The nodes a channel's messages come from: a channel lives on the
    /// node its name hashes to on the ring (as Redis Cluster places shard
    /// channels), but a keyspace notification's (`__keyspace@<db>__:<key>`)
    /// on the node holding the key, and a key event's
    /// (`__keyevent@<db>__:<event>`) on every node, since each node
    /// announces its own keys.
    fn channel_nodes(&self, channel: &[u8]) -> Vec<usize> {
        match notification_channel(channel) {
            Some((true, key)) => self.node_for(key).into_iter().collect(),
            Some((false, _)) => (0..self.backends.len()).collect(),
            None => self.node_for(channel).into_iter().collect(),
        }
    }

    /// twemproxy's auto_eject_hosts: a backend that failed
    /// `server_failure_limit` times in a row leaves the ring, which is
    /// rebuilt from the live backends, and rejoins after
    /// `server_retry_timeout` (to be ejected again if it still fails).
    /// Returns true if the ring changed.
    pub fn update_health(&self) -> bool {
        if !self.pool.auto_eject_hosts {
            return false;
        }
        let now = Instant::now();
        let mut ejected = self.ejected_until.lock().unwrap_or_else(|p| p.into_inner());
        let mut changed = false;
        for (i, b) in self.backends.iter().enumerate() {
            match ejected[i] {
                Some(until) if now >= until => {
                    tracing::info!(backend = %b.addr, "retrying ejected backend");
                    ejected[i] = None;
                    b.stats.consecutive_failures.store(0, Ordering::Relaxed);
                    changed = true;
                }
                None if b.stats.consecutive_failures.load(Ordering::Relaxed) >= self.pool.server_failure_limit.max(1) as u64 => {
                    tracing::warn!(backend = %b.addr, "ejecting backend after repeated failures");
                    ejected[i] = Some(now + Duration::from_millis(self.pool.server_retry_timeout_ms));
                    changed = true;
                }
                _ => {}
            }
        }
        if changed {
            let live: Vec<bool> = ejected.iter().map(Option::is_none).collect();
            let servers: Vec<_> = self.pool.servers.iter().map(|s| s.ring_server()).collect();
            self.dist.write().unwrap_or_else(|p| p.into_inner()).ring = Ring::build(&servers, &live);
        }
        changed
    }

    /// Serves clients until `signal` completes.
    pub async fn run(self: Arc<Self>, listener: TcpListener, signal: impl Future<Output = ()>) {
        let proxy = self.clone();
        let _health = AbortOnDrop(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            let mut released = (0, 0);
            loop {
                tick.tick().await;
                proxy.update_health();
                crate::alloc::release_after_clients_leave(proxy.clients.load(Ordering::Relaxed) as usize, &mut released);
            }
        }));
        tokio::pin!(signal);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let limit = self.pool.client_connections;
                        if limit > 0 && self.clients.load(Ordering::Relaxed) >= limit {
                            tracing::warn!(limit, "client refused: client_connections reached");
                            tokio::spawn(crate::net::refuse(stream, b"-ERR max number of clients reached\r\n"));
                            continue;
                        }
                        self.clients.fetch_add(1, Ordering::Relaxed);
                        let proxy = self.clone();
                        tokio::spawn(async move {
                            proxy.total_connections.fetch_add(1, Ordering::Relaxed);
                            if let Err(e) = proxy.serve(stream).await {
                                tracing::debug!(error = %e, "proxy client ended with an error");
                            }
                            proxy.clients.fetch_sub(1, Ordering::Relaxed);
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = &mut signal => break,
            }
        }
        tracing::info!("proxy shutting down");
    }

    async fn serve(&self, mut stream: TcpStream) -> std::io::Result<()> {
        let _ = stream.set_nodelay(true);
        let mut session = Session {
            id: self.next_client_id.fetch_add(1, Ordering::Relaxed),
            resp3: false,
            name: None,
            close: false,
            multi: None,
            conns: Default::default(),
            watching: Default::default(),
            raw: (0..self.backends.len()).map(|_| RawOut::default()).collect(),
            gathering: Vec::new(),
            authenticated: self.pool.redis_auth.is_none(),
            subs: None,
        };
        // Released after `BUFFER_IDLE` without input (an idle client holds
        // no buffers), taken again when bytes arrive.
        let mut inbuf = BytesMut::new();
        let mut out = BytesMut::new();
        // Each request's pending reply, with the protocol it is answered in
        // (as the session stood once it was routed: HELLO 3 applies from
        // its own reply on, not to requests before it in the same batch).
        let mut batch: Vec<(Pending, bool)> = Vec::new();
        let mut spans = Vec::new();
        let mut idle = crate::resp::IdleTimer::default();
        loop {
            let mut full = false;
            // Bytes of the requests in this batch: a batch of huge values
            // ends early, so the proxy holds a bounded amount per client.
            let mut batch_bytes = 0;
            loop {
                match parse_request_spans(&mut inbuf, Limits { max_bulk_len: 512 * 1024 * 1024, authenticated: true }, &mut spans) {
                    Ok(Some(_)) if spans.is_empty() => continue,
                    Ok(Some(frame)) => {
                        self.commands.fetch_add(1, Ordering::Relaxed);
                        batch_bytes += frame.len();
                        let pending = self.route(&mut session, frame, &spans);
                        let deferred = matches!(pending, Pending::Deferred(_) | Pending::Blocking(_) | Pending::Subscribe(_));
                        batch.push((pending, session.resp3));
                        if session.close || deferred || batch.len() >= 1024 || batch_bytes >= 16 * 1024 * 1024 {
                            full = !session.close;
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        Box::pin(self.answer(&mut session, &mut batch, &mut out)).await;
                        Reply::error(format!("ERR Protocol error: {}", e.0)).encode(&mut out, session.resp3);
                        stream.write_all(&out).await?;
                        return Ok(());
                    }
                }
            }
            // A blocking command ends its batch: answer the rest first.
            let blocking = match batch.last() {
                Some((Pending::Blocking(_) | Pending::Subscribe(_), _)) => batch.pop(),
                _ => None,
            };
            // Boxed: the answering state lives only while a batch is
            // answered, so an idle client's task is half the size (about
            // 0.8 kB instead of 1.75 kB).
            Box::pin(self.answer(&mut session, &mut batch, &mut out)).await;
            if let Some((Pending::Subscribe(args), _)) = blocking {
                let frames = self.subscription(&mut session, &args).await;
                out.extend_from_slice(&frames);
            } else if let Some((Pending::Blocking(wait), resp3)) = blocking {
                if !out.is_empty() {
                    stream.write_all(&out).await?;
                    out.clear();
                }
                crate::resp::release_if_empty(&mut out);
                // Watch the client while waiting: if it leaves, the wait is
                // dropped with the session, whose connection to the node
                // closes, and the node forgets the waiter.
                let reply = tokio::select! {
                    reply = wait => reply,
                    () = client_gone(&mut stream, &mut inbuf) => return Ok(()),
                };
                reply.encode(&mut out, resp3);
            }
            if !out.is_empty() {
                stream.write_all(&out).await?;
                out.clear();
            }
            if session.close {
                return Ok(());
            }
            if full {
                continue;
            }
            crate::resp::trim_if_large(&mut inbuf);
            crate::resp::trim_if_large(&mut out);
            if batch.capacity() > 64 {
                batch = Vec::new();
            }
            // Buffers are kept while the client is busy and released after
            // `BUFFER_IDLE` without input (see the node's connection loop).
            if let Some(lost) = session.subs.as_ref().map(|s| s.lost.clone()) {
                // a subscriber: messages from its node links, or input
                tokio::select! {
                    ready = stream.readable() => ready?,
                    msg = next_push(&mut session.subs) => {
                        if let Some(m) = msg {
                            tokio::select! {
                                r = stream.write_all(&m) => r?,
                                // a client that does not read is dropped
                                // with its lost link, not waited for
                                _ = lost.notified() => return Ok(()),
                            }
                        }
                        continue;
                    }
                    // a node link was lost: the subscriptions on it are
                    _ = lost.notified() => return Ok(()),
                }
            } else if inbuf.capacity() > 0 || out.capacity() > 0 {
                tokio::select! {
                    ready = stream.readable() => ready?,
                    _ = idle.idle() => {
                        crate::resp::release_if_empty(&mut inbuf);
                        crate::resp::release_if_empty(&mut out);
                        stream.readable().await?;
                    }
                }
            } else {
                stream.readable().await?;
            }
            crate::resp::reserve_for_read(&mut inbuf);
            match stream.try_read_buf(&mut inbuf) {
                Ok(0) => return Ok(()),
                Ok(_) => idle.input(),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Awaits the batch's replies in order and encodes them. (EXEC's null
    /// array is restored where EXEC runs: `txn::exec_on`, the coordinator.)
    async fn answer(&self, session: &mut Session, batch: &mut Vec<(Pending, bool)>, out: &mut BytesMut) {
        self.flush_raw(session);
        for (pending, resp3) in batch.drain(..) {
            let start = out.len();
            match pending {
                Pending::Raw(node) => match self.raw_reply(session, node).await {
                    Ok(reply) => out.extend_from_slice(&reply),
                    Err(e) => e.to_reply().encode(out, false),
                },
                Pending::Split { nodes, merge } => {
                    let mut parts = Vec::with_capacity(nodes.len());
                    for node in nodes {
                        parts.push(self.raw_reply(session, node).await);
                    }
                    merge_raw(parts, merge, out);
                }
                other => {
                    resolve(other).await.encode(out, resp3);
                    continue;
                }
            }
            // Nodes answer in RESP2; RESP3 differs only in its null.
            if resp3 && out[start..].windows(3).any(|w| w == b"-1\r") {
                let mut resp3 = BytesMut::with_capacity(out.len() - start);
                resp2_nulls_to_resp3(&out[start..], &mut resp3);
                out.truncate(start);
                out.extend_from_slice(&resp3);
            }
        }
    }

    /// The next forwarded reply from `node`. A command the node deferred
    /// (its key is held by a prepared cross-node transaction; the shared
    /// connection never waits, or every client behind it would) runs again
    /// on the client's own connection to the node, where it waits for the
    /// transaction's decision without holding up anyone else. The node
    /// defers every keyed command after it in the same input too, so the
    /// client's later commands are run again after it, in order.
    async fn raw_reply(&self, session: &mut Session, node: usize) -> Result<Bytes, BackendError> {
        let (reply, frame) = session.raw[node].next().await;
        match reply {
            Ok(r) if r.starts_with(b"-TXNDEFER") => {
                let conn = self.pinned(session, node);
                let mut c = conn.lock().await;
                c.call_raw(&frame).await
            }
            other => other,
        }
    }

    /// Routes one request: `frame` as received, `spans` its arguments'
    /// ranges in it.
    fn route(&self, session: &mut Session, frame: Bytes, spans: &[(usize, usize)]) -> Pending {
        let arg = |i: usize| &frame[spans[i].0..spans[i].1];
        // twemproxy's redis_auth: clients must AUTH with the nodes'
        // password before anything else (HELLO may carry it, QUIT ends).
        if !(session.authenticated || is(arg(0), "auth") || is(arg(0), "hello") || is(arg(0), "quit")) {
            return Pending::Ready(Reply::error("NOAUTH Authentication required."));
        }
        // The common case first, on borrowed bytes: a known command of the
        // right arity, outside transactions, with every key on one node.
        let known = command::lookup(arg(0)).filter(|(_, cmd)| command::arity_ok(cmd.arity, spans.len()));
        if let Some((_, cmd)) = known
            && session.multi.is_none()
            && session.subs.is_none()
            && cmd.flags & command::flags::BLOCKING == 0
            && !matches!(cmd.name, "multi" | "watch" | "unwatch" | "discard" | "exec" | "move" | "copy" | "lock.acquire" | "migrate" | "sort" | "sort_ro")
        {
            let mut keys = cmd.key_iter(spans.len(), arg);
            if let Some(first) = keys.next()
                && let Some(node) = self.node_for(arg(first))
                && keys.all(|k| self.node_for(arg(k)) == Some(node))
            {
                session.forward(node, frame);
                return Pending::Raw(node);
            }
        }
        let args: Vec<Bytes> = spans.iter().map(|&(s, e)| frame.slice(s..e)).collect();
        self.route_args(session, &args)
    }

    /// Everything but the common case, on the arguments.
    fn route_args(&self, session: &mut Session, args: &[Bytes]) -> Pending {
        let Some((_, cmd)) = command::lookup(&args[0]) else {
            if let Some(q) = session.multi.as_mut() {
                q.error = true;
            }
            return Pending::Ready(command::unknown_command(args));
        };
        if !command::arity_ok(cmd.arity, args.len()) {
            if let Some(q) = session.multi.as_mut() {
                q.error = true;
            }
            return Pending::Ready(command::wrong_arity(cmd.name));
        }
        // a container's subcommand that names a key (XGROUP CREATE, XINFO
        // STREAM, OBJECT ENCODING) routes by that key
        let parent = cmd.name;
        let cmd = match cmd.subcommands.iter().find(|s| args.len() >= 2 && is(&args[1], s.name)) {
            Some(sub) if sub.keys != command::table::Keys::None => {
                if !command::arity_ok(sub.arity, args.len()) {
                    if let Some(q) = session.multi.as_mut() {
                        q.error = true;
                    }
                    return Pending::Ready(command::wrong_arity(&format!("{parent}|{}", sub.name)));
                }
                sub
            }
            _ => cmd,
        };
        // RESP2 subscribed mode, as a node has it
        if !session.resp3 && session.subs.as_ref().is_some_and(|s| s.active()) {
            if !command::pubsub::allowed_when_subscribed(cmd.name) {
                return Pending::Ready(command::pubsub::not_in_subscribed_mode(cmd.name));
            }
            if cmd.name == "ping" && args.len() <= 2 {
                return Pending::Ready(command::pubsub::subscribed_ping(args));
            }
        }
        if matches!(cmd.name, "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "ssubscribe" | "sunsubscribe") {
            if let Some(q) = session.multi.as_mut() {
                q.error = true;
                return Pending::Ready(Reply::error(format!("ERR {} inside MULTI is not supported by shardis proxy", cmd.name.to_uppercase())));
            }
            return Pending::Subscribe(args.to_vec());
        }
        // What the proxy cannot do, refused as a node refuses at queue time
        // (inside MULTI the transaction is then aborted at EXEC).
        let refused = if cmd.name == "move" || (cmd.name == "copy" && args[3..].iter().any(|a| is(a, "db"))) {
            // only database 0 exists through the proxy
            Some(format!("ERR {} to another database is not allowed in proxy mode: only database 0", cmd.name.to_uppercase()))
        } else if cmd.name == "migrate" && args[3].is_empty() {
            Some("ERR MIGRATE ... KEYS is not supported by shardis proxy (the keys may live on several nodes); migrate one key at a time".into())
        } else if matches!(cmd.name, "sort" | "sort_ro") && command::sort::needs_exclusive(args) {
            Some("ERR SORT BY and GET patterns are not supported through the proxy (the keys they name may live on any node)".into())
        } else {
            None
        };
        if let Some(message) = refused {
            if let Some(q) = session.multi.as_mut() {
                q.error = true;
            }
            return Pending::Ready(Reply::error(message));
        }
        if session.multi.is_some() || matches!(cmd.name, "multi" | "watch" | "unwatch" | "discard" | "exec") {
            self.flush_raw(session);
            if let Some(p) = self.route_transaction(session, cmd, args) {
                return p;
            }
        }
        // A blocking pop (or XREAD, XREADGROUP) waits on the client's own
        // connection to its keys' node, for as long as its timeout says
        // (BLPOP ... 0: for ever).
        if cmd.flags & command::flags::BLOCKING != 0 {
            let keys = cmd.key_positions(args);
            let nodes: Vec<Option<usize>> = keys.iter().map(|&k| self.node_for(&args[k])).collect();
            let node = match nodes.first() {
                Some(Some(n)) if nodes.iter().all(|m| *m == Some(*n)) => *n,
                Some(Some(_)) => return Pending::Ready(crossslot()),
                _ => return Pending::Ready(Reply::error("ERR no backend is available")),
            };
            self.flush_raw(session);
            let at = match cmd.name {
                "blmpop" => 1,
                "blmove" => 5,
                "brpoplpush" => 3,
                _ => args.len() - 1,
            };
            let wait = if matches!(cmd.name, "xread" | "xreadgroup") {
                // BLOCK <ms> before STREAMS (0: for ever); without it the
                // node answers at once
                let options = args.iter().position(|a| is(a, "streams")).unwrap_or(args.len());
                match args[..options].iter().position(|a| is(a, "block")) {
                    Some(i) => args.get(i + 1).and_then(|a| crate::util::parse_i64(a)).filter(|ms| *ms > 0).map(|ms| Duration::from_millis(ms as u64)),
                    None => Some(Duration::ZERO),
                }
            } else {
                args.get(at).and_then(|a| crate::util::parse_f64(a)).filter(|s| *s > 0.0 && *s < 1e9).map(Duration::from_secs_f64)
            };
            let (conn, command) = (self.pinned(session, node), crate::util::compact_copy(args));
            return Pending::Blocking(Box::pin(async move {
                match super::txn::call_blocking(conn, command, wait).await {
                    // RESP2 nulls decode alike; a blocked list command's is
                    // always the null array (Redis's timeout reply)
                    Reply::Nil => Reply::NilArray,
                    r => r,
                }
            }));
        }
        // A lock acquire that may wait blocks on the node: on the shared
        // pipelined connection it would hold up every client behind it, so
        // it waits on the client's own connection.
        if cmd.name == "lock.acquire"
            && let Some(at) = args[4..].iter().position(|a| is(a, "wait"))
            && let Some(node) = self.node_for(&args[1])
        {
            self.flush_raw(session);
            let wait = match args.get(4 + at + 1).and_then(|a| crate::util::parse_i64(a)) {
                Some(ms) if ms > 0 => Some(Duration::from_millis(ms as u64)),
                _ => None,
            };
            let (conn, command) = (self.pinned(session, node), crate::util::compact_copy(args));
            return Pending::Blocking(Box::pin(super::txn::call_blocking(conn, command, wait)));
        }
        let keys = cmd.key_positions(args);
        if keys.is_empty() {
            self.flush_raw(session);
            return self.route_keyless(session, cmd, args);
        }
        let mut nodes = Vec::with_capacity(keys.len());
        for &k in &keys {
            match self.node_for(&args[k]) {
                Some(n) => nodes.push(n),
                None => return Pending::Ready(Reply::error("ERR no backend is available")),
            }
        }
        if nodes.iter().all(|&n| n == nodes[0]) {
            // the commands `route` leaves to this path (COPY, LOCK.ACQUIRE
            // without WAIT, MIGRATE of one key) when their keys share a node
            session.forward(nodes[0], crate::resp::encode_command(args));
            return Pending::Raw(nodes[0]);
        }
        match cmd.name {
            "mget" => split(session, args, &keys, &nodes, 1, |positions, total| RawMerge::Mget { positions, total }),
            "del" | "unlink" | "exists" | "touch" => split(session, args, &keys, &nodes, 1, |_, _| RawMerge::Sum),
            "mset" => split(session, args, &keys, &nodes, 2, |_, _| RawMerge::AllOk),
            "msetnx" => {
                self.flush_raw(session);
                self.msetnx_across_nodes(args, &keys, &nodes)
            }
            _ => Pending::Ready(crossslot()),
        }
    }

    /// Sends the forwarded commands gathered so far, one request per node.
    /// Called before anything else is sent for the client, so that each
    /// node sees the client's commands in the client's order.
    fn flush_raw(&self, session: &mut Session) {
        for node in session.gathering.drain(..) {
            let raw = &mut session.raw[node];
            if let Some((frames, count)) = raw.take_frames() {
                let rx = self.backends[node].send_raw(session.id, frames, count);
                raw.flights.push_back(Flight { rx: Some(rx), data: None, left: count });
            }
        }
    }

    fn fan_out(&self, client: u64, args: &[Bytes], merge: Merge) -> Pending {
        Pending::Many(self.backends.iter().map(|b| b.send(client, args)).collect(), merge)
    }

    fn route_keyless(&self, session: &mut Session, cmd: &'static Command, args: &[Bytes]) -> Pending {
        let ready = |r: Reply| Pending::Ready(r);
        match cmd.name {
            "ping" => ready(match args.len() {
                1 => Reply::status("PONG"),
                _ => Reply::Bulk(args[1].clone()),
            }),
            "echo" => ready(Reply::Bulk(args[1].clone())),
            "quit" => {
                session.close = true;
                ready(Reply::Ok)
            }
            "reset" => {
                session.resp3 = false;
                session.multi = None;
                // Fresh connections next time: the old ones (and their
                // WATCHes) go away.
                session.conns.clear();
                session.watching.clear();
                session.subs = None;
                ready(Reply::status("RESET"))
            }
            "select" => ready(if &args[1][..] == b"0" { Reply::Ok } else { Reply::error("ERR SELECT is not allowed in proxy mode: only database 0") }),
            "hello" => ready(self.hello(session, args)),
            "auth" => ready(self.auth(session, (args.len() == 3).then(|| &args[1][..]), &args[args.len() - 1])),
            "client" => ready(self.client_command(session, args)),
            "info" => ready(Reply::Verbatim(Bytes::from(self.info()))),
            "time" => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                ready(Reply::Array(vec![Reply::bulk(now.as_secs().to_string()), Reply::bulk(now.subsec_micros().to_string())]))
            }
            "command" => ready(command::server::introspect(args)),
            "dbsize" => self.fan_out(session.id, args, Merge::Sum),
            "flushall" | "flushdb" => self.fan_out(session.id, args, Merge::AllOk),
            "keys" => self.fan_out(session.id, args, Merge::Concat),
            "scan" => self.scan(session.id, args),
            // Scripts go to the node of their declared keys; SCRIPT LOAD and
            // FLUSH go everywhere so EVALSHA works wherever a key lands.
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" => {
                let numkeys = crate::util::parse_i64(&args[2]).filter(|n| *n >= 0 && (*n as usize) <= args.len() - 3);
                let Some(numkeys) = numkeys else {
                    // let the node word the error
                    return Pending::One(self.backends[0].send(session.id, args));
                };
                let nodes: Vec<usize> = args[3..3 + numkeys as usize].iter().filter_map(|k| self.node_for(k)).collect();
                match nodes.first() {
                    Some(&n) if nodes.iter().any(|&m| m != n) => ready(crossslot()),
                    Some(&n) => {
                        let rx = self.backends[n].send(session.id, args);
                        let (conn, command) = (self.pinned(session, n), args.to_vec());
                        Pending::Deferred(Box::pin(async move {
                            match recv(rx).await {
                                // deferred by a key in a cross-node transaction: see `raw_reply`
                                Ok(Reply::Error(e)) if e.starts_with("TXNDEFER") => super::txn::call_blocking(conn, command, None).await,
                                Ok(r) => r,
                                Err(e) => e.to_reply(),
                            }
                        }))
                    }
                    None => Pending::One(self.backends[0].send(session.id, args)),
                }
            }
            "script" if is(&args[1], "load") => self.fan_out(session.id, args, Merge::First),
            "script" if is(&args[1], "flush") => self.fan_out(session.id, args, Merge::AllOk),
            // The busy node reads its shared connection only after the
            // running script (queued ahead of SCRIPT KILL): ask every node on
            // the client's own connections instead.
            "script" if is(&args[1], "kill") => {
                let conns: Vec<_> = (0..self.backends.len()).map(|n| self.pinned(session, n)).collect();
                let command = args.to_vec();
                Pending::Deferred(Box::pin(async move {
                    let mut replies = Vec::with_capacity(conns.len());
                    for conn in conns {
                        replies.push(super::txn::call_blocking(conn, command.clone(), Some(Duration::ZERO)).await);
                    }
                    // killed somewhere: OK; else the first error other than
                    // "not busy" (UNKILLABLE), else NOTBUSY
                    let notbusy = |r: &Reply| matches!(r, Reply::Error(e) if e.starts_with("NOTBUSY"));
                    match replies.iter().find(|r| **r == Reply::Ok).or_else(|| replies.iter().find(|r| !notbusy(r))) {
                        Some(r) => r.clone(),
                        None => replies.into_iter().next().unwrap_or_else(|| Reply::error("NOTBUSY No scripts in execution right now.")),
                    }
                }))
            }
            "script" => Pending::One(self.backends[0].send(session.id, args)),
            // HELP and errors of the containers whose other subcommands
            // have keys: any node words them
            "xgroup" | "xinfo" | "object" => Pending::One(self.backends[0].send(session.id, args)),
            // a channel lives on the node its name hashes to on the ring
            // (as Redis Cluster places shard channels), so subscribers know
            // where to listen
            // the registries of every node, merged
            "pubsub" if args.len() >= 2 && (is(&args[1], "channels") || is(&args[1], "shardchannels")) => self.fan_out(session.id, args, Merge::Union),
            "pubsub" if args.len() >= 2 && (is(&args[1], "numsub") || is(&args[1], "shardnumsub")) => self.fan_out(session.id, args, Merge::PairSum),
            "pubsub" if args.len() >= 2 && is(&args[1], "numpat") => self.fan_out(session.id, args, Merge::Max),
            "pubsub" => Pending::One(self.backends[0].send(session.id, args)),
            "publish" | "spublish" => match self.channel_nodes(&args[1]).first().copied() {
                Some(n) => Pending::One(self.backends[n].send(session.id, args)),
                None => ready(Reply::error("ERR no node for this channel")),
            },
            "randomkey" => {
                let i = crate::util::random_u64() as usize % self.backends.len().max(1);
                Pending::One(self.backends[i].send(session.id, args))
            }
            "function" if args.len() >= 2 && (is(&args[1], "flush") || is(&args[1], "list")) => {
                ready(if is(&args[1], "flush") { Reply::Ok } else { Reply::Array(vec![]) })
            }
            // Client libraries and redis-benchmark read settings on connect.
            "config" if args.len() >= 2 && is(&args[1], "get") => Pending::One(self.backends[0].send(session.id, args)),
            other => ready(Reply::error(format!("ERR command '{other}' is not supported by shardis proxy"))),
        }
    }

    /// WATCH, MULTI, EXEC, DISCARD, UNWATCH, and queueing inside MULTI.
    /// `None` when the command is not part of a transaction.
    fn route_transaction(&self, session: &mut Session, cmd: &'static Command, args: &[Bytes]) -> Option<Pending> {
        use super::txn::{Queued, call_one, exec_on};
        let ready = |r: Reply| Some(Pending::Ready(r));
        let keys = cmd.key_positions(args);
        let nodes: Vec<usize> = keys.iter().filter_map(|&i| self.node_for(&args[i])).collect();
        match cmd.name {
            "multi" => {
                if session.multi.is_some() {
                    return ready(Reply::error("ERR MULTI calls can not be nested"));
                }
                session.multi = Some(Queued::default());
                ready(Reply::Ok)
            }
            "watch" => {
                if session.multi.is_some() {
                    return ready(Reply::error("ERR WATCH inside MULTI is not allowed"));
                }
                // Each node watches its keys on the client's dedicated connection.
                let mut per_node: std::collections::BTreeMap<usize, Vec<Bytes>> = std::collections::BTreeMap::new();
                for (&pos, &node) in keys.iter().zip(&nodes) {
                    per_node.entry(node).or_insert_with(|| vec![args[0].clone()]).push(args[pos].clone());
                }
                let calls: Vec<_> = per_node
                    .into_iter()
                    .map(|(node, cmd)| {
                        session.watching.insert(node);
                        (self.pinned(session, node), cmd)
                    })
                    .collect();
                Some(Pending::Deferred(Box::pin(async move {
                    for (conn, cmd) in calls {
                        let r = call_one(conn, cmd).await;
                        if r != Reply::Ok {
                            return r;
                        }
                    }
                    Reply::Ok
                })))
            }
            "unwatch" if session.multi.is_none() => Some(self.unwatch_all(session, Reply::Ok)),
            "discard" => {
                if session.multi.take().is_none() {
                    return ready(Reply::error("ERR DISCARD without MULTI"));
                }
                Some(self.unwatch_all(session, Reply::Ok))
            }
            "exec" => {
                let Some(q) = session.multi.take() else {
                    return ready(Reply::error("ERR EXEC without MULTI"));
                };
                if q.error {
                    return Some(self.unwatch_all(session, Reply::error("EXECABORT Transaction discarded because of previous errors.")));
                }
                // Participants: nodes with commands, and nodes with watches.
                let mut participants: std::collections::BTreeSet<usize> = std::mem::take(&mut session.watching);
                participants.extend(q.nodes.iter().flatten().copied());
                if participants.len() <= 1 {
                    let node = participants.into_iter().next().unwrap_or(0);
                    let conn = self.pinned(session, node);
                    return Some(Pending::Deferred(Box::pin(exec_on(conn, q.commands))));
                }
                let primary = *participants.iter().next().expect("two or more");
                let mut parts: Vec<super::coordinator::Part> = participants
                    .iter()
                    .map(|&node| super::coordinator::Part {
                        node,
                        addr: self.backends[node].addr.clone(),
                        conn: self.pinned(session, node),
                        commands: Vec::new(),
                    })
                    .collect();
                let total = q.commands.len();
                for (pos, (cmd, node)) in q.commands.into_iter().zip(q.nodes).enumerate() {
                    // key-less commands run at the primary
                    let node = node.unwrap_or(primary);
                    parts.iter_mut().find(|p| p.node == node).expect("participant").commands.push((pos, cmd));
                }
                Some(self.two_phase(parts, total, false))
            }
            _ => {
                let q = session.multi.as_mut()?;
                if matches!(cmd.name, "quit" | "reset") {
                    return None;
                }
                if cmd.name == "select" && &args[1][..] != b"0" {
                    q.error = true;
                    return ready(Reply::error("ERR SELECT is not allowed in proxy mode: only database 0"));
                }
                if nodes.iter().any(|&n| n != nodes[0]) {
                    q.error = true;
                    return ready(Reply::error("CROSSSLOT Keys of one command in a transaction must be on one node (a hash tag keeps them together)"));
                }
                q.commands.push(args.to_vec());
                q.nodes.push(nodes.first().copied());
                ready(Reply::status("QUEUED"))
            }
        }
    }

    /// MSETNX over several nodes, atomic through 2PC: each node prepares
    /// its part only if none of its keys exists.
    fn msetnx_across_nodes(&self, args: &[Bytes], keys: &[usize], nodes: &[usize]) -> Pending {
        let mut parts: Vec<super::coordinator::Part> = Vec::new();
        let mut sorted: Vec<(usize, usize)> = keys.iter().copied().zip(nodes.iter().copied()).collect();
        sorted.sort_by_key(|&(_, n)| n);
        for (pos, node) in sorted {
            if parts.last().is_none_or(|p| p.node != node) {
                parts.push(super::coordinator::Part {
                    node,
                    addr: self.backends[node].addr.clone(),
                    conn: super::txn::PinnedConn::new(self.backends[node].addr.clone(), self.pool.cluster_secret.clone(), self.node_setup.clone()),
                    commands: vec![(parts.len(), vec![Bytes::from_static(b"MSET")])],
                });
            }
            let part = parts.last_mut().expect("pushed");
            part.commands[0].1.extend([args[pos].clone(), args[pos + 1].clone()]);
        }
        let total = parts.len();
        self.two_phase(parts, total, true)
    }

    /// Forgets the client's WATCHes on every node (UNWATCH on each
    /// dedicated connection), then answers `reply`.
    fn unwatch_all(&self, session: &mut Session, reply: Reply) -> Pending {
        let conns: Vec<_> = std::mem::take(&mut session.watching).into_iter().map(|n| self.pinned(session, n)).collect();
        if conns.is_empty() {
            return Pending::Ready(reply);
        }
        Pending::Deferred(Box::pin(async move {
            for c in conns {
                super::txn::call_one(c, vec![Bytes::from_static(b"UNWATCH")]).await;
            }
            reply
        }))
    }

    /// A cross-node transaction run by the coordinator when its reply is due.
    fn two_phase(&self, parts: Vec<super::coordinator::Part>, total: usize, nx: bool) -> Pending {
        let plan = super::coordinator::Plan {
            txid_prefix: self.txid_prefix.clone(),
            counter: self.txid_counter.clone(),
            timeout_ms: self.pool.txn_timeout_ms,
            parts,
            total,
            nx,
        };
        Pending::Deferred(Box::pin(super::coordinator::run(plan)))
    }

    /// The client's dedicated connection to `node` (made on first use).
    fn pinned(&self, session: &mut Session, node: usize) -> super::txn::Pinned {
        session
            .conns
            .entry(node)
            .or_insert_with(|| super::txn::PinnedConn::new(self.backends[node].addr.clone(), self.pool.cluster_secret.clone(), self.node_setup.clone()))
            .clone()
    }

    /// SCAN over all nodes: the cursor's top byte is the node index, the
    /// rest the node's own cursor (shardis and Redis cursors fit 56 bits).
    fn scan(&self, client: u64, args: &[Bytes]) -> Pending {
        let Some(cursor) = crate::util::parse_scan_cursor(&args[1]) else {
            return Pending::Ready(Reply::error("ERR invalid cursor"));
        };
        let node = (cursor >> 56) as usize;
        let node_cursor = cursor & ((1 << 56) - 1);
        if node >= self.backends.len() {
            return Pending::Ready(Reply::error("ERR invalid cursor"));
        }
        let mut forwarded = args.to_vec();
        forwarded[1] = Bytes::from(node_cursor.to_string());
        Pending::Many(vec![self.backends[node].send(client, &forwarded)], Merge::Scan { node, nodes: self.backends.len() })
    }

    /// (P|S)(UN)SUBSCRIBE for a client: its links to the nodes (a channel's
    /// on its ring node, a pattern's on every node) follow its set, and the
    /// confirmations carry the counts of that whole set, as one Redis would
    /// give them.
    async fn subscription(&self, session: &mut Session, args: &[Bytes]) -> BytesMut {
        use crate::resp::reply::push_frame as frame;
        let resp3 = session.resp3;
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        let (kind, space, subscribing): (&[u8], u8, bool) = match name.as_str() {
            "subscribe" => (b"subscribe", 0, true),
            "unsubscribe" => (b"unsubscribe", 0, false),
            "psubscribe" => (b"psubscribe", 1, true),
            "punsubscribe" => (b"punsubscribe", 1, false),
            "ssubscribe" => (b"ssubscribe", 2, true),
            _ => (b"sunsubscribe", 2, false),
        };
        let subs = session.subs.get_or_insert_with(|| Box::new(super::pubsub::Subs::new(resp3)));
        let names: Vec<Bytes> = if args.len() > 1 {
            args[1..].to_vec()
        } else {
            match space {
                0 => subs.channels.clone(),
                1 => subs.patterns.clone(),
                _ => subs.shard.clone(),
            }
        };
        let mut out = BytesMut::new();
        let count = |s: &super::pubsub::Subs| (if space == 2 { s.shard.len() } else { s.channels.len() + s.patterns.len() }) as i64;
        for n in &names {
            let nodes: Vec<usize> = match space {
                1 => (0..self.backends.len()).collect(),
                0 => self.channel_nodes(n),
                _ => self.node_for(n).into_iter().collect(),
            };
            let has = match space {
                0 => subs.channels.contains(n),
                1 => subs.patterns.contains(n),
                _ => subs.shard.contains(n),
            };
            if subscribing != has {
                let verb: &[u8] = kind;
                let mut failed = None;
                for node in nodes {
                    if (subscribing || subs.nodes().contains(&node))
                        && let Err(e) = subs.send(node, &self.backends[node].addr, &self.node_setup, &[verb, n]).await
                    {
                        failed = Some(e);
                    }
                }
                if let Some(e) = failed.filter(|_| subscribing) {
                    Reply::error(format!("ERR cannot reach the channel's node: {e}")).encode(&mut out, resp3);
                    continue;
                }
                let list = match space {
                    0 => &mut subs.channels,
                    1 => &mut subs.patterns,
                    _ => &mut subs.shard,
                };
                if subscribing {
                    list.push(n.clone());
                } else {
                    list.retain(|x| x != n);
                }
            }
            out.extend_from_slice(&frame(resp3, &[Some(kind), Some(n)], Some(count(subs))));
        }
        if names.is_empty() {
            out.extend_from_slice(&frame(resp3, &[Some(kind), None], Some(count(subs))));
        }
        out
    }

    /// AUTH [user] password against `redis_auth` (user "default" only).
    fn auth(&self, session: &mut Session, user: Option<&[u8]>, password: &[u8]) -> Reply {
        let Some(expected) = &self.pool.redis_auth else {
            return Reply::error(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            );
        };
        if user.is_none_or(|u| is(u, "default")) && crate::txn::secret::matches(expected.as_bytes(), password) {
            session.authenticated = true;
            Reply::Ok
        } else {
            Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
        }
    }

    fn hello(&self, session: &mut Session, args: &[Bytes]) -> Reply {
        if let Some(at) = args.iter().position(|a| is(a, "auth")) {
            match (args.get(at + 1), args.get(at + 2)) {
                (Some(user), Some(pass)) => {
                    if let Reply::Error(e) = self.auth(session, Some(user), pass) {
                        return Reply::Error(e);
                    }
                }
                _ => return command::syntax_error(),
            }
        }
        if !session.authenticated {
            return Reply::error(command::connection::HELLO_NOAUTH);
        }
        if args.len() >= 2 {
            match crate::util::parse_i64(&args[1]) {
                Some(2) => session.resp3 = false,
                Some(3) => session.resp3 = true,
                Some(_) => return Reply::error("NOPROTO unsupported protocol version"),
                None => {
                    return Reply::error("ERR Protocol version is not an integer or out of range");
                }
            }
            if let Some(s) = &session.subs {
                s.set_resp3(session.resp3);
            }
        }
        Reply::Map(vec![
            (Reply::bulk("server"), Reply::bulk("redis")),
            (Reply::bulk("version"), Reply::bulk(command::connection::REDIS_VERSION)),
            (Reply::bulk("proto"), Reply::Int(if session.resp3 { 3 } else { 2 })),
            (Reply::bulk("id"), Reply::Int(session.id as i64)),
            (Reply::bulk("mode"), Reply::bulk("proxy")),
            (Reply::bulk("role"), Reply::bulk("master")),
            (Reply::bulk("modules"), Reply::Array(vec![])),
        ])
    }

    fn client_command(&self, session: &mut Session, args: &[Bytes]) -> Reply {
        let sub = &args[1];
        if is(sub, "setname") && args.len() == 3 {
            session.name = Some(String::from_utf8_lossy(&args[2]).into_owned());
            Reply::Ok
        } else if is(sub, "getname") {
            Reply::bulk_or_nil(session.name.as_ref())
        } else if is(sub, "id") {
            Reply::Int(session.id as i64)
        } else if is(sub, "setinfo") {
            Reply::Ok
        } else if is(sub, "tracking") || is(sub, "caching") {
            // the nodes see the proxy's shared connections, not this
            // client: none could tell whose reads to invalidate
            Reply::error(format!(
                "ERR CLIENT {} is not supported by shardis proxy: client-side caching needs a connection of the client's own to each node; connect to the nodes directly",
                String::from_utf8_lossy(sub).to_ascii_uppercase()
            ))
        } else if is(sub, "getredir") {
            Reply::Int(-1)
        } else {
            Reply::error(format!("ERR CLIENT {} is not supported by shardis proxy", String::from_utf8_lossy(sub).to_ascii_uppercase()))
        }
    }

    fn info(&self) -> String {
        let mut s = String::new();
        s.push_str("# Server\r\n");
        s.push_str(&format!(
            "redis_version:{}\r\nshardis_version:{}\r\nredis_mode:proxy\r\nprocess_id:{}\r\nuptime_in_seconds:{}\r\n",
            command::connection::REDIS_VERSION,
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            self.started.elapsed().as_secs()
        ));
        s.push_str("\r\n# Clients\r\n");
        s.push_str(&format!("connected_clients:{}\r\n", self.clients.load(Ordering::Relaxed)));
        s.push_str("\r\n# Stats\r\n");
        s.push_str(&format!(
            "total_connections_received:{}\r\ntotal_commands_processed:{}\r\n",
            self.total_connections.load(Ordering::Relaxed),
            self.commands.load(Ordering::Relaxed)
        ));
        s.push_str("\r\n# Backends\r\n");
        for (i, b) in self.backends.iter().enumerate() {
            s.push_str(&format!(
                "backend{i}:addr={},ejected={},requests={},errors={},timeouts={}\r\n",
                b.addr,
                u8::from(self.ejected_until.lock().unwrap_or_else(|p| p.into_inner())[i].is_some()),
                b.stats.requests.load(Ordering::Relaxed),
                b.stats.errors.load(Ordering::Relaxed),
                b.stats.timeouts.load(Ordering::Relaxed)
            ));
        }
        s
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Per-client state the proxy keeps.
struct Session {
    id: u64,
    resp3: bool,
    name: Option<String>,
    close: bool,
    /// MULTI state: the queued transaction.
    multi: Option<super::txn::Queued>,
    /// Dedicated connections per node, kept for the session (WATCH state
    /// lives in them; transactions run on them).
    conns: std::collections::BTreeMap<usize, super::txn::Pinned>,
    /// Nodes where this client has WATCHes right now.
    watching: std::collections::BTreeSet<usize>,
    /// Per node: commands forwarded as received, and their replies.
    raw: Vec<RawOut>,
    /// Nodes with forwarded commands not sent yet (a flush visits only
    /// these, however many nodes the pool has).
    gathering: Vec<usize>,
    /// AUTH given (or no `redis_auth` configured).
    authenticated: bool,
    /// Pub/sub subscriptions and their node links (boxed: an idle
    /// client's session stays small).
    subs: Option<Box<super::pubsub::Subs>>,
}

impl Session {
    /// Queues a command for `node` (sent at the next `flush_raw`).
    fn forward(&mut self, node: usize, frame: Bytes) {
        if self.raw[node].count == 0 {
            self.gathering.push(node);
        }
        self.raw[node].push(frame);
    }
}

/// The fast path for commands whose keys are all on one node: the request
/// goes to the node as the client sent it and the reply comes back as the
/// node sent it, with no decoding or re-encoding in between. A client's
/// forwarded commands for one node are sent as one request (the client's
/// pipeline, split by node), and the replies come back as one buffer.
#[derive(Default)]
struct RawOut {
    /// The first command gathered (sent without copying when alone).
    first: Option<Bytes>,
    /// All commands gathered, once there are two or more.
    more: BytesMut,
    count: usize,
    /// Requests sent, oldest first, with replies not all handed out yet.
    flights: std::collections::VecDeque<Flight>,
    /// Every forwarded command whose reply is not handed out yet, oldest
    /// first: run again on the client's own connection if the node
    /// deferred it (`-TXNDEFER`, a key held by a cross-node transaction).
    frames: std::collections::VecDeque<Bytes>,
}

struct Flight {
    rx: Option<RawRx>,
    /// The replies, once received; consumed from the front.
    data: Option<super::backend::RawReplies>,
    /// Replies not handed out yet.
    left: usize,
}

impl RawOut {
    fn push(&mut self, frame: Bytes) {
        self.frames.push_back(frame.clone());
        match (self.count, &self.first) {
            (0, _) => self.first = Some(frame),
            (1, Some(first)) => {
                self.more.extend_from_slice(first);
                self.more.extend_from_slice(&frame);
            }
            _ => self.more.extend_from_slice(&frame),
        }
        self.count += 1;
    }

    fn take_frames(&mut self) -> Option<(Bytes, usize)> {
        let count = std::mem::take(&mut self.count);
        let first = self.first.take();
        match count {
            0 => None,
            1 => first.map(|f| (f, 1)),
            n => Some((self.more.split().freeze(), n)),
        }
    }

    /// The next reply from this node, as the node sent it, with the
    /// command it answers.
    async fn next(&mut self) -> (Result<Bytes, BackendError>, Bytes) {
        let frame = self.frames.pop_front().unwrap_or_default();
        (self.next_reply().await, frame)
    }

    async fn next_reply(&mut self) -> Result<Bytes, BackendError> {
        let flight = self.flights.front_mut().expect("a request was sent for every forwarded command");
        if let Some(rx) = flight.rx.take() {
            let gone = || super::backend::RawReplies { data: Bytes::new(), error: Some(BackendError("backend connection task ended".into())) };
            flight.data = Some(rx.await.unwrap_or_else(|_| gone()));
        }
        let replies = flight.data.as_mut().expect("received");
        // The backend task checked that these are whole replies; past them,
        // the error (a connection that failed midway still delivers the
        // replies that arrived).
        let reply = match reply_end(&replies.data, 0) {
            Ok(Some(end)) => Ok(replies.data.split_to(end)),
            _ => Err(replies.error.clone().unwrap_or_else(|| BackendError("backend sent fewer replies than requests".into()))),
        };
        flight.left -= 1;
        if flight.left == 0 {
            self.flights.pop_front();
        }
        reply
    }
}

/// Splits a multi-key command by node: each node gets the command name and
/// its keys (with `width` - 1 following arguments each), queued with the
/// client's other forwarded commands.
fn split(
    session: &mut Session,
    args: &[Bytes],
    keys: &[usize],
    nodes: &[usize],
    width: usize,
    merge: impl FnOnce(Vec<Vec<usize>>, usize) -> RawMerge,
) -> Pending {
    let mut involved: Vec<usize> = nodes.to_vec();
    involved.sort_unstable();
    involved.dedup();
    let mut positions = Vec::with_capacity(involved.len());
    for &node in &involved {
        let mine: Vec<usize> = (0..keys.len()).filter(|&i| nodes[i] == node).collect();
        let mut frame =
            BytesMut::with_capacity(64 + mine.iter().map(|&i| args[keys[i]..keys[i] + width].iter().map(|a| a.len() + 16).sum::<usize>()).sum::<usize>());
        crate::resp::reply::header(&mut frame, b'*', 1 + mine.len() * width);
        crate::resp::reply::bulk(&mut frame, b'$', &args[0]);
        for &i in &mine {
            for a in &args[keys[i]..keys[i] + width] {
                crate::resp::reply::bulk(&mut frame, b'$', a);
            }
        }
        session.forward(node, frame.freeze());
        positions.push(mine);
    }
    Pending::Split { merge: merge(positions, keys.len()), nodes: involved }
}

/// Combines the parts of a split command: the first error wins (a node's
/// error reply, or a node that could not be reached), else the merge.
fn merge_raw(parts: Vec<Result<Bytes, BackendError>>, merge: RawMerge, out: &mut BytesMut) {
    let mut replies = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Err(e) => return e.to_reply().encode(out, false),
            Ok(r) if r.first() == Some(&b'-') => return out.extend_from_slice(&r),
            Ok(r) => replies.push(r),
        }
    }
    match merge {
        RawMerge::Sum => {
            let sum: i64 = replies.iter().filter(|r| r.len() > 3 && r[0] == b':').filter_map(|r| crate::util::parse_i64(&r[1..r.len() - 2])).sum();
            Reply::Int(sum).encode(out, false);
        }
        RawMerge::AllOk => out.extend_from_slice(replies.iter().find(|r| &r[..] != b"+OK\r\n").map_or(&b"+OK\r\n"[..], |r| &r[..])),
        RawMerge::Mget { positions, total } => {
            let mut items: Vec<Option<Bytes>> = vec![None; total];
            for (reply, order) in replies.iter().zip(positions) {
                // `*<n>\r\n` then n bulks, one per key sent to that node.
                let Some(mut at) = reply.iter().position(|&b| b == b'\n').map(|i| i + 1) else { continue };
                for i in order {
                    let Ok(Some(end)) = reply_end(reply, at) else { break };
                    items[i] = Some(reply.slice(at..end));
                    at = end;
                }
            }
            crate::resp::reply::header(out, b'*', total);
            for item in items {
                out.extend_from_slice(item.as_deref().unwrap_or(b"$-1\r\n"));
            }
        }
    }
}

/// Re-encodes RESP2 replies for a RESP3 client: the two RESP2 nulls
/// (`$-1`, `*-1`) become RESP3's `_`; every other RESP2 frame reads the same
/// in RESP3. Walks frame by frame: aggregate headers are copied and their
/// items follow.
fn resp2_nulls_to_resp3(src: &[u8], out: &mut BytesMut) {
    let mut pos = 0;
    while pos < src.len() {
        let Some(cr) = src[pos..].iter().position(|&b| b == b'\r').map(|i| pos + i) else { break };
        let line_end = (cr + 2).min(src.len());
        let header = &src[pos..cr];
        if header == b"$-1" || header == b"*-1" {
            out.extend_from_slice(b"_\r\n");
            pos = line_end;
            continue;
        }
        let end = match (header.first(), crate::util::parse_i64(header.get(1..).unwrap_or_default())) {
            (Some(b'$'), Some(n)) if n >= 0 => (line_end + n as usize + 2).min(src.len()),
            _ => line_end,
        };
        out.extend_from_slice(&src[pos..end]);
        pos = end;
    }
}

/// Completes when the client has closed its connection (or it failed).
/// What the client sends meanwhile is kept in `inbuf` for later, up to a
/// bound past which reading stops.
async fn client_gone(stream: &mut TcpStream, inbuf: &mut BytesMut) {
    // nothing is reserved until the client sends something: thousands of
    // blocked clients cost no read buffers
    crate::resp::release_if_empty(inbuf);
    loop {
        if inbuf.len() >= 1024 * 1024 {
            return std::future::pending().await;
        }
        if stream.readable().await.is_err() {
            return;
        }
        crate::resp::reserve_for_read(inbuf);
        match stream.try_read_buf(inbuf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

async fn recv(rx: ReplyRx) -> Result<Reply, BackendError> {
    rx.await.unwrap_or_else(|_| Err(BackendError("backend connection task ended".into())))
}

async fn resolve(pending: Pending) -> Reply {
    match pending {
        Pending::Ready(r) => r,
        Pending::Deferred(f) | Pending::Blocking(f) => f.await,
        Pending::One(rx) => recv(rx).await.unwrap_or_else(|e| e.to_reply()),
        // Answered by `Proxy::answer`, which owns the session's raw replies.
        Pending::Raw(_) | Pending::Split { .. } => Reply::error("ERR internal error: a forwarded reply was answered out of place"),
        // Run by the session loop itself (it ends its batch).
        Pending::Subscribe(_) => Reply::error("ERR internal error: a subscription was answered out of place"),
        Pending::Many(rxs, merge) => {
            let mut parts = Vec::with_capacity(rxs.len());
            for rx in rxs {
                match recv(rx).await {
                    Ok(Reply::Error(e)) => return Reply::Error(e),
                    Ok(r) => parts.push(r),
                    Err(e) => return e.to_reply(),
                }
            }
            merge_replies(parts, merge)
        }
    }
}

fn merge_replies(parts: Vec<Reply>, merge: Merge) -> Reply {
    match merge {
        Merge::Sum => Reply::Int(parts.iter().map(|p| if let Reply::Int(i) = p { *i } else { 0 }).sum()),
        Merge::Max => Reply::Int(parts.iter().map(|p| if let Reply::Int(i) = p { *i } else { 0 }).max().unwrap_or(0)),
        Merge::AllOk => parts.into_iter().find(|p| *p != Reply::Ok).unwrap_or(Reply::Ok),
        Merge::First => parts.into_iter().next().unwrap_or(Reply::Nil),
        Merge::Concat => Reply::Array(parts.into_iter().flat_map(|p| if let Reply::Array(items) = p { items } else { vec![] }).collect()),
        Merge::Union => {
            let mut seen = std::collections::HashSet::new();
            let items = parts.into_iter().flat_map(|p| if let Reply::Array(items) = p { items } else { vec![] });
            Reply::Array(items.filter(|i| !matches!(i, Reply::Bulk(b) if !seen.insert(b.clone()))).collect())
        }
        Merge::PairSum => {
            let mut parts = parts.into_iter();
            let Some(Reply::Array(mut total)) = parts.next() else { return Reply::Array(vec![]) };
            for p in parts {
                if let Reply::Array(items) = p {
                    for (t, i) in total.iter_mut().zip(items).skip(1).step_by(2) {
                        if let (Reply::Int(a), Reply::Int(b)) = (&mut *t, i) {
                            *a += b;
                        }
                    }
                }
            }
            Reply::Array(total)
        }
        Merge::Scan { node, nodes } => {
            let Some(Reply::Array(mut items)) = parts.into_iter().next() else {
                return Reply::error("ERR bad SCAN reply from backend");
            };
            let keys = items.pop().unwrap_or(Reply::Array(vec![]));
            let node_cursor: u64 = match items.pop() {
                Some(Reply::Bulk(b)) => String::from_utf8_lossy(&b).parse().unwrap_or(0),
                _ => 0,
            };
            let next = if node_cursor != 0 {
                ((node as u64) << 56) | node_cursor
            } else if node + 1 < nodes {
                ((node as u64) + 1) << 56
            } else {
                0
            };
            Reply::Array(vec![Reply::bulk(next.to_string()), keys])
        }
    }
}

/// `Some((true, key))` for `__keyspace@<db>__:<key>`, `Some((false,
/// event))` for `__keyevent@<db>__:<event>`, `None` for other channels.
fn notification_channel(channel: &[u8]) -> Option<(bool, &[u8])> {
    let (space, rest) = if let Some(r) = channel.strip_prefix(b"__keyspace@") { (true, r) } else { (false, channel.strip_prefix(b"__keyevent@")?) };
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    let name = rest[digits..].strip_prefix(b"__:").filter(|_| digits > 0)?;
    Some((space, name))
}

#[cfg(test)]
mod tests {
    #[test]
    fn notification_channels_name_their_key_or_event() {
        use super::notification_channel as n;
        assert_eq!(n(b"__keyspace@0__:user:1"), Some((true, &b"user:1"[..])));
        assert_eq!(n(b"__keyevent@12__:set"), Some((false, &b"set"[..])));
        assert_eq!(n(b"__keyspace@0__:"), Some((true, &b""[..])));
        for other in [&b"__keyspace@__:k"[..], b"__keyspace@x__:k", b"__keyspace@0_:k", b"news", b"__keyevent@1"] {
            assert_eq!(n(other), None, "{other:?}");
        }
    }

    use super::resp2_nulls_to_resp3;
    use bytes::BytesMut;

    #[test]
    fn resp3_conversion_changes_only_the_nulls() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"$-1\r\n", b"_\r\n"),
            (b"*-1\r\n", b"_\r\n"),
            (b"*3\r\n$-1\r\n$5\r\n$-1\r\n\r\n*-1\r\n", b"*3\r\n_\r\n$5\r\n$-1\r\n\r\n_\r\n"),
            (b"+OK\r\n:-1\r\n-ERR $-1\r\n", b"+OK\r\n:-1\r\n-ERR $-1\r\n"),
            (b"*2\r\n*1\r\n$0\r\n\r\n$3\r\n\r\n\r\n", b"*2\r\n*1\r\n$0\r\n\r\n$3\r\n\r\n\r\n"),
        ];
        for (resp2, resp3) in cases {
            let mut out = BytesMut::new();
            resp2_nulls_to_resp3(resp2, &mut out);
            assert_eq!(&out[..], *resp3, "{}", String::from_utf8_lossy(resp2));
        }
    }
}
