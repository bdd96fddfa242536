//! [`AsyncHandle`]: the async adapters' user handle, generic over how their
//! runtime sends a command and awaits its answer ([`AsyncChannels`]). Each
//! adapter's public `MeshSocket` wraps one.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;

use mesh_proto::mesh::{ConnId, Counters, Handler, Message, PeerAddr, PeerId, SendError};
use mesh_proto::wire::{MainFlag, MsgId, Value};

use crate::{Channels, Command, Outgoing, Shared};

/// A runtime whose callers await their answers: its command queue and the
/// receiving side of its one-shot replies.
pub trait AsyncChannels: Channels + Sized {
    /// The sending side of the driver's command queue (never full: a command
    /// does not wait).
    type Commands: Clone;
    /// A sender that does not keep the driver's command queue open.
    type WeakCommands: Clone + Send + Sync + 'static;
    /// The receiving side of a one-shot answer.
    type Answer<T>;

    /// Queues `cmd` for the driver; `false` if the driver is gone.
    fn command(to: &Self::Commands, cmd: Command<Self>) -> bool;

    /// A weak sender for `to`.
    fn downgrade(to: &Self::Commands) -> Self::WeakCommands;

    /// The sender again, if a strong one is left.
    fn upgrade(weak: &Self::WeakCommands) -> Option<Self::Commands>;

    /// A channel for exactly one answer.
    fn oneshot<T>() -> (Self::Reply<T>, Self::Answer<T>);

    /// The answer; `None` if the driver dropped the reply unanswered.
    fn answer<T: Send>(rx: &mut Self::Answer<T>) -> impl Future<Output = Option<T>> + Send;
}

/// A node's user handle: a cheap clone that turns each call into a
/// [`Command`] for the driver and awaits the answer. Every call on a handle
/// whose driver is gone gets the same answer as on a closed mesh.
pub struct AsyncHandle<A: AsyncChannels> {
    cmds: A::Commands,
    shared: Shared,
    id: PeerId,
    local_addr: SocketAddr,
    out_addr: PeerAddr,
}

impl<A: AsyncChannels> Clone for AsyncHandle<A> {
    fn clone(&self) -> Self {
        AsyncHandle {
            cmds: self.cmds.clone(),
            shared: self.shared.clone(),
            id: self.id.clone(),
            local_addr: self.local_addr,
            out_addr: self.out_addr.clone(),
        }
    }
}

impl<A: AsyncChannels> fmt::Debug for AsyncHandle<A>
where
    A::Commands: fmt::Debug,
{
    /// Named as the adapters' `MeshSocket`, whose `Debug` this is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeshSocket")
            .field("cmds", &self.cmds)
            .field("id", &self.id)
            .field("local_addr", &self.local_addr)
            .field("out_addr", &self.out_addr)
            .finish()
    }
}

impl<A: AsyncChannels> AsyncHandle<A> {
    /// A handle on the driver listening on `cmds`, sharing its `shared`
    /// ([`HostDriver::shared`](crate::HostDriver::shared)).
    pub fn new(
        cmds: A::Commands,
        shared: Shared,
        id: PeerId,
        local_addr: SocketAddr,
        out_addr: PeerAddr,
    ) -> AsyncHandle<A> {
        AsyncHandle {
            cmds,
            shared,
            id,
            local_addr,
            out_addr,
        }
    }

