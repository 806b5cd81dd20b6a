//! Connections from the proxy to one backend node: pipelined, shared by all
//! clients, reconnecting on their own.
//!
//! A [`Backend`] owns a few connection tasks. Each task takes requests from
//! a channel, writes every request it has in one batch, and matches replies
//! to requests in order (RESP replies come back in request order). Replies
//! are decoded with the `redis-protocol` crate and handed back as
//! [`Reply`] values. When the connection fails, or the oldest request waits
//! longer than the pool's timeout, every request in flight on it gets an
//! error naming the node, the connection is dropped, and the next request
//! reconnects. A dead node therefore fails only the requests sent to it.

use crate::resp::Reply;
use bytes::{Bytes, BytesMut};
use redis_protocol::resp2::decode::decode_bytes_mut;
use redis_protocol::resp2::types::BytesFrame;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Why a request to a backend got no reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendError(pub String);

impl BackendError {
    /// The error reply a client sees.
    pub fn to_reply(&self) -> Reply {
        Reply::error(format!("ERR {}", self.0))
    }
}

pub type ReplyRx = oneshot::Receiver<Result<Reply, BackendError>>;

struct Request {
    /// The command, RESP-encoded.
    frame: Bytes,
    reply: oneshot::Sender<Result<Reply, BackendError>>,
}

/// Counters for the proxy's INFO.
#[derive(Default)]
pub struct BackendStats {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub timeouts: AtomicU64,
    /// Failures (refused connect, lost connection, timeout) since the last
    /// reply; drives auto-ejection.
    pub consecutive_failures: AtomicU64,
}

/// One backend node: a small pool of pipelined connections.
pub struct Backend {
    pub addr: String,
    conns: Vec<mpsc::UnboundedSender<Request>>,
    pub stats: Arc<BackendStats>,
}

impl Backend {
    /// Starts `connections` connection tasks (connected lazily).
    pub fn new(addr: String, connections: usize, timeout: Option<Duration>) -> Backend {
        let stats = Arc::new(BackendStats::default());
        let conns = (0..connections.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(run_connection(addr.clone(), rx, timeout, stats.clone()));
                tx
            })
            .collect();
        Backend { addr, conns, stats }
    }

    /// Sends one command for client `client`; the receiver yields its
    /// reply or an error. A client always uses the same connection of a
    /// backend, so its commands to one node are applied in its order.
    pub fn send(&self, client: u64, args: &[impl AsRef<[u8]>]) -> ReplyRx {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let i = (client % self.conns.len() as u64) as usize;
        let request = Request { frame: encode_command(args), reply: tx };
        if let Err(mpsc::error::SendError(r)) = self.conns[i].send(request) {
            let _ = r.reply.send(Err(BackendError(format!("backend {} is shut down", self.addr))));
        }
        rx
    }
}

/// RESP-encodes a command.
pub fn encode_command(args: &[impl AsRef<[u8]>]) -> Bytes {
    use bytes::BufMut;
    let mut out = BytesMut::new();
    out.put_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        let a = a.as_ref();
        out.put_slice(format!("${}\r\n", a.len()).as_bytes());
        out.put_slice(a);
        out.put_slice(b"\r\n");
    }
    out.freeze()
}

/// A decoded backend frame as a reply value. `Null` becomes a null bulk;
/// callers that know the command answers a null array map it themselves.
pub fn frame_to_reply(frame: BytesFrame) -> Reply {
    match frame {
        BytesFrame::SimpleString(s) if &s[..] == b"OK" => Reply::Ok,
        BytesFrame::SimpleString(s) => Reply::Status(String::from_utf8_lossy(&s).into_owned().into()),
        BytesFrame::Error(e) => Reply::Error(e.to_string().into()),
        BytesFrame::Integer(i) => Reply::Int(i),
        BytesFrame::BulkString(b) => Reply::Bulk(b),
        BytesFrame::Array(items) => Reply::Array(items.into_iter().map(frame_to_reply).collect()),
        BytesFrame::Null => Reply::Nil,
    }
}

