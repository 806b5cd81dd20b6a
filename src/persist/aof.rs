//! The append-only file, in Redis 7.0's multi-part layout: a directory
//! (`appenddirname`, default `appendonlydir`) holding one base file (an
//! RDB image, `aof-use-rdb-preamble yes`, or commands), incremental files
//! of commands, and a manifest listing them (`file <name> seq <n> type
//! b|i|h`). redis-server 7.0 and `redis-check-aof` read what is written
//! here, and it reads theirs.
//!
//! **Fed by the effect log.** Every change reaches the file as the effect
//! log's propagation form ([`crate::store::effects`]), never as the client's
//! request: expiry and eviction as `DEL`, relative times as absolute ones,
//! scripts and transactions as their effects wrapped in MULTI/EXEC, in the
//! order they were applied, a `SELECT` wherever the database changes.
//!
//! **Writing.** The effect log keeps the AOF's effects until they are
//! taken ([`crate::store::effects::EffectLog::take_aof`]). A connection
//! that wrote something writes everything pending to the file before it
//! sends its replies (so a killed process loses nothing it acknowledged,
//! as with Redis, under every policy), whoever comes first writing for all.
//! Syncing is the writer thread's:
//! - `always`: a client's replies wait until the writer has fsynced past
//!   its effects; one fsync covers every client that wrote meanwhile
//!   (group commit).
//! - `everysec`: an fsync a second, in the writer thread; the data is in
//!   the kernel before the reply, on the disk within about a second.
//! - `no`: the kernel decides.
//!
//! A failed write keeps its bytes and is retried; meanwhile writes are
//! refused with Redis's `-MISCONF Errors writing to the AOF file: ...` and
//! reads go on; the file is cut back to its last complete command first,
//! so a partial write never leaves half a command in it.
//!
//! **Rewriting** (BGREWRITEAOF, `auto-aof-rewrite-*`, and the first start
//! with `appendonly yes`): under the exclusive gate a snapshot begins and
//! the effects so far go to the old incremental file; a new one (seq + 1)
//! takes what follows, and the manifest lists both. The snapshot becomes
//! the new base; then the manifest drops the old base and increments and
//! they are deleted.
//!
//! **Loading**: the manifest's base, then each incremental file, replayed
//! through the command table by a client of its own. A truncated last
//! command (a crash mid-write) is cut off when `aof-load-truncated yes`,
//! as is a transaction without its EXEC; anything else malformed stops the
//! start with the file and offset named.

use crate::node::Server;
use crate::node::aof::{AofPart, AofState, WriterWake};
use crate::resp::Reply;
use bytes::{Bytes, BytesMut};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Runs one command for the loader (the command table lives above this
/// layer; the binary passes it in).
pub type Exec = fn(&Server, &mut crate::node::Client, &[Bytes]) -> Reply;

/// `appenddirname`, in `dir`.
pub fn dir(server: &Server) -> PathBuf {
    PathBuf::from(server.config.get("appenddirname").unwrap_or_else(|| "appendonlydir".into()))
}

/// `appendfilename`: the prefix of every file's name.
fn prefix(server: &Server) -> String {
    server.config.get("appendfilename").unwrap_or_else(|| "appendonly.aof".into())
}

fn manifest_name(server: &Server) -> String {
    format!("{}.manifest", prefix(server))
}

fn state(server: &Server) -> &AofState {
    &server.persistence.aof
}

/// The manifest's text, as Redis 7.0 writes it.
pub fn manifest_text(parts: &[AofPart]) -> String {
    parts.iter().map(|p| format!("file {} seq {} type {}\n", p.name, p.seq, p.kind)).collect()
}

/// Reads a manifest (Redis's `aofLoadManifestFromFile`): `key value`
/// pairs per line, `#` comments; every file has a name, a seq and a type.
pub fn parse_manifest(text: &str) -> Result<Vec<AofPart>, String> {
    let mut parts = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if !words.len().is_multiple_of(2) {
            return Err(format!("Invalid AOF manifest file format (line {})", n + 1));
        }
        let (mut name, mut seq, mut kind) = (None, None, None);
        for kv in words.chunks(2) {
            match kv[0] {
                "file" => name = Some(kv[1].to_string()),
                "seq" => seq = kv[1].parse::<u64>().ok(),
                "type" => kind = kv[1].chars().next().filter(|c| matches!(c, 'b' | 'i' | 'h') && kv[1].len() == 1),
                _ => {}
            }
        }
        match (name, seq, kind) {
            (Some(name), Some(seq), Some(kind)) if !name.contains('/') => parts.push(AofPart { name, seq, kind }),
            _ => return Err(format!("Invalid AOF manifest file format (line {})", n + 1)),
        }
    }
    if parts.iter().filter(|p| p.kind == 'b').count() > 1 {
        return Err("Found duplicate base file information in the AOF manifest".into());
    }
    Ok(parts)
}

