//! Receiving between real sockets on loopback: a cancelled `next` loses
//! nothing.
//! (Broadcast, whisper, handler and reply scenarios run on every adapter in
//! the conformance suite, `mesh_tests::conformance`.)

mod common;

use std::time::Duration;

use common::{link, node, within};
use mesh_tokio::Value;

#[tokio::test]
async fn a_cancelled_next_loses_nothing() {
    let (a, b) = (node().await, node().await);
    link(&a, &b, &[b.id()], &[a.id()]).await;
    // A `next()` polled while nothing is queued waits; dropped, it took
    // nothing (messages are taken only by the poll that returns them).
    let mut pending = Box::pin(b.next());
    std::future::poll_fn(|cx| {
        assert!(pending.as_mut().poll(cx).is_pending());
        std::task::Poll::Ready(())
    })
    .await;
    let mut events = b.events();
    for i in 0u64..5 {
        a.send(vec![Value::from(i)]).await.expect("send");
    }
    let mut queued = 0;
    while queued < 5 {
        if let Some(mesh_tokio::Event::Message { .. }) = within(events.recv()).await {
            queued += 1;
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(pending);
    let first = within(b.next()).await.expect("queued: at once");
    assert_eq!(first.packets[1], Value::from(0u64));
    let rest: Vec<Value> = within(b.next_many(10))
        .await
        .into_iter()
        .map(|m| m.packets[1].clone())
        .collect();
    assert_eq!(rest, (1u64..5).map(Value::from).collect::<Vec<_>>());
}
