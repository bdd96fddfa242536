//! A `Runtime` that does nothing but record: dials, opens, transmits,
//! closes, aborts, the listener's stop and the close hand-off.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use bytes::Bytes;
use mesh_host::{Channels, Connection, HandshakeSlot, Publish, Runtime};
use mesh_proto::mesh::{ConnId, Event, PeerAddr, SendError};

/// A one-shot answer: the driver holds one clone, the test the other. The
/// caller "gave up" once the test dropped its clone.
pub type Slot<T> = Rc<RefCell<Option<T>>>;

/// A new, empty answer slot.
pub fn slot<T>() -> Slot<T> {
    Rc::new(RefCell::new(None))
}

/// A subscriber's queue, unbounded (the fake never reports `Full`).
pub type Events = Rc<RefCell<Vec<Event>>>;

/// What the driver asked of the runtime, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Dial(ConnId, PeerAddr),
    Open(ConnId),
    Transmit(ConnId, Bytes),
    /// A refused connection answered with these bytes.
    Refuse(Bytes),
    Close(ConnId),
    Abort(ConnId),
    StopListening,
    FinishClose,
}

#[derive(Debug, Default)]
pub struct FakeRuntime {
    calls: Rc<RefCell<Vec<Call>>>,
    /// `dial` fails at once.
    pub refuse_dials: bool,
    /// `open` fails.
    pub refuse_opens: bool,
    /// Connections opened from now on write directly: they hold their
    /// transmits for the end of the turn, and the socket takes them all.
    pub direct: bool,
    /// The replies handed to `finish_close`, for the test to answer.
    pub close_replies: Vec<Slot<Result<(), SendError>>>,
    /// The slots of refusals under way; the test ends them by clearing this.
    pub refusing: Vec<HandshakeSlot>,
}

impl FakeRuntime {
    /// Every call so far, emptying the log.
    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.borrow_mut())
    }

    /// The calls `pick` selects, removed from the log (the others stay).
    pub fn take_matching(&self, pick: impl Fn(&Call) -> bool) -> Vec<Call> {
        let mut taken = Vec::new();
        self.calls.borrow_mut().retain(|c| {
            let take = pick(c);
            if take {
                taken.push(c.clone());
            }
            !take
        });
        taken
    }

    /// The bytes transmitted on `conn` so far, removed from the log.
    pub fn take_transmits(&self, conn: ConnId) -> Vec<Bytes> {
        self.take_matching(|c| matches!(c, Call::Transmit(c, _) if *c == conn))
            .into_iter()
            .filter_map(|c| match c {
                Call::Transmit(_, bytes) => Some(bytes),
                _ => None,
            })
            .collect()
    }
}

impl Channels for FakeRuntime {
    type Reply<T> = Slot<T>;
    type Subscriber = Events;

    fn reply<T>(to: Slot<T>, value: T) -> Result<(), T> {
        if Rc::strong_count(&to) == 1 {
            return Err(value);
        }
        assert!(to.borrow().is_none(), "answered twice");
        *to.borrow_mut() = Some(value);
        Ok(())
    }

    fn gave_up<T>(to: &Slot<T>) -> bool {
        Rc::strong_count(to) == 1
    }

    fn publish(to: &Events, event: Event) -> Publish {
        if Rc::strong_count(to) == 1 {
            return Publish::Gone;
        }
        to.borrow_mut().push(event);
        Publish::Sent
    }
}

impl Runtime for FakeRuntime {
    /// Nothing flows through a fake stream: the test carries the bytes.
    type Stream = ();
    type Conn = FakeConn;

    fn open(&mut self, conn: ConnId, (): ()) -> io::Result<FakeConn> {
        if self.refuse_opens {
            return Err(io::Error::other("open refused"));
        }
        self.calls.borrow_mut().push(Call::Open(conn));
        Ok(FakeConn {
            conn,
            calls: Rc::clone(&self.calls),
            direct: self.direct,
            held: 0,
        })
    }

    fn refuse(&mut self, (): (), bytes: Bytes, slot: HandshakeSlot) {
        self.calls.borrow_mut().push(Call::Refuse(bytes));
        self.refusing.push(slot);
    }

    fn dial(&mut self, conn: ConnId, addr: PeerAddr) -> io::Result<()> {
        if self.refuse_dials {
            return Err(io::Error::other("dial refused"));
        }
        self.calls.borrow_mut().push(Call::Dial(conn, addr));
        Ok(())
    }

    fn stop_listening(&mut self) {
        self.calls.borrow_mut().push(Call::StopListening);
    }

    fn finish_close(&mut self, reply: Slot<Result<(), SendError>>) {
        self.calls.borrow_mut().push(Call::FinishClose);
        self.close_replies.push(reply);
    }
}

#[derive(Debug)]
pub struct FakeConn {
    conn: ConnId,
    calls: Rc<RefCell<Vec<Call>>>,
    direct: bool,
    /// Bytes held for the end of the turn (`direct`).
    held: usize,
}

impl Connection for FakeConn {
    fn transmit(&mut self, bytes: Bytes) -> bool {
        self.calls
            .borrow_mut()
            .push(Call::Transmit(self.conn, bytes.clone()));
        if !self.direct {
            return false;
        }
        self.held += bytes.len();
        self.held == bytes.len()
    }

    fn flush(&mut self) -> usize {
        std::mem::take(&mut self.held)
    }

    fn close(self) {
        self.calls.borrow_mut().push(Call::Close(self.conn));
    }

    fn abort(self) {
        self.calls.borrow_mut().push(Call::Abort(self.conn));
    }
}
