//! Reading criterion's own estimates back, to print ratios of two benchmarks
//! measured in the same run.

use std::path::PathBuf;

/// Where criterion wrote its estimates: `<target>/criterion`.
fn criterion_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(PathBuf::from(home));
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(t).join("criterion"));
    }
    // <target>/<profile>/deps/<bench binary>
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}

/// The mean time (ns) criterion measured for `group/func` in this run.
pub fn mean_ns(group: &str, func: &str) -> Option<f64> {
    let path = criterion_dir()?
        .join(group)
        .join(func)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}
