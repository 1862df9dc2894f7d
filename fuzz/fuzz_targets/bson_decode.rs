//! Fuzz target: `bson_decode` (see `skynet_fuzz::bson_decode` for what is checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    skynet_fuzz::bson_decode(data);
});
