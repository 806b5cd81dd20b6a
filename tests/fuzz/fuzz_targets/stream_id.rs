#![no_main]
// The body is shardis::fuzzing::stream_id, shared with tests/fuzz_corpus.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| shardis::fuzzing::stream_id(data));
