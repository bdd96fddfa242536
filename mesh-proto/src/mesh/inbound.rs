//! Everything the node reads: bytes to frames, frames to relays and deliveries.

use std::time::Instant;

use bytes::{Buf, Bytes};

use crate::wire::{
    CHECKSUM_LEN, Compression, Decoded, HEADER_LEN, MainFlag, SubFlag, Value, WireError,
    verify_packet,
};

use super::handler::{Handled, HandlerCx};
use super::outbound::Variants;
use super::seen::Probe;
use super::types::{sub_flag_of, sub_flag_of_value};
use super::{ConnId, Event, Mesh, Message, PeerId, RejectReason, ReplyTo};

const BROADCAST: u64 = MainFlag::Broadcast as u64;
const RENEGOTIATE: u64 = MainFlag::Renegotiate as u64;
const WHISPER: u64 = MainFlag::Whisper as u64;

/// What a connection may send before its handshake: the handshake, a peer
/// list (a full node sends one before closing) and renegotiation.
fn before_handshake_ok(d: &Decoded) -> bool {
    match d.frame.msg_type {
        RENEGOTIATE => true,
        WHISPER => matches!(
            sub_flag_of(&d.frame.payload),
            Some(SubFlag::Handshake | SubFlag::Peers)
        ),
        _ => false,
    }
}

impl Mesh {
    /// Bytes arrived on `conn`, split anywhere.
    pub fn handle_bytes(&mut self, conn: ConnId, chunk: &[u8], now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        self.counters.bytes_in += chunk.len() as u64;
        c.heard = true;
        c.deframer.feed(chunk);
        self.handle_frames(conn, now);
    }

    /// [`handle_bytes`](Mesh::handle_bytes) for a chunk the runtime hands
    /// over: the frames in it are relayed and delivered without being copied
    /// (a retained frame keeps the chunk's allocation alive).
    pub fn handle_bytes_owned(&mut self, conn: ConnId, chunk: Bytes, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        self.counters.bytes_in += chunk.len() as u64;
        c.heard = true;
        c.deframer.feed_bytes(chunk);
        self.handle_frames(conn, now);
    }

