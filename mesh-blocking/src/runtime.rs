//! The std-threads side of the driver: the channels callers are answered
//! on, the threads that dial and move bytes, and the accept thread. The
//! logic they serve is `mesh_host::HostDriver`'s.

use std::io;
use std::sync::mpsc::{Sender, SyncSender, TrySendError};

use mesh_host::{Channels, Publish, Runtime, Timeouts};
use mesh_proto::mesh::{ConnId, Event, PeerAddr, SendError};

use crate::command::Input;
use crate::conn::{ConnThreads, Stream};
use crate::net::{self, Listening, Security};

/// What the driver's threads share, and what a close waits for.
pub(crate) struct Threads {
    /// Cloned into every thread the driver starts.
    pub(crate) tx: SyncSender<Input>,
    /// The accept thread until it is told to stop.
    pub(crate) listening: Option<Listening>,
    /// Whether the accept thread still holds the listening socket.
    pub(crate) listener_alive: bool,
    /// Writer threads that have not finished.
    pub(crate) writers: usize,
    /// A close to answer once the writers and the accept thread are done.
    pub(crate) closing: Option<Sender<Result<(), SendError>>>,
    pub(crate) timeouts: Timeouts,
    /// How dialed sockets are secured.
    pub(crate) security: Security,
}

impl Threads {
    /// Answers a finished close once every writer and the accept thread
    /// are done.
    pub(crate) fn answer_close_when_done(&mut self) {
        if self.writers == 0
            && !self.listener_alive
            && let Some(reply) = self.closing.take()
        {
            let _ = reply.send(Ok(()));
        }
    }
}

impl Channels for Threads {
    type Reply<T> = Sender<T>;
    type Subscriber = SyncSender<Event>;

    fn reply<T>(to: Sender<T>, value: T) -> Result<(), T> {
        to.send(value).map_err(|gone| gone.0)
    }

    /// A std channel cannot tell: the answer is made and dropped.
    fn gave_up<T>(_: &Sender<T>) -> bool {
        false
    }

    fn publish(to: &SyncSender<Event>, event: Event) -> Publish {
        match to.try_send(event) {
            Ok(()) => Publish::Sent,
            Err(TrySendError::Full(_)) => Publish::Full,
            Err(TrySendError::Disconnected(_)) => Publish::Gone,
        }
    }
}

impl Runtime for Threads {
    type Stream = Stream;
    type Conn = ConnThreads;

    fn open(&mut self, conn: ConnId, stream: Stream) -> io::Result<ConnThreads> {
        let threads = ConnThreads::spawn(conn, stream, self.tx.clone())?;
        self.writers += 1;
        Ok(threads)
    }

    fn dial(&mut self, conn: ConnId, addr: PeerAddr) -> io::Result<()> {
        let (timeouts, tx) = (self.timeouts, self.tx.clone());
        let security = self.security.clone();
        crate::spawn(format!("mesh-dial-{}", conn.0), move || {
            net::dial(conn, addr, &security, timeouts, tx);
        })
    }

    /// Stops the accept thread; the wake-up connection is made on a thread
    /// of its own so the driver never waits.
    fn stop_listening(&mut self) {
        let Some(listening) = self.listening.take() else {
            return;
        };
        let tx = self.tx.clone();
        let spawned = crate::spawn("mesh-wake".into(), move || {
            if !listening.stop() {
                // Do not let close wait for a thread that cannot be woken.
                let _ = tx.send(Input::ListenerDone);
            }
        });
        if let Err(error) = spawned {
            tracing::warn!(%error, "could not stop the accept thread");
            self.listener_alive = false;
        }
    }

    /// Answered by [`answer_close_when_done`](Self::answer_close_when_done).
    fn finish_close(&mut self, reply: Sender<Result<(), SendError>>) {
        self.closing = Some(reply);
    }
}
