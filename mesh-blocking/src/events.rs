//! The event receiver handed out by [`MeshSocket::events`](crate::MeshSocket::events).

use std::sync::mpsc::RecvTimeoutError;
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

    /// Waits at most `timeout` for the next event. `Err(Timeout)`: nothing
    /// came in time; `Err(Disconnected)`: the socket is closed and every
    /// event was read.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        self.with(|rx| {
            future::block_on(future::or(
                async { rx.recv().await.ok_or(RecvTimeoutError::Disconnected) },
                async {
                    async_io::Timer::after(timeout).await;
                    Err(RecvTimeoutError::Timeout)
                },
            ))
        })
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
