//! Options for binding a [`MeshSocket`]: the advertised address, the core's
//! settings and the adapter's own timeouts.

use std::io;
use std::time::Duration;

use futures_lite::future;
use mesh_proto::mesh::Config;
use mesh_proto::wire::Protocol;

use crate::MeshSocket;

/// Default for [`Builder::write_stall_timeout`] (30 s).
pub const DEFAULT_WRITE_STALL: Duration = mesh_async_std::DEFAULT_WRITE_STALL;

/// Binds a [`MeshSocket`] with more control than [`MeshSocket::bind`].
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// use std::time::Duration;
/// use mesh_blocking::{Encryption, MeshSocket, Protocol};
///
/// let sock = MeshSocket::builder(Protocol::new("chat", Encryption::Plaintext))
///     .write_stall_timeout(Duration::from_secs(5))
///     .config(|cfg| cfg.max_outgoing = 8)
///     .bind("127.0.0.1", 0)?;
/// assert_eq!(sock.out_addr().port, sock.local_addr().port());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Builder(mesh_async_std::Builder);

impl Builder {
    /// Defaults for `protocol`.
    pub fn new(protocol: Protocol) -> Builder {
        Builder(mesh_async_std::Builder::new(protocol))
    }

    /// The address peers are told to dial (py2p's `out_addr`); by default
    /// the bound host and port (a wildcard host advertised as the machine's
    /// LAN address, or loopback without one).
    pub fn out_addr(self, host: impl Into<String>, port: u16) -> Builder {
        Builder(self.0.out_addr(host, port))
    }

    /// How long a connection's writes may make no progress before it is
    /// closed (default [`DEFAULT_WRITE_STALL`]).
    pub fn write_stall_timeout(self, timeout: Duration) -> Builder {
        Builder(self.0.write_stall_timeout(timeout))
    }

    /// Adjusts the core's [`Config`] (limits, timeouts, compression...).
    pub fn config(self, f: impl FnOnce(&mut Config) + Send + 'static) -> Builder {
        Builder(self.0.config(f))
    }

    /// The seed of the node's random choices (default: mixed from the clock,
    /// the process id and a counter).
    pub fn seed(self, seed: u64) -> Builder {
        Builder(self.0.seed(seed))
    }

    /// Listens on `host:port` (port 0 picks a free port, reported by
    /// [`MeshSocket::local_addr`]) and starts the node's thread.
    ///
    /// With [`Encryption::Ssl`](mesh_proto::wire::Encryption::Ssl) every
    /// connection is TLS (py2p's `"SSL"`): the node makes a fresh self-signed
    /// certificate here and accepts any peer's certificate, so this is
    /// encryption without authentication (see `mesh_host::tls`). Each TLS
    /// handshake must finish within the core's `handshake_timeout`. Fails
    /// with `Unsupported` if the crate was built without its `tls` feature.
    pub fn bind(self, host: &str, port: u16) -> io::Result<MeshSocket> {
        future::block_on(self.0.bind(host, port)).map(MeshSocket::new)
    }
}
