//! One node's shared state: the keyspace, the settings, the script engine,
//! the lock and cross-node transaction tables, the connected clients, the
//! gates commands run under, statistics, MONITOR feeds and the slow log.
//!
//! Below the command layer and the connection layer, which both use it:
//! nothing here imports either (the command table's size is passed in).

pub mod aof;
mod client;
pub mod monitor;
pub mod pubsub;
pub mod recovery;
pub mod replicas;
pub mod slowlog;
pub mod tracking;

pub use client::{Blocked, Client, ClientInfo, ReplicaConf, ReplyMode, SyncKind};

use crate::config::RuntimeConfig;
use crate::store::Keyspace;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// What a command handler sees: the node and this connection's state.
pub struct Ctx<'a> {
    pub server: &'a Server,
    pub client: &'a mut Client,
}

/// Per-command counters for INFO commandstats.
#[derive(Default)]
pub struct CommandStat {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected_calls: AtomicU64,
    pub failed_calls: AtomicU64,
}

/// Counters for INFO stats kept by the connection layer.
#[derive(Default)]
pub struct NetStats {
    pub total_connections_received: AtomicU64,
    pub total_commands_processed: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
}

/// A held [`Server`] gate; released on drop.
pub enum Gate<'a> {
    Shared(std::sync::RwLockReadGuard<'a, ()>),
    Exclusive(std::sync::RwLockWriteGuard<'a, ()>),
}

thread_local! {
    /// This thread holds the exclusive gate (EXEC running SAVE).
    static EXCLUSIVE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Drop for Gate<'_> {
    fn drop(&mut self) {
        if matches!(self, Gate::Exclusive(_)) {
            EXCLUSIVE.set(false);
        }
    }
}

/// The persistence jobs' shared state: what INFO persistence reports and
/// what keeps two snapshots from running at once. The jobs themselves are
/// `crate::persist`'s.
pub struct Persistence {
    /// The dataset is loading (commands without the LOADING flag wait).
    pub loading: std::sync::atomic::AtomicBool,
    pub loading_started: AtomicU64,
    pub loading_total_bytes: AtomicU64,
    pub loading_loaded_bytes: AtomicU64,
    /// A snapshot is being written (SAVE or BGSAVE): one at a time.
    pub saving: std::sync::atomic::AtomicBool,
    /// The snapshot in progress is a background one (BGSAVE, save points).
    pub bgsave_in_progress: std::sync::atomic::AtomicBool,
    /// BGSAVE SCHEDULE while another save runs: it follows.
    pub bgsave_scheduled: std::sync::atomic::AtomicBool,
    pub last_bgsave_ok: std::sync::atomic::AtomicBool,
    /// When the snapshot in progress began (ms), and the last one's length (s; -1: none).
    pub save_started_ms: AtomicU64,
    pub last_bgsave_secs: std::sync::atomic::AtomicI64,
    /// When the last failed background save was tried (s), for the retry delay.
    pub last_bgsave_try: AtomicU64,
    /// The keyspace's change counter as covered by the last good save.
    pub dirty_saved: AtomicU64,
    /// The change counter when the snapshot in progress began.
    pub dirty_at_start: AtomicU64,
    pub saves: AtomicU64,
    /// The last snapshot's peak of bytes held for entries written during it.
    pub last_snapshot_peak: AtomicU64,
    /// Entries the last snapshot serialised early, a writer coming first.
    pub last_preserved: AtomicU64,
    pub keys_loaded: AtomicU64,
    pub keys_expired_on_load: AtomicU64,
    /// SHUTDOWN already decided about the final save (made it, or NOSAVE).
    pub final_save_done: std::sync::atomic::AtomicBool,
    pub aof: aof::AofState,
}

impl Default for Persistence {
    fn default() -> Persistence {
        Persistence {
            loading: Default::default(),
            loading_started: Default::default(),
            loading_total_bytes: Default::default(),
            loading_loaded_bytes: Default::default(),
            saving: Default::default(),
            bgsave_in_progress: Default::default(),
            bgsave_scheduled: Default::default(),
            last_bgsave_ok: std::sync::atomic::AtomicBool::new(true),
            save_started_ms: Default::default(),
            last_bgsave_secs: std::sync::atomic::AtomicI64::new(-1),
            last_bgsave_try: Default::default(),
            dirty_saved: Default::default(),
            dirty_at_start: Default::default(),
            saves: Default::default(),
            last_snapshot_peak: Default::default(),
            last_preserved: Default::default(),
            keys_loaded: Default::default(),
            keys_expired_on_load: Default::default(),
            final_save_done: Default::default(),
            aof: aof::AofState::new(),
        }
    }
}

/// State shared by every connection of one node.
pub struct Server {
    pub keyspace: Keyspace,
    pub config: Arc<RuntimeConfig>,
    /// The Lua state, the script cache and the running script's state.
    pub scripting: crate::script::Scripting,
    /// Parallel to the command table (`command::COMMANDS`).
    pub command_stats: Vec<CommandStat>,
    pub clients: Mutex<HashMap<u64, Arc<ClientInfo>>>,
    next_client_id: AtomicU64,
    pub stats: NetStats,
    pub started: Instant,
    pub run_id: String,
    pub lastsave: AtomicU64,
    pub persistence: Persistence,
    /// Commands run holding this shared; EXEC holds it exclusively, so a
    /// transaction never interleaves with another client's command.
    exec_gate: std::sync::RwLock<()>,
    /// Clients in MONITOR mode and their feed.
    pub monitors: monitor::Monitors,
    pub slowlog: slowlog::SlowLog,
    /// Fencing tokens of LOCK.ACQUIRE.
    pub locks: crate::lock::LockManager,
    /// Prepared cross-node transactions, their key locks and decisions.
    pub txns: crate::txn::TxnTable,
    /// Channels and patterns and their subscribers.
    pub pubsub: Arc<pubsub::PubSub>,
    /// Client-side caching (CLIENT TRACKING).
    pub tracking: tracking::Tracking,
    /// Replicas attached (INFO replication, ROLE).
    pub replicas: replicas::Replicas,
    /// Notified once when the server must stop (SHUTDOWN, signal).
    pub shutdown: Notify,
    shutting_down: std::sync::atomic::AtomicBool,
    /// This server, for jobs that outlive the command starting them.
    me: std::sync::OnceLock<std::sync::Weak<Server>>,
}

impl Server {
    /// A node with `commands` entries in its command table.
    pub fn new(config: Arc<RuntimeConfig>, commands: usize) -> Arc<Server> {
        let run_id: String = (0..40).map(|_| std::char::from_digit((crate::util::random_u64() % 16) as u32, 16).unwrap_or('0')).collect();
        let keyspace = Keyspace::new(config.clone());
        let txns = crate::txn::TxnTable::new(keyspace.waits.clone());
        // keyspace notifications are published like any message
        let pubsub = Arc::new(pubsub::PubSub::new());
        let (ps, cfg) = (Arc::clone(&pubsub), Arc::clone(&config));
        keyspace.notify.connect(Box::new(move |channel, message| {
            ps.publish(channel, message, false, &cfg.output_limits[2]);
        }));
        let server = Arc::new(Server {
            keyspace,
            scripting: crate::script::Scripting::default(),
            config,
            command_stats: (0..commands).map(|_| CommandStat::default()).collect(),
            clients: Mutex::new(HashMap::new()),
            next_client_id: AtomicU64::new(1),
            stats: NetStats::default(),
            started: Instant::now(),
            run_id,
            lastsave: AtomicU64::new(crate::util::now_ms() / 1000),
            persistence: Persistence::default(),
            exec_gate: std::sync::RwLock::new(()),
            monitors: monitor::Monitors::default(),
            slowlog: slowlog::SlowLog::default(),
            locks: crate::lock::LockManager::default(),
            txns,
            pubsub,
            tracking: tracking::Tracking::default(),
            replicas: replicas::Replicas::default(),
            shutdown: Notify::new(),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
            me: std::sync::OnceLock::new(),
        });
        let _ = server.me.set(Arc::downgrade(&server));
        // prepared records and decisions go through the effect log (the
        // AOF makes them durable)
        let weak = Arc::downgrade(&server);
        server.txns.set_journal(Box::new(move |db, effect| {
            if let Some(s) = weak.upgrade()
                && s.keyspace.effects.keeping()
            {
                s.keyspace.effects.append(db, effect());
            }
        }));
        // a changed key reaches the clients tracking it
        let weak = Arc::downgrade(&server);
        server.keyspace.notify.connect_tracking(Box::new(move |key| {
            if let Some(s) = weak.upgrade() {
                s.tracking.invalidate(key, &|id| s.tracking_target(id), &s.config.output_limits[2]);
            }
        }));
        server
    }

    /// A client as a tracking redirect target: gone (`None`), or its
    /// outbox and whether it is in pub/sub mode.
    pub fn tracking_target(&self, id: u64) -> Option<(Option<Arc<pubsub::Outbox>>, bool)> {
        let clients = self.clients();
        let info = clients.get(&id)?;
        let subscribed = info.subs.load(Ordering::Relaxed) + info.psubs.load(Ordering::Relaxed) + info.ssubs.load(Ordering::Relaxed) > 0;
        Some((info.outbox.get().and_then(std::sync::Weak::upgrade), subscribed))
    }

    /// Keeps the store's tracking hook on while any client tracks.
    pub fn note_tracking(&self) {
        self.keyspace.notify.tracking_on.store(self.tracking.is_active(), Ordering::Relaxed);
    }

    /// After a command: BCAST invalidations collected while it ran go out.
    pub fn tracking_after_command(&self) {
        if self.keyspace.notify.tracking_on.load(Ordering::Relaxed) && self.tracking.pending() {
            self.tracking.broadcast(&|id| self.tracking_target(id), &self.config.output_limits[2]);
        }
    }

    /// FLUSHALL / FLUSHDB: every tracking client's cache is invalid.
    pub fn tracking_flush(&self) {
        if self.keyspace.notify.tracking_on.load(Ordering::Relaxed) {
            self.tracking.flush(&|id| self.tracking_target(id), &self.config.output_limits[2]);
        }
    }

    /// The id of a new connection.
    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ClientInfo>>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Held while a command runs; many at once.
    pub fn gate_shared(&self) -> Gate<'_> {
        Gate::Shared(self.exec_gate.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The shared gate if it is free now (background tasks must not block
    /// a worker thread).
    pub fn try_gate_shared(&self) -> Option<Gate<'_>> {
        match self.exec_gate.try_read() {
            Ok(g) => Some(Gate::Shared(g)),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(Gate::Shared(p.into_inner())),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Held while EXEC runs; nothing else runs meanwhile.
    pub fn gate_exclusive(&self) -> Gate<'_> {
        let g = Gate::Exclusive(self.exec_gate.write().unwrap_or_else(|p| p.into_inner()));
        EXCLUSIVE.set(true);
        g
    }

    /// The exclusive gate, or `None` when this thread already holds it
    /// (SAVE inside EXEC).
    pub fn gate_exclusive_unless_held(&self) -> Option<Gate<'_>> {
        (!EXCLUSIVE.get()).then(|| self.gate_exclusive())
    }

    /// Asks the server to stop accepting and close every connection.
    pub fn request_shutdown(&self) {
        if !self.shutting_down.swap(true, Ordering::SeqCst) {
            self.shutdown.notify_one();
        }
    }

    /// This server as an `Arc` (a background job keeps it).
    pub fn arc(&self) -> Arc<Server> {
        self.me.get().and_then(std::sync::Weak::upgrade).expect("a server lives in an Arc")
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}
