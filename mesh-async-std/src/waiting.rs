//! Work waiting on the core: sends parked while the mesh is backpressured,
//! `next()` calls parked until a message arrives, and messages given back by
//! cancelled receives.

use std::collections::VecDeque;
use std::time::Instant;

use mesh_proto::mesh::{Mesh, Message};

use crate::command::{Outgoing, Reply};

#[derive(Default)]
pub(crate) struct Waiting {
    /// Sends waiting for backpressure to ease, in order.
    parked: VecDeque<Outgoing>,
    /// Receives waiting for a message: (most to take, answer).
    receivers: VecDeque<(usize, Reply<Vec<Message>>)>,
    /// Messages given back by cancelled receives; served before the core's queue.
    stash: VecDeque<Message>,
}

impl Waiting {
    /// Queues a send behind the ones already waiting.
    pub(crate) fn park(&mut self, out: Outgoing) {
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
                    let _ = reply.try_send(mesh.send(packets, flag, now));
                }
                Outgoing::Reply {
                    msg,
                    packets,
                    reply,
                } => {
                    let _ = reply.try_send(mesh.reply(&msg, packets, now));
                }
            }
        }
        if !self.parked.is_empty() {
            tracing::trace!(parked = self.parked.len(), "sends wait for backpressure");
        }
    }

    /// Answers a receive at once, or parks it (`wait`, nothing queued, open).
    pub(crate) fn recv(
        &mut self,
        mesh: &mut Mesh,
        max: usize,
        wait: bool,
        reply: Reply<Vec<Message>>,
    ) {
        let msgs = self.take(mesh, max);
        if msgs.is_empty() && wait && !mesh.is_closed() {
            self.receivers.push_back((max, reply));
        } else {
            self.answer(reply, msgs);
        }
    }

    /// Hands messages to parked receives, oldest first (after close, each
    /// gets an empty answer).
    pub(crate) fn serve_receivers(&mut self, mesh: &mut Mesh) {
        while let Some((max, reply)) = self.receivers.pop_front() {
            if reply.is_closed() {
                continue;
            }
            let msgs = self.take(mesh, max);
            if msgs.is_empty() && !mesh.is_closed() {
                self.receivers.push_front((max, reply));
                return;
            }
            self.answer(reply, msgs);
        }
    }

    /// Puts messages back at the front, in their order.
    pub(crate) fn unrecv(&mut self, msgs: Vec<Message>) {
        for m in msgs.into_iter().rev() {
            self.stash.push_front(m);
        }
    }

    /// Sends `msgs` to a receive; if it stopped waiting, keeps them.
    fn answer(&mut self, reply: Reply<Vec<Message>>, msgs: Vec<Message>) {
        if let Err(e) = reply.try_send(msgs) {
            self.unrecv(e.into_inner());
        }
    }

    /// Up to `max` messages: given-back ones first, then the core's queue.
    fn take(&mut self, mesh: &mut Mesh, max: usize) -> Vec<Message> {
        let mut msgs: Vec<Message> = self.stash.drain(..max.min(self.stash.len())).collect();
        if msgs.len() < max {
            msgs.extend(mesh.recv_many(max - msgs.len()));
        }
        msgs
    }
}
