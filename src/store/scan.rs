//! SCAN over a database without a snapshot.
//!
//! The cursor is the shard in the high bits and, below, the shard table's
//! reverse-binary bucket cursor ([`super::table::Table::scan`], Redis's
//! `dictScan`). A call walks buckets until it has seen `count` keys (or ten
//! times that many buckets), so its work is proportional to COUNT however
//! large the database is, and a key present for the whole iteration is
//! returned at least once while tables grow, shrink or resize in between.
//! As with Redis, a key can come back twice (after a table shrank), keys
//! added or removed meanwhile may or may not appear, and MATCH and TYPE
//! filter after the walk, so a call can return fewer keys than COUNT, or
//! none, with a non-zero cursor.

use super::table::CURSOR_BITS;
use super::{Key, Keyspace, SHARDS_PER_DB};
use crate::util;

/// Cursors use 53 bits (shard + 48-bit bucket cursor), so the proxy can add
/// a node index in the top byte and clients that parse cursors as numbers
/// (even as doubles) keep them exact.
const BUCKET_MASK: u64 = (1 << CURSOR_BITS) - 1;

/// Options of one SCAN call.
pub struct ScanArgs<'a> {
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
    /// Only keys of this type (`TYPE string`).
    pub type_name: Option<&'a str>,
}

impl Keyspace {
    /// One SCAN step from `cursor`; returns the next cursor (0 = done) and
    /// the keys found.
    pub fn scan(&self, db: usize, cursor: u64, args: &ScanArgs) -> (u64, Vec<Key>) {
        let (next, keys, _) = self.scan_counted(db, cursor, args);
        (next, keys)
    }

    /// [`Keyspace::scan`], also returning how many entries the call looked
    /// at: its work, which tests hold to COUNT.
    pub fn scan_counted(&self, db: usize, cursor: u64, args: &ScanArgs) -> (u64, Vec<Key>, usize) {
        let mut shard = (cursor >> CURSOR_BITS) as usize;
        let mut v = cursor & BUCKET_MASK;
        let now = util::now_ms();
        let count = args.count.max(1);
        let mut out: Vec<Key> = Vec::new();
        let (mut visited, mut buckets) = (0usize, 0usize);
        while shard < SHARDS_PER_DB && visited < count && buckets < count.saturating_mul(10) {
            let s = self.dbs[db].shard(shard);
            // A few buckets per lock hold, so writers to the shard wait
            // microseconds at most.
            for _ in 0..16 {
                v = s.table.scan(v, |e| {
                    visited += 1;
                    let (key, meta) = (e.key(), e.meta());
                    let wanted = !meta.is_expired(now)
                        && args.pattern.is_none_or(|p| util::glob_match(p, key, false))
                        && args.type_name.is_none_or(|t| e.kind().name().eq_ignore_ascii_case(t));
                    if wanted {
                        out.push(key.into());
                    }
                });
                buckets += 1;
                if v == 0 || visited >= count || buckets >= count.saturating_mul(10) {
                    break;
                }
            }
            drop(s);
            if v == 0 {
                shard += 1;
            }
        }
        if shard >= SHARDS_PER_DB { (0, out, visited) } else { (((shard as u64) << CURSOR_BITS) | v, out, visited) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RuntimeConfig;
    use std::collections::HashSet;
    use std::sync::Arc;

    #[test]
    fn scan_survives_concurrent_writes() {
        let ks = Keyspace::new(Arc::new(RuntimeConfig::default()));
        for i in 0..2000 {
            let k = format!("stable{i}");
            ks.lock(0, k.as_bytes()).set(k.as_bytes(), b"v", 0);
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            let (next, keys) = ks.scan(0, cursor, &ScanArgs { count: 10, pattern: None, type_name: None });
            for k in keys {
                assert!(seen.insert(k), "duplicate key returned");
            }
            // churn: add and remove other keys between calls
            for j in 0..20 {
                let k = format!("churn{round}-{j}");
                ks.lock(0, k.as_bytes()).set(k.as_bytes(), b"v", 0);
                if j % 2 == 0 {
                    ks.lock(0, k.as_bytes()).delete(k.as_bytes());
                }
            }
            round += 1;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..2000 {
            assert!(seen.contains(format!("stable{i}").as_bytes()), "missed stable{i}");
        }
    }

    /// Issue 10, item 7: a SCAN call used to walk a whole shard. Now each
    /// call looks at about COUNT entries, and a full iteration at each key
    /// once (no resize happens here), whatever the database's size.
    #[test]
    fn scan_work_is_proportional_to_count() {
        let ks = Keyspace::new(Arc::new(RuntimeConfig::default()));
        let n = 100_000;
        for i in 0..n {
            let k = format!("key:{i}");
            ks.lock(0, k.as_bytes()).set(k.as_bytes(), b"v", 0);
        }
        while ks.maintain_tables(1_000_000) > 0 {}
        let args = ScanArgs { count: 10, pattern: Some(b"nothing*"), type_name: None };
        let (mut cursor, mut total, mut calls, mut most) = (0, 0, 0, 0);
        loop {
            let (next, keys, examined) = ks.scan_counted(0, cursor, &args);
            assert!(keys.is_empty());
            // a call stops at COUNT entries, plus the rest of its last bucket
            most = most.max(examined);
            total += examined;
            calls += 1;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(total, n, "every entry examined exactly once over the iteration");
        assert!(most < 30, "one call examined {most} entries for COUNT 10");
        assert!(calls >= n / 30, "{calls} calls");
    }
}
