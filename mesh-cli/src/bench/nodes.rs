//! [`LineNode`] for the async adapters: mesh-tokio, and mesh-async-std
//! (which serves both async-std and smol).

use std::io;
use std::time::Instant;

use bytes::Bytes;
use mesh_proto::mesh::{Config, Counters, Message, SendError};
use mesh_proto::wire::{Encryption, Protocol, Value};

use super::line::LineNode;

/// The bench's protocol: plaintext or TLS.
pub fn protocol(tls: bool) -> Protocol {
    let enc = if tls {
        Encryption::Ssl
    } else {
        Encryption::Plaintext
    };
    Protocol::new("bench", enc)
}

/// A line stays a line: no node dials the peers it hears about. Every node
/// but the last only relays: no receive queue (nothing would read it).
pub fn configure(last: bool) -> impl FnOnce(&mut Config) + Send + 'static {
    move |cfg| {
        cfg.max_outgoing = 0;
        if !last {
            cfg.recv_queue_cap = 0;
        }
    }
}

/// Messages taken per batch by the counting node.
pub const BATCH: usize = 4096;

/// The two async adapters have the same surface: one impl, written once.
macro_rules! line_node {
    ($sock:ty, $sleep:expr, $spawn:expr) => {
        impl LineNode for $sock {
            async fn bind(tls: bool, last: bool) -> io::Result<Self> {
                Self::builder(protocol(tls))
                    .config(configure(last))
                    .bind("127.0.0.1", 0)
                    .await
            }
            fn port(&self) -> u16 {
                self.local_addr().port()
            }
            async fn connect(&self, port: u16) -> io::Result<()> {
                <$sock>::connect(self, "127.0.0.1", port).await.map(drop)
            }
            async fn peers(&self) -> usize {
                self.routes().await.len()
            }
            async fn send(&self, payload: Bytes) -> Result<(), SendError> {
                <$sock>::send(self, vec![Value::Bin(payload)])
                    .await
                    .map(drop)
            }
            async fn next_batch(&self) -> Vec<Message> {
                self.next_many(BATCH).await
            }
            async fn counters(&self) -> Counters {
                <$sock>::counters(self).await
            }
            async fn close(&self) {
                let _ = <$sock>::close(self).await;
            }
            async fn sleep_until(at: Instant) {
                $sleep(at).await;
            }
            fn spawn(task: impl std::future::Future<Output = ()> + Send + 'static) {
                $spawn(task);
            }
        }
    };
}

line_node!(
    mesh_tokio::MeshSocket,
    |at: Instant| tokio::time::sleep_until(at.into()),
    |task| drop(tokio::spawn(task))
);
// A thread of its own: the same type serves async-std and smol, whose
// nodes already run on threads of their own.
line_node!(
    mesh_async_std::MeshSocket,
    |at: Instant| async move {
        async_io::Timer::at(at).await;
    },
    |task| drop(std::thread::spawn(move || futures_lite::future::block_on(
        task
    )))
);
