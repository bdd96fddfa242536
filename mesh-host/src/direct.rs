//! [`DirectWrites`]: a connection's frames written by the driver itself at
//! the end of its turn, in one non-blocking vectored write, while the
//! connection's writer task has nothing in hand. Only what the socket does
//! not take goes to the writer (which waits for it and reports as before).
//!
//! On a link that keeps up this removes, per turn, a wake-up of the writer
//! task and the driver's wake-up for its `Written` report: the progress of
//! a direct write is known at once.

use std::io::{self, IoSlice};

use bytes::Bytes;

use crate::WriterCmd;

/// Frames handed to one vectored write call, at most: Linux's `IOV_MAX`.
/// (At 64, a turn's relays of small frames took several `sendmsg` calls,
/// each paying the kernel's fixed cost.)
const SLICES_PER_WRITE: usize = 1024;

/// How many of `held`'s first frames one write call takes, and their
/// bytes: at most [`SLICES_PER_WRITE`] frames, and past the first frame no
/// more than [`WRITE_BATCH`](crate::WRITE_BATCH) bytes, as the writer task
/// gathers.
fn next_batch(held: &[Bytes]) -> (usize, usize) {
    let (mut frames, mut bytes) = (0, 0);
    for b in held.iter().take(SLICES_PER_WRITE) {
        if frames > 0 && bytes + b.len() > crate::WRITE_BATCH {
            break;
        }
        frames += 1;
        bytes += b.len();
    }
    (frames, bytes)
}

/// A write to a peer that has gone must fail with `EPIPE`, not raise
/// `SIGPIPE` (which kills a process that did not ignore it, as Rust's
/// `main` does).
#[cfg(any(target_os = "linux", target_os = "android"))]
const NO_SIGPIPE: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const NO_SIGPIPE: libc::c_int = 0;

/// One connection's frames waiting for the end of the turn, and what its
/// writer task still has in hand.
#[derive(Debug, Default)]
pub struct DirectWrites {
    held: Vec<Bytes>,
    /// Bytes handed to the writer task and not yet reported written: while
    /// there are any, new frames queue behind them there, in order.
    in_writer: usize,
}

impl DirectWrites {
    /// Takes a frame to write: held for [`flush`](Self::flush) (`Ok(true)`
    /// for the first one held this turn, `Ok(false)` for the others), or
    /// handed back (`Err`) to go to the writer behind what it has.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use mesh_host::DirectWrites;
    ///
    /// let mut d = DirectWrites::default();
    /// assert_eq!(d.transmit(Bytes::from_static(b"ab")), Ok(true));
    /// assert_eq!(d.transmit(Bytes::from_static(b"cd")), Ok(false));
    /// // The socket takes 3 bytes: the rest goes to the writer.
    /// let (now, rest) = d.flush(|slices| {
    ///     assert_eq!(slices.len(), 2);
    ///     Ok(3)
    /// });
    /// assert_eq!(now, 3);
    /// assert_eq!(rest, [Bytes::from_static(b"d")]);
    /// // While the writer has it, new frames go behind it.
    /// assert_eq!(d.transmit(Bytes::from_static(b"ef")), Err(Bytes::from_static(b"ef")));
    /// d.written(3);
    /// assert_eq!(d.transmit(Bytes::from_static(b"gh")), Ok(true));
    /// ```
    pub fn transmit(&mut self, bytes: Bytes) -> Result<bool, Bytes> {
        if self.in_writer > 0 {
            self.in_writer += bytes.len();
            return Err(bytes);
        }
        self.held.push(bytes);
        Ok(self.held.len() == 1)
    }

    /// The writer task reported `n` bytes written.
    pub fn written(&mut self, n: usize) {
        self.in_writer = self.in_writer.saturating_sub(n);
    }

    /// Writes the held frames with `write` (one non-blocking vectored
    /// write, called again while the socket takes everything): the bytes
    /// written now, and what is left for the writer task, in order. Any
    /// error leaves everything to the writer, whose own write reports it.
    pub fn flush(
        &mut self,
        mut write: impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> (usize, Vec<Bytes>) {
        let mut done = 0;
        let mut first = 0;
        while first < self.held.len() {
            let (frames, want) = next_batch(&self.held[first..]);
            let batch = &self.held[first..first + frames];
            let slices: Vec<IoSlice<'_>> = batch.iter().map(|b| IoSlice::new(b)).collect();
            let n = match write(&slices) {
                Ok(n) => n.min(want),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => 0,
            };
            done += n;
            if n < want {
                // Skip the whole frames written, cut the one written in part.
                let mut left = n;
                while left > 0 && left >= self.held[first].len() {
                    left -= self.held[first].len();
                    first += 1;
                }
                if left > 0 {
                    let cut = self.held[first].slice(left..);
                    self.held[first] = cut;
                }
                break;
            }
            first += frames;
        }
        let rest: Vec<Bytes> = self.held.drain(..).skip(first).collect();
        self.in_writer += rest.iter().map(Bytes::len).sum::<usize>();
        (done, rest)
    }

    /// Hands every held frame back (the connection is closing: they go to
    /// the writer, ahead of its close).
    fn take_held(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.held)
    }
}

