//! [`ReadBuffer`]: a connection reader's buffer, small while its link is
//! quiet and grown while reads fill it, so an idle connection does not hold
//! a [`READ_CHUNK`](crate::READ_CHUNK) buffer.

use bytes::Bytes;

use crate::READ_CHUNK;

/// The buffer a quiet link reads into.
pub const READ_MIN: usize = 4 * 1024;

/// Small reads in a row after which a grown buffer shrinks back.
const QUIET_READS: u32 = 8;

/// Grows (×4, up to [`READ_CHUNK`]) when a read fills it; back to
/// [`READ_MIN`] after a run of small reads.
///
/// ```
/// use mesh_host::{READ_MIN, ReadBuffer};
///
/// let mut buf = ReadBuffer::default();
/// assert_eq!(buf.space().len(), READ_MIN);
/// let n = buf.space().len();
/// buf.space().fill(7);
/// let read = buf.filled(n); // a full read: grow
/// assert_eq!(read.len(), READ_MIN);
/// assert!(buf.space().len() > READ_MIN);
/// ```
#[derive(Debug)]
pub struct ReadBuffer {
    buf: Vec<u8>,
    quiet: u32,
}

impl Default for ReadBuffer {
    fn default() -> Self {
        ReadBuffer {
            buf: vec![0; READ_MIN],
            quiet: 0,
        }
    }
}

impl ReadBuffer {
    /// Where the next read goes.
    pub fn space(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// The `n` bytes a read put in [`space`](Self::space), copied out at
    /// their size (a slice of a shared buffer would pin all of it while the
    /// core keeps any frame of it); adapts the buffer to the link's pace.
    pub fn filled(&mut self, n: usize) -> Bytes {
        let bytes = Bytes::copy_from_slice(&self.buf[..n]);
        let len = self.buf.len();
        if n == len && len < READ_CHUNK {
            self.buf = vec![0; (len * 4).min(READ_CHUNK)];
            self.quiet = 0;
        } else if len > READ_MIN && n < READ_MIN {
            self.quiet += 1;
            if self.quiet >= QUIET_READS {
                self.buf = vec![0; READ_MIN];
                self.quiet = 0;
            }
        } else {
            self.quiet = 0;
        }
        bytes
    }
}
