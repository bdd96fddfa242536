//! `on`/`once` callbacks, the message stream, `recv_timeout` and
//! `msg.reply` on real sockets; neither a callback nor a message keeps its
//! node open.

mod common;

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use common::{link, node, wait_routes, within};
use futures_core::Stream;
use mesh_tokio::{EventKind, Value, packets};

#[tokio::test]
async fn callbacks_the_message_stream_and_recv_timeout() {
    let (a, b) = (node().await, node().await);
    let (on_tx, mut on_rx) = tokio::sync::mpsc::unbounded_channel();
    b.on(EventKind::Message, move |sock, _| {
        let _ = on_tx.send(sock.id().clone());
    });
    let (once_tx, mut once_rx) = tokio::sync::mpsc::unbounded_channel();
    b.once(EventKind::PeerUp, move |_, _| {
        let _ = once_tx.send(());
    });
    link(&a, &b, &[b.id()], &[a.id()]).await;
    assert_eq!(within(once_rx.recv()).await, Some(()));
    assert!(
        b.recv_timeout(Duration::from_millis(50)).await.is_none(),
        "nothing yet"
    );

    for i in 0u64..3 {
        a.send(packets![i]).await.expect("send");
    }
    let mut stream = b.messages();
    for i in 0u64..3 {
        let next = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx));
        let msg = within(next).await.expect("a message");
        assert_eq!(msg.packets[1], Value::from(i));
    }
    for _ in 0..3 {
        assert_eq!(within(on_rx.recv()).await.as_ref(), Some(b.id()));
    }

    // py2p's msg.reply: the message answers its sender itself.
    let mut from_a = a.messages();
    a.send(packets!["question"]).await.expect("send");
    let question = within(poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)))
        .await
        .expect("question");
    question.reply(packets!["answer"]).expect("queued");
    let answer = within(poll_fn(|cx| Pin::new(&mut from_a).poll_next(cx)))
        .await
        .expect("answer");
    assert_eq!(answer.packets[1], Value::from("answer"));
    assert_eq!(&answer.sender, b.id());
    assert_eq!(
        within(on_rx.recv()).await.as_ref(),
        Some(b.id()),
        "the question's"
    );

    // A second peer: `once` does not fire again.
    let c = node().await;
    link(&c, &b, &[b.id()], &[a.id(), c.id()]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(once_rx.try_recv().is_err());

    // The callbacks hold no handle, nor does a message: dropping b's closes it.
    drop(b);
    wait_routes(&a, &[]).await;
    assert_eq!(
        question.reply(packets!["late"]),
        Err(mesh_tokio::SendError::Closed)
    );
    assert_eq!(within(on_rx.recv()).await, None, "the callback task ended");
}
