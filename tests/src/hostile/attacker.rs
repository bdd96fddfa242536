//! [`Attacker`]: a raw TCP client playing a (bad) peer of the victim.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mesh_proto::mesh::ConnId;
use mesh_proto::wire::{
    Compression, Decoded, Deframer, Frame, Limits, MainFlag, MsgId, SubFlag, Value, decode_frame,
};

use super::util::{bin, closed_port, fresh_id, unix_now};

// ----- the attacker ----------------------------------------------------------

/// A raw TCP client playing a (bad) peer of the victim.
#[derive(Debug)]
pub struct Attacker {
    /// The socket.
    pub stream: TcpStream,
    /// The node id it claims.
    pub id: String,
    /// Its connection at the victim, once known (from `PeerUp`).
    pub conn: Option<ConnId>,
    /// The port it advertises (nothing listens there).
    pub advertised_port: u16,
    deframer: Deframer,
}

impl Attacker {
    /// Opens a TCP connection to 127.0.0.1:`port`; sends nothing.
    pub fn connect(port: u16) -> Attacker {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Attacker {
            stream,
            id: fresh_id(),
            conn: None,
            advertised_port: closed_port(),
            deframer: Deframer::new(&Limits::default()),
        }
    }

    /// Writes all of `bytes` (an error once the victim has closed).
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// A frame from this attacker: `[msg_type, id, time, payload...]`.
    pub fn frame(&self, msg_type: MainFlag, time: i64, payload: Vec<Value>) -> Bytes {
        Frame::new(msg_type.value().into(), self.id.clone(), time, payload)
            .encode(None)
            .expect("encode")
    }

    /// A broadcast `[broadcast, id, time, broadcast, packets...]` and its id.
    pub fn broadcast(&self, time: i64, packets: Vec<Value>) -> (Bytes, MsgId) {
        let mut payload = vec![Value::from(SubFlag::Broadcast.value())];
        payload.extend(packets);
        Frame::new(
            MainFlag::Broadcast.value().into(),
            self.id.clone(),
            time,
            payload,
        )
        .encode_with_id(None)
        .expect("encode")
    }

    /// A handshake whose payload after the sub-flag is `fields`.
    pub fn handshake_with(&self, fields: Vec<Value>) -> Bytes {
        let mut payload = vec![Value::from(SubFlag::Handshake.value())];
        payload.extend(fields);
        self.frame(MainFlag::Whisper, unix_now(), payload)
    }

    /// A well-formed handshake for `protocol_id`, advertising `methods`.
    pub fn handshake(&self, protocol_id: &str, methods: &[Compression]) -> Bytes {
        self.handshake_with(self.handshake_fields(protocol_id, methods))
    }

    /// `[id, protocol_id, [host, port], [methods...]]`, as py2p sends them.
    pub fn handshake_fields(&self, protocol_id: &str, methods: &[Compression]) -> Vec<Value> {
        vec![
            bin(self.id.as_bytes()),
            bin(protocol_id.as_bytes()),
            Value::Array(vec![
                Value::from("127.0.0.1"),
                Value::from(self.advertised_port),
            ]),
            Value::Array(methods.iter().map(|m| Value::from(m.flag())).collect()),
        ]
    }

    /// Reads (and throws away) until the victim closes: the time that took,
    /// or `None` if the socket is still open after `limit`.
    pub fn closed_within(&mut self, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        let deadline = started + limit;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("set_read_timeout");
            match self.stream.read(&mut buf) {
                Ok(0) => return Some(started.elapsed()),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return None;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Some(started.elapsed()),
            }
        }
    }

    /// Fails unless the victim closes this connection within `limit`.
    pub fn assert_closed(&mut self, limit: Duration, what: &str) -> Duration {
        self.closed_within(limit)
            .unwrap_or_else(|| panic!("{what}: the victim did not close the connection"))
    }

    /// Whether the connection is still open after `probe` of reading
    /// (what the victim sends meanwhile is thrown away).
    pub fn still_open(&mut self, probe: Duration) -> bool {
        self.closed_within(probe).is_none()
    }

    /// The next frame the victim sends that `pick` takes, decoded; `None`
    /// after `limit` or at the end of the stream.
    pub fn wait_frame(
        &mut self,
        limit: Duration,
        mut pick: impl FnMut(&Decoded) -> bool,
    ) -> Option<Decoded> {
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while let Some(frame) = self.deframer.next_frame().expect("the victim's framing") {
                let d = decode_frame(frame, &[], &Limits::default())
                    .expect("the victim's frames decode");
                if pick(&d) {
                    return Some(d);
                }
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("set_read_timeout");
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.deframer.feed(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
    }
}

/// Whether `d` is py2p's answer to an undecodable frame:
/// `[renegotiate, id, t, compression, []]`.
pub fn is_renegotiation(d: &Decoded) -> bool {
    d.frame.msg_type == u64::from(MainFlag::Renegotiate.value())
        && d.frame.payload.first() == Some(&Value::from(SubFlag::Compression.value()))
}
