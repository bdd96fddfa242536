//! Sends and replies: what they answer with no peers, after close, and
//! while the mesh is backpressured.

use mesh_host::{Command, Input, Outgoing};
use mesh_proto::mesh::SendError;
use mesh_proto::wire::{MainFlag, MsgId, Value};

use crate::fake_runtime::{FakeRuntime, Slot, slot};
use crate::node::{Node, at, link, linked_pair, pump, transmitted};

pub fn send(node: &mut Node, packets: Vec<Value>) -> Slot<Result<MsgId, SendError>> {
    let reply = slot();
    let out: Outgoing<FakeRuntime> = Outgoing::Send {
        packets,
        flag: MainFlag::Broadcast,
        reply: reply.clone(),
    };
    node.command(Command::Send(out), at(0));
    reply
}

fn close(node: &mut Node) {
    node.command(Command::Close(slot()), at(0));
}

/// `n` bytes no compression can shrink, so they count in full toward backpressure.
pub fn noise(n: usize) -> Value {
    let mut x: u32 = 0x1234_5678;
    let bytes: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    Value::Bin(bytes.into())
}

#[test]
fn send_with_no_peers_is_sent_to_nobody() {
    // As py2p: a broadcast with no peers is not an error, it just reaches no one.
    let mut a = Node::new(1);
    assert!(
        send(&mut a, vec![Value::from("x")])
            .borrow_mut()
            .take()
            .unwrap()
            .is_ok()
    );
    assert!(!transmitted(&a.rt.take_calls()));
}

#[test]
fn send_after_close_is_refused() {
    let (mut a, _, _, _) = linked_pair(at(0));
    close(&mut a);
    a.rt.take_calls();

    let reply = send(&mut a, vec![Value::from("x")]);
    assert_eq!(reply.borrow_mut().take(), Some(Err(SendError::Closed)));
    assert!(!transmitted(&a.rt.take_calls()));
}

#[test]
fn reply_after_close_is_refused() {
    let (mut a, ac, mut b, bc) = linked_pair(at(0));
    send(&mut a, vec![Value::from("question")]);
    pump(&mut a, ac, &mut b, bc, at(0));
    let msg = b
        .driver
        .shared()
        .inbox
        .take(1)
        .pop()
        .expect("the question arrived");
    close(&mut b);

    let reply = slot();
    let out: Outgoing<FakeRuntime> = Outgoing::Reply {
        msg: Box::new(msg),
        packets: vec![Value::from("answer")],
        reply: Some(reply.clone()),
    };
    b.command(Command::Send(out), at(0));
    assert_eq!(reply.borrow_mut().take(), Some(Err(SendError::Closed)));
}

#[test]
fn send_waits_while_backpressured_and_goes_once_written() {
    // Backpressure starts past half of max_queued_bytes on one connection;
    // the fake never reports writes unless told to.
    let small = |cfg: &mut mesh_proto::mesh::Config| cfg.max_queued_bytes = 64 * 1024;
    let (mut a, ac, _b, _) = link(Node::with(1, small), Node::new(2), at(0));
    a.rt.take_calls();

    let big = vec![noise(40 * 1024)];
    assert!(send(&mut a, big).borrow_mut().take().unwrap().is_ok());
    assert!(a.driver.mesh().is_backpressured());

    let parked = send(&mut a, vec![Value::from("later")]);
    assert!(parked.borrow().is_none(), "parked while backpressured");

    a.all_written(ac, at(0));
    assert!(
        parked.borrow_mut().take().unwrap().is_ok(),
        "sent once the writes caught up"
    );
}

#[test]
fn sends_parked_on_backpressure_go_on_when_direct_writes_end_it() {
    // A connection written to directly reports no `Written` that would
    // wake the driver: the sends that waited in a turn go on in that turn.
    let small = |cfg: &mut mesh_proto::mesh::Config| cfg.max_queued_bytes = 64 * 1024;
    let mut a = Node::with(1, small);
    a.rt.direct = true;
    let (mut a, ac, _b, _) = link(a, Node::new(2), at(0));
    a.rt.take_calls();

    let send_in_turn = |a: &mut Node, packets| {
        let reply = slot();
        let out: Outgoing<FakeRuntime> = Outgoing::Send {
            packets,
            flag: MainFlag::Broadcast,
            reply: reply.clone(),
        };
        a.driver.take(
            &mut a.rt,
            mesh_host::Input::Command(Command::Send(out)),
            at(0),
        );
        reply
    };
    // One turn: the first send backpressures the link, the others park.
    let replies: Vec<_> = (0..3)
        .map(|_| send_in_turn(&mut a, vec![noise(40 * 1024)]))
        .collect();
    assert!(replies[1].borrow().is_none(), "parked while backpressured");
    a.driver.finish_turn(&mut a.rt, at(0));
    for (i, r) in replies.iter().enumerate() {
        assert!(r.borrow_mut().take().unwrap().is_ok(), "send {i} went");
    }
    assert_eq!(a.rt.take_transmits(ac).len(), 3);
    assert!(!a.driver.mesh().is_backpressured());
    assert_eq!(a.driver.mesh().queued_bytes(ac), 0, "written directly");
}

