//! The dedup cache: which message ids were already handled.
//!
//! One flat table of 64-byte buckets (a cache line each) of eight 8-byte
//! entries. An id has two candidate buckets (a keyed hash of its
//! fingerprint) and is stored in the one with fewer live entries. At the
//! default cap the table is 4 MiB, far past the CPU's own caches, so a
//! lookup is a trip to memory (about 100 ns here). Two things hide it:
//! - a small table of the most recent ids (sets of 8, first in first out),
//!   which stays in cache, answers for the duplicates a mesh mostly sends (a
//!   copy of a broadcast arrives from each neighbour within milliseconds),
//!   before the frame is hashed. An id stays in it for about the next 10,000
//!   ids (nearly always past 8,000, rarely past 16,000); a copy arriving
//!   later is hashed, then found;
//! - for a frame that is not a recent duplicate, [`SeenCache::quick_check`]
//!   starts loading its two buckets, and the lookup after the SHA-256 finds
//!   them loaded.
//!
//! An entry is a 56-bit fingerprint of the id (of its first 16 bytes: an id
//! is a SHA-256, already uniform) and an 8-bit generation tag. Ids are kept in a
//! few generations: new ids go into the newest; a generation is closed after
//! `ttl / GENERATIONS` or `cap / GENERATIONS` ids, and leaves whole, when its
//! newest id is `ttl` old or when the cap needs room (oldest first). Tags are
//! handed out in turn and generations leave oldest first, so the live tags
//! are always one run, `oldest_tag` and the next few: an entry is live when
//! its tag is in the run (a subtraction and a compare). Leaving only moves
//! the run's start: the generation's entries are dead at once, free for new
//! ids, and zeroed by a sweep that walks a slice of the tables each
//! time a generation opens (so no tag comes back while entries of its last
//! use remain). So an id is kept at least `ttl` and at most
//! `ttl + ttl / GENERATIONS` (unless the cap evicts it first), and a full
//! cache holds between `cap - cap / GENERATIONS` and `cap` ids.
//!
//! Why 56 bits: a fresh id is compared with at most 24 entries, so it is
//! taken for a duplicate with probability below 2^-51. Ids cannot be aimed
//! at one another either: matching a known id's fingerprint takes ~2^56
//! hashes, and only gets the forger's own message dropped.
//!
//! The table grows (doubling) to keep at most [`MAX_LOAD`] live ids per
//! bucket on average, up to what `cap` needs, and shrinks when mostly empty.
//! At that load two choices overflow a bucket pair practically never; if one
//! does, the oldest entry in the pair gives way (counted in `forced`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::wire::MsgId;

/// Generations a full cache is split into.
const GENERATIONS: u32 = 4;
/// Entries per bucket: 8 × 8 bytes, one cache line.
const SLOTS: usize = 8;
/// Live ids per bucket, on average, before the table doubles: half full,
/// 16 bytes an id (at 2 it was 32, and a line of three nodes at the cap
/// held 1.6x the memory of one at 100,000 ids). Two choices still never
/// overflow a pair at this load (`a_full_default_cache_never_overflows_a_bucket_pair`).
const MAX_LOAD: usize = 4;
const MIN_BUCKETS: usize = 4;
/// Most entries in the recent table: 128 KiB, which stays in cache.
const MAX_RECENT: usize = 1 << 14;
/// The low byte of an entry: its generation's tag.
const TAG: u64 = 0xff;

#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Bucket([u64; SLOTS]);

#[derive(Debug)]
struct Generation {
    tag: u8,
    /// Its live entries.
    count: usize,
    /// When it stops taking new ids (`span` after it opened), if ever:
    /// a compare per insert rather than a subtraction.
    closes: Option<Instant>,
    /// When its newest id came in.
    last: Instant,
}

/// An id's fingerprint and keyed hash, worked out once per frame and good
/// for any table size (the table may grow between a look and an insert).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe {
    fp: u64,
    z: u64,
}

/// Where an id's fingerprint may sit in the tables as they are.
#[derive(Clone, Copy)]
struct Places {
    fp: u64,
    a: usize,
    b: usize,
    recent: usize,
}

