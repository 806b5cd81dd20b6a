//! Client-side caching (Redis's `tracking.c`): CLIENT TRACKING's table of
//! keys clients have read, and the invalidation messages sent when they
//! change.
//!
//! - **Default mode.** A read-only command of a tracking client remembers
//!   its keys (by name: Redis's table ignores the database) with the
//!   client's ID; the next change of such a key (any command, expiry,
//!   eviction: the store's modification hook) sends every client that
//!   read it one `invalidate` message and forgets the key, so one read
//!   earns one message. OPTIN and OPTOUT make it per command (CLIENT
//!   CACHING), NOLOOP leaves out the client's own changes.
//! - **BCAST.** A client names prefixes (none: every key); a change of a
//!   key under a prefix is collected and, after the command that made
//!   it, sent to every client of the prefix as one message of all the
//!   keys collected (in key order, as Redis's radix tree gives them).
//! - **Delivery** is a push into the client's outbox (the one of pub/sub
//!   and MONITOR): a RESP3 `>2 invalidate [keys]`, or with REDIRECT to a
//!   RESP2 connection in pub/sub mode, a `message` on
//!   `__redis__:invalidate`. FLUSHALL and FLUSHDB invalidate everything
//!   with a null. A redirect target that went away gets the tracking
//!   client a `tracking-redir-broken` push.
//! - `tracking-table-max-keys` bounds the table: past it, keys are
//!   invalidated (and forgotten) until it fits.

use super::pubsub::{BufferLimit, Outbox};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

thread_local! {
    /// The client whose command runs on this thread (NOLOOP needs to know
    /// who changed a key).
    static CURRENT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Marks `id` as the client running commands on this thread.
pub fn set_current(id: u64) {
    CURRENT.with(|c| c.set(id));
}

fn current() -> u64 {
    CURRENT.with(|c| c.get())
}

/// One tracking client's settings.
#[derive(Clone)]
pub struct Mode {
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    pub prefixes: Vec<Bytes>,
}

struct Tracker {
    mode: Mode,
    outbox: Arc<Outbox>,
    broken_redirect: bool,
}

#[derive(Default)]
struct Prefix {
    clients: BTreeSet<u64>,
    /// Keys changed since the last broadcast, and who changed each last.
    keys: BTreeMap<Bytes, u64>,
}

#[derive(Default)]
struct Inner {
    clients: HashMap<u64, Tracker>,
    /// Key name -> the clients that read it.
    table: HashMap<Bytes, HashSet<u64>>,
    items: usize,
    prefixes: BTreeMap<Bytes, Prefix>,
}

/// A redirect target among the server's clients: `None` if it is gone,
/// else its outbox (if it has one) and whether it is in pub/sub mode.
pub type Lookup<'a> = &'a dyn Fn(u64) -> Option<(Option<Arc<Outbox>>, bool)>;

#[derive(Default)]
pub struct Tracking {
    inner: Mutex<Inner>,
    /// BCAST keys wait to go out (read after every command: no lock).
    pending: std::sync::atomic::AtomicBool,
}

/// `true` for a null (flush) message, else the keys.
enum Payload<'a> {
    Keys(&'a [&'a [u8]]),
    Null,
}

fn message(resp3: bool, payload: &Payload<'_>) -> Bytes {
    let mut out = BytesMut::new();
    let bulk = |out: &mut BytesMut, b: &[u8]| {
        out.put_slice(format!("${}\r\n", b.len()).as_bytes());
        out.put_slice(b);
        out.put_slice(b"\r\n");
    };
    if resp3 {
        out.put_slice(b">2\r\n");
        bulk(&mut out, b"invalidate");
    } else {
        out.put_slice(b"*3\r\n");
        bulk(&mut out, b"message");
        bulk(&mut out, b"__redis__:invalidate");
    }
    match payload {
        Payload::Null => out.put_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" }),
        Payload::Keys(keys) => {
            out.put_slice(format!("*{}\r\n", keys.len()).as_bytes());
            for k in *keys {
                bulk(&mut out, k);
            }
        }
    }
    out.freeze()
}

impl Tracking {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// CLIENT TRACKING ON: `outbox` is the client's own.
    pub fn enable(&self, id: u64, mode: Mode, outbox: Arc<Outbox>) {
        let mut t = self.lock();
        let old_prefixes = t.clients.get(&id).map(|c| c.mode.prefixes.clone()).unwrap_or_default();
        let mut mode = mode;
        if mode.bcast {
            // prefixes add up over repeated CLIENT TRACKING ON ... BCAST
            let mut all = old_prefixes;
            let new: Vec<Bytes> = if mode.prefixes.is_empty() && all.is_empty() { vec![Bytes::new()] } else { mode.prefixes.clone() };
            for p in new {
                t.prefixes.entry(p.clone()).or_default().clients.insert(id);
                if !all.contains(&p) {
                    all.push(p);
                }
            }
            all.sort();
            mode.prefixes = all;
        }
        t.clients.insert(id, Tracker { mode, outbox, broken_redirect: false });
    }

    /// CLIENT TRACKING OFF, or the client left.
    pub fn disable(&self, id: u64) {
        let mut t = self.lock();
        let Some(c) = t.clients.remove(&id) else { return };
        for p in &c.mode.prefixes {
            if let Some(state) = t.prefixes.get_mut(p) {
                state.clients.remove(&id);
                if state.clients.is_empty() {
                    t.prefixes.remove(p);
                }
            }
        }
    }

