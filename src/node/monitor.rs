//! MONITOR: every command the server runs, as one line to each monitoring
//! client, in Redis's format:
//!
//! ```text
//! +1700000000.123456 [0 127.0.0.1:50000] "SET" "k" "v"
//! +1700000000.123470 [0 lua] "get" "k"
//! ```
//!
//! Commands are shown once they ran (so the commands of a transaction
//! appear at EXEC, before EXEC itself), scripts before they run (their own
//! calls follow), with the database selected after the command; refused
//! commands and admin commands (CONFIG, DEBUG, MONITOR, ...) are not
//! shown, and passwords are redacted, as Redis does. Each line is encoded
//! once and pushed into every monitor's outbox, the same bounded queue a
//! subscriber's messages go through ([`super::pubsub::Outbox`]): a monitor
//! that does not keep up is disconnected at the output limit (the pubsub
//! class: Redis gives a monitor the normal class, unlimited by default)
//! instead of losing lines or holding up the server.

use super::pubsub::{BufferLimit, Outbox};
use bytes::{BufMut, Bytes, BytesMut};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The monitors' outboxes, by registration.
type Registered = Arc<Mutex<Vec<(u64, Arc<Outbox>)>>>;

/// The monitors of one server.
#[derive(Default)]
pub struct Monitors {
    count: Arc<AtomicUsize>,
    next: AtomicU64,
    outboxes: Registered,
}

/// One monitoring client's registration; leaving monitor mode drops it.
pub struct MonitorFeed {
    id: u64,
    count: Arc<AtomicUsize>,
    outboxes: Registered,
}

impl Drop for MonitorFeed {
    fn drop(&mut self) {
        self.outboxes.lock().unwrap_or_else(|p| p.into_inner()).retain(|(id, _)| *id != self.id);
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Monitors {
    /// Starts feeding `outbox`.
    pub fn subscribe(&self, outbox: Arc<Outbox>) -> MonitorFeed {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.outboxes.lock().unwrap_or_else(|p| p.into_inner()).push((id, outbox));
        self.count.fetch_add(1, Ordering::Relaxed);
        MonitorFeed { id, count: self.count.clone(), outboxes: self.outboxes.clone() }
    }

    /// True if anyone monitors: the check on every command's path.
    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Sends the line for one command: `source` is the client's address, or
    /// `None` for a script's call; `limit` bounds each monitor's queue.
    pub fn feed(&self, db: usize, source: Option<&str>, args: &[Bytes], limit: &BufferLimit) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut line = BytesMut::with_capacity(64 + args.iter().map(|a| a.len() + 3).sum::<usize>());
        line.put_slice(format!("+{}.{:06} [{db} {}]", now.as_secs(), now.subsec_micros(), source.unwrap_or("lua")).as_bytes());
        let redact_from = redacted_from(args);
        for (i, arg) in args.iter().enumerate() {
            line.put_u8(b' ');
            if redact_from.as_ref().is_some_and(|r| r.contains(&i)) {
                line.put_slice(b"\"(redacted)\"");
            } else {
                quote(arg, &mut line);
            }
        }
        line.put_slice(b"\r\n");
        let line = line.freeze();
        for (_, o) in self.outboxes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            o.push(line.clone(), limit);
        }
    }
}

/// The argument positions that carry secrets (AUTH, HELLO ... AUTH,
/// MIGRATE ... AUTH/AUTH2).
pub(crate) fn redacted_from(args: &[Bytes]) -> Option<Vec<usize>> {
    let name = &args[0];
    if name.eq_ignore_ascii_case(b"auth") {
        return Some((1..args.len()).collect());
    }
    let is = |i: usize, word: &str| args.get(i).is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()));
    let mut hidden = Vec::new();
    if name.eq_ignore_ascii_case(b"hello") || name.eq_ignore_ascii_case(b"migrate") {
        for i in 1..args.len() {
            if is(i, "auth") {
                hidden.extend([i + 1, i + 2].into_iter().filter(|_| name.eq_ignore_ascii_case(b"hello")));
                if name.eq_ignore_ascii_case(b"migrate") {
                    hidden.push(i + 1);
                }
            } else if is(i, "auth2") {
                hidden.extend([i + 1, i + 2]);
            }
        }
    }
    (!hidden.is_empty()).then_some(hidden)
}

/// Redis's `sdscatrepr`: a double-quoted string with `\"`, `\\`, `\n`, `\r`,
/// `\t`, `\a`, `\b` and `\xHH` for other unprintable bytes.
fn quote(s: &[u8], out: &mut BytesMut) {
    out.put_u8(b'"');
    for &b in s {
        match b {
            b'\\' => out.put_slice(b"\\\\"),
            b'"' => out.put_slice(b"\\\""),
            b'\n' => out.put_slice(b"\\n"),
            b'\r' => out.put_slice(b"\\r"),
            b'\t' => out.put_slice(b"\\t"),
            7 => out.put_slice(b"\\a"),
            8 => out.put_slice(b"\\b"),
            0x20..=0x7e => out.put_u8(b),
            _ => out.put_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.put_u8(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_as_sdscatrepr() {
        let mut out = BytesMut::new();
        quote(b"a\"b\\\n\r\t\x07\x08\x01\xffz", &mut out);
        assert_eq!(&out[..], br#""a\"b\\\n\r\t\a\b\x01\xffz""#);
    }

    #[test]
    fn secrets_are_redacted() {
        let args = |v: &[&str]| v.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect::<Vec<_>>();
        assert_eq!(redacted_from(&args(&["AUTH", "user", "pw"])), Some(vec![1, 2]));
        assert_eq!(redacted_from(&args(&["HELLO", "3", "AUTH", "u", "p", "SETNAME", "n"])), Some(vec![3, 4]));
        assert_eq!(redacted_from(&args(&["MIGRATE", "h", "1", "k", "0", "10", "AUTH", "p"])), Some(vec![7]));
        assert_eq!(redacted_from(&args(&["GET", "auth"])), None);
    }
}