#[derive(Debug)]
pub(crate) struct SeenCache {
    /// A power of two long, or empty before the first id.
    buckets: Vec<Bucket>,
    /// The newest ids, in sets of 8 that each drop their oldest: a set per
    /// 4 buckets, up to [`MAX_RECENT`] entries (a power of two long, or
    /// empty with the buckets).
    recent: Vec<Bucket>,
    /// Each recent set's next slot to fill.
    recent_next: Vec<u8>,
    /// Oldest first; the last one takes new ids.
    generations: VecDeque<Generation>,
    /// The live generations' tags: `live_tags` of them from `oldest_tag`
    /// on (wrapping). The same as `generations`', kept apart because reading
    /// them from the deque on each insert measured about 10 ns slower.
    oldest_tag: u8,
    live_tags: u16,
    next_tag: u8,
    /// The next bucket, and recent set, the sweep zeroes dead entries in.
    sweep_at: usize,
    recent_sweep_at: usize,
    len: usize,
    ttl: Duration,
    cap: usize,
    /// Ids per generation, and how long one stays open.
    per_generation: usize,
    span: Duration,
    /// Buckets for a full cache.
    max_buckets: usize,
    /// Mixed into bucket choice: per node, from the seed (no OS randomness).
    key: u64,
    /// Live entries pushed out early by a full bucket pair.
    forced: u64,
}

impl SeenCache {
    pub(crate) fn new(ttl: Duration, cap: usize, key: u64) -> SeenCache {
        let cap = cap.max(1);
        SeenCache {
            buckets: Vec::new(),
            recent: Vec::new(),
            recent_next: Vec::new(),
            generations: VecDeque::new(),
            oldest_tag: 0,
            live_tags: 0,
            next_tag: 0,
            sweep_at: 0,
            recent_sweep_at: 0,
            len: 0,
            ttl,
            cap,
            per_generation: cap.div_ceil(GENERATIONS as usize),
            // A floor, so a tiny ttl cannot open a generation per id.
            span: (ttl / GENERATIONS).max(Duration::from_millis(1)),
            max_buckets: buckets_for(cap),
            key,
            forced: 0,
        }
    }

    /// What every look and insert for `id` starts from.
    pub(crate) fn probe(&self, id: &[u8; 32]) -> Probe {
        self.probe_fingerprint(fingerprint(id))
    }

    fn probe_fingerprint(&self, fp: u64) -> Probe {
        Probe {
            fp,
            z: mix(fp ^ self.key),
        }
    }

    /// Whether bytes that claim to be an id are one of the ids recorded most
    /// recently: a cheap look, before the frame is hashed. When they are not,
    /// starts loading what [`holds`] will read (call it next, once the frame
    /// is verified).
    ///
    /// [`holds`]: SeenCache::holds
    pub(crate) fn quick_check(&self, probe: Probe) -> bool {
        if self.len == 0 {
            return false;
        }
        let p = self.places(probe);
        if self.recent[p.recent]
            .0
            .iter()
            .any(|&e| e & !TAG == p.fp && self.is_live(e))
        {
            return true;
        }
        prefetch(&self.buckets[p.a]);
        prefetch(&self.buckets[p.b]);
        false
    }

    /// Starts loading every line a look or an insert of the id `probe` was
    /// made from will read, and returns at once; changes nothing.
    pub(crate) fn prefetch(&self, probe: Probe) {
        if self.len == 0 {
            return;
        }
        let p = self.places(probe);
        prefetch(&self.recent[p.recent]);
        prefetch(&self.buckets[p.a]);
        prefetch(&self.buckets[p.b]);
    }

    pub(crate) fn contains(&self, id: &MsgId) -> bool {
        self.holds(self.probe(&id.0))
    }

    /// Whether the id `probe` was made from is held.
    pub(crate) fn holds(&self, probe: Probe) -> bool {
        if self.len == 0 {
            return false;
        }
        let p = self.places(probe);
        let (a, b) = (&self.buckets[p.a].0, &self.buckets[p.b].0);
        a.iter()
            .chain(b.iter())
            .any(|&e| e & !TAG == p.fp && self.is_live(e))
    }

    /// Records `id`; `false` if it was already there.
    pub(crate) fn insert(&mut self, id: MsgId, now: Instant) -> bool {
        if self.contains(&id) {
            return false;
        }
        self.insert_new(self.probe(&id.0), now);
        true
    }

    /// Records the id `probe` was made from, which the caller has just
    /// checked is not held: the receive path looks before parsing a frame,
    /// and need not look twice.
    pub(crate) fn insert_new(&mut self, probe: Probe, now: Instant) {
        debug_assert!(!self.holds(probe), "insert_new of a held id");
        if self.len >= self.cap {
            self.evict_oldest();
        }
        let open = self
            .generations
            .back()
            .is_some_and(|g| g.count < self.per_generation && g.closes.is_none_or(|t| now < t));
        if !open {
            self.open_generation(now);
        }
        if self.len + 1 > self.buckets.len() * MAX_LOAD && self.buckets.len() < self.max_buckets {
            self.rebuild((self.buckets.len() * 2).max(MIN_BUCKETS));
        }
        let tag = match self.generations.back_mut() {
            Some(g) => {
                g.count += 1;
                g.last = g.last.max(now);
                g.tag
            }
            None => return,
        };
        self.len += 1;
        let entry = probe.fp | u64::from(tag);
        let p = self.places(probe);
        self.remember_recent(entry, p);
        self.place(entry, p);
    }

