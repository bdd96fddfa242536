//! TCP specifics: the accept thread, outgoing dials, and splitting a stream
//! into a connection's [`Halves`] (on those threads, so the driver never
//! makes a socket call).
//!
//! With py2p's `"SSL"` encryption ([`Security::Tls`]) every socket first
//! goes through a TLS handshake, bounded by the core's `handshake_timeout`:
//! a dial's on its dial thread, an accepted socket's on a thread of its own
//! (a silent peer holds up no other). A connection reaches the driver (and
//! the core) only once its handshake is done; one that fails or times out
//! is dropped right there, closing the socket (a failed dial is reported as
//! such).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use mesh_host::{HandshakeSlots, Timeouts};
use mesh_proto::mesh::{ConnId, PeerAddr};
use mesh_proto::wire::Encryption;

use crate::command::Input;
use crate::conn::{Halves, Stream};
use crate::driver::IoEvent;

/// Pause after a failed `accept` (out of descriptors...) so it does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Bound on the loopback connection that wakes the accept thread to stop.
const WAKE_LIMIT: Duration = Duration::from_secs(2);

/// How sockets are secured before their connection threads start: py2p's
/// encryption setting.
#[derive(Clone, Debug)]
pub(crate) enum Security {
    /// `"Plaintext"`: the TCP stream as it is.
    Plaintext,
    /// `"SSL"`: TLS with a fresh self-signed certificate, verifying nothing
    /// (encryption without authentication, see `mesh_host::tls`).
    #[cfg(feature = "tls")]
    Tls(crate::tls::Tls),
}

impl Security {
    /// The setup for `encryption`; for TLS this makes the node's certificate.
    pub(crate) fn new(encryption: Encryption) -> io::Result<Security> {
        match encryption {
            Encryption::Plaintext => Ok(Security::Plaintext),
            #[cfg(feature = "tls")]
            Encryption::Ssl => Ok(Security::Tls(crate::tls::Tls::new()?)),
            #[cfg(not(feature = "tls"))]
            Encryption::Ssl => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "SSL encryption needs mesh-blocking's `tls` feature",
            )),
        }
    }
}

/// The driver's handle on the accept thread.
#[derive(Debug)]
pub(crate) struct Listening {
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl Listening {
    /// Starts the accept thread; it reports [`Input::ListenerDone`] once
    /// the listening socket is closed.
    pub(crate) fn spawn(
        listener: TcpListener,
        security: Security,
        timeouts: Timeouts,
        slots: HandshakeSlots,
        io: SyncSender<Input>,
    ) -> io::Result<Listening> {
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        crate::spawn(format!("mesh-accept-{}", addr.port()), move || {
            accept_loop(listener, &security, timeouts, &slots, &flag, &io);
            let _ = io.send(Input::ListenerDone);
        })?;
        Ok(Listening { stop, addr })
    }

    /// Tells the accept thread to stop, and wakes it with a connection to
    /// itself. Returns `false` if it could not be woken (it then stops at
    /// the next incoming connection).
    pub(crate) fn stop(self) -> bool {
        self.stop.store(true, Ordering::SeqCst);
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        match TcpStream::connect_timeout(&wake, WAKE_LIMIT) {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(%error, %wake, "could not wake the accept thread");
                false
            }
        }
    }
}

/// Accepts until told to stop or the driver is gone.
#[cfg_attr(not(feature = "tls"), allow(unused_variables))]
fn accept_loop(
    listener: TcpListener,
    security: &Security,
    timeouts: Timeouts,
    slots: &HandshakeSlots,
    stop: &AtomicBool,
    io: &SyncSender<Input>,
) {
    for accepted in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let stream = match accepted {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                std::thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        // A peer already gone: drop it.
        let remote = match stream.peer_addr() {
            Ok(remote) => remote,
            Err(error) => {
                tracing::debug!(%error, "accepted stream unusable");
                continue;
            }
        };
        tracing::debug!(%remote, "accepted");
        match security {
            Security::Plaintext => {
                // Out of descriptors for the clones: drop it.
                let stream = match halves(stream, timeouts.write_stall) {
                    Ok(stream) => stream,
                    Err(error) => {
                        tracing::debug!(%remote, %error, "accepted stream unusable");
                        continue;
                    }
                };
                if io
                    .send(Input::Io(IoEvent::Accepted { stream, remote }))
                    .is_err()
                {
                    break;
                }
            }
            #[cfg(feature = "tls")]
            Security::Tls(tls) => {
                let Some(slot) = slots.try_take() else {
                    tracing::debug!(%remote, "too many TLS handshakes under way: closed");
                    continue;
                };
                let (tls, io) = (tls.clone(), io.clone());
                let spawned = crate::spawn(format!("mesh-tls-accept-{remote}"), move || {
                    let _slot = slot;
                    prepare(&stream);
                    let limit = timeouts.handshake;
                    let ready = |s: &TcpStream| write_timeout(s, timeouts.write_stall);
                    match tls.accept(stream, limit, ready) {
                        // A driver that is gone drops the stream.
                        Ok(stream) => {
                            let _ = io.send(Input::Io(IoEvent::Accepted { stream, remote }));
                        }
                        // Dropping the stream closes the socket.
                        Err(error) => tracing::debug!(%remote, %error, "TLS accept failed"),
                    }
                });
                if let Err(error) = spawned {
                    tracing::warn!(%remote, %error, "could not start a TLS handshake");
                }
            }
        }
    }
    tracing::trace!("accept thread done");
}

/// Dials `addr` (each of its resolved addresses, each bounded by the dial
/// timeout) and reports the outcome.
pub(crate) fn dial(
    conn: ConnId,
    addr: PeerAddr,
    security: &Security,
    timeouts: Timeouts,
    io: SyncSender<Input>,
) {
    let result = connect(&addr, timeouts.dial).and_then(|tcp| match security {
        Security::Plaintext => halves(tcp, timeouts.write_stall),
        #[cfg(feature = "tls")]
        Security::Tls(tls) => {
            prepare(&tcp);
            let ready = |s: &TcpStream| write_timeout(s, timeouts.write_stall);
            tls.connect(tcp, timeouts.handshake, ready)
        }
    });
    match &result {
        Ok(_) => tracing::debug!(%conn, %addr, "dialed"),
        Err(error) => tracing::debug!(%conn, %addr, %error, "dial failed"),
    }
    let _ = io.send(Input::Io(IoEvent::Dialed { conn, result }));
}

fn connect(addr: &PeerAddr, limit: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for sa in (addr.host.as_str(), addr.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&sa, limit) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Readies a plaintext stream for a connection's threads: no Nagle delay,
/// writes failing after `write_stall` without progress, and one handle per
/// thread.
fn halves(stream: TcpStream, write_stall: Duration) -> io::Result<Stream> {
    prepare(&stream);
    write_timeout(&stream, write_stall)?;
    Ok(Halves {
        reader: Box::new(stream.try_clone()?),
        socket: Arc::new(stream.try_clone()?),
        writer: Box::new(stream),
    })
}

/// Frames are small messages: send them without Nagle's delay.
fn prepare(stream: &TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "set_nodelay failed");
    }
}

/// Writes fail after `write_stall` without progress.
fn write_timeout(stream: &TcpStream, write_stall: Duration) -> io::Result<()> {
    // A zero timeout means "none" to the OS: keep the smallest real one.
    stream.set_write_timeout(Some(write_stall.max(Duration::from_millis(1))))
}
