//! The relay path: deframe + verify + dedup + emit to 4 peers (and deliver),
//! next to a plain SHA-256 of the same bytes measured in the same run.
//! Prints the ratio of rates at the end (target >= 0.70).
//!
//! Run: `cargo bench -p mesh-proto --bench relay`

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use mesh_proto::mesh::{Config, ConnId, Mesh, Output, PeerAddr};
use mesh_proto::wire::{Encryption, Frame, MainFlag, Protocol, SubFlag, Value};
use sha2::{Digest, Sha256};

const UNIX: u64 = 1_764_000_000;
const PEERS: usize = 5; // one the frames come from, four to relay to
const POOL: usize = 20_000;
/// Frames made and relayed per timed batch: small enough to stay in cache.
const BATCH: usize = 256;

fn peer_id(i: usize) -> Bytes {
    Bytes::from(format!("{i:0>66}"))
}

/// A mesh with `PEERS` handshaken peers, none taking compression.
fn mesh_with_peers(now: Instant) -> (Mesh, Vec<ConnId>) {
    let protocol = Protocol::new("bench", Encryption::Plaintext);
    let mut cfg = Config::new(protocol.clone(), PeerAddr::new("bench-node", 1));
    cfg.max_outgoing = 0;
    // Full after the warm-up pool: the timed pool evicts as it inserts.
    cfg.seen_cap = POOL;
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
                Value::Array(vec![]),
            ],
        );
        mesh.handle_bytes(conn, &hs.encode(None).unwrap(), now);
        conns.push(conn);
    }
    drain(&mut mesh);
    assert_eq!(mesh.peer_count(), PEERS);
    (mesh, conns)
}

fn drain(mesh: &mut Mesh) -> usize {
    let mut transmits = 0;
    while let Some(o) = mesh.poll_output() {
        if let Output::Transmit { conn, bytes } = o {
            mesh.handle_written(conn, bytes.len());
            transmits += 1;
        }
    }
    while mesh.recv().is_some() {}
    transmits
}

/// `count` distinct broadcasts from a node that is not a direct peer,
/// numbered from `first`.
fn frames_from(payload_len: usize, first: usize, count: usize) -> Vec<Bytes> {
    let origin = peer_id(1000);
    (first..first + count)
        .map(|k| {
            Frame::new(
                MainFlag::Broadcast.value().into(),
                origin.clone(),
                UNIX as i64,
                vec![
                    Value::from(SubFlag::Broadcast.value()),
                    Value::from(k as u64),
                    Value::from(vec![b'x'; payload_len]),
                ],
            )
            .encode(None)
            .unwrap()
        })
        .collect()
}

const CASES: [(&str, usize); 2] = [("relay_100B", 100), ("relay_1KiB", 1024)];

fn bench(c: &mut Criterion) {
    for (name, len) in CASES {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(frames_len(len) as u64));
        // Both sides read frames that are hot in cache, as bytes just read
        // from a socket are: a batch of distinct frames, cycled.
        let batch = frames_from(len, 0, BATCH);
        g.bench_function("sha256_only", |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % BATCH;
                Sha256::digest(black_box(&batch[i][..]))
            })
        });
        // Steady state: each pass starts from a mesh that has already relayed
        // a whole pool (its dedup cache full and evicting, its buffers grown),
        // as a busy node's would be. Then fresh batches of distinct frames are
        // made (untimed) and relayed (timed).
        let warm = frames_from(len, 0, POOL);
        g.bench_function("relay_to_4", |b| {
            b.iter_custom(|iters| {
                // (Instant::now is fine here: this is a benchmark, not the core.)
                #[allow(clippy::disallowed_methods)]
                let now = Instant::now();
                let (mut mesh, conns) = mesh_with_peers(now);
                for frame in &warm {
                    mesh.handle_bytes(conns[0], frame, now);
                    drain(&mut mesh);
                }
                let mut total = Duration::ZERO;
                let mut next = POOL;
                let mut left = iters as usize;
                while left > 0 {
                    let n = left.min(BATCH);
                    let fresh = frames_from(len, next, n);
                    next += n;
                    #[allow(clippy::disallowed_methods)]
                    let start = Instant::now();
                    for frame in &fresh {
                        mesh.handle_bytes(conns[0], frame, now);
                        let sent = drain(&mut mesh);
                        debug_assert_eq!(sent, PEERS - 1);
                    }
                    total += start.elapsed();
                    left -= n;
                }
                total
            })
        });
        g.finish();
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    println!("\nsummary (rate ratio = sha256_only time / relay_to_4 time; target >= 0.70):");
    for (name, len) in CASES {
        let frame_len = frames_len(len) as f64;
        match (
            bench_support::mean_ns(name, "sha256_only"),
            bench_support::mean_ns(name, "relay_to_4"),
        ) {
            (Some(sha), Some(relay)) => println!(
                "  {name}: frame {frame_len} B  sha256 {sha:.0} ns  relay {relay:.0} ns  ratio {:.2}",
                sha / relay
            ),
            _ => println!("  {name}: no estimates (was the run filtered?)"),
        }
    }
}

fn frames_len(payload_len: usize) -> usize {
    frames_from(payload_len, 0, 1)[0].len()
}

#[path = "support.rs"]
mod bench_support;
