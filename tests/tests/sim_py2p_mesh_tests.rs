//! py2p's own mesh tests (test_mesh.py), reproduced in the simulator.

use std::time::Duration;

use mesh_proto::mesh::{Handled, HandlerCx, Message};
use mesh_proto::sim::{Sim, SimConfig};
use mesh_proto::wire::{Encryption, MainFlag, Protocol, SubFlag, Value};
use mesh_tests::simnet::{line, no_auto_connect, sim};

const QUIET: Duration = Duration::from_secs(30);

#[test]
fn propagation_along_a_line_of_three() {
    for seed in 0..5 {
        let mut s = sim(seed, Some(no_auto_connect));
        let n = line(&mut s, 3);
        assert_eq!(s.mesh(n[0]).peer_count(), 1);
        assert_eq!(s.mesh(n[1]).peer_count(), 2);
        let packets = vec![
            Value::from(&b"hello"[..]),
            Value::from("world"),
            Value::from(-5i64),
        ];
        s.broadcast(n[0], packets.clone()).unwrap();
        assert!(s.run_until_quiet(QUIET));
        for &far in &n[1..] {
            let got = s.received(far);
            assert_eq!(got.len(), 1, "seed {seed}");
            assert_eq!(got[0].packets[0], Value::from(SubFlag::Broadcast.value()));
            assert_eq!(&got[0].packets[1..], &packets[..]);
            assert_eq!(&got[0].sender, s.mesh(n[0]).id());
        }
        assert!(
            s.received(n[0]).is_empty(),
            "the originator does not deliver its own"
        );
        s.check_invariants().unwrap();
    }
}

#[test]
fn protocol_rejection() {
    let mut s = Sim::new(SimConfig {
        seed: 3,
        ..SimConfig::default()
    });
    let a = s.add_node();
    let b = s.add_node_with(|c| c.protocol = Protocol::new("other", Encryption::Plaintext));
    s.connect(a, b);
    assert!(s.run_until_quiet(QUIET));
    assert_eq!(s.mesh(a).peer_count(), 0);
    assert_eq!(s.mesh(b).peer_count(), 0);
    assert_eq!(s.mesh(a).counters().rejected.protocol_mismatch, 1);
    assert_eq!(s.mesh(b).counters().rejected.protocol_mismatch, 1);
    assert_eq!(s.mesh(a).conn_count() + s.mesh(b).conn_count(), 0);
}

/// py2p's `register_1`: answer `b"test"` with a direct whisper `b"success"`.
fn answers_test(msg: &Message, cx: &mut HandlerCx<'_>) -> Handled {
    if msg
        .packets
        .get(1)
        .and_then(Value::as_bin)
        .is_some_and(|b| &b[..] == b"test")
    {
        cx.send_direct(
            MainFlag::Whisper,
            SubFlag::Whisper,
            vec![Value::from(&b"success"[..])],
        )
        .unwrap();
        return Handled::Consumed;
    }
    Handled::Pass
}

#[test]
fn handler_registry() {
    let mut s = sim(5, Some(no_auto_connect));
    let n = line(&mut s, 2);
    s.mesh_mut(n[1]).register_handler(answers_test);
    s.broadcast(n[0], vec![Value::from(&b"test"[..])]).unwrap();
    assert!(s.run_until_quiet(QUIET));
    // Consumed by the handler: not queued at n1; the answer reached n0.
    assert!(s.received(n[1]).is_empty());
    let answer = &s.received(n[0])[0];
    assert_eq!(
        answer.packets,
        vec![Value::from(2u8), Value::from(&b"success"[..])]
    );
    assert_eq!(answer.msg_type, 2);
    // Anything else still reaches the queue.
    s.broadcast(n[0], vec![Value::from(&b"other"[..])]).unwrap();
    assert!(s.run_until_quiet(QUIET));
    assert_eq!(s.received(n[1]).len(), 1);
    assert_eq!(s.mesh(n[1]).counters().handled, 1);
}

#[test]
fn handlers_run_in_order_and_the_first_consumer_wins() {
    let mut s = sim(6, Some(no_auto_connect));
    let n = line(&mut s, 2);
    s.mesh_mut(n[1])
        .register_handler(|_: &Message, _: &mut HandlerCx<'_>| Handled::Pass);
    s.mesh_mut(n[1]).register_handler(answers_test);
    s.mesh_mut(n[1])
        .register_handler(|_: &Message, _: &mut HandlerCx<'_>| -> Handled {
            panic!("runs after a consumer")
        });
    s.broadcast(n[0], vec![Value::from(&b"test"[..])]).unwrap();
    assert!(s.run_until_quiet(QUIET));
    assert_eq!(s.received(n[0]).len(), 1);
}

#[test]
fn reply_to_a_direct_peer() {
    let mut s = sim(7, Some(no_auto_connect));
    let n = line(&mut s, 2);
    s.broadcast(n[0], vec![Value::from("question")]).unwrap();
    assert!(s.run_until_quiet(QUIET));
    let msg = s.received(n[1])[0].clone();
    let now = s.now();
    s.mesh_mut(n[1])
        .reply(&msg, vec![Value::from("answer")], now)
        .unwrap();
    s.flush(n[1]);
    assert!(s.run_until_quiet(QUIET));
    let got = &s.received(n[0])[0];
    assert_eq!(got.packets, vec![Value::from(2u8), Value::from("answer")]);
    assert_eq!(got.msg_type, 2, "a reply is a whisper");
}

#[test]
fn connect_event_fires_when_the_first_peer_arrives() {
    let mut s = sim(8, Some(no_auto_connect));
    let n = line(&mut s, 3);
    // n1 got two peers but went from empty to one peer only once.
    assert_eq!(s.connected_events(n[1]), 1);
    assert_eq!(s.connected_events(n[0]), 1);
    assert_eq!(s.mesh(n[1]).peer_count(), 2);
}
