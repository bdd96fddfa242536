//! `mesh sim`: a deterministic simulation of N real `Mesh` nodes over virtual
//! TCP, reporting how broadcasts spread.

use crate::out::{errln, outln};
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

mod faults;

use faults::Recovery;
use mesh_proto::sim::{BroadcastStats, NodeIdx, Sim, SimConfig};
use mesh_proto::wire::Value;
use serde_json::json;

/// Arguments of `mesh sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    nodes: u32,
    /// Seed of the run: the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Broadcasts to send and report (one at a time, each from a random live node).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    broadcasts: u32,
    /// Broadcasts sent right after the mesh forms, before any fault, and not
    /// reported: with lazy push they prune the mesh into its tree.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    warmup: u32,
    /// Payload bytes of each broadcast (0: a small integer).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    size: u32,
    /// One-way link latency range in milliseconds, `A..B`.
    #[arg(long, default_value = "5..50", value_parser = parse_range)]
    latency_ms: (u64, u64),
    /// Cut this percentage of nodes off, broadcast once inside the cut, heal,
    /// wait 90 s (virtual), then run the broadcasts.
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(1..=99))]
    partition: Option<u8>,
    /// Crash this percentage of nodes, restart them 30 s later as new
    /// processes, wait 60 s (virtual), then run the broadcasts.
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    churn: Option<u8>,
    /// Deliver bytes in random chunks of up to this many bytes (0: whole writes).
    #[arg(long, default_value_t = 0)]
    max_chunk: usize,
    /// Let nodes negotiate compression as real ones do (off by default: it
    /// costs CPU and changes nothing the simulation measures).
    #[arg(long)]
    compression: bool,
    /// Lazy push between our nodes (`on`), pure py2p flooding (`off`), or
    /// both runs with the same seed and a comparison (`both`).
    #[arg(long, value_enum, default_value_t = Lazy::On)]
    lazy: Lazy,
    /// This percentage of nodes speak only py2p (no lazy push, no link
    /// trimming): a mixed mesh.
    #[arg(long, value_name = "PERCENT", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    py2p: u8,
    /// Nodes keep the links they dialed to heal after a fault instead of
    /// giving them back once the mesh is whole (`Config::trim_links` off):
    /// degree and redundancy then grow with every fault.
    #[arg(long)]
    no_trim: bool,
    /// One JSON object per line on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// `--lazy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Lazy {
    On,
    Off,
    Both,
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s.split_once("..").ok_or("expected A..B")?;
    let a: u64 = a.trim().parse().map_err(|e| format!("{a}: {e}"))?;
    let b: u64 = b.trim().parse().map_err(|e| format!("{b}: {e}"))?;
    if a > b {
        return Err("A must not exceed B".into());
    }
    if b > 3_600_000 {
        return Err("latency above an hour".into());
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
        // Best effort: a closed stderr only loses the bar.
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{what:<10} [{}{}] {done}/{total} ({:.1}s)",
            "#".repeat(filled),
            " ".repeat(width - filled),
            self.started.elapsed().as_secs_f64()
        );
        let _ = err.flush();
    }

    fn finish(&mut self) {
        if self.shown {
            errln!();
            self.shown = false;
        }
    }
}

