//! Property tests: arbitrary value trees survive frame -> bytes -> deframe at
//! random chunkings -> decode, for every compression compiled in.

use bytes::Bytes;
use mesh_proto::wire::{
    Compression, Deframer, Frame, Integer, Limits, Value, decode_packet, encode_value, parse_body,
    parse_body_with,
};
use proptest::prelude::*;

fn integer() -> impl Strategy<Value = Integer> {
    prop_oneof![
        any::<i64>().prop_map(Integer::from),
        any::<u64>().prop_map(Integer::from),
        (-40i64..300).prop_map(Integer::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        integer().prop_map(Value::Int),
        any::<f64>().prop_map(Value::F64),
        any::<f32>().prop_map(Value::F32),
        ".{0,40}".prop_map(Value::from),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::vec((inner.clone(), inner), 0..6).prop_map(Value::Map),
        ]
    })
}

fn frame() -> impl Strategy<Value = Frame> {
    (
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..80),
        any::<i64>(),
        proptest::collection::vec(value(), 0..6),
    )
        .prop_map(|(t, sender, time, payload)| Frame::new(t, sender, time, payload))
}

fn methods() -> Vec<Option<Compression>> {
    std::iter::once(None)
        .chain(Compression::supported().iter().copied().map(Some))
        .collect()
}

/// Values compared by their encoding: NaN is not equal to itself as a value.
fn canonical(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(&mut out, &Value::Array(values.to_vec())).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn frames_survive_any_chunking_and_compression(
        frames in proptest::collection::vec(frame(), 1..4),
        cuts in proptest::collection::vec(1usize..200, 1..20),
        method_pick in any::<usize>(),
    ) {
        let all = methods();
        let method = all[method_pick % all.len()];
        let limits = Limits::default();
        let mut stream = Vec::new();
        let mut ids = Vec::new();
        for f in &frames {
            let (bytes, id) = f.encode_with_id(method).unwrap();
            stream.extend_from_slice(&bytes);
            ids.push(id);
        }
        let mut d = Deframer::new(&limits);
        let mut packets = Vec::new();
        let mut at = 0;
        for cut in cuts.iter().cycle() {
            if at >= stream.len() { break; }
            let end = (at + cut).min(stream.len());
            d.feed(&stream[at..end]);
            at = end;
            while let Some(p) = d.next_packet().unwrap() {
                packets.push(p);
            }
        }
        prop_assert_eq!(packets.len(), frames.len());
        let advertised: Vec<Compression> = method.into_iter().collect();
        for ((packet, f), id) in packets.into_iter().zip(&frames).zip(&ids) {
            let d = decode_packet(packet, &advertised, &limits).unwrap();
            prop_assert_eq!(d.compression, method);
            prop_assert_eq!(&d.id, id);
            prop_assert_eq!(d.frame.msg_type, f.msg_type);
            prop_assert_eq!(&d.frame.sender, &f.sender);
            prop_assert_eq!(d.frame.time, f.time);
            prop_assert_eq!(canonical(&d.frame.payload), canonical(&f.payload));
        }
    }

    #[test]
    fn decoded_values_point_into_the_frame(text in "[a-z]{1,50}", blob in proptest::collection::vec(any::<u8>(), 1..100)) {
        let f = Frame::new(0, Bytes::from_static(b"id"), 0, vec![Value::from(text.as_str()), Value::from(blob)]);
        let bytes = f.encode(None).unwrap();
        let range = bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len();
        let d = mesh_proto::wire::decode_frame(bytes.clone(), &[], &Limits::default()).unwrap();
        let Value::Str(s) = &d.frame.payload[0] else { panic!("not a str") };
        let Value::Bin(b) = &d.frame.payload[1] else { panic!("not a bin") };
        prop_assert!(range.contains(&(s.as_bytes().as_ptr() as usize)));
        prop_assert!(range.contains(&(b.as_ptr() as usize)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        mesh_proto::wire::decode_value(&Bytes::from(data.clone()), &Limits::default()).ok();
        let _ = mesh_proto::wire::decode_frame(Bytes::from(data), Compression::supported(), &Limits::default());
    }
}

/// A parse that builds no packets (a relay-only node's) fails exactly when,
/// and as, the full parse does; when both succeed it has the same header,
/// and its closure saw the first packet.
fn lean_parse_agrees(body: Vec<u8>, limits: &Limits) -> Result<(), TestCaseError> {
    let body = Bytes::from(body);
    let full = parse_body(&body, limits);
    let mut seen_first = None;
    let lean = parse_body_with(&body, limits, |_, first| {
        seen_first = Some(first.clone());
        false
    });
    match (full, lean) {
        (Ok(full), Ok(lean)) => {
            prop_assert!(lean.payload.is_empty());
            prop_assert_eq!(seen_first.as_ref(), full.payload.first());
            prop_assert_eq!(
                (lean.msg_type, &lean.sender, lean.time),
                (full.msg_type, &full.sender, full.time)
            );
        }
        (full, lean) => prop_assert_eq!(full.err(), lean.err()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_lean_parse_checks_what_a_full_parse_checks(
        f in frame(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in any::<usize>(),
        tight in any::<bool>(),
    ) {
        let mut body = f.encode_body().unwrap();
        for (at, byte) in flips {
            let n = body.len();
            body[at % n] = byte;
        }
        // Sometimes truncated, sometimes under limits it breaks.
        if cut % 3 == 0 {
            body.truncate(cut % (body.len() + 1));
        }
        let mut limits = Limits::default();
        if tight {
            (limits.max_depth, limits.max_container_len) = (2, 4);
        }
        lean_parse_agrees(body, &limits)?;
    }

    #[test]
    fn a_lean_parse_of_any_bytes_agrees(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        lean_parse_agrees(data, &Limits::default())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The body is sized exactly up front: one allocation, no growth.
    #[test]
    fn encoded_body_is_sized_exactly(f in frame()) {
        let body = f.encode_body().unwrap();
        prop_assert_eq!(body.len(), body.capacity());
    }
}
