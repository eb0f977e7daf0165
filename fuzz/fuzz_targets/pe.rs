#![no_main]
// Body: stela_fuzz::pe.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stela_fuzz::pe(data));
