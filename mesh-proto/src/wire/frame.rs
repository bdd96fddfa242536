//! Frames: `u32 length ++ compress?(sha256(body) ++ body)`, body a msgpack
//! array `[msg_type, sender, time, payload...]`.

use std::ops::DerefMut;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use sha2::{Digest, Sha256};

use super::msgpack::{
    Reader, Stop, bin_header_len, container_header_len, encoded_len, int_len, write_array_len,
    write_bin, write_int, write_value,
};
use super::{Compression, Integer, Limits, MsgId, Value, WireError};

/// Bytes of the length header in front of every frame.
pub const HEADER_LEN: usize = 4;
/// Bytes of the SHA-256 checksum in front of every body.
pub const CHECKSUM_LEN: usize = 32;

/// How the sender id was spelled on the wire. py2p on Python 3 writes bin;
/// other members of the protocol family write str. Both are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SenderForm {
    /// msgpack bin (what we and py2p send).
    #[default]
    Bin,
    /// msgpack str.
    Str,
}

/// The content of a frame: header fields and payload packets.
///
/// ```
/// use mesh_proto::wire::{decode_frame, Frame, Limits, Value};
/// let frame = Frame::new(0, "my-node-id", 1764000000, vec![Value::from(0u8), Value::from("hi")]);
/// let bytes = frame.encode(None).unwrap();
/// let decoded = decode_frame(bytes, &[], &Limits::default()).unwrap();
/// assert_eq!(decoded.frame, frame);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// The main flag ([`MainFlag`](super::MainFlag)) or an application type.
    pub msg_type: u64,
    /// The originator's node id (its base58 text).
    pub sender: Bytes,
    /// How `sender` was spelled on the wire (always sent as bin).
    pub sender_form: SenderForm,
    /// Unix seconds set by the originator.
    pub time: i64,
    /// The packets after the header; packet 0 is the sub-flag for protocol messages.
    pub payload: Vec<Value>,
}

/// A frame read off the wire, with what it takes to relay it unchanged.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// The parsed content.
    pub frame: Frame,
    /// The message id: SHA-256 of `body`, verified against the checksum.
    pub id: MsgId,
    /// The exact msgpack body, as received (after decompression).
    pub body: Bytes,
    /// The compression it arrived with, `None` for plain.
    pub compression: Option<Compression>,
}

impl Frame {
    /// A frame from its parts, with the sender written as bin.
    pub fn new(msg_type: u64, sender: impl Into<Bytes>, time: i64, payload: Vec<Value>) -> Frame {
        Frame {
            msg_type,
            sender: sender.into(),
            sender_form: SenderForm::Bin,
            time,
            payload,
        }
    }

    /// The msgpack body exactly as py2p would write it for the same content.
    pub fn encode_body(&self) -> Result<Vec<u8>, WireError> {
        let parts = self.parts();
        let mut out = Vec::with_capacity(parts.body_len());
        parts.write_body(&mut out)?;
        Ok(out)
    }

    pub(crate) fn parts(&self) -> FrameParts<'_> {
        FrameParts {
            msg_type: self.msg_type,
            sender: &self.sender,
            time: self.time,
            payload: [&self.payload, &[]],
        }
    }

    /// The whole frame (length header included), compressed with `compression`.
    pub fn encode(&self, compression: Option<Compression>) -> Result<Bytes, WireError> {
        Ok(self.encode_with_id(compression)?.0)
    }

    /// The whole frame and its message id.
    pub fn encode_with_id(
        &self,
        compression: Option<Compression>,
    ) -> Result<(Bytes, MsgId), WireError> {
        self.parts().encode_with_id(compression)
    }
}

/// A frame's content by reference, its payload in two runs: a sender puts
/// its sub-flag in front of the caller's packets without building a new list.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameParts<'a> {
    pub(crate) msg_type: u64,
    pub(crate) sender: &'a [u8],
    pub(crate) time: i64,
    pub(crate) payload: [&'a [Value]; 2],
}

