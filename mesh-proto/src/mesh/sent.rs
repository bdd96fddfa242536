//! The last whisper/broadcast body sent on each connection, for `resend`.
//!
//! A relay sends one body to several peers; giving each connection its own
//! `Bytes` clone cost two atomic reference-count operations per target (the
//! new clone and the drop of the one it replaced). Here the body is held once,
//! in a slot with a plain count of the connections pointing at it, and a
//! connection keeps only the slot's index. Every connection points at one slot
//! at most, so there are never more live slots than connections plus one.

use bytes::Bytes;

#[derive(Debug, Default)]
struct Slot {
    body: Option<Bytes>,
    /// Connections whose last sent body this is.
    refs: u32,
}

/// Bodies indexed by slot, with reusable slots.
#[derive(Debug, Default)]
pub(crate) struct SentBodies {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

/// A connection's handle on its last sent body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SentRef(u32);

impl SentBodies {
    /// Holds `body` (the caller's own reference) before connections point
    /// at it: call [`point`](SentBodies::point) for each, then
    /// [`settle`](SentBodies::settle) to drop the caller's reference.
    pub(crate) fn hold(&mut self, body: Bytes) -> SentRef {
        let slot = Slot {
            body: Some(body),
            refs: 1,
        };
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                SentRef(i)
            }
            None => {
                self.slots.push(slot);
                SentRef(u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX))
            }
        }
    }

    /// Points a connection's `last` at `to`, releasing what it pointed at.
    pub(crate) fn point(&mut self, last: &mut Option<SentRef>, to: SentRef) {
        if *last == Some(to) {
            return;
        }
        self.slots[to.0 as usize].refs += 1;
        if let Some(old) = last.replace(to) {
            self.release(old);
        }
    }

    /// Drops the caller's reference: `held` is freed if no connection ended
    /// up pointing at it (or those that did are gone already).
    pub(crate) fn settle(&mut self, held: SentRef) {
        self.release(held);
    }

    /// A connection is gone: drops its pointer.
    pub(crate) fn forget(&mut self, last: Option<SentRef>) {
        if let Some(r) = last {
            self.release(r);
        }
    }

    pub(crate) fn get(&self, r: SentRef) -> Option<&Bytes> {
        self.slots.get(r.0 as usize)?.body.as_ref()
    }

    /// Slots holding a body (for the bounds checks).
    pub(crate) fn live(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    fn release(&mut self, r: SentRef) {
        let slot = &mut self.slots[r.0 as usize];
        slot.refs -= 1;
        if slot.refs == 0 {
            slot.body = None;
            self.free.push(r.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_body_lives_while_pointed_at() {
        let mut s = SentBodies::default();
        let (mut a, mut b) = (None, None);
        let one = s.hold(Bytes::from_static(b"one"));
        s.point(&mut a, one);
        s.point(&mut b, one);
        s.settle(one);
        let two = s.hold(Bytes::from_static(b"two"));
        s.point(&mut a, two);
        s.settle(two);
        assert_eq!(s.get(a.unwrap()).unwrap(), "two");
        assert_eq!(s.get(b.unwrap()).unwrap(), "one");
        assert_eq!(s.live(), 2);
        s.forget(b.take());
        assert_eq!(s.live(), 1);
        // A body nobody points at is dropped at once, and its slot reused.
        let three = s.hold(Bytes::from_static(b"three"));
        s.settle(three);
        assert_eq!(s.live(), 1);
        let four = s.hold(Bytes::from_static(b"four"));
        s.point(&mut a, four);
        s.settle(four);
        assert_eq!((s.live(), s.slots.len()), (1, 2));
        assert_eq!(s.get(a.unwrap()).unwrap(), "four");
    }

    #[test]
    fn a_connection_dropped_mid_send_frees_the_body_once() {
        // A send closes a connection it just pointed at (its output
        // overflowed) before settling: found by the `mesh` fuzz corpus.
        let mut s = SentBodies::default();
        let mut a = None;
        let held = s.hold(Bytes::from_static(b"body"));
        s.point(&mut a, held);
        s.forget(a.take());
        s.settle(held);
        assert_eq!((s.live(), s.free.len()), (0, 1));
        let again = s.hold(Bytes::from_static(b"next"));
        let mut b = None;
        s.point(&mut b, again);
        s.settle(again);
        assert_eq!(s.live(), 1);
    }
}
