//! Splits a byte stream into frames, whatever the chunking.

use bytes::{Buf, Bytes, BytesMut};

use super::frame::HEADER_LEN;
use super::{Limits, WireError};

/// Cuts a TCP byte stream into whole frames.
///
/// Bytes are appended with [`feed`](Deframer::feed); each call to
/// [`next_frame`](Deframer::next_frame) hands out one whole frame (header
/// included) as a zero-copy slice of the buffer and consumes it. The length
/// header is checked against [`Limits::max_frame`] as soon as its 4 bytes are
/// in, before anything past it is kept; no allocation is ever sized by the
/// announced length (the buffer grows with bytes actually received). After an
/// error the deframer stays failed and drops whatever it is fed: the stream
/// has lost its framing.
///
/// ```
/// use mesh_proto::wire::{Deframer, Frame, Limits, Value};
/// let bytes = Frame::new(0, "id", 1, vec![Value::from(0u8)]).encode(None).unwrap();
/// let mut d = Deframer::new(&Limits::default());
/// for b in bytes.iter() {
///     d.feed(&[*b]);
/// }
/// assert_eq!(d.next_frame().unwrap(), Some(bytes));
/// assert_eq!(d.next_frame().unwrap(), None);
/// ```
#[derive(Debug)]
pub struct Deframer {
    buf: BytesMut,
    max_frame: usize,
    failed: Option<WireError>,
}

impl Deframer {
    /// An empty deframer enforcing `limits.max_frame`.
    pub fn new(limits: &Limits) -> Deframer {
        Deframer {
            buf: BytesMut::new(),
            max_frame: limits.max_frame,
            failed: None,
        }
    }

    /// Appends received bytes. Call [`next_frame`](Deframer::next_frame) until
    /// it returns `None` afterwards, so the buffer never holds more than one
    /// partial frame plus the last chunk.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// The next whole frame (4-byte header included), `None` if more bytes are
    /// needed, or the error that ended the stream.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, WireError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let Some(len) = self.announced() else {
            return Ok(None);
        };
        if len > self.max_frame {
            let e = WireError::FrameTooLarge {
                len,
                max: self.max_frame,
            };
            self.buf = BytesMut::new();
            self.failed = Some(e.clone());
            return Err(e);
        }
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        Ok(Some(self.buf.split_to(HEADER_LEN + len).freeze()))
    }

    /// Like [`next_frame`](Deframer::next_frame), without the length header.
    pub fn next_packet(&mut self) -> Result<Option<Bytes>, WireError> {
        Ok(self.next_frame()?.map(|mut f| {
            f.advance(HEADER_LEN);
            f
        }))
    }

    fn announced(&self) -> Option<usize> {
        let h = self.buf.get(..HEADER_LEN)?;
        Some(usize::try_from(u32::from_be_bytes([h[0], h[1], h[2], h[3]])).unwrap_or(usize::MAX))
    }

    /// Bytes held that do not yet make a whole frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Whether a frame has started but not finished (for stall timeouts).
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }
}
