//! Options for binding a [`MeshSocket`]: the advertised address, the core's
//! settings and the adapter's own timeouts.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_net::TcpListener;
use mesh_proto::host::{self, DEFAULT_WRITE_STALL};
use mesh_proto::mesh::{Config, Mesh, PeerAddr};
use mesh_proto::wire::Protocol;

use crate::MeshSocket;
use crate::driver::{Driver, Timeouts};
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
pub struct Builder {
    protocol: Protocol,
    out_addr: Option<PeerAddr>,
    write_stall: Duration,
    seed: Option<u64>,
    configure: Vec<Configure>,
}

/// One [`Builder::config`] call.
type Configure = Box<dyn FnOnce(&mut Config) + Send>;

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("protocol", &self.protocol)
            .field("out_addr", &self.out_addr)
            .field("write_stall", &self.write_stall)
            .field("seed", &self.seed)
            .field("configure", &self.configure.len())
            .finish()
    }
}

impl Builder {
    /// Defaults for `protocol`.
    pub fn new(protocol: Protocol) -> Builder {
        Builder {
            protocol,
            out_addr: None,
            write_stall: DEFAULT_WRITE_STALL,
            seed: None,
            configure: Vec::new(),
        }
    }

    /// The address peers should dial to reach us (py2p's `out_addr`). Without
    /// it we advertise the bound host and the real port, with `0.0.0.0` (or
    /// `::`) advertised as loopback: nothing probes for an external address.
    pub fn out_addr(mut self, host: impl Into<String>, port: u16) -> Builder {
        self.out_addr = Some(PeerAddr::new(host, port));
        self
    }

    /// A connection whose writes make no progress for this long is closed;
    /// the others go on. Default [`DEFAULT_WRITE_STALL`] (30 s).
    pub fn write_stall_timeout(mut self, timeout: Duration) -> Builder {
        self.write_stall = timeout;
        self
    }

    /// Adjusts the core's [`Config`] (limits, timeouts, `max_outgoing`...)
    /// once the advertised address is known. Calls run in order.
    pub fn config(mut self, f: impl FnOnce(&mut Config) + Send + 'static) -> Builder {
        self.configure.push(Box::new(f));
        self
    }

    /// The seed of the core's random choices (node id salt, shuffles, jitter).
    /// Default: drawn from the clock and the process id.
    pub fn seed(mut self, seed: u64) -> Builder {
        self.seed = Some(seed);
        self
    }

    /// Listens on `host:port` (port 0 picks a free port, reported by
    /// [`MeshSocket::local_addr`]), starts the socket's executor thread and
    /// the node on it. Works from any executor.
    ///
    /// With [`Encryption::Ssl`](mesh_proto::wire::Encryption::Ssl) every
    /// connection is TLS (py2p's `"SSL"`): the node makes a fresh self-signed
    /// certificate here and accepts any peer's certificate, so this is
    /// encryption without authentication (see `mesh_proto::tls`). Fails
    /// with `Unsupported` if the crate was built without its `tls` feature.
    pub async fn bind(self, host: &str, port: u16) -> io::Result<MeshSocket> {
        static SOCKETS: AtomicU64 = AtomicU64::new(0);

        let security = Security::new(self.protocol.encryption)?;
        let listener = TcpListener::bind((host, port)).await?;
        let local = listener.local_addr()?;
        let out_addr = self
            .out_addr
            .unwrap_or_else(|| host::default_out_addr(host, local.port()));
        let mut cfg = Config::new(self.protocol, out_addr);
        for f in self.configure {
            f(&mut cfg);
        }
        let timeouts = Timeouts {
            write_stall: self.write_stall,
            dial: cfg.handshake_timeout,
            handshake: cfg.handshake_timeout,
        };
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let seed = self.seed.unwrap_or_else(|| {
            let n = SOCKETS.fetch_add(1, Ordering::Relaxed);
            host::mix_seed(unix_now, std::process::id(), n)
        });
        let mesh = Mesh::new(cfg, seed, Instant::now(), unix_now);
        let id = mesh.id().clone();
        let out_addr = mesh.config().out_addr.clone();
        tracing::debug!(%id, %local, %out_addr, "bound");
        let spawner = Spawner::start(local.port())?;
        let cmds = Driver::spawn(mesh, listener, timeouts, security, spawner);
        Ok(MeshSocket::new(cmds, id, local, out_addr))
    }
}
