//! The global allocator (mimalloc) with a byte counter: the source of
//! INFO's `used_memory` and of every `maxmemory` decision.
//!
//! Why count at the allocator instead of estimating each entry's size: an
//! estimate drifts (hash table growth, LRU nodes, client buffers) while the
//! allocator sees every byte. Redis does the same through `zmalloc`. We count
//! the block size mimalloc really hands out (`mi_usable_size`), not the
//! request, so `used_memory` tracks the heap within a few percent of RSS.
//!
//! Why mimalloc: its small size classes step by 8 or 16 bytes with no
//! per-block header, where glibc adds 8 bytes and rounds to 16; for a cache
//! of millions of small entries that is 15-25% of all memory (see
//! `docs/memory.md`).
//!
//! The counter is one relaxed atomic: contention on 2 cores is negligible
//! next to the allocation itself.

use libmimalloc_sys as mi;
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;
use std::sync::atomic::{AtomicIsize, Ordering};

static ALLOCATED: AtomicIsize = AtomicIsize::new(0);
/// Set by the first allocation through [`CountingAllocator`]: from then on
/// every block of the process is mimalloc's (a global allocator serves the
/// whole process from its first allocation on).
static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// mimalloc, counting the bytes it holds for us.
pub struct CountingAllocator;

/// The size of the block mimalloc handed out for `p`.
///
/// # Safety
/// `p` is a live block allocated by mimalloc (and not yet freed).
#[inline]
unsafe fn usable(p: *mut u8) -> isize {
    // SAFETY: per the contract.
    unsafe { mi::mi_usable_size(p as *const c_void) as isize }
}

/// Whether a plain `mi_malloc` block serves `layout`: mimalloc aligns
/// every block to 16 bytes, or to its size when smaller (as the `mimalloc`
/// crate reasons). The aligned calls are avoided then because they cost
/// memory: `mi_malloc_aligned(44, 8)` hands out a 64-byte block where
/// `mi_malloc(44)` gives 48, a third more for a typical set member or hash
/// field entry.
#[inline]
fn natural(layout: Layout) -> bool {
    layout.align() <= 16 && layout.align() <= layout.size()
}

// SAFETY: every method forwards to mimalloc's matching call (the plain one
// where its natural alignment suffices, see [`natural`]), which
// meets GlobalAlloc's contract for any layout (a null return on failure,
// blocks aligned as asked, realloc preserving the prefix); the counting
// around it only reads the size of blocks that are live at that moment.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = if natural(layout) {
            // SAFETY: a plain block is aligned enough for this layout.
            unsafe { mi::mi_malloc(layout.size()) as *mut u8 }
        } else {
            // SAFETY: mimalloc's aligned allocation honours any layout.
            unsafe { mi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8 }
        };
        if !INSTALLED.load(Ordering::Relaxed) {
            INSTALLED.store(true, Ordering::Relaxed);
        }
        if !p.is_null() {
            // SAFETY: `p` was just allocated by mimalloc.
            ALLOCATED.fetch_add(unsafe { usable(p) }, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: the caller passes a live block of this allocator.
        ALLOCATED.fetch_sub(unsafe { usable(ptr) }, Ordering::Relaxed);
        // SAFETY: `ptr` came from this allocator.
        unsafe { mi::mi_free(ptr as *mut c_void) };
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = if natural(layout) {
            // SAFETY: as in `alloc`.
            unsafe { mi::mi_zalloc(layout.size()) as *mut u8 }
        } else {
            // SAFETY: as in `alloc`.
            unsafe { mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8 }
        };
        if !INSTALLED.load(Ordering::Relaxed) {
            INSTALLED.store(true, Ordering::Relaxed);
        }
        if !p.is_null() {
            // SAFETY: `p` was just allocated by mimalloc.
            ALLOCATED.fetch_add(unsafe { usable(p) }, Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller passes a live block of this allocator.
        let old = unsafe { usable(ptr) };
        let p = if natural(Layout::from_size_align(new_size, layout.align()).unwrap_or(layout)) {
            // SAFETY: `ptr` came from this allocator; a plain block of
            // `new_size` is aligned enough.
            unsafe { mi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8 }
        } else {
            // SAFETY: `ptr` came from this allocator with `layout`'s alignment.
            unsafe { mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8 }
        };
        if !p.is_null() {
            // SAFETY: `p` is the live block realloc returned.
            ALLOCATED.fetch_add(unsafe { usable(p) } - old, Ordering::Relaxed);
        }
        p
    }
}

/// The heap a boxed slice really takes: its block's size when mimalloc
/// counts for us, its length otherwise (unit tests, no global allocator).
#[allow(clippy::borrowed_box)] // the box, not any slice: a whole block
pub fn block_size(b: &Box<[u8]>) -> usize {
    if b.is_empty() || !INSTALLED.load(Ordering::Relaxed) {
        return b.len();
    }
    // SAFETY: a non-empty boxed slice is a live heap block whose start is
    // its pointer, and with the
    // counting allocator installed every heap block is mimalloc's.
    unsafe { usable(b.as_ptr() as *mut u8) as usize }
}

static PEAK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Folds the current use into the peak and returns the peak. Called every
/// 100 ms and by INFO, as Redis samples its peak in `serverCron`.
pub fn update_peak() -> u64 {
    let used = used_memory();
    PEAK.fetch_max(used, Ordering::Relaxed).max(used)
}

/// Bytes currently allocated through [`CountingAllocator`]; 0 when the
/// binary did not install it (e.g. in unit tests).
pub fn used_memory() -> u64 {
    ALLOCATED.load(Ordering::Relaxed).max(0) as u64
}

/// Gives freed memory back to the OS (mimalloc keeps freed pages for
/// reuse, so after thousands of connections close their memory would stay
/// resident until the next burst): now on this thread, and on every other
/// runtime thread the next time it parks ([`collect_if_asked`], the
/// runtime's park hook). mimalloc's heaps are per thread and `mi_collect`
/// only walks the caller's, so collecting on the cron's thread alone would
/// leave the other workers' freed buffers resident.
pub fn release_free_memory() {
    RELEASE_GENERATION.fetch_add(1, Ordering::Relaxed);
    collect_if_asked();
}

/// Bumped each time freed memory should go back to the OS.
static RELEASE_GENERATION: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

thread_local! {
    /// The generation this thread last collected for.
    static COLLECTED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Collects this thread's freed memory if [`release_free_memory`] asked
/// since it last did: one relaxed load otherwise, cheap enough for a hook
/// that runs each time a worker goes idle.
pub fn collect_if_asked() {
    let wanted = RELEASE_GENERATION.load(Ordering::Relaxed);
    if COLLECTED.get() != wanted {
        COLLECTED.set(wanted);
        // SAFETY: mi_collect only walks this thread's heap; no pointers of ours.
        unsafe { mi::mi_collect(true) };
    }
}

/// For the crons: gives freed memory back when many connections left
/// (`clients` against the most seen since the last time) or idle ones
/// released a megabyte of buffers. `state` is the caller's (high-water
/// clients, buffer bytes released when last looked).
pub fn release_after_clients_leave(clients: usize, state: &mut (usize, usize)) {
    let released = crate::resp::BUFFERS_RELEASED.load(Ordering::Relaxed);
    state.0 = state.0.max(clients);
    if clients + 64 <= state.0 || released.wrapping_sub(state.1) >= 1 << 20 {
        release_free_memory();
        *state = (clients, released);
    }
}

/// Resident set size of this process, from `/proc/self/statm`.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}
