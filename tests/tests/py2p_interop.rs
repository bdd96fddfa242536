//! Interop with the REAL py2p 0.7.878: Rust nodes and py2p nodes (each a
//! Python subprocess, see `mesh_tests::py2p`) in one mesh on 127.0.0.1.
//!
//! Every scenario runs against each runtime adapter (`on_tokio::*` with
//! mesh-tokio, `on_async_std::*` and `on_smol::*` with mesh-async-std under
//! each executor, `on_blocking::*` with mesh-blocking; see
//! `mesh_tests::nodes`),
//! plaintext and, for broadcast and reply, over TLS (py2p's "SSL").
//! Under CI (`CI=true`) a missing py2p venv fails every test here; elsewhere
//! each test says loudly on stderr that it was skipped. `scripts/test.sh`
//! creates the venv (`scripts/py2p-venv.sh`), so they normally run.
//!
//! py2p's own faults are never asked of it (shared/spec, "py2p faults"):
//! - sends that reach a py2p node are paced ([`PACE`]): bursts break its
//!   framing;
//! - no py2p member of a mesh is closed mid-scenario: its mesh collapses
//!   when one leaves, and it never answers `request_peers`;
//! - py2p is never asked to reply to a sender it is not connected to: its
//!   reply-via-request raises a TypeError on Python 3;
//! - hand-made lines use py2p's module-wide `max_outgoing = 0` (and
//!   `Config::max_outgoing = 0` on Rust nodes): py2p dials every peer a
//!   peer list names, so no line of three survives otherwise. The 4-node
//!   mesh runs with py2p's defaults.

use std::thread::sleep;
use std::time::Duration;

use mesh_proto::mesh::{Config, Handled, HandlerCx, Message};
use mesh_proto::wire::json::to_json;
use mesh_proto::wire::{Compression, Encryption, MainFlag, Protocol, SubFlag, Value};
use mesh_tests::nodes::{Adapter, Configure, Node};
use mesh_tests::py2p::{Options, PACE, Py2p, Py2pMessage, Watchdog, wait_until};
use serde_json::Value as Json;

/// The hard limit of one test (every wait inside is bounded well below).
const HARD_LIMIT: Duration = Duration::from_secs(30);
/// How long a message that must arrive may take.
const WAIT: Duration = Duration::from_secs(5);
/// How long links may take to form.
const LINK: Duration = Duration::from_secs(10);
/// How long to watch for a message that must not arrive (a duplicate, a
/// relayed whisper): relays on loopback take milliseconds.
const SETTLE: Duration = Duration::from_millis(600);

// ---- building blocks ----------------------------------------------------------

fn protocol(subnet: &str) -> Protocol {
    Protocol::new(subnet, Encryption::Plaintext)
}

/// A Rust node on 127.0.0.1, port 0 (binding it must work).
fn rust_node(a: &dyn Adapter, protocol: Protocol, configure: Configure) -> Box<dyn Node> {
    a.bind(protocol, configure)
        .expect("bind a Rust node on 127.0.0.1:0")
}

/// A Rust node on subnet "mesh" that never dials on its own: the topology
/// is exactly the links a test makes.
fn quiet_rust(a: &dyn Adapter) -> Box<dyn Node> {
    rust_node(
        a,
        protocol("mesh"),
        Box::new(|c: &mut Config| c.max_outgoing = 0),
    )
}

