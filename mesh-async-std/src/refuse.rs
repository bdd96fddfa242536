//! A refused connection's short goodbye (see `mesh_host::Runtime::refuse`).

use async_io::Timer;
use bytes::Bytes;
use futures_lite::future;
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use mesh_host::{HandshakeSlot, REFUSE_LINGER};

/// Writes the refusal, closes the write side, drains for at most
/// [`REFUSE_LINGER`], then lets the socket (and `slot`) go.
pub(crate) async fn refuse<S>(mut stream: S, bytes: Bytes, slot: HandshakeSlot)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let goodbye = async {
        stream.write_all(&bytes).await?;
        stream.close().await?;
        // Read until the peer closes, so the kernel sends FIN, not RST, and
        // the peer keeps our refusal.
        let mut sink = [0u8; 512];
        while stream.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    };
    let _ = future::or(goodbye, async {
        Timer::after(REFUSE_LINGER).await;
        Ok(())
    })
    .await;
    drop(slot);
}
