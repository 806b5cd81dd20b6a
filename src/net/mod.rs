//! Listener, per-connection tasks and shutdown; the node's state they
//! serve is [`crate::node`].
//!
//! Each connection is one tokio task that reads into a `BytesMut`, parses
//! every complete request in it (pipelining), dispatches each, encodes all
//! replies into one output buffer and writes that once per batch. A protocol
//! error is answered and closes only that connection.

mod sync;

use crate::command;
use crate::node::{Blocked, Client, ClientInfo, Ctx, Server};
use crate::resp::{Limits, Reply, parse_request_spans};
use bytes::{Bytes, BytesMut};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What redis-server 7.0.15 tells a non-loopback client in protected mode,
/// byte for byte (its typo included).
const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Flush the output buffer early when a pipeline's replies grow past this.
const OUTPUT_FLUSH: usize = 64 * 1024;

/// Serves `listeners` (one per bind address) until `signal` completes
/// or SHUTDOWN is called, then closes every client and returns.
pub async fn run(server: Arc<Server>, listeners: Vec<TcpListener>, signal: impl Future<Output = ()>) {
    let expiry = tokio::spawn(active_expiry(server.clone()));
    let accepting: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            let server = server.clone();
            tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((stream, _)) => accept(server.clone(), stream),
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            })
        })
        .collect();
    tokio::select! {
        _ = signal => {}
        _ = server.shutdown.notified() => {}
    }
    tracing::info!("shutting down");
    for a in &accepting {
        a.abort();
    }
    expiry.abort();
    let all: Vec<Arc<ClientInfo>> = server.clients().values().cloned().collect();
    for c in &all {
        c.kill();
    }
    // Give connections a moment to write what they have and close.
    for _ in 0..50 {
        if server.clients().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn accept(server: Arc<Server>, stream: TcpStream) {
    server.stats.total_connections_received.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    // Redis 7.0's protected mode: with no password, only the loopback
    // interface may connect.
    if peer.is_some_and(|a| !a.ip().to_canonical().is_loopback())
        && server.config.get("protected-mode").as_deref() == Some("yes")
        && server.config.requirepass().is_none()
    {
        tracing::warn!(addr = ?peer, "connection refused: protected mode, no password set");
        tokio::spawn(refuse(stream, PROTECTED_MODE_DENIED));
        return;
    }
    let max = server.config.maxclients.load(Ordering::Relaxed) as usize;
    if server.clients().len() >= max {
        server.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(max, addr = ?peer, "client refused: max number of clients reached");
        tokio::spawn(refuse(stream, b"-ERR max number of clients reached\r\n"));
        return;
    }
    let id = server.next_client_id();
    let addr = peer.map(|a| a.to_string()).unwrap_or_default();
    let laddr = stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let info = Arc::new(ClientInfo::new(id, addr, laddr));
    info.fd.store(std::os::fd::AsRawFd::as_raw_fd(&stream), Ordering::Relaxed);
    server.clients().insert(id, info.clone());
    tokio::spawn(async move {
        let mut client = Client::new(info.clone(), server.config.requirepass().is_none());
        if let Err(e) = serve_connection(&server, stream, &mut client).await {
            tracing::debug!(client = id, error = %e, "connection ended with an error");
        }
        crate::command::transaction::unwatch_all(&server, &mut client);
        crate::command::pubsub::leave_all(&server, &mut client);
        if client.tracking.is_some() {
            server.tracking.disable(id);
            server.note_tracking();
        }
        server.clients().remove(&id);
    });
}

/// Tells a refused client why and closes. The client's first request may
/// still be arriving: closing with it unread would reset the connection and
/// could destroy the message in flight, so the input is drained (briefly,
/// and bounded) after our side is shut.
pub async fn refuse(mut stream: TcpStream, message: &'static [u8]) {
    if stream.write_all(message).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

async fn active_expiry(server: Arc<Server>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    // (most connections seen, buffer bytes released) since memory was
    // last given back to the OS
    let mut released = (0, 0);
    let mut ticks = 0u64;
    loop {
        tick.tick().await;
        ticks += 1;
        if ticks.is_multiple_of(10) {
            crate::persist::cron(&server);
        }
        crate::util::resync_clock();
        crate::alloc::update_peak();
        // Many connections gone, or idle ones' buffers released: return
        // their memory.
        crate::alloc::release_after_clients_leave(server.clients().len(), &mut released);
        let loading = server.persistence.loading.load(Ordering::Acquire);
        // The file being loaded may still decide a prepared transaction
        // it re-created: none is settled (or applied a second time) before
        // the whole file is in.
        if !loading {
            crate::node::recovery::recover(&server, command::txn::apply_commit);
        }
        // tables sized for a file being loaded are not shrunk meanwhile
        if let Some(_gate) = server.try_gate_shared().filter(|_| !loading) {
            server.keyspace.maintain_tables(1000);
        }
        // A full budget means more keys are due: go again at once.
        // Never block a worker on the gate: while EXEC or a script holds it,
        // skip this round.
        // nothing expires while the dataset loads (as in Redis)
        while match server.try_gate_shared().filter(|_| !server.persistence.loading.load(Ordering::Relaxed)) {
            Some(_gate) => server.keyspace.active_expire(200),
            None => 0,
        } >= 200 * crate::store::SHARDS_PER_DB
        {
            tokio::task::yield_now().await;
        }
    }
}

async fn serve_connection(server: &Arc<Server>, mut stream: TcpStream, client: &mut Client) -> std::io::Result<()> {
    let info = client.info.clone();
    // Both buffers exist only while there is work: released after
    // `BUFFER_IDLE` without input (an idle connection holds neither, as
    // Redis frees an idle client's query buffer) and taken again when
    // bytes arrive.
    let mut inbuf = BytesMut::new();
    let mut out = BytesMut::new();
    // Argument positions of the request being parsed, reused.
    let mut spans = Vec::new();
    // The request's arguments (slices of the read buffer), reused.
    let mut args: Vec<Bytes> = Vec::new();
    let mut idle = crate::resp::IdleTimer::default();
    loop {
        // Answer every complete request already buffered.
        loop {
            let limits = Limits { max_bulk_len: server.config.proto_max_bulk_len.load(Ordering::Relaxed), authenticated: client.authenticated };
            match parse_request_spans(&mut inbuf, limits, &mut spans) {
                Ok(Some(frame)) => {
                    if spans.is_empty() {
                        continue;
                    }
                    args.clear();
                    args.extend(spans.iter().map(|&(s, e)| frame.slice(s..e)));
                    server.stats.total_commands_processed.fetch_add(1, Ordering::Relaxed);
                    let mut reply = command::dispatch(&mut Ctx { server, client }, &args);
                    if let Some(blocked) = client.blocked.take() {
                        flush_replies(server, &info, &mut stream, &mut out).await?;
                        // A blocked client keeps nothing it does not need:
                        // its command holds its own copy of the arguments,
                        // so the read buffer they were cut from can go.
                        args.clear();
                        drop(frame);
                        crate::resp::release_if_empty(&mut out);
                        crate::resp::release_if_empty(&mut inbuf);
                        match wait_blocked(server, &mut stream, &mut inbuf, client, blocked).await? {
                            Some(r) => reply = r,
                            None => return Ok(()),
                        }
                    }
                    if client.should_reply() {
                        reply.encode(&mut out, client.resp3);
                    }
                    if let Some(kind) = client.sync {
                        // SYNC, PSYNC: the replies before it, then the
                        // snapshot (and the stream), then the end
                        flush_replies(server, &info, &mut stream, &mut out).await?;
                        // boxed: its state is not part of every connection's future
                        return Box::pin(sync::serve(server, &mut stream, client.repl, client.id, kind)).await;
                    }
                    // nothing keeps the read buffer alive past its command,
                    // nor a huge command's argument list
                    args.clear();
                    if args.capacity() > 1024 {
                        args = Vec::new();
                    }
                    if client.close || out.len() >= OUTPUT_FLUSH {
                        flush_replies(server, &info, &mut stream, &mut out).await?;
                    }
                    if client.close {
                        return Ok(());
                    }
                }
                Ok(None) => {
                    client.txn_deferring = false;
                    break;
                }
                Err(e) => {
                    // Redis logs these at its verbose level
                    tracing::debug!("Protocol error ({}) from client: id={} addr={}", e.0, client.id, info.addr);
                    Reply::error(format!("ERR Protocol error: {}", e.0)).encode(&mut out, client.resp3);
                    flush_replies(server, &info, &mut stream, &mut out).await?;
                    return Ok(());
                }
            }
        }
        flush_replies(server, &info, &mut stream, &mut out).await?;
        crate::resp::trim_if_large(&mut inbuf);
        crate::resp::trim_if_large(&mut out);
        info.qbuf.store(inbuf.len(), Ordering::Relaxed);
        info.qbuf_alloc.store(inbuf.capacity(), Ordering::Relaxed);
        let timeout = server.config.timeout.load(Ordering::Relaxed);
        // MONITOR and pub/sub clients are never timed out, as in Redis
        let monitoring = client.monitor.is_some() || client.subs.active();
        let outbox = client.subs.outbox.clone();
        let holding = inbuf.capacity() > 0 || out.capacity() > 0 || args.capacity() > 0;
        tokio::select! {
            ready = stream.readable() => ready?,
            _ = info.killed() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(timeout)), if timeout > 0 && !monitoring => return Ok(()),
            _ = idle.idle(), if holding => {
                crate::resp::release_if_empty(&mut inbuf);
                crate::resp::release_if_empty(&mut out);
                args = Vec::new();
                continue;
            }
            _ = next_message(&outbox), if outbox.is_some() => {
                deliver(server, &info, &mut stream, &mut out, outbox.as_deref()).await?;
                continue;
            }
        };
        crate::resp::reserve_for_read(&mut inbuf);
        let read = match stream.try_read_buf(&mut inbuf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        server.stats.net_input_bytes.fetch_add(read as u64, Ordering::Relaxed);
        if over_query_limit(server, &info, &inbuf) {
            return Ok(());
        }
        info.touch(server.started);
        idle.input();
        info.qbuf.store(inbuf.len(), Ordering::Relaxed);
        info.qbuf_alloc.store(inbuf.capacity(), Ordering::Relaxed);
    }
}

/// Completes when the subscriber's outbox has messages.
async fn next_message(outbox: &Option<std::sync::Arc<crate::node::pubsub::Outbox>>) {
    match outbox {
        Some(o) if o.has_frames() => {}
        Some(o) => o.ready().await,
        None => std::future::pending().await,
    }
}

/// Writes a subscriber's queued messages (with any replies before them);
/// they count against its output limit until the socket took them.
async fn deliver(
    server: &Server,
    info: &ClientInfo,
    stream: &mut TcpStream,
    out: &mut BytesMut,
    outbox: Option<&crate::node::pubsub::Outbox>,
) -> std::io::Result<()> {
    let Some(o) = outbox else { return Ok(()) };
    let n = o.drain_into(out);
    let r = flush(server, info, stream, out).await;
    o.written(n);
    r
}

/// Waits for what a blocked command waits for and runs it again when
/// woken (or when its `wake_at` passes); `on_timeout` at the deadline or on
/// CLIENT UNBLOCK. `None` when the client went away meanwhile. A woken
/// command that finds nothing stays in its queues at its place; one that
/// is done leaves them when its place is dropped (on every way out of
/// here, errors included), and the next waiter looks. Bytes the client
/// sends meanwhile are kept for later.
async fn wait_blocked(
    server: &Arc<Server>,
    stream: &mut TcpStream,
    inbuf: &mut BytesMut,
    client: &mut Client,
    mut b: Blocked,
) -> std::io::Result<Option<Reply>> {
    let info = client.info.clone();
    info.unblock_reset();
    // flag `b` off on every way out, too
    struct Shown<'a>(&'a crate::node::ClientInfo);
    impl Drop for Shown<'_> {
        fn drop(&mut self) {
            self.0.blocked.store(false, Ordering::SeqCst);
        }
    }
    let _shown = Shown(&info);
    loop {
        let blocking = b.blocking;
        info.blocked.store(blocking, Ordering::SeqCst);
        let next = match (b.deadline, b.wake_at) {
            (Some(d), Some(w)) => Some(d.min(w)),
            (d, w) => d.or(w),
        };
        let timer = async move {
            match next {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        let unblock = async { if blocking { info.unblocked().await } else { std::future::pending().await } };
        tokio::select! {
            _ = b.place.waiter().woken() => {}
            _ = timer => {}
            n = stream.read_buf(inbuf) => {
                if n? == 0 || over_query_limit(server, &info, inbuf) {
                    return Ok(None);
                }
                continue;
            }
            _ = info.killed() => return Ok(None),
            error = unblock => {
                return Ok(Some(if error {
                    Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
                } else {
                    std::mem::replace(&mut b.on_timeout, Reply::Nil)
                }));
            }
        }
        if b.deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Some(std::mem::replace(&mut b.on_timeout, Reply::Nil)));
        }
        client.lock_waiter = Some(b.place.waiter().clone());
        let reply = command::dispatch(&mut Ctx { server, client }, &b.args);
        client.lock_waiter = None;
        let passed = std::mem::take(&mut client.passed_wrong_type);
        match client.blocked.take() {
            // Still waiting: keep the original deadline and place in line.
            Some(again) => {
                b.wake_at = again.wake_at;
                if !b.blocking && again.blocking {
                    // waited for the node first, now blocked on its keys
                    (b.blocking, b.deadline, b.on_timeout) = (true, again.deadline, again.on_timeout);
                }
                if passed {
                    b.place.pass_on(again.place);
                } else {
                    b.place.carry_on(again.place);
                }
            }
            None => return Ok(Some(reply)),
        }
    }
}

