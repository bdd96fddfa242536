//! Everything the node writes: its own frames, relays, and connection teardown.

use std::time::Instant;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::wire::{
    Compression, Frame, MainFlag, MsgId, SubFlag, Value, WireError, frame_body, frame_hashed_body,
};

use super::{ConnId, Event, Mesh, Output, PeerAddr, RejectReason, SendError};

/// One body framed for each compression it is sent with, built on demand
/// (a relay to 4 peers compresses at most once per method). The first variant
/// is held inline: the common relay needs no allocation.
#[derive(Debug)]
pub(crate) struct Variants {
    /// The body's id when the caller has it (a message it encoded or
    /// verified): framing then needs no second hash.
    id: Option<MsgId>,
    first: Option<(Option<Compression>, Bytes)>,
    more: Vec<(Option<Compression>, Bytes)>,
}

impl Variants {
    /// No variant yet; `id`: the body's, if known.
    pub(crate) fn new(id: Option<MsgId>) -> Variants {
        Variants {
            id,
            first: None,
            more: Vec::new(),
        }
    }

    /// Starts with the frame as received, so plain relays forward its bytes
    /// unchanged; `id`: the body's, verified on arrival.
    pub(crate) fn with(compression: Option<Compression>, frame: Bytes, id: MsgId) -> Variants {
        Variants {
            id: Some(id),
            first: Some((compression, frame)),
            more: Vec::new(),
        }
    }

    /// The frame for peers taking `compression`, made on first demand. One
    /// that cannot be made (compression failing on our own bytes) is sent
    /// plain; `None`: not even that could be framed.
    #[inline]
    fn frame_for(&mut self, body: &[u8], compression: Option<Compression>) -> Option<&mut Bytes> {
        // The relay's case, first: every peer takes the frame as received.
        if self.first.as_ref().is_some_and(|(c, _)| *c == compression) {
            return self.first.as_mut().map(|(_, b)| b);
        }
        self.other(body, compression)
    }

    /// [`frame_for`](Variants::frame_for) past the first frame.
    #[inline(never)]
    fn other(&mut self, body: &[u8], compression: Option<Compression>) -> Option<&mut Bytes> {
        let i = self
            .find(compression)
            .or_else(|| self.make(body, compression))
            .or_else(|| self.find(None))
            .or_else(|| self.make(body, None))?;
        match i {
            0 => self.first.as_mut().map(|(_, b)| b),
            i => self.more.get_mut(i - 1).map(|(_, b)| b),
        }
    }

    /// Where the frame for `compression` is, if made: 0 for the first,
    /// then `more`.
    fn find(&self, compression: Option<Compression>) -> Option<usize> {
        if self.first.as_ref().is_some_and(|(c, _)| *c == compression) {
            return Some(0);
        }
        let i = self.more.iter().position(|(c, _)| *c == compression)?;
        Some(i + 1)
    }

    /// Frames the body for `compression`; where it went (see [`find`](Variants::find)).
    fn make(&mut self, body: &[u8], compression: Option<Compression>) -> Option<usize> {
        let framed = match &self.id {
            Some(id) => frame_hashed_body(body, id, compression).ok()?,
            None => {
                let (framed, id) = frame_body(body, compression).ok()?;
                self.id = Some(id);
                framed
            }
        };
        if self.first.is_none() {
            self.first = Some((compression, framed));
            return Some(0);
        }
        self.more.push((compression, framed));
        Some(self.more.len())
    }
}

impl Mesh {
    /// Encodes `[msg_type, me, t, payload...]` and its id.
    pub(crate) fn own_body(
        &self,
        msg_type: u64,
        payload: Vec<Value>,
        now: Instant,
    ) -> Result<(Bytes, MsgId), WireError> {
        let body = self.own_body_unhashed(msg_type, payload, now)?;
        let id = MsgId(Sha256::digest(&body).into());
        Ok((body, id))
    }

    /// [`Mesh::own_body`] without the id, for protocol messages whose id
    /// nobody keeps (handshakes, peer lists): hashing them was pure cost.
    pub(crate) fn own_body_unhashed(
        &self,
        msg_type: u64,
        payload: Vec<Value>,
        now: Instant,
    ) -> Result<Bytes, WireError> {
        let frame = Frame::new(msg_type, self.id.0.clone(), self.unix_time(now), payload);
        Ok(Bytes::from(frame.encode_body()?))
    }

