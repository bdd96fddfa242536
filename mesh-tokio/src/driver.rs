//! The driver: one task owns the [`Mesh`]. It takes commands from the user
//! handles and I/O events from the connection tasks, feeds each to the core,
//! then drains `poll_output` and re-arms its one timer from `poll_timeout`.

use std::collections::BTreeMap;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mesh_proto::host;
use mesh_proto::mesh::{ConnId, Event, HandlerCx, Mesh, Message, Output, PeerAddr, SendError};
use tokio::net::TcpListener;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::command::Command;
use crate::conn::ConnTasks;
use crate::net::{self, Security, Stream};
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
    Dialing(Option<oneshot::Sender<io::Result<ConnId>>>),
    Open(ConnTasks),
}

enum Input {
    Cmd(Option<Command>),
    Io(IoEvent),
    Timer,
}

pub(crate) struct Driver {
    mesh: Mesh,
    cmds: mpsc::UnboundedReceiver<Command>,
    io_rx: mpsc::Receiver<IoEvent>,
    io_tx: mpsc::Sender<IoEvent>,
    links: BTreeMap<ConnId, Link>,
    /// Sends and receives waiting on the core.
    waiting: Waiting,
    /// Event subscribers, each with whether it is dropping events (logged once).
    subscribers: Vec<(mpsc::Sender<Event>, bool)>,
    /// The accept loop, aborted on close (close waits until it is gone).
    listener: Option<JoinHandle<()>>,
    /// Cloned into every writer; once all are dropped, every writer has flushed.
    alive: Option<mpsc::Sender<()>>,
    flushed: Option<mpsc::Receiver<()>>,
    closing: Option<oneshot::Sender<Result<(), SendError>>>,
    timeouts: Timeouts,
    /// Plaintext or TLS, for dials.
    security: Security,
    done: bool,
}

impl Driver {
    /// Starts the accept loop and the driver; returns the command channel.
    pub(crate) fn spawn(
        mesh: Mesh,
        listener: TcpListener,
        timeouts: Timeouts,
        security: Security,
    ) -> mpsc::UnboundedSender<Command> {
        let (cmd_tx, cmds) = mpsc::unbounded_channel();
        let (io_tx, io_rx) = mpsc::channel(IO_QUEUE);
        let (alive, flushed) = mpsc::channel(1);
        let listener = tokio::spawn(net::accept_loop(
            listener,
            security.clone(),
            timeouts,
            io_tx.clone(),
        ));
        let driver = Driver {
            mesh,
            cmds,
            io_rx,
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
        tokio::spawn(driver.run());
        cmd_tx
    }

    async fn run(mut self) {
        let mut timer = pin!(tokio::time::sleep(Duration::ZERO));
        let mut armed = false;
        // Commands first (see `host::COMMAND_BURST`): a command issued before
        // the traffic it caused must be in effect when that traffic arrives.
        let mut burst = 0usize;
        while !self.done {
            let io_first = burst >= host::COMMAND_BURST;
            let input = poll_fn(|cx| {
                if io_first && let Poll::Ready(Some(e)) = self.io_rx.poll_recv(cx) {
                    return Poll::Ready(Input::Io(e));
                }
                if let Poll::Ready(c) = self.cmds.poll_recv(cx) {
                    return Poll::Ready(Input::Cmd(c));
                }
                if !io_first && let Poll::Ready(Some(e)) = self.io_rx.poll_recv(cx) {
                    return Poll::Ready(Input::Io(e));
                }
                if armed && timer.as_mut().poll(cx).is_ready() {
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
                Some(at) => {
                    timer.as_mut().reset(at.into());
                    armed = true;
                }
                None => armed = false,
            }
        }
        tracing::debug!(id = %self.mesh.id(), "driver done");
    }

    fn command(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::Connect { addr, reply } => {
                if self.mesh.is_closed() {
                    let _ = reply.send(Err(closed()));
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
                let _ = reply.send(self.mesh.routes().map(|(p, _)| p.clone()).collect());
            }
            Command::Counters(reply) => {
                let _ = reply.send(self.mesh.counters().clone());
            }
            Command::Close(reply) => match self.mesh.close(now) {
                Ok(()) => {
                    self.stop_listening();
                    self.closing = Some(reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
        }
    }

    /// Every handle is gone: close gracefully and stop.
    fn handles_dropped(&mut self, now: Instant) {
        if self.mesh.close(now).is_ok() {
            tracing::debug!(id = %self.mesh.id(), "every handle dropped: closing");
            self.stop_listening();
        }
        self.done = true;
    }

    fn stop_listening(&self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
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
                            let _ = r.send(Ok(conn));
                        }
                    }
                    Err(e) => {
                        self.mesh.handle_dialed(conn, false, now);
                        if let Some(r) = reply {
                            let _ = r.send(Err(e));
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
                tokio::spawn(dial);
            }
            Output::Transmit { conn, bytes } => match self.links.get(&conn) {
                Some(Link::Open(tasks)) => tasks.transmit(bytes),
                _ => tracing::debug!(%conn, "transmit for a connection that is not open"),
            },
            Output::Close { conn } => match self.links.remove(&conn) {
                Some(Link::Open(tasks)) => tasks.close(),
                Some(Link::Dialing(Some(reply))) => {
                    let _ = reply.send(Err(closed()));
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
    /// flush: end the event streams and answer once every writer is done.
    fn finish_close(&mut self, reply: oneshot::Sender<Result<(), SendError>>) {
        self.subscribers.clear();
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

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the mesh socket is closed")
}
