//! A table of malformed inputs: each gives its own typed error, never a panic.

use bytes::Bytes;
use mesh_proto::wire::{Compression, Deframer, Limits, WireError, decode_frame};

#[path = "support/raw_bodies.rs"]
mod raw_bodies;
use raw_bodies::{body_with, framed, nested};

type Check = fn(&WireError) -> bool;

#[test]
fn each_malformed_input_has_its_own_error() {
    let d = Limits::default();
    let few_packets = Limits {
        max_packets: 2,
        ..d
    };
    let mut too_long_frame = vec![0u8; 4];
    too_long_frame[..4].copy_from_slice(&(u32::try_from(d.max_frame).unwrap() + 1).to_be_bytes());
    let good = framed(&body_with(1, &[0x00]));
    let mut bad_sum = good.to_vec();
    let last = bad_sum.len() - 1;
    bad_sum[last] ^= 1;
    let mut trailing = good.to_vec();
    trailing.push(0);

    let cases: Vec<(&str, Bytes, Limits, Check)> = vec![
        (
            "frame over max_frame",
            Bytes::from(too_long_frame),
            d,
            |e| matches!(e, WireError::FrameTooLarge { len, max } if *len == max + 1),
        ),
        ("truncated frame", good.slice(..good.len() - 1), d, |e| {
            matches!(e, WireError::TruncatedFrame { .. })
        }),
        ("truncated header", good.slice(..3), d, |e| {
            matches!(
                e,
                WireError::TruncatedFrame {
                    needed: 4,
                    available: 3
                }
            )
        }),
        ("bytes after the frame", Bytes::from(trailing), d, |e| {
            matches!(e, WireError::TrailingFrameBytes { extra: 1 })
        }),
        (
            "packet shorter than a checksum",
            Bytes::from_static(&[0, 0, 0, 3, 1, 2, 3]),
            d,
            |e| matches!(e, WireError::PacketTooShort { len: 3 }),
        ),
        ("bad checksum", Bytes::from(bad_sum), d, |e| {
            matches!(e, WireError::ChecksumMismatch { .. })
        }),
        ("body not an array", framed(&[0x80]), d, |e| {
            matches!(e, WireError::BodyNotArray)
        }),
        (
            "fewer than 3 header fields",
            framed(&[0x92, 0x00, 0xc4, 0x00]),
            d,
            |e| matches!(e, WireError::TooFewFields { got: 2 }),
        ),
        (
            "msg_type a str",
            framed(&[0x93, 0xa1, b'x', 0xc4, 0x00, 0x01]),
            d,
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
            framed(&[0x93, 0xff, 0xc4, 0x00, 0x01]),
            d,
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
        ("sender an int", framed(&[0x93, 0x00, 0x05, 0x01]), d, |e| {
            matches!(
                e,
                WireError::BadHeaderField {
                    field: "sender",
                    ..
                }
            )
        }),
        (
            "time a str",
            framed(&[0x93, 0x00, 0xc4, 0x00, 0xa1, b't']),
            d,
            |e| matches!(e, WireError::BadHeaderField { field: "time", .. }),
        ),
        (
            "time past i64",
            framed(&[
                0x93, 0x00, 0xc4, 0x00, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ]),
            d,
            |e| matches!(e, WireError::BadHeaderField { field: "time", .. }),
        ),
        (
            "invalid UTF-8 in a str",
            framed(&body_with(1, &[0xa2, 0xc3, 0x28])),
            d,
            |e| matches!(e, WireError::InvalidUtf8 { .. }),
        ),
        (
            "array32 claiming billions",
            framed(&body_with(1, &[0xdd, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00])),
            d,
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
            "map32 claiming billions",
            framed(&body_with(1, &[0xdf, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00])),
            d,
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
            "array16 claiming more than the bytes left",
            framed(&body_with(1, &[0xdc, 0x03, 0xe8, 0x00, 0x00])),
            d,
            |e| {
                matches!(
                    e,
                    WireError::ContainerOverrun {
                        len: 1000,
                        remaining: 2,
                        ..
                    }
                )
            },
        ),
        (
            "body array claiming more fields than present",
            framed(&body_with(5, &[0x00])),
            d,
            |e| matches!(e, WireError::TruncatedBody { .. }),
        ),
        (
            "str cut short",
            framed(&body_with(1, &[0xa5, b'a', b'b'])),
            d,
            |e| matches!(e, WireError::TruncatedBody { .. }),
        ),
        (
            "bytes after the body",
            framed(&body_with(1, &[0x00, 0x00])),
            d,
            |e| matches!(e, WireError::TrailingBodyBytes { extra: 1 }),
        ),
        (
            "nesting past max_depth",
            framed(&nested(d.max_depth + 5)),
            d,
            |e| matches!(e, WireError::TooDeep { max: 64, .. }),
        ),
        (
            "more packets than max_packets",
            framed(&body_with(3, &[0x00, 0x01, 0x02])),
            few_packets,
            |e| matches!(e, WireError::TooManyPackets { count: 3, max: 2 }),
        ),
        (
            "ext type",
            framed(&body_with(1, &[0xd4, 0x01, 0x00])),
            d,
            |e| matches!(e, WireError::ExtNotSupported { .. }),
        ),
        (
            "reserved marker 0xc1",
            framed(&body_with(1, &[0xc1])),
            d,
            |e| matches!(e, WireError::ReservedMarker { .. }),
        ),
    ];
    let mut seen = std::collections::HashSet::new();
    for (name, bytes, limits, check) in cases {
        let err = decode_frame(bytes.clone(), Compression::supported(), &limits).expect_err(name);
        assert!(check(&err), "{name}: got {err:?}");
        assert!(!err.to_string().is_empty());
        seen.insert(std::mem::discriminant(&err));
    }
    assert!(
        seen.len() >= 17,
        "errors should be distinct, got {} kinds",
        seen.len()
    );
}

#[test]
fn depth_at_the_limit_is_accepted() {
    let d = Limits::default();
    // The body array is depth 1, so max_depth - 1 nested arrays fit.
    decode_frame(framed(&nested(d.max_depth - 1)), &[], &d).unwrap();
    let err = decode_frame(framed(&nested(d.max_depth)), &[], &d).unwrap_err();
    assert!(
        matches!(err, WireError::TooDeep { depth: 65, max: 64 }),
        "{err:?}"
    );
}

#[test]
fn limit_errors_name_the_limit_and_value() {
    let e = WireError::FrameTooLarge { len: 20, max: 10 };
    assert_eq!(e.to_string(), "frame of 20 bytes exceeds max_frame (10)");
    let e = WireError::TooDeep { depth: 65, max: 64 };
    assert!(e.to_string().contains("max_depth (64)"));
}

#[cfg(feature = "zlib")]
#[test]
fn a_zlib_bomb_is_an_error_not_an_allocation() {
    let limits = Limits {
        max_decompressed: 1 << 20,
        ..Limits::default()
    };
    // 64 MiB of zeros packs into ~64 KiB; its "checksum" does not matter, the cap trips first.
    let bomb = Compression::Zlib.compress(&vec![0u8; 64 << 20]).unwrap();
    assert!(bomb.len() < 100_000);
    let err = mesh_proto::wire::decode_packet(Bytes::from(bomb), &[Compression::Zlib], &limits)
        .unwrap_err();
    assert!(
        matches!(err, WireError::DecompressedTooLarge { method: Compression::Zlib, max } if max == 1 << 20),
        "{err:?}"
    );
}

#[cfg(feature = "snappy")]
#[test]
fn a_snappy_bomb_is_refused_from_its_header() {
    let limits = Limits {
        max_decompressed: 1024,
        ..Limits::default()
    };
    let bomb = Compression::Snappy.compress(&[0u8; 4096]).unwrap();
    let err = Compression::Snappy
        .decompress(&bomb, limits.max_decompressed)
        .unwrap_err();
    assert!(
        matches!(err, WireError::DecompressedTooLarge { .. }),
        "{err:?}"
    );
}

#[test]
fn unknown_compression_flags_are_typed_errors() {
    assert_eq!(
        Compression::try_from(0x14u8),
        Err(WireError::UnknownCompression(0x14))
    );
    assert_eq!(Compression::try_from(0x13u8), Ok(Compression::Zlib));
}

#[test]
fn deframer_rejects_an_oversized_header_before_buffering_the_body() {
    let limits = Limits {
        max_frame: 1000,
        ..Limits::default()
    };
    let mut d = Deframer::new(&limits);
    d.feed(&1001u32.to_be_bytes());
    let err = d.next_frame().unwrap_err();
    assert_eq!(
        err,
        WireError::FrameTooLarge {
            len: 1001,
            max: 1000
        }
    );
    // The stream has lost its framing: later bytes are dropped, the error stays.
    d.feed(&[0u8; 5000]);
    assert_eq!(d.buffered(), 0);
    assert_eq!(d.next_frame().unwrap_err(), err);
}

#[test]
fn deframer_handles_many_frames_and_a_lone_next_header() {
    let a = framed(&body_with(1, &[0x00]));
    let b = framed(&body_with(1, &[0x01]));
    let mut stream = a.to_vec();
    stream.extend_from_slice(&b[..4]); // exactly a next header: py2p chokes here
    let mut d = Deframer::new(&Limits::default());
    d.feed(&stream);
    assert_eq!(d.next_frame().unwrap(), Some(a));
    assert_eq!(d.next_frame().unwrap(), None);
    assert!(d.has_partial());
    d.feed(&b[4..]);
    assert_eq!(d.next_frame().unwrap(), Some(b));
    assert!(!d.has_partial());
}
