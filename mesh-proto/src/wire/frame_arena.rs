//! [`FrameArena`]: where a sender writes its frames one after another, so
//! that one allocation holds hundreds of them.

use bytes::{Bytes, BytesMut};

use super::frame::{CHECKSUM_LEN, FrameParts, HEADER_LEN, set_length};
use super::{MsgId, WireError};

/// The bytes one allocation of a [`FrameArena`] holds (a frame larger than
/// this gets one of its own size).
pub const ARENA_CHUNK: usize = 64 * 1024;

/// Frames written one after another into shared chunks of [`ARENA_CHUNK`]
/// bytes. A frame made here is a slice of its chunk, so sending it costs no
/// allocation of its own, and cloning it (for each peer it goes to, for the
/// resend cache) takes a reference, not an allocation. A chunk whose frames
/// are all gone is written over again. A chunk lives as long as any frame of
/// it: the senders here keep a frame until it is written, and the last frame
/// sent to each peer.
///
/// An arena allocates nothing until its first frame.
/// [`with_chunk`](Self::with_chunk) sets a smaller chunk, for a sender of few
/// messages (a simulation of many nodes, say).
///
/// ```
/// use bytes::Bytes;
/// use mesh_proto::mesh::{PeerId, Prepared};
/// use mesh_proto::wire::{FrameArena, MainFlag, Value};
///
/// let mut arena = FrameArena::default();
/// let me = PeerId(Bytes::from_static(b"QmArenaExample"));
/// let a = Prepared::new_in(&mut arena, &me, MainFlag::Broadcast, vec![Value::from("a")], 1_764_000_000)?;
/// let b = Prepared::new_in(&mut arena, &me, MainFlag::Broadcast, vec![Value::from("b")], 1_764_000_000)?;
/// // The same frames as without an arena.
/// let plain = Prepared::new(&me, MainFlag::Broadcast, vec![Value::from("a")], 1_764_000_000)?;
/// assert_eq!(a.id(), plain.id());
/// assert_ne!(a.id(), b.id());
/// # Ok::<(), mesh_proto::wire::WireError>(())
/// ```
#[derive(Debug)]
pub struct FrameArena {
    /// The free end of the current chunk (empty between frames).
    buf: BytesMut,
    /// The bytes of a new chunk.
    chunk: usize,
}

impl Default for FrameArena {
    fn default() -> Self {
        FrameArena::with_chunk(ARENA_CHUNK)
    }
}

impl FrameArena {
    /// An arena whose chunks hold `chunk` bytes (at least 1 KiB).
    pub fn with_chunk(chunk: usize) -> FrameArena {
        FrameArena {
            buf: BytesMut::new(),
            chunk: chunk.max(1024),
        }
    }

    /// Writes the frame of `parts` uncompressed (length header, checksum,
    /// body) and splits it off; returns it with its id.
    pub(crate) fn encode(&mut self, parts: &FrameParts<'_>) -> Result<(Bytes, MsgId), WireError> {
        let need = HEADER_LEN + CHECKSUM_LEN + parts.body_len();
        if self.buf.capacity() == 0 {
            // The first frame, or the last chunk was filled exactly.
            self.buf = BytesMut::with_capacity(need.max(self.chunk));
        } else {
            // Takes the chunk over again if its frames are all gone, or
            // starts one of the chunk's size.
            self.buf.reserve(need);
        }
        let written = parts
            .write_hashed(&mut self.buf)
            .and_then(|id| set_length(&mut self.buf).map(|()| id));
        match written {
            Ok(id) => Ok((self.buf.split().freeze(), id)),
            Err(e) => {
                self.buf.clear();
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Frame, Value};

    fn frame(i: usize, size: usize) -> Frame {
        Frame::new(
            2,
            &b"QmArenaSender"[..],
            1_764_000_000,
            vec![
                Value::from(i as u64),
                Value::Bin(Bytes::from(vec![7u8; size])),
            ],
        )
    }

    #[test]
    fn frames_are_those_encode_makes() {
        let mut arena = FrameArena::default();
        for (i, size) in [0, 100, 1024, ARENA_CHUNK, 3 * ARENA_CHUNK, 5]
            .into_iter()
            .enumerate()
        {
            let f = frame(i, size);
            let want = f.encode_with_id(None).unwrap();
            assert_eq!(arena.encode(&f.parts()).unwrap(), want, "size {size}");
        }
    }

    #[test]
    fn frames_follow_each_other_in_one_chunk() {
        let mut arena = FrameArena::default();
        let frames: Vec<Bytes> = (0..200)
            .map(|i| arena.encode(&frame(i, 100).parts()).unwrap().0)
            .collect();
        for pair in frames.windows(2) {
            assert_eq!(
                pair[0].as_ptr().wrapping_add(pair[0].len()),
                pair[1].as_ptr()
            );
        }
    }

    #[test]
    fn a_chunk_whose_frames_are_gone_is_written_over() {
        let mut arena = FrameArena::default();
        let first = arena.encode(&frame(0, 100).parts()).unwrap().0;
        let start = first.as_ptr();
        let rest: Vec<Bytes> = (1..100)
            .map(|i| arena.encode(&frame(i, 100).parts()).unwrap().0)
            .collect();
        drop((first, rest));
        // Fill the chunk's free end, so the next frame does not fit in it.
        let next = frame(1, 1500);
        let need = next.encode(None).unwrap().len();
        while arena.buf.capacity() >= need {
            arena.encode(&frame(0, 100).parts()).unwrap();
        }
        let again = arena.encode(&next.parts()).unwrap().0;
        assert_eq!(again.as_ptr(), start);
    }

    #[test]
    fn a_small_chunk_holds_what_fits() {
        let mut arena = FrameArena::with_chunk(4096);
        let frames: Vec<Bytes> = (0..60)
            .map(|i| arena.encode(&frame(i, 100).parts()).unwrap().0)
            .collect();
        let first = frames[0].as_ptr() as usize;
        let in_first = frames
            .iter()
            .filter(|f| (first..first + 4096).contains(&(f.as_ptr() as usize)))
            .count();
        assert!((20..=4096 / 140).contains(&in_first), "{in_first}");
    }

    #[test]
    fn a_kept_frame_keeps_its_chunk_and_the_next_gets_another() {
        let mut arena = FrameArena::default();
        let kept = arena.encode(&frame(0, 100).parts()).unwrap().0;
        let mut last = Bytes::new();
        for i in 1..2 * (ARENA_CHUNK / 100) {
            last = arena.encode(&frame(i, 100).parts()).unwrap().0;
        }
        let chunk = kept.as_ptr() as usize..kept.as_ptr() as usize + ARENA_CHUNK;
        assert!(!chunk.contains(&(last.as_ptr() as usize)));
        assert_eq!(kept, frame(0, 100).encode(None).unwrap());
    }
}
