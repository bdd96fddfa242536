//! Lazy push (PlumTree) between our own nodes, one transition at a time:
//! the test plays each peer by hand (ours, with the marker in its
//! handshake, or py2p's, without) and reads back what the mesh transmits.

mod common;

use std::time::Instant;

use common::*;
use mesh_proto::mesh::lazy::{GRAFT, IHAVE, PRUNE};
use mesh_proto::mesh::{Config, ConnId, Mesh};
use mesh_proto::wire::{MainFlag, MsgId, Value};

/// A mesh with two of our peers (a, b) and one py2p peer (p).
fn setup(cfg: Config, t0: Instant) -> (Mesh, [Peer; 3], [ConnId; 3]) {
    let mut m = mesh(cfg, t0);
    let peers = [Peer::ours(1), Peer::ours(2), Peer::py2p(3)];
    let conns = [
        join(&mut m, &peers[0], t0),
        join(&mut m, &peers[1], t0),
        join(&mut m, &peers[2], t0),
    ];
    (m, peers, conns)
}

#[test]
fn the_marker_marks_our_peers_only_and_only_when_on() {
    let t0 = base();
    let (m, _, [a, b, p]) = setup(config(), t0);
    assert_eq!(m.lazy_peers(), 2);
    assert!(
        !m.is_lazy(a) && !m.is_lazy(b) && !m.is_lazy(p),
        "links start eager"
    );
    let mut off = config();
    off.lazy_push = false;
    let (m, _, _) = setup(off, t0);
    assert_eq!(m.lazy_peers(), 0, "lazy push off: nobody speaks it");
}

#[test]
fn a_duplicate_from_our_peer_prunes_it_but_never_a_py2p_peer() {
    let t0 = base();
    let (mut m, [pa, pb, pp], [a, b, p]) = setup(config(), t0);
    let (frame, id) = pa.broadcast("x");
    m.handle_bytes(a, &frame, t0);
    let outs = drain(&mut m);
    assert_eq!(full_to(&outs, b), vec![id], "eager: the frame in full");
    assert_eq!(full_to(&outs, p), vec![id]);
    // The same frame again, from b (ours) and from p (py2p).
    m.handle_bytes(b, &frame, t0);
    m.handle_bytes(p, &frame, t0);
    let outs = drain(&mut m);
    assert_eq!(ext_to(&outs, b), vec![(PRUNE, vec![])]);
    assert!(ext_to(&outs, p).is_empty(), "py2p never gets our frames");
    assert!(m.is_lazy(b) && !m.is_lazy(p));
    assert_eq!(m.counters().lazy.prunes_sent, 1);
    let _ = (pb, pp);
}

#[test]
fn a_lazy_link_gets_ids_batched_per_tick_and_py2p_still_gets_frames() {
    let t0 = base();
    let (mut m, [pa, pb, _], [a, b, p]) = setup(config(), t0);
    m.handle_bytes(b, &pb.ext(PRUNE, None), t0);
    assert!(m.is_lazy(b));
    let (f1, id1) = pa.broadcast("one");
    let (f2, id2) = pa.broadcast("two");
    m.handle_bytes(a, &f1, t0);
    m.handle_bytes(a, &f2, ms(t0, 1));
    let outs = drain(&mut m);
    assert!(full_to(&outs, b).is_empty() && ext_to(&outs, b).is_empty());
    assert_eq!(full_to(&outs, p), vec![id1, id2]);
    let tick = m.poll_timeout().expect("announcements are due");
    assert!(tick <= ms(t0, 20));
    m.handle_timeout(tick);
    let outs = drain(&mut m);
    assert_eq!(ext_to(&outs, b), vec![(IHAVE, vec![id1, id2])]);
    assert_eq!(m.counters().lazy.announced, 2);
    // Our own broadcasts too.
    let own = m
        .send(vec![Value::from("mine")], MainFlag::Broadcast, tick)
        .unwrap();
    let outs = drain(&mut m);
    assert!(full_to(&outs, b).is_empty());
    assert_eq!(full_to(&outs, a), vec![own]);
    m.handle_timeout(ms(t0, 100));
    assert_eq!(ext_to(&drain(&mut m), b), vec![(IHAVE, vec![own])]);
}

