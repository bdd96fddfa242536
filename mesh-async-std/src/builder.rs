//! Options for binding a [`MeshSocket`]: the advertised address, the core's
//! settings and the adapter's own timeouts.

use std::io;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_net::TcpListener;
use mesh_host::Options;
use mesh_proto::mesh::Config;
use mesh_proto::wire::Protocol;

use crate::MeshSocket;
use crate::driver::Driver;
use crate::net::Security;
use crate::spawn::Spawner;

/// Binds a [`MeshSocket`] with more control than [`MeshSocket::bind`].
///
/// ```
/// # async_std::task::block_on(async {
/// use std::time::Duration;
/// use mesh_async_std::{Encryption, MeshSocket, Protocol};
///
/// let sock = MeshSocket::builder(Protocol::new("chat", Encryption::Plaintext))
///     .write_stall_timeout(Duration::from_secs(5))
///     .config(|cfg| cfg.max_outgoing = 8)
///     .bind("127.0.0.1", 0)
///     .await?;
/// assert_eq!(sock.out_addr().port, sock.local_addr().port());
/// # std::io::Result::Ok(()) }).unwrap();
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
    /// `::`) advertised as the machine's LAN address (the local address of a
    /// UDP socket routed to a public address, which sends nothing, as py2p
    /// does), or loopback when there is no route. Behind NAT, pass the public
    /// address here.
    pub fn out_addr(self, host: impl Into<String>, port: u16) -> Builder {
        Builder(self.0.out_addr(host, port))
    }

    /// A connection whose writes make no progress for this long is closed;
    /// the others go on. Default [`DEFAULT_WRITE_STALL`](crate::DEFAULT_WRITE_STALL) (30 s).
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
    /// [`MeshSocket::local_addr`]), starts the socket's executor thread and
    /// the node on it. Works from any executor.
    ///
    /// With [`Encryption::Ssl`](mesh_proto::wire::Encryption::Ssl) every
    /// connection is TLS (py2p's `"SSL"`): the node makes a fresh self-signed
    /// certificate here and accepts any peer's certificate, so this is
    /// encryption without authentication (see `mesh_host::tls`). Fails
    /// with `Unsupported` if the crate was built without its `tls` feature.
    pub async fn bind(self, host: &str, port: u16) -> io::Result<MeshSocket> {
        let security = Security::new(self.0.protocol().encryption)?;
        let listener = TcpListener::try_from(mesh_host::listen(host, port)?)?;
        let local = listener.local_addr()?;
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let (mesh, timeouts) =
            self.0
                .start(host, local, Instant::now(), unix_now, std::process::id());
        let (id, out_addr) = (mesh.id().clone(), mesh.config().out_addr.clone());
        let spawner = Spawner::start(local.port())?;
        let span = mesh_host::node_span(&id, local.port());
        let (cmds, shared) = Driver::spawn(mesh, listener, timeouts, security, spawner, span);
        Ok(MeshSocket::new(cmds, shared, id, local, out_addr))
    }
}
