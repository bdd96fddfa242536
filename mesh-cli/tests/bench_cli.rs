//! `mesh bench` smoke runs: every runtime (and TLS, windowed, paced) delivers
//! every message through a line, beside the raw baseline in the same run.
//! No timing is asserted: these check that the bench measures what it says.

use std::process::Command;

use serde_json::Value as Json;

fn mesh_bench(args: &[&str]) -> (Option<i32>, Vec<Json>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mesh"))
        .args(["bench", "--json", "--stall-secs", "20"])
        .args(args)
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is JSON"))
        .collect();
    (
        out.status.code(),
        lines,
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The `bench` line of run `name`.
fn run<'a>(lines: &'a [Json], name: &str) -> &'a Json {
    lines
        .iter()
        .find(|l| l["event"] == "bench" && l["run"] == name)
        .unwrap_or_else(|| panic!("no run {name} in {lines:?}"))
}

fn assert_complete(line: &Json, count: u64) {
    assert_eq!(line["delivered"], count, "{line}");
    assert_eq!(line["duplicates"], 0, "{line}");
    assert!(line["msgs_per_s"].as_f64().unwrap() > 0.0, "{line}");
    assert!(line["p50_us"].as_f64().unwrap() <= line["p99_us"].as_f64().unwrap());
}

#[test]
fn every_runtime_delivers_everything_beside_the_raw_baseline() {
    for runtime in ["tokio", "async-std", "smol", "blocking"] {
        let (code, lines, err) =
            mesh_bench(&["--count", "1500", "--runtime", runtime, "--baseline", "raw"]);
        assert_eq!(code, Some(0), "{runtime}: {err}");
        assert_complete(run(&lines, runtime), 1500);
        assert_complete(run(&lines, "raw"), 1500);
        let ratio = lines.iter().find(|l| l["event"] == "bench_ratio").unwrap();
        assert_eq!(ratio["run"], runtime);
        assert!(ratio["ratio"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn windowed_paced_tls_and_longer_lines_deliver_everything() {
    for args in [
        &["--count", "500", "--window", "1", "--nodes", "4"][..],
        &["--count", "300", "--rate", "3000", "--size", "4096"],
        &["--count", "500", "--tls", "--window", "50"],
        &["--count", "300", "--tls", "--runtime", "blocking"],
    ] {
        let (code, lines, err) = mesh_bench(args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        let start = &lines[0];
        assert_eq!(start["event"], "bench_start");
        let count = start["count"].as_u64().unwrap();
        let name = if args.contains(&"--tls") {
            if args.contains(&"blocking") {
                "blocking+tls"
            } else {
                "tokio+tls"
            }
        } else {
            "tokio"
        };
        assert_complete(run(&lines, name), count);
    }
}

#[test]
fn bad_flags_exit_2() {
    for args in [
        &["--nodes", "1"][..],
        &["--size", "8"],
        &["--count", "0"],
        &["--window", "0"],
        &["--runtime", "nope"],
        &["--baseline", "fast"],
    ] {
        let (code, _, err) = mesh_bench(args);
        assert_eq!(code, Some(2), "{args:?}");
        assert!(err.contains("error"), "{args:?}: {err}");
    }
}

#[test]
fn idle_connections_are_measured() {
    let (code, lines, err) = mesh_bench(&["--idle", "8"]);
    assert_eq!(code, Some(0), "{err}");
    let idle = lines
        .iter()
        .find(|l| l["event"] == "bench_idle")
        .expect("a bench_idle line");
    assert_eq!(idle["connections"], 8);
    assert!(idle["rss_after_kib"].as_u64().unwrap() > 0);
}
