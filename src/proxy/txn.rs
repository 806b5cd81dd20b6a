//! Single-node transactions through the proxy: WATCH, MULTI, EXEC,
//! DISCARD, UNWATCH.
//!
//! The proxy queues a transaction itself (checking each command against the
//! command table, as Redis does at queue time) and, at EXEC, sends
//! `MULTI ... EXEC` in one go on a connection of its own to the one node
//! that owns every key. WATCH pins the client to a dedicated connection to
//! the watched keys' node, so the node's own WATCH machinery applies with
//! Redis's semantics; EXEC runs on that connection. A transaction whose
//! keys span nodes is refused at EXEC and applies nothing (cross-node
//! transactions are the 2PC coordinator's job). Works with shardis and
//! redis-server backends alike.

use super::backend::{BackendError, frame_to_reply};
use crate::resp::Reply;
use crate::resp::encode_command;
use bytes::{Bytes, BytesMut};
use redis_protocol::resp2::decode::decode_bytes_mut;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// A connection owned by one client (WATCH state lives in it on the node).
pub struct PinnedConn {
    addr: String,
    /// The nodes' cluster secret, presented with TXN.HELLO before the
    /// first TXN command on a connection (so that WATCH and MULTI work with
    /// redis-server backends too, which have no TXN.HELLO).
    secret: Option<String>,
    /// TXN.HELLO was accepted on the current connection.
    txn_ready: bool,
    /// Sent first on every new connection (AUTH, SELECT: `redis_auth`,
    /// `redis_db`); an error reply fails the call.
    setup: Arc<Vec<Vec<Bytes>>>,
    stream: Option<TcpStream>,
    buf: BytesMut,
    /// WATCHes are registered on this connection; losing it loses them.
    pub watching: bool,
    /// Send UNWATCH before the next command (leftover watches of a finished
    /// cross-node transaction), in the same write.
    pub unwatch_first: bool,
    /// Cross-node transactions this node was the primary of and every
    /// participant has committed: `TXN.FORGET` goes out before the next
    /// command, in the same write, so releasing the primary's decision
    /// costs no round trip of its own.
    pub forget: Vec<Bytes>,
}

/// How long a dedicated connection waits for replies before giving up.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Shared so that a deferred reply future can use it after routing.
pub type Pinned = Arc<Mutex<PinnedConn>>;

impl PinnedConn {
    pub fn new(addr: String, secret: Option<String>, setup: Arc<Vec<Vec<Bytes>>>) -> Pinned {
        Arc::new(Mutex::new(PinnedConn {
            addr,
            secret,
            txn_ready: false,
            setup,
            stream: None,
            buf: BytesMut::new(),
            watching: false,
            unwatch_first: false,
            forget: Vec::new(),
        }))
    }

    /// Closes the connection (fault injection; the next call reconnects).
    pub fn disconnect(&mut self) {
        self.stream = None;
        self.buf.clear();
    }

    /// Sends `commands` pipelined and returns their replies in order; gives
    /// up (dropping the connection) after `CALL_TIMEOUT`.
    pub async fn call(&mut self, commands: &[Vec<Bytes>]) -> Result<Vec<Reply>, BackendError> {
        self.call_for(commands, Some(CALL_TIMEOUT)).await
    }

    /// Sends one RESP-encoded command as it is and returns its reply as the
    /// node sent it. Waits as long as the node makes it wait (a key held by
    /// a cross-node transaction is released within the transaction timeout).
    pub async fn call_raw(&mut self, frame: &[u8]) -> Result<Bytes, BackendError> {
        if self.stream.is_none() {
            // connect (and leave the WATCH bookkeeping as `call` keeps it)
            self.call_for(&[vec![Bytes::from_static(b"PING")]], Some(CALL_TIMEOUT)).await?;
        }
        let addr = self.addr.clone();
        let lost = |e: std::io::Error| BackendError(format!("backend {addr} connection lost ({e})"));
        let mut out = BytesMut::new();
        let skip = self.preamble(&mut out);
        out.extend_from_slice(frame);
        let stream = self.stream.as_mut().expect("connected");
        if let Err(e) = stream.write_all(&out).await {
            self.stream = None;
            return Err(lost(e));
        }
        let mut seen = 0;
        loop {
            match super::backend::reply_end(&self.buf, 0) {
                Ok(Some(end)) if seen < skip => {
                    let _ = self.buf.split_to(end);
                    seen += 1;
                }
                Ok(Some(end)) => return Ok(self.buf.split_to(end).freeze()),
                Ok(None) => {
                    if let Err(e) = read_more(stream, &mut self.buf, &self.addr).await {
                        self.stream = None;
                        return Err(e);
                    }
                }
                Err(_) => {
                    self.stream = None;
                    return Err(BackendError(format!("backend {} sent a malformed reply", self.addr)));
                }
            }
        }
    }

