//! Hand-made frames and msgpack bodies: length headers, raw bodies, deep
//! nesting, a TLS ClientHello, peer-list entries.

use mesh_proto::wire::Value;

use super::util::{bin, garbage};

// The same bodies as `mesh-proto`'s malformed-input tables, from one file.
#[path = "../../../mesh-proto/tests/support/raw_bodies.rs"]
mod raw_bodies;
pub use raw_bodies::{body_with, framed, nested};

// ----- frames ----------------------------------------------------------------

/// A frame header announcing `len` bytes, followed by `rest`.
pub fn header_then(len: u32, rest: &[u8]) -> Vec<u8> {
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(rest);
    out
}

/// A TLS 1.2 ClientHello record, as any TLS client opens with.
pub fn client_hello() -> Vec<u8> {
    let mut hello = vec![0x03, 0x03];
    hello.extend_from_slice(&garbage(7, 32)); // random
    hello.push(0); // no session id
    hello.extend_from_slice(&[0x00, 0x04, 0xc0, 0x2f, 0xc0, 0x30]); // two suites
    hello.extend_from_slice(&[0x01, 0x00]); // null compression
    hello.extend_from_slice(&[0x00, 0x00]); // no extensions
    let mut handshake = vec![0x01, 0x00, 0x00, hello.len() as u8];
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8];
    record.extend_from_slice(&handshake);
    record
}

/// One peer-list entry `[[host, port], id]`.
pub fn peer_entry(host: &str, port: u16, id: &[u8]) -> Value {
    Value::Array(vec![
        Value::Array(vec![Value::from(host), Value::from(port)]),
        bin(id),
    ])
}
