//! `next_deadline`: the core's next timer, or a waiting receive's deadline
//! when that comes first.

use std::time::Instant;

use mesh_host::{Command, IoEvent, Wait};

use mesh_proto::mesh::Message;

use crate::fake_runtime::{Slot, slot};
use crate::node::{Node, addr, at};

/// Node 1 with one opened dial awaiting its handshake (core timer at 10 s).
fn awaiting_handshake() -> Node {
    let mut a = Node::new(1);
    let (_, conn) = a.connect(addr(2), at(0));
    a.io(
        IoEvent::Dialed {
            conn,
            result: Ok(()),
        },
        at(0),
    );
    a
}

/// A receive waiting until `until`; the caller waits while the slot lives.
fn wait_until(node: &mut Node, until: Instant) -> Slot<Vec<Message>> {
    let reply = slot();
    node.command(
        Command::Recv {
            max: 1,
            wait: Wait::Until(until),
            reply: reply.clone(),
        },
        at(0),
    );
    reply
}

#[test]
fn idle_driver_has_no_deadline() {
    let a = Node::new(1);
    assert_eq!(a.driver.mesh().poll_timeout(), None);
    assert_eq!(a.driver.next_deadline(), None);
}

#[test]
fn next_deadline_is_the_cores_poll_timeout() {
    let a = awaiting_handshake();
    assert_eq!(a.driver.mesh().poll_timeout(), Some(at(10)));
    assert_eq!(a.driver.next_deadline(), Some(at(10)));
}

#[test]
fn an_earlier_receive_deadline_comes_first() {
    let mut a = awaiting_handshake();
    let _waiting = wait_until(&mut a, at(3));
    assert_eq!(a.driver.next_deadline(), Some(at(3)));
}

#[test]
fn a_later_receive_deadline_does_not_hide_the_cores_timer() {
    let mut a = awaiting_handshake();
    let _waiting = wait_until(&mut a, at(20));
    assert_eq!(a.driver.next_deadline(), Some(at(10)));
}
