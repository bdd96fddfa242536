//! One connection's byte movers: a reader task that hands what arrives to the
//! driver, and a writer task that writes `Transmit` bytes in order, reports
//! progress, and on `Close` flushes what was queued before shutting down.
//!
//! Both are generic over the stream (`futures-io`'s `AsyncRead +
//! AsyncWrite`): plain TCP or TLS over it (`net::Stream`), already past its
//! TLS handshake. On plain TCP the driver also writes directly while the
//! writer has nothing in hand ([`mesh_host::DirectWrites`]), so a link
//! that keeps up needs no writer wake-up and no `Written` report.

use std::io;
use std::time::Duration;
use tracing::Instrument;

use async_executor::Task;
use async_io::Timer;
use async_net::TcpStream;
use futures_lite::future;
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use mesh_host::{
    CLOSE_LINGER, ReadBuffer, WriteBatch, WriteFailure, WriteSide, WriterCmd, WriterTx,
};
use mesh_proto::mesh::ConnId;

use crate::driver::IoEvent;
use crate::net::Stream;
use crate::spawn::Spawner;

/// The driver's handle on one open connection's tasks: the writer's queue,
/// and on plain TCP the socket the driver writes to directly. The writer
/// owns the reader's task and ends it (after a linger on a graceful close,
/// at once when writing fails), so aborting has nothing more to do.
pub(crate) type ConnTasks = WriteSide<Tx, TcpStream>;

/// The writer task's queue.
#[derive(Debug)]
pub(crate) struct Tx(async_channel::Sender<WriterCmd>);

impl WriterTx for Tx {
    /// Unbounded, but the core bounds what it hands out per connection
    /// (`max_queued_bytes`).
    fn send_cmd(&self, cmd: WriterCmd) {
        let _ = self.0.try_send(cmd);
    }
}

/// Where a connection's reader and writer report.
type Links = (
    async_channel::Sender<IoEvent>,
    async_channel::Sender<IoEvent>,
);

/// Starts `stream`'s reader and writer. `alive` is held by the writer until
/// it has flushed and shut down (close waits on it).
pub(crate) fn spawn(
    spawner: &Spawner,
    conn: ConnId,
    stream: Stream,
    links: Links,
    write_stall: Duration,
    alive: async_channel::Sender<()>,
) -> ConnTasks {
    let (tx, direct) = match stream {
        // A plain socket is shared: the reader, the writer and the driver's
        // direct writes each hold a handle on it.
        Stream::Plain(tcp) => {
            let (r, w) = (tcp.clone(), tcp.clone());
            let tx = start(spawner, conn, r, w, links, write_stall, alive);
            (tx, Some(tcp))
        }
        #[cfg(feature = "tls")]
        Stream::Tls(tls) => {
            let (r, w) = futures_lite::io::split(tls);
            let tx = start(spawner, conn, r, w, links, write_stall, alive);
            (tx, None)
        }
    };
    WriteSide::new(Tx(tx), direct)
}

/// Starts the reader and the writer; returns the writer's queue.
fn start<R, W>(
    spawner: &Spawner,
    conn: ConnId,
    r: R,
    w: W,
    (io, ctl): Links,
    write_stall: Duration,
    alive: async_channel::Sender<()>,
) -> async_channel::Sender<WriterCmd>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
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
    tx
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
