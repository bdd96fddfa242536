//! The relay path: deframe + verify + dedup + emit to 4 peers, next to a plain
//! SHA-256 of the same bytes measured in the same run. Prints the ratio of
//! rates at the end (target >= 0.70).
//!
//! Three node behaviours per frame size:
//! - `relay_only`: a node that only relays (no handler, receive queue off):
//!   exactly the path.
//! - `relay_and_deliver`: the default node, which also parses every payload,
//!   queues the message and hands it to `recv`.
//! - `duplicate`: the same broadcast arriving again from another peer, dropped.
//! - `duplicate_late`: a copy of a broadcast relayed over 100,000 ids
//!   earlier (the warm-up's second quarter): still held, but long out of the
//!   cache's table of recent ids, so it is hashed before it is found (the
//!   slow way a duplicate is dropped).
//!
//! - `floor`: not a node at all, a scale: the least any relay of a frame
//!   does with no dedup, parsing or bookkeeping: copy the read, verify the
//!   checksum, hand the frame to four writers.
//!
//! - `relay_lazy_push`: a relay-only node whose peers all speak lazy push
//!   (the handshake marker), two of its four targets pruned to lazy links:
//!   each frame goes in full to two and is announced to two (batched), and
//!   its body is kept for grafts (the cache full and evicting).
//!
//! Those read one frame per socket read (the per-frame worst case). The
//! `_stream` variants read frames back to back in 64 KiB reads, as the
//! adapters read a loaded link: the throughput case.
//!
//! Run: `cargo bench -p mesh-proto --bench relay`

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
/// What an adapter reads per call (`mesh_host::READ_CHUNK`; mesh-host depends on this crate).
const READ_CHUNK: usize = 64 * 1024;
use mesh_proto::mesh::{Config, ConnId, Mesh, Output, PeerAddr, lazy};
use mesh_proto::wire::{
    CHECKSUM_LEN, Encryption, Frame, HEADER_LEN, MainFlag, Protocol, SubFlag, Value,
};
use sha2::{Digest, Sha256};

const UNIX: u64 = 1_764_000_000;
const PEERS: usize = 5; // one the frames come from, four to relay to
/// Frames relayed before timing starts: the default dedup cap (262,144), so
/// the cache is full and evicting, as a busy node's is.
const POOL: usize = 1 << 18;
/// Frames made and relayed per timed batch: small enough to stay in cache.
const BATCH: usize = 256;

/// A py2p-shaped node id: base58 of a SHA-384 (65 or 66 characters that
/// differ from the first, as real ids do).
fn peer_id(i: usize) -> Bytes {
    let hash = sha2::Sha384::digest(i.to_le_bytes());
    Bytes::from(bs58::encode(hash).into_string())
}

/// A mesh with `PEERS` handshaken peers, none taking compression; `deliver`
/// off means no receive queue (a pure relay); `lazy`: they speak lazy push
/// and the last two have pruned their links to lazy ones.
fn mesh_with_peers(now: Instant, deliver: bool, lazy: bool) -> (Mesh, Vec<ConnId>) {
    let protocol = Protocol::new("bench", Encryption::Plaintext);
    let mut cfg = Config::new(protocol.clone(), PeerAddr::new("bench-node", 1));
    cfg.max_outgoing = 0;
    // The default cap, full after the warm-up pool.
    assert_eq!(cfg.seen_cap, POOL);
    if !deliver {
        cfg.recv_queue_cap = 0;
    }
    let mut mesh = Mesh::new(cfg, 1, now, Duration::from_secs(UNIX));
    let mut conns = Vec::new();
    for i in 0..PEERS {
        let conn = mesh.handle_accepted(Some(PeerAddr::new("peer", i as u16)), now);
        let hs = Frame::new(
            MainFlag::Whisper.value().into(),
            peer_id(i),
            UNIX as i64,
            vec![
                Value::from(SubFlag::Handshake.value()),
                Value::Bin(peer_id(i)),
                Value::Bin(Bytes::from(protocol.id())),
                Value::array([Value::from("peer"), Value::from(i as u64)]),
                Value::Array(
                    lazy.then(|| Value::from(lazy::MARKER))
                        .into_iter()
                        .collect(),
                ),
            ],
        );
        mesh.handle_bytes(conn, &hs.encode(None).unwrap(), now);
        conns.push(conn);
    }
    if lazy {
        for (i, &conn) in conns.iter().enumerate().skip(PEERS - 2) {
            let prune = Frame::new(
                MainFlag::Renegotiate.value().into(),
                peer_id(i),
                UNIX as i64,
                vec![Value::from(lazy::PRUNE)],
            );
            mesh.handle_bytes(conn, &prune.encode(None).unwrap(), now);
        }
        assert_eq!(mesh.lazy_links(), 2);
    }
    drain(&mut mesh);
    assert_eq!(mesh.peer_count(), PEERS);
    (mesh, conns)
}

