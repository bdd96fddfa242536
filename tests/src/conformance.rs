//! The adapter conformance suite: each scenario is written once, against
//! [`Adapter`] and [`Node`] ([`crate::nodes`]), a blocking-style surface
//! over every runtime adapter (mesh-tokio, mesh-async-std under async-std
//! and under smol, mesh-blocking); `tests/conformance.rs` runs them. Nodes run
//! on 127.0.0.1, port 0; every wait is bounded ([`LIMIT`] per wait,
//! [`SCENARIO_LIMIT`] per scenario via [`bounded`]).
//!
//! The scenarios: py2p's mesh tests (propagation along a line, protocol
//! rejection, the handler registry, reply) and whispers staying with direct
//! peers, in plaintext and in TLS; TLS specifics (frames spanning records, a
//! plaintext node, a plaintext socket or a silent peer closed promptly on
//! both sides, never a hang); graceful close
//! (plaintext and TLS), everything ending after a close, port 0 and the
//! advertised address, backpressure and the write-stall timeout, and a mesh
//! mixing every adapter.

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mesh_proto::mesh::{
    Config, Event, Handled, HandlerCx, Mesh, Message, Output, PeerAddr, PeerId, RejectReason,
    SendError,
};
use mesh_proto::wire::{Encryption, MainFlag, Protocol, SubFlag, Value};

use crate::nodes::{Adapter, BindOptions, EventQueue, Node};

/// Every single wait (a message, a routing table) is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(15);

/// A whole scenario run by [`bounded`] is bounded by this.
pub const SCENARIO_LIMIT: Duration = Duration::from_secs(120);

/// Runs `scenario` on a thread of its own and fails if it panics or takes
/// longer than [`SCENARIO_LIMIT`] (a blocking call that hangs included).
pub fn bounded(scenario: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let worker = thread::Builder::new()
        .name("scenario".into())
        .spawn(move || {
            scenario();
            let _ = done.send(());
        })
        .expect("spawn the scenario thread");
    match finished.recv_timeout(SCENARIO_LIMIT) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the scenario ended without reporting"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("scenario still running after {SCENARIO_LIMIT:?}")
        }
    }
}

// ----- py2p's mesh tests -----------------------------------------------------

/// py2p `test_mesh_propagation`: a broadcast crosses a line a - b - c, and
/// each node gets it once, its origin never.
pub fn propagation(adapter: &dyn Adapter, enc: Encryption) {
    let [a, b, c] = line(adapter, enc);
    a.send(vec![bin(b"hello")]).expect("send");

    let at_c = c.next(LIMIT).expect("c gets it through b");
    assert_eq!(at_c.packets[1], bin(b"hello"));
    assert_eq!(at_c.sender, a.id());
    assert_eq!(at_c.msg_type, u64::from(MainFlag::Broadcast.value()));
    let at_b = b.next(LIMIT).expect("b gets it");
    assert_eq!(at_b.id, at_c.id);
    assert!(b.counters().relayed >= 1, "b relayed it");

    thread::sleep(Duration::from_millis(200));
    for (name, n) in [("a", &a), ("b", &b), ("c", &c)] {
        assert!(n.recv().is_none(), "{name} got a second copy");
    }
}

/// A whisper reaches direct peers only: b gets it, c (behind b) never does.
pub fn whisper(adapter: &dyn Adapter, enc: Encryption) {
    let [a, b, c] = line(adapter, enc);
    a.whisper(vec![bin(b"secret")]).expect("whisper");
    a.send(vec![bin(b"marker")]).expect("send");

    let at_b = b.next(LIMIT).expect("b gets the whisper");
    assert_eq!(at_b.packets[1], bin(b"secret"));
    assert_eq!(at_b.msg_type, u64::from(MainFlag::Whisper.value()));
    // Same stream a -> b, so had b relayed the whisper, c would see it first.
    let at_c = c.next(LIMIT).expect("c gets the broadcast");
    assert_eq!(at_c.packets[1], bin(b"marker"));
    thread::sleep(Duration::from_millis(200));
    assert!(c.recv().is_none(), "c must never see the whisper");
}

