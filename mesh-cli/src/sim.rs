//! `mesh sim`: a deterministic simulation of N real `Mesh` nodes over virtual
//! TCP, reporting how broadcasts spread.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mesh_proto::sim::{BroadcastStats, NodeIdx, Sim, SimConfig};
use mesh_proto::wire::Value;
use serde_json::json;

/// Arguments of `mesh sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Seed of the run: the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Broadcasts to send (one at a time, each from a random live node).
    #[arg(long, default_value_t = 1)]
    broadcasts: usize,
    /// One-way link latency range in milliseconds, `A..B`.
    #[arg(long, default_value = "5..50", value_parser = parse_range)]
    latency_ms: (u64, u64),
    /// Cut this percentage of nodes off, broadcast once inside the cut, heal,
    /// wait 90 s (virtual), then run the broadcasts.
    #[arg(long, value_name = "PERCENT")]
    partition: Option<u8>,
    /// Crash this percentage of nodes, restart them 30 s later as new
    /// processes, wait 60 s (virtual), then run the broadcasts.
    #[arg(long, value_name = "PERCENT")]
    churn: Option<u8>,
    /// Deliver bytes in random chunks of up to this many bytes (0: whole writes).
    #[arg(long, default_value_t = 0)]
    max_chunk: usize,
    /// Let nodes negotiate compression as real ones do (off by default: it
    /// costs CPU and changes nothing the simulation measures).
    #[arg(long)]
    compression: bool,
    /// One JSON object per line on stdout instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s.split_once("..").ok_or("expected A..B")?;
    let a: u64 = a.trim().parse().map_err(|e| format!("{a}: {e}"))?;
    let b: u64 = b.trim().parse().map_err(|e| format!("{b}: {e}"))?;
    if a > b {
        return Err("A must not exceed B".into());
    }
    Ok((a, b))
}

/// Progress on stderr, redrawn in place, only for runs long enough to need it.
struct Progress {
    shown: bool,
    started: Instant,
}

impl Progress {
    fn update(&mut self, what: &str, done: usize, total: usize) {
        use std::io::IsTerminal;
        if (total < 2000 && !self.shown) || !std::io::stderr().is_terminal() {
            return;
        }
        self.shown = true;
        let width = 30;
        let filled = width * done / total.max(1);
        eprint!(
            "\r{what:<10} [{}{}] {done}/{total} ({:.1}s)",
            "#".repeat(filled),
            " ".repeat(width - filled),
            self.started.elapsed().as_secs_f64()
        );
        let _ = std::io::stderr().flush();
    }

    fn finish(&mut self) {
        if self.shown {
            eprintln!();
            self.shown = false;
        }
    }
}

