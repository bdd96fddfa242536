//! The driver: one thread owns the [`Mesh`]. It reads one channel that
//! carries both user commands and I/O events, feeds each to the core, then
//! drains `poll_output`; the next timer deadline is the `recv_timeout` of
//! its next read. It never blocks on anything else.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mesh_proto::mesh::{ConnId, Event, HandlerCx, Mesh, Message, Output, PeerAddr, SendError};

use crate::command::{Command, Input};
use crate::conn::{ConnThreads, Stream};
use crate::net::{self, Listening, Security};
use crate::waiting::Waiting;

/// What the accept thread, dialers and connection threads tell the driver.
#[derive(Debug)]
pub(crate) enum IoEvent {
    Accepted {
        stream: Stream,
        remote: SocketAddr,
    },
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
    /// The writer finished, once per connection.
    WriterDone {
        conn: ConnId,
        end: WriteEnd,
    },
    /// The accept thread is gone and the listening socket closed.
    ListenerDone,
}

/// How a writer finished.
#[derive(Debug)]
pub(crate) enum WriteEnd {
    /// Everything queued was written, then the write side shut down.
    Flushed,
    /// No progress within the write-stall timeout.
    Stalled,
    /// An I/O error.
    Failed,
}

/// The adapter's own time limits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub(crate) write_stall: Duration,
    pub(crate) dial: Duration,
    /// Bound on a TLS handshake (the core's `handshake_timeout`).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) handshake: Duration,
}

/// A connection the driver knows.
enum Link {
    /// Dial in progress; `connect` may be waiting for it.
    Dialing(Option<Sender<io::Result<ConnId>>>),
    Open(ConnThreads),
}

pub(crate) struct Driver {
    // First, so it is dropped first: late senders fail instead of waiting.
    rx: Receiver<Input>,
    /// Cloned into every thread the driver starts.
    tx: SyncSender<Input>,
    mesh: Mesh,
    links: BTreeMap<ConnId, Link>,
    /// Sends and receives waiting on the core.
    waiting: Waiting,
    /// Event subscribers, each with whether it is dropping events (logged once).
    subscribers: Vec<(SyncSender<Event>, bool)>,
    /// The accept thread until it is told to stop.
    listening: Option<Listening>,
    /// Whether the accept thread still holds the listening socket.
    listener_alive: bool,
    /// Writer threads that have not finished.
    writers: usize,
    closing: Option<Sender<Result<(), SendError>>>,
    timeouts: Timeouts,
    /// How dialed sockets are secured.
    security: Security,
    done: bool,
}

impl Driver {
    pub(crate) fn new(
        mesh: Mesh,
        rx: Receiver<Input>,
        tx: SyncSender<Input>,
        listening: Listening,
        timeouts: Timeouts,
        security: Security,
    ) -> Driver {
        Driver {
            rx,
            tx,
            mesh,
            links: BTreeMap::new(),
            waiting: Waiting::default(),
            subscribers: Vec::new(),
            listening: Some(listening),
            listener_alive: true,
            writers: 0,
            closing: None,
            timeouts,
            security,
            done: false,
        }
    }