impl FrameParts<'_> {
    fn packets(&self) -> impl Iterator<Item = &Value> {
        self.payload.iter().flat_map(|run| run.iter())
    }

    /// The exact length of the encoded body.
    pub(crate) fn body_len(&self) -> usize {
        container_header_len(self.payload[0].len() + self.payload[1].len() + 3)
            + int_len(Integer::from(self.msg_type))
            + bin_header_len(self.sender.len())
            + self.sender.len()
            + int_len(Integer::from(self.time))
            + self.packets().map(encoded_len).sum::<usize>()
    }

    pub(crate) fn write_body<B: BufMut>(&self, out: &mut B) -> Result<(), WireError> {
        write_array_len(out, self.payload[0].len() + self.payload[1].len() + 3)?;
        write_int(out, Integer::from(self.msg_type));
        write_bin(out, self.sender)?;
        write_int(out, Integer::from(self.time));
        for v in self.packets() {
            write_value(out, v)?;
        }
        Ok(())
    }

    /// [`Frame::encode_with_id`] for these parts.
    pub(crate) fn encode_with_id(
        &self,
        compression: Option<Compression>,
    ) -> Result<(Bytes, MsgId), WireError> {
        // One buffer: room for the header and checksum, then the body, filled in after.
        let mut out = Vec::with_capacity(HEADER_LEN + CHECKSUM_LEN + self.body_len());
        let id = self.write_hashed(&mut out)?;
        if let Some(method) = compression {
            let packed = method.compress(&out[HEADER_LEN..])?;
            return Ok((with_header(&[&packed])?, id));
        }
        set_length(&mut out)?;
        Ok((Bytes::from(out), id))
    }

    /// Writes into `out` (empty) room for the length header and the
    /// checksum, then the body, and fills the checksum in; returns the id.
    /// The header is the caller's ([`set_length`] for a plain frame).
    pub(crate) fn write_hashed<B>(&self, out: &mut B) -> Result<MsgId, WireError>
    where
        B: BufMut + DerefMut<Target = [u8]>,
    {
        const BODY_AT: usize = HEADER_LEN + CHECKSUM_LEN;
        out.put_bytes(0, BODY_AT);
        self.write_body(out)?;
        let id = MsgId(Sha256::digest(&out[BODY_AT..]).into());
        out[HEADER_LEN..BODY_AT].copy_from_slice(&id.0);
        Ok(id)
    }
}

/// Fills in the length header of the plain frame `frame`.
pub(crate) fn set_length(frame: &mut [u8]) -> Result<(), WireError> {
    let len = u32::try_from(frame.len() - HEADER_LEN)
        .map_err(|_| WireError::Unencodable("frame over 4 GiB"))?;
    frame[..HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// The 4-byte length header, then `parts` one after the other (one copy).
fn with_header(parts: &[&[u8]]) -> Result<Bytes, WireError> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let len = u32::try_from(total).map_err(|_| WireError::Unencodable("frame over 4 GiB"))?;
    let mut out = BytesMut::with_capacity(HEADER_LEN + total);
    out.put_u32(len);
    for part in parts {
        out.put_slice(part);
    }
    Ok(out.freeze())
}

/// Wraps an already-encoded body into a frame (checksum, compression, header):
/// how a relay or a resend re-frames a body for a peer with other compression.
pub fn frame_body(
    body: &[u8],
    compression: Option<Compression>,
) -> Result<(Bytes, MsgId), WireError> {
    let id = MsgId(Sha256::digest(body).into());
    Ok((frame_hashed_body(body, &id, compression)?, id))
}

/// [`frame_body`] for a body whose id the caller already has (computed when
/// it was encoded, or verified when it arrived): hashing it again was a
/// second SHA-256 of every message a node sends compressed.
pub(crate) fn frame_hashed_body(
    body: &[u8],
    id: &MsgId,
    compression: Option<Compression>,
) -> Result<Bytes, WireError> {
    let Some(method) = compression else {
        // Plain: header, checksum and body copied once, in place.
        return with_header(&[&id.0, body]);
    };
    let mut packet = Vec::with_capacity(CHECKSUM_LEN + body.len());
    packet.extend_from_slice(&id.0);
    packet.extend_from_slice(body);
    with_header(&[&method.compress(&packet)?])
}

/// Decodes a whole frame (4-byte length header included), as `mesh decode`
/// and the fuzzers see it. See [`decode_packet`] for the compression rules.
#[inline]
pub fn decode_frame(
    frame: Bytes,
    advertised: &[Compression],
    limits: &Limits,
) -> Result<Decoded, WireError> {
    if frame.len() < HEADER_LEN {
        return Err(WireError::TruncatedFrame {
            needed: HEADER_LEN,
            available: frame.len(),
        });
    }
    let len = usize::try_from(u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]))
        .unwrap_or(usize::MAX);
    if len > limits.max_frame {
        return Err(WireError::FrameTooLarge {
            len,
            max: limits.max_frame,
        });
    }
    let available = frame.len() - HEADER_LEN;
    if available < len {
        return Err(WireError::TruncatedFrame {
            needed: HEADER_LEN + len,
            available: frame.len(),
        });
    }
    if available > len {
        return Err(WireError::TrailingFrameBytes {
            extra: available - len,
        });
    }
    // advance, not slice: no reference-count traffic on the hot path.
    let mut packet = frame;
    packet.advance(HEADER_LEN);
    decode_packet(packet, advertised, limits)
}

