//! Receiving between real sockets on loopback: timeouts, order, and
//! py2p-style callbacks.
//! (Broadcast, whisper, handler and reply scenarios run on every adapter in
//! the conformance suite, `mesh_tests::conformance`.)

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::{LIMIT, bin, link, next, node};
use mesh_blocking::{Event, EventKind, Value};

#[test]
fn recv_timeout_waits_then_gives_up_and_recv_many_keeps_order() {
    let (a, b) = (node(), node());
    link(&a, &b, &[b.id()], &[a.id()]);
    let started = std::time::Instant::now();
    assert!(b.recv_timeout(Duration::from_millis(200)).is_none());
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert!(waited < LIMIT, "{waited:?}");

    let events = b.events();
    for i in 0u64..5 {
        a.send(vec![Value::from(i)]).expect("send");
    }
    let mut queued = 0;
    while queued < 5 {
        if let Event::Message { .. } = events.recv_timeout(LIMIT).expect("event") {
            queued += 1;
        }
    }
    let got: Vec<Value> = b
        .recv_many(10)
        .into_iter()
        .map(|m| m.packets[1].clone())
        .collect();
    assert_eq!(got, (0u64..5).map(Value::from).collect::<Vec<_>>());
}

#[test]
fn on_message_callback_answers_like_py2p() {
    let (a, b) = (node(), node());
    link(&a, &b, &[b.id()], &[a.id()]);
    // py2p: sock.on('message', lambda s: s.reply(s.recv(), ...)).
    b.on(EventKind::Message, |sock, _event| {
        if let Some(msg) = sock.recv() {
            let _ = sock.reply(&msg, vec![bin(b"ack")]);
        }
    })
    .expect("callback thread");
    let (tx, rx) = mpsc::channel();
    a.once(EventKind::Message, move |_sock, event| {
        let _ = tx.send(event.clone());
    })
    .expect("callback thread");

    a.send(vec![bin(b"hi")]).expect("send");
    let ack = next(&a);
    assert_eq!(ack.packets[1], bin(b"ack"));
    assert!(matches!(rx.recv_timeout(LIMIT), Ok(Event::Message { .. })));
}
