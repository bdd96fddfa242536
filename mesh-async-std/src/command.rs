//! What user handles ask the driver, each with a one-shot reply channel.

use std::io;

use mesh_proto::mesh::{ConnId, Counters, Event, Handler, Message, PeerAddr, PeerId, SendError};
use mesh_proto::wire::{MainFlag, MsgId, Value};

/// The sending side of a one-shot answer: a channel of capacity one. A closed
/// channel means the asker stopped waiting.
pub(crate) type Reply<T> = async_channel::Sender<T>;

/// A channel for exactly one answer.
pub(crate) fn oneshot<T>() -> (Reply<T>, async_channel::Receiver<T>) {
    async_channel::bounded(1)
}

/// A request from a [`MeshSocket`](crate::MeshSocket) to the driver.
pub(crate) enum Command {
    /// Dial `addr`; the reply comes when the TCP connection is up (or failed).
    Connect {
        addr: PeerAddr,
        reply: Reply<io::Result<ConnId>>,
    },
    /// A send or reply; parked while the mesh is backpressured.
    Send(Outgoing),
    /// Up to `max` messages; with `wait`, parked until at least one arrives.
    Recv {
        max: usize,
        wait: bool,
        reply: Reply<Vec<Message>>,
    },
    /// Messages taken by a receive that was cancelled: back to the front.
    Unrecv(Vec<Message>),
    Handler(Box<dyn Handler>),
    Subscribe(async_channel::Sender<Event>),
    Routes(Reply<Vec<PeerId>>),
    Counters(Reply<Counters>),
    Close(Reply<Result<(), SendError>>),
}

/// Something to send, waiting for the mesh to take it.
pub(crate) enum Outgoing {
    Send {
        packets: Vec<Value>,
        flag: MainFlag,
        reply: Reply<Result<MsgId, SendError>>,
    },
    Reply {
        msg: Box<Message>,
        packets: Vec<Value>,
        reply: Reply<Result<(), SendError>>,
    },
}

impl Outgoing {
    /// Whether the caller stopped waiting (then it is not sent at all).
    pub(crate) fn abandoned(&self) -> bool {
        match self {
            Outgoing::Send { reply, .. } => reply.is_closed(),
            Outgoing::Reply { reply, .. } => reply.is_closed(),
        }
    }
}
