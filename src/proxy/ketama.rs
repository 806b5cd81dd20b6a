//! Ketama consistent hashing, bit-compatible with twemproxy's
//! `distribution: ketama` (`src/hashkit/nc_ketama.c`, `nc_server.c`), so a
//! twemproxy user who switches keeps every key on the same server. The
//! arithmetic is written down in `docs/ketama.md`; `tests/ketama.rs` checks
//! it against vectors produced by twemproxy 0.5.0 itself.

use md5::{Digest, Md5};

/// Points per server with equal weights (twemproxy's
/// `KETAMA_POINTS_PER_SERVER`).
const POINTS_PER_SERVER: u32 = 160;

/// The key hash functions twemproxy offers for ketama that we support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHash {
    Md5,
    Fnv1a64,
    Fnv164,
    Fnv1a32,
    Fnv132,
    OneAtATime,
}

impl KeyHash {
    /// Parses a twemproxy `hash:` name. `crc32` is refused: twemproxy's
    /// crc32 yields 15-bit values, which leave most of a ketama ring unused.
    pub fn parse(name: &str) -> Result<KeyHash, String> {
        Ok(match name {
            "md5" => KeyHash::Md5,
            "fnv1a_64" => KeyHash::Fnv1a64,
            "fnv1_64" => KeyHash::Fnv164,
            "fnv1a_32" => KeyHash::Fnv1a32,
            "fnv1_32" => KeyHash::Fnv132,
            "one_at_a_time" => KeyHash::OneAtATime,
            "crc32" | "crc32a" => {
                return Err(format!("hash '{name}' is broken with ketama in twemproxy (15-bit values); use md5 or fnv1a_64"));
            }
            other => {
                return Err(format!("unsupported hash '{other}' (supported: md5, fnv1a_64, fnv1_64, fnv1a_32, fnv1_32, one_at_a_time)"));
            }
        })
    }

    /// The 32-bit hash of `key`, exactly as twemproxy computes it.
    pub fn hash(self, key: &[u8]) -> u32 {
        // twemproxy reads keys as C `char`, signed on x86: bytes >= 0x80
        // are sign-extended before the xor.
        let signed = |b: u8| b as i8 as i32 as u32;
        match self {
            KeyHash::Md5 => {
                let d = Md5::digest(key);
                u32::from_le_bytes([d[0], d[1], d[2], d[3]])
            }
            // The 64-bit FNV constants truncated to 32 bits, as twemproxy does.
            KeyHash::Fnv1a64 => key.iter().fold(0xcbf2_9ce4_8422_2325u64 as u32, |h, &b| (h ^ signed(b)).wrapping_mul(0x0000_0100_0000_01b3u64 as u32)),
            KeyHash::Fnv164 => key.iter().fold(0xcbf2_9ce4_8422_2325u64 as u32, |h, &b| h.wrapping_mul(0x0000_0100_0000_01b3u64 as u32) ^ signed(b)),
            KeyHash::Fnv1a32 => key.iter().fold(0x811c_9dc5u32, |h, &b| (h ^ signed(b)).wrapping_mul(0x0100_0193)),
            KeyHash::Fnv132 => key.iter().fold(0x811c_9dc5u32, |h, &b| h.wrapping_mul(0x0100_0193) ^ signed(b)),
            KeyHash::OneAtATime => {
                let mut h = key.iter().fold(0u32, |mut h, &b| {
                    h = h.wrapping_add(signed(b));
                    h = h.wrapping_add(h << 10);
                    h ^ (h >> 6)
                });
                h = h.wrapping_add(h << 3);
                h ^= h >> 11;
                h.wrapping_add(h << 15)
            }
        }
    }
}

/// A server as the ring sees it.
#[derive(Debug, Clone)]
pub struct RingServer {
    /// The configured name, or `host:port` (just `host` for port 11211).
    pub name: String,
    pub weight: u32,
}

/// The sorted continuum of (point, server index) pairs.
#[derive(Debug, Clone, Default)]
pub struct Ring {
    points: Vec<(u32, usize)>,
}

