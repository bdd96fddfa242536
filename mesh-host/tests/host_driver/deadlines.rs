//! `next_deadline`: the core's next timer, or a waiting receive's deadline
//! when that comes first.

use std::time::{Duration, Instant};

use mesh_host::{IoEvent, MAX_DRAINING_PAUSE, MAX_READ_PAUSE, PAUSE_PROGRESS};
use mesh_proto::mesh::{Config, ConnId};

use crate::node::{Node, addr, at, pump};

/// Node 1 with one opened dial awaiting its handshake (core timer at 10 s).
fn awaiting_handshake() -> Node {
    let mut a = Node::new(1);
    let (_, conn) = a.connect(addr(2), at(0));
    a.io(
        IoEvent::Dialed {
            conn,
            result: Ok(()),
        },
        at(0),
    );
    a
}

/// A receive waiting until `until`; the caller waits while the slot lives.
#[test]
fn idle_driver_has_no_deadline() {
    let a = Node::new(1);
    assert_eq!(a.driver.mesh().poll_timeout(), None);
    assert_eq!(a.driver.next_deadline(), None);
}

#[test]
fn next_deadline_is_the_cores_poll_timeout() {
    let a = awaiting_handshake();
    assert_eq!(a.driver.mesh().poll_timeout(), Some(at(10)));
    assert_eq!(a.driver.next_deadline(), Some(at(10)));
}

#[test]
fn a_read_pause_ends_by_itself() {
    // A tiny inbox: three queued messages are over half of it.
    let (mut a, ac, mut b, bc) = crate::node::linked_pair_with(at(0), |c| c.recv_queue_cap = 4);
    for text in ["1", "2", "3"] {
        crate::receive::broadcast(&mut a, text);
    }
    pump(&mut a, ac, &mut b, bc, at(0));
    assert_eq!(b.driver.shared().inbox.len(), 3);
    assert!(b.driver.reads_paused(at(0)), "the application is behind");
    let end = at(0) + MAX_READ_PAUSE;
    assert_eq!(
        b.driver.next_deadline(),
        Some(end),
        "the pause's end wakes the driver"
    );
    assert!(b.driver.reads_paused(end - Duration::from_millis(1)));
    assert!(
        !b.driver.reads_paused(end),
        "past the longest pause, reading resumes"
    );
}

/// `n` ms after the tests' start.
fn ms(n: u64) -> Instant {
    at(0) + Duration::from_millis(n)
}

/// Node 1 linked to node 2 with 1.9 MiB queued to it, over half of
/// `max_queued_bytes` (2 MiB), nothing of it reported written yet: its reads
/// pause at 0 ms.
fn backpressured() -> (Node, ConnId) {
    let small = |cfg: &mut Config| cfg.max_queued_bytes = 2 << 20;
    let (mut a, ac, _b, _) = crate::node::link(Node::with(1, small), Node::new(2), at(0));
    a.rt.take_calls();
    let sent = crate::send::send(&mut a, vec![crate::send::noise(1900 * 1024)]);
    assert!(sent.borrow_mut().take().unwrap().is_ok());
    assert!(a.driver.mesh().is_backpressured());
    assert!(a.driver.reads_paused(ms(0)));
    (a, ac)
}

/// The peer takes `n` bytes at each of `times` (ms), and the pause holds.
fn drains(a: &mut Node, ac: ConnId, n: usize, times: impl IntoIterator<Item = u64>) {
    for t in times {
        a.io(IoEvent::Written { conn: ac, n }, ms(t));
        assert!(a.driver.reads_paused(ms(t)), "still paused at {t} ms");
    }
}

#[test]
fn a_pause_for_a_peer_that_drains_goes_on_past_the_longest_pause() {
    let (mut a, ac) = backpressured();
    // The peer takes 64 KiB by 200 ms: still over half the queue bound.
    drains(&mut a, ac, PAUSE_PROGRESS, [200]);
    assert!(a.driver.mesh().is_backpressured());
    let pause_end = ms(200) + MAX_READ_PAUSE;
    let core = a.driver.mesh().poll_timeout();
    assert_eq!(
        a.driver.next_deadline(),
        Some(core.map_or(pause_end, |t| t.min(pause_end))),
        "the pause's new end wakes the driver"
    );
    assert!(
        a.driver.reads_paused(ms(300)),
        "a peer that drains is waited for past the longest pause"
    );
    // Then nothing more: the pause runs out a whole pause after the progress.
    assert!(a.driver.reads_paused(ms(449)));
    assert!(!a.driver.reads_paused(ms(450)));
}

#[test]
fn a_pause_for_a_peer_that_reads_next_to_nothing_runs_out() {
    let (mut a, ac) = backpressured();
    drains(&mut a, ac, 1024, (10..250).step_by(10));
    assert!(
        !a.driver.reads_paused(ms(250)),
        "24 KiB in a whole pause is no progress"
    );
}

#[test]
fn a_pause_for_an_application_that_keeps_taking_goes_on() {
    // 12 messages in an inbox of 16: behind (over 8). Taking 2 (an eighth
    // of it) is progress.
    let (mut a, ac, mut b, bc) = crate::node::linked_pair_with(at(0), |c| c.recv_queue_cap = 16);
    for n in 0..12 {
        crate::receive::broadcast(&mut a, &n.to_string());
    }
    pump(&mut a, ac, &mut b, bc, at(0));
    assert!(b.driver.reads_paused(ms(0)));
    assert_eq!(b.driver.shared().inbox.take(2).len(), 2);
    assert!(b.driver.reads_paused(ms(200)), "still behind: 10 of 16");
    assert!(
        b.driver.reads_paused(ms(300)),
        "an application that takes its messages is waited for"
    );
    assert!(b.driver.reads_paused(ms(449)));
    assert!(!b.driver.reads_paused(ms(450)), "then it stopped");
}

#[test]
fn a_pause_for_a_peer_that_drains_ends_after_the_longest_draining_pause() {
    let (mut a, ac) = backpressured();
    // 64 KiB every 200 ms: 576 KiB by 1.8 s, the queue still over 1 MiB.
    drains(&mut a, ac, PAUSE_PROGRESS, (200..2000).step_by(200));
    assert!(a.driver.mesh().is_backpressured());
    let end = at(0) + MAX_DRAINING_PAUSE;
    assert!(a.driver.next_deadline() <= Some(end));
    a.io(
        IoEvent::Written {
            conn: ac,
            n: PAUSE_PROGRESS,
        },
        end,
    );
    assert!(
        !a.driver.reads_paused(end),
        "the other peers have waited long enough"
    );
}
