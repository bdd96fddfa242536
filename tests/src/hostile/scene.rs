//! [`Scene`]: the victim and two honest nodes linked to it, with the
//! checks every scenario makes on them.

use std::time::Instant;

use mesh_proto::mesh::{Config, ConnId, Event, PeerId, RejectReason};
use mesh_proto::wire::{Compression, Encryption, Protocol, WireError};

use super::attacker::Attacker;
use super::util::{bin, expect_payload, tag, wait_until};
use super::{HANDSHAKE_TIMEOUT, LIMIT, MAX_DECOMPRESSED, STALL_TIMEOUT, SUBNET};
use crate::nodes::{Adapter, EventQueue, Node};

// ----- the scene -------------------------------------------------------------

/// The victim's settings every scene starts from: no dials of its own,
/// short handshake and stall timeouts, a 1 MiB decompression cap.
pub fn victim_config(c: &mut Config) {
    c.max_outgoing = 0;
    c.handshake_timeout = HANDSHAKE_TIMEOUT;
    c.stall_timeout = STALL_TIMEOUT;
    c.limits.max_decompressed = MAX_DECOMPRESSED;
}

/// An honest node's settings: the defaults, no dials of its own.
pub fn honest_config(c: &mut Config) {
    c.max_outgoing = 0;
}

/// The victim, two honest nodes linked to it (a - victim - b), and the
/// victim's events from then on.
pub struct Scene {
    /// The node under attack.
    pub victim: Box<dyn Node>,
    /// An honest node that dialed the victim.
    pub a: Box<dyn Node>,
    /// Another honest node that dialed the victim.
    pub b: Box<dyn Node>,
    /// The victim's events, from once a and b are linked.
    pub events: Box<dyn EventQueue>,
    /// What every node of the scene speaks.
    pub protocol: Protocol,
    extra_nodes: Vec<Box<dyn Node>>,
}

impl std::fmt::Debug for Scene {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scene")
            .field("victim", &self.victim.id())
            .finish_non_exhaustive()
    }
}

impl Scene {
    /// A plaintext scene whose victim has [`victim_config`] then `tweak`.
    pub fn new(adapter: &dyn Adapter, tweak: impl FnOnce(&mut Config) + Send + 'static) -> Scene {
        Scene::with(adapter, Encryption::Plaintext, tweak)
    }

    /// A scene speaking `enc`.
    pub fn with(
        adapter: &dyn Adapter,
        enc: Encryption,
        tweak: impl FnOnce(&mut Config) + Send + 'static,
    ) -> Scene {
        let protocol = Protocol::new(SUBNET, enc);
        let victim = adapter
            .bind(
                protocol.clone(),
                Box::new(move |c: &mut Config| {
                    victim_config(c);
                    tweak(c);
                }),
            )
            .expect("bind the victim");
        let a = adapter
            .bind(protocol.clone(), Box::new(honest_config))
            .expect("bind a");
        let b = adapter
            .bind(protocol.clone(), Box::new(honest_config))
            .expect("bind b");
        link(&*a, &*victim);
        link(&*b, &*victim);
        let events = victim.events();
        Scene {
            victim,
            a,
            b,
            events,
            protocol,
            extra_nodes: Vec::new(),
        }
    }

    /// Another honest node on the scene's protocol (closed with the scene).
    pub fn extra_node(&mut self, adapter: &dyn Adapter) -> usize {
        let n = adapter
            .bind(self.protocol.clone(), Box::new(honest_config))
            .expect("bind");
        self.extra_nodes.push(n);
        self.extra_nodes.len() - 1
    }

    /// An extra node made by [`extra_node`](Self::extra_node).
    pub fn extra(&self, i: usize) -> &dyn Node {
        &*self.extra_nodes[i]
    }

    /// The victim's protocol id.
    pub fn protocol_id(&self) -> String {
        self.protocol.id()
    }

