//! Receives: answered by arriving messages, by their deadline, or at once.

use std::cell::RefCell;
use std::rc::Rc;

use mesh_host::{Command, Input, Outgoing, Wait};
use mesh_proto::mesh::Message;
use mesh_proto::wire::{MainFlag, Value};

use crate::fake_runtime::{FakeRuntime, Slot, slot};
use crate::node::{Node, at, linked_pair, pump};

fn recv(node: &mut Node, max: usize, wait: Wait) -> Slot<Vec<Message>> {
    let reply = slot();
    node.command(
        Command::Recv {
            max,
            wait,
            reply: reply.clone(),
        },
        at(0),
    );
    reply
}

fn broadcast(node: &mut Node, text: &str) {
    let reply = slot();
    let send: Outgoing<FakeRuntime> = Outgoing::Send {
        packets: vec![Value::from(text)],
        flag: MainFlag::Broadcast,
        reply: reply.clone(),
    };
    node.command(Command::Send(send), at(0));
    assert!(reply.borrow_mut().take().unwrap().is_ok());
}

fn text(msg: &Message) -> Option<&str> {
    msg.packets.get(1).and_then(Value::as_str)
}

#[test]
fn bytes_in_answer_a_waiting_receive() {
    let (mut a, ac, mut b, bc) = linked_pair(at(0));
    let waiting = recv(&mut b, 10, Wait::Forever);
    assert!(waiting.borrow().is_none(), "nothing queued yet: it waits");

    broadcast(&mut a, "hello");
    pump(&mut a, ac, &mut b, bc, at(0));

    let msgs = waiting.borrow_mut().take().expect("answered");
    assert_eq!(msgs.iter().map(text).collect::<Vec<_>>(), [Some("hello")]);
    assert_eq!(&msgs[0].sender, a.driver.mesh().id());
}

#[test]
fn receive_that_does_not_wait_is_answered_empty_at_once() {
    let mut a = Node::new(1);
    let reply = recv(&mut a, 10, Wait::No);
    assert_eq!(reply.borrow_mut().take().map(|m| m.len()), Some(0));
}

#[test]
fn receive_with_a_deadline_times_out_on_the_wake_past_it() {
    let mut a = Node::new(1);
    let reply = recv(&mut a, 10, Wait::Until(at(5)));
    assert_eq!(
        a.driver.next_deadline(),
        Some(at(5)),
        "the driver must wake for it"
    );

    a.step(Input::Wake, at(4));
    assert!(reply.borrow().is_none(), "not yet");

    a.step(Input::Wake, at(5));
    assert_eq!(reply.borrow_mut().take().map(|m| m.len()), Some(0));
    assert_eq!(a.driver.next_deadline(), None, "nothing left to wake for");
}

#[test]
fn a_message_skips_a_receive_whose_caller_gave_up() {
    let (mut a, ac, mut b, bc) = linked_pair(at(0));
    drop(recv(&mut b, 10, Wait::Forever)); // the caller went away
    let second = recv(&mut b, 10, Wait::Forever);

    broadcast(&mut a, "hello");
    pump(&mut a, ac, &mut b, bc, at(0));

    assert_eq!(second.borrow_mut().take().map(|m| m.len()), Some(1));
}

#[test]
fn messages_given_back_are_received_first() {
    let (mut a, ac, mut b, bc) = linked_pair(at(0));
    broadcast(&mut a, "first");
    broadcast(&mut a, "second");
    pump(&mut a, ac, &mut b, bc, at(0));
    let taken = recv(&mut b, 1, Wait::No).borrow_mut().take().unwrap();
    assert_eq!(taken.iter().map(text).collect::<Vec<_>>(), [Some("first")]);

    // A cancelled receive puts its messages back in front of the queue.
    b.command(Command::Unrecv(taken), at(0));

    let all = recv(&mut b, 10, Wait::No).borrow_mut().take().unwrap();
    assert_eq!(
        all.iter().map(text).collect::<Vec<_>>(),
        [Some("first"), Some("second")]
    );
}

#[test]
fn waiting_receive_is_answered_empty_when_the_mesh_closes() {
    let mut a = Node::new(1);
    let waiting = recv(&mut a, 10, Wait::Forever);
    a.command(Command::Close(Rc::new(RefCell::new(None))), at(0));
    assert_eq!(waiting.borrow_mut().take().map(|m| m.len()), Some(0));
}
