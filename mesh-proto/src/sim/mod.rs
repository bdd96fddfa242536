//! A deterministic discrete-event network of real [`Mesh`] values over
//! virtual TCP streams.
//!
//! Streams stay in order and lossless, as TCP; the faults are per-link latency
//! and jitter (which never reorders a stream), random chunking of bytes
//! (which exercises the deframer), stalls, resets, partitions and crashes.
//! One seeded RNG drives everything: the same seed gives the same run.
//!
//! ```
//! use std::time::Duration;
//! use mesh_proto::sim::{Sim, SimConfig};
//! use mesh_proto::wire::Value;
//!
//! let mut sim = Sim::new(SimConfig { seed: 7, ..SimConfig::default() });
//! let nodes: Vec<_> = (0..20).map(|_| sim.add_node()).collect();
//! for &n in &nodes[1..] {
//!     let earlier = nodes[sim.random_below(n.0)];
//!     sim.connect(n, earlier);
//! }
//! sim.run_until_quiet(Duration::from_secs(30));
//! let id = sim.broadcast(nodes[0], vec![Value::from("hi")]).unwrap();
//! sim.run_until_quiet(Duration::from_secs(30));
//! let stats = sim.stats(&id).unwrap();
//! assert_eq!((stats.delivered, stats.missed), (19, 0), "seed {}", sim.seed());
//! ```

mod stats;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use stats::BroadcastStats;

use crate::mesh::rng_for_sim::Rng;
use crate::mesh::{Config, ConnId, Event, Mesh, Message, Output, PeerAddr, SendError};
use crate::wire::{Encryption, MainFlag, MsgId, Protocol, SubFlag, Value};

/// Node `i` listens at `sim-{i}:4444`.
const ADDR_PREFIX: &str = "sim-";
const ADDR_PORT: u16 = 4444;

/// A node's index in the simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeIdx(pub usize);

/// Settings of a simulation.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Drives every random choice, in the network and in the nodes.
    pub seed: u64,
    /// One-way latency of each link, drawn per link in this range.
    pub latency: (Duration, Duration),
    /// Extra delay per segment, up to this (never reordering a stream).
    pub jitter: Duration,
    /// Bytes are delivered in random chunks of 1..=this many bytes (0: whole writes).
    pub max_chunk: usize,
    /// The protocol every node speaks unless changed per node.
    pub protocol: Protocol,
    /// Applied to each node's config before it starts.
    pub configure: Option<fn(&mut Config)>,
    /// Unix time at the start.
    pub unix_start: Duration,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            seed: 0,
            latency: (Duration::from_millis(5), Duration::from_millis(50)),
            jitter: Duration::from_millis(2),
            max_chunk: 0,
            protocol: Protocol::new("sim", Encryption::Plaintext),
            configure: None,
            unix_start: Duration::from_secs(1_764_000_000),
        }
    }
}

#[derive(Debug)]
enum Input {
    Bytes {
        conn: ConnId,
        data: Bytes,
    },
    Accept {
        from: NodeIdx,
        from_conn: ConnId,
        latency: Duration,
    },
    Dialed {
        conn: ConnId,
        ok: bool,
    },
    Closed {
        conn: ConnId,
    },
    Timer,
}

/// A queued input's place in the queue: ordered by time, then by when it
/// was queued (the seq breaks ties deterministically). Kept small and plain
/// (the input waits in a slab) so sorting moves and compares little.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Scheduled {
    /// Virtual time in nanoseconds.
    at: u64,
    seq: u64,
    /// Index of the input in `Queue::slots`.
    slot: u32,
}

/// Width of a queue bucket in nanoseconds.
const BUCKET_NANOS: u64 = 1_000_000;

/// Inputs waiting for their time, a calendar queue: inputs at or after
/// `limit` wait unsorted in 1 ms buckets; those before it in `current`,
/// sorted latest first, so the next one pops off the end. Each input is
/// sorted once, among the few of its bucket, where a heap of all of them
/// would take a cache miss per level on every pop. The (node, input) pairs
/// wait in a slab whose freed slots are reused.
#[derive(Debug, Default)]
struct Queue {
    current: Vec<Scheduled>,
    /// Every input before this time is in `current`.
    limit: u64,
    buckets: BTreeMap<u64, Vec<Scheduled>>,
    slots: Vec<Option<(NodeIdx, Input)>>,
    free: Vec<u32>,
}

