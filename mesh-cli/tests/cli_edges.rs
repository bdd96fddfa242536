//! What a user meets at the edges of the `mesh` binary: closed pipes, a
//! dial that fails, commands it does not know, and signals.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn mesh() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mesh"))
}

/// Waits for `child` at most `limit`; kills it and fails past that.
fn wait_bounded(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_closed_stdout_ends_the_process_without_a_panic() {
    for args in [
        &["demo"][..],
        &["sim", "--nodes", "300", "--broadcasts", "50"],
    ] {
        let mut child = mesh()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read one line, then close our end (`| head -1`).
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty());
        let status = wait_bounded(&mut child, Duration::from_secs(60));
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_ne!(status.code(), Some(101), "{args:?}: a panic");
    }
}

#[test]
fn a_closed_stderr_under_debug_logs_neither_hangs_nor_panics() {
    let mut child = mesh()
        .arg("demo")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    assert_ne!(status.code(), Some(101), "a panic");
}

mod common;
use common::Chat;

/// A port nothing listens on: bound, then closed.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn a_failed_dial_is_a_line_and_the_node_keeps_running() {
    let port = closed_port();
    let target = format!("127.0.0.1:{port}");
    let mut c = Chat::start(&["--connect", &target]);
    c.expect("ready");
    let failed = c.expect("dial_failed");
    assert_eq!(failed["addr"], target.as_str());
    assert!(!failed["reason"].as_str().unwrap().is_empty());
    c.say(&format!("/connect {target}"));
    assert_eq!(c.expect("dial_failed")["addr"], target.as_str());
    c.say("/peers");
    c.expect("peers");
    assert!(c.child.try_wait().unwrap().is_none(), "still running");
}

#[test]
fn unknown_commands_and_a_bare_whisper_say_so() {
    let mut c = Chat::start(&[]);
    c.expect("ready");
    c.say("/frobnicate now");
    let n = c.expect("notice");
    assert_eq!(n["command"], "/frobnicate");
    assert!(n["text"].as_str().unwrap().contains("unknown command"));
    c.say("/whisper");
    assert_eq!(c.expect("notice")["command"], "/whisper");
    c.say("/reply hello");
    assert_eq!(c.expect("notice")["command"], "/reply");
}

#[cfg(unix)]
#[test]
fn sigterm_closes_gracefully_and_the_peer_sees_it() {
    let mut a = Chat::start(&[]);
    let addr = a.expect("ready")["addr"].as_str().unwrap().to_string();
    let b = Chat::start(&["--connect", &addr]);
    b.expect("ready");
    a.expect("peer_up");
    b.expect("peer_up");
    let pid = b.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    // The peer sees the link go down (a clean close), and b exits by itself.
    a.expect("peer_down");
    let mut b = b;
    let status = wait_bounded(&mut b.child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    a.say("/quit");
}

#[test]
fn debug_logs_name_the_node_and_the_connection() {
    for runtime in ["tokio", "smol", "blocking"] {
        let out = mesh()
            .args(["demo", "--runtime", runtime])
            .env("RUST_LOG", "debug")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let nodes: std::collections::BTreeSet<&str> = err
            .lines()
            .filter_map(|l| l.split("node{").nth(1)?.split('}').next())
            .collect();
        assert!(nodes.len() >= 5, "{runtime}: one span per node: {nodes:?}");
        assert!(err.contains("}:conn{id="), "{runtime}: connection spans");
    }
}
