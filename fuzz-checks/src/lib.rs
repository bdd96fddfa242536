//! Property checks shared by the cargo-fuzz targets in `fuzz/` and the stable
//! corpus-replay test, so both run exactly the same assertions.
//!
//! Each function panics when a property fails; that is how a fuzzer reports.

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;

use mesh_proto::mesh::{
    Config, ConnId, Event, Handled, HandlerCx, Mesh, Message, Output, PeerAddr, PeerId, ReplyTo,
    SendError,
};
use mesh_proto::wire::{
    Compression, Decoded, Deframer, Encryption, Frame, Limits, MainFlag, MsgId, Protocol,
    SenderForm, SubFlag, Value, base58_int, decode_frame, encode_value, parse_body,
    parse_body_with,
};

/// Decode arbitrary bytes as a whole frame. On success: encoding the content
/// again and decoding that gives the same content; when the original body was
/// in canonical form the bytes and id are identical too. The bytes as a body,
/// and a decoded frame's body, parse the same way lean (as a relay-only node
/// parses) as in full.
pub fn decode_frame_roundtrip(data: &[u8]) {
    let limits = Limits::default();
    lean_parse_agrees(&Bytes::copy_from_slice(data), &limits);
    let Ok(first) = decode_frame(
        Bytes::copy_from_slice(data),
        Compression::supported(),
        &limits,
    ) else {
        return;
    };
    let (bytes, id) = first
        .frame
        .encode_with_id(None)
        .expect("a decoded frame always encodes");
    lean_parse_agrees(&first.body, &limits);
    let second = decode_frame(bytes, &[], &limits).expect("our own encoding decodes");
    assert_same_content(&first, &second);
    if second.body == first.body {
        assert_eq!(id, first.id, "same body, different id");
    }
    if let Some(method) = first.compression {
        let again = first.frame.encode(Some(method)).expect("compresses");
        let third =
            decode_frame(again, &[method], &limits).expect("compressed re-encoding decodes");
        assert_same_content(&first, &third);
        assert_eq!(third.compression, Some(method));
    }
}

/// A parse that builds no packets fails exactly when, and as, a full parse
/// does, and otherwise reads the same header.
fn lean_parse_agrees(body: &Bytes, limits: &Limits) {
    let lean = parse_body_with(body, limits, |_, _| false);
    match (parse_body(body, limits), lean) {
        (Ok(full), Ok(lean)) => {
            assert!(lean.payload.is_empty(), "a lean parse built packets");
            assert_eq!(
                (full.msg_type, &full.sender, full.time),
                (lean.msg_type, &lean.sender, lean.time),
                "a lean parse read another header"
            );
        }
        (full, lean) => assert_eq!(full.err(), lean.err(), "a lean parse disagrees"),
    }
}

/// Feed a stream to a deframer in the chunk sizes named by the first bytes of
/// `data`: the frames that come out are the same as when it is fed whole.
pub fn deframe_splits(data: &[u8]) {
    let Some((&n_splits, rest)) = data.split_first() else {
        return;
    };
    let n_splits = usize::from(n_splits % 16).min(rest.len());
    let (sizes, stream) = rest.split_at(n_splits);
    let limits = Limits {
        max_frame: 1 << 16,
        ..Limits::default()
    };
    let whole = drain_all(&limits, std::iter::once(stream), Feed::Borrowed);
    let mut chunks = Vec::new();
    let mut at = 0;
    for (i, s) in sizes.iter().cycle().take(stream.len().max(1)).enumerate() {
        if at >= stream.len() {
            break;
        }
        let size = (usize::from(*s) + i % 3).clamp(1, stream.len() - at);
        chunks.push(&stream[at..at + size]);
        at += size;
    }
    if at < stream.len() {
        chunks.push(&stream[at..]);
    }
    for feed in [Feed::Borrowed, Feed::Owned, Feed::Alternating] {
        let split = drain_all(&limits, chunks.iter().copied(), feed);
        assert_eq!(whole, split, "chunking changed the frames");
    }
    for frame in whole.0 {
        let _ = decode_frame(frame, Compression::supported(), &limits);
    }
}

type Drained = (Vec<Bytes>, Option<String>);

/// How chunks are handed to the deframer.
#[derive(Clone, Copy)]
enum Feed {
    Borrowed,
    Owned,
    /// Owned and borrowed in turn: partial frames move between the two.
    Alternating,
}

fn drain_all<'a>(limits: &Limits, chunks: impl Iterator<Item = &'a [u8]>, feed: Feed) -> Drained {
    let mut d = Deframer::new(limits);
    let mut frames = Vec::new();
    for (i, chunk) in chunks.enumerate() {
        match feed {
            Feed::Owned => d.feed_bytes(Bytes::copy_from_slice(chunk)),
            Feed::Alternating if i % 2 == 0 => d.feed_bytes(Bytes::copy_from_slice(chunk)),
            _ => d.feed(chunk),
        }
        loop {
            match d.next_frame() {
                Ok(Some(f)) => {
                    assert!(f.len() >= 4 && f.len() - 4 <= limits.max_frame);
                    frames.push(f);
                }
                Ok(None) => break,
                Err(e) => return (frames, Some(e.to_string())),
            }
        }
    }
    (frames, None)
}

fn assert_same_content(a: &Decoded, b: &Decoded) {
    assert_eq!(a.frame.msg_type, b.frame.msg_type);
    assert_eq!(a.frame.sender, b.frame.sender);
    assert_eq!(b.frame.sender_form, SenderForm::Bin);
    assert_eq!(a.frame.time, b.frame.time);
    // Compare packets by their canonical encoding: NaN != NaN as a value.
    assert_eq!(canonical(&a.frame.payload), canonical(&b.frame.payload));
}

