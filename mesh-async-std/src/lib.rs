//! An async-std / smol runtime for [`mesh_proto`]: py2p's `MeshSocket` over
//! real TCP sockets.
//!
//! async-std is discontinued upstream (RUSTSEC-2025-0052) and runs on the
//! smol stack, so this crate is built on that stack alone — `async-io`
//! (reactor, timers), `async-net` (TCP), `async-executor`, `async-channel`
//! and `futures-lite` — and never pulls async-std in. The same code runs
//! under async-std, under smol, or under a bare
//! `futures_lite::future::block_on`.
//!
//! # Where the tasks run
//!
//! Each socket runs its tasks — one driver task that owns the sans-IO
//! [`Mesh`](mesh_proto::mesh::Mesh), the accept loop, dials, and a reader
//! and a writer per connection — on an [`async-executor`] of its own, served
//! by one thread (named `mesh@{port}`) that [`bind`](MeshSocket::bind)
//! starts. The thread ends by itself once every [`MeshSocket`] clone is
//! dropped and the last connection has flushed and hung up (after a closing
//! linger of at most [`CLOSE_LINGER`](mesh_host::CLOSE_LINGER)).
//! All I/O readiness and timers go through `async-io`'s process-wide reactor,
//! the one async-std and smol themselves use.
//!
//! Why not spawn onto the caller's executor instead? async-std and smol have
//! no common spawn function, so the caller would have to hand us one on
//! every `bind`, and a forgotten or mismatched spawner (a single-threaded
//! smol `LocalExecutor` that is not being run, say) would silently stall
//! the node. With a thread of its own the surface stays exactly that of
//! `mesh-tokio` (`bind(host, port, protocol, out_addr)`), the node makes
//! progress whatever the caller's executor is doing, and handlers (which
//! are synchronous) never run on the caller's threads. The cost is one OS
//! thread per socket and a channel hop per call.
//!
//! [`async-executor`]: async_executor
//!
//! # How it works
//!
//! The driver task owns the core (its loop is `mesh_host::run`, shared with
//! `mesh-tokio`). Each
//! [`MeshSocket`] (a cheap clone) sends it commands over a channel; received
//! messages are read from a queue the socket shares with the driver, with no
//! round trip, and while the mesh takes sends at once a send is encoded and
//! hashed on the caller's side and only queued. Every connection has a
//! reader task, which feeds the bytes it reads to the driver, and a writer
//! task, which writes everything queued for it in one write and reports its
//! progress once per write. The driver takes every ready input before it
//! settles the core's outputs once, and moves its timer only when the
//! deadline moves.
//!
//! Flow control: [`send`](MeshSocket::send) and friends wait while any peer's
//! output queue is over half of `Config::max_queued_bytes`, and the driver
//! stops reading while a peer's queue or the receive queue is over half
//! full, so TCP pushes back on the senders (a pause that sees no progress
//! for 250 ms, 64 KiB written or an eighth of the receive queue taken,
//! ends, and none lasts over 2 s: then the peer's queue may overflow, or
//! the oldest messages be dropped); a peer whose socket takes nothing for the
//! write-stall timeout ([`Builder::write_stall_timeout`], 30 s) is
//! disconnected, and the rest of the mesh goes on.
//!
//! Two nodes on loopback, one message (under smol here; async-std's
//! `task::block_on` works the same):
//!
//! ```
//! use futures_lite::StreamExt;
//! use mesh_async_std::{Encryption, Event, MeshSocket, Protocol, Value};
//!
//! # fn main() -> std::io::Result<()> {
//! smol::block_on(async {
//!     let protocol = Protocol::new("chat", Encryption::Plaintext);
//!     let alice = MeshSocket::bind("127.0.0.1", 0, protocol.clone(), None).await?;
//!     let bob = MeshSocket::bind("127.0.0.1", 0, protocol, None).await?;
//!
//!     let mut events = bob.events(); // a futures `Stream`
//!     bob.connect("127.0.0.1", alice.local_addr().port()).await?;
//!     // Wait for the handshake: then alice is in bob's routing table.
//!     while !matches!(events.next().await, Some(Event::PeerUp { .. })) {}
//!     assert_eq!(bob.routes().await, vec![alice.id().clone()]);
//!
//!     bob.send(vec![Value::from("hello")]).await.expect("open");
//!     let msg = alice.next().await.expect("a message");
//!     assert_eq!(msg.packets[1], Value::from("hello")); // packets[0] is the sub-flag
//!     assert_eq!(&msg.sender, bob.id());
//!
//!     bob.close().await.expect("first close");
//!     assert!(bob.close().await.is_err());
//!     Ok(())
//! })
//! # }
//! ```
//!
//! TLS (py2p's `"SSL"` encryption, the `tls` feature, on by default): bind
//! with `Protocol::new(subnet, Encryption::Ssl)` and every accepted socket is
//! wrapped as a TLS server, every dialed one as a TLS client, before its
//! connection tasks start (`futures-rustls`, the ring provider). As in py2p
//! each node makes a fresh self-signed certificate and accepts any peer's:
//! this is **encryption without authentication**, which stops passive
//! eavesdroppers but not an active man in the middle (see
//! `mesh_host::tls`). A TLS handshake that fails (a plaintext peer, say) or
//! takes longer than the core's `handshake_timeout` just closes the socket.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod builder;
mod conn;
mod driver;
mod events;
mod net;
mod refuse;
mod runtime;
mod socket;
mod spawn;

pub use builder::Builder;
pub use events::Events;
pub use socket::MeshSocket;

pub use mesh_host::DEFAULT_WRITE_STALL;
/// The machine's LAN address, as a wildcard bind advertises it.
pub use mesh_host::lan_address;
pub use mesh_host::{EventKind, Messages};
pub use mesh_proto;
pub use mesh_proto::mesh::{
    Config, ConnId, Counters, Event, Handled, Handler, HandlerCx, Message, PeerAddr, PeerId,
    RejectReason, SendError, handler_fn,
};
pub use mesh_proto::packets;
pub use mesh_proto::wire::{Encryption, MainFlag, MsgId, Protocol, SubFlag, Value};
