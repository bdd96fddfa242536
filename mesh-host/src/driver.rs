//! [`HostDriver`]: what every adapter's driver does with the [`Mesh`] it
//! owns, whatever its runtime: carrying out commands, feeding I/O events to
//! the core, turning the core's outputs into dials, writes and closes, and
//! answering the callers waiting on it.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::time::Instant;

use mesh_proto::mesh::{ConnId, HandlerCx, Mesh, Message, Output, PeerAddr, SendError};

use crate::subscribers::Subscribers;
use crate::waiting::Waiting;
use crate::{Command, Connection, IoEvent, Runtime};

/// One input of an adapter's driver.
pub enum Input<R: Runtime> {
    /// A user handle's request.
    Command(Command<R>),
    /// Every user handle is gone.
    HandlesDropped,
    /// Something happened on the network.
    Io(IoEvent<R::Stream>),
    /// The driver's timer (set from [`HostDriver::next_deadline`]) fired.
    Wake,
}

impl<R: Runtime> fmt::Debug for Input<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Command(cmd) => cmd.fmt(f),
            Input::HandlesDropped => f.write_str("HandlesDropped"),
            Input::Io(_) => f.write_str("Io"),
            Input::Wake => f.write_str("Wake"),
        }
    }
}

/// A connection the driver knows.
enum Link<R: Runtime> {
    /// Dial in progress; `connect` may be waiting for it.
    Dialing(Option<R::Reply<io::Result<ConnId>>>),
    Open(R::Conn),
}

/// The runtime-independent part of an adapter's driver: it owns the
/// [`Mesh`] and everything that waits on it. The adapter's loop waits on its
/// runtime's sources (commands, I/O events, a timer at
/// [`next_deadline`](Self::next_deadline)) and hands each input to
/// [`step`](Self::step), until [`is_done`](Self::is_done).
pub struct HostDriver<R: Runtime> {
    mesh: Mesh,
    links: BTreeMap<ConnId, Link<R>>,
    /// Sends and receives waiting on the core.
    waiting: Waiting<R>,
    subscribers: Subscribers<R>,
    /// A close the core has begun, to hand to the runtime once settled.
    closing: Option<R::Reply<Result<(), SendError>>>,
    done: bool,
}

