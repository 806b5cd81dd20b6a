//! RDB files, as Redis 7.0 writes them (version 10) and as Redis 6.2 to 8
//! and Valkey 8 write them (versions up to 12) for loading.
//!
//! A file is `REDIS` and four version digits, auxiliary fields
//! (`0xFA` name value), then per database a `0xFE` SELECTDB and a `0xFB`
//! RESIZEDB hint, then its key-value pairs (an optional `0xFC` expiry in
//! Unix milliseconds, little-endian, or the older `0xFD` in seconds, an
//! optional `0xF8` idle time or `0xF9` LFU frequency, then the value's
//! type, the key and the value in [`super::codec`]'s encodings), and
//! `0xFF` with a CRC64 of everything before it (zero when `rdbchecksum no`).
//!
//! Saving is the snapshot of [`crate::store::snapshot`]: the pairs are
//! serialised by `encode_pair` under each shard's lock, written here.
//! The file is written as `temp-<pid>.rdb`, fsynced, renamed over
//! `dbfilename` and the directory fsynced, as Redis does, so a crash leaves
//! either the old file or the new one.
//!
//! Strings longer than 20 bytes are LZF-compressed as Redis compresses
//! them (`rdbcompression yes`, the default), and read either way.

use super::codec;
use crate::node::Server;
use crate::store::{Entry, NUM_DBS, SHARDS_PER_DB};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const OPCODE_SLOT_INFO: u8 = 0xF4;
const OPCODE_FUNCTION2: u8 = 0xF5;
const OPCODE_FUNCTION_PRE_GA: u8 = 0xF6;
const OPCODE_MODULE_AUX: u8 = 0xF7;
const OPCODE_IDLE: u8 = 0xF8;
const OPCODE_FREQ: u8 = 0xF9;
const OPCODE_AUX: u8 = 0xFA;
const OPCODE_RESIZEDB: u8 = 0xFB;
const OPCODE_EXPIRETIME_MS: u8 = 0xFC;
const OPCODE_EXPIRETIME: u8 = 0xFD;
const OPCODE_SELECTDB: u8 = 0xFE;
const OPCODE_EOF: u8 = 0xFF;

/// What a snapshot records of each key's use, as Redis's
/// `rdbSaveKeyValuePair` does by policy: the idle time (seconds) under an
/// LRU policy, the LFU counter (decayed to now) under an LFU one, nothing
/// under the others.
const USE_NONE: u8 = 0;
const USE_IDLE: u8 = 1;
const USE_FREQ: u8 = 2;

/// `lfu-decay-time` of the snapshot in progress (one runs at a time).
static LFU_DECAY_MINUTES: AtomicU64 = AtomicU64::new(1);

/// One key-value pair as an RDB file holds it: the snapshot's encoder,
/// long strings compressed with `COMPRESS` (`rdbcompression yes`), the
/// key's use recorded as `USE` says.
fn encode_pair<const COMPRESS: bool, const USE: u8>(out: &mut Vec<u8>, e: Entry<'_>) {
    if COMPRESS {
        codec::compressing(true, || encode_pair_as::<USE>(out, e));
    } else {
        encode_pair_as::<USE>(out, e);
    }
}

fn encode_pair_as<const USE: u8>(out: &mut Vec<u8>, e: Entry<'_>) {
    if e.expire_at != 0 {
        out.push(OPCODE_EXPIRETIME_MS);
        out.extend_from_slice(&e.expire_at.to_le_bytes());
    }
    match USE {
        USE_IDLE => {
            out.push(OPCODE_IDLE);
            codec::encode_len(e.meta.idle_secs(crate::util::clock_ms()), out);
        }
        USE_FREQ => {
            let counter = e.meta.lfu_counter(crate::util::clock_ms(), LFU_DECAY_MINUTES.load(Ordering::Relaxed));
            out.extend_from_slice(&[OPCODE_FREQ, counter.min(255) as u8]);
        }
        _ => {}
    }
    codec::write_object(e, Some(e.entry.key()), out);
}

