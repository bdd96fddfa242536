//! Binding, protocol rejection and closing, over real sockets on loopback,
//! each under async-std and under smol.
//! (A graceful close flushing a queued broadcast is in the conformance
//! suite, `mesh_tests::conformance`, on every adapter.)

#[macro_use]
mod common;

use std::time::Duration;

use common::{link, node, quiet, sleep, wait_routes, within};
use futures_lite::StreamExt;
use mesh_async_std::{Event, MeshSocket, PeerAddr, RejectReason, SendError, Value};

on_both!(
    port_0_reports_and_advertises_the_real_port,
    subnet_mismatch_leaves_both_routing_tables_empty,
    close_twice_is_an_error_and_ends_everything,
    dropping_every_handle_closes_the_node,
    the_executor_thread_ends_after_close,
);

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
            if let Some(Event::PeerUp { peer, addr, .. }) = events.next().await {
                return (peer, addr);
            }
        }
    })
    .await;
    assert_eq!(&peer, a.id());
    assert_eq!(addr, PeerAddr::new("127.0.0.1", port));
}

async fn subnet_mismatch_leaves_both_routing_tables_empty() {
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
    sleep(Duration::from_millis(300)).await;
    assert!(a.routes().await.is_empty());
    assert!(b.routes().await.is_empty());
    let rejected = a.counters().await.rejected.protocol_mismatch
        + b.counters().await.rejected.protocol_mismatch;
    assert!(rejected >= 1);
}

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
    while within(events.next()).await.is_some() {}
    assert!(
        a.events().next().await.is_none(),
        "a new stream ends at once"
    );
    assert!(a.routes().await.is_empty());
    wait_routes(&b, &[]).await;
    // The listener is gone too.
    assert!(async_net::TcpStream::connect(a.local_addr()).await.is_err());
}

async fn dropping_every_handle_closes_the_node() {
    let (a, b) = (node().await, node().await);
    link(&a, &b, &[b.id()], &[a.id()]).await;
    let port = a.local_addr().port();
    let a2 = a.clone();
    drop(a);
    // A clone keeps it open.
    sleep(Duration::from_millis(100)).await;
    assert_eq!(b.routes().await.len(), 1);
    drop(a2);
    wait_routes(&b, &[]).await;
    within(async {
        while async_net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Whether this process has a thread named `name` (Linux: `/proc`).
fn has_thread(name: &str) -> bool {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .any(|comm| comm.trim_end() == name)
}

async fn the_executor_thread_ends_after_close() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let (a, b) = (node().await, node().await);
    link(&a, &b, &[b.id()], &[a.id()]).await;
    let thread = format!("mesh@{}", a.local_addr().port());
    assert!(has_thread(&thread), "bind starts {thread}");
    within(a.close()).await.expect("close");
    // b sees the close and hangs up too, so no reader lingers: once the last
    // handle is gone, nothing is left to run.
    wait_routes(&b, &[]).await;
    drop(a);
    within(async {
        while has_thread(&thread) {
            sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}
