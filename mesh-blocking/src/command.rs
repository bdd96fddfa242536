//! What the driver thread reads from its one channel: commands from user
//! handles (each with a reply channel) and I/O events from the other threads.

use std::io;
use std::time::Instant;

use mesh_proto::mesh::{ConnId, Counters, Event, Handler, Message, PeerAddr, PeerId, SendError};
use mesh_proto::wire::{MainFlag, MsgId, Value};
use std::sync::mpsc::{Sender, SyncSender};

use crate::driver::IoEvent;

/// One input of the driver thread.
pub(crate) enum Input {
    Cmd(Command),
    Io(IoEvent),
    /// The last [`MeshSocket`](crate::MeshSocket) handle was dropped.
    HandlesDropped,
}

/// A request from a [`MeshSocket`](crate::MeshSocket) to the driver.
pub(crate) enum Command {
    /// Dial `addr`; the reply comes when the TCP connection is up (or failed).
    Connect {
        addr: PeerAddr,
        reply: Sender<io::Result<ConnId>>,
    },
    /// A send or reply; parked while the mesh is backpressured.
    Send(Outgoing),
    /// Up to `max` messages. Parked while none is queued, until `until`
    /// (`None`: no limit); a deadline already passed answers at once.
    Recv {
        max: usize,
        until: Option<Instant>,
        reply: Sender<Vec<Message>>,
    },
    Handler(Box<dyn Handler>),
    Subscribe(SyncSender<Event>),
    Routes(Sender<Vec<PeerId>>),
    Counters(Sender<Counters>),
    Close(Sender<Result<(), SendError>>),
}

/// Something to send, waiting for the mesh to take it.
pub(crate) enum Outgoing {
    Send {
        packets: Vec<Value>,
        flag: MainFlag,
        reply: Sender<Result<MsgId, SendError>>,
    },
    Reply {
        msg: Box<Message>,
        packets: Vec<Value>,
        reply: Sender<Result<(), SendError>>,
    },
}
