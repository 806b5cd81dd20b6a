//! A file being loaded at startup, mapped rather than read into memory.
//!
//! Reading an RDB or AOF file whole would hold a second copy of the
//! dataset on the heap while it loads (a 10 GB file: 10 GB more at the
//! peak). Mapped, the file's pages are the page cache's; the loader walks
//! them front to back (`MADV_SEQUENTIAL`) and lets go of the ones behind
//! it every few megabytes (`MADV_DONTNEED`), so loading needs about the
//! dataset's memory and no more. `memmap2` does the mapping; this module
//! only adds the release behind the reader.

use std::cell::Cell;
use std::path::Path;

/// Pages are let go in steps of at least this much.
const RELEASE_STEP: usize = 8 << 20;

pub struct Mapped {
    /// `None` for an empty file (an empty mapping is not allowed).
    map: Option<memmap2::Mmap>,
    /// Bytes from the start already let go.
    released: Cell<usize>,
}

impl Mapped {
    /// Maps `path` for reading.
    pub fn open(path: &Path) -> std::io::Result<Mapped> {
        let file = std::fs::File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(Mapped { map: None, released: Cell::new(0) });
        }
        // SAFETY: the mapping is read-only, of a file in the node's own
        // directory that nothing writes while it loads: RDB files are
        // replaced by rename (a new inode), and the AOF is appended to only
        // once loading is over. Another process truncating it meanwhile
        // would fault the loader (SIGBUS), as with any mapped file.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(Mapped { map: Some(map), released: Cell::new(0) })
    }

    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or_default()
    }

    /// The loader is past `upto`: the pages before it leave this process
    /// (they stay in the page cache; read again, they come back the same).
    pub fn release_before(&self, upto: usize) {
        let Some(map) = &self.map else { return };
        let page = page_size();
        let end = (upto.min(map.len()) / page) * page;
        let from = self.released.get();
        if end < from + RELEASE_STEP {
            return;
        }
        // SAFETY: a read-only private mapping of a file nothing modifies
        // while it loads (see `open`): dropped pages are read back from the
        // file unchanged if touched again, so every `&[u8]` into the map
        // keeps seeing the same bytes.
        let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, end - from) };
        self.released.set(end);
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as usize } else { 4096 }
}
