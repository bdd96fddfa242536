//! How a dial or a connection's writer ended, logged and reported the same
//! way by every async adapter.

use std::io;
use std::time::Duration;

use mesh_proto::mesh::{ConnId, PeerAddr};

use crate::{IoEvent, WriteEnd};

/// Why a connection's writer stopped before a graceful close.
#[derive(Debug)]
pub enum WriteFailure {
    /// No progress within the write-stall timeout.
    Stalled,
    /// An I/O error.
    Failed(io::Error),
}

impl WriteFailure {
    /// Logs the failure; how the writer ended, for `IoEvent::WriterDone`.
    pub fn end(self, conn: ConnId, write_stall: Duration) -> WriteEnd {
        match self {
            WriteFailure::Stalled => {
                tracing::warn!(%conn, ?write_stall, "write stalled: closing connection");
                WriteEnd::Stalled
            }
            WriteFailure::Failed(error) => {
                tracing::debug!(%conn, %error, "write failed");
                WriteEnd::Failed
            }
        }
    }
}

/// Logs a dial's outcome; the event that reports it to the driver.
pub fn dialed<S>(conn: ConnId, addr: &PeerAddr, result: io::Result<S>) -> IoEvent<S> {
    match &result {
        Ok(_) => tracing::debug!(%conn, %addr, "dialed"),
        Err(error) => tracing::debug!(%conn, %addr, %error, "dial failed"),
    }
    IoEvent::Dialed { conn, result }
}
