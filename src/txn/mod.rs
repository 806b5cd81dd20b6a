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
//!   client sees a transaction half applied); they wait in the key's queue
//!   of the node's one wait registry, and a decision releasing the key is
//!   an event on it there;
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

pub mod secret;

use crate::store::Key;
use crate::store::wait::WaitRegistry;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub type TxId = Bytes;

/// How long a primary keeps a commit decision that no coordinator has
/// released with `TXN.FORGET` (a secondary may still ask for it).
const PINNED_TTL: Duration = Duration::from_secs(600);
/// How long other decisions are kept, and how many at most. Forgetting
/// them is safe: a primary answers "aborted" for what it does not know
/// (presumed abort), and a forgotten decision elsewhere only loses an
/// idempotent answer.
const RECENT_TTL: Duration = Duration::from_secs(60);
const RECENT_MAX: usize = 100_000;

/// Bounds a node puts on what coordinators may ask of it.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Prepared transactions at once (`txn-max-prepared`); past it a
    /// prepare is refused (`-TXNBUSY`) and the transaction aborts.
    pub max_prepared: usize,
    /// Commit decisions a primary keeps for its secondaries at once; the
    /// same bound: a primary prepare past it is refused.
    pub max_pinned: usize,
}

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
    /// This node holds as many prepared transactions (or, as primary, as
    /// many unreleased commit decisions) as it may.
    Full,
}

/// A decision and when it was taken.
#[derive(Debug, Clone, Copy)]
struct Kept {
    decision: Decision,
    at: Instant,
    /// A commit at the primary that a secondary may still need to learn:
    /// kept until `TXN.FORGET` or [`PINNED_TTL`].
    pinned: bool,
}

#[derive(Default)]
struct Inner {
    prepared: HashMap<TxId, Prepared>,
    decisions: HashMap<TxId, Kept>,
    /// Decisions in the order taken, for expiry: unpinned ones, and pinned
    /// ones (an entry released by FORGET moves to `recent`; the stale
    /// `pinned` entry is skipped when it comes up).
    recent: VecDeque<(TxId, Instant)>,
    pinned: VecDeque<(TxId, Instant)>,
    pinned_count: usize,
    locks: HashMap<(usize, Key), TxId>,
}

/// Where the table's changes go to be durable: the effect log (so the AOF
/// and replicas get them), as the commands that re-create them on replay:
/// `TXN.RECORD` for a prepared transaction, `TXN.DECIDED` for a decision.
/// It is given the database and a maker of the effect (called only when
/// the log keeps effects).
pub type Journal = Box<dyn Fn(usize, &mut dyn FnMut() -> Vec<Bytes>) + Send + Sync>;

/// `TXN.RECORD txid PRIMARY|SECONDARY primary timeout-ms db nkeys key...
/// n argc arg...`: a prepared record as replay re-creates it.
pub fn record_effect(txid: &TxId, p: &Prepared) -> Vec<Bytes> {
    let n = |x: usize| Bytes::from(x.to_string());
    let mut args = vec![
        Bytes::from_static(b"TXN.RECORD"),
        txid.clone(),
        Bytes::from_static(if p.is_primary { b"PRIMARY" } else { b"SECONDARY" }),
        Bytes::from(p.primary.clone()),
        Bytes::from(p.timeout.as_millis().max(1).to_string()),
        n(p.db),
        n(p.keys.len()),
    ];
    args.extend(p.keys.iter().map(|k| Bytes::copy_from_slice(k)));
    args.push(n(p.commands.len()));
    for c in &p.commands {
        args.push(n(c.len()));
        args.extend(c.iter().cloned());
    }
    args
}

/// `TXN.DECIDED txid COMMITTED|ABORTED [PINNED]` (PINNED: a primary's
/// commit kept for its secondaries).
pub fn decided_effect(txid: &TxId, d: Decision, pinned: bool) -> Vec<Bytes> {
    let mut args = vec![Bytes::from_static(b"TXN.DECIDED"), txid.clone(), Bytes::from_static(if d == Decision::Committed { b"COMMITTED" } else { b"ABORTED" })];
    if pinned {
        args.push(Bytes::from_static(b"PINNED"));
    }
    args
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
    /// Where commands wait for locked keys: told when a key is released.
    waits: Arc<WaitRegistry>,
    journal: std::sync::OnceLock<Journal>,
}

