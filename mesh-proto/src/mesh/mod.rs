//! The `Mesh`: every behaviour of py2p's `MeshSocket` as a sans-IO state
//! machine. Inputs arrive through `handle_*` calls that carry `now`; what the
//! node wants done leaves through [`Mesh::poll_output`], and when it next
//! wants to be woken through [`Mesh::poll_timeout`].
//!
//! ```
//! use std::time::{Duration, Instant};
//! use mesh_proto::mesh::{Config, Mesh, Output, PeerAddr};
//! use mesh_proto::wire::{Encryption, MainFlag, Protocol, Value};
//!
//! let protocol = Protocol::new("demo", Encryption::Plaintext);
//! let now = Instant::now();
//! let unix = Duration::from_secs(1_764_000_000);
//! let mut a = Mesh::new(Config::new(protocol.clone(), PeerAddr::new("10.0.0.1", 4444)), 1, now, unix);
//! let mut b = Mesh::new(Config::new(protocol, PeerAddr::new("10.0.0.2", 4444)), 2, now, unix);
//!
//! // a dials b; the runtime would open a socket here.
//! let ca = a.connect(PeerAddr::new("10.0.0.2", 4444), now);
//! assert!(matches!(a.poll_output(), Some(Output::Dial { .. })));
//! a.handle_dialed(ca, true, now);
//! let cb = b.handle_accepted(Some(PeerAddr::new("10.0.0.1", 50000)), now);
//!
//! // Move bytes both ways until nothing is left to say.
//! pump(&mut a, ca, &mut b, cb, now);
//! assert_eq!(a.peer_count(), 1);
//! a.send(vec![Value::from("hello")], MainFlag::Broadcast, now).unwrap();
//! pump(&mut a, ca, &mut b, cb, now);
//! let msg = b.recv().unwrap();
//! assert_eq!(msg.packets[1], Value::from("hello"));
//!
//! fn pump(a: &mut Mesh, ca: mesh_proto::mesh::ConnId, b: &mut Mesh, cb: mesh_proto::mesh::ConnId, now: Instant) {
//!     loop {
//!         let mut moved = false;
//!         while let Some(o) = a.poll_output() {
//!             if let Output::Transmit { bytes, .. } = o { b.handle_bytes(cb, &bytes, now); moved = true; }
//!         }
//!         while let Some(o) = b.poll_output() {
//!             if let Output::Transmit { bytes, .. } = o { a.handle_bytes(ca, &bytes, now); moved = true; }
//!         }
//!         if !moved { break; }
//!     }
//! }
//! ```

mod builtin;
mod config;
mod conn;
mod graft_cache;
mod handler;
mod inbound;
mod known;
pub mod lazy;
mod outbound;
mod prepared;
mod rng;
mod routes;
#[cfg(feature = "sim")]
pub(crate) mod rng_for_sim {
    pub(crate) use super::rng::Rng;
}
mod seen;
mod sent;
mod timers;
pub mod trim;
mod types;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use config::Config;
pub use handler::{Handled, Handler, HandlerCx, handler_fn};
pub use prepared::Prepared;
pub use types::{
    ConnId, Counters, Event, LazyCounters, Message, Output, PeerAddr, PeerId, RejectCounters,
    RejectReason, ReplyTo, SendError,
};

use crate::wire::{MainFlag, MsgId, SubFlag, Value, node_id, python_addr_repr};
use conn::Conn;
use rng::Rng;
use seen::SeenCache;

/// Lost peers redialed at once, at most.
const MAX_LOST: usize = 16;
/// Redials of one lost peer before it is given up.
const MAX_LOST_ATTEMPTS: u32 = 10;

/// The chunk of the arena the core encodes its own sends in: a simulation
/// runs thousands of cores.
const OWN_FRAMES_CHUNK: usize = 8 * 1024;

/// A peer whose link broke under us, being redialed.
#[derive(Debug)]
struct Lost {
    /// Its id, if the link had handshaken.
    peer: Option<PeerId>,
    /// Redials so far.
    attempts: u32,
    /// We had dialed it: redialing restores a link we had, rather than
    /// adding one (the peer's own redial does that).
    ours: bool,
}

/// A reply waiting for a route to its target.
#[derive(Debug)]
struct PendingReply {
    target: PeerId,
    packets: Vec<Value>,
    /// `None`: a ttl too large to represent, never expires.
    expires: Option<Instant>,
}

