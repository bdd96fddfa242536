//! One connection's byte movers: a reader thread that hands what arrives to
//! the driver, and a writer thread that writes `Transmit` bytes in order,
//! reports progress, and on `Close` flushes what was queued before shutting
//! its side down.
//!
//! Both are generic over the stream's halves (`Read`, `Write`) plus a
//! [`Shutdown`] handle on the socket under them: `TcpStream` clones for
//! plaintext (`net::halves`), or TLS halves sharing one rustls connection
//! (`tls`; `rustls::StreamOwned` cannot be split as it is), made on the
//! accept and dial threads, never on the driver's. For TLS, shutting the
//! write side down sends `close_notify` first.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown as How, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};

use bytes::{Buf, Bytes};
use mesh_host::{CLOSE_LINGER, Connection, READ_CHUNK, WriteEnd};
use mesh_proto::mesh::ConnId;

use crate::command::Input;
use crate::driver::IoEvent;

/// Shutting down the socket under a connection: the write side after a
/// graceful flush, both sides to stop a reader blocked in `read`.
pub(crate) trait Shutdown: Send + Sync + 'static {
    fn shutdown(&self, how: How) -> io::Result<()>;
}

impl Shutdown for TcpStream {
    fn shutdown(&self, how: How) -> io::Result<()> {
        TcpStream::shutdown(self, how)
    }
}

/// A connection's stream, split for its two threads. The writer's stream
/// must fail a write that makes no progress for the write-stall timeout
/// with `WouldBlock` or `TimedOut` (a socket write timeout does that).
pub(crate) struct Halves<R, W> {
    pub(crate) reader: R,
    pub(crate) writer: W,
    pub(crate) socket: Arc<dyn Shutdown>,
}

impl<R, W> std::fmt::Debug for Halves<R, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Halves").finish_non_exhaustive()
    }
}

/// The halves as the accept and dial threads hand them to the driver.
pub(crate) type Stream = Halves<Box<dyn Read + Send>, Box<dyn Write + Send>>;

/// What the driver tells a writer.
#[derive(Debug)]
enum WriterCmd {
    /// Write these bytes after everything queued before them.
    Data(Bytes),
    /// Flush what is queued, then shut the write side down.
    Close,
}

/// The driver's handle on one open connection's threads.
pub(crate) struct ConnThreads {
    writer: Sender<WriterCmd>,
}

impl ConnThreads {
    /// Starts the reader and writer threads of `conn`. The writer reports
    /// [`IoEvent::WriterDone`] exactly once, when it has finished.
    pub(crate) fn spawn<R, W>(
        conn: ConnId,
        halves: Halves<R, W>,
        io: SyncSender<Input>,
    ) -> io::Result<ConnThreads>
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
    {
        let Halves {
            reader,
            writer,
            socket,
        } = halves;
        // Dropped when the reader ends: the writer's linger waits for that.
        let (read_done, reader_ended) = mpsc::channel::<()>();
        let (tx, rx) = mpsc::channel();
        let wio = io.clone();
        let wsocket = Arc::clone(&socket);
        // Inside the node's span (the driver thread starts us).
        let span = tracing::info_span!("conn", id = conn.0);
        let wspan = span.clone();
        crate::spawn(format!("mesh-write-{}", conn.0), move || {
            let _conn = wspan.entered();
            write_loop(conn, writer, rx, wio, wsocket, reader_ended);
        })?;
        let spawned = crate::spawn(format!("mesh-read-{}", conn.0), move || {
            let _conn = span.entered();
            read_loop(conn, reader, io);
            drop(read_done);
        });
        if let Err(e) = spawned {
            // The writer reports its end; stop it now.
            let _ = socket.shutdown(How::Both);
            return Err(e);
        }
        Ok(ConnThreads { writer: tx })
    }
}

impl Connection for ConnThreads {
    /// Queues bytes for writing. The channel is unbounded, but the core
    /// bounds what it hands out per connection (`max_queued_bytes`).
    fn transmit(&self, bytes: Bytes) {
        // A writer that is gone has reported (or will report) why.
        let _ = self.writer.send(WriterCmd::Data(bytes));
    }

    /// Graceful close: the writer flushes what is queued, then shuts down.
    fn close(self) {
        let _ = self.writer.send(WriterCmd::Close);
    }

    /// The writer has ended: its reader stops once the writer shut the
    /// socket down, so only this handle is left to drop.
    fn abort(self) {}
}

/// Reads until end of stream or an error, forwarding each chunk to the
/// driver (blocking: a busy driver slows reading down). Once the driver is
/// gone it only drains, until the peer closes or the writer's linger ends.
fn read_loop<R: Read>(conn: ConnId, mut r: R, io: SyncSender<Input>) {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut forwarding = true;
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if forwarding {
                    let bytes = Bytes::copy_from_slice(&buf[..n]);
                    forwarding = io.send(Input::Io(IoEvent::Bytes { conn, bytes })).is_ok();
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(error) => {
                tracing::debug!(%conn, %error, "read failed");
                break;
            }
        }
    }
    tracing::trace!(%conn, "reader done");
    if forwarding {
        let _ = io.send(Input::Io(IoEvent::ReadClosed { conn }));
    }
}

/// Writes in order until told to close (or the driver is gone), reporting
/// every write, then flushes and shuts the write side down. A write that
/// makes no progress within the write-stall timeout (or fails) ends the
/// connection. After a graceful end it lingers until the reader is done.
fn write_loop<W: Write>(
    conn: ConnId,
    w: W,
    rx: Receiver<WriterCmd>,
    io: SyncSender<Input>,
    socket: Arc<dyn Shutdown>,
    reader_ended: Receiver<()>,
) {
    let end = write_all(conn, w, &rx, &io, &*socket);
    match &end {
        WriteEnd::Flushed => tracing::debug!(%conn, "closed after flushing"),
        WriteEnd::Stalled => tracing::warn!(%conn, "write stalled: closing connection"),
        WriteEnd::Failed => {}
    }
    let graceful = matches!(end, WriteEnd::Flushed);
    let _ = io.send(Input::Io(IoEvent::WriterDone { conn, end }));
    drop(io);
    if graceful {
        // Keep draining the peer's bytes a while, then let the socket go.
        let _ = reader_ended.recv_timeout(CLOSE_LINGER);
    }
    // Wakes a reader still blocked in `read`.
    let _ = socket.shutdown(How::Both);
}

fn write_all<W: Write>(
    conn: ConnId,
    mut w: W,
    rx: &Receiver<WriterCmd>,
    io: &SyncSender<Input>,
    socket: &dyn Shutdown,
) -> WriteEnd {
    let result = (|| {
        // A closed channel (the driver is gone) ends it like `Close`.
        while let Ok(WriterCmd::Data(mut bytes)) = rx.recv() {
            while bytes.has_remaining() {
                let n = match w.write(&bytes) {
                    Ok(0) => return Err(io::Error::from(ErrorKind::WriteZero)),
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                bytes.advance(n);
                // The driver may be gone (closing): keep flushing.
                let _ = io.send(Input::Io(IoEvent::Written { conn, n }));
            }
            w.flush()?;
        }
        w.flush()?;
        socket.shutdown(How::Write)
    })();
    match result {
        Ok(()) => WriteEnd::Flushed,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            WriteEnd::Stalled
        }
        Err(error) => {
            tracing::debug!(%conn, %error, "write failed");
            WriteEnd::Failed
        }
    }
}
