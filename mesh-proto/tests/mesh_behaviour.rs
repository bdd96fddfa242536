//! The `Mesh` state machine driven by hand: the test plays each py2p peer
//! itself, building frames byte for byte and reading back what the mesh
//! transmits. No simulator, no sockets, no sleeping: time is one fixed
//! `Instant` plus `Duration`s.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mesh_proto::mesh::{
    Config, ConnId, Event, Handled, HandlerCx, Mesh, Message, Output, PeerAddr, PeerId,
    RejectReason, SendError,
};
use mesh_proto::wire::{
    Compression, Decoded, Deframer, Encryption, Frame, HEADER_LEN, Limits, MainFlag, Protocol,
    SubFlag, Value, WireError, base58_int, decode_frame, frame_body,
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Unix seconds at the test's `t0`.
const UNIX: i64 = 1_764_000_000;

/// The fixed base of every clock in this file: the one `Instant` ever read;
/// every other time is this plus a `Duration`.
#[allow(clippy::disallowed_methods)] // the test, not the core, owns a clock
fn base() -> Instant {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn protocol() -> Protocol {
    Protocol::new("mesh", Encryption::Plaintext)
}

fn config() -> Config {
    Config::new(protocol(), PeerAddr::new("10.0.0.1", 4444))
}

fn mesh(cfg: Config, t0: Instant) -> Mesh {
    Mesh::new(cfg, 7, t0, Duration::from_secs(UNIX as u64))
}

fn secs(t0: Instant, s: u64) -> Instant {
    t0 + Duration::from_secs(s)
}

fn int(v: u64) -> Value {
    Value::from(v)
}

fn flags(methods: &[Compression]) -> Value {
    Value::Array(methods.iter().map(|m| Value::from(m.flag())).collect())
}

fn addr_value(addr: &PeerAddr) -> Value {
    Value::Array(vec![
        Value::from(addr.host.as_str()),
        Value::from(addr.port),
    ])
}

/// A py2p peer played by hand.
#[derive(Clone, Debug)]
struct Peer {
    id: Bytes,
    addr: PeerAddr,
    protocol_id: String,
    compression: Vec<Compression>,
}

impl Peer {
    /// Peer `n`: a base58 id, its own address, our protocol, no compression.
    fn new(n: u64) -> Peer {
        Peer {
            id: Bytes::from(base58_int(&(0x00C0_FFEE_0000_u64 + n).to_be_bytes())),
            addr: PeerAddr::new(format!("10.0.1.{n}"), 5000u16.wrapping_add(n as u16)),
            protocol_id: protocol().id(),
            compression: Vec::new(),
        }
    }

    #[cfg_attr(not(feature = "zlib"), allow(dead_code))]
    fn with_compression(mut self, methods: &[Compression]) -> Peer {
        self.compression = methods.to_vec();
        self
    }

    fn pid(&self) -> PeerId {
        PeerId(self.id.clone())
    }

    /// `[msg_type, me, time, payload...]`, plain.
    fn frame(&self, msg_type: MainFlag, time: i64, payload: Vec<Value>) -> Bytes {
        self.frame_with(msg_type, time, payload, None)
    }

    fn frame_with(
        &self,
        msg_type: MainFlag,
        time: i64,
        payload: Vec<Value>,
        compression: Option<Compression>,
    ) -> Bytes {
        Frame::new(msg_type.value().into(), self.id.clone(), time, payload)
            .encode(compression)
            .unwrap()
    }

    /// `[whisper, me, t, handshake, me, protocol_id, [host, port], [methods...]]`.
    fn handshake(&self, time: i64) -> Bytes {
        self.frame(
            MainFlag::Whisper,
            time,
            vec![
                int(SubFlag::Handshake.value().into()),
                Value::Bin(self.id.clone()),
                Value::Bin(Bytes::from(self.protocol_id.clone())),
                addr_value(&self.addr),
                flags(&self.compression),
            ],
        )
    }

    /// `[broadcast, me, t, broadcast, text]`.
    fn broadcast(&self, time: i64, text: &str) -> Bytes {
        self.frame(
            MainFlag::Broadcast,
            time,
            vec![int(SubFlag::Broadcast.value().into()), Value::from(text)],
        )
    }

    /// `[whisper, me, t, whisper, text]`.
    fn whisper(&self, time: i64, text: &str) -> Bytes {
        self.frame(
            MainFlag::Whisper,
            time,
            vec![int(SubFlag::Whisper.value().into()), Value::from(text)],
        )
    }

    /// `[renegotiate, me, t, compression, [methods...]]`.
    fn renegotiate(&self, time: i64, methods: &[Value]) -> Bytes {
        self.frame(
            MainFlag::Renegotiate,
            time,
            vec![
                int(SubFlag::Compression.value().into()),
                Value::Array(methods.to_vec()),
            ],
        )
    }

    /// `[renegotiate, me, t, resend]`.
    fn resend(&self, time: i64) -> Bytes {
        self.frame(
            MainFlag::Renegotiate,
            time,
            vec![int(SubFlag::Resend.value().into())],
        )
    }

    /// `[whisper, me, t, peers, [[[host, port], id], ...]]`.
    fn peers(&self, time: i64, entries: &[(PeerAddr, Bytes)]) -> Bytes {
        let list = entries
            .iter()
            .map(|(a, id)| Value::Array(vec![addr_value(a), Value::Bin(id.clone())]))
            .collect();
        self.frame(
            MainFlag::Whisper,
            time,
            vec![int(SubFlag::Peers.value().into()), Value::Array(list)],
        )
    }
}

/// A default mesh joined by peers 1, 2 and 3, in that order.
fn three_peers(t0: Instant) -> (Mesh, [Peer; 3], [ConnId; 3]) {
    let mut m = mesh(config(), t0);
    let peers = [Peer::new(1), Peer::new(2), Peer::new(3)];
    let conns = peers.clone().map(|p| join(&mut m, &p, t0));
    (m, peers, conns)
}

/// Everything the mesh has to say right now.
fn drain(m: &mut Mesh) -> Vec<Output> {
    std::iter::from_fn(|| m.poll_output()).collect()
}

/// Reports every transmitted byte as written (a peer that reads).
fn written(m: &mut Mesh, outs: &[Output]) {
    for o in outs {
        if let Output::Transmit { conn, bytes } = o {
            m.handle_written(*conn, bytes.len());
        }
    }
}

/// The whole frames transmitted on `conn`, in order.
fn frames_to(outs: &[Output], conn: ConnId) -> Vec<Bytes> {
    let mut d = Deframer::new(&Limits::default());
    for o in outs {
        if let Output::Transmit { conn: c, bytes } = o
            && *c == conn
        {
            d.feed(bytes);
        }
    }
    let frames: Vec<Bytes> = std::iter::from_fn(|| d.next_frame().unwrap()).collect();
    assert_eq!(d.buffered(), 0, "a transmit on {conn} ended mid-frame");
    frames
}

fn decode(frame: &Bytes) -> Decoded {
    decode_frame(frame.clone(), &[], &Limits::default())
        .unwrap_or_else(|e| panic!("the mesh sent a frame we cannot decode: {e}"))
}

/// The frames transmitted on `conn`, decoded.
fn sent_to(outs: &[Output], conn: ConnId) -> Vec<Decoded> {
    frames_to(outs, conn).iter().map(decode).collect()
}

fn events(outs: &[Output]) -> Vec<Event> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn closes(outs: &[Output]) -> Vec<ConnId> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Close { conn } => Some(*conn),
            _ => None,
        })
        .collect()
}

fn dials(outs: &[Output]) -> Vec<(ConnId, PeerAddr)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Dial { conn, addr } => Some((*conn, addr.clone())),
            _ => None,
        })
        .collect()
}

fn transmits(outs: &[Output]) -> usize {
    outs.iter()
        .filter(|o| matches!(o, Output::Transmit { .. }))
        .count()
}

fn rejected(outs: &[Output], conn: ConnId) -> Option<RejectReason> {
    events(outs).into_iter().find_map(|e| match e {
        Event::Rejected { conn: c, reason } if c == conn => Some(reason),
        _ => None,
    })
}

/// The sub-flag (packet 0) of a decoded frame.
fn sub(d: &Decoded) -> u64 {
    d.frame.payload[0].as_int().unwrap().as_u64().unwrap()
}

/// Accepts `peer`, plays its handshake, checks it is routed, and reports
/// everything the mesh sent as written. Returns the connection.
fn join(m: &mut Mesh, peer: &Peer, now: Instant) -> ConnId {
    let conn = m.handle_accepted(Some(peer.addr.clone()), now);
    m.handle_bytes(conn, &peer.handshake(m.unix_time(now)), now);
    let outs = drain(m);
    written(m, &outs);
    assert!(
        m.is_connected_to(&peer.pid()),
        "{peer:?} did not join: {outs:?}"
    );
    conn
}

/// Dials `peer` (an outgoing connection) and plays its handshake.
fn dial(m: &mut Mesh, peer: &Peer, now: Instant) -> ConnId {
    let conn = m.connect(peer.addr.clone(), now);
    m.handle_dialed(conn, true, now);
    m.handle_bytes(conn, &peer.handshake(m.unix_time(now)), now);
    let outs = drain(m);
    written(m, &outs);
    assert!(m.is_connected_to(&peer.pid()), "{peer:?} did not join");
    conn
}

/// A body as `Frame` writes it, with the sender header field turned from bin 8
/// into str 8 (same length): how Python 2 py2p and its cousins spell ids.
fn with_str_sender(frame: &Frame) -> Bytes {
    let mut body = frame.encode_body().unwrap();
    // fixarray, fixint msg_type, then bin 8 (0xc4) len id...
    assert_eq!(body[2], 0xc4, "sender is not bin 8");
    body[2] = 0xd9;
    frame_body(&body, None).unwrap().0
}

/// Deterministic noise.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) as u8
        })
        .collect()
}