    /// Sends one message of ours on one connection only.
    pub(crate) fn send_on(
        &mut self,
        conn: ConnId,
        msg_type: u64,
        payload: Vec<Value>,
        now: Instant,
    ) -> Result<MsgId, SendError> {
        self.send_own(&[conn], msg_type, payload, now)
    }

    /// Encodes one message of ours and sends it to `targets`; our own
    /// broadcasts are recorded as seen, so an echo is a duplicate.
    pub(crate) fn send_own(
        &mut self,
        targets: &[ConnId],
        msg_type: u64,
        payload: Vec<Value>,
        now: Instant,
    ) -> Result<MsgId, SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        let (body, id) = self.own_body(msg_type, payload, now)?;
        let variants = Variants::new(Some(id));
        self.send_body_own(targets, msg_type, body, id, variants, now)
    }

    /// Sends one encoded message of ours to `targets`; a broadcast is
    /// recorded as seen, so an echo is a duplicate.
    /// `variants`: its frames made so far (none, or the plain one).
    pub(crate) fn send_body_own(
        &mut self,
        targets: &[ConnId],
        msg_type: u64,
        body: Bytes,
        id: MsgId,
        variants: Variants,
        now: Instant,
    ) -> Result<MsgId, SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        if msg_type == u64::from(MainFlag::Broadcast.value()) {
            self.seen.insert(id, now);
            // Lazy links get the id; the body is kept for their grafts.
            if self.lazy.active() && self.lazy_may_split() {
                let mut eager = targets.to_vec();
                if self.lazy_split(&mut eager, id, now) {
                    self.lazy_cache(id, &body, now);
                }
                self.send_body_to(&eager, body, variants, true, now);
                return Ok(id);
            }
        }
        self.send_body_to(targets, body, variants, true, now);
        Ok(id)
    }

    /// Frames `body` for each target with its compression and transmits it.
    /// `remember`: keep it for a `resend` request.
    pub(crate) fn send_body_to(
        &mut self,
        targets: &[ConnId],
        body: Bytes,
        mut variants: Variants,
        remember: bool,
        now: Instant,
    ) {
        let len = body.len();
        // One hold on the body for all targets (see `sent.rs`), which takes
        // it over: read from there, it needs no clone of its own.
        let (held, kept) = if remember {
            (Some(self.sent.hold(body)), None)
        } else {
            (None, Some(body))
        };
        for (i, &conn) in targets.iter().enumerate() {
            let last = i + 1 == targets.len();
            // Few map lookups per target: relays come through here.
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            let method = if c.ext && len < self.cfg.plain_below {
                None
            } else {
                preferred(&self.cfg.compression, &c.peer_compression)
            };
            let body = match held {
                Some(h) => self.sent.get(h),
                None => kept.as_ref(),
            }
            .map_or(&[][..], |b| &b[..]);
            let Some(frame) = variants.frame_for(body, method) else {
                continue;
            };
            if let Some(held) = held {
                self.sent.point(&mut c.last_sent, held);
            }
            // Inline rather than `transmit`: one map lookup per target.
            if c.account(frame.len(), self.cfg.max_queued_bytes) {
                self.reject(conn, RejectReason::OutputOverflow, now);
                continue;
            }
            // The last target takes the frame itself. Two calls, not one
            // with the frame picked before: that pick was a stop in a
            // temporary, stored in 8-byte words and loaded back in 16-byte
            // ones (a store-forwarding stall per target, measured).
            if last {
                self.queue_transmit(conn, std::mem::take(frame));
            } else {
                self.queue_transmit(conn, frame.clone());
            }
        }
        if let Some(held) = held {
            self.sent.settle(held);
        }
    }

    /// Hands bytes to the runtime, closing a connection whose unwritten bytes
    /// pass [`Config::max_queued_bytes`](super::Config::max_queued_bytes).
    pub(crate) fn transmit(&mut self, conn: ConnId, bytes: Bytes, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.account(bytes.len(), self.cfg.max_queued_bytes) {
            self.reject(conn, RejectReason::OutputOverflow, now);
            return;
        }
        self.queue_transmit(conn, bytes);
    }

    /// Counts and queues a transmit already accounted to its connection.
    #[inline]
    fn queue_transmit(&mut self, conn: ConnId, bytes: Bytes) {
        self.counters.frames_out += 1;
        self.counters.bytes_out += bytes.len() as u64;
        self.outputs.push_back(Output::Transmit { conn, bytes });
    }

    /// `[whisper, me, t, handshake, me, protocol_id, [host, port], [methods...]]`, never compressed.
    pub(crate) fn send_handshake(&mut self, conn: ConnId, now: Instant) {
        let addr = &self.cfg.out_addr;
        let payload = vec![
            Value::from(SubFlag::Handshake.value()),
            Value::Bin(self.id.0.clone()),
            Value::Bin(self.protocol_id.clone()),
            addr_value(addr),
            Value::Array(
                self.cfg
                    .compression
                    .iter()
                    .filter(|m| m.is_supported())
                    .map(|m| Value::from(m.flag()))
                    // py2p and js2p ignore a number they do not know here:
                    // our own nodes read it as "speaks lazy push".
                    .chain(self.cfg.lazy_push.then(|| Value::from(super::lazy::MARKER)))
                    .chain(
                        self.cfg
                            .trim_links
                            .then(|| Value::from(super::trim::MARKER)),
                    )
                    .collect(),
            ),
        ];
        self.send_plain(conn, MainFlag::Whisper, payload, now);
    }

    /// Sends one of our protocol messages uncompressed on `conn`; returns
    /// the bytes of the frame (0 if it could not be built).
    pub(crate) fn send_plain(
        &mut self,
        conn: ConnId,
        flag: MainFlag,
        payload: Vec<Value>,
        now: Instant,
    ) -> usize {
        let Ok(body) = self.own_body_unhashed(flag.value().into(), payload, now) else {
            return 0;
        };
        let Ok((framed, _)) = frame_body(&body, None) else {
            return 0;
        };
        let len = framed.len();
        self.transmit(conn, framed, now);
        len
    }

    /// Our peer list to `conn`: `[whisper, me, t, peers, [[[host, port], id], ...]]`.
    /// Our routing table (as py2p sends), shuffled, then other addresses we
    /// remember, up to the cap: spreading what we know is what lets a group
    /// that lost its bridge find the rest of the mesh again.
    pub(crate) fn send_peers(&mut self, conn: ConnId, now: Instant) {
        let recipient = self.conns.get(&conn).and_then(|c| c.peer.clone());
        let payload = self.peer_list(Some(conn), recipient.as_ref());
        let Ok(body) = self.own_body_unhashed(MainFlag::Whisper.value().into(), payload, now)
        else {
            return;
        };
        self.send_body_to(&[conn], body, Variants::new(None), false, now);
    }

    /// The payload of a peer list, leaving out the recipient. Entries are
    /// picked (cheap references, shuffled, capped) before any is built.
    pub(crate) fn peer_list(
        &mut self,
        conn: Option<ConnId>,
        recipient: Option<&super::PeerId>,
    ) -> Vec<Value> {
        // Reservoir-sample the routing table: one pass, never more than the
        // cap in hand (a hub's table is long and it answers every handshake).
        let cap = self.cfg.max_peers_per_list;
        let mut routed: Vec<(&super::PeerId, &PeerAddr)> =
            Vec::with_capacity(cap.min(self.routes.len()) + EXTRA_REMEMBERED);
        let mut offered = 0u64;
        for (peer, c) in &self.routes {
            let Some(addr) = self.conns.get(c).and_then(|c| c.peer_addr.as_ref()) else {
                continue;
            };
            if Some(*c) == conn {
                continue;
            }
            offered += 1;
            if routed.len() < cap {
                routed.push((peer, addr));
            } else if let Ok(j) = usize::try_from(self.rng.below(offered))
                && j < cap
            {
                routed[j] = (peer, addr);
            }
        }
        self.rng.shuffle(&mut routed);
        // A random sample of remembered peers: start at a random point of the
        // (hash-derived, so evenly spread) ids and walk on, O(log n + k).
        let room = self.cfg.max_peers_per_list.saturating_sub(routed.len());
        let start = random_id_text(&mut self.rng);
        let remembered = self
            .known
            .iter_from(&start)
            .filter(|(p, _)| !self.routes.contains_key(*p) && recipient != Some(*p))
            .take(EXTRA_REMEMBERED.min(room));
        let mut entries = Vec::with_capacity(routed.len() + EXTRA_REMEMBERED);
        entries.extend(
            routed
                .into_iter()
                .map(|(p, a)| peer_entry(addr_value(a), p)),
        );
        entries.extend(remembered.map(|(p, a)| peer_entry(a.value(), p)));
        vec![Value::from(SubFlag::Peers.value()), Value::Array(entries)]
    }

    /// Closes `conn` for `reason`: an event, a `Close` output, and cleanup.
    pub(crate) fn reject(&mut self, conn: ConnId, reason: RejectReason, now: Instant) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        self.counters.rejected.count(&reason);
        self.forget_conn(conn, now);
        self.outputs.push_back(Output::Close { conn });
        self.event(Event::Rejected { conn, reason });
    }

    /// Closes `conn` for a wire error.
    pub(crate) fn violation(&mut self, conn: ConnId, error: WireError, now: Instant) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        tracing::debug!(%conn, %error, "protocol violation");
        self.counters.violations += 1;
        self.forget_conn(conn, now);
        self.outputs.push_back(Output::Close { conn });
        self.event(Event::ProtocolViolation { conn, error });
    }

    /// Takes `conn` out of the table, releasing its last sent body.
    pub(crate) fn remove_conn(&mut self, conn: ConnId) -> Option<super::conn::Conn> {
        let c = self.conns.remove(&conn)?;
        self.sent.forget(c.last_sent);
        self.lazy.forget(conn, c.ext);
        self.trim.forget(conn);
        Some(c)
    }

    /// Drops all state of `conn`; a peer that leaves the table is reported
    /// and healing starts.
    pub(crate) fn forget_conn(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.remove_conn(conn) else {
            return;
        };
        if let Some(peer) = c.peer
            && self.routes.get(&peer) == Some(&conn)
        {
            self.routes.remove(&peer);
            self.event(super::Event::PeerDown { conn, peer });
            if !self.closed && !c.trimming {
                self.request_peers(now);
                self.schedule_heal(now);
                self.trim_topology_changed(now);
            }
        }
    }

    /// `[whisper, me, t, request, "*"]` to every peer. Sent as bin: py2p
    /// compares with bytes, so bin is what it answers.
    pub(crate) fn request_peers(&mut self, now: Instant) {
        if self.outgoing_count() >= self.target_outgoing() {
            return;
        }
        let payload = vec![
            Value::from(SubFlag::Request.value()),
            Value::Bin(Bytes::from_static(b"*")),
        ];
        let Ok(body) = self.own_body_unhashed(MainFlag::Whisper.value().into(), payload, now)
        else {
            return;
        };
        self.with_every_route(|mesh, targets| {
            mesh.send_body_to(targets, body, Variants::new(None), false, now);
        });
    }
}

/// The first method of our preference order that the peer accepts.
fn preferred(ours: &[Compression], theirs: &[Compression]) -> Option<Compression> {
    if theirs.is_empty() {
        return None;
    }
    ours.iter()
        .copied()
        .find(|m| m.is_supported() && theirs.contains(m))
}

/// Remembered (not connected) addresses added to a peer list: enough to
/// spread knowledge, few enough to keep lists small.
const EXTRA_REMEMBERED: usize = 8;

/// A random point in the space of base58 ids, for sampling a map keyed by them.
pub(crate) fn random_id_text(rng: &mut super::rng::Rng) -> Vec<u8> {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    (0..4)
        .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize])
        .collect()
}

/// `[[host, port], id]`, one entry of a peer list.
fn peer_entry(addr: Value, peer: &super::PeerId) -> Value {
    Value::Array(vec![addr, Value::Bin(peer.0.clone())])
}

/// `[host, port]` as py2p writes it (host a str, port an int).
pub(crate) fn addr_value(addr: &PeerAddr) -> Value {
    Value::Array(vec![
        Value::from(addr.host.as_str()),
        Value::from(addr.port),
    ])
}
