//! SLOWLOG: commands that ran longer than `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len` of them, each
//! stored as Redis 7.0 stores it (`slowlog.c`): at most 32 arguments (the
//! last then says how many more there were), each cut at 128 bytes (with
//! how many more bytes there were), secrets shown as "(redacted)", the
//! client's address and name. The time is the command's own, not time spent
//! blocked.

use crate::resp::Reply;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

const MAX_ARGC: usize = 32;
const MAX_STRING: usize = 128;

struct Entry {
    id: u64,
    /// Unix seconds when the command ran.
    time: u64,
    micros: u64,
    args: Vec<Bytes>,
    addr: String,
    name: String,
}

/// The log of one node.
#[derive(Default)]
pub struct SlowLog {
    entries: Mutex<VecDeque<Entry>>,
    next_id: AtomicU64,
}

impl SlowLog {
    fn entries(&self) -> std::sync::MutexGuard<'_, VecDeque<Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Logs a command that ran `micros` µs, trimmed as Redis trims it.
    pub fn push(&self, args: &[Bytes], micros: u64, addr: &str, name: &str, max_len: usize) {
        let redacted = super::monitor::redacted_from(args);
        let shown = args.len().min(MAX_ARGC);
        let mut kept = Vec::with_capacity(shown);
        for (i, a) in args.iter().take(shown).enumerate() {
            kept.push(if shown < args.len() && i == shown - 1 {
                Bytes::from(format!("... ({} more arguments)", args.len() - shown + 1))
            } else if redacted.as_ref().is_some_and(|r| r.contains(&i)) {
                Bytes::from_static(b"(redacted)")
            } else if a.len() > MAX_STRING {
                let mut cut = a[..MAX_STRING].to_vec();
                cut.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes());
                Bytes::from(cut)
            } else {
                // a copy: the request buffer must not be pinned by the log
                Bytes::copy_from_slice(a)
            });
        }
        let time = crate::util::now_ms() / 1000;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.entries();
        entries.push_front(Entry { id, time, micros, args: kept, addr: addr.to_string(), name: name.to_string() });
        entries.truncate(max_len);
    }

    /// The newest `count` entries (all for `None`).
    pub fn get(&self, count: Option<usize>) -> Reply {
        let entries = self.entries();
        let n = count.unwrap_or(entries.len()).min(entries.len());
        Reply::Array(
            entries
                .iter()
                .take(n)
                .map(|e| {
                    Reply::Array(vec![
                        Reply::Int(e.id as i64),
                        Reply::Int(e.time as i64),
                        Reply::Int(e.micros as i64),
                        Reply::Array(e.args.iter().cloned().map(Reply::Bulk).collect()),
                        Reply::bulk(e.addr.clone()),
                        Reply::bulk(e.name.clone()),
                    ])
                })
                .collect(),
        )
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.entries().clear();
    }

    /// Applies a lower `slowlog-max-len` at once.
    pub fn trim(&self, max_len: usize) {
        self.entries().truncate(max_len);
    }
}
