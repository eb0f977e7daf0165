#![no_main]
// Body: stela_fuzz::gpt_crc_fixed.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stela_fuzz::gpt_crc_fixed(data));
