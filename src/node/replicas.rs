//! The replicas attached to this node, as INFO replication and ROLE list
//! them: where each listens, how far its synchronisation got, and the
//! offset it last acknowledged (`REPLCONF ACK`).

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One replica's connection.
pub struct Replica {
    pub client_id: u64,
    pub ip: String,
    /// `REPLCONF listening-port` (0 when it said none).
    pub port: i64,
    state: AtomicU8,
    /// The offset it last acknowledged, and when (Unix seconds).
    pub ack_offset: AtomicU64,
    pub ack_time: AtomicU64,
    /// The effect-log offset its acknowledgement covers (its own count
    /// also has the SELECTs and PINGs of the stream).
    pub acked_effects: AtomicU64,
}

/// Where a replica's synchronisation is, in Redis's words.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReplicaState {
    /// Waiting for the snapshot to begin (another save runs).
    WaitBgsave,
    /// The snapshot is being sent.
    SendBulk,
    /// Following the command stream.
    Online,
}

impl Replica {
    pub fn set_state(&self, s: ReplicaState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    pub fn is_online(&self) -> bool {
        self.state.load(Ordering::Relaxed) == ReplicaState::Online as u8
    }

    pub fn state(&self) -> &'static str {
        match self.state.load(Ordering::Relaxed) {
            0 => "wait_bgsave",
            1 => "send_bulk",
            _ => "online",
        }
    }

    /// `REPLCONF ACK <offset>` from it.
    pub fn acknowledged(&self, offset: u64) {
        self.ack_offset.fetch_max(offset, Ordering::Relaxed);
        self.ack_time.store(crate::util::now_ms() / 1000, Ordering::Relaxed);
    }
}

#[derive(Default)]
pub struct Replicas {
    list: Mutex<Vec<Arc<Replica>>>,
    /// Full synchronisations served (INFO stats `sync_full`).
    pub full_syncs: AtomicU64,
    /// WAIT asks every replica for an acknowledgement now
    /// (`REPLCONF GETACK *` in its stream).
    pub getack: tokio::sync::Notify,
}

impl Replicas {
    /// A replica attaches; it is listed until the returned guard drops.
    pub fn attach(&self, client_id: u64, ip: String, port: i64) -> Attached<'_> {
        let r = Arc::new(Replica {
            client_id,
            ip,
            port,
            state: AtomicU8::new(ReplicaState::WaitBgsave as u8),
            ack_offset: AtomicU64::new(0),
            ack_time: AtomicU64::new(crate::util::now_ms() / 1000),
            acked_effects: AtomicU64::new(0),
        });
        self.lock().push(Arc::clone(&r));
        Attached { replicas: self, replica: r }
    }

    /// Online replicas whose acknowledgements cover the effect log up to
    /// `offset`.
    pub fn acknowledged(&self, offset: u64) -> usize {
        self.lock().iter().filter(|r| r.is_online() && r.acked_effects.load(Ordering::Acquire) >= offset).count()
    }

    /// Online replicas that acknowledged within `max_lag` seconds (the
    /// good ones of `min-replicas-to-write`).
    pub fn good(&self, max_lag: u64) -> usize {
        let now = crate::util::now_ms() / 1000;
        self.lock().iter().filter(|r| r.is_online() && now.saturating_sub(r.ack_time.load(Ordering::Relaxed)) <= max_lag).count()
    }

    /// The replicas now, in the order they attached.
    pub fn list(&self) -> Vec<Arc<Replica>> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Replica>>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A listed replica; dropping it takes it off the list.
pub struct Attached<'a> {
    replicas: &'a Replicas,
    pub replica: Arc<Replica>,
}

impl Drop for Attached<'_> {
    fn drop(&mut self) {
        self.replicas.lock().retain(|r| !Arc::ptr_eq(r, &self.replica));
    }
}