/// One mesh node's protocol state. See the [module docs](self).
pub struct Mesh {
    cfg: Config,
    id: PeerId,
    protocol_id: Bytes,
    start: Instant,
    unix_base: Duration,
    rng: Rng,
    next_conn: u64,
    conns: BTreeMap<ConnId, Conn>,
    routes: routes::Routes,
    /// Advertised addresses of peers we have heard of, for healing.
    known: known::Known,
    seen: SeenCache,
    /// The body each connection last sent, for `resend`.
    sent: sent::SentBodies,
    queue: VecDeque<Message>,
    lagged: u64,
    outputs: VecDeque<Output>,
    handlers: Vec<Box<dyn Handler>>,
    /// Replies waiting for a route response, by request id.
    requested: BTreeMap<Bytes, PendingReply>,
    /// Replies waiting for a handshake with their target.
    awaiting: BTreeMap<PeerId, Vec<PendingReply>>,
    heal_at: Option<Instant>,
    heal_attempt: u32,
    /// Peers whose link broke under us (not closed on purpose), redialed with
    /// backoff until back or out of attempts: how a healed partition rejoins.
    lost: BTreeMap<PeerAddr, Lost>,
    /// Links lost under us and not yet replaced by a new outgoing one.
    replacements: usize,
    /// Lazy push (PlumTree) state: eager and lazy links, missing ids, cache.
    lazy: lazy::LazyState,
    /// Giving back links made for healing: the one open trim, its timer.
    trim: trim::TrimState,
    /// Reused by the relay path and by prepared sends, so that neither
    /// allocates per message.
    scratch_targets: Vec<ConnId>,
    /// Where our own sends are encoded (see [`FrameArena`](crate::wire::FrameArena)):
    /// small chunks, as hosts prepare most sends outside the core.
    frames: crate::wire::FrameArena,
    counters: Counters,
    closed: bool,
}

impl std::fmt::Debug for Mesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mesh")
            .field("id", &self.id)
            .field("conns", &self.conns.len())
            .field("routes", &self.routes.len())
            .field("handlers", &self.handlers.len())
            .finish_non_exhaustive()
    }
}

impl Mesh {
    /// A node. `seed` drives every random choice (node id salt, shuffles,
    /// request ids, jitter); `now` and `unix_now` pin the monotonic clock to
    /// wall-clock time (message timestamps are `unix_now + (t - now)`).
    pub fn new(cfg: Config, seed: u64, now: Instant, unix_now: Duration) -> Mesh {
        let mut rng = Rng::new(seed);
        let protocol_id = cfg.protocol.id();
        let id = match &cfg.node_id {
            Some(id) => id.clone(),
            None => {
                let salt = uuid_text(&mut rng);
                node_id(
                    &python_addr_repr(&cfg.out_addr.host, cfg.out_addr.port),
                    &protocol_id,
                    &salt,
                )
            }
        };
        let seen = SeenCache::new(cfg.seen_ttl, cfg.seen_cap, rng.next_u64());
        Mesh {
            id: PeerId(Bytes::from(id)),
            protocol_id: Bytes::from(protocol_id),
            start: now,
            unix_base: unix_now,
            rng,
            next_conn: 1,
            conns: BTreeMap::new(),
            routes: routes::Routes::default(),
            known: known::Known::default(),
            seen,
            sent: sent::SentBodies::default(),
            queue: VecDeque::new(),
            lagged: 0,
            outputs: VecDeque::new(),
            handlers: Vec::new(),
            requested: BTreeMap::new(),
            awaiting: BTreeMap::new(),
            heal_at: None,
            heal_attempt: 0,
            lost: BTreeMap::new(),
            replacements: 0,
            lazy: lazy::LazyState::default(),
            trim: trim::TrimState::default(),
            scratch_targets: Vec::new(),
            frames: crate::wire::FrameArena::with_chunk(OWN_FRAMES_CHUNK),
            counters: Counters::default(),
            closed: false,
            cfg,
        }
    }

    /// Our node id.
    pub fn id(&self) -> &PeerId {
        &self.id
    }

    /// Our protocol id (base58 text).
    pub fn protocol_id(&self) -> &str {
        std::str::from_utf8(&self.protocol_id).unwrap_or_default()
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Running totals.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The routing table: peers with a completed handshake and their connection.
    pub fn routes(&self) -> impl Iterator<Item = (&PeerId, ConnId)> + '_ {
        self.routes.iter().map(|(p, c)| (p, *c))
    }

