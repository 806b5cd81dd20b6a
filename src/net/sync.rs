//! A replica's connection: the snapshot that is the payload of Redis's
//! full synchronisation (all that `SYNC` after `REPLCONF rdb-only 1`,
//! `redis-cli --rdb`, receives), then the command stream read from the
//! effect log (`docs/replication.md`).
//!
//! The snapshot is the fork-less one BGSAVE takes (`crate::persist::rdb`),
//! holding the one save slot while it is written: a BGSAVE or rewrite in
//! progress finishes first, and the connection gets a newline each second
//! meanwhile, as Redis keeps a waiting replica's link alive. A client that
//! said `REPLCONF capa eof` gets the diskless form, `$EOF:<40 random
//! characters>\r\n`, the RDB streamed as it is written, then the same 40
//! characters; any other gets `$<length>\r\n` and the file, written to a
//! temporary file in `dir` first (the length has to come first). The
//! writer thread hands the stream chunks through a small bounded channel,
//! so a reader that reads slowly holds back the snapshot and never makes
//! the node buffer it; one that stops reading for `repl-timeout` seconds is
//! dropped, as Redis drops such a replica.

use crate::node::replicas::{Replica, ReplicaState};
use crate::node::{ReplicaConf, Server, SyncKind};
use crate::persist::{SnapshotSlot, rdb};
use bytes::BytesMut;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The RDB in pieces of about this size on their way to the socket.
const CHUNK: usize = 64 * 1024;
/// Pieces in flight between the writer thread and the connection.
const IN_FLIGHT: usize = 8;