impl Queue {
    fn push(&mut self, at: u64, seq: u64, node: NodeIdx, input: Input) {
        let entry = Some((node, input));
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = entry;
                i
            }
            None => {
                self.slots.push(entry);
                u32::try_from(self.slots.len() - 1).expect("under 2^32 queued inputs")
            }
        };
        let s = Scheduled { at, seq, slot };
        if at < self.limit {
            // Rare (the bucket under way): keep `current` sorted.
            let i = self.current.partition_point(|x| *x > s);
            self.current.insert(i, s);
        } else {
            self.buckets.entry(at / BUCKET_NANOS).or_default().push(s);
        }
    }

    /// Moves the earliest bucket into `current` if that ran out.
    fn refill(&mut self) {
        if !self.current.is_empty() {
            return;
        }
        let Some((bucket, mut next)) = self.buckets.pop_first() else {
            return;
        };
        next.sort_unstable_by(|a, b| b.cmp(a));
        self.current = next;
        self.limit = (bucket + 1).saturating_mul(BUCKET_NANOS);
    }

    /// The time of the earliest input.
    fn peek_at(&mut self) -> Option<u64> {
        self.refill();
        self.current.last().map(|s| s.at)
    }

    /// The earliest input and its time.
    fn pop(&mut self) -> Option<(u64, NodeIdx, Input)> {
        self.refill();
        let s = self.current.pop()?;
        let (node, input) = self.slots[s.slot as usize].take()?;
        self.free.push(s.slot);
        Some((s.at, node, input))
    }
}

/// Virtual time as queue keys: nanoseconds (u64 lasts 584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[derive(Debug)]
struct LinkEnd {
    peer: NodeIdx,
    peer_conn: ConnId,
    latency: Duration,
    /// Arrival time of the last segment sent this way: later ones never arrive earlier.
    last_arrival: Duration,
}

/// A node's link ends, sorted by connection, kept with the node: a lookup
/// searches its few links, next to the state the step touches anyway.
#[derive(Debug, Default)]
struct LinkEnds(Vec<(ConnId, LinkEnd)>);

impl LinkEnds {
    fn find(&self, conn: ConnId) -> Result<usize, usize> {
        self.0.binary_search_by_key(&conn, |(c, _)| *c)
    }

    fn contains(&self, conn: ConnId) -> bool {
        self.find(conn).is_ok()
    }

    fn get(&self, conn: ConnId) -> Option<&LinkEnd> {
        let i = self.find(conn).ok()?;
        Some(&self.0[i].1)
    }

    fn get_mut(&mut self, conn: ConnId) -> Option<&mut LinkEnd> {
        let i = self.find(conn).ok()?;
        Some(&mut self.0[i].1)
    }

    fn insert(&mut self, conn: ConnId, end: LinkEnd) {
        match self.find(conn) {
            Ok(i) => self.0[i].1 = end,
            // Connection ids only grow: this is almost always a push.
            Err(i) => self.0.insert(i, (conn, end)),
        }
    }

    fn remove(&mut self, conn: ConnId) -> Option<LinkEnd> {
        let i = self.find(conn).ok()?;
        Some(self.0.remove(i).1)
    }

    fn iter(&self) -> impl Iterator<Item = (ConnId, &LinkEnd)> + '_ {
        self.0.iter().map(|(c, l)| (*c, l))
    }
}

#[derive(Debug)]
struct Node {
    mesh: Mesh,
    addr: PeerAddr,
    alive: bool,
    group: u32,
    /// The deadline a `Timer` input is queued for.
    timer: Option<Duration>,
    received: Vec<Message>,
    incarnation: u32,
    /// `Connected` events seen (py2p's `connect`).
    connected_events: u32,
    links: LinkEnds,
}

