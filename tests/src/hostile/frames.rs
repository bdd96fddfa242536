//! Hand-made frames and msgpack bodies: length headers, raw bodies, deep
//! nesting, a TLS ClientHello, peer-list entries.

use bytes::Bytes;
use mesh_proto::wire::{Value, frame_body};

use super::util::{bin, garbage};

// ----- frames ----------------------------------------------------------------

/// A whole frame around `body` (checksum right, no compression).
pub fn framed(body: &[u8]) -> Bytes {
    frame_body(body, None).expect("frame").0
}

/// A frame header announcing `len` bytes, followed by `rest`.
pub fn header_then(len: u32, rest: &[u8]) -> Vec<u8> {
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(rest);
    out
}

/// A body `[0, b"id", 1764000000, <rest>]` in raw msgpack, its array
/// claiming `extra_items` items after the three header fields.
pub fn body_with(extra_items: u8, rest: &[u8]) -> Vec<u8> {
    let mut b = vec![
        0x90 + 3 + extra_items,
        0x00,
        0xc4,
        0x02,
        b'i',
        b'd',
        0xce,
        0x69,
        0x24,
        0x81,
        0x00,
    ];
    b.extend_from_slice(rest);
    b
}

/// [`body_with`] one packet: `depth - 1` nested one-item arrays around an
/// empty one (the body array is depth 1).
pub fn nested(depth: usize) -> Vec<u8> {
    let mut rest = vec![0x91; depth - 1];
    rest.push(0x90);
    body_with(1, &rest)
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
