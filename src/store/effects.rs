//! The effect log: every change to the keyspace, in order, as the
//! deterministic command that reproduces it (Redis's propagation form),
//! with a global byte offset. AOF and replication read it; here it is
//! proven by replay (`tests/effects.rs`).
//!
//! **Order.** Effects of a command are appended while the shard locks it
//! took are still held (when its [`super::Locked`] is dropped), so two
//! commands on one key are logged in the order they ran. Expiry and
//! eviction append their `DEL` under the shard lock too, and before the
//! command that found the key expired.
//!
//! **Form.** By default a command that changed something is its own
//! effect. Commands whose effect depends on time or on state rewrite it
//! with [`rewrite`] before releasing their locks: `EXPIRE` -> `PEXPIREAT`,
//! `SET ... EX` -> `SET ... PXAT`, `INCRBYFLOAT` -> `SET ... KEEPTTL`,
//! `BLPOP` -> `LPOP`, an expiry or an eviction -> `DEL`.
//!
//! **Transactions.** EXEC and scripts run under the exclusive gate; the
//! effects of the commands they run are gathered and appended at their end,
//! wrapped in `MULTI` / `EXEC` when there is more than one (as Redis 7.0
//! wraps them), so a reader sees them whole. Cross-node commits (TXN.COMMIT)
//! are gathered the same way.
//!
//! Commands record themselves through a per-thread stack of frames (one per
//! command being executed, nested for EXEC and scripts): handlers need no
//! extra arguments, and the store marks the running command as a writer
//! where it changes a key.

use bytes::Bytes;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One logged effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// The log offset before this effect (bytes of the RESP encoding of
    /// everything logged before it).
    pub offset: u64,
    pub db: usize,
    pub args: Vec<Bytes>,
}

