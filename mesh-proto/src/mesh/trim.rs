//! Giving back links made for healing once the mesh is whole again.
//!
//! A node that loses links dials more than `max_outgoing` for a while
//! (see `target_outgoing`), and links lost under it are redialed. Once
//! those come back, the links dialed to heal are surplus: left alone,
//! every fault would add degree and redundancy for good. So a node whose
//! outgoing links exceed its target, after a quiet spell with no link
//! gained or lost, gives back its newest healing link, one at a time, and
//! only with the other end's consent:
//!
//! - `[renegotiate, me, t, ASK]` on the link: may I close it?
//! - The peer answers `AGREE` if it keeps at least `max_outgoing` other
//!   links and has no other trim open; `DECLINE` otherwise (the link stays,
//!   and is asked again later).
//! - On `AGREE` the asker closes the link. Neither end counts it as lost:
//!   no redial, no replacement.
//!
//! Only links whose peer announced [`MARKER`] in its handshake are asked:
//! py2p (and js2p) ignore the number there and are never cut to trim. A
//! node holds one trim at a time (asking or agreed), so two trims never
//! race on one node.

use std::time::{Duration, Instant};

use crate::wire::{MainFlag, Value};

use super::{ConnId, Mesh, Output};

/// The extension's marker in the handshake's compression list: "LT" (link
/// trim). Like lazy push's, it is no compression method py2p knows.
pub const MARKER: u64 = 0x4C54;
/// Sub-flag of `[renegotiate, me, t, ASK]`: may I close this link?
pub const ASK: u64 = 0x2D;
/// Sub-flag of the answer that lets the asker close the link.
pub const AGREE: u64 = 0x2E;
/// Sub-flag of the answer that keeps the link.
pub const DECLINE: u64 = 0x2F;

/// An ask, or an agreement, not settled after this is forgotten.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// Between two trims of one node once the quiet spell has passed.
const PACE: Duration = Duration::from_secs(1);
/// A declined link is asked again after this...
const REASK_AFTER: Duration = Duration::from_secs(30);
/// ...at most this many times in all: then it is kept (an idle node ends
/// with no trim timer).
const MAX_ASKS: u8 = 3;

/// The one trim a node may have open.
#[derive(Debug, Default)]
pub(crate) struct TrimState {
    /// When to look for surplus links next.
    pub(crate) at: Option<Instant>,
    /// The last time a link was gained or lost (other than by trimming).
    last_change: Option<Instant>,
    /// Our open ask or agreement: the link, and when it lapses.
    open: Option<(ConnId, Instant, Role)>,
}

