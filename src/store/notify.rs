//! Keyspace notifications (Redis's `notify.c`): a change to a key is
//! published on `__keyspace@<db>__:<key>` (message: the event name) and
//! `__keyevent@<db>__:<event>` (message: the key) when
//! `notify-keyspace-events` enables the event's class.
//!
//! Commands name their events themselves, as Redis's do (`hset`, `lpush`,
//! `rename_from`, ...), through [`super::Locked::notify`], right after the
//! change and while the key's shard is still locked; the store itself
//! raises the events no command names: `new` when a key is created,
//! `expired`, `evicted` and `keymiss`. Publishing is synchronous, so a
//! subscriber sees events in the order the changes were made, between
//! whatever else was published meanwhile, as in Redis.
//!
//! With notifications off (the default) an event costs one atomic load.

use crate::config::RuntimeConfig;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 13;
pub const NEW: u32 = 1 << 14;
/// `A`: every class but `m` and `n`, as in Redis 7.0.
pub const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// Where published events go: (channel, message).
pub type Sink = Box<dyn Fn(&[u8], &[u8]) + Send + Sync>;

/// Client-side caching's hook: a key changed.
pub type KeyHook = Box<dyn Fn(&[u8]) + Send + Sync>;

pub struct Notifier {
    config: Arc<RuntimeConfig>,
    sink: OnceLock<Sink>,
    /// Client-side caching: told of every changed key while a client
    /// tracks (checked with one atomic load otherwise).
    tracking: OnceLock<KeyHook>,
    pub tracking_on: std::sync::atomic::AtomicBool,
}

impl Notifier {
    pub fn new(config: Arc<RuntimeConfig>) -> Notifier {
        Notifier { config, sink: OnceLock::new(), tracking: OnceLock::new(), tracking_on: std::sync::atomic::AtomicBool::new(false) }
    }

    /// Connects the notifications to the server's pub/sub (once, at
    /// startup).
    pub fn connect(&self, sink: Sink) {
        let _ = self.sink.set(sink);
    }

    /// Connects client-side caching's invalidation (once, at startup).
    pub fn connect_tracking(&self, hook: KeyHook) {
        let _ = self.tracking.set(hook);
    }

    /// A key changed: tracking clients that read it hear of it.
    #[inline]
    pub fn key_changed(&self, key: &[u8]) {
        if self.tracking_on.load(Ordering::Relaxed)
            && let Some(h) = self.tracking.get()
        {
            h(key);
        }
    }

    /// Whether events of `class` are published at all.
    #[inline]
    pub fn enabled(&self, class: u32) -> bool {
        self.config.notify_keyspace_events.load(Ordering::Relaxed) & class != 0
    }

    /// Redis's `notifyKeyspaceEvent`.
    #[inline]
    pub fn event(&self, class: u32, event: &str, db: usize, key: &[u8]) {
        if self.enabled(class) {
            self.publish(event, db, key);
        }
    }

    #[cold]
    fn publish(&self, event: &str, db: usize, key: &[u8]) {
        let Some(sink) = self.sink.get() else { return };
        let flags = self.config.notify_keyspace_events.load(Ordering::Relaxed);
        let db = crate::util::Decimal::new(db as i64);
        let channel = |space: &str, name: &[u8]| {
            let mut c = Vec::with_capacity(16 + name.len());
            c.extend_from_slice(space.as_bytes());
            c.extend_from_slice(&db);
            c.extend_from_slice(b"__:");
            c.extend_from_slice(name);
            c
        };
        if flags & KEYSPACE != 0 {
            sink(&channel("__keyspace@", key), event.as_bytes());
        }
        if flags & KEYEVENT != 0 {
            sink(&channel("__keyevent@", event.as_bytes()), key);
        }
    }
}

/// The flags a `notify-keyspace-events` value selects; `None` for a
/// character that names no class.
pub fn parse_classes(s: &str) -> Option<u32> {
    let mut flags = 0;
    for c in s.chars() {
        flags |= match c {
            'A' => ALL,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// The flags as CONFIG GET prints them (Redis's order, `A` for all).
pub fn format_classes(flags: u32) -> String {
    let mut s = String::new();
    if flags & ALL == ALL {
        s.push('A');
    } else {
        for (f, c) in
            [(GENERIC, 'g'), (STRING, '$'), (LIST, 'l'), (SET, 's'), (HASH, 'h'), (ZSET, 'z'), (EXPIRED, 'x'), (EVICTED, 'e'), (STREAM, 't'), (MODULE, 'd')]
        {
            if flags & f != 0 {
                s.push(c);
            }
        }
    }
    // Redis prints `n` inside the else branch: with `A` set it is lost
    if flags & ALL != ALL && flags & NEW != 0 {
        s.push('n');
    }
    for (f, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & f != 0 {
            s.push(c);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_trip_as_redis_prints_them() {
        assert_eq!(parse_classes(""), Some(0));
        assert_eq!(parse_classes("Q"), None);
        assert_eq!(format_classes(parse_classes("KEA").unwrap()), "AKE");
        assert_eq!(format_classes(parse_classes("Elg$").unwrap()), "g$lE");
        assert_eq!(format_classes(parse_classes("nKm").unwrap()), "nKm");
        // `n` is not part of `A`, and Redis does not print it next to `A`
        assert_eq!(format_classes(parse_classes("AnK").unwrap()), "AK");
        assert_eq!(format_classes(parse_classes("gl$shzxetdK").unwrap()), "AK");
    }
}
