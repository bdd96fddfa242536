//! Every vector made by the real py2p decodes to its recorded fields and id,
//! and encoding the recorded fields gives py2p's bytes.

use bytes::Bytes;
use mesh_proto::wire::json::{from_json, to_json};
use mesh_proto::wire::{
    Compression, Encryption, Frame, Limits, MainFlag, Protocol, SubFlag, base58_int, decode_frame,
    node_id, python_addr_repr,
};
use mesh_tests::{py2p_vectors, unhex};
use serde_json::{Value as Json, json};

#[test]
fn protocol_ids_match_py2p() {
    let v = py2p_vectors();
    let protocols = v["protocols"].as_array().unwrap();
    assert!(protocols.len() >= 6);
    for p in protocols {
        let enc = match p["encryption"].as_str().unwrap() {
            "Plaintext" => Encryption::Plaintext,
            "SSL" => Encryption::Ssl,
            other => panic!("unknown encryption {other}"),
        };
        let ours = Protocol::new(p["subnet"].as_str().unwrap(), enc).id();
        assert_eq!(ours, p["id"].as_str().unwrap(), "{p}");
    }
}

#[test]
fn base58_of_integers_matches_py2p() {
    let v = py2p_vectors();
    for e in v["base58_int"].as_array().unwrap() {
        let bytes = unhex(e["bytes_hex"].as_str().unwrap());
        assert_eq!(base58_int(&bytes), e["b58"].as_str().unwrap(), "{e}");
    }
}

#[test]
fn node_ids_match_py2p() {
    let v = py2p_vectors();
    for e in v["node_ids"].as_array().unwrap() {
        let host = e["out_addr"][0].as_str().unwrap();
        let port = u16::try_from(e["out_addr"][1].as_u64().unwrap()).unwrap();
        let repr = python_addr_repr(host, port);
        assert_eq!(repr, e["out_addr_repr"].as_str().unwrap());
        let id = node_id(
            &repr,
            e["protocol_id"].as_str().unwrap(),
            e["salt"].as_str().unwrap(),
        );
        assert_eq!(id, e["id"].as_str().unwrap());
    }
}

#[test]
fn flags_match_py2p() {
    let v = py2p_vectors();
    let flags = v["flags"].as_object().unwrap();
    let main_names = ["broadcast", "renegotiate", "whisper", "ping", "pong"];
    for f in MainFlag::ALL {
        assert_eq!(flags[f.name()].as_u64(), Some(u64::from(f.value())), "{f}");
    }
    for f in SubFlag::ALL {
        // py2p names main and sub flags in one table; where names clash the value is the same.
        if !main_names.contains(&f.name()) || flags[f.name()].as_u64() == Some(u64::from(f.value()))
        {
            assert_eq!(flags[f.name()].as_u64(), Some(u64::from(f.value())), "{f}");
        }
    }
    for c in Compression::ALL {
        assert_eq!(flags[c.name()].as_u64(), Some(u64::from(c.flag())), "{c}");
        assert_eq!(Compression::try_from(c.flag()).unwrap(), c);
    }
}

#[test]
fn our_preference_order_is_py2ps() {
    // py2p had no snappy installed when the vectors were made.
    let v = py2p_vectors();
    let theirs: Vec<u64> = v["py2p_compression_preference"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    let ours: Vec<u64> = Compression::supported()
        .iter()
        .filter(|c| **c != Compression::Snappy)
        .map(|c| u64::from(c.flag()))
        .collect();
    assert_eq!(ours, theirs);
}

fn vector_frames() -> Vec<Json> {
    let frames = py2p_vectors()["frames"].as_array().unwrap().clone();
    assert!(frames.len() >= 25, "vectors lost frames");
    frames
}

fn compression_of(f: &Json) -> Option<Compression> {
    f["compression"]
        .as_u64()
        .map(|c| Compression::try_from(c).unwrap())
}

#[test]
fn every_vector_frame_decodes_to_its_recorded_fields() {
    let limits = Limits::default();
    for f in vector_frames() {
        let name = f["name"].as_str().unwrap();
        let bytes = Bytes::from(unhex(f["frame_hex"].as_str().unwrap()));
        let advertised: Vec<Compression> = compression_of(&f).into_iter().collect();
        // Once as the peer advertised, once with nothing advertised (the fallback path).
        for adv in [advertised.as_slice(), &[]] {
            let d =
                decode_frame(bytes.clone(), adv, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(d.frame.msg_type, f["msg_type"].as_u64().unwrap(), "{name}");
            assert_eq!(
                json!({"bin": hex::encode(&d.frame.sender)}),
                f["sender"],
                "{name}"
            );
            assert_eq!(d.frame.time, f["time"].as_i64().unwrap(), "{name}");
            let payload: Vec<Json> = d.frame.payload.iter().map(to_json).collect();
            assert_eq!(Json::Array(payload), f["payload"], "{name}");
            assert_eq!(d.id.to_hex(), f["id_hex"].as_str().unwrap(), "{name}");
            assert_eq!(
                hex::encode(&d.body),
                f["body_hex"].as_str().unwrap(),
                "{name}"
            );
            assert_eq!(d.compression, compression_of(&f), "{name}");
        }
    }
}

fn recorded_frame(f: &Json) -> Frame {
    let sender = unhex(f["sender"]["bin"].as_str().unwrap());
    let payload = f["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| from_json(p).unwrap())
        .collect();
    Frame::new(
        f["msg_type"].as_u64().unwrap(),
        sender,
        f["time"].as_i64().unwrap(),
        payload,
    )
}

#[test]
fn encoding_recorded_fields_gives_py2ps_bytes() {
    let limits = Limits::default();
    let mut compressed_seen = 0;
    for f in vector_frames() {
        let name = f["name"].as_str().unwrap();
        let frame = recorded_frame(&f);
        assert_eq!(
            hex::encode(frame.encode_body().unwrap()),
            f["body_hex"].as_str().unwrap(),
            "{name}: body"
        );
        match compression_of(&f) {
            None => {
                let (bytes, id) = frame.encode_with_id(None).unwrap();
                assert_eq!(
                    hex::encode(&bytes),
                    f["frame_hex"].as_str().unwrap(),
                    "{name}"
                );
                assert_eq!(id.to_hex(), f["id_hex"].as_str().unwrap(), "{name}");
            }
            Some(method) => {
                compressed_seen += 1;
                let bytes = frame.encode(Some(method)).unwrap();
                let d = decode_frame(bytes, &[method], &limits).unwrap();
                assert_eq!(d.compression, Some(method), "{name}");
                assert_eq!(
                    hex::encode(&d.body),
                    f["body_hex"].as_str().unwrap(),
                    "{name}"
                );
                assert_eq!(d.id.to_hex(), f["id_hex"].as_str().unwrap(), "{name}");
            }
        }
    }
    assert_eq!(compressed_seen, 4, "one vector per py2p compression method");
}
