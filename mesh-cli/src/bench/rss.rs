//! The process's peak resident set (Linux: `VmHWM`), reset between runs so
//! each run reports its own peak.

/// Resets the peak to the current resident set (Linux 4.0+; elsewhere a
/// no-op, and the peak then covers the whole process).
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The peak resident set in KiB, where the OS tells it.
pub fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
