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
    /// Between two of our own nodes, bodies shorter than this go
    /// uncompressed whatever was negotiated (and are looked for plain
    /// first). py2p peers always get what they negotiated. Compressing pays
    /// on a link short of bandwidth, not on a fast one: a line of three
    /// moving 1 KiB bodies ran 1.57x faster plain than with snappy (see
    /// BENCHMARKS.md). Lower it (0 compresses everything) where the links
    /// are slow and the payloads compress. Default 4,096.
    pub plain_below: usize,
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
    /// Lazy push between our own nodes (PlumTree): links between two nodes
    /// that both have it carry each broadcast about once per node, the
    /// others only its id; links to py2p nodes flood as py2p does. Off:
    /// pure py2p flooding, and the handshake carries no marker. Default on.
    pub lazy_push: bool,
    /// Announcements to lazy links are batched and sent this often. Default 20 ms.
    pub lazy_announce_interval: Duration,
    /// An announced id not received after this is grafted from its
    /// announcer. Default 400 ms.
    pub lazy_graft_timeout: Duration,
    /// A graft that did not bring the frame after this tries the next
    /// announcer. Default 200 ms.
    pub lazy_graft_retry: Duration,
    /// A frame that arrives this long after a lazy link announced it swaps
    /// that link into the tree for the one it came on (0: never). Default 10 ms.
    pub lazy_optimize_after: Duration,
    /// Bytes of bodies kept to answer grafts (each counted with 128 bytes
    /// of bookkeeping). Default 8 MiB.
    pub lazy_cache_bytes: usize,
    /// How long a body is kept to answer grafts. Default 30 s.
    pub lazy_cache_age: Duration,
    /// Announced ids waiting for their frame, at most; more are ignored. Default 4,096.
    pub lazy_max_missing: usize,
    /// Ids in one announcement or graft (more are ignored). Default 256.
    pub lazy_max_ids_per_frame: usize,
    /// Give back links dialed to heal once the mesh is whole again, so
    /// faults do not add degree for good (with the other end's consent,
    /// only between our own nodes: see [`trim`](super::trim)). Off: no
    /// trimming, and the handshake carries no marker. Default on.
    pub trim_links: bool,
    /// A node with surplus links waits this long after its last link change
    /// (with up to half again of jitter) before it gives one back. Default 5 s.
    pub trim_quiet: Duration,
}

impl Config {
    /// Defaults for this protocol and advertised address.
    pub fn new(protocol: Protocol, out_addr: PeerAddr) -> Config {
        Config {
            protocol,
            out_addr,
            node_id: None,
            compression: Compression::supported().to_vec(),
            plain_below: 4096,
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
            lazy_push: true,
            lazy_announce_interval: Duration::from_millis(20),
            lazy_graft_timeout: Duration::from_millis(400),
            lazy_graft_retry: Duration::from_millis(200),
            lazy_optimize_after: Duration::from_millis(10),
            lazy_cache_bytes: 8 << 20,
            lazy_cache_age: Duration::from_secs(30),
            lazy_max_missing: 4096,
            lazy_max_ids_per_frame: 256,
            trim_links: true,
            trim_quiet: Duration::from_secs(5),
        }
    }
}
