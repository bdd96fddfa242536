//! What a bench run counts at its last hop: which payloads arrived (once
//! each), their latencies, and when the run stalled; and its outcome.

use std::time::{Duration, Instant};

use super::hist::Histogram;
use super::payload;

/// A run's parameters, shared by the publisher and the counter.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Payloads to publish.
    pub count: u64,
    /// Bytes per payload.
    pub size: usize,
    /// At most this many published and not yet delivered.
    pub window: Option<u64>,
    /// Publish at this rate (messages per second) instead of at once.
    pub rate: Option<u64>,
    /// A run that delivers nothing new for this long ends (with loss).
    pub stall: Duration,
}

impl Plan {
    /// When payload `seq` is due, for a paced run started at `start`.
    pub fn due(&self, seq: u64, start: Instant) -> Option<Instant> {
        let rate = self.rate?;
        Some(start + Duration::from_nanos(seq.saturating_mul(1_000_000_000) / rate.max(1)))
    }
}

/// The last hop's tally.
#[derive(Debug)]
pub struct Recorder {
    epoch: Instant,
    seen: Vec<u64>,
    pub delivered: u64,
    pub duplicates: u64,
    pub hist: Histogram,
    last_progress: Instant,
    progress: Option<super::progress::Progress>,
}

impl Recorder {
    /// Counts payloads of `plan`, stamped relative to `epoch`.
    pub fn new(plan: &Plan, epoch: Instant, progress: bool) -> Recorder {
        Recorder {
            epoch,
            seen: vec![0; plan.count.div_ceil(64) as usize],
            delivered: 0,
            duplicates: 0,
            hist: Histogram::default(),
            last_progress: Instant::now(),
            progress: progress.then(|| super::progress::Progress::new(plan.count)),
        }
    }

    /// Takes one delivered payload at `now`; false if it was not one of ours.
    pub fn take(&mut self, body: &[u8], now: Instant) -> bool {
        let Some((seq, sent)) = payload::read(body) else {
            return false;
        };
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        let Some(w) = self.seen.get_mut(word) else {
            return false;
        };
        if *w & bit != 0 {
            self.duplicates += 1;
            return true;
        }
        *w |= bit;
        self.delivered += 1;
        self.hist
            .record(now.duration_since(self.epoch).saturating_sub(sent));
        self.last_progress = now;
        if let Some(p) = &mut self.progress {
            p.show(self.delivered, now);
        }
        true
    }

    /// When the run counts as stalled if nothing new arrives.
    pub fn stall_at(&self, plan: &Plan) -> Instant {
        self.last_progress + plan.stall
    }

    /// Starts the stall clock (after setup).
    pub fn start(&mut self, now: Instant) {
        self.last_progress = now;
    }

    /// The run's outcome, `started` being when the first payload was published.
    pub fn finish(mut self, started: Instant) -> Outcome {
        if let Some(p) = &mut self.progress {
            p.clear();
        }
        Outcome {
            delivered: self.delivered,
            duplicates: self.duplicates,
            seconds: self.last_progress.duration_since(started).as_secs_f64(),
            p50: self.hist.quantile(0.5),
            p99: self.hist.quantile(0.99),
            peak_rss_kib: None,
            node_counters: Vec::new(),
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub delivered: u64,
    pub duplicates: u64,
    /// From the first publish to the last delivery.
    pub seconds: f64,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    /// The process's peak resident set during the run.
    pub peak_rss_kib: Option<u64>,
    /// Each mesh node's counters after the run, first to last (none for the
    /// raw baseline).
    pub node_counters: Vec<mesh_proto::mesh::Counters>,
}

impl Outcome {
    /// Messages the nodes' receive queues dropped (full: the application
    /// did not keep up).
    pub fn queue_drops(&self) -> u64 {
        self.node_counters.iter().map(|c| c.queue_drops).sum()
    }

    /// Delivered messages per second.
    pub fn msgs_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.delivered as f64 / self.seconds
        } else {
            0.0
        }
    }
}
