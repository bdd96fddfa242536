//! [`HostDriver`]: what every adapter's driver does with the [`Mesh`] it
//! owns, whatever its runtime: carrying out commands, feeding I/O events to
//! the core, turning the core's outputs into dials, writes and closes, and
//! answering the callers waiting on it.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mesh_proto::mesh::{
    ConnId, Event, HandlerCx, Mesh, Message, Output, PeerAddr, ReplyTo, SendError,
};

use crate::parked::Parked;
use crate::subscribers::Subscribers;
use crate::waiting::Waiting;
use crate::{Command, Connection, HandshakeSlots, IoEvent, Outgoing, Runtime, Shared};

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

/// A send queued without an answer (see [`HostDriver::take`]).
fn is_unanswered_send<R: Runtime>(input: &Input<R>) -> bool {
    matches!(
        input,
        Input::Command(Command::Send(Outgoing::Prepared { reply: None, .. }))
    )
}

/// A read pause under way (see [`HostDriver::reads_paused`]).
#[derive(Clone, Copy, Debug)]
struct Pause {
    /// When it began.
    began: Instant,
    /// Since when, or since the last progress that started it over.
    since: Instant,
    /// It ran out: reading goes on until the cause is gone.
    over: bool,
    /// [`HostDriver::written`] then.
    written: u64,
    /// The messages the application had taken from the inbox then.
    taken: u64,
}

impl Pause {
    /// When it runs out: a whole [`MAX_READ_PAUSE`](crate::MAX_READ_PAUSE)
    /// after its last progress, and [`MAX_DRAINING_PAUSE`](crate::MAX_DRAINING_PAUSE)
    /// after it began whatever the progress.
    fn end(&self) -> Instant {
        (self.since + crate::MAX_READ_PAUSE).min(self.began + crate::MAX_DRAINING_PAUSE)
    }
}

