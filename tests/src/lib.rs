//! Shared helpers for the cross-crate suites: the py2p vectors, loaded from
//! the copy in `tests/data/` (the project must not need `../shared` to test).

use serde_json::Value as Json;

/// The path of a file in `tests/data/`.
pub fn data_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

/// The vectors made by py2p itself.
pub fn py2p_vectors() -> Json {
    let text =
        std::fs::read_to_string(data_path("py2p-wire.json")).expect("tests/data/py2p-wire.json");
    serde_json::from_str(&text).expect("vectors are JSON")
}

/// Lowercase hex to bytes; panics on bad input (test data only).
pub fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).expect("valid hex in test data")
}