impl TrimState {
    /// A connection is gone: a trim open on it is over.
    pub(crate) fn forget(&mut self, conn: ConnId) {
        if self.open.is_some_and(|(c, _, _)| c == conn) {
            self.open = None;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Asked,
    Agreed,
}

impl Mesh {
    /// Whether the handshake's compression list carries the marker, and we
    /// trim too.
    pub(crate) fn trim_marker_in(&self, methods: &Value) -> bool {
        self.cfg.trim_links && super::builtin::has_marker(methods, MARKER)
    }

    /// A link was gained or lost: surplus links wait for a quiet spell.
    pub(crate) fn trim_topology_changed(&mut self, now: Instant) {
        self.trim.last_change = Some(now);
        if !self.cfg.trim_links || self.closed {
            return;
        }
        if self.outgoing_count() > self.cfg.max_outgoing {
            let jitter = self.cfg.trim_quiet.mul_f64(0.5 * self.rng.unit());
            self.trim.at = now.checked_add(self.cfg.trim_quiet + jitter);
        }
    }

    /// The trim timer fired: settle a lapsed trim, or ask to give back a
    /// surplus link.
    pub(crate) fn trim_timeout(&mut self, now: Instant) {
        if self.trim.at.is_none_or(|t| now < t) {
            return;
        }
        self.trim.at = None;
        if let Some((conn, until, role)) = self.trim.open {
            if now < until {
                self.trim.at = Some(until);
                return;
            }
            // Lapsed: an agreed link the asker never closed is ours again.
            self.trim.open = None;
            if role == Role::Agreed
                && let Some(c) = self.conns.get_mut(&conn)
            {
                c.trimming = false;
            }
        }
        let quiet = self
            .trim
            .last_change
            .and_then(|t| t.checked_add(self.cfg.trim_quiet));
        if let Some(q) = quiet
            && now < q
        {
            self.trim.at = Some(q);
            return;
        }
        if self.dialing_count() > 0 {
            // Still dialing: its outcome is a link change, which looks again.
            return;
        }
        if self.outgoing_count() >= self.target_outgoing() {
            // Whole again and quiet: lost links need no more replacing.
            self.replacements = 0;
        }
        if self.outgoing_count() <= self.target_outgoing() {
            return;
        }
        // The newest link dialed to heal whose peer trims too and was not
        // asked lately (a busy peer may agree later).
        let reask = |c: &super::conn::Conn| c.trim_asked.and_then(|t| t.checked_add(REASK_AFTER));
        let candidates = self.conns.iter().rev().filter(|(_, c)| {
            c.outgoing && c.healing && c.trim_ext && c.handshaken() && c.trim_asks < MAX_ASKS
        });
        let pick = candidates
            .clone()
            .find(|(_, c)| reask(c).is_none_or(|r| now >= r))
            .map(|(id, _)| *id);
        let Some(conn) = pick else {
            self.trim.at = candidates.filter_map(|(_, c)| reask(c)).min();
            return;
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.trim_asked = Some(now);
            c.trim_asks += 1;
        }
        self.trim.open = Some((conn, now + ANSWER_TIMEOUT, Role::Asked));
        self.trim.at = Some(now + ANSWER_TIMEOUT);
        self.trim_send(conn, ASK, now);
    }

    /// A trim frame (`sub` is ASK, AGREE or DECLINE) arrived on `conn`.
    pub(crate) fn handle_trim(&mut self, conn: ConnId, sub: u64, now: Instant) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if !c.trim_ext || !c.handshaken() {
            return;
        }
        match sub {
            ASK => {
                let open = self.trim.open.is_some_and(|(_, until, _)| now < until);
                let agree = !self.closed
                    && !c.outgoing
                    && !open
                    && self.routes.len() > self.cfg.max_outgoing;
                if agree {
                    self.trim.open = Some((conn, now + ANSWER_TIMEOUT, Role::Agreed));
                    self.trim.at = Some(
                        self.trim
                            .at
                            .map_or(now + ANSWER_TIMEOUT, |t| t.min(now + ANSWER_TIMEOUT)),
                    );
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.trimming = true;
                    }
                    self.counters.trims_agreed += 1;
                    self.trim_send(conn, AGREE, now);
                } else {
                    self.trim_send(conn, DECLINE, now);
                }
            }
            AGREE | DECLINE
                if self
                    .trim
                    .open
                    .is_some_and(|(c, _, r)| c == conn && r == Role::Asked) =>
            {
                self.trim.open = None;
                if sub == AGREE {
                    self.give_back(conn, now);
                }
                // Declined: the peer needs the link or is busy; another
                // one is asked next, this one again later.
                self.trim.at = now.checked_add(PACE);
            }
            _ => {}
        }
    }

    /// Closes a link both ends agreed to give back: the peer leaves the
    /// routing table, nothing is redialed.
    fn give_back(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        tracing::debug!(%conn, "giving back a link made for healing");
        // Marked as given back, its forgetting heals nothing.
        c.trimming = true;
        self.counters.links_trimmed += 1;
        self.forget_conn(conn, now);
        self.outputs.push_back(Output::Close { conn });
    }

    fn trim_send(&mut self, conn: ConnId, sub: u64, now: Instant) {
        self.send_plain(conn, MainFlag::Renegotiate, vec![Value::from(sub)], now);
    }

    /// Outgoing connections not yet handshaken.
    fn dialing_count(&self) -> usize {
        self.conns
            .values()
            .filter(|c| c.outgoing && !c.handshaken())
            .count()
    }
}
