//! Per-connection state.

use std::time::Instant;

use crate::wire::{Compression, Deframer, Limits};

use super::sent::SentRef;
use super::{PeerAddr, PeerId};

#[derive(Debug)]
pub(crate) struct Conn {
    /// We dialed it (counts toward `max_outgoing`).
    pub(crate) outgoing: bool,
    /// A `Dial` was emitted and its result not yet reported.
    pub(crate) dialing: bool,
    /// Where we dialed, or where it came from.
    pub(crate) addr: Option<PeerAddr>,
    /// The id we expect (dials made from a peer list).
    pub(crate) expected: Option<PeerId>,
    pub(crate) opened: Instant,
    pub(crate) deframer: Deframer,
    /// Learned in the handshake.
    pub(crate) peer: Option<PeerId>,
    pub(crate) peer_addr: Option<PeerAddr>,
    /// Methods the peer accepts, in its order.
    pub(crate) peer_compression: Vec<Compression>,
    /// Body of the last whisper/broadcast sent here, for `resend`.
    pub(crate) last_sent: Option<SentRef>,
    /// Bytes handed out and not yet reported written.
    pub(crate) queued: usize,
    /// When the current partial frame started.
    pub(crate) partial_since: Option<Instant>,
    pub(crate) failures: u32,
    /// The peer speaks lazy push (its handshake carried the marker).
    pub(crate) ext: bool,
    /// Ids to announce on this link at the next tick.
    pub(crate) announce: Vec<crate::wire::MsgId>,
    /// Dialed to heal (beyond what the node had): given back first when
    /// the mesh is whole again.
    pub(crate) healing: bool,
    /// The peer gives back surplus links too (its handshake carried the marker).
    pub(crate) trim_ext: bool,
    /// Given back by agreement (we asked, or agreed to the peer's ask):
    /// its closing is no loss.
    pub(crate) trimming: bool,
    /// When we last asked to give this link back, and how many times.
    pub(crate) trim_asked: Option<Instant>,
    pub(crate) trim_asks: u8,
    /// The peer has sent something.
    pub(crate) heard: bool,
}

impl Conn {
    pub(crate) fn new(
        outgoing: bool,
        addr: Option<PeerAddr>,
        now: Instant,
        limits: &Limits,
    ) -> Conn {
        Conn {
            outgoing,
            dialing: outgoing,
            addr,
            expected: None,
            opened: now,
            deframer: {
                // Until the handshake: room for a handshake, not a file.
                let mut d = Deframer::new(limits);
                d.set_max_frame(limits.max_frame.min(limits.max_frame_before_handshake));
                d
            },
            peer: None,
            peer_addr: None,
            peer_compression: Vec::new(),
            last_sent: None,
            queued: 0,
            partial_since: None,
            failures: 0,
            ext: false,
            announce: Vec::new(),
            healing: false,
            trim_ext: false,
            trimming: false,
            trim_asked: None,
            trim_asks: 0,
            heard: false,
        }
    }

    pub(crate) fn handshaken(&self) -> bool {
        self.peer.is_some()
    }

    /// Accounts `len` more unwritten bytes; `true` when that passes `max`
    /// (the connection is to be closed).
    pub(crate) fn account(&mut self, len: usize, max: usize) -> bool {
        self.queued += len;
        self.queued > max
    }
}
