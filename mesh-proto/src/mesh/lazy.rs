//! Lazy push between our own nodes: PlumTree (Leitão, Pereira, Rodrigues,
//! "Epidemic Broadcast Trees", 2007) on top of py2p's flooding.
//!
//! Two of our nodes recognise each other by a marker in the handshake's
//! compression list ([`MARKER`]): py2p (and js2p) intersect that list with
//! the methods they know and never see it. Between two such nodes a link is
//! *eager* (full frames, as py2p) or *lazy* (only the ids of new broadcasts,
//! batched per [`Config::lazy_announce_interval`](super::Config)). Links to
//! nodes without the marker are always eager: they flood as py2p does.
//!
//! - A first receipt goes in full to eager links and is announced to lazy ones.
//! - A duplicate from an eager link makes it lazy on both ends (a prune).
//! - An announced id not received within the graft timeout grafts the
//!   announcer: it is asked for the frame and the link becomes eager; if
//!   that does not bring it, the next announcer is tried.
//! - A frame the tree brings well after a lazy link announced it swaps that
//!   link into the tree for the one it came on (PlumTree's optimisation, by
//!   time where the paper counts hops): the tree drifts toward fast paths.
//! - The bodies of announced broadcasts are kept (bounded bytes and age)
//!   to answer grafts: nothing else can be grafted.
//!
//! Every link starts eager, so a new mesh floods once and prunes itself into
//! a tree; faults only make links eager again. The extension's frames are
//! `renegotiate` frames (connection-level, never delivered) with sub-flags
//! of their own, sent only on links that announced the marker.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use bytes::Bytes;

use crate::wire::{Decoded, MainFlag, MsgId, Value};

use super::graft_cache::GraftCache;
use super::outbound::Variants;
use super::{ConnId, Mesh};

/// The extension's marker in the handshake's compression list: "LP" (lazy
/// push). No py2p-family compression method has this number (they are
/// 0x10..=0x20), so py2p and js2p ignore it.
pub const MARKER: u64 = 0x4C50;

/// Sub-flag of an announcement: `[renegotiate, me, t, IHAVE, [id, ...]]`.
pub const IHAVE: u64 = 0x2A;
/// Sub-flag of a graft: `[renegotiate, me, t, GRAFT, [id, ...]]` (send these
/// ids, and push to me from now on; the list may be empty).
pub const GRAFT: u64 = 0x2B;
/// Sub-flag of a prune: `[renegotiate, me, t, PRUNE]` (announce to me only).
pub const PRUNE: u64 = 0x2C;

/// Announcers remembered per missing id.
const MAX_ANNOUNCERS: usize = 4;

/// An announced id we do not have yet.
#[derive(Debug)]
struct Missing {
    /// Who announced it, first first; the head is grafted next.
    announcers: VecDeque<ConnId>,
    /// When the head is grafted.
    due: Instant,
    /// When it was first announced.
    since: Instant,
}

/// The extension's state in one [`Mesh`].
#[derive(Debug, Default)]
pub(crate) struct LazyState {
    /// Links whose peer speaks the extension.
    ext_links: usize,
    /// Extension links that get announcements instead of frames.
    lazy: BTreeSet<ConnId>,
    /// Announced ids not received yet.
    missing: BTreeMap<MsgId, Missing>,
    /// `missing`'s deadlines, earliest first.
    timers: BTreeSet<(Instant, MsgId)>,
    /// Bodies of recent broadcasts, for grafts.
    cache: GraftCache,
    /// When pending announcements go out.
    announce_at: Option<Instant>,
    /// Links that announced the id being relayed: they have it already.
    skip: Vec<ConnId>,
}

impl LazyState {
    /// Whether anything here can matter for a frame (a cheap test for the
    /// relay path of a node with no extension peer).
    pub(crate) fn active(&self) -> bool {
        self.ext_links > 0 || !self.missing.is_empty()
    }

