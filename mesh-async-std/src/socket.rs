//! [`MeshSocket`]: the user's handle, a cheap clone that turns each call
//! into a command for the driver task (the shared
//! `mesh_host::AsyncHandle` does the asking).

use std::fmt;
use std::io;
use std::net::SocketAddr;

use mesh_host::EVENT_QUEUE;
use mesh_host::{AsyncHandle, EventKind, Messages};
use mesh_proto::mesh::{ConnId, Counters, Event, Handler, Message, PeerAddr, PeerId, SendError};
use mesh_proto::wire::{MainFlag, MsgId, Protocol, Value};

use crate::builder::Builder;
use crate::driver::Command;
use crate::events::Events;
use crate::runtime::Smol;

/// A node of a py2p mesh (py2p's `MeshSocket`), driven by the socket's own
/// executor thread.
///
/// Clones share the node. The node closes gracefully when [`close`](Self::close)
/// is called or the last clone is dropped. Its methods work from any executor
/// (async-std, smol, `futures_lite::future::block_on`...).
///
/// See the [crate docs](crate) for an example.
#[derive(Clone)]
pub struct MeshSocket {
    inner: AsyncHandle<Smol>,
}

impl fmt::Debug for MeshSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl MeshSocket {
    pub(crate) fn new(
        cmds: async_channel::Sender<Command>,
        shared: mesh_host::Shared,
        id: PeerId,
        local_addr: SocketAddr,
        out_addr: PeerAddr,
    ) -> MeshSocket {
        MeshSocket {
            inner: AsyncHandle::new(cmds, shared, id, local_addr, out_addr),
        }
    }

    /// Listens on `host:port` and starts a node speaking `protocol` (py2p's
    /// `MeshSocket(addr, port, prot, out_addr)`). Port 0 picks a free port
    /// ([`local_addr`](Self::local_addr) tells which). Peers are told to dial
    /// `out_addr`, by default the bound host and port (`0.0.0.0` advertised
    /// as the machine's LAN address, as py2p does, or `127.0.0.1` without
    /// one). For more settings see [`builder`](Self::builder).
    ///
    /// ```
    /// use mesh_async_std::{Encryption, MeshSocket, PeerAddr, Protocol};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// smol::block_on(async {
    ///     let protocol = Protocol::new("chat", Encryption::Plaintext);
    ///     let any = MeshSocket::bind("0.0.0.0", 0, protocol.clone(), None).await?;
    ///     let port = any.local_addr().port();
    ///     let lan = mesh_async_std::lan_address(false).map_or("127.0.0.1".into(), |ip| ip.to_string());
    ///     assert_eq!(any.out_addr(), &PeerAddr::new(lan, port));
    ///
    ///     let named = Some(("example.org".to_string(), 4444));
    ///     let public = MeshSocket::bind("127.0.0.1", 0, protocol, named).await?;
    ///     assert_eq!(public.out_addr(), &PeerAddr::new("example.org", 4444));
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn bind(
        host: &str,
        port: u16,
        protocol: Protocol,
        out_addr: Option<(String, u16)>,
    ) -> io::Result<MeshSocket> {
        let mut builder = Builder::new(protocol);
        if let Some((h, p)) = out_addr {
            builder = builder.out_addr(h, p);
        }
        builder.bind(host, port).await
    }

    /// A [`Builder`] for `protocol`: core settings, write-stall timeout, seed.
    pub fn builder(protocol: Protocol) -> Builder {
        Builder::new(protocol)
    }

    /// Our node id.
    pub fn id(&self) -> &PeerId {
        self.inner.id()
    }

