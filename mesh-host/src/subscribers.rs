//! The event subscribers of one node: every event goes to each of them
//! without waiting; one that falls behind misses events (logged once per
//! stretch), one that is gone is forgotten.

use std::fmt;

use mesh_proto::mesh::Event;

use crate::{Channels, Publish};

pub(crate) struct Subscribers<C: Channels> {
    /// Each subscriber with whether it is dropping events.
    all: Vec<(C::Subscriber, bool)>,
}

impl<C: Channels> Default for Subscribers<C> {
    fn default() -> Self {
        Subscribers { all: Vec::new() }
    }
}

impl<C: Channels> fmt::Debug for Subscribers<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Subscribers({})", self.all.len())
    }
}

impl<C: Channels> Subscribers<C> {
    pub(crate) fn add(&mut self, subscriber: C::Subscriber) {
        self.all.push((subscriber, false));
    }

    /// Dropping the senders ends every subscriber's stream.
    pub(crate) fn clear(&mut self) {
        self.all.clear();
    }

    pub(crate) fn publish(&mut self, event: Event) {
        tracing::debug!(?event, "event");
        self.all
            .retain_mut(|(s, behind)| match C::publish(s, event.clone()) {
                Publish::Sent => {
                    *behind = false;
                    true
                }
                Publish::Full => {
                    if !*behind {
                        tracing::warn!("an event subscriber is behind: dropping its events");
                    }
                    *behind = true;
                    true
                }
                Publish::Gone => false,
            });
    }
}
