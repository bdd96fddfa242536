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

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mesh_proto::mesh::{Config, ConnId, Event, PeerId, RejectReason};
use mesh_proto::wire::{
    Compression, Decoded, Deframer, Encryption, Frame, Limits, MainFlag, MsgId, Protocol, SubFlag,
    Value, WireError, base58_int, decode_frame, frame_body,
};

use crate::conformance::bounded;
use crate::nodes::{Adapter, EventQueue, Node};

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

// ----- memory and descriptors --------------------------------------------------

/// This process's resident set (`VmRSS` of `/proc/self/status`), in bytes.
pub fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in kB");
    kib * 1024
}

/// File descriptors this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// The RSS before an attack, to compare with after it.
#[derive(Debug)]
pub struct Memory {
    before: u64,
}

impl Memory {
    /// Starts watching.
    pub fn watch() -> Memory {
        Memory { before: rss() }
    }

    /// Fails if the RSS grew by [`MAX_RSS_GROWTH`] or more since [`watch`](Self::watch).
    pub fn check(&self, what: &str) {
        let after = rss();
        let growth = after.saturating_sub(self.before);
        assert!(
            growth < MAX_RSS_GROWTH,
            "{what}: RSS grew by {} KiB ({} -> {} KiB), over {} MiB",
            growth >> 10,
            self.before >> 10,
            after >> 10,
            MAX_RSS_GROWTH >> 20
        );
    }
}

// ----- small helpers ---------------------------------------------------------

/// Unix seconds now.
pub fn unix_now() -> i64 {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    i64::try_from(t.as_secs()).expect("in range")
}

/// A msgpack bin.
pub fn bin(b: &[u8]) -> Value {
    Value::from(b)
}

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A fresh number, unique in this process.
fn fresh() -> u64 {
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A node id nobody else has: base58 text, as py2p's.
pub fn fresh_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    let mut raw = [0u8; 24];
    raw[..8].copy_from_slice(&fresh().to_be_bytes());
    raw[8..16].copy_from_slice(&nanos.to_be_bytes());
    raw[16..20].copy_from_slice(&std::process::id().to_be_bytes());
    raw[20] = 0x5a;
    base58_int(&raw)
}

/// A payload tag nobody else sends.
pub fn tag(what: &str) -> Vec<u8> {
    format!("{what} #{}", fresh()).into_bytes()
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Deterministic pseudo-random bytes (xorshift64*).
pub fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// Polls `ok` until it holds; fails after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// The message carrying `payload` (as packet 1) from `node`, skipping
/// others; fails after [`LIMIT`].
pub fn expect_payload(node: &dyn Node, payload: &[u8], what: &str) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = node
            .next(left)
            .unwrap_or_else(|| panic!("{what}: never delivered"));
        if msg.packets.get(1) == Some(&bin(payload)) {
            return;
        }
    }
}

/// Takes `node`'s queued messages until `marker` arrives (fails after
/// [`LIMIT`]); fails if one carrying any of `forbidden` comes first.
pub fn nothing_before(node: &dyn Node, marker: &[u8], forbidden: &[&[u8]], what: &str) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = node
            .next(left)
            .unwrap_or_else(|| panic!("{what}: the marker never came"));
        let p = msg.packets.get(1);
        for f in forbidden {
            assert!(
                p != Some(&bin(f)),
                "{what}: {:?} was delivered",
                String::from_utf8_lossy(f)
            );
        }
        if p == Some(&bin(marker)) {
            return;
        }
    }
}

/// Deliveries of `payload` by `node` before `marker` arrives (fails if it
/// does not within [`LIMIT`]).
pub fn count_before(node: &dyn Node, payload: &[u8], marker: &[u8], what: &str) -> usize {
    let deadline = Instant::now() + LIMIT;
    let mut n = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = node
            .next(left)
            .unwrap_or_else(|| panic!("{what}: the marker never came"));
        let p = msg.packets.get(1);
        if p == Some(&bin(payload)) {
            n += 1;
        }
        if p == Some(&bin(marker)) {
            return n;
        }
    }
}

// ----- frames ----------------------------------------------------------------

/// A whole frame around `body` (checksum right, no compression).
pub fn framed(body: &[u8]) -> Bytes {
    frame_body(body, None).expect("frame").0
}

/// A frame header announcing `len` bytes, followed by `rest`.
pub fn header_then(len: u32, rest: &[u8]) -> Vec<u8> {
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(rest);
    out
}

/// A body `[0, b"id", 1764000000, <rest>]` in raw msgpack, its array
/// claiming `extra_items` items after the three header fields.
pub fn body_with(extra_items: u8, rest: &[u8]) -> Vec<u8> {
    let mut b = vec![
        0x90 + 3 + extra_items,
        0x00,
        0xc4,
        0x02,
        b'i',
        b'd',
        0xce,
        0x69,
        0x24,
        0x81,
        0x00,
    ];
    b.extend_from_slice(rest);
    b
}

/// [`body_with`] one packet: `depth - 1` nested one-item arrays around an
/// empty one (the body array is depth 1).
pub fn nested(depth: usize) -> Vec<u8> {
    let mut rest = vec![0x91; depth - 1];
    rest.push(0x90);
    body_with(1, &rest)
}

/// A TLS 1.2 ClientHello record, as any TLS client opens with.
pub fn client_hello() -> Vec<u8> {
    let mut hello = vec![0x03, 0x03];
    hello.extend_from_slice(&garbage(7, 32)); // random
    hello.push(0); // no session id
    hello.extend_from_slice(&[0x00, 0x04, 0xc0, 0x2f, 0xc0, 0x30]); // two suites
    hello.extend_from_slice(&[0x01, 0x00]); // null compression
    hello.extend_from_slice(&[0x00, 0x00]); // no extensions
    let mut handshake = vec![0x01, 0x00, 0x00, hello.len() as u8];
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8];
    record.extend_from_slice(&handshake);
    record
}

/// One peer-list entry `[[host, port], id]`.
pub fn peer_entry(host: &str, port: u16, id: &[u8]) -> Value {
    Value::Array(vec![
        Value::Array(vec![Value::from(host), Value::from(port)]),
        bin(id),
    ])
}

// ----- the attacker ----------------------------------------------------------

/// A raw TCP client playing a (bad) peer of the victim.
#[derive(Debug)]
pub struct Attacker {
    /// The socket.
    pub stream: TcpStream,
    /// The node id it claims.
    pub id: String,
    /// Its connection at the victim, once known (from `PeerUp`).
    pub conn: Option<ConnId>,
    /// The port it advertises (nothing listens there).
    pub advertised_port: u16,
    deframer: Deframer,
}

impl Attacker {
    /// Opens a TCP connection to 127.0.0.1:`port`; sends nothing.
    pub fn connect(port: u16) -> Attacker {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Attacker {
            stream,
            id: fresh_id(),
            conn: None,
            advertised_port: closed_port(),
            deframer: Deframer::new(&Limits::default()),
        }
    }

    /// Writes all of `bytes` (an error once the victim has closed).
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// A frame from this attacker: `[msg_type, id, time, payload...]`.
    pub fn frame(&self, msg_type: MainFlag, time: i64, payload: Vec<Value>) -> Bytes {
        Frame::new(msg_type.value().into(), self.id.clone(), time, payload)
            .encode(None)
            .expect("encode")
    }

    /// A broadcast `[broadcast, id, time, broadcast, packets...]` and its id.
    pub fn broadcast(&self, time: i64, packets: Vec<Value>) -> (Bytes, MsgId) {
        let mut payload = vec![Value::from(SubFlag::Broadcast.value())];
        payload.extend(packets);
        Frame::new(
            MainFlag::Broadcast.value().into(),
            self.id.clone(),
            time,
            payload,
        )
        .encode_with_id(None)
        .expect("encode")
    }

    /// A handshake whose payload after the sub-flag is `fields`.
    pub fn handshake_with(&self, fields: Vec<Value>) -> Bytes {
        let mut payload = vec![Value::from(SubFlag::Handshake.value())];
        payload.extend(fields);
        self.frame(MainFlag::Whisper, unix_now(), payload)
    }

    /// A well-formed handshake for `protocol_id`, advertising `methods`.
    pub fn handshake(&self, protocol_id: &str, methods: &[Compression]) -> Bytes {
        self.handshake_with(self.handshake_fields(protocol_id, methods))
    }

