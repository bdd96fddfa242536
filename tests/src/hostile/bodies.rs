//! Frame bodies the victim must refuse or ignore: wrong shapes and types
//! (4), huge containers and deep nesting (5).

use std::time::Duration;

use mesh_proto::mesh::PeerId;
use mesh_proto::wire::{Limits, MainFlag, SubFlag, Value, WireError};

use super::PROMPT;
use super::frames::{body_with, framed, nested};
use super::memory::Memory;
use super::scene::Scene;
use super::util::{bin, expect_payload, tag, unix_now};
use crate::nodes::Adapter;

// ----- 4. wrong shapes and types ---------------------------------------------

type Check = fn(&WireError) -> bool;

/// Bodies of the wrong shape or types (checksums right): each closes its
/// link with `ProtocolViolation` naming the fault. Messages of the right
/// shape whose packets have the wrong types (a peer list that is a str, a
/// request for an int...) are ignored, and the link stays.
pub fn wrong_shapes(adapter: &dyn Adapter) {
    let mut s = Scene::new(adapter, |_| {});
    let mem = Memory::watch();
    let before = s.victim.counters();
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("body a map", vec![0x80], |e| {
            matches!(e, WireError::BodyNotArray)
        }),
        ("body an int", vec![0x07], |e| {
            matches!(e, WireError::BodyNotArray)
        }),
        ("two header fields", vec![0x92, 0x00, 0xc4, 0x00], |e| {
            matches!(e, WireError::TooFewFields { got: 2 })
        }),
        (
            "msg_type a str",
            vec![0x93, 0xa1, b'x', 0xc4, 0x00, 0x01],
            |e| {
                matches!(
                    e,
                    WireError::BadHeaderField {
                        field: "msg_type",
                        ..
                    }
                )
            },
        ),
        (
            "msg_type negative",
            vec![0x93, 0xff, 0xc4, 0x00, 0x01],
            |e| {
                matches!(
                    e,
                    WireError::BadHeaderField {
                        field: "msg_type",
                        ..
                    }
                )
            },
        ),
        ("sender an int", vec![0x93, 0x00, 0x05, 0x01], |e| {
            matches!(
                e,
                WireError::BadHeaderField {
                    field: "sender",
                    ..
                }
            )
        }),
        (
            "time a float",
            {
                let mut b = vec![0x93, 0x00, 0xc4, 0x00, 0xcb];
                b.extend_from_slice(&1.5f64.to_be_bytes());
                b
            },
            |e| matches!(e, WireError::BadHeaderField { field: "time", .. }),
        ),
        (
            "invalid UTF-8 in a str packet",
            body_with(1, &[0xa2, 0xc3, 0x28]),
            |e| matches!(e, WireError::InvalidUtf8 { .. }),
        ),
        (
            "invalid UTF-8 in a str sender",
            vec![0x93, 0x00, 0xa2, 0xff, 0xfe, 0x01],
            |e| matches!(e, WireError::InvalidUtf8 { .. }),
        ),
        ("an ext value", body_with(1, &[0xd4, 0x01, 0x00]), |e| {
            matches!(e, WireError::ExtNotSupported { .. })
        }),
        ("the reserved marker 0xc1", body_with(1, &[0xc1]), |e| {
            matches!(e, WireError::ReservedMarker { .. })
        }),
        ("a str cut short", body_with(1, &[0xa5, b'a', b'b']), |e| {
            matches!(e, WireError::TruncatedBody { .. })
        }),
        ("bytes after the body", body_with(1, &[0x00, 0x00]), |e| {
            matches!(e, WireError::TrailingBodyBytes { extra: 1 })
        }),
    ];
    let n = cases.len() as u64;
    for (name, body, check) in cases {
        let mut at = s.join(&[]);
        at.send(&framed(&body)).expect("write");
        let e = s.violation(at.conn, name);
        assert!(check(&e), "{name}: {e:?}");
        let id = PeerId::from(at.id.as_str());
        assert!(
            !s.victim.routes().contains(&id),
            "{name}: out of the routes"
        );
        at.assert_closed(PROMPT, name);
    }
    assert_eq!(s.victim.counters().violations, before.violations + n);
    s.honest_traffic("after bodies of the wrong shape");

    // Right shape, wrong types: ignored, the link stays.
    let mut at = s.join(&[]);
    let t = unix_now();
    let junk = [
        at.frame(
            MainFlag::Whisper,
            t,
            vec![
                Value::from(SubFlag::Peers.value()),
                Value::from("not a list"),
            ],
        ),
        at.frame(
            MainFlag::Whisper,
            t,
            vec![
                Value::from(SubFlag::Peers.value()),
                Value::Array(vec![
                    Value::from(7u8),
                    Value::Array(vec![Value::from(1u8)]),
                    Value::Nil,
                ]),
            ],
        ),
        at.frame(
            MainFlag::Whisper,
            t,
            vec![Value::from(SubFlag::Request.value()), Value::from(5u8)],
        ),
        at.frame(
            MainFlag::Broadcast,
            t,
            vec![
                Value::from(SubFlag::Request.value()),
                Value::Nil,
                Value::from(1u8),
            ],
        ),
        at.frame(
            MainFlag::Broadcast,
            t,
            vec![
                Value::from(SubFlag::Response.value()),
                Value::from(true),
                Value::Nil,
            ],
        ),
        at.frame(
            MainFlag::Renegotiate,
            t,
            vec![
                Value::from(SubFlag::Compression.value()),
                Value::from("zlib"),
            ],
        ),
        at.frame(MainFlag::Renegotiate, t, vec![Value::from("resend")]),
        at.frame(
            MainFlag::Whisper,
            t,
            vec![Value::from(SubFlag::Handshake.value()), Value::from(1u8)],
        ),
        at.frame(MainFlag::Broadcast, t, vec![]),
        at.frame(
            MainFlag::Broadcast,
            t,
            vec![Value::from(-1i8), Value::from(0.5f64)],
        ),
        at.frame(
            MainFlag::Whisper,
            t,
            vec![Value::Map(vec![(Value::Nil, Value::Nil)])],
        ),
    ];
    for f in &junk {
        at.send(f).expect("write");
    }
    let control = tag("after junk");
    let (f, _) = at.broadcast(unix_now(), vec![bin(&control)]);
    at.send(&f).expect("write");
    expect_payload(&*s.b, &control, "the attacker's broadcast after its junk");
    let aid = PeerId::from(at.id.as_str());
    s.assert_routes(&[&aid], "junk of the right shape is ignored");
    assert!(
        at.still_open(Duration::from_millis(100)),
        "the junk sender stays linked"
    );
    assert_eq!(s.victim.counters().violations, before.violations + n);

    s.honest_traffic("after junk of the right shape");
    mem.check("wrong shapes");
    s.close();
}

