//! Broadcast, whisper, handlers and replies between real sockets on loopback,
//! each under async-std and under smol.

#[macro_use]
mod common;

use std::time::Duration;

use common::{bin, line, link, node, sleep, within};
use futures_lite::StreamExt;
use mesh_async_std::{Event, Handled, HandlerCx, MainFlag, Message, SubFlag, Value};

on_both!(
    broadcast_crosses_a_line_of_three,
    whisper_is_not_relayed_past_direct_peers,
    handler_answers_test_with_a_direct_whisper,
    reply_goes_straight_back_to_the_sender,
    a_cancelled_next_loses_nothing,
);

async fn broadcast_crosses_a_line_of_three() {
    let (a, b, c) = line().await;
    a.send(vec![bin(b"hello")]).await.expect("send");

    let at_c = within(c.next()).await.expect("c gets it");
    assert_eq!(at_c.packets[1], bin(b"hello"));
    assert_eq!(&at_c.sender, a.id());
    assert_eq!(at_c.msg_type, u64::from(MainFlag::Broadcast.value()));
    let at_b = within(b.next()).await.expect("b gets it");
    assert_eq!(at_b.id, at_c.id);
    assert!(b.counters().await.relayed >= 1, "b relayed it");

    // Delivered once each, never back to its origin.
    sleep(Duration::from_millis(200)).await;
    assert!(a.recv().await.is_none());
    assert!(b.recv().await.is_none());
    assert!(c.recv().await.is_none());
}

async fn whisper_is_not_relayed_past_direct_peers() {
    let (a, b, c) = line().await;
    a.whisper(vec![bin(b"secret")]).await.expect("whisper");
    a.send(vec![bin(b"marker")]).await.expect("send");

    let at_b = within(b.next()).await.expect("b gets the whisper");
    assert_eq!(at_b.packets[1], bin(b"secret"));
    assert_eq!(at_b.msg_type, u64::from(MainFlag::Whisper.value()));
    // Same stream a -> b, so had b relayed the whisper, c would see it first.
    let at_c = within(c.next()).await.expect("c gets the broadcast");
    assert_eq!(at_c.packets[1], bin(b"marker"));
    sleep(Duration::from_millis(200)).await;
    assert!(c.recv().await.is_none(), "c must never see the whisper");
}

async fn handler_answers_test_with_a_direct_whisper() {
    let (a, b) = (node().await, node().await);
    link(&a, &b, &[b.id()], &[a.id()]).await;
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

    a.send(vec![bin(b"test")]).await.expect("send");
    let answer = within(a.next()).await.expect("an answer");
    assert_eq!(answer.packets[1], bin(b"success"));
    assert_eq!(&answer.sender, b.id());
    assert_eq!(answer.msg_type, u64::from(MainFlag::Whisper.value()));
    // The handler consumed it; other messages still reach the queue.
    assert!(b.recv().await.is_none());
    a.send(vec![bin(b"other")]).await.expect("send");
    let other = within(b.next()).await.expect("passed through");
    assert_eq!(other.packets[1], bin(b"other"));
}

async fn reply_goes_straight_back_to_the_sender() {
    let (a, b) = (node().await, node().await);
    link(&a, &b, &[b.id()], &[a.id()]).await;
    a.send(vec![bin(b"ping")]).await.expect("send");
    let ping = within(b.next()).await.expect("ping");
    b.reply(&ping, vec![bin(b"pong")]).await.expect("reply");

    let pong = within(a.next()).await.expect("pong");
    assert_eq!(pong.packets[1], bin(b"pong"));
    assert_eq!(pong.sub_flag(), Some(SubFlag::Whisper));
    assert_eq!(pong.msg_type, u64::from(MainFlag::Whisper.value()));
    assert_eq!(&pong.sender, b.id());
}

async fn a_cancelled_next_loses_nothing() {
    let (a, b) = (node().await, node().await);
    link(&a, &b, &[b.id()], &[a.id()]).await;
    let mut events = b.events();
    // Poll a `next()` once while the queue is empty: it waits in the driver.
    let mut pending = Box::pin(b.next());
    std::future::poll_fn(|cx| {
        assert!(pending.as_mut().poll(cx).is_pending(), "nothing sent yet");
        std::task::Poll::Ready(())
    })
    .await;
    for i in 0u64..5 {
        a.send(vec![Value::from(i)]).await.expect("send");
    }
    // `Events` is a futures `Stream`. The driver hands message 0 to the
    // waiting `next()` as it queues it, before the next message's event.
    let mut queued = 0;
    while queued < 5 {
        if let Some(Event::Message { .. }) = within(events.next()).await {
            queued += 1;
        }
    }
    // Dropped unread: message 0 must go back to the front of the queue.
    drop(pending);
    let got: Vec<Value> = b
        .recv_many(10)
        .await
        .into_iter()
        .map(|m| m.packets[1].clone())
        .collect();
    assert_eq!(got, (0u64..5).map(Value::from).collect::<Vec<_>>());
}
