//! `on`/`once` callbacks (each on a thread of its own), the message stream
//! and `recv_timeout`, under async-std and under smol; a callback never keeps
//! its node open.

#[macro_use]
mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::{LIMIT, link, node, sleep, wait_routes, within};
use futures_lite::StreamExt;
use mesh_async_std::{EventKind, Value, packets};

on_both!(callbacks_the_message_stream_and_recv_timeout);

async fn callbacks_the_message_stream_and_recv_timeout() {
    let (a, b) = (node().await, node().await);
    let (on_tx, on_rx) = mpsc::channel();
    b.on(EventKind::Message, move |sock, _| {
        let _ = on_tx.send(sock.id().clone());
    })
    .expect("callback thread");
    let (once_tx, once_rx) = mpsc::channel();
    b.once(EventKind::PeerUp, move |_, _| {
        let _ = once_tx.send(());
    })
    .expect("callback thread");
    link(&a, &b, &[b.id()], &[a.id()]).await;
    assert_eq!(once_rx.recv_timeout(LIMIT), Ok(()));
    assert!(
        b.recv_timeout(Duration::from_millis(50)).await.is_none(),
        "nothing yet"
    );

    for i in 0u64..3 {
        a.send(packets![i]).await.expect("send");
    }
    let mut stream = b.messages();
    for i in 0u64..3 {
        let msg = within(stream.next()).await.expect("a message");
        assert_eq!(msg.packets[1], Value::from(i));
    }
    for _ in 0..3 {
        assert_eq!(on_rx.recv_timeout(LIMIT).as_ref(), Ok(b.id()));
    }

    let c = node().await;
    link(&c, &b, &[b.id()], &[a.id(), c.id()]).await;
    sleep(Duration::from_millis(50)).await;
    assert!(once_rx.try_recv().is_err(), "once fires once");

    drop(b);
    wait_routes(&a, &[]).await;
    assert_eq!(
        on_rx.recv_timeout(LIMIT),
        Err(mpsc::RecvTimeoutError::Disconnected),
        "the callback thread ended"
    );
}