/// True (and logged, as Redis logs it) when the client's unprocessed input
/// passed `client-query-buffer-limit`: the connection is closed. A blocked
/// client's input waits unparsed, so without this a client could block and
/// then stream without end.
fn over_query_limit(server: &Server, info: &crate::node::ClientInfo, inbuf: &BytesMut) -> bool {
    let limit = server.config.client_query_buffer_limit.load(Ordering::Relaxed);
    if (inbuf.len() as u64) <= limit {
        return false;
    }
    tracing::warn!("Closing client that reached max query buffer length: id={} addr={} (qbuf={} bytes)", info.id, info.addr, inbuf.len());
    true
}

/// Writes the replies; while the socket does not take them (a client that
/// does not read), CLIENT LIST shows them as `omem`.
/// [`flush`] of a connection's replies: once the AOF has what the
/// commands before them wrote (see `crate::persist::aof`).
async fn flush_replies(server: &Server, info: &ClientInfo, stream: &mut TcpStream, out: &mut BytesMut) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    crate::persist::aof::before_reply(server).await;
    flush(server, info, stream, out).await
}

async fn flush(server: &Server, info: &ClientInfo, stream: &mut TcpStream, out: &mut BytesMut) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    info.omem.store(out.len(), Ordering::Relaxed);
    // a client killed meanwhile (an output limit passed, CLIENT KILL) is
    // not waited for: a peer that never reads would hold the task for ever
    tokio::select! {
        r = stream.write_all(out) => r?,
        _ = info.killed() => return Err(std::io::Error::other("client killed")),
    }
    info.omem.store(0, Ordering::Relaxed);
    server.stats.net_output_bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
    out.clear();
    Ok(())
}
