//! The driver: one task owns the [`Mesh`]. It takes commands from the user
//! handles and I/O events from the connection tasks, feeds each to the core,
//! then drains `poll_output` and re-arms its one timer from `poll_timeout`.

use std::collections::BTreeMap;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use async_channel::TrySendError;
use async_executor::Task;
use async_io::Timer;
use async_net::TcpListener;
use bytes::Bytes;
use futures_lite::StreamExt;
use mesh_proto::host;
use mesh_proto::mesh::{ConnId, Event, HandlerCx, Mesh, Message, Output, PeerAddr, SendError};

use crate::command::{Command, Reply};
use crate::conn::ConnTasks;
use crate::net::{self, Security, Stream};
use crate::spawn::Spawner;
use crate::waiting::Waiting;

/// I/O events waiting for the driver, at most; readers wait beyond it.
const IO_QUEUE: usize = 256;

/// What the accept loop, dialers and connection tasks tell the driver.
#[derive(Debug)]
pub(crate) enum IoEvent {
    /// An accepted connection, its TLS handshake done if there is one.
    Accepted {
        stream: Stream,
        remote: SocketAddr,
    },
    /// A dial's outcome, its TLS handshake done if there is one.
    Dialed {
        conn: ConnId,
        result: io::Result<Stream>,
    },
    Bytes {
        conn: ConnId,
        bytes: Bytes,
    },
    Written {
        conn: ConnId,
        n: usize,
    },
    /// End of stream or a read error.
    ReadClosed {
        conn: ConnId,
    },
    /// A write failed or made no progress within the write-stall timeout.
    WriteFailed {
        conn: ConnId,
        stalled: bool,
    },
}

/// The adapter's own time limits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub(crate) write_stall: Duration,
    /// TCP connect.
    pub(crate) dial: Duration,
    /// TLS handshake (the core's `handshake_timeout`).
    pub(crate) handshake: Duration,
}

/// A connection the driver knows.
enum Link {
    /// Dial in progress; `connect` may be waiting for it.
    Dialing(Option<Reply<io::Result<ConnId>>>),
    Open(ConnTasks),
}

enum Input {
    Cmd(Option<Command>),
    Io(IoEvent),
    Timer,
}

pub(crate) struct Driver {
    mesh: Mesh,
    spawner: Spawner,
    /// Boxed: a channel's receiver must be pinned to be polled as a stream.
    cmds: Pin<Box<async_channel::Receiver<Command>>>,
    io_rx: Pin<Box<async_channel::Receiver<IoEvent>>>,
    io_tx: async_channel::Sender<IoEvent>,
    links: BTreeMap<ConnId, Link>,
    /// Sends and receives waiting on the core.
    waiting: Waiting,
    /// Event subscribers, each with whether it is dropping events (logged once).
    subscribers: Vec<(async_channel::Sender<Event>, bool)>,
    /// The accept loop; dropping the task cancels it, and a close waits
    /// until it is gone (the listening socket with it).
    listener: Option<Task<()>>,
    /// Cloned into every writer; once all are dropped, every writer has flushed.
    alive: Option<async_channel::Sender<()>>,
    flushed: Option<async_channel::Receiver<()>>,
    closing: Option<Reply<Result<(), SendError>>>,
    timeouts: Timeouts,
    /// Plaintext or TLS, for dials.
    security: Security,
    done: bool,
}

impl Driver {
    /// Starts the accept loop and the driver on `spawner`; returns the
    /// command channel.
    pub(crate) fn spawn(
        mesh: Mesh,
        listener: TcpListener,
        timeouts: Timeouts,
        security: Security,
        spawner: Spawner,
    ) -> async_channel::Sender<Command> {
        let (cmd_tx, cmds) = async_channel::unbounded();
        let (io_tx, io_rx) = async_channel::bounded(IO_QUEUE);
        let (alive, flushed) = async_channel::bounded(1);
        let listener = spawner.spawn(net::accept_loop(
            listener,
            security.clone(),
            timeouts,
            spawner.clone(),
            io_tx.clone(),
        ));
        let driver = Driver {
            mesh,
            spawner: spawner.clone(),
            cmds: Box::pin(cmds),
            io_rx: Box::pin(io_rx),
            io_tx,
            links: BTreeMap::new(),
            waiting: Waiting::default(),
            subscribers: Vec::new(),
            listener: Some(listener),
            alive: Some(alive),
            flushed: Some(flushed),
            closing: None,
            timeouts,
            security,
            done: false,
        };
        spawner.spawn(driver.run()).detach();
        cmd_tx
    }

