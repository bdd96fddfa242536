//! Bodies of recent broadcasts, kept to answer lazy-push grafts.
//!
//! Every relayed broadcast goes in (the relay path: one allocation, one
//! ring push and one index insert keyed by a `u64`), a graft looks one up
//! (rare), and the oldest leave first by age or when the bytes pass the cap.
//! The index is keyed by the id's first 8 bytes: ids are SHA-256 digests, so
//! two cached ids share a prefix practically never (and matching a given
//! one takes about 2^64 hashes); a lookup checks the whole id anyway.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::wire::MsgId;

/// What a cached body costs beyond its bytes (ring slot, index node): counted
/// against the cap, so many tiny bodies cannot outgrow it.
pub(crate) const ENTRY_OVERHEAD: usize = 128;

#[derive(Debug)]
struct Slot {
    id: MsgId,
    at: Instant,
    body: Bytes,
}

#[derive(Debug, Default)]
pub(crate) struct GraftCache {
    /// Oldest first.
    ring: VecDeque<Slot>,
    /// The sequence number of `ring[0]`; each insert takes the next.
    first_seq: u64,
    /// Id prefix to sequence number.
    index: BTreeMap<u64, u64>,
    /// Body bytes plus [`ENTRY_OVERHEAD`] per slot.
    bytes: usize,
}

fn prefix(id: &MsgId) -> u64 {
    let mut head = [0u8; 8];
    head.copy_from_slice(&id.0[..8]);
    u64::from_le_bytes(head)
}

impl GraftCache {
    /// Bodies held, and the bytes they count.
    pub(crate) fn len(&self) -> (usize, usize) {
        (self.ring.len(), self.bytes)
    }

    /// Keeps `body` (copied: a frame may share a large read buffer), then
    /// evicts down to `cap` bytes and `max_age`. A body over the cap alone
    /// is not kept.
    pub(crate) fn insert(
        &mut self,
        id: MsgId,
        body: &[u8],
        now: Instant,
        cap: usize,
        max_age: Duration,
    ) {
        if body.len() + ENTRY_OVERHEAD > cap {
            return;
        }
        let seq = self.first_seq + self.ring.len() as u64;
        self.ring.push_back(Slot {
            id,
            at: now,
            body: Bytes::copy_from_slice(body),
        });
        self.index.insert(prefix(&id), seq);
        self.bytes += body.len() + ENTRY_OVERHEAD;
        self.evict(cap, max_age, now);
    }

    /// The body of `id`, if held and younger than `max_age`.
    pub(crate) fn get(&self, id: &MsgId, now: Instant, max_age: Duration) -> Option<&Bytes> {
        let seq = *self.index.get(&prefix(id))?;
        let slot = self.ring.get(usize::try_from(seq - self.first_seq).ok()?)?;
        let fresh = slot.at.checked_add(max_age).is_some_and(|t| t > now);
        (slot.id == *id && fresh).then_some(&slot.body)
    }

    /// Drops the oldest bodies until within `cap` bytes and `max_age`.
    pub(crate) fn evict(&mut self, cap: usize, max_age: Duration, now: Instant) {
        while let Some(front) = self.ring.front() {
            let old = front.at.checked_add(max_age).is_none_or(|t| t <= now);
            if !old && self.bytes <= cap {
                break;
            }
            let key = prefix(&front.id);
            self.bytes -= front.body.len() + ENTRY_OVERHEAD;
            // One search: a later body with the same prefix (never, in
            // practice) gets its index entry back.
            if let Some(seq) = self.index.remove(&key)
                && seq != self.first_seq
            {
                self.index.insert(key, seq);
            }
            self.ring.pop_front();
            self.first_seq += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> MsgId {
        MsgId([n; 32])
    }

    #[test]
    fn keeps_finds_and_evicts_oldest_first() {
        #[allow(clippy::disallowed_methods)] // a test's clock
        let t0 = Instant::now();
        let age = Duration::from_secs(30);
        let cap = 3 * (10 + ENTRY_OVERHEAD);
        let mut c = GraftCache::default();
        for n in 0..3 {
            c.insert(id(n), &[n; 10], t0, cap, age);
        }
        assert_eq!(c.len(), (3, cap));
        assert_eq!(c.get(&id(1), t0, age).map(|b| b[0]), Some(1));
        c.insert(id(3), &[3; 10], t0, cap, age);
        assert!(c.get(&id(0), t0, age).is_none(), "the oldest left");
        assert!(c.get(&id(3), t0, age).is_some());
        // A different id with the same prefix is not taken for it.
        let mut twin = id(3);
        twin.0[31] = 9;
        assert!(c.get(&twin, t0, age).is_none());
        // Past the age nothing is found, and the next insert clears them.
        let late = t0 + age;
        assert!(c.get(&id(3), late, age).is_none());
        c.insert(id(7), &[7; 10], late, cap, age);
        assert_eq!(c.len(), (1, 10 + ENTRY_OVERHEAD));
        // Too big alone: not kept.
        c.insert(id(8), &[8; 1000], late, cap, age);
        assert!(c.get(&id(8), late, age).is_none());
    }
}
