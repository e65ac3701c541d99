#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| trent_fuzzing::envelope_decrypt(data));