    /// Whether `peer` is in the routing table.
    pub fn is_connected_to(&self, peer: &PeerId) -> bool {
        self.routes.contains_key(peer)
    }

    /// Peers in the routing table.
    pub fn peer_count(&self) -> usize {
        self.routes.len()
    }

    /// Open connections (handshaken or not, dials included).
    pub fn conn_count(&self) -> usize {
        self.conns.len()
    }

    /// Outgoing connections, dials in progress included.
    pub fn outgoing_count(&self) -> usize {
        self.conns.values().filter(|c| c.outgoing).count()
    }

    /// Addresses remembered for healing.
    pub fn known_addrs(&self) -> usize {
        self.known.len()
    }

    /// When healing next runs, if scheduled.
    pub fn next_heal(&self) -> Option<Instant> {
        self.heal_at
    }

    /// Ids held by the dedup cache.
    pub fn seen_len(&self) -> usize {
        self.seen.len()
    }

    /// Bodies kept for `resend`: at most one per connection.
    pub fn resend_bodies(&self) -> usize {
        self.sent.live()
    }

    /// Links whose peer speaks lazy push (announced [`lazy::MARKER`]).
    pub fn lazy_peers(&self) -> usize {
        self.conns.values().filter(|c| c.ext).count()
    }

    /// Whether `conn` is a lazy link: it gets announcements, not frames.
    pub fn is_lazy(&self, conn: ConnId) -> bool {
        self.lazy.is_lazy(conn)
    }

    /// Lazy links (announcements only).
    pub fn lazy_links(&self) -> usize {
        self.lazy.lazy_links()
    }

    /// Announced ids waiting for their frame (bounded by
    /// [`Config::lazy_max_missing`]).
    pub fn lazy_missing(&self) -> usize {
        self.lazy.missing_len()
    }

    /// Bodies kept to answer grafts, and their bytes (bounded by
    /// [`Config::lazy_cache_bytes`]).
    pub fn lazy_cached(&self) -> (usize, usize) {
        self.lazy.cache_len()
    }

    /// Messages waiting in the receive queue.
    pub fn queued_messages(&self) -> usize {
        self.queue.len()
    }

    /// Replies waiting for a route.
    pub fn pending_replies(&self) -> usize {
        self.requested.len() + self.awaiting.values().map(Vec::len).sum::<usize>()
    }

    /// Bytes handed out for `conn` and not yet reported written.
    pub fn queued_bytes(&self, conn: ConnId) -> usize {
        self.conns.get(&conn).map_or(0, |c| c.queued)
    }

    /// Whether any connection holds more than half of
    /// [`Config::max_queued_bytes`]: a runtime makes `send` wait while true.
    pub fn is_backpressured(&self) -> bool {
        self.conns
            .values()
            .any(|c| c.queued > self.cfg.max_queued_bytes / 2)
    }

    /// Whether `conn` is a connection the node holds (a refused or closed
    /// one is not).
    #[must_use]
    pub fn has_conn(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    /// Over the pending-handshake bound, a connection whose peer speaks at
    /// once may take the place of one that never said a word: closes the
    /// oldest accepted connection that has sent nothing (refused as
    /// [`RejectReason::TooManyPendingHandshakes`]). Returns whether one was.
    /// A flood of silent connections then cannot keep honest peers out.
    pub fn evict_silent(&mut self, now: Instant) -> bool {
        let oldest = self
            .conns
            .iter()
            .filter(|(_, c)| !c.outgoing && !c.heard && !c.handshaken())
            .min_by_key(|(id, c)| (c.opened, **id))
            .map(|(id, _)| *id);
        let Some(conn) = oldest else {
            return false;
        };
        self.reject(conn, RejectReason::TooManyPendingHandshakes, now);
        true
    }

    /// Connections without a completed handshake (dials included): what
    /// [`Config::max_pending_handshakes`] bounds when a connection is accepted.
    pub fn pending_handshakes(&self) -> usize {
        self.conns.values().filter(|c| !c.handshaken()).count()
    }

    /// Whether [`close`](Mesh::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Unix seconds at `now`.
    pub fn unix_time(&self, now: Instant) -> i64 {
        let t = self.unix_base + now.saturating_duration_since(self.start);
        i64::try_from(t.as_secs()).unwrap_or(i64::MAX)
    }

    fn alloc_conn(&mut self) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        id
    }

