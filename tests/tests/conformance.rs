//! The conformance suite (`mesh_tests::conformance`): every scenario against
//! every runtime adapter — mesh-tokio, mesh-async-std driven from async-std
//! and from smol, mesh-blocking — plus one mesh mixing them all.

use std::io;
use std::time::Duration;

use mesh_proto::mesh::{Config, Counters, Handled, Handler, HandlerCx, Message, PeerId, SendError};
use mesh_proto::wire::Encryption::{Plaintext, Ssl};
use mesh_proto::wire::{MsgId, Protocol, Value};
use mesh_tests::conformance::{self as c, Adapter, Node};

/// How a test drives an async adapter: one future at a time, to completion.
trait BlockOn {
    fn block_on<F: Future>(&self, f: F) -> F::Output;
}

/// mesh-tokio, on a multi-threaded runtime of the test's own.
struct Tokio(tokio::runtime::Runtime);

impl Tokio {
    fn new() -> Tokio {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        Tokio(rt)
    }
}

impl BlockOn for tokio::runtime::Handle {
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        tokio::runtime::Handle::block_on(self, f)
    }
}

/// mesh-async-std, driven from `async_std::task::block_on`.
#[derive(Clone, Copy)]
struct AsyncStd;

impl BlockOn for AsyncStd {
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        async_std::task::block_on(f)
    }
}

/// mesh-async-std, driven from `smol::block_on`.
#[derive(Clone, Copy)]
struct Smol;

impl BlockOn for Smol {
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        smol::block_on(f)
    }
}

/// mesh-blocking.
struct Blocking;

/// A mesh-blocking socket.
struct BlockingNode(mesh_blocking::MeshSocket);

/// A socket of an async adapter and the executor that drives it.
struct Async<S, E> {
    sock: S,
    exec: E,
}

impl Adapter for Tokio {
    fn bind(&self, protocol: Protocol, configure: fn(&mut Config)) -> io::Result<Box<dyn Node>> {
        let builder = mesh_tokio::MeshSocket::builder(protocol).config(configure);
        let sock = self.0.block_on(builder.bind("127.0.0.1", 0))?;
        let exec = self.0.handle().clone();
        Ok(Box::new(Async { sock, exec }))
    }
}

impl Adapter for AsyncStd {
    fn bind(&self, protocol: Protocol, configure: fn(&mut Config)) -> io::Result<Box<dyn Node>> {
        bind_async_std(*self, protocol, configure)
    }
}

impl Adapter for Smol {
    fn bind(&self, protocol: Protocol, configure: fn(&mut Config)) -> io::Result<Box<dyn Node>> {
        bind_async_std(*self, protocol, configure)
    }
}

fn bind_async_std<E: BlockOn + 'static>(
    exec: E,
    protocol: Protocol,
    configure: fn(&mut Config),
) -> io::Result<Box<dyn Node>> {
    let builder = mesh_async_std::MeshSocket::builder(protocol).config(configure);
    let sock = exec.block_on(builder.bind("127.0.0.1", 0))?;
    Ok(Box::new(Async { sock, exec }))
}

impl Adapter for Blocking {
    fn bind(&self, protocol: Protocol, configure: fn(&mut Config)) -> io::Result<Box<dyn Node>> {
        let builder = mesh_blocking::MeshSocket::builder(protocol).config(configure);
        Ok(Box::new(BlockingNode(builder.bind("127.0.0.1", 0)?)))
    }
}

/// Runs a handler boxed behind the [`Node`] trait.
fn unbox(mut h: Box<dyn Handler>) -> impl FnMut(&Message, &mut HandlerCx<'_>) -> Handled + Send {
    move |msg, cx| h.handle(msg, cx)
}

