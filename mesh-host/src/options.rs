//! The options every adapter's `Builder` takes, and turning them into a
//! [`Mesh`] once the listening socket is bound.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mesh_proto::mesh::{Config, Mesh, PeerAddr};
use mesh_proto::wire::Protocol;

use crate::{DEFAULT_WRITE_STALL, default_out_addr, mix_seed};

/// One `config` call of a builder.
type Configure = Box<dyn FnOnce(&mut Config) + Send>;

/// What a socket is bound with: the advertised address, adjustments to the
/// core's [`Config`], the write-stall timeout and the seed.
pub struct Options {
    protocol: Protocol,
    out_addr: Option<PeerAddr>,
    write_stall: Duration,
    seed: Option<u64>,
    configure: Vec<Configure>,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("protocol", &self.protocol)
            .field("out_addr", &self.out_addr)
            .field("write_stall", &self.write_stall)
            .field("seed", &self.seed)
            .field("configure", &self.configure.len())
            .finish()
    }
}

/// The adapter's own time limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// How long a connection's writes may make no progress.
    pub write_stall: Duration,
    /// TCP connect (the core's `handshake_timeout`).
    pub dial: Duration,
    /// TLS handshake (the core's `handshake_timeout`).
    pub handshake: Duration,
}

impl Options {
    /// Defaults for `protocol`.
    pub fn new(protocol: Protocol) -> Options {
        Options {
            protocol,
            out_addr: None,
            write_stall: DEFAULT_WRITE_STALL,
            seed: None,
            configure: Vec::new(),
        }
    }

    /// The protocol the socket speaks.
    pub fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    /// The address peers should dial to reach us (default: see
    /// [`default_out_addr`]).
    pub fn out_addr(mut self, host: impl Into<String>, port: u16) -> Options {
        self.out_addr = Some(PeerAddr::new(host, port));
        self
    }

    /// The write-stall timeout (default [`DEFAULT_WRITE_STALL`]).
    pub fn write_stall_timeout(mut self, timeout: Duration) -> Options {
        self.write_stall = timeout;
        self
    }

    /// One more adjustment of the core's [`Config`], run in order once the
    /// advertised address is known.
    pub fn config(mut self, f: impl FnOnce(&mut Config) + Send + 'static) -> Options {
        self.configure.push(Box::new(f));
        self
    }

    /// The seed of the core's random choices (default: see [`mix_seed`]).
    pub fn seed(mut self, seed: u64) -> Options {
        self.seed = Some(seed);
        self
    }

    /// The core for a socket bound as `host` at `local`, and the adapter's
    /// timeouts. The caller reads the clocks (`now`, `unix_now`) and its
    /// process id, used for a seed when none was given.
    pub fn start(
        self,
        host: &str,
        local: SocketAddr,
        now: Instant,
        unix_now: Duration,
        pid: u32,
    ) -> (Mesh, Timeouts) {
        // One value per socket of this process: sockets bound in the same
        // nanosecond still get different seeds.
        static SOCKETS: AtomicU64 = AtomicU64::new(0);

        let out_addr = self
            .out_addr
            .unwrap_or_else(|| default_out_addr(host, local.port()));
        let mut cfg = Config::new(self.protocol, out_addr);
        for f in self.configure {
            f(&mut cfg);
        }
        let timeouts = Timeouts {
            write_stall: self.write_stall,
            dial: cfg.handshake_timeout,
            handshake: cfg.handshake_timeout,
        };
        let seed = self.seed.unwrap_or_else(|| {
            let n = SOCKETS.fetch_add(1, Ordering::Relaxed);
            mix_seed(unix_now, pid, n)
        });
        let mesh = Mesh::new(cfg, seed, now, unix_now);
        let (id, out_addr) = (mesh.id(), &mesh.config().out_addr);
        tracing::debug!(%id, %local, %out_addr, "bound");
        (mesh, timeouts)
    }
}