impl Ring {
    /// Builds the continuum over the servers for which `live[i]` is true;
    /// indexes in the ring are indexes into `servers`.
    pub fn build(servers: &[RingServer], live: &[bool]) -> Ring {
        let alive: Vec<usize> = (0..servers.len()).filter(|&i| live[i]).collect();
        let total_weight: u32 = alive.iter().map(|&i| servers[i].weight).sum();
        let nlive = alive.len() as f32;
        let mut points = Vec::new();
        for &i in &alive {
            // twemproxy: floorf(pct * 160 / 4 * nlive + 0.0000000001) * 4,
            // in float, with the constant added in double.
            let pct = servers[i].weight as f32 / total_weight as f32;
            let scaled = pct * POINTS_PER_SERVER as f32 / 4.0 * nlive;
            let per_server = ((scaled as f64 + 0.000_000_000_1) as f32).floor() as u32 * 4;
            for p in 0..per_server / 4 {
                let digest = Md5::digest(format!("{}-{}", servers[i].name, p).as_bytes());
                for x in 0..4 {
                    let v = u32::from_le_bytes([digest[4 * x], digest[4 * x + 1], digest[4 * x + 2], digest[4 * x + 3]]);
                    points.push((v, i));
                }
            }
        }
        // twemproxy sorts by value only (qsort, not stable); equal values
        // are vanishingly rare and keep server order here.
        points.sort_by_key(|&(v, _)| v);
        Ring { points }
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The server for a key hash: the first point >= hash, wrapping.
    pub fn server_for_hash(&self, hash: u32) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        let i = self.points.partition_point(|&(v, _)| v < hash);
        Some(self.points[if i == self.points.len() { 0 } else { i }].1)
    }
}

/// The part of `key` that is hashed: with a hash tag such as `{}`, the bytes
/// between the first open character and the next close character, when
/// that part is non-empty; otherwise the whole key.
pub fn hashed_part(key: &[u8], tag: Option<[u8; 2]>) -> &[u8] {
    let Some([open, close]) = tag else { return key };
    let Some(start) = key.iter().position(|&b| b == open) else {
        return key;
    };
    match key[start + 1..].iter().position(|&b| b == close) {
        Some(len) if len > 0 => &key[start + 1..start + 1 + len],
        _ => key,
    }
}

/// Everything needed to place a key: the hash, the tag and the ring.
#[derive(Debug, Clone)]
pub struct Distribution {
    pub hash: KeyHash,
    pub tag: Option<[u8; 2]>,
    pub ring: Ring,
}

impl Distribution {
    /// The server index for `key`, as twemproxy's `server_pool_idx`: an
    /// empty key hashes to 0.
    pub fn server_for_key(&self, key: &[u8]) -> Option<usize> {
        let part = hashed_part(key, self.tag);
        let h = if part.is_empty() { 0 } else { self.hash.hash(part) };
        self.ring.server_for_hash(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_per_server() {
        let servers: Vec<RingServer> = (0..4).map(|i| RingServer { name: format!("127.0.0.1:{}", 7401 + i), weight: 1 }).collect();
        let ring = Ring::build(&servers, &[true; 4]);
        assert_eq!(ring.points.len(), 4 * 160);
        let weighted: Vec<RingServer> = [1, 2, 1, 3].iter().enumerate().map(|(i, w)| RingServer { name: format!("s{i}"), weight: *w }).collect();
        let ring = Ring::build(&weighted, &[true; 4]);
        let count = |s: usize| ring.points.iter().filter(|p| p.1 == s).count();
        // floor(w/7 * 40 * 4) * 4
        assert_eq!([count(0), count(1), count(2), count(3)], [88, 180, 88, 272]);
    }

    #[test]
    fn hash_tags() {
        let tag = Some(*b"{}");
        assert_eq!(hashed_part(b"user:{42}:name", tag), b"42");
        assert_eq!(hashed_part(b"user:{}:name", tag), b"user:{}:name");
        assert_eq!(hashed_part(b"user:{42", tag), b"user:{42");
        assert_eq!(hashed_part(b"a{b}c{d}", tag), b"b");
        assert_eq!(hashed_part(b"plain", None), b"plain");
    }

    #[test]
    fn fnv1a_64_is_truncated_and_sign_extended() {
        // hand-computed: h = 0x84222325; h ^= 'a'; h *= 0x1b3
        let expect = (0x8422_2325u32 ^ 0x61).wrapping_mul(0x1b3);
        assert_eq!(KeyHash::Fnv1a64.hash(b"a"), expect);
        let expect = (0x8422_2325u32 ^ 0xffff_ff80).wrapping_mul(0x1b3);
        assert_eq!(KeyHash::Fnv1a64.hash(&[0x80]), expect);
        assert!(KeyHash::parse("crc32").is_err());
    }
}
