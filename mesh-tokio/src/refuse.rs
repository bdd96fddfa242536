//! A refused connection's short goodbye (see `mesh_host::Runtime::refuse`).

use bytes::Bytes;
use mesh_host::{HandshakeSlot, REFUSE_LINGER};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Writes the refusal, shuts down, drains for at most [`REFUSE_LINGER`],
/// then lets the socket (and `slot`) go.
pub(crate) async fn refuse<S>(mut stream: S, bytes: Bytes, slot: HandshakeSlot)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let goodbye = async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await?;
        // Read until the peer closes, so the kernel sends FIN, not RST, and
        // the peer keeps our refusal.
        let mut sink = [0u8; 512];
        while stream.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(REFUSE_LINGER, goodbye).await;
    drop(slot);
}