    async fn run(mut self) {
        let mut timer = Timer::never();
        // Commands first (see `host::COMMAND_BURST`): a command issued before
        // the traffic it caused must be in effect when that traffic arrives.
        let mut burst = 0usize;
        while !self.done {
            let io_first = burst >= host::COMMAND_BURST;
            let input = poll_fn(|cx| {
                if io_first && let Poll::Ready(Some(e)) = self.io_rx.poll_next(cx) {
                    return Poll::Ready(Input::Io(e));
                }
                if let Poll::Ready(c) = self.cmds.poll_next(cx) {
                    return Poll::Ready(Input::Cmd(c));
                }
                if !io_first && let Poll::Ready(Some(e)) = self.io_rx.poll_next(cx) {
                    return Poll::Ready(Input::Io(e));
                }
                if Pin::new(&mut timer).poll(cx).is_ready() {
                    return Poll::Ready(Input::Timer);
                }
                Poll::Pending
            })
            .await;
            burst = if matches!(input, Input::Cmd(_)) {
                burst + 1
            } else {
                0
            };
            let now = Instant::now();
            match input {
                Input::Cmd(Some(cmd)) => self.command(cmd, now),
                Input::Cmd(None) => self.handles_dropped(now),
                Input::Io(event) => self.io(event, now),
                Input::Timer => self.mesh.handle_timeout(now),
            }
            self.settle(now);
            match self.mesh.poll_timeout() {
                Some(at) => timer.set_at(at),
                None => timer = Timer::never(),
            }
        }
        tracing::debug!(id = %self.mesh.id(), "driver done");
    }

    fn command(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::Connect { addr, reply } => {
                if self.mesh.is_closed() {
                    let _ = reply.try_send(Err(closed()));
                } else {
                    let conn = self.mesh.connect(addr, now);
                    self.links.insert(conn, Link::Dialing(Some(reply)));
                }
            }
            Command::Send(out) => self.waiting.park(out),
            Command::Recv { max, wait, reply } => {
                self.waiting.recv(&mut self.mesh, max, wait, reply);
            }
            Command::Unrecv(msgs) => self.waiting.unrecv(msgs),
            Command::Handler(mut h) => self
                .mesh
                .register_handler(move |m: &Message, cx: &mut HandlerCx<'_>| h.handle(m, cx)),
            Command::Subscribe(tx) => {
                // After close the sender is dropped: the stream ends at once.
                if !self.mesh.is_closed() {
                    self.subscribers.push((tx, false));
                }
            }
            Command::Routes(reply) => {
                let _ = reply.try_send(self.mesh.routes().map(|(p, _)| p.clone()).collect());
            }
            Command::Counters(reply) => {
                let _ = reply.try_send(self.mesh.counters().clone());
            }
            Command::Close(reply) => match self.mesh.close(now) {
                // The accept loop is cancelled, and waited for, in `finish_close`.
                Ok(()) => self.closing = Some(reply),
                Err(e) => {
                    let _ = reply.try_send(Err(e));
                }
            },
        }
    }

    /// Every handle is gone: close gracefully and stop. The writers go on
    /// flushing on their own.
    fn handles_dropped(&mut self, now: Instant) {
        if self.mesh.close(now).is_ok() {
            tracing::debug!(id = %self.mesh.id(), "every handle dropped: closing");
            // Dropping the task cancels the accept loop.
            self.listener = None;
        }
        self.done = true;
    }

