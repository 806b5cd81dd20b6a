//! Per-connection state.
//!
//! [`Client`] is owned by its connection task and changed without locks.
//! [`ClientInfo`] is the part other connections need to see (CLIENT LIST,
//! CLIENT KILL, INFO clients): it is shared through the server's registry and
//! uses atomics or short-held mutexes.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::Notify;

/// CLIENT REPLY modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    Skip,
    /// Set by SKIP: the current command's reply is dropped, then back to On.
    SkipThis,
}

pub struct Client {
    pub id: u64,
    pub db: usize,
    pub resp3: bool,
    pub authenticated: bool,
    pub no_touch: bool,
    /// CLIENT TRACKING's mode as the dispatcher needs it (the full state
    /// is in the server's tracking registry): BCAST, OPTIN, OPTOUT.
    pub tracking: Option<(bool, bool, bool)>,
    /// CLIENT CACHING was given for the next command.
    pub tracking_caching: bool,
    pub reply_mode: ReplyMode,
    /// Close the connection once the current reply is written (QUIT).
    pub close: bool,
    pub info: std::sync::Arc<ClientInfo>,
    /// Commands queued since MULTI; `None` outside a transaction.
    pub multi: Option<Vec<Vec<bytes::Bytes>>>,
    /// A command was refused while queueing: EXEC must answer EXECABORT.
    pub multi_error: bool,
    /// Keys this client watches: (db, key, already expired when watched).
    pub watched: Vec<(usize, crate::store::Key, bool)>,
    /// Marked dirty when a watched key is touched.
    pub watch_state: std::sync::Arc<crate::store::watch::WatchState>,
    /// Set while EXEC runs the queue: blocking commands do not block then.
    pub in_exec: bool,
    /// Set by a command that must wait (LOCK.ACQUIRE ... WAIT); the
    /// connection waits, then runs the command again.
    pub blocked: Option<Blocked>,
    /// TXN.HELLO succeeded (needed when the node has a cluster secret).
    pub txn_authorized: bool,
    /// The AOF loader's client: runs while the node is loading, and
    /// nothing it runs is refused for a persistence error.
    pub replaying: bool,
    /// TXN.NOWAIT: a command on a key held by a prepared cross-node
    /// transaction is answered `-TXNDEFER` at once instead of waiting (the
    /// proxy's shared connections, where a wait would hold up every client
    /// behind it; the proxy runs it again on the client's own connection).
    pub txn_nowait: bool,
    /// A command was deferred in the input being processed: later keyed
    /// commands of that input are deferred too, so one client's pipeline is
    /// never applied out of order. Cleared when the input is used up.
    pub txn_deferring: bool,
    /// While a blocked command is retried: its place in the wait queue.
    pub lock_waiter: Option<std::sync::Arc<crate::lock::Waiter>>,
    /// In MONITOR mode: the feed of commands to write to this client.
    pub monitor: Option<super::monitor::MonitorFeed>,
    /// Set while a script runs (MONITOR shows its calls as `lua`).
    pub in_script: bool,
    /// Set by a retried blocking command that passed over a key of
    /// another type: the key goes to the next waiter in line.
    pub passed_wrong_type: bool,
    /// Pub/sub subscriptions and the outbox their messages arrive in.
    pub subs: Subscriptions,
    /// What REPLCONF said about this connection as a replica.
    pub repl: ReplicaConf,
    /// The effect log's end after this client's last write (WAIT waits
    /// for replicas to acknowledge it).
    pub write_offset: u64,
    /// A WAIT in progress: when it gives up.
    pub wait_deadline: Option<std::time::Instant>,
    /// Set by SYNC or PSYNC: once the replies before it are out, the
    /// connection carries the snapshot, and the replication stream after
    /// it (the connection layer serves them).
    pub sync: Option<SyncKind>,
}

/// What a replica asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncKind {
    /// `REPLCONF rdb-only 1` then SYNC: the snapshot, then the end.
    RdbOnly,
    /// SYNC: the snapshot, then the command stream.
    Sync,
    /// PSYNC: `+FULLRESYNC <replid> <offset>`, the snapshot, the stream.
    Psync,
}

/// REPLCONF's options for a connection that asks for a snapshot.
#[derive(Default, Clone, Copy, Debug)]
pub struct ReplicaConf {
    /// `capa eof`: takes the payload in the `$EOF:<mark>` form, streamed
    /// without knowing its length first.
    pub capa_eof: bool,
    /// `rdb-only 1`: wants the snapshot and nothing after it (`redis-cli
    /// --rdb`).
    pub rdb_only: bool,
    pub listening_port: Option<i64>,
}

/// A client's pub/sub subscriptions, in the order they were made.
#[derive(Default)]
pub struct Subscriptions {
    pub channels: Vec<bytes::Bytes>,
    pub patterns: Vec<bytes::Bytes>,
    pub shard: Vec<bytes::Bytes>,
    pub outbox: Option<std::sync::Arc<super::pubsub::Outbox>>,
}

