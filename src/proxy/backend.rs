//! Connections from the proxy to one backend node: pipelined, shared by all
//! clients, reconnecting on their own.
//!
//! A [`Backend`] owns `server_connections` connection tasks (default one).
//! Each task takes requests from a channel, writes every request it has in
//! one batch, and matches replies to requests in order (RESP replies come
//! back in request order). A request is either one command whose reply is
//! decoded with the `redis-protocol` crate and handed back as a [`Reply`]
//! ([`Backend::send`]), or a run of commands forwarded as received whose
//! replies are handed back undecoded, as one buffer ([`Backend::send_raw`],
//! the fast path; `docs/proxy.md`). When the connection fails, or the
//! oldest request waits longer than the pool's timeout, every request in
//! flight on it gets an error naming the node (replies that did arrive are
//! still delivered), the connection is dropped, and the next request
//! reconnects. A dead node therefore fails only the requests sent to it.

use crate::resp::{Reply, encode_command};
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
/// The replies to a run of forwarded commands.
pub type RawRx = oneshot::Receiver<RawReplies>;

/// The replies to a run of forwarded commands, as the node sent them.
#[derive(Debug)]
pub struct RawReplies {
    /// Whole replies, back to back (see [`reply_end`]): all of them, or those
    /// that arrived before the connection failed.
    pub data: Bytes,
    /// Why the commands after those in `data` got no reply.
    pub error: Option<BackendError>,
}

struct Request {
    /// One or more commands, RESP-encoded back to back.
    frame: Bytes,
    reply: ReplyTo,
}

/// Where the replies of a [`Request`] go.
enum ReplyTo {
    /// One reply, decoded.
    Decoded(oneshot::Sender<Result<Reply, BackendError>>),
    /// The reply to a command a connection starts with: an error from AUTH
    /// or SELECT fails the connection (and every request on it) with it.
    Setup(&'static str),
    /// The reply to TXN.NOWAIT, whatever it is (redis-server refuses it).
    Ignored,
    /// `count` replies as the node sent them, undecoded: the fast path
    /// for commands forwarded as they are.
    /// `scanned` replies are complete in the read buffer, ending at
    /// `complete`; `scanner` walks the next one.
    Raw { tx: oneshot::Sender<RawReplies>, count: usize, scanned: usize, complete: usize, scanner: ReplyScanner },
}

impl ReplyTo {
    /// Fails the request; `inbuf` is the connection's read buffer, from
    /// which a partly answered forwarded run (only ever the oldest request)
    /// still gets the replies that did arrive.
    fn fail(self, e: BackendError, inbuf: &mut BytesMut) {
        match self {
            ReplyTo::Setup(_) | ReplyTo::Ignored => {}
            ReplyTo::Decoded(tx) => drop(tx.send(Err(e))),
            ReplyTo::Raw { tx, complete, .. } => {
                let data = inbuf.split_to(complete.min(inbuf.len())).freeze();
                drop(tx.send(RawReplies { data, error: Some(e) }))
            }
        }
    }
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
    /// Starts `connections` connection tasks (connected lazily); each
    /// connection starts with the `setup` commands (AUTH, SELECT).
    pub fn new(addr: String, connections: usize, timeout: Option<Duration>, setup: Arc<Vec<Vec<Bytes>>>) -> Backend {
        let stats = Arc::new(BackendStats::default());
        let conns = (0..connections.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(run_connection(addr.clone(), rx, timeout, stats.clone(), setup.clone()));
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
        self.enqueue(client, Request { frame: encode_command(args), reply: ReplyTo::Decoded(tx) });
        rx
    }

    /// Sends `count` RESP-encoded commands for client `client` in one go;
    /// the receiver yields their `count` replies undecoded, back to back.
    /// Same ordering guarantee as [`Backend::send`], with which it may be
    /// mixed.
    pub fn send_raw(&self, client: u64, frames: Bytes, count: usize) -> RawRx {
        self.stats.requests.fetch_add(count as u64, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.enqueue(client, Request { frame: frames, reply: ReplyTo::Raw { tx, count, scanned: 0, complete: 0, scanner: ReplyScanner::default() } });
        rx
    }

    fn enqueue(&self, client: u64, request: Request) {
        let i = (client % self.conns.len() as u64) as usize;
        if let Err(mpsc::error::SendError(r)) = self.conns[i].send(request) {
            r.reply.fail(BackendError(format!("backend {} is shut down", self.addr)), &mut BytesMut::new());
        }
    }
}

/// A backend sent bytes that are not a RESP reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotResp;

/// Where the reply frame starting at `buf[from]` ends (the index after its
/// last byte): `Ok(None)` when `buf` does not hold all of it yet, `Err` when
/// it is not RESP. Walks headers only: bulk payloads are skipped, nothing is
/// copied or allocated. Knows RESP2 and the RESP3 types.
pub fn reply_end(buf: &[u8], from: usize) -> Result<Option<usize>, NotResp> {
    let mut scanner = ReplyScanner::at(from);
    Ok(scanner.step(buf)?.then_some(scanner.pos))
}

/// Walks reply frames across reads: when a reply is incomplete, the walk
/// stops at the first incomplete header or bulk and resumes there once more
/// bytes arrived, so a large array arriving in many reads is walked once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplyScanner {
    /// Where the walk stands in the buffer.
    pub pos: usize,
    /// Frames still to walk in the current reply (0: between replies).
    remaining: u64,
}

impl ReplyScanner {
    pub fn at(pos: usize) -> ReplyScanner {
        ReplyScanner { pos, remaining: 0 }
    }

