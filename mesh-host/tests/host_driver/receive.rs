//! Receives: what arrives lands in the inbox the handles share, bounded by
//! `recv_queue_cap` (oldest dropped first, reported as `Lagged` and counted),
//! wakes waiting receivers, ends with the mesh, and pauses reading while
//! the application is behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use mesh_host::{Command, Outgoing};
use mesh_proto::mesh::{Event, Message};
use mesh_proto::wire::{MainFlag, Value};

use crate::fake_runtime::{Events, FakeRuntime, slot};
use crate::node::{Node, at, linked_pair, linked_pair_with, pump};

pub fn broadcast(node: &mut Node, text: &str) {
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

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count::default());
    (count.clone(), Waker::from(count))
}

#[test]
fn bytes_in_land_in_the_inbox_and_wake_a_waiting_receiver() {
    let (mut a, ac, mut b, bc) = linked_pair(at(0));
    let inbox = b.driver.shared().inbox;
    let (woken, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(
        inbox.poll_take(&mut cx, 10).is_pending(),
        "nothing yet: it waits"
    );

    broadcast(&mut a, "hello");
    pump(&mut a, ac, &mut b, bc, at(0));

    assert_eq!(woken.0.load(Ordering::SeqCst), 1);
    let Poll::Ready(msgs) = inbox.poll_take(&mut cx, 10) else {
        panic!("a message is there");
    };
    assert_eq!(msgs.iter().map(text).collect::<Vec<_>>(), [Some("hello")]);
    assert_eq!(&msgs[0].sender, a.driver.mesh().id());
    assert!(inbox.take(10).is_empty(), "taken once");
}

#[test]
fn messages_come_out_in_order_and_a_take_without_messages_is_empty() {
    let (mut a, ac, mut b, bc) = linked_pair(at(0));
    let inbox = b.driver.shared().inbox;
    assert!(inbox.take(10).is_empty());
    for t in ["first", "second", "third"] {
        broadcast(&mut a, t);
    }
    pump(&mut a, ac, &mut b, bc, at(0));
    assert_eq!(
        inbox.take(1).iter().map(text).collect::<Vec<_>>(),
        [Some("first")]
    );
    assert_eq!(
        inbox.take(10).iter().map(text).collect::<Vec<_>>(),
        [Some("second"), Some("third")]
    );
}

#[test]
fn a_full_inbox_drops_its_oldest_reports_lagged_and_counts_them() {
    let (mut a, ac, mut b, bc) = linked_pair_with(at(0), |c| c.recv_queue_cap = 2);
    let events = Events::default();
    b.command(Command::Subscribe(events.clone()), at(0));
    for t in ["1", "2", "3", "4", "5"] {
        broadcast(&mut a, t);
    }
    pump(&mut a, ac, &mut b, bc, at(0));

    let inbox = b.driver.shared().inbox;
    assert_eq!(
        inbox.take(10).iter().map(text).collect::<Vec<_>>(),
        [Some("4"), Some("5")],
        "the newest are kept"
    );
    let lagged: u64 = events
        .borrow()
        .iter()
        .map(|e| match e {
            Event::Lagged { dropped } => *dropped,
            _ => 0,
        })
        .sum();
    assert_eq!(lagged, 3);
    let counters = slot();
    b.command(Command::Counters(counters.clone()), at(0));
    assert_eq!(counters.borrow_mut().take().unwrap().queue_drops, 3);
}

#[test]
fn closing_ends_a_waiting_receive_after_what_is_queued() {
    let (mut a, ac, mut b, bc) = linked_pair(at(0));
    broadcast(&mut a, "last");
    pump(&mut a, ac, &mut b, bc, at(0));
    b.command(Command::Close(slot()), at(0));

    let inbox = b.driver.shared().inbox;
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let Poll::Ready(msgs) = inbox.poll_take(&mut cx, 10) else {
        panic!("queued messages are still there");
    };
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        inbox.poll_take(&mut cx, 10),
        Poll::Ready(Vec::new()),
        "then nothing, at once"
    );
}

#[test]
fn a_dropped_driver_ends_waiting_receives() {
    let a = Node::new(1);
    let inbox = a.driver.shared().inbox;
    let (woken, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(inbox.poll_take(&mut cx, 1).is_pending());
    drop(a);
    assert_eq!(woken.0.load(Ordering::SeqCst), 1);
    assert_eq!(inbox.poll_take(&mut cx, 1), Poll::Ready(Vec::new()));
    assert!(inbox.take_blocking(1, None).is_empty(), "no hang either");
}

#[test]
fn reads_pause_while_the_application_is_behind_and_its_catching_up_wakes_the_driver() {
    let (mut a, ac, mut b, bc) = linked_pair_with(at(0), |c| c.recv_queue_cap = 4);
    broadcast(&mut a, "1");
    broadcast(&mut a, "2");
    pump(&mut a, ac, &mut b, bc, at(0));
    assert!(!b.driver.reads_paused(at(0)), "half full is not behind");
    assert!(b.driver.resume_hook().is_none());

    broadcast(&mut a, "3");
    pump(&mut a, ac, &mut b, bc, at(0));
    assert!(b.driver.reads_paused(at(0)), "over half: behind");
    let hook = b.driver.resume_hook().expect("paused on the inbox");
    let (woken, waker) = counting_waker();
    assert!(hook.register(&waker));

    let inbox = b.driver.shared().inbox;
    inbox.take(1);
    assert_eq!(
        woken.0.load(Ordering::SeqCst),
        1,
        "down to half: the driver is woken"
    );
    assert!(!b.driver.reads_paused(at(0)));
    assert!(!hook.register(&waker), "nothing to wait for any more");
}
