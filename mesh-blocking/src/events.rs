//! The event receiver handed out by [`MeshSocket::events`](crate::MeshSocket::events).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use futures_lite::future;

use mesh_proto::mesh::Event;

/// The mesh's [`Event`]s from the moment of subscription: peers up and down,
/// messages queued, rejections, failed dials. Read it with
/// [`recv`](Events::recv), [`recv_timeout`](Events::recv_timeout) or as a
/// blocking [`Iterator`]; it ends when the socket is closed.
///
/// A subscriber that falls 1,024 events behind
/// (`mesh_host::EVENT_QUEUE`, 1,024) misses the newer ones
/// until it catches up; the mesh itself never waits for it.
#[derive(Debug)]
pub struct Events {
    rx: Mutex<mesh_async_std::Events>,
}

impl Events {
    pub(crate) fn new(rx: mesh_async_std::Events) -> Events {
        Events { rx: Mutex::new(rx) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut mesh_async_std::Events) -> T) -> T {
        f(&mut self.rx.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Waits for the next event; `None` once the socket is closed and every
    /// event was read.
    pub fn recv(&self) -> Option<Event> {
        self.with(|rx| future::block_on(rx.recv()))
    }

    /// Waits at most `timeout` for the next event: `None` if nothing came
    /// in time or the socket is closed and every event was read (tell them
    /// apart with [`is_closed`](Self::is_closed)), as
    /// [`MeshSocket::recv_timeout`](crate::MeshSocket::recv_timeout) answers.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        self.with(|rx| {
            future::block_on(future::or(rx.recv(), async {
                async_io::Timer::after(timeout).await;
                None
            }))
        })
    }

    /// Whether the stream has ended: the socket is closed and every event
    /// was read.
    pub fn is_closed(&self) -> bool {
        self.with(|rx| rx.is_closed())
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_recv(&self) -> Option<Event> {
        self.with(mesh_async_std::Events::try_recv)
    }
}

impl Iterator for Events {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.recv()
    }
}