/// Decodes a packet (the bytes after the length header).
///
/// As py2p: the methods the peer advertised are tried in order, then the raw
/// bytes. Unlike py2p, every other method compiled in is tried last, so a peer
/// that compresses with a method it never negotiated is still understood (py2p
/// meshes collapse on exactly that). A method "works" when its output's
/// checksum verifies; the checksum is always verified.
#[inline]
pub fn decode_packet(
    packet: Bytes,
    advertised: &[Compression],
    limits: &Limits,
) -> Result<Decoded, WireError> {
    // The plain fast path is spelled out here rather than taken through
    // `verify_packet`: merging its two outcomes went through memory, which
    // stalled on store forwarding.
    let plain_first = advertised.is_empty();
    if plain_first && verifies(&packet) {
        return verified(packet, None).parse(limits);
    }
    verify_with_methods(packet, advertised, limits, plain_first)?.parse(limits)
}

/// A packet whose checksum verified: its id and body, not yet parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The message id (the verified checksum).
    pub id: MsgId,
    /// The msgpack body.
    pub body: Bytes,
    /// The compression it arrived with.
    pub compression: Option<Compression>,
}

impl Verified {
    /// Parses the body (see [`parse_body`]).
    #[inline]
    pub fn parse(self, limits: &Limits) -> Result<Decoded, WireError> {
        self.parse_with(limits, |_, _| true)
    }

    /// Parses the body (see [`parse_body_with`]), building the packets only
    /// when `build` asks for them.
    #[inline]
    pub fn parse_with(
        self,
        limits: &Limits,
        build: impl FnOnce(u64, &Value) -> bool,
    ) -> Result<Decoded, WireError> {
        let frame = parse_body_with(&self.body, limits, build)?;
        Ok(Decoded {
            frame,
            id: self.id,
            body: self.body,
            compression: self.compression,
        })
    }
}

/// The first half of [`decode_packet`]: finds the reading (advertised
/// methods, raw, then every other method) whose checksum verifies, without
/// parsing the body. A receiver that already knows the id (a duplicate
/// broadcast) can stop here.
#[inline]
pub fn verify_packet(
    packet: Bytes,
    advertised: &[Compression],
    limits: &Limits,
) -> Result<Verified, WireError> {
    // The common case (plain frames, nothing advertised) stays free of the
    // decompressors: their state is tens of KiB of stack, and probing it cost
    // more than parsing a small frame.
    let plain_first = advertised.is_empty();
    if plain_first && verifies(&packet) {
        return Ok(verified(packet, None));
    }
    verify_with_methods(packet, advertised, limits, plain_first)
}

/// The general case of [`verify_packet`], kept out of line (see there).
#[inline(never)]
fn verify_with_methods(
    packet: Bytes,
    advertised: &[Compression],
    limits: &Limits,
    plain_checked: bool,
) -> Result<Verified, WireError> {
    let mut tried = 0;
    let mut bomb = None;
    for &method in advertised {
        if let Some((plain, used)) = attempt(&packet, method, limits, &mut tried, &mut bomb) {
            return Ok(verified(plain, Some(used)));
        }
    }
    if !plain_checked && verifies(&packet) {
        return Ok(verified(packet, None));
    }
    for &method in Compression::supported() {
        if advertised.contains(&method) {
            continue;
        }
        if let Some((plain, used)) = attempt(&packet, method, limits, &mut tried, &mut bomb) {
            return Ok(verified(plain, Some(used)));
        }
    }
    Err(match bomb {
        Some(e) => e,
        None if packet.len() < CHECKSUM_LEN => WireError::PacketTooShort { len: packet.len() },
        None => WireError::ChecksumMismatch { tried },
    })
}

/// One decompression method's reading of `packet`, if its checksum verifies.
/// Out of line for the same reason as [`verify_with_methods`].
#[inline(never)]
fn attempt(
    packet: &Bytes,
    method: Compression,
    limits: &Limits,
    tried: &mut usize,
    bomb: &mut Option<WireError>,
) -> Option<(Bytes, Compression)> {
    if !method.is_supported() || !method.plausible(packet) {
        return None;
    }
    *tried += 1;
    match method.decompress(packet, limits.max_decompressed) {
        Ok(plain) if verifies(&plain) => Some((Bytes::from(plain), method.as_detected(packet))),
        Ok(_) => None,
        Err(e @ WireError::DecompressedTooLarge { .. }) => {
            bomb.get_or_insert(e);
            None
        }
        Err(_) => None,
    }
}

