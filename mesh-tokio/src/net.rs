//! Opening TCP streams: the accept loop and outgoing dials. Each hands its
//! stream to the driver, which gives it a [`ConnId`] and its tasks.

// TLS (issue 4) would wrap the stream here, before the driver gets it: the
// connection tasks already take any `AsyncRead + AsyncWrite`.

use std::time::Duration;

use mesh_proto::mesh::{ConnId, PeerAddr};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::driver::IoEvent;

/// Pause after a failed `accept` (out of descriptors...) so it does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts until aborted (on close) or the driver is gone.
pub(crate) async fn accept_loop(listener: TcpListener, io: mpsc::Sender<IoEvent>) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                tracing::debug!(%remote, "accepted");
                prepare(&stream);
                if io.send(IoEvent::Accepted { stream, remote }).await.is_err() {
                    return;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Dials `addr` (bounded by `limit`) and reports the outcome.
pub(crate) async fn dial(conn: ConnId, addr: PeerAddr, limit: Duration, io: mpsc::Sender<IoEvent>) {
    let result = match tokio::time::timeout(
        limit,
        TcpStream::connect((addr.host.as_str(), addr.port)),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    };
    match &result {
        Ok(stream) => {
            tracing::debug!(%conn, %addr, "dialed");
            prepare(stream);
        }
        Err(error) => tracing::debug!(%conn, %addr, %error, "dial failed"),
    }
    let _ = io.send(IoEvent::Dialed { conn, result }).await;
}

/// Frames are small messages: send them without Nagle's delay.
fn prepare(stream: &TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "set_nodelay failed");
    }
}
