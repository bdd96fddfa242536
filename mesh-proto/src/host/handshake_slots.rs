//! A cap on the TLS handshakes an accept loop runs at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The TLS handshakes an accept loop may run at once (adapters use the
/// core's [`Config::max_pending_handshakes`](crate::mesh::Config::max_pending_handshakes)).
/// A connection beyond them is closed unanswered: a flood of silent
/// connections then holds at most this many handshakes' buffers, each only
/// until its timeout, and everything else keeps working.
///
/// ```
/// use mesh_proto::host::HandshakeSlots;
///
/// let slots = HandshakeSlots::new(1);
/// let first = slots.try_take().expect("a free slot");
/// assert!(slots.try_take().is_none(), "full");
/// drop(first); // the handshake ended
/// assert!(slots.try_take().is_some());
/// ```
#[derive(Clone, Debug)]
pub struct HandshakeSlots {
    in_use: Arc<AtomicUsize>,
    max: usize,
}

/// One handshake's slot, given back when dropped.
#[derive(Debug)]
pub struct HandshakeSlot {
    in_use: Arc<AtomicUsize>,
}

impl HandshakeSlots {
    /// At most `max` handshakes at once.
    pub fn new(max: usize) -> HandshakeSlots {
        HandshakeSlots {
            in_use: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// A slot for one more handshake, or `None` when all are taken.
    pub fn try_take(&self) -> Option<HandshakeSlot> {
        let taken = self
            .in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            });
        taken.ok().map(|_| HandshakeSlot {
            in_use: Arc::clone(&self.in_use),
        })
    }
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        self.in_use.fetch_sub(1, Ordering::AcqRel);
    }
}
