//! py2p's "SSL" encryption over real sockets on loopback: TLS nodes talk to
//! each other, and a TLS handshake that cannot work (a plaintext peer, a
//! silent one) ends in a prompt close on both sides, never a hang.
#![cfg(feature = "tls")]

mod common;

use std::time::{Duration, Instant};

use common::{bin, link, wait_routes, within};
use mesh_tokio::{Builder, Config, Encryption, Event, Events, MeshSocket, Protocol, RejectReason};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Failures must be noticed well within this (and so not by a timeout).
const PROMPT: Duration = Duration::from_secs(3);

/// A node that never dials on its own, speaking `encryption`.
fn quiet(encryption: Encryption, handshake_timeout: Duration) -> Builder {
    MeshSocket::builder(Protocol::new("tls-test", encryption)).config(move |c: &mut Config| {
        c.max_outgoing = 0;
        c.handshake_timeout = handshake_timeout;
    })
}

async fn tls_node() -> MeshSocket {
    quiet(Encryption::Ssl, Duration::from_secs(10))
        .bind("127.0.0.1", 0)
        .await
        .expect("bind")
}

/// Fails the test unless `f` finishes within [`PROMPT`].
async fn promptly<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(PROMPT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {PROMPT:?}"))
}

/// Reads until the peer closes (end of stream or a reset): true if it does
/// within [`PROMPT`].
async fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(PROMPT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Watches `events` for `window`: panics on a peer coming up, or on a
/// connection that outlived the core's handshake timeout (one left hanging).
async fn no_peer_and_nothing_hangs(events: &mut Events, window: Duration) {
    let _ = tokio::time::timeout(window, async {
        while let Some(event) = events.recv().await {
            match event {
                Event::PeerUp { .. } | Event::Connected => panic!("a peer came up: {event:?}"),
                Event::Rejected {
                    reason: RejectReason::HandshakeTimeout,
                    ..
                } => panic!("a connection was left hanging until the handshake timeout"),
                _ => {}
            }
        }
    })
    .await;
}

// On the multi-threaded runtime too: nothing may assume one thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tls_nodes_broadcast_and_reply() {
    let (a, b) = (tls_node().await, tls_node().await);
    link(&a, &b, &[b.id()], &[a.id()]).await;

    a.send(vec![bin(b"ping")]).await.expect("send");
    let ping = within(b.next()).await.expect("b gets the ping");
    assert_eq!(ping.packets[1], bin(b"ping"));
    assert_eq!(&ping.sender, a.id());

    b.reply(&ping, vec![bin(b"pong")]).await.expect("reply");
    let pong = within(a.next()).await.expect("a gets the reply");
    assert_eq!(pong.packets[1], bin(b"pong"));
    assert_eq!(&pong.sender, b.id());

    b.send(vec![bin(b"the other way")]).await.expect("send");
    let back = within(a.next()).await.expect("a gets b's broadcast");
    assert_eq!(back.packets[1], bin(b"the other way"));

    within(a.close()).await.expect("close a");
    wait_routes(&b, &[]).await;
    within(b.close()).await.expect("close b");
}

#[tokio::test]
async fn a_line_of_three_over_tls_propagates() {
    let (a, b, c) = (tls_node().await, tls_node().await, tls_node().await);
    link(&a, &b, &[b.id()], &[a.id()]).await;
    link(&c, &b, &[b.id()], &[a.id(), c.id()]).await;
    wait_routes(&a, &[b.id()]).await;

    // Bigger than a TLS record (16 KiB): frames span records.
    let big = vec![7u8; 100_000];
    a.send(vec![bin(b"hello"), bin(&big)]).await.expect("send");
    let at_c = within(c.next()).await.expect("c gets it");
    assert_eq!(at_c.packets[1], bin(b"hello"));
    assert_eq!(at_c.packets[2], bin(&big));
    assert_eq!(&at_c.sender, a.id());
    let at_b = within(b.next()).await.expect("b gets it");
    assert_eq!(at_b.id, at_c.id);
    assert!(b.counters().await.relayed >= 1, "b relayed it");

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(a.recv().await.is_none(), "never back to its origin");
    assert!(c.recv().await.is_none(), "delivered once");
    for s in [&a, &b, &c] {
        within(s.close()).await.expect("close");
    }
}

