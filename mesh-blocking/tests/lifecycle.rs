//! Dropping the last handle closes the node; TLS needs its feature.
//! (Binding, protocol rejection, closing and a graceful close are in the
//! conformance suite, `mesh_tests::conformance`, on every adapter.)

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::{link, node, wait_routes};

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
    let err = mesh_blocking::MeshSocket::bind("127.0.0.1", 0, ssl, None)
        .expect_err("no TLS without the feature");
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
}
