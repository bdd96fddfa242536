//! py2p's built-in handlers: handshake, peers, request, response, and the
//! renegotiate messages.

use std::cmp::Ordering;
use std::time::Instant;

use bytes::Bytes;

use crate::wire::{Compression, Decoded, MainFlag, SubFlag, Utf8Bytes, Value, compare_base58_ints};

use super::known::{IdKey, KnownAddr};
use super::outbound::{Variants, addr_value};
use super::{ConnId, Event, Mesh, Message, PeerAddr, PeerId, RejectReason};
use super::{lazy, trim};

/// `[host, port]` with host str or bin and port an integer that fits.
fn parse_addr(v: &Value) -> Option<PeerAddr> {
    let (_, host, port) = parse_host_port(v)?;
    Some(PeerAddr::new(host, port))
}

/// [`parse_addr`] without allocating: the host as the frame's bytes and text.
fn parse_host_port(v: &Value) -> Option<(&Bytes, &str, u16)> {
    let [host, port] = v.as_array()? else {
        return None;
    };
    let bytes = host.as_str_or_bin()?;
    let text = std::str::from_utf8(bytes).ok()?;
    let port = u16::try_from(port.as_int()?.as_u64()?).ok()?;
    Some((bytes, text, port))
}

/// A compression list: known flags kept in order, the rest ignored.
fn parse_methods(v: &Value) -> Option<Vec<Compression>> {
    Some(
        v.as_array()?
            .iter()
            .filter_map(|m| Compression::try_from(m.as_int()?.as_u64()?).ok())
            .collect(),
    )
}

/// Whether a handshake's compression list carries one of our extensions'
/// markers (numbers py2p and js2p ignore there).
pub(super) fn has_marker(methods: &Value, marker: u64) -> bool {
    methods.as_array().is_some_and(|m| {
        m.iter()
            .any(|v| v.as_int().and_then(|i| i.as_u64()) == Some(marker))
    })
}

impl Mesh {
    /// `[handshake, id, protocol_id, [host, port], [methods...]]`.
    pub(crate) fn handle_handshake(&mut self, msg: &Message, now: Instant) -> bool {
        let conn = msg.conn;
        let [_, id, proto, addr, methods] = msg.packets.as_slice() else {
            return false;
        };
        let ext = self.lazy_marker_in(methods);
        let trim_ext = self.trim_marker_in(methods);
        let (Some(id), Some(proto), Some(addr), Some(methods)) = (
            id.as_str_or_bin(),
            proto.as_str_or_bin(),
            parse_addr(addr),
            parse_methods(methods),
        ) else {
            return false;
        };
        if *proto != self.protocol_id {
            let theirs = String::from_utf8_lossy(proto).into_owned();
            tracing::info!(%conn, %theirs, "peer speaks another protocol");
            self.reject(conn, RejectReason::ProtocolMismatch { theirs }, now);
            return true;
        }
        let peer = PeerId(id.clone());
        if peer == self.id {
            self.reject(conn, RejectReason::SelfConnection, now);
            return true;
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return true;
        };
        if let Some(known) = &c.peer {
            // A repeated handshake only refreshes what it carries, and only
            // for the id this link already has.
            if *known == peer {
                c.peer_addr = Some(addr);
                c.peer_compression = methods;
                c.trim_ext = trim_ext;
                self.lazy_set_ext(conn, ext);
            }
            return true;
        }
        let outgoing = c.outgoing;
        let mut replaced = false;
        if let Some(&old) = self.routes.get(&peer)
            && old != conn
        {
            // py2p's rule, so both ends keep the same connection: close the new
            // one iff (my id > theirs) XOR (the new one is outgoing).
            let mine_greater = compare_base58_ints(&self.id.0, &peer.0) == Ordering::Greater;
            if mine_greater ^ outgoing {
                self.reject(conn, RejectReason::DuplicateConnection, now);
                return true;
            }
            // Replace the route first so closing the old one is not a PeerDown.
            self.routes.insert(peer.clone(), conn);
            self.reject(old, RejectReason::DuplicateConnection, now);
            replaced = true;
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return true;
        };
        c.peer = Some(peer.clone());
        c.peer_addr = Some(addr.clone());
        c.deframer.set_max_frame(self.cfg.limits.max_frame);
        c.peer_compression = methods;
        c.trim_ext = trim_ext;
        self.lazy_set_ext(conn, ext);
        let was_empty = self.routes.is_empty();
        self.routes.insert(peer.clone(), conn);
        let host = Bytes::copy_from_slice(addr.host.as_bytes());
        self.remember(&IdKey::new(peer.clone()), &host, &addr.host, addr.port);
        if !replaced {
            self.event(Event::PeerUp {
                conn,
                peer: peer.clone(),
                addr: addr.clone(),
            });
            if was_empty {
                self.event(Event::Connected);
            }
        }
        let dialed = self.conns.get(&conn).and_then(|c| c.addr.clone());
        self.lost.retain(|a, l| {
            l.peer.as_ref() != Some(&peer) && *a != addr && Some(a) != dialed.as_ref()
        });
        self.send_peers(conn, now);
        self.flush_awaiting(&peer, now);
        if outgoing {
            self.replacements = self.replacements.saturating_sub(1);
        }
        self.trim_topology_changed(now);
        if self.outgoing_count() >= self.target_outgoing() {
            self.heal_attempt = 0;
        } else {
            // Short of links (a small first peer list): keep asking, with backoff.
            self.schedule_heal(now);
        }
        true
    }