#[derive(Debug)]
struct Tracked {
    origin: NodeIdx,
    sent_at: Duration,
    /// Per node: (latency, hops) of its delivery.
    deliveries: BTreeMap<NodeIdx, (Duration, u32)>,
    duplicates_before: u64,
    /// The mesh's bytes sent, all and lazy push's, when it was sent.
    bytes_before: (u64, u64),
}

/// The simulated network. See the [module docs](self).
#[derive(Debug)]
pub struct Sim {
    cfg: SimConfig,
    rng: Rng,
    base: Instant,
    now: Duration,
    seq: u64,
    queue: Queue,
    /// Non-timer inputs still queued (the network is "quiet" at zero).
    pending_io: usize,
    nodes: Vec<Node>,
    tracked: BTreeMap<MsgId, Tracked>,
    violations: Vec<String>,
    steps: u64,
    /// Bytes sent by node processes since replaced by a restart.
    bytes_of_dead: u64,
    lazy_bytes_of_dead: u64,
}

impl Sim {
    /// An empty network.
    pub fn new(cfg: SimConfig) -> Sim {
        Sim {
            rng: Rng::new(cfg.seed),
            // Only an anchor: every time the nodes see is `base + virtual`, and
            // only differences matter, so runs stay reproducible.
            #[allow(clippy::disallowed_methods)]
            base: Instant::now(),
            now: Duration::ZERO,
            seq: 0,
            queue: Queue::default(),
            pending_io: 0,
            nodes: Vec::new(),
            tracked: BTreeMap::new(),
            violations: Vec::new(),
            steps: 0,
            bytes_of_dead: 0,
            lazy_bytes_of_dead: 0,
            cfg,
        }
    }

    /// The seed (print it with any failure: it replays the run).
    pub fn seed(&self) -> u64 {
        self.cfg.seed
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now
    }

    /// Inputs processed so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// A random number below `n` from the simulation's RNG (for test topologies).
    pub fn random_below(&mut self, n: usize) -> usize {
        self.rng.below(n.max(1) as u64) as usize
    }

    fn instant(&self) -> Instant {
        self.base + self.now
    }

    /// Adds a node with the simulation's protocol and configuration.
    pub fn add_node(&mut self) -> NodeIdx {
        self.add_node_with(|_| {})
    }

    /// Adds a node, letting `f` change its config last.
    pub fn add_node_with(&mut self, f: impl FnOnce(&mut Config)) -> NodeIdx {
        let idx = NodeIdx(self.nodes.len());
        let addr = PeerAddr::new(format!("{ADDR_PREFIX}{}", idx.0), ADDR_PORT);
        let mesh = self.make_mesh(&addr, f);
        self.nodes.push(Node {
            mesh,
            addr,
            alive: true,
            group: 0,
            timer: None,
            received: Vec::new(),
            incarnation: 0,
            connected_events: 0,
            links: LinkEnds::default(),
        });
        idx
    }

    fn make_mesh(&mut self, addr: &PeerAddr, f: impl FnOnce(&mut Config)) -> Mesh {
        let mut cfg = Config::new(self.cfg.protocol.clone(), addr.clone());
        if let Some(configure) = self.cfg.configure {
            configure(&mut cfg);
        }
        f(&mut cfg);
        let seed = self.rng.next_u64();
        Mesh::new(cfg, seed, self.instant(), self.cfg.unix_start + self.now)
    }

    /// The node's mesh.
    pub fn mesh(&self, n: NodeIdx) -> &Mesh {
        &self.nodes[n.0].mesh
    }

    /// The node's mesh, to register handlers or send; call [`Sim::flush`] after.
    pub fn mesh_mut(&mut self, n: NodeIdx) -> &mut Mesh {
        &mut self.nodes[n.0].mesh
    }

    /// Number of nodes ever added.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node was added.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether the node runs.
    pub fn is_alive(&self, n: NodeIdx) -> bool {
        self.nodes[n.0].alive
    }

    /// Every application message the node received, in order.
    pub fn received(&self, n: NodeIdx) -> &[Message] {
        &self.nodes[n.0].received
    }

    /// How many `Connected` events the node emitted.
    pub fn connected_events(&self, n: NodeIdx) -> u32 {
        self.nodes[n.0].connected_events
    }

