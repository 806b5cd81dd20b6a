//! The participant side of cross-node transactions (two-phase commit).
//!
//! The proxy coordinates; each node keeps, for the transactions it takes
//! part in:
//!
//! - **prepared** records: the node's share of the commands, the keys they
//!   lock, who the primary is, and when the coordinator's silence means it
//!   is gone;
//! - **key locks**: a key locked by a prepared transaction makes ordinary
//!   commands on it wait until the transaction is decided (isolation: no
//!   client sees a transaction half applied);
//! - **decisions**: committed / aborted per transaction id, kept for a while
//!   so repeated or late messages get a consistent answer. At the primary
//!   participant the decision record is the commit point.
//!
//! The state machine is pure (no I/O): `src/command/txn.rs` drives it from
//! the `TXN.*` commands and the recovery task asks primaries over the
//! network. Legal transitions: unknown → prepared → committed | aborted;
//! unknown → aborted (a primary asked about a transaction it never saw
//! records "aborted", which makes a late prepare or commit impossible).
//! Commit and abort are idempotent; commit after abort and abort after
//! commit are errors. See `docs/2pc.md`.

pub mod recovery;

use crate::lock::Waiter;
use crate::store::Key;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub type TxId = Bytes;

/// How long decisions are remembered.
const DECISION_TTL: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Committed,
    Aborted,
}

impl Decision {
    pub fn name(self) -> &'static str {
        match self {
            Decision::Committed => "committed",
            Decision::Aborted => "aborted",
        }
    }
}

/// A transaction prepared on this node.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub db: usize,
    pub keys: Vec<Key>,
    pub commands: Vec<Vec<Bytes>>,
    pub is_primary: bool,
    pub primary: String,
    pub prepared_at: Instant,
    pub timeout: Duration,
    /// A recovery query to the primary is in flight.
    pub resolving: bool,
}

/// What a transaction looks like from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Unknown,
    Prepared,
    Decided(Decision),
}

/// The answer to a prepare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrepareOutcome {
    Prepared,
    /// Prepared before (a repeated message): still prepared.
    AlreadyPrepared,
    /// A key is locked by another prepared transaction: vote no, retry.
    Locked(TxId),
    /// Already decided: a stale or late prepare.
    Decided(Decision),
}

#[derive(Default)]
struct Inner {
    prepared: HashMap<TxId, Prepared>,
    decisions: HashMap<TxId, (Decision, Instant)>,
    locks: HashMap<(usize, Key), TxId>,
    /// Commands waiting for a locked key; woken on every decision.
    waiters: Vec<Arc<Waiter>>,
}

/// All 2PC state of one node.
#[derive(Default)]
pub struct TxnTable {
    inner: Mutex<Inner>,
    /// Transactions this node resolved by itself after the coordinator went
    /// quiet: committed (learnt from the primary), aborted.
    pub recovered_commits: std::sync::atomic::AtomicU64,
    pub recovered_aborts: std::sync::atomic::AtomicU64,
    /// Keys locked right now; read without the lock on every command.
    locked: AtomicUsize,
}

impl TxnTable {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True when no key is locked: the hot path's only cost.
    pub fn is_idle(&self) -> bool {
        self.locked.load(Ordering::SeqCst) == 0
    }

    pub fn status(&self, txid: &[u8]) -> Status {
        let inner = self.lock();
        if let Some((d, _)) = inner.decisions.get(txid) {
            return Status::Decided(*d);
        }
        if inner.prepared.contains_key(txid) { Status::Prepared } else { Status::Unknown }
    }

    /// Phase 1: lock `p.keys` for `txid` and record it, or say why not.
    pub fn prepare(&self, txid: TxId, p: Prepared) -> PrepareOutcome {
        let mut inner = self.lock();
        if let Some((d, _)) = inner.decisions.get(&txid) {
            return PrepareOutcome::Decided(*d);
        }
        if inner.prepared.contains_key(&txid) {
            return PrepareOutcome::AlreadyPrepared;
        }
        for k in &p.keys {
            if let Some(other) = inner.locks.get(&(p.db, k.clone())) {
                return PrepareOutcome::Locked(other.clone());
            }
        }
        for k in &p.keys {
            if inner.locks.insert((p.db, k.clone()), txid.clone()).is_none() {
                self.locked.fetch_add(1, Ordering::SeqCst);
            }
        }
        inner.prepared.insert(txid, p);
        PrepareOutcome::Prepared
    }

    /// The transaction holding `key` of `db`, if any.
    pub fn locked_by(&self, db: usize, key: &[u8]) -> Option<TxId> {
        if self.is_idle() {
            return None;
        }
        self.lock().locks.get(&(db, Key::from(key))).cloned()
    }

    /// Registers a command waiting for a locked key; it is woken when any
    /// transaction is decided and then checks again.
    pub fn add_waiter(&self, w: &Arc<Waiter>) {
        let mut inner = self.lock();
        if !inner.waiters.iter().any(|x| Arc::ptr_eq(x, w)) {
            inner.waiters.push(w.clone());
        }
    }

    /// The prepared record, for commit (which applies it, then calls
    /// [`finish`](Self::finish)). Errors tell why there is nothing to commit.
    pub fn prepared(&self, txid: &[u8]) -> Result<Prepared, Status> {
        let inner = self.lock();
        match inner.prepared.get(txid) {
            Some(p) => Ok(p.clone()),
            None => Err(match inner.decisions.get(txid) {
                Some((d, _)) => Status::Decided(*d),
                None => Status::Unknown,
            }),
        }
    }

