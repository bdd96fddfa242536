//! The driver: one task owns the [`HostDriver`] and with it the
//! [`Mesh`](mesh_proto::mesh::Mesh). It waits on commands from the user
//! handles, I/O events from the connection tasks and its one timer, and
//! hands each to the host driver, which does the rest.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;
use tracing::Instrument;

use async_io::Timer;
use async_net::TcpListener;
use futures_lite::StreamExt;
use mesh_host::{self, HandshakeSlots, HostDriver, Input, Timeouts, Turns};
use mesh_proto::mesh::Mesh;

use crate::net::{self, Security, Stream};
use crate::runtime::Smol;
use crate::spawn::Spawner;

/// I/O events waiting for the driver, at most; readers wait beyond it.
const IO_QUEUE: usize = 256;

/// What the accept loop, dialers and connection tasks tell the driver.
pub(crate) type IoEvent = mesh_host::IoEvent<Stream>;

/// A request from a [`MeshSocket`](crate::MeshSocket) to the driver.
pub(crate) type Command = mesh_host::Command<Smol>;

pub(crate) struct Driver {
    host: HostDriver<Smol>,
    rt: Smol,
    /// Boxed: a channel's receiver must be pinned to be polled as a stream.
    cmds: Pin<Box<async_channel::Receiver<Command>>>,
    io_rx: Pin<Box<async_channel::Receiver<IoEvent>>>,
}

impl Driver {
    /// Starts the accept loop and the driver on `spawner`; returns the
    /// command channel.
    pub(crate) fn spawn(
        mesh: Mesh,
        listener: TcpListener,
        timeouts: Timeouts,
        security: Security,
        spawner: Spawner,
        span: tracing::Span,
    ) -> async_channel::Sender<Command> {
        let (cmd_tx, cmds) = async_channel::unbounded();
        let (io_tx, io_rx) = async_channel::bounded(IO_QUEUE);
        let (alive, flushed) = async_channel::bounded(1);
        let slots = HandshakeSlots::new(mesh.config().max_pending_handshakes);
        let listener = spawner.spawn(
            net::accept_loop(
                listener,
                security.clone(),
                timeouts,
                slots,
                spawner.clone(),
                io_tx.clone(),
            )
            .instrument(span.clone()),
        );
        let rt = Smol {
            spawner: spawner.clone(),
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
            cmds: Box::pin(cmds),
            io_rx: Box::pin(io_rx),
        };
        // Connection tasks are spawned inside it, and nest their spans in it.
        spawner.spawn(driver.run().instrument(span)).detach();
        cmd_tx
    }

    async fn run(mut self) {
        let mut timer = Timer::never();
        let mut turns = Turns::default();
        while !self.host.is_done() {
            let io_first = turns.io_first();
            let input = poll_fn(|cx| {
                if io_first && let Poll::Ready(Some(e)) = self.io_rx.poll_next(cx) {
                    return Poll::Ready(Input::Io(e));
                }
                if let Poll::Ready(c) = self.cmds.poll_next(cx) {
                    return Poll::Ready(c.map_or(Input::HandlesDropped, Input::Command));
                }
                if !io_first && let Poll::Ready(Some(e)) = self.io_rx.poll_next(cx) {
                    return Poll::Ready(Input::Io(e));
                }
                if Pin::new(&mut timer).poll(cx).is_ready() {
                    return Poll::Ready(Input::Wake);
                }
                Poll::Pending
            })
            .await;
            turns.took(&input);
            self.host.step(&mut self.rt, input, Instant::now());
            match self.host.next_deadline() {
                Some(at) => timer.set_at(at),
                None => timer = Timer::never(),
            }
        }
        tracing::debug!(id = %self.host.mesh().id(), "driver done");
    }
}
