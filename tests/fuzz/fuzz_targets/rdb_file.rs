#![no_main]
// The body is shardis::fuzzing::rdb_file, shared with tests/fuzz_corpus.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| shardis::fuzzing::rdb_file(data));