    fn open_generation(&mut self, now: Instant) {
        let tag = self.next_tag;
        self.next_tag = tag.wrapping_add(1);
        debug_assert!(self.live_tags < 256, "more live generations than tags");
        if self.live_tags == 0 {
            self.oldest_tag = tag;
        }
        self.live_tags += 1;
        self.generations.push_back(Generation {
            tag,
            count: 0,
            closes: now.checked_add(self.span),
            last: now,
        });
        // Mostly empty (a burst long gone): give the memory back.
        let fit = buckets_for(self.len);
        if self.buckets.len() >= 8 * fit {
            self.rebuild(2 * fit);
        }
        self.sweep();
    }

    /// Zeroes dead entries in the next 1/64 of each table. A generation
    /// opens at most every millisecond or `cap / 4` ids, and only a handful
    /// are live at once: every dead entry is gone long before its tag (one of
    /// 256) comes back.
    fn sweep(&mut self) {
        let n = self.buckets.len();
        for _ in 0..n.div_ceil(64) {
            self.buckets[self.sweep_at] = self.without_dead(self.buckets[self.sweep_at]);
            self.sweep_at = (self.sweep_at + 1) & (n - 1);
        }
        let n = self.recent.len();
        for _ in 0..n.div_ceil(64) {
            self.recent[self.recent_sweep_at] =
                self.without_dead(self.recent[self.recent_sweep_at]);
            self.recent_sweep_at = (self.recent_sweep_at + 1) & (n - 1);
        }
    }

    /// The bucket with entries of gone generations zeroed (empty).
    fn without_dead(&self, mut bucket: Bucket) -> Bucket {
        for e in &mut bucket.0 {
            if !self.is_live(*e) {
                *e = 0;
            }
        }
        bucket
    }

    /// Moves every live entry into a table of `buckets` buckets, and the
    /// recent ids into a recent table sized for it.
    fn rebuild(&mut self, buckets: usize) {
        let old = std::mem::replace(&mut self.buckets, vec![Bucket::default(); buckets]);
        let sets = (buckets / 4).clamp(1, MAX_RECENT / SLOTS);
        let old_recent = if sets == self.recent.len() {
            Vec::new()
        } else {
            self.recent_next = vec![0; sets];
            std::mem::replace(&mut self.recent, vec![Bucket::default(); sets])
        };
        (self.sweep_at, self.recent_sweep_at) = (0, 0);
        if buckets == 2 * old.len() {
            self.split(&old);
        } else {
            for e in old.iter().flat_map(|b| b.0) {
                if self.is_live(e) {
                    self.place(e, self.places(self.probe_fingerprint(e & !TAG)));
                }
            }
        }
        for e in old_recent.iter().flat_map(|b| b.0) {
            if self.is_live(e) {
                self.remember_recent(e, self.places(self.probe_fingerprint(e & !TAG)));
            }
        }
    }

    /// Fills a table twice `old`'s size from `old`, in one pass over both.
    /// Each of an id's places in the doubled table is its old place, or that
    /// plus `old.len()`: an entry stays at the same one of its two choices,
    /// so old bucket `i` goes to new buckets `i` and `i + old.len()` and
    /// nothing else goes there. Placing each entry afresh (the emptier of
    /// its two buckets) read two random lines an entry: growing to the
    /// default cap that way cost about as much as the inserts that filled it.
    fn split(&mut self, old: &[Bucket]) {
        let n = old.len();
        for (i, bucket) in old.iter().enumerate() {
            let mut filled = [0usize; 2];
            for &e in &bucket.0 {
                if !self.is_live(e) {
                    continue;
                }
                let p = self.places(self.probe_fingerprint(e & !TAG));
                let to = if p.a & (n - 1) == i { p.a } else { p.b };
                let half = usize::from(to != i);
                self.buckets[to].0[filled[half]] = e;
                filled[half] += 1;
            }
        }
    }

    /// Puts `entry` in its recent set, in place of the set's oldest.
    fn remember_recent(&mut self, entry: u64, p: Places) {
        let slot = self.recent_next[p.recent];
        self.recent[p.recent].0[usize::from(slot)] = entry;
        self.recent_next[p.recent] = (slot + 1) % SLOTS as u8;
    }

