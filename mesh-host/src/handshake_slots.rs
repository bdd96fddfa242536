//! A cap on the TLS handshakes an accept loop runs at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The TLS handshakes an accept loop may run at once (adapters use the
/// core's [`Config::max_pending_handshakes`](mesh_proto::mesh::Config::max_pending_handshakes)).
/// A connection beyond them is closed unanswered: a flood of silent
/// connections then holds at most this many handshakes' buffers, each only
/// until its timeout, and everything else keeps working.
///
/// ```
/// use mesh_host::HandshakeSlots;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_slots_are_taken() {
        let slots = HandshakeSlots::new(2);
        let held = [slots.try_take(), slots.try_take()];
        assert!(held.iter().all(Option::is_some));
        assert!(slots.try_take().is_none(), "full at 2");
    }

    #[test]
    fn a_dropped_slot_is_free_again() {
        let slots = HandshakeSlots::new(1);
        let slot = slots.try_take();
        assert!(slots.try_take().is_none());
        drop(slot);
        assert!(slots.try_take().is_some());
    }

    #[test]
    fn clones_share_one_count() {
        // Each accepted connection's task holds a clone: the cap is per listener.
        let slots = HandshakeSlots::new(1);
        let other = slots.clone();
        let held = other.try_take();
        assert!(held.is_some());
        assert!(slots.try_take().is_none(), "taken through the clone");
        drop(held);
        assert!(slots.try_take().is_some());
    }

    #[test]
    fn zero_slots_refuse_everything() {
        assert!(HandshakeSlots::new(0).try_take().is_none());
    }
}
