//! Attacks on the framing: absurd length headers (1) and bad checksums (3).

use mesh_proto::mesh::{Config, PeerId, RejectReason};
use mesh_proto::wire::{Limits, WireError};

use super::PROMPT;
use super::attacker::{Attacker, is_renegotiation};
use super::frames::header_then;
use super::memory::Memory;
use super::scene::Scene;
use super::util::{bin, nothing_before, tag, unix_now};
use crate::nodes::Adapter;

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