// ----- 5. huge containers, deep nesting --------------------------------------

/// msgpack containers claiming billions of items (array, map, str, bin,
/// the body array itself) and nesting far past `max_depth` (to a depth of
/// a million, which a recursive parser would not survive): each a
/// `ProtocolViolation`, without an allocation sized by the claim.
pub fn huge_containers(adapter: &dyn Adapter) {
    let mut s = Scene::new(adapter, |_| {});
    let mem = Memory::watch();
    let max_depth = Limits::default().max_depth;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        (
            "array32 claiming 4 billion",
            body_with(1, &[0xdd, 0xff, 0xff, 0xff, 0xff, 0x00]),
            |e| {
                matches!(
                    e,
                    WireError::ContainerTooLong {
                        len: 4_294_967_295,
                        ..
                    }
                )
            },
        ),
        (
            "map32 claiming 4 billion",
            body_with(1, &[0xdf, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00]),
            |e| {
                matches!(
                    e,
                    WireError::ContainerTooLong {
                        len: 4_294_967_295,
                        ..
                    }
                )
            },
        ),
        (
            "array32 claiming a million (under the cap, over the bytes)",
            body_with(1, &[0xdd, 0x00, 0x0f, 0x42, 0x40, 0x00]),
            |e| matches!(e, WireError::ContainerOverrun { len: 1_000_000, .. }),
        ),
        (
            "bin32 claiming 4 GiB",
            body_with(1, &[0xc6, 0xff, 0xff, 0xff, 0xff, 0x00]),
            |e| {
                matches!(
                    e,
                    WireError::TruncatedBody { .. } | WireError::ContainerOverrun { .. }
                )
            },
        ),
        (
            "str32 claiming 4 GiB",
            body_with(1, &[0xdb, 0xff, 0xff, 0xff, 0xff, b'a']),
            |e| {
                matches!(
                    e,
                    WireError::TruncatedBody { .. } | WireError::ContainerOverrun { .. }
                )
            },
        ),
        (
            "the body array claiming 4 billion fields",
            vec![0xdd, 0xff, 0xff, 0xff, 0xff, 0x00, 0xc4, 0x00, 0x01],
            |e| {
                matches!(
                    e,
                    WireError::ContainerTooLong { .. } | WireError::TooManyPackets { .. }
                )
            },
        ),
        ("nesting just past max_depth", nested(max_depth + 1), |e| {
            matches!(e, WireError::TooDeep { .. })
        }),
        ("nesting a million deep", nested(1_000_000), |e| {
            matches!(e, WireError::TooDeep { .. })
        }),
        (
            "maps nested a million deep",
            {
                let mut rest = Vec::with_capacity(2_000_001);
                for _ in 0..1_000_000 {
                    rest.extend_from_slice(&[0x81, 0x00]);
                }
                rest.push(0x00);
                body_with(1, &rest)
            },
            |e| matches!(e, WireError::TooDeep { .. }),
        ),
    ];
    let before = s.victim.counters();
    let n = cases.len() as u64;
    for (name, body, check) in cases {
        let mut at = s.join(&[]);
        let _ = at.send(&framed(&body));
        let e = s.violation(at.conn, name);
        assert!(check(&e), "{name}: {e:?}");
        at.assert_closed(PROMPT, name);
    }
    assert_eq!(s.victim.counters().violations, before.violations + n);
    // At the limit is fine: the body array is depth 1.
    let at = s.join(&[]);
    let mut deep = Value::Array(vec![]);
    for _ in 0..max_depth - 2 {
        deep = Value::Array(vec![deep]);
    }
    let marker = tag("deep but legal");
    let f = at.frame(
        MainFlag::Broadcast,
        unix_now(),
        vec![Value::from(SubFlag::Broadcast.value()), bin(&marker), deep],
    );
    let mut at = at;
    at.send(&f).expect("write");
    expect_payload(&*s.b, &marker, "a body at max_depth is relayed");

    s.honest_traffic("after huge containers");
    mem.check("huge containers");
    s.close();
}
