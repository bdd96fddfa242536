//! What an adapter's accept loop, dialers and connection tasks tell its
//! driver. `S` is the adapter's open byte stream (plain TCP or TLS over it).

use std::io;
use std::net::SocketAddr;

use bytes::Bytes;

use mesh_proto::mesh::ConnId;

/// One I/O happening, for [`HostDriver::step`](crate::HostDriver::step).
#[derive(Debug)]
pub enum IoEvent<S> {
    /// An accepted connection, its TLS handshake done if there is one.
    Accepted {
        /// The connection's stream.
        stream: S,
        /// The peer's address.
        remote: SocketAddr,
        /// Its peer had sent bytes already (a TLS peer has, by then): over
        /// the pending-handshake bound it takes a silent connection's place
        /// (see [`Mesh::evict_silent`](mesh_proto::mesh::Mesh::evict_silent)).
        speaking: bool,
    },
    /// A dial's outcome, its TLS handshake done if there is one.
    Dialed {
        /// The connection the core asked to dial.
        conn: ConnId,
        /// Its stream, or why it could not be opened.
        result: io::Result<S>,
    },
    /// Bytes read from a connection.
    Bytes {
        /// The connection.
        conn: ConnId,
        /// What was read.
        bytes: Bytes,
    },
    /// Bytes a connection's writer wrote.
    Written {
        /// The connection.
        conn: ConnId,
        /// How many.
        n: usize,
    },
    /// End of stream or a read error.
    ReadClosed {
        /// The connection.
        conn: ConnId,
    },
    /// A connection's writer finished (an adapter may report only the
    /// failures: a flushed writer's connection is closed already).
    WriterDone {
        /// The connection.
        conn: ConnId,
        /// Why it finished.
        end: WriteEnd,
    },
}

/// How a connection's writer finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteEnd {
    /// Everything queued was written, then the write side shut down.
    Flushed,
    /// No progress within the write-stall timeout.
    Stalled,
    /// An I/O error.
    Failed,
}
