//! What the soak knows of the mesh, rebuilt from the nodes' JSON lines: who
//! is live, the peer graph (an edge counts once both ends printed `peer_up`
//! for each other, and until either printed `peer_down` or died), and every
//! broadcast in flight with the nodes that must print it.
//!
//! The rule: a broadcast sent at t0 is expected at every node that, at t0,
//! was live, had had at least one peer for `settle`, and was reachable from
//! the sender; whenever the graph shrinks during the flight (a `peer_down`,
//! a death), the expected set keeps only the nodes still reachable from a
//! live holder (the sender, or a node that printed the message). A node still
//! expected at t0 + deadline must have printed it; any node printing a
//! message twice is a duplicate.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

/// One live node (an incarnation: a restarted node is a new one).
#[derive(Debug)]
pub struct Node {
    /// Its slot (0..nodes): a replacement takes its victim's slot.
    pub slot: usize,
    /// Process id.
    pub pid: u32,
    /// Its mesh id, from `ready`.
    pub id: Option<String>,
    /// `HOST:PORT` it listens on, from `ready`.
    pub addr: Option<String>,
    /// Mesh ids it reported up and not down since.
    pub peers: BTreeSet<String>,
    /// When it was spawned.
    pub started: Instant,
    /// Since when `peers` has been non-empty.
    pub connected_since: Option<Instant>,
    /// Last time the soak dialed for it (a node with no peer is helped along).
    pub last_rescue: Instant,
    /// Never faulted: its resident set is watched for the whole run.
    pub anchor: bool,
    /// Times it printed each broadcast (by sequence number), and when first.
    pub deliveries: HashMap<u64, (u32, Instant)>,
    /// VmRSS at the mark (KiB): its first sample after it, if it started before.
    pub rss_mark: Option<u64>,
    /// The last VmRSS sample (KiB).
    pub rss_last: Option<u64>,
    /// The largest VmRSS sample (KiB).
    pub rss_max: u64,
}

/// One broadcast in flight.
#[derive(Debug)]
pub struct Flight {
    /// Sequence number (in the text: `soak SEQ nORIGIN`).
    pub seq: u64,
    /// The sending incarnation.
    pub origin: usize,
    /// When it was written to the sender's stdin.
    pub t0: Instant,
    /// Nodes that must print it.
    pub expected: BTreeSet<usize>,
    /// Each expected node's peers (as node names) at t0.
    pub peers_at_send: HashMap<usize, Vec<String>>,
    /// Live nodes known to have it.
    holders: HashSet<usize>,
    /// Expectations withdrawn because the graph shrank.
    pub withdrawn: u64,
}

/// A finding about one node and one broadcast.
#[derive(Debug)]
pub enum Finding {
    /// `node` printed broadcast `seq` for the `count`th time.
    Duplicate {
        /// Sequence number.
        seq: u64,
        /// The node that printed it again.
        node: usize,
        /// How many times so far.
        count: u32,
    },
}

/// The soak's view of the mesh.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Live nodes by incarnation.
    pub nodes: BTreeMap<usize, Node>,
    /// Mesh id to incarnation, for every node ever seen (names outlive nodes).
    by_id: HashMap<String, usize>,
    /// Broadcasts in flight, oldest first.
    pub flights: VecDeque<Flight>,
    /// Origin of every broadcast, by sequence number.
    pub origins: HashMap<u64, usize>,
}

/// `n<incarnation>`: how nodes are named in the output.
pub fn name(node: usize) -> String {
    format!("n{node}")
}

impl Ledger {
    /// A node just spawned.
    pub fn add(&mut self, node: usize, slot: usize, pid: u32, anchor: bool, now: Instant) {
        self.nodes.insert(
            node,
            Node {
                slot,
                pid,
                id: None,
                addr: None,
                peers: BTreeSet::new(),
                started: now,
                connected_since: None,
                last_rescue: now,
                anchor,
                deliveries: HashMap::new(),
                rss_mark: None,
                rss_last: None,
                rss_max: 0,
            },
        );
    }

    /// A node died or was killed: it leaves the graph, and flights shrink.
    pub fn remove(&mut self, node: usize) -> Option<Node> {
        let n = self.nodes.remove(&node);
        if n.is_some() {
            self.shrink();
        }
        n
    }

    /// Whether `node` printed `ready`.
    pub fn is_ready(&self, node: usize) -> bool {
        self.nodes.get(&node).is_some_and(|n| n.addr.is_some())
    }

    /// The nodes that printed `ready`, in order.
    pub fn ready(&self) -> Vec<usize> {
        self.nodes
            .keys()
            .copied()
            .filter(|&n| self.is_ready(n))
            .collect()
    }