async fn run_connection(addr: String, mut rx: mpsc::UnboundedReceiver<Request>, timeout: Option<Duration>, stats: Arc<BackendStats>) {
    let mut pending: VecDeque<(oneshot::Sender<Result<Reply, BackendError>>, Instant)> = VecDeque::new();
    let mut conn: Option<TcpStream> = None;
    let mut inbuf = BytesMut::with_capacity(16 * 1024);
    let mut out = BytesMut::new();
    let fail_all = |pending: &mut VecDeque<(oneshot::Sender<Result<Reply, BackendError>>, Instant)>, why: &str| {
        stats.consecutive_failures.fetch_add(1, Ordering::Relaxed);
        for (tx, _) in pending.drain(..) {
            stats.errors.fetch_add(1, Ordering::Relaxed);
            let _ = tx.send(Err(BackendError(format!("backend {addr} {why}"))));
        }
    };
    loop {
        // Wait for work when idle.
        if pending.is_empty() {
            match rx.recv().await {
                Some(r) => {
                    out.extend_from_slice(&r.frame);
                    pending.push_back((r.reply, Instant::now()));
                }
                None => return,
            }
        }
        if !out.is_empty() {
            // Let the other ready tasks (clients routing requests here) run
            // first, so one write carries every request that is ready, as an
            // event loop iteration would.
            tokio::task::yield_now().await;
        }
        while let Ok(r) = rx.try_recv() {
            out.extend_from_slice(&r.frame);
            pending.push_back((r.reply, Instant::now()));
        }
        if conn.is_none() {
            let connect = TcpStream::connect(&addr);
            let result = match timeout {
                Some(t) => {
                    tokio::time::timeout(t, connect).await.unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")))
                }
                None => connect.await,
            };
            match result {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    inbuf.clear();
                    conn = Some(s);
                }
                Err(e) => {
                    tracing::debug!(backend = %addr, error = %e, "connect failed");
                    fail_all(&mut pending, &format!("unavailable ({e})"));
                    out.clear();
                    continue;
                }
            }
        }
        let stream = conn.as_mut().expect("connected");
        if !out.is_empty() {
            if let Err(e) = stream.write_all(&out).await {
                fail_all(&mut pending, &format!("connection lost ({e})"));
                out.clear();
                conn = None;
                continue;
            }
            out.clear();
        }
        // Read replies until every pending request is answered, taking new
        // requests meanwhile so the pipeline stays full.
        let deadline = timeout.and_then(|t| pending.front().map(|(_, since)| *since + t));
        let sleep = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        if inbuf.capacity() - inbuf.len() < 4096 {
            inbuf.reserve(16 * 1024);
        }
        tokio::select! {
            read = stream.read_buf(&mut inbuf) => match read {
                Ok(0) | Err(_) => {
                    let why = match read { Err(e) => format!("connection lost ({e})"), _ => "closed the connection".into() };
                    fail_all(&mut pending, &why);
                    conn = None;
                    continue;
                }
                Ok(_) => {}
            },
            r = rx.recv(), if !pending.is_empty() => {
                if let Some(r) = r {
                    out.extend_from_slice(&r.frame);
                    pending.push_back((r.reply, Instant::now()));
                }
                continue;
            }
            _ = sleep => {
                stats.timeouts.fetch_add(1, Ordering::Relaxed);
                fail_all(&mut pending, "timed out");
                conn = None;
                continue;
            }
        }
        loop {
            match decode_bytes_mut(&mut inbuf) {
                Ok(Some((frame, _, _))) => match pending.pop_front() {
                    Some((tx, _)) => {
                        stats.consecutive_failures.store(0, Ordering::Relaxed);
                        let _ = tx.send(Ok(frame_to_reply(frame)));
                    }
                    None => {
                        tracing::warn!(backend = %addr, "reply without a request; dropping the connection");
                        conn = None;
                        break;
                    }
                },
                Ok(None) => break,
                Err(e) => {
                    fail_all(&mut pending, &format!("sent a malformed reply ({e:?})"));
                    conn = None;
                    break;
                }
            }
        }
    }
}
