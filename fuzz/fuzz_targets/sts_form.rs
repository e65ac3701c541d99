#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| trent_fuzzing::sts_form(data));
