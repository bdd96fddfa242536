//! Lazy push on real sockets: ten `mesh chat` nodes (tokio) send 100
//! broadcasts; every application gets each exactly once, and the mesh
//! relays at most 0.35x the full frames it relays with lazy push off.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

const NODES: usize = 10;
const BROADCASTS: usize = 100;

mod common;
use common::Chat as Node;

/// A node with `--lazy <lazy>`, joining through `connect` if given.
fn start(lazy: &str, connect: Option<&str>) -> Node {
    let mut args = vec!["--lazy", lazy];
    if let Some(addr) = connect {
        args.extend(["--connect", addr]);
    }
    Node::start(&args)
}

const WAIT: Duration = Duration::from_secs(20);

/// Runs the mesh with `--lazy <lazy>`; returns the summed `relayed` counter
/// and the summed lazy-push prunes.
fn run(lazy: &str) -> (u64, u64) {
    let mut nodes: Vec<Node> = Vec::new();
    let mut addrs: Vec<String> = Vec::new();
    let mut ids = Vec::new();
    let mut backlog: Vec<Vec<Json>> = Vec::new();
    for i in 0..NODES {
        // Each joins through an earlier node; peer exchange does the rest.
        let via = (i > 0).then(|| addrs[(i * 7) % i].clone());
        let node = start(lazy, via.as_deref());
        let mut seen = Vec::new();
        let ready = node.expect_keeping("ready", WAIT, &mut seen);
        addrs.push(ready["addr"].as_str().unwrap().to_string());
        ids.push(ready["id"].as_str().unwrap().to_string());
        if i > 0 {
            node.expect_keeping("peer_up", WAIT, &mut seen);
        }
        nodes.push(node);
        backlog.push(seen);
    }
    // Let peer exchange settle.
    std::thread::sleep(Duration::from_millis(1500));
    for k in 0..BROADCASTS {
        let from = (k * 3) % NODES;
        nodes[from].say(&format!("b{k:03} from {from}"));
        std::thread::sleep(Duration::from_millis(5));
    }
    // Every node gets every broadcast but its own, each exactly once.
    for (i, node) in nodes.iter().enumerate() {
        let want = (0..BROADCASTS).filter(|k| (k * 3) % NODES != i).count();
        let mut got: BTreeMap<String, usize> = BTreeMap::new();
        let mut lines = std::mem::take(&mut backlog[i]);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for v in lines.drain(..) {
                if v["event"] == "message" {
                    let text = v["packets"][1]["str"].as_str().unwrap_or("?").to_string();
                    *got.entry(text).or_default() += 1;
                }
            }
            if got.len() >= want || Instant::now() > deadline {
                break;
            }
            if let Ok(v) = node.lines.recv_timeout(Duration::from_millis(200)) {
                lines.push(v);
            }
        }
        // Anything late would be a second copy: give it a moment.
        std::thread::sleep(Duration::from_millis(100));
        while let Ok(v) = node.lines.try_recv() {
            if v["event"] == "message" {
                let text = v["packets"][1]["str"].as_str().unwrap_or("?").to_string();
                *got.entry(text).or_default() += 1;
            }
        }
        assert_eq!(got.len(), want, "--lazy {lazy}: node {i} missed broadcasts");
        let twice: Vec<_> = got.iter().filter(|(_, n)| **n != 1).collect();
        assert!(twice.is_empty(), "--lazy {lazy}: node {i} got {twice:?}");
    }
    let mut relayed = 0;
    let mut prunes = 0;
    for node in &mut nodes {
        node.say("/stats");
        let stats = node.expect("stats");
        relayed += stats["counters"]["relayed"].as_u64().unwrap();
        prunes += stats["counters"]["lazy"]["prunes_sent"].as_u64().unwrap();
    }
    for node in &mut nodes {
        node.say("/quit");
    }
    (relayed, prunes)
}

#[test]
fn ten_chat_nodes_relay_a_third_of_flooding_with_lazy_push() {
    let (flood, flood_prunes) = run("off");
    let (lazy, lazy_prunes) = run("on");
    eprintln!(
        "relayed: lazy push {lazy}, flooding {flood} ({:.3}x)",
        lazy as f64 / flood as f64
    );
    assert_eq!(flood_prunes, 0, "flooding never prunes");
    assert!(lazy_prunes > 0, "lazy push pruned nothing");
    assert!(flood > 0);
    assert!(
        (lazy as f64) <= 0.35 * flood as f64,
        "relayed {lazy} with lazy push, {flood} flooding"
    );
}