    /// The current virtual instant (for calls made through [`Sim::mesh_mut`]).
    pub fn now(&self) -> Instant {
        self.instant()
    }

    /// `from` dials `to`'s address.
    pub fn connect(&mut self, from: NodeIdx, to: NodeIdx) {
        let addr = self.nodes[to.0].addr.clone();
        let now = self.instant();
        self.nodes[from.0].mesh.connect(addr, now);
        self.flush(from);
    }

    /// Broadcasts from `n` and tracks how it spreads.
    pub fn broadcast(&mut self, n: NodeIdx, packets: Vec<Value>) -> Result<MsgId, SendError> {
        let duplicates_before = self.total_duplicates();
        let bytes_before = self.bytes_sent();
        let now = self.instant();
        let id = self.nodes[n.0]
            .mesh
            .send(packets, MainFlag::Broadcast, now)?;
        self.tracked.insert(
            id,
            Tracked {
                origin: n,
                sent_at: self.now,
                deliveries: BTreeMap::new(),
                duplicates_before,
                bytes_before,
            },
        );
        self.flush(n);
        Ok(id)
    }

    /// Bytes every node ever sent (crashed ones' up to their crash), and
    /// of those the lazy-push frames'.
    pub fn bytes_sent(&self) -> (u64, u64) {
        let mut all = self.bytes_of_dead;
        let mut lazy = self.lazy_bytes_of_dead;
        for n in &self.nodes {
            let c = n.mesh.counters();
            all += c.bytes_out;
            lazy += c.lazy.bytes_out;
        }
        (all, lazy)
    }

