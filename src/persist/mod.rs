//! Persistence in Redis's own formats: the value codec shared with DUMP
//! and RESTORE, RDB files, and the snapshot and load jobs behind SAVE,
//! BGSAVE and startup.

pub mod codec;