/// Writes `path` atomically: a temp file, fsynced, renamed, the directory
/// fsynced.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("temp-{name}"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

fn save_manifest(server: &Server, parts: &[AofPart]) -> std::io::Result<()> {
    write_atomically(&dir(server), &manifest_name(server), manifest_text(parts).as_bytes())
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().create(true).append(true).open(path)
}

/// Writes what the effect log holds for the AOF (and anything a failed
/// write left) to the incremental file. Returns false if the write failed
/// (the bytes are kept for the next try).
pub fn write_pending(server: &Server) -> bool {
    let st = state(server);
    let mut out = st.output.lock().unwrap_or_else(|p| p.into_inner());
    let (bytes, end) = server.keyspace.effects.take_aof(false);
    if out.pending.is_empty() {
        out.pending = bytes;
    } else {
        out.pending.extend_from_slice(&bytes);
    }
    out.pending_end = end;
    if out.pending.is_empty() {
        st.written.store(end, Ordering::Release);
        return true;
    }
    let good = out.incr_size;
    let pending = std::mem::take(&mut out.pending);
    let result = match out.file.as_mut() {
        Some(f) => f.write_all(&pending),
        None => Err(std::io::Error::other("no AOF file open")),
    };
    match result {
        Ok(()) => {
            out.incr_size += pending.len() as u64;
            st.written.store(end, Ordering::Release);
            if st.write_failed.swap(false, Ordering::Relaxed) {
                tracing::warn!("AOF write error looks solved, Redis can write again.");
            }
            true
        }
        Err(e) => {
            // never half a command in the file: back to the last good size
            if let Some(f) = out.file.as_ref() {
                let _ = f.set_len(good);
            }
            out.pending = pending;
            if !st.write_failed.swap(true, Ordering::Relaxed) {
                tracing::error!(error = %e, "Error writing to the AOF file");
            }
            *st.last_error.lock().unwrap_or_else(|p| p.into_inner()) = io_reason(&e);
            false
        }
    }
}

/// The error as `strerror` words it (Redis's MISCONF text carries them).
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    // "No space left on device (os error 28)" -> "No space left on device"
    s.split(" (os error").next().unwrap_or(&s).to_string()
}

/// Redis's refusal of writes while the AOF cannot be written, if so.
pub fn write_refusal(server: &Server) -> Option<String> {
    let st = state(server);
    st.write_failed
        .load(Ordering::Relaxed)
        .then(|| format!("MISCONF Errors writing to the AOF file: {}", st.last_error.lock().unwrap_or_else(|p| p.into_inner())))
}

