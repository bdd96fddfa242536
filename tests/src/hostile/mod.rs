//! The hostile-peer suite on real sockets: attackers are raw
//! [`std::net::TcpStream`] clients on 127.0.0.1 writing hand-made bytes
//! (frames built with `mesh_proto::wire`'s public encoding API, or msgpack
//! written byte by byte) at a *victim* node of any runtime adapter
//! ([`crate::nodes`]); `tests/hostile.rs` runs every scenario per adapter.
//!
//! Every scenario builds a [`Scene`]: the victim and two honest nodes linked
//! to it (a - victim - b), then attacks the victim and checks that
//!
//! - the offender gets the documented event ([`Event::Rejected`] or
//!   [`Event::ProtocolViolation`], and the counter behind it) and its
//!   connection is closed (read until end of stream or a reset, bounded);
//!   where no event is documented (stale, future or duplicate broadcasts,
//!   peer lists) what does happen is asserted: dropped and counted;
//! - the victim stays up and honest traffic around the attack is
//!   delivered (a broadcast from a reaches b through the victim);
//! - memory stays bounded: the test process's `VmRSS` ([`Memory`]) and,
//!   where the core exposes it, its own bounded state
//!   ([`Counters`](mesh_proto::mesh::Counters), the routing table).
//!
//! Scenarios are serialised by [`run`] (one global lock), so the RSS of
//! one is not another's. Every wait is bounded.
//!
//! [`Event::Rejected`]: mesh_proto::mesh::Event::Rejected
//! [`Event::ProtocolViolation`]: mesh_proto::mesh::Event::ProtocolViolation

use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::conformance::bounded;

// Fixtures: the machinery every scenario shares.
mod attacker;
mod frames;
mod memory;
mod scene;
mod util;

// Scenarios, by theme.
mod bodies;
mod bombs;
mod floods;
mod framing;
mod handshakes;
mod mismatch;
mod slow;

pub use attacker::{Attacker, is_renegotiation};
pub use frames::{body_with, client_hello, framed, header_then, nested, peer_entry};
pub use memory::{Memory, open_fds, rss};
pub use scene::{Scene, honest_config, link, victim_config};
pub use util::{
    bin, closed_port, count_before, expect_payload, fresh_id, garbage, nothing_before, tag,
    unix_now, wait_until,
};

pub use bodies::{huge_containers, wrong_shapes};
pub use bombs::compression_bombs;
pub use floods::{connection_flood, duplicates};
pub use framing::{bad_checksums, length_headers};
pub use handshakes::{bad_handshakes, peer_list};
pub use mismatch::{garbage_bytes, plaintext_at_tls_node, tls_at_plaintext_node};
pub use slow::{slow_peers, stale_and_future};

// ----- settings --------------------------------------------------------------

/// The victim's handshake timeout (short, so the suite stays fast).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(600);

/// The victim's stall timeout (a partial frame waiting longer is closed).
pub const STALL_TIMEOUT: Duration = Duration::from_millis(600);

/// The victim's cap on a decompressed packet (a bomb inflates past it).
pub const MAX_DECOMPRESSED: usize = 1 << 20;

/// Every single wait is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(15);

/// What "at once" means for a close that needs no timeout.
pub const PROMPT: Duration = Duration::from_secs(3);

/// Slack on top of a timeout before a close counts as late.
pub const SLACK: Duration = Duration::from_millis(1500);

/// How much the test process's RSS may grow during one attack.
pub const MAX_RSS_GROWTH: u64 = 64 << 20;

/// The subnet every scene speaks.
pub const SUBNET: &str = "hostile";

// ----- running ---------------------------------------------------------------

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `scenario` bounded in time ([`bounded`]) and alone: scenarios of
/// this binary never overlap, so [`Memory`] measures one at a time.
pub fn run(scenario: impl FnOnce() + Send + 'static) {
    let _turn = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let started = Instant::now();
    bounded(scenario);
    eprintln!(
        "{}: {:?}",
        thread::current().name().unwrap_or("?"),
        started.elapsed()
    );
}
