//! The values that cross the core's boundary: handles, addresses, outputs,
//! events, messages and counters.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::wire::{MsgId, SubFlag, Value, WireError, base58_int};

/// A connection handle, allocated by the [`Mesh`](super::Mesh) and never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// A node id: py2p's base58 text, as bytes (learned in the handshake).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub Bytes);

impl PeerId {
    /// The id's text (lossy if a peer sent non-UTF-8).
    pub fn to_text(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

// Lets maps keyed by PeerId be searched with the id bytes of a frame header,
// without building (and reference-counting) a PeerId.
impl std::borrow::Borrow<[u8]> for PeerId {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
    }
}

impl From<&str> for PeerId {
    fn from(s: &str) -> PeerId {
        PeerId(Bytes::copy_from_slice(s.as_bytes()))
    }
}

/// A host and port, as py2p advertises them (`[host, port]`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerAddr {
    /// Host name or IP address text.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl PeerAddr {
    /// An address from its parts.
    pub fn new(host: impl Into<String>, port: u16) -> PeerAddr {
        PeerAddr {
            host: host.into(),
            port,
        }
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// What the core asks its runtime to do, drained with
/// [`Mesh::poll_output`](super::Mesh::poll_output).
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Open a TCP (or TLS) connection to `addr`, then report the result with
    /// [`Mesh::handle_dialed`](super::Mesh::handle_dialed).
    Dial {
        /// The handle this connection will have.
        conn: ConnId,
        /// Where to connect.
        addr: PeerAddr,
    },
    /// Write these bytes to the connection, in order; report progress with
    /// [`Mesh::handle_written`](super::Mesh::handle_written).
    Transmit {
        /// The connection.
        conn: ConnId,
        /// Whole frames.
        bytes: Bytes,
    },
    /// Flush what was queued for the connection, then close it. The core has
    /// already forgotten it: do not report its closing back.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Something the application may want to know.
    Event(Event),
}

/// Why the core refused or closed a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// The peer's protocol id (subnet, encryption, version) is not ours.
    ProtocolMismatch {
        /// The id the peer sent.
        theirs: String,
    },
    /// The handshake named our own id: we dialed ourselves.
    SelfConnection,
    /// Two connections to one peer; this one lost, as py2p decides.
    DuplicateConnection,
    /// [`Config::max_inbound`](super::Config::max_inbound) reached.
    TooManyInbound,
    /// [`Config::max_pending_handshakes`](super::Config::max_pending_handshakes) reached.
    TooManyPendingHandshakes,
    /// No handshake within [`Config::handshake_timeout`](super::Config::handshake_timeout).
    HandshakeTimeout,
    /// A partial frame waited longer than [`Config::stall_timeout`](super::Config::stall_timeout).
    Stalled,
    /// More than [`Config::max_queued_bytes`](super::Config::max_queued_bytes)
    /// were waiting to be written: the peer does not read.
    OutputOverflow,
    /// Too many frames that no method could decode.
    UndecodableFrames,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::ProtocolMismatch { theirs } => {
                write!(f, "protocol mismatch (peer speaks {theirs})")
            }
            RejectReason::SelfConnection => f.write_str("connected to ourselves"),
            RejectReason::DuplicateConnection => f.write_str("duplicate connection"),
            RejectReason::TooManyInbound => f.write_str("too many inbound connections"),
            RejectReason::TooManyPendingHandshakes => f.write_str("too many pending handshakes"),
            RejectReason::HandshakeTimeout => f.write_str("handshake timeout"),
            RejectReason::Stalled => f.write_str("partial frame stalled"),
            RejectReason::OutputOverflow => f.write_str("output queue overflow"),
            RejectReason::UndecodableFrames => f.write_str("repeated undecodable frames"),
        }
    }
}

/// Something that happened, for the application.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The routing table went from empty to one peer (py2p's `connect`).
    Connected,
    /// A handshake completed: the peer is in the routing table.
    PeerUp {
        /// Its connection.
        conn: ConnId,
        /// Its id.
        peer: PeerId,
        /// The address it advertised.
        addr: PeerAddr,
    },
    /// A peer left the routing table.
    PeerDown {
        /// Its former connection.
        conn: ConnId,
        /// Its id.
        peer: PeerId,
    },
    /// A message was queued for [`Mesh::recv`](super::Mesh::recv) (py2p's `message`).
    Message {
        /// Its id.
        id: MsgId,
    },
    /// The core refused or closed a connection.
    Rejected {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: RejectReason,
    },
    /// A peer sent bytes that break the protocol; the connection is closed.
    ProtocolViolation {
        /// The connection.
        conn: ConnId,
        /// What was wrong.
        error: WireError,
    },
    /// The receive queue was full: its oldest messages were dropped.
    Lagged {
        /// How many were dropped since the last `Lagged`.
        dropped: u64,
    },
    /// A dial failed.
    DialFailed {
        /// The connection handle it would have had.
        conn: ConnId,
        /// Where.
        addr: PeerAddr,
    },
}