fn canonical(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(&mut out, &Value::Array(values.to_vec())).expect("decoded values encode");
    out
}

// ---------------------------------------------------------------------------
// The `mesh` target: one `Mesh` driven by an op-code program.
// ---------------------------------------------------------------------------

/// Ops run per input, at most: every run stays fast.
const MAX_OPS: usize = 256;
/// The mesh's own cap on lost peers redialed at once (`mesh::MAX_LOST`).
const MAX_LOST: usize = 16;
/// Wall-clock seconds at the start of every run.
const UNIX_BASE: u64 = 1_764_000_000;
/// What the time-advance op may add: around every deadline, and large jumps.
const STEPS: [Duration; 16] = [
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_millis(999),
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_millis(9_999),
    Duration::from_secs(10),
    Duration::from_secs(30),
    Duration::from_millis(59_999),
    Duration::from_secs(60),
    Duration::from_secs(61),
    Duration::from_secs(600),
    Duration::from_secs(3_600),
    Duration::from_secs(7 * 86_400),
];

/// Drives one [`Mesh`] with a program read from `data` (at most 256 ops) and
/// checks after every op that it stays within its bounds and that what it
/// tells its runtime is consistent:
///
/// - no panic; the dedup cache, receive queue, pending replies and known
///   addresses within their caps; inbound connections within `max_inbound`
///   (an accept over it is refused);
/// - `Transmit` only on an open connection whose dial finished, always one
///   frame that decodes, never past `max_queued_bytes` unwritten;
/// - every connection id in an output was allocated, ids are never reused;
///   the connection table, outgoing count and unwritten bytes per connection
///   agree with what the outputs said (`Dial` opens, `Close`/`DialFailed`
///   closes, and `Rejected`/`ProtocolViolation` come after their `Close`);
/// - the mesh's own `Dial`s in one op: at most `MAX_LOST` lost-peer redials,
///   plus `2 * max_outgoing` from healing or peer exchange (both gated on the
///   outgoing target, at most twice `max_outgoing`), plus one per pending
///   reply whose route response arrived;
/// - `handle_timeout` before `poll_timeout` does nothing, and right after it
///   `poll_timeout` is later than `now`; after an hour of quiet nothing is
///   pending or remembered and healing is the only timer left.
///
/// Layout: `[seed, flags, knobs, op, args..., op, args..., ...]`; missing bytes
/// read as zero. `flags`: bits 0-4 pick our compression methods (py2p order:
/// snappy, zlib, gzip, bz2, lzma; bz2 and lzma only together), bit 5 adds an
/// application handler, bit 6 shrinks the dedup cache to 2 ids, bit 7 closes
/// on the first undecodable frame. `knobs`: bits 0-1 `max_known_addrs` (16, 4,
/// 1, 0), bits 2-3 `recv_queue_cap` (8, 1, 0, 8), bits 4-5
/// `max_pending_replies` (4, 1, 0, 4), bits 6-7 `max_outgoing` (4, 1, 2, 0).
/// The rest of the config is small too (64 ids, 4 inbound, 3 pending
/// handshakes, 16 KiB unwritten, 8 peers per list, 64 KiB frames). The op
/// codes are in `MeshRun::step`; `fuzz/make_seed_corpus.py` writes programs.
pub fn mesh_ops(data: &[u8]) {
    let mut input = Input { data, at: 0 };
    let mut run = MeshRun::new(&mut input);
    for _ in 0..MAX_OPS {
        if input.done() {
            break;
        }
        run.step(&mut input);
    }
    run.finish();
}

/// The program being read.
struct Input<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Input<'a> {
    fn done(&self) -> bool {
        self.at >= self.data.len()
    }

    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at = (self.at + 1).min(self.data.len());
        b
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let end = (self.at + n).min(self.data.len());
        let s = &self.data[self.at..end];
        self.at = end;
        s
    }
}

/// What the runtime knows of one connection.
#[derive(Default)]
struct ConnState {
    inbound: bool,
    dialing: bool,
    /// Bytes transmitted and not yet reported written.
    queued: usize,
    /// The rest of a frame fed in part.
    rest: Vec<u8>,
}

/// Which open connections an op may pick.
#[derive(Clone, Copy, PartialEq)]
enum Want {
    /// Connected (not dialing): may read and write.
    Connected,
    /// A dial whose result is not reported yet.
    Dialing,
}

/// The limits the run checks against.
struct Caps {
    seen: usize,
    recv_queue: usize,
    inbound: usize,
    queued_bytes: usize,
    pending_replies: usize,
    known_addrs: usize,
    outgoing: usize,
    lazy_missing: usize,
    lazy_cache_bytes: usize,
}

struct MeshRun {
    mesh: Mesh,
    caps: Caps,
    protocol_id: Bytes,
    now: Instant,
    ids: Vec<Bytes>,
    open: BTreeMap<ConnId, ConnState>,
    allocated: BTreeSet<ConnId>,
    history: Vec<ConnId>,
    last_id: u64,
    closed: bool,
    /// Route requests the mesh sent: (request id, target id).
    requests: Vec<(Bytes, Bytes)>,
    /// Recent frames the mesh transmitted, to echo back.
    sent: Vec<Bytes>,
    /// Recent messages taken with `recv`, to reply to.
    inbox: Vec<Message>,
}

/// 16 KiB of incompressible bytes (xorshift), made once.
fn noise() -> &'static [u8] {
    static NOISE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    NOISE.get_or_init(|| {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        (0..(255 * 64 + 64) / 8)
            .flat_map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()
            })
            .collect()
    })
}

/// Keeps the last `cap` items.
fn push_ring<T>(v: &mut Vec<T>, item: T, cap: usize) {
    if v.len() >= cap {
        v.remove(0);
    }
    v.push(item);
}

