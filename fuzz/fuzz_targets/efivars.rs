#![no_main]
// Body: stela_fuzz::efivars.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stela_fuzz::efivars(data));
