//! py2p's "SSL" encryption between a plaintext node and a TLS node on
//! loopback: whichever dials, the connection is closed promptly on both
//! sides, no peer comes up and nothing hangs until a handshake timeout.
//!
//! TLS nodes talking to each other, and a raw plaintext or silent peer cut
//! off promptly, run on every adapter in the conformance suite
//! (`mesh_tests::conformance`).
#![cfg(feature = "tls")]

mod common;

use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use common::{link, wait_event};
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
