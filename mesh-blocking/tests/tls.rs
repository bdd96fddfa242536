//! py2p's "SSL" encryption over real sockets on loopback: TLS nodes talk to
//! each other, and a TLS handshake that cannot work (a plaintext peer, a
//! silent one) ends in a prompt close on both sides, never a hang.
#![cfg(feature = "tls")]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use common::{LIMIT, bin, bounded, link, next, wait_event, wait_routes};
use mesh_blocking::{
    Builder, Config, Encryption, Event, Events, MeshSocket, Protocol, RejectReason,
};

/// Failures must be noticed well within this (and so not by a timeout).
const PROMPT: Duration = Duration::from_secs(3);

/// A node that never dials on its own, speaking `encryption`.
fn quiet(encryption: Encryption, handshake_timeout: Duration) -> Builder {
    MeshSocket::builder(Protocol::new("tls-test", encryption)).config(move |c: &mut Config| {
        c.max_outgoing = 0;
        c.handshake_timeout = handshake_timeout;
    })
}

fn tls_node() -> MeshSocket {
    quiet(Encryption::Ssl, Duration::from_secs(10))
        .bind("127.0.0.1", 0)
        .expect("bind")
}

fn plain_node(handshake_timeout: Duration) -> MeshSocket {
    quiet(Encryption::Plaintext, handshake_timeout)
        .bind("127.0.0.1", 0)
        .expect("bind")
}

/// Runs `f` on a thread; fails the test unless it returns within [`PROMPT`].
fn promptly<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(PROMPT)
        .unwrap_or_else(|_| panic!("{what}: not within {PROMPT:?}"))
}

/// Reads until the peer closes (end of stream or a reset): true if it does
/// within `limit`.
fn closed_by_peer(stream: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
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

/// Watches `events` for `window`: panics on a peer coming up, or on a
/// connection that outlived the core's handshake timeout (one left hanging).
fn no_peer_and_nothing_hangs(events: &Events, window: Duration) {
    let deadline = Instant::now() + window;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left) {
            Ok(event @ (Event::PeerUp { .. } | Event::Connected)) => {
                panic!("a peer came up: {event:?}")
            }
            Ok(Event::Rejected {
                reason: RejectReason::HandshakeTimeout,
                ..
            }) => panic!("a connection was left hanging until the handshake timeout"),
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => return,
            Err(RecvTimeoutError::Disconnected) => panic!("the events ended"),
        }
    }
}

#[test]
fn two_tls_nodes_broadcast_and_reply() {
    let (a, b) = (tls_node(), tls_node());
    link(&a, &b, &[b.id()], &[a.id()]);

    a.send(vec![bin(b"ping")]).expect("send");
    let ping = next(&b);
    assert_eq!(ping.packets[1], bin(b"ping"));
    assert_eq!(&ping.sender, a.id());

    b.reply(&ping, vec![bin(b"pong")]).expect("reply");
    let pong = next(&a);
    assert_eq!(pong.packets[1], bin(b"pong"));
    assert_eq!(&pong.sender, b.id());

    b.send(vec![bin(b"the other way")]).expect("send");
    let back = next(&a);
    assert_eq!(back.packets[1], bin(b"the other way"));
    assert_eq!(&back.sender, b.id());

    let closing = a.clone();
    bounded("close a", move || closing.close()).expect("close a");
    wait_routes(&b, &[]);
    bounded("close b", move || b.close()).expect("close b");
}

#[test]
fn a_line_of_three_over_tls_propagates_a_big_packet() {
    let (a, b, c) = (tls_node(), tls_node(), tls_node());
    link(&a, &b, &[b.id()], &[a.id()]);
    link(&c, &b, &[b.id()], &[a.id(), c.id()]);
    wait_routes(&a, &[b.id()]);

    // Bigger than a TLS record (16 KiB): frames span records.
    let big = vec![7u8; 100_000];
    a.send(vec![bin(b"hello"), bin(&big)]).expect("send");
    let at_c = next(&c);
    assert_eq!(at_c.packets[1], bin(b"hello"));
    assert_eq!(at_c.packets[2], bin(&big));
    assert_eq!(&at_c.sender, a.id());
    let at_b = next(&b);
    assert_eq!(at_b.id, at_c.id);
    assert!(b.counters().relayed >= 1, "b relayed it");

    std::thread::sleep(Duration::from_millis(200));
    assert!(a.recv().is_none(), "never back to its origin");
    assert!(c.recv().is_none(), "delivered once");
    for s in [a, b, c] {
        bounded("close", move || s.close()).expect("close");
    }
}