    /// Honest traffic crosses the victim both ways: a broadcast from a
    /// reaches b and the victim, one from b reaches a.
    pub fn honest_traffic(&self, when: &str) {
        let from_a = tag("from a");
        self.a.send(vec![bin(&from_a)]).expect("a sends");
        expect_payload(&*self.b, &from_a, &format!("{when}: a's broadcast at b"));
        expect_payload(
            &*self.victim,
            &from_a,
            &format!("{when}: a's broadcast at the victim"),
        );
        let from_b = tag("from b");
        self.b.send(vec![bin(&from_b)]).expect("b sends");
        expect_payload(&*self.a, &from_b, &format!("{when}: b's broadcast at a"));
    }

    /// The first of the victim's events that `pick` takes; fails after
    /// [`LIMIT`] or if the stream ends.
    pub fn wait_event<T>(&mut self, what: &str, mut pick: impl FnMut(Event) -> Option<T>) -> T {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.next(left) {
                Ok(Some(event)) => {
                    if let Some(found) = pick(event) {
                        return found;
                    }
                }
                Ok(None) => panic!("{what}: the victim's events ended"),
                Err(_) => panic!("{what}: no such event within {LIMIT:?}"),
            }
        }
    }

    /// Connects an attacker that completes a valid handshake advertising
    /// `methods`; returns once the victim has it in its routing table.
    pub fn join(&mut self, methods: &[Compression]) -> Attacker {
        let mut at = Attacker::connect(self.victim.port());
        let hs = at.handshake(&self.protocol_id(), methods);
        at.send(&hs).expect("send the handshake");
        let id = PeerId::from(at.id.as_str());
        let conn = self.wait_event("the attacker's PeerUp", |e| match e {
            Event::PeerUp { conn, peer, .. } if peer == id => Some(conn),
            _ => None,
        });
        at.conn = Some(conn);
        at
    }

    /// The victim's `ProtocolViolation` for `conn` (any connection if
    /// `None`): its error.
    pub fn violation(&mut self, conn: Option<ConnId>, what: &str) -> WireError {
        self.wait_event(what, |e| match e {
            Event::ProtocolViolation { conn: c, error } if conn.is_none_or(|k| k == c) => {
                Some(error)
            }
            _ => None,
        })
    }

    /// The victim's `Rejected` for `conn` (any connection if `None`): its
    /// connection and reason.
    pub fn rejection(&mut self, conn: Option<ConnId>, what: &str) -> (ConnId, RejectReason) {
        self.wait_event(what, |e| match e {
            Event::Rejected { conn: c, reason } if conn.is_none_or(|k| k == c) => Some((c, reason)),
            _ => None,
        })
    }

    /// The victim's `PeerDown` for `peer`.
    pub fn peer_down(&mut self, peer: &str, what: &str) {
        let peer = PeerId::from(peer);
        self.wait_event(what, |e| match e {
            Event::PeerDown { peer: p, .. } if p == peer => Some(()),
            _ => None,
        });
    }

    /// Fails unless the victim's routing table is exactly a and b (plus
    /// `more`).
    pub fn assert_routes(&self, more: &[&PeerId], what: &str) {
        let mut want: Vec<PeerId> = vec![self.a.id(), self.b.id()];
        want.extend(more.iter().map(|p| (*p).clone()));
        want.sort();
        let mut have = self.victim.routes();
        have.sort();
        assert_eq!(have, want, "{what}: the victim's routing table");
    }

    /// Closes every node of the scene.
    pub fn close(self) {
        for n in [&self.victim, &self.a, &self.b]
            .into_iter()
            .chain(self.extra_nodes.iter())
        {
            n.close().expect("close");
        }
    }
}

/// `from` dials `to`; returns once each is in the other's routing table.
pub fn link(from: &dyn Node, to: &dyn Node) {
    from.connect(to.port()).expect("connect");
    let (f, t) = (from.id(), to.id());
    wait_until("a handshake", LIMIT, || {
        from.routes().contains(&t) && to.routes().contains(&f)
    });
}
