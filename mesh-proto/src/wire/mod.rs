//! The wire layer: py2p's frames, msgpack values, compression and ids,
//! byte for byte, with every peer-controlled size bounded.
//!
//! ```
//! use mesh_proto::wire::{decode_frame, Compression, Frame, Limits, SubFlag, MainFlag, Value};
//! let frame = Frame::new(
//!     MainFlag::Broadcast.value().into(),
//!     "5mSuhYToNoXU3cDFYZdQEsiuweJJY36MpvY5tVexReBT2RwxLxBN5J5L9jr3tVKhW6",
//!     1764000000,
//!     vec![Value::from(SubFlag::Broadcast.value()), Value::from(&b"hello"[..])],
//! );
//! // The first method this build has (all five by default), or plain.
//! let method = Compression::supported().first().copied();
//! let bytes = frame.encode(method).unwrap();
//! let advertised: Vec<Compression> = method.into_iter().collect();
//! let decoded = decode_frame(bytes, &advertised, &Limits::default()).unwrap();
//! assert_eq!(decoded.frame, frame);
//! assert_eq!(decoded.compression, method);
//! ```

mod compression;
mod deframer;
mod error;
mod flags;
mod frame;
mod frame_arena;
mod ids;
#[cfg(feature = "json")]
pub mod json;
mod limits;
mod msgpack;
mod value;

pub use compression::Compression;
pub use deframer::Deframer;
pub use error::WireError;
pub use flags::{MainFlag, RESERVED_FLAGS, SubFlag, UnknownFlag};
pub use frame::{
    CHECKSUM_LEN, Decoded, Frame, HEADER_LEN, SenderForm, Verified, decode_frame, decode_packet,
    frame_body, parse_body, parse_body_with, verify_packet,
};
pub(crate) use frame::{FrameParts, frame_hashed_body};
pub use frame_arena::{ARENA_CHUNK, FrameArena};
pub use ids::{
    Encryption, MsgId, PROTOCOL_VERSION, Protocol, base58_int, compare_base58_ints, node_id,
    python_addr_repr,
};
pub use limits::Limits;
pub use msgpack::{decode_value, encode_value};
pub use value::{Integer, Utf8Bytes, Value};
