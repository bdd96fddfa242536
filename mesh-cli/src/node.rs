//! One mesh node on the runtime the user picked (`--runtime`), behind one
//! async surface for the CLI's own tokio loop. Events of every runtime arrive
//! on one tokio channel.

use std::io;

use mesh_proto::mesh::{Config, Counters, Event, Message, PeerAddr, PeerId, SendError};
use mesh_proto::wire::{MsgId, Protocol, Value};
use tokio::sync::mpsc;

use crate::Runtime;

/// A node on one of the runtimes.
#[derive(Debug, Clone)]
pub enum Node {
    /// mesh-tokio.
    Tokio(mesh_tokio::MeshSocket),
    /// mesh-async-std (the smol stack; serves `async-std` and `smol`).
    AsyncStd(mesh_async_std::MeshSocket),
    /// mesh-blocking (std threads).
    Blocking(mesh_blocking::MeshSocket),
}

/// Runs a blocking adapter call off the CLI's event loop.
async fn off_loop<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

impl Node {
    /// Binds a node on `runtime`; `configure` adjusts the core's config.
    pub async fn bind(
        runtime: Runtime,
        host: &str,
        port: u16,
        protocol: Protocol,
        out_addr: Option<(String, u16)>,
        configure: fn(&mut Config),
    ) -> io::Result<Node> {
        Ok(match runtime {
            Runtime::Tokio => {
                let mut b = mesh_tokio::MeshSocket::builder(protocol).config(configure);
                if let Some((h, p)) = out_addr {
                    b = b.out_addr(h, p);
                }
                Node::Tokio(b.bind(host, port).await?)
            }
            Runtime::AsyncStd | Runtime::Smol => {
                let mut b = mesh_async_std::MeshSocket::builder(protocol).config(configure);
                if let Some((h, p)) = out_addr {
                    b = b.out_addr(h, p);
                }
                Node::AsyncStd(b.bind(host, port).await?)
            }
            Runtime::Blocking => {
                let host = host.to_string();
                let n = off_loop(move || {
                    let mut b = mesh_blocking::MeshSocket::builder(protocol).config(configure);
                    if let Some((h, p)) = out_addr {
                        b = b.out_addr(h, p);
                    }
                    b.bind(&host, port)
                })
                .await?;
                Node::Blocking(n)
            }
        })
    }

    /// Our node id.
    pub fn id(&self) -> &PeerId {
        match self {
            Node::Tokio(s) => s.id(),
            Node::AsyncStd(s) => s.id(),
            Node::Blocking(s) => s.id(),
        }
    }

    /// The address we advertise.
    pub fn out_addr(&self) -> &PeerAddr {
        match self {
            Node::Tokio(s) => s.out_addr(),
            Node::AsyncStd(s) => s.out_addr(),
            Node::Blocking(s) => s.out_addr(),
        }
    }

    /// The port we listen on.
    pub fn port(&self) -> u16 {
        match self {
            Node::Tokio(s) => s.local_addr().port(),
            Node::AsyncStd(s) => s.local_addr().port(),
            Node::Blocking(s) => s.local_addr().port(),
        }
    }

    /// Dials a peer.
    pub async fn connect(&self, host: &str, port: u16) -> io::Result<()> {
        match self {
            Node::Tokio(s) => s.connect(host, port).await.map(drop),
            Node::AsyncStd(s) => s.connect(host, port).await.map(drop),
            Node::Blocking(s) => {
                let (s, host) = (s.clone(), host.to_string());
                off_loop(move || s.connect(&host, port).map(drop)).await
            }
        }
    }

    /// Broadcasts.
    pub async fn send(&self, packets: Vec<Value>) -> Result<MsgId, SendError> {
        match self {
            Node::Tokio(s) => s.send(packets).await,
            Node::AsyncStd(s) => s.send(packets).await,
            Node::Blocking(s) => {
                let s = s.clone();
                off_loop(move || s.send(packets)).await
            }
        }
    }

    /// Whispers to direct peers.
    pub async fn whisper(&self, packets: Vec<Value>) -> Result<MsgId, SendError> {
        match self {
            Node::Tokio(s) => s.whisper(packets).await,
            Node::AsyncStd(s) => s.whisper(packets).await,
            Node::Blocking(s) => {
                let s = s.clone();
                off_loop(move || s.whisper(packets)).await
            }
        }
    }

    /// Replies to a message.
    pub async fn reply(&self, msg: &Message, packets: Vec<Value>) -> Result<(), SendError> {
        match self {
            Node::Tokio(s) => s.reply(msg, packets).await,
            Node::AsyncStd(s) => s.reply(msg, packets).await,
            Node::Blocking(s) => {
                let (s, msg) = (s.clone(), msg.clone());
                off_loop(move || s.reply(&msg, packets)).await
            }
        }
    }

    /// A queued message, at once.
    pub async fn recv(&self) -> Option<Message> {
        match self {
            Node::Tokio(s) => s.recv().await,
            Node::AsyncStd(s) => s.recv().await,
            Node::Blocking(s) => s.recv(),
        }
    }

    /// The next message, waiting for it (up to `limit`).
    pub async fn next(&self, limit: std::time::Duration) -> Option<Message> {
        match self {
            Node::Tokio(s) => tokio::time::timeout(limit, s.next()).await.ok().flatten(),
            Node::AsyncStd(s) => tokio::time::timeout(limit, s.next()).await.ok().flatten(),
            Node::Blocking(s) => {
                let s = s.clone();
                off_loop(move || s.recv_timeout(limit)).await
            }
        }
    }

    /// The routing table.
    pub async fn routes(&self) -> Vec<PeerId> {
        match self {
            Node::Tokio(s) => s.routes().await,
            Node::AsyncStd(s) => s.routes().await,
            Node::Blocking(s) => s.routes(),
        }
    }

    /// The core's running totals.
    pub async fn counters(&self) -> Counters {
        match self {
            Node::Tokio(s) => s.counters().await,
            Node::AsyncStd(s) => s.counters().await,
            Node::Blocking(s) => {
                let s = s.clone();
                off_loop(move || s.counters()).await
            }
        }
    }

    /// Closes gracefully.
    pub async fn close(&self) -> Result<(), SendError> {
        match self {
            Node::Tokio(s) => s.close().await,
            Node::AsyncStd(s) => s.close().await,
            Node::Blocking(s) => {
                let s = s.clone();
                off_loop(move || s.close()).await
            }
        }
    }

    /// The node's events, forwarded onto one tokio channel.
    pub fn events(&self) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        match self {
            Node::Tokio(s) => {
                let mut ev = s.events();
                tokio::spawn(async move {
                    while let Some(e) = ev.recv().await {
                        if tx.send(e).is_err() {
                            break;
                        }
                    }
                });
            }
            Node::AsyncStd(s) => {
                let mut ev = s.events();
                tokio::spawn(async move {
                    while let Some(e) = ev.recv().await {
                        if tx.send(e).is_err() {
                            break;
                        }
                    }
                });
            }
            Node::Blocking(s) => {
                let ev = s.events();
                std::thread::spawn(move || {
                    while let Some(e) = ev.recv() {
                        if tx.send(e).is_err() {
                            break;
                        }
                    }
                });
            }
        }
        rx
    }
}
