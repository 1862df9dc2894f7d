//! Fuzz target: `netpack` (see `skynet_fuzz::netpack` for what is checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    skynet_fuzz::netpack(data);
});
