#![no_main]
// The body is shardis::fuzzing::proxy_yaml, shared with tests/fuzz_corpus.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| shardis::fuzzing::proxy_yaml(data));
