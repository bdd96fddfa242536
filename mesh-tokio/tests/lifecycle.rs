//! Binding, protocol rejection and closing, over real sockets on loopback.
//! (A graceful close flushing a queued broadcast is in the conformance
//! suite, `mesh_tests::conformance`, on every adapter.)

mod common;

use std::time::Duration;

use common::{link, node, quiet, wait_routes, within};
use mesh_tokio::{Event, MeshSocket, PeerAddr, RejectReason, SendError, Value};

#[tokio::test]
async fn port_0_reports_and_advertises_the_real_port() {
    let a = node().await;
    let port = a.local_addr().port();
    assert_ne!(port, 0);
    assert_eq!(a.out_addr(), &PeerAddr::new("127.0.0.1", port));

    // A wildcard bind advertises loopback with the real port.
    let w = MeshSocket::bind("0.0.0.0", 0, common::proto("test"), None)
        .await
        .expect("bind");
    assert_ne!(w.local_addr().port(), 0);
    assert_eq!(
        w.out_addr(),
        &PeerAddr::new("127.0.0.1", w.local_addr().port())
    );
    // An explicit out_addr is advertised as given.
    let o = MeshSocket::bind(
        "127.0.0.1",
        0,
        common::proto("test"),
        Some(("example.invalid".into(), 4444)),
    )
    .await
    .expect("bind");
    assert_eq!(o.out_addr(), &PeerAddr::new("example.invalid", 4444));

    // The port is really ours, and peers learn it from the handshake.
    let b = node().await;
    let mut events = b.events();
    within(b.connect("127.0.0.1", port)).await.expect("connect");
    let (peer, addr) = within(async {
        loop {
            if let Some(Event::PeerUp { peer, addr, .. }) = events.recv().await {
                return (peer, addr);
            }
        }
    })
    .await;
    assert_eq!(&peer, a.id());
    assert_eq!(addr, PeerAddr::new("127.0.0.1", port));
}

#[tokio::test]
async fn protocol_mismatch_leaves_both_routing_tables_empty() {
    let a = quiet("alpha").bind("127.0.0.1", 0).await.expect("bind");
    let b = quiet("beta").bind("127.0.0.1", 0).await.expect("bind");
    let mut events = a.events();
    within(a.connect("127.0.0.1", b.local_addr().port()))
        .await
        .expect("tcp connect works");

    let reason = within(async {
        loop {
            if let Some(Event::Rejected { reason, .. }) = events.recv().await {
                return reason;
            }
        }
    })
    .await;
    assert!(
        matches!(reason, RejectReason::ProtocolMismatch { .. }),
        "{reason:?}"
    );
    // Give any handshake time to (wrongly) land, then look.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(a.routes().await.is_empty());
    assert!(b.routes().await.is_empty());
    let rejected = a.counters().await.rejected.protocol_mismatch
        + b.counters().await.rejected.protocol_mismatch;
    assert!(rejected >= 1);
}

#[tokio::test]
async fn close_twice_is_an_error_and_ends_everything() {
    let (a, b) = (node().await, node().await);
    link(&a, &b, &[b.id()], &[a.id()]).await;
    let mut events = a.events();

    assert_eq!(a.close().await, Ok(()));
    assert_eq!(a.close().await, Err(SendError::Closed));
    assert_eq!(
        a.send(vec![Value::from("late")]).await,
        Err(SendError::Closed)
    );
    assert!(a.connect("127.0.0.1", b.local_addr().port()).await.is_err());
    assert!(within(a.next()).await.is_none(), "next ends after close");
    while within(events.recv()).await.is_some() {}
    assert!(a.routes().await.is_empty());
    wait_routes(&b, &[]).await;
    // The listener is gone too.
    assert!(
        tokio::net::TcpStream::connect(a.local_addr())
            .await
            .is_err()
    );
}
