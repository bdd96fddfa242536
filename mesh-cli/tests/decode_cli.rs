//! `mesh decode` as a user runs it: hex argument, hex on stdin, raw stdin,
//! and a one-line error with a non-zero exit on a bad frame.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value as Json;

fn vectors() -> Json {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/py2p-wire.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn mesh(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesh"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn json_line(out: &Output) -> Json {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON line: {text}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn decodes_every_vector_frame_to_its_recorded_fields() {
    for f in vectors()["frames"].as_array().unwrap() {
        let hex = f["frame_hex"].as_str().unwrap();
        // One argument may hold 128 KiB on Linux: big frames go through stdin.
        let out = if hex.len() < 100_000 {
            json_line(&mesh(&["decode", hex], b""))
        } else {
            json_line(&mesh(&["decode"], hex.as_bytes()))
        };
        for key in ["msg_type", "sender", "time", "payload", "compression"] {
            assert_eq!(out[key], f[key], "{}: {key}", f["name"]);
        }
        assert_eq!(out["id"], f["id_hex"], "{}", f["name"]);
    }
}

#[test]
fn reads_hex_or_raw_bytes_from_stdin() {
    let f = &vectors()["frames"][0];
    let hex = f["frame_hex"].as_str().unwrap();
    let from_hex = json_line(&mesh(&["decode"], format!("{hex}\n").as_bytes()));
    let raw = hex::decode(hex).unwrap();
    let from_raw = json_line(&mesh(&["decode", "--raw"], &raw));
    assert_eq!(from_hex, from_raw);
    assert_eq!(from_hex["id"], f["id_hex"]);
}

#[test]
fn a_bad_frame_is_one_line_on_stderr_and_a_failure() {
    let f = &vectors()["frames"][0];
    let mut bytes = hex::decode(f["frame_hex"].as_str().unwrap()).unwrap();
    *bytes.last_mut().unwrap() ^= 0xff;
    for (args, stdin, expect) in [
        (vec!["decode", "zz"], Vec::new(), "invalid hex"),
        (vec!["decode", "--raw"], bytes, "checksum mismatch"),
        (vec!["decode", "00000005"], Vec::new(), "truncated frame"),
    ] {
        let out = mesh(&args, &stdin);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
}
