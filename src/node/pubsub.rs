//! Pub/sub: the server's channel and pattern registry, and each
//! subscriber's bounded outbox.
//!
//! PUBLISH encodes the message once per protocol and pushes it into every
//! receiving client's [`Outbox`]; the client's connection task drains its
//! outbox into its socket between commands. The outbox is where Redis's
//! `client-output-buffer-limit pubsub` applies: past the hard limit, or
//! above the soft limit for longer than its seconds, the subscriber is
//! disconnected (its pending messages dropped), so a subscriber that never
//! reads costs at most the hard limit of memory, and publishers never wait
//! for it. The bytes a connection has taken from the outbox but not yet
//! written to the socket count too.
//!
//! Delivery order is Redis's: the channel's subscribers in the order they
//! subscribed, then the pattern subscriptions that match, in the order
//! they were made.

use bytes::{BufMut, Bytes, BytesMut};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// `client-output-buffer-limit` for one class: bytes (0 = none) and
/// seconds.
#[derive(Debug, Default)]
pub struct BufferLimit {
    pub hard: AtomicU64,
    pub soft: AtomicU64,
    pub soft_secs: AtomicU64,
}

impl BufferLimit {
    pub fn new(hard: u64, soft: u64, secs: u64) -> BufferLimit {
        BufferLimit { hard: AtomicU64::new(hard), soft: AtomicU64::new(soft), soft_secs: AtomicU64::new(secs) }
    }
}

/// One subscriber's queue of encoded messages.
pub struct Outbox {
    frames: Mutex<VecDeque<Bytes>>,
    /// Bytes queued here plus those its connection holds unwritten.
    bytes: AtomicUsize,
    ready: Notify,
    /// The client's protocol, read by publishers (HELLO changes it).
    pub resp3: AtomicBool,
    /// Over the limit: the connection closes, nothing more is queued.
    overflowed: AtomicBool,
    /// Since when (Unix ms; 0: not) the queue has been above the soft
    /// limit.
    soft_since: AtomicU64,
    /// Wakes the connection to close.
    info: Arc<super::ClientInfo>,
}

impl Outbox {
    pub fn new(resp3: bool, info: Arc<super::ClientInfo>) -> Arc<Outbox> {
        Arc::new(Outbox {
            frames: Mutex::new(VecDeque::new()),
            bytes: AtomicUsize::new(0),
            ready: Notify::new(),
            resp3: AtomicBool::new(resp3),
            overflowed: AtomicBool::new(false),
            soft_since: AtomicU64::new(0),
            info,
        })
    }

    /// Queues a frame unless the subscriber is over its limit, which
    /// disconnects it (as Redis's `closeClientOnOutputBufferLimitReached`).
    pub fn push(&self, frame: Bytes, limit: &BufferLimit) {
        if self.overflowed.load(Ordering::Relaxed) {
            return;
        }
        let total = self.bytes.fetch_add(frame.len(), Ordering::SeqCst) + frame.len();
        if self.over(total, limit) {
            self.overflowed.store(true, Ordering::SeqCst);
            let dropped: usize = {
                let mut q = self.frames.lock().unwrap_or_else(|p| p.into_inner());
                let n = q.iter().map(|f| f.len()).sum();
                q.clear();
                n
            };
            self.bytes.fetch_sub(dropped + frame.len(), Ordering::SeqCst);
            tracing::warn!("Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.", self.info.id, self.info.addr);
            self.info.kill();
            return;
        }
        self.frames.lock().unwrap_or_else(|p| p.into_inner()).push_back(frame);
        self.ready.notify_one();
    }

    fn over(&self, total: usize, limit: &BufferLimit) -> bool {
        let (hard, soft, secs) = (limit.hard.load(Ordering::Relaxed), limit.soft.load(Ordering::Relaxed), limit.soft_secs.load(Ordering::Relaxed));
        if hard > 0 && total as u64 >= hard {
            return true;
        }
        if soft > 0 && total as u64 >= soft {
            let now = crate::util::clock_ms().max(1);
            let start = match self.soft_since.compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => now,
                Err(t) => t,
            };
            return now.saturating_sub(start) / 1000 >= secs;
        }
        if self.soft_since.load(Ordering::Relaxed) != 0 {
            self.soft_since.store(0, Ordering::Relaxed);
        }
        false
    }

    /// Moves every queued frame into `out`; their bytes stay counted until
    /// [`written`](Self::written).
    pub fn drain_into(&self, out: &mut BytesMut) -> usize {
        let mut q = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        let mut n = 0;
        for f in q.drain(..) {
            n += f.len();
            out.put_slice(&f);
        }
        n
    }

    /// `n` drained bytes reached the socket.
    pub fn written(&self, n: usize) {
        self.bytes.fetch_sub(n, Ordering::SeqCst);
    }

    /// Bytes pending for this subscriber (CLIENT LIST `omem`).
    pub fn pending(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Completes when frames are queued.
    pub async fn ready(&self) {
        self.ready.notified().await
    }

    pub fn has_frames(&self) -> bool {
        !self.frames.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }
}

