//! What a peer may claim about itself and others: bad handshakes (7) and
//! peer lists (8).

use std::net::TcpListener;
use std::time::{Duration, Instant};

use mesh_proto::mesh::{Config, Event, PeerId, RejectReason};
use mesh_proto::wire::{Encryption, Limits, MainFlag, Protocol, SubFlag, Value};

use super::attacker::Attacker;
use super::frames::peer_entry;
use super::memory::Memory;
use super::scene::Scene;
use super::util::{bin, expect_payload, tag, unix_now, wait_until};
use super::{HANDSHAKE_TIMEOUT, LIMIT, PROMPT, SLACK, SUBNET};
use crate::nodes::Adapter;

// ----- 7. handshakes ---------------------------------------------------------

/// Handshakes that must not get in. Another subnet and our own id are
/// refused at once (`Rejected { ProtocolMismatch }`, `{ SelfConnection }`).
/// A handshake with a field missing, one with an extra field (py2p takes
/// exactly five packets), and ones with fields of the wrong types are not
/// handshakes: the connection is closed at the handshake timeout
/// (`Rejected { HandshakeTimeout }`), never in the routing table.
pub fn bad_handshakes(adapter: &dyn Adapter) {
    let mut s = Scene::new(adapter, |_| {});
    let mem = Memory::watch();
    let before = s.victim.counters();
    let pid = s.protocol_id();

    // Another subnet.
    let mut other = Attacker::connect(s.victim.port());
    let theirs = Protocol::new("not-hostile", Encryption::Plaintext).id();
    other.send(&other.handshake(&theirs, &[])).expect("write");
    let (_, reason) = s.rejection(None, "another subnet");
    assert_eq!(reason, RejectReason::ProtocolMismatch { theirs });
    let took = other.assert_closed(PROMPT, "another subnet");
    assert!(
        took < HANDSHAKE_TIMEOUT,
        "refused at once, not at the timeout"
    );
    // The other encryption is another protocol too.
    let mut tls_id = Attacker::connect(s.victim.port());
    let ssl = Protocol::new(SUBNET, Encryption::Ssl).id();
    tls_id.send(&tls_id.handshake(&ssl, &[])).expect("write");
    let (_, reason) = s.rejection(None, "the SSL protocol id in plaintext");
    assert!(
        matches!(reason, RejectReason::ProtocolMismatch { .. }),
        "{reason:?}"
    );
    tls_id.assert_closed(PROMPT, "the SSL protocol id");

    // The victim's own id.
    let mut me = Attacker::connect(s.victim.port());
    me.id = s.victim.id_text();
    me.send(&me.handshake(&pid, &[])).expect("write");
    let (_, reason) = s.rejection(None, "our own id");
    assert_eq!(reason, RejectReason::SelfConnection);
    me.assert_closed(PROMPT, "our own id");

    // Not handshakes at all: they wait out the handshake timeout.
    let started = Instant::now();
    let mut slow: Vec<(&str, Attacker)> = Vec::new();
    let mut send = |name: &'static str, make: &dyn Fn(&Attacker) -> Vec<Value>| {
        let mut at = Attacker::connect(s.victim.port());
        let hs = at.handshake_with(make(&at));
        at.send(&hs).expect("write");
        slow.push((name, at));
    };
    send("a missing field", &|at| {
        let mut f = at.handshake_fields(&pid, &[]);
        f.pop();
        f
    });
    send("an extra field", &|at| {
        let mut f = at.handshake_fields(&pid, &[]);
        f.push(Value::from("extra"));
        f
    });
    send("the id an int", &|at| {
        let mut f = at.handshake_fields(&pid, &[]);
        f[0] = Value::from(42u8);
        f
    });
    send("the port a str", &|at| {
        let mut f = at.handshake_fields(&pid, &[]);
        f[2] = Value::Array(vec![Value::from("127.0.0.1"), Value::from("80")]);
        f
    });
    send("the port past u16", &|at| {
        let mut f = at.handshake_fields(&pid, &[]);
        f[2] = Value::Array(vec![Value::from("127.0.0.1"), Value::from(70_000u32)]);
        f
    });
    send("the host invalid UTF-8 (bin)", &|at| {
        let mut f = at.handshake_fields(&pid, &[]);
        f[2] = Value::Array(vec![bin(&[0xff, 0xfe, 0x80]), Value::from(1u16)]);
        f
    });
    send("the methods a map", &|at| {
        let mut f = at.handshake_fields(&pid, &[]);
        f[3] = Value::Map(vec![]);
        f
    });
    let n = slow.len();
    s.honest_traffic("while bad handshakes wait");
    for (name, at) in &mut slow {
        let left = (HANDSHAKE_TIMEOUT + SLACK).saturating_sub(started.elapsed());
        at.assert_closed(left, name);
        let at_close = started.elapsed();
        assert!(
            at_close + Duration::from_millis(150) >= HANDSHAKE_TIMEOUT,
            "{name}: closed after {at_close:?}, before the handshake timeout"
        );
        let id = PeerId::from(at.id.as_str());
        assert!(!s.victim.routes().contains(&id), "{name}: never a route");
    }
    for _ in 0..n {
        let (_, reason) = s.rejection(None, "bad handshakes timing out");
        assert_eq!(reason, RejectReason::HandshakeTimeout);
    }
    let after = s.victim.counters();
    assert_eq!(
        after.rejected.protocol_mismatch,
        before.rejected.protocol_mismatch + 2
    );
    assert_eq!(
        after.rejected.self_connection,
        before.rejected.self_connection + 1
    );
    assert_eq!(
        after.rejected.handshake_timeout,
        before.rejected.handshake_timeout + n as u64
    );

    s.honest_traffic("after bad handshakes");
    s.assert_routes(&[], "after bad handshakes");
    mem.check("bad handshakes");
    s.close();
}