    /// `[id, protocol_id, [host, port], [methods...]]`, as py2p sends them.
    pub fn handshake_fields(&self, protocol_id: &str, methods: &[Compression]) -> Vec<Value> {
        vec![
            bin(self.id.as_bytes()),
            bin(protocol_id.as_bytes()),
            Value::Array(vec![
                Value::from("127.0.0.1"),
                Value::from(self.advertised_port),
            ]),
            Value::Array(methods.iter().map(|m| Value::from(m.flag())).collect()),
        ]
    }

    /// Reads (and throws away) until the victim closes: the time that took,
    /// or `None` if the socket is still open after `limit`.
    pub fn closed_within(&mut self, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        let deadline = started + limit;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("set_read_timeout");
            match self.stream.read(&mut buf) {
                Ok(0) => return Some(started.elapsed()),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return None;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Some(started.elapsed()),
            }
        }
    }

    /// Fails unless the victim closes this connection within `limit`.
    pub fn assert_closed(&mut self, limit: Duration, what: &str) -> Duration {
        self.closed_within(limit)
            .unwrap_or_else(|| panic!("{what}: the victim did not close the connection"))
    }

    /// Whether the connection is still open after `probe` of reading
    /// (what the victim sends meanwhile is thrown away).
    pub fn still_open(&mut self, probe: Duration) -> bool {
        self.closed_within(probe).is_none()
    }

    /// The next frame the victim sends that `pick` takes, decoded; `None`
    /// after `limit` or at the end of the stream.
    pub fn wait_frame(
        &mut self,
        limit: Duration,
        mut pick: impl FnMut(&Decoded) -> bool,
    ) -> Option<Decoded> {
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while let Some(frame) = self.deframer.next_frame().expect("the victim's framing") {
                let d = decode_frame(frame, &[], &Limits::default())
                    .expect("the victim's frames decode");
                if pick(&d) {
                    return Some(d);
                }
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("set_read_timeout");
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.deframer.feed(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
    }
}

/// Whether `d` is py2p's answer to an undecodable frame:
/// `[renegotiate, id, t, compression, []]`.
pub fn is_renegotiation(d: &Decoded) -> bool {
    d.frame.msg_type == u64::from(MainFlag::Renegotiate.value())
        && d.frame.payload.first() == Some(&Value::from(SubFlag::Compression.value()))
}

// ----- the scene -------------------------------------------------------------

/// The victim's settings every scene starts from: no dials of its own,
/// short handshake and stall timeouts, a 1 MiB decompression cap.
pub fn victim_config(c: &mut Config) {
    c.max_outgoing = 0;
    c.handshake_timeout = HANDSHAKE_TIMEOUT;
    c.stall_timeout = STALL_TIMEOUT;
    c.limits.max_decompressed = MAX_DECOMPRESSED;
}

/// An honest node's settings: the defaults, no dials of its own.
pub fn honest_config(c: &mut Config) {
    c.max_outgoing = 0;
}

/// The victim, two honest nodes linked to it (a - victim - b), and the
/// victim's events from then on.
pub struct Scene {
    /// The node under attack.
    pub victim: Box<dyn Node>,
    /// An honest node that dialed the victim.
    pub a: Box<dyn Node>,
    /// Another honest node that dialed the victim.
    pub b: Box<dyn Node>,
    /// The victim's events, from once a and b are linked.
    pub events: Box<dyn EventQueue>,
    /// What every node of the scene speaks.
    pub protocol: Protocol,
    extra_nodes: Vec<Box<dyn Node>>,
}

impl std::fmt::Debug for Scene {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scene")
            .field("victim", &self.victim.id())
            .finish_non_exhaustive()
    }
}

impl Scene {
    /// A plaintext scene whose victim has [`victim_config`] then `tweak`.
    pub fn new(adapter: &dyn Adapter, tweak: impl FnOnce(&mut Config) + Send + 'static) -> Scene {
        Scene::with(adapter, Encryption::Plaintext, tweak)
    }

    /// A scene speaking `enc`.
    pub fn with(
        adapter: &dyn Adapter,
        enc: Encryption,
        tweak: impl FnOnce(&mut Config) + Send + 'static,
    ) -> Scene {
        let protocol = Protocol::new(SUBNET, enc);
        let victim = adapter
            .bind(
                protocol.clone(),
                Box::new(move |c: &mut Config| {
                    victim_config(c);
                    tweak(c);
                }),
            )
            .expect("bind the victim");
        let a = adapter
            .bind(protocol.clone(), Box::new(honest_config))
            .expect("bind a");
        let b = adapter
            .bind(protocol.clone(), Box::new(honest_config))
            .expect("bind b");
        link(&*a, &*victim);
        link(&*b, &*victim);
        let events = victim.events();
        Scene {
            victim,
            a,
            b,
            events,
            protocol,
            extra_nodes: Vec::new(),
        }
    }

    /// Another honest node on the scene's protocol (closed with the scene).
    pub fn extra_node(&mut self, adapter: &dyn Adapter) -> usize {
        let n = adapter
            .bind(self.protocol.clone(), Box::new(honest_config))
            .expect("bind");
        self.extra_nodes.push(n);
        self.extra_nodes.len() - 1
    }

    /// An extra node made by [`extra_node`](Self::extra_node).
    pub fn extra(&self, i: usize) -> &dyn Node {
        &*self.extra_nodes[i]
    }

    /// The victim's protocol id.
    pub fn protocol_id(&self) -> String {
        self.protocol.id()
    }

    /// Honest traffic crosses the victim both ways: a broadcast from a
    /// reaches b and the victim, one from b reaches a.
    pub fn honest_traffic(&self, when: &str) {
        let from_a = tag("from a");
        self.a.send(vec![bin(&from_a)]).expect("a sends");
        expect_payload(&*self.b, &from_a, &format!("{when}: a's broadcast at b"));
        expect_payload(
            &*self.victim,
            &from_a,
            &format!("{when}: a's broadcast at the victim"),
        );
        let from_b = tag("from b");
        self.b.send(vec![bin(&from_b)]).expect("b sends");
        expect_payload(&*self.a, &from_b, &format!("{when}: b's broadcast at a"));
    }

    /// The first of the victim's events that `pick` takes; fails after
    /// [`LIMIT`] or if the stream ends.
    pub fn wait_event<T>(&mut self, what: &str, mut pick: impl FnMut(Event) -> Option<T>) -> T {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.next(left) {
                Ok(Some(event)) => {
                    if let Some(found) = pick(event) {
                        return found;
                    }
                }
                Ok(None) => panic!("{what}: the victim's events ended"),
                Err(_) => panic!("{what}: no such event within {LIMIT:?}"),
            }
        }
    }

    /// Connects an attacker that completes a valid handshake advertising
    /// `methods`; returns once the victim has it in its routing table.
    pub fn join(&mut self, methods: &[Compression]) -> Attacker {
        let mut at = Attacker::connect(self.victim.port());
        let hs = at.handshake(&self.protocol_id(), methods);
        at.send(&hs).expect("send the handshake");
        let id = PeerId::from(at.id.as_str());
        let conn = self.wait_event("the attacker's PeerUp", |e| match e {
            Event::PeerUp { conn, peer, .. } if peer == id => Some(conn),
            _ => None,
        });
        at.conn = Some(conn);
        at
    }

    /// The victim's `ProtocolViolation` for `conn` (any connection if
    /// `None`): its error.
    pub fn violation(&mut self, conn: Option<ConnId>, what: &str) -> WireError {
        self.wait_event(what, |e| match e {
            Event::ProtocolViolation { conn: c, error } if conn.is_none_or(|k| k == c) => {
                Some(error)
            }
            _ => None,
        })
    }

    /// The victim's `Rejected` for `conn` (any connection if `None`): its
    /// connection and reason.
    pub fn rejection(&mut self, conn: Option<ConnId>, what: &str) -> (ConnId, RejectReason) {
        self.wait_event(what, |e| match e {
            Event::Rejected { conn: c, reason } if conn.is_none_or(|k| k == c) => Some((c, reason)),
            _ => None,
        })
    }

    /// The victim's `PeerDown` for `peer`.
    pub fn peer_down(&mut self, peer: &str, what: &str) {
        let peer = PeerId::from(peer);
        self.wait_event(what, |e| match e {
            Event::PeerDown { peer: p, .. } if p == peer => Some(()),
            _ => None,
        });
    }

    /// Fails unless the victim's routing table is exactly a and b (plus
    /// `more`).
    pub fn assert_routes(&self, more: &[&PeerId], what: &str) {
        let mut want: Vec<PeerId> = vec![self.a.id(), self.b.id()];
        want.extend(more.iter().map(|p| (*p).clone()));
        want.sort();
        let mut have = self.victim.routes();
        have.sort();
        assert_eq!(have, want, "{what}: the victim's routing table");
    }

    /// Closes every node of the scene.
    pub fn close(self) {
        for n in [&self.victim, &self.a, &self.b]
            .into_iter()
            .chain(self.extra_nodes.iter())
        {
            n.close().expect("close");
        }
    }
}

