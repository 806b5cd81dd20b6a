#![no_main]
// The body is shardis::fuzzing::sorted_set, shared with tests/fuzz_corpus.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| shardis::fuzzing::sorted_set(data));
