//! tokio's side of the driver: the channels callers are answered on, the
//! tasks that dial and move bytes, and the listener. The logic they serve is
//! `mesh_host::HostDriver`'s.

use std::io;

use bytes::Bytes;

use mesh_host::{self, AsyncChannels, Channels, Publish, Runtime, Timeouts};
use mesh_proto::mesh::{ConnId, Event, PeerAddr, SendError};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::conn::ConnTasks;
use crate::driver::{Command, IoEvent};
use crate::net::{self, Security, Stream};

/// What the driver's tasks share, and what a close waits for.
pub(crate) struct Tokio {
    pub(crate) io_tx: mpsc::Sender<IoEvent>,
    /// Writers' progress and failures: taken even while reads are paused.
    pub(crate) ctl_tx: mpsc::UnboundedSender<IoEvent>,
    /// The accept loop, aborted on close (close waits until it is gone).
    pub(crate) listener: Option<JoinHandle<()>>,
    /// Cloned into every writer; once all are dropped, every writer has flushed.
    pub(crate) alive: Option<mpsc::Sender<()>>,
    pub(crate) flushed: Option<mpsc::Receiver<()>>,
    pub(crate) timeouts: Timeouts,
    /// Plaintext or TLS, for dials.
    pub(crate) security: Security,
}

impl Channels for Tokio {
    type Reply<T> = oneshot::Sender<T>;
    type Subscriber = mpsc::Sender<Event>;

    fn reply<T>(to: oneshot::Sender<T>, value: T) -> Result<(), T> {
        to.send(value)
    }

    fn gave_up<T>(to: &oneshot::Sender<T>) -> bool {
        to.is_closed()
    }

    fn publish(to: &mpsc::Sender<Event>, event: Event) -> Publish {
        match to.try_send(event) {
            Ok(()) => Publish::Sent,
            Err(TrySendError::Full(_)) => Publish::Full,
            Err(TrySendError::Closed(_)) => Publish::Gone,
        }
    }
}

impl AsyncChannels for Tokio {
    type Commands = mpsc::UnboundedSender<Command>;
    type WeakCommands = mpsc::WeakUnboundedSender<Command>;
    type Answer<T> = oneshot::Receiver<T>;

    fn downgrade(to: &Self::Commands) -> Self::WeakCommands {
        to.downgrade()
    }

    fn upgrade(weak: &Self::WeakCommands) -> Option<Self::Commands> {
        weak.upgrade()
    }

    fn command(to: &Self::Commands, cmd: Command) -> bool {
        to.send(cmd).is_ok()
    }

    fn oneshot<T>() -> (oneshot::Sender<T>, oneshot::Receiver<T>) {
        oneshot::channel()
    }

    async fn answer<T: Send>(rx: &mut oneshot::Receiver<T>) -> Option<T> {
        rx.await.ok()
    }
}

impl Runtime for Tokio {
    type Stream = Stream;
    type Conn = ConnTasks;

    fn open(&mut self, conn: ConnId, stream: Stream) -> io::Result<ConnTasks> {
        // Gone only once a close has finished, when nothing is opened.
        let alive = self.alive.clone().ok_or_else(mesh_host::closed)?;
        let (io, ctl) = (self.io_tx.clone(), self.ctl_tx.clone());
        Ok(crate::conn::spawn(
            conn,
            stream,
            io,
            ctl,
            self.timeouts.write_stall,
            alive,
        ))
    }

    fn refuse(&mut self, stream: Stream, bytes: Bytes, slot: mesh_host::HandshakeSlot) {
        tokio::spawn(crate::refuse::refuse(stream, bytes, slot));
    }

    fn dial(&mut self, conn: ConnId, addr: PeerAddr) -> io::Result<()> {
        let security = self.security.clone();
        tokio::spawn(net::dial(
            conn,
            addr,
            security,
            self.timeouts,
            self.io_tx.clone(),
        ));
        Ok(())
    }

    fn stop_listening(&mut self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
    }

    /// Answers once every writer is done and the accept loop is gone.
    fn finish_close(&mut self, reply: oneshot::Sender<Result<(), SendError>>) {
        self.alive = None;
        let flushed = self.flushed.take();
        let listener = self.listener.take();
        tokio::spawn(async move {
            // The listening socket is released once its task is dropped.
            if let Some(listener) = listener {
                let _ = listener.await;
            }
            // Nothing is ever sent: `None` once every writer dropped its sender.
            if let Some(mut flushed) = flushed {
                while flushed.recv().await.is_some() {}
            }
            let _ = reply.send(Ok(()));
        });
    }
}