/// py2p `test_protocol_rejection`: nodes of different subnets refuse each
/// other; both routing tables stay empty.
pub fn protocol_rejection(adapter: &dyn Adapter, enc: Encryption) {
    let a = adapter
        .bind(Protocol::new("alpha", enc), Box::new(quiet))
        .expect("bind");
    let b = adapter
        .bind(Protocol::new("beta", enc), Box::new(quiet))
        .expect("bind");
    let mut events = a.events();
    a.connect(b.port()).expect("the transport connects");
    let reason = wait_event(&mut *events, |e| match e {
        Event::Rejected { reason, .. } => Some(reason),
        _ => None,
    });
    assert!(
        matches!(reason, RejectReason::ProtocolMismatch { .. }),
        "{reason:?}"
    );

    let rejections =
        || a.counters().rejected.protocol_mismatch + b.counters().rejected.protocol_mismatch;
    wait_until("a protocol-mismatch rejection", || rejections() >= 1);
    // Give a handshake time to (wrongly) land, then look.
    thread::sleep(Duration::from_millis(300));
    assert_eq!(a.routes(), Vec::<PeerId>::new(), "a's routing table");
    assert_eq!(b.routes(), Vec::<PeerId>::new(), "b's routing table");
}

/// py2p `test_handler_registry`: a handler answers `b"test"` with a direct
/// whisper `b"success"` and consumes it; other messages still reach the queue.
pub fn handler_registry(adapter: &dyn Adapter, enc: Encryption) {
    let [a, b] = pair(adapter, enc);
    b.register_handler(Box::new(|msg: &Message, cx: &mut HandlerCx<'_>| {
        if msg.packets.get(1) != Some(&bin(b"test")) {
            return Handled::Pass;
        }
        cx.send_direct(MainFlag::Whisper, SubFlag::Whisper, vec![bin(b"success")])
            .expect("answer on the message's connection");
        Handled::Consumed
    }));

    a.send(vec![bin(b"test")]).expect("send");
    let answer = a.next(LIMIT).expect("the handler answers");
    assert_eq!(answer.packets[1], bin(b"success"));
    assert_eq!(answer.sender, b.id());
    assert_eq!(answer.msg_type, u64::from(MainFlag::Whisper.value()));
    assert!(b.recv().is_none(), "the handler consumed b\"test\"");

    a.send(vec![bin(b"other")]).expect("send");
    let other = b.next(LIMIT).expect("other messages are still queued");
    assert_eq!(other.packets[1], bin(b"other"));
}

/// py2p `test_reply`: a reply goes straight back to the sender as a whisper.
pub fn reply(adapter: &dyn Adapter, enc: Encryption) {
    let [a, b] = pair(adapter, enc);
    a.send(vec![bin(b"ping")]).expect("send");
    let ping = b.next(LIMIT).expect("ping");
    b.reply(&ping, vec![bin(b"pong")]).expect("reply");

    let pong = a.next(LIMIT).expect("pong");
    assert_eq!(pong.packets[1], bin(b"pong"));
    assert_eq!(pong.sub_flag(), Some(SubFlag::Whisper));
    assert_eq!(pong.msg_type, u64::from(MainFlag::Whisper.value()));
    assert_eq!(pong.sender, b.id());
}

// ----- TLS -------------------------------------------------------------------

/// Two TLS nodes: a broadcast, a reply, a broadcast the other way; closing
/// one empties the other's routing table.
pub fn tls_both_ways(adapter: &dyn Adapter) {
    let [a, b] = pair(adapter, Encryption::Ssl);
    a.send(vec![bin(b"ping")]).expect("send");
    let ping = b.next(LIMIT).expect("b gets the ping");
    assert_eq!(ping.packets[1], bin(b"ping"));
    assert_eq!(ping.sender, a.id());

    b.reply(&ping, vec![bin(b"pong")]).expect("reply");
    let pong = a.next(LIMIT).expect("a gets the reply");
    assert_eq!(pong.packets[1], bin(b"pong"));
    assert_eq!(pong.sender, b.id());

    b.send(vec![bin(b"the other way")]).expect("send");
    let back = a.next(LIMIT).expect("a gets b's broadcast");
    assert_eq!(back.packets[1], bin(b"the other way"));
    assert_eq!(back.sender, b.id());

    a.close().expect("close a");
    wait_routes(&*b, &[]);
    b.close().expect("close b");
}

