//! [`Events`]: a node's event subscription, whatever its runtime.

use mesh_proto::mesh::Event;

/// A node's events from the moment it subscribed ([`Node::events`](crate::Node::events)).
#[derive(Debug)]
pub enum Events {
    /// mesh-tokio's stream.
    Tokio(mesh_tokio::Events),
    /// mesh-async-std's stream.
    AsyncStd(mesh_async_std::Events),
    /// mesh-blocking's, forwarded by a thread of its own (its `recv`
    /// blocks), which ends with the stream or at the first event after
    /// this is dropped.
    Blocking(async_channel::Receiver<Event>),
}

impl Events {
    /// Subscribes to a blocking socket's events.
    pub(crate) fn forward(events: mesh_blocking::Events) -> Events {
        let (tx, rx) = async_channel::unbounded();
        std::thread::spawn(move || {
            while let Some(e) = events.recv() {
                if tx.send_blocking(e).is_err() {
                    break;
                }
            }
        });
        Events::Blocking(rx)
    }

    /// The next event; `None` once the stream has ended (the node closed).
    /// Cancel-safe: an event is never lost to a dropped call.
    pub async fn recv(&mut self) -> Option<Event> {
        match self {
            Events::Tokio(e) => e.recv().await,
            Events::AsyncStd(e) => e.recv().await,
            Events::Blocking(rx) => rx.recv().await.ok(),
        }
    }
}
