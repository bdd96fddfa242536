//! The mesh at scale and under faults, in the deterministic simulator.

use std::time::Duration;

use mesh_proto::mesh::{Config, Message};
use mesh_proto::sim::NodeIdx;
use mesh_proto::wire::Value;
use mesh_tests::simnet::{joined, line, no_auto_connect, sim};

const QUIET: Duration = Duration::from_secs(120);

#[test]
fn a_thousand_node_flood_reaches_everyone_exactly_once() {
    let seed = 1000;
    let mut s = sim(seed, None);
    let nodes = joined(&mut s, 1000);
    s.check_invariants().unwrap_or_else(|e| panic!("{e}"));
    for (k, origin) in [nodes[0], nodes[500], nodes[999]].into_iter().enumerate() {
        let id = s.broadcast(origin, vec![Value::from(k as u64)]).unwrap();
        assert!(s.run_until_quiet(QUIET), "seed {seed}");
        let st = s.stats(&id).unwrap();
        assert_eq!((st.delivered, st.missed), (999, 0), "seed {seed}: {st:?}");
        for &n in &nodes {
            let copies = s.received(n).iter().filter(|m| m.id == id).count();
            assert_eq!(copies, usize::from(n != origin), "node {n:?} seed {seed}");
        }
    }
    s.check_invariants().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn partition_then_heal_later_broadcasts_reach_all() {
    let seed = 42;
    let mut s = sim(seed, None);
    let nodes = joined(&mut s, 60);
    let (left, right) = nodes.split_at(30);
    s.partition(&[left.to_vec(), right.to_vec()]);
    s.run_for(Duration::from_secs(20));
    // During the partition a broadcast stays on its side.
    let id = s.broadcast(left[0], vec![Value::from("during")]).unwrap();
    s.run_for(Duration::from_secs(5));
    assert!(right.iter().all(|n| !s.delivered(*n, &id)), "seed {seed}");
    s.heal_partition();
    s.run_for(Duration::from_secs(90));
    let id = s.broadcast(left[0], vec![Value::from("after")]).unwrap();
    s.run_for(Duration::from_secs(5));
    let st = s.stats(&id).unwrap();
    assert_eq!((st.delivered, st.missed), (59, 0), "seed {seed}: {st:?}");
    s.check_invariants().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn after_20_percent_crash_every_connected_live_node_gets_later_broadcasts() {
    let seed = 20;
    let mut s = sim(seed, None);
    let nodes = joined(&mut s, 200);
    for n in nodes.iter().filter(|n| n.0 % 5 == 1) {
        s.crash(*n);
    }
    s.run_for(Duration::from_secs(60));
    let origin = nodes[0];
    let component = s.component(origin);
    let live = nodes.iter().filter(|n| s.is_alive(**n)).count();
    let id = s
        .broadcast(origin, vec![Value::from("after crash")])
        .unwrap();
    s.run_for(Duration::from_secs(10));
    for n in &component {
        assert!(
            *n == origin || s.delivered(*n, &id),
            "{n:?} missed it (seed {seed})"
        );
    }
    // Healing is expected to keep the survivors in one piece.
    assert_eq!(component.len(), live, "mesh fell apart (seed {seed})");
    s.check_invariants().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn simultaneous_dials_end_with_one_connection() {
    for seed in 0..20 {
        let mut s = sim(seed, Some(no_auto_connect));
        let a = s.add_node();
        let b = s.add_node();
        s.connect(a, b);
        s.connect(b, a);
        assert!(s.run_until_quiet(QUIET));
        assert_eq!(s.mesh(a).conn_count(), 1, "seed {seed}");
        assert_eq!(s.mesh(b).conn_count(), 1, "seed {seed}");
        assert!(s.mesh(a).is_connected_to(s.mesh(b).id()), "seed {seed}");
        assert!(s.mesh(b).is_connected_to(s.mesh(a).id()), "seed {seed}");
        s.check_invariants().unwrap_or_else(|e| panic!("{e}"));
        // And it carries traffic.
        let id = s.broadcast(a, vec![Value::from("x")]).unwrap();
        assert!(s.run_until_quiet(QUIET));
        assert!(s.delivered(b, &id), "seed {seed}");
    }
}

#[test]
fn reply_through_request_and_response_across_five_hops() {
    let seed = 5;
    let mut s = sim(seed, Some(no_auto_connect));
    let n: Vec<NodeIdx> = line(&mut s, 6);
    s.broadcast(n[0], vec![Value::from("who is there")])
        .unwrap();
    assert!(s.run_until_quiet(QUIET));
    let msg: Message = s.received(n[5])[0].clone();
    assert!(!s.mesh(n[5]).is_connected_to(&msg.sender));
    let now = s.now();
    s.mesh_mut(n[5])
        .reply(&msg, vec![Value::from("me, five hops away")], now)
        .unwrap();
    s.flush(n[5]);
    assert!(s.run_until_quiet(QUIET));
    let replies: Vec<&Message> = s
        .received(n[0])
        .iter()
        .filter(|m| m.msg_type == 2)
        .collect();
    assert_eq!(replies.len(), 1, "seed {seed}");
    assert_eq!(replies[0].packets[1], Value::from("me, five hops away"));
    assert_eq!(&replies[0].sender, s.mesh(n[5]).id());
    assert_eq!(s.mesh(n[5]).pending_replies(), 0);
}

#[test]
fn same_seed_same_run() {
    let run = |seed| {
        let mut s = sim(seed, None);
        let nodes = joined(&mut s, 100);
        let id = s.broadcast(nodes[3], vec![Value::from("d")]).unwrap();
        s.run_until_quiet(QUIET);
        (s.steps(), s.elapsed(), s.stats(&id).unwrap())
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9).0, run(10).0);
}

fn configured(cfg: &mut Config) {
    cfg.seen_cap = 1000;
}

#[test]
fn tight_seen_cap_still_never_delivers_twice() {
    let mut s = sim(77, Some(configured));
    let nodes = joined(&mut s, 50);
    for k in 0..30u64 {
        s.broadcast(nodes[(k % 50) as usize], vec![Value::from(k)])
            .unwrap();
    }
    assert!(s.run_until_quiet(QUIET));
    s.check_invariants().unwrap_or_else(|e| panic!("{e}"));
}