    /// Stores `entry` in the emptier of its two buckets.
    fn place(&mut self, entry: u64, p: Places) {
        let (la, fa) = self.occupancy(p.a);
        let (lb, fb) = self.occupancy(p.b);
        let free = if lb < la { (p.b, fb) } else { (p.a, fa) };
        if let (i, Some(slot)) = free {
            self.buckets[i].0[slot] = entry;
            return;
        }
        // Both full of live ids: the oldest of the 16 gives way.
        let oldest = self.generations.front().map_or(0, |g| g.tag);
        let age = |e: u64| (e as u8).wrapping_sub(oldest);
        let (bi, slot) = [p.a, p.b]
            .into_iter()
            .flat_map(|bi| (0..SLOTS).map(move |s| (bi, s)))
            .min_by_key(|&(bi, s)| age(self.buckets[bi].0[s]))
            .unwrap_or((p.a, 0));
        let victim = self.buckets[bi].0[slot] as u8;
        if let Some(g) = self.generations.iter_mut().find(|g| g.tag == victim) {
            g.count -= 1;
            self.len -= 1;
        }
        self.forced += 1;
        self.buckets[bi].0[slot] = entry;
    }

    /// A bucket's live entries, and its first free slot. Without branches:
    /// which entries are live is a coin toss a branch would mispredict.
    fn occupancy(&self, i: usize) -> (usize, Option<usize>) {
        let live = self.buckets[i]
            .0
            .iter()
            .enumerate()
            .fold(0u8, |m, (slot, &e)| m | u8::from(self.is_live(e)) << slot);
        let free = (live != u8::MAX).then(|| (!live).trailing_zeros() as usize);
        (live.count_ones() as usize, free)
    }

    /// Where a probed id may sit; the tables must not be empty.
    fn places(&self, probe: Probe) -> Places {
        let (fp, z) = (probe.fp, probe.z);
        let mask = self.buckets.len() - 1;
        Places {
            fp,
            a: z as usize & mask,
            b: (z >> 32) as usize & mask,
            recent: (z >> 16) as usize & (self.recent.len() - 1),
        }
    }

    fn is_live(&self, entry: u64) -> bool {
        // `&`, not `&&`: no branch.
        (entry != 0) & self.tag_live(entry as u8)
    }

    fn tag_live(&self, tag: u8) -> bool {
        u16::from(tag.wrapping_sub(self.oldest_tag)) < self.live_tags
    }

