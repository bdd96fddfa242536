//! Property checks shared by the cargo-fuzz targets in `fuzz/` and the stable
//! corpus-replay test, so both run exactly the same assertions.
//!
//! Each function panics when a property fails; that is how a fuzzer reports.

use bytes::Bytes;

use crate::wire::{
    Compression, Decoded, Deframer, Limits, SenderForm, Value, decode_frame, encode_value,
};

/// Decode arbitrary bytes as a whole frame. On success: encoding the content
/// again and decoding that gives the same content; when the original body was
/// in canonical form the bytes and id are identical too.
pub fn decode_frame_roundtrip(data: &[u8]) {
    let limits = Limits::default();
    let Ok(first) = decode_frame(
        Bytes::copy_from_slice(data),
        Compression::supported(),
        &limits,
    ) else {
        return;
    };
    let (bytes, id) = first
        .frame
        .encode_with_id(None)
        .expect("a decoded frame always encodes");
    let second = decode_frame(bytes, &[], &limits).expect("our own encoding decodes");
    assert_same_content(&first, &second);
    if second.body == first.body {
        assert_eq!(id, first.id, "same body, different id");
    }
    if let Some(method) = first.compression {
        let again = first.frame.encode(Some(method)).expect("compresses");
        let third =
            decode_frame(again, &[method], &limits).expect("compressed re-encoding decodes");
        assert_same_content(&first, &third);
        assert_eq!(third.compression, Some(method));
    }
}

/// Feed a stream to a deframer in the chunk sizes named by the first bytes of
/// `data`: the frames that come out are the same as when it is fed whole.
pub fn deframe_splits(data: &[u8]) {
    let Some((&n_splits, rest)) = data.split_first() else {
        return;
    };
    let n_splits = usize::from(n_splits % 16).min(rest.len());
    let (sizes, stream) = rest.split_at(n_splits);
    let limits = Limits {
        max_frame: 1 << 16,
        ..Limits::default()
    };
    let whole = drain_all(&limits, std::iter::once(stream));
    let mut chunks = Vec::new();
    let mut at = 0;
    for (i, s) in sizes.iter().cycle().take(stream.len().max(1)).enumerate() {
        if at >= stream.len() {
            break;
        }
        let size = (usize::from(*s) + i % 3).clamp(1, stream.len() - at);
        chunks.push(&stream[at..at + size]);
        at += size;
    }
    if at < stream.len() {
        chunks.push(&stream[at..]);
    }
    let split = drain_all(&limits, chunks.into_iter());
    assert_eq!(whole, split, "chunking changed the frames");
    for frame in whole.0 {
        let _ = decode_frame(frame, Compression::supported(), &limits);
    }
}

type Drained = (Vec<Bytes>, Option<String>);

fn drain_all<'a>(limits: &Limits, chunks: impl Iterator<Item = &'a [u8]>) -> Drained {
    let mut d = Deframer::new(limits);
    let mut frames = Vec::new();
    for chunk in chunks {
        d.feed(chunk);
        loop {
            match d.next_frame() {
                Ok(Some(f)) => {
                    assert!(f.len() >= 4 && f.len() - 4 <= limits.max_frame);
                    frames.push(f);
                }
                Ok(None) => break,
                Err(e) => return (frames, Some(e.to_string())),
            }
        }
    }
    (frames, None)
}

fn assert_same_content(a: &Decoded, b: &Decoded) {
    assert_eq!(a.frame.msg_type, b.frame.msg_type);
    assert_eq!(a.frame.sender, b.frame.sender);
    assert_eq!(b.frame.sender_form, SenderForm::Bin);
    assert_eq!(a.frame.time, b.frame.time);
    // Compare packets by their canonical encoding: NaN != NaN as a value.
    assert_eq!(canonical(&a.frame.payload), canonical(&b.frame.payload));
}

fn canonical(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(&mut out, &Value::Array(values.to_vec())).expect("decoded values encode");
    out
}
