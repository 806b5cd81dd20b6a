//! Pub/sub through the proxy: a subscribed client gets one connection of
//! its own to each node it listens on (a channel lives on the node its name
//! hashes to on the ring, as PUBLISH routes it; a pattern is subscribed on
//! every node, since matching channels may live anywhere). Each link's
//! reader forwards the messages the node pushes into the client's bounded
//! queue, re-framed for the client's protocol. A (un)subscription is
//! answered only once the node confirmed it (so a PUBLISH after the reply
//! reaches the client), and the proxy answers it itself, with the counts
//! of the client's whole subscription set, as a single Redis would. The queue is bounded: a client that does not read
//! stops its links' readers, the nodes' output limits then cut the links,
//! and the proxy's memory stays bounded.

use super::backend::reply_end;
use bytes::{Bytes, BytesMut};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

/// Messages a client may have queued before its links stop reading (the
/// nodes' output limits then cut the links, and the client with them).
const QUEUE: usize = 128;

/// One node connection in subscribed mode.
struct Link {
    writer: OwnedWriteHalf,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A client's subscriptions through the proxy.
pub struct Subs {
    links: BTreeMap<usize, Link>,
    pub channels: Vec<Bytes>,
    pub patterns: Vec<Bytes>,
    pub shard: Vec<Bytes>,
    tx: mpsc::Sender<Bytes>,
    pub rx: mpsc::Receiver<Bytes>,
    /// One per confirmation a node sent.
    acks_tx: mpsc::Sender<()>,
    acks: mpsc::Receiver<()>,
    resp3: Arc<AtomicBool>,
    /// Notified when a node closed a link (also while the session is
    /// stuck writing to a client that does not read).
    pub lost: Arc<tokio::sync::Notify>,
}

impl Subs {
    pub fn new(resp3: bool) -> Subs {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (acks_tx, acks) = mpsc::channel(64);
        Subs {
            links: BTreeMap::new(),
            channels: Vec::new(),
            patterns: Vec::new(),
            shard: Vec::new(),
            tx,
            rx,
            acks_tx,
            acks,
            resp3: Arc::new(AtomicBool::new(resp3)),
            lost: Arc::new(tokio::sync::Notify::new()),
        }
    }

    pub fn set_resp3(&self, resp3: bool) {
        self.resp3.store(resp3, Ordering::Relaxed);
    }

    pub fn active(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }

    /// Sends `cmd` on the link to `node` (`addr`), connecting it first
    /// (with the pool's setup commands) if needed, and waits for the
    /// node's confirmation.
    pub async fn send(&mut self, node: usize, addr: &str, setup: &[Vec<Bytes>], cmd: &[&[u8]]) -> std::io::Result<()> {
        if !self.links.contains_key(&node) {
            let link = connect(addr, setup, self.tx.clone(), self.acks_tx.clone(), self.resp3.clone(), self.lost.clone()).await?;
            self.links.insert(node, link);
        }
        let link = self.links.get_mut(&node).expect("connected");
        let mut req = BytesMut::new();
        crate::resp::encode_command_into(&mut req, cmd);
        if let Err(e) = link.writer.write_all(&req).await {
            self.links.remove(&node);
            return Err(e);
        }
        match tokio::time::timeout(std::time::Duration::from_secs(5), self.acks.recv()).await {
            Ok(Some(())) => Ok(()),
            _ => {
                self.links.remove(&node);
                Err(std::io::Error::other("no confirmation from the node"))
            }
        }
    }

    /// The nodes with a link.
    pub fn nodes(&self) -> Vec<usize> {
        self.links.keys().copied().collect()
    }
}

/// Opens a link: the setup commands (AUTH, SELECT) answered, then a
/// reader that forwards the node's messages.
async fn connect(
    addr: &str,
    setup: &[Vec<Bytes>],
    tx: mpsc::Sender<Bytes>,
    acks: mpsc::Sender<()>,
    resp3: Arc<AtomicBool>,
    lost: Arc<tokio::sync::Notify>,
) -> std::io::Result<Link> {
    let stream = TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    let (mut read, mut writer) = stream.into_split();
    let mut buf = BytesMut::new();
    if !setup.is_empty() {
        let mut req = BytesMut::new();
        for cmd in setup {
            crate::resp::encode_command_into(&mut req, cmd);
        }
        writer.write_all(&req).await?;
        let mut answered = 0;
        while answered < setup.len() {
            if read.read_buf(&mut buf).await? == 0 {
                return Err(std::io::Error::other("node closed during setup"));
            }
            while let Ok(Some(end)) = reply_end(&buf, 0) {
                let reply = buf.split_to(end);
                if reply.first() == Some(&b'-') {
                    return Err(std::io::Error::other(String::from_utf8_lossy(&reply).trim().to_string()));
                }
                answered += 1;
            }
        }
    }
    let reader = tokio::spawn(async move {
        loop {
            loop {
                match reply_end(&buf, 0) {
                    Ok(Some(end)) => {
                        let frame = buf.split_to(end).freeze();
                        match message(&frame, resp3.load(Ordering::Relaxed)) {
                            Some(msg) => {
                                if tx.send(msg).await.is_err() {
                                    return;
                                }
                            }
                            // a confirmation (or an error) answers the command sent
                            None => {
                                if acks.send(()).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
            match read.read_buf(&mut buf).await {
                Ok(0) | Err(_) => {
                    // the node closed the link (its output limit, a
                    // restart): the session closes the client, as a node
                    // closes a subscriber
                    lost.notify_one();
                    return;
                }
                Ok(_) => {}
            }
        }
    });
    Ok(Link { writer, reader })
}

/// A node's message frame (RESP2 from the node) re-framed for the client:
/// `None` for anything else (the node's confirmations).
fn message(frame: &Bytes, resp3: bool) -> Option<Bytes> {
    let is = |prefix: &[u8]| frame.starts_with(prefix);
    if !(is(b"*3\r\n$7\r\nmessage\r\n") || is(b"*4\r\n$8\r\npmessage\r\n") || is(b"*3\r\n$8\r\nsmessage\r\n")) {
        return None;
    }
    if !resp3 {
        return Some(frame.clone());
    }
    // the same elements in a push
    let mut out = BytesMut::from(&frame[..]);
    out[0] = b'>';
    Some(out.freeze())
}