impl TxnTable {
    /// A table whose key releases wake the commands waiting in `waits`.
    pub fn new(waits: Arc<WaitRegistry>) -> TxnTable {
        TxnTable { waits, ..Default::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes prepared records and decisions durable through `journal`.
    pub fn set_journal(&self, journal: Journal) {
        let _ = self.journal.set(journal);
    }

    /// Appends to the effect log; called with the table's lock held, so
    /// the log's order is the table's (lock order: this table, then the
    /// effect log).
    fn journal(&self, db: usize, mut effect: impl FnMut() -> Vec<Bytes>) {
        if let Some(j) = self.journal.get() {
            j(db, &mut effect);
        }
    }

    /// True when no key is locked: the hot path's only cost.
    pub fn is_idle(&self) -> bool {
        self.locked.load(Ordering::SeqCst) == 0
    }

    pub fn status(&self, txid: &[u8]) -> Status {
        let inner = self.lock();
        if let Some(k) = inner.decisions.get(txid) {
            return Status::Decided(k.decision);
        }
        if inner.prepared.contains_key(txid) { Status::Prepared } else { Status::Unknown }
    }

    /// Phase 1: lock `p.keys` for `txid` and record it, or say why not.
    pub fn prepare(&self, txid: TxId, p: Prepared, limits: Limits) -> PrepareOutcome {
        let mut inner = self.lock();
        if let Some(k) = inner.decisions.get(&txid) {
            return PrepareOutcome::Decided(k.decision);
        }
        if inner.prepared.contains_key(&txid) {
            return PrepareOutcome::AlreadyPrepared;
        }
        if inner.prepared.len() >= limits.max_prepared || (p.is_primary && inner.pinned_count >= limits.max_pinned) {
            return PrepareOutcome::Full;
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
        // journaled under the table's lock, as every change of it is: the
        // log has a record before anyone can see it or decide it
        self.journal(p.db, || record_effect(&txid, &p));
        inner.prepared.insert(txid, p);
        PrepareOutcome::Prepared
    }

    /// (is primary, primary address) of a transaction prepared here.
    pub fn role(&self, txid: &[u8]) -> Option<(bool, String)> {
        self.lock().prepared.get(txid).map(|p| (p.is_primary, p.primary.clone()))
    }

    /// The transaction holding `key` of `db`, if any.
    pub fn locked_by(&self, db: usize, key: &[u8]) -> Option<TxId> {
        if self.is_idle() {
            return None;
        }
        self.lock().locks.get(&(db, Key::from(key))).cloned()
    }

    /// The prepared record, for commit (which applies it, then calls
    /// [`finish`](Self::finish)). Errors tell why there is nothing to commit.
    pub fn prepared(&self, txid: &[u8]) -> Result<Prepared, Status> {
        let inner = self.lock();
        match inner.prepared.get(txid) {
            Some(p) => Ok(p.clone()),
            None => Err(match inner.decisions.get(txid) {
                Some(k) => Status::Decided(k.decision),
                None => Status::Unknown,
            }),
        }
    }

    /// Records the decision, releases the transaction's keys and wakes the
    /// commands waiting for them.
    /// The first decision for a transaction stands; a repeated one changes
    /// nothing.
    pub fn finish(&self, txid: &TxId, decision: Decision) {
        self.finish_as(txid, decision, None)
    }

    /// [`finish`](Self::finish) of a journaled decision: pinned as it was.
    pub fn restore_decision(&self, txid: &TxId, decision: Decision, pinned: bool) {
        self.finish_as(txid, decision, Some(pinned))
    }

    /// Journals the whole table (every prepared record and kept decision):
    /// what a new AOF base must be followed by, as the snapshot holds no
    /// 2PC state.
    pub fn journal_state(&self) {
        // under the lock: no change of the table comes between
        let inner = self.lock();
        for (txid, k) in &inner.decisions {
            self.journal(0, || decided_effect(txid, k.decision, k.pinned));
        }
        for (txid, p) in &inner.prepared {
            self.journal(p.db, || record_effect(txid, p));
        }
    }

    fn finish_as(&self, txid: &TxId, decision: Decision, pinned_as: Option<bool>) {
        let mut inner = self.lock();
        let now = Instant::now();
        let mut was_primary = false;
        let mut released = Vec::new();
        if let Some(p) = inner.prepared.remove(txid) {
            was_primary = p.is_primary;
            for k in p.keys {
                if inner.locks.get(&(p.db, k.clone())) == Some(txid) {
                    inner.locks.remove(&(p.db, k.clone()));
                    self.locked.fetch_sub(1, Ordering::SeqCst);
                    released.push((p.db, k));
                }
            }
        }
        let new = !inner.decisions.contains_key(txid);
        let pinned = pinned_as.unwrap_or(was_primary && decision == Decision::Committed);
        if new {
            inner.decisions.insert(txid.clone(), Kept { decision, at: now, pinned });
            if pinned {
                inner.pinned_count += 1;
                inner.pinned.push_back((txid.clone(), now));
            } else {
                inner.recent.push_back((txid.clone(), now));
            }
        }
        inner.expire_decisions(now);
        if new {
            // before the lock goes: nobody learns a decision (TXN.STATUS)
            // that the log does not have yet
            self.journal(0, || decided_effect(txid, decision, pinned));
        }
        drop(inner);
        for (db, k) in released {
            self.waits.key_changed(db, &k);
        }
    }

    /// `TXN.FORGET`: every participant has the primary's commit, so the
    /// primary need not keep it for them any longer.
    pub fn forget(&self, txid: &[u8]) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        if let Some(k) = inner.decisions.get_mut(txid)
            && k.pinned
        {
            k.pinned = false;
            inner.pinned_count -= 1;
            inner.recent.push_back((Bytes::copy_from_slice(txid), k.at));
            self.journal(0, || vec![Bytes::from_static(b"TXN.FORGET"), Bytes::copy_from_slice(txid)]);
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
        inner.expire_decisions(now);
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

    /// (prepared, decisions kept, of which commits kept for secondaries).
    pub fn counts(&self) -> (usize, usize, usize) {
        let inner = self.lock();
        (inner.prepared.len(), inner.decisions.len(), inner.pinned_count)
    }
}

impl Inner {
    /// Drops decisions past their time, and the oldest unpinned ones past
    /// [`RECENT_MAX`]. Amortised O(1) per decision.
    fn expire_decisions(&mut self, now: Instant) {
        while let Some((id, at)) = self.recent.front() {
            let over = self.recent.len() > RECENT_MAX;
            if !over && now.duration_since(*at) < RECENT_TTL {
                break;
            }
            let (id, at) = (id.clone(), *at);
            self.recent.pop_front();
            if self.decisions.get(&id).is_some_and(|k| !k.pinned && k.at == at) {
                self.decisions.remove(&id);
            }
        }
        while let Some((id, at)) = self.pinned.front() {
            if now.duration_since(*at) < PINNED_TTL {
                break;
            }
            let id = id.clone();
            self.pinned.pop_front();
            if self.decisions.get(&id).is_some_and(|k| k.pinned) {
                self.decisions.remove(&id);
                self.pinned_count -= 1;
            }
        }
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

    const L: Limits = Limits { max_prepared: 100, max_pinned: 100 };

    fn id(s: &str) -> TxId {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn transitions() {
        let t = TxnTable::default();
        assert_eq!(t.prepare(id("a"), prep(&["x", "y"], false), L), PrepareOutcome::Prepared);
        assert_eq!(t.prepare(id("a"), prep(&["x", "y"], false), L), PrepareOutcome::AlreadyPrepared);
        assert_eq!(t.prepare(id("b"), prep(&["y"], false), L), PrepareOutcome::Locked(id("a")));
        assert_eq!(t.locked_by(0, b"x"), Some(id("a")));
        assert!(t.prepared(b"a").is_ok());
        t.finish(&id("a"), Decision::Committed);
        assert!(t.is_idle());
        // commit twice: the decision stands; abort after commit is an error
        assert_eq!(t.prepared(b"a").unwrap_err(), Status::Decided(Decision::Committed));
        assert_eq!(t.abort(&id("a")), Err(Decision::Committed));
        // prepare after a decision is refused
        assert_eq!(t.prepare(id("a"), prep(&["x"], false), L), PrepareOutcome::Decided(Decision::Committed));
        // abort of an unknown transaction records it, so a late prepare fails
        assert_eq!(t.abort(&id("late")), Ok(()));
        assert_eq!(t.prepare(id("late"), prep(&["z"], false), L), PrepareOutcome::Decided(Decision::Aborted));
        // commit before prepare: nothing to commit
        assert_eq!(t.prepared(b"never").unwrap_err(), Status::Unknown);
    }

    #[test]
    fn primary_answers_aborted_for_the_unknown() {
        let t = TxnTable::default();
        assert_eq!(t.primary_status(&id("q")), Status::Decided(Decision::Aborted));
        assert_eq!(t.prepare(id("q"), prep(&["k"], true), L), PrepareOutcome::Decided(Decision::Aborted));
        t.prepare(id("r"), prep(&["k"], true), L);
        assert_eq!(t.primary_status(&id("r")), Status::Prepared);
    }

    #[test]
    fn recovery_marks_due_transactions_once() {
        let t = TxnTable::default();
        t.prepare(id("a"), prep(&["k"], false), L);
        assert_eq!(t.due_for_recovery(Instant::now()).len(), 1);
        assert_eq!(t.due_for_recovery(Instant::now()).len(), 0);
        t.retry_later(b"a");
        assert_eq!(t.in_doubt().len(), 1);
    }

    #[test]
    fn bounded_prepared_and_pinned_commits() {
        let t = TxnTable::default();
        let tight = Limits { max_prepared: 2, max_pinned: 1 };
        assert_eq!(t.prepare(id("a"), prep(&["a"], true), tight), PrepareOutcome::Prepared);
        assert_eq!(t.prepare(id("b"), prep(&["b"], false), tight), PrepareOutcome::Prepared);
        assert_eq!(t.prepare(id("c"), prep(&["c"], false), tight), PrepareOutcome::Full);
        // a commit at the primary is kept for its secondaries ...
        t.finish(&id("a"), Decision::Committed);
        assert_eq!(t.counts(), (1, 1, 1));
        assert_eq!(t.prepare(id("d"), prep(&["d"], true), tight), PrepareOutcome::Full);
        assert_eq!(t.prepare(id("e"), prep(&["e"], false), tight), PrepareOutcome::Prepared);
        // ... until they all have it
        t.forget(b"a");
        assert_eq!(t.counts(), (2, 1, 0));
        assert_eq!(t.status(b"a"), Status::Decided(Decision::Committed));
        t.finish(&id("b"), Decision::Aborted);
        t.finish(&id("e"), Decision::Aborted);
        assert_eq!(t.prepare(id("d"), prep(&["d"], true), tight), PrepareOutcome::Prepared);
        // the first decision stands
        t.finish(&id("b"), Decision::Committed);
        assert_eq!(t.status(b"b"), Status::Decided(Decision::Aborted));
    }

    #[test]
    fn decisions_are_bounded() {
        let t = TxnTable::default();
        for i in 0..RECENT_MAX + 10 {
            assert!(t.abort(&Bytes::from(format!("x{i}"))).is_ok());
        }
        let (_, kept, _) = t.counts();
        assert!(kept <= RECENT_MAX + 1, "{kept} decisions kept");
        assert_eq!(t.status(b"x0"), Status::Unknown);
    }
}
