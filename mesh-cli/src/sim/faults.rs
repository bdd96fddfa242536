//! `mesh sim`'s faults (`--partition`, `--churn`) and how the mesh returns
//! to its shape after them: mean degree before, during and after, probe
//! broadcasts while it heals, and redundancy before and after.

use std::collections::BTreeSet;
use std::time::Duration;

use mesh_proto::sim::{NodeIdx, Sim};
use mesh_proto::wire::Value;
use serde_json::json;

use crate::out::outln;

/// How long after the fault ends the mesh is watched before the reported
/// broadcasts: the "within 2 minutes".
const RECOVERY: Duration = Duration::from_secs(120);
/// A probe broadcast goes out this often while the mesh recovers.
const PROBE_EVERY: Duration = Duration::from_secs(10);
/// Mean degree is sampled this often during a fault.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// What a fault did to the mesh's shape, and how it came back.
pub(crate) struct Recovery {
    degree_before: f64,
    degree_peak: f64,
    degree_after: f64,
    dups_before: f64,
    dups_after: f64,
    probes: u32,
    /// Live nodes a probe did not reach (summed over probes).
    pub(crate) probes_missed: u64,
    probe_tag: i64,
}

impl Recovery {
    /// Measures the mesh before any fault: its degree, and the redundancy
    /// of one broadcast (duplicates per delivery).
    pub(crate) fn before(sim: &mut Sim, nodes: &[NodeIdx]) -> Recovery {
        let degree = sim.totals().1;
        let mut r = Recovery {
            degree_before: degree,
            degree_peak: degree,
            degree_after: degree,
            dups_before: 0.0,
            dups_after: 0.0,
            probes: 0,
            probes_missed: 0,
            probe_tag: -1,
        };
        if let Some((_, dups)) = r.probe(sim, nodes) {
            r.dups_before = dups;
        }
        r
    }

    /// Runs `d` of virtual time, sampling the mean degree.
    fn run(&mut self, sim: &mut Sim, d: Duration) {
        let mut left = d;
        while !left.is_zero() {
            let step = left.min(SAMPLE_EVERY);
            sim.run_for(step);
            left -= step;
            self.degree_peak = self.degree_peak.max(sim.totals().1);
        }
    }

    /// One broadcast from a random live node, settled: (missed, duplicates
    /// per delivery). Missed counts the nodes linked to the origin's
    /// component when it was sent that never got it; nodes cut off from it
    /// (a partition not yet rejoined, a restart not yet linked) could not.
    fn probe(&mut self, sim: &mut Sim, nodes: &[NodeIdx]) -> Option<(u64, f64)> {
        let origin = random_live(sim, nodes)?;
        let reachable = sim.component(origin);
        self.probe_tag -= 1;
        let id = sim
            .broadcast(
                origin,
                vec![Value::from("probe"), Value::from(self.probe_tag)],
            )
            .ok()?;
        super::settle(sim);
        let st = sim.stats(&id)?;
        let missed = reachable
            .iter()
            .filter(|&&n| n != origin && sim.is_alive(n) && !sim.delivered(n, &id))
            .count();
        Some((missed as u64, st.duplicates_per_delivery))
    }

    /// The fault is over: the mesh is watched for [`RECOVERY`], with a
    /// probe broadcast every [`PROBE_EVERY`]; the last probe's redundancy is
    /// the one after.
    fn recover(&mut self, sim: &mut Sim, nodes: &[NodeIdx]) {
        let mut left = RECOVERY;
        while !left.is_zero() {
            let started = sim.elapsed();
            if let Some((missed, dups)) = self.probe(sim, nodes) {
                self.probes += 1;
                self.probes_missed += missed;
                self.dups_after = dups;
            }
            let spent = sim.elapsed().saturating_sub(started);
            let rest = PROBE_EVERY.saturating_sub(spent).min(left);
            self.run(sim, rest);
            left = left.saturating_sub(spent.max(PROBE_EVERY));
        }
        self.degree_after = sim.totals().1;
    }

