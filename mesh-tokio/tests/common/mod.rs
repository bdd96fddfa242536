//! Helpers shared by the test binaries: nodes on 127.0.0.1 port 0, bounded waits.
#![allow(dead_code)]

use std::time::Duration;

use mesh_tokio::{Builder, Config, Encryption, MeshSocket, PeerId, Protocol};

/// Every wait in these tests is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(15);

pub fn proto(subnet: &str) -> Protocol {
    Protocol::new(subnet, Encryption::Plaintext)
}

/// Fails the test if `f` does not finish within [`LIMIT`].
pub async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("timed out waiting")
}

/// A node that never dials on its own (`max_outgoing = 0`), so the topology
/// is exactly the links a test makes.
pub fn quiet(subnet: &str) -> Builder {
    MeshSocket::builder(proto(subnet)).config(|c: &mut Config| c.max_outgoing = 0)
}

pub async fn node() -> MeshSocket {
    quiet("test").bind("127.0.0.1", 0).await.expect("bind")
}

/// Waits until `sock`'s routing table holds exactly `peers` (in any order).
pub async fn wait_routes(sock: &MeshSocket, peers: &[&PeerId]) {
    let mut want: Vec<PeerId> = peers.iter().map(|p| (*p).clone()).collect();
    want.sort();
    within(async {
        loop {
            let mut have = sock.routes().await;
            have.sort();
            if have == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// `from` dials `to`; returns once both have the other in their routes.
pub async fn link(
    from: &MeshSocket,
    to: &MeshSocket,
    from_peers: &[&PeerId],
    to_peers: &[&PeerId],
) {
    within(from.connect("127.0.0.1", to.local_addr().port()))
        .await
        .expect("connect");
    wait_routes(from, from_peers).await;
    wait_routes(to, to_peers).await;
}
