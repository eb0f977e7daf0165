#![no_main]
// Body: stela_fuzz::verity_superblock.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stela_fuzz::verity_superblock(data));