    fn io(&mut self, event: IoEvent, now: Instant) {
        match event {
            IoEvent::Accepted { stream, remote } => {
                if self.mesh.is_closed() {
                    return;
                }
                let remote = PeerAddr::new(remote.ip().to_string(), remote.port());
                let conn = self.mesh.handle_accepted(Some(remote), now);
                self.open(conn, stream);
            }
            IoEvent::Dialed { conn, result } => {
                // Not dialing any more (closed meanwhile): the stream is dropped.
                let Some(Link::Dialing(reply)) = self.links.remove(&conn) else {
                    return;
                };
                match result {
                    Ok(stream) => {
                        self.open(conn, stream);
                        self.mesh.handle_dialed(conn, true, now);
                        if let Some(r) = reply {
                            let _ = r.try_send(Ok(conn));
                        }
                    }
                    Err(e) => {
                        self.mesh.handle_dialed(conn, false, now);
                        if let Some(r) = reply {
                            let _ = r.try_send(Err(e));
                        }
                    }
                }
            }
            IoEvent::Bytes { conn, bytes } => self.mesh.handle_bytes(conn, &bytes, now),
            IoEvent::Written { conn, n } => self.mesh.handle_written(conn, n),
            IoEvent::ReadClosed { conn } => {
                if let Some(Link::Open(tasks)) = self.links.remove(&conn) {
                    tracing::debug!(%conn, "peer closed");
                    tasks.close();
                    self.mesh.handle_closed(conn, now);
                }
            }
            IoEvent::WriteFailed { conn, stalled } => {
                if let Some(Link::Open(tasks)) = self.links.remove(&conn) {
                    tracing::debug!(%conn, stalled, "writer gave up");
                    tasks.abort();
                    self.mesh.handle_closed(conn, now);
                }
            }
        }
    }

    fn open(&mut self, conn: ConnId, stream: Stream) {
        let Some(alive) = self.alive.clone() else {
            return;
        };
        let tasks = ConnTasks::spawn(
            &self.spawner,
            conn,
            stream,
            self.io_tx.clone(),
            self.timeouts.write_stall,
            alive,
        );
        self.links.insert(conn, Link::Open(tasks));
    }

    /// After every input: retry parked sends, carry out the core's outputs,
    /// wake receivers, finish a close.
    fn settle(&mut self, now: Instant) {
        self.waiting.send_parked(&mut self.mesh, now);
        while let Some(out) = self.mesh.poll_output() {
            self.output(out);
        }
        self.waiting.serve_receivers(&mut self.mesh);
        if let Some(reply) = self.closing.take() {
            self.finish_close(reply);
        }
    }

    fn output(&mut self, out: Output) {
        match out {
            Output::Dial { conn, addr } => {
                self.links.entry(conn).or_insert(Link::Dialing(None));
                let dial = net::dial(
                    conn,
                    addr,
                    self.security.clone(),
                    self.timeouts,
                    self.io_tx.clone(),
                );
                self.spawner.spawn(dial).detach();
            }
            Output::Transmit { conn, bytes } => match self.links.get(&conn) {
                Some(Link::Open(tasks)) => tasks.transmit(bytes),
                _ => tracing::debug!(%conn, "transmit for a connection that is not open"),
            },
            Output::Close { conn } => match self.links.remove(&conn) {
                Some(Link::Open(tasks)) => tasks.close(),
                Some(Link::Dialing(Some(reply))) => {
                    let _ = reply.try_send(Err(closed()));
                }
                Some(Link::Dialing(None)) | None => {}
            },
            Output::Event(event) => {
                tracing::debug!(?event, "event");
                self.subscribers
                    .retain_mut(|(s, behind)| match s.try_send(event.clone()) {
                        Ok(()) => {
                            *behind = false;
                            true
                        }
                        Err(TrySendError::Full(_)) => {
                            if !*behind {
                                tracing::warn!(
                                    "an event subscriber is behind: dropping its events"
                                );
                            }
                            *behind = true;
                            true
                        }
                        Err(TrySendError::Closed(_)) => false,
                    });
            }
        }
    }

    /// The core has closed every connection and the writers were told to
    /// flush: end the event streams, stop listening, and answer once every
    /// writer is done.
    fn finish_close(&mut self, reply: Reply<Result<(), SendError>>) {
        self.subscribers.clear();
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

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the mesh socket is closed")
}
