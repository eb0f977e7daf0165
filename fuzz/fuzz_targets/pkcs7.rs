#![no_main]
// Body: stela_fuzz::pkcs7.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stela_fuzz::pkcs7(data));
