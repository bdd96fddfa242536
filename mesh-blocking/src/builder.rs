//! Options for binding a [`MeshSocket`]: the advertised address, the core's
//! settings and the adapter's own timeouts.

use std::io;
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mesh_host::{self, HandshakeSlots, HostDriver, Options};
use mesh_proto::mesh::Config;
use mesh_proto::wire::Protocol;

use crate::MeshSocket;
use crate::driver::Driver;
use crate::net::{Listening, Security};
use crate::runtime::Threads;

/// Default for [`Builder::write_stall_timeout`] (30 s).
pub const DEFAULT_WRITE_STALL: Duration = mesh_host::DEFAULT_WRITE_STALL;

/// Inputs waiting for the driver, at most; readers (and callers) wait beyond it.
const INPUT_QUEUE: usize = 256;

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
pub struct Builder(Options);

impl Builder {
    /// Defaults for `protocol`.
    pub fn new(protocol: Protocol) -> Builder {
        Builder(Options::new(protocol))
    }

    /// The address peers should dial to reach us (py2p's `out_addr`). Without
    /// it we advertise the bound host and the real port, with `0.0.0.0` (or
    /// `::`) advertised as loopback: nothing probes for an external address.
    pub fn out_addr(self, host: impl Into<String>, port: u16) -> Builder {
        Builder(self.0.out_addr(host, port))
    }

    /// A connection whose writes make no progress for this long is closed
    /// (a socket write timeout); the others go on. Default
    /// [`DEFAULT_WRITE_STALL`] (30 s).
    pub fn write_stall_timeout(self, timeout: Duration) -> Builder {
        Builder(self.0.write_stall_timeout(timeout))
    }

    /// Adjusts the core's [`Config`] (limits, timeouts, `max_outgoing`...)
    /// once the advertised address is known. Calls run in order.
    pub fn config(self, f: impl FnOnce(&mut Config) + Send + 'static) -> Builder {
        Builder(self.0.config(f))
    }

    /// The seed of the core's random choices (node id salt, shuffles, jitter).
    /// Default: drawn from the clock and the process id.
    pub fn seed(self, seed: u64) -> Builder {
        Builder(self.0.seed(seed))
    }

    /// Listens on `host:port` (port 0 picks a free port, reported by
    /// [`MeshSocket::local_addr`]) and starts the node's threads.
    ///
    /// With [`Encryption::Ssl`](mesh_proto::wire::Encryption::Ssl) every
    /// connection is TLS (py2p's `"SSL"`): the node makes a fresh self-signed
    /// certificate here and accepts any peer's certificate, so this is
    /// encryption without authentication (see `mesh_host::tls`). Each TLS
    /// handshake must finish within the core's `handshake_timeout`. Fails
    /// with `Unsupported` if the crate was built without its `tls` feature.
    pub fn bind(self, host: &str, port: u16) -> io::Result<MeshSocket> {
        let security = Security::new(self.0.protocol().encryption)?;
        let listener = TcpListener::bind((host, port))?;
        let local = listener.local_addr()?;
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let (mesh, timeouts) =
            self.0
                .start(host, local, Instant::now(), unix_now, std::process::id());
        let (id, out_addr) = (mesh.id().clone(), mesh.config().out_addr.clone());

        let (tx, rx) = mpsc::sync_channel(INPUT_QUEUE);
        let slots = HandshakeSlots::new(mesh.config().max_pending_handshakes);
        let listening = Listening::spawn(listener, security.clone(), timeouts, slots, tx.clone())?;
        let rt = Threads {
            tx: tx.clone(),
            listening: Some(listening),
            listener_alive: true,
            writers: 0,
            closing: None,
            timeouts,
            security,
        };
        let host = HostDriver::new(mesh);
        let shared = host.shared();
        let driver = Driver::new(host, rx, rt);
        let span = mesh_host::node_span(&id, local.port());
        crate::spawn(format!("mesh-driver-{}", local.port()), move || {
            // Connection threads are started inside it, and nest their spans in it.
            let _node = span.entered();
            driver.run();
        })?;
        Ok(MeshSocket::new(tx, shared, id, local, out_addr))
    }
}