    /// Walks on through `buf`; true once the reply being walked is complete
    /// (`pos` is then its end), false when `buf` ends first.
    pub fn step(&mut self, buf: &[u8]) -> Result<bool, NotResp> {
        if self.remaining == 0 {
            self.remaining = 1;
        }
        while self.remaining > 0 {
            let pos = self.pos;
            let Some(&kind) = buf.get(pos) else { return Ok(false) };
            let Some(cr) = buf[pos..].iter().position(|&b| b == b'\r').map(|i| pos + i) else { return Ok(false) };
            if cr + 1 >= buf.len() {
                return Ok(false);
            }
            let after = cr + 2;
            let (next, items) = match kind {
                b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => (after, 0),
                b'$' | b'!' | b'=' => match crate::util::parse_i64(&buf[pos + 1..cr]) {
                    Some(n) if n < 0 => (after, 0),
                    Some(n) => {
                        let end = after + n as usize + 2;
                        if end > buf.len() {
                            return Ok(false);
                        }
                        (end, 0)
                    }
                    None => return Err(NotResp),
                },
                b'*' | b'~' | b'>' | b'%' | b'|' => match crate::util::parse_i64(&buf[pos + 1..cr]) {
                    Some(n) if n < 0 => (after, 0),
                    Some(n) => (
                        after,
                        match kind {
                            b'%' => 2 * n as u64,
                            // An attribute map is followed by the reply it describes.
                            b'|' => 2 * n as u64 + 1,
                            _ => n as u64,
                        },
                    ),
                    None => return Err(NotResp),
                },
                _ => return Err(NotResp),
            };
            self.pos = next;
            self.remaining = (self.remaining - 1).saturating_add(items);
        }
        Ok(true)
    }
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

async fn run_connection(
    addr: String,
    mut rx: mpsc::UnboundedReceiver<Request>,
    timeout: Option<Duration>,
    stats: Arc<BackendStats>,
    setup: Arc<Vec<Vec<Bytes>>>,
) {
    let mut pending: VecDeque<(ReplyTo, Instant)> = VecDeque::new();
    let mut conn: Option<TcpStream> = None;
    let mut inbuf = BytesMut::with_capacity(16 * 1024);
    let mut out = BytesMut::new();
    let fail_all = |pending: &mut VecDeque<(ReplyTo, Instant)>, inbuf: &mut BytesMut, why: &str| {
        stats.consecutive_failures.fetch_add(1, Ordering::Relaxed);
        for (to, _) in pending.drain(..) {
            stats.errors.fetch_add(1, Ordering::Relaxed);
            to.fail(BackendError(format!("backend {addr} {why}")), inbuf);
        }
        inbuf.clear();
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
                    // Ask a shardis node to defer rather than wait on keys of
                    // cross-node transactions (a wait here would hold up every
                    // client sharing the connection); redis-server answers an
                    // error, ignored like the OK.
                    let mut first = BytesMut::new();
                    for c in setup.iter() {
                        first.extend_from_slice(&encode_command(c));
                    }
                    first.extend_from_slice(b"*1\r\n$10\r\nTXN.NOWAIT\r\n");
                    first.extend_from_slice(&out);
                    out = first;
                    pending.push_front((ReplyTo::Ignored, Instant::now()));
                    for c in setup.iter().rev() {
                        pending.push_front((ReplyTo::Setup(if c[0].eq_ignore_ascii_case(b"auth") { "AUTH" } else { "SELECT" }), Instant::now()));
                    }
                }
                Err(e) => {
                    tracing::debug!(backend = %addr, error = %e, "connect failed");
                    fail_all(&mut pending, &mut inbuf, &format!("unavailable ({e})"));
                    out.clear();
                    continue;
                }
            }
        }
        let stream = conn.as_mut().expect("connected");
        if !out.is_empty() {
            if let Err(e) = stream.write_all(&out).await {
                fail_all(&mut pending, &mut inbuf, &format!("connection lost ({e})"));
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
                    fail_all(&mut pending, &mut inbuf, &why);
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
                fail_all(&mut pending, &mut inbuf, "timed out");
                conn = None;
                continue;
            }
        }
        // Hand out every reply that is complete.
        while !inbuf.is_empty() {
            let Some((front, _)) = pending.front_mut() else {
                tracing::warn!(backend = %addr, "reply without a request; dropping the connection");
                conn = None;
                break;
            };
            let malformed = match front {
                ReplyTo::Setup(_) | ReplyTo::Ignored => match decode_bytes_mut(&mut inbuf) {
                    Ok(Some((frame, _, _))) => {
                        let Some((to, _)) = pending.pop_front() else { unreachable!("front is a setup reply") };
                        if let (ReplyTo::Setup(what), BytesFrame::Error(e)) = (&to, &frame) {
                            tracing::warn!(backend = %addr, "{what} refused: {e}");
                            fail_all(&mut pending, &mut inbuf, &format!("refused {what} ({e})"));
                            conn = None;
                            break;
                        }
                        continue;
                    }
                    Ok(None) => break,
                    Err(e) => e.details().to_string(),
                },
                ReplyTo::Decoded(_) => match decode_bytes_mut(&mut inbuf) {
                    Ok(Some((frame, _, _))) => {
                        let Some((ReplyTo::Decoded(tx), _)) = pending.pop_front() else { unreachable!("front is Decoded") };
                        stats.consecutive_failures.store(0, Ordering::Relaxed);
                        let _ = tx.send(Ok(frame_to_reply(frame)));
                        continue;
                    }
                    Ok(None) => break,
                    Err(e) => e.details().to_string(),
                },
                ReplyTo::Raw { count, scanned, complete, scanner, .. } => {
                    // Resume where the last read left off.
                    let mut bad = None;
                    while *scanned < *count {
                        match scanner.step(&inbuf) {
                            Ok(true) => {
                                *scanned += 1;
                                *complete = scanner.pos;
                            }
                            Ok(false) => break,
                            Err(NotResp) => {
                                bad = Some("not RESP".to_string());
                                break;
                            }
                        }
                    }
                    match bad {
                        Some(b) => b,
                        None if *scanned < *count => break,
                        None => {
                            let n = scanner.pos;
                            let Some((ReplyTo::Raw { tx, .. }, _)) = pending.pop_front() else { unreachable!("front is Raw") };
                            stats.consecutive_failures.store(0, Ordering::Relaxed);
                            let _ = tx.send(RawReplies { data: inbuf.split_to(n).freeze(), error: None });
                            continue;
                        }
                    }
                }
            };
            fail_all(&mut pending, &mut inbuf, &format!("sent a malformed reply ({malformed})"));
            conn = None;
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{NotResp, reply_end};

    const FRAMES: &[&[u8]] = &[
        b"+OK\r\n",
        b"-ERR wrong number of arguments for 'get' command\r\n",
        b":-42\r\n",
        b"$-1\r\n",
        b"*-1\r\n",
        b"$0\r\n\r\n",
        b"$5\r\na\r\nbc\r\n",
        b"*0\r\n",
        b"*3\r\n:1\r\n*2\r\n$1\r\nx\r\n*0\r\n$-1\r\n",
        b"%1\r\n+k\r\n~2\r\n,1.5\r\n#t\r\n",
        b"|1\r\n+ttl\r\n:3\r\n$2\r\nhi\r\n",
        b"_\r\n",
    ];

    #[test]
    fn finds_the_end_of_every_reply_shape_and_waits_for_partial_ones() {
        for frame in FRAMES {
            assert_eq!(reply_end(frame, 0), Ok(Some(frame.len())), "{}", String::from_utf8_lossy(frame));
            for cut in 0..frame.len() {
                assert_eq!(reply_end(&frame[..cut], 0), Ok(None), "{} cut at {cut}", String::from_utf8_lossy(frame));
            }
            // followed by more replies, and starting mid-buffer
            let mut buf = b"+PONG\r\n".to_vec();
            buf.extend_from_slice(frame);
            buf.extend_from_slice(b":1\r\n");
            assert_eq!(reply_end(&buf, 7), Ok(Some(7 + frame.len())));
        }
    }

    #[test]
    fn a_scanner_resumes_across_reads() {
        let all: Vec<u8> = FRAMES.concat();
        // feed the replies a few bytes at a time; every reply is found
        // complete exactly when its last byte arrives
        for chunk in [1, 2, 3, 7] {
            let mut scanner = super::ReplyScanner::default();
            let mut ends = Vec::new();
            let mut have = 0;
            while have < all.len() {
                have = (have + chunk).min(all.len());
                while scanner.step(&all[..have]).unwrap() {
                    ends.push(scanner.pos);
                    if scanner.pos == have {
                        break;
                    }
                }
            }
            let expect: Vec<usize> = FRAMES
                .iter()
                .scan(0, |end, f| {
                    *end += f.len();
                    Some(*end)
                })
                .collect();
            assert_eq!(ends, expect, "chunks of {chunk}");
        }
    }

    #[test]
    fn rejects_what_is_not_resp() {
        for bad in [&b"hello\r\n"[..], b"$x\r\n", b"*1x\r\n:1\r\n", b"*1\r\n?\r\n"] {
            assert_eq!(reply_end(bad, 0), Err(NotResp), "{}", String::from_utf8_lossy(bad));
        }
    }
}