/// Appends `args` as a RESP array of bulk strings (the form replicas and
/// the AOF receive, so the log keeps each effect as exactly those bytes).
pub fn encode(out: &mut Vec<u8>, args: &[Bytes]) {
    fn header(out: &mut Vec<u8>, tag: u8, n: usize) {
        out.push(tag);
        out.extend_from_slice(&crate::util::Decimal::new(n as i64));
        out.extend_from_slice(b"\r\n");
    }
    header(out, b'*', args.len());
    for a in args {
        header(out, b'$', a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Where one kept effect is in the ring.
struct Stored {
    offset: u64,
    db: u32,
    len: u32,
}

struct Inner {
    /// Offset after the newest effect.
    end: u64,
    entries: VecDeque<Stored>,
    /// The kept effects' RESP bytes, oldest first, back to back (as Redis's
    /// replication backlog is one ring of bytes): appending copies into it,
    /// dropping the oldest only moves its start, so a write costs no
    /// allocation and no free.
    ring: VecDeque<u8>,
    /// The append-only file's share: every effect from when it attached,
    /// never dropped, until its writer takes them ([`EffectLog::take_aof`]).
    aof: Option<AofFeed>,
}

/// Effects waiting for the AOF writer, in the file's form: a `SELECT`
/// wherever the database changes, as Redis's `feedAppendOnlyFile` writes.
struct AofFeed {
    buf: Vec<u8>,
    /// The database the last effect in the file selected.
    db: Option<usize>,
}

thread_local! {
    /// Where an effect is encoded before it is copied in under the lock.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

pub struct EffectLog {
    /// Effects are kept only once a reader has attached ([`EffectLog::keep`]),
    /// as Redis creates its replication backlog for the first replica: a
    /// node without readers spends nothing on the log.
    keeping: AtomicBool,
    inner: Mutex<Inner>,
    /// How many bytes of effects are kept for readers (`repl-backlog-size`).
    keep_bytes: Arc<crate::config::RuntimeConfig>,
    /// Readers that follow the log as it grows (a replica's feed): told of
    /// each new effect while there are any.
    followers: AtomicUsize,
    appended: tokio::sync::Notify,
    /// Each follower's position (the next offset it reads); the log keeps
    /// what the slowest has not read, past `repl-backlog-size`, up to the
    /// replica class's `client-output-buffer-limit` hard limit.
    positions: Mutex<Vec<(u64, u64)>>,
    /// The least of `positions` (u64::MAX with none): read on each append.
    held_from: std::sync::atomic::AtomicU64,
}

impl EffectLog {
    pub fn new(config: Arc<crate::config::RuntimeConfig>) -> EffectLog {
        EffectLog {
            keeping: AtomicBool::new(false),
            inner: Mutex::new(Inner { end: 0, entries: VecDeque::new(), ring: VecDeque::new(), aof: None }),
            keep_bytes: config,
            followers: AtomicUsize::new(0),
            appended: tokio::sync::Notify::new(),
            positions: Mutex::new(Vec::new()),
            held_from: std::sync::atomic::AtomicU64::new(u64::MAX),
        }
    }
}

impl EffectLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, db: usize, args: Vec<Bytes>) {
        // Encoded outside the lock; the arguments (which may be slices of a
        // connection's read buffer) are let go at once.
        SCRATCH.with_borrow_mut(|resp| {
            resp.clear();
            encode(resp, &args);
            drop(args);
            let len = resp.len();
            let keep = self.keep_bytes.repl_backlog_size.load(Ordering::Relaxed);
            let mut inner = self.lock();
            let offset = inner.end;
            inner.end += len as u64;
            if let Some(feed) = inner.aof.as_mut() {
                if feed.db != Some(db) {
                    feed.db = Some(db);
                    let n = crate::util::Decimal::new(db as i64);
                    feed.buf.extend_from_slice(format!("*2\r\n$6\r\nSELECT\r\n${}\r\n", n.len()).as_bytes());
                    feed.buf.extend_from_slice(&n);
                    feed.buf.extend_from_slice(b"\r\n");
                }
                feed.buf.extend_from_slice(resp);
            }
            inner.ring.extend(resp.iter());
            inner.entries.push_back(Stored { offset, db: db as u32, len: len as u32 });
            LAST_APPENDED.set(inner.end);
            // past the window, what no follower still needs goes, and
            // beyond the followers' limit the oldest goes anyway (the
            // follower that needed it is dropped when it looks)
            let held = self.held_from.load(Ordering::Acquire);
            let cap = self.keep_bytes.output_limits[1].hard.load(Ordering::Relaxed);
            while inner.ring.len() as u64 > keep
                && inner.entries.len() > 1
                && (inner.entries.front().is_some_and(|e| e.offset < held) || (cap > 0 && inner.ring.len() as u64 > keep + cap))
            {
                let old = inner.entries.pop_front().expect("non-empty");
                inner.ring.drain(..old.len as usize);
            }
            // a burst's memory is given back once the log is small again
            if inner.ring.capacity() > 4096 && inner.ring.len() < inner.ring.capacity() / 4 {
                let half = inner.ring.capacity() / 2;
                inner.ring.shrink_to(half);
            }
            if inner.entries.capacity() > 64 && inner.entries.len() < inner.entries.capacity() / 4 {
                let half = inner.entries.capacity() / 2;
                inner.entries.shrink_to(half);
            }
            // a large effect does not keep its scratch space
            if resp.capacity() > 64 * 1024 {
                *resp = Vec::new();
            }
        });
        if self.followers.load(Ordering::Relaxed) > 0 {
            self.appended.notify_waiters();
        }
    }

    /// The log's end after the last effect this thread appended (0: none
    /// yet): a command's write offset, for WAIT.
    pub fn last_appended_here() -> u64 {
        LAST_APPENDED.get()
    }

    /// From now on effects are kept (a reader attached).
    pub fn keep(&self) {
        self.keeping.store(true, Ordering::Relaxed);
    }

    /// A reader that follows the log from its end now on
    /// ([`EffectLog::appended`] wakes it, and nothing from its position on
    /// is dropped, within the limit): `id` names it in
    /// [`EffectLog::followed_to`] and [`EffectLog::unfollow`].
    pub fn follow(&self, id: u64) {
        self.keep();
        let end = self.end();
        self.lock_positions().push((id, end));
        self.update_held();
        self.followers.fetch_add(1, Ordering::AcqRel);
    }

    /// Follower `id` has read everything before `offset`.
    pub fn followed_to(&self, id: u64, offset: u64) {
        if let Some(p) = self.lock_positions().iter_mut().find(|(i, _)| *i == id) {
            p.1 = offset;
        }
        self.update_held();
    }

    pub fn unfollow(&self, id: u64) {
        self.lock_positions().retain(|(i, _)| *i != id);
        self.update_held();
        self.followers.fetch_sub(1, Ordering::AcqRel);
    }

    fn lock_positions(&self) -> std::sync::MutexGuard<'_, Vec<(u64, u64)>> {
        self.positions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update_held(&self) {
        let least = self.lock_positions().iter().map(|(_, p)| *p).min().unwrap_or(u64::MAX);
        self.held_from.store(least, Ordering::Release);
    }

    /// Completes once an effect is appended after this call (create it
    /// before looking at the log, so none slips in between).
    pub fn appended(&self) -> tokio::sync::futures::Notified<'_> {
        self.appended.notified()
    }

    /// Whether effects are kept.
    pub fn keeping(&self) -> bool {
        self.keeping.load(Ordering::Relaxed)
    }

    /// Appends an effect, or gathers it into the running transaction.
    pub fn append(&self, db: usize, args: Vec<Bytes>) {
        if !self.keeping() {
            return;
        }
        let gathered = FRAMES.with(|f| {
            let mut frames = f.borrow_mut();
            match frames.iter_mut().rev().find(|fr| fr.gather) {
                Some(fr) => {
                    fr.gathered.push((db, args.clone()));
                    true
                }
                None => false,
            }
        });
        if !gathered {
            self.push(db, args);
        }
    }

    /// `DEL key`: an expiry or an eviction.
    pub fn append_del(&self, db: usize, key: &[u8]) {
        self.append(db, vec![Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)]);
    }

    /// Heap the kept effects take (INFO `mem_not_counted_for_evict`).
    pub fn memory(&self) -> u64 {
        let inner = self.lock();
        (inner.ring.capacity() + inner.entries.capacity() * std::mem::size_of::<Stored>() + inner.aof.as_ref().map_or(0, |f| f.buf.capacity())) as u64
    }

    /// The AOF attaches (or, `false`, detaches): from now on every effect
    /// is also kept for it until taken. The next one starts with a SELECT.
    pub fn feed_aof(&self, on: bool) {
        if on {
            self.keep();
        }
        self.lock().aof = on.then(|| AofFeed { buf: Vec::new(), db: None });
    }

    /// The effects for the AOF since the last take, in the file's form,
    /// and the log offset they reach. With `restart`, the next effect
    /// selects its database again (it opens a new file).
    pub fn take_aof(&self, restart: bool) -> (Vec<u8>, u64) {
        let mut inner = self.lock();
        let end = inner.end;
        match inner.aof.as_mut() {
            Some(feed) => {
                if restart {
                    feed.db = None;
                }
                // the next burst starts from a buffer of the last one's size
                let cap = feed.buf.len().min(1 << 20);
                (std::mem::replace(&mut feed.buf, Vec::with_capacity(cap)), end)
            }
            None => (Vec::new(), end),
        }
    }

    /// The offset after the newest effect.
    pub fn end(&self) -> u64 {
        self.lock().end
    }

    /// (offset of the oldest effect kept, bytes kept): the backlog as INFO
    /// replication shows it.
    pub fn backlog(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.entries.front().map_or(inner.end, |e| e.offset), inner.ring.len() as u64)
    }

    /// Up to `max` effects from `offset` on; `Err(oldest offset kept)` when
    /// `offset` is no longer (or not) in the log.
    pub fn since(&self, offset: u64, max: usize) -> Result<Vec<Effect>, u64> {
        let inner = self.lock();
        let oldest = inner.entries.front().map_or(inner.end, |e| e.offset);
        if offset < oldest || offset > inner.end {
            return Err(oldest);
        }
        let start = inner.entries.partition_point(|e| e.offset < offset);
        if inner.entries.get(start).is_some_and(|e| e.offset != offset) {
            return Err(oldest);
        }
        let first = oldest;
        Ok(inner
            .entries
            .range(start..)
            .take(max)
            .map(|e| {
                let at = (e.offset - first) as usize;
                let resp: Vec<u8> = inner.ring.range(at..at + e.len as usize).copied().collect();
                Effect { offset: e.offset, db: e.db as usize, args: crate::resp::reply::bulk_array_items(&Bytes::from(resp)) }
            })
            .collect())
    }
}

