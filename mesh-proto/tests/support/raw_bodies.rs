//! Frames around hand-written msgpack bodies, for the malformed-input tables
//! here and the hostile-peer suite in `tests/` (which includes this file by
//! path): one copy of the bytes both feed the parser.

use bytes::Bytes;
use mesh_proto::wire::frame_body;

/// A whole frame around `body` (checksum right, no compression), whatever
/// the body holds.
pub fn framed(body: &[u8]) -> Bytes {
    frame_body(body, None).expect("frame").0
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
