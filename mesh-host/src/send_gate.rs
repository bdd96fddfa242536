//! [`SendGate`]: lets a user handle send without waiting for the driver's
//! answer while the mesh takes sends at once. The handle encodes and hashes
//! the message on its own thread ([`Prepared`]) and, while the gate is open
//! and little is queued ahead of the driver, only queues it; otherwise
//! (backpressure, sends already waiting, closed, or too much queued ahead)
//! it asks and waits, as a send always did.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use mesh_proto::mesh::{PeerId, Prepared, SendError};
use mesh_proto::wire::{FrameArena, MainFlag, MsgId, Value};

use crate::{Channels, Outgoing};

/// Sends a handle may queue ahead of the driver without an answer, at most.
pub const SEND_AHEAD: usize = 256;

/// Bytes of such sends, at most: with [`SEND_AHEAD`], what bounds the
/// command queue while the driver is busy.
pub const SEND_AHEAD_BYTES: usize = 1 << 20;

/// Shared by a driver and its handles.
///
/// ```
/// use mesh_host::SendGate;
///
/// let gate = SendGate::default();
/// assert!(!gate.try_enter(100), "shut until the driver opens it");
/// gate.set_open(true);
/// assert!(gate.try_enter(100));
/// assert!(!gate.try_enter(mesh_host::SEND_AHEAD_BYTES), "too many bytes ahead");
/// gate.taken(100); // the driver took that send
/// gate.set_open(false);
/// assert!(!gate.try_enter(100));
/// ```
#[derive(Debug, Default)]
pub struct SendGate {
    open: AtomicBool,
    ahead: AtomicUsize,
    ahead_bytes: AtomicUsize,
}

impl SendGate {
    /// Whether sends are taken at once (then a handle prepares its message).
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Claims a place for one send of `bytes` queued without an answer;
    /// `false`: ask and wait instead.
    pub fn try_enter(&self, bytes: usize) -> bool {
        if !self.is_open() {
            return false;
        }
        let n = self.ahead.fetch_add(1, Ordering::AcqRel);
        let b = self.ahead_bytes.fetch_add(bytes, Ordering::AcqRel);
        // One send alone may be big; past the first, the byte bound holds.
        if n >= SEND_AHEAD || (n > 0 && b + bytes > SEND_AHEAD_BYTES) {
            self.taken(bytes);
            return false;
        }
        true
    }

    /// The driver took one such send of `bytes` off its queue (or the handle
    /// did not queue it after all).
    pub fn taken(&self, bytes: usize) {
        self.ahead.fetch_sub(1, Ordering::AcqRel);
        self.ahead_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// The driver says whether sends are taken at once right now.
    pub fn set_open(&self, open: bool) {
        self.open.store(open, Ordering::Release);
    }
}

/// The wall clock in Unix seconds, as a handle stamps what it prepares.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// How a handle sends: if the gate is open, the message is prepared here
/// (stamped `unix_time`; a handle passes [`unix_now`]) and, if the gate lets
/// it ahead, queued with `command` without an answer (`Ok(Ok(id))`; the
/// command returns `false` if the driver is gone). Otherwise the caller
/// sends what comes back (`Ok(Err(outgoing))`, to be given its reply
/// channel) and waits for the answer.
pub fn queue<C: Channels>(
    gate: &SendGate,
    sender: &PeerId,
    packets: Vec<Value>,
    flag: MainFlag,
    unix_time: i64,
    command: impl FnOnce(Outgoing<C>) -> bool,
) -> Result<Result<MsgId, Waits>, SendError> {
    if !gate.is_open() {
        return Ok(Err(Waits::Packets(packets)));
    }
    let prepared = FRAMES
        .with_borrow_mut(|frames| Prepared::new_in(frames, sender, flag, packets, unix_time))?;
    let (id, len) = (*prepared.id(), prepared.len());
    if !gate.try_enter(len) {
        return Ok(Err(Waits::Prepared(prepared)));
    }
    if command(Outgoing::Prepared {
        msg: prepared,
        reply: None,
    }) {
        Ok(Ok(id))
    } else {
        gate.taken(len);
        Err(SendError::Closed)
    }
}

thread_local! {
    /// Where this thread's sends are encoded: handles prepare messages on
    /// their caller's thread, and an arena there spares each message its
    /// allocations (see [`FrameArena`]).
    static FRAMES: RefCell<FrameArena> = RefCell::new(FrameArena::with_chunk(HANDLE_FRAMES_CHUNK));
}

/// The chunk of a thread's arena: a thread that sent once keeps one, so
/// small (about a hundred 100 B messages to an allocation).
const HANDLE_FRAMES_CHUNK: usize = 16 * 1024;

/// A send that must wait for the driver's answer.
#[derive(Debug)]
pub enum Waits {
    /// Not prepared (the gate was shut): [`Outgoing::Send`].
    Packets(Vec<Value>),
    /// Prepared, but too much is queued ahead: [`Outgoing::Prepared`].
    Prepared(Prepared),
}

impl Waits {
    /// The command for this send, answered on `reply`.
    pub fn outgoing<C: Channels>(
        self,
        flag: MainFlag,
        reply: C::Reply<Result<MsgId, SendError>>,
    ) -> Outgoing<C> {
        match self {
            Waits::Packets(packets) => Outgoing::Send {
                packets,
                flag,
                reply,
            },
            Waits::Prepared(msg) => Outgoing::Prepared {
                msg,
                reply: Some(reply),
            },
        }
    }
}