/// A packet bigger than a TLS record (16 KiB) crosses a TLS line a - b - c:
/// frames span records.
pub fn tls_big_packet(adapter: &dyn Adapter) {
    let [a, b, c] = line(adapter, Encryption::Ssl);
    let big = vec![7u8; 100_000];
    a.send(vec![bin(b"hello"), bin(&big)]).expect("send");
    let at_c = c.next(LIMIT).expect("c gets it");
    assert_eq!(at_c.packets[1], bin(b"hello"));
    assert_eq!(at_c.packets[2], bin(&big));
    assert_eq!(at_c.sender, a.id());
    let at_b = b.next(LIMIT).expect("b gets it");
    assert_eq!(at_b.id, at_c.id);
    assert!(b.counters().relayed >= 1, "b relayed it");

    thread::sleep(Duration::from_millis(200));
    assert!(a.recv().is_none(), "never back to its origin");
    assert!(c.recv().is_none(), "delivered once");
    for n in [&a, &b, &c] {
        n.close().expect("close");
    }
}

/// A TLS node closes a socket that speaks plaintext py2p at once (its
/// handshake timeout is long: a prompt close is the TLS failure's).
pub fn tls_refuses_plaintext_socket(adapter: &dyn Adapter) {
    let tls = tls_node(adapter, Duration::from_secs(30));
    let mut raw = TcpStream::connect(("127.0.0.1", tls.port())).expect("connect");
    raw.write_all(PLAIN_FRAME).expect("write");
    assert!(closed_by_peer(&mut raw), "the TLS node closes");
    assert!(tls.routes().is_empty());
    tls.close().expect("close");
}

/// A TLS dial to a peer that answers in plaintext fails, and the TLS node
/// closes the socket at once.
pub fn tls_dial_to_plaintext_peer(adapter: &dyn Adapter) {
    let tls = tls_node(adapter, Duration::from_secs(30));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    thread::scope(|s| {
        let dial = s.spawn(|| tls.connect(port));
        let mut raw = accept_promptly(&listener);
        raw.write_all(PLAIN_FRAME).expect("write");
        assert!(closed_by_peer(&mut raw), "the TLS node closes");
        let dialed = join_promptly(dial);
        assert!(dialed.is_err(), "the dial fails");
    });
    tls.close().expect("close");
}

/// A silent peer cannot hang a TLS handshake: it is cut off at the core's
/// handshake timeout, accepted or dialed.
pub fn tls_silent_peer(adapter: &dyn Adapter) {
    let tls = tls_node(adapter, Duration::from_millis(500));

    // Accepted, then nothing: the TLS node gives up and closes.
    let started = Instant::now();
    let mut raw = TcpStream::connect(("127.0.0.1", tls.port())).expect("connect");
    assert!(closed_by_peer(&mut raw), "the TLS node closes");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "not before the handshake timeout"
    );

    // Dialed, then nothing: the dial fails, timed out.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    thread::scope(|s| {
        let dial = s.spawn(|| tls.connect(port));
        let mut silent = accept_promptly(&listener);
        let dialed = join_promptly(dial);
        assert_eq!(
            dialed.expect_err("a silent peer").kind(),
            ErrorKind::TimedOut
        );
        assert!(closed_by_peer(&mut silent), "the TLS node closes");
    });
    assert!(tls.routes().is_empty());
    tls.close().expect("close");
}

/// A flood of silent connections cannot pile up TLS handshakes: past the
/// core's `max_pending_handshakes` a connection is closed at once, those
/// already in a handshake wait for their timeout, and once they are gone a
/// TLS peer gets in again.
pub fn tls_handshake_flood(adapter: &dyn Adapter) {
    let configure = |c: &mut Config| {
        c.max_outgoing = 0;
        c.max_pending_handshakes = 2;
        c.handshake_timeout = Duration::from_secs(10);
    };
    let tls = adapter
        .bind(proto("tls-test", Encryption::Ssl), Box::new(configure))
        .expect("bind");
    let silent: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(("127.0.0.1", tls.port())).expect("connect"))
        .collect();
    // Let the accept loop start both handshakes.
    thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let mut third = TcpStream::connect(("127.0.0.1", tls.port())).expect("connect");
    assert!(closed_by_peer(&mut third), "the third is closed");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "closed at once, not at the handshake timeout"
    );
    let mut first = silent.into_iter().next().expect("two");
    first
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    let mut buf = [0u8; 16];
    assert!(
        matches!(first.read(&mut buf), Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "a handshake under way stays open"
    );
    drop(first);

    // The silent peers leave: their slots come back.
    let other = tls_node(adapter, Duration::from_secs(10));
    let (t, o) = (tls.id(), other.id());
    wait_until("a TLS peer gets in", || {
        other.connect(tls.port()).is_ok() && {
            thread::sleep(Duration::from_millis(100));
            other.routes().contains(&t) && tls.routes().contains(&o)
        }
    });
    for n in [&tls, &other] {
        promptly("close", || n.close()).expect("close");
    }
}

