//! "A Rust node" on any runtime adapter, as the cross-adapter suites use it:
//! the conformance suite ([`crate::conformance`]) and the live py2p interop
//! suite (`tests/py2p_interop.rs`).
//!
//! Scenarios are plain blocking code over [`Node`]; each runtime adapter
//! plugs in with an [`Adapter`] that binds nodes on 127.0.0.1, port 0:
//!
//! - [`Tokio`]: mesh-tokio, on a 2-worker runtime owned by the adapter value
//!   (and kept alive by its nodes);
//! - [`AsyncStd`]: mesh-async-std, each call driven by
//!   `async_std::task::block_on`;
//! - [`Smol`]: mesh-async-std, each call driven by `smol::block_on`;
//! - [`Blocking`]: mesh-blocking, whose calls already block.
//!
//! Every call returns once the runtime has carried it out; errors come back
//! as `Result`s for the caller to judge. A call into an async adapter that
//! takes over [`CALL_LIMIT`] panics (a hang fails the test, with its name).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use mesh_proto::mesh::{
    Config, Counters, Event, Handled, Handler, HandlerCx, Message, PeerAddr, PeerId, SendError,
};
use mesh_proto::wire::{MainFlag, MsgId, Protocol, Value};

/// Adjusts a node's core settings before it binds.
pub type Configure = Box<dyn FnOnce(&mut Config) + Send>;

/// How long one call into an async adapter may take before the test fails
/// ([`Node::next`] has its own timeout).
pub const CALL_LIMIT: Duration = Duration::from_secs(10);

/// The builder settings beyond the protocol and the core's config.
#[derive(Debug, Clone, Default)]
pub struct BindOptions {
    /// The host to bind (port 0); 127.0.0.1 if `None`.
    pub host: Option<&'static str>,
    /// The address to advertise instead of the bound one.
    pub out_addr: Option<(String, u16)>,
    /// The write-stall timeout instead of the default.
    pub write_stall: Option<Duration>,
}

/// A runtime adapter, with whatever runtime the test needs to drive it.
pub trait Adapter {
    /// Binds a node on port 0 as `options` say, speaking `protocol`;
    /// `configure` adjusts the core's config.
    fn bind_with(
        &self,
        protocol: Protocol,
        configure: Configure,
        options: BindOptions,
    ) -> io::Result<Box<dyn Node>>;

    /// Binds a node on 127.0.0.1, port 0, speaking `protocol`;
    /// `configure` adjusts the core's config.
    fn bind(&self, protocol: Protocol, configure: Configure) -> io::Result<Box<dyn Node>> {
        self.bind_with(protocol, configure, BindOptions::default())
    }
}

/// No event came within the time given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// A node's event subscription, whatever its adapter.
pub trait EventQueue: Send {
    /// The next event; `Ok(None)` once the stream has ended.
    fn next(&mut self, timeout: Duration) -> Result<Option<Event>, Elapsed>;
}

/// One node, whatever its adapter: every call blocks until it is done.
pub trait Node: Send + Sync {
    /// Our node id.
    fn id(&self) -> PeerId;
    /// The port the listener is bound to.
    fn port(&self) -> u16;
    /// The address advertised to peers.
    fn out_addr(&self) -> PeerAddr;
    /// Events from now on.
    fn events(&self) -> Box<dyn EventQueue>;
    /// Dials 127.0.0.1:`port` (the handshake follows).
    fn connect(&self, port: u16) -> io::Result<()>;
    /// py2p's `send(packets, flag)`: a broadcast floods, anything else
    /// reaches direct peers only.
    fn send_with(&self, packets: Vec<Value>, flag: MainFlag) -> Result<MsgId, SendError>;
    /// Replies to `msg` (a whisper, or routed by request).
    fn reply(&self, msg: &Message, packets: Vec<Value>) -> Result<(), SendError>;
    /// A queued message, without waiting.
    fn recv(&self) -> Option<Message>;
    /// The next message, waiting up to `timeout`.
    fn next(&self, timeout: Duration) -> Option<Message>;
    /// Adds a handler after the built-in ones.
    fn register_handler(&self, handler: Box<dyn Handler>);
    /// The routing table.
    fn routes(&self) -> Vec<PeerId>;
    /// The core's running totals.
    fn counters(&self) -> Counters;
    /// Closes gracefully (queued output is flushed first).
    fn close(&self) -> Result<(), SendError>;

    /// A broadcast.
    fn send(&self, packets: Vec<Value>) -> Result<MsgId, SendError> {
        self.send_with(packets, MainFlag::Broadcast)
    }

