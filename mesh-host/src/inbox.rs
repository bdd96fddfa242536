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
    /// Messages dropped here (queue full) so far.
    dropped: u64,
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
        let wakers = std::mem::take(&mut s.wakers);
        drop(s);
        self.arrived.notify_all();
        wakers.into_iter().for_each(Waker::wake);
        over as u64
    }

    /// No more messages will come: receivers get what is left, then nothing.
    pub fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        let wakers = std::mem::take(&mut s.wakers);
        drop(s);
        self.arrived.notify_all();
        wakers.into_iter().for_each(Waker::wake);
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
            s = match deadline {
                None => self.arrived.wait(s).unwrap_or_else(PoisonError::into_inner),
                Some(at) => {
                    let left = at.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Vec::new();
                    }
                    let (s, _) = self
                        .arrived
                        .wait_timeout(s, left)
                        .unwrap_or_else(PoisonError::into_inner);
                    s
                }
            };
        }
    }
}

/// Takes `n` messages, waking a paused driver if that drained the queue.
fn take_n(s: &mut State, n: usize) -> Vec<Message> {
    let msgs: Vec<Message> = s.queue.drain(..n).collect();
    if let Some((len, _)) = &s.driver
        && s.queue.len() <= *len
        && let Some((_, waker)) = s.driver.take()
    {
        waker.wake();
    }
    msgs
}
