//! One connection's byte movers: a reader task that hands what arrives to the
//! driver, and a writer task that writes `Transmit` bytes in order, reports
//! progress, and on `Close` flushes what was queued before shutting down.
//!
//! Both are generic over the stream (`futures-io`'s `AsyncRead +
//! AsyncWrite`): plain TCP or TLS over it (`net::Stream`), already past its
//! TLS handshake.

use std::io;
use std::time::Duration;
use tracing::Instrument;

use async_executor::Task;
use async_io::Timer;
use bytes::Bytes;
use futures_lite::future;
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use mesh_host::{CLOSE_LINGER, Connection, ReadBuffer, WriteBatch, WriteFailure, WriterCmd};
use mesh_proto::mesh::ConnId;

use crate::driver::IoEvent;
use crate::spawn::Spawner;

/// The driver's handle on one open connection's tasks. The writer owns the
/// reader's task and ends it (after a linger on a graceful close, at once
/// when writing fails).
#[derive(Debug)]
pub(crate) struct ConnTasks {
    writer: async_channel::Sender<WriterCmd>,
}

impl ConnTasks {
    /// Splits `stream` and starts its reader and writer. `alive` is held by
    /// the writer until it has flushed and shut down (close waits on it).
    pub(crate) fn spawn<S>(
        spawner: &Spawner,
        conn: ConnId,
        stream: S,
        (io, ctl): (
            async_channel::Sender<IoEvent>,
            async_channel::Sender<IoEvent>,
        ),
        write_stall: Duration,
        alive: async_channel::Sender<()>,
    ) -> ConnTasks
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (r, w) = futures_lite::io::split(stream);
        // Inside the node's span (the driver spawns us).
        let span = tracing::info_span!("conn", id = conn.0);
        let reader = spawner.spawn(read_loop(conn, r, io).instrument(span.clone()));
        let (tx, rx) = async_channel::unbounded();
        spawner
            .spawn(
                async move {
                    write_loop(conn, w, rx, ctl, write_stall, reader, alive).await;
                }
                .instrument(span),
            )
            .detach();
        ConnTasks { writer: tx }
    }
}

impl Connection for ConnTasks {
    /// Queues bytes for writing. The channel is unbounded, but the core
    /// bounds what it hands out per connection (`max_queued_bytes`).
    fn transmit(&self, bytes: Bytes) {
        // A writer that is gone has reported (or will report) why.
        let _ = self.writer.try_send(WriterCmd::Data(bytes));
    }

    /// Graceful close: the writer flushes what is queued, then shuts down.
    fn close(self) {
        let _ = self.writer.try_send(WriterCmd::Close);
    }

    /// The writer failed: it has already ended the reader (dropping both
    /// halves closes the socket), so only this handle is left to drop.
    fn abort(self) {}
}

/// Reads until end of stream or an error, forwarding each chunk to the
/// driver (awaiting: a busy driver slows reading down). Once the driver is
/// gone it only drains, until the peer closes or the writer ends it.
async fn read_loop<R: AsyncRead + Unpin>(
    conn: ConnId,
    mut r: R,
    io: async_channel::Sender<IoEvent>,
) {
    let mut buf = ReadBuffer::default();
    let mut forwarding = true;
    loop {
        match r.read(buf.space()).await {
            Ok(0) => break,
            Ok(n) => {
                let bytes = buf.filled(n);
                if forwarding {
                    forwarding = io.send(IoEvent::Bytes { conn, bytes }).await.is_ok();
                }
            }
            Err(error) => {
                tracing::debug!(%conn, %error, "read failed");
                break;
            }
        }
    }
    tracing::trace!(%conn, "reader done");
    if forwarding {
        let _ = io.send(IoEvent::ReadClosed { conn }).await;
    }
}

/// Writes in order until told to close (or the driver is gone), all that is
/// queued in one write, reporting each write's progress to the driver; a write that makes no progress within
/// `write_stall` (or fails) ends the connection.
async fn write_loop<W: AsyncWrite + Unpin>(
    conn: ConnId,
    mut w: W,
    rx: async_channel::Receiver<WriterCmd>,
    ctl: async_channel::Sender<IoEvent>,
    write_stall: Duration,
    mut reader: Task<()>,
    alive: async_channel::Sender<()>,
) {
    let result = async {
        let mut batch = WriteBatch::default();
        while let Ok(cmd) = rx.recv().await {
            let WriterCmd::Data(first) = cmd else { break };
            // Everything queued behind it leaves in the same write.
            let closing = batch.gather(first, || rx.try_recv().ok());
            let mut left = batch.bytes();
            while !left.is_empty() {
                let n = stalled(write_stall, w.write(left)).await?;
                if n == 0 {
                    return Err(WriteFailure::Failed(io::ErrorKind::WriteZero.into()));
                }
                left = &left[n..];
            }
            let n = batch.len();
            batch.clear();
            // One report per batch. The driver may be gone (closing): keep flushing.
            let _ = ctl.try_send(IoEvent::Written { conn, n });
            if closing {
                break;
            }
            if rx.is_empty() {
                batch.release();
                stalled(write_stall, w.flush()).await?;
            }
        }
        // `close` shuts the TCP write side down (FIN), after TLS's
        // `close_notify`.
        stalled(write_stall, w.close()).await
    }
    .await;
    match result {
        Ok(()) => {
            tracing::debug!(%conn, "closed after flushing");
            drop(alive);
            // Keep draining the peer's bytes a while (unless it closes
            // first), then let the socket go.
            future::or(&mut reader, async {
                Timer::after(CLOSE_LINGER).await;
            })
            .await;
        }
        Err(failure) => {
            let end = failure.end(conn, write_stall);
            drop(reader);
            let _ = ctl.try_send(IoEvent::WriterDone { conn, end });
            drop(alive);
        }
    }
}

/// Runs one write-side operation under the write-stall timeout.
async fn stalled<T>(
    limit: Duration,
    op: impl Future<Output = io::Result<T>>,
) -> Result<T, WriteFailure> {
    future::or(async { op.await.map_err(WriteFailure::Failed) }, async {
        Timer::after(limit).await;
        Err(WriteFailure::Stalled)
    })
    .await
}
