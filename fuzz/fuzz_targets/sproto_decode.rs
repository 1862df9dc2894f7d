//! Fuzz target: `sproto_decode` (see `skynet_fuzz::sproto_decode` for what is checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    skynet_fuzz::sproto_decode(data);
});
