//! [`Prepared`]: one of our own messages encoded and hashed outside the
//! [`Mesh`], so a host can do that work on its caller's thread and hand the
//! driver a finished body (see [`Mesh::send_prepared`]).

use bytes::Bytes;

use crate::wire::{
    CHECKSUM_LEN, FrameArena, FrameParts, HEADER_LEN, MainFlag, MsgId, SubFlag, Value, WireError,
};

use super::outbound::Variants;
use super::{Mesh, PeerId, SendError};

/// A message of ours, encoded, with its id.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    msg_type: u64,
    /// The plain frame (length header, checksum, body) in one buffer: what
    /// most peers are sent, made without a second copy of the body.
    frame: Bytes,
    id: MsgId,
}

/// Where a plain frame's body starts.
const BODY_AT: usize = HEADER_LEN + CHECKSUM_LEN;

impl Prepared {
    /// What [`Mesh::send`] would send for `packets` with `flag` (the
    /// sub-flag goes first), from `sender` at `unix_time` (seconds).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use mesh_proto::mesh::{Config, Mesh, PeerAddr, Prepared};
    /// use mesh_proto::wire::{Encryption, MainFlag, Protocol, Value};
    ///
    /// let now = Instant::now();
    /// let cfg = Config::new(Protocol::new("chat", Encryption::Plaintext), PeerAddr::new("10.0.0.1", 4444));
    /// let mut mesh = Mesh::new(cfg, 1, now, Duration::from_secs(1_700_000_000));
    /// let p = Prepared::new(mesh.id(), MainFlag::Broadcast, vec![Value::from("hi")], 1_700_000_000)?;
    /// let id = *p.id();
    /// assert_eq!(mesh.send_prepared(p, now), Ok(id));
    /// # Ok::<(), mesh_proto::wire::WireError>(())
    /// ```
    pub fn new(
        sender: &PeerId,
        flag: MainFlag,
        packets: Vec<Value>,
        unix_time: i64,
    ) -> Result<Prepared, WireError> {
        Self::encoded(sender, flag, &packets, unix_time, |parts| {
            parts.encode_with_id(None)
        })
    }

    /// [`Prepared::new`], the frame written in `arena`: sending it, and
    /// each clone a send takes, costs no allocation of its own.
    pub fn new_in(
        arena: &mut FrameArena,
        sender: &PeerId,
        flag: MainFlag,
        packets: Vec<Value>,
        unix_time: i64,
    ) -> Result<Prepared, WireError> {
        Self::encoded(sender, flag, &packets, unix_time, |parts| {
            arena.encode(parts)
        })
    }

    /// The sub-flag first, then `packets`, encoded by `encode`.
    fn encoded(
        sender: &PeerId,
        flag: MainFlag,
        packets: &[Value],
        unix_time: i64,
        encode: impl FnOnce(&FrameParts<'_>) -> Result<(Bytes, MsgId), WireError>,
    ) -> Result<Prepared, WireError> {
        let msg_type = u64::from(flag.value());
        let sub = Value::from(sub_flag(flag).value());
        let parts = FrameParts {
            msg_type,
            sender: &sender.0,
            time: unix_time,
            payload: [std::slice::from_ref(&sub), packets],
        };
        let (frame, id) = encode(&parts)?;
        Ok(Prepared {
            msg_type,
            frame,
            id,
        })
    }

    /// The message id (SHA-256 of the body).
    pub fn id(&self) -> &MsgId {
        &self.id
    }

    /// The encoded body's length.
    pub fn len(&self) -> usize {
        self.frame.len() - BODY_AT
    }

    /// Never: a body holds at least its msgpack header.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The sub-flag our messages with `flag` carry first: whisper for a
/// whisper, broadcast otherwise.
fn sub_flag(flag: MainFlag) -> SubFlag {
    match flag {
        MainFlag::Whisper => SubFlag::Whisper,
        _ => SubFlag::Broadcast,
    }
}

impl Mesh {
    /// A hint that changes nothing: starts loading the memory that sending
    /// `msg` will read (its id's places in the dedup cache, a trip to memory
    /// on a busy node) and returns at once. A host holding several sends
    /// calls it for each before performing the first, so that their loads
    /// overlap instead of coming one after another.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use mesh_proto::mesh::{Config, Mesh, PeerAddr, Prepared};
    /// use mesh_proto::wire::{Encryption, MainFlag, Protocol, Value};
    ///
    /// let now = Instant::now();
    /// let cfg = Config::new(Protocol::new("chat", Encryption::Plaintext), PeerAddr::new("10.0.0.1", 4444));
    /// let mut mesh = Mesh::new(cfg, 1, now, Duration::from_secs(1_700_000_000));
    /// let sends: Vec<Prepared> = (0..4)
    ///     .map(|i| Prepared::new(mesh.id(), MainFlag::Broadcast, vec![Value::from(i)], 1_700_000_000))
    ///     .collect::<Result<_, _>>()?;
    /// for p in &sends {
    ///     mesh.prefetch_send(p);
    /// }
    /// for p in sends {
    ///     let id = *p.id();
    ///     assert_eq!(mesh.send_prepared(p, now), Ok(id));
    /// }
    /// # Ok::<(), mesh_proto::wire::WireError>(())
    /// ```
    pub fn prefetch_send(&self, msg: &Prepared) {
        if msg.msg_type == u64::from(MainFlag::Broadcast.value()) {
            self.seen.prefetch(self.seen.probe(&msg.id.0));
        }
    }

    /// Sends a message prepared outside the core, as [`Mesh::send`] would
    /// have: a broadcast floods, anything else reaches direct peers.
    pub fn send_prepared(
        &mut self,
        msg: Prepared,
        now: std::time::Instant,
    ) -> Result<MsgId, SendError> {
        let Prepared {
            msg_type,
            frame,
            id,
        } = msg;
        let body = frame.slice(BODY_AT..);
        let variants = Variants::with(None, frame, id);
        self.with_every_route(|mesh, targets| {
            mesh.send_body_own(targets, msg_type, body, id, variants, now)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Frame;

    #[test]
    fn a_prepared_frame_is_the_frame_a_send_makes() {
        let sender = PeerId(Bytes::from_static(b"QmPreparedSender"));
        for flag in [MainFlag::Broadcast, MainFlag::Whisper] {
            for packets in [
                vec![],
                vec![Value::from("hi")],
                vec![Value::Bin(Bytes::from(vec![7u8; 300])), Value::from(42)],
            ] {
                let p = Prepared::new(&sender, flag, packets.clone(), 1_764_000_000).unwrap();
                let mut payload = vec![Value::from(sub_flag(flag).value())];
                payload.extend(packets);
                let frame = Frame::new(
                    u64::from(flag.value()),
                    sender.0.clone(),
                    1_764_000_000,
                    payload,
                );
                let (bytes, id) = frame.encode_with_id(None).unwrap();
                assert_eq!((&p.frame, &p.id), (&bytes, &id), "{flag:?}");
                assert_eq!(p.len(), frame.encode_body().unwrap().len());
            }
        }
    }
}
