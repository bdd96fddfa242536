//! What every runtime adapter (`mesh-tokio`, `mesh-async-std`,
//! `mesh-blocking`) does the same way when it hosts a
//! [`Mesh`](mesh_proto::mesh::Mesh): the advertised-address rule, seed
//! mixing, the adapters' shared defaults and [`Options`], [`HostDriver`]
//! (the runtime-independent part of an adapter's driver), the user handle's
//! commands, write batching, and TLS setup (module `tls`, feature `tls`).
//!
//! This is runtime plumbing, kept out of the sans-IO core (`mesh-proto`):
//! it knows about tasks, channels and atomics. The adapters carry out the
//! dials, writes and closes through their [`Runtime`]; the one socket opened
//! here is [`lan_address`]'s UDP probe, which sends nothing.
//!
//! ```
//! use std::time::Duration;
//! use mesh_proto::mesh::PeerAddr;
//!
//! // Bound to one address on port 0, the OS picked 40123: that is advertised.
//! assert_eq!(mesh_host::default_out_addr("127.0.0.2", 40123), PeerAddr::new("127.0.0.2", 40123));
//! // Two sockets bound in the same nanosecond still get different seeds.
//! let t = Duration::from_secs(1_764_000_000);
//! assert_ne!(mesh_host::mix_seed(t, 42, 0), mesh_host::mix_seed(t, 42, 1));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::IpAddr;
use std::time::Duration;

use mesh_proto::mesh::PeerAddr;

mod async_handle;
mod callbacks;
mod channels;
mod command;
mod direct;
mod driver;
mod event_kind;
mod handshake_slots;
mod inbox;
mod io_event;
mod lan;
mod listen;
mod messages;
mod options;
mod outcome;
mod parked;
mod read_buffer;
mod run;
mod runtime;
mod send_gate;
mod shared;
mod subscribers;
#[cfg(feature = "tls")]
pub mod tls;
mod turns;
mod waiting;
mod write_batch;

pub use async_handle::{AsyncChannels, AsyncHandle, WeakHandle, reply_to};
pub use callbacks::{dispatch, once_fn};
pub use channels::{Channels, Publish};
pub use command::{Command, Outgoing};
pub use direct::{DirectWrites, WriteSide, WriterTx};
pub use driver::{HostDriver, Input, ResumeHook, closed};
pub use event_kind::EventKind;
pub use handshake_slots::{HandshakeSlot, HandshakeSlots};
pub use inbox::Inbox;
pub use io_event::{IoEvent, WriteEnd};
pub use lan::lan_address;
pub use listen::{LISTEN_BACKLOG, has_bytes_waiting, listen, shutdown_write};
pub use messages::Messages;
pub use options::{Options, Timeouts};
pub use outcome::{WriteFailure, dialed};
pub use read_buffer::{READ_MIN, ReadBuffer};
pub use run::{Source, Sources, run};
pub use runtime::{Connection, Runtime};
pub use send_gate::{SEND_AHEAD, SEND_AHEAD_BYTES, SendGate, Waits, queue as queue_send, unix_now};
pub use shared::Shared;
pub use turns::Turns;
pub use write_batch::{WRITE_BATCH, WriteBatch, WriterCmd};

/// How long a connection's writes may make no progress before it is closed
/// (the others go on). The adapters' default write-stall timeout.
pub const DEFAULT_WRITE_STALL: Duration = Duration::from_secs(30);

/// After our side closed a connection gracefully, how long its reader keeps
/// draining the peer's bytes (so the kernel sends FIN, not RST, and the peer
/// keeps our last frames).
pub const CLOSE_LINGER: Duration = Duration::from_secs(5);

/// A connection the core refused (over capacity) gets its refusal (a peer
/// list pointing elsewhere) and a graceful close, then its bytes are drained
/// for at most this long before the socket goes: long enough for an honest
/// joiner to read where to go, short enough that a flood cannot pile up.
pub const REFUSE_LINGER: Duration = Duration::from_secs(1);

/// Refused connections given that courtesy at once; past this (a flood of
/// connection attempts) a refused socket is closed unanswered, so refusals
/// hold at most this many descriptors, each for at most [`REFUSE_LINGER`].
pub const MAX_REFUSING: usize = 64;

/// Bytes asked for per `read` call on a busy connection (a quiet one reads
/// into [`READ_MIN`]: see [`ReadBuffer`]).
pub const READ_CHUNK: usize = 64 * 1024;

/// An adapter's driver takes commands before pending I/O: a command a caller
/// issued before it caused network traffic (register a handler, then ask a
/// peer to send) must be in effect when that traffic arrives, as py2p's
/// synchronous calls are. After this many commands in a row, I/O gets one
/// turn, so a busy caller cannot starve the network.
pub const COMMAND_BURST: usize = 64;

/// How long a driver stops reading, at most, without progress, while a
/// peer's output queue is over half of `max_queued_bytes` or the
/// application is behind (see [`HostDriver::reads_paused`]).
pub const MAX_READ_PAUSE: Duration = Duration::from_millis(250);

