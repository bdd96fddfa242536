//! Any bytes as a whole frame: no panic; decode -> encode -> decode agrees.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mesh_fuzz_checks::decode_frame_roundtrip(data);
});