/// `from` dials `to`; returns once each is in the other's routing table.
pub fn link(from: &dyn Node, to: &dyn Node) {
    from.connect(to.port()).expect("connect");
    let (f, t) = (from.id(), to.id());
    wait_until("a handshake", LIMIT, || {
        from.routes().contains(&t) && to.routes().contains(&f)
    });
}

// ----- 1. length headers -----------------------------------------------------

/// A length header of 0xFFFFFFFF is refused as soon as its 4 bytes are in
/// (`ProtocolViolation { FrameTooLarge }`, closed), before a handshake or
/// after. A header of 0 is an undecodable frame: answered with py2p's
/// renegotiation, counted; one more than `max_decode_failures` of them
/// closes the link (`Rejected { UndecodableFrames }`).
pub fn length_headers(adapter: &dyn Adapter) {
    let mut s = Scene::new(adapter, |_| {});
    let mem = Memory::watch();
    // Before a handshake only a handshake-sized frame is accepted.
    let max_frame = Limits::default().max_frame_before_handshake;

    // 0xFFFFFFFF before any handshake.
    let mut raw = Attacker::connect(s.victim.port());
    raw.send(&header_then(u32::MAX, &[0u8; 1024]))
        .expect("write");
    let e = s.violation(None, "0xFFFFFFFF before a handshake");
    assert!(
        matches!(e, WireError::FrameTooLarge { len, max } if len == u32::MAX as usize && max == max_frame),
        "{e:?}"
    );
    raw.assert_closed(PROMPT, "0xFFFFFFFF before a handshake");

    // 0xFFFFFFFF from a peer in the routing table.
    let mut at = s.join(&[]);
    let _ = at.send(&header_then(u32::MAX, &[0xAB; 4096]));
    let e = s.violation(at.conn, "0xFFFFFFFF after the handshake");
    assert!(matches!(e, WireError::FrameTooLarge { .. }), "{e:?}");
    at.assert_closed(PROMPT, "0xFFFFFFFF after the handshake");
    s.honest_traffic("after 0xFFFFFFFF");

    // A header of 0: undecodable, answered, tolerated up to the limit.
    let before = s.victim.counters();
    let mut zero = s.join(&[]);
    zero.send(&header_then(0, &[])).expect("write");
    let answer = zero.wait_frame(PROMPT, is_renegotiation);
    assert!(
        answer.is_some(),
        "a zero-length frame is answered with py2p's renegotiation"
    );
    assert_eq!(s.victim.counters().undecodable, before.undecodable + 1);
    let zid = PeerId::from(zero.id.as_str());
    assert!(
        s.victim.routes().contains(&zid),
        "one bad frame is tolerated"
    );
    let max_failures = Config::new(s.protocol.clone(), s.victim.out_addr()).max_decode_failures;
    for _ in 0..max_failures {
        let _ = zero.send(&header_then(0, &[]));
    }
    let (_, reason) = s.rejection(zero.conn, "repeated zero-length frames");
    assert_eq!(reason, RejectReason::UndecodableFrames);
    zero.assert_closed(PROMPT, "repeated zero-length frames");
    let after = s.victim.counters();
    assert_eq!(
        after.undecodable,
        before.undecodable + u64::from(max_failures) + 1
    );
    assert_eq!(after.rejected.undecodable, before.rejected.undecodable + 1);
    assert!(after.violations >= 2, "both 0xFFFFFFFF headers counted");

    s.honest_traffic("after the zero-length frames");
    s.assert_routes(&[], "after the length attacks");
    mem.check("length headers");
    s.close();
}

// ----- 2 and 9. slow peers ---------------------------------------------------

