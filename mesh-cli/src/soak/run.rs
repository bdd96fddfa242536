//! The soak's loop: start the nodes, then broadcast, inject faults, check
//! deadlines, sample resident sets and report until the time is up.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use serde_json::json;

use super::SoakArgs;
use super::fleet::{Fleet, Observed, Seen};
use super::ledger::{Finding, Ledger, name};
use super::report::{RSS_BOUND, Totals, emit, secs};

/// How long a broadcast may take to reach every expected node.
pub(super) const DEADLINE: Duration = Duration::from_secs(5);
/// How long a node must have had a peer before it is expected to receive.
pub(super) const SETTLE: Duration = Duration::from_secs(2);
const RSS_EVERY: Duration = Duration::from_secs(5);
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// A ready node with no peer for this long gets a `/connect`.
pub(super) const LONELY: Duration = Duration::from_secs(3);
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// splitmix64: every random choice of the soak, from `--seed`.
#[derive(Debug)]
pub(super) struct Rng(u64);

impl Rng {
    /// The next 64 random bits.
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// One of `items`, if any.
    pub(super) fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[(self.next() % items.len() as u64) as usize])
    }

    /// A float in 0..1.
    pub(super) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A soak in progress; dropping it kills every child.
#[derive(Debug)]
pub struct Soak<'a> {
    pub(super) args: &'a SoakArgs,
    pub(super) seed: u64,
    pub(super) fleet: Fleet,
    pub(super) ledger: Ledger,
    pub(super) rng: Rng,
    pub(super) totals: Totals,
    pub(super) stop: Arc<AtomicBool>,
    /// When the command started.
    pub(super) begin: Instant,
    /// When the run clock started (all nodes ready).
    pub(super) start: Instant,
    pub(super) next_node: usize,
    pub(super) anchors: usize,
    /// Nodes started on their victim's port (a failed bind is no crash).
    pub(super) in_place: HashSet<usize>,
    pub(super) rss_max: u64,
    pub(super) interrupted: bool,
}

impl<'a> Soak<'a> {
    /// A soak of `args`, nothing started yet; prints `soak_start`.
    pub fn new(args: &'a SoakArgs, seed: u64, stop: Arc<AtomicBool>) -> std::io::Result<Self> {
        let fleet = Fleet::new(args.runtime)?;
        let anchors = usize::from(args.nodes).div_ceil(4);
        let now = Instant::now();
        let runtime = format!("{:?}", args.runtime).to_lowercase();
        emit(
            args.json,
            json!({"event": "soak_start", "nodes": args.nodes, "minutes": args.minutes,
                "seed": seed, "fault_every": args.fault_every, "rate": args.rate,
                "runtime": runtime, "deadline_secs": DEADLINE.as_secs(),
                "settle_secs": SETTLE.as_secs(), "anchors": anchors, "rss_bound": RSS_BOUND}),
            format!(
                "soak: {} nodes for {} min (seed {seed}), {} broadcasts/s, a fault every {} s, {anchors} never faulted; deadline {} s",
                args.nodes,
                args.minutes,
                args.rate,
                args.fault_every,
                DEADLINE.as_secs()
            ),
        );
        Ok(Soak {
            args,
            seed,
            fleet,
            ledger: Ledger::default(),
            rng: Rng(seed),
            totals: Totals::default(),
            stop,
            begin: now,
            start: now,
            next_node: 0,
            anchors,
            in_place: HashSet::new(),
            rss_max: 0,
            interrupted: false,
        })
    }

    /// Seconds from the start of the run clock to `t`.
    pub(super) fn at(&self, t: Instant) -> f64 {
        secs(t.saturating_duration_since(self.start))
    }

