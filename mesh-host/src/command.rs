//! What an adapter's user handles ask its driver, each with a reply channel
//! of the adapter's runtime.

use std::fmt;
use std::io;
use std::time::Instant;

use mesh_proto::mesh::{ConnId, Counters, Handler, Message, PeerAddr, PeerId, SendError};
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
    /// Up to `max` messages, waiting for one as `wait` says.
    Recv {
        /// The most messages to take.
        max: usize,
        /// How long to wait while none is queued.
        wait: Wait,
        /// The messages (empty: none came in time, or the mesh is closed).
        reply: C::Reply<Vec<Message>>,
    },
    /// Messages taken by a receive that was cancelled: back to the front.
    Unrecv(Vec<Message>),
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
            Command::Recv { max, wait, .. } => return write!(f, "Recv({max}, {wait:?})"),
            Command::Unrecv(msgs) => return write!(f, "Unrecv({})", msgs.len()),
            Command::Handler(_) => "Handler",
            Command::Subscribe(_) => "Subscribe",
            Command::Routes(_) => "Routes",
            Command::Counters(_) => "Counters",
            Command::Close(_) => "Close",
        };
        f.write_str(name)
    }
}

/// How long a receive waits while no message is queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Not at all: answer at once.
    No,
    /// Until this instant, then answer with nothing.
    Until(Instant),
    /// Until a message arrives or the mesh closes.
    Forever,
}

impl Wait {
    /// Whether a receive waiting this way should stop waiting at `now`.
    pub fn is_over(self, now: Instant) -> bool {
        match self {
            Wait::No => true,
            Wait::Until(t) => t <= now,
            Wait::Forever => false,
        }
    }

    /// The instant a waiting receive must be answered by, if any.
    pub fn until(self) -> Option<Instant> {
        match self {
            Wait::Until(t) => Some(t),
            Wait::No | Wait::Forever => None,
        }
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
    /// [`Mesh::reply`](mesh_proto::mesh::Mesh::reply).
    Reply {
        /// The message answered.
        msg: Box<Message>,
        /// The payload.
        packets: Vec<Value>,
        /// Whether it was sent.
        reply: C::Reply<Result<(), SendError>>,
    },
}

impl<C: Channels> Outgoing<C> {
    /// Whether the caller stopped waiting (then it is not sent at all).
    pub fn abandoned(&self) -> bool {
        match self {
            Outgoing::Send { reply, .. } => C::gave_up(reply),
            Outgoing::Reply { reply, .. } => C::gave_up(reply),
        }
    }
}

impl<C: Channels> fmt::Debug for Outgoing<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outgoing::Send { flag, .. } => write!(f, "Send({flag:?})"),
            Outgoing::Reply { msg, .. } => write!(f, "Reply({})", msg.id),
        }
    }
}
