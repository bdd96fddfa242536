//! The test process's resident set and open descriptors, to check that
//! an attack leaves memory bounded.

use super::MAX_RSS_GROWTH;

// ----- memory and descriptors --------------------------------------------------

/// This process's resident set (`VmRSS` of `/proc/self/status`), in bytes.
pub fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in kB");
    kib * 1024
}

/// File descriptors this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// The RSS before an attack, to compare with after it.
#[derive(Debug)]
pub struct Memory {
    before: u64,
}

impl Memory {
    /// Starts watching.
    pub fn watch() -> Memory {
        Memory { before: rss() }
    }

    /// Fails if the RSS grew by [`MAX_RSS_GROWTH`] or more since [`watch`](Self::watch).
    pub fn check(&self, what: &str) {
        let after = rss();
        let growth = after.saturating_sub(self.before);
        assert!(
            growth < MAX_RSS_GROWTH,
            "{what}: RSS grew by {} KiB ({} -> {} KiB), over {} MiB",
            growth >> 10,
            self.before >> 10,
            after >> 10,
            MAX_RSS_GROWTH >> 20
        );
    }
}