/// Runs the subcommand; exits 1 if any broadcast missed a live node.
pub fn run(args: &SimArgs) -> ExitCode {
    let runs: &[bool] = match args.lazy {
        Lazy::On => &[true],
        Lazy::Off => &[false],
        Lazy::Both => &[false, true],
    };
    let mut outcomes = Vec::new();
    for &lazy in runs {
        match run_once(args, lazy) {
            Some(o) => outcomes.push(o),
            None => return ExitCode::FAILURE,
        }
    }
    if let [flood, lazy] = outcomes.as_slice() {
        compare(args, flood, lazy);
    }
    if outcomes.iter().all(|o| o.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What one run measured.
struct Outcome {
    results: Vec<(usize, NodeIdx, BroadcastStats)>,
    ok: bool,
}

impl Outcome {
    fn bytes(&self) -> u64 {
        self.results.iter().map(|(_, _, s)| s.bytes_sent).sum()
    }

    fn mean(&self, f: impl Fn(&BroadcastStats) -> f64) -> f64 {
        let n = self.results.len().max(1) as f64;
        self.results.iter().map(|(_, _, s)| f(s)).sum::<f64>() / n
    }
}

/// One simulation; `None` if it could not run at all.
fn run_once(args: &SimArgs, lazy: bool) -> Option<Outcome> {
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
        configure: match (args.compression, lazy) {
            (true, true) => None,
            (true, false) => Some(|c| c.lazy_push = false),
            (false, true) => Some(|c| c.compression.clear()),
            (false, false) => Some(|c| {
                c.compression.clear();
                c.lazy_push = false;
            }),
        },
        ..SimConfig::default()
    });
    // Origins come from their own generator: `--lazy both` broadcasts from
    // the same nodes in both runs, whatever else differs.
    let mut origins = Origins(args.seed ^ 0x6f72_6967_696e_7321);
    let nodes = form(&mut sim, args, &mut progress);
    progress.finish();
    let formed_wall = started.elapsed();
    for k in 0..args.warmup {
        let origin = origins.pick(&sim, &nodes)?;
        let _ = sim.broadcast(origin, payload(args, u64::MAX - u64::from(k)));
        settle(&mut sim);
    }
    let faulted = args.partition.is_some() || args.churn.is_some();
    let mut recovery = faulted.then(|| Recovery::before(&mut sim, &nodes));
    if let (Some(pct), Some(rec)) = (args.partition, recovery.as_mut()) {
        faults::partition_and_heal(&mut sim, &nodes, pct, args.json, rec);
    }
    if let (Some(pct), Some(rec)) = (args.churn, recovery.as_mut()) {
        faults::churn(&mut sim, &nodes, pct, rec);
    }
    if let Some(rec) = &recovery {
        rec.report(args.json);
    }
    let mut all_delivered = true;
    let mut results = Vec::new();
    for k in 0..args.broadcasts as usize {
        let Some(origin) = origins.pick(&sim, &nodes) else {
            errln!(
                "mesh sim: no live node to broadcast from (seed {})",
                args.seed
            );
            return None;
        };
        let Ok(id) = sim.broadcast(origin, payload(args, k as u64)) else {
            errln!("mesh sim: broadcast failed (seed {})", args.seed);
            return None;
        };
        settle(&mut sim);
        let Some(st) = sim.stats(&id) else {
            continue;
        };
        all_delivered &= st.missed == 0;
        results.push((k, origin, st));
        progress.update("broadcast", k + 1, args.broadcasts as usize);
    }
    progress.finish();
    let invariants = sim.check_invariants();
    let wall = started.elapsed();
    report(args, lazy, &sim, &results, formed_wall, wall, &invariants);
    let healed = recovery.as_ref().is_none_or(|r| r.probes_missed == 0);
    let ok = all_delivered && invariants.is_ok() && healed;
    // Exiting soon: freeing hundreds of MiB node by node only delays it.
    std::mem::forget(sim);
    Some(Outcome { results, ok })
}

/// Broadcast `k`'s packets: a distinct integer, or `size` bytes starting with it.
fn payload(args: &SimArgs, k: u64) -> Vec<Value> {
    if args.size == 0 {
        return vec![Value::from(k)];
    }
    let mut bytes = vec![0u8; args.size as usize];
    let tag = k.to_be_bytes();
    let n = tag.len().min(bytes.len());
    bytes[..n].copy_from_slice(&tag[..n]);
    vec![Value::from(bytes)]
}

/// Until no bytes are in flight, then long enough for batched
/// announcements and grafts to run, and their bytes to land.
pub(crate) fn settle(sim: &mut Sim) {
    sim.run_until_quiet(Duration::from_secs(300));
    sim.run_for(Duration::from_secs(2));
    sim.run_until_quiet(Duration::from_secs(300));
}