/// What a save wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct Saved {
    pub bytes: u64,
    /// The most bytes held at once for entries written during the save.
    pub peak_buffered: u64,
    /// Entries a writer changed before the walk reached them.
    pub preserved: u64,
}

/// Writes through a CRC64 of everything written.
struct Out<W: Write> {
    w: W,
    crc: u64,
    bytes: u64,
    checksum: bool,
}

impl<W: Write> Out<W> {
    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        if self.checksum {
            self.crc = codec::crc64(self.crc, b);
        }
        self.bytes += b.len() as u64;
        self.w.write_all(b)
    }

    fn aux(&mut self, name: &str, value: &[u8]) -> std::io::Result<()> {
        let mut b = vec![OPCODE_AUX];
        codec::encode_string(name.as_bytes(), &mut b);
        codec::encode_string(value, &mut b);
        self.put(&b)
    }
}

/// Ends a snapshot's remaining shards if the save stops early (an I/O
/// error): the pre-write hook must not go on keeping entries for nobody.
struct Walk<'a> {
    server: &'a Server,
    next: usize,
}

impl Walk<'_> {
    fn take(&mut self) -> Option<(usize, Vec<u8>)> {
        let n = self.next;
        if n == NUM_DBS * SHARDS_PER_DB {
            return None;
        }
        self.next += 1;
        Some((n / SHARDS_PER_DB, self.server.keyspace.snapshot_take(n / SHARDS_PER_DB, n % SHARDS_PER_DB)))
    }
}

impl Drop for Walk<'_> {
    fn drop(&mut self) {
        while self.take().is_some() {}
    }
}

/// Starts a point-in-time snapshot of the whole keyspace (waiting for any
/// transaction or script to finish, as a fork happens between commands)
/// and writes it to `path`. The caller made sure no other save runs.
pub fn save(server: &Server, path: &Path) -> std::io::Result<Saved> {
    let begun = {
        let _gate = server.gate_exclusive_unless_held();
        begin(server)
    };
    save_begun(server, begun, path)
}

/// A snapshot begun and not yet written.
pub struct Begun {
    progress: Arc<crate::store::snapshot::Progress>,
    sizes: Vec<(usize, usize)>,
    /// Its keys as commands (an AOF base with `aof-use-rdb-preamble no`),
    /// not as an RDB image.
    commands: bool,
}

/// Begins a snapshot now (the caller holds the exclusive gate, so that it
/// falls between transactions); [`save_begun`] must follow.
pub fn begin(server: &Server) -> Begun {
    let compress = server.config.flag("rdbcompression", true);
    let policy = server.config.policy();
    let recorded = if policy.is_lfu() {
        LFU_DECAY_MINUTES.store(server.config.lfu_decay_time.load(Ordering::Relaxed), Ordering::Relaxed);
        USE_FREQ
    } else if policy.is_lru() {
        USE_IDLE
    } else {
        USE_NONE
    };
    let encoder: crate::store::snapshot::Encoder = match (compress, recorded) {
        (true, USE_IDLE) => encode_pair::<true, USE_IDLE>,
        (true, USE_FREQ) => encode_pair::<true, USE_FREQ>,
        (true, _) => encode_pair::<true, USE_NONE>,
        (false, USE_IDLE) => encode_pair::<false, USE_IDLE>,
        (false, USE_FREQ) => encode_pair::<false, USE_FREQ>,
        (false, _) => encode_pair::<false, USE_NONE>,
    };
    let (progress, sizes) = server.keyspace.snapshot_begin(encoder);
    Begun { progress, sizes, commands: false }
}

/// [`begin`] of a snapshot written as the commands that rebuild each key
/// (`super::commands`): an AOF base with `aof-use-rdb-preamble no`.
pub fn begin_commands(server: &Server) -> Begun {
    let (progress, sizes) = server.keyspace.snapshot_begin(super::commands::encode_entry);
    Begun { progress, sizes, commands: true }
}