/// `packet` as a zlib stream of one stored (uncompressed) deflate block:
/// valid zlib that our own compressor never produces.
#[cfg(feature = "zlib")]
fn zlib_stored(packet: &[u8]) -> Vec<u8> {
    let len = u16::try_from(packet.len()).unwrap();
    let mut out = vec![0x78, 0x01, 0x01];
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(packet);
    let (mut a, mut b) = (1u32, 0u32);
    for &x in packet {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

/// `packet` behind a valid 4-byte length header.
fn with_header(packet: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(packet.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(packet);
    out
}

/// A message originated by someone that is not a direct peer, relayed to us
/// by `via`; returns it as delivered.
fn message_from_afar(m: &mut Mesh, via: &Peer, via_conn: ConnId, now: Instant) -> Message {
    let far = Peer::new(900);
    m.handle_bytes(via_conn, &far.broadcast(m.unix_time(now), "far away"), now);
    let outs = drain(m);
    written(m, &outs);
    let msg = m.recv().expect("the relayed broadcast was not delivered");
    assert_eq!(msg.sender, far.pid());
    assert_ne!(far.id, via.id);
    msg
}

// ---------------------------------------------------------------------------
// 1. Bounds
// ---------------------------------------------------------------------------

/// A refused connection gets no handshake (at most a peer list pointing
/// elsewhere), and nothing goes to any other connection.
fn assert_refused_without_handshake(outs: &[Output], conn: ConnId) {
    for d in sent_to(outs, conn) {
        assert_eq!(
            sub(&d),
            u64::from(SubFlag::Peers.value()),
            "a refused connection got {d:?}"
        );
    }
    for o in outs {
        if let Output::Transmit { conn: c, .. } = o {
            assert_eq!(*c, conn, "refusing sent to another connection: {o:?}");
        }
    }
}

#[test]
fn max_inbound_refuses_the_connection_past_the_limit() {
    let t0 = base();
    let mut cfg = config();
    cfg.max_inbound = 2;
    let mut m = mesh(cfg, t0);
    // Outgoing connections do not count as inbound.
    let dialed = m.connect(PeerAddr::new("10.0.9.9", 1), t0);
    m.handle_dialed(dialed, true, t0);
    let a = join(&mut m, &Peer::new(1), t0);
    let b = m.handle_accepted(None, t0); // pending: still inbound
    let outs = drain(&mut m);
    assert!(closes(&outs).is_empty());
    assert_eq!(m.conn_count(), 3);

    let c = m.handle_accepted(Some(PeerAddr::new("10.0.1.3", 3)), t0);
    let outs = drain(&mut m);
    assert_eq!(closes(&outs), vec![c]);
    assert_eq!(rejected(&outs, c), Some(RejectReason::TooManyInbound));
    assert_refused_without_handshake(&outs, c);
    assert_eq!(m.conn_count(), 3);
    assert_eq!(m.counters().rejected.over_capacity, 1);
    // Playing a handshake on the refused handle does nothing.
    m.handle_bytes(c, &Peer::new(3).handshake(UNIX), t0);
    assert!(!m.is_connected_to(&Peer::new(3).pid()));

    // One inbound slot frees up: the next one gets in.
    m.handle_closed(b, t0);
    let d = join(&mut m, &Peer::new(4), t0);
    assert!(d != a && d != c);
    let e = m.handle_accepted(None, t0);
    let outs = drain(&mut m);
    assert_eq!(rejected(&outs, e), Some(RejectReason::TooManyInbound));
}

#[test]
fn max_pending_handshakes_refuses_the_connection_past_the_limit() {
    let t0 = base();
    let mut cfg = config();
    cfg.max_pending_handshakes = 2;
    let mut m = mesh(cfg, t0);
    // Handshaken connections are not pending.
    let joined: Vec<ConnId> = (1..=3).map(|n| join(&mut m, &Peer::new(n), t0)).collect();
    let p1 = m.handle_accepted(None, t0);
    let p2 = m.handle_accepted(None, t0);
    let outs = drain(&mut m);
    assert!(closes(&outs).is_empty());
    assert_eq!(sent_to(&outs, p1).len(), 1, "handshake to the pending one");
    assert_eq!(sent_to(&outs, p2).len(), 1);

    let p3 = m.handle_accepted(None, t0);
    let outs = drain(&mut m);
    assert_eq!(closes(&outs), vec![p3]);
    assert_eq!(
        rejected(&outs, p3),
        Some(RejectReason::TooManyPendingHandshakes)
    );
    assert_refused_without_handshake(&outs, p3);
    assert_eq!(m.conn_count(), joined.len() + 2);

    // p1 completes its handshake: a slot frees up.
    m.handle_bytes(p1, &Peer::new(10).handshake(UNIX), t0);
    drain(&mut m);
    let p4 = m.handle_accepted(None, t0);
    let outs = drain(&mut m);
    assert!(closes(&outs).is_empty(), "{outs:?}");
    assert_eq!(sent_to(&outs, p4).len(), 1);
    let p5 = m.handle_accepted(None, t0);
    let outs = drain(&mut m);
    assert_eq!(
        rejected(&outs, p5),
        Some(RejectReason::TooManyPendingHandshakes)
    );
}

#[test]
fn max_queued_bytes_closes_only_the_connection_that_does_not_read() {
    let t0 = base();
    let payload = || vec![Value::from(&[0x55u8; 200][..])];
    // Size of one of our broadcasts, plain (the peers advertise nothing).
    let probe = mesh(config(), t0);
    let later = secs(t0, 100);
    let size = Frame::new(
        0,
        probe.id().0.clone(),
        probe.unix_time(later),
        std::iter::once(int(0)).chain(payload()).collect(),
    )
    .encode(None)
    .unwrap()
    .len();

    let mut cfg = config();
    cfg.max_outgoing = 1;
    cfg.max_queued_bytes = 3 * size;
    let mut m = mesh(cfg, t0);
    assert_eq!(m.id(), probe.id());
    let (a, b) = (Peer::new(1), Peer::new(2));
    let ca = dial(&mut m, &a, t0); // the outgoing link, and the slow reader
    let cb = join(&mut m, &b, t0);
    assert_eq!(m.queued_bytes(ca), 0);
    assert_eq!(m.next_heal(), None, "at max_outgoing: nothing to heal");

    // Three broadcasts: A's unwritten bytes reach the cap exactly; still open.
    for _ in 0..3 {
        m.send(payload(), MainFlag::Broadcast, later).unwrap();
        let outs = drain(&mut m);
        assert_eq!(frames_to(&outs, ca).len(), 1);
        assert_eq!(frames_to(&outs, cb)[0].len(), size);
        for o in &outs {
            if let Output::Transmit { conn, bytes } = o
                && *conn == cb
            {
                m.handle_written(cb, bytes.len());
            }
        }
        assert!(closes(&outs).is_empty());
    }
    assert_eq!(m.queued_bytes(ca), 3 * size);
    assert_eq!(m.queued_bytes(cb), 0);
    assert!(m.is_backpressured());
    assert!(m.is_connected_to(&a.pid()));

    // One byte written makes room for one byte only: the next frame passes the cap.
    m.handle_written(ca, 1);
    m.handle_written(ca, 0);
    assert_eq!(m.queued_bytes(ca), 3 * size - 1);
    let now = later;
    m.send(payload(), MainFlag::Broadcast, now).unwrap();
    let outs = drain(&mut m);
    assert_eq!(closes(&outs), vec![ca]);
    assert_eq!(rejected(&outs, ca), Some(RejectReason::OutputOverflow));
    assert!(events(&outs).contains(&Event::PeerDown {
        conn: ca,
        peer: a.pid()
    }));
    assert!(
        frames_to(&outs, ca).is_empty(),
        "nothing past the cap is handed out"
    );
    assert!(!m.is_connected_to(&a.pid()));
    assert_eq!(m.counters().rejected.output_overflow, 1);
    assert_eq!(m.queued_bytes(ca), 0);

    // B keeps working: it got the broadcast, and (A was our outgoing link) a
    // request for peers stamped with the current time.
    let to_b = sent_to(&outs, cb);
    assert!(to_b.iter().any(|d| sub(d) == 0 && d.frame.msg_type == 0));
    let request = to_b
        .iter()
        .find(|d| sub(d) == u64::from(SubFlag::Request.value()))
        .expect("request_peers after losing the outgoing link");
    assert_eq!(request.frame.time, m.unix_time(now));
    assert!(
        m.next_heal().is_some_and(|t| t >= now),
        "healing scheduled in the past: {:?} < {now:?}",
        m.next_heal()
    );
    written(&mut m, &outs);
    m.send(payload(), MainFlag::Broadcast, now).unwrap();
    let outs = drain(&mut m);
    assert_eq!(sent_to(&outs, cb).len(), 1);
    assert!(closes(&outs).is_empty());
    m.handle_bytes(cb, &b.broadcast(m.unix_time(now), "still here"), now);
    assert_eq!(m.recv().unwrap().packets[1], Value::from("still here"));
}

#[test]
fn recv_queue_cap_drops_the_oldest_and_reports_lag() {
    let t0 = base();
    let mut cfg = config();
    cfg.recv_queue_cap = 3;
    let mut m = mesh(cfg, t0);
    let a = Peer::new(1);
    let ca = join(&mut m, &a, t0);
    let mut lagged = Vec::new();
    for i in 0..5 {
        m.handle_bytes(ca, &a.broadcast(UNIX, &format!("m{i}")), t0);
        let outs = drain(&mut m);
        for e in events(&outs) {
            if let Event::Lagged { dropped } = e {
                lagged.push((i, dropped));
            }
        }
        assert!(m.queued_messages() <= 3);
    }
    assert_eq!(lagged, vec![(3, 1), (4, 1)]);
    assert_eq!(m.counters().queue_drops, 2);
    assert_eq!(m.counters().delivered, 5);
    let got: Vec<Value> = m
        .recv_many(10)
        .into_iter()
        .map(|msg| msg.packets[1].clone())
        .collect();
    assert_eq!(
        got,
        vec![Value::from("m2"), Value::from("m3"), Value::from("m4")]
    );
    // Room again: no more lag.
    m.handle_bytes(ca, &a.broadcast(UNIX, "m5"), t0);
    let outs = drain(&mut m);
    assert!(
        !events(&outs)
            .iter()
            .any(|e| matches!(e, Event::Lagged { .. }))
    );
    assert_eq!(m.counters().queue_drops, 2);
}

#[test]
fn max_pending_replies_is_an_error_at_the_limit() {
    let t0 = base();
    let mut cfg = config();
    cfg.max_pending_replies = 2;
    let mut m = mesh(cfg, t0);
    let a = Peer::new(1);
    let ca = join(&mut m, &a, t0);
    let msg = message_from_afar(&mut m, &a, ca, t0);

    for n in 1..=2 {
        m.reply(&msg, vec![Value::from("answer")], t0).unwrap();
        assert_eq!(m.pending_replies(), n);
        let outs = drain(&mut m);
        written(&mut m, &outs);
        // A route request floods: [broadcast, me, t, request, request_id, target].
        let req = sent_to(&outs, ca);
        assert_eq!(req.len(), 1);
        assert_eq!(req[0].frame.msg_type, 0);
        assert_eq!(sub(&req[0]), u64::from(SubFlag::Request.value()));
        assert_eq!(req[0].frame.payload[2].as_str_or_bin(), Some(&msg.sender.0));
    }
    assert_eq!(
        m.reply(&msg, vec![Value::from("one too many")], t0),
        Err(SendError::TooManyPendingReplies(2))
    );
    assert_eq!(m.pending_replies(), 2);
    assert!(drain(&mut m).is_empty(), "a refused reply sends nothing");
    // A reply to a direct peer needs no route: still fine.
    m.handle_bytes(ca, &a.whisper(UNIX, "hi"), t0);
    let direct = m.recv().unwrap();
    m.reply(&direct, vec![Value::from("hello")], t0).unwrap();
    let outs = drain(&mut m);
    let sent = sent_to(&outs, ca);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].frame.msg_type, 2);
    assert_eq!(sent[0].frame.payload[1], Value::from("hello"));
}

#[test]
fn seen_cap_bounds_the_dedup_cache_over_a_million_broadcasts() {
    const N: u32 = 1_000_000;
    const CAP: usize = 1000;
    let t0 = base();
    let mut cfg = config();
    cfg.seen_cap = CAP;
    let mut m = mesh(cfg, t0);
    // Broadcasts are taken by a handler: counters().handled counts deliveries
    // without a queue or events piling up.
    m.register_handler(|_: &Message, _: &mut HandlerCx<'_>| Handled::Consumed);
    let a = Peer::new(1);
    let ca = join(&mut m, &a, t0);
    let base = m.counters().clone();

    // One body shape, [0, a, t, 0, uint32 n], with n patched in place. The
    // frames are built on another thread (each costs a SHA-256, as much as
    // the mesh's own check of it in a debug build) and handed over in batches.
    let template = Frame::new(0, a.id.clone(), UNIX, vec![int(0), Value::from(u32::MAX)])
        .encode_body()
        .unwrap();
    let at = template.len() - 4;
    assert_eq!(template[at - 1], 0xce, "uint 32 marker");
    let frame_for = move |n: u32| {
        let mut body = template.clone();
        body[at..].copy_from_slice(&n.to_be_bytes());
        frame_body(&body, None).unwrap().0
    };
    let make = frame_for.clone();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Bytes>>(4);
    // A producer thread for the test's own hashing (not the core's).
    #[allow(clippy::disallowed_methods)]
    let producer = std::thread::spawn(move || {
        const BATCH: u32 = 4096;
        for start in (0..N).step_by(BATCH as usize) {
            let batch = (start..(start + BATCH).min(N)).map(&make).collect();
            if tx.send(batch).is_err() {
                return;
            }
        }
    });
    let mut fed = 0u32;
    for batch in rx {
        for frame in batch {
            m.handle_bytes(ca, &frame, t0);
            assert!(m.seen_len() <= CAP, "seen_len {} at {fed}", m.seen_len());
            assert!(m.poll_output().is_none());
            fed += 1;
        }
    }
    producer.join().unwrap();
    assert_eq!(fed, N);
    let c = m.counters();
    assert_eq!(c.frames_in - base.frames_in, u64::from(N));
    assert_eq!(c.handled - base.handled, u64::from(N));
    assert_eq!(c.duplicates, 0);
    assert_eq!(m.seen_len(), CAP);
    assert!(m.is_connected_to(&a.pid()));

    // The newest is still known: a duplicate.
    let last = frame_for(N - 1);
    m.handle_bytes(ca, &last, t0);
    assert_eq!(m.counters().duplicates, 1);
    // The first was evicted long ago: taken again as new, without harm.
    m.handle_bytes(ca, &frame_for(0), t0);
    assert_eq!(m.counters().duplicates, 1);
    assert_eq!(m.counters().handled - base.handled, u64::from(N) + 1);
    assert!(m.seen_len() <= CAP);
    assert!(m.is_connected_to(&a.pid()));
    assert!(m.poll_output().is_none());
    // Expiry empties it.
    m.handle_timeout(secs(t0, 61));
    assert_eq!(m.seen_len(), 0);
}

#[test]
fn a_peer_list_of_1000_entries_is_bounded() {
    let t0 = base();
    let mut cfg = config();
    cfg.max_peers_per_list = 10;
    cfg.max_known_addrs = 15;
    let max_outgoing = cfg.max_outgoing;
    let mut m = mesh(cfg, t0);
    let a = Peer::new(1);
    let ca = join(&mut m, &a, t0);
    assert_eq!(m.known_addrs(), 1, "the handshake's address");
    let entries: Vec<(PeerAddr, Bytes)> = (0..1000u64)
        .map(|i| {
            let p = Peer::new(10_000 + i);
            (
                PeerAddr::new(format!("10.2.{}.{}", i / 250, i % 250), 6000),
                p.id,
            )
        })
        .collect();
    m.handle_bytes(ca, &a.peers(UNIX, &entries), t0);
    let outs = drain(&mut m);
    let dialed = dials(&outs);
    assert_eq!(dialed.len(), max_outgoing, "{dialed:?}");
    assert_eq!(m.outgoing_count(), max_outgoing);
    // Only the first max_peers_per_list entries are looked at.
    let considered: BTreeSet<&PeerAddr> = entries[..10].iter().map(|(a, _)| a).collect();
    for (_, addr) in &dialed {
        assert!(considered.contains(addr), "dialed {addr} from past the cap");
    }
    assert!(m.known_addrs() <= 1 + 10, "{}", m.known_addrs());

    // A second one: no more dials, and the address book stays bounded.
    let entries2: Vec<(PeerAddr, Bytes)> = (0..1000u64)
        .map(|i| {
            let p = Peer::new(20_000 + i);
            (
                PeerAddr::new(format!("10.3.{}.{}", i / 250, i % 250), 6000),
                p.id,
            )
        })
        .collect();
    m.handle_bytes(ca, &a.peers(UNIX, &entries2), t0);
    let outs = drain(&mut m);
    assert!(dials(&outs).is_empty());
    assert_eq!(m.outgoing_count(), max_outgoing);
    assert!(m.known_addrs() <= 15, "{}", m.known_addrs());
}

#[test]
fn a_peer_list_never_makes_us_dial_ourselves_or_a_routed_peer() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let (a, b) = (Peer::new(1), Peer::new(2));
    let ca = join(&mut m, &a, t0);
    join(&mut m, &b, t0);
    let me = m.id().0.clone();
    let list = vec![
        (PeerAddr::new("10.0.0.1", 4444), me),
        (a.addr.clone(), a.id.clone()),
        (b.addr.clone(), b.id.clone()),
    ];
    m.handle_bytes(ca, &a.peers(UNIX, &list), t0);
    assert!(dials(&drain(&mut m)).is_empty());
}

// ---------------------------------------------------------------------------
// 2. Timers
// ---------------------------------------------------------------------------

/// No healing, so the only deadlines are the ones a test makes.
fn quiet_config() -> Config {
    let mut cfg = config();
    cfg.max_outgoing = 0;
    cfg
}

#[test]
fn a_partial_frame_stalled_for_stall_timeout_closes_the_connection() {
    let t0 = base();
    let mut cfg = quiet_config();
    cfg.stall_timeout = Duration::from_secs(5);
    let mut m = mesh(cfg, t0);
    let (a, b) = (Peer::new(1), Peer::new(2));
    let ca = join(&mut m, &a, t0);
    let cb = join(&mut m, &b, t0);
    assert_eq!(m.poll_timeout(), None);

    // B's frame arrives whole after 4 s: its timer is reset.
    let fb = b.broadcast(UNIX, "slow but whole");
    m.handle_bytes(cb, &fb[..10], secs(t0, 1));
    m.handle_bytes(cb, &fb[10..], secs(t0, 5));
    assert_eq!(m.recv().unwrap().packets[1], Value::from("slow but whole"));
    drain(&mut m);

    let fa = a.broadcast(UNIX + 2, "never finished");
    m.handle_bytes(ca, &fa[..fa.len() - 2], secs(t0, 2));
    // More bytes of the same frame do not restart the clock.
    m.handle_bytes(ca, &fa[fa.len() - 2..fa.len() - 1], secs(t0, 3));
    m.handle_bytes(ca, &[], secs(t0, 4));
    let deadline = secs(t0, 7);
    let seen_expiry = secs(t0, 5) + Duration::from_secs(60);
    assert_eq!(m.poll_timeout(), Some(deadline));
    assert!(deadline < seen_expiry);
    m.handle_timeout(deadline - Duration::from_millis(1));
    assert!(drain(&mut m).is_empty());
    assert!(m.is_connected_to(&a.pid()));

    m.handle_timeout(deadline);
    let outs = drain(&mut m);
    assert_eq!(closes(&outs), vec![ca]);
    assert_eq!(rejected(&outs, ca), Some(RejectReason::Stalled));
    assert!(!m.is_connected_to(&a.pid()));
    assert!(m.is_connected_to(&b.pid()));
    assert_eq!(m.counters().rejected.stalled, 1);
    assert_eq!(m.poll_timeout(), Some(seen_expiry));
}

#[test]
fn no_handshake_within_handshake_timeout_closes_the_connection() {
    let t0 = base();
    let mut cfg = quiet_config();
    cfg.handshake_timeout = Duration::from_secs(10);
    let mut m = mesh(cfg, t0);
    let c = m.handle_accepted(None, secs(t0, 1));
    // A dial in progress has no handshake timer yet; it starts when it connects.
    let d = m.connect(PeerAddr::new("10.0.5.5", 5), t0);
    drain(&mut m);
    assert_eq!(m.poll_timeout(), Some(secs(t0, 11)));
    m.handle_dialed(d, true, secs(t0, 3));
    drain(&mut m);
    // Whispers before a handshake do not count as one.
    m.handle_bytes(c, &Peer::new(1).whisper(UNIX, "hi"), secs(t0, 2));
    drain(&mut m);

    m.handle_timeout(secs(t0, 11) - Duration::from_nanos(1));
    assert!(drain(&mut m).is_empty());
    m.handle_timeout(secs(t0, 11));
    let outs = drain(&mut m);
    assert_eq!(closes(&outs), vec![c]);
    assert_eq!(rejected(&outs, c), Some(RejectReason::HandshakeTimeout));
    assert_eq!(m.conn_count(), 1);
    assert_eq!(m.counters().rejected.handshake_timeout, 1);

    assert_eq!(m.poll_timeout(), Some(secs(t0, 13)));
    m.handle_timeout(secs(t0, 13));
    let outs = drain(&mut m);
    assert_eq!(rejected(&outs, d), Some(RejectReason::HandshakeTimeout));
    assert_eq!(m.conn_count(), 0);
}

#[test]
fn a_spurious_timeout_does_nothing() {
    let t0 = base();
    // Default config: healing is scheduled once a peer joins.
    let mut m = mesh(config(), t0);
    // Nothing scheduled at all.
    assert_eq!(m.poll_timeout(), None);
    m.handle_timeout(t0);
    m.handle_timeout(secs(t0, 3600));
    assert!(drain(&mut m).is_empty());

    let a = Peer::new(1);
    let ca = join(&mut m, &a, t0);
    m.handle_accepted(None, t0);
    m.handle_bytes(ca, &a.broadcast(UNIX, "x"), t0);
    drain(&mut m);
    let next = m.poll_timeout().expect("something is scheduled");
    assert!(next > t0);
    let before = (
        m.counters().clone(),
        m.conn_count(),
        m.peer_count(),
        m.seen_len(),
        m.queued_messages(),
        m.next_heal(),
    );
    for now in [t0, next - Duration::from_nanos(1)] {
        m.handle_timeout(now);
        assert!(drain(&mut m).is_empty(), "spurious timeout at {now:?}");
        assert_eq!(m.poll_timeout(), Some(next));
    }
    let after = (
        m.counters().clone(),
        m.conn_count(),
        m.peer_count(),
        m.seen_len(),
        m.queued_messages(),
        m.next_heal(),
    );
    assert_eq!(before, after);
}

#[test]
fn poll_timeout_is_the_earliest_deadline() {
    let t0 = base();
    let mut cfg = quiet_config();
    cfg.handshake_timeout = Duration::from_secs(10);
    cfg.stall_timeout = Duration::from_secs(5);
    cfg.reply_ttl = Duration::from_secs(3);
    cfg.seen_ttl = Duration::from_secs(60);
    let mut m = mesh(cfg, t0);
    assert_eq!(m.poll_timeout(), None);

    let pending = m.handle_accepted(None, t0); // handshake due at 10
    assert_eq!(m.poll_timeout(), Some(secs(t0, 10)));
    let (a, b) = (Peer::new(1), Peer::new(2));
    let ca = join(&mut m, &a, secs(t0, 1));
    let cb = join(&mut m, &b, secs(t0, 1));
    assert_eq!(m.poll_timeout(), Some(secs(t0, 10)));
    let partial = a.broadcast(UNIX, "partial");
    m.handle_bytes(ca, &partial[..5], secs(t0, 1)); // stall due at 6
    assert_eq!(m.poll_timeout(), Some(secs(t0, 6)));
    let msg = message_from_afar(&mut m, &b, cb, secs(t0, 2)); // seen expiry at 62
    assert_eq!(m.poll_timeout(), Some(secs(t0, 6)));
    m.reply(&msg, vec![Value::from("r")], secs(t0, 2)).unwrap(); // reply expires at 5
    drain(&mut m);
    assert_eq!(m.poll_timeout(), Some(secs(t0, 5)));

    // Walk the deadlines in order; each fires exactly what is due.
    m.handle_timeout(secs(t0, 5));
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.pending_replies(), 0);
    assert_eq!(m.poll_timeout(), Some(secs(t0, 6)));
    m.handle_timeout(secs(t0, 6));
    let outs = drain(&mut m);
    assert_eq!(rejected(&outs, ca), Some(RejectReason::Stalled));
    assert_eq!(m.poll_timeout(), Some(secs(t0, 10)));
    m.handle_timeout(secs(t0, 10));
    let outs = drain(&mut m);
    assert_eq!(
        rejected(&outs, pending),
        Some(RejectReason::HandshakeTimeout)
    );
    assert_eq!(m.poll_timeout(), Some(secs(t0, 62)));
    assert_eq!(
        m.seen_len(),
        2,
        "the relayed broadcast and our route request"
    );
    m.handle_timeout(secs(t0, 62));
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.seen_len(), 0);
    assert_eq!(m.poll_timeout(), None);
    assert!(m.is_connected_to(&b.pid()));
}

