//! py2p's built-in handlers: handshake, peers, request, response, and the
//! renegotiate messages.

use std::cmp::Ordering;
use std::time::Instant;

use bytes::Bytes;

use crate::wire::{Compression, Decoded, MainFlag, SubFlag, Value, compare_base58_ints};

use super::outbound::addr_value;
use super::{ConnId, Event, Mesh, Message, PeerAddr, PeerId, RejectReason};

/// `[host, port]` with host str or bin and port an integer that fits.
fn parse_addr(v: &Value) -> Option<PeerAddr> {
    let [host, port] = v.as_array()? else {
        return None;
    };
    let host = std::str::from_utf8(host.as_str_or_bin()?).ok()?;
    let port = u16::try_from(port.as_int()?.as_u64()?).ok()?;
    Some(PeerAddr::new(host, port))
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

impl Mesh {
    /// `[handshake, id, protocol_id, [host, port], [methods...]]`.
    pub(crate) fn handle_handshake(&mut self, msg: &Message, now: Instant) -> bool {
        let conn = msg.conn;
        let [_, id, proto, addr, methods] = msg.packets.as_slice() else {
            return false;
        };
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
        c.peer_compression = methods;
        let was_empty = self.routes.is_empty();
        self.routes.insert(peer.clone(), conn);
        self.remember(peer.clone(), addr.clone());
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
        self.lost.retain(|a, (p, _)| {
            p.as_ref() != Some(&peer) && *a != addr && Some(a) != dialed.as_ref()
        });
        self.send_peers(conn, now);
        self.flush_awaiting(&peer, now);
        if outgoing {
            self.replacements = self.replacements.saturating_sub(1);
        }
        if self.outgoing_count() >= self.target_outgoing() {
            self.heal_attempt = 0;
        } else {
            // Short of links (a small first peer list): keep asking, with backoff.
            self.schedule_heal(now);
        }
        true
    }

    /// Keeps an address for healing, bounded.
    fn remember(&mut self, peer: PeerId, addr: PeerAddr) {
        // Peer lists mostly repeat what we know: one lookup, nothing replaced.
        if self.known.get(&peer) == Some(&addr) {
            return;
        }
        if self.cfg.max_known_addrs == 0 {
            // Nothing to evict: a cap of 0 remembers nothing.
            return;
        }
        if self.known.len() >= self.cfg.max_known_addrs && !self.known.contains_key(&peer) {
            // Forget a random one so the set keeps turning over.
            let start = PeerId(Bytes::from(super::outbound::random_id_text(&mut self.rng)));
            let victim = self
                .known
                .range(start..)
                .next()
                .or_else(|| self.known.iter().next())
                .map(|(p, _)| p.clone());
            if let Some(victim) = victim {
                self.known.remove(&victim);
            }
        }
        self.known.insert(peer, addr);
    }

    /// `[peers, [[[host, port], id], ...]]`: dial the ones we do not know
    /// while outgoing connections are below `max_outgoing`.
    pub(crate) fn handle_peers(&mut self, msg: &Message, now: Instant) -> bool {
        let Some(list) = msg.packets.get(1).and_then(Value::as_array) else {
            return true;
        };
        let mut entries: Vec<(PeerId, PeerAddr)> = list
            .iter()
            .take(self.cfg.max_peers_per_list)
            .filter_map(|e| {
                let [addr, id] = e.as_array()? else {
                    return None;
                };
                Some((PeerId(id.as_str_or_bin()?.clone()), parse_addr(addr)?))
            })
            .filter(|(id, _)| *id != self.id)
            .collect();
        self.rng.shuffle(&mut entries);
        for (peer, addr) in entries {
            self.remember(peer.clone(), addr.clone());
            if self.outgoing_count() >= self.target_outgoing() {
                continue;
            }
            if self.routes.contains_key(&peer) || self.is_dialing(&peer, &addr) {
                continue;
            }
            let conn = self.connect(addr, now);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.expected = Some(peer);
            }
        }
        true
    }

    /// Whether a connection not yet handshaken is headed for this peer or address.
    pub(crate) fn is_dialing(&self, peer: &PeerId, addr: &PeerAddr) -> bool {
        self.conns.values().any(|c| {
            !c.handshaken()
                && c.outgoing
                && (c.expected.as_ref() == Some(peer) || c.addr.as_ref() == Some(addr))
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
        let sub = d
            .frame
            .payload
            .first()
            .and_then(Value::as_int)
            .and_then(|i| i.as_u64())
            .and_then(|v| SubFlag::try_from(v).ok());
        match sub {
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
                let Some(body) = self.conns.get(&conn).and_then(|c| c.last_sent.clone()) else {
                    return;
                };
                self.send_body_to(&[conn], &body, None, true, now);
            }
            _ => {}
        }
    }
}
