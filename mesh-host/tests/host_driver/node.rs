//! One driver with its fake runtime, the test's clock, and two nodes joined
//! by carrying each one's transmitted bytes to the other.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mesh_host::{Command, HostDriver, Input, IoEvent};
use mesh_proto::mesh::{Config, ConnId, Mesh, PeerAddr};
use mesh_proto::wire::{Encryption, Protocol};

use crate::fake_runtime::{Call, FakeRuntime, Slot, slot};

/// The one `Instant` the tests read; every other time is this plus a `Duration`.
#[allow(clippy::disallowed_methods)] // the test, not the core, owns a clock
pub fn base() -> Instant {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

pub fn at(secs: u64) -> Instant {
    base() + Duration::from_secs(secs)
}

/// Where node `n` says it listens.
pub fn addr(n: u16) -> PeerAddr {
    PeerAddr::new("10.0.0.1", 4000 + n)
}

pub type Driver = HostDriver<FakeRuntime>;

#[derive(Debug)]
pub struct Node {
    pub driver: Driver,
    pub rt: FakeRuntime,
}

impl Node {
    /// Node `n`, advertising [`addr`]`(n)`.
    pub fn new(n: u16) -> Node {
        Node::with(n, |_| {})
    }

    /// Node `n` with its core's config adjusted.
    pub fn with(n: u16, adjust: impl FnOnce(&mut Config)) -> Node {
        let mut cfg = Config::new(Protocol::new("hosttest", Encryption::Plaintext), addr(n));
        adjust(&mut cfg);
        let mesh = Mesh::new(
            cfg,
            u64::from(n),
            base(),
            Duration::from_secs(1_764_000_000),
        );
        Node {
            driver: HostDriver::new(mesh),
            rt: FakeRuntime::default(),
        }
    }

    pub fn step(&mut self, input: Input<FakeRuntime>, now: Instant) {
        self.driver.step(&mut self.rt, input, now);
    }

    pub fn command(&mut self, cmd: Command<FakeRuntime>, now: Instant) {
        self.step(Input::Command(cmd), now);
    }

    pub fn io(&mut self, event: IoEvent<()>, now: Instant) {
        self.step(Input::Io(event), now);
    }

    /// The runtime reports every byte queued on `conn` written.
    pub fn all_written(&mut self, conn: ConnId, now: Instant) {
        let n = self.driver.mesh().queued_bytes(conn);
        self.io(IoEvent::Written { conn, n }, now);
    }

    /// Asks to connect to `to`; returns the reply slot and the conn dialed.
    pub fn connect(&mut self, to: PeerAddr, now: Instant) -> (Slot<io::Result<ConnId>>, ConnId) {
        let reply = slot();
        self.command(
            Command::Connect {
                addr: to.clone(),
                reply: reply.clone(),
            },
            now,
        );
        let calls = self.rt.take_calls();
        let [Call::Dial(conn, dialed)] = calls.as_slice() else {
            panic!("expected one dial, got {calls:?}");
        };
        assert_eq!(dialed, &to);
        (reply, *conn)
    }

    /// The accept loop hands over a connection from `remote` (whose peer
    /// had already sent bytes if `speaking`).
    pub fn accepted(&mut self, remote: SocketAddr, speaking: bool, now: Instant) {
        self.io(
            IoEvent::Accepted {
                stream: (),
                remote,
                speaking,
            },
            now,
        );
    }

    /// An inbound connection from node `from`; the conn it got.
    pub fn accept(&mut self, from: u16, now: Instant) -> ConnId {
        let remote: SocketAddr = format!("10.0.0.2:{}", 4000 + from).parse().unwrap();
        self.accepted(remote, false, now);
        // Its handshake stays in the log for `pump` to carry.
        let calls = self.rt.take_matching(|c| !matches!(c, Call::Transmit(..)));
        let [Call::Open(conn)] = calls.as_slice() else {
            panic!("expected one open, got {calls:?}");
        };
        *conn
    }
}

/// Carries the bytes each side transmitted on its end of one link to the
/// other side until neither has anything more to say.
pub fn pump(a: &mut Node, ac: ConnId, b: &mut Node, bc: ConnId, now: Instant) {
    for _ in 0..100 {
        let to_b = a.rt.take_transmits(ac);
        let to_a = b.rt.take_transmits(bc);
        if to_a.is_empty() && to_b.is_empty() {
            return;
        }
        for bytes in to_b {
            b.io(IoEvent::Bytes { conn: bc, bytes }, now);
        }
        for bytes in to_a {
            a.io(IoEvent::Bytes { conn: ac, bytes }, now);
        }
    }
    panic!("the two nodes never went quiet");
}

/// Two nodes, both with `adjust` applied to their config, linked.
pub fn linked_pair_with(
    now: Instant,
    adjust: impl Fn(&mut Config),
) -> (Node, ConnId, Node, ConnId) {
    link(Node::with(1, &adjust), Node::with(2, &adjust), now)
}

/// Node 1 dialed node 2 and both finished the handshake: each side's conn.
pub fn linked_pair(now: Instant) -> (Node, ConnId, Node, ConnId) {
    link(Node::new(1), Node::new(2), now)
}

/// `a` (node 1) dials `b` (node 2) and both finish the handshake.
pub fn link(mut a: Node, mut b: Node, now: Instant) -> (Node, ConnId, Node, ConnId) {
    let (reply, ac) = a.connect(addr(2), now);
    a.io(
        IoEvent::Dialed {
            conn: ac,
            result: Ok(()),
        },
        now,
    );
    assert_eq!(reply.borrow_mut().take().unwrap().unwrap(), ac);
    let bc = b.accept(1, now);
    pump(&mut a, ac, &mut b, bc, now);
    assert_eq!(a.driver.mesh().peer_count(), 1, "node 1 sees node 2");
    assert_eq!(b.driver.mesh().peer_count(), 1, "node 2 sees node 1");
    (a, ac, b, bc)
}

/// Whether any of `calls` wrote bytes.
pub fn transmitted(calls: &[Call]) -> bool {
    calls.iter().any(|c| matches!(c, Call::Transmit(..)))
}
