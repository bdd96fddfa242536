//! Bytes that are not this protocol at all: random garbage (13), and TLS
//! spoken to a plaintext node or plaintext to a TLS node (14).

use std::time::Duration;

use mesh_proto::mesh::RejectReason;
use mesh_proto::wire::{Encryption, WireError};

use super::attacker::Attacker;
use super::frames::{client_hello, header_then};
use super::memory::Memory;
use super::scene::Scene;
use super::util::garbage;
use super::{HANDSHAKE_TIMEOUT, PROMPT, SLACK, STALL_TIMEOUT};
use crate::nodes::Adapter;

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
