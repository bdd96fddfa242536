//! Splits a byte stream into frames, whatever the chunking.

use bytes::{Buf, Bytes, BytesMut};

use super::frame::HEADER_LEN;
use super::{Limits, WireError};

/// Cuts a TCP byte stream into whole frames.
///
/// Bytes are appended with [`feed`](Deframer::feed) (copied) or
/// [`feed_bytes`](Deframer::feed_bytes) (kept as they are); each call to
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
    /// A chunk handed over whole, whose frames are cut out of it without a
    /// copy. Only ever non-empty while `buf` is empty: what precedes it in
    /// the stream is always consumed first.
    owned: Bytes,
    /// Bytes copied in: a partial frame, or chunks fed by reference.
    buf: BytesMut,
    max_frame: usize,
    failed: Option<WireError>,
}

impl Deframer {
    /// An empty deframer enforcing `limits.max_frame`.
    pub fn new(limits: &Limits) -> Deframer {
        Deframer {
            owned: Bytes::new(),
            buf: BytesMut::new(),
            max_frame: limits.max_frame,
            failed: None,
        }
    }

    /// Changes the largest frame accepted from here on (a header already
    /// read was checked against the old one).
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.max_frame = max_frame;
    }

    /// Appends received bytes. Call [`next_frame`](Deframer::next_frame) until
    /// it returns `None` afterwards, so the buffer never holds more than one
    /// partial frame plus the last chunk.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.failed.is_none() {
            self.spill();
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Appends received bytes the caller hands over: when no partial frame
    /// is waiting, the frames in `chunk` are cut out of it without a copy
    /// (only a trailing partial frame is copied, once more bytes come).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use mesh_proto::wire::{Deframer, Frame, Limits, Value};
    /// let frame = Frame::new(0, "id", 1, vec![Value::from(0u8)]).encode(None).unwrap();
    /// let two = Bytes::from([&frame[..], &frame[..]].concat());
    /// let mut d = Deframer::new(&Limits::default());
    /// d.feed_bytes(two.slice(..frame.len() + 3));
    /// assert_eq!(d.next_frame().unwrap(), Some(frame.clone()));
    /// assert_eq!(d.next_frame().unwrap(), None);
    /// d.feed_bytes(two.slice(frame.len() + 3..));
    /// assert_eq!(d.next_frame().unwrap(), Some(frame));
    /// ```
    pub fn feed_bytes(&mut self, chunk: Bytes) {
        if self.failed.is_some() {
            return;
        }
        if self.buf.is_empty() && self.owned.is_empty() {
            self.owned = chunk;
        } else {
            self.spill();
            self.buf.extend_from_slice(&chunk);
        }
    }

    /// Moves what is left of an owned chunk into `buf`, so bytes stay in order.
    fn spill(&mut self) {
        if !self.owned.is_empty() {
            self.buf.extend_from_slice(&self.owned);
            self.owned = Bytes::new();
        }
    }

    /// The next whole frame (4-byte header included), `None` if more bytes are
    /// needed, or the error that ended the stream.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, WireError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if !self.owned.is_empty() {
            match self.check(header_len(&self.owned))? {
                Some(len) if self.owned.len() >= HEADER_LEN + len => {
                    return Ok(Some(self.owned.split_to(HEADER_LEN + len)));
                }
                // A partial frame: kept in `buf`, where the rest will join it.
                _ => self.spill(),
            }
        }
        let Some(len) = self.check(header_len(&self.buf))? else {
            return Ok(None);
        };
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        Ok(Some(self.buf.split_to(HEADER_LEN + len).freeze()))
    }

    /// The announced length, checked against the limit (`None`: no header yet).
    fn check(&mut self, announced: Option<usize>) -> Result<Option<usize>, WireError> {
        let Some(len) = announced else {
            return Ok(None);
        };
        if len > self.max_frame {
            let e = WireError::FrameTooLarge {
                len,
                max: self.max_frame,
            };
            self.buf = BytesMut::new();
            self.owned = Bytes::new();
            self.failed = Some(e.clone());
            return Err(e);
        }
        Ok(Some(len))
    }

    /// Like [`next_frame`](Deframer::next_frame), without the length header.
    pub fn next_packet(&mut self) -> Result<Option<Bytes>, WireError> {
        Ok(self.next_frame()?.map(|mut f| {
            f.advance(HEADER_LEN);
            f
        }))
    }

    /// The start of what comes next, as far as it is here (what
    /// [`next_frame`](Deframer::next_frame) will cut from): lets a reader
    /// look ahead at the next frame's header.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use mesh_proto::wire::{Deframer, Limits};
    ///
    /// let mut d = Deframer::new(&Limits::default());
    /// d.feed_bytes(Bytes::from_static(&[0, 0, 0, 1, 7, 0, 0, 0, 1, 8]));
    /// assert_eq!(d.next_frame().unwrap().as_deref(), Some(&[0, 0, 0, 1, 7][..]));
    /// assert_eq!(d.upcoming(), &[0, 0, 0, 1, 8]);
    /// ```
    pub fn upcoming(&self) -> &[u8] {
        if self.owned.is_empty() {
            &self.buf
        } else {
            &self.owned
        }
    }

    /// Bytes held and not yet handed out as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.owned.len()
    }

    /// Whether a frame has started but not finished (for stall timeouts).
    pub fn has_partial(&self) -> bool {
        self.buffered() > 0
    }
}

/// The length a frame's header announces, once its 4 bytes are in.
fn header_len(bytes: &[u8]) -> Option<usize> {
    let h = bytes.get(..HEADER_LEN)?;
    Some(usize::try_from(u32::from_be_bytes([h[0], h[1], h[2], h[3]])).unwrap_or(usize::MAX))
}
