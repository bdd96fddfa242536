//! decode + checksum verify of a broadcast frame, next to a plain SHA-256 of
//! the same bytes measured in the same run: every frame must be hashed, so the
//! hash is the floor. Prints the ratio of rates at the end (target >= 0.8).
//!
//! Run: `cargo bench -p mesh-proto --bench decode`

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use mesh_proto::wire::{Frame, Limits, MainFlag, SubFlag, Value, decode_frame};
use sha2::{Digest, Sha256};

/// A py2p-sized sender id (66 base58 characters).
const SENDER: &[u8] = b"5mSuhYToNoXU3cDFYZdQEsiuweJJY36MpvY5tVexReBT2RwxLxBN5J5L9jr3tVKhW6";

fn broadcast(payload_len: usize) -> Bytes {
    let payload = vec![
        Value::from(SubFlag::Broadcast.value()),
        Value::from(vec![b'x'; payload_len]),
    ];
    Frame::new(
        MainFlag::Broadcast.value().into(),
        SENDER,
        1_764_000_000,
        payload,
    )
    .encode(None)
    .expect("encodes")
}

/// Frames decoded per timed batch.
const BATCH: usize = 1024;

const CASES: [(&str, usize); 2] = [("payload_100B", 100), ("payload_1KiB", 1024)];

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    for (name, len) in CASES {
        let frame = broadcast(len);
        // Both sides work through the same copies of the frame, each in a
        // buffer of its own, as a receiver's frames are: one buffer reused
        // over and over made whole runs fast or slow depending on where it
        // happened to land relative to the stack (runs of one binary differed
        // by 15%).
        let copies: Vec<Bytes> = (0..BATCH).map(|_| Bytes::copy_from_slice(&frame)).collect();
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(frame.len() as u64));
        g.bench_function("sha256_only", |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % BATCH;
                Sha256::digest(black_box(&copies[i][..]))
            })
        });
        // The input clones are setup (a receiver owns its frame); dropping the
        // decoded frame stays inside the timing. A hand-rolled batch rather
        // than `iter_batched`, whose per-item bookkeeping is a visible share
        // of a 200 ns routine.
        g.bench_function("decode_verify", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters as usize;
                while left > 0 {
                    let n = left.min(BATCH);
                    let inputs: Vec<Bytes> = copies[..n].to_vec();
                    #[allow(clippy::disallowed_methods)] // a benchmark's clock
                    let start = Instant::now();
                    for f in inputs {
                        drop(decode_frame(black_box(f), &[], &limits).expect("decodes"));
                    }
                    total += start.elapsed();
                    left -= n;
                }
                total
            })
        });
        let body = frame.slice(36..);
        g.bench_function("parse_only", |b| {
            b.iter(|| mesh_proto::wire::parse_body(black_box(&body), &limits).expect("parses"))
        });
        g.bench_function("sha_body_only", |b| {
            b.iter(|| Sha256::digest(black_box(&body[..])))
        });
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
    println!("\nsummary (rate ratio = sha256_only time / decode_verify time; target >= 0.80):");
    for (name, len) in CASES {
        let frame_len = broadcast(len).len() as f64;
        match (
            bench_support::mean_ns(name, "sha256_only"),
            bench_support::mean_ns(name, "decode_verify"),
        ) {
            (Some(sha), Some(dec)) => println!(
                "  {name}: frame {frame_len} B  sha256 {:.0} ns ({:.0} MB/s)  decode+verify {:.0} ns ({:.0} MB/s)  ratio {:.3}",
                sha,
                frame_len / sha * 1e3,
                dec,
                frame_len / dec * 1e3,
                sha / dec
            ),
            _ => println!("  {name}: no estimates (was the run filtered?)"),
        }
    }
}

#[path = "support.rs"]
mod bench_support;
