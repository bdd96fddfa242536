//! What a [`HostDriver`](crate::HostDriver) asks of the adapter's runtime:
//! its channels, starting tasks (dials, connection I/O), and the listener.

use std::io;

use bytes::Bytes;

use mesh_proto::mesh::{ConnId, PeerAddr, SendError};

use crate::Channels;

/// An adapter's runtime, as the shared driver logic uses it. Every method
/// returns at once: what takes time runs in the runtime's own tasks or
/// threads, which report back through [`IoEvent`](crate::IoEvent)s.
pub trait Runtime: Channels {
    /// An open connection's byte stream, past its TLS handshake.
    type Stream;
    /// The driver's handle on one open connection's reader and writer.
    type Conn: Connection;

    /// Starts the reader and writer of a newly opened connection.
    fn open(&mut self, conn: ConnId, stream: Self::Stream) -> io::Result<Self::Conn>;

    /// Refuses an accepted connection the core turned away: writes `bytes`
    /// (its refusal), shuts the write side, drains the peer's bytes for at
    /// most [`REFUSE_LINGER`](crate::REFUSE_LINGER), then drops the stream
    /// and `slot`. Reports nothing back: the core has forgotten it.
    fn refuse(&mut self, stream: Self::Stream, bytes: Bytes, slot: crate::HandshakeSlot);

    /// Starts dialing `addr`; the outcome comes back as `IoEvent::Dialed`.
    fn dial(&mut self, conn: ConnId, addr: PeerAddr) -> io::Result<()>;

    /// The mesh is closing: stop accepting connections.
    fn stop_listening(&mut self);

    /// The core has closed every connection and told the writers to flush:
    /// answer `reply` once they are done and the listener is gone.
    fn finish_close(&mut self, reply: Self::Reply<Result<(), SendError>>);
}

/// The driver's handle on one open connection's reader and writer.
pub trait Connection {
    /// Queues bytes for writing after those queued before. `true` asks the
    /// driver to [`flush`](Self::flush) this connection at the end of its
    /// turn (said once per turn: the connection holds frames for a direct
    /// write, see [`DirectWrites`](crate::DirectWrites)).
    fn transmit(&mut self, bytes: Bytes) -> bool;

    /// End of the driver's turn: writes what `transmit` held, as far as the
    /// socket takes it now, and hands the rest to the writer. Returns the
    /// bytes written now (reported to the core at once); the writer reports
    /// its own as `Written`.
    fn flush(&mut self) -> usize {
        0
    }

    /// The writer reported `n` bytes written.
    fn written(&mut self, n: usize) {
        let _ = n;
    }

    /// Graceful close: the writer flushes what is queued, then shuts down.
    fn close(self);

    /// The writer has failed: stop reading at once and let the socket go.
    fn abort(self);
}