impl Subscriptions {
    /// Subscribed to anything (RESP2 subscribed mode).
    pub fn active(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }
}

/// A command waiting: for keys (BLPOP and the other blocking list
/// commands, LOCK.ACQUIRE ... WAIT), for a key held by a cross-node
/// transaction or reserved for a woken waiter, or for a running script;
/// its standing is a [`Place`](crate::store::wait::Place) in the one wait
/// registry, left when this is dropped.
pub struct Blocked {
    pub place: crate::store::wait::Place,
    /// A blocking command: shown with flag `b`, ended by `CLIENT UNBLOCK`
    /// and its deadline. Otherwise the command waits for the node and
    /// just runs later.
    pub blocking: bool,
    /// When to give up and answer `on_timeout`; `None` = never.
    pub deadline: Option<std::time::Instant>,
    /// When to retry even without a wake (a lock holder's TTL ends, a
    /// safety net against a missed wake-up).
    pub wake_at: Option<std::time::Instant>,
    /// The reply at the deadline or on `CLIENT UNBLOCK ... TIMEOUT`.
    pub on_timeout: crate::resp::Reply,
    /// The command, to run again when woken: its own compact copy
    /// ([`crate::util::compact_copy`]).
    pub args: Vec<bytes::Bytes>,
}

impl Blocked {
    /// A command waiting for the node at `place`, without deadline,
    /// retried at `wake_at` at the latest.
    pub fn waiting(place: crate::store::wait::Place, wake_at: std::time::Instant, args: &[bytes::Bytes]) -> Blocked {
        Blocked { place, blocking: false, deadline: None, wake_at: Some(wake_at), on_timeout: crate::resp::Reply::Nil, args: crate::util::compact_copy(args) }
    }
}

impl Client {
    pub fn new(info: std::sync::Arc<ClientInfo>, authenticated: bool) -> Client {
        Client {
            id: info.id,
            db: 0,
            resp3: false,
            authenticated,
            no_touch: false,
            tracking: None,
            tracking_caching: false,
            reply_mode: ReplyMode::On,
            close: false,
            info,
            multi: None,
            multi_error: false,
            watched: Vec::new(),
            watch_state: Default::default(),
            in_exec: false,
            blocked: None,
            lock_waiter: None,
            monitor: None,
            in_script: false,
            passed_wrong_type: false,
            subs: Subscriptions::default(),
            txn_authorized: false,
            replaying: false,
            txn_nowait: false,
            txn_deferring: false,
            repl: ReplicaConf::default(),
            write_offset: 0,
            wait_deadline: None,
            sync: None,
        }
    }

    /// Whether the reply of the command just run is sent (CLIENT REPLY).
    pub fn should_reply(&mut self) -> bool {
        match self.reply_mode {
            ReplyMode::On => true,
            ReplyMode::Off => false,
            // SKIP was the command just run: its own reply is sent, the
            // next one is not.
            ReplyMode::Skip => {
                self.reply_mode = ReplyMode::SkipThis;
                false
            }
            ReplyMode::SkipThis => {
                self.reply_mode = ReplyMode::On;
                false
            }
        }
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db, Ordering::Relaxed);
    }

    pub fn set_resp(&mut self, resp3: bool) {
        self.resp3 = resp3;
        self.info.resp.store(if resp3 { 3 } else { 2 }, Ordering::Relaxed);
        if let Some(o) = &self.subs.outbox {
            o.resp3.store(resp3, Ordering::Relaxed);
        }
    }

    /// The client's outbox (pub/sub messages, MONITOR lines), made on first
    /// use.
    pub fn outbox(&mut self) -> std::sync::Arc<super::pubsub::Outbox> {
        let (resp3, info) = (self.resp3, self.info.clone());
        let o = self.subs.outbox.get_or_insert_with(|| super::pubsub::Outbox::new(resp3, info)).clone();
        let _ = self.info.outbox.set(std::sync::Arc::downgrade(&o));
        o
    }

    /// Publishes this client's subscription counts (CLIENT LIST, KILL TYPE).
    pub fn note_subscriptions(&self) {
        self.info.subs.store(self.subs.channels.len(), Ordering::Relaxed);
        self.info.psubs.store(self.subs.patterns.len(), Ordering::Relaxed);
        self.info.ssubs.store(self.subs.shard.len(), Ordering::Relaxed);
    }
}

