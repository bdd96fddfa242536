//! A byte stream cut at arbitrary points: the same frames as fed whole.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mesh_fuzz_checks::deframe_splits(data);
});