#[test]
fn pending_replies_expire_after_reply_ttl() {
    let t0 = base();
    let mut cfg = quiet_config();
    cfg.reply_ttl = Duration::from_secs(30);
    let mut m = mesh(cfg, t0);
    let a = Peer::new(1);
    let ca = join(&mut m, &a, t0);
    let msg = message_from_afar(&mut m, &a, ca, t0);
    m.reply(&msg, vec![Value::from("waits for a route")], t0)
        .unwrap();
    m.reply(&msg, vec![Value::from("gets a route")], secs(t0, 1))
        .unwrap();
    let outs = drain(&mut m);
    let requests = sent_to(&outs, ca);
    assert_eq!(requests.len(), 2);
    assert_eq!(m.pending_replies(), 2);

    // A answers the second request with a route: the reply waits for the dial.
    let request_id = requests[1].frame.payload[1].clone();
    let response = a.frame(
        MainFlag::Broadcast,
        UNIX + 2,
        vec![
            int(SubFlag::Response.value().into()),
            request_id,
            Value::Array(vec![
                addr_value(&PeerAddr::new("10.0.9.1", 9000)),
                Value::Bin(msg.sender.0.clone()),
            ]),
        ],
    );
    m.handle_bytes(ca, &response, secs(t0, 2));
    let outs = drain(&mut m);
    assert_eq!(
        dials(&outs)
            .iter()
            .map(|(_, a)| a.clone())
            .collect::<Vec<_>>(),
        vec![PeerAddr::new("10.0.9.1", 9000)]
    );
    assert_eq!(
        m.pending_replies(),
        2,
        "one requested, one awaiting the dial"
    );

    m.handle_timeout(secs(t0, 30) - Duration::from_millis(1));
    assert_eq!(m.pending_replies(), 2);
    m.handle_timeout(secs(t0, 30));
    assert_eq!(m.pending_replies(), 1);
    assert_eq!(m.poll_timeout(), Some(secs(t0, 31)));
    m.handle_timeout(secs(t0, 31));
    assert_eq!(m.pending_replies(), 0);
    assert!(drain(&mut m).is_empty(), "expiry sends nothing");
}

