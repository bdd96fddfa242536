//! The wire layer's errors: one variant per way a peer's bytes can be wrong.

use super::Compression;

/// Why bytes could not be turned into a frame (or a frame into bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
// Field names say what they hold (the limit, the value, the offset); the
// variant docs say the rest.
#[allow(missing_docs)]
pub enum WireError {
    /// The 4-byte header announced more than [`Limits::max_frame`](super::Limits::max_frame).
    #[error("frame of {len} bytes exceeds max_frame ({max})")]
    FrameTooLarge { len: usize, max: usize },
    /// Decompression produced more than [`Limits::max_decompressed`](super::Limits::max_decompressed).
    #[error("{method} output exceeds max_decompressed ({max})")]
    DecompressedTooLarge { method: Compression, max: usize },
    /// Nesting went deeper than [`Limits::max_depth`](super::Limits::max_depth).
    #[error("msgpack nesting depth {depth} exceeds max_depth ({max})")]
    TooDeep { depth: usize, max: usize },
    /// An array or map claimed more items than [`Limits::max_container_len`](super::Limits::max_container_len).
    #[error("msgpack container of {len} items exceeds max_container_len ({max})")]
    ContainerTooLong { len: usize, max: usize },
    /// More payload packets than [`Limits::max_packets`](super::Limits::max_packets).
    #[error("{count} packets exceed max_packets ({max})")]
    TooManyPackets { count: usize, max: usize },
    /// A whole frame was expected but the bytes end early.
    #[error("truncated frame: {needed} bytes needed, {available} available")]
    TruncatedFrame { needed: usize, available: usize },
    /// Bytes follow the end of a frame that was expected to stand alone.
    #[error("{extra} bytes after the end of the frame")]
    TrailingFrameBytes { extra: usize },
    /// The packet is shorter than the 32-byte checksum.
    #[error("packet of {len} bytes is shorter than the 32-byte checksum")]
    PacketTooShort { len: usize },
    /// No way of reading the packet (raw or any decompression) gave a body whose
    /// SHA-256 equals the checksum in front of it.
    #[error("checksum mismatch (tried raw and {tried} decompression method(s))")]
    ChecksumMismatch { tried: usize },
    /// The msgpack body ends in the middle of a value.
    #[error("msgpack body truncated at offset {offset}")]
    TruncatedBody { offset: usize },
    /// A container claims more items than there are bytes left to hold them.
    #[error("msgpack container at offset {offset} claims {len} items with {remaining} bytes left")]
    ContainerOverrun {
        offset: usize,
        len: usize,
        remaining: usize,
    },
    /// Bytes remain after the body's top-level array.
    #[error("{extra} bytes after the msgpack body")]
    TrailingBodyBytes { extra: usize },
    /// The body is not a msgpack array.
    #[error("body is not a msgpack array")]
    BodyNotArray,
    /// The body array has fewer than the 3 header fields.
    #[error("body has {got} fields, at least 3 (msg_type, sender, time) are required")]
    TooFewFields { got: usize },
    /// A header field has the wrong msgpack type.
    #[error("header field {field} must be {expected}")]
    BadHeaderField {
        field: &'static str,
        expected: &'static str,
    },
    /// A str is not valid UTF-8.
    #[error("invalid UTF-8 in msgpack str at offset {offset}")]
    InvalidUtf8 { offset: usize },
    /// msgpack ext types are not part of this protocol.
    #[error("msgpack ext type at offset {offset} is not supported")]
    ExtNotSupported { offset: usize },
    /// The reserved marker 0xc1.
    #[error("reserved msgpack marker 0xc1 at offset {offset}")]
    ReservedMarker { offset: usize },
    /// A compression flag we do not know.
    #[error("unknown compression flag {0:#04x}")]
    UnknownCompression(u64),
    /// A compression method known to the protocol but not built into this binary.
    #[error("{0} support is not compiled in")]
    CompressionUnavailable(Compression),
    /// A compressor or decompressor failed.
    #[error("{method} failed: {reason}")]
    Compression { method: Compression, reason: String },
    /// A value cannot be encoded (an integer outside msgpack's range, a length over 2^32-1).
    #[error("cannot encode: {0}")]
    Unencodable(&'static str),
}
