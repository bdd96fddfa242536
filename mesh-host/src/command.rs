//! What an adapter's user handles ask its driver, each with a reply channel
//! of the adapter's runtime.

use std::fmt;
use std::io;

use mesh_proto::mesh::{ConnId, Counters, Handler, Message, PeerAddr, PeerId, Prepared, SendError};
use mesh_proto::wire::{MainFlag, MsgId, Value};

use crate::Channels;

/// A request from a user handle to the driver.
pub enum Command<C: Channels> {
    /// Dial `addr`; the reply comes when the TCP connection is up (or failed).
    Connect {
        /// Where to dial.
        addr: PeerAddr,
        /// The new connection, or why it could not be opened.
        reply: C::Reply<io::Result<ConnId>>,
    },
    /// A send or reply; parked while the mesh is backpressured.
    Send(Outgoing<C>),
    /// A handler to run after the built-in ones.
    Handler(Box<dyn Handler>),
    /// A new event subscriber (dropped at once after close).
    Subscribe(C::Subscriber),
    /// The ids in the routing table.
    Routes(C::Reply<Vec<PeerId>>),
    /// The core's running totals.
    Counters(C::Reply<Counters>),
    /// A graceful close; answered once every connection has flushed.
    Close(C::Reply<Result<(), SendError>>),
}

impl<C: Channels> fmt::Debug for Command<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Command::Connect { addr, .. } => return write!(f, "Connect({addr})"),
            Command::Send(out) => return out.fmt(f),
            Command::Handler(_) => "Handler",
            Command::Subscribe(_) => "Subscribe",
            Command::Routes(_) => "Routes",
            Command::Counters(_) => "Counters",
            Command::Close(_) => "Close",
        };
        f.write_str(name)
    }
}

/// Something to send, waiting for the mesh to take it.
pub enum Outgoing<C: Channels> {
    /// [`Mesh::send`](mesh_proto::mesh::Mesh::send).
    Send {
        /// The payload.
        packets: Vec<Value>,
        /// Broadcast, whisper...
        flag: MainFlag,
        /// The message id, or why it was not sent.
        reply: C::Reply<Result<MsgId, SendError>>,
    },
    /// A send the handle encoded itself
    /// ([`Mesh::send_prepared`](mesh_proto::mesh::Mesh::send_prepared)):
    /// without a reply when the [`SendGate`](crate::SendGate) let it ahead.
    Prepared {
        /// The encoded message.
        msg: Prepared,
        /// Where its id goes, if the handle waits for it.
        reply: Option<C::Reply<Result<MsgId, SendError>>>,
    },
    /// [`Mesh::reply`](mesh_proto::mesh::Mesh::reply).
    Reply {
        /// The message answered.
        msg: Box<Message>,
        /// The payload.
        packets: Vec<Value>,
        /// Whether it was sent; `None` for a reply queued by
        /// [`Message::reply`](mesh_proto::mesh::Message::reply), which nobody
        /// waits for.
        reply: Option<C::Reply<Result<(), SendError>>>,
    },
}

impl<C: Channels> Outgoing<C> {
    /// Whether the caller stopped waiting (then it is not sent at all).
    pub fn abandoned(&self) -> bool {
        match self {
            Outgoing::Send { reply, .. } => C::gave_up(reply),
            Outgoing::Reply { reply, .. } => reply.as_ref().is_some_and(|r| C::gave_up(r)),
            Outgoing::Prepared { reply, .. } => reply.as_ref().is_some_and(|r| C::gave_up(r)),
        }
    }
}

impl<C: Channels> fmt::Debug for Outgoing<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outgoing::Send { flag, .. } => write!(f, "Send({flag:?})"),
            Outgoing::Reply { msg, .. } => write!(f, "Reply({})", msg.id),
            Outgoing::Prepared { msg, .. } => write!(f, "Prepared({})", msg.id()),
        }
    }
}
