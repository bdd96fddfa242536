//! `connect`: the dial, its outcome, and the handshake that follows.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use mesh_host::{Command, IoEvent};
use mesh_proto::mesh::Event;

use crate::fake_runtime::{Call, Events, slot};
use crate::node::{Node, addr, at, link, linked_pair};

#[test]
fn connect_dials_then_opens_and_transmits_the_handshake() {
    let mut a = Node::new(1);
    let (reply, conn) = a.connect(addr(2), at(0));
    assert!(reply.borrow().is_none(), "no answer before the dial ends");

    a.io(
        IoEvent::Dialed {
            conn,
            result: Ok(()),
        },
        at(0),
    );

    let calls = a.rt.take_calls();
    assert!(
        matches!(calls.as_slice(), [Call::Open(c), Call::Transmit(t, hs)] if *c == conn && *t == conn && !hs.is_empty()),
        "{calls:?}"
    );
    assert_eq!(reply.borrow_mut().take().unwrap().unwrap(), conn);
}

#[test]
fn failed_dial_answers_connect_with_its_error() {
    let mut a = Node::new(1);
    let (reply, conn) = a.connect(addr(2), at(0));

    let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
    a.io(
        IoEvent::Dialed {
            conn,
            result: Err(refused),
        },
        at(0),
    );

    let err = reply.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(a.rt.take_calls(), [], "nothing opened");
    assert_eq!(a.driver.mesh().conn_count(), 0, "the core forgot the dial");
}

#[test]
fn dial_the_runtime_cannot_start_fails_connect_at_once() {
    let mut a = Node::new(1);
    a.rt.refuse_dials = true;
    let reply = slot();
    a.command(
        Command::Connect {
            addr: addr(2),
            reply: reply.clone(),
        },
        at(0),
    );

    assert!(reply.borrow_mut().take().unwrap().is_err());
    assert_eq!(a.driver.mesh().conn_count(), 0);
}

#[test]
fn stream_the_runtime_cannot_open_fails_connect() {
    let mut a = Node::new(1);
    let (reply, conn) = a.connect(addr(2), at(0));
    a.rt.refuse_opens = true;

    a.io(
        IoEvent::Dialed {
            conn,
            result: Ok(()),
        },
        at(0),
    );

    assert!(reply.borrow_mut().take().unwrap().is_err());
    assert!(
        !a.rt
            .take_calls()
            .iter()
            .any(|c| matches!(c, Call::Transmit(..)))
    );
    assert_eq!(a.driver.mesh().conn_count(), 0);
}

#[test]
fn two_drivers_finish_a_handshake() {
    let (a, _, b, _) = linked_pair(at(0));
    let peer_of = |n: &Node| n.driver.mesh().routes().next().map(|(p, _)| p.clone());
    assert_eq!(peer_of(&a).as_ref(), Some(b.driver.mesh().id()));
    assert_eq!(peer_of(&b).as_ref(), Some(a.driver.mesh().id()));
}

#[test]
fn subscriber_hears_the_peer_come_up() {
    let mut a = Node::new(1);
    let events: Events = Rc::new(RefCell::new(Vec::new()));
    a.command(Command::Subscribe(events.clone()), at(0));

    let (_, ac, _, _) = link(a, Node::new(2), at(0));

    let seen = events.borrow();
    assert!(
        seen.iter().any(|e| matches!(e, Event::Connected)),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::PeerUp { conn, .. } if *conn == ac)),
        "{seen:?}"
    );
}