/// Truncated frames and slowloris, all at once: a frame whose header
/// promises 1,000 bytes of which 100 come, a frame of `max_frame` bytes
/// of which all but one come (16 MiB buffered: memory stays within
/// bounds), half a header, and two peers
/// trickling a byte every 100 ms (one still in its handshake, one in the
/// routing table). Progress does not reset a timer: the first four are
/// closed at the stall timeout (`Rejected { Stalled }`), the one without a
/// handshake at the handshake timeout (`Rejected { HandshakeTimeout }`).
/// Honest traffic flows meanwhile.
pub fn slow_peers(adapter: &dyn Adapter) {
    let mut s = Scene::new(adapter, |_| {});
    let mem = Memory::watch();
    let before = s.victim.counters();

    let mut truncated = s.join(&[]);
    let mut nearly_whole = s.join(&[]);
    let mut half_header = s.join(&[]);
    let mut drip_peer = s.join(&[]);
    let (frame, _) = drip_peer.broadcast(unix_now(), vec![bin(&tag("slow"))]);

    let started = Instant::now();
    truncated
        .send(&header_then(1000, &[0x42; 100]))
        .expect("write");
    half_header.send(&[0x00, 0x00]).expect("write");
    // The largest frame allowed, all but its last byte: the most one
    // connection may make the victim buffer.
    let max_frame = Limits::default().max_frame;
    nearly_whole
        .send(&(max_frame as u32).to_be_bytes())
        .expect("write");
    let piece = [0x42u8; 64 * 1024];
    let mut left = max_frame - 1;
    while left > 0 {
        let k = left.min(piece.len());
        nearly_whole.send(&piece[..k]).expect("write");
        left -= k;
    }

    // Byte by byte: one peer mid-handshake, one mid-frame.
    let mut drip_raw = Attacker::connect(s.victim.port());
    let hs = drip_raw.handshake(&s.protocol_id(), &[]);
    // After closing, the victim drains a socket for a while (mesh-host's
    // CLOSE_LINGER) so writes still succeed: the trickles stop when told.
    let stop = Arc::new(AtomicBool::new(false));
    let drip = |mut stream: TcpStream, bytes: Bytes| {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut sent = 0usize;
            for b in bytes.iter() {
                if stop.load(Ordering::Relaxed) || stream.write_all(&[*b]).is_err() {
                    break;
                }
                sent += 1;
                thread::sleep(Duration::from_millis(100));
            }
            sent
        })
    };
    let drip_hs = drip(drip_raw.stream.try_clone().expect("clone"), hs);
    let drip_frame = drip(drip_peer.stream.try_clone().expect("clone"), frame);

    // Honest traffic while four connections hang.
    s.honest_traffic("during the slow attacks");

    let mut closes = Vec::new();
    for (name, at, timeout) in [
        ("truncated frame", &mut truncated, STALL_TIMEOUT),
        (
            "a max_frame frame but its last byte",
            &mut nearly_whole,
            STALL_TIMEOUT,
        ),
        ("half a header", &mut half_header, STALL_TIMEOUT),
        ("a byte at a time mid-frame", &mut drip_peer, STALL_TIMEOUT),
        (
            "a byte at a time mid-handshake",
            &mut drip_raw,
            HANDSHAKE_TIMEOUT,
        ),
    ] {
        let left = (timeout + SLACK).saturating_sub(started.elapsed());
        at.assert_closed(left, name);
        let at_close = started.elapsed();
        closes.push((name, at_close));
        assert!(
            at_close + Duration::from_millis(150) >= timeout,
            "{name}: closed after {at_close:?}, before its timeout {timeout:?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let bytes_hs = drip_hs.join().expect("drip thread");
    let bytes_frame = drip_frame.join().expect("drip thread");
    assert!(
        bytes_hs >= 3 && bytes_frame >= 3,
        "the trickles made progress before the close ({bytes_hs}, {bytes_frame} bytes)"
    );

    // The events: four stalls (with their connections) and one timeout.
    let mut stalled = Vec::new();
    let mut timed_out = 0;
    while stalled.len() < 4 || timed_out < 1 {
        let (conn, reason) = s.rejection(None, "the slow peers' rejections");
        match reason {
            RejectReason::Stalled => stalled.push(conn),
            RejectReason::HandshakeTimeout => timed_out += 1,
            other => panic!("unexpected rejection {other:?} (closes: {closes:?})"),
        }
    }
    stalled.sort();
    let mut want = vec![
        truncated.conn.expect("conn"),
        nearly_whole.conn.expect("conn"),
        half_header.conn.expect("conn"),
        drip_peer.conn.expect("conn"),
    ];
    want.sort();
    assert_eq!(stalled, want, "the four stalled connections");
    let after = s.victim.counters();
    assert_eq!(after.rejected.stalled, before.rejected.stalled + 4);
    assert_eq!(
        after.rejected.handshake_timeout,
        before.rejected.handshake_timeout + 1
    );

    s.honest_traffic("after the slow attacks");
    s.assert_routes(&[], "after the slow attacks");
    mem.check("slow peers");
    s.close();
}

// ----- 3. bad checksums ------------------------------------------------------

/// Frames whose checksum (the message id) does not match the body: each
/// is undecodable (answered with py2p's renegotiation, counted, never
/// delivered or relayed); one more than `max_decode_failures` of them
/// closes the link (`Rejected { UndecodableFrames }`).
pub fn bad_checksums(adapter: &dyn Adapter) {
    let mut s = Scene::new(adapter, |_| {});
    let mem = Memory::watch();
    let before = s.victim.counters();
    let mut at = s.join(&[]);
    let max_failures = Config::new(s.protocol.clone(), s.victim.out_addr()).max_decode_failures;

    let payload = tag("bad checksum");
    let (good, _) = at.broadcast(unix_now(), vec![bin(&payload)]);
    let (other, _) = at.broadcast(unix_now(), vec![bin(b"another body")]);
    let mut bad_frames: Vec<Vec<u8>> = Vec::new();
    // One bit of the checksum flipped.
    let mut flipped = good.to_vec();
    flipped[4] ^= 1;
    bad_frames.push(flipped);
    // The checksum of another body.
    let mut swapped = good.to_vec();
    swapped[4..36].copy_from_slice(&other[4..36]);
    bad_frames.push(swapped);
    // All zeros; and one bit of the body flipped.
    let mut zeros = good.to_vec();
    zeros[4..36].fill(0);
    bad_frames.push(zeros);
    let mut body_bit = good.to_vec();
    let last = body_bit.len() - 1;
    body_bit[last] ^= 0x80;
    bad_frames.push(body_bit);
    assert!(bad_frames.len() > max_failures as usize);

    at.send(&bad_frames[0]).expect("write");
    assert!(
        at.wait_frame(PROMPT, is_renegotiation).is_some(),
        "a bad checksum is answered with py2p's renegotiation"
    );
    assert_eq!(s.victim.counters().undecodable, before.undecodable + 1);
    for f in &bad_frames[1..=max_failures as usize] {
        let _ = at.send(f);
    }
    let (_, reason) = s.rejection(at.conn, "repeated bad checksums");
    assert_eq!(reason, RejectReason::UndecodableFrames);
    at.assert_closed(PROMPT, "repeated bad checksums");

    // Never delivered nor relayed: the next honest broadcast comes first.
    let marker = tag("marker");
    s.a.send(vec![bin(&marker)]).expect("send");
    nothing_before(&*s.b, &marker, &[&payload], "bad checksums at b");
    nothing_before(
        &*s.victim,
        &marker,
        &[&payload],
        "bad checksums at the victim",
    );
    let after = s.victim.counters();
    assert_eq!(
        after.undecodable,
        before.undecodable + u64::from(max_failures) + 1
    );
    assert_eq!(after.delivered, before.delivered + 1, "only the marker");

    s.honest_traffic("after bad checksums");
    s.assert_routes(&[], "after bad checksums");
    mem.check("bad checksums");
    s.close();
}

// ----- 4. wrong shapes and types ---------------------------------------------

type Check = fn(&WireError) -> bool;

/// Bodies of the wrong shape or types (checksums right): each closes its
/// link with `ProtocolViolation` naming the fault. Messages of the right
/// shape whose packets have the wrong types (a peer list that is a str, a
/// request for an int...) are ignored, and the link stays.
pub fn wrong_shapes(adapter: &dyn Adapter) {
    let mut s = Scene::new(adapter, |_| {});
    let mem = Memory::watch();
    let before = s.victim.counters();
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("body a map", vec![0x80], |e| {
            matches!(e, WireError::BodyNotArray)
        }),
        ("body an int", vec![0x07], |e| {
            matches!(e, WireError::BodyNotArray)
        }),
        ("two header fields", vec![0x92, 0x00, 0xc4, 0x00], |e| {
            matches!(e, WireError::TooFewFields { got: 2 })
        }),
        (
            "msg_type a str",
            vec![0x93, 0xa1, b'x', 0xc4, 0x00, 0x01],
            |e| {
                matches!(
                    e,
                    WireError::BadHeaderField {
                        field: "msg_type",
                        ..
                    }
                )
            },
        ),
        (
            "msg_type negative",
            vec![0x93, 0xff, 0xc4, 0x00, 0x01],
            |e| {
                matches!(
                    e,
                    WireError::BadHeaderField {
                        field: "msg_type",
                        ..
                    }
                )
            },
        ),
        ("sender an int", vec![0x93, 0x00, 0x05, 0x01], |e| {
            matches!(
                e,
                WireError::BadHeaderField {
                    field: "sender",
                    ..
                }
            )
        }),
        (
            "time a float",
            {
                let mut b = vec![0x93, 0x00, 0xc4, 0x00, 0xcb];
                b.extend_from_slice(&1.5f64.to_be_bytes());
                b
            },
            |e| matches!(e, WireError::BadHeaderField { field: "time", .. }),
        ),
        (
            "invalid UTF-8 in a str packet",
            body_with(1, &[0xa2, 0xc3, 0x28]),
            |e| matches!(e, WireError::InvalidUtf8 { .. }),
        ),
        (
            "invalid UTF-8 in a str sender",
            vec![0x93, 0x00, 0xa2, 0xff, 0xfe, 0x01],
            |e| matches!(e, WireError::InvalidUtf8 { .. }),
        ),
        ("an ext value", body_with(1, &[0xd4, 0x01, 0x00]), |e| {
            matches!(e, WireError::ExtNotSupported { .. })
        }),
        ("the reserved marker 0xc1", body_with(1, &[0xc1]), |e| {
            matches!(e, WireError::ReservedMarker { .. })
        }),
        ("a str cut short", body_with(1, &[0xa5, b'a', b'b']), |e| {
            matches!(e, WireError::TruncatedBody { .. })
        }),
        ("bytes after the body", body_with(1, &[0x00, 0x00]), |e| {
            matches!(e, WireError::TrailingBodyBytes { extra: 1 })
        }),
    ];
    let n = cases.len() as u64;
    for (name, body, check) in cases {
        let mut at = s.join(&[]);
        at.send(&framed(&body)).expect("write");
        let e = s.violation(at.conn, name);
        assert!(check(&e), "{name}: {e:?}");
        let id = PeerId::from(at.id.as_str());
        assert!(
            !s.victim.routes().contains(&id),
            "{name}: out of the routes"
        );
        at.assert_closed(PROMPT, name);
    }
    assert_eq!(s.victim.counters().violations, before.violations + n);
    s.honest_traffic("after bodies of the wrong shape");

    // Right shape, wrong types: ignored, the link stays.
    let mut at = s.join(&[]);
    let t = unix_now();
    let junk = [
        at.frame(
            MainFlag::Whisper,
            t,
            vec![
                Value::from(SubFlag::Peers.value()),
                Value::from("not a list"),
            ],
        ),
        at.frame(
            MainFlag::Whisper,
            t,
            vec![
                Value::from(SubFlag::Peers.value()),
                Value::Array(vec![
                    Value::from(7u8),
                    Value::Array(vec![Value::from(1u8)]),
                    Value::Nil,
                ]),
            ],
        ),
        at.frame(
            MainFlag::Whisper,
            t,
            vec![Value::from(SubFlag::Request.value()), Value::from(5u8)],
        ),
        at.frame(
            MainFlag::Broadcast,
            t,
            vec![
                Value::from(SubFlag::Request.value()),
                Value::Nil,
                Value::from(1u8),
            ],
        ),
        at.frame(
            MainFlag::Broadcast,
            t,
            vec![
                Value::from(SubFlag::Response.value()),
                Value::from(true),
                Value::Nil,
            ],
        ),
        at.frame(
            MainFlag::Renegotiate,
            t,
            vec![
                Value::from(SubFlag::Compression.value()),
                Value::from("zlib"),
            ],
        ),
        at.frame(MainFlag::Renegotiate, t, vec![Value::from("resend")]),
        at.frame(
            MainFlag::Whisper,
            t,
            vec![Value::from(SubFlag::Handshake.value()), Value::from(1u8)],
        ),
        at.frame(MainFlag::Broadcast, t, vec![]),
        at.frame(
            MainFlag::Broadcast,
            t,
            vec![Value::from(-1i8), Value::from(0.5f64)],
        ),
        at.frame(
            MainFlag::Whisper,
            t,
            vec![Value::Map(vec![(Value::Nil, Value::Nil)])],
        ),
    ];
    for f in &junk {
        at.send(f).expect("write");
    }
    let control = tag("after junk");
    let (f, _) = at.broadcast(unix_now(), vec![bin(&control)]);
    at.send(&f).expect("write");
    expect_payload(&*s.b, &control, "the attacker's broadcast after its junk");
    let aid = PeerId::from(at.id.as_str());
    s.assert_routes(&[&aid], "junk of the right shape is ignored");
    assert!(
        at.still_open(Duration::from_millis(100)),
        "the junk sender stays linked"
    );
    assert_eq!(s.victim.counters().violations, before.violations + n);

    s.honest_traffic("after junk of the right shape");
    mem.check("wrong shapes");
    s.close();
}

