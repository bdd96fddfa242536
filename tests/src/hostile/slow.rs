//! Peers that take their time: slow and truncated frames (2 and 9), and
//! broadcasts stamped too old or too far ahead (11).

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mesh_proto::mesh::{PeerId, RejectReason};
use mesh_proto::wire::Limits;

use super::attacker::Attacker;
use super::frames::header_then;
use super::memory::Memory;
use super::scene::Scene;
use super::util::{bin, nothing_before, tag, unix_now, wait_until};
use super::{HANDSHAKE_TIMEOUT, LIMIT, SLACK, STALL_TIMEOUT};
use crate::nodes::Adapter;

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