    /// Links in the lazy set.
    pub(crate) fn lazy_links(&self) -> usize {
        self.lazy.len()
    }

    pub(crate) fn is_lazy(&self, conn: ConnId) -> bool {
        self.lazy.contains(&conn)
    }

    /// The earliest moment something here is due.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let graft = self.timers.first().map(|(t, _)| *t);
        match (graft, self.announce_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Ids waiting for a graft (announced, not received).
    pub(crate) fn missing_len(&self) -> usize {
        self.missing.len()
    }

    /// Bodies kept for grafts, and their bytes.
    pub(crate) fn cache_len(&self) -> (usize, usize) {
        self.cache.len()
    }

    /// A connection is gone: it was an extension link if `ext`.
    pub(crate) fn forget(&mut self, conn: ConnId, ext: bool) {
        if ext {
            self.ext_links = self.ext_links.saturating_sub(1);
            self.lazy.remove(&conn);
        }
    }
}

impl Mesh {
    /// Whether the handshake's compression list carries the marker, and we
    /// speak the extension too.
    pub(crate) fn lazy_marker_in(&self, methods: &Value) -> bool {
        self.cfg.lazy_push && super::builtin::has_marker(methods, MARKER)
    }

    /// A handshake set whether `conn`'s peer speaks the extension.
    pub(crate) fn lazy_set_ext(&mut self, conn: ConnId, ext: bool) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.ext == ext {
            return;
        }
        c.ext = ext;
        if ext {
            self.lazy.ext_links += 1;
        } else {
            self.lazy.forget(conn, true);
            c.announce.clear();
        }
    }

    /// A broadcast arrived for the first time on `from`: it is no longer
    /// missing, and its announcers are noted so the relay does not announce
    /// it back to them.
    pub(crate) fn lazy_first_receipt(&mut self, from: ConnId, d: &Decoded, now: Instant) {
        self.lazy.skip.clear();
        // It came pushed on a lazy link: the tree runs through it, both ways.
        if self.lazy.lazy.remove(&from) {
            self.counters.lazy.unpruned += 1;
        }
        if let Some(m) = self.lazy.missing.remove(&d.id) {
            self.lazy.timers.remove(&(m.due, d.id));
            self.lazy_optimize(from, &m, now);
            self.lazy.skip.extend(m.announcers);
        }
    }

    /// The tree's path brought a frame well after a lazy link announced it:
    /// that link's path is shorter. Swap them (graft the announcer, prune
    /// the link it came on), as PlumTree's optimisation does with hop
    /// counts; time is what we have. The tree stays a tree: the announcer
    /// had the frame without us, so it is not below us.
    fn lazy_optimize(&mut self, from: ConnId, m: &Missing, now: Instant) {
        let threshold = self.cfg.lazy_optimize_after;
        if threshold.is_zero() || now.saturating_duration_since(m.since) < threshold {
            return;
        }
        let Some(&faster) = m.announcers.front() else {
            return;
        };
        let from_ext = self.conns.get(&from).is_some_and(|c| c.ext);
        let faster_ext = self.conns.get(&faster).is_some_and(|c| c.ext);
        if !from_ext || !faster_ext || faster == from || self.lazy.lazy.contains(&from) {
            return;
        }
        self.counters.lazy.optimized += 1;
        self.lazy.lazy.remove(&faster);
        self.counters.lazy.grafts_sent += 1;
        self.lazy_send(faster, GRAFT, Some(&[]), now);
        self.lazy.lazy.insert(from);
        self.counters.lazy.prunes_sent += 1;
        self.lazy_send(from, PRUNE, None, now);
    }

    /// Keeps the body of an announced id for the grafts it may bring.
    pub(crate) fn lazy_cache(&mut self, id: MsgId, body: &[u8], now: Instant) {
        let (cap, age) = (self.cfg.lazy_cache_bytes, self.cfg.lazy_cache_age);
        self.lazy.cache.insert(id, body, now, cap, age);
    }

