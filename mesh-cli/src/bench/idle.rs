//! `mesh bench --idle N`: what an idle, handshaken connection costs a node.
//! N raw TCP clients each send a py2p handshake (made by a throwaway `Mesh`
//! core) to one tokio node and then stay silent; the process's resident set
//! before and after, over N. The clients' own sockets live in the same
//! process, so the figure is, if anything, too high.

use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mesh_proto::mesh::{Config, Event, Mesh, Output, PeerAddr};
use mesh_proto::wire::{Encryption, Protocol};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// What the measurement found.
#[derive(Debug)]
pub struct Idle {
    pub connections: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
}

impl Idle {
    /// KiB per connection.
    pub fn per_connection_kib(&self) -> f64 {
        self.rss_after_kib.saturating_sub(self.rss_before_kib) as f64 / self.connections as f64
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_string();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// The handshake client `i` sends to `hub`.
fn handshake(i: usize, hub: PeerAddr) -> Bytes {
    let t0 = Instant::now();
    let me = PeerAddr::new("127.0.0.1", 20_000 + i as u16);
    let cfg = Config::new(Protocol::new("bench", Encryption::Plaintext), me);
    let mut m = Mesh::new(cfg, i as u64 + 1, t0, Duration::from_secs(1_764_000_000));
    let conn = m.connect(hub, t0);
    m.handle_dialed(conn, true, t0);
    std::iter::from_fn(|| m.poll_output())
        .find_map(|o| match o {
            Output::Transmit { bytes, .. } => Some(bytes),
            _ => None,
        })
        .unwrap_or_default()
}

/// Connects `n` silent handshaken clients to a fresh tokio node.
pub async fn run(n: usize) -> io::Result<Idle> {
    let hub = mesh_tokio::MeshSocket::builder(Protocol::new("bench", Encryption::Plaintext))
        .config(move |c| {
            c.max_outgoing = 0;
            c.max_inbound = n + 8;
            c.max_pending_handshakes = n + 8;
        })
        .bind("127.0.0.1", 0)
        .await?;
    let mut events = hub.events();
    let addr = PeerAddr::new("127.0.0.1", hub.local_addr().port());
    let frames: Vec<Bytes> = (0..n).map(|i| handshake(i, addr.clone())).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before_kib = rss_kib();
    let mut clients = Vec::with_capacity(n);
    for frame in &frames {
        let mut s = TcpStream::connect(("127.0.0.1", addr.port)).await?;
        s.write_all(frame).await?;
        clients.push(s);
    }
    let mut up = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while up < n {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(Event::PeerUp { .. })) => up += 1,
            Ok(Some(_)) => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{up} of {n} handshakes"),
                ));
            }
        }
    }
    // Let the node's writers flush its answers and go quiet.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after_kib = rss_kib();
    drop(clients);
    let _ = hub.close().await;
    Ok(Idle {
        connections: n,
        rss_before_kib,
        rss_after_kib,
    })
}
