//! Flow control: `send` waits while a peer's queue is over half full, and a
//! peer that stops reading is cut off after the write-stall timeout while the
//! rest of the mesh goes on. Under async-std and under smol.

#[macro_use]
mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_net::TcpStream;
use common::{bin, link, sleep, wait_routes, within};
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use mesh_async_std::mesh_proto::mesh::{Mesh, Output};
use mesh_async_std::{Config, Event, MeshSocket, PeerAddr, Value};

on_both!(a_peer_that_stops_reading_is_cut_off_and_sends_wait_meanwhile);

/// A peer that completes the handshake with the node at `port` (using the
/// core directly), then never reads again.
async fn silent_peer(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let now = Instant::now();
    let unix = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    let cfg = Config::new(common::proto("test"), PeerAddr::new("127.0.0.1", 1));
    let mut mesh = Mesh::new(cfg, 7, now, unix);
    let conn = mesh.connect(PeerAddr::new("127.0.0.1", port), now);
    mesh.handle_dialed(conn, true, now);
    let mut buf = vec![0; 64 * 1024];
    while mesh.peer_count() == 0 {
        while let Some(out) = mesh.poll_output() {
            if let Output::Transmit { bytes, .. } = out {
                stream.write_all(&bytes).await.expect("write");
            }
        }
        let n = stream.read(&mut buf).await.expect("read");
        assert_ne!(n, 0, "closed during the handshake");
        mesh.handle_bytes(conn, &buf[..n], Instant::now());
    }
    stream
}

async fn a_peer_that_stops_reading_is_cut_off_and_sends_wait_meanwhile() {
    let cfg = |c: &mut Config| {
        c.max_outgoing = 0;
        c.compression.clear();
        c.max_queued_bytes = 1 << 20;
    };
    let a = MeshSocket::builder(common::proto("test"))
        .config(cfg)
        .write_stall_timeout(Duration::from_millis(500))
        .bind("127.0.0.1", 0)
        .await
        .expect("bind");
    let b = MeshSocket::builder(common::proto("test"))
        .config(cfg)
        .bind("127.0.0.1", 0)
        .await
        .expect("bind");
    link(&b, &a, &[a.id()], &[b.id()]).await;
    let _silent = within(silent_peer(a.local_addr().port())).await;
    let routes = within(async {
        loop {
            let r = a.routes().await;
            if r.len() == 2 {
                return r;
            }
            sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let silent_id = routes
        .into_iter()
        .find(|p| p != b.id())
        .expect("the silent peer");
    let mut events = a.events();

    // 24 MiB: far more than the silent peer's socket buffers hold, and 24
    // times the per-connection queue cap. Without backpressure the core would
    // have to drop the silent link for overflowing; without the stall timeout
    // these sends would wait forever.
    const N: u64 = 384;
    let chunk = vec![0xA5u8; 64 * 1024];
    let started = Instant::now();
    for i in 0..N {
        within(a.send(vec![Value::from(i), bin(&chunk)]))
            .await
            .expect("send");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "sends waited for the stall"
    );
    wait_routes(&a, &[b.id()]).await;
    let counters = a.counters().await;
    assert_eq!(
        counters.rejected.output_overflow, 0,
        "backpressure kept the queue bounded"
    );
    let down = within(async {
        loop {
            if let Some(Event::PeerDown { peer, .. }) = events.recv().await {
                return peer;
            }
        }
    })
    .await;
    assert_eq!(down, silent_id);

    // The healthy peer got everything, in order.
    for i in 0..N {
        let m = within(b.next()).await.expect("message");
        assert_eq!(m.packets[1], Value::from(i));
    }
}
