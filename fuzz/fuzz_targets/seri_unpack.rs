//! Fuzz target: `seri_unpack` (see `skynet_fuzz::seri_unpack` for what is checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    skynet_fuzz::seri_unpack(data);
});