    /// The runtime accepted a connection (`remote`: where it came from, if known).
    /// The handshake goes out at once; over capacity the connection is refused.
    pub fn handle_accepted(&mut self, remote: Option<PeerAddr>, now: Instant) -> ConnId {
        let conn = self.alloc_conn();
        if self.closed {
            self.outputs.push_back(Output::Close { conn });
            return conn;
        }
        let inbound = self.conns.values().filter(|c| !c.outgoing).count();
        let pending = self.conns.values().filter(|c| !c.handshaken()).count();
        let refuse = if inbound >= self.cfg.max_inbound {
            Some(RejectReason::TooManyInbound)
        } else if pending >= self.cfg.max_pending_handshakes {
            Some(RejectReason::TooManyPendingHandshakes)
        } else {
            None
        };
        if let Some(reason) = refuse {
            // Point the refused node elsewhere before closing, so a joiner that
            // picked a full node still finds the mesh.
            let payload = self.peer_list(None, None);
            if let Ok(body) = self.own_body_unhashed(MainFlag::Whisper.value().into(), payload, now)
                && let Ok((framed, _)) = crate::wire::frame_body(&body, None)
            {
                self.counters.frames_out += 1;
                self.counters.bytes_out += framed.len() as u64;
                self.outputs.push_back(Output::Transmit {
                    conn,
                    bytes: framed,
                });
            }
            self.counters.rejected.count(&reason);
            self.outputs.push_back(Output::Close { conn });
            self.event(Event::Rejected { conn, reason });
            return conn;
        }
        self.conns
            .insert(conn, Conn::new(false, remote, now, &self.cfg.limits));
        self.send_handshake(conn, now);
        conn
    }

    /// Asks the runtime to dial `addr` (an [`Output::Dial`]); report the
    /// result with [`handle_dialed`](Mesh::handle_dialed).
    pub fn connect(&mut self, addr: PeerAddr, now: Instant) -> ConnId {
        let conn = self.alloc_conn();
        if self.closed {
            self.event(Event::DialFailed { conn, addr });
            return conn;
        }
        self.conns.insert(
            conn,
            Conn::new(true, Some(addr.clone()), now, &self.cfg.limits),
        );
        self.outputs.push_back(Output::Dial { conn, addr });
        conn
    }

    /// The dial for `conn` finished: on success the handshake goes out.
    pub fn handle_dialed(&mut self, conn: ConnId, connected: bool, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.dialing {
            return;
        }
        c.dialing = false;
        c.opened = now;
        if connected {
            self.send_handshake(conn, now);
        } else {
            let addr = c.addr.clone().unwrap_or_else(|| PeerAddr::new("", 0));
            if let Some(peer) = c.expected.clone() {
                // Gone or unreachable: stop handing it out (a lost peer keeps
                // its own bounded redials).
                self.known.remove(&peer);
            }
            self.remove_conn(conn);
            self.event(Event::DialFailed { conn, addr });
            self.schedule_heal(now);
        }
    }

