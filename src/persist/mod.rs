//! Persistence in Redis's own formats: the value codec shared with DUMP
//! and RESTORE, RDB files, and the snapshot and load jobs behind SAVE,
//! BGSAVE, save points, SHUTDOWN and startup.
//!
//! The jobs' state (what INFO persistence reports, the one-save-at-a-time
//! flag) is [`crate::node::Persistence`]; the jobs are here.

pub mod aof;
pub mod codec;
mod commands;
mod mapped;
pub mod rdb;

use crate::node::Server;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Redis's `CONFIG_BGSAVE_RETRY_DELAY`: after a failed background save,
/// save points wait this long before trying again.
const RETRY_DELAY_SECS: u64 = 5;

/// The RDB file: `dbfilename` in `dir` (the working directory).
pub fn rdb_path(server: &Server) -> PathBuf {
    PathBuf::from(server.config.get("dbfilename").unwrap_or_else(|| "dump.rdb".into()))
}

/// Why a save did not start.
#[derive(Debug, PartialEq, Eq)]
pub enum NotStarted {
    /// Another save is running.
    InProgress,
}

/// Claims the one save slot.
pub(crate) fn claim(server: &Server) -> Result<(), NotStarted> {
    let p = &server.persistence;
    p.saving.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).map(|_| ()).map_err(|_| NotStarted::InProgress)
}

/// The save slot held by a snapshot that is not a file of this node (a
/// replica's SYNC): released, and the snapshot reported done, on drop.
/// It moves to the thread that writes the snapshot.
pub struct SnapshotSlot(Arc<Server>);

impl SnapshotSlot {
    /// The slot, if no other save, rewrite or snapshot holds it.
    pub fn try_claim(server: &Arc<Server>) -> Option<SnapshotSlot> {
        claim(server).ok()?;
        server.persistence.bgsave_in_progress.store(true, Ordering::Relaxed);
        Some(SnapshotSlot(Arc::clone(server)))
    }

    pub fn server(&self) -> &Server {
        &self.0
    }
}

impl Drop for SnapshotSlot {
    fn drop(&mut self) {
        let p = &self.0.persistence;
        p.bgsave_in_progress.store(false, Ordering::Relaxed);
        p.saving.store(false, Ordering::Release);
    }
}

/// Runs one save (the slot claimed) and records its outcome.
fn run_save(server: &Server, background: bool) -> std::io::Result<rdb::Saved> {
    let p = &server.persistence;
    let started = crate::util::now_ms();
    p.save_started_ms.store(started, Ordering::Relaxed);
    p.dirty_at_start.store(server.keyspace.stats.dirty.get(), Ordering::Relaxed);
    p.bgsave_in_progress.store(background, Ordering::Relaxed);
    let path = rdb_path(server);
    let result = rdb::save(server, &path);
    let secs = (crate::util::now_ms() - started) / 1000;
    match &result {
        Ok(saved) => {
            p.dirty_saved.store(p.dirty_at_start.load(Ordering::Relaxed), Ordering::Relaxed);
            server.lastsave.store(crate::util::now_ms() / 1000, Ordering::Relaxed);
            p.saves.fetch_add(1, Ordering::Relaxed);
            p.last_snapshot_peak.store(saved.peak_buffered, Ordering::Relaxed);
            p.last_preserved.store(saved.preserved, Ordering::Relaxed);
            tracing::info!(
                file = %path.display(),
                bytes = saved.bytes,
                preserved = saved.preserved,
                peak_buffered = saved.peak_buffered,
                background,
                "DB saved on disk"
            );
        }
        Err(e) => {
            let dir = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
            tracing::error!(file = %path.display(), dir, error = %e, background, "Failed saving the DB");
        }
    }
    if background {
        p.last_bgsave_ok.store(result.is_ok(), Ordering::Relaxed);
        p.last_bgsave_secs.store(secs as i64, Ordering::Relaxed);
        if result.is_err() {
            p.last_bgsave_try.store(crate::util::now_ms() / 1000, Ordering::Relaxed);
        }
    }
    p.bgsave_in_progress.store(false, Ordering::Relaxed);
    p.saving.store(false, Ordering::Release);
    result
}

/// SAVE: a snapshot written before returning (other clients keep being
/// served meanwhile: the snapshot does not stop them).
pub fn save(server: &Server) -> Result<std::io::Result<rdb::Saved>, NotStarted> {
    claim(server)?;
    Ok(run_save(server, false))
}

/// BGSAVE: a snapshot written by a background thread.
pub fn bgsave(server: &Arc<Server>) -> Result<(), NotStarted> {
    claim(server)?;
    let server = Arc::clone(server);
    let spawned = std::thread::Builder::new().name("shardis-bgsave".into()).spawn({
        let server = Arc::clone(&server);
        move || {
            let _ = run_save(&server, true);
        }
    });
    if let Err(e) = spawned {
        // counts as a failed background save
        tracing::error!(error = %e, "cannot start the background save thread");
        let p = &server.persistence;
        p.last_bgsave_ok.store(false, Ordering::Relaxed);
        p.last_bgsave_try.store(crate::util::now_ms() / 1000, Ordering::Relaxed);
        p.saving.store(false, Ordering::Release);
    }
    Ok(())
}