    fn total_duplicates(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.mesh.counters().duplicates)
            .sum()
    }

    fn push(&mut self, at: Duration, node: NodeIdx, input: Input) {
        if !matches!(input, Input::Timer) {
            self.pending_io += 1;
        }
        self.seq += 1;
        self.queue.push(nanos(at), self.seq, node, input);
    }

    /// Processes one input; `false` when nothing is left before `until`.
    fn step(&mut self, until: Duration) -> bool {
        match self.queue.peek_at() {
            Some(at) if at <= nanos(until) => {}
            _ => return false,
        }
        let Some((at, node, input)) = self.queue.pop() else {
            return false;
        };
        let at = Duration::from_nanos(at);
        if !matches!(input, Input::Timer) {
            self.pending_io -= 1;
        }
        self.now = self.now.max(at);
        self.steps += 1;
        if !self.nodes[node.0].alive {
            return true;
        }
        let now = self.instant();
        match input {
            Input::Bytes { conn, data } => {
                if self.nodes[node.0].links.contains(conn) {
                    self.nodes[node.0].mesh.handle_bytes(conn, &data, now);
                }
            }
            Input::Accept {
                from,
                from_conn,
                latency,
            } => {
                let remote = self.nodes[from.0].addr.clone();
                let conn = self.nodes[node.0].mesh.handle_accepted(Some(remote), now);
                let last = self.now;
                self.nodes[node.0].links.insert(
                    conn,
                    LinkEnd {
                        peer: from,
                        peer_conn: from_conn,
                        latency,
                        last_arrival: last,
                    },
                );
                self.nodes[from.0].links.insert(
                    from_conn,
                    LinkEnd {
                        peer: node,
                        peer_conn: conn,
                        latency,
                        last_arrival: last,
                    },
                );
            }
            Input::Dialed { conn, ok } => {
                self.nodes[node.0].mesh.handle_dialed(conn, ok, now);
            }
            Input::Closed { conn } => {
                if self.nodes[node.0].links.remove(conn).is_some() {
                    self.nodes[node.0].mesh.handle_closed(conn, now);
                }
            }
            Input::Timer => {
                let n = &mut self.nodes[node.0];
                if n.timer.is_some_and(|t| t <= self.now) {
                    n.timer = None;
                    n.mesh.handle_timeout(now);
                }
            }
        }
        self.flush(node);
        true
    }

    /// Carries out what `n`'s mesh asked for, records deliveries, re-arms its timer.
    pub fn flush(&mut self, n: NodeIdx) {
        while let Some(out) = self.nodes[n.0].mesh.poll_output() {
            match out {
                Output::Transmit { conn, bytes } => {
                    self.nodes[n.0].mesh.handle_written(conn, bytes.len());
                    self.transmit(n, conn, bytes);
                }
                Output::Dial { conn, addr } => self.dial(n, conn, &addr),
                Output::Close { conn } => self.close_link(n, conn),
                Output::Event(e) => self.on_event(n, e),
            }
        }
        while let Some(msg) = self.nodes[n.0].mesh.recv() {
            self.on_delivery(n, &msg);
            self.nodes[n.0].received.push(msg);
        }
        let deadline = self.nodes[n.0]
            .mesh
            .poll_timeout()
            // Never in the past, and a hair after now so a timer that just
            // fired cannot spin at one instant.
            .map(|t| {
                t.saturating_duration_since(self.base)
                    .max(self.now + Duration::from_micros(1))
            });
        // Only ever move the armed timer earlier. A later deadline waits for
        // the armed one (a spurious `handle_timeout` does nothing), which then
        // re-arms. Moving it later instead let a node's timer run ahead of its
        // own queued wake-ups for ever while the deadline sat in the past.
        if let Some(at) = deadline
            && self.nodes[n.0].timer.is_none_or(|armed| at < armed)
        {
            self.nodes[n.0].timer = Some(at);
            self.push(at, n, Input::Timer);
        }
    }

    fn on_event(&mut self, n: NodeIdx, e: Event) {
        if e == Event::Connected {
            self.nodes[n.0].connected_events += 1;
        }
        if let Event::ProtocolViolation { conn, error } = &e {
            // Every sim node is well-behaved: a violation is a bug.
            self.violations.push(format!(
                "node {} {conn}: {error} (seed {})",
                n.0, self.cfg.seed
            ));
        }
    }

    fn on_delivery(&mut self, n: NodeIdx, msg: &Message) {
        let Some(t) = self.tracked.get(&msg.id) else {
            return;
        };
        let from = self.nodes[n.0].links.get(msg.conn).map(|l| l.peer);
        let hops = match from {
            Some(p) if p == t.origin => 1,
            Some(p) => t.deliveries.get(&p).map_or(0, |(_, h)| h + 1),
            None => 0,
        };
        let latency = self.now - t.sent_at;
        let sub = msg.sub_flag();
        let t = self.tracked.get_mut(&msg.id).expect("checked above");
        if t.deliveries.insert(n, (latency, hops)).is_some() && sub == Some(SubFlag::Broadcast) {
            self.violations.push(format!(
                "node {} got broadcast {} twice (seed {})",
                n.0, msg.id, self.cfg.seed
            ));
        }
    }

    fn transmit(&mut self, n: NodeIdx, conn: ConnId, bytes: Bytes) {
        let jitter = self.jitter();
        let Some(link) = self.nodes[n.0].links.get_mut(conn) else {
            return;
        };
        let at = (self.now + link.latency + jitter).max(link.last_arrival);
        link.last_arrival = at;
        let (peer, peer_conn) = (link.peer, link.peer_conn);
        if self.cfg.max_chunk == 0 {
            self.push(
                at,
                peer,
                Input::Bytes {
                    conn: peer_conn,
                    data: bytes,
                },
            );
            return;
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            let size = 1 + self.rng.below(self.cfg.max_chunk as u64) as usize;
            let chunk = rest.split_to(size.min(rest.len()));
            self.push(
                at,
                peer,
                Input::Bytes {
                    conn: peer_conn,
                    data: chunk,
                },
            );
        }
    }

    fn jitter(&mut self) -> Duration {
        let j = self.cfg.jitter.as_nanos() as u64;
        if j == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.rng.below(j))
        }
    }

    fn link_latency(&mut self) -> Duration {
        let (lo, hi) = self.cfg.latency;
        let span = hi.saturating_sub(lo).as_nanos() as u64;
        lo + Duration::from_nanos(if span == 0 { 0 } else { self.rng.below(span) })
    }

    /// The node listening at `addr`: its index is in the name it was given.
    fn node_at(&self, addr: &PeerAddr) -> Option<NodeIdx> {
        let i: usize = addr.host.strip_prefix(ADDR_PREFIX)?.parse().ok()?;
        let node = self.nodes.get(i)?;
        (node.addr == *addr).then_some(NodeIdx(i))
    }

    fn dial(&mut self, n: NodeIdx, conn: ConnId, addr: &PeerAddr) {
        let latency = self.link_latency();
        let at = self.now + latency;
        let target = self.node_at(addr);
        match target {
            Some(t) if self.nodes[t.0].alive && self.nodes[t.0].group == self.nodes[n.0].group => {
                // Accept first (lower seq), so the link exists when the dialer writes.
                self.push(
                    at,
                    t,
                    Input::Accept {
                        from: n,
                        from_conn: conn,
                        latency,
                    },
                );
                self.push(at, n, Input::Dialed { conn, ok: true });
            }
            _ => self.push(at, n, Input::Dialed { conn, ok: false }),
        }
    }

    /// Closes our end; the peer sees the close after what was in flight.
    fn close_link(&mut self, n: NodeIdx, conn: ConnId) {
        if let Some(link) = self.nodes[n.0].links.remove(conn) {
            let at = (self.now + link.latency).max(link.last_arrival);
            self.push(
                at,
                link.peer,
                Input::Closed {
                    conn: link.peer_conn,
                },
            );
        }
    }

    /// Resets the link under both ends: each sees a close after the link's
    /// latency, and bytes still in flight are lost.
    fn reset_link(&mut self, n: NodeIdx, conn: ConnId) {
        if let Some(link) = self.nodes[n.0].links.get(conn) {
            let at = self.now + link.latency;
            let (peer, peer_conn) = (link.peer, link.peer_conn);
            self.push(at, peer, Input::Closed { conn: peer_conn });
            self.push(at, n, Input::Closed { conn });
        }
    }

    /// Runs until no bytes, dials or closes are in flight (timers alone do not
    /// count), or `max` of virtual time passes. `true` if it went quiet.
    pub fn run_until_quiet(&mut self, max: Duration) -> bool {
        let until = self.now + max;
        while self.pending_io > 0 {
            if !self.step(until) {
                break;
            }
        }
        self.pending_io == 0
    }

    /// Runs for `d` of virtual time, timers included.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while self.step(until) {}
        self.now = self.now.max(until);
    }

    /// Crashes a node: its links reset, it stops answering.
    pub fn crash(&mut self, n: NodeIdx) {
        let conns: Vec<ConnId> = self.nodes[n.0].links.iter().map(|(c, _)| c).collect();
        for conn in conns {
            self.reset_link(n, conn);
            // A dead node processes nothing: drop its end now.
            self.nodes[n.0].links.remove(conn);
        }
        self.nodes[n.0].alive = false;
        self.nodes[n.0].timer = None;
    }

    /// Restarts a crashed node as a new process (new id) at the same address,
    /// dialing `bootstrap` if given (none: it waits to be dialed). It keeps
    /// its [`Config::lazy_push`] and [`Config::trim_links`] settings.
    pub fn restart(&mut self, n: NodeIdx, bootstrap: Option<NodeIdx>) {
        let addr = self.nodes[n.0].addr.clone();
        let old_cfg = self.nodes[n.0].mesh.config();
        let (lazy_push, trim_links) = (old_cfg.lazy_push, old_cfg.trim_links);
        let mesh = self.make_mesh(&addr, |c| {
            c.lazy_push = lazy_push;
            c.trim_links = trim_links;
        });
        let old = std::mem::replace(&mut self.nodes[n.0].mesh, mesh);
        self.bytes_of_dead += old.counters().bytes_out;
        self.lazy_bytes_of_dead += old.counters().lazy.bytes_out;
        let node = &mut self.nodes[n.0];
        node.alive = true;
        node.incarnation += 1;
        node.received.clear();
        if let Some(b) = bootstrap {
            self.connect(n, b);
        }
    }

    /// Splits the network: links between different groups reset and dials
    /// across fail until [`Sim::heal_partition`]. Nodes not listed join group 0.
    pub fn partition(&mut self, groups: &[Vec<NodeIdx>]) {
        for node in &mut self.nodes {
            node.group = 0;
        }
        for (g, members) in groups.iter().enumerate() {
            for m in members {
                self.nodes[m.0].group = g as u32 + 1;
            }
        }
        let nodes = &self.nodes;
        let cross: Vec<(NodeIdx, ConnId)> = nodes
            .iter()
            .enumerate()
            .flat_map(|(a, n)| n.links.iter().map(move |(c, l)| (NodeIdx(a), c, l)))
            .filter(|(a, _, l)| nodes[a.0].group != nodes[l.peer.0].group && *a < l.peer)
            .map(|(a, c, _)| (a, c))
            .collect();
        for (n, conn) in cross {
            self.reset_link(n, conn);
        }
    }

    /// Ends a partition.
    pub fn heal_partition(&mut self) {
        for node in &mut self.nodes {
            node.group = 0;
        }
    }

    /// Stalls a link: bytes written to it from now on arrive `d` later.
    pub fn stall(&mut self, n: NodeIdx, conn: ConnId, d: Duration) {
        if let Some(link) = self.nodes[n.0].links.get_mut(conn) {
            link.last_arrival = link.last_arrival.max(self.now) + d;
        }
    }

    /// Sum of every live node's counters, and the mean routing-table size.
    pub fn totals(&self) -> (crate::mesh::Counters, f64) {
        let mut t = crate::mesh::Counters::default();
        let mut routes = 0usize;
        let mut live = 0usize;
        for n in self.nodes.iter().filter(|n| n.alive) {
            let c = n.mesh.counters();
            live += 1;
            routes += n.mesh.peer_count();
            t.frames_in += c.frames_in;
            t.frames_out += c.frames_out;
            t.bytes_out += c.bytes_out;
            t.relayed += c.relayed;
            t.duplicates += c.duplicates;
            t.rejected.over_capacity += c.rejected.over_capacity;
            t.rejected.duplicate += c.rejected.duplicate;
            t.rejected.handshake_timeout += c.rejected.handshake_timeout;
            t.rejected.self_connection += c.rejected.self_connection;
            t.violations += c.violations;
            t.lazy.add(&c.lazy);
            t.links_trimmed += c.links_trimmed;
            t.trims_agreed += c.trims_agreed;
        }
        (t, routes as f64 / live.max(1) as f64)
    }

    /// How a tracked broadcast spread.
    pub fn stats(&self, id: &MsgId) -> Option<BroadcastStats> {
        let t = self.tracked.get(id)?;
        let live_others = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| n.alive && *i != t.origin.0)
            .count();
        let delivered = t
            .deliveries
            .keys()
            .filter(|n| self.nodes[n.0].alive)
            .count();
        let mut lat: Vec<Duration> = t.deliveries.values().map(|(l, _)| *l).collect();
        lat.sort();
        let dups = self.total_duplicates().saturating_sub(t.duplicates_before);
        let (bytes, lazy_bytes) = self.bytes_sent();
        Some(BroadcastStats {
            delivered,
            missed: live_others.saturating_sub(delivered),
            duplicates_per_delivery: if delivered == 0 {
                0.0
            } else {
                dups as f64 / delivered as f64
            },
            last_delivery_hop: t.deliveries.values().map(|(_, h)| *h).max().unwrap_or(0),
            latency_p50: stats::quantile(&lat, 0.5),
            latency_p99: stats::quantile(&lat, 0.99),
            announce_bytes: lazy_bytes.saturating_sub(t.bytes_before.1),
            bytes_sent: bytes.saturating_sub(t.bytes_before.0),
        })
    }

    /// Whether `n` delivered the tracked broadcast `id`.
    pub fn delivered(&self, n: NodeIdx, id: &MsgId) -> bool {
        self.tracked
            .get(id)
            .is_some_and(|t| t.deliveries.contains_key(&n))
    }

    /// Live nodes reachable from `n` through routing tables.
    pub fn component(&self, n: NodeIdx) -> Vec<NodeIdx> {
        let by_id: BTreeMap<&[u8], usize> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| node.alive)
            .map(|(i, node)| (node.mesh.id().0.as_ref(), i))
            .collect();
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![n];
        seen[n.0] = true;
        while let Some(x) = stack.pop() {
            for (peer, _) in self.nodes[x.0].mesh.routes() {
                if let Some(&y) = by_id.get(peer.0.as_ref())
                    && !seen[y]
                {
                    seen[y] = true;
                    stack.push(NodeIdx(y));
                }
            }
        }
        (0..self.nodes.len())
            .filter(|i| seen[*i])
            .map(NodeIdx)
            .collect()
    }

    /// Checks the invariants: no violations seen, no duplicate delivery, caches
    /// within bounds, and (once quiet) symmetric routing tables.
    pub fn check_invariants(&self) -> Result<(), String> {
        if let Some(v) = self.violations.first() {
            return Err(v.clone());
        }
        let by_id = IdIndex::new(
            self.nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.alive)
                .map(|(i, n)| (&n.mesh.id().0[..], i)),
        );
        // Routing tables settle only once quiet: checked then.
        let routes = if self.pending_io == 0 {
            self.route_peers(&by_id)
        } else {
            Vec::new()
        };
        let mut edges: Vec<(u32, u32)> =
            routes.iter().filter_map(|&(i, j)| Some((i, j?))).collect();
        edges.sort_unstable();
        let mut routes = routes.into_iter().peekable();
        for (i, node) in self.nodes.iter().enumerate().filter(|(_, n)| n.alive) {
            let m = &node.mesh;
            let cfg = m.config();
            if m.seen_len() > cfg.seen_cap || m.queued_messages() > cfg.recv_queue_cap {
                return Err(format!(
                    "node {i}: cache over its cap (seed {})",
                    self.cfg.seed
                ));
            }
            let me = by_id.get(&m.id().0).map(index32);
            while let Some((_, peer)) = routes.next_if(|(from, _)| *from == index32(i)) {
                let Some(j) = peer else {
                    return Err(format!(
                        "node {i} routes to a dead or unknown peer (seed {})",
                        self.cfg.seed
                    ));
                };
                // Whether j routes to our id: an edge to whoever holds it.
                if me.is_none_or(|me| edges.binary_search(&(j, me)).is_err()) {
                    return Err(format!(
                        "routing not symmetric: {i} has {j}, not the reverse (seed {})",
                        self.cfg.seed
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every route of every live node as (node, the peer's node if live),
    /// in node then routing-table order: the tables are walked once.
    /// Node indexes as u32 keep these lists small (a route each).
    fn route_peers(&self, by_id: &IdIndex<'_>) -> Vec<(u32, Option<u32>)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.alive)
            .flat_map(|(i, n)| {
                n.mesh
                    .routes()
                    .map(move |(p, _)| (index32(i), by_id.get(&p.0).map(index32)))
            })
            .collect()
    }
}

fn index32(i: usize) -> u32 {
    u32::try_from(i).expect("under 2^32 nodes")
}

/// Node indexes by id, for checking every route of a large network: a
/// sorted array whose keys start with the id's first 8 bytes inline, so
/// most comparisons follow no pointer.
struct IdIndex<'a> {
    sorted: Vec<((u64, &'a [u8]), usize)>,
}

impl<'a> IdIndex<'a> {
    fn new(ids: impl Iterator<Item = (&'a [u8], usize)>) -> IdIndex<'a> {
        let mut sorted: Vec<_> = ids.map(|(id, i)| (Self::key(id), i)).collect();
        // Stable: of equal ids the last added wins, as in a map.
        sorted.sort_by_key(|(k, _)| *k);
        IdIndex { sorted }
    }

    /// Ordered as the id bytes: the zero-padded big-endian head decides
    /// unless equal, and then the bytes do.
    fn key(id: &[u8]) -> (u64, &[u8]) {
        let mut head = [0u8; 8];
        let n = id.len().min(8);
        head[..n].copy_from_slice(&id[..n]);
        (u64::from_be_bytes(head), id)
    }

    fn get(&self, id: &[u8]) -> Option<usize> {
        let key = Self::key(id);
        let end = self.sorted.partition_point(|(k, _)| *k <= key);
        let (k, i) = self.sorted.get(end.checked_sub(1)?)?;
        (*k == key).then_some(*i)
    }
}
