//! [`MeshSocket`]: the user's handle, a cheap clone over a
//! `mesh-async-std` socket whose calls it blocks on.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;
use mesh_proto::mesh::{ConnId, Counters, Event, Handler, Message, PeerAddr, PeerId, SendError};
use mesh_proto::wire::{MainFlag, MsgId, Protocol, Value};

use crate::EventKind;
use crate::builder::Builder;
use crate::events::Events;

/// A node of a py2p mesh (py2p's `MeshSocket`), driven by a thread of its own.
///
/// Every call blocks the calling thread until the driver answers, and is
/// safe from any thread. Clones share the node. The node closes gracefully
/// when [`close`](Self::close) is called or the last clone is dropped.
///
/// See the [crate docs](crate) for an example.
#[derive(Clone, Debug)]
pub struct MeshSocket {
    inner: Arc<Inner>,
}

/// What the clones share: the async socket (its last clone dropped closes
/// the node gracefully).
#[derive(Debug)]
pub(crate) struct Inner {
    sock: mesh_async_std::MeshSocket,
}

impl MeshSocket {
    pub(crate) fn new(sock: mesh_async_std::MeshSocket) -> MeshSocket {
        MeshSocket {
            inner: Arc::new(Inner { sock }),
        }
    }

    fn sock(&self) -> &mesh_async_std::MeshSocket {
        &self.inner.sock
    }

