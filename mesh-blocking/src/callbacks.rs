//! py2p-style callbacks: [`MeshSocket::on`](crate::MeshSocket::on) and
//! [`once`](crate::MeshSocket::once) run a function for each event of a
//! kind, on a thread of its own fed by an [`Events`] subscription.

use std::io;
use std::sync::{Arc, Weak};

use mesh_proto::mesh::Event;

use crate::events::Events;
use crate::socket::{Inner, MeshSocket};

/// The kinds of [`Event`], to pick which ones a callback gets. py2p's
/// `'connect'` is [`Connected`](EventKind::Connected) and its `'message'`
/// is [`Message`](EventKind::Message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// [`Event::Connected`]: the routing table got its first peer.
    Connected,
    /// [`Event::PeerUp`].
    PeerUp,
    /// [`Event::PeerDown`].
    PeerDown,
    /// [`Event::Message`]: a message was queued for `recv`.
    Message,
    /// [`Event::Rejected`].
    Rejected,
    /// [`Event::ProtocolViolation`].
    ProtocolViolation,
    /// [`Event::Lagged`].
    Lagged,
    /// [`Event::DialFailed`].
    DialFailed,
}

impl EventKind {
    /// The kind of `event` (`None` for kinds newer than this enum).
    pub fn of(event: &Event) -> Option<EventKind> {
        Some(match event {
            Event::Connected => EventKind::Connected,
            Event::PeerUp { .. } => EventKind::PeerUp,
            Event::PeerDown { .. } => EventKind::PeerDown,
            Event::Message { .. } => EventKind::Message,
            Event::Rejected { .. } => EventKind::Rejected,
            Event::ProtocolViolation { .. } => EventKind::ProtocolViolation,
            Event::Lagged { .. } => EventKind::Lagged,
            Event::DialFailed { .. } => EventKind::DialFailed,
            _ => return None,
        })
    }
}

/// Runs `callback` on a new thread for every event of `kind` (all of them
/// when `once` is false, else the first) until the socket closes. The thread
/// holds the socket weakly, so it never keeps it open.
pub(crate) fn spawn(
    inner: &Arc<Inner>,
    events: Events,
    kind: EventKind,
    once: bool,
    mut callback: impl FnMut(&MeshSocket, &Event) + Send + 'static,
) -> io::Result<()> {
    let weak: Weak<Inner> = Arc::downgrade(inner);
    crate::spawn(format!("mesh-on-{kind:?}"), move || {
        for event in events {
            if EventKind::of(&event) != Some(kind) {
                continue;
            }
            let Some(inner) = weak.upgrade() else {
                return;
            };
            callback(&MeshSocket::from_inner(inner), &event);
            if once {
                return;
            }
        }
    })
}