    /// The address the listener is bound to (the real port when bound to 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr()
    }

    /// The address advertised to peers.
    pub fn out_addr(&self) -> &PeerAddr {
        self.inner.out_addr()
    }

    /// Dials a peer; returns once the TCP connection is open, and with TLS
    /// once its TLS handshake is done (an error if it fails). py2p's
    /// handshake follows: watch [`events`](Self::events) for `PeerUp`. Peers
    /// it tells us about are dialed too, up to the core's `max_outgoing`.
    pub async fn connect(&self, host: &str, port: u16) -> io::Result<ConnId> {
        self.inner.connect(host, port).await
    }

    /// Broadcasts `packets` to the whole mesh. Waits while a peer's output
    /// queue is over half full (backpressure); returns the message id.
    pub async fn send(&self, packets: Vec<Value>) -> Result<MsgId, SendError> {
        self.send_with(packets, MainFlag::Broadcast).await
    }

    /// Sends `packets` to our direct peers only (not relayed).
    pub async fn whisper(&self, packets: Vec<Value>) -> Result<MsgId, SendError> {
        self.send_with(packets, MainFlag::Whisper).await
    }

    /// Sends with an explicit main flag (py2p's `send(..., flag=...)`):
    /// broadcast floods, anything else reaches direct peers only.
    pub async fn send_with(&self, packets: Vec<Value>, flag: MainFlag) -> Result<MsgId, SendError> {
        self.inner.send_with(packets, flag).await
    }

    /// Answers `msg`: a whisper straight to its sender when it is a direct
    /// peer, otherwise routed as py2p does (a route request, then a dial).
    pub async fn reply(&self, msg: &Message, packets: Vec<Value>) -> Result<(), SendError> {
        self.inner.reply(msg, packets).await
    }

    /// The oldest received message, or `None` at once if there is none.
    pub async fn recv(&self) -> Option<Message> {
        self.inner.recv()
    }

    /// Up to `n` received messages, oldest first, without waiting.
    pub async fn recv_many(&self, n: usize) -> Vec<Message> {
        self.inner.recv_many(n)
    }

    /// Waits for the next message; `None` once the socket is closed and its
    /// queue is empty. Cancel-safe: a message is taken only by the call that
    /// returns it.
    pub async fn next(&self) -> Option<Message> {
        self.inner.next().await
    }

    /// Waits for at least one message, then takes up to `max` of those
    /// queued, oldest first (one wake-up for a burst); empty once the socket
    /// is closed and its queue is empty. Cancel-safe.
    pub async fn next_many(&self, max: usize) -> Vec<Message> {
        self.inner.next_many(max).await
    }

    /// Adds a handler after the built-in ones (py2p's `register_handler`);
    /// it runs on the driver task, so it must not block.
    pub fn register_handler(&self, handler: impl Handler + 'static) {
        self.inner.register_handler(handler)
    }

    /// Events from now on (peers up and down, messages, rejections...). The
    /// stream ends when the socket closes.
    pub fn events(&self) -> Events {
        let (tx, rx) = async_channel::bounded(EVENT_QUEUE);
        self.inner.subscribe(tx);
        Events::new(rx)
    }

    /// Runs `callback` for every event of `kind` from now on (py2p's
    /// `sock.on('message', f)`: [`EventKind::Message`]; `'connect'`:
    /// [`EventKind::Connected`]), with a handle on this socket. The callback
    /// holds no handle of its own: once every other handle is dropped the
    /// node closes and the callback stops.
    /// It runs on a thread of its own (so it may block), never on the
    /// node's or the caller's executor.
    pub fn on(
        &self,
        kind: EventKind,
        callback: impl FnMut(&MeshSocket, &Event) + Send + 'static,
    ) -> io::Result<()> {
        self.callback(kind, false, callback)
    }

    /// [`on`](Self::on) for the first such event only (py2p's `once`).
    pub fn once(
        &self,
        kind: EventKind,
        callback: impl FnOnce(&MeshSocket, &Event) + Send + 'static,
    ) -> io::Result<()> {
        self.callback(kind, true, mesh_host::once_fn(callback))
    }

    fn callback(
        &self,
        kind: EventKind,
        once: bool,
        mut callback: impl FnMut(&MeshSocket, &Event) + Send + 'static,
    ) -> io::Result<()> {
        let (events, weak) = (self.events(), self.inner.downgrade());
        let run = mesh_host::dispatch(events, weak, kind, once, move |inner, event| {
            callback(&MeshSocket { inner }, event)
        });
        std::thread::Builder::new()
            .name(format!("mesh-on-{kind:?}"))
            .spawn(move || futures_lite::future::block_on(run))
            .map(drop)
    }

    /// Waits up to `timeout` for the next message (`None`: none came, or
    /// the socket is closed and its queue empty). Cancel-safe.
    pub async fn recv_timeout(&self, timeout: std::time::Duration) -> Option<Message> {
        futures_lite::future::or(self.next(), async {
            async_io::Timer::after(timeout).await;
            None
        })
        .await
    }

    /// Received messages as a [`Stream`](futures_core::Stream), oldest
    /// first; it ends once the socket is closed and its queue is empty. It
    /// takes from the same queue as [`recv`](Self::recv) and
    /// [`next`](Self::next).
    pub fn messages(&self) -> Messages {
        self.inner.messages()
    }

    /// The routing table: ids of the peers we have a handshake with.
    pub async fn routes(&self) -> Vec<PeerId> {
        self.inner.routes().await
    }

    /// The core's running totals.
    pub async fn counters(&self) -> Counters {
        self.inner.counters().await
    }

    /// Closes every connection after flushing what was queued for it, and
    /// stops listening; returns once every writer is done (a writer that
    /// stalls gives up after the write-stall timeout). A second close is an
    /// error (`SendError::Closed`), as in py2p.
    pub async fn close(&self) -> Result<(), SendError> {
        self.inner.close().await
    }
}
