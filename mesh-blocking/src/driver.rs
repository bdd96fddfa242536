//! The driver: one thread owns the [`HostDriver`] and with it the
//! [`Mesh`](mesh_proto::mesh::Mesh). It reads one channel that carries both
//! user commands and I/O events and hands each to the host driver; the next
//! deadline is the `recv_timeout` of its next read. It never blocks on
//! anything else.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Instant;

use mesh_host::{self, HostDriver};

use crate::command::Input;
use crate::conn::Stream;
use crate::runtime::Threads;

/// What the accept thread, dialers and connection threads tell the driver.
pub(crate) type IoEvent = mesh_host::IoEvent<Stream>;

pub(crate) struct Driver {
    // First, so it is dropped first: late senders fail instead of waiting.
    rx: Receiver<Input>,
    rt: Threads,
    host: HostDriver<Threads>,
}

impl Driver {
    pub(crate) fn new(host: HostDriver<Threads>, rx: Receiver<Input>, rt: Threads) -> Driver {
        Driver { rx, rt, host }
    }

    pub(crate) fn run(mut self) {
        while !self.host.is_done() {
            let input = match self.host.next_deadline() {
                Some(at) => self
                    .rx
                    .recv_timeout(at.saturating_duration_since(Instant::now())),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            let input = match input {
                Ok(Input::Cmd(cmd)) => mesh_host::Input::Command(cmd),
                Ok(Input::Io(event)) => {
                    if let IoEvent::WriterDone { .. } = event {
                        self.rt.writers = self.rt.writers.saturating_sub(1);
                    }
                    mesh_host::Input::Io(event)
                }
                Ok(Input::HandlesDropped) => mesh_host::Input::HandlesDropped,
                Ok(Input::ListenerDone) => {
                    self.rt.listener_alive = false;
                    mesh_host::Input::Wake
                }
                // The driver holds a sender: only the deadline can end a wait.
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    mesh_host::Input::Wake
                }
            };
            self.host.step(&mut self.rt, input, Instant::now());
            self.rt.answer_close_when_done();
        }
        tracing::debug!(id = %self.host.mesh().id(), "driver done");
    }
}
