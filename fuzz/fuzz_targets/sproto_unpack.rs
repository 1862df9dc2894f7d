//! Fuzz target: `sproto_unpack` (see `skynet_fuzz::sproto_unpack` for what is checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    skynet_fuzz::sproto_unpack(data);
});
