//! [`EventKind`]: which events a py2p-style callback (`on`, `once`) gets.

use mesh_proto::mesh::Event;

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
