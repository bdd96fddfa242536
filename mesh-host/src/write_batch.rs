//! [`WriteBatch`]: the frames queued for one connection, gathered so they
//! leave in one write call instead of one each.

use bytes::Bytes;

/// Bytes gathered per write, at most (a single larger frame goes alone).
pub const WRITE_BATCH: usize = 256 * 1024;

/// What a driver tells a connection's writer.
#[derive(Debug)]
pub enum WriterCmd {
    /// Write these bytes after everything queued before them.
    Data(Bytes),
    /// Flush what is queued, then shut the stream down.
    Close,
}

/// Frames waiting to be written together. A lone frame is written as it is
/// (no copy); from the second on they are copied into one buffer, which
/// costs far less than a write call per frame.
///
/// ```
/// use bytes::Bytes;
/// use mesh_host::WriteBatch;
///
/// let mut batch = WriteBatch::default();
/// batch.push(Bytes::from_static(b"\0\0\0\x01a"));
/// batch.push(Bytes::from_static(b"\0\0\0\x01b"));
/// assert_eq!(batch.bytes(), b"\0\0\0\x01a\0\0\0\x01b");
/// assert!(!batch.full());
/// batch.clear();
/// assert!(batch.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct WriteBatch {
    single: Option<Bytes>,
    buf: Vec<u8>,
}

impl WriteBatch {
    /// Adds a frame after the ones already gathered.
    pub fn push(&mut self, frame: Bytes) {
        if self.buf.is_empty() && self.single.is_none() {
            self.single = Some(frame);
            return;
        }
        if let Some(first) = self.single.take() {
            self.buf.extend_from_slice(&first);
        }
        self.buf.extend_from_slice(&frame);
    }

    /// Starts a batch with `first` and adds what is queued behind it
    /// (`next` takes a command without waiting) until the batch is full or
    /// the queue empty. `true` if a `Close` came: write the batch, then close.
    pub fn gather(&mut self, first: Bytes, mut next: impl FnMut() -> Option<WriterCmd>) -> bool {
        self.push(first);
        while !self.full() {
            match next() {
                Some(WriterCmd::Data(more)) => self.push(more),
                Some(WriterCmd::Close) => return true,
                None => return false,
            }
        }
        false
    }

    /// What to write.
    pub fn bytes(&self) -> &[u8] {
        self.single.as_deref().unwrap_or(&self.buf)
    }

    /// How many bytes are gathered.
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    /// Nothing gathered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Enough for one write: take no more.
    pub fn full(&self) -> bool {
        self.len() >= WRITE_BATCH
    }

    /// Empties it after a write (a buffer grown past twice the batch size by
    /// a large frame is given back).
    pub fn clear(&mut self) {
        self.single = None;
        self.buf.clear();
        if self.buf.capacity() > 2 * WRITE_BATCH {
            self.buf = Vec::new();
        }
    }

    /// The link went quiet: give the buffer back, so an idle connection
    /// holds none.
    pub fn release(&mut self) {
        self.clear();
        self.buf = Vec::new();
    }
}