    /// Handles every whole frame the connection's deframer holds.
    fn handle_frames(&mut self, conn: ConnId, now: Instant) {
        // The next frame's claimed id and its probe, worked out one frame
        // ahead (see below).
        let mut ahead: Option<([u8; CHECKSUM_LEN], Probe)> = None;
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            match c.deframer.next_frame() {
                Ok(Some(frame)) => {
                    c.partial_since = None;
                    let claim = claim_of(&frame).map(|claimed| match ahead.take() {
                        Some((c, p)) if c == *claimed => p,
                        _ => self.seen.probe(claimed),
                    });
                    // The next frame's claimed id, if it is here already: its
                    // places in the dedup cache load while this one is
                    // handled (after a read, frames come back to back).
                    ahead = claim_of(c.deframer.upcoming()).map(|c| {
                        let p = self.seen.probe(c);
                        self.seen.prefetch(p);
                        (*c, p)
                    });
                    self.handle_frame_bytes(conn, frame, claim, now);
                }
                Ok(None) => {
                    if c.deframer.has_partial() {
                        c.partial_since.get_or_insert(now);
                    }
                    return;
                }
                Err(e) => {
                    self.violation(conn, e, now);
                    return;
                }
            }
        }
    }

    /// `claim`: the dedup cache's probe of the id the frame claims, if it
    /// is long enough to claim one.
    fn handle_frame_bytes(
        &mut self,
        conn: ConnId,
        frame: Bytes,
        claim: Option<Probe>,
        now: Instant,
    ) {
        self.counters.frames_in += 1;
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        // Only broadcasts enter the dedup cache, and an id fixes the whole
        // body: a frame that claims a recent id is a duplicate broadcast,
        // dropped before its checksum is even computed (ids only ever enter
        // the cache verified). Otherwise the lookup proper comes once the
        // frame is verified, its memory fetched while the frame is hashed. A
        // compressed frame's claim is noise that matches nothing.
        if claim.is_some_and(|p| self.seen.quick_check(p)) {
            self.counters.duplicates += 1;
            self.lazy_duplicate(conn, now);
            return;
        }
        let mut packet = frame.clone();
        packet.advance(HEADER_LEN);
        // Our own nodes send small bodies plain (`Config::plain_below`): look
        // for that first; every method is still tried after it.
        let small = packet.len() < self.cfg.plain_below.saturating_add(CHECKSUM_LEN);
        let methods: &[Compression] = if c.ext && small {
            &[]
        } else {
            &c.peer_compression
        };
        // A broadcast nobody here takes is only relayed: its packets are
        // checked, not built (`handle_decoded` then drops it unread).
        let relay_only = self.relay_only();
        let v = match verify_packet(packet, methods, &self.cfg.limits) {
            Ok(v) => v,
            Err(e) => return self.bad_frame(conn, e, now),
        };
        // A plain frame's id is its claim (the checksum it verified
        // against), probed already; a compressed one's is inside it.
        let probe = match claim {
            Some(p) if v.compression.is_none() => p,
            _ => self.seen.probe(&v.id.0),
        };
        if self.seen.holds(probe) {
            self.counters.duplicates += 1;
            self.lazy_duplicate(conn, now);
            return;
        }
        let build = |msg_type, first: &Value| {
            msg_type != BROADCAST || !(relay_only && takes_none(sub_flag_of_value(first)))
        };
        match v.parse_with(&self.cfg.limits, build) {
            Ok(d) => self.handle_decoded(conn, frame, d, probe, now),
            Err(e) => self.bad_frame(conn, e, now),
        }
    }

    /// A frame that does not verify or parse.
    fn bad_frame(&mut self, conn: ConnId, error: WireError, now: Instant) {
        match error {
            WireError::ChecksumMismatch { .. }
            | WireError::PacketTooShort { .. }
            | WireError::DecompressedTooLarge { .. } => self.undecodable(conn, error, now),
            _ => self.violation(conn, error, now),
        }
    }

    /// As py2p: ask for plain frames and the last message again; past
    /// `max_decode_failures` give up on the connection.
    fn undecodable(&mut self, conn: ConnId, error: WireError, now: Instant) {
        self.counters.undecodable += 1;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.failures += 1;
        tracing::debug!(%conn, %error, failures = c.failures, "undecodable frame");
        if c.failures > self.cfg.max_decode_failures {
            self.reject(conn, RejectReason::UndecodableFrames, now);
            return;
        }
        let empty = vec![
            crate::wire::Value::from(SubFlag::Compression.value()),
            crate::wire::Value::Array(Vec::new()),
        ];
        self.send_plain(conn, MainFlag::Renegotiate, empty, now);
        let resend = vec![crate::wire::Value::from(SubFlag::Resend.value())];
        self.send_plain(conn, MainFlag::Renegotiate, resend, now);
    }

    /// `probe`: the dedup cache's probe of `d.id`.
    fn handle_decoded(
        &mut self,
        conn: ConnId,
        frame: Bytes,
        mut d: Decoded,
        probe: Probe,
        now: Instant,
    ) {
        if !self.conns.get(&conn).is_some_and(|c| c.handshaken()) && !before_handshake_ok(&d) {
            // Its protocol id is not checked yet: nothing it says is relayed or delivered.
            self.counters.before_handshake += 1;
            return;
        }
        match d.frame.msg_type {
            BROADCAST => {
                let t = self.unix_time(now);
                let age = t.saturating_sub(d.frame.time);
                if age > secs(self.cfg.max_age) {
                    self.counters.stale += 1;
                    return;
                }
                if age < -secs(self.cfg.max_future) {
                    self.counters.future += 1;
                    return;
                }
                // `handle_frame_bytes` dropped it if held.
                self.seen.insert_new(probe, now);
                if self.lazy.active() {
                    self.lazy_first_receipt(conn, &d, now);
                }
                // The body is only kept (for `resend`) by the relay from here.
                let body = std::mem::take(&mut d.body);
                self.relay(conn, frame, body, &d, now);
                if self.nobody_takes(sub_flag_of(&d.frame.payload)) {
                    return;
                }
            }
            RENEGOTIATE => {
                self.handle_renegotiate(conn, &d, now);
                return;
            }
            _ => {}
        }
        let msg = Message {
            msg_type: d.frame.msg_type,
            sender: PeerId(d.frame.sender),
            id: d.id,
            time: d.frame.time,
            packets: d.frame.payload,
            conn,
            reply_to: ReplyTo::none(),
        };
        self.dispatch(msg, now);
    }

    /// Forwards the frame to every peer but the one it came from and its
    /// originator. A peer taking the same compression gets the received bytes.
    fn relay(&mut self, from: ConnId, frame: Bytes, body: Bytes, d: &Decoded, now: Instant) {
        let origin = self.routes.get(&d.frame.sender[..]).copied();
        // A scratch list kept across calls: no allocation per relayed frame.
        let mut targets = std::mem::take(&mut self.scratch_targets);
        targets.clear();
        targets.extend(
            self.routes
                .values()
                .copied()
                .filter(|c| *c != from && Some(*c) != origin),
        );
        // Only what was announced can be grafted: only that is kept.
        if self.lazy_split(&mut targets, d.id, now) {
            self.lazy_cache(d.id, &body, now);
        }
        if targets.is_empty() {
            self.scratch_targets = targets;
            return;
        }
        self.counters.relayed += targets.len() as u64;
        let variants = Variants::with(d.compression, frame, d.id);
        self.send_body_to(&targets, body, variants, true, now);
        self.scratch_targets = targets;
    }

    /// Whether [`dispatch`](Mesh::dispatch) would do nothing with a message
    /// of this sub-flag: no built-in handler takes it, and there is neither
    /// a user handler nor a receive queue (a node that only relays). Such a
    /// node then skips building the message at all (and `handle_frame_bytes`
    /// builds none of its packets: it checks them).
    fn nobody_takes(&self, sub: Option<SubFlag>) -> bool {
        self.relay_only() && takes_none(sub)
    }

    /// Neither a user handler nor a receive queue: only built-in handlers
    /// read what arrives.
    fn relay_only(&self) -> bool {
        self.handlers.is_empty() && self.cfg.recv_queue_cap == 0
    }

    /// Built-in handlers, then user handlers in order, then the receive queue.
    fn dispatch(&mut self, msg: Message, now: Instant) {
        let sub = msg.sub_flag();
        if builtin_for(sub).is_some_and(|handle| handle(self, &msg, now)) {
            return;
        }
        if !self.handlers.is_empty() {
            let mut handlers = std::mem::take(&mut self.handlers);
            let mut consumed = false;
            {
                let mut cx = HandlerCx {
                    mesh: self,
                    conn: msg.conn,
                    now,
                };
                for h in &mut handlers {
                    if h.handle(&msg, &mut cx) == Handled::Consumed {
                        consumed = true;
                        break;
                    }
                }
            }
            // Handlers registered while the chain ran go after the existing ones.
            handlers.append(&mut self.handlers);
            self.handlers = handlers;
            if consumed {
                self.counters.handled += 1;
                return;
            }
        }
        if matches!(sub, Some(SubFlag::Broadcast | SubFlag::Whisper)) {
            self.enqueue(msg);
        }
    }

    fn enqueue(&mut self, msg: Message) {
        if self.cfg.recv_queue_cap == 0 {
            return;
        }
        while self.queue.len() >= self.cfg.recv_queue_cap {
            self.queue.pop_front();
            self.counters.queue_drops += 1;
            self.lagged += 1;
        }
        let id = msg.id;
        self.queue.push_back(msg);
        self.counters.delivered += 1;
        if self.lagged > 0 {
            let dropped = std::mem::take(&mut self.lagged);
            self.event(Event::Lagged { dropped });
        }
        self.event(Event::Message { id });
    }
}

/// The id a frame (or what starts with one) claims: the checksum after its
/// length header.
fn claim_of(frame: &[u8]) -> Option<&[u8; CHECKSUM_LEN]> {
    frame
        .get(HEADER_LEN..HEADER_LEN + CHECKSUM_LEN)
        .and_then(|c| c.try_into().ok())
}

/// A built-in handler: whether it took the message.
type Builtin = fn(&mut Mesh, &Message, Instant) -> bool;

/// No built-in handler takes this sub-flag.
fn takes_none(sub: Option<SubFlag>) -> bool {
    builtin_for(sub).is_none()
}

/// The built-in handler for a sub-flag, if py2p has one.
fn builtin_for(sub: Option<SubFlag>) -> Option<Builtin> {
    Some(match sub? {
        // A handshake only counts as a whisper on its own link; anything
        // else posing as one is ignored.
        SubFlag::Handshake => {
            |mesh, msg, now| msg.msg_type != WHISPER || mesh.handle_handshake(msg, now)
        }
        SubFlag::Peers => Mesh::handle_peers,
        SubFlag::Request => Mesh::handle_request,
        SubFlag::Response => Mesh::handle_response,
        _ => return None,
    })
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