// ----- 5. huge containers, deep nesting --------------------------------------

/// msgpack containers claiming billions of items (array, map, str, bin,
/// the body array itself) and nesting far past `max_depth` (to a depth of
/// a million, which a recursive parser would not survive): each a
/// `ProtocolViolation`, without an allocation sized by the claim.
pub fn huge_containers(adapter: &dyn Adapter) {
    let mut s = Scene::new(adapter, |_| {});
    let mem = Memory::watch();
    let max_depth = Limits::default().max_depth;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        (
            "array32 claiming 4 billion",
            body_with(1, &[0xdd, 0xff, 0xff, 0xff, 0xff, 0x00]),
            |e| {
                matches!(
                    e,
                    WireError::ContainerTooLong {
                        len: 4_294_967_295,
                        ..
                    }
                )
            },
        ),
        (
            "map32 claiming 4 billion",
            body_with(1, &[0xdf, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00]),
            |e| {
                matches!(
                    e,
                    WireError::ContainerTooLong {
                        len: 4_294_967_295,
                        ..
                    }
                )
            },
        ),
        (
            "array32 claiming a million (under the cap, over the bytes)",
            body_with(1, &[0xdd, 0x00, 0x0f, 0x42, 0x40, 0x00]),
            |e| matches!(e, WireError::ContainerOverrun { len: 1_000_000, .. }),
        ),
        (
            "bin32 claiming 4 GiB",
            body_with(1, &[0xc6, 0xff, 0xff, 0xff, 0xff, 0x00]),
            |e| {
                matches!(
                    e,
                    WireError::TruncatedBody { .. } | WireError::ContainerOverrun { .. }
                )
            },
        ),
        (
            "str32 claiming 4 GiB",
            body_with(1, &[0xdb, 0xff, 0xff, 0xff, 0xff, b'a']),
            |e| {
                matches!(
                    e,
                    WireError::TruncatedBody { .. } | WireError::ContainerOverrun { .. }
                )
            },
        ),
        (
            "the body array claiming 4 billion fields",
            vec![0xdd, 0xff, 0xff, 0xff, 0xff, 0x00, 0xc4, 0x00, 0x01],
            |e| {
                matches!(
                    e,
                    WireError::ContainerTooLong { .. } | WireError::TooManyPackets { .. }
                )
            },
        ),
        ("nesting just past max_depth", nested(max_depth + 1), |e| {
            matches!(e, WireError::TooDeep { .. })
        }),
        ("nesting a million deep", nested(1_000_000), |e| {
            matches!(e, WireError::TooDeep { .. })
        }),
        (
            "maps nested a million deep",
            {
                let mut rest = Vec::with_capacity(2_000_001);
                for _ in 0..1_000_000 {
                    rest.extend_from_slice(&[0x81, 0x00]);
                }
                rest.push(0x00);
                body_with(1, &rest)
            },
            |e| matches!(e, WireError::TooDeep { .. }),
        ),
    ];
    let before = s.victim.counters();
    let n = cases.len() as u64;
    for (name, body, check) in cases {
        let mut at = s.join(&[]);
        let _ = at.send(&framed(&body));
        let e = s.violation(at.conn, name);
        assert!(check(&e), "{name}: {e:?}");
        at.assert_closed(PROMPT, name);
    }
    assert_eq!(s.victim.counters().violations, before.violations + n);
    // At the limit is fine: the body array is depth 1.
    let at = s.join(&[]);
    let mut deep = Value::Array(vec![]);
    for _ in 0..max_depth - 2 {
        deep = Value::Array(vec![deep]);
    }
    let marker = tag("deep but legal");
    let f = at.frame(
        MainFlag::Broadcast,
        unix_now(),
        vec![Value::from(SubFlag::Broadcast.value()), bin(&marker), deep],
    );
    let mut at = at;
    at.send(&f).expect("write");
    expect_payload(&*s.b, &marker, "a body at max_depth is relayed");

    s.honest_traffic("after huge containers");
    mem.check("huge containers");
    s.close();
}

// ----- 6. compression bombs --------------------------------------------------

/// For each of zlib, gzip and snappy, an attacker that negotiated that
/// method sends a valid-looking frame (checksum right) of a few KiB that
/// inflates to 4 times the victim's `max_decompressed`: the cap trips, the
/// frame is undecodable (answered, counted, never delivered), and one more
/// than `max_decode_failures` of them close the link
/// (`Rejected { UndecodableFrames }`).
pub fn compression_bombs(adapter: &dyn Adapter) {
    let mut s = Scene::new(adapter, |_| {});
    let mem = Memory::watch();
    let max_failures = Config::new(s.protocol.clone(), s.victim.out_addr()).max_decode_failures;
    for (method, bomb) in bombs() {
        let before = s.victim.counters();
        let mut at = s.join(&[*method]);
        at.send(bomb).expect("write");
        assert!(
            at.wait_frame(PROMPT, is_renegotiation).is_some(),
            "{method:?}: a bomb is answered with py2p's renegotiation"
        );
        for _ in 0..max_failures {
            let _ = at.send(bomb);
        }
        let (_, reason) = s.rejection(at.conn, "repeated bombs");
        assert_eq!(reason, RejectReason::UndecodableFrames, "{method:?}");
        at.assert_closed(PROMPT, "repeated bombs");
        let after = s.victim.counters();
        assert_eq!(
            after.undecodable,
            before.undecodable + u64::from(max_failures) + 1,
            "{method:?}"
        );
        let control = tag("after the bomb");
        s.a.send(vec![bin(&control)]).expect("send");
        nothing_before(
            &*s.victim,
            &control,
            &[BOMB_MARKER],
            "the bomb at the victim",
        );
        nothing_before(&*s.b, &control, &[BOMB_MARKER], "the bomb at b");
        mem.check(&format!("a {method:?} bomb"));
    }
    s.honest_traffic("after the bombs");
    s.assert_routes(&[], "after the bombs");
    mem.check("compression bombs");
    s.close();
}

/// The packet a bomb carries next to its zeros.
const BOMB_MARKER: &[u8] = b"bomb";

