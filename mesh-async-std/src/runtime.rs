//! The smol stack's side of the driver: the channels callers are answered
//! on, the tasks that dial and move bytes, and the listener. The logic they
//! serve is `mesh_host::HostDriver`'s.

use std::io;

use bytes::Bytes;

use async_channel::TrySendError;
use async_executor::Task;
use mesh_host::{self, AsyncChannels, Channels, Publish, Runtime, Timeouts};
use mesh_proto::mesh::{ConnId, Event, PeerAddr, SendError};

use crate::conn::ConnTasks;
use crate::driver::{Command, IoEvent};
use crate::net::{self, Security, Stream};
use crate::spawn::Spawner;

/// The sending side of a one-shot answer: a channel of capacity one. A closed
/// channel means the asker stopped waiting.
pub(crate) type Reply<T> = async_channel::Sender<T>;

/// What the driver's tasks share, and what a close waits for.
pub(crate) struct Smol {
    pub(crate) spawner: Spawner,
    pub(crate) io_tx: async_channel::Sender<IoEvent>,
    /// Writers' progress and failures: taken even while reads are paused.
    pub(crate) ctl_tx: async_channel::Sender<IoEvent>,
    /// The accept loop; dropping the task cancels it, and a close waits
    /// until it is gone (the listening socket with it).
    pub(crate) listener: Option<Task<()>>,
    /// Cloned into every writer; once all are dropped, every writer has flushed.
    pub(crate) alive: Option<async_channel::Sender<()>>,
    pub(crate) flushed: Option<async_channel::Receiver<()>>,
    pub(crate) timeouts: Timeouts,
    /// Plaintext or TLS, for dials.
    pub(crate) security: Security,
}

impl Channels for Smol {
    type Reply<T> = Reply<T>;
    type Subscriber = async_channel::Sender<Event>;

    fn reply<T>(to: Reply<T>, value: T) -> Result<(), T> {
        to.try_send(value).map_err(TrySendError::into_inner)
    }

    fn gave_up<T>(to: &Reply<T>) -> bool {
        to.is_closed()
    }

    fn publish(to: &async_channel::Sender<Event>, event: Event) -> Publish {
        match to.try_send(event) {
            Ok(()) => Publish::Sent,
            Err(TrySendError::Full(_)) => Publish::Full,
            Err(TrySendError::Closed(_)) => Publish::Gone,
        }
    }
}

impl AsyncChannels for Smol {
    type Commands = async_channel::Sender<Command>;
    type WeakCommands = async_channel::WeakSender<Command>;
    type Answer<T> = async_channel::Receiver<T>;

    fn downgrade(to: &Self::Commands) -> Self::WeakCommands {
        to.downgrade()
    }

    fn upgrade(weak: &Self::WeakCommands) -> Option<Self::Commands> {
        weak.upgrade()
    }

    fn command(to: &Self::Commands, cmd: Command) -> bool {
        to.try_send(cmd).is_ok()
    }

    /// A channel of capacity one.
    fn oneshot<T>() -> (Reply<T>, async_channel::Receiver<T>) {
        async_channel::bounded(1)
    }

    async fn answer<T: Send>(rx: &mut async_channel::Receiver<T>) -> Option<T> {
        rx.recv().await.ok()
    }
}

impl Runtime for Smol {
    type Stream = Stream;
    type Conn = ConnTasks;

    fn open(&mut self, conn: ConnId, stream: Stream) -> io::Result<ConnTasks> {
        // Gone only once a close has finished, when nothing is opened.
        let alive = self.alive.clone().ok_or_else(mesh_host::closed)?;
        let (io, ctl) = (self.io_tx.clone(), self.ctl_tx.clone());
        let write_stall = self.timeouts.write_stall;
        Ok(crate::conn::spawn(
            &self.spawner,
            conn,
            stream,
            (io, ctl),
            write_stall,
            alive,
        ))
    }

    fn refuse(&mut self, stream: Stream, bytes: Bytes, slot: mesh_host::HandshakeSlot) {
        let goodbye = crate::refuse::refuse(stream, bytes, slot);
        self.spawner.spawn(goodbye).detach();
    }

    fn dial(&mut self, conn: ConnId, addr: PeerAddr) -> io::Result<()> {
        let security = self.security.clone();
        let dial = net::dial(conn, addr, security, self.timeouts, self.io_tx.clone());
        self.spawner.spawn(dial).detach();
        Ok(())
    }

    /// Nothing yet: the accept loop is cancelled, and waited for, in
    /// `finish_close`; if the handles are dropped instead, it is cancelled
    /// when the driver is dropped.
    fn stop_listening(&mut self) {}

    /// Stops listening and answers once every writer is done.
    fn finish_close(&mut self, reply: Reply<Result<(), SendError>>) {
        self.alive = None;
        let flushed = self.flushed.take();
        let listener = self.listener.take();
        let finish = async move {
            // Cancels the accept loop and waits until it (and the listening
            // socket it owns) is gone.
            if let Some(listener) = listener {
                listener.cancel().await;
            }
            // Nothing is ever sent: `recv` fails once every writer dropped
            // its sender.
            if let Some(flushed) = flushed {
                while flushed.recv().await.is_ok() {}
            }
            let _ = reply.try_send(Ok(()));
        };
        self.spawner.spawn(finish).detach();
    }
}