/// An application handler, so its re-entrant sends and replies are fuzzed too.
fn app_handler(msg: &Message, cx: &mut HandlerCx<'_>) -> Handled {
    let tag = msg
        .packets
        .get(1)
        .and_then(Value::as_bin)
        .and_then(|b| b.first().copied());
    match tag {
        Some(b'R') => {
            let _ = cx.reply(msg, vec![Value::from("re")]);
            Handled::Consumed
        }
        Some(b'S') => {
            let _ = cx.send(vec![Value::from("fwd")], MainFlag::Broadcast);
            Handled::Consumed
        }
        Some(b'D') => {
            let _ = cx.send_direct(
                MainFlag::Whisper,
                SubFlag::Whisper,
                vec![Value::from("direct")],
            );
            Handled::Consumed
        }
        Some(b'C') => Handled::Consumed,
        _ => Handled::Pass,
    }
}

impl MeshRun {
    fn new(input: &mut Input<'_>) -> MeshRun {
        let seed = input.byte();
        let flags = input.byte();
        let knobs = input.byte();
        let pick = |shift: u32, values: [usize; 4]| values[usize::from((knobs >> shift) & 3)];
        let protocol = Protocol::new("fuzz", Encryption::Plaintext);
        let mut cfg = Config::new(protocol, PeerAddr::new("10.0.0.1", 4444));
        // bz2 and lzma are slow (and allocate megabytes) per frame: both or
        // neither, so most runs stay quick.
        let mask = if flags & 0x18 == 0x18 {
            flags & 0x1f
        } else {
            flags & 0x07
        };
        cfg.compression = Compression::ALL
            .iter()
            .enumerate()
            .filter(|(i, m)| mask & (1 << i) != 0 && m.is_supported())
            .map(|(_, m)| *m)
            .collect();
        cfg.limits = Limits {
            max_frame: 1 << 16,
            max_decompressed: 1 << 16,
            ..Limits::default()
        };
        cfg.seen_cap = if flags & 0x40 != 0 { 2 } else { 64 };
        cfg.max_decode_failures = if flags & 0x80 != 0 { 0 } else { 3 };
        cfg.max_known_addrs = pick(0, [16, 4, 1, 0]);
        cfg.recv_queue_cap = pick(2, [8, 1, 0, 8]);
        cfg.max_pending_replies = pick(4, [4, 1, 0, 4]);
        cfg.max_outgoing = pick(6, [4, 1, 2, 0]);
        cfg.max_inbound = 4;
        cfg.max_pending_handshakes = 3;
        cfg.max_queued_bytes = 16 << 10;
        cfg.max_peers_per_list = 8;
        cfg.lazy_max_missing = 8;
        cfg.lazy_cache_bytes = 4 << 10;
        cfg.lazy_max_ids_per_frame = 16;
        let caps = Caps {
            lazy_missing: cfg.lazy_max_missing,
            lazy_cache_bytes: cfg.lazy_cache_bytes,
            seen: cfg.seen_cap,
            recv_queue: cfg.recv_queue_cap,
            inbound: cfg.max_inbound,
            queued_bytes: cfg.max_queued_bytes,
            pending_replies: cfg.max_pending_replies,
            known_addrs: cfg.max_known_addrs,
            outgoing: cfg.max_outgoing,
        };
        // Only an anchor: the mesh sees `now + virtual time`, and only
        // differences matter, so a run replays the same.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let mut mesh = Mesh::new(cfg, u64::from(seed), now, Duration::from_secs(UNIX_BASE));
        if flags & 0x20 != 0 {
            mesh.register_handler(app_handler);
        }
        let ids = (0..8u8)
            .map(|k| {
                let n = [k + 1, 0x5a, k.wrapping_mul(37), 0x11, k, 0xc3, 0x77, 0x2e];
                Bytes::from(base58_int(&n))
            })
            .collect();
        MeshRun {
            protocol_id: Bytes::copy_from_slice(mesh.protocol_id().as_bytes()),
            mesh,
            caps,
            now,
            ids,
            open: BTreeMap::new(),
            allocated: BTreeSet::new(),
            history: Vec::new(),
            last_id: 0,
            closed: false,
            requests: Vec::new(),
            sent: Vec::new(),
            inbox: Vec::new(),
        }
    }

    // --- choosing things -------------------------------------------------

    /// A peer id: eight ordinary ones, ours, empty, not base58, very long.
    fn peer(&self, b: u8) -> Bytes {
        if b < 0xf0 {
            return self.ids[usize::from(b % 8)].clone();
        }
        match b & 3 {
            0 => self.mesh.id().0.clone(),
            1 => Bytes::new(),
            2 => Bytes::from_static(b"not base58: 0OIl"),
            _ => Bytes::from(base58_int(&[0xff; 48])),
        }
    }

    /// An address: eight ordinary ones, ours, empty, IPv6, odd quoting.
    fn addr(&self, b: u8) -> PeerAddr {
        if b < 0xf0 {
            let k = u16::from(b % 8);
            return PeerAddr::new(format!("10.0.1.{k}"), 4000 + k);
        }
        match b & 3 {
            0 => self.mesh.config().out_addr.clone(),
            1 => PeerAddr::new("", 0),
            2 => PeerAddr::new("::1", u16::MAX),
            _ => PeerAddr::new("it's \"quoted\"", 1),
        }
    }

    fn addr_value(&self, b: u8, host_as_bin: bool) -> Value {
        let a = self.addr(b);
        let host = if host_as_bin {
            Value::from(a.host.as_bytes())
        } else {
            Value::from(a.host.as_str())
        };
        Value::Array(vec![host, Value::from(a.port)])
    }

