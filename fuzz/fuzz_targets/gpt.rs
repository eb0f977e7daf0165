#![no_main]
// Body: stela_fuzz::gpt.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stela_fuzz::gpt(data));
