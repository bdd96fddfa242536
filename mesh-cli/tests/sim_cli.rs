//! `mesh sim` as a user runs it, in `--json` form.

use std::process::Command;

use serde_json::Value as Json;

/// The JSON lines of one `mesh sim` run.
fn sim(args: &[&str]) -> Vec<Json> {
    let out = Command::new(env!("CARGO_BIN_EXE_mesh"))
        .arg("sim")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_broadcast_reaches_every_node_and_the_summary_says_so() {
    let lines = sim(&["--nodes", "200", "--seed", "3", "--broadcasts", "2"]);
    let broadcasts: Vec<&Json> = lines.iter().filter(|l| l["event"] == "broadcast").collect();
    assert_eq!(broadcasts.len(), 2);
    for b in broadcasts {
        assert_eq!(
            (b["delivered"].as_u64(), b["missed"].as_u64()),
            (Some(199), Some(0))
        );
    }
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["all_delivered"], true);
    assert_eq!(summary["invariants"], "ok");
}

/// Wide latency spreads once left a node's timer chasing its own queued
/// wake-ups at the 1 µs floor, never firing: this run took 120 million steps
/// (and a node's deadlines went unserved) where 60 thousand do.
#[test]
fn timers_fire_instead_of_chasing_themselves() {
    let lines = sim(&[
        "--nodes",
        "1000",
        "--seed",
        "5",
        "--latency-ms",
        "1..200",
        "--broadcasts",
        "4",
    ]);
    let summary = lines.last().unwrap();
    assert_eq!(summary["all_delivered"], true);
    let steps = summary["steps"].as_u64().unwrap();
    assert!(steps < 1_000_000, "{steps} steps");
}