/// A plaintext node dials a TLS node: the TCP connection opens, then the
/// TLS node refuses the plaintext bytes and both sides close promptly (none
/// is left to the plaintext node's 2 s handshake timeout); the TLS node is
/// none the worse.
pub fn plaintext_dials_tls(adapter: &dyn Adapter) {
    let plain = plain_node(adapter, Duration::from_secs(2));
    let tls = tls_node(adapter, Duration::from_secs(10));
    let mut events = plain.events();

    promptly("connect", || plain.connect(tls.port())).expect("the TCP connection opens");
    no_peer_and_nothing_hangs(&mut *events, Duration::from_millis(3500));
    assert!(plain.routes().is_empty());
    assert!(tls.routes().is_empty());

    // A TLS peer still gets in.
    let other = tls_node(adapter, Duration::from_secs(10));
    link(&*other, &*tls);
    for n in [&plain, &tls, &other] {
        promptly("close", || n.close()).expect("close");
    }
}

/// A TLS node dials a plaintext node: the plaintext handshake frame is not
/// TLS, so the dial fails at once (not after the TLS node's 10 s handshake
/// timeout), the core hears of it, and neither side is left hanging.
pub fn tls_dials_plaintext(adapter: &dyn Adapter) {
    let plain = plain_node(adapter, Duration::from_secs(2));
    let tls = tls_node(adapter, Duration::from_secs(10));
    let mut plain_events = plain.events();
    let mut tls_events = tls.events();

    let dialed = promptly("connect", || tls.connect(plain.port()));
    assert!(dialed.is_err(), "the TLS handshake cannot succeed");
    let failed = wait_event(&mut *tls_events, |e| match e {
        Event::DialFailed { .. } => Some(true),
        Event::PeerUp { .. } => Some(false),
        _ => None,
    });
    assert!(failed, "the core hears of the failed dial");

    no_peer_and_nothing_hangs(&mut *plain_events, Duration::from_millis(3500));
    assert!(plain.routes().is_empty());
    assert!(tls.routes().is_empty());
    for n in [&plain, &tls] {
        promptly("close", || n.close()).expect("close");
    }
}

// ----- lifecycle -------------------------------------------------------------

