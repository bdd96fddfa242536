//! The dedup cache: which message ids were already handled.
//!
//! Membership is a hash set (looked up, never iterated, so its order cannot
//! leak into behaviour); expiry is a FIFO of insertion times, which are
//! monotonic, so both insert and expire are O(1) amortised. A hard cap evicts
//! the oldest entry first.
//!
//! Entries hold the first 128 bits of the id, not all 256: an id is a
//! SHA-256, so two messages share a prefix with probability 2^-128, and the
//! halved entries keep a busy node's cache (2^18 entries by default) twice as
//! dense in the CPU caches its lookups miss.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use crate::wire::MsgId;

/// Hashes an id prefix (already uniform: SHA-256 output) by mixing it with a
/// per-node key from the seed: deterministic, and no OS randomness.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdHashBuilder {
    key: u64,
}

#[derive(Debug)]
pub(crate) struct IdHasher {
    key: u64,
    state: u64,
}

impl BuildHasher for IdHashBuilder {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher {
            key: self.key,
            state: 0,
        }
    }
}

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        let x = (self.state ^ self.key).wrapping_mul(0x9e37_79b9_7f4a_7c15 | 1);
        x ^ (x >> 29)
    }

    fn write_u128(&mut self, v: u128) {
        self.state = (v as u64) ^ ((v >> 64) as u64).rotate_left(5);
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.state = self.state.rotate_left(5) ^ u64::from_le_bytes(b);
        }
    }
}

#[derive(Debug)]
pub(crate) struct SeenCache {
    set: HashSet<u128, IdHashBuilder>,
    order: VecDeque<(Instant, u128)>,
    ttl: Duration,
    cap: usize,
}

impl SeenCache {
    pub(crate) fn new(ttl: Duration, cap: usize, key: u64) -> SeenCache {
        SeenCache {
            set: HashSet::with_hasher(IdHashBuilder { key }),
            order: VecDeque::new(),
            ttl,
            cap: cap.max(1),
        }
    }

    pub(crate) fn contains(&self, id: &MsgId) -> bool {
        self.set.contains(&key(&id.0))
    }

    /// Whether bytes that claim to be an id (at least 16 of them) are one we hold.
    pub(crate) fn contains_raw(&self, claimed: &[u8]) -> bool {
        claimed.len() >= 16 && self.set.contains(&key(claimed))
    }

    /// Records `id`; `false` if it was already there.
    pub(crate) fn insert(&mut self, id: MsgId, now: Instant) -> bool {
        let id = key(&id.0);
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back((now, id));
        while self.order.len() > self.cap {
            if let Some((_, old)) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some((at, id)) = self.order.front().copied() {
            if now.saturating_duration_since(at) < self.ttl {
                break;
            }
            self.order.pop_front();
            self.set.remove(&id);
        }
        // Give memory back after a burst.
        if self.set.capacity() > 64 && self.set.len() < self.set.capacity() / 4 {
            self.set.shrink_to(self.set.len() * 2);
            self.order.shrink_to(self.order.len() * 2);
        }
    }

    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.order
            .front()
            .and_then(|(at, _)| at.checked_add(self.ttl))
    }

    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }
}

/// The cache's key for an id: its first 128 bits.
fn key(id: &[u8]) -> u128 {
    let mut prefix = [0u8; 16];
    prefix.copy_from_slice(&id[..16]);
    u128::from_le_bytes(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> MsgId {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_be_bytes());
        MsgId(b)
    }

    #[test]
    fn dedups_expires_and_caps() {
        #[allow(clippy::disallowed_methods)] // a test's time base
        let t0 = Instant::now();
        let mut s = SeenCache::new(Duration::from_secs(60), 3, 1);
        assert!(s.insert(id(1), t0));
        assert!(!s.insert(id(1), t0));
        s.insert(id(2), t0 + Duration::from_secs(10));
        s.insert(id(3), t0 + Duration::from_secs(20));
        s.insert(id(4), t0 + Duration::from_secs(30)); // evicts 1, the oldest
        assert!(!s.contains(&id(1)) && s.contains(&id(4)));
        assert_eq!(s.len(), 3);
        s.expire(t0 + Duration::from_secs(75)); // 2 (t=10) is 65 s old
        assert!(!s.contains(&id(2)) && s.contains(&id(3)));
        assert_eq!(s.next_expiry(), Some(t0 + Duration::from_secs(80)));
    }
}
