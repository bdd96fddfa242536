//! A node's peers played by hand: ours (lazy push and link trimming
//! markers in the handshake) or py2p's (none), and what the mesh transmits,
//! read back.
#![allow(dead_code)] // each test file uses its own part

use std::time::{Duration, Instant};

use bytes::Bytes;
use mesh_proto::mesh::{Config, ConnId, Mesh, Output, PeerAddr, lazy, trim};
use mesh_proto::wire::{
    Decoded, Deframer, Encryption, Frame, Limits, MainFlag, MsgId, Protocol, SubFlag, Value,
    base58_int, decode_frame,
};

pub const UNIX: i64 = 1_764_000_000;

#[allow(clippy::disallowed_methods)] // the test, not the core, owns a clock
pub fn base() -> Instant {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

pub fn ms(t0: Instant, n: u64) -> Instant {
    t0 + Duration::from_millis(n)
}

pub fn config() -> Config {
    Config::new(
        Protocol::new("mesh", Encryption::Plaintext),
        PeerAddr::new("10.0.0.1", 4444),
    )
}

pub fn mesh(cfg: Config, t0: Instant) -> Mesh {
    Mesh::new(cfg, 7, t0, Duration::from_secs(UNIX as u64))
}

/// A peer played by hand: ours (`lazy`: the marker in its handshake) or py2p.
pub struct Peer {
    pub id: Bytes,
    pub n: u64,
    pub lazy: bool,
}

impl Peer {
    pub fn ours(n: u64) -> Peer {
        Peer {
            id: Bytes::from(base58_int(&(0x00C0_FFEE_0000_u64 + n).to_be_bytes())),
            n,
            lazy: true,
        }
    }

    pub fn py2p(n: u64) -> Peer {
        Peer {
            lazy: false,
            ..Peer::ours(n)
        }
    }

    pub fn frame(&self, msg_type: MainFlag, payload: Vec<Value>) -> Bytes {
        Frame::new(msg_type.value().into(), self.id.clone(), UNIX, payload)
            .encode(None)
            .unwrap()
    }

    pub fn handshake(&self) -> Bytes {
        let methods = if self.lazy {
            vec![
                Value::from(0x13u64),
                Value::from(lazy::MARKER),
                Value::from(trim::MARKER),
            ]
        } else {
            vec![Value::from(0x13u64)]
        };
        self.frame(
            MainFlag::Whisper,
            vec![
                Value::from(u64::from(SubFlag::Handshake.value())),
                Value::Bin(self.id.clone()),
                Value::Bin(Bytes::from(
                    Protocol::new("mesh", Encryption::Plaintext).id(),
                )),
                Value::Array(vec![
                    Value::from(format!("10.0.1.{}", self.n)),
                    Value::from(5000u64),
                ]),
                Value::Array(methods),
            ],
        )
    }

    pub fn broadcast(&self, text: &str) -> (Bytes, MsgId) {
        let frame = self.frame(
            MainFlag::Broadcast,
            vec![
                Value::from(u64::from(SubFlag::Broadcast.value())),
                Value::from(text),
            ],
        );
        let id = decode(&frame).id;
        (frame, id)
    }

    pub fn ext(&self, sub: u64, ids: Option<&[MsgId]>) -> Bytes {
        let mut payload = vec![Value::from(sub)];
        if let Some(ids) = ids {
            payload.push(Value::Array(
                ids.iter().map(|i| Value::from(&i.0[..])).collect(),
            ));
        }
        self.frame(MainFlag::Renegotiate, payload)
    }
}

pub fn decode(frame: &Bytes) -> Decoded {
    decode_frame(frame.clone(), &[], &Limits::default()).unwrap()
}

/// Outputs so far, every transmit reported written.
pub fn drain(m: &mut Mesh) -> Vec<Output> {
    let outs: Vec<Output> = std::iter::from_fn(|| m.poll_output()).collect();
    for o in &outs {
        if let Output::Transmit { conn, bytes } = o {
            m.handle_written(*conn, bytes.len());
        }
    }
    outs
}

/// The frames sent on `conn`, decoded.
pub fn sent_to(outs: &[Output], conn: ConnId) -> Vec<Decoded> {
    let mut d = Deframer::new(&Limits::default());
    for o in outs {
        if let Output::Transmit { conn: c, bytes } = o
            && *c == conn
        {
            d.feed(bytes);
        }
    }
    std::iter::from_fn(|| d.next_frame().unwrap())
        .map(|f| decode(&f))
        .collect()
}

/// The extension frames sent on `conn`: (sub-flag, ids).
pub fn ext_to(outs: &[Output], conn: ConnId) -> Vec<(u64, Vec<MsgId>)> {
    sent_to(outs, conn)
        .into_iter()
        .filter(|d| d.frame.msg_type == u64::from(MainFlag::Renegotiate.value()))
        .filter_map(|d| {
            let sub = d.frame.payload.first()?.as_int()?.as_u64()?;
            let ids = d
                .frame
                .payload
                .get(1)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|v| MsgId(v.as_str_or_bin().unwrap()[..].try_into().unwrap()))
                        .collect()
                })
                .unwrap_or_default();
            Some((sub, ids))
        })
        .collect()
}

/// The broadcast ids sent on `conn` in full.
pub fn full_to(outs: &[Output], conn: ConnId) -> Vec<MsgId> {
    sent_to(outs, conn)
        .into_iter()
        .filter(|d| d.frame.msg_type == u64::from(MainFlag::Broadcast.value()))
        .map(|d| d.id)
        .collect()
}

pub fn join(m: &mut Mesh, p: &Peer, now: Instant) -> ConnId {
    let conn = m.handle_accepted(None, now);
    m.handle_bytes(conn, &p.handshake(), now);
    drain(m);
    conn
}
