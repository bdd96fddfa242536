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

/// The `recovery` line of a run with a fault, in flood mode (where
/// redundancy is duplicates per delivery).
fn recovery(fault: &[&str], trim: bool) -> Json {
    let mut args = vec!["--nodes", "600", "--seed", "4", "--lazy", "off"];
    args.extend_from_slice(fault);
    if !trim {
        args.push("--no-trim");
    }
    let lines = sim(&args);
    assert_eq!(lines.last().unwrap()["all_delivered"], true);
    lines
        .into_iter()
        .find(|l| l["event"] == "recovery")
        .expect("a recovery line")
}

/// After churn and after a partition, links dialed to heal are given back:
/// within the 2 virtual minutes the run watches, redundancy is within 1.2x
/// of the mesh before the fault and no probe missed a node it could reach.
/// Without trimming the same runs keep the extra degree.
#[test]
fn the_mesh_returns_to_its_shape_after_faults() {
    for fault in [&["--churn", "20"][..], &["--partition", "30"]] {
        let r = recovery(fault, true);
        let f = |k: &str| r[k].as_f64().unwrap();
        assert_eq!(r["probes_missed"], 0, "{fault:?}: {r}");
        assert!(
            f("degree_peak") > f("degree_before") * 1.2,
            "{fault:?}: the fault added links: {r}"
        );
        assert!(
            f("degree_after") <= f("degree_before") * 1.05,
            "{fault:?}: {r}"
        );
        assert!(f("redundancy_ratio") <= 1.2, "{fault:?}: {r}");
        let kept = recovery(fault, false);
        assert!(
            kept["redundancy_ratio"].as_f64().unwrap() > 1.3,
            "{fault:?}: without trimming the extra links stay: {kept}"
        );
    }
}
