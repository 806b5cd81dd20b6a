//! A snapshot sent over a connection, the payload of Redis's full sync:
//! what `SYNC` after `REPLCONF rdb-only 1` (`redis-cli --rdb`) receives.
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

use crate::node::{ReplicaConf, Server};
use crate::persist::{SnapshotSlot, rdb};
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

/// Sends the snapshot to `stream` (its replies so far already written);
/// the connection ends afterwards.
pub(super) async fn serve(server: &Arc<Server>, stream: &mut TcpStream, conf: ReplicaConf, client_id: u64) -> std::io::Result<()> {
    let timeout = repl_timeout(server);
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
    tracing::info!(client = client_id, diskless = conf.capa_eof, "Starting a snapshot for a replica (rdb-only)");
    let started = Instant::now();
    let sent = if conf.capa_eof { stream_diskless(slot, stream, timeout).await? } else { send_file(slot, stream, timeout, client_id).await? };
    tracing::info!(client = client_id, bytes = sent, secs = format!("{:.3}", started.elapsed().as_secs_f64()), "Snapshot sent to the replica");
    Ok(())
}

/// `$EOF:<mark>\r\n`, the RDB as the writer thread makes it, `<mark>`.
async fn stream_diskless(slot: SnapshotSlot, stream: &mut TcpStream, timeout: Duration) -> std::io::Result<u64> {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(IN_FLIGHT);
    // the slot is the writer thread's: released when the snapshot's walk
    // has ended, however the connection fares
    let writer = tokio::task::spawn_blocking(move || {
        let server = slot.server();
        rdb::stream_begun(server, begin(server), Chunks { tx, buf: Vec::with_capacity(CHUNK) }).map(|(_, saved)| saved.bytes)
    });
    let mark = eof_mark();
    let mut header = b"$EOF:".to_vec();
    header.extend_from_slice(&mark);
    header.extend_from_slice(b"\r\n");
    let sending = async {
        timed(timeout, stream.write_all(&header)).await?;
        while let Some(chunk) = rx.recv().await {
            timed(timeout, stream.write_all(&chunk)).await?;
        }
        Ok::<(), std::io::Error>(())
    };
    let sent = sending.await;
    // a connection that failed drops the channel: the writer stops
    drop(rx);
    let bytes = writer.await.map_err(std::io::Error::other)??;
    sent?;
    timed(timeout, stream.write_all(&mark)).await?;
    Ok(bytes)
}

/// `$<length>\r\n` and the RDB, through a temporary file.
async fn send_file(slot: SnapshotSlot, stream: &mut TcpStream, timeout: Duration, client_id: u64) -> std::io::Result<u64> {
    let path = std::path::PathBuf::from(format!("temp-sync-{}-{client_id}.rdb", std::process::id()));
    let target = path.clone();
    let written = tokio::task::spawn_blocking(move || {
        let server = slot.server();
        let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&target)?);
        rdb::stream_begun(server, begin(server), file).map(|(_, saved)| saved.bytes)
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|r| r);
    let result = async {
        let bytes = written?;
        let mut file = tokio::fs::File::open(&path).await?;
        timed(timeout, stream.write_all(format!("${bytes}\r\n").as_bytes())).await?;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            timed(timeout, stream.write_all(&buf[..n])).await?;
        }
        Ok(bytes)
    }
    .await;
    let _ = tokio::fs::remove_file(&path).await;
    result
}

/// The snapshot's instant, between transactions (under the exclusive gate,
/// as a fork happens between commands).
fn begin(server: &Server) -> rdb::Begun {
    let _gate = server.gate_exclusive();
    rdb::begin(server)
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
