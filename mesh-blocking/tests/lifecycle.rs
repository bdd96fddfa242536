//! Binding, protocol rejection and closing, over real sockets on loopback.
//! (A graceful close flushing a queued broadcast is in the conformance
//! suite, `mesh_tests::conformance`, on every adapter.)

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::{LIMIT, link, node, quiet, wait_event, wait_routes};
use mesh_blocking::{Event, MeshSocket, PeerAddr, RejectReason, SendError, Value};

#[test]
fn port_0_reports_and_advertises_the_real_port() {
    let a = node();
    let port = a.local_addr().port();
    assert_ne!(port, 0);
    assert_eq!(a.out_addr(), &PeerAddr::new("127.0.0.1", port));

    // A wildcard bind advertises loopback with the real port.
    let w = MeshSocket::bind("0.0.0.0", 0, common::proto("test"), None).expect("bind");
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
    .expect("bind");
    assert_eq!(o.out_addr(), &PeerAddr::new("example.invalid", 4444));

    // The port is really ours, and peers learn it from the handshake.
    let b = node();
    let events = b.events();
    b.connect("127.0.0.1", port).expect("connect");
    let (peer, addr) = wait_event(&events, |e| match e {
        Event::PeerUp { peer, addr, .. } => Some((peer, addr)),
        _ => None,
    });
    assert_eq!(&peer, a.id());
    assert_eq!(addr, PeerAddr::new("127.0.0.1", port));
}

#[test]
fn subnet_mismatch_leaves_both_routing_tables_empty() {
    let a = quiet("alpha").bind("127.0.0.1", 0).expect("bind");
    let b = quiet("beta").bind("127.0.0.1", 0).expect("bind");
    let events = a.events();
    a.connect("127.0.0.1", b.local_addr().port())
        .expect("tcp connect works");

    let reason = wait_event(&events, |e| match e {
        Event::Rejected { reason, .. } => Some(reason),
        _ => None,
    });
    assert!(
        matches!(reason, RejectReason::ProtocolMismatch { .. }),
        "{reason:?}"
    );
    // Give any handshake time to (wrongly) land, then look.
    std::thread::sleep(Duration::from_millis(300));
    assert!(a.routes().is_empty());
    assert!(b.routes().is_empty());
    let rejected =
        a.counters().rejected.protocol_mismatch + b.counters().rejected.protocol_mismatch;
    assert!(rejected >= 1);
}

#[test]
fn close_twice_is_an_error_and_ends_everything() {
    let (a, b) = (node(), node());
    link(&a, &b, &[b.id()], &[a.id()]);
    let events = a.events();

    assert_eq!(a.close(), Ok(()));
    assert_eq!(a.close(), Err(SendError::Closed));
    assert_eq!(a.send(vec![Value::from("late")]), Err(SendError::Closed));
    assert!(a.connect("127.0.0.1", b.local_addr().port()).is_err());
    assert!(a.recv_timeout(LIMIT).is_none(), "receives end after close");
    // The event receiver ends (it only had what came before the close).
    let rest: Vec<Event> = events.collect();
    assert!(rest.len() < 16, "{rest:?}");
    assert!(a.routes().is_empty());
    wait_routes(&b, &[]);
    // The listener is gone too.
    assert!(TcpStream::connect(a.local_addr()).is_err());
}

#[test]
fn dropping_the_last_handle_closes() {
    let (a, b) = (node(), node());
    link(&a, &b, &[b.id()], &[a.id()]);
    let clone = a.clone();
    drop(a);
    // A clone keeps it open...
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(b.routes().len(), 1);
    // ...and the last one closes it.
    let addr = clone.local_addr();
    drop(clone);
    wait_routes(&b, &[]);
    common::within("the listener to close", || {
        TcpStream::connect(addr).is_err().then_some(())
    });
}

#[cfg(not(feature = "tls"))]
#[test]
fn ssl_needs_the_tls_feature() {
    let ssl = mesh_blocking::Protocol::new("test", mesh_blocking::Encryption::Ssl);
    let err = MeshSocket::bind("127.0.0.1", 0, ssl, None).expect_err("no TLS without the feature");
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
}
