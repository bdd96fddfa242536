//! Giving back links made for healing (`mesh::trim`), one transition at a
//! time: the test plays each peer by hand and reads back what the mesh sends.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mesh_proto::mesh::trim::{AGREE, ASK, DECLINE};
use mesh_proto::mesh::{Config, ConnId, Event, Mesh, Output};
use mesh_proto::wire::{MainFlag, SubFlag, Value};

fn cfg() -> Config {
    let mut c = config();
    c.max_outgoing = 2;
    c.trim_quiet = Duration::from_secs(1);
    c.heal_backoff = Duration::from_millis(100);
    c
}

fn addr_of(p: &Peer) -> String {
    format!("10.0.1.{}", p.n)
}

/// Completes the dial `conn` to `p`.
fn link(m: &mut Mesh, conn: ConnId, p: &Peer, now: Instant) {
    m.handle_dialed(conn, true, now);
    m.handle_bytes(conn, &p.handshake(), now);
    drain(m);
}

/// The connection of a `Dial` to `p` among `outs`.
fn dial_to(outs: &[Output], p: &Peer) -> Option<ConnId> {
    outs.iter().find_map(|o| match o {
        Output::Dial { conn, addr } if addr.host == addr_of(p) => Some(*conn),
        _ => None,
    })
}

/// Runs timers from `from` for `secs`, every 100 ms; every output.
fn run(m: &mut Mesh, from: Instant, secs: u64) -> Vec<Output> {
    let mut outs = Vec::new();
    for k in 1..=secs * 10 {
        m.handle_timeout(from + Duration::from_millis(100 * k));
        outs.extend(drain(m));
    }
    outs
}

/// A node (`max_outgoing` 2) that dialed p1 and p2, lost p1, healed through
/// p3 (from p2's peer list) and got p1 back: p3's link is surplus, made to
/// heal. Returns the mesh, the links to p1, p2, p3, and the time.
fn surplus(p3: &Peer) -> (Mesh, [ConnId; 3], Instant) {
    let t0 = base();
    let (p1, p2) = (Peer::ours(1), Peer::ours(2));
    let mut m = mesh(cfg(), t0);
    let c1 = m.connect(mesh_proto::mesh::PeerAddr::new(addr_of(&p1), 5000), t0);
    let c2 = m.connect(mesh_proto::mesh::PeerAddr::new(addr_of(&p2), 5000), t0);
    link(&mut m, c1, &p1, t0);
    link(&mut m, c2, &p2, t0);
    let t = ms(t0, 1000);
    m.handle_closed(c1, t);
    let list = Value::Array(vec![Value::Array(vec![
        Value::Array(vec![Value::from(addr_of(p3)), Value::from(5000u64)]),
        Value::Bin(p3.id.clone()),
    ])]);
    let peers = p2.frame(
        MainFlag::Whisper,
        vec![Value::from(u64::from(SubFlag::Peers.value())), list],
    );
    m.handle_bytes(c2, &peers, t);
    let c3 = dial_to(&drain(&mut m), p3).expect("p3 dialed to heal");
    link(&mut m, c3, p3, t);
    let outs = run(&mut m, t, 2);
    let c1b = dial_to(&outs, &p1).expect("lost p1 redialed");
    let t = ms(t0, 3000);
    link(&mut m, c1b, &p1, t);
    assert_eq!(m.outgoing_count(), 3);
    (m, [c1b, c2, c3], t)
}

fn asks(outs: &[Output], conn: ConnId) -> usize {
    ext_to(outs, conn).iter().filter(|(s, _)| *s == ASK).count()
}

#[test]
fn a_surplus_healing_link_is_asked_back_after_a_quiet_spell() {
    let p3 = Peer::ours(3);
    let (mut m, [c1, c2, c3], t) = surplus(&p3);
    let early = run(&mut m, t, 1);
    assert_eq!(asks(&early, c3), 0, "not before the quiet spell");
    let outs = run(&mut m, t + Duration::from_secs(1), 3);
    assert_eq!(asks(&outs, c3), 1, "the healing link is asked");
    assert_eq!(asks(&outs, c1) + asks(&outs, c2), 0, "links we had stay");
}

#[test]
fn an_agreed_trim_closes_the_link_and_nothing_redials_it() {
    let p3 = Peer::ours(3);
    let (mut m, [_, _, c3], t) = surplus(&p3);
    run(&mut m, t, 4);
    let t = t + Duration::from_secs(4);
    m.handle_bytes(c3, &p3.ext(AGREE, None), t);
    let outs = drain(&mut m);
    assert!(outs.contains(&Output::Close { conn: c3 }));
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Event(Event::PeerDown { conn, .. }) if *conn == c3))
    );
    assert_eq!(m.outgoing_count(), 2);
    assert_eq!(m.counters().links_trimmed, 1);
    let later = run(&mut m, t, 60);
    assert_eq!(dial_to(&later, &p3), None, "a link given back is no loss");
    assert_eq!(m.outgoing_count(), 2);
}