/// Sends the snapshot to `stream` (its replies so far already written),
/// then, unless the client asked for the snapshot only, the command stream
/// from the snapshot's instant on; the connection ends afterwards.
pub(super) async fn serve(server: &Arc<Server>, stream: &mut TcpStream, conf: ReplicaConf, client_id: u64, kind: SyncKind) -> std::io::Result<()> {
    let timeout = repl_timeout(server);
    let ip = stream.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    let attached = server.replicas.attach(client_id, ip, conf.listening_port.unwrap_or(0));
    let replica = &attached.replica;
    // one snapshot at a time: wait for the slot, keeping the link alive
    let mut keepalive = Instant::now();
    let slot = loop {
        if let Some(slot) = SnapshotSlot::try_claim(server) {
            break slot;
        }
        if keepalive.elapsed() >= Duration::from_secs(1) {
            timed(timeout, stream.write_all(b"\n")).await?;
            keepalive = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    replica.set_state(ReplicaState::SendBulk);
    server.replicas.full_syncs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let streaming = kind != SyncKind::RdbOnly;
    // the stream starts where the snapshot is: the log follows from then
    let _following = streaming.then(|| Following::new(server, client_id));
    tracing::info!(client = client_id, diskless = conf.capa_eof, ?kind, "Starting a full synchronisation for a replica");
    let started = Instant::now();
    let header = |offset: u64| (kind == SyncKind::Psync).then(|| format!("+FULLRESYNC {} {offset}\r\n", server.run_id).into_bytes());
    let (sent, offset) =
        if conf.capa_eof { stream_diskless(slot, stream, timeout, &header).await? } else { send_file(slot, stream, timeout, client_id, &header).await? };
    tracing::info!(client = client_id, bytes = sent, offset, secs = format!("{:.3}", started.elapsed().as_secs_f64()), "Snapshot sent to the replica");
    if streaming {
        replica.set_state(ReplicaState::Online);
        feed(server, stream, offset, timeout, replica).await?;
    }
    Ok(())
}

/// The effect log kept and followed while a replica streams from it,
/// from before its snapshot begins: nothing the stream needs after the
/// snapshot is dropped meanwhile (within the replica output limit).
struct Following<'a>(&'a Server, u64);

impl<'a> Following<'a> {
    fn new(server: &'a Server, id: u64) -> Following<'a> {
        server.keyspace.effects.follow(id);
        Following(server, id)
    }
}

impl Drop for Following<'_> {
    fn drop(&mut self) {
        self.0.keyspace.effects.unfollow(self.1);
    }
}

/// The command stream: each effect from `offset` on, in RESP, a SELECT
/// where the database changes (the first effect gets one), a PING every
/// 10 s of silence (`repl-ping-replica-period`), what the replica sends
/// (REPLCONF ACK) read and let go. A replica that falls behind what the
/// log keeps (`repl-backlog-size`) is dropped and starts over, as in Redis.
async fn feed(server: &Server, stream: &mut TcpStream, mut offset: u64, timeout: Duration, replica: &Replica) -> std::io::Result<()> {
    let log = &server.keyspace.effects;
    let mut db = None;
    let mut out = Vec::new();
    let mut input = vec![0u8; 4096];
    let mut said = BytesMut::new();
    let mut last_sent = Instant::now();
    // The replica counts every byte of the stream from the snapshot's
    // offset on; the log counts its effects only. Each write records
    // (stream offset, log offset) after it, so an acknowledgement can be
    // told in the log's terms.
    // (the first mark: the snapshot itself, acknowledged once loaded)
    let mut sent = Sent { stream: offset, marks: std::collections::VecDeque::from([(offset, offset)]) };
    loop {
        let appended = log.appended();
        let getack = server.replicas.getack.notified();
        let effects = match log.since(offset, 1024) {
            Ok(effects) => effects,
            Err(oldest) => {
                tracing::warn!(offset, oldest, "a replica fell behind the replication backlog: dropping it");
                return Ok(());
            }
        };
        if effects.is_empty() {
            if last_sent.elapsed() >= Duration::from_secs(10) {
                sent.write(stream, timeout, PING, offset).await?;
                last_sent = Instant::now();
            }
            tokio::select! {
                _ = appended => {}
                _ = getack => {
                    sent.write(stream, timeout, GETACK, offset).await?;
                    last_sent = Instant::now();
                }
                read = stream.read(&mut input) => {
                    let n = read?;
                    if n == 0 {
                        return Ok(());
                    }
                    heard(server, &mut said, &input[..n], replica, &mut sent)?;
                }
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        for e in effects {
            if db != Some(e.db) {
                db = Some(e.db);
                let n = e.db.to_string();
                out.extend_from_slice(format!("*2\r\n$6\r\nSELECT\r\n${}\r\n{n}\r\n", n.len()).as_bytes());
            }
            let before = out.len();
            crate::store::effects::encode(&mut out, &e.args);
            // the log counts the effects' own bytes, not the SELECTs
            offset = e.offset + (out.len() - before) as u64;
        }
        sent.write(stream, timeout, &out, offset).await?;
        out.clear();
        log.followed_to(replica.client_id, offset);
        last_sent = Instant::now();
        // under a steady stream the wait above is never reached: what the
        // replica said meanwhile (its acknowledgements) is read here
        loop {
            match stream.try_read(&mut input) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    heard(server, &mut said, &input[..n], replica, &mut sent)?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
    }
}

const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";
const GETACK: &[u8] = b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";

/// What the stream has sent: its offset as the replica counts it, and
/// the (stream offset, log offset) after each write not yet acknowledged.
struct Sent {
    stream: u64,
    marks: std::collections::VecDeque<(u64, u64)>,
}

impl Sent {
    async fn write(&mut self, stream: &mut TcpStream, timeout: Duration, bytes: &[u8], log_offset: u64) -> std::io::Result<()> {
        timed(timeout, stream.write_all(bytes)).await?;
        self.stream += bytes.len() as u64;
        if self.marks.len() >= 4096 {
            self.marks.pop_front();
        }
        self.marks.push_back((self.stream, log_offset));
        Ok(())
    }

    /// The log offset a replica's acknowledgement of `acked` (its count)
    /// covers, if it covers a write not acknowledged before.
    fn covered(&mut self, acked: u64) -> Option<u64> {
        let mut covered = None;
        while let Some(&(stream, log)) = self.marks.front() {
            if stream > acked {
                break;
            }
            covered = Some(log);
            self.marks.pop_front();
        }
        covered
    }
}

/// What the replica sent (`bytes`, after what `said` still holds):
/// `REPLCONF ACK <offset>` is recorded, and when it covers more of the log
/// than before, parked WAITs count again (parked commands of other kinds
/// look and park again); the rest is let go. A replica that sends what is
/// not RESP, or a request without end, is dropped.
fn heard(server: &Server, said: &mut BytesMut, bytes: &[u8], replica: &Replica, sent: &mut Sent) -> std::io::Result<()> {
    said.extend_from_slice(bytes);
    let more = acknowledgements(said, replica, sent)?;
    if more {
        server.keyspace.waits.wake_parked();
    }
    Ok(())
}

/// The acknowledgements in `said`: true if one covers more of the log.
fn acknowledgements(said: &mut BytesMut, replica: &Replica, sent: &mut Sent) -> std::io::Result<bool> {
    let limits = crate::resp::Limits { max_bulk_len: 1 << 20, authenticated: true };
    let mut more = false;
    loop {
        match crate::resp::parse_request(said, limits) {
            Ok(Some(args)) => {
                if args.len() >= 3
                    && args[0].eq_ignore_ascii_case(b"replconf")
                    && args[1].eq_ignore_ascii_case(b"ack")
                    && let Some(at) = crate::util::parse_i64(&args[2]).filter(|o| *o >= 0)
                {
                    replica.acknowledged(at as u64);
                    if let Some(log) = sent.covered(at as u64) {
                        more |= replica.acked_effects.fetch_max(log, std::sync::atomic::Ordering::AcqRel) < log;
                    }
                }
            }
            Ok(None) if said.len() <= 64 * 1024 => return Ok(more),
            Ok(None) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "a replica sent an endless request")),
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a replica sent bad RESP: {}", e.0))),
        }
    }
}

/// [`serve`]'s header before the payload (PSYNC's `+FULLRESYNC`), given
/// the snapshot's offset in the log.
type Header<'h> = &'h (dyn Fn(u64) -> Option<Vec<u8>> + Sync);

/// `$EOF:<mark>\r\n`, the RDB as the writer thread makes it, `<mark>`.
async fn stream_diskless(slot: SnapshotSlot, stream: &mut TcpStream, timeout: Duration, header: Header<'_>) -> std::io::Result<(u64, u64)> {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(IN_FLIGHT);
    let (begun_tx, begun_rx) = tokio::sync::oneshot::channel();
    // the slot is the writer thread's: released when the snapshot's walk
    // has ended, however the connection fares
    let writer = tokio::task::spawn_blocking(move || {
        let server = slot.server();
        let (begun, offset) = begin(server);
        let _ = begun_tx.send(offset);
        rdb::stream_begun(server, begun, Chunks { tx, buf: Vec::with_capacity(CHUNK) }).map(|(_, saved)| saved.bytes)
    });
    let mark = eof_mark();
    let sending = async {
        let offset = begun_rx.await.map_err(|_| std::io::Error::other("the snapshot did not begin"))?;
        let mut head = header(offset).unwrap_or_default();
        head.extend_from_slice(b"$EOF:");
        head.extend_from_slice(&mark);
        head.extend_from_slice(b"\r\n");
        timed(timeout, stream.write_all(&head)).await?;
        while let Some(chunk) = rx.recv().await {
            timed(timeout, stream.write_all(&chunk)).await?;
        }
        Ok::<u64, std::io::Error>(offset)
    };
    let sent = sending.await;
    // a connection that failed drops the channel: the writer stops
    drop(rx);
    let bytes = writer.await.map_err(std::io::Error::other)??;
    let offset = sent?;
    timed(timeout, stream.write_all(&mark)).await?;
    Ok((bytes, offset))
}

/// `$<length>\r\n` and the RDB, through a temporary file.
async fn send_file(slot: SnapshotSlot, stream: &mut TcpStream, timeout: Duration, client_id: u64, header: Header<'_>) -> std::io::Result<(u64, u64)> {
    let path = std::path::PathBuf::from(format!("temp-sync-{}-{client_id}.rdb", std::process::id()));
    let target = path.clone();
    let written = tokio::task::spawn_blocking(move || {
        let server = slot.server();
        let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&target)?);
        let (begun, offset) = begin(server);
        rdb::stream_begun(server, begun, file).map(|(_, saved)| (saved.bytes, offset))
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|r| r);
    let result = async {
        let (bytes, offset) = written?;
        let mut file = tokio::fs::File::open(&path).await?;
        let mut head = header(offset).unwrap_or_default();
        head.extend_from_slice(format!("${bytes}\r\n").as_bytes());
        timed(timeout, stream.write_all(&head)).await?;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            timed(timeout, stream.write_all(&buf[..n])).await?;
        }
        Ok((bytes, offset))
    }
    .await;
    let _ = tokio::fs::remove_file(&path).await;
    result
}

