//! Built without the `tls` feature, binding with py2p's "SSL" encryption
//! fails at once instead of talking plaintext.
#![cfg(not(feature = "tls"))]

use std::io;

use mesh_async_std::{Encryption, MeshSocket, Protocol};

#[test]
fn ssl_is_unsupported_without_the_tls_feature() {
    let bound = smol::block_on(MeshSocket::bind(
        "127.0.0.1",
        0,
        Protocol::new("tls-test", Encryption::Ssl),
        None,
    ));
    let error = bound.expect_err("SSL needs the tls feature");
    assert_eq!(error.kind(), io::ErrorKind::Unsupported);
}
