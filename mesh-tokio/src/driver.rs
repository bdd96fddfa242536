//! The driver: one task owns the [`HostDriver`] and with it the
//! [`Mesh`](mesh_proto::mesh::Mesh). It waits on commands from the user
//! handles, I/O events from the connection tasks and its one timer, and
//! hands each to the host driver, which does the rest.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tracing::Instrument;

use mesh_host::{self, HandshakeSlots, HostDriver, Shared, Source, Sources, Timeouts};
use mesh_proto::mesh::Mesh;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Sleep;

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
    src: TokioSources,
}

/// What the driver waits on.
struct TokioSources {
    cmds: mpsc::UnboundedReceiver<Command>,
    io_rx: mpsc::Receiver<IoEvent>,
    ctl_rx: mpsc::UnboundedReceiver<IoEvent>,
    timer: Pin<Box<Sleep>>,
}

impl Sources<Tokio> for TokioSources {
    fn is_empty(&self, source: Source) -> bool {
        match source {
            Source::Ctl => self.ctl_rx.is_empty(),
            Source::Io => self.io_rx.is_empty(),
            Source::Cmd => self.cmds.is_empty(),
        }
    }
    fn poll_ctl(&mut self, cx: &mut Context<'_>) -> Poll<Option<IoEvent>> {
        self.ctl_rx.poll_recv(cx)
    }
    fn poll_io(&mut self, cx: &mut Context<'_>) -> Poll<Option<IoEvent>> {
        self.io_rx.poll_recv(cx)
    }
    fn poll_cmd(&mut self, cx: &mut Context<'_>) -> Poll<Option<Command>> {
        self.cmds.poll_recv(cx)
    }
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.timer.as_mut().poll(cx)
    }
    fn set_timer(&mut self, at: Instant) {
        self.timer.as_mut().reset(at.into());
    }
}

impl Driver {
    /// Starts the accept loop and the driver; returns the command channel.
    pub(crate) fn spawn(
        mesh: Mesh,
        listener: TcpListener,
        timeouts: Timeouts,
        security: Security,
        span: tracing::Span,
    ) -> (mpsc::UnboundedSender<Command>, Shared) {
        let (cmd_tx, cmds) = mpsc::unbounded_channel();
        let (io_tx, io_rx) = mpsc::channel(IO_QUEUE);
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let (alive, flushed) = mpsc::channel(1);
        let slots = HandshakeSlots::new(mesh.config().max_pending_handshakes);
        let listener = tokio::spawn(
            net::accept_loop(listener, security.clone(), timeouts, slots, io_tx.clone())
                .instrument(span.clone()),
        );
        let rt = Tokio {
            io_tx,
            ctl_tx,
            listener: Some(listener),
            alive: Some(alive),
            flushed: Some(flushed),
            timeouts,
            security,
        };
        let mut host = HostDriver::new(mesh);
        host.set_reply_to(mesh_host::reply_to::<Tokio>(&cmd_tx));
        let shared = host.shared();
        let src = TokioSources {
            cmds,
            io_rx,
            ctl_rx,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        };
        let driver = Driver { host, rt, src };
        // Connection tasks are spawned inside it, and nest their spans in it.
        tokio::spawn(driver.run().instrument(span));
        (cmd_tx, shared)
    }

    async fn run(mut self) {
        mesh_host::run(&mut self.host, &mut self.rt, &mut self.src).await;
    }
}