#[test]
fn a_plaintext_node_dialing_a_tls_node_is_closed_on_both_sides() {
    // A connection left open would be rejected by the plaintext node's core
    // after 2 s (`HandshakeTimeout`): none may be.
    let plain = plain_node(Duration::from_secs(2));
    let tls = tls_node();
    let events = plain.events();

    // TCP connects; the TLS node then refuses the plaintext bytes and closes.
    let (dialer, port) = (plain.clone(), tls.local_addr().port());
    promptly("connect", move || dialer.connect("127.0.0.1", port))
        .expect("the TCP connection opens");
    no_peer_and_nothing_hangs(&events, Duration::from_millis(3500));
    assert!(plain.routes().is_empty());
    assert!(tls.routes().is_empty());

    // The TLS node is none the worse: a TLS peer still gets in.
    let other = tls_node();
    link(&other, &tls, &[tls.id()], &[other.id()]);

    for s in [plain, tls, other] {
        promptly("close", move || s.close()).expect("close");
    }
}

#[test]
fn a_tls_node_dialing_a_plaintext_node_is_closed_on_both_sides() {
    let plain = plain_node(Duration::from_secs(2));
    let tls = tls_node();
    let plain_events = plain.events();
    let tls_events = tls.events();

    // The plaintext node's handshake frame is not TLS: the dial fails at
    // once (not after the TLS node's 10 s handshake timeout).
    let (dialer, port) = (tls.clone(), plain.local_addr().port());
    let dialed = promptly("connect", move || dialer.connect("127.0.0.1", port));
    assert!(dialed.is_err(), "the TLS handshake cannot succeed");
    let failed = wait_event(&tls_events, |e| match e {
        Event::DialFailed { .. } => Some(true),
        Event::PeerUp { .. } => Some(false),
        _ => None,
    });
    assert!(failed, "the core hears of the failed dial");

    no_peer_and_nothing_hangs(&plain_events, Duration::from_millis(3500));
    assert!(plain.routes().is_empty());
    assert!(tls.routes().is_empty());
    for s in [plain, tls] {
        promptly("close", move || s.close()).expect("close");
    }
}

#[test]
fn a_tls_node_closes_a_plaintext_socket_at_once() {
    // Its handshake timeout is long: a prompt close is the TLS failure's.
    let tls = quiet(Encryption::Ssl, Duration::from_secs(30))
        .bind("127.0.0.1", 0)
        .expect("bind");
    let mut raw = TcpStream::connect(tls.local_addr()).expect("connect");
    // A py2p frame: a 4-byte big-endian length, then msgpack.
    raw.write_all(b"\x00\x00\x00\x05\x94\xa7abc")
        .expect("write");
    assert!(closed_by_peer(&mut raw, PROMPT), "the TLS node closes");
    assert!(tls.routes().is_empty());
    promptly("close", move || tls.close()).expect("close");
}

#[test]
fn a_silent_peer_is_cut_off_at_the_handshake_timeout() {
    // The TLS handshake is bounded by the core's handshake timeout.
    let tls = quiet(Encryption::Ssl, Duration::from_millis(500))
        .bind("127.0.0.1", 0)
        .expect("bind");

    // Accepted, then nothing: the TLS node gives up and closes.
    let started = Instant::now();
    let mut raw = TcpStream::connect(tls.local_addr()).expect("connect");
    assert!(closed_by_peer(&mut raw, PROMPT), "the TLS node closes");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "not before the handshake timeout"
    );

    // Dialed, then nothing: the dial fails, timed out.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let dialer = tls.clone();
    let dial = std::thread::spawn(move || dialer.connect("127.0.0.1", port));
    listener.set_nonblocking(true).expect("nonblocking");
    let (mut silent, _) = common::within("the dial", || listener.accept().ok());
    silent.set_nonblocking(false).expect("blocking");
    let dialed = promptly("connect", move || dial.join().expect("join"));
    assert_eq!(
        dialed.expect_err("a silent peer").kind(),
        ErrorKind::TimedOut
    );
    assert!(closed_by_peer(&mut silent, PROMPT), "the TLS node closes");
    assert!(tls.routes().is_empty());
    promptly("close", move || tls.close()).expect("close");
}

#[test]
fn graceful_close_over_tls_flushes_a_queued_broadcast() {
    // Big enough to still be queued in the writer when close is called, and
    // uncompressed so it stays big.
    let node = || {
        MeshSocket::builder(Protocol::new("tls-test", Encryption::Ssl))
            .config(|c: &mut Config| {
                c.max_outgoing = 0;
                c.compression.clear();
            })
            .bind("127.0.0.1", 0)
            .expect("bind")
    };
    let (a, b) = (node(), node());
    link(&a, &b, &[b.id()], &[a.id()]);

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
    let closing = a.clone();
    bounded("close", move || closing.close()).expect("close");

    let got = b.recv_timeout(LIMIT).expect("the broadcast, flushed");
    assert_eq!(got.packets[1], bin(&big));
    wait_routes(&b, &[]);
}
