//! The event stream handed out by [`MeshSocket::events`](crate::MeshSocket::events).

use std::pin::Pin;
use std::task::{Context, Poll};

use mesh_proto::mesh::Event;

/// The mesh's [`Event`]s from the moment of subscription: peers up and down,
/// messages queued, rejections, failed dials. Read it with
/// [`recv`](Events::recv) or as a [`Stream`](futures_core::Stream). It ends
/// when the socket is closed.
///
/// A subscriber that falls [`EVENT_QUEUE`](mesh_host::EVENT_QUEUE)
/// (1,024) events behind misses the newer ones until it catches up; the mesh
/// itself never waits for it.
#[derive(Debug)]
pub struct Events {
    /// Boxed: a channel's receiver must be pinned to be polled as a stream.
    rx: Pin<Box<async_channel::Receiver<Event>>>,
}

impl Events {
    pub(crate) fn new(rx: async_channel::Receiver<Event>) -> Events {
        Events { rx: Box::pin(rx) }
    }

    /// The next event; `None` once the socket is closed and all were read.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await.ok()
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    /// Whether the stream has ended: the socket is closed and every event
    /// was read.
    pub fn is_closed(&self) -> bool {
        self.rx.is_closed() && self.rx.is_empty()
    }
}

impl futures_core::Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.as_mut().poll_next(cx)
    }
}