    /// What goes before the next commands on this connection (an UNWATCH
    /// left by a cross-node transaction, pending TXN.FORGETs); returns how
    /// many replies to skip.
    fn preamble(&mut self, out: &mut BytesMut) -> usize {
        let mut skip = 0;
        if std::mem::take(&mut self.unwatch_first) {
            out.extend_from_slice(&encode_command(&[&b"UNWATCH"[..]]));
            skip += 1;
        }
        // only where TXN.HELLO holds (a new connection forgets them: the
        // primary then keeps those decisions for its 10 minutes)
        let forget = std::mem::take(&mut self.forget);
        if self.txn_ready {
            for txid in forget {
                out.extend_from_slice(&encode_command(&[&b"TXN.FORGET"[..], &txid]));
                skip += 1;
            }
        }
        skip
    }

    /// [`PinnedConn::call`] with its own time limit (`None`: none).
    async fn call_for(&mut self, commands: &[Vec<Bytes>], limit: Option<std::time::Duration>) -> Result<Vec<Reply>, BackendError> {
        let Some(limit) = limit else { return self.call_inner(commands).await };
        match tokio::time::timeout(limit, self.call_inner(commands)).await {
            Ok(r) => r,
            Err(_) => {
                self.stream = None;
                self.buf.clear();
                Err(BackendError(format!("backend {} timed out", self.addr)))
            }
        }
    }

    async fn call_inner(&mut self, commands: &[Vec<Bytes>]) -> Result<Vec<Reply>, BackendError> {
        let addr = self.addr.clone();
        let fail = move |what: &str, e: std::io::Error| BackendError(format!("backend {addr} {what} ({e})"));
        if self.stream.is_none() && self.watching {
            // The node forgot this client's WATCHes with the old connection:
            // a transaction relying on them must not run.
            self.watching = false;
            return Err(BackendError(format!("backend {} connection lost while watching keys", self.addr)));
        }
        if self.stream.is_none() {
            self.unwatch_first = false;
            let s = TcpStream::connect(&self.addr).await.map_err(|e| fail("unavailable", e))?;
            let _ = s.set_nodelay(true);
            self.stream = Some(s);
            self.txn_ready = false;
            if !self.setup.is_empty() {
                let setup = self.setup.clone();
                for r in Box::pin(self.call_inner(&setup)).await? {
                    if let Reply::Error(e) = r {
                        self.stream = None;
                        return Err(BackendError(format!("backend {} refused the connection's setup ({e})", self.addr)));
                    }
                }
            }
        }
        if !self.txn_ready && commands.first().is_some_and(|c| c[0].starts_with(b"TXN.")) {
            let Some(secret) = self.secret.clone() else {
                return Err(BackendError("cross-node transactions need the nodes' cluster secret, and this proxy has none (see --cluster-secret-file)".into()));
            };
            let hello = [vec![Bytes::from_static(b"TXN.HELLO"), Bytes::from(secret)]];
            self.txn_ready = true; // for the HELLO itself
            let answer = Box::pin(self.call(&hello)).await;
            self.txn_ready = matches!(answer.as_deref(), Ok([Reply::Ok]));
            match answer?.pop() {
                Some(Reply::Ok) => {}
                Some(Reply::Error(e)) => return Err(BackendError(format!("backend {} refused TXN.HELLO: {e}", self.addr))),
                _ => return Err(BackendError(format!("backend {} gave no answer to TXN.HELLO", self.addr))),
            }
        }
        let mut out = BytesMut::new();
        let skip = self.preamble(&mut out);
        let stream = self.stream.as_mut().expect("connected");
        for c in commands {
            out.extend_from_slice(&encode_command(c));
        }
        if let Err(e) = stream.write_all(&out).await {
            self.stream = None;
            return Err(fail("connection lost", e));
        }
        let mut replies = Vec::with_capacity(commands.len() + skip);
        while replies.len() < commands.len() + skip {
            match decode_bytes_mut(&mut self.buf) {
                Ok(Some((frame, _, _))) => {
                    replies.push(frame_to_reply(frame));
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    self.stream = None;
                    return Err(BackendError(format!("backend {} sent a malformed reply ({})", self.addr, e.details())));
                }
            }
            if let Err(e) = read_more(stream, &mut self.buf, &self.addr).await {
                self.stream = None;
                return Err(e);
            }
        }
        replies.drain(..skip);
        Ok(replies)
    }
}