/// Writes a begun snapshot to `path` (through a temp file and a rename).
pub fn save_begun(server: &Server, begun: Begun, path: &Path) -> std::io::Result<Saved> {
    let Begun { progress, sizes, commands } = begun;
    let mut walk = Walk { server, next: 0 };
    let tmp = temp_path(path);
    let result = write_file(server, &tmp, &sizes, &mut walk, commands).and_then(|bytes| {
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        } else {
            std::fs::File::open(".")?.sync_all()?;
        }
        Ok(bytes)
    });
    drop(walk);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(Saved { bytes: result?, peak_buffered: progress.peak.load(Ordering::Relaxed), preserved: progress.preserved.load(Ordering::Relaxed) })
}

fn temp_path(path: &Path) -> PathBuf {
    path.with_file_name(format!("temp-{}.rdb", std::process::id()))
}

fn write_file(server: &Server, tmp: &Path, sizes: &[(usize, usize)], walk: &mut Walk<'_>, commands: bool) -> std::io::Result<u64> {
    let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(tmp)?);
    let (w, bytes) = if commands { write_commands(file, walk)? } else { write_rdb(server, file, sizes, walk)? };
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(bytes)
}

/// The keys of the snapshot `walk` takes as commands, a SELECT before
/// each database's.
fn write_commands<W: Write>(mut w: W, walk: &mut Walk<'_>) -> std::io::Result<(W, u64)> {
    let (mut current, mut bytes) = (usize::MAX, 0u64);
    while let Some((db, chunk)) = walk.take() {
        if chunk.is_empty() {
            continue;
        }
        if db != current {
            current = db;
            let n = db.to_string();
            let select = format!("*2\r\n$6\r\nSELECT\r\n${}\r\n{n}\r\n", n.len());
            w.write_all(select.as_bytes())?;
            bytes += select.len() as u64;
        }
        w.write_all(&chunk)?;
        bytes += chunk.len() as u64;
    }
    w.flush()?;
    Ok((w, bytes))
}

/// Writes a begun snapshot to `w` (a replica's connection, through the
/// connection layer): the same bytes as a file, nothing renamed or synced.
pub fn stream_begun<W: Write>(server: &Server, begun: Begun, w: W) -> std::io::Result<(W, Saved)> {
    let Begun { progress, sizes, commands } = begun;
    debug_assert!(!commands, "a replica gets an RDB image");
    let mut walk = Walk { server, next: 0 };
    let (w, bytes) = write_rdb(server, w, &sizes, &mut walk)?;
    drop(walk);
    Ok((w, Saved { bytes, peak_buffered: progress.peak.load(Ordering::Relaxed), preserved: progress.preserved.load(Ordering::Relaxed) }))
}

/// The RDB image of the snapshot `walk` takes, onto `w`; `w` back, and the
/// bytes written.
fn write_rdb<W: Write>(server: &Server, w: W, sizes: &[(usize, usize)], walk: &mut Walk<'_>) -> std::io::Result<(W, u64)> {
    let checksum = server.config.get("rdbchecksum").is_none_or(|v| v != "no");
    let mut out = Out { w, crc: 0, bytes: 0, checksum };
    out.put(format!("REDIS{:04}", codec::RDB_VERSION).as_bytes())?;
    out.aux("redis-ver", crate::config::REDIS_VERSION.as_bytes())?;
    out.aux("redis-bits", b"64")?;
    out.aux("ctime", (crate::util::now_ms() / 1000).to_string().as_bytes())?;
    out.aux("used-mem", crate::alloc::used_memory().to_string().as_bytes())?;
    out.aux("aof-base", b"0")?;
    let mut current = usize::MAX;
    while let Some((db, chunk)) = walk.take() {
        if db != current && sizes[db].0 > 0 {
            current = db;
            let mut b = vec![OPCODE_SELECTDB];
            codec::encode_len(db as u64, &mut b);
            b.push(OPCODE_RESIZEDB);
            codec::encode_len(sizes[db].0 as u64, &mut b);
            codec::encode_len(sizes[db].1 as u64, &mut b);
            out.put(&b)?;
        }
        out.put(&chunk)?;
    }
    out.put(&[OPCODE_EOF])?;
    let crc = out.crc;
    out.put(&if checksum { crc } else { 0 }.to_le_bytes())?;
    out.w.flush()?;
    Ok((out.w, out.bytes))
}

