#![no_main]
// Body: stela_fuzz::erofs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stela_fuzz::erofs(data));