/// Before a connection sends replies: every effect the log has now goes
/// to the file first, and under `always` onto the disk. Not only the
/// connection's own: a reply may tell what another connection's write
/// did (a GET, a `TXN.STATUS` answering "committed" to a secondary), and
/// nobody may learn of a write the file could still lose, as in Redis,
/// whose replies all leave after the event loop's AOF flush. A reply
/// waits only while some write is not yet where the policy puts it.
pub async fn before_reply(server: &Server) {
    let st = state(server);
    if !st.on.load(Ordering::Relaxed) {
        return;
    }
    let end = server.keyspace.effects.end();
    if st.synced.load(Ordering::Acquire) >= end {
        return;
    }
    if st.fsync.load(Ordering::Relaxed) != 0 {
        // the file has it before the reply goes: a process crash loses
        // nothing acknowledged
        if st.written.load(Ordering::Acquire) < end {
            write_pending(server);
        }
        return;
    }
    // always: the writer thread writes and syncs for every waiting
    // connection at once (one write and one fsync per group, not a write
    // per connection on the thread that runs the commands), when the
    // workers have run every connection that was ready
    // ([`on_worker_idle`]), as Redis syncs once per event loop turn
    st.waiting.fetch_add(1, Ordering::AcqRel);
    loop {
        let synced = st.synced_notify.notified();
        if st.synced.load(Ordering::Acquire) >= end {
            break;
        }
        SYNC_WANTED.store(true, Ordering::Release);
        synced.await;
    }
    st.waiting.fetch_sub(1, Ordering::AcqRel);
}

/// A connection waits for an fsync (`always`).
static SYNC_WANTED: AtomicBool = AtomicBool::new(false);
/// The running writer's wake-up, for [`on_worker_idle`].
static WRITER_WAKE: std::sync::Mutex<Option<Arc<WriterWake>>> = std::sync::Mutex::new(None);

/// tokio's `on_thread_park`: a worker ran out of ready connections. If
/// any of them waits for an fsync, the group is complete: the writer
/// syncs now. One relaxed load when nobody waits.
pub fn on_worker_idle() {
    if SYNC_WANTED.load(Ordering::Relaxed)
        && SYNC_WANTED.swap(false, Ordering::AcqRel)
        && let Some(wake) = WRITER_WAKE.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
    {
        wake_writer(wake);
    }
}

fn wake_writer(wake: &WriterWake) {
    let (flag, cv) = wake;
    *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
    cv.notify_one();
}

/// The writer thread: writes what connections did not, and fsyncs as the
/// policy says.
fn writer(server: Arc<Server>) {
    let st = state(&server);
    *WRITER_WAKE.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&st.wake));
    let mut last_sync = Instant::now();
    while st.on.load(Ordering::Relaxed) {
        let policy = st.fsync.load(Ordering::Relaxed);
        {
            let (flag, cv) = &*st.wake;
            let mut woken = flag.lock().unwrap_or_else(|p| p.into_inner());
            if !*woken {
                // Under `always`, woken by the workers going idle
                // ([`on_worker_idle`]), and each millisecond for workers
                // that never are (a stream of ready connections, or a
                // runtime without the hook): no waiter waits longer.
                let wait = if policy == 0 { Duration::from_millis(1) } else { Duration::from_millis(50) };
                woken = cv.wait_timeout(woken, wait).unwrap_or_else(|p| p.into_inner()).0;
            }
            *woken = false;
        }
        let ok = write_pending(&server);
        let due = match policy {
            0 => st.written.load(Ordering::Acquire) > st.synced.load(Ordering::Acquire),
            1 => last_sync.elapsed() >= Duration::from_secs(1),
            _ => false,
        };
        if ok && due {
            let target = st.written.load(Ordering::Acquire);
            let file = st.output.lock().unwrap_or_else(|p| p.into_inner()).file.as_ref().and_then(|f| f.try_clone().ok());
            last_sync = Instant::now();
            hold_fsync_for_tests();
            // the fsync runs without the output lock: writes go on meanwhile
            match file.map(|f| f.sync_data()) {
                Some(Ok(())) => {
                    st.fsyncs.fetch_add(1, Ordering::Relaxed);
                    st.synced.fetch_max(target, Ordering::AcqRel);
                    st.synced_notify.notify_waiters();
                }
                Some(Err(e)) => {
                    tracing::error!(error = %e, "fsync of the AOF failed");
                    st.write_failed.store(true, Ordering::Relaxed);
                    *st.last_error.lock().unwrap_or_else(|p| p.into_inner()) = io_reason(&e);
                }
                None => {}
            }
        } else if policy != 0 {
            // nobody waits for a sync: what is written counts as synced
            st.synced.store(st.written.load(Ordering::Acquire), Ordering::Release);
        }
    }
}