impl Drop for PinnedConn {
    /// A session that ends with forgets pending sends them on its way out
    /// (replies unread: the connection closes after).
    fn drop(&mut self) {
        if self.forget.is_empty() || !self.txn_ready {
            return;
        }
        let (Some(mut stream), Ok(handle)) = (self.stream.take(), tokio::runtime::Handle::try_current()) else { return };
        let mut out = BytesMut::new();
        for txid in self.forget.drain(..) {
            out.extend_from_slice(&encode_command(&[&b"TXN.FORGET"[..], &txid]));
        }
        handle.spawn(async move {
            let _ = stream.write_all(&out).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// Reads more reply bytes; an error when the node closed or the read failed
/// (the caller then drops the connection).
async fn read_more(stream: &mut TcpStream, buf: &mut BytesMut, addr: &str) -> Result<(), BackendError> {
    match stream.read_buf(buf).await {
        Ok(0) => Err(BackendError(format!("backend {addr} closed the connection"))),
        Ok(_) => Ok(()),
        Err(e) => Err(BackendError(format!("backend {addr} connection lost ({e})"))),
    }
}

/// A transaction being queued by the proxy for one client.
#[derive(Default)]
pub struct Queued {
    pub commands: Vec<Vec<Bytes>>,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    pub error: bool,
    /// Per queued command: the node of its keys (`None`: no key).
    pub nodes: Vec<Option<usize>>,
}

/// Runs a queued transaction on `conn`: MULTI, the commands, EXEC; returns
/// EXEC's reply (a null array when a watched key was touched).
pub async fn exec_on(conn: Pinned, commands: Vec<Vec<Bytes>>) -> Reply {
    let mut all = Vec::with_capacity(commands.len() + 2);
    all.push(vec![Bytes::from_static(b"MULTI")]);
    all.extend(commands);
    all.push(vec![Bytes::from_static(b"EXEC")]);
    let mut c = conn.lock().await;
    let result = c.call(&all).await;
    // EXEC unwatches on the node
    c.watching = false;
    match result {
        Ok(mut replies) => match replies.pop() {
            Some(Reply::Nil) => Reply::NilArray,
            Some(r) => r,
            None => Reply::error("ERR no reply to EXEC"),
        },
        Err(e) => e.to_reply(),
    }
}

/// Runs a command that may block on the node (LOCK.ACQUIRE ... WAIT) on the
/// client's own connection, so that it holds up no other client, allowing
/// it `wait` plus the usual call time (`None`: waits without limit).
pub async fn call_blocking(conn: Pinned, args: Vec<Bytes>, wait: Option<std::time::Duration>) -> Reply {
    let mut c = conn.lock().await;
    match c.call_for(&[args], wait.map(|w| w + CALL_TIMEOUT)).await {
        Ok(mut r) => r.pop().unwrap_or_else(|| Reply::error("ERR no reply")),
        Err(e) => e.to_reply(),
    }
}

/// Runs one command (WATCH, UNWATCH) on the pinned connection.
pub async fn call_one(conn: Pinned, args: Vec<Bytes>) -> Reply {
    let mut c = conn.lock().await;
    let is_watch = args[0].eq_ignore_ascii_case(b"watch");
    let result = c.call(&[args]).await;
    c.watching = is_watch && matches!(result, Ok(ref r) if r.first() == Some(&Reply::Ok));
    match result {
        Ok(mut r) => r.pop().unwrap_or_else(|| Reply::error("ERR no reply")),
        Err(e) => e.to_reply(),
    }
}
