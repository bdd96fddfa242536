//! Work waiting on the core: sends parked while the mesh is backpressured,
//! and receives parked until a message arrives or their deadline passes.

use std::collections::VecDeque;
use std::sync::mpsc::Sender;
use std::time::Instant;

use mesh_proto::mesh::{Mesh, Message};

use crate::command::Outgoing;

/// A receive waiting for a message.
struct Receiver {
    max: usize,
    until: Option<Instant>,
    reply: Sender<Vec<Message>>,
}

#[derive(Default)]
pub(crate) struct Waiting {
    /// Sends waiting for backpressure to ease, in order.
    parked: VecDeque<Outgoing>,
    /// Receives waiting for a message, in order.
    receivers: VecDeque<Receiver>,
    /// Messages whose receiver was gone: served before the core's queue.
    stash: VecDeque<Message>,
}

impl Waiting {
    /// Queues a send behind the ones already waiting.
    pub(crate) fn park(&mut self, out: Outgoing) {
        self.parked.push_back(out);
    }

    /// Performs parked sends in order while the mesh takes them (after close,
    /// the core answers each with `Closed`).
    pub(crate) fn send_parked(&mut self, mesh: &mut Mesh, now: Instant) {
        while mesh.is_closed() || !mesh.is_backpressured() {
            match self.parked.pop_front() {
                None => return,
                Some(Outgoing::Send {
                    packets,
                    flag,
                    reply,
                }) => {
                    let _ = reply.send(mesh.send(packets, flag, now));
                }
                Some(Outgoing::Reply {
                    msg,
                    packets,
                    reply,
                }) => {
                    let _ = reply.send(mesh.reply(&msg, packets, now));
                }
            }
        }
        if !self.parked.is_empty() {
            tracing::trace!(parked = self.parked.len(), "sends wait for backpressure");
        }
    }

    /// Queues a receive; [`serve`](Self::serve) answers it.
    pub(crate) fn recv(&mut self, max: usize, until: Option<Instant>, reply: Sender<Vec<Message>>) {
        self.receivers.push_back(Receiver { max, until, reply });
    }

    /// Answers receives in order: with messages while there are some, with
    /// nothing once their deadline passed or the mesh is closed. The others
    /// keep waiting.
    pub(crate) fn serve(&mut self, mesh: &mut Mesh, now: Instant) {
        let mut i = 0;
        while i < self.receivers.len() {
            let r = &self.receivers[i];
            let (max, expired) = (r.max, r.until.is_some_and(|t| t <= now));
            let msgs = self.take(mesh, max);
            if msgs.is_empty() && !expired && !mesh.is_closed() {
                i += 1;
                continue;
            }
            if let Some(r) = self.receivers.remove(i)
                && let Err(gone) = r.reply.send(msgs)
            {
                self.unrecv(gone.0);
            }
        }
    }

    /// The earliest deadline of a waiting receive.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.receivers.iter().filter_map(|r| r.until).min()
    }

    /// Puts messages back at the front, in their order.
    fn unrecv(&mut self, msgs: Vec<Message>) {
        for m in msgs.into_iter().rev() {
            self.stash.push_front(m);
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