// ---------------------------------------------------------------------------
// 3. Broadcast rules
// ---------------------------------------------------------------------------

#[test]
fn stale_and_future_broadcasts_are_dropped_and_counted() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let (a, b) = (Peer::new(1), Peer::new(2));
    let ca = join(&mut m, &a, t0);
    let cb = join(&mut m, &b, t0);
    let now = secs(t0, 1000);
    let t = m.unix_time(now);
    assert_eq!(t, UNIX + 1000);

    let cases = [
        (t - 61, "stale"),
        (t + 61, "future"),
        (t - 60, "oldest ok"),
        (t + 60, "newest ok"),
        (i64::MIN, "stale"),
        (i64::MAX, "future"),
    ];
    for (time, what) in cases {
        let seen = m.seen_len();
        m.handle_bytes(ca, &a.broadcast(time, what), now);
        let outs = drain(&mut m);
        written(&mut m, &outs);
        let relayed = frames_to(&outs, cb).len();
        let delivered = m.recv();
        if what.ends_with("ok") {
            assert_eq!(relayed, 1, "{what}");
            assert_eq!(delivered.unwrap().packets[1], Value::from(what));
            assert_eq!(m.seen_len(), seen + 1);
        } else {
            assert_eq!(relayed, 0, "{what} relayed");
            assert!(delivered.is_none(), "{what} delivered");
            assert_eq!(m.seen_len(), seen, "{what} remembered");
        }
    }
    assert_eq!(m.counters().stale, 2);
    assert_eq!(m.counters().future, 2);
    assert_eq!(m.counters().delivered, 2);
    assert!(m.is_connected_to(&a.pid()));
}

