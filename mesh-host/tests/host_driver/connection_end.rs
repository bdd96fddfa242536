//! How one connection ends: the core closes it, the peer closes it, its
//! writer fails, or the runtime cannot open it.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;
use mesh_host::{Command, Input, IoEvent, WriteEnd};
use mesh_proto::mesh::Event;

use crate::fake_runtime::{Call, Events};
use crate::node::{Node, addr, at, linked_pair};

#[test]
fn core_close_closes_the_connection_and_later_events_are_ignored() {
    // An opened dial the peer never answers: the core gives up at its
    // handshake timeout (10 s by default) and outputs `Close`.
    let mut a = Node::new(1);
    let (_, conn) = a.connect(addr(2), at(0));
    a.io(
        IoEvent::Dialed {
            conn,
            result: Ok(()),
        },
        at(0),
    );
    a.rt.take_calls();

    a.step(Input::Wake, at(10));
    assert_eq!(a.rt.take_calls(), [Call::Close(conn)]);
    assert_eq!(a.driver.mesh().conn_count(), 0);

    // The connection's tasks may still report; none of it reaches the runtime.
    a.io(
        IoEvent::Bytes {
            conn,
            bytes: Bytes::from_static(b"late"),
        },
        at(11),
    );
    a.io(IoEvent::Written { conn, n: 4 }, at(11));
    a.io(IoEvent::ReadClosed { conn }, at(11));
    a.io(
        IoEvent::WriterDone {
            conn,
            end: WriteEnd::Failed,
        },
        at(11),
    );
    assert_eq!(a.rt.take_calls(), []);
}

#[test]
fn failed_or_stalled_writer_is_aborted_and_the_peer_goes_down() {
    for end in [WriteEnd::Failed, WriteEnd::Stalled] {
        let (mut a, ac, _, _) = linked_pair(at(0));
        let events: Events = Rc::new(RefCell::new(Vec::new()));
        a.command(Command::Subscribe(events.clone()), at(0));
        a.rt.take_calls();

        a.io(IoEvent::WriterDone { conn: ac, end }, at(0));

        let calls = a.rt.take_calls();
        assert!(calls.contains(&Call::Abort(ac)), "{end:?}: {calls:?}");
        assert!(
            !calls.contains(&Call::Close(ac)),
            "{end:?}: aborted, not closed"
        );
        assert_eq!(a.driver.mesh().peer_count(), 0, "{end:?}");
        let down = events
            .borrow()
            .iter()
            .any(|e| matches!(e, Event::PeerDown { conn, .. } if *conn == ac));
        assert!(down, "{end:?}: the core heard the connection closed");

        // A second report for the same connection is ignored.
        a.io(IoEvent::WriterDone { conn: ac, end }, at(0));
        assert!(!a.rt.take_calls().contains(&Call::Abort(ac)), "{end:?}");
    }
}

#[test]
fn peer_closing_its_side_closes_ours() {
    let (mut a, ac, _, _) = linked_pair(at(0));
    a.rt.take_calls();

    a.io(IoEvent::ReadClosed { conn: ac }, at(0));

    let calls = a.rt.take_calls();
    assert!(calls.contains(&Call::Close(ac)), "{calls:?}");
    assert!(!calls.contains(&Call::Abort(ac)), "{calls:?}");
    assert_eq!(a.driver.mesh().peer_count(), 0);
}

#[test]
fn accepted_stream_the_runtime_cannot_open_is_forgotten() {
    let mut a = Node::new(1);
    a.rt.refuse_opens = true;
    let remote = "10.0.0.2:4002".parse().unwrap();

    a.accepted(remote, false, at(0));

    assert_eq!(a.rt.take_calls(), [], "nothing opened, nothing written");
    assert_eq!(a.driver.mesh().conn_count(), 0, "the core forgot it");
}
