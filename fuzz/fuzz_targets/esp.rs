#![no_main]
// Body: stela_fuzz::esp.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stela_fuzz::esp(data));