    /// Records the decision, releases the transaction's keys and wakes the
    /// commands waiting for them.
    pub fn finish(&self, txid: &TxId, decision: Decision) {
        let mut inner = self.lock();
        if let Some(p) = inner.prepared.remove(txid) {
            for k in p.keys {
                if inner.locks.get(&(p.db, k.clone())) == Some(txid) {
                    inner.locks.remove(&(p.db, k));
                    self.locked.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
        inner.decisions.insert(txid.clone(), (decision, Instant::now()));
        for w in inner.waiters.drain(..) {
            w.wake();
        }
    }

    /// Abort: legal for a prepared or unknown transaction (recording
    /// "aborted" so that a late prepare fails); an error after commit.
    pub fn abort(&self, txid: &TxId) -> Result<(), Decision> {
        match self.status(txid) {
            Status::Decided(Decision::Committed) => Err(Decision::Committed),
            _ => {
                self.finish(txid, Decision::Aborted);
                Ok(())
            }
        }
    }

    /// The primary's answer to "what happened to `txid`?": a decision, or
    /// "prepared" while its own prepare has not timed out. Never seen here
    /// means it can never commit: recorded as aborted.
    pub fn primary_status(&self, txid: &TxId) -> Status {
        match self.status(txid) {
            Status::Unknown => {
                self.finish(txid, Decision::Aborted);
                Status::Decided(Decision::Aborted)
            }
            s => s,
        }
    }

    /// Prepared transactions past their timeout that need recovery, marked
    /// as being resolved: (txid, is_primary, primary address).
    pub fn due_for_recovery(&self, now: Instant) -> Vec<(TxId, bool, String)> {
        let mut inner = self.lock();
        inner.decisions.retain(|_, (_, at)| now.duration_since(*at) < DECISION_TTL);
        let mut due = Vec::new();
        for (txid, p) in inner.prepared.iter_mut() {
            if !p.resolving && now.duration_since(p.prepared_at) >= p.timeout {
                p.resolving = true;
                due.push((txid.clone(), p.is_primary, p.primary.clone()));
            }
        }
        due
    }

    /// A recovery query finished without a decision: try again later.
    pub fn retry_later(&self, txid: &[u8]) {
        if let Some(p) = self.lock().prepared.get_mut(txid) {
            p.resolving = false;
            p.prepared_at = Instant::now();
        }
    }

    /// In-doubt transactions: (txid, seconds prepared, primary, is primary).
    pub fn in_doubt(&self) -> Vec<(TxId, u64, String, bool)> {
        let inner = self.lock();
        let mut v: Vec<_> = inner.prepared.iter().map(|(id, p)| (id.clone(), p.prepared_at.elapsed().as_secs(), p.primary.clone(), p.is_primary)).collect();
        v.sort();
        v
    }

    pub fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.prepared.len(), inner.decisions.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(keys: &[&str], primary: bool) -> Prepared {
        Prepared {
            db: 0,
            keys: keys.iter().map(|k| k.as_bytes().into()).collect(),
            commands: vec![],
            is_primary: primary,
            primary: "p".into(),
            prepared_at: Instant::now(),
            timeout: Duration::from_millis(0),
            resolving: false,
        }
    }

    fn id(s: &str) -> TxId {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn transitions() {
        let t = TxnTable::default();
        assert_eq!(t.prepare(id("a"), prep(&["x", "y"], false)), PrepareOutcome::Prepared);
        assert_eq!(t.prepare(id("a"), prep(&["x", "y"], false)), PrepareOutcome::AlreadyPrepared);
        assert_eq!(t.prepare(id("b"), prep(&["y"], false)), PrepareOutcome::Locked(id("a")));
        assert_eq!(t.locked_by(0, b"x"), Some(id("a")));
        assert!(t.prepared(b"a").is_ok());
        t.finish(&id("a"), Decision::Committed);
        assert!(t.is_idle());
        // commit twice: the decision stands; abort after commit is an error
        assert_eq!(t.prepared(b"a").unwrap_err(), Status::Decided(Decision::Committed));
        assert_eq!(t.abort(&id("a")), Err(Decision::Committed));
        // prepare after a decision is refused
        assert_eq!(t.prepare(id("a"), prep(&["x"], false)), PrepareOutcome::Decided(Decision::Committed));
        // abort of an unknown transaction records it, so a late prepare fails
        assert_eq!(t.abort(&id("late")), Ok(()));
        assert_eq!(t.prepare(id("late"), prep(&["z"], false)), PrepareOutcome::Decided(Decision::Aborted));
        // commit before prepare: nothing to commit
        assert_eq!(t.prepared(b"never").unwrap_err(), Status::Unknown);
    }

    #[test]
    fn primary_answers_aborted_for_the_unknown() {
        let t = TxnTable::default();
        assert_eq!(t.primary_status(&id("q")), Status::Decided(Decision::Aborted));
        assert_eq!(t.prepare(id("q"), prep(&["k"], true)), PrepareOutcome::Decided(Decision::Aborted));
        t.prepare(id("r"), prep(&["k"], true));
        assert_eq!(t.primary_status(&id("r")), Status::Prepared);
    }

    #[test]
    fn recovery_marks_due_transactions_once() {
        let t = TxnTable::default();
        t.prepare(id("a"), prep(&["k"], false));
        assert_eq!(t.due_for_recovery(Instant::now()).len(), 1);
        assert_eq!(t.due_for_recovery(Instant::now()).len(), 0);
        t.retry_later(b"a");
        assert_eq!(t.in_doubt().len(), 1);
    }
}
