#![no_main]
// Body: stela_fuzz::ipe_policy.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stela_fuzz::ipe_policy(data));