/// The snapshot's instant, between transactions (under the exclusive gate,
/// as a fork happens between commands), and the effect log's offset there:
/// where the stream after it starts.
fn begin(server: &Server) -> (rdb::Begun, u64) {
    let _gate = server.gate_exclusive();
    (rdb::begin(server), server.keyspace.effects.end())
}

/// The RDB writer's output, in chunks to the connection.
struct Chunks {
    tx: mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl Chunks {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.blocking_send(chunk).map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the replica is gone"))
    }
}

impl Write for Chunks {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// 40 random characters of `[0-9a-f]`, as Redis's mark.
fn eof_mark() -> Vec<u8> {
    (0..40).map(|_| b"0123456789abcdef"[(crate::util::random_u64() % 16) as usize]).collect()
}

/// `repl-timeout` (seconds, default 60).
fn repl_timeout(server: &Server) -> Duration {
    let secs = server.config.get("repl-timeout").and_then(|v| v.parse::<u64>().ok()).filter(|&s| s > 0).unwrap_or(60);
    Duration::from_secs(secs)
}

/// A write that must make progress within `limit`.
async fn timed(limit: Duration, write: impl std::future::Future<Output = std::io::Result<()>>) -> std::io::Result<()> {
    match tokio::time::timeout(limit, write).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the replica did not read for repl-timeout")),
    }
}