    /// Whether [`lazy_split`](Mesh::lazy_split) may take any target out
    /// (otherwise a sender need not copy its target list for it).
    pub(crate) fn lazy_may_split(&self) -> bool {
        !(self.lazy.lazy.is_empty() && self.lazy.skip.is_empty())
    }

    /// Takes out of `targets` the links that announced `id` to us (they have
    /// it) and the lazy links, queueing an announcement of `id` for the
    /// latter. Whether any announcement was queued.
    pub(crate) fn lazy_split(
        &mut self,
        targets: &mut Vec<ConnId>,
        id: MsgId,
        now: Instant,
    ) -> bool {
        if !self.lazy_may_split() {
            return false;
        }
        let mut announced = false;
        let mut i = 0;
        while i < targets.len() {
            let conn = targets[i];
            let has_it = self.lazy.skip.contains(&conn);
            if !has_it && !self.lazy.lazy.contains(&conn) {
                i += 1;
                continue;
            }
            targets.swap_remove(i);
            if !has_it {
                self.lazy_announce(conn, id, now);
                announced = true;
            }
        }
        self.lazy.skip.clear();
        announced
    }

    fn lazy_announce(&mut self, conn: ConnId, id: MsgId, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.announce.push(id);
        if c.announce.len() >= self.cfg.lazy_max_ids_per_frame {
            // A full batch leaves at once: the queue stays bounded.
            self.lazy_flush_announcements(conn, now);
        } else if self.lazy.announce_at.is_none() {
            self.lazy.announce_at = now.checked_add(self.cfg.lazy_announce_interval);
        }
    }

    fn lazy_flush_announcements(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ids = std::mem::take(&mut c.announce);
        if ids.is_empty() {
            return;
        }
        self.counters.lazy.announced += ids.len() as u64;
        self.lazy_send(conn, IHAVE, Some(&ids), now);
    }

    /// Sends one extension frame on `conn`: `[renegotiate, me, t, sub, [ids]]`.
    fn lazy_send(&mut self, conn: ConnId, sub: u64, ids: Option<&[MsgId]>, now: Instant) {
        let mut payload = vec![Value::from(sub)];
        if let Some(ids) = ids {
            // One buffer for all the ids, each packet a slice of it.
            let all = Bytes::from(ids.iter().flat_map(|id| id.0).collect::<Vec<u8>>());
            payload.push(Value::Array(
                (0..ids.len())
                    .map(|i| Value::Bin(all.slice(i * 32..(i + 1) * 32)))
                    .collect(),
            ));
        }
        let sent = self.send_plain(conn, MainFlag::Renegotiate, payload, now);
        self.counters.lazy.bytes_out += sent as u64;
    }

    /// A duplicate broadcast came on `conn`: an eager extension link is pruned.
    pub(crate) fn lazy_duplicate(&mut self, conn: ConnId, now: Instant) {
        if self.lazy.ext_links == 0 || self.lazy.lazy.contains(&conn) {
            return;
        }
        if !self.conns.get(&conn).is_some_and(|c| c.ext) {
            return;
        }
        self.lazy.lazy.insert(conn);
        self.counters.lazy.prunes_sent += 1;
        self.lazy_send(conn, PRUNE, None, now);
    }

