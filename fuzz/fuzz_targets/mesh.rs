//! One `Mesh` driven by an op-code program: no panic, bounds hold, outputs
//! consistent with its state.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mesh_fuzz_checks::mesh_ops(data);
});
