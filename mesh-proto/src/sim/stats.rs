//! Per-broadcast delivery figures, as iroh-gossip's simulator reports them.

use std::time::Duration;

/// How one broadcast spread.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BroadcastStats {
    /// Nodes (other than the origin) that delivered it to their application.
    pub delivered: usize,
    /// Live nodes (other than the origin) that did not.
    pub missed: usize,
    /// Copies dropped as duplicates, per delivery (relative message redundancy).
    pub duplicates_per_delivery: f64,
    /// The largest hop count of a delivery.
    pub last_delivery_hop: u32,
    /// Median virtual latency from send to delivery.
    pub latency_p50: Duration,
    /// 99th percentile virtual latency.
    pub latency_p99: Duration,
    /// Bytes of lazy-push frames (announcements, grafts, prunes) the mesh
    /// sent while this broadcast spread.
    pub announce_bytes: u64,
    /// Every byte the mesh sent while this broadcast spread.
    pub bytes_sent: u64,
}

/// The `q`-quantile (0..=1) of sorted values.
pub(crate) fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}
