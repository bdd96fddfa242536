//! A burst of connections over `max_pending_handshakes`: the ones past the
//! bound wait parked for a place instead of being refused; parked ones that
//! never get a place are closed after the handshake timeout, and at most
//! `max_inbound` are parked.

use std::net::SocketAddr;

use mesh_host::IoEvent;
use mesh_proto::mesh::ConnId;

use crate::fake_runtime::Call;
use crate::node::{Node, addr, at, pump};

fn remote(n: u16) -> SocketAddr {
    format!("10.0.0.2:{}", 5000 + n).parse().unwrap()
}

/// The connections the hub opened since last asked.
fn opened(hub: &Node) -> Vec<ConnId> {
    hub.rt
        .take_matching(|c| matches!(c, Call::Open(_)))
        .into_iter()
        .filter_map(|c| match c {
            Call::Open(conn) => Some(conn),
            _ => None,
        })
        .collect()
}

#[test]
fn a_burst_over_the_pending_bound_is_parked_then_admitted() {
    let mut hub = Node::with(1, |c| {
        c.max_pending_handshakes = 2;
        c.max_inbound = 16;
        c.max_outgoing = 0;
    });
    // Six peers dial at once: every accept reaches the hub before any byte.
    let mut peers: Vec<(Node, ConnId)> = (2..8)
        .map(|n| {
            let mut p = Node::with(n, |c| c.max_outgoing = 0);
            let (_, conn) = p.connect(addr(1), at(0));
            p.io(
                IoEvent::Dialed {
                    conn,
                    result: Ok(()),
                },
                at(0),
            );
            (p, conn)
        })
        .collect();
    for n in 2..8 {
        hub.accepted(remote(n), false, at(0));
    }
    let mut hub_conns = opened(&hub);
    assert_eq!(hub_conns.len(), 2, "two places; four wait, none refused");

    // Each handshake that completes lets the next parked one in.
    let mut i = 0;
    while i < hub_conns.len() {
        let (p, pc) = &mut peers[i];
        pump(p, *pc, &mut hub, hub_conns[i], at(0));
        hub_conns.extend(opened(&hub));
        i += 1;
    }
    assert_eq!(hub_conns.len(), 6);
    assert_eq!(
        hub.driver.mesh().peer_count(),
        6,
        "all six on the first try"
    );
    assert_eq!(hub.driver.mesh().counters().rejected.over_capacity, 0);
}

#[test]
fn parked_connections_without_a_place_close_after_the_handshake_timeout() {
    let mut hub = Node::with(1, |c| {
        c.max_pending_handshakes = 1;
        c.max_inbound = 3;
    });
    let timeout = hub.driver.mesh().config().handshake_timeout;
    for n in 2..7 {
        hub.accepted(remote(n), false, at(0));
    }
    // One pending, three parked (max_inbound), the fifth refused by the core
    // (answered without a reader or writer of its own).
    let opens = opened(&hub);
    assert_eq!(opens.len(), 1, "{opens:?}");
    assert_eq!(refusals(&hub), 1, "the one past every bound is refused");
    assert!(
        hub.rt
            .take_matching(|c| matches!(c, Call::Close(_)))
            .is_empty()
    );
    assert_eq!(hub.driver.mesh().counters().rejected.over_capacity, 1);
    assert!(
        hub.driver
            .next_deadline()
            .is_some_and(|t| t <= at(0) + timeout)
    );

    // Nobody ever handshakes: at the timeout the pending one is closed and
    // the parked ones are dropped, not admitted into the freed place.
    hub.step(mesh_host::Input::Wake, at(0) + timeout);
    assert!(opened(&hub).is_empty(), "no parked one was let in");
    let closes = hub.rt.take_matching(|c| matches!(c, Call::Close(_)));
    assert_eq!(closes, [Call::Close(opens[0])]);
    hub.step(mesh_host::Input::Wake, at(0) + timeout * 2);
    assert!(opened(&hub).is_empty());
    let reply = crate::fake_runtime::slot();
    hub.command(
        mesh_host::Command::Counters(reply.clone()),
        at(0) + timeout * 2,
    );
    let counters = reply.borrow_mut().take().expect("answered");
    assert_eq!(
        counters.rejected.handshake_timeout, 4,
        "the pending one and the three parked ones, all counted"
    );
}

/// Accepts from `n` peers that never handshake.
fn flood(hub: &mut Node, n: u16) {
    for k in 0..n {
        hub.accepted(remote(100 + k), false, at(0));
    }
}

fn refusals(hub: &Node) -> usize {
    hub.rt.take_matching(|c| matches!(c, Call::Refuse(_))).len()
}

/// Past the parking places, the core refuses: a refused connection gets
/// its refusal (no reader, no writer), at most `MAX_REFUSING` at once;
/// past that it is closed unanswered. As refusals end, new ones are answered.
#[test]
fn a_flood_of_connections_holds_a_bounded_number_of_refusals() {
    let mut hub = Node::with(1, |c| {
        c.max_pending_handshakes = 2;
        c.max_inbound = 4;
        c.max_outgoing = 0;
    });
    let extra = 10;
    flood(&mut hub, (2 + 4 + mesh_host::MAX_REFUSING + extra) as u16);
    assert_eq!(
        opened(&hub).len(),
        2,
        "only the pending places get a reader"
    );
    assert_eq!(refusals(&hub), mesh_host::MAX_REFUSING);
    assert_eq!(hub.rt.refusing.len(), mesh_host::MAX_REFUSING);
    assert_eq!(
        hub.driver.mesh().counters().rejected.over_capacity,
        (mesh_host::MAX_REFUSING + extra) as u64,
        "the ones past the bound are refused all the same, just unanswered"
    );
    hub.rt.refusing.clear();
    flood(&mut hub, 3);
    assert_eq!(refusals(&hub), 3, "answered again once refusals end");
    assert!(opened(&hub).is_empty());
}

/// Every pending place held by a silent connection and every parking place
/// taken: a connection whose peer has already spoken still gets in, in the
/// place of the oldest silent one, which is closed.
#[test]
fn a_peer_that_speaks_takes_a_silent_connections_place() {
    let mut hub = Node::with(1, |c| {
        c.max_pending_handshakes = 2;
        c.max_inbound = 4;
        c.max_outgoing = 0;
    });
    flood(&mut hub, 2 + 4 + 3);
    let silent = opened(&hub);
    assert_eq!(silent.len(), 2);
    refusals(&hub);
    let before = hub.driver.mesh().counters().rejected.over_capacity;
    hub.accepted(remote(9), true, at(0));
    let admitted = opened(&hub);
    assert_eq!(admitted.len(), 1, "the speaking peer is admitted");
    assert_eq!(
        hub.rt.take_matching(|c| matches!(c, Call::Close(_))),
        [Call::Close(silent[0])],
        "the oldest silent one gave its place"
    );
    assert_eq!(
        hub.driver.mesh().counters().rejected.over_capacity,
        before + 1
    );
    // A silent newcomer takes nobody's place.
    flood(&mut hub, 1);
    assert!(opened(&hub).is_empty());
}
