//! The event receiver handed out by [`MeshSocket::events`](crate::MeshSocket::events).

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use mesh_proto::mesh::Event;

/// The mesh's [`Event`]s from the moment of subscription: peers up and down,
/// messages queued, rejections, failed dials. Read it with
/// [`recv`](Events::recv), [`recv_timeout`](Events::recv_timeout) or as a
/// blocking [`Iterator`]; it ends when the socket is closed.
///
/// A subscriber that falls 1,024 events behind
/// ([`EVENT_QUEUE`](mesh_host::EVENT_QUEUE)) misses the newer ones
/// until it catches up; the mesh itself never waits for it.
#[derive(Debug)]
pub struct Events {
    rx: Receiver<Event>,
}

impl Events {
    pub(crate) fn new(rx: Receiver<Event>) -> Events {
        Events { rx }
    }

    /// Waits for the next event; `None` once the socket is closed and every
    /// event was read.
    pub fn recv(&self) -> Option<Event> {
        self.rx.recv().ok()
    }

    /// Waits at most `timeout` for the next event. `Err(Timeout)`: nothing
    /// came in time; `Err(Disconnected)`: the socket is closed and every
    /// event was read.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_recv(&self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}

/// Blocks for each event; ends when the socket is closed.
impl Iterator for Events {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.recv()
    }
}