/// A connection the driver knows.
enum Link<R: Runtime> {
    /// Dial in progress; `connect` may be waiting for it.
    Dialing(Option<R::Reply<io::Result<ConnId>>>),
    Open(R::Conn),
    /// Accepted and refused by the core: waiting for its refusal's bytes.
    Refused(R::Stream),
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
    /// The read pause under way, if any (see [`reads_paused`](Self::reads_paused)).
    pause: Option<Pause>,
    /// Bytes the runtime reported written, ever: a pause for a peer's
    /// queue goes on while they grow.
    written: u64,
    /// The send gate and the inbox, shared with the handles.
    shared: Shared,
    /// Put on every delivered message, so that `msg.reply(..)` works.
    reply_to: ReplyTo,
    /// Accepted connections waiting for a pending-handshake place (see
    /// [`Parked`]).
    parked: Parked<R::Stream>,
    /// Parked connections closed for waiting a whole handshake timeout:
    /// counted with the core's handshake timeouts.
    parked_expired: u64,
    /// Refused connections still being answered (see [`crate::MAX_REFUSING`]).
    refusing: HandshakeSlots,
    /// A close the core has begun, to hand to the runtime once settled.
    closing: Option<R::Reply<Result<(), SendError>>>,
    /// Connections holding frames to flush at the end of the turn.
    to_flush: Vec<ConnId>,
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
            shared: Shared::default(),
            reply_to: ReplyTo::none(),
            parked: Parked::default(),
            parked_expired: 0,
            refusing: HandshakeSlots::new(crate::MAX_REFUSING),
            pause: None,
            written: 0,
            closing: None,
            to_flush: Vec::new(),
            done: false,
        }
    }

    /// How delivered messages reply ([`reply_to`](crate::reply_to) for an
    /// async adapter's command queue).
    pub fn set_reply_to(&mut self, reply_to: ReplyTo) {
        self.reply_to = reply_to;
    }

    /// What this driver's handles share with it: they send through its
    /// gate and receive from its inbox.
    pub fn shared(&self) -> Shared {
        self.shared.clone()
    }

    /// While reads are paused because the application is behind, what
    /// wakes the driver once it has caught up: [`ResumeHook::register`] the
    /// driver's waker where it waits. `None` when the application is not
    /// behind (writers' progress, the other reason to pause, comes in as an
    /// input anyway).
    pub fn resume_hook(&self) -> Option<ResumeHook> {
        let cap = self.mesh.config().recv_queue_cap;
        (cap > 0 && self.shared.inbox.len() > cap / 2).then(|| ResumeHook {
            inbox: self.shared.inbox.clone(),
            len: cap / 2,
        })
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

    /// When the driver must wake up without an input: the core's next timer,
    /// the end of a read pause, or when the oldest parked connection expires.
    pub fn next_deadline(&self) -> Option<Instant> {
        let pause_end = match self.pause {
            Some(p) if !p.over => Some(p.end()),
            _ => None,
        };
        let parked_end = self
            .parked
            .oldest()
            .map(|t| t + self.mesh.config().handshake_timeout);
        [self.mesh.poll_timeout(), pause_end, parked_end]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether the driver should take no bytes, accepts or dials from the
    /// network now: a peer's output queue is over half of
    /// `max_queued_bytes` (a relay would only grow it), or the inbox is over
    /// half of `recv_queue_cap` (the application is behind). Not reading
    /// lets TCP push back on whoever sends to us, down to the publisher,
    /// whose sends then wait: a line of nodes moves at its slowest hop and
    /// loses nothing. Writers' progress is still taken. A pause lasts
    /// [`MAX_READ_PAUSE`](crate::MAX_READ_PAUSE) at most without progress:
    /// in a cycle of nodes all paused on each other nobody would ever read,
    /// and an application or a peer that stopped reading must not stall the
    /// mesh; past it reading resumes (and, as before, a peer queue that
    /// overflows closes its connection, a full inbox drops its oldest
    /// messages). A pause starts over whenever its causes moved on: at
    /// least [`PAUSE_PROGRESS`](crate::PAUSE_PROGRESS) more bytes written
    /// for a peer's queue, an eighth of `recv_queue_cap` more messages taken
    /// by the application. A peer or an application that keeps up at a
    /// slower pace, however slowly its CPU lets it, is waited for, not
    /// closed or dropped from (with frames that compress well, a peer's
    /// queue stands for far more work than its bytes say); one that reads
    /// next to nothing is not. Nor is one that needs more than
    /// [`MAX_DRAINING_PAUSE`](crate::MAX_DRAINING_PAUSE) in all: the other
    /// peers' handshakes and partial frames wait while nothing is read.
    ///
    /// A driver that pauses registers its waker with a
    /// [`resume_hook`](Self::resume_hook), so that the application catching
    /// up wakes it.
    pub fn reads_paused(&mut self, now: Instant) -> bool {
        let cap = self.mesh.config().recv_queue_cap;
        let (queued, taken) = self.shared.inbox.len_and_taken();
        let behind = cap > 0 && queued > cap / 2;
        let backpressured = self.mesh.is_backpressured();
        if !behind && !backpressured {
            self.pause = None;
            return false;
        }
        let written = self.written;
        let p = self.pause.get_or_insert(Pause {
            began: now,
            since: now,
            over: false,
            written,
            taken,
        });
        // Every cause of the pause moved on: it starts over.
        let drained = !backpressured || written - p.written >= crate::PAUSE_PROGRESS as u64;
        let caught_up = !behind || taken - p.taken >= (cap as u64 / 8).max(1);
        if !p.over && drained && caught_up {
            (p.since, p.written, p.taken) = (now, written, taken);
        }
        if !p.over && now >= p.end() {
            p.over = true;
        }
        !p.over
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
        // Sends queued without an answer wait for the end of the turn (see
        // `command`), unless something else comes first: it comes after them.
        if self.waiting.has_parked() && !is_unanswered_send(&input) {
            self.waiting.send_parked(&mut self.mesh, now);
        }
        match input {
            Input::Command(cmd) => self.command(rt, cmd, now),
            Input::HandlesDropped => self.handles_dropped(rt, now),
            Input::Io(event) => {
                self.io(rt, event, now);
                // Before the core's own queue could fill within a turn.
                self.deliver();
            }
            Input::Wake => {}
        }
    }

    /// Moves what the core received to the inbox; the oldest beyond the
    /// receive queue's bound are dropped there, and reported as `Lagged`.
    fn deliver(&mut self) {
        let mut msgs = self.mesh.recv_many(usize::MAX);
        if msgs.is_empty() {
            return;
        }
        for m in &mut msgs {
            m.reply_to = self.reply_to.clone();
        }
        let cap = self.mesh.config().recv_queue_cap;
        let dropped = self.shared.inbox.push(msgs, cap);
        if dropped > 0 {
            self.subscribers.publish(Event::Lagged { dropped });
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
            Command::Send(out) => {
                if let Outgoing::Prepared { msg, reply: None } = &out {
                    self.shared.gate.taken(msg.len());
                    // Nobody waits on it: it goes with the turn's other sends
                    // (before any other input, and at the latest when the
                    // turn settles). Its memory loads meanwhile, overlapping
                    // theirs (a burst of sends was a cache miss each, one
                    // after another).
                    self.mesh.prefetch_send(msg);
                    self.waiting.park(out);
                    return;
                }
                self.waiting.park(out);
                // Now, not at the end of the turn: a close or anything else
                // the caller asked after this send must come after it.
                self.waiting.send_parked(&mut self.mesh, now);
            }
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
                let mut counters = self.mesh.counters().clone();
                // Dropped from a full inbox, as the core counts its own queue's.
                counters.queue_drops += self.shared.inbox.dropped();
                // Closed before the core knew them, for the same reason.
                counters.rejected.handshake_timeout += self.parked_expired;
                let _ = R::reply(reply, counters);
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
            IoEvent::Accepted {
                stream,
                remote,
                speaking,
            } => {
                if self.mesh.is_closed() {
                    return;
                }
                let cfg = self.mesh.config();
                let (max, cap) = (cfg.max_pending_handshakes, cfg.max_inbound);
                let full = self.mesh.pending_handshakes() + self.parked.len() >= max;
                if full && speaking && self.mesh.evict_silent(now) {
                    // A peer that speaks goes before silent ones (a flood).
                    self.admit(rt, stream, remote, now);
                    return;
                }
                if full && self.parked.len() < cap {
                    // A burst: its handshakes are likely in the sockets
                    // already, just not read yet. Wait for a place.
                    self.parked.push(stream, remote, now);
                    return;
                }
                self.admit(rt, stream, remote, now);
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
            IoEvent::Written { conn, n } => {
                if let Some(Link::Open(c)) = self.links.get_mut(&conn) {
                    c.written(n);
                }
                self.written += n as u64;
                self.mesh.handle_written(conn, n);
            }
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

    /// Hands an accepted connection to the core and starts its reader and
    /// writer; one the core refuses gets only its refusal (no reader, no
    /// writer: a flood of them holds little).
    fn admit(&mut self, rt: &mut R, stream: R::Stream, remote: SocketAddr, now: Instant) {
        let remote = PeerAddr::new(remote.ip().to_string(), remote.port());
        let conn = self.mesh.handle_accepted(Some(remote), now);
        if !self.mesh.has_conn(conn) {
            self.links.insert(conn, Link::Refused(stream));
            return;
        }
        if self.open(rt, conn, stream).is_err() {
            self.mesh.handle_closed(conn, now);
        }
    }

    /// Admits parked connections while there are places, oldest first;
    /// closes those that waited a whole handshake timeout.
    fn admit_parked(&mut self, rt: &mut R, now: Instant) {
        let timeout = self.mesh.config().handshake_timeout;
        self.parked_expired += self.parked.expire(now, timeout);
        while !self.mesh.is_closed()
            && self.mesh.pending_handshakes() < self.mesh.config().max_pending_handshakes
        {
            let Some((stream, remote)) = self.parked.pop() else {
                break;
            };
            self.admit(rt, stream, remote, now);
        }
        if self.mesh.is_closed() {
            self.parked.clear();
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
        if !self.parked.is_empty() {
            self.admit_parked(rt, now);
        }
        loop {
            self.waiting.send_parked(&mut self.mesh, now);
            while let Some(out) = self.mesh.poll_output() {
                self.output(rt, out, now);
            }
            // A direct write can end backpressure at once, and no writer's
            // report will come to wake the driver for the sends it parked:
            // they go on now.
            if !self.flush() || !self.waiting.has_parked() {
                break;
            }
        }
        self.deliver();
        if self.mesh.is_closed() {
            // The close's own events are out: end the event streams, and
            // receivers get what is queued, then nothing.
            self.subscribers.clear();
            self.shared.inbox.close();
        }
        if let Some(reply) = self.closing.take() {
            rt.finish_close(reply);
        }
        let open =
            !self.mesh.is_closed() && !self.waiting.has_parked() && !self.mesh.is_backpressured();
        self.shared.gate.set_open(open);
    }

    /// Writes what the turn's transmits left in the connections, each in
    /// one write where the socket takes it; what was written now is
    /// reported to the core at once. `true` if anything was written.
    fn flush(&mut self) -> bool {
        let mut wrote = false;
        for conn in self.to_flush.drain(..) {
            if let Some(Link::Open(c)) = self.links.get_mut(&conn) {
                let n = c.flush();
                if n > 0 {
                    self.written += n as u64;
                    self.mesh.handle_written(conn, n);
                    wrote = true;
                }
            }
        }
        wrote
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
            Output::Transmit { conn, bytes } => match self.links.get_mut(&conn) {
                Some(Link::Open(c)) => {
                    if c.transmit(bytes) {
                        self.to_flush.push(conn);
                    }
                }
                Some(Link::Refused(_)) => {
                    let Some(Link::Refused(stream)) = self.links.remove(&conn) else {
                        return;
                    };
                    match self.refusing.try_take() {
                        Some(slot) => rt.refuse(stream, bytes, slot),
                        // A flood: closed unanswered (dropping it closes it).
                        None => {
                            tracing::debug!(%conn, "refused unanswered: too many refusals at once")
                        }
                    }
                }
                _ => tracing::debug!(%conn, "transmit for a connection that is not open"),
            },
            Output::Close { conn } => match self.links.remove(&conn) {
                Some(Link::Open(c)) => c.close(),
                Some(Link::Dialing(Some(reply))) => {
                    let _ = R::reply(reply, Err(closed()));
                }
                Some(Link::Dialing(None) | Link::Refused(_)) | None => {}
            },
            Output::Event(event) => self.subscribers.publish(event),
        }
    }
}

/// The error a dial or connect gets once the mesh is closed.
pub fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the mesh socket is closed")
}

impl<R: Runtime> Drop for HostDriver<R> {
    /// Receivers waiting on a driver that is gone get nothing, not a hang.
    fn drop(&mut self) {
        self.shared.inbox.close();
    }
}

/// Wakes a driver paused on a full inbox once the application caught up
/// ([`HostDriver::resume_hook`]).
#[derive(Debug)]
pub struct ResumeHook {
    inbox: std::sync::Arc<crate::Inbox>,
    len: usize,
}

impl ResumeHook {
    /// Wakes `waker` once the inbox is down to half its bound; `false` if it
    /// is already (the driver should look again at once).
    pub fn register(&self, waker: &std::task::Waker) -> bool {
        self.inbox.wake_when_drained(self.len, waker)
    }
}