/// A broadcast still queued when `close` is called is flushed first; a
/// second close is an error.
pub fn graceful_close(adapter: &dyn Adapter, enc: Encryption) {
    // Uncompressed, so the 6 MiB stay big enough to be queued at close.
    let plain = |c: &mut Config| {
        c.max_outgoing = 0;
        c.compression.clear();
    };
    let a = adapter.bind(proto("test", enc), Box::new(plain));
    let b = adapter.bind(proto("test", enc), Box::new(plain));
    let (a, b) = (a.expect("bind"), b.expect("bind"));
    link(&*a, &*b);

    let mut x: u32 = 0x1234_5678;
    let big: Vec<u8> = (0..6 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    a.send(vec![bin(&big)]).expect("send");
    assert_eq!(a.close(), Ok(()), "first close");

    let got = b.next(LIMIT).expect("the queued broadcast was flushed");
    assert!(got.packets[1] == bin(&big), "the broadcast arrived intact");
    assert_eq!(a.close(), Err(SendError::Closed), "second close");
    wait_routes(&*b, &[]);
}

/// Bound to port 0, a node reports and advertises the real port (a
/// wildcard bind advertises the machine's LAN address, or loopback without
/// one, as py2p does; an explicit `out_addr` is advertised as given), it is reachable, and peers learn its address from the
/// handshake.
pub fn port_zero(adapter: &dyn Adapter) {
    let a = node(adapter, Encryption::Plaintext);
    let port = a.port();
    assert_ne!(port, 0, "the real port is reported");
    assert_eq!(a.out_addr(), PeerAddr::new("127.0.0.1", port));
    TcpStream::connect(("127.0.0.1", port)).expect("something listens there");

    let bind = |options| {
        let protocol = proto("test", Encryption::Plaintext);
        adapter.bind_with(protocol, Box::new(quiet), options)
    };
    let wildcard = BindOptions {
        host: Some("0.0.0.0"),
        ..BindOptions::default()
    };
    let w = bind(wildcard).expect("bind");
    assert_ne!(w.port(), 0);
    let lan = mesh_tokio::lan_address(false).map_or("127.0.0.1".into(), |ip| ip.to_string());
    assert_eq!(w.out_addr(), PeerAddr::new(lan, w.port()));
    let explicit = BindOptions {
        out_addr: Some(("example.invalid".into(), 4444)),
        ..BindOptions::default()
    };
    let o = bind(explicit).expect("bind");
    assert_eq!(o.out_addr(), PeerAddr::new("example.invalid", 4444));

    let b = node(adapter, Encryption::Plaintext);
    let mut events = b.events();
    link(&*b, &*a);
    let (peer, addr) = wait_event(&mut *events, |e| match e {
        Event::PeerUp { peer, addr, .. } => Some((peer, addr)),
        _ => None,
    });
    assert_eq!(peer, a.id());
    assert_eq!(addr, PeerAddr::new("127.0.0.1", port));
}

/// After a close everything ends: a second close, sends and dials fail,
/// receives and event streams end (a new one at once), the routing tables
/// empty and the listener is gone.
pub fn close_ends_everything(adapter: &dyn Adapter) {
    let [a, b] = pair(adapter, Encryption::Plaintext);
    let mut events = a.events();

    assert_eq!(a.close(), Ok(()));
    assert_eq!(a.close(), Err(SendError::Closed));
    assert_eq!(a.send(vec![bin(b"late")]), Err(SendError::Closed));
    assert!(a.connect(b.port()).is_err());
    assert!(a.next(LIMIT).is_none(), "receives end after close");
    // The stream ends; it only had what came before the close.
    let mut rest = Vec::new();
    while let Some(event) = events.next(LIMIT).expect("the event stream ends") {
        rest.push(event);
    }
    assert!(rest.len() < 16, "{rest:?}");
    assert_eq!(
        a.events().next(LIMIT),
        Ok(None),
        "a new stream ends at once"
    );
    assert!(a.routes().is_empty());
    wait_routes(&*b, &[]);
    assert!(
        TcpStream::connect(("127.0.0.1", a.port())).is_err(),
        "the listener is gone"
    );
}

// ----- flow control ----------------------------------------------------------

/// `send` waits while a peer's queue is over half full, and a peer that
/// stops reading is cut off after the write-stall timeout while the rest of
/// the mesh goes on.
pub fn backpressure(adapter: &dyn Adapter) {
    let cfg = || -> crate::nodes::Configure {
        Box::new(|c: &mut Config| {
            c.max_outgoing = 0;
            c.compression.clear();
            c.max_queued_bytes = 1 << 20;
        })
    };
    let stalls = BindOptions {
        write_stall: Some(Duration::from_millis(500)),
        ..BindOptions::default()
    };
    let plain = || proto("test", Encryption::Plaintext);
    let a = adapter.bind_with(plain(), cfg(), stalls).expect("bind");
    let b = adapter.bind(plain(), cfg()).expect("bind");
    link(&*b, &*a);
    let _silent = silent_peer(a.port());
    wait_until("the silent peer's handshake", || a.routes().len() == 2);
    let silent_id = a
        .routes()
        .into_iter()
        .find(|p| *p != b.id())
        .expect("the silent peer");
    let mut events = a.events();

    // 24 MiB: far more than the silent peer's socket buffers hold, and 24
    // times the per-connection queue cap. Without backpressure the core would
    // have to drop the silent link for overflowing; without the stall timeout
    // these sends would wait forever.
    const N: u64 = 384;
    let chunk = vec![0xA5u8; 64 * 1024];
    let started = Instant::now();
    for i in 0..N {
        a.send(vec![Value::from(i), bin(&chunk)]).expect("send");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "sends waited for the stall"
    );
    wait_routes(&*a, &[&b.id()]);
    assert_eq!(
        a.counters().rejected.output_overflow,
        0,
        "backpressure kept the queue bounded"
    );
    let down = wait_event(&mut *events, |e| match e {
        Event::PeerDown { peer, .. } => Some(peer),
        _ => None,
    });
    assert_eq!(down, silent_id);

    // The healthy peer got everything, in order.
    for i in 0..N {
        let m = b.next(LIMIT).expect("message");
        assert_eq!(m.packets[1], Value::from(i));
    }
}

// ----- a mixed mesh ----------------------------------------------------------

/// One node per adapter, each dialing only the one before it, with the
/// default `max_outgoing`: peer exchange makes it a full mesh. Then every
/// node broadcasts once and every other node gets each broadcast once.
pub fn mixed_mesh(adapters: &[&dyn Adapter]) {
    let nodes: Vec<Box<dyn Node>> = adapters
        .iter()
        .map(|a| a.bind(proto("mixed", Encryption::Plaintext), Box::new(|_| {})))
        .collect::<std::io::Result<_>>()
        .expect("bind");
    for w in nodes.windows(2) {
        w[1].connect(w[0].port()).expect("connect");
    }
    let ids: Vec<PeerId> = nodes.iter().map(|n| n.id()).collect();
    for (i, n) in nodes.iter().enumerate() {
        let others: Vec<&PeerId> = ids.iter().filter(|id| **id != ids[i]).collect();
        wait_routes(&**n, &others);
    }

    let payload = |i: usize| format!("from node {i}").into_bytes();
    for (i, n) in nodes.iter().enumerate() {
        n.send(vec![bin(&payload(i))]).expect("send");
    }
    for (i, n) in nodes.iter().enumerate() {
        let want: BTreeSet<(PeerId, Vec<u8>)> = (0..nodes.len())
            .filter(|&j| j != i)
            .map(|j| (ids[j].clone(), payload(j)))
            .collect();
        let got: BTreeSet<(PeerId, Vec<u8>)> = (1..nodes.len())
            .map(|_| {
                n.next(LIMIT)
                    .unwrap_or_else(|| panic!("node {i}: a broadcast is missing"))
            })
            .map(|m| {
                (
                    m.sender,
                    m.packets[1].as_bin().map_or(vec![], |b| b.to_vec()),
                )
            })
            .collect();
        assert_eq!(got, want, "node {i} gets every other node's broadcast");
    }
    thread::sleep(Duration::from_millis(300));
    for (i, n) in nodes.iter().enumerate() {
        assert!(n.recv().is_none(), "node {i} got a broadcast twice");
    }
}

// ----- helpers ---------------------------------------------------------------

/// A failure (a refused TLS handshake) must be noticed well within this,
/// and so not by a timeout.
const PROMPT: Duration = Duration::from_secs(3);

/// A py2p frame in plaintext: a 4-byte big-endian length, then msgpack.
const PLAIN_FRAME: &[u8] = b"\x00\x00\x00\x05\x94\xa7abc";

/// `f`'s result; fails unless it came within [`PROMPT`] (a call that hangs
/// is caught by the call and scenario limits).
fn promptly<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = f();
    assert!(started.elapsed() < PROMPT, "{what}: not within {PROMPT:?}");
    result
}

