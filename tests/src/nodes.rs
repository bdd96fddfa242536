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

use mesh_node::{Runtime, within};
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

impl Adapter for Tokio {
    fn bind_with(
        &self,
        protocol: Protocol,
        configure: Configure,
        options: BindOptions,
    ) -> io::Result<Box<dyn Node>> {
        // Inside the runtime: the node's driver is a task of it.
        bind(
            Arc::clone(&self.rt),
            Runtime::Tokio,
            protocol,
            configure,
            options,
        )
    }
}

impl Adapter for AsyncStd {
    fn bind_with(
        &self,
        protocol: Protocol,
        configure: Configure,
        options: BindOptions,
    ) -> io::Result<Box<dyn Node>> {
        bind(*self, Runtime::AsyncStd, protocol, configure, options)
    }
}

impl Adapter for Smol {
    fn bind_with(
        &self,
        protocol: Protocol,
        configure: Configure,
        options: BindOptions,
    ) -> io::Result<Box<dyn Node>> {
        bind(*self, Runtime::AsyncStd, protocol, configure, options)
    }
}

impl Adapter for Blocking {
    fn bind_with(
        &self,
        protocol: Protocol,
        configure: Configure,
        options: BindOptions,
    ) -> io::Result<Box<dyn Node>> {
        bind(*self, Runtime::Blocking, protocol, configure, options)
    }
}

/// Binds a [`mesh_node::Node`] on `runtime`, driven by `exec`.
fn bind<E: BlockOn>(
    exec: E,
    runtime: Runtime,
    protocol: Protocol,
    configure: Configure,
    options: BindOptions,
) -> io::Result<Box<dyn Node>> {
    let host = options.host.unwrap_or("127.0.0.1");
    let options = mesh_node::BindOptions {
        out_addr: options.out_addr,
        write_stall: options.write_stall,
    };
    let node = exec.block_on(mesh_node::Node::bind(
        runtime, host, 0, protocol, configure, options,
    ))?;
    Ok(Box::new(Facade { node, exec }))
}

// ----- the nodes -------------------------------------------------------------

/// How a node's calls are driven: one future at a time, to completion.
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

/// mesh-blocking's calls block already; the facade only waits for them.
impl BlockOn for Blocking {
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        futures_lite::future::block_on(f)
    }
}

/// A node's event stream and the executor that drives it.
struct FacadeEvents<E> {
    events: mesh_node::Events,
    exec: E,
}

impl<E: BlockOn> EventQueue for FacadeEvents<E> {
    fn next(&mut self, timeout: Duration) -> Result<Option<Event>, Elapsed> {
        self.exec
            .block_on(within(timeout, self.events.recv()))
            .ok_or(Elapsed)
    }
}

/// The shared [`mesh_node::Node`] facade and the executor that drives it.
struct Facade<E> {
    node: mesh_node::Node,
    exec: E,
}

impl<E: BlockOn> Facade<E> {
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

impl<E: BlockOn> Node for Facade<E> {
    fn id(&self) -> PeerId {
        self.node.id().clone()
    }
    fn port(&self) -> u16 {
        self.node.port()
    }
    fn out_addr(&self) -> PeerAddr {
        self.node.out_addr().clone()
    }
    fn events(&self) -> Box<dyn EventQueue> {
        let events = self.node.events();
        let exec = self.exec.clone();
        Box::new(FacadeEvents { events, exec })
    }
    fn connect(&self, port: u16) -> io::Result<()> {
        self.call("connect", self.node.connect("127.0.0.1", port))
    }
    fn send_with(&self, packets: Vec<Value>, flag: MainFlag) -> Result<MsgId, SendError> {
        self.call("send", self.node.send_with(packets, flag))
    }
    fn reply(&self, msg: &Message, packets: Vec<Value>) -> Result<(), SendError> {
        self.call("reply", self.node.reply(msg, packets))
    }
    fn recv(&self) -> Option<Message> {
        self.call("recv", self.node.recv())
    }
    fn next(&self, timeout: Duration) -> Option<Message> {
        self.exec.block_on(self.node.next(timeout))
    }
    fn register_handler(&self, handler: Box<dyn Handler>) {
        self.node.register_handler(unbox(handler));
    }
    fn routes(&self) -> Vec<PeerId> {
        self.call("routes", self.node.routes())
    }
    fn counters(&self) -> Counters {
        self.call("counters", self.node.counters())
    }
    fn close(&self) -> Result<(), SendError> {
        self.call("close", self.node.close())
    }
}