/// How a driver hands commands to a connection's writer task.
pub trait WriterTx {
    /// Queues `cmd`; a writer that is gone has reported (or will report) why.
    fn send_cmd(&self, cmd: WriterCmd);

    /// The writer failed: stop reading at once, so the socket goes (a
    /// runtime whose writer ends its reader itself has nothing to do).
    fn abort(&self) {}
}

/// The driver's handle on one open connection, whatever the runtime: the
/// writer task's queue and, on plain TCP, the socket the driver writes to
/// directly while the writer has nothing in hand.
#[derive(Debug)]
pub struct WriteSide<T, S> {
    tx: T,
    direct: Option<(S, DirectWrites)>,
}

impl<T, S> WriteSide<T, S> {
    /// Writes through `tx`, and directly to `socket` when there is one
    /// (plain TCP; TLS records must go through the writer's stream).
    pub fn new(tx: T, socket: Option<S>) -> Self {
        WriteSide {
            tx,
            direct: socket.map(|s| (s, DirectWrites::default())),
        }
    }
}

impl<T: WriterTx, S> crate::Connection for WriteSide<T, S>
where
    for<'a> socket2::SockRef<'a>: From<&'a S>,
{
    fn transmit(&mut self, bytes: Bytes) -> bool {
        let held = match &mut self.direct {
            Some((_, direct)) => direct.transmit(bytes),
            None => Err(bytes),
        };
        match held {
            Ok(first) => first,
            Err(bytes) => {
                self.tx.send_cmd(WriterCmd::Data(bytes));
                false
            }
        }
    }

    /// One `sendmsg` (with `MSG_NOSIGNAL`) of what was held, the rest to
    /// the writer.
    fn flush(&mut self) -> usize {
        let Some((socket, direct)) = &mut self.direct else {
            return 0;
        };
        let socket = socket2::SockRef::from(&*socket);
        let (now, rest) =
            direct.flush(|slices| socket.send_vectored_with_flags(slices, NO_SIGPIPE));
        for bytes in rest {
            self.tx.send_cmd(WriterCmd::Data(bytes));
        }
        now
    }

    fn written(&mut self, n: usize) {
        if let Some((_, direct)) = &mut self.direct {
            direct.written(n);
        }
    }

    /// Frames held for a direct write go to the writer, then its `Close`
    /// (it flushes them all, then shuts down).
    fn close(mut self) {
        if let Some((_, direct)) = &mut self.direct {
            for bytes in direct.take_held() {
                self.tx.send_cmd(WriterCmd::Data(bytes));
            }
        }
        self.tx.send_cmd(WriterCmd::Close);
    }

    fn abort(self) {
        self.tx.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(n: usize) -> Vec<Bytes> {
        (0..n).map(|i| Bytes::from(vec![i as u8; 10])).collect()
    }

    /// Writes every held frame, recording each call's slice count.
    fn flush_all(d: &mut DirectWrites) -> (usize, Vec<usize>) {
        let mut calls = Vec::new();
        let (now, rest) = d.flush(|s| {
            calls.push(s.len());
            Ok(s.iter().map(|s| s.len()).sum())
        });
        assert!(rest.is_empty());
        (now, calls)
    }

    #[test]
    fn everything_taken_is_written_in_batches_of_slices() {
        let mut d = DirectWrites::default();
        for f in frames(2500) {
            d.transmit(f).unwrap();
        }
        assert_eq!(flush_all(&mut d), (25_000, vec![1024, 1024, 452]));
        assert_eq!(d.transmit(Bytes::from_static(b"x")), Ok(true));
    }

    #[test]
    fn a_write_call_takes_a_write_batch_of_bytes_at_most() {
        let mut d = DirectWrites::default();
        let frame = Bytes::from(vec![7u8; 100 * 1024]);
        for _ in 0..5 {
            d.transmit(frame.clone()).unwrap();
        }
        // 200 KiB fit in 256 KiB, a third frame would not.
        assert_eq!(flush_all(&mut d), (500 * 1024, vec![2, 2, 1]));
        // A frame larger than a batch goes alone.
        let mut d = DirectWrites::default();
        for len in [10, 300 * 1024, 10] {
            d.transmit(Bytes::from(vec![1u8; len])).unwrap();
        }
        assert_eq!(flush_all(&mut d).1, vec![1, 1, 1]);
    }

    #[test]
    fn a_full_socket_leaves_the_rest_in_order() {
        let mut d = DirectWrites::default();
        for f in frames(3) {
            d.transmit(f).unwrap();
        }
        let (now, rest) = d.flush(|_| Ok(20));
        assert_eq!(now, 20);
        assert_eq!(rest, [Bytes::from(vec![2u8; 10])]);
        let mut d = DirectWrites::default();
        d.transmit(Bytes::from_static(b"abc")).unwrap();
        let (now, rest) = d.flush(|_| Err(io::ErrorKind::WouldBlock.into()));
        assert_eq!((now, rest), (0, vec![Bytes::from_static(b"abc")]));
        // The writer has 3 bytes: later frames go behind them.
        assert!(d.transmit(Bytes::from_static(b"d")).is_err());
        d.written(4);
        assert_eq!(d.transmit(Bytes::from_static(b"e")), Ok(true));
    }
}
