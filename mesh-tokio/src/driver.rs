//! The driver: one task owns the [`HostDriver`] and with it the
//! [`Mesh`](mesh_proto::mesh::Mesh). It waits on commands from the user
//! handles, I/O events from the connection tasks and its one timer, and
//! hands each to the host driver, which does the rest.

use std::future::poll_fn;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};
use tracing::Instrument;

use mesh_host::{self, HandshakeSlots, HostDriver, Input, Timeouts, Turns};
use mesh_proto::mesh::Mesh;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::net::{self, Security, Stream};
use crate::runtime::Tokio;

/// I/O events waiting for the driver, at most; readers wait beyond it.
const IO_QUEUE: usize = 256;

/// What the accept loop, dialers and connection tasks tell the driver.
pub(crate) type IoEvent = mesh_host::IoEvent<Stream>;

/// A request from a [`MeshSocket`](crate::MeshSocket) to the driver.
pub(crate) type Command = mesh_host::Command<Tokio>;

pub(crate) struct Driver {
    host: HostDriver<Tokio>,
    rt: Tokio,
    cmds: mpsc::UnboundedReceiver<Command>,
    io_rx: mpsc::Receiver<IoEvent>,
}

impl Driver {
    /// Starts the accept loop and the driver; returns the command channel.
    pub(crate) fn spawn(
        mesh: Mesh,
        listener: TcpListener,
        timeouts: Timeouts,
        security: Security,
        span: tracing::Span,
    ) -> mpsc::UnboundedSender<Command> {
        let (cmd_tx, cmds) = mpsc::unbounded_channel();
        let (io_tx, io_rx) = mpsc::channel(IO_QUEUE);
        let (alive, flushed) = mpsc::channel(1);
        let slots = HandshakeSlots::new(mesh.config().max_pending_handshakes);
        let listener = tokio::spawn(
            net::accept_loop(listener, security.clone(), timeouts, slots, io_tx.clone())
                .instrument(span.clone()),
        );
        let rt = Tokio {
            io_tx,
            listener: Some(listener),
            alive: Some(alive),
            flushed: Some(flushed),
            timeouts,
            security,
        };
        let driver = Driver {
            host: HostDriver::new(mesh),
            rt,
            cmds,
            io_rx,
        };
        // Connection tasks are spawned inside it, and nest their spans in it.
        tokio::spawn(driver.run().instrument(span));
        cmd_tx
    }

    async fn run(mut self) {
        let mut timer = pin!(tokio::time::sleep(Duration::ZERO));
        let mut armed: Option<Instant> = None;
        let mut turns = Turns::default();
        while !self.host.is_done() {
            let io_first = turns.io_first();
            let input = poll_fn(|cx| {
                if io_first && let Poll::Ready(Some(e)) = self.io_rx.poll_recv(cx) {
                    return Poll::Ready(Input::Io(e));
                }
                if let Poll::Ready(c) = self.cmds.poll_recv(cx) {
                    return Poll::Ready(c.map_or(Input::HandlesDropped, Input::Command));
                }
                if !io_first && let Poll::Ready(Some(e)) = self.io_rx.poll_recv(cx) {
                    return Poll::Ready(Input::Io(e));
                }
                if armed.is_some() && timer.as_mut().poll(cx).is_ready() {
                    armed = None;
                    return Poll::Ready(Input::Wake);
                }
                Poll::Pending
            })
            .await;
            let now = Instant::now();
            turns.took(&input);
            self.host.take(&mut self.rt, input, now);
            // Everything else already waiting joins this turn.
            for _ in 1..mesh_host::TURN_INPUTS {
                let Some(input) = self.ready(&turns) else {
                    break;
                };
                turns.took(&input);
                self.host.take(&mut self.rt, input, now);
            }
            self.host.finish_turn(&mut self.rt, now);
            // The timer is touched only when the deadline moves.
            let next = self.host.next_deadline();
            if next != armed {
                if let Some(at) = next {
                    timer.as_mut().reset(at.into());
                }
                armed = next;
            }
        }
        tracing::debug!(id = %self.host.mesh().id(), "driver done");
    }

    /// An input that is ready now, commands first unless I/O's turn has come.
    fn ready(&mut self, turns: &Turns) -> Option<Input<Tokio>> {
        if self.host.is_done() {
            return None;
        }
        let io = |d: &mut Self| d.io_rx.try_recv().ok().map(Input::Io);
        let cmd = |d: &mut Self| match d.cmds.try_recv() {
            Ok(c) => Some(Input::Command(c)),
            Err(mpsc::error::TryRecvError::Disconnected) => Some(Input::HandlesDropped),
            Err(mpsc::error::TryRecvError::Empty) => None,
        };
        if turns.io_first() {
            io(self).or_else(|| cmd(self))
        } else {
            cmd(self).or_else(|| io(self))
        }
    }
}
