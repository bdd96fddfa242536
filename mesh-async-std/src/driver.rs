//! The driver: one task owns the [`HostDriver`] and with it the
//! [`Mesh`](mesh_proto::mesh::Mesh). It waits on commands from the user
//! handles, I/O events from the connection tasks and its one timer, and
//! hands each to the host driver, which does the rest.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::Instrument;

use async_io::Timer;
use async_net::TcpListener;
use futures_lite::StreamExt;
use mesh_host::{self, HandshakeSlots, HostDriver, Shared, Source, Sources, Timeouts};
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
    src: SmolSources,
}

/// What the driver waits on. Boxed: a channel's receiver must be pinned to
/// be polled as a stream.
struct SmolSources {
    cmds: Pin<Box<async_channel::Receiver<Command>>>,
    io_rx: Pin<Box<async_channel::Receiver<IoEvent>>>,
    ctl_rx: Pin<Box<async_channel::Receiver<IoEvent>>>,
    timer: Timer,
}

impl Sources<Smol> for SmolSources {
    fn is_empty(&self, source: Source) -> bool {
        match source {
            Source::Ctl => self.ctl_rx.is_empty(),
            Source::Io => self.io_rx.is_empty(),
            Source::Cmd => self.cmds.is_empty(),
        }
    }
    fn poll_ctl(&mut self, cx: &mut Context<'_>) -> Poll<Option<IoEvent>> {
        self.ctl_rx.poll_next(cx)
    }
    fn poll_io(&mut self, cx: &mut Context<'_>) -> Poll<Option<IoEvent>> {
        self.io_rx.poll_next(cx)
    }
    fn poll_cmd(&mut self, cx: &mut Context<'_>) -> Poll<Option<Command>> {
        self.cmds.poll_next(cx)
    }
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.timer).poll(cx).map(drop)
    }
    fn set_timer(&mut self, at: Instant) {
        self.timer.set_at(at);
    }
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
    ) -> (async_channel::Sender<Command>, Shared) {
        let (cmd_tx, cmds) = async_channel::unbounded();
        let (io_tx, io_rx) = async_channel::bounded(IO_QUEUE);
        let (ctl_tx, ctl_rx) = async_channel::unbounded();
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
            ctl_tx,
            listener: Some(listener),
            alive: Some(alive),
            flushed: Some(flushed),
            timeouts,
            security,
        };
        let mut host = HostDriver::new(mesh);
        host.set_reply_to(mesh_host::reply_to::<Smol>(&cmd_tx));
        let shared = host.shared();
        let src = SmolSources {
            cmds: Box::pin(cmds),
            io_rx: Box::pin(io_rx),
            ctl_rx: Box::pin(ctl_rx),
            timer: Timer::never(),
        };
        let driver = Driver { host, rt, src };
        // Connection tasks are spawned inside it, and nest their spans in it.
        spawner.spawn(driver.run().instrument(span)).detach();
        (cmd_tx, shared)
    }

    async fn run(mut self) {
        mesh_host::run(&mut self.host, &mut self.rt, &mut self.src).await;
    }
}