    /// Handles one stdout line of `node`.
    pub fn on_line(&mut self, node: usize, at: Instant, v: &Json) -> Option<Finding> {
        let event = v["event"].as_str().unwrap_or("");
        let n = self.nodes.get_mut(&node)?;
        match event {
            "ready" => {
                let id = v["id"].as_str().unwrap_or("").to_string();
                n.addr = v["addr"].as_str().map(str::to_string);
                self.by_id.insert(id.clone(), node);
                n.id = Some(id);
            }
            "peer_up" => {
                if let Some(id) = v["id"].as_str() {
                    n.peers.insert(id.to_string());
                    n.connected_since.get_or_insert(at);
                }
            }
            "peer_down" => {
                if let Some(id) = v["id"].as_str() {
                    n.peers.remove(id);
                    if n.peers.is_empty() {
                        n.connected_since = None;
                    }
                    self.shrink();
                }
            }
            "message" => {
                let seq = soak_seq(v)?;
                let entry = n.deliveries.entry(seq).or_insert((0, at));
                entry.0 += 1;
                let count = entry.0;
                if let Some(f) = self.flights.iter_mut().find(|f| f.seq == seq) {
                    f.holders.insert(node);
                }
                if count > 1 {
                    return Some(Finding::Duplicate { seq, node, count });
                }
            }
            _ => {}
        }
        None
    }

    /// Live incarnations adjacent to `node`: both ends report the other up.
    fn neighbours(&self, node: usize) -> impl Iterator<Item = usize> + '_ {
        let n = &self.nodes[&node];
        let my_id = n.id.as_deref().unwrap_or("");
        n.peers.iter().filter_map(move |id| {
            let other = *self.by_id.get(id)?;
            let o = self.nodes.get(&other)?;
            (o.id.as_deref() == Some(id.as_str()) && o.peers.contains(my_id)).then_some(other)
        })
    }

    /// The live nodes reachable from `roots` (live roots included).
    pub fn reach(&self, roots: impl IntoIterator<Item = usize>) -> HashSet<usize> {
        let mut seen = HashSet::new();
        let mut todo: Vec<usize> = roots
            .into_iter()
            .filter(|r| self.nodes.contains_key(r))
            .collect();
        seen.extend(todo.iter().copied());
        while let Some(n) = todo.pop() {
            for m in self.neighbours(n) {
                if seen.insert(m) {
                    todo.push(m);
                }
            }
        }
        seen
    }

    /// Connected components of the live graph and its (undirected) edges.
    pub fn shape(&self) -> (usize, usize) {
        let mut left: BTreeSet<usize> = self.nodes.keys().copied().collect();
        let mut components = 0;
        while let Some(&first) = left.iter().next() {
            components += 1;
            for n in self.reach([first]) {
                left.remove(&n);
            }
        }
        let edges: usize = self.nodes.keys().map(|&n| self.neighbours(n).count()).sum();
        (components, edges / 2)
    }

    /// After the graph lost an edge or a node: every flight keeps only the
    /// expected nodes still reachable from a live holder.
    fn shrink(&mut self) {
        let mut flights = std::mem::take(&mut self.flights);
        for f in &mut flights {
            if f.expected.is_empty() {
                continue;
            }
            let reach = self.reach(f.holders.iter().copied().chain([f.origin]));
            let before = f.expected.len();
            f.expected.retain(|n| reach.contains(n));
            f.withdrawn += (before - f.expected.len()) as u64;
        }
        self.flights = flights;
    }

    /// A node's peers as names (`n7`), or the short id of one never seen.
    pub fn peer_names(&self, node: usize) -> Vec<String> {
        let Some(n) = self.nodes.get(&node) else {
            return Vec::new();
        };
        n.peers
            .iter()
            .map(|id| match self.by_id.get(id) {
                Some(&p) => name(p),
                None => id.chars().take(8).collect(),
            })
            .collect()
    }

    /// Records broadcast `seq` sent by `origin` at `t0` and the nodes that must print it.
    pub fn launch(&mut self, seq: u64, origin: usize, t0: Instant, settle: Duration) {
        let reach = self.reach([origin]);
        let expected: BTreeSet<usize> = reach
            .into_iter()
            .filter(|&n| {
                n != origin
                    && self.nodes[&n]
                        .connected_since
                        .is_some_and(|s| t0.saturating_duration_since(s) >= settle)
            })
            .collect();
        let peers_at_send = expected.iter().map(|&n| (n, self.peer_names(n))).collect();
        self.origins.insert(seq, origin);
        self.flights.push_back(Flight {
            seq,
            origin,
            t0,
            expected,
            peers_at_send,
            holders: HashSet::from([origin]),
            withdrawn: 0,
        });
    }

    /// The flights whose deadline has passed at `now`, oldest first.
    pub fn due(&mut self, now: Instant, deadline: Duration) -> Vec<Flight> {
        let mut out = Vec::new();
        while self.flights.front().is_some_and(|f| f.t0 + deadline <= now) {
            out.extend(self.flights.pop_front());
        }
        out
    }
}

/// The sequence number of a soak broadcast in a `message` line (`soak SEQ nORIGIN`).
fn soak_seq(v: &Json) -> Option<u64> {
    v["packets"].as_array()?.iter().find_map(|p| {
        let text = p["str"].as_str()?;
        text.strip_prefix("soak ")?.split(' ').next()?.parse().ok()
    })
}