/// How long a read pause may last in all, progress or not: nothing is read
/// from any peer meanwhile, and their handshakes (`handshake_timeout`, 10 s
/// by default) and partial frames (`stall_timeout`) run against the clock.
pub const MAX_DRAINING_PAUSE: Duration = Duration::from_secs(2);

/// Bytes written that start a read pause for a peer's queue over (see
/// [`HostDriver::reads_paused`]): a peer must drain at least this much
/// every [`MAX_READ_PAUSE`] (256 KiB/s) to be waited for.
pub const PAUSE_PROGRESS: usize = 64 * 1024;

/// Inputs an async driver takes in one turn, at most, before it settles
/// the core's outputs once (so timers and callers are served between
/// bursts, and a burst costs one pass over the outputs).
pub const TURN_INPUTS: usize = 256;

/// Events one subscriber may leave unread; past it the newest are dropped
/// for that subscriber (the mesh never waits for a slow subscriber).
pub const EVENT_QUEUE: usize = 1024;

/// What to advertise for a bound host: the wildcards (`""`, `0.0.0.0`, `::`)
/// become `lan` (the machine's LAN address, see [`lan_address`]) or, without
/// one, loopback; anything else is kept. An application that needs another
/// address (a public one, behind NAT) passes its own `out_addr`.
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use mesh_host::advertised_host;
///
/// let lan = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20));
/// assert_eq!(advertised_host("0.0.0.0", Some(lan)), "192.168.1.20");
/// assert_eq!(advertised_host("0.0.0.0", None), "127.0.0.1");
/// assert_eq!(advertised_host("10.1.2.3", Some(lan)), "10.1.2.3");
/// ```
pub fn advertised_host(host: &str, lan: Option<IpAddr>) -> String {
    match host {
        "" | "0.0.0.0" => lan.map_or_else(|| "127.0.0.1".into(), |ip| ip.to_string()),
        "::" | "[::]" => lan.map_or_else(|| "::1".into(), |ip| ip.to_string()),
        other => other.to_string(),
    }
}

/// The address peers are told to dial when the application gave none: the
/// bound host (see [`advertised_host`]; a wildcard is resolved to the LAN
/// address here, with [`lan_address`]) with the port actually bound (the
/// real one when bound to port 0).
pub fn default_out_addr(bound_host: &str, bound_port: u16) -> PeerAddr {
    let lan = match bound_host {
        "" | "0.0.0.0" => lan_address(false),
        "::" | "[::]" => lan_address(true),
        _ => None,
    };
    PeerAddr::new(advertised_host(bound_host, lan), bound_port)
}

/// The span an adapter runs one node's driver and tasks in, so the logs of
/// several nodes in one process can be told apart: `node{port=.. id=..}`
/// (the id's first 8 characters). Connection tasks add `conn{id=..}` inside it.
pub fn node_span(id: &mesh_proto::mesh::PeerId, port: u16) -> tracing::Span {
    let text = id.to_text();
    let short: String = text.chars().take(8).collect();
    tracing::info_span!("node", port, id = %short)
}

/// A seed for [`Mesh::new`](mesh_proto::mesh::Mesh::new) when the application
/// gave none: the wall clock (`unix_now`), the process id and a per-process
/// counter `n` (one value per socket), mixed by splitmix64's finaliser so
/// nearby inputs give unrelated seeds. Not a secret: node ids are public.
pub fn mix_seed(unix_now: Duration, pid: u32, n: u64) -> u64 {
    let mut x = (unix_now.as_nanos() as u64)
        ^ (u64::from(pid) << 32)
        ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_advertised_as_the_lan_address_or_loopback() {
        let lan: IpAddr = "10.9.8.7".parse().unwrap();
        assert_eq!(advertised_host("0.0.0.0", Some(lan)), "10.9.8.7");
        assert_eq!(advertised_host("", Some(lan)), "10.9.8.7");
        assert_eq!(advertised_host("0.0.0.0", None), "127.0.0.1");
        assert_eq!(advertised_host("", None), "127.0.0.1");
        assert_eq!(advertised_host("::", None), "::1");
        assert_eq!(advertised_host("[::]", None), "::1");
        assert_eq!(advertised_host("10.1.2.3", Some(lan)), "10.1.2.3");
        assert_eq!(
            default_out_addr("example.org", 7),
            PeerAddr::new("example.org", 7)
        );
    }

    #[test]
    fn the_lan_address_is_never_loopback_or_unspecified() {
        for v6 in [false, true] {
            if let Some(ip) = lan_address(v6) {
                assert!(!ip.is_loopback() && !ip.is_unspecified(), "{ip}");
                assert_eq!(ip.is_ipv6(), v6, "{ip}");
            }
        }
    }

    #[test]
    fn seeds_differ_per_input() {
        let t = Duration::from_nanos(1_764_000_000_123_456_789);
        let base = mix_seed(t, 100, 0);
        assert_eq!(base, mix_seed(t, 100, 0), "a pure function");
        assert_ne!(base, mix_seed(t, 100, 1));
        assert_ne!(base, mix_seed(t, 101, 0));
        assert_ne!(base, mix_seed(t + Duration::from_nanos(1), 100, 0));
    }
}
