//! Receiving between real sockets on loopback, under async-std and under
//! smol: a cancelled `next` loses nothing.
//! (Broadcast, whisper, handler and reply scenarios run on every adapter in
//! the conformance suite, `mesh_tests::conformance`.)

#[macro_use]
mod common;

use common::{link, node, within};
use futures_lite::StreamExt;
use mesh_async_std::{Event, Value};

on_both!(a_cancelled_next_loses_nothing,);

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