/// A py2p node on subnet "mesh" that never dials from peer lists.
fn quiet_py2p(name: &str) -> Py2p {
    Py2p::start(
        name,
        &Options {
            max_outgoing: 0,
            ..Options::default()
        },
    )
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Waits until the Rust node's routing table is exactly `ids`.
fn wait_rust_routes(node: &dyn Node, name: &str, ids: &[&str]) {
    let want = sorted(ids.iter().map(|s| (*s).to_owned()).collect());
    let mut have = Vec::new();
    let what = format!("{name}'s routes to be {want:?}");
    wait_until(LINK, &what, || {
        have = node.route_ids();
        have == want
    });
}

/// Waits until the py2p node's routing table is exactly `ids`.
fn wait_py2p_routes(node: &Py2p, name: &str, ids: &[&str]) {
    let want = sorted(ids.iter().map(|s| (*s).to_owned()).collect());
    let what = format!("{name}'s routes to be {want:?}");
    wait_until(LINK, &what, || node.route_ids() == want);
}

/// The typed-JSON form, so values compare exactly (a str is not a bin,
/// NaN equals NaN, -0.0 is not 0.0) and a failure prints readably.
fn typed(values: &[Value]) -> Json {
    Json::Array(values.iter().map(to_json).collect())
}

fn s(text: &str) -> Value {
    Value::from(text)
}

fn b(bytes: &[u8]) -> Value {
    Value::from(bytes)
}

fn int(v: i128) -> Value {
    Value::Int(mesh_proto::wire::Integer::new(v).expect("in msgpack's range"))
}

fn sub(flag: SubFlag) -> Value {
    Value::from(flag.value())
}

/// Checks a message py2p reported: main flag, sub-flag, sender, payload.
fn check_py2p_msg(
    got: &Py2pMessage,
    flag: MainFlag,
    sub_flag: SubFlag,
    sender: &str,
    payload: &[Value],
) {
    assert_eq!(
        got.msg_type,
        u64::from(flag.value()),
        "main flag of {got:?}"
    );
    assert_eq!(got.sender, sender, "sender of {got:?}");
    assert_eq!(
        typed(&got.packets[..1]),
        typed(&[sub(sub_flag)]),
        "sub-flag of {got:?}"
    );
    assert_eq!(
        typed(&got.packets[1..]),
        typed(payload),
        "payload from {sender}"
    );
}

/// Checks a message a Rust node received.
fn check_rust_msg(
    got: &Message,
    flag: MainFlag,
    sub_flag: SubFlag,
    sender: &str,
    payload: &[Value],
) {
    assert_eq!(
        got.msg_type,
        u64::from(flag.value()),
        "main flag of {got:?}"
    );
    assert_eq!(got.sender.to_text(), sender, "sender of {got:?}");
    assert_eq!(got.sub_flag(), Some(sub_flag), "sub-flag of {got:?}");
    assert_eq!(
        typed(&got.packets[1..]),
        typed(payload),
        "payload from {sender}"
    );
}

fn py2p_next(node: &Py2p, name: &str, what: &str) -> Py2pMessage {
    node.next(WAIT)
        .unwrap_or_else(|| panic!("py2p {name} did not get {what} within {WAIT:?}"))
}

fn rust_next(node: &dyn Node, name: &str, what: &str) -> Message {
    node.next(WAIT)
        .unwrap_or_else(|| panic!("Rust {name} did not get {what} within {WAIT:?}"))
}

/// Nothing more arrives at a py2p node for [`SETTLE`].
fn py2p_quiet(node: &Py2p, name: &str) {
    let extra = node.collect(SETTLE);
    assert!(
        extra.is_empty(),
        "py2p {name} got more than expected: {extra:?}"
    );
}

/// Nothing more arrives at a Rust node for [`SETTLE`].
fn rust_quiet(node: &dyn Node, name: &str) {
    if let Some(extra) = node.next(SETTLE) {
        panic!("Rust {name} got more than expected: {extra:?}");
    }
}

fn assert_nominal(node: &Py2p, name: &str) {
    let status = node.status();
    assert!(
        status.nominal(),
        "py2p {name} recorded exceptions: {}",
        status.status
    );
}

/// The Rust node dials the py2p node; returns once each has the other.
fn link_rust_to_py2p(r: &dyn Node, rname: &str, p: &Py2p, pname: &str) {
    r.connect(p.port()).expect("r: connect");
    wait_until(LINK, &format!("{rname} <-> {pname}"), || {
        r.route_ids().contains(&p.id().to_owned()) && p.route_ids().contains(&r.id_text())
    });
}

/// Messages of every msgpack family and size boundary, a list of packets each.
fn sample_messages() -> Vec<Vec<Value>> {
    let long_text: String = "päcket ✓ ".chars().cycle().take(300).collect();
    let big_text: String = "x".repeat(70_000);
    let bytes_300: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
    let bytes_70k: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
    let ints = [
        0i128,
        1,
        127,
        128,
        255,
        256,
        65_535,
        65_536,
        u32::MAX as i128,
        u32::MAX as i128 + 1,
        i64::MAX as i128,
        u64::MAX as i128,
        -1,
        -32,
        -33,
        -128,
        -129,
        -32_768,
        -32_769,
        i32::MIN as i128,
        i32::MIN as i128 - 1,
        i64::MIN as i128,
    ];
    let floats = [
        0.0,
        -0.0,
        1.5,
        -2.25,
        0.1,
        1e300,
        -1e-300,
        5e-324,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let wide_array: Vec<Value> = (0..20u8).map(Value::from).collect();
    let wide_map: Vec<(Value, Value)> = (0..20u8)
        .map(|i| (s(&format!("k{i}")), Value::from(i)))
        .collect();
    vec![
        vec![s("hello")],
        vec![s(""), s("héllo wörld ✓ 日本語"), s(&long_text)],
        vec![s(&big_text)],
        vec![b(b""), b(b"\x00\xff\x80"), b(&bytes_300)],
        vec![b(&bytes_70k)],
        ints.iter().map(|&i| int(i)).collect(),
        floats.iter().map(|&x| Value::F64(x)).collect(),
        vec![Value::Nil, Value::Bool(true), Value::Bool(false)],
        vec![
            Value::Array(vec![]),
            Value::Array(vec![
                int(1),
                Value::Array(vec![int(2), Value::Array(vec![int(3), s("x")])]),
            ]),
            Value::Array(wide_array),
        ],
        vec![
            Value::Map(vec![]),
            Value::Map(vec![
                (s("a"), int(1)),
                (b(b"k"), Value::Array(vec![Value::Nil, Value::Bool(true)])),
                (int(-5), Value::F64(2.5)),
            ]),
            Value::Map(vec![(
                int(1),
                Value::Map(vec![(
                    s("nested"),
                    Value::Map(vec![(s("deep"), Value::F64(1.5))]),
                )]),
            )]),
            Value::Map(wide_map),
        ],
    ]
}

// ---- scenarios ----------------------------------------------------------------

/// Rust broadcasts every value family; py2p gets each value equal.
fn broadcast_values_rust_to_py2p(a: &dyn Adapter) {
    let p = Py2p::start("p", &Options::default());
    let r = quiet_rust(a);
    link_rust_to_py2p(&*r, "r", &p, "p");
    for packets in sample_messages() {
        let id = r.send(packets.clone()).expect("r: send");
        let got = py2p_next(&p, "p", "a broadcast");
        check_py2p_msg(
            &got,
            MainFlag::Broadcast,
            SubFlag::Broadcast,
            &r.id_text(),
            &packets,
        );
        assert_eq!(got.id, id.to_hex(), "py2p computes the same message id");
        sleep(PACE);
    }
    py2p_quiet(&p, "p");
    assert_nominal(&p, "p");
}

/// py2p broadcasts every value family; the Rust node gets each value equal.
fn broadcast_values_py2p_to_rust(a: &dyn Adapter) {
    let p = Py2p::start("p", &Options::default());
    let r = quiet_rust(a);
    link_rust_to_py2p(&*r, "r", &p, "p");
    for packets in sample_messages() {
        p.send(&packets);
        let got = rust_next(&*r, "r", "a broadcast");
        check_rust_msg(
            &got,
            MainFlag::Broadcast,
            SubFlag::Broadcast,
            p.id(),
            &packets,
        );
        sleep(PACE);
    }
    rust_quiet(&*r, "r");
    assert_nominal(&p, "p");
}

/// py2p - Rust - py2p: each end's broadcast crosses the Rust relay and
/// arrives exactly once at the far end (and once at the relay).
fn relay_py2p_rust_py2p(a: &dyn Adapter) {
    let (p1, p2) = (quiet_py2p("p1"), quiet_py2p("p2"));
    let r = quiet_rust(a);
    r.connect(p1.port()).expect("r: connect");
    r.connect(p2.port()).expect("r: connect");
    wait_rust_routes(&*r, "r", &[p1.id(), p2.id()]);
    wait_py2p_routes(&p1, "p1", &[&r.id_text()]);
    wait_py2p_routes(&p2, "p2", &[&r.id_text()]);

    p1.send(&[s("from p1")]);
    let far = py2p_next(&p2, "p2", "p1's broadcast");
    check_py2p_msg(
        &far,
        MainFlag::Broadcast,
        SubFlag::Broadcast,
        p1.id(),
        &[s("from p1")],
    );
    let mid = rust_next(&*r, "r", "p1's broadcast");
    check_rust_msg(
        &mid,
        MainFlag::Broadcast,
        SubFlag::Broadcast,
        p1.id(),
        &[s("from p1")],
    );
    assert_eq!(
        mid.id.to_hex(),
        far.id,
        "a relay forwards the body unchanged"
    );
    sleep(PACE);

    p2.send(&[s("from p2")]);
    let far = py2p_next(&p1, "p1", "p2's broadcast");
    check_py2p_msg(
        &far,
        MainFlag::Broadcast,
        SubFlag::Broadcast,
        p2.id(),
        &[s("from p2")],
    );
    let mid = rust_next(&*r, "r", "p2's broadcast");
    check_rust_msg(
        &mid,
        MainFlag::Broadcast,
        SubFlag::Broadcast,
        p2.id(),
        &[s("from p2")],
    );

    // Exactly once: nothing else anywhere, and the line still holds.
    py2p_quiet(&p1, "p1");
    py2p_quiet(&p2, "p2");
    rust_quiet(&*r, "r");
    assert!(r.counters().relayed >= 2, "r relayed both");
    assert_eq!(p1.route_ids(), vec![r.id_text()]);
    assert_eq!(p2.route_ids(), vec![r.id_text()]);
    assert_nominal(&p1, "p1");
    assert_nominal(&p2, "p2");
}

/// Rust - py2p - Rust: each end's broadcast crosses the py2p relay and
/// arrives exactly once at the far end (and once at the relay).
fn relay_rust_py2p_rust(a: &dyn Adapter) {
    let p = quiet_py2p("p");
    let (r1, r2) = (quiet_rust(a), quiet_rust(a));
    link_rust_to_py2p(&*r1, "r1", &p, "p");
    link_rust_to_py2p(&*r2, "r2", &p, "p");
    wait_py2p_routes(&p, "p", &[&r1.id_text(), &r2.id_text()]);

    let id = r1.send(vec![s("from r1")]).expect("r1: send");
    let far = rust_next(&*r2, "r2", "r1's broadcast");
    check_rust_msg(
        &far,
        MainFlag::Broadcast,
        SubFlag::Broadcast,
        &r1.id_text(),
        &[s("from r1")],
    );
    assert_eq!(far.id, id, "py2p relays the body unchanged");
    let mid = py2p_next(&p, "p", "r1's broadcast");
    check_py2p_msg(
        &mid,
        MainFlag::Broadcast,
        SubFlag::Broadcast,
        &r1.id_text(),
        &[s("from r1")],
    );
    sleep(PACE);

    r2.send(vec![s("from r2")]).expect("r2: send");
    let far = rust_next(&*r1, "r1", "r2's broadcast");
    check_rust_msg(
        &far,
        MainFlag::Broadcast,
        SubFlag::Broadcast,
        &r2.id_text(),
        &[s("from r2")],
    );
    let mid = py2p_next(&p, "p", "r2's broadcast");
    check_py2p_msg(
        &mid,
        MainFlag::Broadcast,
        SubFlag::Broadcast,
        &r2.id_text(),
        &[s("from r2")],
    );

    rust_quiet(&*r1, "r1");
    rust_quiet(&*r2, "r2");
    py2p_quiet(&p, "p");
    assert_eq!(r1.route_ids(), vec![p.id().to_owned()]);
    assert_eq!(r2.route_ids(), vec![p.id().to_owned()]);
    assert_nominal(&p, "p");
}

/// py2p - Rust - py2p: a py2p whisper reaches the Rust node and stops there.
fn whisper_py2p_not_relayed_by_rust(a: &dyn Adapter) {
    let (p1, p2) = (quiet_py2p("p1"), quiet_py2p("p2"));
    let r = quiet_rust(a);
    r.connect(p1.port()).expect("r: connect");
    r.connect(p2.port()).expect("r: connect");
    wait_rust_routes(&*r, "r", &[p1.id(), p2.id()]);
    wait_py2p_routes(&p2, "p2", &[&r.id_text()]);

    p1.whisper(&[s("secret")]);
    sleep(PACE);
    p1.send(&[s("marker")]);

    let w = rust_next(&*r, "r", "the whisper");
    check_rust_msg(
        &w,
        MainFlag::Whisper,
        SubFlag::Whisper,
        p1.id(),
        &[s("secret")],
    );
    let m = rust_next(&*r, "r", "the marker");
    check_rust_msg(
        &m,
        MainFlag::Broadcast,
        SubFlag::Broadcast,
        p1.id(),
        &[s("marker")],
    );
    // Had r relayed the whisper, p2 would have it before the marker.
    let at_p2 = py2p_next(&p2, "p2", "the marker");
    check_py2p_msg(
        &at_p2,
        MainFlag::Broadcast,
        SubFlag::Broadcast,
        p1.id(),
        &[s("marker")],
    );
    py2p_quiet(&p2, "p2");
    py2p_quiet(&p1, "p1");
}

/// Rust - py2p - Rust: a Rust whisper reaches py2p and stops there.
fn whisper_rust_not_relayed_by_py2p(a: &dyn Adapter) {
    let p = quiet_py2p("p");
    let (r1, r2) = (quiet_rust(a), quiet_rust(a));
    link_rust_to_py2p(&*r1, "r1", &p, "p");
    link_rust_to_py2p(&*r2, "r2", &p, "p");

    r1.whisper(vec![s("secret")]).expect("r1: whisper");
    sleep(PACE);
    r1.send(vec![s("marker")]).expect("r1: send");

    let w = py2p_next(&p, "p", "the whisper");
    check_py2p_msg(
        &w,
        MainFlag::Whisper,
        SubFlag::Whisper,
        &r1.id_text(),
        &[s("secret")],
    );
    let m = py2p_next(&p, "p", "the marker");
    check_py2p_msg(
        &m,
        MainFlag::Broadcast,
        SubFlag::Broadcast,
        &r1.id_text(),
        &[s("marker")],
    );
    let at_r2 = rust_next(&*r2, "r2", "the marker");
    check_rust_msg(
        &at_r2,
        MainFlag::Broadcast,
        SubFlag::Broadcast,
        &r1.id_text(),
        &[s("marker")],
    );
    rust_quiet(&*r2, "r2");
    rust_quiet(&*r1, "r1");
    assert_nominal(&p, "p");
}

/// Direct replies both ways: py2p answers a Rust sender, Rust answers a
/// py2p sender; each reply is a whisper from the replier.
fn reply_direct_both_ways(a: &dyn Adapter) {
    let p = Py2p::start("p", &Options::default());
    let r = quiet_rust(a);
    link_rust_to_py2p(&*r, "r", &p, "p");

    r.send(vec![s("ping from r")]).expect("r: send");
    let ping = py2p_next(&p, "p", "r's ping");
    p.reply(&ping, &[s("pong from p"), int(7)]);
    let pong = rust_next(&*r, "r", "p's reply");
    check_rust_msg(
        &pong,
        MainFlag::Whisper,
        SubFlag::Whisper,
        p.id(),
        &[s("pong from p"), int(7)],
    );
    sleep(PACE);

    p.send(&[b(b"ping from p")]);
    let ping = rust_next(&*r, "r", "p's ping");
    r.reply(&ping, vec![b(b"pong from r"), Value::Nil])
        .expect("r: reply");
    let pong = py2p_next(&p, "p", "r's reply");
    check_py2p_msg(
        &pong,
        MainFlag::Whisper,
        SubFlag::Whisper,
        &r.id_text(),
        &[b(b"pong from r"), Value::Nil],
    );

    py2p_quiet(&p, "p");
    rust_quiet(&*r, "r");
    assert_nominal(&p, "p");
}

/// py2p S - py2p M - Rust R: R replies to S, to which it is not connected.
/// R floods a request, M (which has S) answers with S's address, R dials S
/// and delivers the reply. (py2p's own reply-via-request crashes on Python
/// 3, so the roles are never the other way round.)
fn reply_through_request_to_py2p(a: &dyn Adapter) {
    let (sender, middle) = (quiet_py2p("s"), quiet_py2p("m"));
    let r = quiet_rust(a);
    sender.connect(middle.port());
    wait_py2p_routes(&middle, "m", &[sender.id()]);
    r.connect(middle.port()).expect("r: connect");
    wait_py2p_routes(&middle, "m", &[sender.id(), &r.id_text()]);
    wait_rust_routes(&*r, "r", &[middle.id()]);
    wait_py2p_routes(&sender, "s", &[middle.id()]);

    sender.send(&[s("question")]);
    let q = rust_next(&*r, "r", "s's question");
    check_rust_msg(
        &q,
        MainFlag::Broadcast,
        SubFlag::Broadcast,
        sender.id(),
        &[s("question")],
    );
    py2p_next(&middle, "m", "s's question");
    sleep(PACE);

    r.reply(&q, vec![s("answer")]).expect("r: reply");
    let answer = py2p_next(&sender, "s", "r's routed reply");
    check_py2p_msg(
        &answer,
        MainFlag::Whisper,
        SubFlag::Whisper,
        &r.id_text(),
        &[s("answer")],
    );
    assert!(
        r.route_ids().contains(&sender.id().to_owned()),
        "r dialed s to deliver the reply"
    );
    py2p_quiet(&sender, "s");
    py2p_quiet(&middle, "m");
    assert_nominal(&sender, "s");
    assert_nominal(&middle, "m");
}

/// py2p's handler registry test (test_mesh.py's `handler_registry_validation`)
/// with a Rust sender: `b"test"` is taken by the handler, which answers
/// `b"success"`; `"not test"` is queued as usual.
fn handler_registry(a: &dyn Adapter, handler: &str) {
    let p = Py2p::start("p", &Options::default());
    p.register(handler);
    let r = quiet_rust(a);
    link_rust_to_py2p(&*r, "r", &p, "p");

    r.send(vec![b(b"test")]).expect("r: send");
    let answer = rust_next(&*r, "r", "the handler's answer");
    check_rust_msg(
        &answer,
        MainFlag::Whisper,
        SubFlag::Whisper,
        p.id(),
        &[b(b"success")],
    );
    sleep(PACE);

    r.send(vec![s("not test")]).expect("r: send");
    // py2p queues in order: had b"test" been queued, it would come first.
    let queued = py2p_next(&p, "p", "\"not test\"");
    check_py2p_msg(
        &queued,
        MainFlag::Broadcast,
        SubFlag::Broadcast,
        &r.id_text(),
        &[s("not test")],
    );
    py2p_quiet(&p, "p");
    rust_quiet(&*r, "r");
    assert_nominal(&p, "p");
}

fn handler_registry_register_1(a: &dyn Adapter) {
    handler_registry(a, "register_1");
}

fn handler_registry_register_2(a: &dyn Adapter) {
    handler_registry(a, "register_2");
}

/// Waits for the Rust node to count a protocol mismatch, then (as py2p's
/// own rejection test does) one more second, and checks that neither side
/// kept the other.
fn check_rejected(r: &dyn Node, p: &Py2p) {
    wait_until(LINK, "the Rust node to reject the other subnet", || {
        r.counters().rejected.protocol_mismatch >= 1
    });
    sleep(Duration::from_secs(1));
    assert!(r.routes().is_empty(), "Rust kept a peer: {:?}", r.routes());
    let routes = p.routes();
    assert!(routes.ids.is_empty(), "py2p kept a peer: {routes:?}");
    assert_eq!(
        routes.awaiting, 0,
        "py2p still awaits a handshake: {routes:?}"
    );
}

/// Rust (subnet "test") dials py2p (subnet "test2"): both refuse.
fn subnet_rejection_rust_dials(a: &dyn Adapter) {
    let p = Py2p::start(
        "p",
        &Options {
            subnet: "test2".into(),
            ..Options::default()
        },
    );
    let r = rust_node(a, protocol("test"), Box::new(|_: &mut Config| {}));
    r.connect(p.port()).expect("r: connect");
    check_rejected(&*r, &p);
    assert_nominal(&p, "p");
}

/// py2p (subnet "test2") dials Rust (subnet "test"): both refuse.
fn subnet_rejection_py2p_dials(a: &dyn Adapter) {
    let p = Py2p::start(
        "p",
        &Options {
            subnet: "test2".into(),
            ..Options::default()
        },
    );
    let r = rust_node(a, protocol("test"), Box::new(|_: &mut Config| {}));
    p.connect(r.port());
    check_rejected(&*r, &p);
    assert_nominal(&p, "p");
}

/// The methods py2p has (its order), each given to one Rust node as its
/// only advertised method: py2p then must use exactly that one.
const PY2P_METHODS: [Compression; 4] = [
    Compression::Zlib,
    Compression::Gzip,
    Compression::Bz2,
    Compression::Lzma,
];

/// One py2p node and one Rust node per method, each linked to py2p only.
fn compression_star(a: &dyn Adapter, p: &Py2p) -> Vec<(Compression, Box<dyn Node>)> {
    let nodes: Vec<(Compression, Box<dyn Node>)> = PY2P_METHODS
        .iter()
        .map(|&m| {
            let node = rust_node(
                a,
                protocol("mesh"),
                Box::new(move |c: &mut Config| {
                    c.max_outgoing = 0;
                    c.compression = vec![m];
                }),
            );
            (m, node)
        })
        .collect();
    for (m, r) in &nodes {
        link_rust_to_py2p(&**r, m.name(), p, "p");
        sleep(PACE);
    }
    // py2p recorded each node's one method from its handshake.
    let routes = p.routes();
    for (m, r) in &nodes {
        let advertised = routes
            .compression
            .iter()
            .find(|(id, _)| *id == r.id_text())
            .map(|(_, methods)| methods.clone());
        assert_eq!(
            advertised,
            Some(vec![m.flag()]),
            "py2p's view of the {} node",
            m.name()
        );
    }
    nodes
}

/// A payload worth compressing.
fn compressible(tag: &str) -> Vec<Value> {
    vec![s(tag), s(&"compress me please ".repeat(100))]
}

/// py2p sends with each method it has to a Rust node that advertises only
/// that method; each Rust node decodes the value.
fn compression_py2p_to_rust(a: &dyn Adapter) {
    let p = Py2p::start("p", &Options::default());
    let nodes = compression_star(a, &p);
    let before = p.status();
    let packets = compressible("from py2p");
    p.send(&packets);
    for (m, r) in &nodes {
        let got = rust_next(&**r, m.name(), "py2p's compressed broadcast");
        check_rust_msg(
            &got,
            MainFlag::Broadcast,
            SubFlag::Broadcast,
            p.id(),
            &packets,
        );
    }
    let after = p.status();
    for m in PY2P_METHODS {
        assert!(
            after.compressed_with(m.flag()) > before.compressed_with(m.flag()),
            "py2p did not compress with {} ({:?} -> {:?})",
            m.name(),
            before.compressed,
            after.compressed
        );
    }
    assert!(after.nominal(), "py2p: {}", after.status);
}

/// Each Rust node sends frames compressed with its one method; py2p decodes
/// them with that method and gets the value.
fn compression_rust_to_py2p(a: &dyn Adapter) {
    let p = Py2p::start("p", &Options::default());
    let nodes = compression_star(a, &p);
    for (m, r) in &nodes {
        let before = p.status();
        let packets = compressible(m.name());
        r.send(packets.clone()).expect("r: send");
        let got = py2p_next(&p, "p", &format!("the {} broadcast", m.name()));
        check_py2p_msg(
            &got,
            MainFlag::Broadcast,
            SubFlag::Broadcast,
            &r.id_text(),
            &packets,
        );
        let after = p.status();
        assert!(
            after.decompressed_with(m.flag()) > before.decompressed_with(m.flag()),
            "py2p did not decompress {} ({:?} -> {:?})",
            m.name(),
            before.decompressed,
            after.decompressed
        );
        sleep(PACE);
    }
    assert_nominal(&p, "p");
}

/// 2 py2p and 2 Rust nodes, py2p's defaults and ours, joined one at a time
/// through a single node each, the rest by peer exchange. Every node's
/// broadcast reaches every other node exactly once.
fn mixed_mesh_of_four(a: &dyn Adapter) {
    let p1 = Py2p::start("p1", &Options::default());
    let p2 = Py2p::start("p2", &Options::default());
    let default_config = || -> Configure { Box::new(|_: &mut Config| {}) };
    let r1 = rust_node(a, protocol("mesh"), default_config());
    let r2 = rust_node(a, protocol("mesh"), default_config());

    r1.connect(p1.port()).expect("r1: connect");
    wait_until(LINK, "p1 and r1 linked", || p1.route_ids().len() == 1);
    p2.connect(r1.port());
    wait_until(
        LINK,
        "p2 linked to 2 (r1, then p1 from r1's peer list)",
        || p2.route_ids().len() == 2,
    );
    r2.connect(p2.port()).expect("r2: connect");

    let ids = [
        p1.id().to_owned(),
        p2.id().to_owned(),
        r1.id_text(),
        r2.id_text(),
    ];
    let others =
        |me: &str| -> Vec<String> { sorted(ids.iter().filter(|id| *id != me).cloned().collect()) };
    wait_until(LINK, "a full mesh of 4 by peer exchange", || {
        p1.route_ids() == others(p1.id())
            && p2.route_ids() == others(p2.id())
            && r1.route_ids() == others(&r1.id_text())
            && r2.route_ids() == others(&r2.id_text())
    });

    p1.send(&[s("from p1")]);
    sleep(PACE);
    r1.send(vec![s("from r1")]).expect("r1: send");
    sleep(PACE);
    p2.send(&[s("from p2")]);
    sleep(PACE);
    r2.send(vec![s("from r2")]).expect("r2: send");

    let sent = [
        (p1.id().to_owned(), "from p1"),
        (p2.id().to_owned(), "from p2"),
        (r1.id_text(), "from r1"),
        (r2.id_text(), "from r2"),
    ];
    each_broadcast_once(
        &[("p1", &p1), ("p2", &p2)],
        &[("r1", &*r1), ("r2", &*r2)],
        &sent,
    );
    assert_nominal(&p1, "p1");
    assert_nominal(&p2, "p2");
}

/// Every node got every broadcast of `sent` (sender id, text) but its own,
/// exactly once.
fn each_broadcast_once(
    py2p: &[(&str, &Py2p)],
    rust: &[(&str, &dyn Node)],
    sent: &[(String, &str)],
) {
    let mut want_all: Vec<(String, String)> = sent
        .iter()
        .map(|(id, t)| (id.clone(), (*t).to_owned()))
        .collect();
    want_all.sort();
    let expect = |me: &str| -> Vec<(String, String)> {
        want_all
            .iter()
            .filter(|(id, _)| id != me)
            .cloned()
            .collect()
    };
    let text_of = |packets: &[Value]| -> String {
        packets
            .get(1)
            .and_then(Value::as_str)
            .unwrap_or("<not a str>")
            .to_owned()
    };
    let others = sent.len() - 1;
    for (name, node) in py2p {
        let mut got: Vec<(String, String)> = Vec::new();
        while got.len() < others {
            let m = py2p_next(node, name, "the mesh's broadcasts");
            got.push((m.sender.clone(), text_of(&m.packets)));
        }
        got.extend(
            node.collect(SETTLE)
                .into_iter()
                .map(|m| (m.sender.clone(), text_of(&m.packets))),
        );
        got.sort();
        assert_eq!(
            got,
            expect(node.id()),
            "py2p {name}: each broadcast exactly once"
        );
    }
    for (name, node) in rust {
        let mut got: Vec<(String, String)> = Vec::new();
        while got.len() < others {
            let Some(m) = node.next(WAIT) else { break };
            got.push((m.sender.to_text(), text_of(&m.packets)));
        }
        while let Some(m) = node.next(SETTLE) {
            got.push((m.sender.to_text(), text_of(&m.packets)));
        }
        got.sort();
        assert_eq!(
            got,
            expect(&node.id_text()),
            "Rust {name}: each broadcast exactly once"
        );
    }
}

/// 1 py2p node and 3 Rust nodes (lazy push on, as by default): the Rust
/// nodes prune the links among themselves to lazy ones and announce, py2p
/// never sees a frame of the extension, and every broadcast reaches every
/// node exactly once. py2p dials nobody (`max_outgoing = 0`): when it and a
/// Rust node dial each other at once, py2p writes on the connection the
/// conflict rule closes and records a BrokenPipeError (its fault, not the
/// extension's); the Rust nodes find it by peer exchange instead.
fn lazy_push_in_a_mixed_mesh(a: &dyn Adapter) {
    let p = Py2p::start(
        "p",
        &Options {
            max_outgoing: 0,
            ..Options::default()
        },
    );
    let default_config = || -> Configure { Box::new(|_: &mut Config| {}) };
    let r: Vec<Box<dyn Node>> = (0..3)
        .map(|_| rust_node(a, protocol("mesh"), default_config()))
        .collect();
    r[0].connect(p.port()).expect("r1: connect");
    wait_until(LINK, "p and r1 linked", || p.route_ids().len() == 1);
    r[1].connect(r[0].port()).expect("r2: connect");
    wait_until(LINK, "r2 linked to r1 and p", || {
        r[1].route_ids().len() == 2
    });
    r[2].connect(r[0].port()).expect("r3: connect");
    wait_until(LINK, "every Rust node linked to the other three", || {
        r.iter().all(|n| n.route_ids().len() == 3)
    });
    wait_until(LINK, "p linked to the three", || p.route_ids().len() == 3);
    let mut sent = Vec::new();
    for round in 0..3 {
        for (k, node) in r.iter().enumerate() {
            let text = [
                "r1 a", "r2 a", "r3 a", "r1 b", "r2 b", "r3 b", "r1 c", "r2 c", "r3 c",
            ][round * 3 + k];
            node.send(vec![s(text)]).expect("send");
            sent.push((node.id_text(), text));
            sleep(PACE);
        }
    }
    p.send(&[s("from p")]);
    sent.push((p.id().to_owned(), "from p"));
    // Each (sender, text) is distinct: exactly once means each appears once.
    let names = ["r1", "r2", "r3"];
    let rust: Vec<(&str, &dyn Node)> = names.iter().copied().zip(r.iter().map(|n| &**n)).collect();
    each_broadcast_once(&[("p", &p)], &rust, &sent);
    let prunes: u64 = r.iter().map(|n| n.counters().lazy.prunes_sent).sum();
    let announced: u64 = r.iter().map(|n| n.counters().lazy.announced).sum();
    assert!(prunes > 0, "the Rust nodes pruned links among themselves");
    assert!(announced > 0, "and announced on them");
    assert_nominal(&p, "p");
}

/// A handler on a Rust node (py2p's `register_1`, in Rust) answers a py2p
/// sender on the connection the message came on.
fn rust_handler_answers_py2p(a: &dyn Adapter) {
    let p = Py2p::start("p", &Options::default());
    let r = quiet_rust(a);
    r.register_handler(Box::new(|msg: &Message, cx: &mut HandlerCx<'_>| {
        if msg
            .packets
            .get(1)
            .and_then(Value::as_bin)
            .is_some_and(|p| &p[..] == b"test")
        {
            let _ = cx.send_direct(MainFlag::Whisper, SubFlag::Whisper, vec![b(b"success")]);
            return Handled::Consumed;
        }
        Handled::Pass
    }));
    link_rust_to_py2p(&*r, "r", &p, "p");
    p.send(&[b(b"test")]);
    let answer = py2p_next(&p, "p", "the Rust handler's answer");
    check_py2p_msg(
        &answer,
        MainFlag::Whisper,
        SubFlag::Whisper,
        &r.id_text(),
        &[b(b"success")],
    );
    sleep(PACE);
    p.send(&[s("not test")]);
    let queued = rust_next(&*r, "r", "\"not test\"");
    check_rust_msg(
        &queued,
        MainFlag::Broadcast,
        SubFlag::Broadcast,
        p.id(),
        &[s("not test")],
    );
    rust_quiet(&*r, "r");
    py2p_quiet(&p, "p");
}

/// Over TLS (py2p's "SSL"): broadcast and direct reply in both directions,
/// on a link that `rust_dials` says who opened.
fn ssl_exchange(a: &dyn Adapter, rust_dials: bool) {
    let p = Py2p::start(
        "p",
        &Options {
            encryption: Encryption::Ssl,
            ..Options::default()
        },
    );
    let r = rust_node(
        a,
        Protocol::new("mesh", Encryption::Ssl),
        Box::new(|c: &mut Config| c.max_outgoing = 0),
    );
    if rust_dials {
        r.connect(p.port()).expect("r: connect");
    } else {
        p.connect(r.port());
    }
    wait_rust_routes(&*r, "r", &[p.id()]);
    wait_py2p_routes(&p, "p", &[&r.id_text()]);

    // 20 kB: more than one TLS record, read by py2p 1 kB at a time.
    let big: Vec<u8> = (0..20_000u32).map(|i| (i % 249) as u8).collect();
    let packets = vec![s("over tls"), b(&big), int(i64::MIN.into())];
    r.send(packets.clone()).expect("r: send");
    let got = py2p_next(&p, "p", "r's broadcast over TLS");
    check_py2p_msg(
        &got,
        MainFlag::Broadcast,
        SubFlag::Broadcast,
        &r.id_text(),
        &packets,
    );
    p.reply(&got, &[s("py2p replies over tls")]);
    let reply = rust_next(&*r, "r", "p's reply over TLS");
    check_rust_msg(
        &reply,
        MainFlag::Whisper,
        SubFlag::Whisper,
        p.id(),
        &[s("py2p replies over tls")],
    );
    sleep(PACE);

    p.send(&packets);
    let got = rust_next(&*r, "r", "p's broadcast over TLS");
    check_rust_msg(
        &got,
        MainFlag::Broadcast,
        SubFlag::Broadcast,
        p.id(),
        &packets,
    );
    r.reply(&got, vec![s("rust replies over tls")])
        .expect("r: reply");
    let reply = py2p_next(&p, "p", "r's reply over TLS");
    check_py2p_msg(
        &reply,
        MainFlag::Whisper,
        SubFlag::Whisper,
        &r.id_text(),
        &[s("rust replies over tls")],
    );

    py2p_quiet(&p, "p");
    rust_quiet(&*r, "r");
    assert_nominal(&p, "p");
}

fn ssl_rust_dials_py2p(a: &dyn Adapter) {
    ssl_exchange(a, true);
}

fn ssl_py2p_dials_rust(a: &dyn Adapter) {
    ssl_exchange(a, false);
}

// ---- the tests, per adapter ------------------------------------------------------

/// One `#[test]` per scenario for each adapter (a module per adapter):
/// checks that py2p is there (fails under CI, skips loudly elsewhere), arms
/// the hard limit, runs.
macro_rules! interop_tests {
    ($($module:ident: $adapter:expr),* $(,)?; $scenarios:tt) => {
        $(interop_tests!(@adapter $module, $adapter; $scenarios);)*
    };
    (@adapter $module:ident, $adapter:expr; [$($scenario:ident),* $(,)?]) => {
        mod $module {
            $(
                #[test]
                fn $scenario() {
                    let name = concat!(stringify!($module), "::", stringify!($scenario));
                    if !mesh_tests::py2p::available(name) {
                        return;
                    }
                    let _watchdog = super::Watchdog::arm(name, super::HARD_LIMIT);
                    let adapter = $adapter;
                    super::$scenario(&adapter);
                }
            )*
        }
    };
}

interop_tests!(
    on_tokio: mesh_tests::nodes::Tokio::new(),
    on_async_std: mesh_tests::nodes::AsyncStd,
    on_smol: mesh_tests::nodes::Smol,
    on_blocking: mesh_tests::nodes::Blocking;
    [
        broadcast_values_rust_to_py2p,
        broadcast_values_py2p_to_rust,
        relay_py2p_rust_py2p,
        relay_rust_py2p_rust,
        whisper_py2p_not_relayed_by_rust,
        whisper_rust_not_relayed_by_py2p,
        reply_direct_both_ways,
        reply_through_request_to_py2p,
        handler_registry_register_1,
        handler_registry_register_2,
        rust_handler_answers_py2p,
        subnet_rejection_rust_dials,
        subnet_rejection_py2p_dials,
        compression_py2p_to_rust,
        compression_rust_to_py2p,
        mixed_mesh_of_four,
        lazy_push_in_a_mixed_mesh,
        ssl_rust_dials_py2p,
        ssl_py2p_dials_rust,
    ]
);
