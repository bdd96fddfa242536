//! Broadcast, whisper, handlers and replies between real sockets on loopback.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::{LIMIT, bin, line, link, next, node};
use mesh_blocking::{Event, EventKind, Handled, HandlerCx, MainFlag, Message, SubFlag, Value};

#[test]
fn broadcast_crosses_a_line_of_three() {
    let (a, b, c) = line();
    a.send(vec![bin(b"hello")]).expect("send");

    let at_c = next(&c);
    assert_eq!(at_c.packets[1], bin(b"hello"));
    assert_eq!(&at_c.sender, a.id());
    assert_eq!(at_c.msg_type, u64::from(MainFlag::Broadcast.value()));
    let at_b = next(&b);
    assert_eq!(at_b.id, at_c.id);
    assert!(b.counters().relayed >= 1, "b relayed it");

    // Delivered once each, never back to its origin.
    std::thread::sleep(Duration::from_millis(200));
    assert!(a.recv().is_none());
    assert!(b.recv().is_none());
    assert!(c.recv().is_none());
}

#[test]
fn whisper_is_not_relayed_past_direct_peers() {
    let (a, b, c) = line();
    a.whisper(vec![bin(b"secret")]).expect("whisper");
    a.send(vec![bin(b"marker")]).expect("send");

    let at_b = next(&b);
    assert_eq!(at_b.packets[1], bin(b"secret"));
    assert_eq!(at_b.msg_type, u64::from(MainFlag::Whisper.value()));
    // Same stream a -> b, so had b relayed the whisper, c would see it first.
    let at_c = next(&c);
    assert_eq!(at_c.packets[1], bin(b"marker"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(c.recv().is_none(), "c must never see the whisper");
}

#[test]
fn handler_answers_test_with_a_direct_whisper() {
    let (a, b) = (node(), node());
    link(&a, &b, &[b.id()], &[a.id()]);
    b.register_handler(|msg: &Message, cx: &mut HandlerCx<'_>| {
        if msg
            .packets
            .get(1)
            .and_then(Value::as_bin)
            .is_some_and(|p| &p[..] == b"test")
        {
            let _ = cx.send_direct(MainFlag::Whisper, SubFlag::Whisper, vec![bin(b"success")]);
            return Handled::Consumed;
        }
        Handled::Pass
    });

    a.send(vec![bin(b"test")]).expect("send");
    let answer = next(&a);
    assert_eq!(answer.packets[1], bin(b"success"));
    assert_eq!(&answer.sender, b.id());
    assert_eq!(answer.msg_type, u64::from(MainFlag::Whisper.value()));
    // The handler consumed it; other messages still reach the queue.
    assert!(b.recv().is_none());
    a.send(vec![bin(b"other")]).expect("send");
    let other = next(&b);
    assert_eq!(other.packets[1], bin(b"other"));
}

#[test]
fn reply_goes_straight_back_to_the_sender() {
    let (a, b) = (node(), node());
    link(&a, &b, &[b.id()], &[a.id()]);
    a.send(vec![bin(b"ping")]).expect("send");
    let ping = next(&b);
    b.reply(&ping, vec![bin(b"pong")]).expect("reply");

    let pong = next(&a);
    assert_eq!(pong.packets[1], bin(b"pong"));
    assert_eq!(pong.sub_flag(), Some(SubFlag::Whisper));
    assert_eq!(pong.msg_type, u64::from(MainFlag::Whisper.value()));
    assert_eq!(&pong.sender, b.id());
}

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