/// A delivered message.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The frame's main flag (or an application type).
    pub msg_type: u64,
    /// The originator.
    pub sender: PeerId,
    /// The message id (SHA-256 of its body).
    pub id: MsgId,
    /// Unix seconds set by the originator.
    pub time: i64,
    /// The payload, sub-flag at index 0 (as py2p's `msg.packets`).
    pub packets: Vec<Value>,
    /// The connection it arrived on.
    pub conn: ConnId,
    /// How [`reply`](Message::reply) answers it: set by the runtime that
    /// delivered it ([`ReplyTo::none`] from a bare core).
    pub reply_to: ReplyTo,
}

/// What answers a delivered message from the message itself (py2p's
/// `msg.reply(...)`): a runtime's way to queue a reply on the socket that
/// received it. Not part of a message's identity: two messages equal in
/// every other field are equal.
#[derive(Clone, Default)]
pub struct ReplyTo(Option<Arc<ReplyFn>>);

type ReplyFn = dyn Fn(&Message, Vec<Value>) -> Result<(), SendError> + Send + Sync;

impl ReplyTo {
    /// Replies go through `f` (given the message and the packets).
    pub fn new(
        f: impl Fn(&Message, Vec<Value>) -> Result<(), SendError> + Send + Sync + 'static,
    ) -> ReplyTo {
        ReplyTo(Some(Arc::new(f)))
    }

    /// No way to reply: a message from a bare core (the simulator, tests).
    pub fn none() -> ReplyTo {
        ReplyTo(None)
    }
}

impl fmt::Debug for ReplyTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "ReplyTo(socket)"
        } else {
            "ReplyTo(none)"
        })
    }
}

impl PartialEq for ReplyTo {
    fn eq(&self, _: &ReplyTo) -> bool {
        true
    }
}

impl Message {
    /// Answers this message (py2p's `msg.reply(...)`): a whisper straight to
    /// its sender when it is a direct peer, otherwise routed as py2p does (a
    /// route request, then a dial). The reply is queued on the socket that
    /// delivered the message, behind what was asked of it before; like
    /// py2p's, it reports no later failure. `Err(Closed)` if that socket is
    /// gone, or the message came from a bare core, which has no socket.
    ///
    /// ```
    /// use mesh_proto::mesh::{ConnId, Message, PeerId, ReplyTo, SendError};
    /// use mesh_proto::wire::{MsgId, Value};
    ///
    /// let msg = Message {
    ///     msg_type: 0,
    ///     sender: PeerId(bytes::Bytes::from_static(b"them")),
    ///     id: MsgId([0; 32]),
    ///     time: 0,
    ///     packets: vec![],
    ///     conn: ConnId(1),
    ///     reply_to: ReplyTo::none(),
    /// };
    /// assert_eq!(msg.reply(vec![Value::from("hi")]), Err(SendError::Closed));
    /// ```
    pub fn reply(&self, packets: Vec<Value>) -> Result<(), SendError> {
        match &self.reply_to.0 {
            Some(f) => f(self, packets),
            None => Err(SendError::Closed),
        }
    }

    /// The sub-flag (packet 0), if it is a known one.
    pub fn sub_flag(&self) -> Option<SubFlag> {
        sub_flag_of(&self.packets)
    }

    /// The time in base58, as py2p's `msg.time_58`.
    pub fn time_58(&self) -> String {
        base58_int(&self.time.max(0).to_be_bytes())
    }
}

/// The sub-flag a payload starts with, if it is one py2p knows.
pub(crate) fn sub_flag_of(packets: &[Value]) -> Option<SubFlag> {
    packets.first().and_then(sub_flag_of_value)
}

/// The sub-flag a message's first packet names, if it is one.
pub(crate) fn sub_flag_of_value(first: &Value) -> Option<SubFlag> {
    first
        .as_int()
        .and_then(|i| i.as_u64())
        .and_then(|v| SubFlag::try_from(v).ok())
}

/// API misuse: the only errors the core returns (a bad peer is an event).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The packets cannot be encoded.
    #[error("cannot encode: {0}")]
    Encode(#[from] WireError),
    /// Too many replies are waiting for a route.
    #[error("too many pending replies ({0})")]
    TooManyPendingReplies(usize),
    /// The mesh was closed.
    #[error("the mesh is closed")]
    Closed,
}