    /// Listens on `host:port` and starts a node speaking `protocol` (py2p's
    /// `MeshSocket(addr, port, prot, out_addr)`). Port 0 picks a free port
    /// ([`local_addr`](Self::local_addr) tells which). Peers are told to dial
    /// `out_addr`, by default the bound host and port (`0.0.0.0` advertised
    /// as the machine's LAN address, as py2p does, or `127.0.0.1` without
    /// one). For more settings see [`builder`](Self::builder).
    ///
    /// ```
    /// use mesh_blocking::{Encryption, MeshSocket, PeerAddr, Protocol};
    ///
    /// let protocol = Protocol::new("chat", Encryption::Plaintext);
    /// let any = MeshSocket::bind("0.0.0.0", 0, protocol.clone(), None)?;
    /// let port = any.local_addr().port();
    /// let lan = mesh_blocking::lan_address(false).map_or("127.0.0.1".into(), |ip| ip.to_string());
    /// assert_eq!(any.out_addr(), &PeerAddr::new(lan, port));
    ///
    /// let named = Some(("example.org".to_string(), 4444));
    /// let public = MeshSocket::bind("127.0.0.1", 0, protocol, named)?;
    /// assert_eq!(public.out_addr(), &PeerAddr::new("example.org", 4444));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(
        host: &str,
        port: u16,
        protocol: Protocol,
        out_addr: Option<(String, u16)>,
    ) -> io::Result<MeshSocket> {
        let mut builder = Builder::new(protocol);
        if let Some((h, p)) = out_addr {
            builder = builder.out_addr(h, p);
        }
        builder.bind(host, port)
    }

    /// A [`Builder`] for `protocol`: core settings, write-stall timeout, seed.
    pub fn builder(protocol: Protocol) -> Builder {
        Builder::new(protocol)
    }

    /// Our node id.
    pub fn id(&self) -> &PeerId {
        self.sock().id()
    }

    /// The address the listener is bound to (the real port when bound to 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.sock().local_addr()
    }

    /// The address advertised to peers.
    pub fn out_addr(&self) -> &PeerAddr {
        self.sock().out_addr()
    }

    /// Dials a peer; returns once the TCP connection is open (the handshake
    /// follows: watch [`events`](Self::events) for `PeerUp`). Peers it tells
    /// us about are dialed too, up to the core's `max_outgoing`.
    pub fn connect(&self, host: &str, port: u16) -> io::Result<ConnId> {
        future::block_on(self.sock().connect(host, port))
    }

    /// Broadcasts `packets` to the whole mesh. Blocks while a peer's output
    /// queue is over half full (backpressure); returns the message id.
    pub fn send(&self, packets: Vec<Value>) -> Result<MsgId, SendError> {
        self.send_with(packets, MainFlag::Broadcast)
    }

    /// Sends `packets` to our direct peers only (not relayed). Blocks like
    /// [`send`](Self::send).
    pub fn whisper(&self, packets: Vec<Value>) -> Result<MsgId, SendError> {
        self.send_with(packets, MainFlag::Whisper)
    }

    /// Sends with an explicit main flag (py2p's `send(..., flag=...)`):
    /// broadcast floods, anything else reaches direct peers only.
    pub fn send_with(&self, packets: Vec<Value>, flag: MainFlag) -> Result<MsgId, SendError> {
        future::block_on(self.sock().send_with(packets, flag))
    }

    /// Answers `msg`: a whisper straight to its sender when it is a direct
    /// peer, otherwise routed as py2p does (a route request, then a dial).
    pub fn reply(&self, msg: &Message, packets: Vec<Value>) -> Result<(), SendError> {
        future::block_on(self.sock().reply(msg, packets))
    }

    /// The oldest received message, or `None` at once if there is none.
    pub fn recv(&self) -> Option<Message> {
        future::block_on(self.sock().recv())
    }

    /// Up to `n` received messages, oldest first, without waiting.
    pub fn recv_many(&self, n: usize) -> Vec<Message> {
        future::block_on(self.sock().recv_many(n))
    }

    /// Waits up to `timeout` for the next message. `None` when none came in
    /// time, or once the socket is closed and its queue is empty. A timeout
    /// too large to represent waits without limit.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Message> {
        future::block_on(future::or(self.sock().next(), async {
            async_io::Timer::after(timeout).await;
            None
        }))
    }

    /// Adds a handler after the built-in ones (py2p's `register_handler`).
    /// It runs on the driver thread, so it must not block, and must not call
    /// this socket (that would wait for the driver forever) nor own a clone
    /// of it (the socket would never close on drop).
    pub fn register_handler(&self, handler: impl Handler + 'static) {
        self.sock().register_handler(handler);
    }

    /// Events from now on (peers up and down, messages, rejections...). The
    /// receiver ends when the socket closes.
    pub fn events(&self) -> Events {
        Events::new(self.sock().events())
    }

    /// Runs `callback` for every event of `kind` from now on, on a thread of
    /// its own, until the socket closes (py2p's `sock.on('message', f)`).
    /// It gets a handle on this socket and the event; unlike a handler it
    /// may block and call the socket. Holds the socket weakly: it never
    /// keeps it open.
    pub fn on(
        &self,
        kind: EventKind,
        mut callback: impl FnMut(&MeshSocket, &Event) + Send + 'static,
    ) -> io::Result<()> {
        self.sock().on(kind, move |sock, event| {
            callback(&MeshSocket::new(sock.clone()), event)
        })
    }

    /// Like [`on`](Self::on), for the first event of `kind` only (py2p's
    /// `sock.once(...)`).
    pub fn once(
        &self,
        kind: EventKind,
        callback: impl FnOnce(&MeshSocket, &Event) + Send + 'static,
    ) -> io::Result<()> {
        self.sock().once(kind, move |sock, event| {
            callback(&MeshSocket::new(sock.clone()), event)
        })
    }

    /// Received messages as a blocking [`Iterator`], oldest first; it ends
    /// once the socket is closed and its queue is empty. It takes from the
    /// same queue as [`recv`](Self::recv).
    pub fn messages(&self) -> impl Iterator<Item = Message> + Send + 'static {
        futures_lite::stream::block_on(self.sock().messages())
    }

    /// The routing table: ids of the peers we have a handshake with.
    pub fn routes(&self) -> Vec<PeerId> {
        future::block_on(self.sock().routes())
    }

    /// The core's running totals.
    pub fn counters(&self) -> Counters {
        future::block_on(self.sock().counters())
    }

    /// Closes every connection after flushing what was queued for it, and
    /// stops listening; returns once every writer is done (a writer that
    /// stalls gives up after the write-stall timeout). A second close is an
    /// error (`SendError::Closed`), as in py2p.
    pub fn close(&self) -> Result<(), SendError> {
        future::block_on(self.sock().close())
    }
}