/// Nodes join in batches, each through a random earlier node; `--py2p`
/// percent of them speak only py2p (no lazy push, no link trimming).
fn form(sim: &mut Sim, args: &SimArgs, progress: &mut Progress) -> Vec<NodeIdx> {
    let (n, py2p_pct) = (args.nodes as usize, args.py2p);
    let mut nodes = Vec::with_capacity(n);
    let batch = 1000;
    while nodes.len() < n {
        let end = (nodes.len() + batch).min(n);
        for i in nodes.len()..end {
            let flood_only = py2p_pct > 0 && sim.random_below(100) < usize::from(py2p_pct);
            let node = sim.add_node_with(|c| {
                if flood_only {
                    // py2p speaks neither of our extensions.
                    c.lazy_push = false;
                    c.trim_links = false;
                }
                if args.no_trim {
                    c.trim_links = false;
                }
            });
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

/// Picks broadcast origins (splitmix64).
struct Origins(u64);

impl Origins {
    /// A random live node, if any is left.
    fn pick(&mut self, sim: &Sim, nodes: &[NodeIdx]) -> Option<NodeIdx> {
        let live: Vec<NodeIdx> = nodes.iter().copied().filter(|&n| sim.is_alive(n)).collect();
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let n = u64::try_from(live.len()).ok().filter(|&n| n > 0)?;
        live.get(usize::try_from(z % n).ok()?).copied()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(
    args: &SimArgs,
    lazy: bool,
    sim: &Sim,
    results: &[(usize, NodeIdx, BroadcastStats)],
    formed: Duration,
    wall: Duration,
    invariants: &Result<(), String>,
) {
    let (totals, degree) = sim.totals();
    let (bytes_sent, announce_bytes) = sim.bytes_sent();
    let mode = if lazy { "on" } else { "off" };
    if args.json {
        for (k, origin, st) in results {
            outln!(
                "{}",
                json!({
                    "event": "broadcast", "index": k, "origin": origin.0,
                    "delivered": st.delivered, "missed": st.missed,
                    "duplicates_per_delivery": st.duplicates_per_delivery,
                    "last_delivery_hop": st.last_delivery_hop,
                    "latency_p50_ms": ms(st.latency_p50), "latency_p99_ms": ms(st.latency_p99),
                    "announce_bytes": st.announce_bytes, "bytes_sent": st.bytes_sent,
                    "lazy": mode,
                })
            );
        }
        let l = &totals.lazy;
        outln!(
            "{}",
            json!({
                "event": "summary", "nodes": args.nodes, "seed": args.seed,
                "broadcasts": results.len(),
                "all_delivered": results.iter().all(|(_, _, s)| s.missed == 0),
                "invariants": invariants.as_ref().map(|_| "ok".to_string()).unwrap_or_else(|e| e.clone()),
                "virtual_secs": sim.elapsed().as_secs_f64(), "steps": sim.steps(),
                "form_wall_secs": formed.as_secs_f64(), "wall_secs": wall.as_secs_f64(),
                "lazy": mode, "mean_degree": degree,
                "bytes_sent": bytes_sent, "announce_bytes": announce_bytes,
                "announced": l.announced, "grafts": l.grafts_sent, "prunes": l.prunes_sent,
                "tree_swaps": l.optimized,
                "served_from_cache": l.served_from_cache,
            })
        );
        return;
    }
    outln!(
        "mesh sim: {} nodes, seed {}, lazy push {mode}",
        args.nodes,
        args.seed
    );
    for (k, origin, st) in results {
        outln!(
            "broadcast {k} from node {}: delivered {}, missed {}, duplicates/delivery {:.2}, last hop {}, latency p50 {:.1} ms p99 {:.1} ms, bytes sent {} (announcements {})",
            origin.0,
            st.delivered,
            st.missed,
            st.duplicates_per_delivery,
            st.last_delivery_hop,
            ms(st.latency_p50),
            ms(st.latency_p99),
            st.bytes_sent,
            st.announce_bytes,
        );
    }
    outln!(
        "mesh: mean degree {degree:.1}; frames sent {}, bytes sent {bytes_sent} (lazy push {announce_bytes}), refused over capacity {}, duplicate links {}, handshake timeouts {}",
        totals.frames_out,
        totals.rejected.over_capacity,
        totals.rejected.duplicate,
        totals.rejected.handshake_timeout
    );
    if lazy {
        let l = &totals.lazy;
        outln!(
            "lazy push: {} ids announced, {} grafts, {} prunes, {} tree swaps, {} frames served from the cache",
            l.announced,
            l.grafts_sent,
            l.prunes_sent,
            l.optimized,
            l.served_from_cache
        );
    }
    match invariants {
        Ok(()) => outln!("invariants: ok"),
        Err(e) => outln!("invariants: FAILED: {e}"),
    }
    outln!(
        "virtual time {:.1} s, {} steps; wall time {:.2} s (forming the mesh {:.2} s)",
        sim.elapsed().as_secs_f64(),
        sim.steps(),
        wall.as_secs_f64(),
        formed.as_secs_f64()
    );
    if results.iter().any(|(_, _, s)| s.missed > 0) || invariants.is_err() {
        errln!("mesh sim: replay with --seed {}", args.seed);
    }
}

/// `--lazy both`: lazy push against flooding, same seed, the reported broadcasts.
fn compare(args: &SimArgs, flood: &Outcome, lazy: &Outcome) {
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let bytes_ratio = ratio(lazy.bytes() as f64, flood.bytes() as f64);
    let p99 = |o: &Outcome| o.mean(|s| ms(s.latency_p99));
    let p99_ratio = ratio(p99(lazy), p99(flood));
    let dups = |o: &Outcome| o.mean(|s| s.duplicates_per_delivery);
    if args.json {
        outln!(
            "{}",
            json!({
                "event": "compare", "bytes_flood": flood.bytes(), "bytes_lazy": lazy.bytes(),
                "bytes_ratio": bytes_ratio,
                "duplicates_per_delivery_flood": dups(flood), "duplicates_per_delivery_lazy": dups(lazy),
                "latency_p99_ms_flood": p99(flood), "latency_p99_ms_lazy": p99(lazy),
                "latency_p99_ratio": p99_ratio,
            })
        );
    } else {
        outln!(
            "lazy push vs flooding: bytes sent {} vs {} ({bytes_ratio:.3}x), duplicates/delivery {:.2} vs {:.2}, mean latency p99 {:.1} vs {:.1} ms ({p99_ratio:.2}x)",
            lazy.bytes(),
            flood.bytes(),
            dups(lazy),
            dups(flood),
            p99(lazy),
            p99(flood),
        );
    }
}
