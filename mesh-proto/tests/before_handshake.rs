//! Until a connection has handshaken, only a handshake-sized frame is
//! accepted (`Limits::max_frame_before_handshake`): silent or hostile
//! connections cannot make the node buffer `max_frame` each.

mod common;

use common::*;
use mesh_proto::mesh::{Event, Output};
use mesh_proto::wire::{Limits, WireError};

fn header(len: usize) -> Vec<u8> {
    u32::try_from(len).unwrap().to_be_bytes().to_vec()
}

#[test]
fn a_large_frame_before_the_handshake_is_refused_at_its_header() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let conn = m.handle_accepted(None, t0);
    drain(&mut m);
    let max = Limits::default().max_frame_before_handshake;
    m.handle_bytes(conn, &header(max + 1), t0);
    let outs = drain(&mut m);
    assert!(outs.contains(&Output::Close { conn }));
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Event(Event::ProtocolViolation {
            error: WireError::FrameTooLarge { max: m, .. },
            ..
        }) if *m == max
    )));
}

#[test]
fn after_the_handshake_frames_up_to_max_frame_are_buffered() {
    let t0 = base();
    let mut m = mesh(config(), t0);
    let conn = join(&mut m, &Peer::ours(1), t0);
    let len = Limits::default().max_frame_before_handshake * 4;
    m.handle_bytes(conn, &header(len), t0);
    m.handle_bytes(conn, &vec![0u8; 1024], t0);
    let outs = drain(&mut m);
    assert!(!outs.contains(&Output::Close { conn }), "{outs:?}");
    assert!(m.is_connected_to(&mesh_proto::mesh::PeerId(Peer::ours(1).id)));
}