    /// The node id.
    pub fn id(&self) -> &PeerId {
        &self.id
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address advertised to peers.
    pub fn out_addr(&self) -> &PeerAddr {
        &self.out_addr
    }

    /// Dials `host:port`; answered once the connection is open.
    pub async fn connect(&self, host: &str, port: u16) -> io::Result<ConnId> {
        let addr = PeerAddr::new(host, port);
        self.ask(|reply| Command::Connect { addr, reply })
            .await
            .unwrap_or_else(|| Err(io::Error::new(io::ErrorKind::NotConnected, "closed")))
    }

    /// Sends `packets` with `flag`, waiting out backpressure. While the
    /// mesh takes sends at once, the message is encoded and hashed here and
    /// queued without waiting for the driver ([`SendGate`](crate::SendGate)).
    pub async fn send_with(&self, packets: Vec<Value>, flag: MainFlag) -> Result<MsgId, SendError> {
        let queued = crate::queue_send(
            &self.shared.gate,
            &self.id,
            packets,
            flag,
            crate::unix_now(),
            |out| A::command(&self.cmds, Command::Send(out)),
        )?;
        match queued {
            Ok(id) => Ok(id),
            Err(waits) => self
                .ask(|reply| Command::Send(waits.outgoing(flag, reply)))
                .await
                .unwrap_or(Err(SendError::Closed)),
        }
    }

    /// Answers `msg` with `packets`.
    pub async fn reply(&self, msg: &Message, packets: Vec<Value>) -> Result<(), SendError> {
        let msg = Box::new(msg.clone());
        let out = |reply| {
            Command::Send(Outgoing::Reply {
                msg,
                packets,
                reply: Some(reply),
            })
        };
        self.ask(out).await.unwrap_or(Err(SendError::Closed))
    }

    /// A handle that does not keep the node open (a callback's).
    pub fn downgrade(&self) -> WeakHandle<A> {
        WeakHandle {
            cmds: A::downgrade(&self.cmds),
            shared: self.shared.clone(),
            id: self.id.clone(),
            local_addr: self.local_addr,
            out_addr: self.out_addr.clone(),
        }
    }

    /// Received messages as a stream (see [`Messages`](crate::Messages)).
    pub fn messages(&self) -> crate::Messages {
        crate::Messages::new(self.shared.inbox.clone())
    }

    /// The oldest received message, without waiting.
    pub fn recv(&self) -> Option<Message> {
        self.shared.inbox.take(1).pop()
    }

    /// Up to `n` received messages, oldest first, without waiting.
    pub fn recv_many(&self, n: usize) -> Vec<Message> {
        self.shared.inbox.take(n)
    }

    /// Waits for the next message; `None` once the mesh is closed and its
    /// queue is empty. Cancel-safe: nothing is taken unless it is returned.
    pub async fn next(&self) -> Option<Message> {
        self.next_many(1).await.pop()
    }

    /// Waits for at least one message and takes up to `max` (oldest first);
    /// empty once the mesh is closed and its queue is empty. Cancel-safe.
    pub async fn next_many(&self, max: usize) -> Vec<Message> {
        let max = max.max(1);
        std::future::poll_fn(|cx| self.shared.inbox.poll_take(cx, max)).await
    }

    /// Adds a handler after the built-in ones.
    pub fn register_handler(&self, handler: impl Handler + 'static) {
        A::command(&self.cmds, Command::Handler(Box::new(handler)));
    }

    /// Adds an event subscriber (dropped at once if the mesh is closed).
    pub fn subscribe(&self, to: A::Subscriber) {
        A::command(&self.cmds, Command::Subscribe(to));
    }

    /// The ids in the routing table.
    pub async fn routes(&self) -> Vec<PeerId> {
        self.ask(Command::Routes).await.unwrap_or_default()
    }

    /// The core's running totals.
    pub async fn counters(&self) -> Counters {
        self.ask(Command::Counters).await.unwrap_or_default()
    }

    /// A graceful close, answered once every connection has flushed.
    pub async fn close(&self) -> Result<(), SendError> {
        self.ask(Command::Close)
            .await
            .unwrap_or(Err(SendError::Closed))
    }

    /// Sends a command and waits for its answer (`None`: the driver is gone).
    async fn ask<T: Send>(&self, make: impl FnOnce(A::Reply<T>) -> Command<A>) -> Option<T> {
        let (tx, mut rx) = A::oneshot();
        if !A::command(&self.cmds, make(tx)) {
            return None;
        }
        A::answer(&mut rx).await
    }
}

/// An [`AsyncHandle`] that does not keep the node open: what a callback
/// holds, so that dropping every handle still closes the node.
pub struct WeakHandle<A: AsyncChannels> {
    cmds: A::WeakCommands,
    shared: Shared,
    id: PeerId,
    local_addr: SocketAddr,
    out_addr: PeerAddr,
}

impl<A: AsyncChannels> fmt::Debug for WeakHandle<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakHandle")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<A: AsyncChannels> WeakHandle<A> {
    /// The handle again, while some handle still keeps the node open.
    pub fn upgrade(&self) -> Option<AsyncHandle<A>> {
        Some(AsyncHandle {
            cmds: A::upgrade(&self.cmds)?,
            shared: self.shared.clone(),
            id: self.id.clone(),
            local_addr: self.local_addr,
            out_addr: self.out_addr.clone(),
        })
    }
}

/// How messages delivered by the driver behind `cmds` answer
/// [`Message::reply`](mesh_proto::mesh::Message::reply): the reply is queued
/// as a command, through a weak sender (a message kept around does not keep
/// the node open).
pub fn reply_to<A: AsyncChannels>(cmds: &A::Commands) -> mesh_proto::mesh::ReplyTo
where
    A::WeakCommands: Send + Sync,
{
    let weak = A::downgrade(cmds);
    mesh_proto::mesh::ReplyTo::new(move |msg, packets| {
        let cmds = A::upgrade(&weak).ok_or(SendError::Closed)?;
        let out = Outgoing::Reply {
            msg: Box::new(msg.clone()),
            packets,
            reply: None,
        };
        if A::command(&cmds, Command::Send(out)) {
            Ok(())
        } else {
            Err(SendError::Closed)
        }
    })
}