    /// Starts the nodes one by one, each bootstrapping from one or two ready ones.
    pub fn setup(&mut self) -> Result<(), String> {
        for slot in 0..usize::from(self.args.nodes) {
            let boot = self.bootstrap();
            let node = self.spawn(slot, 0, &boot, slot < self.anchors)?;
            let until = Instant::now() + READY_TIMEOUT;
            while !self.ledger.is_ready(node) {
                if self.stop.load(Ordering::SeqCst) {
                    return Err("interrupted".into());
                }
                if !self.ledger.nodes.contains_key(&node) {
                    return Err(format!("{} exited while starting", name(node)));
                }
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(format!("{} not ready within {READY_TIMEOUT:?}", name(node)));
                }
                if let Ok(obs) = self
                    .fleet
                    .rx
                    .recv_timeout(left.min(Duration::from_millis(100)))
                {
                    self.handle(obs);
                }
            }
        }
        self.start = Instant::now();
        Ok(())
    }

    /// Starts a node in `slot` on `port` (0: a free one) dialing `boot`.
    pub(super) fn spawn(
        &mut self,
        slot: usize,
        port: u16,
        boot: &[String],
        anchor: bool,
    ) -> Result<usize, String> {
        let node = self.next_node;
        self.next_node += 1;
        let pid = self
            .fleet
            .spawn(node, port, boot)
            .map_err(|e| format!("cannot start {}: {e}", name(node)))?;
        self.ledger.add(node, slot, pid, anchor, Instant::now());
        self.totals.spawned += 1;
        Ok(node)
    }

    /// Handles one stamped line or end of a node.
    fn handle(&mut self, obs: Observed) {
        match obs.seen {
            Seen::Line(v) => {
                if v["event"] == "dial_failed" {
                    self.totals.dial_failed += 1;
                }
                if let Some(Finding::Duplicate { seq, node, count }) =
                    self.ledger.on_line(obs.node, obs.at, &v)
                {
                    self.totals.duplicates += 1;
                    let origin = self
                        .ledger
                        .origins
                        .get(&seq)
                        .map_or("?".into(), |&o| name(o));
                    let peers = self.ledger.peer_names(node);
                    emit(
                        self.args.json,
                        json!({"event": "soak_miss", "kind": "duplicate", "seq": seq,
                            "message": format!("soak {seq} {origin}"), "origin": origin,
                            "node": name(node), "count": count, "at_secs": self.at(obs.at), "peers_now": peers}),
                        format!(
                            "DUPLICATE: {} printed \"soak {seq} {origin}\" {count} times (at {} s; peers {})",
                            name(node),
                            self.at(obs.at),
                            peers.join(" ")
                        ),
                    );
                }
            }
            Seen::Eof => {
                let node = obs.node;
                let ready = self.ledger.is_ready(node);
                let Some(n) = self.ledger.remove(node) else {
                    return;
                };
                self.fleet.kill(node);
                if !ready && self.in_place.remove(&node) {
                    // The old port was taken meanwhile: start on a free one instead.
                    self.totals.rebinds += 1;
                } else {
                    self.totals.crashes += 1;
                    emit(
                        self.args.json,
                        json!({"event": "soak_miss", "kind": "crash", "node": name(node), "pid": n.pid,
                            "ready": ready, "age_secs": secs(obs.at - n.started), "at_secs": self.at(obs.at)}),
                        format!(
                            "CRASH: {} (pid {}) exited on its own after {} s",
                            name(node),
                            n.pid,
                            secs(obs.at - n.started)
                        ),
                    );
                }
                let boot = self.bootstrap();
                if let Err(e) = self.spawn(n.slot, 0, &boot, n.anchor) {
                    crate::out::errln!("mesh soak: {e}");
                }
            }
        }
    }

    /// Handles every line that arrived until `until` (at least those already waiting).
    pub(super) fn pump(&mut self, until: Instant) {
        let wait = until.saturating_duration_since(Instant::now());
        match self.fleet.rx.recv_timeout(wait) {
            Ok(obs) => self.handle(obs),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return,
        }
        while let Ok(obs) = self.fleet.rx.try_recv() {
            self.handle(obs);
        }
    }

    /// The run: broadcasts and faults until 6 s before the end, then the last checks.
    pub fn run(&mut self) {
        let total = Duration::from_secs_f64(self.args.minutes * 60.0);
        let end = self.start + total;
        let active_end = self.start + total.saturating_sub(DEADLINE + Duration::from_secs(1));
        let interval = Duration::from_secs_f64(1.0 / self.args.rate);
        let fault_every =
            (self.args.fault_every > 0.0).then(|| Duration::from_secs_f64(self.args.fault_every));
        let mark = self.start + Duration::from_secs(60).min(total / 2);
        let mut next_bcast = self.start;
        let mut next_fault = fault_every.map(|f| self.start + f);
        let mut next_rss = self.start;
        let mut next_progress = self.start + PROGRESS_EVERY;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                self.interrupted = true;
                return;
            }
            let now = Instant::now();
            if now >= end {
                break;
            }
            let mut wake = [
                next_rss,
                next_progress,
                end,
                now + Duration::from_millis(100),
            ]
            .into_iter()
            .min()
            .unwrap_or(now);
            if now < active_end {
                wake = wake.min(next_bcast).min(next_fault.unwrap_or(wake));
            }
            if let Some(f) = self.ledger.flights.front() {
                wake = wake.min(f.t0 + DEADLINE);
            }
            self.pump(wake);
            let now = Instant::now();
            if now < active_end && now >= next_bcast {
                self.broadcast();
                next_bcast += interval;
                if next_bcast < now {
                    next_bcast = now + interval;
                }
            }
            if let (Some(every), Some(at)) = (fault_every, next_fault)
                && now < active_end
                && now >= at
            {
                self.fault();
                next_fault = Some(Instant::now() + every);
            }
            self.check_due(now);
            if now >= next_rss {
                self.sample_rss(now >= mark, mark);
                next_rss += RSS_EVERY;
            }
            if now >= next_progress {
                self.progress(now);
                next_progress += PROGRESS_EVERY;
            }
            self.rescue(now);
            self.fleet.reap();
        }
        // Every flight's deadline has passed: check them all.
        self.pump(Instant::now());
        self.check_due(Instant::now() + DEADLINE);
        self.sample_rss(true, mark);
    }

    /// One broadcast from a random ready node.
    fn broadcast(&mut self) {
        let ready = self.ledger.ready();
        let Some(origin) = self.rng.pick(&ready) else {
            return;
        };
        let seq = self.totals.broadcasts;
        if self
            .fleet
            .say(origin, &format!("soak {seq} {}", name(origin)))
        {
            self.totals.broadcasts += 1;
            self.ledger.launch(seq, origin, Instant::now(), SETTLE);
        }
    }
}
