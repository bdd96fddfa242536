//! Faults: which node is killed, restarted in place or stopped, where its
//! replacement bootstraps from, and the `/connect` for a node left alone.

use std::time::Instant;

use serde_json::json;

use super::ledger::name;
use super::report::{emit, secs};
use super::run::{LONELY, Soak};

impl Soak<'_> {
    /// One or two random ready nodes' addresses (those with a peer, if any).
    pub(super) fn bootstrap(&mut self) -> Vec<String> {
        let ready = self.ledger.ready();
        let linked: Vec<usize> = ready
            .iter()
            .copied()
            .filter(|n| !self.ledger.nodes[n].peers.is_empty())
            .collect();
        let mut pool = if linked.is_empty() { ready } else { linked };
        let want = 1 + (self.rng.next() % 2) as usize;
        let mut out = Vec::new();
        while out.len() < want {
            let Some(n) = self.rng.pick(&pool) else { break };
            pool.retain(|&m| m != n);
            out.extend(self.ledger.nodes[&n].addr.clone());
        }
        out
    }

    /// Kills, restarts in place or stops a random ready node that is not an
    /// anchor, and starts its replacement.
    pub(super) fn fault(&mut self) {
        let victims: Vec<usize> = (self.ledger.nodes.iter())
            .filter(|(n, node)| !node.anchor && self.ledger.is_ready(**n))
            .map(|(n, _)| *n)
            .collect();
        let Some(victim) = self.rng.pick(&victims) else {
            return;
        };
        let roll = self.rng.unit();
        let kind = if roll < 0.5 {
            "kill"
        } else if roll < 0.8 {
            "restart"
        } else {
            "quit"
        };
        let Some(old) = self.ledger.remove(victim) else {
            return;
        };
        let port = match kind {
            "quit" => {
                self.fleet.quit(victim);
                self.totals.quits += 1;
                0
            }
            "restart" => {
                self.fleet.kill(victim);
                self.totals.restarts += 1;
                old.addr
                    .as_deref()
                    .and_then(|a| a.rsplit_once(':')?.1.parse().ok())
                    .unwrap_or(0)
            }
            _ => {
                self.fleet.kill(victim);
                self.totals.kills += 1;
                0
            }
        };
        let boot = self.bootstrap();
        let now = Instant::now();
        let replacement = match self.spawn(old.slot, port, &boot, false) {
            Ok(n) => n,
            Err(e) => {
                crate::out::errln!("mesh soak: {e}");
                return;
            }
        };
        if port != 0 {
            self.in_place.insert(replacement);
        }
        emit(
            self.args.json,
            json!({"event": "soak_fault", "at_secs": self.at(now), "kind": kind, "node": name(victim),
                "pid": old.pid, "slot": old.slot, "age_secs": secs(now - old.started),
                "replacement": name(replacement), "port": port, "bootstrap": boot}),
            format!(
                "[{:7.1}s] {kind} {} (slot {}, up {:.1} s) -> {} from {}",
                self.at(now),
                name(victim),
                old.slot,
                secs(now - old.started),
                name(replacement),
                boot.join(" ")
            ),
        );
    }

    /// Dials for ready nodes that have had no peer for a while (their
    /// bootstrap nodes died first).
    pub(super) fn rescue(&mut self, now: Instant) {
        let linked: Vec<usize> = (self.ledger.nodes.iter())
            .filter(|(_, node)| !node.peers.is_empty() && node.addr.is_some())
            .map(|(n, _)| *n)
            .collect();
        let lonely: Vec<usize> = (self.ledger.nodes.iter())
            .filter(|(_, node)| {
                node.peers.is_empty()
                    && node.addr.is_some()
                    && now.saturating_duration_since(node.last_rescue) >= LONELY
            })
            .map(|(n, _)| *n)
            .collect();
        for n in lonely {
            let Some(to) = self.rng.pick(&linked) else {
                return;
            };
            let Some(addr) = self.ledger.nodes[&to].addr.clone() else {
                continue;
            };
            self.fleet.say(n, &format!("/connect {addr}"));
            self.totals.rescues += 1;
            if let Some(node) = self.ledger.nodes.get_mut(&n) {
                node.last_rescue = now;
            }
        }
    }
}