/// One bomb per method, made once per process (compressing 4 MiB is slow
/// in a debug build): a broadcast whose checksum is right, holding 4 times
/// the victim's `max_decompressed` of zeros. Its sender need not be the
/// link's peer (relays forward others' frames).
fn bombs() -> &'static [(Compression, Bytes)] {
    static BOMBS: std::sync::OnceLock<Vec<(Compression, Bytes)>> = std::sync::OnceLock::new();
    BOMBS.get_or_init(|| {
        let zeros = vec![0u8; 4 * MAX_DECOMPRESSED];
        [Compression::Zlib, Compression::Gzip, Compression::Snappy]
            .into_iter()
            .map(|method| {
                let packets = vec![
                    Value::from(SubFlag::Broadcast.value()),
                    bin(BOMB_MARKER),
                    bin(&zeros),
                ];
                let bomb = Frame::new(
                    MainFlag::Broadcast.value().into(),
                    fresh_id(),
                    unix_now(),
                    packets,
                )
                .encode(Some(method))
                .expect("compress");
                assert!(
                    bomb.len() < zeros.len() / 8,
                    "{method:?}: a small frame ({} bytes)",
                    bomb.len()
                );
                // A real frame that only the victim's cap stops.
                let roomy = Limits {
                    max_decompressed: 8 * MAX_DECOMPRESSED,
                    ..Limits::default()
                };
                decode_frame(bomb.clone(), &[method], &roomy).expect("a valid frame");
                let victims = Limits {
                    max_decompressed: MAX_DECOMPRESSED,
                    ..Limits::default()
                };
                let e = decode_frame(bomb.clone(), &[method], &victims).expect_err("a bomb");
                assert!(
                    matches!(e, WireError::DecompressedTooLarge { .. }),
                    "{method:?}: {e:?}"
                );
                (method, bomb)
            })
            .collect()
    })
}

// ----- 7. handshakes ---------------------------------------------------------

/// Handshakes that must not get in. Another subnet and our own id are
/// refused at once (`Rejected { ProtocolMismatch }`, `{ SelfConnection }`).
/// A handshake with a field missing, one with an extra field (py2p takes
/// exactly five packets), and ones with fields of the wrong types are not
/// handshakes: the connection is closed at the handshake timeout
/// (`Rejected { HandshakeTimeout }`), never in the routing table.
pub fn bad_handshakes(adapter: &dyn Adapter) {
    let mut s = Scene::new(adapter, |_| {});
    let mem = Memory::watch();
    let before = s.victim.counters();
    let pid = s.protocol_id();

    // Another subnet.
    let mut other = Attacker::connect(s.victim.port());
    let theirs = Protocol::new("not-hostile", Encryption::Plaintext).id();
    other.send(&other.handshake(&theirs, &[])).expect("write");
    let (_, reason) = s.rejection(None, "another subnet");
    assert_eq!(reason, RejectReason::ProtocolMismatch { theirs });
    let took = other.assert_closed(PROMPT, "another subnet");
    assert!(
        took < HANDSHAKE_TIMEOUT,
        "refused at once, not at the timeout"
    );
    // The other encryption is another protocol too.
    let mut tls_id = Attacker::connect(s.victim.port());
    let ssl = Protocol::new(SUBNET, Encryption::Ssl).id();
    tls_id.send(&tls_id.handshake(&ssl, &[])).expect("write");
    let (_, reason) = s.rejection(None, "the SSL protocol id in plaintext");
    assert!(
        matches!(reason, RejectReason::ProtocolMismatch { .. }),
        "{reason:?}"
    );
    tls_id.assert_closed(PROMPT, "the SSL protocol id");

    // The victim's own id.
    let mut me = Attacker::connect(s.victim.port());
    me.id = s.victim.id_text();
    me.send(&me.handshake(&pid, &[])).expect("write");
    let (_, reason) = s.rejection(None, "our own id");
    assert_eq!(reason, RejectReason::SelfConnection);
    me.assert_closed(PROMPT, "our own id");

    // Not handshakes at all: they wait out the handshake timeout.
    let started = Instant::now();
    let mut slow: Vec<(&str, Attacker)> = Vec::new();
    let mut send = |name: &'static str, make: &dyn Fn(&Attacker) -> Vec<Value>| {
        let mut at = Attacker::connect(s.victim.port());
        let hs = at.handshake_with(make(&at));
        at.send(&hs).expect("write");
        slow.push((name, at));
    };
    send("a missing field", &|at| {
        let mut f = at.handshake_fields(&pid, &[]);
        f.pop();
        f
    });
    send("an extra field", &|at| {
        let mut f = at.handshake_fields(&pid, &[]);
        f.push(Value::from("extra"));
        f
    });
    send("the id an int", &|at| {
        let mut f = at.handshake_fields(&pid, &[]);
        f[0] = Value::from(42u8);
        f
    });
    send("the port a str", &|at| {
        let mut f = at.handshake_fields(&pid, &[]);
        f[2] = Value::Array(vec![Value::from("127.0.0.1"), Value::from("80")]);
        f
    });
    send("the port past u16", &|at| {
        let mut f = at.handshake_fields(&pid, &[]);
        f[2] = Value::Array(vec![Value::from("127.0.0.1"), Value::from(70_000u32)]);
        f
    });
    send("the host invalid UTF-8 (bin)", &|at| {
        let mut f = at.handshake_fields(&pid, &[]);
        f[2] = Value::Array(vec![bin(&[0xff, 0xfe, 0x80]), Value::from(1u16)]);
        f
    });
    send("the methods a map", &|at| {
        let mut f = at.handshake_fields(&pid, &[]);
        f[3] = Value::Map(vec![]);
        f
    });
    let n = slow.len();
    s.honest_traffic("while bad handshakes wait");
    for (name, at) in &mut slow {
        let left = (HANDSHAKE_TIMEOUT + SLACK).saturating_sub(started.elapsed());
        at.assert_closed(left, name);
        let at_close = started.elapsed();
        assert!(
            at_close + Duration::from_millis(150) >= HANDSHAKE_TIMEOUT,
            "{name}: closed after {at_close:?}, before the handshake timeout"
        );
        let id = PeerId::from(at.id.as_str());
        assert!(!s.victim.routes().contains(&id), "{name}: never a route");
    }
    for _ in 0..n {
        let (_, reason) = s.rejection(None, "bad handshakes timing out");
        assert_eq!(reason, RejectReason::HandshakeTimeout);
    }
    let after = s.victim.counters();
    assert_eq!(
        after.rejected.protocol_mismatch,
        before.rejected.protocol_mismatch + 2
    );
    assert_eq!(
        after.rejected.self_connection,
        before.rejected.self_connection + 1
    );
    assert_eq!(
        after.rejected.handshake_timeout,
        before.rejected.handshake_timeout + n as u64
    );

    s.honest_traffic("after bad handshakes");
    s.assert_routes(&[], "after bad handshakes");
    mem.check("bad handshakes");
    s.close();
}

// ----- 8. peer lists ---------------------------------------------------------

