//! [`Shared`]: what a driver shares with its user handles without a
//! channel in between: the send gate and the inbox.

use std::sync::Arc;

use crate::{Inbox, SendGate};

/// A driver's state its handles read and write directly
/// ([`HostDriver::shared`](crate::HostDriver::shared)).
#[derive(Clone, Debug, Default)]
pub struct Shared {
    /// Open while sends are taken at once ([`SendGate`]).
    pub gate: Arc<SendGate>,
    /// Received messages ([`Inbox`]).
    pub inbox: Arc<Inbox>,
}