/// Watches `events` for `window`: fails on a peer coming up, or on a
/// connection that outlived the core's handshake timeout (one left hanging).
fn no_peer_and_nothing_hangs(events: &mut dyn EventQueue, window: Duration) {
    let deadline = Instant::now() + window;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.next(left) {
            Ok(Some(event @ (Event::PeerUp { .. } | Event::Connected))) => {
                panic!("a peer came up: {event:?}")
            }
            Ok(Some(Event::Rejected {
                reason: RejectReason::HandshakeTimeout,
                ..
            })) => panic!("a connection was left hanging until the handshake timeout"),
            Ok(Some(_)) => {}
            Ok(None) => panic!("the events ended"),
            Err(_) => return,
        }
    }
}

/// A plaintext node that never dials on its own.
fn plain_node(adapter: &dyn Adapter, handshake_timeout: Duration) -> Box<dyn Node> {
    let configure = move |c: &mut Config| {
        c.max_outgoing = 0;
        c.handshake_timeout = handshake_timeout;
    };
    adapter
        .bind(
            proto("tls-test", Encryption::Plaintext),
            Box::new(configure),
        )
        .expect("bind")
}

/// A TLS node that never dials on its own.
fn tls_node(adapter: &dyn Adapter, handshake_timeout: Duration) -> Box<dyn Node> {
    let configure = move |c: &mut Config| {
        c.max_outgoing = 0;
        c.handshake_timeout = handshake_timeout;
    };
    adapter
        .bind(proto("tls-test", Encryption::Ssl), Box::new(configure))
        .expect("bind")
}

