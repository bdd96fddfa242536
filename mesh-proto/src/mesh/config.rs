//! The node's settings, with documented defaults.

use std::time::Duration;

use crate::wire::{Compression, Limits, Protocol};

use super::PeerAddr;

/// Settings of one [`Mesh`](super::Mesh). Every bound on what peers can make
/// the node hold is here.
///
/// ```
/// use mesh_proto::mesh::{Config, PeerAddr};
/// use mesh_proto::wire::{Encryption, Protocol};
/// let cfg = Config::new(Protocol::new("chat", Encryption::Plaintext), PeerAddr::new("127.0.0.1", 4444));
/// assert_eq!(cfg.max_outgoing, 4);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// Subnet and encryption: peers with another protocol id are refused.
    pub protocol: Protocol,
    /// The address peers should dial to reach us (advertised in handshakes).
    pub out_addr: PeerAddr,
    /// Our node id; derived as py2p does (from `out_addr`, the protocol id and
    /// a salt drawn from the seed) when `None`.
    pub node_id: Option<String>,
    /// Compression methods we accept, in preference order. Default: every
    /// method compiled in, in py2p's order.
    pub compression: Vec<Compression>,
    /// Wire limits (frame size, decompressed size, nesting...).
    pub limits: Limits,
    /// Peer exchange dials new peers while outgoing connections are below this. Default 4 (py2p).
    pub max_outgoing: usize,
    /// Accepted connections beyond this are refused. Default 64.
    pub max_inbound: usize,
    /// Connections still waiting for a handshake beyond this are refused. Default 32.
    pub max_pending_handshakes: usize,
    /// A connection without a handshake after this is closed. Default 10 s.
    pub handshake_timeout: Duration,
    /// A partial frame waiting longer than this closes the connection. Default 60 s (py2p).
    pub stall_timeout: Duration,
    /// Broadcasts older than this are dropped. Default 60 s (py2p).
    pub max_age: Duration,
    /// Broadcasts stamped further than this in the future are dropped. Default 60 s.
    pub max_future: Duration,
    /// How long a message id is at least remembered for dedup (at most a
    /// quarter longer: ids leave in generations). Default 60 s (py2p).
    pub seen_ttl: Duration,
    /// Most ids remembered; the oldest generation (a quarter of the cap) is
    /// evicted first. Default 262,144.
    pub seen_cap: usize,
    /// Messages waiting for `recv`; when full the oldest is dropped. Default 1,024.
    /// 0 means no queue: with no handler registered either, the node only
    /// relays (the built-in handlers still run), and builds no `Message` for
    /// what nobody would take.
    pub recv_queue_cap: usize,
    /// Bytes handed out in `Transmit` and not yet reported written, per
    /// connection; past it the connection is closed as not reading. Default 8 MiB.
    pub max_queued_bytes: usize,
    /// Replies waiting for a route to their target. Default 256.
    pub max_pending_replies: usize,
    /// How long a pending reply waits for a route. Default 60 s.
    pub reply_ttl: Duration,
    /// Entries taken from one peer list (and sent in ours). Default 32.
    pub max_peers_per_list: usize,
    /// Addresses remembered for healing. Default 1,024.
    pub max_known_addrs: usize,
    /// Undecodable frames tolerated per connection (each answered with
    /// py2p's renegotiation) before it is closed. Default 3.
    pub max_decode_failures: u32,
    /// First healing delay after losing a peer; doubles per attempt, with
    /// jitter, up to `heal_backoff_max`. Default 500 ms.
    pub heal_backoff: Duration,
    /// Longest healing delay. Default 30 s.
    pub heal_backoff_max: Duration,
}

impl Config {
    /// Defaults for this protocol and advertised address.
    pub fn new(protocol: Protocol, out_addr: PeerAddr) -> Config {
        Config {
            protocol,
            out_addr,
            node_id: None,
            compression: Compression::supported().to_vec(),
            limits: Limits::default(),
            max_outgoing: 4,
            max_inbound: 64,
            max_pending_handshakes: 32,
            handshake_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(60),
            max_age: Duration::from_secs(60),
            max_future: Duration::from_secs(60),
            seen_ttl: Duration::from_secs(60),
            seen_cap: 1 << 18,
            recv_queue_cap: 1024,
            max_queued_bytes: 8 << 20,
            max_pending_replies: 256,
            reply_ttl: Duration::from_secs(60),
            max_peers_per_list: 32,
            max_known_addrs: 1024,
            max_decode_failures: 3,
            heal_backoff: Duration::from_millis(500),
            heal_backoff_max: Duration::from_secs(30),
        }
    }
}