/// Why a file cannot be loaded: the message names what and where.
#[derive(Debug, PartialEq, Eq)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What loading found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    pub keys: u64,
    /// Keys whose TTL had passed (not loaded, as Redis skips them).
    pub expired: u64,
    pub version: u16,
    /// Where the RDB image ends in the input (an AOF's commands may follow).
    pub end: usize,
}

/// The name of an RDB type shardis does not store, for the error.
fn type_name(t: u8) -> String {
    match t {
        6 | 7 => "a module value (RDB type 6/7)".into(),
        22..=25 => format!("a hash with field expiry (Redis 7.4 RDB type {t})"),
        t => format!("RDB object type {t}"),
    }
}

/// Loads an RDB image into the (empty) keyspace, as Redis's `rdbLoad`:
/// checks the header and the checksum, skips keys already expired, and
/// refuses what shardis cannot hold by name. `progress` is told the bytes
/// read so far now and then.
pub fn load(server: &Server, b: &[u8], mut progress: impl FnMut(usize)) -> Result<Loaded, LoadError> {
    let bad = |what: &str, at: usize| LoadError(format!("{what} at byte {at} of the RDB file"));
    if b.len() < 9 || &b[..5] != b"REDIS" {
        return Err(LoadError("Wrong signature trying to load DB from file".into()));
    }
    let version = std::str::from_utf8(&b[5..9])
        .ok()
        .and_then(|v| v.parse::<u16>().ok())
        .ok_or_else(|| LoadError("Wrong signature trying to load DB from file".into()))?;
    if !(1..=codec::RDB_VERSION_READ).contains(&version) {
        return Err(LoadError(format!("Can't handle RDB format version {version}")));
    }
    let now = crate::util::now_ms();
    let config = &server.config;
    let mut pos = 9;
    let mut db = 0usize;
    let mut loaded = Loaded { version, ..Loaded::default() };
    let (mut expire_at, mut idle, mut freq) = (0u64, None, None);
    // The checksum is computed as the load goes, over bytes just read: a
    // pass over the whole file at the end would bring back every page the
    // caller let go (a mapped file).
    let checking = version >= 5 && config.get("rdbchecksum").is_none_or(|v| v != "no");
    let (mut crc, mut crc_upto) = (0u64, 0usize);
    let len = |pos: &mut usize| codec::decode_len(b, pos).and_then(|l| l.ok());
    loop {
        let at = pos;
        let Some(&op) = b.get(pos) else { return Err(bad("Unexpected EOF reading RDB file (truncated)", at)) };
        pos += 1;
        match op {
            OPCODE_EOF => {
                if version >= 5 {
                    let Some(sum) = b.get(pos..pos + 8) else { return Err(bad("Unexpected EOF reading the RDB checksum (truncated)", pos)) };
                    let expected = u64::from_le_bytes(sum.try_into().expect("8 bytes"));
                    if expected != 0 && checking {
                        let got = codec::crc64(crc, &b[crc_upto..pos]);
                        if got != expected {
                            return Err(LoadError(format!("Wrong RDB checksum expected: ({expected:x}) got ({got:x}). Aborting now.")));
                        }
                    }
                    pos += 8;
                }
                loaded.end = pos;
                return Ok(loaded);
            }
            OPCODE_SELECTDB => {
                let n = len(&mut pos).ok_or_else(|| bad("Bad SELECTDB", at))?;
                if n >= NUM_DBS as u64 {
                    return Err(LoadError(format!(
                        "FATAL: Data file was created with a Redis server configured to handle more than {NUM_DBS} databases. Exiting"
                    )));
                }
                db = n as usize;
            }
            OPCODE_RESIZEDB => {
                let keys = len(&mut pos).ok_or_else(|| bad("Bad RESIZEDB", at))?;
                len(&mut pos).ok_or_else(|| bad("Bad RESIZEDB", at))?;
                // a hint, believed only as far as the file could hold it
                server.keyspace.reserve(db, keys.min(b.len() as u64 / 4) as usize);
            }
            OPCODE_AUX => {
                let name = codec::decode_string(b, &mut pos).ok_or_else(|| bad("Bad AUX field", at))?;
                let value = codec::decode_string(b, &mut pos).ok_or_else(|| bad("Bad AUX field", at))?;
                tracing::debug!(name = %String::from_utf8_lossy(&name), value = %String::from_utf8_lossy(&value), "RDB aux field");
            }
            OPCODE_EXPIRETIME_MS => {
                let t = b.get(pos..pos + 8).ok_or_else(|| bad("Unexpected EOF in an expiry", at))?;
                expire_at = u64::from_le_bytes(t.try_into().expect("8 bytes")).max(1);
                pos += 8;
            }
            OPCODE_EXPIRETIME => {
                let t = b.get(pos..pos + 4).ok_or_else(|| bad("Unexpected EOF in an expiry", at))?;
                expire_at = (u32::from_le_bytes(t.try_into().expect("4 bytes")) as u64 * 1000).max(1);
                pos += 4;
            }
            OPCODE_IDLE => idle = Some(len(&mut pos).ok_or_else(|| bad("Bad IDLE", at))?),
            OPCODE_FREQ => {
                freq = Some(*b.get(pos).ok_or_else(|| bad("Unexpected EOF in a frequency", at))? as u64);
                pos += 1;
            }
            OPCODE_SLOT_INFO => {
                // a cluster's slot sizes (Redis 7.4, Valkey 8): hints only
                len(&mut pos).and_then(|_| len(&mut pos)).and_then(|_| len(&mut pos)).ok_or_else(|| bad("Bad SLOT_INFO", at))?;
            }
            OPCODE_FUNCTION2 | OPCODE_FUNCTION_PRE_GA => {
                return Err(LoadError("The RDB file holds Redis functions (FUNCTION LOAD libraries), which shardis does not support".into()));
            }
            OPCODE_MODULE_AUX => return Err(LoadError("The RDB file holds module data (MODULE_AUX), which shardis cannot load".into())),
            t => {
                let key = codec::decode_string(b, &mut pos).ok_or_else(|| bad("Bad key", at))?;
                let value = codec::read_value(t, b, &mut pos).map_err(|e| match e {
                    codec::BadPayload::Type(t) => {
                        LoadError(format!("The RDB file holds {} under key '{}' in DB {db}, which shardis does not store", type_name(t), printable(&key)))
                    }
                    _ => bad(&format!("Short read or bad value (the file is truncated or corrupt) for key '{}' in DB {db}", printable(&key)), at),
                })?;
                let (exp, i, f) = (std::mem::take(&mut expire_at), idle.take(), freq.take());
                if exp != 0 && exp < now {
                    loaded.expired += 1;
                    continue;
                }
                let mut l = server.keyspace.lock(db, &key);
                l.set_touch(false);
                // a key already there is replaced, so the count stays (no
                // expiry runs while loading: nothing else changes it)
                let before = server.keyspace.dbsize(db);
                codec::install(&mut l, &key, value, exp, config);
                if server.keyspace.dbsize(db) == before {
                    return Err(LoadError(format!("RDB has duplicated key '{}' in DB {db}", printable(&key))));
                }
                if let Some(i) = i {
                    l.set_idle(&key, i);
                }
                if let Some(f) = f {
                    l.set_freq(&key, f);
                }
                loaded.keys += 1;
                if loaded.keys.is_multiple_of(1024) {
                    if checking {
                        crc = codec::crc64(crc, &b[crc_upto..pos]);
                        crc_upto = pos;
                    }
                    progress(pos);
                }
            }
        }
    }
}

/// A key as an error message shows it: on one line, at most 128 bytes.
fn printable(key: &[u8]) -> String {
    String::from_utf8_lossy(&key[..key.len().min(128)]).replace(['\r', '\n'], " ")
}
