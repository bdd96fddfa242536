//! [`Inbox`]: received messages, shared by a driver and its user handles, so
//! that `recv`/`next` take them without a round trip through the driver. It
//! keeps the receive queue's rules: at most `recv_queue_cap` messages, the
//! oldest dropped first (the driver reports those as `Event::Lagged`).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use mesh_proto::mesh::Message;

/// Messages waiting for the application.
#[derive(Debug, Default)]
pub struct Inbox {
    state: Mutex<State>,
    arrived: Condvar,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Message>,
    /// No message will come any more (closed, or the driver is gone).
    closed: bool,
    /// Async receivers waiting for a message.
    wakers: Vec<Waker>,
    /// Threads blocked in [`Inbox::take_blocking`]. The condition variable
    /// is notified only when there are some: a notify is a system call
    /// even with nobody waiting (measured: most of a tokio node's futex
    /// calls, one per delivery).
    sleepers: usize,
    /// Messages dropped here (queue full) so far.
    dropped: u64,
    /// Messages the application took so far.
    taken: u64,
    /// The driver, paused until the queue is down to this many messages.
    driver: Option<(usize, Waker)>,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the queue half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds messages, dropping the oldest beyond `cap`; returns how many were
    /// dropped. Wakes the waiting receivers.
    pub fn push(&self, msgs: impl IntoIterator<Item = Message>, cap: usize) -> u64 {
        let mut s = self.lock();
        let before = s.queue.len();
        s.queue.extend(msgs);
        if s.queue.len() == before {
            return 0;
        }
        let over = s.queue.len().saturating_sub(cap);
        s.queue.drain(..over);
        s.dropped += over as u64;
        self.wake_all(s);
        over as u64
    }

    /// Wakes every receiver, blocked or async.
    fn wake_all(&self, mut s: MutexGuard<'_, State>) {
        let wakers = std::mem::take(&mut s.wakers);
        let sleepers = s.sleepers > 0;
        drop(s);
        if sleepers {
            self.arrived.notify_all();
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// No more messages will come: receivers get what is left, then nothing.
    pub fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        self.wake_all(s);
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// No message waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Messages dropped because the queue was full, so far.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Messages waiting, and messages the application took so far.
    pub fn len_and_taken(&self) -> (usize, u64) {
        let s = self.lock();
        (s.queue.len(), s.taken)
    }

    /// Wakes `driver` once the queue is down to `len` messages (a driver
    /// that stopped reading because the application was behind); `false`
    /// if it is already, and nothing was registered.
    pub fn wake_when_drained(&self, len: usize, driver: &Waker) -> bool {
        let mut s = self.lock();
        if s.queue.len() <= len {
            return false;
        }
        s.driver = Some((len, driver.clone()));
        true
    }

    /// Up to `max` messages, oldest first, without waiting.
    pub fn take(&self, max: usize) -> Vec<Message> {
        let mut s = self.lock();
        let n = max.min(s.queue.len());
        take_n(&mut s, n)
    }

    /// Up to `max` messages once at least one is there; an empty answer
    /// once closed and empty. Nothing is taken unless it is returned, so a
    /// dropped future loses nothing.
    pub fn poll_take(&self, cx: &mut Context<'_>, max: usize) -> Poll<Vec<Message>> {
        let mut s = self.lock();
        if !s.queue.is_empty() || s.closed {
            let n = max.min(s.queue.len());
            return Poll::Ready(take_n(&mut s, n));
        }
        if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            s.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Up to `max` messages, blocking the thread until one is there, it is
    /// closed, or `deadline` passes (then empty).
    pub fn take_blocking(&self, max: usize, deadline: Option<Instant>) -> Vec<Message> {
        let mut s = self.lock();
        loop {
            if !s.queue.is_empty() || s.closed {
                let n = max.min(s.queue.len());
                return take_n(&mut s, n);
            }
            let left = match deadline {
                None => None,
                Some(at) => match at.saturating_duration_since(Instant::now()) {
                    left if left.is_zero() => return Vec::new(),
                    left => Some(left),
                },
            };
            s.sleepers += 1;
            s = match left {
                None => self.arrived.wait(s).unwrap_or_else(PoisonError::into_inner),
                Some(left) => {
                    let waited = self.arrived.wait_timeout(s, left);
                    waited.unwrap_or_else(PoisonError::into_inner).0
                }
            };
            s.sleepers -= 1;
        }
    }
}

/// Takes `n` messages, waking a paused driver if that drained the queue.
fn take_n(s: &mut State, n: usize) -> Vec<Message> {
    let msgs: Vec<Message> = s.queue.drain(..n).collect();
    s.taken += n as u64;
    if let Some((len, _)) = &s.driver
        && s.queue.len() <= *len
        && let Some((_, waker)) = s.driver.take()
    {
        waker.wake();
    }
    msgs
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use mesh_proto::mesh::{ConnId, PeerId, ReplyTo};
    use mesh_proto::wire::MsgId;

    use super::*;

    fn message(n: u8) -> Message {
        Message {
            msg_type: 0,
            sender: PeerId(Bytes::from_static(b"sender")),
            id: MsgId([n; 32]),
            time: 0,
            packets: Vec::new(),
            conn: ConnId(1),
            reply_to: ReplyTo::none(),
        }
    }

    /// Waits until `n` threads are blocked in `take_blocking`.
    fn until_sleeping(inbox: &Inbox, n: usize) {
        while inbox.lock().sleepers != n {
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_blocked_receiver_is_woken_by_a_push_and_by_a_close() {
        let inbox = Arc::new(Inbox::default());
        let waiting = {
            let inbox = inbox.clone();
            std::thread::spawn(move || inbox.take_blocking(8, None))
        };
        until_sleeping(&inbox, 1);
        inbox.push([message(1)], 8);
        assert_eq!(waiting.join().unwrap(), vec![message(1)]);
        assert_eq!(inbox.lock().sleepers, 0);

        let waiting = {
            let inbox = inbox.clone();
            std::thread::spawn(move || inbox.take_blocking(8, None))
        };
        until_sleeping(&inbox, 1);
        inbox.close();
        assert!(waiting.join().unwrap().is_empty());
    }

    #[test]
    fn a_timed_out_wait_leaves_no_sleeper_behind() {
        let inbox = Inbox::default();
        let deadline = Instant::now() + Duration::from_millis(20);
        assert!(inbox.take_blocking(1, Some(deadline)).is_empty());
        assert_eq!(inbox.lock().sleepers, 0);
        // Nobody waits: a push has no one to notify, and still queues.
        inbox.push([message(2)], 8);
        assert_eq!(inbox.take(8), vec![message(2)]);
    }
}