impl<R: Runtime> fmt::Debug for HostDriver<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostDriver")
            .field("id", self.mesh.id())
            .field("links", &self.links.len())
            .field("waiting", &self.waiting)
            .field("subscribers", &self.subscribers)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> HostDriver<R> {
    /// Hosts `mesh`.
    pub fn new(mesh: Mesh) -> Self {
        HostDriver {
            mesh,
            links: BTreeMap::new(),
            waiting: Waiting::default(),
            subscribers: Subscribers::default(),
            closing: None,
            done: false,
        }
    }

    /// The hosted core.
    pub fn mesh(&self) -> &Mesh {
        &self.mesh
    }

    /// Every handle is gone and the mesh closed: the driver can stop (the
    /// writers flush on their own).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// When the driver must wake up without an input: the core's next timer
    /// or the first deadline of a waiting receive.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.mesh.poll_timeout(), self.waiting.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Takes one input at `now`, then finishes the turn
    /// ([`finish_turn`](Self::finish_turn)).
    pub fn step(&mut self, rt: &mut R, input: Input<R>, now: Instant) {
        self.take(rt, input, now);
        self.finish_turn(rt, now);
    }

    /// Takes one input at `now` without settling what it caused: a driver
    /// takes every input that is ready (bounded by [`TURN_INPUTS`](crate::TURN_INPUTS))
    /// and then calls [`finish_turn`](Self::finish_turn) once, so a burst of
    /// frames costs one pass over the outputs, not one per frame.
    pub fn take(&mut self, rt: &mut R, input: Input<R>, now: Instant) {
        match input {
            Input::Command(cmd) => self.command(rt, cmd, now),
            Input::HandlesDropped => self.handles_dropped(rt, now),
            Input::Io(event) => self.io(rt, event, now),
            Input::Wake => {}
        }
    }

    /// Ends a turn: runs the core's due timers (even while inputs keep
    /// coming) and settles what the turn's inputs caused.
    pub fn finish_turn(&mut self, rt: &mut R, now: Instant) {
        if self.mesh.poll_timeout().is_some_and(|t| t <= now) {
            self.mesh.handle_timeout(now);
        }
        self.settle(rt, now);
    }

    fn command(&mut self, rt: &mut R, cmd: Command<R>, now: Instant) {
        match cmd {
            Command::Connect { addr, reply } => {
                if self.mesh.is_closed() {
                    let _ = R::reply(reply, Err(closed()));
                } else {
                    let conn = self.mesh.connect(addr, now);
                    self.links.insert(conn, Link::Dialing(Some(reply)));
                }
            }
            Command::Send(out) => self.waiting.park(out),
            Command::Recv { max, wait, reply } => {
                self.waiting.recv(&mut self.mesh, max, wait, reply, now);
            }
            Command::Unrecv(msgs) => self.waiting.unrecv(msgs),
            Command::Handler(mut h) => self
                .mesh
                .register_handler(move |m: &Message, cx: &mut HandlerCx<'_>| h.handle(m, cx)),
            Command::Subscribe(subscriber) => {
                // After close the sender is dropped: the stream ends at once.
                if !self.mesh.is_closed() {
                    self.subscribers.add(subscriber);
                }
            }
            Command::Routes(reply) => {
                let _ = R::reply(reply, self.mesh.routes().map(|(p, _)| p.clone()).collect());
            }
            Command::Counters(reply) => {
                let _ = R::reply(reply, self.mesh.counters().clone());
            }
            Command::Close(reply) => match self.mesh.close(now) {
                Ok(()) => {
                    rt.stop_listening();
                    self.closing = Some(reply);
                }
                Err(e) => {
                    let _ = R::reply(reply, Err(e));
                }
            },
        }
    }

    /// Every handle is gone: close gracefully and stop.
    fn handles_dropped(&mut self, rt: &mut R, now: Instant) {
        if self.mesh.close(now).is_ok() {
            tracing::debug!(id = %self.mesh.id(), "every handle dropped: closing");
            rt.stop_listening();
        }
        self.done = true;
    }

    fn io(&mut self, rt: &mut R, event: IoEvent<R::Stream>, now: Instant) {
        match event {
            IoEvent::Accepted { stream, remote } => {
                if self.mesh.is_closed() {
                    return;
                }
                let remote = PeerAddr::new(remote.ip().to_string(), remote.port());
                let conn = self.mesh.handle_accepted(Some(remote), now);
                if self.open(rt, conn, stream).is_err() {
                    self.mesh.handle_closed(conn, now);
                }
            }
            IoEvent::Dialed { conn, result } => {
                // Not dialing any more (closed meanwhile): the stream is dropped.
                let Some(Link::Dialing(reply)) = self.links.remove(&conn) else {
                    return;
                };
                let result = result.and_then(|stream| self.open(rt, conn, stream).map(|()| conn));
                self.mesh.handle_dialed(conn, result.is_ok(), now);
                if let Some(r) = reply {
                    let _ = R::reply(r, result);
                }
            }
            IoEvent::Bytes { conn, bytes } => self.mesh.handle_bytes_owned(conn, bytes, now),
            IoEvent::Written { conn, n } => self.mesh.handle_written(conn, n),
            IoEvent::ReadClosed { conn } => {
                if let Some(Link::Open(c)) = self.links.remove(&conn) {
                    tracing::debug!(%conn, "peer closed");
                    c.close();
                    self.mesh.handle_closed(conn, now);
                }
            }
            IoEvent::WriterDone { conn, end } => {
                if let Some(Link::Open(c)) = self.links.remove(&conn) {
                    tracing::debug!(%conn, ?end, "writer gave up");
                    c.abort();
                    self.mesh.handle_closed(conn, now);
                }
            }
        }
    }

    /// Starts `conn`'s reader and writer.
    fn open(&mut self, rt: &mut R, conn: ConnId, stream: R::Stream) -> io::Result<()> {
        match rt.open(conn, stream) {
            Ok(c) => {
                self.links.insert(conn, Link::Open(c));
                Ok(())
            }
            Err(error) => {
                tracing::warn!(%conn, %error, "could not open the connection");
                Err(error)
            }
        }
    }

    /// After every input: retry parked sends, carry out the core's outputs,
    /// answer receives, end the event streams and finish a close.
    fn settle(&mut self, rt: &mut R, now: Instant) {
        self.waiting.send_parked(&mut self.mesh, now);
        while let Some(out) = self.mesh.poll_output() {
            self.output(rt, out, now);
        }
        self.waiting.serve(&mut self.mesh, now);
        if self.mesh.is_closed() {
            // The close's own events are out: end the event streams.
            self.subscribers.clear();
        }
        if let Some(reply) = self.closing.take() {
            rt.finish_close(reply);
        }
    }

    fn output(&mut self, rt: &mut R, out: Output, now: Instant) {
        match out {
            Output::Dial { conn, addr } => {
                self.links.entry(conn).or_insert(Link::Dialing(None));
                if let Err(error) = rt.dial(conn, addr) {
                    tracing::warn!(%conn, %error, "could not start a dial");
                    if let Some(Link::Dialing(Some(reply))) = self.links.remove(&conn) {
                        let _ = R::reply(reply, Err(error));
                    }
                    self.mesh.handle_dialed(conn, false, now);
                }
            }
            Output::Transmit { conn, bytes } => match self.links.get(&conn) {
                Some(Link::Open(c)) => c.transmit(bytes),
                _ => tracing::debug!(%conn, "transmit for a connection that is not open"),
            },
            Output::Close { conn } => match self.links.remove(&conn) {
                Some(Link::Open(c)) => c.close(),
                Some(Link::Dialing(Some(reply))) => {
                    let _ = R::reply(reply, Err(closed()));
                }
                Some(Link::Dialing(None)) | None => {}
            },
            Output::Event(event) => self.subscribers.publish(event),
        }
    }
}

/// The error a dial or connect gets once the mesh is closed.
pub fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the mesh socket is closed")
}