    /// Compression flags by bit (py2p order), plus our extensions' markers
    /// (lazy push and link trimming), a nil and an unknown flag.
    fn methods(mask: u8) -> Value {
        let mut v: Vec<Value> = Compression::ALL
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, m)| Value::from(m.flag()))
            .collect();
        if mask & 0x20 != 0 {
            v.push(Value::from(mesh_proto::mesh::lazy::MARKER));
            v.push(Value::from(mesh_proto::mesh::trim::MARKER));
        }
        if mask & 0x40 != 0 {
            v.push(Value::Nil);
        }
        if mask & 0x80 != 0 {
            v.push(Value::from(0x99u8));
        }
        Value::Array(v)
    }

    /// A frame time: near now, near `max_age`/`max_future`, or extreme.
    fn stamp(&self, b: u8) -> i64 {
        let t = self.mesh.unix_time(self.now);
        match b >> 6 {
            0 | 1 => t + i64::from(b & 0x7f) - 64,
            2 => t + [-61, -60, -59, 59, 60, 61, -3_600, 3_600][usize::from(b & 7)],
            _ => [
                i64::MIN,
                i64::MAX,
                0,
                -1,
                t - 86_400,
                t + 86_400,
                i64::MIN + 1,
                t,
            ][usize::from(b & 7)],
        }
    }

    /// An open connection of the wanted kind, or (high bytes) any id ever
    /// allocated, closed ones included, as a late report from a runtime would.
    fn pick(&self, b: u8, want: Want) -> Option<ConnId> {
        if b >= 0xe0 && !self.history.is_empty() {
            let conn = self.history[usize::from(b) % self.history.len()];
            let ok = self
                .open
                .get(&conn)
                .is_none_or(|s| s.dialing == (want == Want::Dialing));
            return ok.then_some(conn);
        }
        let list: Vec<ConnId> = self
            .open
            .iter()
            .filter(|(_, s)| s.dialing == (want == Want::Dialing))
            .map(|(c, _)| *c)
            .collect();
        (!list.is_empty()).then(|| list[usize::from(b) % list.len()])
    }

    // --- building frames --------------------------------------------------

    fn encode(
        &self,
        msg_type: u64,
        sender: Bytes,
        time: i64,
        payload: Vec<Value>,
        comp: u8,
    ) -> Vec<u8> {
        // Mostly plain; bz2 and lzma (slow to set up) only now and then.
        let method = Compression::ALL
            .get(usize::from(comp % 32))
            .copied()
            .filter(|m| m.is_supported());
        Frame::new(msg_type, sender, time, payload)
            .encode(method)
            .map(|b| b.to_vec())
            .unwrap_or_default()
    }

    /// `[renegotiate, peer 0, now, payload...]`, plain.
    fn renegotiate(&self, payload: Vec<Value>) -> Vec<u8> {
        let t = self.mesh.unix_time(self.now);
        let id = self.ids[0].clone();
        self.encode(MainFlag::Renegotiate.value().into(), id, t, payload, 0xff)
    }

    fn handshake(&self, id: Bytes, addr: u8, methods: Value) -> Vec<u8> {
        let payload = vec![
            Value::from(SubFlag::Handshake.value()),
            Value::Bin(id.clone()),
            Value::Bin(self.protocol_id.clone()),
            self.addr_value(addr, false),
            methods,
        ];
        let t = self.mesh.unix_time(self.now);
        self.encode(MainFlag::Whisper.value().into(), id, t, payload, 0xff)
    }

    /// `[broadcast, sender, t, broadcast, bin]` from `[sender, time, comp, len, bytes...]`.
    fn broadcast_frame(&self, input: &mut Input<'_>) -> Vec<u8> {
        let sender = self.peer(input.byte());
        let time = self.stamp(input.byte());
        let comp = input.byte();
        let len = usize::from(input.byte());
        let body = input.take(len);
        let payload = vec![Value::from(SubFlag::Broadcast.value()), Value::from(body)];
        self.encode(
            MainFlag::Broadcast.value().into(),
            sender,
            time,
            payload,
            comp,
        )
    }

    fn feed(&mut self, conn: Option<ConnId>, bytes: &[u8]) {
        if let Some(conn) = conn {
            self.mesh.handle_bytes(conn, bytes, self.now);
        }
    }

    // --- the ops ----------------------------------------------------------

    fn step(&mut self, input: &mut Input<'_>) {
        let op = input.byte();
        let mut user_dial = None;
        let mut must_refuse = None;
        let now = self.now;
        match op % 27 {
            // Accept a connection (over the inbound cap it must be refused).
            0 => {
                let b = input.byte();
                let remote = (b & 1 != 0).then(|| self.addr(b >> 1));
                let inbound = self.open.values().filter(|s| s.inbound).count();
                let conn = self.mesh.handle_accepted(remote, now);
                self.allocate(conn);
                self.open.insert(
                    conn,
                    ConnState {
                        inbound: true,
                        ..ConnState::default()
                    },
                );
                if self.closed || inbound >= self.caps.inbound {
                    must_refuse = Some(conn);
                }
            }
            // Dial an address.
            1 => {
                let addr = self.addr(input.byte());
                let conn = self.mesh.connect(addr, now);
                self.allocate(conn);
                user_dial = Some(conn);
            }
            // Report a dial's result.
            2 => {
                let conn = self.pick(input.byte(), Want::Dialing);
                let ok = input.byte() & 1 == 0;
                if let Some(conn) = conn {
                    if let Some(s) = self.open.get_mut(&conn)
                        && ok
                    {
                        s.dialing = false;
                    }
                    self.mesh.handle_dialed(conn, ok, now);
                }
            }
            // Raw bytes.
            3 => {
                let conn = self.pick(input.byte(), Want::Connected);
                let len = usize::from(input.byte());
                let bytes = input.take(len);
                self.feed(conn, bytes);
            }
            // A handshake, right or wrong in every field.
            4 => {
                let conn = self.pick(input.byte(), Want::Connected);
                let who = input.byte();
                let addr = input.byte();
                let v = input.byte();
                let mask = input.byte();
                let id = self.peer(who);
                let mut proto = if v & 1 != 0 {
                    Bytes::from_static(b"wrong-protocol")
                } else {
                    self.protocol_id.clone()
                };
                if v & 0x80 != 0 {
                    proto = self.peer(mask);
                }
                let proto = if v & 2 != 0 {
                    Value::from(String::from_utf8_lossy(&proto).into_owned())
                } else {
                    Value::Bin(proto)
                };
                let sender = if v & 4 != 0 {
                    self.peer(who.wrapping_add(1))
                } else {
                    id.clone()
                };
                let mut payload = vec![
                    Value::from(SubFlag::Handshake.value()),
                    Value::Bin(id),
                    proto,
                    self.addr_value(addr, v & 8 != 0),
                    Self::methods(mask),
                ];
                if v & 0x10 != 0 {
                    payload.pop();
                }
                let msg_type = if v & 0x20 != 0 {
                    MainFlag::Broadcast
                } else {
                    MainFlag::Whisper
                };
                let time = if v & 0x40 != 0 {
                    self.stamp(input.byte())
                } else {
                    self.mesh.unix_time(now)
                };
                let comp = if v & 0x40 != 0 { input.byte() } else { 0xff };
                let frame = self.encode(msg_type.value().into(), sender, time, payload, comp);
                self.feed(conn, &frame);
            }
            // A broadcast: relayed, deduplicated, aged.
            5 => {
                let conn = self.pick(input.byte(), Want::Connected);
                let frame = self.broadcast_frame(input);
                self.feed(conn, &frame);
            }
            // Any message type with any sub-flag and packets.
            6 => {
                let conn = self.pick(input.byte(), Want::Connected);
                let t = input.byte();
                let msg_type = [0, 1, 2, 3, 4, 0x30, 0x2f, u64::MAX][usize::from(t & 7)];
                let sub = Value::from(input.byte());
                let sender = self.peer(input.byte());
                let time = self.stamp(input.byte());
                let comp = input.byte();
                let mut payload = vec![sub];
                for _ in 0..(t >> 3) % 4 {
                    let len = usize::from(input.byte() % 32);
                    payload.push(Value::from(input.take(len)));
                }
                let frame = self.encode(msg_type, sender, time, payload, comp);
                self.feed(conn, &frame);
            }
            // A peer list.
            7 => {
                let conn = self.pick(input.byte(), Want::Connected);
                let sender = self.peer(input.byte());
                let n = input.byte() % 12;
                let mut entries = Vec::new();
                for _ in 0..n {
                    let a = input.byte();
                    let p = input.byte();
                    entries.push(if a == 0xff {
                        Value::Nil
                    } else {
                        Value::Array(vec![
                            self.addr_value(a, p & 1 != 0),
                            Value::Bin(self.peer(p)),
                        ])
                    });
                }
                let payload = vec![Value::from(SubFlag::Peers.value()), Value::Array(entries)];
                let t = self.mesh.unix_time(now);
                let frame = self.encode(MainFlag::Whisper.value().into(), sender, t, payload, 0xff);
                self.feed(conn, &frame);
            }
            // A request for our peers.
            8 => {
                let conn = self.pick(input.byte(), Want::Connected);
                let b = input.byte();
                let star = if b & 1 != 0 {
                    Value::from("*")
                } else {
                    Value::from(&b"*"[..])
                };
                let payload = vec![Value::from(SubFlag::Request.value()), star];
                let t = self.mesh.unix_time(now);
                let frame = self.encode(
                    MainFlag::Whisper.value().into(),
                    self.peer(b >> 1),
                    t,
                    payload,
                    0xff,
                );
                self.feed(conn, &frame);
            }
            // A route request (a broadcast, as py2p floods it).
            9 => {
                let conn = self.pick(input.byte(), Want::Connected);
                let target = self.peer(input.byte());
                let sender = self.peer(input.byte());
                let time = self.stamp(input.byte());
                let len = usize::from(input.byte() % 16);
                let rid = input.take(len);
                let payload = vec![
                    Value::from(SubFlag::Request.value()),
                    Value::from(String::from_utf8_lossy(rid).into_owned()),
                    Value::Bin(target),
                ];
                let frame = self.encode(
                    MainFlag::Broadcast.value().into(),
                    sender,
                    time,
                    payload,
                    0xff,
                );
                self.feed(conn, &frame);
            }
            // A route response, to a request the mesh made or to none.
            10 => {
                let conn = self.pick(input.byte(), Want::Connected);
                let which = input.byte();
                let v = input.byte();
                let addr = input.byte();
                let time = self.stamp(input.byte());
                let (rid, mut target) = match self.requests.len() {
                    n if n > 0 && which < 0xc0 => self.requests[usize::from(which) % n].clone(),
                    _ => (Bytes::copy_from_slice(input.take(4)), self.peer(which)),
                };
                if v & 1 != 0 {
                    target = self.peer(v >> 1);
                }
                let rid = if v & 0x80 != 0 {
                    Value::Bin(rid)
                } else {
                    Value::from(String::from_utf8_lossy(&rid).into_owned())
                };
                let route = Value::Array(vec![self.addr_value(addr, false), Value::Bin(target)]);
                let payload = vec![Value::from(SubFlag::Response.value()), rid, route];
                let sender = self.peer(v >> 2);
                let frame = self.encode(
                    MainFlag::Broadcast.value().into(),
                    sender,
                    time,
                    payload,
                    0xff,
                );
                self.feed(conn, &frame);
            }
            // Renegotiate compression.
            11 => {
                let conn = self.pick(input.byte(), Want::Connected);
                let mask = input.byte();
                let payload = vec![
                    Value::from(SubFlag::Compression.value()),
                    Self::methods(mask),
                ];
                let frame = self.renegotiate(payload);
                self.feed(conn, &frame);
            }
            // Ask for the last frame again.
            12 => {
                let conn = self.pick(input.byte(), Want::Connected);
                let comp = input.byte();
                let payload = vec![Value::from(SubFlag::Resend.value())];
                let t = self.mesh.unix_time(now);
                let frame = self.encode(
                    MainFlag::Renegotiate.value().into(),
                    self.ids[0].clone(),
                    t,
                    payload,
                    comp,
                );
                self.feed(conn, &frame);
            }
            // A frame with one byte changed: undecodable, or worse.
            13 => {
                let conn = self.pick(input.byte(), Want::Connected);
                let at = usize::from(input.byte());
                let flip = input.byte() | 1;
                let comp = input.byte();
                let payload = vec![Value::from(SubFlag::Broadcast.value()), Value::from("x")];
                let t = self.mesh.unix_time(now);
                let mut frame = self.encode(
                    MainFlag::Broadcast.value().into(),
                    self.ids[1].clone(),
                    t,
                    payload,
                    comp,
                );
                if frame.len() > mesh_proto::wire::HEADER_LEN {
                    let i = mesh_proto::wire::HEADER_LEN
                        + at % (frame.len() - mesh_proto::wire::HEADER_LEN);
                    frame[i] ^= flip;
                }
                self.feed(conn, &frame);
            }
            // The start of a broadcast frame: the rest is kept for op 15.
            14 => {
                let conn = self.pick(input.byte(), Want::Connected);
                let cut = usize::from(input.byte());
                let frame = self.broadcast_frame(input);
                if let Some(conn) = conn
                    && frame.len() > 1
                {
                    let cut = 1 + cut % (frame.len() - 1);
                    self.mesh.handle_bytes(conn, &frame[..cut], now);
                    if let Some(s) = self.open.get_mut(&conn) {
                        s.rest = frame[cut..].to_vec();
                    }
                }
            }
            // The rest of a frame fed in part.
            15 => {
                let conn = self.pick(input.byte(), Want::Connected);
                if let Some(conn) = conn {
                    let rest = self
                        .open
                        .get_mut(&conn)
                        .map(|s| std::mem::take(&mut s.rest));
                    self.feed(Some(conn), &rest.unwrap_or_default());
                }
            }
            // A frame the mesh sent, echoed back.
            16 => {
                let conn = self.pick(input.byte(), Want::Connected);
                let b = usize::from(input.byte());
                if !self.sent.is_empty() {
                    let frame = self.sent[b % self.sent.len()].clone();
                    self.feed(conn, &frame);
                }
            }
            // The runtime saw a connection close.
            17 => {
                if let Some(conn) = self.pick(input.byte(), Want::Connected) {
                    self.open.remove(&conn);
                    self.mesh.handle_closed(conn, now);
                }
            }
            // The runtime wrote some of what was transmitted.
            18 => {
                let conn = self.pick(input.byte(), Want::Connected);
                let b = input.byte();
                if let Some(conn) = conn {
                    let queued = self.open.get(&conn).map_or(0, |s| s.queued);
                    let n = match b % 4 {
                        0 => queued,
                        1 => queued / 2,
                        2 => usize::from(b),
                        _ => usize::MAX,
                    };
                    if let Some(s) = self.open.get_mut(&conn) {
                        s.queued = s.queued.saturating_sub(n);
                    }
                    self.mesh.handle_written(conn, n);
                }
            }
            // Time passes and the timer fires.
            19 => {
                let step = STEPS[usize::from(input.byte() % 16)];
                self.advance(step);
            }
            // Time passes without the timer (a runtime running late).
            20 => {
                self.now += Duration::from_millis(u64::from(input.byte()) * 100);
            }
            // The application sends.
            21 => {
                let kind = input.byte();
                let len = usize::from(input.byte());
                // The big kind makes its own bytes.
                let body = if kind % 4 == 3 {
                    &[][..]
                } else {
                    input.take(len)
                }
                .to_vec();
                let result = match kind % 4 {
                    0 => self
                        .mesh
                        .send(vec![Value::from(body)], MainFlag::Broadcast, now),
                    1 => self
                        .mesh
                        .send(vec![Value::from(body)], MainFlag::Whisper, now),
                    2 => {
                        let msg_type =
                            [0, 1, 2, 3, 4, 0x30, 0x2f, u64::MAX][usize::from(kind >> 5)];
                        let payload = vec![Value::from((kind >> 2) & 7), Value::from(body)];
                        self.mesh.send_raw(msg_type, payload, now)
                    }
                    _ => {
                        // Big and incompressible: reaches `max_queued_bytes` in a few sends.
                        let start = usize::from(kind >> 2);
                        let big = Bytes::copy_from_slice(&noise()[start..start + len * 64]);
                        self.mesh
                            .send(vec![Value::from(big)], MainFlag::Broadcast, now)
                    }
                };
                match result {
                    Ok(_) => assert!(!self.closed, "send on a closed mesh succeeded"),
                    Err(SendError::Closed) => assert!(self.closed, "send failed: not closed"),
                    Err(e) => panic!("send failed: {e}"),
                }
            }
            // The application replies to a message (received, or made up).
            22 => {
                let b = input.byte();
                let msg = match self.inbox.len() {
                    n if n > 0 && b < 0xc0 => self.inbox[usize::from(b) % n].clone(),
                    _ => Message {
                        msg_type: 0,
                        sender: PeerId(self.peer(b)),
                        id: MsgId([0; 32]),
                        time: 0,
                        packets: Vec::new(),
                        conn: ConnId(0),
                        reply_to: ReplyTo::none(),
                    },
                };
                let len = usize::from(input.byte() % 64);
                let packets = vec![Value::from(input.take(len))];
                let direct = self.mesh.is_connected_to(&msg.sender);
                let pending = self.mesh.pending_replies();
                match self.mesh.reply(&msg, packets, now) {
                    Ok(()) => assert!(!self.closed, "reply on a closed mesh succeeded"),
                    Err(SendError::Closed) => assert!(self.closed, "reply failed: not closed"),
                    Err(SendError::TooManyPendingReplies(n)) => {
                        assert!(!direct && pending >= self.caps.pending_replies);
                        assert_eq!(n, self.caps.pending_replies);
                    }
                    Err(e) => panic!("reply failed: {e}"),
                }
            }
            // The application reads.
            23 => {
                let b = input.byte();
                let before = self.mesh.queued_messages();
                let got = if b & 1 != 0 {
                    self.mesh.recv().into_iter().collect()
                } else {
                    let n = usize::from(b >> 1) % 12;
                    let got = self.mesh.recv_many(n);
                    assert!(got.len() <= n);
                    got
                };
                assert_eq!(self.mesh.queued_messages() + got.len(), before);
                for msg in got {
                    push_ring(&mut self.inbox, msg, 8);
                }
            }
            // The application closes the mesh (twice is an error).
            24 => {
                let result = self.mesh.close(now);
                assert_eq!(result.is_ok(), !self.closed, "close: {result:?}");
                self.closed = true;
            }
            // A lazy-push frame: announcements, grafts (ids we sent, ids
            // nobody has, floods past the per-frame cap) or a prune.
            25 => {
                let conn = self.pick(input.byte(), Want::Connected);
                let kind = input.byte();
                let count = usize::from(input.byte()) * if kind & 0x80 != 0 { 16 } else { 1 };
                let seedb = input.byte();
                let ids: Vec<Value> = (0..count)
                    .map(|i| {
                        // A frame's checksum is its id (plain frames).
                        let known = self
                            .sent
                            .get(i % self.sent.len().max(1))
                            .and_then(|f| f.get(4..36))
                            .filter(|_| (seedb >> (i % 8)) & 1 == 1);
                        match known {
                            Some(id) => Value::from(id),
                            None => Value::from(&[seedb ^ (i as u8); 32][..]),
                        }
                    })
                    .collect();
                let mut payload = vec![Value::from(match kind % 6 {
                    0 => mesh_proto::mesh::lazy::IHAVE,
                    1 => mesh_proto::mesh::lazy::GRAFT,
                    2 => mesh_proto::mesh::lazy::PRUNE,
                    3 => mesh_proto::mesh::trim::ASK,
                    4 => mesh_proto::mesh::trim::AGREE,
                    _ => mesh_proto::mesh::trim::DECLINE,
                })];
                if kind & 0x40 == 0 {
                    payload.push(Value::Array(ids));
                }
                let frame = self.renegotiate(payload);
                self.feed(conn, &frame);
            }
            // A good handshake (with the lazy-push marker): the short way to a route.
            _ => {
                let conn = self.pick(input.byte(), Want::Connected);
                let who = input.byte();
                let frame = self.handshake(self.peer(who), who, Self::methods(0x3f));
                self.feed(conn, &frame);
            }
        }
        self.drain(user_dial);
        if let Some(conn) = must_refuse {
            assert!(!self.open.contains_key(&conn), "accepted over capacity");
        }
        self.check();
    }

    /// Advances the clock by `step` and fires the timer, checking that a
    /// timer with nothing due does nothing and that nothing is left overdue.
    fn advance(&mut self, step: Duration) {
        self.now += step;
        let now = self.now;
        let due = self.mesh.poll_timeout().is_some_and(|t| t <= now);
        let before = self.snapshot();
        self.mesh.handle_timeout(now);
        if !due {
            assert_eq!(self.mesh.poll_output(), None, "timer did something early");
            assert!(self.snapshot() == before, "timer changed state early");
        }
        let next = self.mesh.poll_timeout();
        assert!(
            next.is_none_or(|t| t > now),
            "still overdue after handle_timeout"
        );
    }

    fn snapshot(&self) -> (usize, usize, usize, usize, usize, Option<Instant>) {
        let m = &self.mesh;
        (
            m.conn_count(),
            m.peer_count(),
            m.pending_replies(),
            m.seen_len(),
            m.known_addrs(),
            m.next_heal(),
        )
    }

    fn allocate(&mut self, conn: ConnId) {
        assert!(
            conn.0 > self.last_id,
            "{conn} allocated out of order or reused"
        );
        self.last_id = conn.0;
        self.allocated.insert(conn);
        self.history.push(conn);
    }

    /// Takes every output, checking each against what the runtime knows.
    fn drain(&mut self, user_dial: Option<ConnId>) {
        let mut dials = 0;
        while let Some(out) = self.mesh.poll_output() {
            match out {
                Output::Dial { conn, .. } => {
                    if Some(conn) != user_dial {
                        self.allocate(conn);
                        dials += 1;
                    }
                    let state = ConnState {
                        dialing: true,
                        ..ConnState::default()
                    };
                    assert!(
                        self.open.insert(conn, state).is_none(),
                        "{conn} dialed twice"
                    );
                }
                Output::Transmit { conn, bytes } => {
                    assert!(self.allocated.contains(&conn), "{conn} never allocated");
                    let s = self
                        .open
                        .get_mut(&conn)
                        .expect("Transmit on a closed connection");
                    assert!(!s.dialing, "Transmit on {conn} before its dial finished");
                    s.queued += bytes.len();
                    assert!(
                        s.queued <= self.caps.queued_bytes,
                        "Transmit past max_queued_bytes"
                    );
                    self.inspect(bytes);
                }
                Output::Close { conn } => {
                    assert!(self.allocated.contains(&conn), "{conn} never allocated");
                    assert!(
                        self.open.remove(&conn).is_some(),
                        "Close for {conn}, not open"
                    );
                }
                Output::Event(e) => self.event(e),
            }
        }
        // Per op: lost-peer redials, healing/peer exchange (never past twice
        // `max_outgoing`), and one dial per pending reply's route response.
        let bound = MAX_LOST + 2 * self.caps.outgoing + self.caps.pending_replies;
        assert!(dials <= bound, "{dials} dials in one op");
    }

    fn event(&mut self, e: Event) {
        match e {
            Event::PeerUp { conn, .. } => {
                assert!(self.allocated.contains(&conn), "{conn} never allocated");
                let s = self.open.get(&conn).expect("PeerUp on a closed connection");
                assert!(!s.dialing, "PeerUp on {conn} before its dial finished");
            }
            Event::PeerDown { conn, .. } => {
                assert!(self.allocated.contains(&conn), "{conn} never allocated");
            }
            Event::Rejected { conn, .. } | Event::ProtocolViolation { conn, .. } => {
                assert!(self.allocated.contains(&conn), "{conn} never allocated");
                assert!(
                    !self.open.contains_key(&conn),
                    "{conn} rejected without a Close"
                );
            }
            Event::DialFailed { conn, .. } => {
                assert!(self.allocated.contains(&conn), "{conn} never allocated");
                match self.open.remove(&conn) {
                    Some(s) => assert!(s.dialing, "DialFailed for connected {conn}"),
                    None => assert!(self.closed, "DialFailed for unknown {conn}"),
                }
            }
            _ => {}
        }
    }

    /// Every transmitted frame decodes; route requests are remembered so a
    /// response can name them.
    fn inspect(&mut self, bytes: Bytes) {
        // Raw first, then every method: no decoder is set up for a plain frame.
        let d = decode_frame(bytes.clone(), &[], &Limits::default())
            .unwrap_or_else(|e| panic!("the mesh sent a bad frame: {e}"));
        if d.frame.msg_type == u64::from(MainFlag::Broadcast.value())
            && let [sub, rid, target] = d.frame.payload.as_slice()
            && sub.as_int().and_then(|i| i.as_u64()) == Some(SubFlag::Request.value().into())
            && let (Some(rid), Some(target)) = (rid.as_str_or_bin(), target.as_str_or_bin())
        {
            push_ring(&mut self.requests, (rid.clone(), target.clone()), 8);
        }
        push_ring(&mut self.sent, bytes, 8);
    }

    /// The bounds, and the runtime's view against the mesh's.
    fn check(&self) {
        let m = &self.mesh;
        assert_eq!(
            m.conn_count(),
            self.open.len(),
            "connection table and outputs disagree"
        );
        let inbound = self.open.values().filter(|s| s.inbound).count();
        assert!(
            inbound <= self.caps.inbound,
            "{inbound} inbound connections"
        );
        assert_eq!(m.outgoing_count(), self.open.len() - inbound);
        for (conn, s) in &self.open {
            assert_eq!(m.queued_bytes(*conn), s.queued, "unwritten bytes of {conn}");
        }
        assert!(m.peer_count() <= m.conn_count());
        assert!(m.seen_len() <= self.caps.seen, "seen cache past its cap");
        assert!(
            m.resend_bodies() <= m.conn_count(),
            "resend bodies outlive their connections"
        );
        assert!(
            m.queued_messages() <= self.caps.recv_queue,
            "receive queue past its cap"
        );
        assert!(
            m.pending_replies() <= self.caps.pending_replies,
            "too many pending replies"
        );
        assert!(
            m.known_addrs() <= self.caps.known_addrs,
            "too many known addresses"
        );
        assert!(
            m.lazy_missing() <= self.caps.lazy_missing,
            "lazy push: missing ids past their cap"
        );
        assert!(
            m.lazy_cached().1 <= self.caps.lazy_cache_bytes,
            "lazy push: frame cache past its cap"
        );
        assert!(m.lazy_links() <= m.lazy_peers() && m.lazy_peers() <= m.peer_count());
        if self.closed {
            assert_eq!(m.conn_count(), 0);
            assert_eq!(m.next_heal(), None);
        }
    }

    /// After an hour of quiet every deadline has passed: nothing pending,
    /// nothing remembered for dedup, and healing is the only timer left.
    fn finish(&mut self) {
        self.advance(Duration::from_secs(3_600));
        self.drain(None);
        // A graft that brought nothing tries the next announcer a moment
        // later, one at a time: a few more wake-ups end them all.
        for _ in 0..8 {
            if self.mesh.lazy_missing() == 0 {
                break;
            }
            self.advance(Duration::from_secs(1));
            self.drain(None);
        }
        // A node with surplus links asks to give them back, each link a
        // few times at most, one ask at a time: a bounded tail of wake-ups.
        for _ in 0..64 {
            if self.mesh.poll_timeout() == self.mesh.next_heal() {
                break;
            }
            self.advance(Duration::from_secs(60));
            self.drain(None);
        }
        self.check();
        assert_eq!(self.mesh.pending_replies(), 0);
        assert_eq!(self.mesh.seen_len(), 0);
        assert_eq!(self.mesh.lazy_missing(), 0);
        assert_eq!(self.mesh.poll_timeout(), self.mesh.next_heal());
    }
}
