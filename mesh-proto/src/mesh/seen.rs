//! The dedup cache: which message ids were already handled.
//!
//! Ids are kept in a few generations, each a hash set (looked up, never
//! iterated, so its order cannot leak into behaviour), oldest first. New ids
//! go into the newest; a generation is closed after `ttl / GENERATIONS` or
//! `cap / GENERATIONS` ids, and leaves whole: when its newest id is `ttl`
//! old, or when the cap needs room (oldest first). No id is ever removed on
//! its own, and that is the point: evicting one id at a time touched the
//! evicted id's slot, a cache miss on every insert into a full cache (about
//! 90 ns of a 1 KiB relay). So an id is kept at least `ttl` and at most
//! `ttl + ttl / GENERATIONS` (unless the cap evicts it first), and a full
//! cache holds between `cap - cap / GENERATIONS` and `cap` ids.
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

/// Generations a full cache is split into.
const GENERATIONS: u32 = 4;

#[derive(Debug)]
struct Generation {
    ids: HashSet<u128, IdHashBuilder>,
    opened: Instant,
    /// When its newest id came in.
    last: Instant,
}

#[derive(Debug)]
pub(crate) struct SeenCache {
    /// Oldest first; the last one takes new ids.
    generations: VecDeque<Generation>,
    len: usize,
    ttl: Duration,
    cap: usize,
    /// Ids per generation, and how long one stays open.
    per_generation: usize,
    span: Duration,
    hasher: IdHashBuilder,
}

impl SeenCache {
    pub(crate) fn new(ttl: Duration, cap: usize, key: u64) -> SeenCache {
        let cap = cap.max(1);
        SeenCache {
            generations: VecDeque::new(),
            len: 0,
            ttl,
            cap,
            per_generation: cap.div_ceil(GENERATIONS as usize),
            // A floor, so a tiny ttl cannot open a generation per id (lookups
            // walk every generation).
            span: (ttl / GENERATIONS).max(Duration::from_millis(1)),
            hasher: IdHashBuilder { key },
        }
    }

    pub(crate) fn contains(&self, id: &MsgId) -> bool {
        self.holds(key(&id.0))
    }

    /// Whether bytes that claim to be an id (at least 16 of them) are one we hold.
    pub(crate) fn contains_raw(&self, claimed: &[u8]) -> bool {
        claimed.len() >= 16 && self.holds(key(claimed))
    }

    fn holds(&self, k: u128) -> bool {
        // Newest first: a duplicate is most often of a recent message.
        self.generations.iter().rev().any(|g| g.ids.contains(&k))
    }

    /// Records `id`; `false` if it was already there.
    pub(crate) fn insert(&mut self, id: MsgId, now: Instant) -> bool {
        if self.contains(&id) {
            return false;
        }
        self.insert_new(id, now);
        true
    }

    /// Records `id`, which the caller has just checked is not held: the
    /// receive path looks before hashing a frame, and need not look twice.
    pub(crate) fn insert_new(&mut self, id: MsgId, now: Instant) {
        let k = key(&id.0);
        debug_assert!(!self.holds(k), "insert_new of a held id");
        if self.len >= self.cap {
            self.evict_oldest();
        }
        let open = self.generations.back().is_some_and(|g| {
            g.ids.len() < self.per_generation && now.saturating_duration_since(g.opened) < self.span
        });
        if !open {
            // Sized like the one before it: a steady stream of ids does not
            // rehash its way up from empty in every generation.
            let size = self.generations.back().map_or(0, |g| g.ids.len());
            self.generations.push_back(Generation {
                ids: HashSet::with_capacity_and_hasher(size, self.hasher),
                opened: now,
                last: now,
            });
        }
        if let Some(g) = self.generations.back_mut() {
            g.ids.insert(k);
            g.last = g.last.max(now);
            self.len += 1;
        }
    }

    fn evict_oldest(&mut self) {
        if let Some(g) = self.generations.pop_front() {
            self.len -= g.ids.len();
        }
    }

    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some(g) = self.generations.front() {
            if now.saturating_duration_since(g.last) < self.ttl {
                break;
            }
            self.evict_oldest();
        }
    }

    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.generations
            .front()
            .and_then(|g| g.last.checked_add(self.ttl))
    }

    pub(crate) fn len(&self) -> usize {
        self.len
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
        let at = |s| t0 + Duration::from_secs(s);
        // Cap 3: one id per generation, so eviction is one at a time.
        let mut s = SeenCache::new(Duration::from_secs(60), 3, 1);
        assert!(s.insert(id(1), t0));
        assert!(!s.insert(id(1), t0));
        s.insert(id(2), at(10));
        s.insert(id(3), at(20));
        s.insert(id(4), at(30)); // evicts 1, the oldest
        assert!(!s.contains(&id(1)) && s.contains(&id(4)));
        assert_eq!(s.len(), 3);
        s.expire(at(75)); // 2 (t=10) is 65 s old
        assert!(!s.contains(&id(2)) && s.contains(&id(3)));
        assert_eq!(s.next_expiry(), Some(at(80)));
    }

    #[test]
    fn generations_leave_whole_and_never_early() {
        #[allow(clippy::disallowed_methods)] // a test's time base
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut s = SeenCache::new(Duration::from_secs(60), 400, 1);
        // 300 ids over 30 s: generations close every 100 ids or 15 s.
        for n in 0..300 {
            assert!(s.insert(id(n), at(u64::from(n) * 100)));
        }
        assert_eq!(s.len(), 300);
        // Nothing leaves before its generation's newest id is 60 s old.
        s.expire(at(60_000 + 9_900 - 1));
        assert_eq!(s.len(), 300);
        s.expire(at(60_000 + 9_900));
        assert_eq!(s.len(), 200);
        assert!(!s.contains(&id(99)) && s.contains(&id(100)));
        // The cap takes the oldest generation whole: a full cache keeps 3/4 to all.
        for n in 300..500 {
            assert!(s.insert(id(n), at(70_000)));
        }
        assert_eq!(s.len(), 400);
        assert!(s.insert(id(500), at(70_000)));
        assert_eq!(s.len(), 301);
        assert!(!s.contains(&id(199)) && s.contains(&id(200)) && s.contains(&id(500)));
        for n in 401..10_000 {
            s.insert(id(n), at(70_000));
            assert!(s.len() <= 400 && s.len() >= 300 - 1, "{}", s.len());
        }
        s.expire(at(130_000));
        assert_eq!((s.len(), s.next_expiry()), (0, None));
    }
}