    pub fn mode(&self, id: u64) -> Option<(Mode, bool)> {
        self.lock().clients.get(&id).map(|c| (c.mode.clone(), c.broken_redirect))
    }

    pub fn is_active(&self) -> bool {
        !self.lock().clients.is_empty()
    }

    /// A read by tracking client `id` of `keys`.
    /// `max` is `tracking-table-max-keys` (0: no limit).
    pub fn remember(&self, id: u64, keys: &[&[u8]], max: u64, lookup: Lookup<'_>, limit: &BufferLimit) {
        let mut t = self.lock();
        for k in keys {
            let ids = t.table.entry(Bytes::copy_from_slice(k)).or_default();
            if ids.insert(id) {
                t.items += 1;
            }
        }
        let max = max as usize;
        if max > 0 && t.table.len() > max {
            // invalidate keys until the table fits (Redis: a random walk)
            let over: Vec<Bytes> = t.table.keys().take(t.table.len() - max).cloned().collect();
            for k in over {
                invalidate_locked(&mut t, &k, 0, lookup, limit);
            }
        }
    }

    /// The store's hook: `key` changed.
    pub fn invalidate(&self, key: &[u8], lookup: Lookup<'_>, limit: &BufferLimit) {
        let mut t = self.lock();
        if t.clients.is_empty() {
            return;
        }
        let modifier = current();
        if !t.prefixes.is_empty() {
            let mut any = false;
            for (p, state) in t.prefixes.iter_mut() {
                if key.starts_with(p) {
                    state.keys.insert(Bytes::copy_from_slice(key), modifier);
                    any = true;
                }
            }
            if any {
                self.pending.store(true, Ordering::Relaxed);
            }
        }
        invalidate_locked(&mut t, key, modifier, lookup, limit);
    }

    /// Whether BCAST keys wait for [`Tracking::broadcast`].
    pub fn pending(&self) -> bool {
        self.pending.load(Ordering::Relaxed)
    }

    /// Sends the BCAST clients the keys changed under their prefixes.
    pub fn broadcast(&self, lookup: Lookup<'_>, limit: &BufferLimit) {
        let mut t = self.lock();
        self.pending.store(false, Ordering::Relaxed);
        let prefixes: Vec<Bytes> = t.prefixes.keys().cloned().collect();
        for p in prefixes {
            let (clients, keys) = {
                let state = t.prefixes.get_mut(&p).expect("listed");
                (state.clients.iter().copied().collect::<Vec<_>>(), std::mem::take(&mut state.keys))
            };
            if keys.is_empty() {
                continue;
            }
            for id in clients {
                let noloop = t.clients.get(&id).is_some_and(|c| c.mode.noloop);
                let list: Vec<&[u8]> = keys.iter().filter(|(_, by)| !noloop || **by != id).map(|(k, _)| &k[..]).collect();
                if !list.is_empty() {
                    send(&mut t, id, &Payload::Keys(&list), lookup, limit);
                }
            }
        }
    }

    /// FLUSHALL and FLUSHDB: every tracking client is told everything is
    /// invalid, and the table is emptied.
    pub fn flush(&self, lookup: Lookup<'_>, limit: &BufferLimit) {
        let mut t = self.lock();
        let ids: Vec<u64> = t.clients.keys().copied().collect();
        for id in ids {
            send(&mut t, id, &Payload::Null, lookup, limit);
        }
        t.table.clear();
        t.items = 0;
    }

    /// INFO: clients, keys, items (key-client pairs), prefixes.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let t = self.lock();
        (t.clients.len(), t.table.len(), t.items, t.prefixes.len())
    }
}

fn invalidate_locked(t: &mut Inner, key: &[u8], modifier: u64, lookup: Lookup<'_>, limit: &BufferLimit) {
    let Some(ids) = t.table.remove(key) else { return };
    t.items -= ids.len();
    for id in ids {
        let Some(c) = t.clients.get(&id) else { continue };
        if c.mode.bcast || (c.mode.noloop && id == modifier) {
            continue;
        }
        send(t, id, &Payload::Keys(&[key]), lookup, limit);
    }
}

/// Redis's `sendTrackingMessage`.
fn send(t: &mut Inner, id: u64, payload: &Payload<'_>, lookup: Lookup<'_>, limit: &BufferLimit) {
    let Some(c) = t.clients.get_mut(&id) else { return };
    if c.mode.redirect != 0 {
        match lookup(c.mode.redirect) {
            None => {
                c.broken_redirect = true;
                if c.outbox.resp3.load(Ordering::Relaxed) {
                    let mut out = BytesMut::new();
                    out.put_slice(b">2\r\n$21\r\ntracking-redir-broken\r\n");
                    out.put_slice(format!(":{}\r\n", c.mode.redirect).as_bytes());
                    c.outbox.push(out.freeze(), limit);
                }
            }
            Some((None, _)) => {}
            Some((Some(outbox), subscribed)) => {
                let resp3 = outbox.resp3.load(Ordering::Relaxed);
                if resp3 || subscribed {
                    outbox.push(message(resp3, payload), limit);
                }
            }
        }
        return;
    }
    if c.outbox.resp3.load(Ordering::Relaxed) {
        c.outbox.push(message(true, payload), limit);
    }
}
