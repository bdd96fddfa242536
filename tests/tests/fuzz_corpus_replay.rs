//! Replays the committed cargo-fuzz corpora through the same checks the fuzz
//! targets run, so stable `cargo test` covers them (no nightly needed).

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect()
}

#[test]
fn decode_frame_corpus_replays_clean() {
    let files = corpus("decode_frame");
    assert!(files.len() >= 25, "seed corpus missing: {}", files.len());
    for (path, data) in files {
        let result = std::panic::catch_unwind(|| mesh_fuzz_checks::decode_frame_roundtrip(&data));
        assert!(
            result.is_ok(),
            "{} fails the decode_frame check",
            path.display()
        );
    }
}

#[test]
fn deframe_corpus_replays_clean() {
    let files = corpus("deframe");
    assert!(files.len() >= 10, "seed corpus missing: {}", files.len());
    for (path, data) in files {
        let result = std::panic::catch_unwind(|| mesh_fuzz_checks::deframe_splits(&data));
        assert!(result.is_ok(), "{} fails the deframe check", path.display());
    }
}

#[test]
fn mesh_corpus_replays_clean() {
    let files = corpus("mesh");
    assert!(files.len() >= 10, "seed corpus missing: {}", files.len());
    for (path, data) in files {
        let result = std::panic::catch_unwind(|| mesh_fuzz_checks::mesh_ops(&data));
        assert!(result.is_ok(), "{} fails the mesh check", path.display());
    }
}