/// Which namespace a subscription is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    Channel,
    Pattern,
    Shard,
}

#[derive(Default)]
struct Registry {
    /// Channel -> subscribers in subscription order.
    channels: HashMap<Bytes, Vec<(u64, Arc<Outbox>)>>,
    /// Pattern subscriptions in the order they were made.
    patterns: Vec<(Bytes, u64, Arc<Outbox>)>,
    shard: HashMap<Bytes, Vec<(u64, Arc<Outbox>)>>,
}

/// The server's subscriptions.
#[derive(Default)]
pub struct PubSub {
    inner: Mutex<Registry>,
}

pub use crate::resp::reply::push_frame as frame;

impl PubSub {
    pub fn new() -> PubSub {
        PubSub::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a subscription; false if the client had it already.
    pub fn subscribe(&self, space: Space, name: &Bytes, id: u64, outbox: &Arc<Outbox>) -> bool {
        let mut r = self.lock();
        let list = match space {
            Space::Channel => r.channels.entry(name.clone()).or_default(),
            Space::Shard => r.shard.entry(name.clone()).or_default(),
            Space::Pattern => {
                if r.patterns.iter().any(|(p, c, _)| p == name && *c == id) {
                    return false;
                }
                r.patterns.push((name.clone(), id, outbox.clone()));
                return true;
            }
        };
        if list.iter().any(|(c, _)| *c == id) {
            return false;
        }
        list.push((id, outbox.clone()));
        true
    }

    /// Removes a subscription; false if the client did not have it.
    pub fn unsubscribe(&self, space: Space, name: &[u8], id: u64) -> bool {
        let mut r = self.lock();
        let map = match space {
            Space::Channel => &mut r.channels,
            Space::Shard => &mut r.shard,
            Space::Pattern => {
                let before = r.patterns.len();
                r.patterns.retain(|(p, c, _)| !(p == name && *c == id));
                return r.patterns.len() != before;
            }
        };
        let Some(list) = map.get_mut(name) else { return false };
        let before = list.len();
        list.retain(|(c, _)| *c != id);
        let removed = list.len() != before;
        if list.is_empty() {
            map.remove(name);
        }
        removed
    }

    /// PUBLISH (or SPUBLISH with `shard`): the number of clients reached;
    /// `limit` is the pubsub class of `client-output-buffer-limit`.
    pub fn publish(&self, channel: &[u8], message: &[u8], shard: bool, limit: &BufferLimit) -> usize {
        let r = self.lock();
        // one encoding per protocol, made when first needed
        let mut encoded: [Option<Bytes>; 2] = [None, None];
        let mut n = 0;
        let kind: &[u8] = if shard { b"smessage" } else { b"message" };
        let subs = if shard { r.shard.get(channel) } else { r.channels.get(channel) };
        for (_, outbox) in subs.into_iter().flatten() {
            let resp3 = outbox.resp3.load(Ordering::Relaxed);
            let f = encoded[usize::from(resp3)].get_or_insert_with(|| frame(resp3, &[Some(kind), Some(channel), Some(message)], None)).clone();
            outbox.push(f, limit);
            n += 1;
        }
        if !shard {
            for (pattern, _, outbox) in &r.patterns {
                if crate::util::glob_match(pattern, channel, false) {
                    let resp3 = outbox.resp3.load(Ordering::Relaxed);
                    outbox.push(frame(resp3, &[Some(b"pmessage"), Some(pattern), Some(channel), Some(message)], None), limit);
                    n += 1;
                }
            }
        }
        n
    }

    /// PUBSUB CHANNELS / SHARDCHANNELS: the active channels matching.
    pub fn channels(&self, pattern: Option<&[u8]>, shard: bool) -> Vec<Bytes> {
        let r = self.lock();
        let map = if shard { &r.shard } else { &r.channels };
        map.keys().filter(|c| pattern.is_none_or(|p| crate::util::glob_match(p, c, false))).cloned().collect()
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB for one channel.
    pub fn numsub(&self, channel: &[u8], shard: bool) -> usize {
        let r = self.lock();
        let map = if shard { &r.shard } else { &r.channels };
        map.get(channel).map_or(0, |l| l.len())
    }

    /// PUBSUB NUMPAT: distinct patterns subscribed to.
    pub fn numpat(&self) -> usize {
        let r = self.lock();
        let mut seen: Vec<&Bytes> = r.patterns.iter().map(|(p, _, _)| p).collect();
        seen.sort();
        seen.dedup();
        seen.len()
    }

    /// INFO's counts: channels, patterns, shard channels.
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = self.numpat();
        let r = self.lock();
        (r.channels.len(), n, r.shard.len())
    }
}