#[test]
fn duplicate_broadcasts_are_dropped_and_counted() {
    let t0 = base();
    let (mut m, [_, b, c], [ca, cb, cc]) = three_peers(t0);
    let frame = b.broadcast(UNIX, "once");
    m.handle_bytes(ca, &frame, t0);
    let outs = drain(&mut m);
    assert_eq!(frames_to(&outs, cc).len(), 1);
    assert_eq!(m.counters().relayed, 1);
    // The same frame again, from the same and from another neighbour.
    m.handle_bytes(ca, &frame, t0);
    m.handle_bytes(cc, &frame, t0);
    m.handle_bytes(cb, &frame, t0);
    let outs = drain(&mut m);
    assert_eq!(transmits(&outs), 0, "{outs:?}");
    assert!(events(&outs).is_empty());
    assert_eq!(m.counters().duplicates, 3);
    assert_eq!(m.counters().relayed, 1);
    assert_eq!(m.counters().delivered, 1);
    assert_eq!(m.recv_many(10).len(), 1);

    // A frame that claims the known id is dropped as a duplicate before its
    // checksum is computed, even with its body mangled: the id only entered
    // the cache verified, so nothing new is lost.
    let mut mangled = frame.to_vec();
    *mangled.last_mut().unwrap() ^= 0xff;
    m.handle_bytes(cc, &mangled, t0);
    assert_eq!(m.counters().duplicates, 4);
    assert_eq!(m.counters().undecodable, 0);
    assert_eq!(transmits(&drain(&mut m)), 0);
    // The same mangled body under a fresh claim is undecodable, as before.
    mangled[HEADER_LEN] ^= 0xff;
    m.handle_bytes(cc, &mangled, t0);
    assert_eq!(m.counters().undecodable, 1);
    assert!(m.is_connected_to(&c.pid()));
}

#[test]
fn a_duplicate_long_after_its_original_is_still_dropped() {
    // The newest ids are answered before a frame is hashed; an older one is
    // found once the frame is verified. Either way the copy goes no further.
    let t0 = base();
    let (mut m, [_, b, _], [ca, _, cc]) = three_peers(t0);
    let first = b.broadcast(UNIX, "first");
    m.handle_bytes(ca, &first, t0);
    for n in 0..60_000 {
        m.handle_bytes(ca, &b.broadcast(UNIX, &format!("filler {n}")), t0);
        drain(&mut m);
    }
    let (duplicates, relayed) = (m.counters().duplicates, m.counters().relayed);
    m.handle_bytes(cc, &first, t0);
    assert_eq!(transmits(&drain(&mut m)), 0);
    assert_eq!(m.counters().duplicates, duplicates + 1);
    assert_eq!(m.counters().relayed, relayed);
    assert_eq!(m.counters().undecodable, 0);
}

#[cfg(feature = "zlib")]
#[test]
fn a_duplicate_is_a_duplicate_whatever_its_compression() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let a = Peer::new(1);
    let z = Peer::new(2).with_compression(&[Compression::Zlib]);
    let ca = join(&mut m, &a, t0);
    let cz = join(&mut m, &z, t0);
    let payload = vec![int(0), Value::from("same body")];
    let plain = a.frame(MainFlag::Broadcast, UNIX, payload.clone());
    let zlib = a.frame_with(MainFlag::Broadcast, UNIX, payload, Some(Compression::Zlib));
    assert_ne!(plain, zlib);
    m.handle_bytes(cz, &zlib, t0);
    m.handle_bytes(ca, &plain, t0);
    drain(&mut m);
    assert_eq!(m.counters().duplicates, 1);
    assert_eq!(m.counters().delivered, 1);
}

#[test]
fn a_relay_forwards_the_same_bytes_but_not_to_the_neighbour_or_the_originator() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let (origin, neighbour, b, b2) = (Peer::new(1), Peer::new(2), Peer::new(3), Peer::new(4));
    let co = join(&mut m, &origin, t0);
    let cn = join(&mut m, &neighbour, t0);
    let cb = join(&mut m, &b, t0);
    let cb2 = join(&mut m, &b2, t0);

    let frame = origin.broadcast(UNIX, "flood");
    m.handle_bytes(cn, &frame, t0);
    let outs = drain(&mut m);
    assert_eq!(frames_to(&outs, cb), vec![frame.clone()]);
    assert_eq!(frames_to(&outs, cb2), vec![frame.clone()]);
    assert!(
        frames_to(&outs, cn).is_empty(),
        "sent back to the neighbour"
    );
    assert!(
        frames_to(&outs, co).is_empty(),
        "sent back to the originator"
    );
    assert_eq!(m.counters().relayed, 2);
    let msg = m.recv().unwrap();
    assert_eq!(msg.sender, origin.pid());
    assert_eq!(msg.conn, cn);

    // From someone we are not linked to: everyone but the neighbour.
    let far = Peer::new(99).broadcast(UNIX, "from afar");
    m.handle_bytes(cn, &far, t0);
    let outs = drain(&mut m);
    for c in [co, cb, cb2] {
        assert_eq!(frames_to(&outs, c), vec![far.clone()]);
    }
    assert!(frames_to(&outs, cn).is_empty());
    assert_eq!(m.counters().relayed, 5);
}

#[test]
fn a_node_without_queue_or_handlers_still_relays_and_answers_route_requests() {
    let t0 = base();
    let mut cfg = config();
    cfg.recv_queue_cap = 0;
    let mut m = mesh(cfg, t0);
    let (a, b, c) = (Peer::new(1), Peer::new(2), Peer::new(3));
    let ca = join(&mut m, &a, t0);
    let cb = join(&mut m, &b, t0);
    let cc = join(&mut m, &c, t0);

    let flood = a.broadcast(UNIX, "nobody here reads it");
    m.handle_bytes(ca, &flood, t0);
    let outs = drain(&mut m);
    assert_eq!(frames_to(&outs, cb), vec![flood.clone()]);
    assert_eq!(frames_to(&outs, cc), vec![flood]);
    assert!(m.recv().is_none());
    assert_eq!(m.counters().delivered, 0);

    // A broadcast route request is for a built-in handler: still answered.
    let request = a.frame(
        MainFlag::Broadcast,
        UNIX,
        vec![
            int(SubFlag::Request.value().into()),
            Value::from("req-1"),
            Value::Bin(b.id.clone()),
        ],
    );
    m.handle_bytes(ca, &request, t0);
    let outs = drain(&mut m);
    let answers: Vec<_> = sent_to(&outs, ca)
        .into_iter()
        .filter(|d| sub(d) == u64::from(SubFlag::Response.value()))
        .collect();
    assert_eq!(answers.len(), 1, "the route request went unanswered");
    assert_eq!(answers[0].frame.payload[1], Value::from("req-1"));
    assert_eq!(frames_to(&outs, cb).len(), 1, "the request is relayed too");
}

/// A relay-only node checks a broadcast's later packets without building
/// them: a bad one still closes the link, as on a node that reads them.
#[test]
fn a_relay_only_node_refuses_a_bad_packet_it_does_not_read() {
    for recv_queue_cap in [0, 16] {
        let t0 = base();
        let mut cfg = config();
        cfg.recv_queue_cap = recv_queue_cap;
        let mut m = mesh(cfg, t0);
        let (a, b) = (Peer::new(1), Peer::new(2));
        let ca = join(&mut m, &a, t0);
        let cb = join(&mut m, &b, t0);
        let packets = vec![
            int(0),
            Value::from(&b"ok"[..]),
            Value::from(&b"\xff\xfe"[..]),
        ];
        let mut body = Frame::new(0, a.id.clone(), UNIX, packets)
            .encode_body()
            .unwrap();
        // The last bin's marker made a str's: two bytes that are not UTF-8.
        let marker = body.len() - 4;
        assert_eq!(body[marker], 0xc4);
        body[marker] = 0xd9;
        m.handle_bytes(ca, &frame_body(&body, None).unwrap().0, t0);
        let outs = drain(&mut m);
        // (It may ask b for peers, having lost a.)
        assert!(
            sent_to(&outs, cb)
                .iter()
                .all(|d| d.frame.msg_type != u64::from(MainFlag::Broadcast.value())),
            "relayed"
        );
        assert_eq!(closes(&outs), vec![ca]);
        assert!(events(&outs).iter().any(|e| matches!(
            e,
            Event::ProtocolViolation { conn, error: WireError::InvalidUtf8 { .. } } if *conn == ca
        )));
    }
}

#[cfg(feature = "zlib")]
#[test]
fn a_relay_reframes_only_for_peers_with_another_compression() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let plain = Peer::new(1);
    let z1 = Peer::new(2).with_compression(&[Compression::Zlib]);
    let z2 = Peer::new(3).with_compression(&[Compression::Zlib]);
    let cp = join(&mut m, &plain, t0);
    let cz1 = join(&mut m, &z1, t0);
    let cz2 = join(&mut m, &z2, t0);

    // Compressed in, compressed out unchanged; the plain peer gets it plain.
    // The zlib stream is one stored block, which our compressor never makes:
    // a relay that re-compressed would not send these bytes.
    let payload = vec![int(0), Value::from(&[7u8; 300][..])];
    let plain_frame = Peer::new(50).frame(MainFlag::Broadcast, UNIX, payload.clone());
    let zframe = Bytes::from(with_header(&zlib_stored(&plain_frame[HEADER_LEN..])));
    let body = decode(&plain_frame).body;
    assert_ne!(
        zframe,
        frame_body(&body, Some(Compression::Zlib)).unwrap().0
    );
    assert_eq!(decode(&zframe).compression, Some(Compression::Zlib));
    m.handle_bytes(cz1, &zframe, t0);
    let outs = drain(&mut m);
    assert_eq!(frames_to(&outs, cz2), vec![zframe.clone()]);
    let to_plain = sent_to(&outs, cp);
    assert_eq!(to_plain.len(), 1);
    assert_eq!(to_plain[0].compression, None);
    assert_eq!(to_plain[0].id, decode(&zframe).id);
    assert_eq!(to_plain[0].body, decode(&zframe).body);

    // Plain in: the plain peer would get the same bytes, the zlib ones a zlib frame.
    let pframe = Peer::new(51).frame(MainFlag::Broadcast, UNIX, payload);
    m.handle_bytes(cp, &pframe, t0);
    let outs = drain(&mut m);
    for c in [cz1, cz2] {
        let got = sent_to(&outs, c);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].compression, Some(Compression::Zlib));
        assert_eq!(got[0].body, decode(&pframe).body);
    }
    assert_eq!(frames_to(&outs, cz1), frames_to(&outs, cz2));
}