/// Runs the subcommand; exits 1 if any broadcast missed a live node.
pub fn run(args: &SimArgs) -> ExitCode {
    let started = Instant::now();
    let mut progress = Progress {
        shown: false,
        started,
    };
    let mut sim = Sim::new(SimConfig {
        seed: args.seed,
        latency: (
            Duration::from_millis(args.latency_ms.0),
            Duration::from_millis(args.latency_ms.1),
        ),
        max_chunk: args.max_chunk,
        // Plain frames unless asked: compression only adds CPU to a
        // simulation of protocol behaviour (it is exercised by the tests).
        configure: if args.compression {
            None
        } else {
            Some(|c| c.compression.clear())
        },
        ..SimConfig::default()
    });
    let nodes = form(&mut sim, args.nodes, &mut progress);
    progress.finish();
    let formed_wall = started.elapsed();
    if let Some(pct) = args.partition {
        partition_and_heal(&mut sim, &nodes, pct, args.json);
    }
    if let Some(pct) = args.churn {
        churn(&mut sim, &nodes, pct);
    }
    let mut all_delivered = true;
    let mut results = Vec::new();
    for k in 0..args.broadcasts {
        let origin = random_live(&mut sim, &nodes);
        let Ok(id) = sim.broadcast(origin, vec![Value::from(k as u64)]) else {
            eprintln!("mesh sim: broadcast failed (seed {})", args.seed);
            return ExitCode::FAILURE;
        };
        sim.run_until_quiet(Duration::from_secs(300));
        let Some(st) = sim.stats(&id) else {
            continue;
        };
        all_delivered &= st.missed == 0;
        results.push((k, origin, st));
        progress.update("broadcast", k + 1, args.broadcasts);
    }
    progress.finish();
    let invariants = sim.check_invariants();
    let wall = started.elapsed();
    report(args, &sim, &results, formed_wall, wall, &invariants);
    // Exiting now: freeing hundreds of MiB node by node only delays the exit.
    std::mem::forget(sim);
    if all_delivered && invariants.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Nodes join in batches, each through a random earlier node.
fn form(sim: &mut Sim, n: usize, progress: &mut Progress) -> Vec<NodeIdx> {
    let mut nodes = Vec::with_capacity(n);
    let batch = 1000;
    while nodes.len() < n {
        let end = (nodes.len() + batch).min(n);
        for i in nodes.len()..end {
            let node = sim.add_node();
            nodes.push(node);
            if i > 0 {
                let j = sim.random_below(i);
                sim.connect(node, nodes[j]);
            }
        }
        sim.run_until_quiet(Duration::from_secs(300));
        progress.update("joining", nodes.len(), n);
    }
    nodes
}

fn random_live(sim: &mut Sim, nodes: &[NodeIdx]) -> NodeIdx {
    loop {
        let n = nodes[sim.random_below(nodes.len())];
        if sim.is_alive(n) {
            return n;
        }
    }
}

fn pick(sim: &mut Sim, nodes: &[NodeIdx], pct: u8) -> Vec<NodeIdx> {
    let want = nodes.len() * usize::from(pct.min(100)) / 100;
    let mut chosen = std::collections::BTreeSet::new();
    while chosen.len() < want {
        chosen.insert(nodes[sim.random_below(nodes.len())]);
    }
    chosen.into_iter().collect()
}

fn partition_and_heal(sim: &mut Sim, nodes: &[NodeIdx], pct: u8, json: bool) {
    let cut = pick(sim, nodes, pct);
    let Some(&inside) = cut.first() else {
        return;
    };
    sim.partition(std::slice::from_ref(&cut));
    sim.run_for(Duration::from_secs(20));
    if let Ok(id) = sim.broadcast(inside, vec![Value::from("during partition")]) {
        sim.run_for(Duration::from_secs(10));
        if let Some(st) = sim.stats(&id) {
            let line = format!(
                "during partition: {} of {} nodes cut off, broadcast from inside reached {} (the others were unreachable)",
                cut.len(),
                nodes.len(),
                st.delivered
            );
            if json {
                println!(
                    "{}",
                    json!({"event": "partition", "cut": cut.len(), "delivered": st.delivered})
                );
            } else {
                println!("{line}");
            }
        }
    }
    sim.heal_partition();
    sim.run_for(Duration::from_secs(90));
}

fn churn(sim: &mut Sim, nodes: &[NodeIdx], pct: u8) {
    let victims = pick(sim, nodes, pct);
    for &v in &victims {
        sim.crash(v);
    }
    sim.run_for(Duration::from_secs(30));
    for &v in &victims {
        let bootstrap = random_live(sim, nodes);
        sim.restart(v, bootstrap);
    }
    sim.run_for(Duration::from_secs(60));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(
    args: &SimArgs,
    sim: &Sim,
    results: &[(usize, NodeIdx, BroadcastStats)],
    formed: Duration,
    wall: Duration,
    invariants: &Result<(), String>,
) {
    if args.json {
        for (k, origin, st) in results {
            println!(
                "{}",
                json!({
                    "event": "broadcast", "index": k, "origin": origin.0,
                    "delivered": st.delivered, "missed": st.missed,
                    "duplicates_per_delivery": st.duplicates_per_delivery,
                    "last_delivery_hop": st.last_delivery_hop,
                    "latency_p50_ms": ms(st.latency_p50), "latency_p99_ms": ms(st.latency_p99),
                })
            );
        }
        println!(
            "{}",
            json!({
                "event": "summary", "nodes": args.nodes, "seed": args.seed,
                "broadcasts": results.len(),
                "all_delivered": results.iter().all(|(_, _, s)| s.missed == 0),
                "invariants": invariants.as_ref().map(|_| "ok".to_string()).unwrap_or_else(|e| e.clone()),
                "virtual_secs": sim.elapsed().as_secs_f64(), "steps": sim.steps(),
                "form_wall_secs": formed.as_secs_f64(), "wall_secs": wall.as_secs_f64(),
            })
        );
        return;
    }
    println!("mesh sim: {} nodes, seed {}", args.nodes, args.seed);
    for (k, origin, st) in results {
        println!(
            "broadcast {k} from node {}: delivered {}, missed {}, duplicates/delivery {:.2}, last hop {}, latency p50 {:.1} ms p99 {:.1} ms",
            origin.0,
            st.delivered,
            st.missed,
            st.duplicates_per_delivery,
            st.last_delivery_hop,
            ms(st.latency_p50),
            ms(st.latency_p99)
        );
    }
    let (totals, degree) = sim.totals();
    println!(
        "mesh: mean degree {degree:.1}; frames sent {}, refused over capacity {}, duplicate links {}, handshake timeouts {}",
        totals.frames_out,
        totals.rejected.over_capacity,
        totals.rejected.duplicate,
        totals.rejected.handshake_timeout
    );
    match invariants {
        Ok(()) => println!("invariants: ok"),
        Err(e) => println!("invariants: FAILED: {e}"),
    }
    println!(
        "virtual time {:.1} s, {} steps; wall time {:.2} s (forming the mesh {:.2} s)",
        sim.elapsed().as_secs_f64(),
        sim.steps(),
        wall.as_secs_f64(),
        formed.as_secs_f64()
    );
    if results.iter().any(|(_, _, s)| s.missed > 0) || invariants.is_err() {
        eprintln!("mesh sim: replay with --seed {}", args.seed);
    }
}