/// Once a second: a scheduled BGSAVE, or a save point that is due (enough
/// changes in enough time), starts a background save, as Redis's
/// `serverCron` does.
pub fn cron(server: &Arc<Server>) {
    aof::cron(server);
    let p = &server.persistence;
    if p.saving.load(Ordering::Relaxed) || p.loading.load(Ordering::Relaxed) {
        return;
    }
    let now = crate::util::now_ms() / 1000;
    let due = p.bgsave_scheduled.swap(false, Ordering::Relaxed) || {
        let changes = server.keyspace.stats.dirty.get().saturating_sub(p.dirty_saved.load(Ordering::Relaxed));
        let since = now.saturating_sub(server.lastsave.load(Ordering::Relaxed));
        let retry_ok = p.last_bgsave_ok.load(Ordering::Relaxed) || now.saturating_sub(p.last_bgsave_try.load(Ordering::Relaxed)) > RETRY_DELAY_SECS;
        retry_ok && server.config.save_points().iter().any(|&(secs, min)| changes >= min && since >= secs)
    };
    if due {
        tracing::info!("save point reached: background saving started");
        let _ = bgsave(server);
    }
}

/// Whether writes are refused because background saving failed (Redis's
/// `stop-writes-on-bgsave-error` with save points set).
pub fn writes_refused(server: &Server) -> Option<String> {
    let p = &server.persistence;
    if p.aof.write_failed.load(Ordering::Relaxed) {
        return aof::write_refusal(server);
    }
    (!p.last_bgsave_ok.load(Ordering::Relaxed) && server.config.flag("stop-writes-on-bgsave-error", true) && !server.config.save_points().is_empty())
        .then(|| MISCONF.to_string())
}

/// Redis's reply to writes while background saving fails.
const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// On the way out with the AOF on: everything written and fsynced.
pub fn flush_aof(server: &Server) {
    let st = &server.persistence.aof;
    if !st.on.load(Ordering::Relaxed) {
        return;
    }
    let ok = aof::write_pending(server);
    let out = st.output.lock().unwrap_or_else(|p| p.into_inner());
    match out.file.as_ref().map(|f| f.sync_all()) {
        Some(Ok(())) if ok => tracing::info!("AOF written and fsynced on the way out"),
        _ => tracing::error!("the AOF could not be fully written on the way out"),
    }
}

/// On the way out (SHUTDOWN, SIGTERM): save if asked to, or if save
/// points are set and not told otherwise, as Redis does. A running
/// background save is waited for first.
pub fn save_on_shutdown(server: &Server, asked: Option<bool>) -> std::io::Result<()> {
    if !asked.unwrap_or_else(|| !server.config.save_points().is_empty()) {
        return Ok(());
    }
    tracing::info!("saving the final RDB snapshot before exiting");
    loop {
        match save(server) {
            Ok(r) => return r.map(|_| ()),
            Err(NotStarted::InProgress) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

/// At startup: loads `dbfilename` if it exists, on a thread, while the
/// node answers `-LOADING` to commands that need the data. A file that
/// cannot be loaded stops the process with the reason, as Redis does
/// (serving an empty dataset instead would be the silent loss).
pub fn load_at_startup(server: &Arc<Server>) {
    let path = rdb_path(server);
    let file = match mapped::Mapped::open(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "cannot read the RDB file");
            std::process::exit(1);
        }
    };
    let p = &server.persistence;
    p.loading.store(true, Ordering::Release);
    p.loading_started.store(crate::util::now_ms(), Ordering::Relaxed);
    p.loading_total_bytes.store(file.bytes().len() as u64, Ordering::Relaxed);
    p.loading_loaded_bytes.store(0, Ordering::Relaxed);
    let server = Arc::clone(server);
    std::thread::spawn(move || {
        let bytes = file.bytes();
        let started = std::time::Instant::now();
        tracing::info!(file = %path.display(), bytes = bytes.len(), "loading the RDB file");
        let p = &server.persistence;
        let mut last_log = std::time::Instant::now();
        let result = rdb::load(&server, bytes, |at| {
            p.loading_loaded_bytes.store(at as u64, Ordering::Relaxed);
            file.release_before(at);
            if last_log.elapsed().as_secs() >= 2 {
                last_log = std::time::Instant::now();
                tracing::info!(percent = format!("{:.1}", at as f64 * 100.0 / bytes.len().max(1) as f64), "loading");
            }
        });
        match result {
            Ok(l) => {
                p.loading_loaded_bytes.store(bytes.len() as u64, Ordering::Relaxed);
                p.keys_loaded.store(l.keys, Ordering::Relaxed);
                p.keys_expired_on_load.store(l.expired, Ordering::Relaxed);
                // what was loaded is what is on disk
                p.dirty_saved.store(server.keyspace.stats.dirty.get(), Ordering::Relaxed);
                tracing::info!(
                    keys = l.keys,
                    expired = l.expired,
                    version = l.version,
                    secs = format!("{:.3}", started.elapsed().as_secs_f64()),
                    "DB loaded from disk"
                );
                p.loading.store(false, Ordering::Release);
            }
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "cannot load the RDB file: not starting with a partial dataset");
                std::process::exit(1);
            }
        }
    });
}
