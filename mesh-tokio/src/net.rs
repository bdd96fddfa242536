//! Opening streams: the accept loop and outgoing dials. Each opens the TCP
//! stream, wraps it in TLS when the protocol's encryption is py2p's `"SSL"`
//! (see [`Security`]), and hands it to the driver, which gives it a
//! [`ConnId`] and its tasks. A connection reaches the driver (and the core)
//! only once its TLS handshake is done: one that fails or takes longer than
//! the core's `handshake_timeout` is dropped (closing the socket) right here.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use mesh_host::{self, HandshakeSlots, Timeouts};
use mesh_proto::mesh::{ConnId, PeerAddr};
use mesh_proto::wire::Encryption;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
#[cfg(feature = "tls")]
use tokio::task::JoinSet;

use crate::driver::IoEvent;

/// Pause after a failed `accept` (out of descriptors...) so it does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How sockets are secured before their connection tasks start: py2p's
/// encryption setting.
#[derive(Clone)]
pub(crate) enum Security {
    /// `"Plaintext"`: the TCP stream as it is.
    Plaintext,
    /// `"SSL"`: TLS with a fresh self-signed certificate, verifying nothing
    /// (encryption without authentication, see `mesh_host::tls`).
    #[cfg(feature = "tls")]
    Tls {
        acceptor: tokio_rustls::TlsAcceptor,
        connector: tokio_rustls::TlsConnector,
    },
}

impl Security {
    /// The setup for `encryption`; for TLS this makes the node's certificate.
    pub(crate) fn new(encryption: Encryption) -> io::Result<Security> {
        match encryption {
            Encryption::Plaintext => Ok(Security::Plaintext),
            #[cfg(feature = "tls")]
            Encryption::Ssl => Ok(Security::Tls {
                acceptor: mesh_host::tls::server_config()?.into(),
                connector: mesh_host::tls::client_config().into(),
            }),
            #[cfg(not(feature = "tls"))]
            Encryption::Ssl => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "SSL encryption needs mesh-tokio's `tls` feature",
            )),
        }
    }

    /// A dialed stream, as a TLS client if need be (the handshake bounded
    /// by `limit`).
    #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
    async fn client(&self, tcp: TcpStream, limit: Duration) -> io::Result<Stream> {
        match self {
            Security::Plaintext => Ok(Stream::Plain(tcp)),
            #[cfg(feature = "tls")]
            Security::Tls { connector, .. } => {
                let name = mesh_host::tls::server_name();
                let tls = bounded(limit, connector.connect(name, tcp)).await?;
                Ok(Stream::Tls(Box::new(tls.into())))
            }
        }
    }
}

/// An accepted stream as a TLS server (the handshake bounded by `limit`).
#[cfg(feature = "tls")]
async fn accept_tls(
    acceptor: &tokio_rustls::TlsAcceptor,
    tcp: TcpStream,
    limit: Duration,
) -> io::Result<Stream> {
    let tls = bounded(limit, acceptor.accept(tcp)).await?;
    Ok(Stream::Tls(Box::new(tls.into())))
}

/// A TLS handshake, failing with `TimedOut` after `limit`.
#[cfg(feature = "tls")]
async fn bounded<T>(
    limit: Duration,
    handshake: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match tokio::time::timeout(limit, handshake).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    }
}

/// An open connection's byte stream: plain TCP, or TLS over it.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    /// Boxed: a TLS session is large, and this travels in every `IoEvent`.
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    /// For TLS: sends `close_notify`, then shuts the TCP write side down.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Accepts until aborted (on close) or the driver is gone. TLS handshakes
/// run in tasks of their own (a slow peer holds up no other), owned by this
/// loop: aborting it aborts them.
#[cfg_attr(not(feature = "tls"), allow(unused_variables))]
pub(crate) async fn accept_loop(
    listener: TcpListener,
    security: Security,
    timeouts: Timeouts,
    slots: HandshakeSlots,
    io: mpsc::Sender<IoEvent>,
) {
    #[cfg(feature = "tls")]
    let mut handshakes = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((tcp, remote)) => {
                tracing::debug!(%remote, "accepted");
                prepare(&tcp);
                match &security {
                    Security::Plaintext => {
                        let speaking = mesh_host::has_bytes_waiting(&tcp);
                        let stream = Stream::Plain(tcp);
                        let accepted = IoEvent::Accepted {
                            stream,
                            remote,
                            speaking,
                        };
                        if io.send(accepted).await.is_err() {
                            return;
                        }
                    }
                    #[cfg(feature = "tls")]
                    Security::Tls { acceptor, .. } => {
                        if io.is_closed() {
                            return;
                        }
                        // Reap the handshakes that are over.
                        while handshakes.try_join_next().is_some() {}
                        let Some(slot) = slots.try_take() else {
                            tracing::debug!(%remote, "too many TLS handshakes under way: closed");
                            continue;
                        };
                        let acceptor = acceptor.clone();
                        let io = io.clone();
                        handshakes.spawn(async move {
                            let _slot = slot;
                            match accept_tls(&acceptor, tcp, timeouts.handshake).await {
                                Ok(stream) => {
                                    // Past its TLS handshake: it speaks.
                                    let accepted = IoEvent::Accepted {
                                        stream,
                                        remote,
                                        speaking: true,
                                    };
                                    let _ = io.send(accepted).await;
                                }
                                // Dropping the stream closes the socket.
                                Err(error) => {
                                    tracing::debug!(%remote, %error, "TLS accept failed");
                                }
                            }
                        });
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Dials `addr` (bounded by the dial timeout), then does the TLS handshake
/// if need be (bounded by the handshake timeout), and reports the outcome.
pub(crate) async fn dial(
    conn: ConnId,
    addr: PeerAddr,
    security: Security,
    timeouts: Timeouts,
    io: mpsc::Sender<IoEvent>,
) {
    let result = open(&addr, &security, timeouts).await;
    let _ = io.send(mesh_host::dialed(conn, &addr, result)).await;
}

async fn open(addr: &PeerAddr, security: &Security, timeouts: Timeouts) -> io::Result<Stream> {
    let connect = TcpStream::connect((addr.host.as_str(), addr.port));
    let tcp = match tokio::time::timeout(timeouts.dial, connect).await {
        Ok(r) => r?,
        Err(_) => return Err(io::ErrorKind::TimedOut.into()),
    };
    prepare(&tcp);
    security.client(tcp, timeouts.handshake).await
}

/// Frames are small messages: send them without Nagle's delay.
fn prepare(stream: &TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "set_nodelay failed");
    }
}