/// A peer list of `entries` entries: the first names the victim itself
/// (its id and address), the second an honest node c it does not know
/// yet, the rest made-up peers at ports nothing listens on. The victim
/// (allowed 2 outgoing links here, healing fast) must dial c, never
/// itself, and take at most `max_peers_per_list` entries: no entry past
/// that bound is ever dialed, however long the list. (Entries within it
/// may be dialed more than once: the victim's own peer list hands them to
/// c, which gossips them back when asked.)
pub fn peer_list(adapter: &dyn Adapter, entries: usize) {
    let mut s = Scene::new(adapter, |c| {
        c.max_outgoing = 2;
        c.heal_backoff = Duration::from_millis(10);
        c.heal_backoff_max = Duration::from_millis(100);
    });
    let c_idx = s.extra_node(adapter);
    let before = s.victim.counters();
    let max_per_list = Config::new(s.protocol.clone(), s.victim.out_addr()).max_peers_per_list;
    let mut at = s.join(&[]);
    let dead = at.advertised_port;

    let (c_id, c_port) = (s.extra(c_idx).id(), s.extra(c_idx).port());
    let victim_id = s.victim.id_text();
    // Entries the victim may take get dead ports of their own; every entry
    // past `max_peers_per_list` shares one more, which must never be dialed.
    let held: Vec<TcpListener> = (2..max_per_list)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    let taken_ports: Vec<u16> = held
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect();
    drop(held);
    let beyond = closed_port();
    let mut list = Vec::with_capacity(entries);
    list.push(peer_entry(
        "127.0.0.1",
        s.victim.port(),
        victim_id.as_bytes(),
    ));
    list.push(peer_entry("127.0.0.1", c_port, &c_id.0));
    for i in 2..entries {
        let port = taken_ports.get(i - 2).copied().unwrap_or(beyond);
        list.push(peer_entry("127.0.0.1", port, format!("Fake{i}").as_bytes()));
    }
    assert!(entries > max_per_list, "some entries are past the bound");
    let frame = at.frame(
        MainFlag::Whisper,
        unix_now(),
        vec![Value::from(SubFlag::Peers.value()), Value::Array(list)],
    );
    assert!(frame.len() <= Limits::default().max_frame);
    // Watched from here: building the list is the attacker's memory.
    let mem = Memory::watch();
    at.send(&frame).expect("write");
    drop(frame);

    let victim = &*s.victim;
    wait_until("the victim dials c from the list", LIMIT, || {
        victim.routes().contains(&c_id)
    });
    // Let failed dials and healing run their course, counting them.
    let mut dead_dials = 0usize;
    let mut beyond_dials = 0usize;
    let deadline = Instant::now() + Duration::from_millis(700);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match s.events.next(left) {
            Ok(Some(Event::DialFailed { addr, .. })) if addr.port == beyond => beyond_dials += 1,
            Ok(Some(Event::DialFailed { addr, .. }))
                if addr.port == dead || taken_ports.contains(&addr.port) =>
            {
                dead_dials += 1
            }
            Ok(Some(Event::Rejected {
                reason: RejectReason::SelfConnection,
                ..
            })) => panic!("the victim dialed itself"),
            Ok(Some(_)) => {}
            Ok(None) => panic!("the victim's events ended"),
            Err(_) => break,
        }
    }
    assert_eq!(
        beyond_dials, 0,
        "entries past max_peers_per_list ({max_per_list}) of a list of {entries} were dialed"
    );
    eprintln!("{dead_dials} dials to dead peers taken from the list or gossiped back");
    let after = s.victim.counters();
    assert_eq!(
        after.rejected.self_connection, before.rejected.self_connection,
        "the victim never dialed itself"
    );
    let me = s.victim.id();
    assert!(!s.victim.routes().contains(&me), "never its own route");
    let aid = PeerId::from(at.id.as_str());
    s.assert_routes(&[&aid, &c_id], "after the peer list");
    assert!(
        at.still_open(Duration::from_millis(50)),
        "a peer list is no offence"
    );

    // c gets honest traffic through the victim too.
    let marker = tag("to c");
    s.a.send(vec![bin(&marker)]).expect("send");
    expect_payload(s.extra(c_idx), &marker, "a's broadcast at c");
    s.honest_traffic("after the peer list");
    mem.check("a peer list");
    s.close();
}

// ----- 10. connection flood --------------------------------------------------

/// `n` connections that never handshake, at most 200 open at once, against
/// a victim allowing 16 pending handshakes. What happens to each: the core
/// refuses it at once (`Rejected { TooManyPendingHandshakes }`), or holds
/// it until the handshake timeout (`Rejected { HandshakeTimeout }`), or the
/// runtime parks it (mesh-host's `Parked`: at most `max_inbound`, no
/// buffer, no event) until a place frees or the handshake timeout drops
/// it. So every one is closed by the victim within two handshake timeouts,
/// and at most 16 + `max_inbound` are held per timeout. Meanwhile the
/// victim dials an honest node c; afterwards an honest node d dials the
/// victim; both get traffic; the process's descriptors come back.
pub fn connection_flood(adapter: &dyn Adapter, n: usize) {
    const PENDING: usize = 16;
    const OPEN_AT_ONCE: usize = 200;
    let mut s = Scene::new(adapter, |c| c.max_pending_handshakes = PENDING);
    let max_inbound = Config::new(s.protocol.clone(), s.victim.out_addr()).max_inbound;
    let c_idx = s.extra_node(adapter);
    let d_idx = s.extra_node(adapter);
    let mem = Memory::watch();
    let fds = open_fds();
    let before = s.victim.counters();
    let port = s.victim.port();
    // Parked for up to one handshake timeout, then held by the core for
    // another: no connection may outlive this.
    let longest = 2 * HANDSHAKE_TIMEOUT + SLACK;

    let started = Instant::now();
    let (victim, c) = (&*s.victim, s.extra(c_idx));
    let lifetimes = thread::scope(|scope| {
        let mut dial_c = None;
        let mut open: Vec<(TcpStream, Instant)> = Vec::with_capacity(OPEN_AT_ONCE);
        let mut lifetimes: Vec<Duration> = Vec::with_capacity(n);
        let mut opened = 0usize;
        let mut buf = [0u8; 4096];
        while lifetimes.len() < n {
            let mut progress = false;
            while opened < n && open.len() < OPEN_AT_ONCE {
                let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                stream.set_nonblocking(true).expect("nonblocking");
                open.push((stream, Instant::now()));
                opened += 1;
                progress = true;
            }
            if dial_c.is_none() && opened >= n / 2 {
                // Mid-flood, the victim dials out: nothing stops it.
                dial_c = Some(scope.spawn(|| link(victim, c)));
            }
            open.retain_mut(|(stream, since)| {
                let gone = loop {
                    match stream.read(&mut buf) {
                        Ok(0) => break true,
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => break true,
                    }
                };
                let lived = since.elapsed();
                if gone {
                    lifetimes.push(lived);
                    progress = true;
                } else {
                    assert!(
                        lived < longest,
                        "a silent connection left open for {lived:?}"
                    );
                }
                !gone
            });
            if !progress {
                thread::sleep(Duration::from_millis(2));
            }
        }
        let dial_c = dial_c.expect("the victim dialed c mid-flood");
        dial_c.join().expect("the victim links with c mid-flood");
        lifetimes
    });
    let flood_took = started.elapsed();
    let slowest = lifetimes.iter().max().copied().unwrap_or_default();
    assert!(slowest < longest, "a connection lived {slowest:?}");

    // Refused at once, or held to a timeout: never more at a time than
    // the pending places and the parking.
    let after = s.victim.counters();
    let refused = after.rejected.over_capacity - before.rejected.over_capacity;
    let timed_out = after.rejected.handshake_timeout - before.rejected.handshake_timeout;
    let held = lifetimes
        .iter()
        .filter(|l| **l >= HANDSHAKE_TIMEOUT / 2)
        .count();
    let rounds = flood_took.as_secs_f64() / HANDSHAKE_TIMEOUT.as_secs_f64() + 2.0;
    let capacity = (PENDING + max_inbound) as f64 * rounds;
    eprintln!(
        "{n} silent connections in {flood_took:?}: {refused} refused, {timed_out} timed out \
         in the core, {held} held ~a timeout, slowest {slowest:?}"
    );
    assert!(
        refused + timed_out <= n as u64,
        "more rejections ({refused} + {timed_out}) than connections ({n})"
    );
    assert!(
        held as f64 <= capacity,
        "{held} connections held to a timeout in {flood_took:?}: more than {PENDING} pending \
         + {max_inbound} parked at a time"
    );
    if n > 2 * (PENDING + max_inbound) {
        assert!(refused > 0, "the pending-handshake cap refused some");
    }

    // The places are free again: d gets in, and everyone gets traffic.
    link(s.extra(d_idx), &*s.victim);
    let marker = tag("after the flood");
    s.a.send(vec![bin(&marker)]).expect("send");
    for (name, node) in [("b", &*s.b), ("c", s.extra(c_idx)), ("d", s.extra(d_idx))] {
        expect_payload(node, &marker, &format!("a's broadcast at {name}"));
    }
    s.honest_traffic("after the flood");
    let (cid, did) = (s.extra(c_idx).id(), s.extra(d_idx).id());
    s.assert_routes(&[&cid, &did], "after the flood");
    wait_until("the victim's descriptors come back", LIMIT, || {
        open_fds() <= fds + 8
    });
    mem.check("a connection flood");
    s.close();
}

// ----- 11. stale and future broadcasts ---------------------------------------

