//! What user handles ask the driver, each with a oneshot reply.

use std::io;

use mesh_proto::mesh::{ConnId, Counters, Event, Handler, Message, PeerAddr, PeerId, SendError};
use mesh_proto::wire::{MainFlag, MsgId, Value};
use tokio::sync::{mpsc, oneshot};

/// A request from a [`MeshSocket`](crate::MeshSocket) to the driver.
pub(crate) enum Command {
    /// Dial `addr`; the reply comes when the TCP connection is up (or failed).
    Connect {
        addr: PeerAddr,
        reply: oneshot::Sender<io::Result<ConnId>>,
    },
    /// A send or reply; parked while the mesh is backpressured.
    Send(Outgoing),
    /// Up to `max` messages; with `wait`, parked until at least one arrives.
    Recv {
        max: usize,
        wait: bool,
        reply: oneshot::Sender<Vec<Message>>,
    },
    /// Messages taken by a receive that was cancelled: back to the front.
    Unrecv(Vec<Message>),
    Handler(Box<dyn Handler>),
    Subscribe(mpsc::Sender<Event>),
    Routes(oneshot::Sender<Vec<PeerId>>),
    Counters(oneshot::Sender<Counters>),
    Close(oneshot::Sender<Result<(), SendError>>),
}

/// Something to send, waiting for the mesh to take it.
pub(crate) enum Outgoing {
    Send {
        packets: Vec<Value>,
        flag: MainFlag,
        reply: oneshot::Sender<Result<MsgId, SendError>>,
    },
    Reply {
        msg: Box<Message>,
        packets: Vec<Value>,
        reply: oneshot::Sender<Result<(), SendError>>,
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