    fn evict_oldest(&mut self) {
        if let Some(g) = self.generations.pop_front() {
            self.len -= g.count;
            debug_assert_eq!(g.tag, self.oldest_tag);
            self.oldest_tag = g.tag.wrapping_add(1);
            self.live_tags -= 1;
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

/// Buckets that hold `ids` at [`MAX_LOAD`]: a power of two.
fn buckets_for(ids: usize) -> usize {
    ids.div_ceil(MAX_LOAD).next_power_of_two().max(MIN_BUCKETS)
}

/// An id's entry without its tag: its first 16 bytes mixed down to 56 bits
/// (so a change to any of them changes it), never zero (an empty slot).
fn fingerprint(id: &[u8; 32]) -> u64 {
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&id[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let fp = mix(word(0) ^ word(8).rotate_left(32)) & !TAG;
    if fp == 0 { 1 << 8 } else { fp }
}

/// splitmix64's finalizer: every output bit depends on every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Asks the CPU to start loading `bucket`'s cache line, and returns at once.
/// The one `unsafe` in the crate, for a measured reason: a lookup in the
/// 4 MiB table waits on memory, and issued before the frame's SHA-256 that
/// wait overlaps the hashing. Relay bench, same run, with and without it: a
/// fresh broadcast 470 vs 583 ns (100 B) and 1,031 vs 1,179 ns (1 KiB).
#[allow(unsafe_code)]
#[inline]
fn prefetch(bucket: &Bucket) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` is only a hint: it never faults, writes
    // nothing and returns nothing, and the address comes from a reference.
    // SSE, which it needs, is part of every x86-64 CPU.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(bucket).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bucket;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> MsgId {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_be_bytes());
        MsgId(b)
    }

    /// A test's time base.
    #[allow(clippy::disallowed_methods)]
    fn base() -> Instant {
        Instant::now()
    }

    #[test]
    fn dedups_expires_and_caps() {
        let t0 = base();
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
        let t0 = base();
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

    /// A distinct, SHA-like id: fingerprints spread over the table.
    fn random_id(n: u64) -> MsgId {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&mix(n).to_le_bytes());
        b[8..16].copy_from_slice(&mix(!n).to_le_bytes());
        MsgId(b)
    }

    #[test]
    fn a_full_default_cache_never_overflows_a_bucket_pair() {
        let t0 = base();
        let cap = 1 << 18;
        let mut s = SeenCache::new(Duration::from_secs(60), cap, 7);
        for n in 0..(3 * cap as u64) {
            assert!(s.insert(random_id(n), t0));
        }
        assert_eq!(s.forced, 0);
        assert_eq!(s.buckets.len(), s.max_buckets);
        // The newest three quarters of the cap are all held.
        let held = (3 * cap as u64 - 3 * cap as u64 / 4..3 * cap as u64)
            .all(|n| s.contains(&random_id(n)));
        assert!(held && s.len() >= cap - cap / 4 && s.len() <= cap);
    }

    #[test]
    fn tags_come_back_with_no_ghosts() {
        let t0 = base();
        // ttl 4 ms: a generation per ms, so tags (256) wrap many times.
        let mut s = SeenCache::new(Duration::from_millis(4), 1 << 12, 3);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        for ms in 0..3000u64 {
            for k in 0..8 {
                assert!(s.insert(random_id(ms * 8 + k), at(ms)), "ghost at {ms} ms");
            }
            s.expire(at(ms));
            // Expired ids are not held, above all those whose generation's
            // tag has just come back (a generation a ms: 256 ms ago).
            for back in [6, 256, 257, 258, 259, 512] {
                if let Some(then) = ms.checked_sub(back) {
                    let ghost = (0..8).find(|k| s.contains(&random_id(then * 8 + k)));
                    assert_eq!(ghost, None, "an id from {then} ms held at {ms} ms");
                }
            }
        }
    }

    #[test]
    fn a_full_bucket_pair_gives_up_its_oldest_entry() {
        let t0 = base();
        let mut s = SeenCache::new(Duration::from_secs(60), 1 << 20, 5);
        s.max_buckets = MIN_BUCKETS; // a table that cannot grow: 32 slots
        s.rebuild(MIN_BUCKETS);
        // 17 ids whose two buckets are 0 and 1, each in its own generation.
        let crowded: Vec<MsgId> = (0..)
            .map(random_id)
            .filter(|id| {
                let p = s.places(s.probe(&id.0));
                p.a.max(p.b) == 1 && p.a != p.b
            })
            .take(17)
            .collect();
        for (n, id) in crowded.iter().enumerate() {
            assert!(s.insert(*id, t0 + Duration::from_secs(16 * n as u64)));
        }
        assert_eq!(s.forced, 1);
        assert!(!s.contains(&crowded[0]));
        assert!(crowded[1..].iter().all(|id| s.contains(id)));
        assert_eq!((s.len(), s.buckets.len()), (16, MIN_BUCKETS));
    }

    #[test]
    fn the_table_grows_with_its_ids_and_gives_memory_back() {
        let t0 = base();
        let mut s = SeenCache::new(Duration::from_secs(60), 1 << 18, 9);
        assert_eq!((s.buckets.len(), s.recent.len()), (0, 0));
        for n in 0..10_000 {
            s.insert(random_id(n), t0);
        }
        assert_eq!(s.buckets.len(), buckets_for(10_000));
        assert_eq!(s.recent.len(), buckets_for(10_000) / 4);
        // A burst long gone: the next generation finds the table mostly empty.
        s.expire(t0 + Duration::from_secs(61));
        assert_eq!(s.len(), 0);
        assert!(s.insert(random_id(10_000), t0 + Duration::from_secs(61)));
        assert_eq!(s.buckets.len(), 2 * MIN_BUCKETS);
        assert!(s.contains(&random_id(10_000)) && !s.contains(&random_id(0)));
    }

    #[test]
    fn recent_ids_are_known_before_hashing() {
        let t0 = base();
        let mut s = SeenCache::new(Duration::from_secs(60), 1 << 18, 11);
        for n in 0..40_000 {
            s.insert(random_id(n), t0);
        }
        let quick = |from: u64, to: u64| {
            let hits = (from..to)
                .filter(|&n| s.quick_check(s.probe(&random_id(n).0)))
                .count();
            hits as f64 / (to - from) as f64
        };
        // The newest 8,000 are nearly all there, 16,000 back most are gone.
        assert!(quick(32_000, 40_000) > 0.95, "{}", quick(32_000, 40_000));
        assert!(quick(20_000, 24_000) < 0.5, "{}", quick(20_000, 24_000));
        assert!((0..40_000).all(|n| s.contains(&random_id(n))));
        assert!(!s.quick_check(s.probe(&random_id(40_000).0)));
    }
}