// ----- 8. peer lists ---------------------------------------------------------

/// A peer list of `entries` entries: the first names the victim itself
/// (its id and address), the second an honest node c it does not know
/// yet, the rest made-up peers at ports nothing listens on. The victim
/// (allowed 2 outgoing links here, healing fast) must dial c, never
/// itself, and take at most `max_peers_per_list` entries: no entry past
/// that bound is ever dialed, however long the list. (Entries within it
/// may be dialed more than once: the victim's own peer list hands them to
/// c, which gossips them back when asked.)
pub fn peer_list(adapter: &dyn Adapter, entries: usize) {
    let mut s = Scene::new(adapter, |c| {
        c.max_outgoing = 2;
        c.heal_backoff = Duration::from_millis(10);
        c.heal_backoff_max = Duration::from_millis(100);
    });
    let c_idx = s.extra_node(adapter);
    let before = s.victim.counters();
    let max_per_list = Config::new(s.protocol.clone(), s.victim.out_addr()).max_peers_per_list;
    let mut at = s.join(&[]);
    let dead = at.advertised_port;

    let (c_id, c_port) = (s.extra(c_idx).id(), s.extra(c_idx).port());
    let victim_id = s.victim.id_text();
    // Entries the victim may take get dead ports of their own; every entry
    // past `max_peers_per_list` shares one more, which must never be dialed.
    let held: Vec<TcpListener> = (2..max_per_list)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    let taken_ports: Vec<u16> = held
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect();
    // Bound while the others are held, so it is none of them (a port
    // closed and taken again would count a legitimate dial as "beyond").
    let beyond = loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        if port != dead {
            break port;
        }
    };
    drop(held);
    let mut list = Vec::with_capacity(entries);
    list.push(peer_entry(
        "127.0.0.1",
        s.victim.port(),
        victim_id.as_bytes(),
    ));
    list.push(peer_entry("127.0.0.1", c_port, &c_id.0));
    for i in 2..entries {
        let port = taken_ports.get(i - 2).copied().unwrap_or(beyond);
        list.push(peer_entry("127.0.0.1", port, format!("Fake{i}").as_bytes()));
    }
    assert!(entries > max_per_list, "some entries are past the bound");
    let frame = at.frame(
        MainFlag::Whisper,
        unix_now(),
        vec![Value::from(SubFlag::Peers.value()), Value::Array(list)],
    );
    assert!(frame.len() <= Limits::default().max_frame);
    // Watched from here: building the list is the attacker's memory.
    let mem = Memory::watch();
    at.send(&frame).expect("write");
    drop(frame);

    let victim = &*s.victim;
    wait_until("the victim dials c from the list", LIMIT, || {
        victim.routes().contains(&c_id)
    });
    // Let failed dials and healing run their course, counting them.
    let mut dead_dials = 0usize;
    let mut beyond_dials = 0usize;
    let deadline = Instant::now() + Duration::from_millis(700);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match s.events.next(left) {
            Ok(Some(Event::DialFailed { addr, .. })) if addr.port == beyond => beyond_dials += 1,
            Ok(Some(Event::DialFailed { addr, .. }))
                if addr.port == dead || taken_ports.contains(&addr.port) =>
            {
                dead_dials += 1
            }
            Ok(Some(Event::Rejected {
                reason: RejectReason::SelfConnection,
                ..
            })) => panic!("the victim dialed itself"),
            Ok(Some(_)) => {}
            Ok(None) => panic!("the victim's events ended"),
            Err(_) => break,
        }
    }
    assert_eq!(
        beyond_dials, 0,
        "entries past max_peers_per_list ({max_per_list}) of a list of {entries} were dialed"
    );
    eprintln!("{dead_dials} dials to dead peers taken from the list or gossiped back");
    let after = s.victim.counters();
    assert_eq!(
        after.rejected.self_connection, before.rejected.self_connection,
        "the victim never dialed itself"
    );
    let me = s.victim.id();
    assert!(!s.victim.routes().contains(&me), "never its own route");
    let aid = PeerId::from(at.id.as_str());
    s.assert_routes(&[&aid, &c_id], "after the peer list");
    assert!(
        at.still_open(Duration::from_millis(50)),
        "a peer list is no offence"
    );

    // c gets honest traffic through the victim too.
    let marker = tag("to c");
    s.a.send(vec![bin(&marker)]).expect("send");
    expect_payload(s.extra(c_idx), &marker, "a's broadcast at c");
    s.honest_traffic("after the peer list");
    mem.check("a peer list");
    s.close();
}
