//! The line on mesh-blocking: the same run as [`line`](super::line), on
//! threads (a publisher thread, the counter on the caller's).

use std::io;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use mesh_blocking::MeshSocket;
use mesh_proto::wire::Value;

use super::nodes::{BATCH, configure, protocol};
use super::payload;
use super::record::{Outcome, Plan, Recorder};

/// Binds, links and waits for a line of `nodes` blocking nodes.
pub fn build(nodes: usize, tls: bool) -> io::Result<Vec<MeshSocket>> {
    let mut line: Vec<MeshSocket> = Vec::with_capacity(nodes);
    for i in 0..nodes {
        let node = MeshSocket::builder(protocol(tls))
            .config(configure(i == nodes - 1))
            .bind("127.0.0.1", 0)?;
        line.push(node);
    }
    for i in 1..nodes {
        line[i].connect("127.0.0.1", line[i - 1].local_addr().port())?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for (i, node) in line.iter().enumerate() {
        let want = if i == 0 || i == nodes - 1 { 1 } else { 2 };
        while node.routes().len() < want {
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the line did not form",
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(line)
}

/// Publishes on the first node (its own thread) and counts on the last.
pub fn run(line: &[MeshSocket], plan: Plan, progress: bool) -> Outcome {
    let (first, last) = (line[0].clone(), &line[line.len() - 1]);
    let epoch = Instant::now();
    // A token per message in flight: the channel's capacity is the window.
    let (tokens, returned) = mpsc::sync_channel::<()>(plan.window.unwrap_or(1) as usize);
    let windowed = plan.window.is_some();
    let publisher = thread::spawn(move || {
        for seq in 0..plan.count {
            if windowed && tokens.send(()).is_err() {
                return;
            }
            if let Some(at) = plan.due(seq, epoch) {
                thread::sleep(at.saturating_duration_since(Instant::now()));
            }
            let body = payload::make(seq, plan.size, epoch, Instant::now());
            if let Err(error) = first.send(vec![Value::Bin(body)]) {
                tracing::warn!(%error, "publish failed");
                return;
            }
        }
    });
    let mut rec = Recorder::new(&plan, epoch, progress);
    rec.start(epoch);
    while rec.delivered < plan.count {
        let wait = rec
            .stall_at(&plan)
            .saturating_duration_since(Instant::now());
        let Some(msg) = last.recv_timeout(wait) else {
            break;
        };
        let mut batch = vec![msg];
        batch.extend(last.recv_many(BATCH));
        let now = Instant::now();
        let before = rec.delivered;
        for msg in &batch {
            if let Some(Value::Bin(body)) = msg.packets.get(1) {
                rec.take(body, now);
            }
        }
        for _ in before..rec.delivered {
            let _ = returned.try_recv();
        }
    }
    // Unblocks a publisher waiting for a token, then lets it end.
    drop(returned);
    let mut outcome = rec.finish(epoch);
    outcome.node_counters = line.iter().map(MeshSocket::counters).collect();
    if outcome.delivered == plan.count {
        let _ = publisher.join();
    }
    outcome
}

/// Closes every node.
pub fn close(line: &[MeshSocket]) {
    for n in line {
        let _ = n.close();
    }
}
