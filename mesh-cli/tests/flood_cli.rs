//! A flood of connection attempts against a `mesh chat` node (its own
//! process, so its descriptors and memory are its own): 20,000 connections
//! as fast as this client makes them, none ever handshaking. The node stays
//! up with descriptors and memory bounded, keeps serving its honest peer,
//! and accepts a new honest peer during the flood.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::Chat;

const ATTEMPTS: u64 = 20_000;
/// Connections this client keeps open at once (each closed when the window
/// moves on): the node sees them as peers that never say a word.
const WINDOW: usize = 1_000;
/// Descriptors the node may hold during the flood. What it can hold: the
/// accepted streams queued for the driver (256), parked ones (`max_inbound`,
/// 64), pending handshakes (32), inbound links (64), refusals under way
/// (`MAX_REFUSING`, 64), closes lingering, and its own ~20 (listener,
/// epoll, pipes...): about 550 at worst.
const MAX_FDS: usize = 600;
/// Memory the node may grow by during the flood.
const MAX_RSS_GROWTH_KIB: u64 = 64 * 1024;

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn port_of(ready: &serde_json::Value) -> u16 {
    let addr = ready["addr"].as_str().unwrap();
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// What the flood did, and what the node held at most.
struct Flood {
    attempts: u64,
    connected: u64,
    secs: f64,
    max_fds: usize,
    max_rss_kib: u64,
}

/// Floods `addr` from two threads while a third samples `pid`; `during`
/// runs once the flood is under way (a quarter done).
fn flood(addr: SocketAddr, pid: u32, during: impl FnOnce()) -> Flood {
    let done = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicU64::new(0));
    let sampler = {
        let done = done.clone();
        thread::spawn(move || {
            let (mut max_fds, mut max_rss) = (0, 0);
            while !done.load(Ordering::Relaxed) {
                max_fds = max_fds.max(fds(pid));
                max_rss = max_rss.max(rss_kib(pid));
                thread::sleep(Duration::from_millis(20));
            }
            (max_fds, max_rss)
        })
    };
    let started = Instant::now();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (attempts, connected) = (attempts.clone(), connected.clone());
            thread::spawn(move || {
                let mut open = std::collections::VecDeque::with_capacity(WINDOW / 2);
                while attempts.fetch_add(1, Ordering::Relaxed) < ATTEMPTS {
                    if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                        connected.fetch_add(1, Ordering::Relaxed);
                        if open.len() >= WINDOW / 2 {
                            open.pop_front();
                        }
                        open.push_back(s);
                    }
                }
            })
        })
        .collect();
    while attempts.load(Ordering::Relaxed) < ATTEMPTS / 4 {
        thread::sleep(Duration::from_millis(5));
    }
    during();
    for w in workers {
        w.join().unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let (max_fds, max_rss_kib) = sampler.join().unwrap();
    Flood {
        attempts: ATTEMPTS,
        connected: connected.load(Ordering::Relaxed),
        secs,
        max_fds,
        max_rss_kib,
    }
}

/// Waits until `chat` prints a `peer_up` for `id` (other lines are kept in
/// `keep`); panics past `deadline`.
fn await_peer_up(chat: &Chat, id: &str, deadline: Instant, keep: &mut Vec<serde_json::Value>) {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if chat.expect_keeping("peer_up", left, keep)["id"] == id {
            return;
        }
    }
}

fn survives_a_connection_flood(runtime: &str) {
    let victim = Chat::start(&["--runtime", runtime]);
    let ready = victim.expect("ready");
    let port = port_of(&ready);
    let victim_id = ready["id"].as_str().unwrap().to_string();
    let target = format!("127.0.0.1:{port}");
    let mut honest = Chat::start(&["--connect", &target]);
    honest.expect("ready");
    honest.expect("peer_up");
    let pid = victim.child.id();
    thread::sleep(Duration::from_millis(200));
    let rss_before = rss_kib(pid);

    let mut newcomer = None;
    let mut seen = Vec::new();
    let f = flood(format!("127.0.0.1:{port}").parse().unwrap(), pid, || {
        // A new honest peer joins mid-flood: the victim itself takes it in
        // (not only the peer its refusal would point to).
        let joiner = Chat::start(&["--connect", &target]);
        let joiner_id = joiner.expect("ready")["id"].as_str().unwrap().to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        await_peer_up(&joiner, &victim_id, deadline, &mut Vec::new());
        // Both ends have the link before the broadcast goes out.
        await_peer_up(&victim, &joiner_id, deadline, &mut seen);
        newcomer = Some(joiner);
        honest.say("during the flood");
    });
    eprintln!(
        "{runtime}: {} attempts ({} connected) in {:.1} s ({:.0}/s); the node held at most {} descriptors and {} KiB (before: {} KiB)",
        f.attempts,
        f.connected,
        f.secs,
        f.attempts as f64 / f.secs,
        f.max_fds,
        f.max_rss_kib,
        rss_before
    );
    let heard = victim.expect_keeping("message", Duration::from_secs(20), &mut seen);
    assert_eq!(heard["packets"][1]["str"], "during the flood", "{heard}");
    let joiner = newcomer.expect("the newcomer joined");
    let got = joiner.expect_keeping("message", Duration::from_secs(20), &mut Vec::new());
    assert_eq!(got["packets"][1]["str"], "during the flood", "{got}");
    assert!(
        f.max_fds <= MAX_FDS,
        "{runtime}: {} descriptors held",
        f.max_fds
    );
    assert!(
        f.max_rss_kib <= rss_before + MAX_RSS_GROWTH_KIB,
        "{runtime}: RSS {} KiB from {rss_before} KiB",
        f.max_rss_kib
    );
    assert!(
        seen.iter()
            .chain(
                std::iter::from_fn(|| victim.lines.try_recv().ok())
                    .collect::<Vec<_>>()
                    .iter()
            )
            .any(|l| l["event"] == "rejected"),
        "the flood was refused, with the documented event"
    );
    // Still up and serving after the flood.
    let mut after = Chat::start(&["--connect", &target]);
    after.expect("ready");
    after.expect("peer_up");
    after.say("after the flood");
    let heard = victim.expect_keeping("message", Duration::from_secs(20), &mut Vec::new());
    assert_eq!(heard["packets"][1]["str"], "after the flood");
}

#[test]
fn a_tokio_node_survives_a_connection_flood() {
    survives_a_connection_flood("tokio");
}

#[test]
fn a_smol_node_survives_a_connection_flood() {
    survives_a_connection_flood("smol");
}

#[test]
fn a_blocking_node_survives_a_connection_flood() {
    survives_a_connection_flood("blocking");
}
