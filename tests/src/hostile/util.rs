//! Small helpers: clocks, fresh ids and tags, random bytes, bounded
//! waits and checks on what a node delivers.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mesh_proto::wire::{Value, base58_int};

use super::LIMIT;
use crate::nodes::Node;

// ----- small helpers ---------------------------------------------------------

/// Unix seconds now.
pub fn unix_now() -> i64 {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    i64::try_from(t.as_secs()).expect("in range")
}

/// A msgpack bin.
pub fn bin(b: &[u8]) -> Value {
    Value::from(b)
}

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A fresh number, unique in this process.
fn fresh() -> u64 {
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A node id nobody else has: base58 text, as py2p's.
pub fn fresh_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    let mut raw = [0u8; 24];
    raw[..8].copy_from_slice(&fresh().to_be_bytes());
    raw[8..16].copy_from_slice(&nanos.to_be_bytes());
    raw[16..20].copy_from_slice(&std::process::id().to_be_bytes());
    raw[20] = 0x5a;
    base58_int(&raw)
}

/// A payload tag nobody else sends.
pub fn tag(what: &str) -> Vec<u8> {
    format!("{what} #{}", fresh()).into_bytes()
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Deterministic pseudo-random bytes (xorshift64*).
pub fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// Polls `ok` until it holds; fails after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// The message carrying `payload` (as packet 1) from `node`, skipping
/// others; fails after [`LIMIT`].
pub fn expect_payload(node: &dyn Node, payload: &[u8], what: &str) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = node
            .next(left)
            .unwrap_or_else(|| panic!("{what}: never delivered"));
        if msg.packets.get(1) == Some(&bin(payload)) {
            return;
        }
    }
}

/// Takes `node`'s queued messages until `marker` arrives (fails after
/// [`LIMIT`]); fails if one carrying any of `forbidden` comes first.
pub fn nothing_before(node: &dyn Node, marker: &[u8], forbidden: &[&[u8]], what: &str) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = node
            .next(left)
            .unwrap_or_else(|| panic!("{what}: the marker never came"));
        let p = msg.packets.get(1);
        for f in forbidden {
            assert!(
                p != Some(&bin(f)),
                "{what}: {:?} was delivered",
                String::from_utf8_lossy(f)
            );
        }
        if p == Some(&bin(marker)) {
            return;
        }
    }
}

/// Deliveries of `payload` by `node` before `marker` arrives (fails if it
/// does not within [`LIMIT`]).
pub fn count_before(node: &dyn Node, payload: &[u8], marker: &[u8], what: &str) -> usize {
    let deadline = Instant::now() + LIMIT;
    let mut n = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = node
            .next(left)
            .unwrap_or_else(|| panic!("{what}: the marker never came"));
        let p = msg.packets.get(1);
        if p == Some(&bin(payload)) {
            n += 1;
        }
        if p == Some(&bin(marker)) {
            return n;
        }
    }
}