/// [`Node`] for an async adapter's socket: every call runs on `exec`.
macro_rules! async_node {
    ($krate:ident) => {
        impl<E: BlockOn> Node for Async<$krate::MeshSocket, E> {
            fn id(&self) -> PeerId {
                self.sock.id().clone()
            }
            fn port(&self) -> u16 {
                self.sock.local_addr().port()
            }
            fn connect(&self, port: u16) -> io::Result<()> {
                let dial = self.sock.connect("127.0.0.1", port);
                self.exec.block_on(dial).map(drop)
            }
            fn send(&self, packets: Vec<Value>) -> Result<MsgId, SendError> {
                self.exec.block_on(self.sock.send(packets))
            }
            fn reply(&self, msg: &Message, packets: Vec<Value>) -> Result<(), SendError> {
                self.exec.block_on(self.sock.reply(msg, packets))
            }
            fn recv(&self) -> Option<Message> {
                self.exec.block_on(self.sock.recv())
            }
            fn next(&self, limit: Duration) -> Option<Message> {
                // async-io's timer runs under any executor, tokio's included.
                let timeout = async {
                    smol::Timer::after(limit).await;
                    None
                };
                self.exec
                    .block_on(smol::future::or(self.sock.next(), timeout))
            }
            fn routes(&self) -> Vec<PeerId> {
                self.exec.block_on(self.sock.routes())
            }
            fn counters(&self) -> Counters {
                self.exec.block_on(self.sock.counters())
            }
            fn register_handler(&self, handler: Box<dyn Handler>) {
                self.sock.register_handler(unbox(handler));
            }
            fn close(&self) -> Result<(), SendError> {
                self.exec.block_on(self.sock.close())
            }
        }
    };
}

async_node!(mesh_tokio);
async_node!(mesh_async_std);

impl Node for BlockingNode {
    fn id(&self) -> PeerId {
        self.0.id().clone()
    }
    fn port(&self) -> u16 {
        self.0.local_addr().port()
    }
    fn connect(&self, port: u16) -> io::Result<()> {
        self.0.connect("127.0.0.1", port).map(drop)
    }
    fn send(&self, packets: Vec<Value>) -> Result<MsgId, SendError> {
        self.0.send(packets)
    }
    fn reply(&self, msg: &Message, packets: Vec<Value>) -> Result<(), SendError> {
        self.0.reply(msg, packets)
    }
    fn recv(&self) -> Option<Message> {
        self.0.recv()
    }
    fn next(&self, limit: Duration) -> Option<Message> {
        self.0.recv_timeout(limit)
    }
    fn routes(&self) -> Vec<PeerId> {
        self.0.routes()
    }
    fn counters(&self) -> Counters {
        self.0.counters()
    }
    fn register_handler(&self, handler: Box<dyn Handler>) {
        self.0.register_handler(unbox(handler));
    }
    fn close(&self) -> Result<(), SendError> {
        self.0.close()
    }
}

/// Adapter × scenario: one module per adapter, one test per scenario. A TLS
/// variant fails (it does not skip) where the adapter cannot bind TLS.
macro_rules! conformance {
    ($($module:ident: $adapter:expr;)*) => {$(
        mod $module {
            use super::*;

            #[test]
            fn propagation_plaintext() {
                c::bounded(|| c::propagation(&$adapter, Plaintext));
            }
            #[test]
            fn propagation_tls() {
                c::bounded(|| c::propagation(&$adapter, Ssl));
            }
            #[test]
            fn protocol_rejection_plaintext() {
                c::bounded(|| c::protocol_rejection(&$adapter, Plaintext));
            }
            #[test]
            fn protocol_rejection_tls() {
                c::bounded(|| c::protocol_rejection(&$adapter, Ssl));
            }
            #[test]
            fn handler_registry_plaintext() {
                c::bounded(|| c::handler_registry(&$adapter, Plaintext));
            }
            #[test]
            fn handler_registry_tls() {
                c::bounded(|| c::handler_registry(&$adapter, Ssl));
            }
            #[test]
            fn reply_plaintext() {
                c::bounded(|| c::reply(&$adapter, Plaintext));
            }
            #[test]
            fn reply_tls() {
                c::bounded(|| c::reply(&$adapter, Ssl));
            }
            #[test]
            fn graceful_close() {
                c::bounded(|| c::graceful_close(&$adapter));
            }
            #[test]
            fn port_zero() {
                c::bounded(|| c::port_zero(&$adapter));
            }
        }
    )*};
}

conformance! {
    on_tokio: Tokio::new();
    on_async_std: AsyncStd;
    on_smol: Smol;
    on_blocking: Blocking;
}

#[test]
fn mixed_mesh_of_every_adapter() {
    c::bounded(|| c::mixed_mesh(&[&Tokio::new(), &AsyncStd, &Smol, &Blocking]));
}
