//! Sends parked while the mesh is backpressured, in order.

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use mesh_proto::mesh::Mesh;

use crate::{Channels, Outgoing};

/// The sends a driver holds back until the core takes them.
pub(crate) struct Waiting<C: Channels> {
    /// Sends waiting for backpressure to ease, in order.
    parked: VecDeque<Outgoing<C>>,
}

impl<C: Channels> Default for Waiting<C> {
    fn default() -> Self {
        Waiting {
            parked: VecDeque::new(),
        }
    }
}

impl<C: Channels> fmt::Debug for Waiting<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiting")
            .field("parked", &self.parked.len())
            .finish()
    }
}

impl<C: Channels> Waiting<C> {
    /// Queues a send behind the ones already waiting.
    pub(crate) fn park(&mut self, out: Outgoing<C>) {
        self.parked.push_back(out);
    }

    /// Performs parked sends in order while the mesh takes them (after close,
    /// the core answers each with `Closed`). Abandoned ones are not sent.
    pub(crate) fn send_parked(&mut self, mesh: &mut Mesh, now: Instant) {
        while mesh.is_closed() || !mesh.is_backpressured() {
            let Some(out) = self.parked.pop_front() else {
                return;
            };
            if out.abandoned() {
                continue;
            }
            match out {
                Outgoing::Send {
                    packets,
                    flag,
                    reply,
                } => {
                    let _ = C::reply(reply, mesh.send(packets, flag, now));
                }
                Outgoing::Reply {
                    msg,
                    packets,
                    reply,
                } => {
                    let sent = mesh.reply(&msg, packets, now);
                    match reply {
                        Some(reply) => {
                            let _ = C::reply(reply, sent);
                        }
                        None => {
                            if let Err(error) = sent {
                                tracing::debug!(%error, "a msg.reply failed");
                            }
                        }
                    }
                }
                Outgoing::Prepared { msg, reply } => {
                    let sent = mesh.send_prepared(msg, now);
                    match reply {
                        Some(reply) => {
                            let _ = C::reply(reply, sent);
                        }
                        // Nobody waits: the handle returned the id already.
                        None => {
                            if let Err(error) = sent {
                                tracing::debug!(%error, "a send queued without an answer failed");
                            }
                        }
                    }
                }
            }
        }
        if !self.parked.is_empty() {
            tracing::trace!(parked = self.parked.len(), "sends wait for backpressure");
        }
    }

    /// Whether sends wait for backpressure to ease.
    pub(crate) fn has_parked(&self) -> bool {
        !self.parked.is_empty()
    }
}
