//! The checks: each broadcast at its deadline, the resident sets, the
//! progress lines and the final summary.

use std::time::{Duration, Instant};

use serde_json::json;

use super::ledger::{Flight, name};
use super::report::{RSS_BOUND, RssRow, emit, grew_too_much, secs};
use super::run::{DEADLINE, Soak};

impl Soak<'_> {
    /// Checks every flight whose deadline passed by `now`.
    pub(super) fn check_due(&mut self, now: Instant) {
        for f in self.ledger.due(now, DEADLINE) {
            self.check(&f);
        }
    }

    /// Checks one flight: every node still expected must have printed it.
    fn check(&mut self, f: &Flight) {
        self.totals.checked += 1;
        self.totals.withdrawn += f.withdrawn;
        let origin = name(f.origin);
        for &n in &f.expected {
            let Some(node) = self.ledger.nodes.get(&n) else {
                continue;
            };
            self.totals.expected += 1;
            if let Some(&(_, first)) = node.deliveries.get(&f.seq) {
                self.totals.delivered += 1;
                self.totals
                    .latencies_ms
                    .push(first.saturating_duration_since(f.t0).as_secs_f64() * 1000.0);
                continue;
            }
            self.totals.missed += 1;
            let at_send = f.peers_at_send.get(&n).cloned().unwrap_or_default();
            let now = self.ledger.peer_names(n);
            let origin_alive = self.ledger.nodes.contains_key(&f.origin);
            emit(
                self.args.json,
                json!({"event": "soak_miss", "kind": "missed", "seq": f.seq,
                    "message": format!("soak {} {origin}", f.seq), "origin": origin,
                    "origin_alive": origin_alive, "node": name(n), "slot": node.slot,
                    "node_age_secs": secs(f.t0.saturating_duration_since(node.started)),
                    "sent_at_secs": self.at(f.t0), "at_secs": self.at(f.t0 + DEADLINE),
                    "peers_at_send": at_send, "peers_now": now}),
                format!(
                    "MISSED: \"soak {} {origin}\" (sent at {} s) never reached {} within {} s; its peers at send: {}; now: {}",
                    f.seq,
                    self.at(f.t0),
                    name(n),
                    DEADLINE.as_secs(),
                    at_send.join(" "),
                    now.join(" ")
                ),
            );
        }
    }

    /// Samples every live node's VmRSS; after the mark, the first sample of a
    /// node started before it is its mark figure.
    pub(super) fn sample_rss(&mut self, after_mark: bool, mark: Instant) {
        let live: Vec<usize> = self.ledger.nodes.keys().copied().collect();
        for n in live {
            let Some(kib) = self.fleet.rss_kib(n) else {
                continue;
            };
            let Some(node) = self.ledger.nodes.get_mut(&n) else {
                continue;
            };
            node.rss_last = Some(kib);
            node.rss_max = node.rss_max.max(kib);
            if after_mark && node.rss_mark.is_none() && node.started <= mark {
                node.rss_mark = Some(kib);
            }
            self.rss_max = self.rss_max.max(kib);
        }
    }

    /// One `soak_progress` line: the live graph's shape and the totals so far.
    pub(super) fn progress(&mut self, now: Instant) {
        let (components, edges) = self.ledger.shape();
        let live = self.ledger.nodes.len();
        let mut v = json!({"event": "soak_progress", "at_secs": self.at(now), "live": live,
            "components": components, "edges": edges, "in_flight": self.ledger.flights.len()});
        if let (Some(v), Some(counters)) = (v.as_object_mut(), self.totals.counters().as_object()) {
            v.extend(counters.clone());
        }
        v["rss_max_kib"] = self.rss_max.into();
        let t = &self.totals;
        emit(
            self.args.json,
            v,
            format!(
                "[{:7.1}s] {live} live, {components} component(s), {edges} edges; {} broadcasts, {}/{} delivered, {} missed, {} duplicates; {} faults; RSS max {} KiB",
                self.at(now),
                t.broadcasts,
                t.delivered,
                t.expected,
                t.missed,
                t.duplicates,
                t.faults(),
                self.rss_max
            ),
        );
    }

    /// The RSS check and the summary line; whether the run passed.
    pub fn finish(&mut self) -> bool {
        let mut rows = Vec::new();
        for (&n, node) in &self.ledger.nodes {
            let (Some(at_mark), Some(end)) = (node.rss_mark, node.rss_last) else {
                continue;
            };
            rows.push(RssRow {
                node: name(n),
                at_mark,
                end,
                max: node.rss_max,
                grew: grew_too_much(at_mark, end),
            });
        }
        for r in rows.iter().filter(|r| r.grew) {
            self.totals.rss_failures += 1;
            emit(
                self.args.json,
                json!({"event": "soak_miss", "kind": "rss", "node": r.node, "at_mark_kib": r.at_mark, "end_kib": r.end, "bound": RSS_BOUND}),
                format!(
                    "RSS: {} grew from {} KiB to {} KiB ({RSS_BOUND})",
                    r.node, r.at_mark, r.end
                ),
            );
        }
        let ok = self.totals.ok() && !self.interrupted;
        let total = Duration::from_secs_f64(self.args.minutes * 60.0);
        let mark = Duration::from_secs(60).min(total / 2);
        let rss_mark = rows.iter().map(|r| r.at_mark).max().unwrap_or(0);
        let rss_end = rows.iter().map(|r| r.end).max().unwrap_or(0);
        let (p50, p99, max) = (
            self.totals.latency(0.5),
            self.totals.latency(0.99),
            self.totals.latency(1.0),
        );
        let t = &self.totals;
        let mut v = t.counters();
        let extra = json!({
            "event": "soak", "ok": ok, "interrupted": self.interrupted, "nodes": self.args.nodes,
            "seed": self.seed, "seconds": secs(self.begin.elapsed()),
            "unchecked": t.broadcasts - t.checked, "rebinds": t.rebinds, "rescues": t.rescues,
            "dial_failed": t.dial_failed, "spawned": t.spawned,
            "latency_p50_ms": p50, "latency_p99_ms": p99, "latency_max_ms": max,
            "rss_mark_secs": secs(mark),
            "rss": rows.iter().map(|r| json!({"node": r.node, "at_mark_kib": r.at_mark, "end_kib": r.end, "max_kib": r.max})).collect::<Vec<_>>(),
            "rss_mark_kib": rss_mark, "rss_end_kib": rss_end, "rss_max_kib": self.rss_max,
            "rss_ok": t.rss_failures == 0,
        });
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            let counters = std::mem::take(v);
            v.extend(extra.clone());
            v.extend(counters);
        }
        emit(
            self.args.json,
            v,
            format!(
                "soak {} after {:.1} s: {} broadcasts, {}/{} deliveries, {} missed, {} duplicates, {} withdrawn by faults; {} faults ({} kills, {} restarts, {} quits), {} crashes; latency p50 {p50} ms, p99 {p99} ms, max {max} ms; RSS of the {} long-lived nodes at {} s: {} KiB, at the end: {} KiB; max of all nodes {} KiB",
                if ok {
                    "ok"
                } else if self.interrupted {
                    "INTERRUPTED"
                } else {
                    "FAILED"
                },
                self.begin.elapsed().as_secs_f64(),
                t.broadcasts,
                t.delivered,
                t.expected,
                t.missed,
                t.duplicates,
                t.withdrawn,
                t.faults(),
                t.kills,
                t.restarts,
                t.quits,
                t.crashes,
                rows.len(),
                secs(mark),
                rss_mark,
                rss_end,
                self.rss_max
            ),
        );
        ok
    }
}