/// Reads until the peer closes (end of stream or a reset): true if it does
/// within [`PROMPT`].
fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let deadline = Instant::now() + PROMPT;
    let mut buf = [0u8; 1024];
    loop {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return false;
        };
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("set_read_timeout");
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

/// What a dial thread returns; fails unless it is back within [`PROMPT`].
fn join_promptly<T>(dial: thread::ScopedJoinHandle<'_, T>) -> T {
    let deadline = Instant::now() + PROMPT;
    while !dial.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the dial is not back within {PROMPT:?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
    dial.join().expect("join")
}

/// The first connection to `listener`; fails after [`PROMPT`].
fn accept_promptly(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + PROMPT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("blocking");
                return stream;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no dial within {PROMPT:?}");
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

fn proto(subnet: &str, enc: Encryption) -> Protocol {
    Protocol::new(subnet, enc)
}

fn bin(b: &[u8]) -> Value {
    Value::from(b)
}

/// Keeps the topology to the links a test makes: no peer-exchange dials.
fn quiet(cfg: &mut Config) {
    cfg.max_outgoing = 0;
}

fn node(adapter: &dyn Adapter, enc: Encryption) -> Box<dyn Node> {
    adapter
        .bind(proto("test", enc), Box::new(quiet))
        .expect("bind")
}

/// The first event `pick` takes from `events`; fails after [`LIMIT`] or if
/// the stream ends.
fn wait_event<T>(events: &mut dyn EventQueue, mut pick: impl FnMut(Event) -> Option<T>) -> T {
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.next(left) {
            Ok(Some(event)) => {
                if let Some(found) = pick(event) {
                    return found;
                }
            }
            Ok(None) => panic!("the event stream ended"),
            Err(_) => panic!("no such event within {LIMIT:?}"),
        }
    }
}

/// A peer that completes the handshake with the node at `port` (running a
/// core of its own), then never reads again.
fn silent_peer(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(LIMIT)).expect("read timeout");
    let now = Instant::now();
    let unix = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    let cfg = Config::new(
        proto("test", Encryption::Plaintext),
        PeerAddr::new("127.0.0.1", 1),
    );
    let mut mesh = Mesh::new(cfg, 7, now, unix);
    let conn = mesh.connect(PeerAddr::new("127.0.0.1", port), now);
    mesh.handle_dialed(conn, true, now);
    let mut buf = vec![0; 64 * 1024];
    while mesh.peer_count() == 0 {
        while let Some(out) = mesh.poll_output() {
            if let Output::Transmit { bytes, .. } = out {
                stream.write_all(&bytes).expect("write");
            }
        }
        let n = stream.read(&mut buf).expect("read");
        assert_ne!(n, 0, "closed during the handshake");
        mesh.handle_bytes(conn, &buf[..n], Instant::now());
    }
    stream
}

/// Polls `ok` until it holds; fails after [`LIMIT`].
fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `n`'s routing table is exactly `peers`.
fn wait_routes(n: &dyn Node, peers: &[&PeerId]) {
    let mut want: Vec<&PeerId> = peers.to_vec();
    want.sort();
    wait_until(&format!("the routes {want:?}"), || {
        let mut have = n.routes();
        have.sort();
        have.iter().eq(want.iter().copied())
    });
}

/// `from` dials `to`; returns once each is in the other's routing table.
fn link(from: &dyn Node, to: &dyn Node) {
    from.connect(to.port()).expect("connect");
    let (f, t) = (from.id(), to.id());
    wait_until("the handshake", || {
        from.routes().contains(&t) && to.routes().contains(&f)
    });
}

/// Two linked nodes.
fn pair(adapter: &dyn Adapter, enc: Encryption) -> [Box<dyn Node>; 2] {
    let (a, b) = (node(adapter, enc), node(adapter, enc));
    link(&*a, &*b);
    [a, b]
}

/// a - b - c, and nothing else.
fn line(adapter: &dyn Adapter, enc: Encryption) -> [Box<dyn Node>; 3] {
    let [a, b] = pair(adapter, enc);
    let c = node(adapter, enc);
    link(&*c, &*b);
    wait_routes(&*a, &[&b.id()]);
    wait_routes(&*b, &[&a.id(), &c.id()]);
    wait_routes(&*c, &[&b.id()]);
    [a, b, c]
}
