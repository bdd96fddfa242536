//! `mesh soak`: a one-minute run of ten real `mesh chat` processes under
//! kills and restarts delivers every checked broadcast exactly once; a
//! SIGTERM ends it with a summary and no child left behind; bad flags exit 2.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

fn mesh_soak(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mesh"))
        .arg("soak")
        .args(args)
        .output()
        .unwrap()
}

/// A JSON soak of `nodes` nodes for `minutes`, a fault every second,
/// running in the background with its stdout piped.
fn spawn_soak(nodes: &str, minutes: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_mesh"))
        .args(["soak", "--nodes", nodes, "--minutes", minutes, "--json"])
        .args(["--fault-every", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn json_lines(stdout: &[u8]) -> Vec<Json> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The pids of the live processes whose parent is `parent` (Linux `/proc`).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
        let mut rest = stat.rsplit_once(')')?.1.split_whitespace();
        let state = rest.next()?;
        let ppid: u32 = rest.next()?.parse().ok()?;
        (ppid == parent && state != "Z").then_some(pid)
    })
    .collect()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next())
            != Some("Z")
    })
}

#[test]
fn one_minute_of_ten_nodes_under_faults_delivers_every_broadcast_once() {
    let started = Instant::now();
    let out = mesh_soak(&["--nodes", "10", "--minutes", "1", "--json", "--seed", "7"]);
    let lines = json_lines(&out.stdout);
    let report = || {
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    assert!(out.status.success(), "{}", report());
    assert_eq!(lines[0]["event"], "soak_start", "{}", report());
    assert_eq!(lines[0]["nodes"], 10);
    let misses: Vec<_> = lines.iter().filter(|l| l["event"] == "soak_miss").collect();
    assert!(misses.is_empty(), "{misses:?}");
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "soak", "{}", report());
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["missed"], 0);
    assert_eq!(summary["duplicates"], 0);
    assert_eq!(summary["crashes"], 0);
    // A fault every 5 s for the 54 s of traffic: about ten, each logged.
    let faults = summary["faults"].as_u64().unwrap();
    assert!(faults >= 5, "{summary}");
    let logged = lines.iter().filter(|l| l["event"] == "soak_fault").count();
    assert_eq!(logged as u64, faults);
    // About 4 broadcasts a second, each checked at most nodes apart from the sender.
    let broadcasts = summary["broadcasts"].as_u64().unwrap();
    assert!(broadcasts >= 100, "{summary}");
    assert_eq!(summary["checked"], broadcasts, "every broadcast is checked");
    let expected = summary["expected"].as_u64().unwrap();
    assert!(expected >= broadcasts * 5, "{summary}");
    assert_eq!(summary["delivered"], expected);
    assert!(lines.iter().any(|l| l["event"] == "soak_progress"));
    assert!(summary["rss_max_kib"].as_u64().unwrap() > 0);
    assert!(!summary["rss"].as_array().unwrap().is_empty(), "{summary}");
    assert_eq!(summary["rss_ok"], true);
    eprintln!(
        "one-minute soak: {:.1} s wall",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn sigterm_ends_the_soak_with_a_summary_and_no_child_left() {
    let soak = spawn_soak("4", "5");
    // Wait for the four nodes and a fault or two.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut kids = Vec::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        kids = children_of(soak.id());
        if kids.len() >= 4 {
            break;
        }
    }
    assert!(kids.len() >= 4, "children: {kids:?}");
    std::thread::sleep(Duration::from_secs(3));
    kids.extend(children_of(soak.id()));
    let term = Command::new("kill")
        .args(["-TERM", &soak.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let out = soak.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let lines = json_lines(&out.stdout);
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "soak");
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["ok"], false);
    let left: Vec<_> = kids.into_iter().filter(|&p| alive(p)).collect();
    assert!(left.is_empty(), "children still running: {left:?}");
}

#[test]
fn out_of_range_flags_exit_2_with_a_message() {
    for args in [
        &["--nodes", "1"][..],
        &["--nodes", "65"],
        &["--minutes", "0"],
        &["--minutes", "-1"],
        &["--minutes", "soon"],
        &["--minutes", "inf"],
        &["--minutes", "NaN"],
        &["--minutes", "20000"],
        &["--fault-every", "0.1"],
        &["--fault-every", "-5"],
        &["--rate", "0"],
        &["--rate", "5000"],
        &["--runtime", "threads"],
        &["--seed", "-1"],
    ] {
        let out = mesh_soak(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("error"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing started");
    }
}

#[test]
fn help_states_the_check_and_the_rss_bound() {
    let out = mesh_soak(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--nodes",
        "--minutes",
        "--fault-every",
        "--rate",
        "--seed",
        "--runtime",
        "--json",
        "1.5x",
        "16 MiB",
        "exactly once",
    ] {
        assert!(help.contains(needle), "{needle} not in:\n{help}");
    }
}

#[test]
fn a_short_quiet_run_without_faults_passes_in_text() {
    let out = mesh_soak(&[
        "--nodes",
        "3",
        "--minutes",
        "0.2",
        "--fault-every",
        "0",
        "--rate",
        "10",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("soak ok"), "{text}");
    assert!(last.contains("0 missed, 0 duplicates"), "{last}");
    assert!(last.contains("0 faults"), "{last}");
}

#[test]
fn a_closed_stdout_ends_the_soak_and_its_children_quit_too() {
    use std::io::{BufRead, BufReader};
    let mut soak = spawn_soak("3", "2");
    let mut lines = BufReader::new(soak.stdout.take().unwrap()).lines();
    // Every node is up once the first fault is reported.
    let fault = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.contains("\"soak_fault\""))
        .expect("a soak_fault line");
    assert!(fault.starts_with('{'), "{fault}");
    let kids = children_of(soak.id());
    assert!(kids.len() >= 3, "children: {kids:?}");
    // `| head`: our end closes; the next line the soak writes ends it (141).
    drop(lines);
    let status = soak.wait().unwrap();
    assert_eq!(status.code(), Some(141));
    // Its children see their stdin close and quit on their own.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut left: Vec<u32> = kids.clone();
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        left.retain(|&p| alive(p));
    }
    assert!(left.is_empty(), "children still running: {left:?}");
}
