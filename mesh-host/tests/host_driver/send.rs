//! Sends and replies: what they answer with no peers, after close, and
//! while the mesh is backpressured.

use mesh_host::{Command, Outgoing, Wait};
use mesh_proto::mesh::{Message, SendError};
use mesh_proto::wire::{MainFlag, MsgId, Value};

use crate::fake_runtime::{FakeRuntime, Slot, slot};
use crate::node::{Node, at, link, linked_pair, pump, transmitted};

fn send(node: &mut Node, packets: Vec<Value>) -> Slot<Result<MsgId, SendError>> {
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
fn noise(n: usize) -> Value {
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
    let msgs: Slot<Vec<Message>> = slot();
    b.command(
        Command::Recv {
            max: 1,
            wait: Wait::No,
            reply: msgs.clone(),
        },
        at(0),
    );
    let msg = msgs
        .borrow_mut()
        .take()
        .unwrap()
        .pop()
        .expect("the question arrived");
    close(&mut b);

    let reply = slot();
    let out: Outgoing<FakeRuntime> = Outgoing::Reply {
        msg: Box::new(msg),
        packets: vec![Value::from("answer")],
        reply: reply.clone(),
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
