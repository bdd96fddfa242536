//! User handlers: py2p's `register_handler` chain, living in the core so every
//! runtime and the simulator share its semantics.

use std::time::Instant;

use crate::wire::{MainFlag, MsgId, SubFlag, Value};

use super::{ConnId, Mesh, Message, PeerId, SendError};

/// What a handler did with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// It took the message: later handlers do not run and it is not queued.
    Consumed,
    /// Not for it: the chain goes on.
    Pass,
}

impl From<bool> for Handled {
    fn from(consumed: bool) -> Handled {
        if consumed {
            Handled::Consumed
        } else {
            Handled::Pass
        }
    }
}

/// A message handler, run after the built-in ones, in registration order.
///
/// Closures work:
///
/// ```
/// use mesh_proto::mesh::{Handled, HandlerCx, Message};
/// use mesh_proto::wire::{MainFlag, SubFlag, Value};
/// let handler = |msg: &Message, cx: &mut HandlerCx<'_>| {
///     if msg.packets.get(1).and_then(Value::as_bin).is_some_and(|b| &b[..] == b"test") {
///         let _ = cx.send_direct(MainFlag::Whisper, SubFlag::Whisper, vec![Value::from(&b"success"[..])]);
///         return Handled::Consumed;
///     }
///     Handled::Pass
/// };
/// # let _ = handler;
/// ```
pub trait Handler: Send {
    /// Looks at one message; `cx` can answer it.
    fn handle(&mut self, msg: &Message, cx: &mut HandlerCx<'_>) -> Handled;
}

/// A closure as a [`Handler`], its argument types inferred: a closure
/// passed straight to `register_handler(impl Handler)` needs them written
/// out (`|msg: &Message, cx: &mut HandlerCx<'_>|`), or Rust cannot tell it
/// takes any lifetime. This says it once.
///
/// ```
/// use mesh_proto::mesh::{Handled, handler_fn};
/// use mesh_proto::wire::{MainFlag, SubFlag, Value};
///
/// let answers_test = handler_fn(|msg, cx| {
///     if msg.packets.get(1) == Some(&Value::from(b"test")) {
///         let _ = cx.send_direct(MainFlag::Whisper, SubFlag::Whisper, vec![Value::from(b"success")]);
///         return Handled::Consumed;
///     }
///     Handled::Pass
/// });
/// # let _ = answers_test;
/// ```
pub fn handler_fn<F>(f: F) -> F
where
    F: FnMut(&Message, &mut HandlerCx<'_>) -> Handled + Send,
{
    f
}

impl<F> Handler for F
where
    F: FnMut(&Message, &mut HandlerCx<'_>) -> Handled + Send,
{
    fn handle(&mut self, msg: &Message, cx: &mut HandlerCx<'_>) -> Handled {
        self(msg, cx)
    }
}

/// What a handler may do while it runs: answer on the message's connection
/// (py2p's `handler.send`), reply, or send to the mesh.
#[derive(Debug)]
pub struct HandlerCx<'a> {
    pub(crate) mesh: &'a mut Mesh,
    pub(crate) conn: ConnId,
    pub(crate) now: Instant,
}

impl HandlerCx<'_> {
    /// Our node id.
    pub fn id(&self) -> &PeerId {
        self.mesh.id()
    }

    /// The connection the message came on.
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// Sends `[flag, me, t, sub, packets...]` on the message's connection only.
    pub fn send_direct(
        &mut self,
        flag: MainFlag,
        sub: SubFlag,
        packets: Vec<Value>,
    ) -> Result<MsgId, SendError> {
        let mut payload = Vec::with_capacity(packets.len() + 1);
        payload.push(Value::from(sub.value()));
        payload.extend(packets);
        self.mesh
            .send_on(self.conn, flag.value().into(), payload, self.now)
    }

    /// Replies to `msg` (see [`Mesh::reply`]).
    pub fn reply(&mut self, msg: &Message, packets: Vec<Value>) -> Result<(), SendError> {
        self.mesh.reply(msg, packets, self.now)
    }

    /// Sends to the mesh (see [`Mesh::send`]).
    pub fn send(&mut self, packets: Vec<Value>, flag: MainFlag) -> Result<MsgId, SendError> {
        self.mesh.send(packets, flag, self.now)
    }
}