    /// One line (or JSON object) with the figures.
    pub(crate) fn report(&self, json: bool) {
        let ratio = if self.dups_before > 0.0 {
            self.dups_after / self.dups_before
        } else {
            0.0
        };
        if json {
            outln!(
                "{}",
                json!({
                    "event": "recovery",
                    "degree_before": self.degree_before, "degree_peak": self.degree_peak,
                    "degree_after": self.degree_after,
                    "recovery_secs": RECOVERY.as_secs(),
                    "probes": self.probes, "probes_missed": self.probes_missed,
                    "duplicates_per_delivery_before": self.dups_before,
                    "duplicates_per_delivery_after": self.dups_after,
                    "redundancy_ratio": ratio,
                })
            );
        } else {
            outln!(
                "recovery: mean degree {:.2} before the fault, {:.2} at most during it, {:.2} {} s after; {} probes while it healed missed {}; duplicates/delivery {:.2} before, {:.2} after ({ratio:.2}x)",
                self.degree_before,
                self.degree_peak,
                self.degree_after,
                RECOVERY.as_secs(),
                self.probes,
                self.probes_missed,
                self.dups_before,
                self.dups_after,
            );
        }
    }
}

/// A random live node, if any is left.
pub(crate) fn random_live(sim: &mut Sim, nodes: &[NodeIdx]) -> Option<NodeIdx> {
    let live: Vec<NodeIdx> = nodes.iter().copied().filter(|&n| sim.is_alive(n)).collect();
    if live.is_empty() {
        return None;
    }
    Some(live[sim.random_below(live.len())])
}

fn pick(sim: &mut Sim, nodes: &[NodeIdx], pct: u8) -> Vec<NodeIdx> {
    let want = nodes.len() * usize::from(pct.min(100)) / 100;
    let mut chosen = BTreeSet::new();
    while chosen.len() < want {
        chosen.insert(nodes[sim.random_below(nodes.len())]);
    }
    chosen.into_iter().collect()
}

/// Cuts `pct`% of the nodes off for 30 s (one broadcast inside the cut),
/// heals, and watches the mesh recover.
pub(crate) fn partition_and_heal(
    sim: &mut Sim,
    nodes: &[NodeIdx],
    pct: u8,
    json: bool,
    rec: &mut Recovery,
) {
    let cut = pick(sim, nodes, pct);
    let Some(&inside) = cut.first() else {
        return;
    };
    sim.partition(std::slice::from_ref(&cut));
    rec.run(sim, Duration::from_secs(20));
    if let Ok(id) = sim.broadcast(inside, vec![Value::from("during partition")]) {
        rec.run(sim, Duration::from_secs(10));
        if let Some(st) = sim.stats(&id) {
            if json {
                outln!(
                    "{}",
                    json!({"event": "partition", "cut": cut.len(), "delivered": st.delivered})
                );
            } else {
                outln!(
                    "during partition: {} of {} nodes cut off, broadcast from inside reached {} (the others were unreachable)",
                    cut.len(),
                    nodes.len(),
                    st.delivered
                );
            }
        }
    }
    sim.heal_partition();
    rec.recover(sim, nodes);
}

/// Crashes `pct`% of the nodes, restarts them 30 s later as new processes,
/// and watches the mesh recover.
pub(crate) fn churn(sim: &mut Sim, nodes: &[NodeIdx], pct: u8, rec: &mut Recovery) {
    let victims = pick(sim, nodes, pct);
    for &v in &victims {
        sim.crash(v);
    }
    rec.run(sim, Duration::from_secs(30));
    for &v in &victims {
        // With every node down, the first back waits for the others to dial it.
        let bootstrap = random_live(sim, nodes);
        sim.restart(v, bootstrap);
    }
    rec.recover(sim, nodes);
}
