//! A close command, and every handle dropping.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use mesh_host::{Command, Input, IoEvent};
use mesh_proto::mesh::SendError;

use crate::fake_runtime::{Call, Events, slot};
use crate::node::{Node, addr, at, linked_pair};

fn count(calls: &[Call], call: &Call) -> usize {
    calls.iter().filter(|c| *c == call).count()
}

#[test]
fn close_stops_listening_closes_connections_then_hands_off_once() {
    let (mut a, ac, _, _) = linked_pair(at(0));
    a.rt.take_calls();

    a.command(Command::Close(slot()), at(0));
    let calls = a.rt.take_calls();
    assert_eq!(
        calls,
        [Call::StopListening, Call::Close(ac), Call::FinishClose]
    );
    assert_eq!(a.rt.close_replies.len(), 1);
    assert!(!a.driver.is_done(), "handles still exist");

    // Later inputs do not hand the close off again.
    a.step(Input::Wake, at(1));
    a.io(IoEvent::ReadClosed { conn: ac }, at(1));
    assert_eq!(a.rt.take_calls(), []);
}

#[test]
fn second_close_is_refused_without_touching_the_runtime() {
    let mut a = Node::new(1);
    a.command(Command::Close(slot()), at(0));
    a.rt.take_calls();

    let again = slot();
    a.command(Command::Close(again.clone()), at(0));
    assert_eq!(again.borrow_mut().take(), Some(Err(SendError::Closed)));
    assert_eq!(a.rt.take_calls(), []);
}

#[test]
fn handles_dropped_after_close_makes_the_driver_done() {
    let mut a = Node::new(1);
    a.command(Command::Close(slot()), at(0));
    a.rt.take_calls();

    a.step(Input::HandlesDropped, at(0));
    assert!(a.driver.is_done());
    assert_eq!(
        a.rt.take_calls(),
        [],
        "already closed: nothing more to stop"
    );
}

#[test]
fn handles_dropped_closes_gracefully_and_is_done() {
    let (mut a, ac, _, _) = linked_pair(at(0));
    a.rt.take_calls();

    a.step(Input::HandlesDropped, at(0));

    let calls = a.rt.take_calls();
    assert_eq!(count(&calls, &Call::StopListening), 1, "{calls:?}");
    assert_eq!(count(&calls, &Call::Close(ac)), 1, "{calls:?}");
    // Nobody waits for the close: the writers flush on their own.
    assert_eq!(count(&calls, &Call::FinishClose), 0, "{calls:?}");
    assert!(a.driver.is_done());
    assert!(a.driver.mesh().is_closed());
}

#[test]
fn close_fails_a_pending_connect_and_drops_its_late_stream() {
    let mut a = Node::new(1);
    let (reply, conn) = a.connect(addr(2), at(0));

    a.command(Command::Close(slot()), at(0));
    let err = reply.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotConnected);
    a.rt.take_calls();

    a.io(
        IoEvent::Dialed {
            conn,
            result: Ok(()),
        },
        at(0),
    );
    assert_eq!(
        a.rt.take_calls(),
        [],
        "a dial that ends after close is not opened"
    );
}

#[test]
fn connect_and_accept_after_close_are_refused() {
    let mut a = Node::new(1);
    a.command(Command::Close(slot()), at(0));
    a.rt.take_calls();

    let reply = slot();
    a.command(
        Command::Connect {
            addr: addr(2),
            reply: reply.clone(),
        },
        at(0),
    );
    let err = reply.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotConnected);

    let remote = "10.0.0.2:4002".parse().unwrap();
    a.accepted(remote, false, at(0));
    assert_eq!(a.rt.take_calls(), [], "no dial, no open");
}

#[test]
fn subscribers_end_at_close_and_late_ones_at_once() {
    let mut a = Node::new(1);
    let early: Events = Rc::new(RefCell::new(Vec::new()));
    a.command(Command::Subscribe(early.clone()), at(0));
    assert_eq!(Rc::strong_count(&early), 2, "the driver holds it");

    a.command(Command::Close(slot()), at(0));
    assert_eq!(Rc::strong_count(&early), 1, "dropped: its stream ends");

    let late: Events = Rc::new(RefCell::new(Vec::new()));
    a.command(Command::Subscribe(late.clone()), at(0));
    assert_eq!(Rc::strong_count(&late), 1, "never kept");
}