pub struct ClientInfo {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    pub name: Mutex<String>,
    pub lib_name: Mutex<String>,
    pub lib_ver: Mutex<String>,
    pub db: AtomicUsize,
    pub resp: AtomicU8,
    /// Milliseconds since server start of the last read from this client.
    last_interaction_ms: AtomicU64,
    last_cmd: AtomicUsize,
    pub no_evict: AtomicBool,
    /// In MONITOR mode (CLIENT LIST flag `O`).
    pub monitoring: AtomicBool,
    /// Channel, pattern and shard channel subscriptions.
    pub subs: AtomicUsize,
    pub psubs: AtomicUsize,
    pub ssubs: AtomicUsize,
    pub no_touch: AtomicBool,
    killed: AtomicBool,
    kill: Notify,
    /// Waiting in a key's queue (CLIENT UNBLOCK applies, CLIENT LIST flag `b`).
    pub blocked: AtomicBool,
    /// CLIENT UNBLOCK: `Some(true)` to answer an error, `Some(false)` as at
    /// the timeout.
    unblock: Mutex<Option<bool>>,
    unblocked: Notify,
    /// For CLIENT LIST: the socket's descriptor, and the connection's
    /// buffers as the connection task last saw them (query buffer bytes
    /// pending and allocated, output bytes waiting for the socket).
    pub fd: std::sync::atomic::AtomicI32,
    pub qbuf: AtomicUsize,
    pub qbuf_alloc: AtomicUsize,
    pub omem: AtomicUsize,
    /// The client's outbox once it has one (a tracking client's
    /// invalidations redirected here find it by the client's ID).
    pub outbox: std::sync::OnceLock<std::sync::Weak<super::pubsub::Outbox>>,
}

impl ClientInfo {
    pub fn new(id: u64, addr: String, laddr: String) -> ClientInfo {
        ClientInfo {
            id,
            addr,
            laddr,
            created: Instant::now(),
            name: Mutex::new(String::new()),
            lib_name: Mutex::new(String::new()),
            lib_ver: Mutex::new(String::new()),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            last_interaction_ms: AtomicU64::new(0),
            last_cmd: AtomicUsize::new(usize::MAX),
            no_evict: AtomicBool::new(false),
            subs: AtomicUsize::new(0),
            psubs: AtomicUsize::new(0),
            ssubs: AtomicUsize::new(0),
            monitoring: AtomicBool::new(false),
            no_touch: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
            blocked: AtomicBool::new(false),
            unblock: Mutex::new(None),
            unblocked: Notify::new(),
            fd: std::sync::atomic::AtomicI32::new(-1),
            qbuf: AtomicUsize::new(0),
            qbuf_alloc: AtomicUsize::new(0),
            omem: AtomicUsize::new(0),
            outbox: std::sync::OnceLock::new(),
        }
    }

    pub fn name(&self) -> String {
        self.name.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_name(&self, name: String) {
        *self.name.lock().unwrap_or_else(|p| p.into_inner()) = name;
    }

    /// Records the command just dispatched (table index, subcommand index).
    pub fn set_last_command(&self, idx: usize, sub: Option<usize>) {
        self.last_cmd.store(idx << 8 | sub.map_or(0, |s| s + 1), Ordering::Relaxed);
    }

    /// The last command dispatched (table index, subcommand index), if any.
    pub fn last_command(&self) -> Option<(usize, Option<usize>)> {
        let v = self.last_cmd.load(Ordering::Relaxed);
        (v != usize::MAX).then(|| (v >> 8, (v & 0xff).checked_sub(1)))
    }

    pub fn touch(&self, server_start: Instant) {
        self.last_interaction_ms.store(server_start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Seconds since the last read from this client.
    pub fn idle_secs(&self, server_start: Instant) -> u64 {
        let now = server_start.elapsed().as_millis() as u64;
        now.saturating_sub(self.last_interaction_ms.load(Ordering::Relaxed)) / 1000
    }

    /// Asks the connection task to close (CLIENT KILL, shutdown).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.kill.notify_one();
    }

    /// CLIENT UNBLOCK: true if the client was blocked on keys.
    pub fn unblock(&self, error: bool) -> bool {
        if !self.blocked.load(Ordering::SeqCst) {
            return false;
        }
        *self.unblock.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
        self.unblocked.notify_one();
        true
    }

    /// Forgets a CLIENT UNBLOCK that came after the last wait ended.
    pub fn unblock_reset(&self) {
        *self.unblock.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Completes on CLIENT UNBLOCK, with its mode (true: error).
    pub async fn unblocked(&self) -> bool {
        loop {
            if let Some(error) = self.unblock.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return error;
            }
            self.unblocked.notified().await;
        }
    }

    /// A pub/sub client (CLIENT LIST flag `P`, KILL TYPE pubsub).
    pub fn is_pubsub(&self) -> bool {
        self.subs.load(Ordering::Relaxed) + self.psubs.load(Ordering::Relaxed) + self.ssubs.load(Ordering::Relaxed) > 0
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    /// Completes when [`kill`](Self::kill) has been called.
    pub async fn killed(&self) {
        if self.is_killed() {
            return;
        }
        self.kill.notified().await;
    }
}