#[test]
fn whispers_are_delivered_and_never_relayed() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let (a, b) = (Peer::new(1), Peer::new(2));
    let ca = join(&mut m, &a, t0);
    let cb = join(&mut m, &b, t0);
    m.handle_bytes(ca, &a.whisper(UNIX, "just you"), t0);
    // A whisper relayed on behalf of someone else is not relayed either.
    m.handle_bytes(ca, &Peer::new(9).whisper(UNIX, "and you"), t0);
    let outs = drain(&mut m);
    assert!(frames_to(&outs, cb).is_empty());
    assert!(frames_to(&outs, ca).is_empty());
    assert_eq!(m.counters().relayed, 0);
    assert_eq!(m.seen_len(), 0, "whispers are not deduplicated");
    let got: Vec<Message> = m.recv_many(10);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].msg_type, u64::from(MainFlag::Whisper.value()));
    assert_eq!(got[0].sub_flag(), Some(SubFlag::Whisper));
    assert_eq!(got[0].packets[1], Value::from("just you"));
    // Our own whisper goes to direct peers only and is not remembered.
    m.send(vec![Value::from("w")], MainFlag::Whisper, t0)
        .unwrap();
    let outs = drain(&mut m);
    assert_eq!(sent_to(&outs, ca).len(), 1);
    assert_eq!(sent_to(&outs, cb).len(), 1);
    assert_eq!(sent_to(&outs, ca)[0].frame.msg_type, 2);
    assert_eq!(m.seen_len(), 0);
}

#[test]
fn our_own_broadcast_echoed_back_is_a_duplicate() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let (a, b) = (Peer::new(1), Peer::new(2));
    let ca = join(&mut m, &a, t0);
    let cb = join(&mut m, &b, t0);
    let id = m
        .send(vec![Value::from("mine")], MainFlag::Broadcast, t0)
        .unwrap();
    assert_eq!(m.seen_len(), 1);
    let outs = drain(&mut m);
    let to_a = frames_to(&outs, ca);
    assert_eq!(to_a.len(), 1);
    let d = decode(&to_a[0]);
    assert_eq!(d.id, id);
    assert_eq!(d.frame.sender, m.id().0);
    assert_eq!(d.frame.time, UNIX);
    assert_eq!(d.frame.payload, vec![int(0), Value::from("mine")]);
    // A echoes it back (as py2p does: it does not skip its neighbour).
    m.handle_bytes(ca, &to_a[0], t0);
    let outs = drain(&mut m);
    assert_eq!(transmits(&outs), 0);
    assert!(frames_to(&outs, cb).is_empty());
    assert_eq!(m.counters().duplicates, 1);
    assert_eq!(m.counters().relayed, 0);
    assert!(m.recv().is_none());
}

// ---------------------------------------------------------------------------
// 4. request_peers
// ---------------------------------------------------------------------------

#[test]
fn request_peers_is_answered_with_star_as_str_or_bin() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let (a, b) = (Peer::new(1), Peer::new(2));
    let ca = join(&mut m, &a, t0);
    let cb = join(&mut m, &b, t0);
    for star in [Value::from("*"), Value::Bin(Bytes::from_static(b"*"))] {
        let request = a.frame(
            MainFlag::Whisper,
            UNIX,
            vec![int(SubFlag::Request.value().into()), star.clone()],
        );
        m.handle_bytes(ca, &request, t0);
        let outs = drain(&mut m);
        assert!(frames_to(&outs, cb).is_empty());
        let answer = sent_to(&outs, ca);
        assert_eq!(answer.len(), 1, "no answer to {star:?}");
        let d = &answer[0];
        assert_eq!(d.frame.msg_type, u64::from(MainFlag::Whisper.value()));
        assert_eq!(d.frame.sender, m.id().0);
        assert_eq!(sub(d), u64::from(SubFlag::Peers.value()));
        let list = d.frame.payload[1].as_array().unwrap();
        assert_eq!(
            list,
            &[Value::Array(vec![
                addr_value(&b.addr),
                Value::Bin(b.id.clone())
            ])]
        );
        assert!(m.recv().is_none(), "request_peers is protocol-internal");
    }
    // Anything else is not a request for peers.
    let other = a.frame(
        MainFlag::Whisper,
        UNIX,
        vec![int(SubFlag::Request.value().into()), Value::from("?")],
    );
    m.handle_bytes(ca, &other, t0);
    assert!(frames_to(&drain(&mut m), ca).is_empty());
}

// ---------------------------------------------------------------------------
// 5. Renegotiation
// ---------------------------------------------------------------------------

/// Our methods that are in `theirs`, in our order.
fn ours_in(theirs: &[Compression]) -> Vec<Compression> {
    Compression::supported()
        .iter()
        .copied()
        .filter(|m| theirs.contains(m))
        .collect()
}

#[test]
fn renegotiate_compression_changes_what_we_send_and_is_answered_once() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let (a, b) = (Peer::new(1), Peer::new(2));
    let ca = join(&mut m, &a, t0);
    let cb = join(&mut m, &b, t0);
    let broadcast_compression = |m: &mut Mesh| {
        m.send(vec![Value::from("probe")], MainFlag::Broadcast, t0)
            .unwrap();
        let outs = drain(m);
        written(m, &outs);
        let to_b = sent_to(&outs, cb);
        assert_eq!(to_b[0].compression, None, "B never renegotiated");
        let to_a = sent_to(&outs, ca);
        assert_eq!(to_a.len(), 1);
        to_a[0].compression
    };
    assert_eq!(broadcast_compression(&mut m), None);

    let theirs = [Compression::Bz2, Compression::Zlib];
    let mut list: Vec<Value> = theirs.iter().map(|c| Value::from(c.flag())).collect();
    list.push(Value::from(0x99u8)); // unknown: ignored
    let expected = ours_in(&theirs);
    m.handle_bytes(ca, &a.renegotiate(UNIX, &list), t0);
    let outs = drain(&mut m);
    written(&mut m, &outs);
    let answer = sent_to(&outs, ca);
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0].frame.msg_type, 1);
    assert_eq!(
        answer[0].frame.payload,
        vec![int(1), flags(&expected)],
        "our methods in their list"
    );
    assert!(frames_to(&outs, cb).is_empty());
    assert_eq!(broadcast_compression(&mut m), expected.first().copied());

    // The same list again: nothing changed, no answer (no ping-pong).
    m.handle_bytes(ca, &a.renegotiate(UNIX, &list), t0);
    assert!(frames_to(&drain(&mut m), ca).is_empty());

    // Back to plain.
    m.handle_bytes(ca, &a.renegotiate(UNIX, &[]), t0);
    let outs = drain(&mut m);
    let answer = sent_to(&outs, ca);
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0].frame.payload, vec![int(1), Value::Array(vec![])]);
    written(&mut m, &outs);
    assert_eq!(broadcast_compression(&mut m), None);
    assert!(m.recv().is_none(), "renegotiation is not delivered");
}

#[test]
fn renegotiate_resend_sends_the_last_frame_again() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let a = Peer::new(1);
    let ca = join(&mut m, &a, t0);
    // Nothing sent yet (the peer list does not count): nothing to resend.
    m.handle_bytes(ca, &a.resend(UNIX), t0);
    assert!(frames_to(&drain(&mut m), ca).is_empty());

    let id = m
        .send(vec![Value::from("b1")], MainFlag::Broadcast, t0)
        .unwrap();
    let wid = m
        .send(vec![Value::from("w1")], MainFlag::Whisper, secs(t0, 1))
        .unwrap();
    let outs = drain(&mut m);
    let original = frames_to(&outs, ca);
    assert_eq!(original.len(), 2);
    assert_eq!(decode(&original[0]).id, id);

    m.handle_bytes(ca, &a.resend(UNIX + 5), secs(t0, 5));
    let outs = drain(&mut m);
    let again = frames_to(&outs, ca);
    assert_eq!(
        again,
        vec![original[1].clone()],
        "the last one, byte for byte"
    );
    assert_eq!(decode(&again[0]).id, wid);
    // Asking twice gets it twice.
    m.handle_bytes(ca, &a.resend(UNIX + 6), secs(t0, 6));
    assert_eq!(frames_to(&drain(&mut m), ca), vec![original[1].clone()]);
    assert!(m.recv().is_none());
}

#[test]
fn resend_after_a_relay_gives_each_peer_its_own_last_frame() {
    let t0 = base();
    let (mut m, [a, b, c], [ca, cb, cc]) = three_peers(t0);
    drain(&mut m);
    // A's broadcast is relayed to B and C: one body kept for both.
    let from_a = a.broadcast(UNIX, "relayed");
    m.handle_bytes(ca, &from_a, t0);
    let relayed = frames_to(&drain(&mut m), cb);
    assert_eq!(relayed, vec![from_a.clone()]);
    assert_eq!(m.resend_bodies(), 1);
    // Then C's own broadcast goes to A and B only: B's last frame is now C's.
    let from_c = c.broadcast(UNIX + 1, "from c");
    m.handle_bytes(cc, &from_c, secs(t0, 1));
    drain(&mut m);
    assert_eq!(m.resend_bodies(), 2);
    m.handle_bytes(cb, &b.resend(UNIX + 2), secs(t0, 2));
    assert_eq!(frames_to(&drain(&mut m), cb), vec![from_c.clone()]);
    // C still points at A's relayed broadcast, even with B gone.
    m.handle_closed(cb, secs(t0, 3));
    drain(&mut m);
    m.handle_bytes(cc, &c.resend(UNIX + 4), secs(t0, 4));
    assert_eq!(frames_to(&drain(&mut m), cc), vec![from_a]);
    m.handle_closed(cc, secs(t0, 5));
    m.handle_closed(ca, secs(t0, 5));
    drain(&mut m);
    assert_eq!(m.resend_bodies(), 0, "bodies outlived their connections");
}