/// Running totals, readable with [`Mesh::counters`](super::Mesh::counters).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames received.
    pub frames_in: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Frames sent (relays included).
    pub frames_out: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Broadcast frames forwarded to a peer.
    pub relayed: u64,
    /// Broadcasts dropped as already seen.
    pub duplicates: u64,
    /// Broadcasts dropped as older than `max_age`.
    pub stale: u64,
    /// Broadcasts dropped as too far in the future.
    pub future: u64,
    /// Messages delivered to the receive queue.
    pub delivered: u64,
    /// Messages consumed by a handler.
    pub handled: u64,
    /// Messages dropped from a full receive queue.
    pub queue_drops: u64,
    /// Frames that no method could decode.
    pub undecodable: u64,
    /// Messages ignored because their connection had not handshaken yet.
    pub before_handshake: u64,
    /// Connections closed for a protocol violation.
    pub violations: u64,
    /// Connections refused or closed, by reason.
    pub rejected: RejectCounters,
    /// Lazy push between our own nodes (see [`Config::lazy_push`](super::Config::lazy_push)).
    pub lazy: LazyCounters,
    /// Surplus links we dialed to heal and gave back (see [`Config::trim_links`](super::Config::trim_links)).
    pub links_trimmed: u64,
    /// Links a peer asked to give back and we agreed to.
    pub trims_agreed: u64,
}

/// What lazy push did: announcements, grafts, prunes and the frame cache.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LazyCounters {
    /// Ids announced to lazy links.
    pub announced: u64,
    /// Ids announced to us.
    pub announcements_received: u64,
    /// Grafts sent (one per link per timer run, for any number of ids).
    pub grafts_sent: u64,
    /// Grafts received.
    pub grafts_received: u64,
    /// Links pruned to lazy after a duplicate.
    pub prunes_sent: u64,
    /// Prunes received.
    pub prunes_received: u64,
    /// Frames sent from the cache to answer a graft.
    pub served_from_cache: u64,
    /// Grafted ids we did not have (any more).
    pub graft_misses: u64,
    /// Announced ids given up: no announcer left, or the missing set full.
    pub missing_dropped: u64,
    /// Lazy links made eager again by a frame pushed on them.
    pub unpruned: u64,
    /// Tree links swapped for a lazy link that announced a frame well before
    /// the tree brought it.
    pub optimized: u64,
    /// Extension frames from links that never announced the extension.
    pub ignored: u64,
    /// Bytes of extension frames sent (announcements, grafts, prunes).
    pub bytes_out: u64,
}

impl LazyCounters {
    /// Adds `other`'s counts to these (totals over many nodes).
    pub fn add(&mut self, other: &LazyCounters) {
        let LazyCounters {
            announced,
            announcements_received,
            grafts_sent,
            grafts_received,
            prunes_sent,
            prunes_received,
            served_from_cache,
            graft_misses,
            missing_dropped,
            unpruned,
            optimized,
            ignored,
            bytes_out,
        } = other;
        self.announced += announced;
        self.announcements_received += announcements_received;
        self.grafts_sent += grafts_sent;
        self.grafts_received += grafts_received;
        self.prunes_sent += prunes_sent;
        self.prunes_received += prunes_received;
        self.served_from_cache += served_from_cache;
        self.graft_misses += graft_misses;
        self.missing_dropped += missing_dropped;
        self.unpruned += unpruned;
        self.optimized += optimized;
        self.ignored += ignored;
        self.bytes_out += bytes_out;
    }
}

/// Rejections by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RejectCounters {
    /// Protocol id mismatch.
    pub protocol_mismatch: u64,
    /// Self connections.
    pub self_connection: u64,
    /// Duplicate connections.
    pub duplicate: u64,
    /// Inbound or pending-handshake limits.
    pub over_capacity: u64,
    /// Handshake timeouts. A runtime adapter's counters add the accepted
    /// connections it closed while they waited for a handshake place.
    pub handshake_timeout: u64,
    /// Stalled partial frames.
    pub stalled: u64,
    /// Output queue overflow.
    pub output_overflow: u64,
    /// Repeated undecodable frames.
    pub undecodable: u64,
}

impl RejectCounters {
    pub(crate) fn count(&mut self, reason: &RejectReason) {
        let slot = match reason {
            RejectReason::ProtocolMismatch { .. } => &mut self.protocol_mismatch,
            RejectReason::SelfConnection => &mut self.self_connection,
            RejectReason::DuplicateConnection => &mut self.duplicate,
            RejectReason::TooManyInbound | RejectReason::TooManyPendingHandshakes => {
                &mut self.over_capacity
            }
            RejectReason::HandshakeTimeout => &mut self.handshake_timeout,
            RejectReason::Stalled => &mut self.stalled,
            RejectReason::OutputOverflow => &mut self.output_overflow,
            RejectReason::UndecodableFrames => &mut self.undecodable,
        };
        *slot += 1;
    }
}