    /// Keeps an address for healing, bounded. `host` is `text`'s bytes,
    /// shared (not copied) if kept.
    fn remember(&mut self, key: &IdKey, host: &Bytes, text: &str, port: u16) {
        // Peer lists mostly repeat what we know: one lookup, nothing replaced.
        let present = match self.known.get(key) {
            Some(a) if a.is(text, port) => return,
            found => found.is_some(),
        };
        if self.cfg.max_known_addrs == 0 {
            // Nothing to evict: a cap of 0 remembers nothing.
            return;
        }
        let Ok(host) = Utf8Bytes::from_bytes(host.clone()) else {
            return;
        };
        if self.known.len() >= self.cfg.max_known_addrs && !present {
            // Forget a random one so the set keeps turning over.
            let start = super::outbound::random_id_text(&mut self.rng);
            if let Some(victim) = self.known.first_from(&start) {
                self.known.remove(&victim);
            }
        }
        self.known.insert(key.clone(), KnownAddr::new(host, port));
    }

    /// `[peers, [[[host, port], id], ...]]`: dial the ones we do not know
    /// while outgoing connections are below `max_outgoing`.
    pub(crate) fn handle_peers(&mut self, msg: &Message, now: Instant) -> bool {
        let Some(list) = msg.packets.get(1).and_then(Value::as_array) else {
            return true;
        };
        // Borrowed from the frame: most entries are known already and cost
        // no allocation at all.
        let mut entries: Vec<(&Bytes, (&Bytes, &str, u16))> = list
            .iter()
            .take(self.cfg.max_peers_per_list)
            .filter_map(|e| {
                let [addr, id] = e.as_array()? else {
                    return None;
                };
                let addr = parse_host_port(addr)?;
                Some((id.as_str_or_bin()?, addr))
            })
            .filter(|(id, _)| **id != self.id.0)
            .collect();
        self.rng.shuffle(&mut entries);
        // Only our own dials below change it: counted once, not per entry.
        let mut outgoing = self.outgoing_count();
        for (id, (host, text, port)) in entries {
            let key = IdKey::new(PeerId(id.clone()));
            self.remember(&key, host, text, port);
            if outgoing >= self.target_outgoing() {
                continue;
            }
            let peer = key.id();
            if self.routes.contains_key(peer)
                || self.is_dialing_where(peer, |a| a.port == port && a.host == text)
            {
                continue;
            }
            // Past our usual count, a dial replaces a lost link: it is
            // given back once the mesh is whole again.
            let healing = self.replacements > 0 || outgoing >= self.cfg.max_outgoing;
            let conn = self.connect(PeerAddr::new(text, port), now);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.expected = Some(peer.clone());
                c.healing = healing;
            }
            outgoing = self.outgoing_count();
        }
        true
    }

    /// Whether a connection not yet handshaken is headed for this peer or address.
    pub(crate) fn is_dialing(&self, peer: &PeerId, addr: &PeerAddr) -> bool {
        self.is_dialing_where(peer, |a| a == addr)
    }

    /// [`Mesh::is_dialing`] for a remembered address.
    pub(crate) fn is_dialing_known(&self, peer: &PeerId, addr: &KnownAddr) -> bool {
        self.is_dialing_where(peer, |a| addr.is(&a.host, a.port))
    }

    /// Whether a connection not yet handshaken is headed for this peer or an
    /// address `is_addr` matches.
    fn is_dialing_where(&self, peer: &PeerId, is_addr: impl Fn(&PeerAddr) -> bool) -> bool {
        self.conns.values().any(|c| {
            !c.handshaken()
                && c.outgoing
                && (c.expected.as_ref() == Some(peer) || c.addr.as_ref().is_some_and(&is_addr))
        })
    }

    /// `[request, "*"]` (peers) or `[request, request_id, target_id]` (route).
    pub(crate) fn handle_request(&mut self, msg: &Message, now: Instant) -> bool {
        match msg.packets.as_slice() {
            [_, star] if star.as_str_or_bin().is_some_and(|s| &s[..] == b"*") => {
                self.send_peers(msg.conn, now);
            }
            [_, request_id, target] => {
                let Some(target) = target.as_str_or_bin() else {
                    return true;
                };
                let target = PeerId(target.clone());
                let addr = self
                    .routes
                    .get(&target)
                    .and_then(|c| self.conns.get(c))
                    .and_then(|c| c.peer_addr.clone());
                if let Some(addr) = addr {
                    // A broadcast on the asking link only: it floods back from there.
                    let payload = vec![
                        Value::from(SubFlag::Response.value()),
                        request_id.clone(),
                        Value::Array(vec![addr_value(&addr), Value::Bin(target.0)]),
                    ];
                    let _ =
                        self.send_on(msg.conn, MainFlag::Broadcast.value().into(), payload, now);
                }
            }
            _ => {}
        }
        true
    }

    /// `[response, request_id, [[host, port], target_id]]`: a route for a reply we hold.
    pub(crate) fn handle_response(&mut self, msg: &Message, now: Instant) -> bool {
        let [_, request_id, route] = msg.packets.as_slice() else {
            return true;
        };
        let Some(key) = request_id.as_str_or_bin() else {
            return true;
        };
        let Some(pending) = self.requested.remove(key) else {
            return true;
        };
        let route = route.as_array().and_then(|r| match r {
            [addr, id] => Some((parse_addr(addr)?, PeerId(id.as_str_or_bin()?.clone()))),
            _ => None,
        });
        let Some((addr, target)) = route.filter(|(_, id)| *id == pending.target) else {
            // Not a route to whom we wait for: keep waiting.
            self.requested.insert(Bytes::copy_from_slice(key), pending);
            return true;
        };
        if let Some(&conn) = self.routes.get(&target) {
            let _ = self.send_on(conn, MainFlag::Whisper.value().into(), pending.packets, now);
            return true;
        }
        let dial = !self.is_dialing(&target, &addr);
        self.awaiting
            .entry(target.clone())
            .or_default()
            .push(pending);
        if dial {
            let conn = self.connect(addr, now);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.expected = Some(target);
            }
        }
        true
    }

    /// Replies that waited for this peer's handshake.
    fn flush_awaiting(&mut self, peer: &PeerId, now: Instant) {
        let Some(waiting) = self.awaiting.remove(peer) else {
            return;
        };
        let Some(&conn) = self.routes.get(peer) else {
            return;
        };
        for p in waiting {
            let _ = self.send_on(conn, MainFlag::Whisper.value().into(), p.packets, now);
        }
    }

    /// `[compression, [methods...]]` and `[resend]`.
    pub(crate) fn handle_renegotiate(&mut self, conn: ConnId, d: &Decoded, now: Instant) {
        let raw = d
            .frame
            .payload
            .first()
            .and_then(Value::as_int)
            .and_then(|i| i.as_u64());
        if let Some(sub @ (lazy::IHAVE | lazy::GRAFT | lazy::PRUNE)) = raw {
            self.handle_lazy(conn, sub, d, now);
            return;
        }
        if let Some(sub @ (trim::ASK | trim::AGREE | trim::DECLINE)) = raw {
            self.handle_trim(conn, sub, now);
            return;
        }
        match raw.and_then(|v| SubFlag::try_from(v).ok()) {
            Some(SubFlag::Compression) => {
                let Some(methods) = d.frame.payload.get(1).and_then(parse_methods) else {
                    return;
                };
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                if c.peer_compression == methods {
                    return;
                }
                c.peer_compression = methods.clone();
                // Answer with what we accept of theirs; both converge on it.
                let ours: Vec<Value> = self
                    .cfg
                    .compression
                    .iter()
                    .filter(|m| m.is_supported() && methods.contains(m))
                    .map(|m| Value::from(m.flag()))
                    .collect();
                let payload = vec![
                    Value::from(SubFlag::Compression.value()),
                    Value::Array(ours),
                ];
                self.send_plain(conn, MainFlag::Renegotiate, payload, now);
            }
            Some(SubFlag::Resend) => {
                // The last frame again, re-framed for the current compression
                // (py2p re-sends the payload as a new message and loses its sub-flag).
                let last = self.conns.get(&conn).and_then(|c| c.last_sent);
                let Some(body) = last.and_then(|r| self.sent.get(r)).cloned() else {
                    return;
                };
                self.send_body_to(&[conn], body, Variants::new(None), true, now);
            }
            _ => {}
        }
    }
}
