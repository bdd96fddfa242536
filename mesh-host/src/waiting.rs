//! Work waiting on the core: sends parked while the mesh is backpressured,
//! receives parked until a message arrives (or their deadline passes), and
//! messages given back by receives that were cancelled.

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use mesh_proto::mesh::{Mesh, Message};

use crate::{Channels, Outgoing, Wait};

/// A receive waiting for a message.
struct Receiver<C: Channels> {
    max: usize,
    wait: Wait,
    reply: C::Reply<Vec<Message>>,
}

/// The sends and receives a driver holds back until the core can serve them.
pub(crate) struct Waiting<C: Channels> {
    /// Sends waiting for backpressure to ease, in order.
    parked: VecDeque<Outgoing<C>>,
    /// Receives waiting for a message, in order.
    receivers: VecDeque<Receiver<C>>,
    /// Messages given back (cancelled receives, callers gone): served before
    /// the core's queue.
    stash: VecDeque<Message>,
}

impl<C: Channels> Default for Waiting<C> {
    fn default() -> Self {
        Waiting {
            parked: VecDeque::new(),
            receivers: VecDeque::new(),
            stash: VecDeque::new(),
        }
    }
}

impl<C: Channels> fmt::Debug for Waiting<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiting")
            .field("parked", &self.parked.len())
            .field("receivers", &self.receivers.len())
            .field("stash", &self.stash.len())
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
                    let _ = C::reply(reply, mesh.reply(&msg, packets, now));
                }
            }
        }
        if !self.parked.is_empty() {
            tracing::trace!(parked = self.parked.len(), "sends wait for backpressure");
        }
    }

    /// Answers a receive at once, or parks it (nothing queued, the mesh
    /// open, and `wait` not over yet).
    pub(crate) fn recv(
        &mut self,
        mesh: &mut Mesh,
        max: usize,
        wait: Wait,
        reply: C::Reply<Vec<Message>>,
        now: Instant,
    ) {
        let msgs = self.take(mesh, max);
        if msgs.is_empty() && !wait.is_over(now) && !mesh.is_closed() {
            self.receivers.push_back(Receiver { max, wait, reply });
        } else {
            self.answer(reply, msgs);
        }
    }

    /// Answers parked receives in order: with messages while there are
    /// some, with nothing once their deadline passed or the mesh is closed.
    /// The others keep waiting; those whose caller gave up are dropped.
    pub(crate) fn serve(&mut self, mesh: &mut Mesh, now: Instant) {
        let mut i = 0;
        while i < self.receivers.len() {
            let r = &self.receivers[i];
            if C::gave_up(&r.reply) {
                self.receivers.remove(i);
                continue;
            }
            let (max, over) = (r.max, r.wait.is_over(now));
            let msgs = self.take(mesh, max);
            if msgs.is_empty() && !over && !mesh.is_closed() {
                i += 1;
                continue;
            }
            if let Some(r) = self.receivers.remove(i) {
                self.answer(r.reply, msgs);
            }
        }
    }

    /// The earliest deadline of a waiting receive.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.receivers.iter().filter_map(|r| r.wait.until()).min()
    }

    /// Puts messages back at the front, in their order.
    pub(crate) fn unrecv(&mut self, msgs: Vec<Message>) {
        for m in msgs.into_iter().rev() {
            self.stash.push_front(m);
        }
    }

    /// Sends `msgs` to a receive; if it stopped waiting, keeps them.
    fn answer(&mut self, reply: C::Reply<Vec<Message>>, msgs: Vec<Message>) {
        if let Err(msgs) = C::reply(reply, msgs) {
            self.unrecv(msgs);
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
