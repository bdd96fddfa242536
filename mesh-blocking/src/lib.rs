//! A std-threads runtime for [`mesh_proto`]: py2p's `MeshSocket` over real
//! TCP sockets, with plain blocking calls.
//!
//! It is a blocking face on the machinery of `mesh-async-std`: each socket's
//! driver (which owns the sans-IO [`Mesh`](mesh_proto::mesh::Mesh)), its
//! accept loop and every connection's reader and writer run as tasks on one
//! thread of the socket's own (named `mesh@{port}`), not on two OS threads
//! per connection. Each call blocks the caller until its answer is there;
//! messages are taken from a queue the socket shares with its driver, with
//! no round trip; a send while the mesh takes sends at once is encoded and
//! hashed on the caller's thread and only queued.
//!
//! Flow control: [`send`](MeshSocket::send) and friends block while any
//! peer's output queue is over half of `Config::max_queued_bytes`; a peer
//! whose socket takes nothing for the write-stall timeout
//! ([`Builder::write_stall_timeout`], 30 s) is disconnected, and the rest of
//! the mesh goes on.
//!
//! Messages are read with [`recv`](MeshSocket::recv) (at once),
//! [`recv_many`](MeshSocket::recv_many) or
//! [`recv_timeout`](MeshSocket::recv_timeout); events with the blocking
//! iterator [`events`](MeshSocket::events) or py2p-style callbacks
//! ([`on`](MeshSocket::on), [`once`](MeshSocket::once)).
//!
//! Two nodes on loopback, one message:
//!
//! ```
//! use std::time::Duration;
//! use mesh_blocking::{Encryption, Event, MeshSocket, Protocol, Value};
//!
//! # fn main() -> std::io::Result<()> {
//! let protocol = Protocol::new("chat", Encryption::Plaintext);
//! let alice = MeshSocket::bind("127.0.0.1", 0, protocol.clone(), None)?;
//! let bob = MeshSocket::bind("127.0.0.1", 0, protocol, None)?;
//!
//! let events = bob.events();
//! bob.connect("127.0.0.1", alice.local_addr().port())?;
//! // Wait for the handshake: then alice is in bob's routing table.
//! while !matches!(events.recv_timeout(Duration::from_secs(10)), Some(Event::PeerUp { .. })) {}
//! assert_eq!(bob.routes(), vec![alice.id().clone()]);
//!
//! bob.send(vec![Value::from("hello")]).expect("open");
//! let msg = alice.recv_timeout(Duration::from_secs(10)).expect("a message");
//! assert_eq!(msg.packets[1], Value::from("hello")); // packets[0] is the sub-flag
//! assert_eq!(&msg.sender, bob.id());
//!
//! bob.close().expect("first close");
//! assert!(bob.close().is_err());
//! # Ok(()) }
//! ```
//!
//! # TLS
//!
//! A [`Protocol`] with [`Encryption::Ssl`] (py2p's `"SSL"`) puts TLS
//! (rustls, ring provider) on every connection, through
//! `mesh_host::tls`: each node makes a fresh self-signed certificate when
//! it binds, and accepts any certificate from the peers it dials. **This is
//! encryption without authentication, exactly like py2p's SSL mode**: it
//! stops passive eavesdroppers, not an active man in the middle.
//!
//! Every TLS handshake runs before the connection reaches the core and must
//! finish within the core's `handshake_timeout`. One that fails or times out
//! just closes the socket: an accepted one is never seen by the core, a
//! dialed one is a failed dial ([`connect`](MeshSocket::connect) returns the
//! error). So a plaintext node meeting a TLS one ends in a prompt close on
//! both sides, and peers speaking different encryptions never link. Closing
//! a TLS connection sends `close_notify` after the queued frames.
//!
//! TLS is the default `tls` feature; without it, binding an
//! `Encryption::Ssl` protocol fails with `Unsupported`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod builder;
mod events;
mod socket;

pub use builder::{Builder, DEFAULT_WRITE_STALL};
pub use events::Events;
pub use mesh_async_std::EventKind;
pub use socket::MeshSocket;

/// The machine's LAN address, as a wildcard bind advertises it.
pub use mesh_async_std::lan_address;
pub use mesh_proto;
pub use mesh_proto::mesh::{
    Config, ConnId, Counters, Event, Handled, Handler, HandlerCx, Message, PeerAddr, PeerId,
    RejectReason, SendError, handler_fn,
};
pub use mesh_proto::packets;
pub use mesh_proto::wire::{Encryption, MainFlag, MsgId, Protocol, SubFlag, Value};