#[test]
fn a_declined_link_stays_and_is_asked_again_later() {
    let p3 = Peer::ours(3);
    let (mut m, [_, _, c3], t) = surplus(&p3);
    run(&mut m, t, 4);
    let t = t + Duration::from_secs(4);
    m.handle_bytes(c3, &p3.ext(DECLINE, None), t);
    let outs = drain(&mut m);
    assert!(!outs.contains(&Output::Close { conn: c3 }));
    assert_eq!(asks(&run(&mut m, t, 20), c3), 0, "not asked again at once");
    let again = run(&mut m, t + Duration::from_secs(20), 20);
    assert_eq!(asks(&again, c3), 1, "asked again after a while");
    assert_eq!(m.outgoing_count(), 3);
}

#[test]
fn a_py2p_peer_is_never_asked_to_trim() {
    let p3 = Peer::py2p(3);
    let (mut m, [c1, c2, c3], t) = surplus(&p3);
    let outs = run(&mut m, t, 120);
    assert_eq!(asks(&outs, c1) + asks(&outs, c2) + asks(&outs, c3), 0);
    assert_eq!(m.outgoing_count(), 3, "the py2p link stays");
}

#[test]
fn trimming_off_asks_nothing_and_sends_no_marker() {
    let t0 = base();
    let p3 = Peer::ours(3);
    let mut c = cfg();
    c.trim_links = false;
    let mut m = mesh(c, t0);
    let conn = m.handle_accepted(None, t0);
    let outs = drain(&mut m);
    let hs = &sent_to(&outs, conn)[0];
    let methods = hs.frame.payload[4].as_array().unwrap();
    assert!(
        !methods
            .iter()
            .any(|v| v.as_int().and_then(|i| i.as_u64()) == Some(mesh_proto::mesh::trim::MARKER))
    );
    m.handle_bytes(conn, &p3.handshake(), t0);
    drain(&mut m);
    m.handle_bytes(conn, &p3.ext(ASK, None), t0);
    assert!(
        ext_to(&drain(&mut m), conn).is_empty(),
        "an ask is ignored like any unknown renegotiation"
    );
}

/// A node with inbound links from `n` of our peers, dialing none itself
/// (`max_outgoing`) unless a link breaks under it.
fn inbound(n: u64, max_outgoing: usize) -> (Mesh, Vec<(Peer, ConnId)>, Instant) {
    let t0 = base();
    let mut c = cfg();
    c.max_outgoing = max_outgoing;
    let mut m = mesh(c, t0);
    let peers = (1..=n)
        .map(|k| {
            let p = Peer::ours(k);
            let c = join(&mut m, &p, t0);
            (p, c)
        })
        .collect();
    (m, peers, t0)
}

#[test]
fn a_peer_with_links_to_spare_agrees_and_does_not_count_the_close_as_a_loss() {
    let (mut m, peers, t0) = inbound(2, 0);
    let (p, c) = &peers[0];
    m.handle_bytes(*c, &p.ext(ASK, None), t0);
    let outs = drain(&mut m);
    assert_eq!(ext_to(&outs, *c), vec![(AGREE, vec![])]);
    assert_eq!(m.counters().trims_agreed, 1);
    // A second ask while the first is open is declined.
    let (q, d) = &peers[1];
    m.handle_bytes(*d, &q.ext(ASK, None), t0);
    assert_eq!(ext_to(&drain(&mut m), *d), vec![(DECLINE, vec![])]);
    m.handle_closed(*c, ms(t0, 10));
    let later = run(&mut m, ms(t0, 10), 60);
    assert_eq!(dial_to(&later, p), None, "an agreed close is no loss");
    // The other link breaking under it is one: redialed.
    m.handle_closed(*d, ms(t0, 61_000));
    let after = run(&mut m, ms(t0, 61_000), 10);
    assert!(dial_to(&after, q).is_some(), "a broken link is redialed");
}

#[test]
fn a_peer_without_links_to_spare_declines() {
    let (mut m, peers, t0) = inbound(2, 2);
    let (p, c) = &peers[0];
    m.handle_bytes(*c, &p.ext(ASK, None), t0);
    assert_eq!(ext_to(&drain(&mut m), *c), vec![(DECLINE, vec![])]);
    assert_eq!(m.counters().trims_agreed, 0);
}
