//! "A Rust node" for the py2p interop scenarios, whatever runtime drives it.
//!
//! The scenarios are plain blocking code over [`RustNode`]; each runtime
//! adapter plugs in with an [`Adapter`] that binds nodes. The tokio adapter
//! runs its sockets on a runtime owned by the [`Tokio`] adapter value and
//! blocks on each call; the [`Blocking`] adapter calls straight through.

use std::sync::Arc;
use std::time::Duration;

use mesh_proto::mesh::{Config, Counters, Handler, HandlerCx, Message, PeerId};
use mesh_proto::wire::{MainFlag, MsgId, Protocol, Value};

/// Adjusts a node's core settings before it binds.
pub type Configure = Box<dyn FnOnce(&mut Config) + Send>;

/// One Rust node on 127.0.0.1, as the scenarios use it. Every call returns
/// once the runtime has carried it out (or the timeout passed).
pub trait RustNode: Send + Sync {
    /// Its node id.
    fn id(&self) -> PeerId;
    /// Its listening port.
    fn port(&self) -> u16;
    /// Dials 127.0.0.1:`port` (the handshake follows).
    fn connect(&self, port: u16);
    /// `send(packets, flag)`: a broadcast floods, a whisper reaches direct peers.
    fn send_with(&self, packets: Vec<Value>, flag: MainFlag) -> MsgId;
    /// Replies to a received message (a whisper, or routed by request).
    fn reply(&self, msg: &Message, packets: Vec<Value>);
    /// The next received message, waiting up to `timeout`.
    fn next(&self, timeout: Duration) -> Option<Message>;
    /// Adds a handler after the built-in ones.
    fn register_handler(&self, handler: Box<dyn Handler>);
    /// The routing table.
    fn routes(&self) -> Vec<PeerId>;
    /// The core's running totals.
    fn counters(&self) -> Counters;

    /// A broadcast.
    fn send(&self, packets: Vec<Value>) -> MsgId {
        self.send_with(packets, MainFlag::Broadcast)
    }

    /// A whisper (direct peers only).
    fn whisper(&self, packets: Vec<Value>) -> MsgId {
        self.send_with(packets, MainFlag::Whisper)
    }

    /// Routing table ids as text, sorted.
    fn route_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.routes().iter().map(PeerId::to_text).collect();
        ids.sort();
        ids
    }

    /// Its id as text.
    fn id_text(&self) -> String {
        self.id().to_text()
    }
}

/// A runtime adapter: binds [`RustNode`]s.
pub trait Adapter {
    /// Binds a node on 127.0.0.1, port 0, speaking `protocol`.
    fn bind(&self, protocol: Protocol, configure: Configure) -> Box<dyn RustNode>;
}

/// The tokio adapter (`mesh-tokio`), on a 2-worker runtime of its own.
#[derive(Debug, Clone)]
pub struct Tokio {
    rt: Arc<tokio::runtime::Runtime>,
}

impl Tokio {
    /// A fresh runtime for one test.
    pub fn new() -> Tokio {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        Tokio { rt: Arc::new(rt) }
    }
}

impl Adapter for Tokio {
    fn bind(&self, protocol: Protocol, configure: Configure) -> Box<dyn RustNode> {
        let sock = self
            .rt
            .block_on(
                mesh_tokio::MeshSocket::builder(protocol)
                    .config(configure)
                    .bind("127.0.0.1", 0),
            )
            .expect("bind a tokio node on 127.0.0.1:0");
        Box::new(TokioNode {
            rt: Arc::clone(&self.rt),
            sock,
        })
    }
}

/// A `mesh_tokio::MeshSocket`, called from plain threads.
struct TokioNode {
    rt: Arc<tokio::runtime::Runtime>,
    sock: mesh_tokio::MeshSocket,
}

/// How long a call into the runtime may take before the test fails.
const CALL_LIMIT: Duration = Duration::from_secs(10);

impl TokioNode {
    fn block<F: Future>(&self, what: &str, f: F) -> F::Output {
        self.rt
            .block_on(async { tokio::time::timeout(CALL_LIMIT, f).await })
            .unwrap_or_else(|_| panic!("tokio node: {what} took over {CALL_LIMIT:?}"))
    }
}

impl RustNode for TokioNode {
    fn id(&self) -> PeerId {
        self.sock.id().clone()
    }

    fn port(&self) -> u16 {
        self.sock.local_addr().port()
    }

    fn connect(&self, port: u16) {
        self.block("connect", self.sock.connect("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("tokio node: connect to port {port}: {e}"));
    }

    fn send_with(&self, packets: Vec<Value>, flag: MainFlag) -> MsgId {
        self.block("send", self.sock.send_with(packets, flag))
            .unwrap_or_else(|e| panic!("tokio node: send: {e}"))
    }

    fn reply(&self, msg: &Message, packets: Vec<Value>) {
        self.block("reply", self.sock.reply(msg, packets))
            .unwrap_or_else(|e| panic!("tokio node: reply: {e}"));
    }

    fn next(&self, timeout: Duration) -> Option<Message> {
        self.rt
            .block_on(async { tokio::time::timeout(timeout, self.sock.next()).await })
            .ok()
            .flatten()
    }

    fn register_handler(&self, mut handler: Box<dyn Handler>) {
        self.sock
            .register_handler(move |msg: &Message, cx: &mut HandlerCx<'_>| handler.handle(msg, cx));
    }

    fn routes(&self) -> Vec<PeerId> {
        self.block("routes", self.sock.routes())
    }

    fn counters(&self) -> Counters {
        self.block("counters", self.sock.counters())
    }
}

/// The std-threads adapter (`mesh-blocking`): its calls already block.
#[derive(Debug, Clone, Copy, Default)]
pub struct Blocking;

impl Adapter for Blocking {
    fn bind(&self, protocol: Protocol, configure: Configure) -> Box<dyn RustNode> {
        let sock = mesh_blocking::MeshSocket::builder(protocol)
            .config(configure)
            .bind("127.0.0.1", 0)
            .expect("bind a blocking node on 127.0.0.1:0");
        Box::new(BlockingNode { sock })
    }
}

/// A `mesh_blocking::MeshSocket`.
struct BlockingNode {
    sock: mesh_blocking::MeshSocket,
}

impl RustNode for BlockingNode {
    fn id(&self) -> PeerId {
        self.sock.id().clone()
    }

    fn port(&self) -> u16 {
        self.sock.local_addr().port()
    }

    fn connect(&self, port: u16) {
        self.sock
            .connect("127.0.0.1", port)
            .unwrap_or_else(|e| panic!("blocking node: connect to port {port}: {e}"));
    }

    fn send_with(&self, packets: Vec<Value>, flag: MainFlag) -> MsgId {
        self.sock
            .send_with(packets, flag)
            .unwrap_or_else(|e| panic!("blocking node: send: {e}"))
    }

    fn reply(&self, msg: &Message, packets: Vec<Value>) {
        self.sock
            .reply(msg, packets)
            .unwrap_or_else(|e| panic!("blocking node: reply: {e}"));
    }

    fn next(&self, timeout: Duration) -> Option<Message> {
        self.sock.recv_timeout(timeout)
    }

    fn register_handler(&self, mut handler: Box<dyn Handler>) {
        self.sock
            .register_handler(move |msg: &Message, cx: &mut HandlerCx<'_>| handler.handle(msg, cx));
    }

    fn routes(&self) -> Vec<PeerId> {
        self.sock.routes()
    }

    fn counters(&self) -> Counters {
        self.sock.counters()
    }
}