/// The command being executed on this thread.
struct Frame {
    db: usize,
    /// The log keeps what this command does (a writer, with a reader
    /// attached to the log).
    record: bool,
    /// Its own effect by default (write commands only).
    args: Vec<Bytes>,
    rewritten: Option<Vec<Vec<Bytes>>>,
    /// It changed a key.
    dirty: bool,
    /// Its effect is in the log (or gathered).
    logged: bool,
    /// EXEC, scripts, commits: effects of the commands it runs are gathered.
    gather: bool,
    gathered: Vec<(usize, Vec<Bytes>)>,
}

thread_local! {
    static LAST_APPENDED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

/// A command starts (`gather`: it runs other commands whose effects form
/// one transaction).
pub fn begin(db: usize, args: &[Bytes], write: bool, gather: bool) {
    FRAMES.with(|f| {
        f.borrow_mut().push(Frame {
            db,
            record: write,
            args: if write && !gather { args.to_vec() } else { Vec::new() },
            rewritten: None,
            dirty: false,
            logged: false,
            gather,
            gathered: Vec::new(),
        })
    });
}

/// The running command changed a key (called by the store, under the
/// key's shard lock).
pub fn note_write() {
    FRAMES.with(|f| {
        if let Some(fr) = f.borrow_mut().last_mut() {
            fr.dirty = true;
        }
    });
}

/// The running command's effects, instead of the command itself (called
/// before its locks are released). `effects` is called only while the log
/// keeps effects: with no reader attached a command pays nothing for them.
pub fn rewrite(effects: impl FnOnce() -> Vec<Vec<Bytes>>) {
    FRAMES.with(|f| {
        if let Some(fr) = f.borrow_mut().last_mut().filter(|fr| fr.record) {
            fr.rewritten = Some(effects());
        }
    });
}

/// As [`rewrite`], for a command that is not a write but changes a value
/// all the same (PFCOUNT stores the cardinality in the HyperLogLog's
/// header, as Redis does and propagates).
pub fn rewrite_always(effects: impl FnOnce() -> Vec<Vec<Bytes>>, keeping: bool) {
    if !keeping {
        return;
    }
    FRAMES.with(|f| {
        if let Some(fr) = f.borrow_mut().last_mut() {
            fr.record = true;
            fr.rewritten = Some(effects());
        }
    });
}

/// Builds an effect from string pieces.
pub fn args(parts: &[&[u8]]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

/// Logs the running command's effect if it wrote and has not been logged
/// (called when its shard locks are about to be released).
pub fn flush(log: &EffectLog) {
    let effects = FRAMES.with(|f| {
        let mut frames = f.borrow_mut();
        let fr = frames.last_mut()?;
        if !fr.record || !fr.dirty || fr.logged || fr.gather {
            return None;
        }
        fr.logged = true;
        let db = fr.db;
        Some(match fr.rewritten.take() {
            Some(list) => list.into_iter().map(|a| (db, a)).collect::<Vec<_>>(),
            None => vec![(db, std::mem::take(&mut fr.args))],
        })
    });
    for (db, args) in effects.into_iter().flatten() {
        if !args.is_empty() {
            log.append(db, args);
        }
    }
}

/// The running command ends: what it did and has not logged yet is
/// logged now; a gathering frame appends its transaction.
pub fn end(log: &EffectLog) {
    flush(log);
    let Some(fr) = FRAMES.with(|f| f.borrow_mut().pop()) else { return };
    if !fr.gather {
        return;
    }
    let mut gathered = fr.gathered;
    if let Some(list) = fr.rewritten {
        // a gathering command that states its own effect (none yet)
        gathered.extend(list.into_iter().map(|a| (fr.db, a)));
    }
    // inside another transaction (a script in EXEC): one transaction
    let outer = FRAMES.with(|f| {
        let mut frames = f.borrow_mut();
        match frames.iter_mut().rev().find(|fr| fr.gather) {
            Some(o) => {
                o.gathered.append(&mut gathered);
                true
            }
            None => false,
        }
    });
    if outer {
        return;
    }
    match gathered.len() {
        0 => {}
        1 => {
            let (db, args) = gathered.pop().expect("one");
            log.append(db, args);
        }
        _ => {
            let db = gathered[0].0;
            log.append(db, vec![Bytes::from_static(b"MULTI")]);
            let last_db = gathered.last().map_or(db, |g| g.0);
            for (db, args) in gathered {
                log.append(db, args);
            }
            log.append(last_db, vec![Bytes::from_static(b"EXEC")]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn offsets_count_resp_bytes_and_the_log_keeps_what_it_may() {
        let config = Arc::new(crate::config::RuntimeConfig::default());
        let log = EffectLog::new(config.clone());
        log.append(0, vec![b("SET"), b("k"), b("v")]);
        assert_eq!(log.end(), 0, "nothing is kept before a reader attaches");
        log.keep();
        log.append(0, vec![b("SET"), b("k"), b("v")]);
        // *3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n = 4 + 9 + 7 + 7
        assert_eq!(log.end(), 27);
        log.append(1, vec![b("DEL"), b("k")]);
        let all = log.since(0, 10).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!((all[1].offset, all[1].db), (27, 1));
        assert_eq!(log.since(27, 10).unwrap().len(), 1);
        assert_eq!(log.since(5, 10), Err(0), "not an effect's offset");
        config.repl_backlog_size.store(45, Ordering::Relaxed);
        log.append(0, vec![b("DEL"), b("j")]);
        assert_eq!(log.since(0, 10), Err(27), "the oldest went");
    }

    #[test]
    fn frames_log_writers_once_and_gather_transactions() {
        let log = EffectLog::new(Arc::new(crate::config::RuntimeConfig::default()));
        log.keep();
        // a read logs nothing
        begin(0, &[b("GET"), b("k")], false, false);
        end(&log);
        assert_eq!(log.end(), 0);
        // a write logs itself, once, even when flushed twice
        begin(0, &[b("SET"), b("k"), b("v")], true, false);
        note_write();
        flush(&log);
        flush(&log);
        end(&log);
        assert_eq!(log.since(0, 10).unwrap().len(), 1);
        // EXEC: two writes wrapped, a read not logged, rewrites kept
        let start = log.end();
        begin(0, &[b("EXEC")], false, true);
        begin(0, &[b("INCR"), b("a")], true, false);
        note_write();
        end(&log);
        begin(2, &[b("EXPIRE"), b("a"), b("10")], true, false);
        note_write();
        rewrite(|| vec![vec![b("PEXPIREAT"), b("a"), b("123")]]);
        end(&log);
        begin(0, &[b("GET"), b("a")], false, false);
        end(&log);
        // a script inside the EXEC joins its transaction
        begin(0, &[b("EVAL")], false, true);
        begin(0, &[b("DEL"), b("x")], true, false);
        note_write();
        end(&log);
        end(&log);
        end(&log);
        let names: Vec<(usize, Bytes)> = log.since(start, 10).unwrap().into_iter().map(|e| (e.db, e.args[0].clone())).collect();
        assert_eq!(names, vec![(0, b("MULTI")), (0, b("INCR")), (2, b("PEXPIREAT")), (0, b("DEL")), (0, b("EXEC"))]);
    }
}
