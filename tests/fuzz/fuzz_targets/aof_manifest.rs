#![no_main]
// The body is shardis::fuzzing::aof_manifest, shared with tests/fuzz_corpus.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| shardis::fuzzing::aof_manifest(data));
