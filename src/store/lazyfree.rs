//! Lazy freeing (Redis's `lazyfree.c`): values that take long to free (a
//! hash of millions of fields is millions of allocations) are dropped on a
//! background thread, so UNLINK, FLUSHALL ASYNC and DEL under
//! `lazyfree-lazy-user-del` answer at once and hold their shard lock only
//! to unlink the entry. Small values are freed in place, as Redis frees
//! those under its `LAZYFREE_THRESHOLD` (64 allocations) at once.

use super::Record;
use super::record::View;
use super::value::Boxed;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};

/// Values costing more allocations than this are freed in the background.
const THRESHOLD: usize = 64;

type Garbage = Box<dyn Send>;

#[derive(Default)]
pub struct LazyFree {
    tx: OnceLock<Mutex<mpsc::Sender<Garbage>>>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    pending: AtomicU64,
    freed: AtomicU64,
}

/// Allocations freeing `r` takes (Redis's `lazyfreeGetFreeEffort`).
pub fn free_effort(r: &Record) -> usize {
    match r.entry().view() {
        View::Inline(_) => 1,
        View::Boxed(Boxed::Hash(t) | Boxed::Set(t)) => t.len(),
        View::Boxed(Boxed::List(q)) => q.nodes().count(),
        View::Boxed(Boxed::ZSet(z)) => z.len(),
        // Redis: the nodes, plus the groups' pending entries
        View::Boxed(Boxed::Stream(s)) => s.node_count() + s.groups.values().map(|g| g.pel.len() + 1).sum::<usize>(),
    }
}

impl LazyFree {
    fn sender(&self) -> mpsc::Sender<Garbage> {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Garbage>();
            let counters = Arc::clone(&self.counters);
            std::thread::Builder::new()
                .name("lazyfree".into())
                .spawn(move || {
                    for garbage in rx {
                        drop(garbage);
                        counters.pending.fetch_sub(1, Ordering::SeqCst);
                        counters.freed.fetch_add(1, Ordering::SeqCst);
                    }
                })
                .expect("start the lazyfree thread");
            Mutex::new(tx)
        });
        tx.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Frees anything in the background (a flushed database's tables).
    pub fn free(&self, garbage: Garbage) {
        self.counters.pending.fetch_add(1, Ordering::SeqCst);
        if let Err(mpsc::SendError(g)) = self.sender().send(garbage) {
            drop(g);
            self.counters.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Frees an unlinked entry: in the background when it is big.
    pub fn dispose(&self, r: Record) {
        if free_effort(&r) > THRESHOLD {
            self.free(Box::new(r));
        }
    }

    /// Objects queued and not freed yet (INFO `lazyfree_pending_objects`).
    pub fn pending(&self) -> u64 {
        self.counters.pending.load(Ordering::SeqCst)
    }

    /// Objects freed in the background so far (INFO `lazyfreed_objects`).
    pub fn freed(&self) -> u64 {
        self.counters.freed.load(Ordering::SeqCst)
    }
}