/// What an adapter does with each socket read: copies it out of its read
/// buffer (exact size) and hands the copy over.
fn read_into(mesh: &mut Mesh, conn: ConnId, read: &[u8], now: Instant) {
    mesh.handle_bytes_owned(conn, Bytes::copy_from_slice(read), now);
}

/// What an adapter does after each read: write out every transmit (here:
/// report it written at once) and hand queued messages to the user.
fn drain(mesh: &mut Mesh) -> usize {
    let mut transmits = 0;
    while let Some(o) = mesh.poll_output() {
        if let Output::Transmit { conn, bytes } = o {
            mesh.handle_written(conn, bytes.len());
            transmits += 1;
        }
    }
    while let Some(m) = mesh.recv() {
        black_box(m);
    }
    transmits
}

/// Distinct broadcasts from a node that is not a direct peer, made in
/// buffers that are reused from batch to batch, as an adapter reuses its read
/// buffer: making frames allocates nothing, so the allocator's state is the
/// mesh's own.
struct FramePool {
    frames: Vec<Vec<u8>>,
    /// Where the 8-byte message number sits in each frame.
    number_at: usize,
}

impl FramePool {
    const MARK: [u8; 8] = *b"\xa5NUMBER\x5a";

    /// `[broadcast, origin, t, broadcast, payload]`: the message number is
    /// the payload's first 8 bytes.
    fn new(payload_len: usize, count: usize) -> FramePool {
        let mut payload = vec![b'x'; payload_len.max(8)];
        payload[..8].copy_from_slice(&Self::MARK);
        let frame = Frame::new(
            MainFlag::Broadcast.value().into(),
            peer_id(1000),
            UNIX as i64,
            vec![
                Value::from(SubFlag::Broadcast.value()),
                Value::from(payload),
            ],
        )
        .encode(None)
        .unwrap();
        let number_at = frame
            .windows(8)
            .position(|w| w == Self::MARK)
            .expect("the mark is in the frame");
        FramePool {
            frames: vec![frame.to_vec(); count],
            number_at,
        }
    }

    /// Renumbers every frame from `first` on (and fixes its checksum).
    fn renumber(&mut self, first: usize) {
        for (k, frame) in self.frames.iter_mut().enumerate() {
            let number = (first + k) as u64;
            frame[self.number_at..self.number_at + 8].copy_from_slice(&number.to_be_bytes());
            let sum = Sha256::digest(&frame[HEADER_LEN + CHECKSUM_LEN..]);
            frame[HEADER_LEN..HEADER_LEN + CHECKSUM_LEN].copy_from_slice(&sum);
        }
    }

    fn frame_len(&self) -> usize {
        self.frames[0].len()
    }
}

const CASES: [(&str, usize); 4] = [
    ("relay_100B", 100),
    ("relay_1KiB", 1024),
    ("relay_4KiB", 4096),
    ("relay_8KiB", 8192),
];

