//! The soak's output: a human line, or one JSON object a line with `--json`;
//! the running totals, and the final `soak` summary.

use serde_json::json;

use crate::out::outln;

/// Writes one line: `value` with `--json`, else `text`.
pub fn emit(json_mode: bool, value: serde_json::Value, text: String) {
    if json_mode {
        outln!("{value}");
    } else {
        outln!("{text}");
    }
}

/// Seconds, to the millisecond.
pub fn secs(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Counts kept over the run.
#[derive(Debug, Default)]
pub struct Totals {
    /// Broadcasts sent.
    pub broadcasts: u64,
    /// Broadcasts whose deadline passed (checked).
    pub checked: u64,
    /// Deliveries checked at deadlines.
    pub expected: u64,
    /// Of those, printed.
    pub delivered: u64,
    /// Of those, not printed.
    pub missed: u64,
    /// Extra prints of a message by one node.
    pub duplicates: u64,
    /// Expectations withdrawn because the graph shrank during a flight.
    pub withdrawn: u64,
    /// Kills (SIGKILL, replaced by a fresh node on a new port).
    pub kills: u64,
    /// Restarts in place (SIGKILL, a new process on the same port).
    pub restarts: u64,
    /// Graceful stops (`/quit`, replaced by a fresh node).
    pub quits: u64,
    /// Nodes that ended on their own.
    pub crashes: u64,
    /// Restarts in place that could not bind the old port (started on a new one).
    pub rebinds: u64,
    /// Nodes left with no peer that the soak dialed for (`/connect`).
    pub rescues: u64,
    /// `dial_failed` lines (a bootstrap node died first; not a failure).
    pub dial_failed: u64,
    /// Processes started.
    pub spawned: u64,
    /// Send-to-print latency of every checked delivery, ms.
    pub latencies_ms: Vec<f64>,
    /// Nodes whose resident set grew past the bound.
    pub rss_failures: u64,
}

impl Totals {
    /// Faults injected.
    pub fn faults(&self) -> u64 {
        self.kills + self.restarts + self.quits
    }

    /// Whether nothing failed.
    pub fn ok(&self) -> bool {
        self.missed == 0 && self.duplicates == 0 && self.crashes == 0 && self.rss_failures == 0
    }

    /// The `p` quantile (0..=1) of the checked latencies, ms.
    pub fn latency(&mut self, p: f64) -> f64 {
        if self.latencies_ms.is_empty() {
            return 0.0;
        }
        self.latencies_ms.sort_by(f64::total_cmp);
        let i = ((self.latencies_ms.len() - 1) as f64 * p).round() as usize;
        (self.latencies_ms[i] * 10.0).round() / 10.0
    }

    /// The counters shared by `soak_progress` and `soak`, as JSON.
    pub fn counters(&self) -> serde_json::Value {
        json!({
            "broadcasts": self.broadcasts, "checked": self.checked,
            "expected": self.expected, "delivered": self.delivered,
            "missed": self.missed, "duplicates": self.duplicates,
            "withdrawn": self.withdrawn, "faults": self.faults(),
            "kills": self.kills, "restarts": self.restarts, "quits": self.quits,
            "crashes": self.crashes,
        })
    }
}

/// One node's resident set over the run, for the summary.
#[derive(Debug)]
pub struct RssRow {
    /// Node name.
    pub node: String,
    /// KiB at the mark.
    pub at_mark: u64,
    /// KiB at the end.
    pub end: u64,
    /// Largest sample, KiB.
    pub max: u64,
    /// Whether it grew past the bound.
    pub grew: bool,
}

/// The bound on growth from the mark to the end: over 1.5x *and* over
/// `RSS_SLACK_KIB` more.
pub const RSS_SLACK_KIB: u64 = 16 * 1024;

/// Whether `end` is past the bound for a node at `at_mark` KiB.
pub fn grew_too_much(at_mark: u64, end: u64) -> bool {
    end * 2 > at_mark * 3 && end > at_mark + RSS_SLACK_KIB
}

/// The bound in words (the `--help` text says the same).
pub const RSS_BOUND: &str = "over 1.5x and over +16 MiB from the mark to the end";
