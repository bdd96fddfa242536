//! `mesh chat --json` and `mesh demo` as a user scripts them.

use std::process::Command;

mod common;
use common::Chat as Node;

#[test]
fn two_chat_nodes_talk_in_json_lines() {
    let mut a = Node::start(&[]);
    let ready = a.expect("ready");
    let addr = ready["addr"].as_str().unwrap().to_string();
    let a_id = ready["id"].as_str().unwrap().to_string();
    let mut b = Node::start(&["--connect", &addr]);
    let b_id = b.expect("ready")["id"].as_str().unwrap().to_string();
    assert_eq!(b.expect("peer_up")["id"], a_id.as_str());
    assert_eq!(a.expect("peer_up")["id"], b_id.as_str());

    b.say("hello from b");
    let m = a.expect("message");
    assert_eq!(m["sender"], b_id.as_str());
    assert_eq!(
        m["packets"],
        serde_json::json!([{"int": "0"}, {"str": "hello from b"}])
    );
    assert_eq!(m["id"].as_str().unwrap().len(), 64);

    a.say("/reply got it");
    let r = b.expect("message");
    assert_eq!(
        r["packets"],
        serde_json::json!([{"int": "2"}, {"str": "got it"}])
    );

    b.say("/whisper psst");
    assert_eq!(a.expect("message")["packets"][1]["str"], "psst");

    a.say("/peers");
    assert_eq!(a.expect("peers")["ids"], serde_json::json!([b_id]));

    b.say("/quit");
    assert_eq!(a.expect("peer_down")["id"], b_id.as_str());
    assert!(b.child.wait().unwrap().success());
}

#[test]
fn different_subnets_are_rejected() {
    let a = Node::start(&["--subnet", "one"]);
    let addr = a.expect("ready")["addr"].as_str().unwrap().to_string();
    let b = Node::start(&["--subnet", "two", "--connect", &addr]);
    for node in [&b, &a] {
        let reason = node.expect("rejected")["reason"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(reason.contains("protocol"), "{reason}");
        assert!(
            reason.contains("another subnet or encryption"),
            "says what it means: {reason}"
        );
    }
}

#[test]
fn a_tls_node_dialing_a_plaintext_one_is_told_why() {
    let plain = Node::start(&[]);
    let addr = plain.expect("ready")["addr"].as_str().unwrap().to_string();
    let tls = Node::start(&["--tls", "--connect", &addr]);
    let failed = tls.expect("dial_failed");
    let reason = failed["reason"].as_str().unwrap();
    assert!(reason.contains("not speaking TLS"), "{reason}");
}

#[test]
fn demo_runs_and_everything_arrives() {
    let out = Command::new(env!("CARGO_BIN_EXE_mesh"))
        .args(["demo", "--nodes", "6"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("delivered to 5 of 5 nodes"), "{text}");
    assert!(text.contains("everything arrived"), "{text}");
}

#[test]
fn two_tls_chat_nodes_talk() {
    let a = Node::start(&["--tls"]);
    let addr = a.expect("ready")["addr"].as_str().unwrap().to_string();
    let mut b = Node::start(&["--tls", "--connect", &addr]);
    b.expect("peer_up");
    a.expect("peer_up");
    b.say("over tls");
    assert_eq!(a.expect("message")["packets"][1]["str"], "over tls");
}

#[test]
fn demo_runs_on_every_runtime() {
    for runtime in ["tokio", "async-std", "smol", "blocking"] {
        let out = Command::new(env!("CARGO_BIN_EXE_mesh"))
            .args(["demo", "--nodes", "4", "--runtime", runtime])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{runtime}: {text}");
        assert!(
            text.contains("delivered to 3 of 3 nodes"),
            "{runtime}: {text}"
        );
    }
}

#[test]
fn chat_nodes_on_different_runtimes_talk() {
    let a = Node::start(&["--runtime", "blocking"]);
    let addr = a.expect("ready")["addr"].as_str().unwrap().to_string();
    let mut b = Node::start(&["--runtime", "async-std", "--connect", &addr]);
    b.expect("peer_up");
    a.expect("peer_up");
    b.say("across runtimes");
    assert_eq!(a.expect("message")["packets"][1]["str"], "across runtimes");
}
