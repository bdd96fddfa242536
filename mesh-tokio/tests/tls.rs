//! py2p's "SSL" encryption between a plaintext node and a TLS node on
//! loopback: whichever dials, the connection is closed promptly on both
//! sides, no peer comes up and nothing hangs until a handshake timeout.
//!
//! TLS nodes talking to each other, and a raw plaintext or silent peer cut
//! off promptly, run on every adapter in the conformance suite
//! (`mesh_tests::conformance`).
#![cfg(feature = "tls")]

mod common;

use std::time::{Duration, Instant};

use common::link;
use mesh_tokio::{Builder, Config, Encryption, Event, Events, MeshSocket, Protocol, RejectReason};

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