    /// A whisper (direct peers only).
    fn whisper(&self, packets: Vec<Value>) -> Result<MsgId, SendError> {
        self.send_with(packets, MainFlag::Whisper)
    }

    /// Routing table ids as text, sorted.
    fn route_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.routes().iter().map(PeerId::to_text).collect();
        ids.sort();
        ids
    }

    /// Our id as text.
    fn id_text(&self) -> String {
        self.id().to_text()
    }
}

// ----- the adapters ----------------------------------------------------------

/// mesh-tokio, on a 2-worker multi-threaded runtime of its own.
#[derive(Debug, Clone)]
pub struct Tokio {
    rt: Arc<tokio::runtime::Runtime>,
}

impl Tokio {
    /// A fresh runtime (one per test).
    pub fn new() -> Tokio {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        Tokio { rt: Arc::new(rt) }
    }
}

impl Default for Tokio {
    fn default() -> Tokio {
        Tokio::new()
    }
}

/// mesh-async-std, driven from `async_std::task::block_on`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStd;

/// mesh-async-std, driven from `smol::block_on`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

/// mesh-blocking: its calls already block.
#[derive(Debug, Clone, Copy, Default)]
pub struct Blocking;

/// `$krate`'s builder for `protocol`, `configure` and `options`, and the
/// host to bind.
macro_rules! builder {
    ($krate:ident, $protocol:expr, $configure:expr, $options:expr) => {{
        let options: BindOptions = $options;
        let mut builder = $krate::MeshSocket::builder($protocol).config($configure);
        if let Some((host, port)) = options.out_addr {
            builder = builder.out_addr(host, port);
        }
        if let Some(limit) = options.write_stall {
            builder = builder.write_stall_timeout(limit);
        }
        (builder, options.host.unwrap_or("127.0.0.1"))
    }};
}

impl Adapter for Tokio {
    fn bind_with(
        &self,
        protocol: Protocol,
        configure: Configure,
        options: BindOptions,
    ) -> io::Result<Box<dyn Node>> {
        let (builder, host) = builder!(mesh_tokio, protocol, configure, options);
        let sock = self.rt.block_on(builder.bind(host, 0))?;
        let exec = Arc::clone(&self.rt);
        Ok(Box::new(Async { sock, exec }))
    }
}

impl Adapter for AsyncStd {
    fn bind_with(
        &self,
        protocol: Protocol,
        configure: Configure,
        options: BindOptions,
    ) -> io::Result<Box<dyn Node>> {
        bind_async_std(*self, protocol, configure, options)
    }
}

impl Adapter for Smol {
    fn bind_with(
        &self,
        protocol: Protocol,
        configure: Configure,
        options: BindOptions,
    ) -> io::Result<Box<dyn Node>> {
        bind_async_std(*self, protocol, configure, options)
    }
}

fn bind_async_std<E: BlockOn>(
    exec: E,
    protocol: Protocol,
    configure: Configure,
    options: BindOptions,
) -> io::Result<Box<dyn Node>> {
    let (builder, host) = builder!(mesh_async_std, protocol, configure, options);
    let sock = exec.block_on(builder.bind(host, 0))?;
    Ok(Box::new(Async { sock, exec }))
}

impl Adapter for Blocking {
    fn bind_with(
        &self,
        protocol: Protocol,
        configure: Configure,
        options: BindOptions,
    ) -> io::Result<Box<dyn Node>> {
        let (builder, host) = builder!(mesh_blocking, protocol, configure, options);
        Ok(Box::new(BlockingNode(builder.bind(host, 0)?)))
    }
}

// ----- the nodes -------------------------------------------------------------

/// How a node drives an async adapter: one future at a time, to completion.
trait BlockOn: Send + Sync + Clone + 'static {
    fn block_on<F: Future>(&self, f: F) -> F::Output;
}

impl BlockOn for Arc<tokio::runtime::Runtime> {
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        tokio::runtime::Runtime::block_on(self, f)
    }
}

impl BlockOn for AsyncStd {
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        async_std::task::block_on(f)
    }
}

impl BlockOn for Smol {
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        smol::block_on(f)
    }
}

/// `f`, or `None` once `limit` has passed. async-io's timer runs under any
/// executor, tokio's included.
async fn within<F: Future>(limit: Duration, f: F) -> Option<F::Output> {
    let timeout = async {
        smol::Timer::after(limit).await;
        None
    };
    smol::future::or(async { Some(f.await) }, timeout).await
}

/// An async adapter's event stream and the executor that drives it.
struct AsyncEvents<S, E> {
    events: S,
    exec: E,
}

/// A socket of an async adapter and the executor that drives it.
struct Async<S, E> {
    sock: S,
    exec: E,
}

