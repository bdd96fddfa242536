//! A latency histogram of fixed size (log-linear buckets, about 3% wide), so
//! a run of a million messages records its latencies in 16 KiB.

use std::time::Duration;

/// Sub-buckets per power of two.
const SUB: u32 = 32;
const SUB_BITS: u32 = SUB.trailing_zeros();

/// Counts of latencies in nanoseconds.
#[derive(Debug, Clone)]
pub struct Histogram {
    buckets: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; (64 * SUB) as usize],
            total: 0,
        }
    }
}

impl Histogram {
    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket(ns)] += 1;
        self.total += 1;
    }

    /// The latency under which `q` (0..=1) of the recorded ones fall: the
    /// upper edge of the bucket holding that rank.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((self.total as f64 * q).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Duration::from_nanos(upper_edge(i)));
            }
        }
        None
    }
}

/// Values under `SUB` get a bucket each; above, each power of two is split
/// in `SUB` equal parts.
fn bucket(ns: u64) -> usize {
    if ns < u64::from(SUB) {
        return ns as usize;
    }
    let exp = 63 - ns.leading_zeros(); // >= SUB_BITS
    let shift = exp - SUB_BITS;
    let sub = (ns >> shift) as u32 - SUB; // 0..SUB
    ((shift + 1) * SUB + sub) as usize
}

fn upper_edge(bucket: usize) -> u64 {
    let b = bucket as u64;
    let sub = u64::from(SUB);
    if b < sub {
        return b;
    }
    let shift = b / sub - 1;
    let base = (sub + b % sub) << shift;
    base + (1 << shift) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_bucket() {
        let mut h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile(0.5).unwrap().as_nanos() as f64;
        let p99 = h.quantile(0.99).unwrap().as_nanos() as f64;
        assert!((p50 / 500_000.0 - 1.0).abs() < 0.04, "{p50}");
        assert!((p99 / 990_000.0 - 1.0).abs() < 0.04, "{p99}");
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn every_value_lands_at_or_under_its_bucket_edge() {
        for ns in [0, 1, 31, 32, 33, 63, 64, 1000, 123_456_789, u64::MAX / 2] {
            let b = bucket(ns);
            assert!(upper_edge(b) >= ns, "{ns}");
            if b > 0 {
                assert!(upper_edge(b - 1) < ns, "{ns}");
            }
        }
    }
}
