//! The event stream handed out by [`MeshSocket::events`](crate::MeshSocket::events).

use std::pin::Pin;
use std::task::{Context, Poll};

use mesh_proto::mesh::Event;
use tokio::sync::mpsc;

/// Events a subscriber has not read yet, at most; past it the newest are
/// dropped for that subscriber (and logged).
pub(crate) use mesh_host::EVENT_QUEUE;

/// The mesh's [`Event`]s from the moment of subscription: peers up and down,
/// messages queued, rejections, failed dials. Read it with
/// [`recv`](Events::recv) or as a [`Stream`](futures_core::Stream). It ends
/// when the socket is closed.
///
/// A subscriber that falls 1,024 events behind misses
/// the newer ones until it catches up; the mesh itself never waits for it.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<Event>,
}

impl Events {
    pub(crate) fn new(rx: mpsc::Receiver<Event>) -> Events {
        Events { rx }
    }

    /// The next event; `None` once the socket is closed and all were read.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}

impl futures_core::Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}