/// Broadcasts stamped an hour old and an hour ahead (checksums right, from
/// a peer in the routing table) are dropped: counted as `stale` and
/// `future`, never delivered, never relayed. A fresh one from the same
/// peer right after is delivered and relayed (the path works). The link
/// stays: py2p drops old broadcasts the same way, without an event.
pub fn stale_and_future(adapter: &dyn Adapter) {
    let mut s = Scene::new(adapter, |_| {});
    let mem = Memory::watch();
    let before = s.victim.counters();
    let mut at = s.join(&[]);
    let (old, ahead, fresh) = (tag("an hour old"), tag("an hour ahead"), tag("fresh"));
    let now = unix_now();
    let (f_old, _) = at.broadcast(now - 3600, vec![bin(&old)]);
    let (f_ahead, _) = at.broadcast(now + 3600, vec![bin(&ahead)]);
    at.send(&f_old).expect("write");
    at.send(&f_ahead).expect("write");
    let victim = &*s.victim;
    wait_until("both counted", LIMIT, || {
        let c = victim.counters();
        c.stale > before.stale && c.future > before.future
    });
    let mid = s.victim.counters();
    assert_eq!(mid.stale, before.stale + 1);
    assert_eq!(mid.future, before.future + 1);
    assert_eq!(mid.relayed, before.relayed, "neither was relayed");
    assert_eq!(mid.delivered, before.delivered, "neither was delivered");

    let (f_fresh, _) = at.broadcast(unix_now(), vec![bin(&fresh)]);
    at.send(&f_fresh).expect("write");
    for (name, node) in [("the victim", &*s.victim), ("a", &*s.a), ("b", &*s.b)] {
        nothing_before(node, &fresh, &[&old, &ahead], name);
    }
    let after = s.victim.counters();
    assert!(after.relayed > mid.relayed, "the fresh one was relayed");
    let aid = PeerId::from(at.id.as_str());
    s.assert_routes(&[&aid], "stale broadcasts are no offence");

    s.honest_traffic("after stale and future broadcasts");
    mem.check("stale and future broadcasts");
    s.close();
}

// ----- 12. duplicates --------------------------------------------------------

/// `copies` copies of one broadcast, written as fast as the socket takes
/// them in big writes: delivered once at the victim, a and b, relayed once
/// to each; every other copy counted as a duplicate; memory flat.
pub fn duplicates(adapter: &dyn Adapter, copies: usize) {
    let mut s = Scene::new(adapter, |_| {});
    let before = s.victim.counters();
    let mut at = s.join(&[]);
    let payload = tag("duplicated");
    let (frame, _) = at.broadcast(unix_now(), vec![bin(&payload)]);
    const PER_WRITE: usize = 4096;
    let chunk: Vec<u8> = frame
        .iter()
        .copied()
        .cycle()
        .take(frame.len() * PER_WRITE)
        .collect();
    let mem = Memory::watch();
    let started = Instant::now();
    let mut left = copies;
    while left > 0 {
        let k = left.min(PER_WRITE);
        at.send(&chunk[..k * frame.len()]).expect("write");
        left -= k;
    }
    let victim = &*s.victim;
    let want = before.duplicates + copies as u64 - 1;
    wait_until("every copy seen", Duration::from_secs(60), || {
        victim.counters().duplicates >= want
    });
    let took = started.elapsed();
    mem.check(&format!("{copies} duplicates"));

    let after = s.victim.counters();
    assert_eq!(after.duplicates, want, "every other copy is a duplicate");
    assert_eq!(after.delivered, before.delivered + 1, "delivered once");
    let relayed = after.relayed - before.relayed;
    assert!(
        (1..=2).contains(&relayed),
        "relayed once to each of a and b, not per copy: {relayed}"
    );
    // A fresh broadcast on the same path: every copy that got through
    // would be delivered before it.
    let marker = tag("after the duplicates");
    let (f, _) = at.broadcast(unix_now(), vec![bin(&marker)]);
    at.send(&f).expect("write");
    for (name, node) in [("the victim", &*s.victim), ("a", &*s.a), ("b", &*s.b)] {
        let n = count_before(node, &payload, &marker, name);
        assert_eq!(n, 1, "{name} got it {n} times");
    }
    let aid = PeerId::from(at.id.as_str());
    s.assert_routes(&[&aid], "duplicates are no offence");
    eprintln!(
        "{copies} duplicates ({} MiB) handled in {took:?}",
        (copies * frame.len()) >> 20
    );

    s.honest_traffic("after the duplicates");
    mem.check("duplicates");
    s.close();
}

// ----- 13. garbage -----------------------------------------------------------

/// Random bytes, before a handshake and after one; then random bodies
/// behind plausible headers. Whatever the victim makes of them, the
/// connection is closed within the stall timeout (usually at once, as a
/// `ProtocolViolation`), with an event for it.
pub fn garbage_bytes(adapter: &dyn Adapter) {
    let mut s = Scene::new(adapter, |_| {});
    let mem = Memory::watch();

    for seed in [1u64, 2, 3] {
        // Before any handshake.
        let before = s.victim.counters();
        let mut raw = Attacker::connect(s.victim.port());
        let _ = raw.send(&garbage(seed, 64 * 1024));
        raw.assert_closed(STALL_TIMEOUT + SLACK, "garbage before a handshake");
        let after = s.victim.counters();
        let events = (after.violations - before.violations)
            + (after.rejected.stalled - before.rejected.stalled)
            + (after.rejected.undecodable - before.rejected.undecodable)
            + (after.rejected.handshake_timeout - before.rejected.handshake_timeout);
        assert_eq!(events, 1, "one rejection or violation for it");

        // After one.
        let mut at = s.join(&[]);
        let _ = at.send(&garbage(seed + 100, 64 * 1024));
        at.assert_closed(STALL_TIMEOUT + SLACK, "garbage after a handshake");
        s.peer_down(&at.id, "garbage after a handshake");
    }

    // Plausible headers, random packets: undecodable, then rejected.
    let mut at = s.join(&[]);
    let mut stream = Vec::new();
    for i in 0..6u64 {
        let packet = garbage(1000 + i, 200);
        stream.extend_from_slice(&header_then(200, &packet));
    }
    let _ = at.send(&stream);
    let (_, reason) = s.rejection(at.conn, "random packets");
    assert_eq!(reason, RejectReason::UndecodableFrames);
    at.assert_closed(PROMPT, "random packets");

    s.honest_traffic("after garbage");
    s.assert_routes(&[], "after garbage");
    mem.check("garbage");
    s.close();
}

// ----- 14. TLS mismatches ----------------------------------------------------

/// A TLS ClientHello at a plaintext node: its first 4 bytes read as a
/// length of 369 MB, refused (`ProtocolViolation { FrameTooLarge }`) and
/// closed at once.
pub fn tls_at_plaintext_node(adapter: &dyn Adapter) {
    let mut s = Scene::new(adapter, |_| {});
    let mem = Memory::watch();
    let mut at = Attacker::connect(s.victim.port());
    at.send(&client_hello()).expect("write");
    let e = s.violation(None, "a ClientHello");
    assert!(
        matches!(e, WireError::FrameTooLarge { len, .. } if len == 0x1603_0100),
        "{e:?}"
    );
    let took = at.assert_closed(PROMPT, "a ClientHello");
    assert!(
        took < HANDSHAKE_TIMEOUT,
        "at once, not at the handshake timeout"
    );
    s.honest_traffic("after a ClientHello");
    s.assert_routes(&[], "after a ClientHello");
    mem.check("TLS at a plaintext node");
    s.close();
}

/// A plaintext py2p handshake, then garbage, at a TLS node (whose honest
/// peers speak TLS): neither is TLS, so each connection is closed at once,
/// before the core ever sees it (no event, no route); the TLS mesh goes on.
pub fn plaintext_at_tls_node(adapter: &dyn Adapter) {
    let s = Scene::with(adapter, Encryption::Ssl, |c| {
        c.handshake_timeout = Duration::from_secs(10);
    });
    let mem = Memory::watch();
    let before = s.victim.counters();
    let mut plain = Attacker::connect(s.victim.port());
    plain
        .send(&plain.handshake(&s.protocol_id(), &[]))
        .expect("write");
    let took = plain.assert_closed(PROMPT, "a plaintext handshake at a TLS node");
    assert!(took < PROMPT);
    let mut junk = Attacker::connect(s.victim.port());
    let _ = junk.send(&garbage(99, 4096));
    junk.assert_closed(PROMPT, "garbage at a TLS node");
    // Half a ClientHello, then silence: the TLS handshake times out
    // (here 10 s), so only check the node is unharmed meanwhile.
    let mut half = Attacker::connect(s.victim.port());
    let hello = client_hello();
    half.send(&hello[..hello.len() / 2]).expect("write");

    s.honest_traffic("after plaintext at a TLS node");
    s.assert_routes(&[], "after plaintext at a TLS node");
    let after = s.victim.counters();
    assert_eq!(
        after.violations, before.violations,
        "the core never saw them"
    );
    assert_eq!(after.rejected, before.rejected, "the core never saw them");
    assert!(
        half.still_open(Duration::from_millis(50)),
        "a handshake under way stays"
    );
    drop(half);
    mem.check("plaintext at a TLS node");
    s.close();
}