/// The node behaviours timed next to `sha256_only`.
#[derive(Clone, Copy)]
enum Scenario {
    RelayOnly,
    RelayAndDeliver,
    Duplicate,
    LateDuplicate,
    RelayOnlyStream,
    RelayAndDeliverStream,
    RelayLazyPush,
}

impl Scenario {
    const ALL: [Scenario; 7] = [
        Scenario::RelayOnly,
        Scenario::RelayAndDeliver,
        Scenario::Duplicate,
        Scenario::LateDuplicate,
        Scenario::RelayOnlyStream,
        Scenario::RelayAndDeliverStream,
        Scenario::RelayLazyPush,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::RelayOnly => "relay_only",
            Scenario::RelayAndDeliver => "relay_and_deliver",
            Scenario::Duplicate => "duplicate",
            Scenario::LateDuplicate => "duplicate_late",
            Scenario::RelayOnlyStream => "relay_only_stream",
            Scenario::RelayAndDeliverStream => "relay_and_deliver_stream",
            Scenario::RelayLazyPush => "relay_lazy_push",
        }
    }

    /// Whether the node keeps a receive queue that the "user" drains.
    fn delivers(self) -> bool {
        matches!(
            self,
            Scenario::RelayAndDeliver | Scenario::RelayAndDeliverStream
        )
    }

    /// Whether frames arrive as a loaded link delivers them: back to back,
    /// read [`READ_CHUNK`] bytes at a time (as the adapters read), the
    /// outputs drained after each read. Otherwise one frame per read.
    fn stream(self) -> bool {
        matches!(
            self,
            Scenario::RelayOnlyStream | Scenario::RelayAndDeliverStream
        )
    }
}

/// One node under test, kept across criterion's samples: it is warmed up once.
struct Run {
    scenario: Scenario,
    mesh: Mesh,
    conns: Vec<ConnId>,
    pool: FramePool,
    next: usize,
    /// Ids relayed in the warm-up that `duplicate_late` sends again:
    /// `late_from + (late % late_span)` onwards.
    late_from: usize,
    late_span: usize,
    late: usize,
    now: Instant,
}

impl Run {
    fn new(scenario: Scenario, len: usize) -> Run {
        // (Instant::now is fine here: this is a benchmark, not the core.)
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let lazy = matches!(scenario, Scenario::RelayLazyPush);
        let (mut mesh, conns) = mesh_with_peers(now, scenario.delivers(), lazy);
        // Steady state: the mesh has already relayed a whole pool (its dedup
        // cache full and evicting, its buffers grown), as a busy node's has.
        let mut pool = FramePool::new(len, BATCH);
        // `cargo test` runs each bench once, unoptimised: a short warm-up.
        let warm_up = if std::env::args().any(|a| a == "--bench") {
            POOL
        } else {
            4 * BATCH
        };
        for first in (0..warm_up).step_by(BATCH) {
            pool.renumber(first);
            for frame in &pool.frames {
                mesh.handle_bytes(conns[0], frame, now);
                drain(&mut mesh);
            }
        }
        Run {
            scenario,
            mesh,
            conns,
            pool,
            next: POOL.next_multiple_of(BATCH),
            // The second quarter of the warm-up: all held, none recent.
            late_from: warm_up / 4,
            late_span: warm_up / 4,
            late: 0,
            now,
        }
    }

