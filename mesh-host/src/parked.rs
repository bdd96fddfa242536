//! [`Parked`]: accepted connections waiting for a pending-handshake place.
//!
//! The core refuses a connection accepted while `max_pending_handshakes`
//! others wait for their handshake. But when many honest peers connect at
//! once (a hub restarting, its old peers all dialing back), their
//! handshakes already sit in their sockets, unread only because the driver
//! takes the accepts first. So over the bound the driver parks the accepted
//! stream (no reader, no buffer: a descriptor) and hands it to the core as
//! soon as a handshake completes. At most `max_inbound` are parked (past
//! that the core refuses as before), each for at most a handshake timeout:
//! a flood of connections that never handshake still holds only bounded
//! resources, and is closed.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Parked streams, oldest first.
#[derive(Debug)]
pub(crate) struct Parked<S> {
    queue: VecDeque<(S, SocketAddr, Instant)>,
}

impl<S> Default for Parked<S> {
    fn default() -> Self {
        Parked {
            queue: VecDeque::new(),
        }
    }
}

impl<S> Parked<S> {
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn push(&mut self, stream: S, remote: SocketAddr, now: Instant) {
        self.queue.push_back((stream, remote, now));
    }

    pub(crate) fn pop(&mut self) -> Option<(S, SocketAddr)> {
        self.queue.pop_front().map(|(s, r, _)| (s, r))
    }

    /// When the oldest was parked.
    pub(crate) fn oldest(&self) -> Option<Instant> {
        self.queue.front().map(|(_, _, t)| *t)
    }

    /// Drops (so closes) the streams parked for `timeout` or longer; how
    /// many.
    pub(crate) fn expire(&mut self, now: Instant, timeout: Duration) -> u64 {
        let mut expired = 0;
        while self
            .queue
            .front()
            .is_some_and(|(_, _, t)| now.saturating_duration_since(*t) >= timeout)
        {
            if let Some((_, remote, _)) = self.queue.pop_front() {
                tracing::debug!(%remote, "parked connection closed: no handshake place in time");
                expired += 1;
            }
        }
        expired
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
    }
}