#[tokio::test]
async fn a_plaintext_node_dialing_a_tls_node_is_closed_on_both_sides() {
    // A connection left open would be rejected by the plaintext node's core
    // after 2 s (`HandshakeTimeout`): none may be.
    let plain = quiet(Encryption::Plaintext, Duration::from_secs(2))
        .bind("127.0.0.1", 0)
        .await
        .expect("bind");
    let tls = tls_node().await;
    let mut events = plain.events();

    // TCP connects; the TLS node then refuses the plaintext bytes and closes.
    promptly(
        "connect",
        plain.connect("127.0.0.1", tls.local_addr().port()),
    )
    .await
    .expect("the TCP connection opens");
    no_peer_and_nothing_hangs(&mut events, Duration::from_millis(3500)).await;
    assert!(plain.routes().await.is_empty());
    assert!(tls.routes().await.is_empty());

    // The TLS node is none the worse: a TLS peer still gets in.
    let other = tls_node().await;
    link(&other, &tls, &[tls.id()], &[other.id()]).await;

    for s in [&plain, &tls, &other] {
        promptly("close", s.close()).await.expect("close");
    }
}

#[tokio::test]
async fn a_tls_node_dialing_a_plaintext_node_is_closed_on_both_sides() {
    let plain = quiet(Encryption::Plaintext, Duration::from_secs(2))
        .bind("127.0.0.1", 0)
        .await
        .expect("bind");
    let tls = tls_node().await;
    let mut plain_events = plain.events();
    let mut tls_events = tls.events();

    // The plaintext node's handshake frame is not TLS: the dial fails at
    // once (not after the TLS node's 10 s handshake timeout).
    let started = Instant::now();
    let dialed = promptly(
        "connect",
        tls.connect("127.0.0.1", plain.local_addr().port()),
    )
    .await;
    assert!(dialed.is_err(), "the TLS handshake cannot succeed");
    assert!(started.elapsed() < PROMPT);
    let failed = promptly("DialFailed", async {
        loop {
            match tls_events.recv().await {
                Some(Event::DialFailed { .. }) => return true,
                Some(Event::PeerUp { .. }) | None => return false,
                Some(_) => {}
            }
        }
    })
    .await;
    assert!(failed, "the core hears of the failed dial");

    no_peer_and_nothing_hangs(&mut plain_events, Duration::from_millis(3500)).await;
    assert!(plain.routes().await.is_empty());
    assert!(tls.routes().await.is_empty());
    for s in [&plain, &tls] {
        promptly("close", s.close()).await.expect("close");
    }
}

#[tokio::test]
async fn a_tls_node_closes_a_plaintext_socket_at_once() {
    // Its handshake timeout is long: a prompt close is the TLS failure's.
    let tls = quiet(Encryption::Ssl, Duration::from_secs(30))
        .bind("127.0.0.1", 0)
        .await
        .expect("bind");
    let mut raw = TcpStream::connect(tls.local_addr()).await.expect("connect");
    // A py2p frame: a 4-byte big-endian length, then msgpack.
    raw.write_all(b"\x00\x00\x00\x05\x94\xa7abc")
        .await
        .expect("write");
    assert!(closed_by_peer(&mut raw).await, "the TLS node closes");
    assert!(tls.routes().await.is_empty());
    promptly("close", tls.close()).await.expect("close");
}

#[tokio::test]
async fn a_tls_dial_to_a_plaintext_peer_closes_its_socket_at_once() {
    let tls = quiet(Encryption::Ssl, Duration::from_secs(30))
        .bind("127.0.0.1", 0)
        .await
        .expect("bind");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let dial = {
        let tls = tls.clone();
        tokio::spawn(async move { tls.connect("127.0.0.1", port).await })
    };
    let (mut raw, _) = promptly("accept", listener.accept()).await.expect("accept");
    raw.write_all(b"\x00\x00\x00\x05\x94\xa7abc")
        .await
        .expect("write");
    assert!(closed_by_peer(&mut raw).await, "the TLS node closes");
    let dialed = promptly("connect", dial).await.expect("join");
    assert!(dialed.is_err());
    promptly("close", tls.close()).await.expect("close");
}

#[tokio::test]
async fn a_silent_peer_cannot_hang_a_tls_handshake() {
    // The TLS handshake is bounded by the core's handshake timeout.
    let tls = quiet(Encryption::Ssl, Duration::from_millis(500))
        .bind("127.0.0.1", 0)
        .await
        .expect("bind");

    // Accepted, then nothing: the TLS node gives up and closes.
    let mut raw = TcpStream::connect(tls.local_addr()).await.expect("connect");
    assert!(closed_by_peer(&mut raw).await, "the TLS node closes");

    // Dialed, then nothing: the dial fails.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let dial = {
        let tls = tls.clone();
        tokio::spawn(async move { tls.connect("127.0.0.1", port).await })
    };
    let (mut silent, _) = promptly("accept", listener.accept()).await.expect("accept");
    let dialed = promptly("connect", dial).await.expect("join");
    assert_eq!(
        dialed.expect_err("a silent peer").kind(),
        std::io::ErrorKind::TimedOut
    );
    assert!(closed_by_peer(&mut silent).await, "the TLS node closes");
    promptly("close", tls.close()).await.expect("close");
}
