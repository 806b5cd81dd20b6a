//! SCAN over a database without a snapshot.
//!
//! Redis iterates its hash table's buckets in reverse-binary order so the
//! cursor survives rehashing. Our maps are the `lru` crate's, whose buckets
//! we cannot see, so the cursor is a position in an order we own: shard
//! first, then the key's hash within the shard. A call takes the keys of the
//! current shard whose position is at or after the cursor, the `count`
//! smallest of them, and returns the position after the last one. Positions
//! never depend on what else is in the map, so a key present for the whole
//! iteration is returned exactly once (keys sharing a 59-bit position are
//! returned together), whatever is written meanwhile.
//!
//! The cost is a pass over one shard per call, which is fine for the
//! COUNT-sized pages clients use; KEYS is the O(N) command, not SCAN.

use super::{Key, Keyspace, SHARDS_PER_DB, key_hash};
use crate::util;

/// Cursors use 53 bits (shard + 48-bit position), so the proxy can add a
/// node index in the top byte and clients that parse cursors as numbers
/// (even as doubles) keep them exact.
const POS_BITS: u32 = 48;

/// Options of one SCAN call.
pub struct ScanArgs<'a> {
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
    /// Only keys of this type (`TYPE string`).
    pub type_name: Option<&'a str>,
}

fn position(key: &[u8]) -> u64 {
    key_hash(key) >> (64 - POS_BITS)
}

impl Keyspace {
    /// One SCAN step from `cursor`; returns the next cursor (0 = done) and
    /// the keys found.
    pub fn scan(&self, db: usize, cursor: u64, args: &ScanArgs) -> (u64, Vec<Key>) {
        let mut shard = (cursor >> POS_BITS) as usize;
        let mut pos = cursor & ((1u64 << POS_BITS) - 1);
        let now = util::now_ms();
        let mut out: Vec<Key> = Vec::new();
        let mut visited = 0usize;
        while shard < SHARDS_PER_DB && visited < args.count.max(1) {
            let s = self.dbs[db].shard(shard);
            let mut candidates: Vec<(u64, &[u8], bool)> = s
                .map
                .iter()
                .filter_map(|(r, m)| {
                    let k = r.key();
                    let p = position(k);
                    (p >= pos).then_some((p, k, !m.is_expired(now)))
                })
                .collect();
            let want = args.count.max(1) - visited;
            let done_with_shard = candidates.len() <= want;
            if !done_with_shard {
                candidates.select_nth_unstable_by_key(want - 1, |c| c.0);
                let cut = candidates[want - 1].0;
                // Keep every key at the cut position so none is skipped.
                candidates.retain(|c| c.0 <= cut);
            }
            visited += candidates.len();
            let last = candidates.iter().map(|c| c.0).max();
            for (_, k, live) in candidates {
                if !live {
                    continue;
                }
                if args.pattern.is_some_and(|p| !util::glob_match(p, k, false)) {
                    continue;
                }
                if args.type_name.is_some_and(|t| s.map.peek(k).is_none_or(|m| m.type_name() != t)) {
                    continue;
                }
                out.push(k.into());
            }
            drop(s);
            match last {
                Some(l) if !done_with_shard && l + 1 < (1u64 << POS_BITS) => {
                    pos = l + 1;
                    return (((shard as u64) << POS_BITS) | pos, out);
                }
                _ => {
                    shard += 1;
                    pos = 0;
                }
            }
        }
        if shard >= SHARDS_PER_DB { (0, out) } else { (((shard as u64) << POS_BITS) | pos, out) }
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
}