#[cfg(feature = "zlib")]
#[test]
fn renegotiate_resend_reframes_for_the_current_compression() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let a = Peer::new(1);
    let ca = join(&mut m, &a, t0);
    let id = m
        .send(vec![Value::from(&[1u8; 100][..])], MainFlag::Broadcast, t0)
        .unwrap();
    let outs = drain(&mut m);
    let original = sent_to(&outs, ca);
    assert_eq!(original[0].compression, None);
    m.handle_bytes(
        ca,
        &a.renegotiate(UNIX, &[Value::from(Compression::Zlib.flag())]),
        t0,
    );
    drain(&mut m);
    m.handle_bytes(ca, &a.resend(UNIX), t0);
    let again = sent_to(&drain(&mut m), ca);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].compression, Some(Compression::Zlib));
    assert_eq!(again[0].id, id);
    assert_eq!(again[0].body, original[0].body);
}

#[test]
fn undecodable_frames_are_renegotiated_then_closed() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let max = m.config().max_decode_failures;
    assert_eq!(max, 3);
    let (a, b) = (Peer::new(1), Peer::new(2));
    let ca = join(&mut m, &a, t0);
    let cb = join(&mut m, &b, t0);
    for i in 1..=max {
        let junk = with_header(&noise(u64::from(i), 64));
        m.handle_bytes(ca, &junk, t0);
        let outs = drain(&mut m);
        assert!(closes(&outs).is_empty(), "closed after {i}");
        assert!(frames_to(&outs, cb).is_empty(), "only the sender is asked");
        let asked = sent_to(&outs, ca);
        assert_eq!(asked.len(), 2, "{asked:?}");
        for d in &asked {
            assert_eq!(d.frame.msg_type, u64::from(MainFlag::Renegotiate.value()));
            assert_eq!(d.compression, None);
        }
        assert_eq!(
            asked[0].frame.payload,
            vec![
                int(SubFlag::Compression.value().into()),
                Value::Array(vec![])
            ]
        );
        assert_eq!(
            asked[1].frame.payload,
            vec![int(SubFlag::Resend.value().into())]
        );
        assert_eq!(m.counters().undecodable, u64::from(i));
        assert!(m.is_connected_to(&a.pid()));
        // The connection keeps its framing: a good frame still gets through.
        m.handle_bytes(ca, &a.whisper(UNIX, "fine"), t0);
        assert_eq!(m.recv().unwrap().packets[1], Value::from("fine"));
    }
    // Shorter than a checksum counts too; one more than tolerated closes.
    m.handle_bytes(ca, &with_header(&noise(9, 20)), t0);
    let outs = drain(&mut m);
    assert_eq!(closes(&outs), vec![ca]);
    assert_eq!(rejected(&outs, ca), Some(RejectReason::UndecodableFrames));
    assert!(frames_to(&outs, ca).is_empty());
    assert!(!m.is_connected_to(&a.pid()));
    assert!(m.is_connected_to(&b.pid()));
    assert_eq!(m.counters().rejected.undecodable, 1);
    assert_eq!(m.counters().undecodable, u64::from(max) + 1);
}

#[test]
fn a_garbage_body_with_a_good_checksum_is_a_protocol_violation() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    type Check = fn(&WireError) -> bool;
    let bodies: [(&[u8], Check); 3] = [
        // [0, "x", 1, <0xc1>]: a reserved marker as the payload.
        (&[0x94, 0x00, 0xc4, 0x01, b'x', 0x01, 0xc1], |e| {
            matches!(e, WireError::ReservedMarker { .. })
        }),
        (&[0x01], |e| matches!(e, WireError::BodyNotArray)),
        // [0, <bin 8 of 5 bytes with 1 there>, ...]
        (&[0x93, 0x00, 0xc4, 0x05, b'a'], |e| {
            matches!(e, WireError::TruncatedBody { .. })
        }),
    ];
    for (i, (body, check)) in bodies.into_iter().enumerate() {
        let peer = Peer::new(i as u64 + 1);
        let conn = join(&mut m, &peer, t0);
        let frame = frame_body(body, None).unwrap().0;
        m.handle_bytes(conn, &frame, t0);
        let outs = drain(&mut m);
        assert_eq!(closes(&outs), vec![conn]);
        let error = events(&outs)
            .into_iter()
            .find_map(|e| match e {
                Event::ProtocolViolation { conn: c, error } if c == conn => Some(error),
                _ => None,
            })
            .expect("no ProtocolViolation event");
        assert!(check(&error), "{error:?}");
        assert!(!m.is_connected_to(&peer.pid()));
        assert_eq!(m.counters().violations, i as u64 + 1);
        assert_eq!(m.counters().undecodable, 0, "not a renegotiation case");
        // Later bytes on the forgotten handle are ignored.
        m.handle_bytes(conn, &peer.whisper(UNIX, "late"), t0);
        assert!(drain(&mut m).is_empty());
    }
    // A header announcing more than max_frame is one too.
    let peer = Peer::new(10);
    let conn = join(&mut m, &peer, t0);
    let huge = u32::try_from(Limits::default().max_frame + 1).unwrap();
    m.handle_bytes(conn, &huge.to_be_bytes(), t0);
    let outs = drain(&mut m);
    assert_eq!(closes(&outs), vec![conn]);
    assert!(events(&outs).iter().any(|e| matches!(
        e,
        Event::ProtocolViolation {
            error: WireError::FrameTooLarge { .. },
            ..
        }
    )));
}

// ---------------------------------------------------------------------------
// 6. Handshakes
// ---------------------------------------------------------------------------

#[test]
fn a_protocol_mismatch_is_rejected_and_not_routed() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    for (i, other) in [
        Protocol::new("other", Encryption::Plaintext),
        Protocol::new("mesh", Encryption::Ssl),
    ]
    .into_iter()
    .enumerate()
    {
        let mut peer = Peer::new(i as u64 + 1);
        peer.protocol_id = other.id();
        assert_ne!(peer.protocol_id, m.protocol_id());
        let conn = m.handle_accepted(Some(peer.addr.clone()), t0);
        drain(&mut m);
        m.handle_bytes(conn, &peer.handshake(UNIX), t0);
        let outs = drain(&mut m);
        assert_eq!(closes(&outs), vec![conn]);
        assert_eq!(
            rejected(&outs, conn),
            Some(RejectReason::ProtocolMismatch { theirs: other.id() })
        );
        assert_eq!(transmits(&outs), 0, "no peer list for another subnet");
        assert!(!m.is_connected_to(&peer.pid()));
        assert_eq!(m.routes().count(), 0);
        assert_eq!(m.conn_count(), 0);
        assert_eq!(m.known_addrs(), 0);
    }
    assert_eq!(m.counters().rejected.protocol_mismatch, 2);
}

#[test]
fn a_handshake_naming_our_own_id_is_a_self_connection() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let mut me = Peer::new(1);
    me.id = m.id().0.clone();
    let conn = m.connect(PeerAddr::new("10.0.0.1", 4444), t0);
    m.handle_dialed(conn, true, t0);
    drain(&mut m);
    m.handle_bytes(conn, &me.handshake(UNIX), t0);
    let outs = drain(&mut m);
    assert_eq!(closes(&outs), vec![conn]);
    assert_eq!(rejected(&outs, conn), Some(RejectReason::SelfConnection));
    assert_eq!(m.peer_count(), 0);
    assert_eq!(m.conn_count(), 0);
    assert_eq!(m.counters().rejected.self_connection, 1);
}

#[test]
fn ids_and_protocol_id_as_str_are_the_same_as_bin() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let p = Peer::new(1);
    let n = Peer::new(2);
    let id_text = std::str::from_utf8(&p.id).unwrap().to_owned();
    // [whisper, p, t, handshake, "p", "protocol", [host, port], []] (str, not bin)
    let hs = with_str_sender(&Frame::new(
        2,
        p.id.clone(),
        UNIX,
        vec![
            int(5),
            Value::from(id_text.as_str()),
            Value::from(protocol().id()),
            addr_value(&p.addr),
            Value::Array(vec![]),
        ],
    ));
    let cp = m.handle_accepted(None, t0);
    m.handle_bytes(cp, &hs, t0);
    let outs = drain(&mut m);
    assert!(
        events(&outs).contains(&Event::PeerUp {
            conn: cp,
            peer: p.pid(),
            addr: p.addr.clone()
        }),
        "{outs:?}"
    );
    assert_eq!(m.routes().collect::<Vec<_>>(), vec![(&p.pid(), cp)]);
    let cn = join(&mut m, &n, t0);

    // A broadcast from p, sender spelled as str, relayed by n: not sent back to p.
    let b = with_str_sender(&Frame::new(
        0,
        p.id.clone(),
        UNIX,
        vec![int(0), Value::from("str sender")],
    ));
    m.handle_bytes(cn, &b, t0);
    let outs = drain(&mut m);
    assert!(
        frames_to(&outs, cp).is_empty(),
        "relayed back to its originator"
    );
    let msg = m.recv().unwrap();
    assert_eq!(msg.sender, p.pid());
    // n lists p (bin id, another address): p is already routed, no dial.
    m.handle_bytes(
        cn,
        &n.peers(UNIX, &[(PeerAddr::new("10.9.9.9", 1), p.id.clone())]),
        t0,
    );
    assert!(dials(&drain(&mut m)).is_empty());
    // A second connection from p with a bin id is a duplicate of the first.
    let cp2 = m.handle_accepted(None, t0);
    m.handle_bytes(cp2, &p.handshake(UNIX), t0);
    let outs = drain(&mut m);
    assert_eq!(closes(&outs).len(), 1, "{outs:?}");
    let loser = closes(&outs)[0];
    assert!(loser == cp || loser == cp2);
    assert_eq!(
        rejected(&outs, loser),
        Some(RejectReason::DuplicateConnection)
    );
    assert_eq!(m.peer_count(), 2);
    assert!(m.is_connected_to(&p.pid()));
}