#[test]
fn parked_send_whose_caller_gave_up_is_not_sent() {
    let small = |cfg: &mut mesh_proto::mesh::Config| cfg.max_queued_bytes = 64 * 1024;
    let (mut a, ac, _b, _) = link(Node::with(1, small), Node::new(2), at(0));
    send(&mut a, vec![noise(40 * 1024)]);
    drop(send(&mut a, vec![Value::from("never")]));
    a.rt.take_calls();

    a.all_written(ac, at(0));
    assert!(
        !transmitted(&a.rt.take_calls()),
        "nothing sent for a caller that left"
    );
}

#[test]
fn the_send_gate_opens_while_sends_are_taken_at_once_and_shuts_on_close() {
    let (mut a, ac, mut b, bc) = linked_pair(at(0));
    let gate = a.driver.shared().gate;
    let queued = std::cell::Cell::new(None);
    let sent = mesh_host::queue_send::<FakeRuntime>(
        &gate,
        a.driver.mesh().id(),
        vec![Value::from("prepared")],
        MainFlag::Broadcast,
        a.driver.mesh().unix_time(at(0)),
        |out| {
            queued.set(Some(out));
            true
        },
    );
    let id = sent
        .expect("encoded on the caller's side")
        .expect("an idle, open mesh takes sends at once");
    a.command(Command::Send(queued.take().unwrap()), at(0));
    pump(&mut a, ac, &mut b, bc, at(0));
    let got = b.driver.shared().inbox.take(1).pop().expect("delivered");
    assert_eq!(got.id, id, "the id the handle returned is the message's");
    assert_eq!(got.packets.get(1).and_then(Value::as_str), Some("prepared"));

    close(&mut a);
    assert!(!gate.is_open(), "a closed mesh: ask, and get Closed");
    let waits = mesh_host::queue_send::<FakeRuntime>(
        &gate,
        a.driver.mesh().id(),
        vec![Value::from("late")],
        MainFlag::Broadcast,
        0,
        |_| panic!("nothing is queued without an answer"),
    );
    let reply = slot();
    let out = waits
        .unwrap()
        .unwrap_err()
        .outgoing(MainFlag::Broadcast, reply.clone());
    a.command(Command::Send(out), at(0));
    assert_eq!(reply.borrow_mut().take(), Some(Err(SendError::Closed)));
}

#[test]
fn the_send_gate_bounds_sends_queued_without_an_answer() {
    let (a, _, _, _) = linked_pair(at(0));
    let gate = a.driver.shared().gate;
    for _ in 0..mesh_host::SEND_AHEAD {
        assert!(gate.try_enter(10));
    }
    assert!(!gate.try_enter(10), "the driver has not taken any: wait");
    gate.taken(10);
    assert!(gate.try_enter(10));
    for _ in 0..mesh_host::SEND_AHEAD {
        gate.taken(10);
    }
    assert!(
        gate.try_enter(mesh_host::SEND_AHEAD_BYTES * 2),
        "one big send alone may go"
    );
    assert!(!gate.try_enter(10), "but nothing after it");
}

/// A send queued without an answer, prepared on the caller's side.
fn unanswered(node: &Node, text: &str) -> Command<FakeRuntime> {
    let msg = mesh_proto::mesh::Prepared::new(
        node.driver.mesh().id(),
        MainFlag::Broadcast,
        vec![Value::from(text)],
        node.driver.mesh().unix_time(at(0)),
    )
    .expect("encodes");
    Command::Send(Outgoing::Prepared { msg, reply: None })
}

#[test]
fn unanswered_sends_wait_for_the_turn_but_go_before_anything_after_them() {
    let (mut a, ac, mut b, bc) = linked_pair(at(0));
    let frames_out = |a: &mut Node| {
        let reply = slot();
        a.driver.take(
            &mut a.rt,
            Input::Command(Command::Counters(reply.clone())),
            at(0),
        );
        let counters = reply.borrow_mut().take().expect("answered at once");
        counters.frames_out
    };
    let before = frames_out(&mut a);
    for text in ["one", "two"] {
        let cmd = unanswered(&a, text);
        a.driver.take(&mut a.rt, Input::Command(cmd), at(0));
    }
    assert_eq!(
        a.driver.mesh().counters().frames_out,
        before,
        "taken, not yet sent: they go with the turn"
    );
    assert_eq!(
        frames_out(&mut a),
        before + 2,
        "another command comes after them: they went first"
    );
    let cmd = unanswered(&a, "three");
    a.driver.take(&mut a.rt, Input::Command(cmd), at(0));
    a.driver.finish_turn(&mut a.rt, at(0));
    assert_eq!(
        a.driver.mesh().counters().frames_out,
        before + 3,
        "the turn's end sends the rest"
    );
    // And a close after unanswered sends closes after sending them.
    let cmd = unanswered(&a, "four");
    a.driver.take(&mut a.rt, Input::Command(cmd), at(0));
    a.driver
        .take(&mut a.rt, Input::Command(Command::Close(slot())), at(0));
    a.driver.finish_turn(&mut a.rt, at(0));
    pump(&mut a, ac, &mut b, bc, at(0));
    let got: Vec<String> = b
        .driver
        .shared()
        .inbox
        .take(10)
        .iter()
        .filter_map(|m| m.packets.get(1).and_then(Value::as_str).map(String::from))
        .collect();
    assert_eq!(got, ["one", "two", "three", "four"], "all sent, in order");
}
