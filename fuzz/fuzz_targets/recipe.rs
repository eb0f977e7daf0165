#![no_main]
// Body: stela_fuzz::recipe.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stela_fuzz::recipe(data));