#[test]
fn our_handshake_is_plain_and_carries_our_compression_list() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let accepted = m.handle_accepted(None, t0);
    let dialed = m.connect(PeerAddr::new("10.0.7.7", 7), t0);
    let outs = drain(&mut m);
    assert!(
        frames_to(&outs, dialed).is_empty(),
        "nothing before the dial completes"
    );
    m.handle_dialed(dialed, true, secs(t0, 2));
    let outs2 = drain(&mut m);
    // Our methods, then the lazy-push marker (py2p ignores numbers it does not know).
    let expected_methods = with_marker(flags(Compression::supported()));
    for (conn, outs, time) in [(accepted, &outs, UNIX), (dialed, &outs2, UNIX + 2)] {
        let frames = frames_to(outs, conn);
        assert_eq!(frames.len(), 1);
        let d = decode(&frames[0]);
        assert_eq!(d.compression, None);
        // Plain on the wire: header, SHA-256, then the msgpack body as is.
        assert_eq!(frames[0], frame_body(&d.body, None).unwrap().0);
        assert_eq!(frames[0].len(), HEADER_LEN + 32 + d.body.len());
        assert_eq!(d.frame.msg_type, u64::from(MainFlag::Whisper.value()));
        assert_eq!(d.frame.sender, m.id().0);
        assert_eq!(d.frame.time, time);
        assert_eq!(
            d.frame.payload,
            vec![
                int(5),
                Value::Bin(m.id().0.clone()),
                Value::Bin(Bytes::from(m.protocol_id().to_owned())),
                addr_value(&PeerAddr::new("10.0.0.1", 4444)),
                expected_methods.clone(),
            ]
        );
    }
    // Even to a peer that already said it wants zlib, and with only some methods configured.
    let mut cfg = config();
    cfg.compression = vec![Compression::Zlib, Compression::Gzip];
    let mut m = mesh(cfg, t0);
    let c = m.handle_accepted(None, t0);
    let d = &sent_to(&drain(&mut m), c)[0];
    assert_eq!(d.compression, None);
    let configured: Vec<Compression> = [Compression::Zlib, Compression::Gzip]
        .into_iter()
        .filter(|c| c.is_supported())
        .collect();
    assert_eq!(d.frame.payload[4], with_marker(flags(&configured)));
    // With lazy push and link trimming off, exactly py2p's list.
    let mut cfg = config();
    cfg.lazy_push = false;
    cfg.trim_links = false;
    let mut m = mesh(cfg, t0);
    let c = m.handle_accepted(None, t0);
    let d = &sent_to(&drain(&mut m), c)[0];
    assert_eq!(d.frame.payload[4], flags(Compression::supported()));
}

fn with_marker(methods: Value) -> Value {
    let Value::Array(mut v) = methods else {
        panic!("a list")
    };
    v.push(Value::from(mesh_proto::mesh::lazy::MARKER));
    v.push(Value::from(mesh_proto::mesh::trim::MARKER));
    Value::Array(v)
}

#[cfg(feature = "zlib")]
#[test]
fn a_peer_advertising_zlib_gets_zlib_broadcasts() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    // Their order is bz2 first; ours prefers zlib over bz2.
    let z = Peer::new(1).with_compression(&[Compression::Bz2, Compression::Zlib]);
    let p = Peer::new(2);
    let cz = m.handle_accepted(None, t0);
    let hs_out = drain(&mut m);
    assert_eq!(sent_to(&hs_out, cz)[0].compression, None);
    m.handle_bytes(cz, &z.handshake(UNIX), t0);
    let outs = drain(&mut m);
    let peers = sent_to(&outs, cz);
    assert_eq!(peers[0].compression, Some(Compression::Zlib), "peer list");
    let cp = join(&mut m, &p, t0);
    let id = m
        .send(vec![Value::from(&[3u8; 500][..])], MainFlag::Broadcast, t0)
        .unwrap();
    let outs = drain(&mut m);
    let zf = frames_to(&outs, cz);
    assert_eq!(zf.len(), 1);
    let d = decode(&zf[0]);
    assert_eq!(d.compression, Some(Compression::Zlib));
    assert_eq!(d.id, id);
    assert_eq!(zf[0][HEADER_LEN], 0x78, "a zlib stream header");
    assert!(zf[0].len() < 500, "actually compressed");
    let pf = sent_to(&outs, cp);
    assert_eq!(pf[0].compression, None);
    assert_eq!(pf[0].body, d.body);
}

// ---------------------------------------------------------------------------
// 7. Counters
// ---------------------------------------------------------------------------

#[test]
fn counters_follow_frames_and_bytes() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let (a, b) = (Peer::new(1), Peer::new(2));
    let (mut frames_out, mut bytes_out) = (0u64, 0u64);
    let (mut frames_in, mut bytes_in) = (0u64, 0u64);
    let mut tally_out = |outs: &[Output]| {
        for o in outs {
            if let Output::Transmit { bytes, .. } = o {
                frames_out += 1;
                bytes_out += bytes.len() as u64;
            }
        }
        (frames_out, bytes_out)
    };
    let mut feed = |m: &mut Mesh, conn: ConnId, bytes: &[u8], frames: u64| {
        m.handle_bytes(conn, bytes, t0);
        frames_in += frames;
        bytes_in += bytes.len() as u64;
        (frames_in, bytes_in)
    };

    let ca = m.handle_accepted(None, t0);
    let cb = m.handle_accepted(None, t0);
    feed(&mut m, ca, &a.handshake(UNIX), 1);
    let mut last_in = feed(&mut m, cb, &b.handshake(UNIX), 1);
    let mut last_out = tally_out(&drain(&mut m));
    let check = |m: &Mesh, i: (u64, u64), o: (u64, u64), relayed: u64| {
        let c = m.counters();
        assert_eq!((c.frames_in, c.bytes_in), i, "in");
        assert_eq!((c.frames_out, c.bytes_out), o, "out");
        assert_eq!(c.relayed, relayed);
    };
    // Two handshakes and two peer lists went out.
    assert_eq!(last_out.0, 4);
    check(&m, last_in, last_out, 0);

    // A broadcast in two pieces: bytes count at once, the frame when whole.
    let f = a.broadcast(UNIX, "count me");
    last_in = feed(&mut m, ca, &f[..7], 0);
    check(&m, last_in, last_out, 0);
    last_in = feed(&mut m, ca, &f[7..], 1);
    let outs = drain(&mut m);
    assert_eq!(frames_to(&outs, cb), vec![f.clone()]);
    last_out = tally_out(&outs);
    check(&m, last_in, last_out, 1);
    // A whisper: in, not out.
    last_in = feed(&mut m, ca, &a.whisper(UNIX, "w"), 1);
    last_out = tally_out(&drain(&mut m));
    check(&m, last_in, last_out, 1);
    // Two frames in one chunk.
    let mut two = b.broadcast(UNIX, "x").to_vec();
    two.extend_from_slice(&b.broadcast(UNIX, "y"));
    last_in = feed(&mut m, cb, &two, 2);
    last_out = tally_out(&drain(&mut m));
    check(&m, last_in, last_out, 3);
    // Our own broadcast: one frame to each peer, not a relay.
    m.send(vec![Value::from("ours")], MainFlag::Broadcast, t0)
        .unwrap();
    last_out = tally_out(&drain(&mut m));
    check(&m, last_in, last_out, 3);
    let c = m.counters();
    assert_eq!(c.frames_in, 6);
    assert_eq!(c.frames_out, 4 + 1 + 2 + 2);
    assert_eq!(c.delivered, 4);
    assert_eq!(c.duplicates, 0);
}

// ---------------------------------------------------------------------------
// 8. close()
// ---------------------------------------------------------------------------

#[test]
fn close_closes_every_connection_once() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let (a, b) = (Peer::new(1), Peer::new(2));
    let ca = join(&mut m, &a, t0);
    let cb = dial(&mut m, &b, t0);
    m.handle_bytes(ca, &a.whisper(UNIX, "keep"), t0);
    let msg = m.recv().unwrap();
    let pending = m.handle_accepted(None, t0);
    let dialing = m.connect(PeerAddr::new("10.0.8.8", 8), t0);
    drain(&mut m);

    m.close(t0).unwrap();
    assert!(m.is_closed());
    let outs = drain(&mut m);
    let closed: BTreeSet<ConnId> = closes(&outs).into_iter().collect();
    assert_eq!(closed, BTreeSet::from([ca, cb, pending, dialing]));
    assert_eq!(closes(&outs).len(), 4, "each closed once");
    assert_eq!(transmits(&outs), 0, "no request_peers while closing");
    assert!(dials(&outs).is_empty());
    assert_eq!(m.conn_count(), 0);
    assert_eq!(m.peer_count(), 0);
    assert_eq!(m.next_heal(), None);

    assert_eq!(m.close(t0), Err(SendError::Closed));
    assert_eq!(
        m.send(vec![Value::from("x")], MainFlag::Broadcast, t0),
        Err(SendError::Closed)
    );
    assert_eq!(
        m.send(vec![Value::from("x")], MainFlag::Whisper, t0),
        Err(SendError::Closed)
    );
    assert_eq!(m.send_raw(0x30, vec![int(0)], t0), Err(SendError::Closed));
    assert_eq!(m.reply(&msg, vec![], t0), Err(SendError::Closed));
    assert!(drain(&mut m).is_empty());
    // New connections are refused; dials fail.
    let late = m.handle_accepted(None, t0);
    let outs = drain(&mut m);
    assert_eq!(closes(&outs), vec![late]);
    assert_eq!(transmits(&outs), 0);
    let d = m.connect(PeerAddr::new("10.0.8.9", 9), t0);
    let outs = drain(&mut m);
    assert!(dials(&outs).is_empty());
    assert!(
        events(&outs)
            .iter()
            .any(|e| matches!(e, Event::DialFailed { conn, .. } if *conn == d))
    );
    // Reports about forgotten connections are ignored.
    m.handle_bytes(ca, &a.whisper(UNIX, "late"), t0);
    m.handle_closed(cb, t0);
    m.handle_timeout(secs(t0, 3600));
    assert!(drain(&mut m).is_empty());
    assert!(m.recv().is_none());
}
