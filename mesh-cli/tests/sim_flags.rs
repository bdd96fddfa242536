//! `mesh sim` refuses bad flags with a message and exit status 2, and ends
//! even when every node is crashed.

use std::process::Command;
use std::time::Duration;

fn mesh_sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mesh"))
        .arg("sim")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn out_of_range_flags_exit_2_with_a_message() {
    for args in [
        &["--nodes", "0"][..],
        &["--partition", "150"],
        &["--partition", "0"],
        &["--churn", "101"],
        &["--py2p", "101"],
        &["--lazy", "maybe"],
        &["--latency-ms", "9..1"],
    ] {
        let out = mesh_sim(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("error"), "{args:?}: {err}");
    }
}

#[test]
fn churn_100_ends_instead_of_spinning() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(mesh_sim(&["--nodes", "20", "--churn", "100", "--json"]));
    });
    let out = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("mesh sim --churn 100 ended within 60 s");
    // Every node restarted as a new process: the mesh re-forms and delivers.
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn lazy_both_prints_a_comparison() {
    let out = mesh_sim(&[
        "--nodes",
        "200",
        "--broadcasts",
        "3",
        "--warmup",
        "1",
        "--size",
        "1024",
        "--lazy",
        "both",
        "--json",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let compare: serde_json::Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "compare")
        .expect("a compare line");
    assert!(compare["bytes_ratio"].as_f64().unwrap() < 1.0, "{compare}");
}
