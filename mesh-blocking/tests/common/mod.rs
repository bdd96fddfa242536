//! Helpers shared by the test binaries: nodes on 127.0.0.1 port 0, bounded waits.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use mesh_blocking::{Builder, Config, Encryption, MeshSocket, Message, PeerId, Protocol, Value};

/// Every wait in these tests is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(15);

pub fn proto(subnet: &str) -> Protocol {
    Protocol::new(subnet, Encryption::Plaintext)
}

pub fn bin(b: &[u8]) -> Value {
    Value::from(b)
}

/// Polls `f` until it gives `Some`; fails the test after [`LIMIT`].
pub fn within<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(start.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The next message, within [`LIMIT`].
pub fn next(sock: &MeshSocket) -> Message {
    sock.recv_timeout(LIMIT)
        .expect("a message within the limit")
}

/// A node that never dials on its own (`max_outgoing = 0`), so the topology
/// is exactly the links a test makes.
pub fn quiet(subnet: &str) -> Builder {
    MeshSocket::builder(proto(subnet)).config(|c: &mut Config| c.max_outgoing = 0)
}

pub fn node() -> MeshSocket {
    quiet("test").bind("127.0.0.1", 0).expect("bind")
}

/// Waits until `sock`'s routing table holds exactly `peers` (in any order).
pub fn wait_routes(sock: &MeshSocket, peers: &[&PeerId]) {
    let mut want: Vec<PeerId> = peers.iter().map(|p| (*p).clone()).collect();
    want.sort();
    within("routes", || {
        let mut have = sock.routes();
        have.sort();
        (have == want).then_some(())
    });
}

/// `from` dials `to`; returns once both have the other in their routes.
pub fn link(from: &MeshSocket, to: &MeshSocket, from_peers: &[&PeerId], to_peers: &[&PeerId]) {
    from.connect("127.0.0.1", to.local_addr().port())
        .expect("connect");
    wait_routes(from, from_peers);
    wait_routes(to, to_peers);
}
