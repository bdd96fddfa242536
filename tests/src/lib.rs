//! Shared helpers for the cross-crate suites: the py2p vectors, loaded from
//! the copy in `tests/data/` (the project must not need `../shared` to test),
//! simulation helpers, [`nodes`], a Rust node on every runtime adapter, and
//! [`py2p`], a harness that runs the real py2p in a subprocess for the
//! interop suite.

use serde_json::Value as Json;

pub mod conformance;
pub mod hostile;
pub mod nodes;
pub mod py2p;

/// The path of a file in `tests/data/`.
pub fn data_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

/// The vectors made by py2p itself.
pub fn py2p_vectors() -> Json {
    let text =
        std::fs::read_to_string(data_path("py2p-wire.json")).expect("tests/data/py2p-wire.json");
    serde_json::from_str(&text).expect("vectors are JSON")
}

/// Lowercase hex to bytes; panics on bad input (test data only).
pub fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).expect("valid hex in test data")
}

/// Simulation helpers shared by the scenario suites.
pub mod simnet {
    use std::time::Duration;

    use mesh_proto::mesh::Config;
    use mesh_proto::sim::{NodeIdx, Sim, SimConfig};

    /// A simulation with `configure` applied to every node.
    pub fn sim(seed: u64, configure: Option<fn(&mut Config)>) -> Sim {
        Sim::new(SimConfig {
            seed,
            configure,
            max_chunk: 64,
            ..SimConfig::default()
        })
    }

    /// Keeps a hand-made topology: no peer-exchange dials, no healing dials.
    pub fn no_auto_connect(cfg: &mut Config) {
        cfg.max_outgoing = 0;
    }

    /// `n` nodes, each joining through a random earlier one; runs until quiet.
    pub fn joined(sim: &mut Sim, n: usize) -> Vec<NodeIdx> {
        let nodes: Vec<NodeIdx> = (0..n).map(|_| sim.add_node()).collect();
        for i in 1..n {
            let j = sim.random_below(i);
            sim.connect(nodes[i], nodes[j]);
        }
        assert!(
            sim.run_until_quiet(Duration::from_secs(120)),
            "mesh did not settle (seed {})",
            sim.seed()
        );
        nodes
    }

    /// A line `n0 - n1 - ... - n(k-1)` with no other links.
    pub fn line(sim: &mut Sim, k: usize) -> Vec<NodeIdx> {
        let nodes: Vec<NodeIdx> = (0..k).map(|_| sim.add_node()).collect();
        for w in nodes.windows(2) {
            sim.connect(w[0], w[1]);
        }
        assert!(sim.run_until_quiet(Duration::from_secs(30)));
        nodes
    }
}
