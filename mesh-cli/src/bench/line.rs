//! A line of async mesh nodes, whatever the runtime: the first publishes,
//! the last counts. Written once over [`LineNode`]; each runtime says how to
//! bind a node and how to sleep.

use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::future;
use mesh_proto::mesh::{Counters, Message, SendError};
use mesh_proto::wire::Value;

use super::payload;
use super::record::{Outcome, Plan, Recorder};
use super::window::{Window, interleave};

/// A mesh socket as the bench uses it.
pub trait LineNode: Clone + Send + Sync + Sized + 'static {
    /// Binds a node on loopback, port 0, speaking TLS if asked; only the
    /// `last` keeps a receive queue.
    fn bind(tls: bool, last: bool) -> impl Future<Output = io::Result<Self>> + Send;
    /// The port it listens on.
    fn port(&self) -> u16;
    /// Dials a node on loopback.
    fn connect(&self, port: u16) -> impl Future<Output = io::Result<()>> + Send;
    /// How many peers it has a handshake with.
    fn peers(&self) -> impl Future<Output = usize> + Send;
    /// Broadcasts one payload.
    fn send(&self, payload: Bytes) -> impl Future<Output = Result<(), SendError>> + Send;
    /// Waits for at least one message and takes what else is queued (empty
    /// once the node is closed).
    fn next_batch(&self) -> impl Future<Output = Vec<Message>> + Send;
    /// Its core's counters.
    fn counters(&self) -> impl Future<Output = Counters> + Send;
    /// Closes it.
    fn close(&self) -> impl Future<Output = ()> + Send;
    /// Sleeps until `at` on this runtime.
    fn sleep_until(at: Instant) -> impl Future<Output = ()> + Send;
    /// Runs `task` apart from the caller (it ends on its own).
    fn spawn(task: impl Future<Output = ()> + Send + 'static);
}

/// Binds `nodes` nodes, links them in a line and waits for every handshake.
pub async fn build<N: LineNode>(nodes: usize, tls: bool) -> io::Result<Vec<N>> {
    let mut line: Vec<N> = Vec::with_capacity(nodes);
    for i in 0..nodes {
        line.push(N::bind(tls, i == nodes - 1).await?);
    }
    for i in 1..nodes {
        line[i].connect(line[i - 1].port()).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for (i, node) in line.iter().enumerate() {
        let want = if i == 0 || i == nodes - 1 { 1 } else { 2 };
        while node.peers().await < want {
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the line did not form",
                ));
            }
            N::sleep_until(Instant::now() + Duration::from_millis(5)).await;
        }
    }
    Ok(line)
}

/// Publishes on the first node and counts on the last until every payload
/// arrived or the run stalls.
pub async fn run<N: LineNode>(line: &[N], plan: Plan, progress: bool) -> Outcome {
    let (first, last) = (line[0].clone(), line[line.len() - 1].clone());
    let epoch = Instant::now();
    let window = plan.window.map(Window::new);
    let window = window.as_ref();
    let mut rec = Recorder::new(&plan, epoch, progress);
    rec.start(epoch);
    let count = async {
        while rec.delivered < plan.count {
            let stall = N::sleep_until(rec.stall_at(&plan));
            let batch = future::or(last.next_batch(), async {
                stall.await;
                Vec::new()
            })
            .await;
            if batch.is_empty() {
                break;
            }
            let now = Instant::now();
            let before = rec.delivered;
            for msg in &batch {
                if let Some(Value::Bin(body)) = msg.packets.get(1) {
                    rec.take(body, now);
                }
            }
            if let Some(w) = window {
                w.release(rec.delivered - before);
            }
        }
    };
    if window.is_some() {
        let publish = async {
            publish_all(&first, plan, epoch, window).await;
            // The counter decides when the run ends.
            future::pending::<()>().await;
        };
        interleave(window, publish, count).await;
    } else {
        // Nothing to wait for between them: the publisher runs apart, as
        // the raw baseline's does (in one task with the counter, the
        // counter would run only while a send waits).
        N::spawn(async move { publish_all(&first, plan, epoch, None).await });
        count.await;
    }
    let mut outcome = rec.finish(epoch);
    for n in line {
        outcome.node_counters.push(n.counters().await);
    }
    outcome
}

/// Publishes `plan.count` payloads on `first`, each after a place in
/// `window` if there is one, at `plan`'s rate if it has one.
async fn publish_all<N: LineNode>(first: &N, plan: Plan, epoch: Instant, window: Option<&Window>) {
    for seq in 0..plan.count {
        if let Some(w) = window {
            w.take().await;
        }
        if let Some(at) = plan.due(seq, epoch) {
            N::sleep_until(at).await;
        }
        let body = payload::make(seq, plan.size, epoch, Instant::now());
        if let Err(error) = first.send(body).await {
            tracing::warn!(%error, "publish failed");
            break;
        }
    }
}

/// Closes every node of a line.
pub async fn close<N: LineNode>(line: &[N]) {
    for n in line {
        n.close().await;
    }
}
