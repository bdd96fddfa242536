//! Flow control: `send` blocks while a peer's queue is over half full, and a
//! peer that stops reading is cut off after the write-stall timeout while the
//! rest of the mesh goes on.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{bin, bounded, link, next, wait_event, wait_routes, within};
use mesh_blocking::mesh_proto::mesh::{Mesh, Output};
use mesh_blocking::{Config, Event, MeshSocket, PeerAddr, Value};

/// A peer that completes the handshake with the node at `port` (using the
/// core directly), then never reads again.
fn silent_peer(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(common::LIMIT))
        .expect("read timeout");
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
                stream.write_all(&bytes).expect("write");
            }
        }
        let n = stream.read(&mut buf).expect("read");
        assert_ne!(n, 0, "closed during the handshake");
        mesh.handle_bytes(conn, &buf[..n], Instant::now());
    }
    stream
}

#[test]
fn a_peer_that_stops_reading_is_cut_off_and_sends_wait_meanwhile() {
    let cfg = |c: &mut Config| {
        c.max_outgoing = 0;
        c.compression.clear();
        c.max_queued_bytes = 1 << 20;
    };
    let a = MeshSocket::builder(common::proto("test"))
        .config(cfg)
        .write_stall_timeout(Duration::from_millis(500))
        .bind("127.0.0.1", 0)
        .expect("bind");
    let b = MeshSocket::builder(common::proto("test"))
        .config(cfg)
        .bind("127.0.0.1", 0)
        .expect("bind");
    link(&b, &a, &[a.id()], &[b.id()]);
    let _silent = silent_peer(a.local_addr().port());
    let routes = within("the silent peer's handshake", || {
        let r = a.routes();
        (r.len() == 2).then_some(r)
    });
    let silent_id = routes
        .into_iter()
        .find(|p| p != b.id())
        .expect("the silent peer");
    let events = a.events();

    // 24 MiB: far more than the silent peer's socket buffers hold, and 24
    // times the per-connection queue cap. Without backpressure the core would
    // have to drop the silent link for overflowing; without the stall timeout
    // these sends would block forever.
    const N: u64 = 384;
    let chunk = vec![0xA5u8; 64 * 1024];
    let started = Instant::now();
    let sender = a.clone();
    bounded("the sends", move || {
        for i in 0..N {
            sender
                .send(vec![Value::from(i), bin(&chunk)])
                .expect("send");
        }
    });
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "sends waited for the stall"
    );
    wait_routes(&a, &[b.id()]);
    assert_eq!(
        a.counters().rejected.output_overflow,
        0,
        "backpressure kept the queue bounded"
    );
    let down = wait_event(&events, |e| match e {
        Event::PeerDown { peer, .. } => Some(peer),
        _ => None,
    });
    assert_eq!(down, silent_id);

    // The healthy peer got everything, in order.
    for i in 0..N {
        let m = next(&b);
        assert_eq!(m.packets[1], Value::from(i));
    }
}