    /// The runtime wrote `n` bytes of what was transmitted on `conn`.
    pub fn handle_written(&mut self, conn: ConnId, n: usize) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.queued = c.queued.saturating_sub(n);
        }
    }

    /// The connection closed (by the peer, or an I/O error).
    pub fn handle_closed(&mut self, conn: ConnId, now: Instant) {
        // A link that broke under us, or a dial refused before its handshake
        // (a full peer), is retried with backoff. A link given back by
        // agreement (see `trim`) is no loss.
        let trimmed = self.conns.get(&conn).is_some_and(|c| c.trimming);
        let lost = self.conns.get(&conn).filter(|_| !trimmed).and_then(|c| {
            let ours = c.outgoing && !c.healing;
            match &c.peer {
                Some(peer) => (self.routes.get(peer) == Some(&conn))
                    .then(|| (c.peer_addr.clone(), Some(peer.clone()), ours)),
                // A refused dial matters when it was our only way in (a joiner
                // whose bootstrap was full); otherwise the refusal's peer list
                // already pointed us elsewhere.
                None => (c.outgoing && self.routes.is_empty())
                    .then(|| (c.addr.clone(), c.expected.clone(), ours)),
            }
        });
        let was_route = self.conns.get(&conn).is_some_and(|c| c.peer.is_some());
        self.forget_conn(conn, now);
        if let Some((Some(addr), peer, ours)) = lost
            && !self.closed
        {
            if self.lost.len() < MAX_LOST {
                let lost = Lost {
                    peer,
                    attempts: 0,
                    ours,
                };
                self.lost.insert(addr, lost);
            }
            if was_route {
                self.replacements = (self.replacements + 1).min(self.cfg.max_outgoing);
            }
            self.schedule_heal(now);
        }
    }

    /// Sends `packets` to the mesh: a broadcast floods every node, a whisper
    /// reaches direct peers only. Returns the message id.
    pub fn send(
        &mut self,
        packets: Vec<Value>,
        flag: MainFlag,
        now: Instant,
    ) -> Result<MsgId, SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        let time = self.unix_time(now);
        let msg = Prepared::new_in(&mut self.frames, &self.id, flag, packets, time)?;
        self.send_prepared(msg, now)
    }

    /// py2p's `send(*packets, flag=..., type=...)`: `payload` starts with the
    /// sub-flag. A `msg_type` of broadcast floods; any other goes to direct
    /// peers only.
    pub fn send_raw(
        &mut self,
        msg_type: u64,
        payload: Vec<Value>,
        now: Instant,
    ) -> Result<MsgId, SendError> {
        self.with_every_route(|mesh, targets| mesh.send_own(targets, msg_type, payload, now))
    }

    /// Runs `send` with every routed connection as its targets, listed in a
    /// scratch list kept across calls: no allocation per send.
    pub(crate) fn with_every_route<T>(
        &mut self,
        send: impl FnOnce(&mut Mesh, &[ConnId]) -> T,
    ) -> T {
        let mut targets = std::mem::take(&mut self.scratch_targets);
        targets.clear();
        targets.extend(self.routes.values().copied());
        let out = send(self, &targets);
        self.scratch_targets = targets;
        out
    }

    /// Replies to `msg`: a whisper when its sender is a direct peer;
    /// otherwise a route request floods the mesh and the reply waits (bounded,
    /// expiring) until a response names an address, which is dialed.
    pub fn reply(
        &mut self,
        msg: &Message,
        packets: Vec<Value>,
        now: Instant,
    ) -> Result<(), SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        let mut payload = Vec::with_capacity(packets.len() + 1);
        payload.push(Value::from(SubFlag::Whisper.value()));
        payload.extend(packets);
        if let Some(&conn) = self.routes.get(&msg.sender) {
            self.send_on(conn, MainFlag::Whisper.value().into(), payload, now)?;
            return Ok(());
        }
        if self.pending_replies() >= self.cfg.max_pending_replies {
            return Err(SendError::TooManyPendingReplies(
                self.cfg.max_pending_replies,
            ));
        }
        let request_id = format!("{:016x}{:016x}", self.rng.next_u64(), self.rng.next_u64());
        let key = Bytes::from(request_id.clone());
        let request = vec![
            Value::from(SubFlag::Request.value()),
            Value::from(request_id),
            Value::Bin(msg.sender.0.clone()),
        ];
        self.send_raw(MainFlag::Broadcast.value().into(), request, now)?;
        self.requested.insert(
            key,
            PendingReply {
                target: msg.sender.clone(),
                packets: payload,
                expires: now.checked_add(self.cfg.reply_ttl),
            },
        );
        Ok(())
    }

    /// Adds a handler to the end of the chain.
    pub fn register_handler(&mut self, handler: impl Handler + 'static) {
        self.handlers.push(Box::new(handler));
    }

    /// The oldest queued message.
    pub fn recv(&mut self) -> Option<Message> {
        self.queue.pop_front()
    }

    /// Up to `n` queued messages, oldest first.
    pub fn recv_many(&mut self, n: usize) -> Vec<Message> {
        let n = n.min(self.queue.len());
        self.queue.drain(..n).collect()
    }

    /// The next thing for the runtime to do.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Closes every connection (queued frames are flushed by the runtime
    /// before it closes each socket). Closing twice is an error, as in py2p.
    pub fn close(&mut self, now: Instant) -> Result<(), SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        self.closed = true;
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.forget_conn(conn, now);
            self.outputs.push_back(Output::Close { conn });
        }
        self.heal_at = None;
        Ok(())
    }

    fn event(&mut self, e: Event) {
        self.outputs.push_back(Output::Event(e));
    }
}

/// A random UUID-shaped salt, as py2p's `uuid4()` text.
fn uuid_text(rng: &mut Rng) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}