    /// An extension frame (`sub` is IHAVE, GRAFT or PRUNE) arrived on `conn`.
    /// Only links that announced the marker may send them; from others they
    /// are ignored, as any unknown renegotiation.
    pub(crate) fn handle_lazy(&mut self, conn: ConnId, sub: u64, d: &Decoded, now: Instant) {
        if !self.conns.get(&conn).is_some_and(|c| c.ext) {
            self.counters.lazy.ignored += 1;
            return;
        }
        let ids = || {
            d.frame
                .payload
                .get(1)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .take(self.cfg.lazy_max_ids_per_frame)
                .filter_map(|v| Some(MsgId(v.as_str_or_bin()?.as_ref().try_into().ok()?)))
        };
        match sub {
            IHAVE => {
                let ids: Vec<MsgId> = ids().collect();
                self.counters.lazy.announcements_received += ids.len() as u64;
                for id in ids {
                    self.lazy_note_missing(conn, id, now);
                }
            }
            GRAFT => {
                let ids: Vec<MsgId> = ids().collect();
                self.counters.lazy.grafts_received += 1;
                self.lazy.lazy.remove(&conn);
                for id in ids {
                    let body = self.lazy.cache.get(&id, now, self.cfg.lazy_cache_age);
                    if let Some(body) = body.cloned() {
                        self.counters.lazy.served_from_cache += 1;
                        self.send_body_to(&[conn], body, Variants::new(Some(id)), true, now);
                    } else {
                        self.counters.lazy.graft_misses += 1;
                    }
                }
            }
            PRUNE => {
                self.counters.lazy.prunes_received += 1;
                self.lazy.lazy.insert(conn);
            }
            _ => {}
        }
    }

    /// `conn` announced `id`: unless we have it, wait a while for it, then graft.
    fn lazy_note_missing(&mut self, conn: ConnId, id: MsgId, now: Instant) {
        if self.seen.contains(&id) {
            return;
        }
        if let Some(m) = self.lazy.missing.get_mut(&id) {
            if m.announcers.len() < MAX_ANNOUNCERS && !m.announcers.contains(&conn) {
                m.announcers.push_back(conn);
            }
            return;
        }
        if self.lazy.missing.len() >= self.cfg.lazy_max_missing {
            self.counters.lazy.missing_dropped += 1;
            return;
        }
        let Some(due) = now.checked_add(self.cfg.lazy_graft_timeout) else {
            return;
        };
        self.lazy.missing.insert(
            id,
            Missing {
                announcers: VecDeque::from([conn]),
                due,
                since: now,
            },
        );
        self.lazy.timers.insert((due, id));
    }

    /// Sends what is due: batched announcements, and grafts for ids still missing.
    pub(crate) fn lazy_timeout(&mut self, now: Instant) {
        if self.lazy.announce_at.is_some_and(|t| t <= now) {
            self.lazy.announce_at = None;
            let pending: Vec<ConnId> = self
                .conns
                .iter()
                .filter(|(_, c)| !c.announce.is_empty())
                .map(|(id, _)| *id)
                .collect();
            for conn in pending {
                self.lazy_flush_announcements(conn, now);
            }
        }
        let mut grafts: BTreeMap<ConnId, Vec<MsgId>> = BTreeMap::new();
        while let Some(&(due, id)) = self.lazy.timers.first() {
            if due > now {
                break;
            }
            self.lazy.timers.pop_first();
            let Some(mut m) = self.lazy.missing.remove(&id) else {
                continue;
            };
            // The next announcer still linked to us, if any.
            let target = std::iter::from_fn(|| m.announcers.pop_front())
                .find(|c| self.conns.get(c).is_some_and(|c| c.ext));
            let Some(target) = target else {
                self.counters.lazy.missing_dropped += 1;
                continue;
            };
            grafts.entry(target).or_default().push(id);
            if !m.announcers.is_empty()
                && let Some(due) = now.checked_add(self.cfg.lazy_graft_retry)
            {
                m.due = due;
                self.lazy.timers.insert((due, id));
                self.lazy.missing.insert(id, m);
            }
        }
        for (conn, ids) in grafts {
            self.lazy.lazy.remove(&conn);
            self.counters.lazy.grafts_sent += 1;
            for chunk in ids.chunks(self.cfg.lazy_max_ids_per_frame.max(1)) {
                self.lazy_send(conn, GRAFT, Some(chunk), now);
            }
        }
        let (cap, age) = (self.cfg.lazy_cache_bytes, self.cfg.lazy_cache_age);
        self.lazy.cache.evict(cap, age, now);
    }
}
