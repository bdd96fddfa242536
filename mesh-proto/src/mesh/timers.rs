//! Deadlines: dedup expiry, handshake and stall timeouts, pending replies,
//! and healing with jittered backoff.

use std::time::{Duration, Instant};

use super::{ConnId, Mesh, RejectReason};

impl Mesh {
    /// The next moment the node wants [`handle_timeout`](Mesh::handle_timeout),
    /// or `None` when nothing is scheduled.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.seen.next_expiry();
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for c in self.conns.values() {
            if !c.handshaken()
                && !c.dialing
                && let Some(t) = c.opened.checked_add(self.cfg.handshake_timeout)
            {
                consider(t);
            }
            if let Some(t) = c
                .partial_since
                .and_then(|since| since.checked_add(self.cfg.stall_timeout))
            {
                consider(t);
            }
        }
        for p in self
            .requested
            .values()
            .chain(self.awaiting.values().flatten())
        {
            if let Some(t) = p.expires {
                consider(t);
            }
        }
        if let Some(t) = self.heal_at {
            consider(t);
        }
        if let Some(t) = self.lazy.next_deadline() {
            consider(t);
        }
        if let Some(t) = self.trim.at {
            consider(t);
        }
        next
    }

    /// Time passed: runs whatever is due (a call with nothing due does nothing).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.seen.expire(now);
        let due: Vec<(ConnId, RejectReason)> = self
            .conns
            .iter()
            .filter_map(|(id, c)| {
                let due = |since: Instant, after: Duration| {
                    since.checked_add(after).is_some_and(|t| now >= t)
                };
                if !c.handshaken() && !c.dialing && due(c.opened, self.cfg.handshake_timeout) {
                    Some((*id, RejectReason::HandshakeTimeout))
                } else if c
                    .partial_since
                    .is_some_and(|s| due(s, self.cfg.stall_timeout))
                {
                    Some((*id, RejectReason::Stalled))
                } else {
                    None
                }
            })
            .collect();
        for (conn, reason) in due {
            self.reject(conn, reason, now);
        }
        self.requested
            .retain(|_, p| p.expires.is_none_or(|e| e > now));
        self.awaiting.retain(|_, v| {
            v.retain(|p| p.expires.is_none_or(|e| e > now));
            !v.is_empty()
        });
        if self.heal_at.is_some_and(|t| now >= t) {
            self.heal_at = None;
            self.heal(now);
        }
        self.lazy_timeout(now);
        self.trim_timeout(now);
    }

    /// After losing a peer or a dial: try again later, backing off.
    pub(crate) fn schedule_heal(&mut self, now: Instant) {
        let wanted = self.outgoing_count() < self.target_outgoing() || !self.lost.is_empty();
        if self.closed || self.heal_at.is_some() || !wanted {
            return;
        }
        let base =
            self.cfg.heal_backoff.as_secs_f64() * 2f64.powi(self.heal_attempt.min(16) as i32);
        let capped = base.min(self.cfg.heal_backoff_max.as_secs_f64());
        // Jitter in [0.5, 1.5) so nodes that lost the same peer do not redial in step.
        let delay = capped * (0.5 + self.rng.unit());
        let delay = Duration::try_from_secs_f64(delay).unwrap_or(self.cfg.heal_backoff_max);
        self.heal_at = now.checked_add(delay);
    }

    /// How many outgoing links to aim for: `max_outgoing`, plus one for each
    /// link lost under us and not yet replaced (up to twice `max_outgoing`). A
    /// group of nodes whose outgoing links all stay among themselves would
    /// otherwise never notice that its bridge to the rest is gone.
    pub(crate) fn target_outgoing(&self) -> usize {
        let max = self.cfg.max_outgoing;
        (max + self.replacements).min(2 * max)
    }

    /// Dial remembered addresses until outgoing connections are back at
    /// their target (py2p never does, and its meshes fall apart).
    fn heal(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.redial_lost(now);
        let deficit = self.target_outgoing().saturating_sub(self.outgoing_count());
        if deficit == 0 {
            if self.lost.is_empty() {
                self.heal_attempt = 0;
            } else {
                self.heal_attempt = self.heal_attempt.saturating_add(1);
                self.schedule_heal(now);
            }
            return;
        }
        self.request_peers(now);
        let mut candidates: Vec<_> = self
            .known
            .iter()
            .filter(|(p, a)| !self.routes.contains_key(*p) && !self.is_dialing_known(p, a))
            .map(|(p, a)| (p.clone(), a.to_addr()))
            .collect();
        if candidates.is_empty() && self.routes.is_empty() && self.lost.is_empty() {
            // Nobody to ask and nowhere to go: wait for someone to dial us.
            self.heal_attempt = 0;
            return;
        }
        self.rng.shuffle(&mut candidates);
        for (peer, addr) in candidates.into_iter().take(deficit) {
            let conn = self.connect(addr, now);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.expected = Some(peer);
                c.healing = true;
            }
        }
        self.heal_attempt = self.heal_attempt.saturating_add(1);
        self.schedule_heal(now);
    }
}

impl Mesh {
    /// Redials peers whose links broke, each a bounded number of times.
    fn redial_lost(&mut self, now: Instant) {
        let lost = std::mem::take(&mut self.lost);
        for (addr, mut l) in lost {
            let back = l.peer.as_ref().is_some_and(|p| self.routes.contains_key(p))
                || self.routes.values().any(|c| {
                    self.conns
                        .get(c)
                        .is_some_and(|c| c.peer_addr.as_ref() == Some(&addr))
                });
            if back || l.attempts >= super::MAX_LOST_ATTEMPTS {
                continue;
            }
            let dialing = self
                .conns
                .values()
                .any(|c| !c.handshaken() && c.outgoing && c.addr.as_ref() == Some(&addr));
            if !dialing {
                let conn = self.connect(addr.clone(), now);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.expected = l.peer.clone();
                    // Redialing a link the peer had dialed adds one of ours:
                    // given back once the mesh is whole again.
                    c.healing = !l.ours;
                }
            }
            l.attempts += 1;
            self.lost.insert(addr, l);
        }
    }
}
