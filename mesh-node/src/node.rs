//! [`Node`]: one mesh socket on the runtime picked, behind one async surface.

use std::io;
use std::time::Duration;

use mesh_proto::mesh::{Config, Counters, Handler, Message, PeerAddr, PeerId, SendError};
use mesh_proto::wire::{MainFlag, MsgId, Protocol, Value};

use crate::Events;

/// Which adapter a [`Node`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// mesh-tokio.
    Tokio,
    /// mesh-async-std, the smol stack: serves async-std and smol alike.
    AsyncStd,
    /// mesh-blocking (its driver on a thread of its own).
    Blocking,
}

/// Builder settings beyond the address, the protocol and the core's config.
#[derive(Debug, Clone, Default)]
pub struct BindOptions {
    /// The address to advertise instead of the bound one.
    pub out_addr: Option<(String, u16)>,
    /// The write-stall timeout instead of the default.
    pub write_stall: Option<Duration>,
}

/// A node on one of the runtime adapters. Cloning it clones the handle
/// (both drive the same node).
#[derive(Debug, Clone)]
pub enum Node {
    /// mesh-tokio.
    Tokio(mesh_tokio::MeshSocket),
    /// mesh-async-std (async-std and smol).
    AsyncStd(mesh_async_std::MeshSocket),
    /// mesh-blocking.
    Blocking(mesh_blocking::MeshSocket),
}

/// Applies `options` to any adapter's builder (they share their methods).
macro_rules! build {
    ($krate:ident, $protocol:expr, $configure:expr, $options:expr) => {{
        let options: BindOptions = $options;
        let mut b = $krate::MeshSocket::builder($protocol).config($configure);
        if let Some((host, port)) = options.out_addr {
            b = b.out_addr(host, port);
        }
        if let Some(limit) = options.write_stall {
            b = b.write_stall_timeout(limit);
        }
        b
    }};
}

/// Calls the same async method on whichever async socket `$node` holds,
/// or runs `$blocking` (a blocking call on the socket) off the executor.
macro_rules! each {
    ($node:expr, |$s:ident| $call:expr, blocking: $blocking:expr) => {
        match $node {
            Node::Tokio($s) => $call.await,
            Node::AsyncStd($s) => $call.await,
            Node::Blocking($s) => {
                let $s = $s.clone();
                blocking::unblock(move || $blocking).await
            }
        }
    };
}

impl Node {
    /// Binds a node on `runtime` at `host:port` (0: the OS picks) speaking
    /// `protocol`; `configure` adjusts the core's config.
    pub async fn bind(
        runtime: Runtime,
        host: &str,
        port: u16,
        protocol: Protocol,
        configure: impl FnOnce(&mut Config) + Send + 'static,
        options: BindOptions,
    ) -> io::Result<Node> {
        Ok(match runtime {
            Runtime::Tokio => {
                let b = build!(mesh_tokio, protocol, configure, options);
                Node::Tokio(b.bind(host, port).await?)
            }
            Runtime::AsyncStd => {
                let b = build!(mesh_async_std, protocol, configure, options);
                Node::AsyncStd(b.bind(host, port).await?)
            }
            Runtime::Blocking => {
                let b = build!(mesh_blocking, protocol, configure, options);
                let host = host.to_owned();
                Node::Blocking(blocking::unblock(move || b.bind(&host, port)).await?)
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

    /// Our events from now on.
    pub fn events(&self) -> Events {
        match self {
            Node::Tokio(s) => Events::Tokio(s.events()),
            Node::AsyncStd(s) => Events::AsyncStd(s.events()),
            Node::Blocking(s) => Events::forward(s.events()),
        }
    }

    /// Dials a peer (the handshake follows).
    pub async fn connect(&self, host: &str, port: u16) -> io::Result<()> {
        let host = host.to_owned();
        each!(self, |s| s.connect(&host, port), blocking: s.connect(&host, port)).map(drop)
    }

    /// py2p's `send(packets, flag)`: a broadcast floods, anything else
    /// reaches direct peers only.
    pub async fn send_with(&self, packets: Vec<Value>, flag: MainFlag) -> Result<MsgId, SendError> {
        each!(self, |s| s.send_with(packets, flag), blocking: s.send_with(packets, flag))
    }

    /// A broadcast.
    pub async fn send(&self, packets: Vec<Value>) -> Result<MsgId, SendError> {
        self.send_with(packets, MainFlag::Broadcast).await
    }

    /// A whisper (direct peers only).
    pub async fn whisper(&self, packets: Vec<Value>) -> Result<MsgId, SendError> {
        self.send_with(packets, MainFlag::Whisper).await
    }

    /// Replies to `msg`.
    pub async fn reply(&self, msg: &Message, packets: Vec<Value>) -> Result<(), SendError> {
        let msg = msg.clone();
        each!(self, |s| s.reply(&msg, packets), blocking: s.reply(&msg, packets))
    }

    /// A queued message, without waiting.
    pub async fn recv(&self) -> Option<Message> {
        match self {
            Node::Tokio(s) => s.recv().await,
            Node::AsyncStd(s) => s.recv().await,
            Node::Blocking(s) => s.recv(),
        }
    }

    /// The next message, waiting up to `limit`.
    pub async fn next(&self, limit: Duration) -> Option<Message> {
        match self {
            Node::Tokio(s) => crate::within(limit, s.next()).await.flatten(),
            Node::AsyncStd(s) => crate::within(limit, s.next()).await.flatten(),
            Node::Blocking(s) => {
                let s = s.clone();
                blocking::unblock(move || s.recv_timeout(limit)).await
            }
        }
    }

    /// Adds a handler after the built-in ones.
    pub fn register_handler(&self, handler: impl Handler + 'static) {
        match self {
            Node::Tokio(s) => s.register_handler(handler),
            Node::AsyncStd(s) => s.register_handler(handler),
            Node::Blocking(s) => s.register_handler(handler),
        }
    }

    /// The routing table.
    pub async fn routes(&self) -> Vec<PeerId> {
        each!(self, |s| s.routes(), blocking: s.routes())
    }

    /// The core's running totals.
    pub async fn counters(&self) -> Counters {
        each!(self, |s| s.counters(), blocking: s.counters())
    }

    /// Closes gracefully (queued output is flushed first).
    pub async fn close(&self) -> Result<(), SendError> {
        each!(self, |s| s.close(), blocking: s.close())
    }
}