#[test]
fn only_announced_bodies_are_kept_for_grafts() {
    let t0 = base();
    let (mut m, [pa, pb, _], [a, b, _]) = setup(config(), t0);
    let (eager, _) = pa.broadcast("all eager");
    m.handle_bytes(a, &eager, t0);
    assert_eq!(m.lazy_cached().0, 0, "nobody was told: nobody grafts it");
    m.handle_bytes(b, &pb.ext(PRUNE, None), t0);
    let (announced, _) = pa.broadcast("announced to b");
    m.handle_bytes(a, &announced, t0);
    assert_eq!(m.lazy_cached().0, 1);
}

#[test]
fn a_graft_makes_the_link_eager_and_is_answered_from_the_cache() {
    let t0 = base();
    let (mut m, [pa, pb, _], [a, b, _]) = setup(config(), t0);
    m.handle_bytes(b, &pb.ext(PRUNE, None), t0);
    let (frame, id) = pa.broadcast("cached");
    m.handle_bytes(a, &frame, t0);
    drain(&mut m);
    let unknown = MsgId([9; 32]);
    m.handle_bytes(b, &pb.ext(GRAFT, Some(&[id, unknown])), ms(t0, 50));
    let outs = drain(&mut m);
    let sent = sent_to(&outs, b);
    let full: Vec<_> = sent.iter().filter(|d| d.frame.msg_type == 0).collect();
    assert_eq!(full.len(), 1);
    assert_eq!(full[0].id, id, "the same message, byte for byte");
    assert_eq!(full[0].body, decode(&frame).body);
    assert!(!m.is_lazy(b), "a graft makes the link eager");
    let l = &m.counters().lazy;
    assert_eq!((l.served_from_cache, l.graft_misses), (1, 1));
    // Past the cache's age nothing is served.
    let late = ms(t0, 31_000);
    m.handle_bytes(b, &pb.ext(GRAFT, Some(&[id])), late);
    assert!(full_to(&drain(&mut m), b).is_empty());
    assert_eq!(m.counters().lazy.graft_misses, 2);
}

#[test]
fn an_announced_id_not_received_grafts_the_announcer_then_the_next() {
    let t0 = base();
    let (mut m, [pa, pb, _], [a, b, _]) = setup(config(), t0);
    let (_, id) = pa.broadcast("missing");
    m.handle_bytes(a, &pa.ext(IHAVE, Some(&[id])), t0);
    m.handle_bytes(b, &pb.ext(IHAVE, Some(&[id])), ms(t0, 5));
    assert_eq!(m.lazy_missing(), 1);
    let due = ms(t0, 400); // the graft timeout
    assert!(m.poll_timeout().unwrap() <= due);
    m.handle_timeout(ms(t0, 399));
    assert!(ext_to(&drain(&mut m), a).is_empty(), "not yet");
    m.handle_timeout(due);
    let outs = drain(&mut m);
    assert_eq!(ext_to(&outs, a), vec![(GRAFT, vec![id])]);
    assert!(ext_to(&outs, b).is_empty());
    // a never answers: after the retry timeout, b is asked.
    let retry = ms(t0, 600);
    assert!(m.poll_timeout().unwrap() <= retry);
    m.handle_timeout(ms(t0, 599));
    assert!(ext_to(&drain(&mut m), b).is_empty(), "not yet");
    m.handle_timeout(retry);
    let outs = drain(&mut m);
    assert_eq!(ext_to(&outs, b), vec![(GRAFT, vec![id])]);
    assert_eq!(m.lazy_missing(), 0, "no announcer left: given up");
    assert_eq!(m.counters().lazy.grafts_sent, 2);
}