    /// Total time to handle `iters` fresh frames, each relayed (or dropped) in full.
    fn time(&mut self, iters: u64) -> Duration {
        let (mesh, now) = (&mut self.mesh, self.now);
        let lazy = matches!(self.scenario, Scenario::RelayLazyPush);
        let mut total = Duration::ZERO;
        let mut left = iters as usize;
        while left > 0 {
            let n = left.min(BATCH);
            // Distinct frames, made untimed, as a socket read hands them over:
            // fresh ones, or for `duplicate_late` old ones again.
            let first = if let Scenario::LateDuplicate = self.scenario {
                self.late += BATCH;
                self.late_from + (self.late - BATCH) % self.late_span
            } else {
                self.next += BATCH;
                self.next - BATCH
            };
            self.pool.renumber(first);
            let fresh = &self.pool.frames[..n];
            let (from, expected) = match self.scenario {
                Scenario::LateDuplicate => (self.conns[1], 0),
                Scenario::Duplicate => {
                    for frame in fresh {
                        mesh.handle_bytes(self.conns[0], frame, now);
                        drain(mesh);
                    }
                    (self.conns[1], 0)
                }
                // Two in full; the announcements leave in batches (more
                // transmits every 256 frames).
                Scenario::RelayLazyPush => (self.conns[0], 2),
                _ => (self.conns[0], PEERS - 1),
            };
            if self.scenario.stream() {
                let stream = fresh.concat();
                #[allow(clippy::disallowed_methods)]
                let start = Instant::now();
                let mut sent = 0;
                for read in stream.chunks(READ_CHUNK) {
                    read_into(mesh, from, read, now);
                    sent += drain(mesh);
                }
                total += start.elapsed();
                debug_assert_eq!(sent, expected * n);
                left -= n;
                continue;
            }
            #[allow(clippy::disallowed_methods)]
            let start = Instant::now();
            for frame in fresh {
                read_into(mesh, from, frame, now);
                let sent = drain(mesh);
                debug_assert!(sent == expected || (lazy && sent > expected));
            }
            total += start.elapsed();
            left -= n;
        }
        total
    }
}

/// The `floor`: copy the read, verify its checksum, queue the frame for
/// each of the other peers and write them out.
fn floor(read: &[u8], writers: &mut VecDeque<Bytes>) {
    let frame = Bytes::copy_from_slice(read);
    let sum = Sha256::digest(&frame[HEADER_LEN + CHECKSUM_LEN..]);
    assert!(sum[..] == frame[HEADER_LEN..HEADER_LEN + CHECKSUM_LEN]);
    for _ in 1..PEERS {
        writers.push_back(frame.clone());
    }
    while let Some(bytes) = writers.pop_front() {
        black_box(bytes);
    }
}

fn bench(c: &mut Criterion) {
    for (name, len) in CASES {
        let mut g = c.benchmark_group(name);
        // Both sides read frames that are hot in cache, as bytes just read
        // from a socket are: a batch of distinct frames, cycled.
        let mut batch = FramePool::new(len, BATCH);
        batch.renumber(0);
        g.throughput(Throughput::Bytes(batch.frame_len() as u64));
        g.bench_function("sha256_only", |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % BATCH;
                Sha256::digest(black_box(&batch.frames[i][..]))
            })
        });
        g.bench_function("floor", |b| {
            let mut i = 0;
            let mut writers = VecDeque::new();
            b.iter(|| {
                i = (i + 1) % BATCH;
                floor(&batch.frames[i], &mut writers)
            })
        });
        for scenario in Scenario::ALL {
            // Warmed up on first use: a filtered run builds only what it times.
            let mut run = None;
            g.bench_function(scenario.name(), |b| {
                let run = run.get_or_insert_with(|| Run::new(scenario, len));
                b.iter_custom(|iters| run.time(iters))
            });
        }
        g.finish();
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    // `cargo test` runs each benchmark once as a smoke test, without
    // estimates: a summary of ratios has nothing to say then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    println!("\nsummary (rate ratio = sha256_only time / scenario time; target >= 0.70):");
    for (name, len) in CASES {
        let frame_len = FramePool::new(len, 1).frame_len();
        let Some(sha) = bench_support::mean_ns(name, "sha256_only") else {
            println!("  {name}: no sha256_only estimate (was the run filtered?)");
            continue;
        };
        print!("  {name}: frame {frame_len} B  sha256 {sha:.0} ns");
        let names = Scenario::ALL.map(Scenario::name);
        for scenario in ["floor"].into_iter().chain(names) {
            if let Some(t) = bench_support::mean_ns(name, scenario) {
                print!("  {scenario} {t:.0} ns ({:.3})", sha / t);
            }
        }
        println!();
    }
}

#[path = "support.rs"]
mod bench_support;