impl<S, E: BlockOn> Async<S, E> {
    /// Runs `f` to completion; panics after [`CALL_LIMIT`].
    fn call<F: Future>(&self, what: &str, f: F) -> F::Output {
        self.exec
            .block_on(within(CALL_LIMIT, f))
            .unwrap_or_else(|| panic!("{what} took over {CALL_LIMIT:?}"))
    }
}

/// Runs a handler boxed behind the [`Node`] trait.
fn unbox(mut h: Box<dyn Handler>) -> impl FnMut(&Message, &mut HandlerCx<'_>) -> Handled + Send {
    move |msg, cx| h.handle(msg, cx)
}

/// [`Node`] for an async adapter's socket: every call runs on `exec`.
macro_rules! async_node {
    ($krate:ident) => {
        impl<E: BlockOn> EventQueue for AsyncEvents<$krate::Events, E> {
            fn next(&mut self, timeout: Duration) -> Result<Option<Event>, Elapsed> {
                self.exec
                    .block_on(within(timeout, self.events.recv()))
                    .ok_or(Elapsed)
            }
        }

        impl<E: BlockOn> Node for Async<$krate::MeshSocket, E> {
            fn id(&self) -> PeerId {
                self.sock.id().clone()
            }
            fn port(&self) -> u16 {
                self.sock.local_addr().port()
            }
            fn out_addr(&self) -> PeerAddr {
                self.sock.out_addr().clone()
            }
            fn events(&self) -> Box<dyn EventQueue> {
                let events = self.sock.events();
                let exec = self.exec.clone();
                Box::new(AsyncEvents { events, exec })
            }
            fn connect(&self, port: u16) -> io::Result<()> {
                self.call("connect", self.sock.connect("127.0.0.1", port))
                    .map(drop)
            }
            fn send_with(&self, packets: Vec<Value>, flag: MainFlag) -> Result<MsgId, SendError> {
                self.call("send", self.sock.send_with(packets, flag))
            }
            fn reply(&self, msg: &Message, packets: Vec<Value>) -> Result<(), SendError> {
                self.call("reply", self.sock.reply(msg, packets))
            }
            fn recv(&self) -> Option<Message> {
                self.call("recv", self.sock.recv())
            }
            fn next(&self, timeout: Duration) -> Option<Message> {
                self.exec
                    .block_on(within(timeout, self.sock.next()))
                    .flatten()
            }
            fn register_handler(&self, handler: Box<dyn Handler>) {
                self.sock.register_handler(unbox(handler));
            }
            fn routes(&self) -> Vec<PeerId> {
                self.call("routes", self.sock.routes())
            }
            fn counters(&self) -> Counters {
                self.call("counters", self.sock.counters())
            }
            fn close(&self) -> Result<(), SendError> {
                self.call("close", self.sock.close())
            }
        }
    };
}

async_node!(mesh_tokio);
async_node!(mesh_async_std);

/// A mesh-blocking socket.
struct BlockingNode(mesh_blocking::MeshSocket);

impl EventQueue for mesh_blocking::Events {
    fn next(&mut self, timeout: Duration) -> Result<Option<Event>, Elapsed> {
        match self.recv_timeout(timeout) {
            Some(event) => Ok(Some(event)),
            None if self.is_closed() => Ok(None),
            None => Err(Elapsed),
        }
    }
}

impl Node for BlockingNode {
    fn id(&self) -> PeerId {
        self.0.id().clone()
    }
    fn port(&self) -> u16 {
        self.0.local_addr().port()
    }
    fn out_addr(&self) -> PeerAddr {
        self.0.out_addr().clone()
    }
    fn events(&self) -> Box<dyn EventQueue> {
        Box::new(self.0.events())
    }
    fn connect(&self, port: u16) -> io::Result<()> {
        self.0.connect("127.0.0.1", port).map(drop)
    }
    fn send_with(&self, packets: Vec<Value>, flag: MainFlag) -> Result<MsgId, SendError> {
        self.0.send_with(packets, flag)
    }
    fn reply(&self, msg: &Message, packets: Vec<Value>) -> Result<(), SendError> {
        self.0.reply(msg, packets)
    }
    fn recv(&self) -> Option<Message> {
        self.0.recv()
    }
    fn next(&self, timeout: Duration) -> Option<Message> {
        self.0.recv_timeout(timeout)
    }
    fn register_handler(&self, handler: Box<dyn Handler>) {
        self.0.register_handler(unbox(handler));
    }
    fn routes(&self) -> Vec<PeerId> {
        self.0.routes()
    }
    fn counters(&self) -> Counters {
        self.0.counters()
    }
    fn close(&self) -> Result<(), SendError> {
        self.0.close()
    }
}
