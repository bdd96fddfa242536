//! How `mesh bench` prints: a text table, or with `--json` one object per
//! line (`bench_start`, one `bench` per run, `bench_ratio`).

use serde_json::json;

use super::BenchArgs;
use super::record::{Outcome, Plan};
use crate::Runtime;
use crate::out::outln;

/// The name a run is reported under: the runtime, `+tls` when encrypted.
pub fn runtime_name(rt: Runtime, tls: bool) -> String {
    let name = match rt {
        Runtime::Tokio => "tokio",
        Runtime::AsyncStd => "async-std",
        Runtime::Smol => "smol",
        Runtime::Blocking => "blocking",
    };
    if tls {
        format!("{name}+tls")
    } else {
        name.to_string()
    }
}

fn load(plan: &Plan) -> String {
    match (plan.window, plan.rate) {
        (None, None) => "unwindowed".into(),
        (Some(w), None) => format!("window {w}"),
        (None, Some(r)) => format!("paced at {r} msgs/s"),
        (Some(w), Some(r)) => format!("window {w}, paced at {r} msgs/s"),
    }
}

/// The run's parameters.
pub fn header(args: &BenchArgs, plan: &Plan) {
    if args.json {
        outln!(
            "{}",
            json!({
                "event": "bench_start",
                "nodes": args.nodes,
                "size": plan.size,
                "count": plan.count,
                "window": plan.window,
                "rate": plan.rate,
                "runtime": runtime_name(args.runtime, false),
                "tls": args.tls,
            })
        );
    } else {
        outln!(
            "mesh bench: a line of {} nodes on loopback, {} x {} B, {}",
            args.nodes,
            plan.count,
            plan.size,
            load(plan)
        );
    }
}

fn us(d: Option<std::time::Duration>) -> Option<f64> {
    d.map(|d| (d.as_secs_f64() * 1e7).round() / 10.0)
}

/// One run's figures.
pub fn outcome(args: &BenchArgs, name: &str, plan: &Plan, o: &Outcome) {
    let mbps = o.msgs_per_s() * plan.size as f64 / 1e6;
    for (i, c) in o.node_counters.iter().enumerate() {
        tracing::debug!(node = i, ?c, "counters");
    }
    if args.json {
        outln!(
            "{}",
            json!({
                "event": "bench",
                "run": name,
                "delivered": o.delivered,
                "count": plan.count,
                "duplicates": o.duplicates,
                "queue_drops": o.queue_drops(),
                "seconds": o.seconds,
                "msgs_per_s": o.msgs_per_s().round(),
                "mb_per_s": (mbps * 100.0).round() / 100.0,
                "p50_us": us(o.p50),
                "p99_us": us(o.p99),
                "peak_rss_kib": o.peak_rss_kib,
            })
        );
        return;
    }
    let show = |d| us(d).map_or_else(|| "-".to_string(), |v| format!("{v} us"));
    let rss = o
        .peak_rss_kib
        .map_or_else(|| "-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
    let drops = match o.queue_drops() {
        0 => String::new(),
        n => format!(" ({n} dropped from a full receive queue)"),
    };
    outln!(
        "  {name:<14} delivered {}/{}{drops} in {:.3} s: {:.0} msgs/s, {:.1} MB/s, p50 {}, p99 {}, peak RSS {rss}",
        o.delivered,
        plan.count,
        o.seconds,
        o.msgs_per_s(),
        mbps,
        show(o.p50),
        show(o.p99),
    );
}

/// Our throughput over the baseline's.
pub fn ratio(args: &BenchArgs, name: &str, ours: &Outcome, base: &Outcome) {
    let r = if base.msgs_per_s() > 0.0 {
        ours.msgs_per_s() / base.msgs_per_s()
    } else {
        0.0
    };
    if args.json {
        outln!(
            "{}",
            json!({"event": "bench_ratio", "run": name, "baseline": "raw", "ratio": (r * 1000.0).round() / 1000.0})
        );
    } else {
        outln!("  {name}/raw: {r:.2}x");
    }
}

/// What an idle connection costs (`--idle N`).
pub fn idle(args: &BenchArgs, idle: &super::idle::Idle) {
    let per = (idle.per_connection_kib() * 10.0).round() / 10.0;
    if args.json {
        outln!(
            "{}",
            json!({
                "event": "bench_idle",
                "connections": idle.connections,
                "rss_before_kib": idle.rss_before_kib,
                "rss_after_kib": idle.rss_after_kib,
                "per_connection_kib": per,
            })
        );
    } else {
        outln!(
            "mesh bench: {} idle handshaken connections to one tokio node: resident set {} -> {} KiB, {per} KiB per connection",
            idle.connections,
            idle.rss_before_kib,
            idle.rss_after_kib,
        );
    }
}
