//! One connection's byte movers: a reader task that hands what arrives to the
//! driver, and a writer task that writes `Transmit` bytes in order, reports
//! progress, and on `Close` flushes what was queued before shutting down.
//!
//! Both are generic over the stream (`AsyncRead + AsyncWrite`): plain TCP or
//! TLS over it (`net::Stream`), already past its TLS handshake. On plain TCP
//! the driver also writes directly while the writer has nothing in hand
//! ([`mesh_host::DirectWrites`]), so a link that keeps up needs no writer wake-up and
//! no `Written` report.

use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use mesh_host::{
    CLOSE_LINGER, ReadBuffer, WriteBatch, WriteFailure, WriteSide, WriterCmd, WriterTx,
};
use mesh_proto::mesh::ConnId;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::timeout;

use crate::driver::IoEvent;
use crate::net::Stream;
use crate::shared_tcp::SharedTcp;

/// The driver's handle on one open connection's tasks: the writer's queue,
/// and on plain TCP the socket the driver writes to directly.
pub(crate) type ConnTasks = WriteSide<Tx, Arc<TcpStream>>;

/// Where a connection's tasks report, its stall limit, and the writer's
/// hold on the close (see [`spawn`]).
type Links = (
    mpsc::Sender<IoEvent>,
    mpsc::UnboundedSender<IoEvent>,
    Duration,
    mpsc::Sender<()>,
);

/// The writer task's queue, and the reader to stop if the writer fails.
#[derive(Debug)]
pub(crate) struct Tx {
    writer: mpsc::UnboundedSender<WriterCmd>,
    reader: AbortHandle,
}

impl WriterTx for Tx {
    /// Unbounded, but the core bounds what it hands out per connection
    /// (`max_queued_bytes`).
    fn send_cmd(&self, cmd: WriterCmd) {
        let _ = self.writer.send(cmd);
    }

    /// Stops reading at once (dropping both halves closes the socket).
    fn abort(&self) {
        self.reader.abort();
    }
}

/// Starts `stream`'s reader and writer. `alive` is held by the writer
/// until it has flushed and shut down (close waits on it).
pub(crate) fn spawn(
    conn: ConnId,
    stream: Stream,
    io: mpsc::Sender<IoEvent>,
    ctl: mpsc::UnboundedSender<IoEvent>,
    write_stall: Duration,
    alive: mpsc::Sender<()>,
) -> ConnTasks {
    let links = (io, ctl, write_stall, alive);
    match stream {
        Stream::Plain(tcp) => {
            let tcp = Arc::new(tcp);
            let shared = SharedTcp(tcp.clone());
            start(conn, shared.clone(), shared, Some(tcp), links)
        }
        #[cfg(feature = "tls")]
        Stream::Tls(tls) => {
            let (r, w) = tokio::io::split(tls);
            start(conn, r, w, None, links)
        }
    }
}

fn start<R, W>(
    conn: ConnId,
    r: R,
    w: W,
    direct: Option<Arc<TcpStream>>,
    (io, ctl, write_stall, alive): Links,
) -> ConnTasks
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    // Inside the node's span (the driver spawns us).
    let span = tracing::info_span!("conn", id = conn.0);
    let reader = tokio::spawn(read_loop(conn, r, io).instrument(span.clone())).abort_handle();
    let (tx, rx) = mpsc::unbounded_channel();
    let linger = reader.clone();
    tokio::spawn(
        async move {
            write_loop(conn, w, rx, ctl, write_stall, linger).await;
            drop(alive);
        }
        .instrument(span),
    );
    WriteSide::new(Tx { writer: tx, reader }, direct)
}

/// Reads until end of stream or an error, forwarding each chunk to the
/// driver (awaiting: a busy driver slows reading down). Once the driver is
/// gone it only drains, until the peer closes or the linger runs out.
async fn read_loop<R: AsyncRead + Unpin>(conn: ConnId, mut r: R, io: mpsc::Sender<IoEvent>) {
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
    mut rx: mpsc::UnboundedReceiver<WriterCmd>,
    ctl: mpsc::UnboundedSender<IoEvent>,
    write_stall: Duration,
    reader: AbortHandle,
) {
    let result = async {
        let mut batch = WriteBatch::default();
        while let Some(cmd) = rx.recv().await {
            let WriterCmd::Data(first) = cmd else { break };
            // Everything queued behind it leaves in the same write.
            let closing = batch.gather(first, || rx.try_recv().ok());
            let n = write_batch(&mut w, batch.bytes(), write_stall).await?;
            batch.clear();
            // One report per batch. The driver may be gone (closing): keep flushing.
            let _ = ctl.send(IoEvent::Written { conn, n });
            if closing {
                break;
            }
            if rx.is_empty() {
                batch.release();
                stalled(write_stall, w.flush()).await?;
            }
        }
        stalled(write_stall, w.shutdown()).await
    }
    .await;
    match result {
        Ok(()) => {
            tracing::debug!(%conn, "closed after flushing");
            // Keep draining the peer's bytes a while, then let the socket go.
            tokio::spawn(async move {
                tokio::time::sleep(CLOSE_LINGER).await;
                reader.abort();
            });
        }
        Err(failure) => {
            let end = failure.end(conn, write_stall);
            reader.abort();
            let _ = ctl.send(IoEvent::WriterDone { conn, end });
        }
    }
}

/// Writes all of `bytes`, each `write` call under the write-stall timeout
/// (a slow peer that keeps taking bytes is not stalled).
async fn write_batch<W: AsyncWrite + Unpin>(
    w: &mut W,
    bytes: &[u8],
    write_stall: Duration,
) -> Result<usize, WriteFailure> {
    let mut off = 0;
    while off < bytes.len() {
        off += match timeout(write_stall, w.write(&bytes[off..])).await {
            Err(_) => return Err(WriteFailure::Stalled),
            Ok(Err(e)) => return Err(WriteFailure::Failed(e)),
            Ok(Ok(0)) => return Err(WriteFailure::Failed(std::io::ErrorKind::WriteZero.into())),
            Ok(Ok(n)) => n,
        };
    }
    Ok(off)
}

/// Runs one write-side operation under the write-stall timeout.
async fn stalled(
    limit: Duration,
    op: impl Future<Output = std::io::Result<()>>,
) -> Result<(), WriteFailure> {
    match timeout(limit, op).await {
        Err(_) => Err(WriteFailure::Stalled),
        Ok(Err(e)) => Err(WriteFailure::Failed(e)),
        Ok(Ok(())) => Ok(()),
    }
}