    pub(crate) fn run(mut self) {
        while !self.done {
            let deadline = match (self.mesh.poll_timeout(), self.waiting.next_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let input = match deadline {
                Some(at) => self
                    .rx
                    .recv_timeout(at.saturating_duration_since(Instant::now())),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            let now = Instant::now();
            match input {
                Ok(Input::Cmd(cmd)) => self.command(cmd, now),
                Ok(Input::Io(event)) => self.io(event, now),
                Ok(Input::HandlesDropped) => self.handles_dropped(now),
                // The driver holds a sender: only the deadline can end a wait.
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
            // Due timers run even while inputs keep coming.
            if self.mesh.poll_timeout().is_some_and(|t| t <= now) {
                self.mesh.handle_timeout(now);
            }
            self.settle(now);
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
            Command::Recv { max, until, reply } => self.waiting.recv(max, until, reply),
            Command::Handler(mut h) => self
                .mesh
                .register_handler(move |m: &Message, cx: &mut HandlerCx<'_>| h.handle(m, cx)),
            Command::Subscribe(tx) => {
                // After close the sender is dropped: the events end at once.
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

    /// Every handle is gone: close gracefully and stop (writers flush on
    /// their own threads).
    fn handles_dropped(&mut self, now: Instant) {
        if self.mesh.close(now).is_ok() {
            tracing::debug!(id = %self.mesh.id(), "every handle dropped: closing");
            self.stop_listening();
        }
        self.done = true;
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
                let _ = tx.send(Input::Io(IoEvent::ListenerDone));
            }
        });
        if let Err(error) = spawned {
            tracing::warn!(%error, "could not stop the accept thread");
            self.listener_alive = false;
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
                if !self.open(conn, stream) {
                    self.mesh.handle_closed(conn, now);
                }
            }
            IoEvent::Dialed { conn, result } => {
                // Not dialing any more (closed meanwhile): the stream is dropped.
                let Some(Link::Dialing(reply)) = self.links.remove(&conn) else {
                    return;
                };
                let result = result.and_then(|stream| {
                    if self.open(conn, stream) {
                        Ok(conn)
                    } else {
                        Err(io::Error::other("could not start the connection's threads"))
                    }
                });
                self.mesh.handle_dialed(conn, result.is_ok(), now);
                if let Some(r) = reply {
                    let _ = r.send(result);
                }
            }
            IoEvent::Bytes { conn, bytes } => self.mesh.handle_bytes(conn, &bytes, now),
            IoEvent::Written { conn, n } => self.mesh.handle_written(conn, n),
            IoEvent::ReadClosed { conn } => {
                if let Some(Link::Open(threads)) = self.links.remove(&conn) {
                    tracing::debug!(%conn, "peer closed");
                    threads.close();
                    self.mesh.handle_closed(conn, now);
                }
            }
            IoEvent::WriterDone { conn, end } => {
                self.writers = self.writers.saturating_sub(1);
                if let Some(Link::Open(_)) = self.links.remove(&conn) {
                    tracing::debug!(%conn, ?end, "writer gave up");
                    self.mesh.handle_closed(conn, now);
                }
            }
            IoEvent::ListenerDone => self.listener_alive = false,
        }
    }

    /// Starts `conn`'s threads; `false` if they could not be started.
    fn open(&mut self, conn: ConnId, stream: Stream) -> bool {
        match ConnThreads::spawn(conn, stream, self.tx.clone()) {
            Ok(threads) => {
                self.writers += 1;
                self.links.insert(conn, Link::Open(threads));
                true
            }
            Err(error) => {
                tracing::warn!(%conn, %error, "could not open the connection");
                false
            }
        }
    }

    /// After every input: retry parked sends, carry out the core's outputs,
    /// answer receives, finish a close.
    fn settle(&mut self, now: Instant) {
        self.waiting.send_parked(&mut self.mesh, now);
        while let Some(out) = self.mesh.poll_output() {
            self.output(out, now);
        }
        self.waiting.serve(&mut self.mesh, now);
        if self.mesh.is_closed() {
            // The close's own events are out: end the event streams.
            self.subscribers.clear();
        }
        if self.writers == 0
            && !self.listener_alive
            && let Some(reply) = self.closing.take()
        {
            let _ = reply.send(Ok(()));
        }
    }

    fn output(&mut self, out: Output, now: Instant) {
        match out {
            Output::Dial { conn, addr } => {
                self.links.entry(conn).or_insert(Link::Dialing(None));
                let (timeouts, tx) = (self.timeouts, self.tx.clone());
                let security = self.security.clone();
                let spawned = crate::spawn(format!("mesh-dial-{}", conn.0), move || {
                    net::dial(conn, addr, &security, timeouts, tx);
                });
                if let Err(e) = spawned {
                    tracing::warn!(%conn, error = %e, "could not start a dial");
                    if let Some(Link::Dialing(Some(reply))) = self.links.remove(&conn) {
                        let _ = reply.send(Err(e));
                    }
                    self.mesh.handle_dialed(conn, false, now);
                }
            }
            Output::Transmit { conn, bytes } => match self.links.get(&conn) {
                Some(Link::Open(threads)) => threads.transmit(bytes),
                _ => tracing::debug!(%conn, "transmit for a connection that is not open"),
            },
            Output::Close { conn } => match self.links.remove(&conn) {
                Some(Link::Open(threads)) => threads.close(),
                Some(Link::Dialing(Some(reply))) => {
                    let _ = reply.send(Err(closed()));
                }
                Some(Link::Dialing(None)) | None => {}
            },
            Output::Event(event) => self.publish(event),
        }
    }

    fn publish(&mut self, event: Event) {
        tracing::debug!(?event, "event");
        self.subscribers
            .retain_mut(|(s, behind)| match s.try_send(event.clone()) {
                Ok(()) => {
                    *behind = false;
                    true
                }
                Err(TrySendError::Full(_)) => {
                    if !*behind {
                        tracing::warn!("an event subscriber is behind: dropping its events");
                    }
                    *behind = true;
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            });
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the mesh socket is closed")
}
