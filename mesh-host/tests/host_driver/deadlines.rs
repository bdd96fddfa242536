//! `next_deadline`: the core's next timer, or a waiting receive's deadline
//! when that comes first.

use std::time::Duration;

use mesh_host::{IoEvent, MAX_READ_PAUSE};

use crate::node::{Node, addr, at, pump};

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
fn a_read_pause_ends_by_itself() {
    // A tiny inbox: three queued messages are over half of it.
    let (mut a, ac, mut b, bc) = crate::node::linked_pair_with(at(0), |c| c.recv_queue_cap = 4);
    for text in ["1", "2", "3"] {
        crate::receive::broadcast(&mut a, text);
    }
    pump(&mut a, ac, &mut b, bc, at(0));
    assert_eq!(b.driver.shared().inbox.len(), 3);
    assert!(b.driver.reads_paused(at(0)), "the application is behind");
    let end = at(0) + MAX_READ_PAUSE;
    assert_eq!(
        b.driver.next_deadline(),
        Some(end),
        "the pause's end wakes the driver"
    );
    assert!(b.driver.reads_paused(end - Duration::from_millis(1)));
    assert!(
        !b.driver.reads_paused(end),
        "past the longest pause, reading resumes"
    );
}