#[test]
fn a_frame_arriving_in_time_cancels_the_graft_and_is_not_announced_back() {
    let t0 = base();
    let (mut m, [pa, pb, _], [a, b, p]) = setup(config(), t0);
    m.handle_bytes(b, &pb.ext(PRUNE, None), t0);
    let (frame, id) = pa.broadcast("in time");
    m.handle_bytes(b, &pb.ext(IHAVE, Some(&[id])), t0);
    m.handle_bytes(a, &frame, ms(t0, 5));
    let outs = drain(&mut m);
    assert_eq!(m.lazy_missing(), 0);
    assert_eq!(full_to(&outs, p), vec![id]);
    m.handle_timeout(ms(t0, 1000));
    let outs = drain(&mut m);
    assert!(ext_to(&outs, a).is_empty() && ext_to(&outs, b).is_empty());
    assert_eq!(m.counters().lazy.grafts_sent, 0);
}

#[test]
fn extension_frames_from_a_py2p_link_are_ignored() {
    let t0 = base();
    let (mut m, [_, _, pp], [_, _, p]) = setup(config(), t0);
    m.handle_bytes(p, &pp.ext(IHAVE, Some(&[MsgId([1; 32])])), t0);
    m.handle_bytes(p, &pp.ext(PRUNE, None), t0);
    m.handle_bytes(p, &pp.ext(GRAFT, Some(&[])), t0);
    assert_eq!(m.counters().lazy.ignored, 3);
    assert_eq!(m.lazy_missing(), 0);
    assert!(!m.is_lazy(p));
    assert!(m.is_connected_to(&mesh_proto::mesh::PeerId(pp.id.clone())));
    assert_eq!(m.queued_messages(), 0, "never a user message");
}

#[test]
fn hostile_announcements_stay_within_their_bounds() {
    let t0 = base();
    let mut cfg = config();
    cfg.lazy_max_missing = 10;
    cfg.lazy_max_ids_per_frame = 8;
    cfg.lazy_cache_bytes = 300;
    let (mut m, [pa, pb, _], [a, b, _]) = setup(cfg, t0);
    let ids: Vec<MsgId> = (0..1000u32)
        .map(|i| {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_be_bytes());
            MsgId(id)
        })
        .collect();
    for chunk in ids.chunks(100) {
        m.handle_bytes(a, &pa.ext(IHAVE, Some(chunk)), t0);
    }
    assert_eq!(m.counters().lazy.announcements_received, 10 * 8);
    assert_eq!(m.lazy_missing(), 10);
    assert!(m.counters().lazy.missing_dropped > 0);
    // The grafts go out (batched, at most 8 ids a frame) and are given up.
    m.handle_timeout(ms(t0, 400));
    let grafts = ext_to(&drain(&mut m), a);
    assert!(grafts.iter().all(|(s, ids)| *s == GRAFT && ids.len() <= 8));
    assert_eq!(grafts.iter().map(|(_, i)| i.len()).sum::<usize>(), 10);
    assert_eq!(m.lazy_missing(), 0);
    // The cache keeps at most its bytes (what is announced to b is kept).
    m.handle_bytes(b, &pb.ext(PRUNE, None), ms(t0, 450));
    for k in 0..20 {
        let (f, _) = pa.broadcast(&format!("frame {k:03} {}", "x".repeat(40)));
        m.handle_bytes(a, &f, ms(t0, 500 + k));
        assert!(m.lazy_cached().1 <= 300);
    }
    assert!(m.lazy_cached().0 > 0);
}

#[test]
fn lazy_push_off_floods_as_py2p_does() {
    let t0 = base();
    let mut cfg = config();
    cfg.lazy_push = false;
    let (mut m, [pa, pb, _], [a, b, _]) = setup(cfg, t0);
    for k in 0..3 {
        let (frame, id) = pa.broadcast(&format!("flood {k}"));
        m.handle_bytes(a, &frame, ms(t0, k));
        m.handle_bytes(b, &frame, ms(t0, k));
        let outs = drain(&mut m);
        assert_eq!(full_to(&outs, b), vec![id]);
        assert!(ext_to(&outs, b).is_empty());
    }
    m.handle_bytes(b, &pb.ext(PRUNE, None), t0);
    assert!(!m.is_lazy(b));
    assert_eq!(m.counters().lazy.ignored, 1);
}

