//! A handshake burst on real sockets: 64 peers (the default `max_inbound`,
//! twice `max_pending_handshakes`) connect to a fresh node at once, each
//! sending its handshake at once, as a restarted hub's old peers do: every
//! one is accepted on the first try.

mod common;

use std::time::{Duration, Instant};

use common::within;
use mesh_tokio::mesh_proto::mesh::{Config, Mesh, Output};
use mesh_tokio::{Event, MeshSocket, PeerAddr};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The handshake peer `i` sends to `hub` (from a throwaway core).
fn handshake(i: u16, hub: &PeerAddr) -> bytes::Bytes {
    let t0 = Instant::now();
    let cfg = Config::new(
        common::proto("burst"),
        PeerAddr::new("127.0.0.1", 30_000 + i),
    );
    let mut m = Mesh::new(
        cfg,
        u64::from(i) + 1,
        t0,
        Duration::from_secs(1_764_000_000),
    );
    let conn = m.connect(hub.clone(), t0);
    m.handle_dialed(conn, true, t0);
    std::iter::from_fn(|| m.poll_output())
        .find_map(|o| match o {
            Output::Transmit { bytes, .. } => Some(bytes),
            _ => None,
        })
        .expect("a handshake")
}

#[tokio::test]
async fn sixty_four_handshakes_at_once_are_all_accepted() {
    let hub = MeshSocket::builder(common::proto("burst"))
        .config(|c: &mut Config| c.max_outgoing = 0)
        .bind("127.0.0.1", 0)
        .await
        .expect("bind");
    let addr = PeerAddr::new("127.0.0.1", hub.local_addr().port());
    let mut events = hub.events();
    let frames: Vec<_> = (0..64).map(|i| handshake(i, &addr)).collect();
    // Connect all, then write all: every handshake is in flight before
    // the node has read the first.
    let mut clients = Vec::new();
    for _ in &frames {
        clients.push(
            TcpStream::connect(("127.0.0.1", addr.port))
                .await
                .expect("connect"),
        );
    }
    for (c, f) in clients.iter_mut().zip(&frames) {
        c.write_all(f).await.expect("write");
    }
    let (mut up, mut rejected) = (0, 0);
    within(async {
        while up < 64 {
            match events.recv().await {
                Some(Event::PeerUp { .. }) => up += 1,
                Some(Event::Rejected { .. }) => rejected += 1,
                Some(_) => {}
                None => break,
            }
        }
    })
    .await;
    assert_eq!((up, rejected), (64, 0));
    assert_eq!(hub.routes().await.len(), 64);
}
