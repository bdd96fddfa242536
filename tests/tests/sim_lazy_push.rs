//! Lazy push in the simulator: against flooding on the same mesh and seed,
//! and under churn, partitions, random chunking and a mixed mesh (a third
//! of the nodes speak only py2p).

use std::time::Duration;

use mesh_proto::mesh::Config;
use mesh_proto::sim::{BroadcastStats, NodeIdx, Sim, SimConfig};
use mesh_proto::wire::Value;

const QUIET: Duration = Duration::from_secs(300);

fn plain(c: &mut Config) {
    c.compression.clear();
}

fn plain_flooding(c: &mut Config) {
    c.compression.clear();
    c.lazy_push = false;
}

fn sim(seed: u64, configure: fn(&mut Config), max_chunk: usize) -> Sim {
    Sim::new(SimConfig {
        seed,
        configure: Some(configure),
        max_chunk,
        ..SimConfig::default()
    })
}

/// `n` nodes, each joining through a random earlier one (`flood_only(i)`:
/// node `i` speaks only py2p).
fn form(s: &mut Sim, n: usize, flood_only: impl Fn(usize) -> bool) -> Vec<NodeIdx> {
    let nodes: Vec<NodeIdx> = (0..n)
        .map(|i| {
            let off = flood_only(i);
            s.add_node_with(|c| c.lazy_push &= !off)
        })
        .collect();
    for i in 1..n {
        let j = s.random_below(i);
        s.connect(nodes[i], nodes[j]);
    }
    assert!(s.run_until_quiet(QUIET), "seed {}", s.seed());
    nodes
}

/// One 1 KiB broadcast from `origin`, run until its announcements and
/// grafts are done.
fn broadcast(s: &mut Sim, origin: NodeIdx, k: u64) -> BroadcastStats {
    let mut payload = vec![0u8; 1024];
    payload[..8].copy_from_slice(&k.to_be_bytes());
    let id = s.broadcast(origin, vec![Value::from(payload)]).unwrap();
    assert!(s.run_until_quiet(QUIET));
    s.run_for(Duration::from_secs(2));
    assert!(s.run_until_quiet(QUIET));
    s.stats(&id).unwrap()
}

fn live(s: &Sim, nodes: &[NodeIdx], k: usize) -> NodeIdx {
    let live: Vec<NodeIdx> = nodes.iter().copied().filter(|n| s.is_alive(*n)).collect();
    live[(k * 7919) % live.len()]
}

#[test]
fn a_settled_tree_sends_a_third_of_flooding_with_no_loss() {
    let (n, seed) = (1000, 14);
    let mut results = Vec::new();
    for configure in [plain_flooding as fn(&mut Config), plain] {
        let mut s = sim(seed, configure, 0);
        let nodes = form(&mut s, n, |_| false);
        broadcast(&mut s, nodes[1], u64::MAX); // settles the tree
        let runs: Vec<BroadcastStats> = (0..5)
            .map(|k| {
                let origin = live(&s, &nodes, k);
                broadcast(&mut s, origin, k as u64)
            })
            .collect();
        s.check_invariants().unwrap_or_else(|e| panic!("{e}"));
        results.push(runs);
    }
    let (flood, lazy) = (&results[0], &results[1]);
    let bytes = |r: &[BroadcastStats]| r.iter().map(|s| s.bytes_sent).sum::<u64>() as f64;
    let p99 = |r: &[BroadcastStats]| {
        r.iter().map(|s| s.latency_p99.as_secs_f64()).sum::<f64>() / r.len() as f64
    };
    eprintln!(
        "bytes {:.3}x flooding; p99 {:.0} ms vs {:.0} ms",
        bytes(lazy) / bytes(flood),
        p99(lazy) * 1e3,
        p99(flood) * 1e3
    );
    for st in lazy {
        assert_eq!(st.missed, 0, "seed {seed}: {st:?}");
        assert!(st.duplicates_per_delivery <= 0.5, "seed {seed}: {st:?}");
        assert!(st.announce_bytes > 0);
    }
    for st in flood {
        assert_eq!(st.missed, 0);
        assert!(st.duplicates_per_delivery > 2.0, "flooding: {st:?}");
    }
    assert!(bytes(lazy) <= 0.35 * bytes(flood));
}

/// Broadcasts after a fault: none missed by a live node, and redundancy
/// back under 0.5 by the third.
fn after_fault(s: &mut Sim, nodes: &[NodeIdx], what: &str) {
    let seed = s.seed();
    let stats: Vec<BroadcastStats> = (0..4)
        .map(|k| {
            let origin = live(s, nodes, k);
            broadcast(s, origin, 100 + k as u64)
        })
        .collect();
    for st in &stats {
        assert_eq!(st.missed, 0, "{what}, seed {seed}: {stats:?}");
    }
    assert!(
        stats[2..].iter().all(|st| st.duplicates_per_delivery < 0.5),
        "{what}, seed {seed}: {stats:?}"
    );
    s.check_invariants().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn after_20_percent_churn_nothing_is_missed_and_the_tree_settles() {
    let mut s = sim(20, plain, 0);
    let nodes = form(&mut s, 400, |_| false);
    broadcast(&mut s, nodes[0], u64::MAX);
    let victims: Vec<NodeIdx> = nodes.iter().copied().filter(|n| n.0 % 5 == 2).collect();
    for &v in &victims {
        s.crash(v);
    }
    s.run_for(Duration::from_secs(30));
    for (k, &v) in victims.iter().enumerate() {
        let bootstrap = live(&s, &nodes, k);
        s.restart(v, Some(bootstrap));
    }
    s.run_for(Duration::from_secs(60));
    after_fault(&mut s, &nodes, "churn");
}

#[test]
fn after_a_30_percent_partition_heals_nothing_is_missed() {
    let mut s = sim(30, plain, 0);
    let nodes = form(&mut s, 400, |_| false);
    broadcast(&mut s, nodes[0], u64::MAX);
    let cut: Vec<NodeIdx> = nodes.iter().copied().filter(|n| n.0 % 10 < 3).collect();
    s.partition(std::slice::from_ref(&cut));
    s.run_for(Duration::from_secs(20));
    // Inside the cut the tree repairs itself too: the origin's whole
    // component (the cut may be in pieces) gets it.
    let reachable = s.component(cut[0]).len() - 1;
    let inside = broadcast(&mut s, cut[0], 7);
    assert_eq!(inside.delivered, reachable, "seed 30: {inside:?}");
    s.heal_partition();
    s.run_for(Duration::from_secs(90));
    after_fault(&mut s, &nodes, "partition");
}

#[test]
fn random_chunking_loses_nothing() {
    let mut s = sim(64, plain, 64);
    let nodes = form(&mut s, 300, |_| false);
    broadcast(&mut s, nodes[0], u64::MAX);
    after_fault(&mut s, &nodes, "chunking");
}

#[test]
fn a_mixed_mesh_with_a_third_py2p_only_delivers_everything_once() {
    let mut s = sim(33, plain, 0);
    let nodes = form(&mut s, 300, |i| i % 3 == 0);
    for k in 0..5 {
        let origin = live(&s, &nodes, k);
        let st = broadcast(&mut s, origin, k as u64);
        assert_eq!(st.missed, 0, "seed 33: {st:?}");
    }
    // No node delivered a broadcast twice (checked by the simulator).
    s.check_invariants().unwrap_or_else(|e| panic!("{e}"));
    let (totals, _) = s.totals();
    assert!(
        totals.lazy.prunes_sent > 0,
        "our nodes pruned among themselves"
    );
}