#[test]
fn an_announcement_arriving_well_before_the_tree_swaps_the_links() {
    let t0 = base();
    let (mut m, [pa, pb, _], [a, b, _]) = setup(config(), t0);
    m.handle_bytes(b, &pb.ext(PRUNE, None), t0);
    let (frame, id) = pa.broadcast("slow tree");
    // b announces it 50 ms before a (the tree) delivers it.
    m.handle_bytes(b, &pb.ext(IHAVE, Some(&[id])), t0);
    m.handle_bytes(a, &frame, ms(t0, 50));
    let outs = drain(&mut m);
    assert_eq!(ext_to(&outs, b), vec![(GRAFT, vec![])]);
    assert_eq!(ext_to(&outs, a), vec![(PRUNE, vec![])]);
    assert!(full_to(&outs, b).is_empty(), "b has it: not sent back");
    assert!(m.is_lazy(a) && !m.is_lazy(b));
    assert_eq!(m.counters().lazy.optimized, 1);
}

#[test]
fn a_closed_link_leaves_no_lazy_state() {
    let t0 = base();
    let (mut m, [pa, pb, _], [a, b, _]) = setup(config(), t0);
    m.handle_bytes(b, &pb.ext(PRUNE, None), t0);
    let (_, id) = pa.broadcast("gone");
    m.handle_bytes(a, &pa.ext(IHAVE, Some(&[id])), t0);
    m.handle_closed(a, t0);
    m.handle_closed(b, t0);
    drain(&mut m);
    assert_eq!((m.lazy_peers(), m.lazy_links()), (0, 0));
    // The graft finds no announcer left: given up, nothing sent.
    m.handle_timeout(ms(t0, 400));
    assert_eq!(m.lazy_missing(), 0);
    assert_eq!(m.counters().lazy.grafts_sent, 0);
}

#[cfg(feature = "zlib")]
#[test]
fn small_bodies_go_plain_to_our_peers_and_compressed_to_py2p() {
    use mesh_proto::wire::Compression;
    // How three bodies of 5, 2,000 and 5,000 bytes reach our peer and a py2p one.
    let sends = |cfg: Config| {
        let t0 = base();
        let (mut m, _, [a, _, p]) = setup(cfg, t0);
        for len in [5, 2000, 5000] {
            m.send(vec![Value::from("x".repeat(len))], MainFlag::Broadcast, t0)
                .unwrap();
        }
        let outs = drain(&mut m);
        let how = |conn| -> Vec<Option<Compression>> {
            sent_to(&outs, conn)
                .into_iter()
                .filter(|d| d.frame.msg_type == u64::from(MainFlag::Broadcast.value()))
                .map(|d| d.compression)
                .collect()
        };
        (how(a), how(p))
    };
    let zlib = Some(Compression::Zlib);
    let (ours, py2p) = sends(config());
    assert_eq!(ours, [None, None, zlib], "ours: under 4 KiB plain");
    assert_eq!(
        py2p, [zlib; 3],
        "py2p: what it negotiated, whatever the size"
    );
    let mut all = config();
    all.plain_below = 0;
    let (ours, py2p) = sends(all);
    assert_eq!(ours, [zlib; 3], "plain_below 0: ours compressed too");
    assert_eq!(py2p, [zlib; 3]);
}

#[cfg(feature = "zlib")]
#[test]
fn a_small_compressed_frame_from_our_peer_is_still_understood() {
    use mesh_proto::wire::Compression;
    let t0 = base();
    let (mut m, peers, _) = setup(config(), t0);
    let frame = mesh_proto::wire::Frame::new(
        MainFlag::Broadcast.value().into(),
        peers[0].id.clone(),
        UNIX,
        vec![
            Value::from(u64::from(mesh_proto::wire::SubFlag::Broadcast.value())),
            Value::from("zipped"),
        ],
    )
    .encode(Some(Compression::Zlib))
    .unwrap();
    let conn = join(&mut m, &Peer::ours(9), t0);
    m.handle_bytes(conn, &frame, t0);
    let got = m.recv().expect("delivered");
    assert_eq!(got.packets[1], Value::from("zipped"));
}
