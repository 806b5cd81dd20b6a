#![no_main]
// The body is shardis::fuzzing::request_parser, shared with tests/fuzz_corpus.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| shardis::fuzzing::request_parser(data));