#[inline]
fn verifies(packet: &[u8]) -> bool {
    // Fixed-size arrays: the compare is inline, not a `memcmp` call.
    let Some((sum, body)) = packet.split_first_chunk::<CHECKSUM_LEN>() else {
        return false;
    };
    <[u8; CHECKSUM_LEN]>::from(Sha256::digest(body)) == *sum
}

/// Splits a packet whose checksum is known to be good into id and body.
#[inline]
fn verified(packet: Bytes, compression: Option<Compression>) -> Verified {
    let mut id = [0u8; CHECKSUM_LEN];
    id.copy_from_slice(&packet[..CHECKSUM_LEN]);
    let mut body = packet;
    body.advance(CHECKSUM_LEN);
    Verified {
        id: MsgId(id),
        body,
        compression,
    }
}

/// Parses a msgpack body into a [`Frame`], checking the header's types and
/// every limit.
#[inline]
pub fn parse_body(body: &Bytes, limits: &Limits) -> Result<Frame, WireError> {
    parse_body_with(body, limits, |_, _| true)
}

/// [`parse_body`] for a reader that may need only a message's type and
/// first packet (a node that relays broadcasts nobody there reads): given
/// those, `build` says whether to build the packets (a message without
/// packets asks nothing). Unbuilt, they are checked all the same (every
/// limit, the same errors) and [`Frame::payload`] is left empty: nothing is
/// allocated for it.
///
/// ```
/// use bytes::Bytes;
/// use mesh_proto::wire::{parse_body_with, Frame, Limits, Value};
/// let body = Frame::new(0, "me", 7, vec![Value::from(0u8), Value::from("big")])
///     .encode_body()
///     .unwrap();
/// let lean = parse_body_with(&Bytes::from(body), &Limits::default(), |msg_type, first| {
///     assert_eq!((msg_type, first), (0, &Value::from(0u8)));
///     false
/// })
/// .unwrap();
/// assert!(lean.payload.is_empty());
/// ```
pub fn parse_body_with(
    body: &Bytes,
    limits: &Limits,
    build: impl FnOnce(u64, &Value) -> bool,
) -> Result<Frame, WireError> {
    let mut r = Reader::new(body, limits);
    match read_frame(&mut r, limits, build) {
        Ok(frame) => Ok(frame),
        Err(Stop) => Err(r.into_error()),
    }
}

fn read_frame(
    r: &mut Reader<'_>,
    limits: &Limits,
    build: impl FnOnce(u64, &Value) -> bool,
) -> Result<Frame, Stop> {
    let Some(len) = r.array_len()? else {
        return r.stop(WireError::BodyNotArray);
    };
    if len < 3 {
        return r.stop(WireError::TooFewFields { got: len });
    }
    if len - 3 > limits.max_packets {
        return r.stop(WireError::TooManyPackets {
            count: len - 3,
            max: limits.max_packets,
        });
    }
    let Some(msg_type) = r.int()?.and_then(Integer::as_u64) else {
        return r.stop(WireError::BadHeaderField {
            field: "msg_type",
            expected: "a non-negative integer",
        });
    };
    let (sender, sender_form) = match r.bin_or_str()? {
        Some((b, false)) => (b, SenderForm::Bin),
        Some((s, true)) => (s, SenderForm::Str),
        None => {
            return r.stop(WireError::BadHeaderField {
                field: "sender",
                expected: "bin or str",
            });
        }
    };
    let Some(time) = r.int()?.and_then(Integer::as_i64) else {
        return r.stop(WireError::BadHeaderField {
            field: "time",
            expected: "an integer within i64",
        });
    };
    let mut payload = Vec::new();
    if len > 3 {
        let first = r.value_inline(1)?;
        if build(msg_type, &first) {
            payload.reserve_exact(len - 3);
            payload.push(first);
            for _ in 4..len {
                r.push_value(1, &mut payload)?;
            }
        } else {
            for _ in 4..len {
                r.skip_value(1)?;
            }
        }
    }
    if r.remaining() > 0 {
        let extra = r.remaining();
        return r.stop(WireError::TrailingBodyBytes { extra });
    }
    Ok(Frame {
        msg_type,
        sender,
        sender_form,
        time,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Framing with a known id makes the very frame that hashing does.
    #[test]
    fn a_known_id_frames_as_hashing_does() {
        let body = Frame::new(1, "sender", 7, vec![Value::from("x".repeat(600))])
            .encode_body()
            .unwrap();
        let mut methods = vec![None];
        methods.extend(Compression::supported().iter().copied().map(Some));
        for method in methods {
            let (framed, id) = frame_body(&body, method).unwrap();
            assert_eq!(frame_hashed_body(&body, &id, method).unwrap(), framed);
            let decoded = decode_frame(framed, &[], &Limits::default()).unwrap();
            assert_eq!(decoded.id, id);
        }
    }
}