/// What a new base is followed by: the cross-node transactions prepared
/// and decided here, and the fencing-token high-water mark (a snapshot
/// holds keys only).
fn journal_state(server: &Server) {
    server.txns.journal_state();
    let hwm = server.locks.high_water();
    if hwm > 0 {
        server.keyspace.effects.append(0, crate::store::effects::args(&[b"TXN.FENCE", hwm.to_string().as_bytes()]));
    }
}

/// A fault point for tests (`SHARDIS_FAULT=hold-fsync:<path>`): while
/// `<path>` exists, the writer thread does not fsync, as on a stalled
/// disk, so a test can look at what waits for the disk and what does not.
fn hold_fsync_for_tests() {
    static HOLD: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let hold = HOLD.get_or_init(|| std::env::var("SHARDIS_FAULT").ok().and_then(|f| f.strip_prefix("hold-fsync:").map(PathBuf::from)));
    if let Some(path) = hold {
        while path.exists() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The next base file: an RDB image (`aof-use-rdb-preamble yes`, the
/// default) or, with `no`, the commands that rebuild each key, named as
/// Redis names them (`.base.rdb`, `.base.aof`).
fn new_base(server: &Server, parts: &[AofPart]) -> AofPart {
    let seq = next_seq(parts, 'b');
    let ext = if server.config.flag("aof-use-rdb-preamble", true) { "rdb" } else { "aof" };
    AofPart { name: format!("{}.{seq}.base.{ext}", prefix(server)), seq, kind: 'b' }
}

/// Begins the snapshot `base` will hold, in its form (under the
/// exclusive gate).
fn begin_base(server: &Server, base: &AofPart) -> super::rdb::Begun {
    if base.name.ends_with(".aof") { super::rdb::begin_commands(server) } else { super::rdb::begin(server) }
}

/// The next free sequence number of `kind` files.
fn next_seq(parts: &[AofPart], kind: char) -> u64 {
    parts.iter().filter(|p| p.kind == kind).map(|p| p.seq).max().unwrap_or(0) + 1
}

/// Starts a rewrite: the current incremental file ends here, a new one
/// takes the effects from now on, and the snapshot of this instant is
/// written as the new base by a thread. While another snapshot runs
/// (BGSAVE), the rewrite is scheduled to follow it (`Ok(false)`).
pub fn rewrite(server: &Arc<Server>) -> Result<bool, &'static str> {
    let st = state(server);
    if st.rewrite_in_progress.load(Ordering::Acquire) {
        return Err("ERR Background append only file rewriting already in progress");
    }
    if super::claim(server).is_err() {
        st.rewrite_scheduled.store(true, Ordering::Relaxed);
        return Ok(false);
    }
    st.rewrite_in_progress.store(true, Ordering::Release);
    let job = Arc::clone(server);
    let spawned = std::thread::Builder::new().name("shardis-aofrw".into()).spawn(move || {
        let started = Instant::now();
        let result = run_rewrite(&job);
        let st = state(&job);
        st.last_rewrite_secs.store(started.elapsed().as_secs() as i64, Ordering::Relaxed);
        st.last_rewrite_ok.store(result.is_ok(), Ordering::Relaxed);
        match result {
            Ok(()) => {
                st.rewrites.fetch_add(1, Ordering::Relaxed);
                tracing::info!(secs = format!("{:.3}", started.elapsed().as_secs_f64()), "Background AOF rewrite finished successfully");
            }
            Err(e) => tracing::error!(error = %e, "Background AOF rewrite failed"),
        }
        st.rewrite_in_progress.store(false, Ordering::Release);
        job.persistence.saving.store(false, Ordering::Release);
    });
    if spawned.is_err() {
        st.rewrite_in_progress.store(false, Ordering::Release);
        server.persistence.saving.store(false, Ordering::Release);
        return Err("ERR Can't start the background AOF rewrite thread");
    }
    Ok(true)
}

/// The rewrite itself (the save slot held): rotate the incremental file
/// and begin the snapshot at one instant, write the base, then switch the
/// manifest to it and delete what it replaces.
fn run_rewrite(server: &Server) -> std::io::Result<()> {
    let st = state(server);
    let d = dir(server);
    let prefix = prefix(server);
    let (begun, base) = {
        let _gate = server.gate_exclusive_unless_held();
        // nothing changes now: what is pending belongs to the old file
        if !write_pending(server) {
            return Err(std::io::Error::other("the AOF cannot be written"));
        }
        let mut out = st.output.lock().unwrap_or_else(|p| p.into_inner());
        let incr = AofPart { name: format!("{prefix}.{}.incr.aof", next_seq(&out.parts, 'i')), seq: next_seq(&out.parts, 'i'), kind: 'i' };
        let base = new_base(server, &out.parts);
        let file = open_append(&d.join(&incr.name))?;
        if let Some(old) = out.file.as_ref() {
            old.sync_data()?;
        }
        let mut parts = out.parts.clone();
        parts.push(incr);
        // a crash from here on loads the old base, the old increments and the new one
        save_manifest(server, &parts)?;
        out.parts = parts;
        out.file = Some(file);
        out.incr_size = 0;
        // the new file selects its database afresh, and starts with the
        // state the snapshot does not hold
        let _ = server.keyspace.effects.take_aof(true);
        journal_state(server);
        (begin_base(server, &base), base)
    };
    let saved = super::rdb::save_begun(server, begun, &d.join(&base.name))?;
    // the state journaled after the snapshot is on disk before the old
    // files (which also hold it) go
    sync_increment(server)?;
    let mut out = st.output.lock().unwrap_or_else(|p| p.into_inner());
    let newest = out.parts.iter().filter(|p| p.kind == 'i').map(|p| p.seq).max().unwrap_or(0);
    let (keep, drop): (Vec<AofPart>, Vec<AofPart>) = out.parts.iter().cloned().partition(|p| p.kind == 'i' && p.seq == newest);
    let mut parts = vec![base];
    parts.extend(keep);
    save_manifest(server, &parts)?;
    out.parts = parts;
    out.base_size = saved.bytes;
    drop_files(&d, &drop);
    Ok(())
}

/// Everything pending written to the increment and fsynced.
fn sync_increment(server: &Server) -> std::io::Result<()> {
    if !write_pending(server) {
        return Err(std::io::Error::other("the AOF cannot be written"));
    }
    let out = state(server).output.lock().unwrap_or_else(|p| p.into_inner());
    match out.file.as_ref() {
        Some(f) => f.sync_data(),
        None => Ok(()),
    }
}

fn drop_files(d: &Path, parts: &[AofPart]) {
    for p in parts {
        if let Err(e) = std::fs::remove_file(d.join(&p.name)) {
            tracing::warn!(file = %p.name, error = %e, "cannot delete an AOF file no longer needed");
        }
    }
}

/// Once a second: a scheduled rewrite, or one `auto-aof-rewrite-*` asks
/// for (the incremental files grew by that percentage of the base, and
/// past the minimum size).
pub fn cron(server: &Arc<Server>) {
    let st = state(server);
    if !st.on.load(Ordering::Relaxed) || st.rewrite_in_progress.load(Ordering::Relaxed) || server.persistence.saving.load(Ordering::Relaxed) {
        return;
    }
    let (incr, base) = {
        let out = st.output.lock().unwrap_or_else(|p| p.into_inner());
        (out.incr_size, out.base_size)
    };
    let percent: u64 = server.config.get("auto-aof-rewrite-percentage").and_then(|v| v.parse().ok()).unwrap_or(100);
    let min = server.config.get("auto-aof-rewrite-min-size").and_then(|v| crate::util::parse_memory(&v)).unwrap_or(64 << 20);
    let grown = percent > 0 && incr >= min && incr * 100 >= base.max(1) * percent;
    if st.rewrite_scheduled.swap(false, Ordering::Relaxed) || grown {
        tracing::info!(incr, base, "Starting automatic rewriting of AOF");
        let _ = rewrite(server);
    }
}

/// At startup with `appendonly yes`: loads the AOF named by the manifest
/// (or creates one from the empty dataset) on a thread while clients get
/// `-LOADING`, then appends to it. A file that cannot be loaded stops the
/// process with the reason.
pub fn start(server: &Arc<Server>, exec: Exec) {
    let p = &server.persistence;
    p.loading.store(true, Ordering::Release);
    p.loading_started.store(crate::util::now_ms(), Ordering::Relaxed);
    let fsync = match server.config.get("appendfsync").as_deref() {
        Some("always") => 0,
        Some("no") => 2,
        _ => 1,
    };
    state(server).fsync.store(fsync, Ordering::Relaxed);
    let server = Arc::clone(server);
    std::thread::spawn(move || {
        let started = Instant::now();
        match open_at_start(&server, exec) {
            Ok(keys) => tracing::info!(keys, secs = format!("{:.3}", started.elapsed().as_secs_f64()), "DB loaded from append only file"),
            Err(e) => {
                tracing::error!(error = %e, "cannot load the append only file: not starting with a partial dataset");
                std::process::exit(1);
            }
        }
        let writer_server = Arc::clone(&server);
        let _ = std::thread::Builder::new().name("shardis-aof".into()).spawn(move || writer(writer_server));
        server.persistence.loading.store(false, Ordering::Release);
    });
}

fn open_at_start(server: &Arc<Server>, exec: Exec) -> Result<usize, String> {
    let d = dir(server);
    let manifest = d.join(manifest_name(server));
    let st = state(server);
    let mut parts = match std::fs::read_to_string(&manifest) {
        Ok(text) => parse_manifest(&text).map_err(|e| format!("{e} ({})", manifest.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("Can't open the append-only file manifest {}: {e}", manifest.display())),
    };
    parts.retain(|p| p.kind != 'h');
    parts.sort_by_key(|p| (p.kind != 'b', p.seq));
    let incrs = parts.iter().filter(|p| p.kind == 'i').count();
    let mut seen = 0;
    for (i, part) in parts.iter().enumerate() {
        let path = d.join(&part.name);
        let file = super::mapped::Mapped::open(&path).map_err(|e| format!("Can't open the append-only file {}: {e}", path.display()))?;
        server.persistence.loading_total_bytes.store(file.bytes().len() as u64, Ordering::Relaxed);
        let last = i + 1 == parts.len() && part.kind == 'i';
        seen += load_file(server, exec, &path, &file, last)?;
    }
    let mut out = st.output.lock().unwrap_or_else(|p| p.into_inner());
    if parts.iter().all(|p| p.kind != 'b') || incrs == 0 {
        // a new AOF: the dataset as it is (empty, or what old increments
        // gave) becomes the base, with an empty increment after it
        std::fs::create_dir_all(&d).map_err(|e| format!("Can't create the AOF directory {}: {e}", d.display()))?;
        let prefix = prefix(server);
        let base = new_base(server, &parts);
        let incr = AofPart { name: format!("{prefix}.{}.incr.aof", next_seq(&parts, 'i')), seq: next_seq(&parts, 'i'), kind: 'i' };
        let begun = {
            let _gate = server.gate_exclusive_unless_held();
            begin_base(server, &base)
        };
        let saved = super::rdb::save_begun(server, begun, &d.join(&base.name)).map_err(|e| format!("Can't write the AOF base {}: {e}", base.name))?;
        open_append(&d.join(&incr.name)).map_err(|e| format!("Can't create the AOF file {}: {e}", incr.name))?;
        let old = std::mem::take(&mut parts);
        parts = vec![base, incr];
        save_manifest(server, &parts).map_err(|e| format!("Can't write the AOF manifest: {e}"))?;
        drop_files(&d, &old);
        out.base_size = saved.bytes;
    }
    let incr = parts.iter().rfind(|p| p.kind == 'i').expect("an increment").clone();
    let path = d.join(&incr.name);
    let file = open_append(&path).map_err(|e| format!("Can't open the append-only file {}: {e}", path.display()))?;
    out.incr_size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if out.base_size == 0 {
        out.base_size = parts.iter().find(|p| p.kind == 'b').and_then(|b| std::fs::metadata(d.join(&b.name)).ok()).map_or(0, |m| m.len());
    }
    out.file = Some(file);
    out.parts = parts;
    drop(out);
    // from here on every effect goes to the file
    server.keyspace.effects.feed_aof(true);
    let end = server.keyspace.effects.end();
    st.written.store(end, Ordering::Release);
    st.synced.store(end, Ordering::Release);
    st.on.store(true, Ordering::Release);
    Ok(seen)
}

/// Loads one file of the AOF: an RDB image (a base, or a preamble
/// followed by commands) and/or commands. Returns the keys an RDB part
/// held (commands are not counted).
fn load_file(server: &Server, exec: Exec, path: &Path, file: &super::mapped::Mapped, last: bool) -> Result<usize, String> {
    let bytes = file.bytes();
    let mut keys = 0;
    let mut from = 0;
    if bytes.starts_with(b"REDIS") {
        let loaded = super::rdb::load(server, bytes, |at| file.release_before(at)).map_err(|e| format!("{} ({})", e, path.display()))?;
        keys = loaded.keys as usize;
        from = loaded.end;
    }
    replay(server, exec, path, &bytes[from..], from, last, &|at| file.release_before(at))?;
    Ok(keys)
}

/// How much of an AOF the loader parses from at a time: it holds this
/// much (or one command, if larger) besides the mapped file.
const REPLAY_WINDOW: usize = 4 << 20;

/// Runs the commands of an AOF file. `base` is where `cmds` starts in the
/// file (for messages and truncation).
/// `released` is told how far the loader got (the file's pages before it
/// may go).
fn replay(server: &Server, exec: Exec, path: &Path, cmds: &[u8], base: usize, last: bool, released: &dyn Fn(usize)) -> Result<(), String> {
    let info = Arc::new(crate::node::ClientInfo::new(0, "aof".into(), String::new()));
    let mut client = crate::node::Client::new(info, true);
    client.replaying = true;
    client.txn_authorized = true;
    // the commands are parsed from a window of the file, topped up as it
    // is used (and grown for a command larger than it)
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let limits = crate::resp::Limits { max_bulk_len: i64::MAX, authenticated: true };
    // the end of the last command not inside a transaction
    let mut good = 0;
    let mut errors = 0u64;
    loop {
        if buf.len() < REPLAY_WINDOW / 2 && fed < cmds.len() {
            let more = (cmds.len() - fed).min(REPLAY_WINDOW);
            buf.extend_from_slice(&cmds[fed..fed + more]);
            fed += more;
            released(base + fed - buf.len());
        }
        let at = fed - buf.len();
        if buf.is_empty() {
            break;
        }
        if buf[0] != b'*' {
            return Err(format!("Bad file format reading the append only file {} at offset {}", path.display(), base + at));
        }
        match crate::resp::parse_request(&mut buf, limits) {
            Ok(Some(args)) if args.is_empty() => {}
            Ok(Some(args)) => {
                let reply = exec(server, &mut client, &args);
                if let Reply::Error(e) = &reply {
                    errors += 1;
                    if errors <= 5 {
                        tracing::warn!(file = %path.display(), offset = base + at, error = %e, "a command of the AOF failed");
                    }
                }
                if client.multi.is_none() {
                    good = fed - buf.len();
                }
                server.persistence.loading_loaded_bytes.store((base + at) as u64, Ordering::Relaxed);
            }
            // a command not all in the window: more of the file, if any
            Ok(None) if fed < cmds.len() => {
                let more = (cmds.len() - fed).min(REPLAY_WINDOW.max(buf.len()));
                buf.extend_from_slice(&cmds[fed..fed + more]);
                fed += more;
            }
            Ok(None) => break,
            Err(e) => return Err(format!("Bad file format reading the append only file {} at offset {}: {}", path.display(), base + at, e.0)),
        }
    }
    if good < cmds.len() {
        let truncated_ok = server.config.flag("aof-load-truncated", true);
        let what = if buf.is_empty() { "an unfinished MULTI/EXEC transaction" } else { "a truncated command" };
        if !last || !truncated_ok {
            return Err(format!(
                "{what} at offset {} of the append only file {} (aof-load-truncated is {})",
                base + good,
                path.display(),
                if truncated_ok { "yes, but it is not the last file" } else { "no" }
            ));
        }
        tracing::warn!(file = %path.display(), offset = base + good, "!!! Warning: {what} at the end of the append only file: cut off (aof-load-truncated yes) !!!");
        let f = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| format!("Can't truncate {}: {e}", path.display()))?;
        f.set_len((base + good) as u64).and_then(|_| f.sync_all()).map_err(|e| format!("Can't truncate {}: {e}", path.display()))?;
    }
    Ok(())
}

/// CONFIG SET appendonly yes: the AOF starts from the dataset as it is, a
/// new base (a snapshot) and an empty increment that takes every effect
/// from the snapshot's instant on, as Redis's `startAppendOnly` rewrites.
/// Runs on a thread (the snapshot needs the exclusive gate).
pub fn enable(server: &Arc<Server>) {
    let st = state(server);
    if st.on.load(Ordering::Acquire) || st.rewrite_in_progress.swap(true, Ordering::AcqRel) {
        return;
    }
    let server = Arc::clone(server);
    std::thread::spawn(move || {
        let st = state(&server);
        while super::claim(&server).is_err() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let fsync = match server.config.get("appendfsync").as_deref() {
            Some("always") => 0,
            Some("no") => 2,
            _ => 1,
        };
        st.fsync.store(fsync, Ordering::Relaxed);
        let result = (|| -> std::io::Result<()> {
            let d = dir(&server);
            std::fs::create_dir_all(&d)?;
            let old = std::fs::read_to_string(d.join(manifest_name(&server))).ok().and_then(|t| parse_manifest(&t).ok()).unwrap_or_default();
            let prefix = prefix(&server);
            let base = new_base(&server, &old);
            let incr = AofPart { name: format!("{prefix}.{}.incr.aof", next_seq(&old, 'i')), seq: next_seq(&old, 'i'), kind: 'i' };
            let file = open_append(&d.join(&incr.name))?;
            let begun = {
                let _gate = server.gate_exclusive_unless_held();
                let mut out = st.output.lock().unwrap_or_else(|p| p.into_inner());
                out.file = Some(file);
                out.incr_size = 0;
                out.pending.clear();
                out.parts = old.clone();
                drop(out);
                server.keyspace.effects.feed_aof(true);
                journal_state(&server);
                let end = server.keyspace.effects.end();
                st.written.store(end, Ordering::Release);
                st.synced.store(end, Ordering::Release);
                st.on.store(true, Ordering::Release);
                begin_base(&server, &base)
            };
            let writer_server = Arc::clone(&server);
            std::thread::Builder::new().name("shardis-aof".into()).spawn(move || writer(writer_server))?;
            let saved = super::rdb::save_begun(&server, begun, &d.join(&base.name))?;
            sync_increment(&server)?;
            let parts = vec![base, incr];
            save_manifest(&server, &parts)?;
            let mut out = st.output.lock().unwrap_or_else(|p| p.into_inner());
            out.parts = parts;
            out.base_size = saved.bytes;
            drop(out);
            drop_files(&d, &old);
            Ok(())
        })();
        match result {
            Ok(()) => tracing::info!("AOF enabled: base written, appending"),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the AOF");
                disable(&server);
            }
        }
        st.rewrite_in_progress.store(false, Ordering::Release);
        server.persistence.saving.store(false, Ordering::Release);
    });
}

/// CONFIG SET appendonly no: what is pending is written and synced, then
/// the file is closed and effects no longer kept for it.
pub fn disable(server: &Server) {
    let st = state(server);
    if !st.on.swap(false, Ordering::AcqRel) {
        return;
    }
    write_pending(server);
    server.keyspace.effects.feed_aof(false);
    let mut out = st.output.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(f) = out.file.take() {
        let _ = f.sync_all();
    }
    out.pending.clear();
    st.write_failed.store(false, Ordering::Relaxed);
    drop(out);
    // clients waiting for a sync are let go
    st.synced.store(u64::MAX, Ordering::Release);
    st.synced_notify.notify_waiters();
}
