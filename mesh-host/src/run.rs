//! [`run`]: an async adapter's driver loop, written once. The adapter says
//! how to poll its channels and its timer ([`Sources`]); this takes every
//! ready input into one turn (bounded by [`TURN_INPUTS`](crate::TURN_INPUTS)),
//! settles once, and touches the timer only when the deadline moves.
//!
//! Order within a turn: writers' reports first (their progress is what ends
//! backpressure), then commands before network input (see
//! [`COMMAND_BURST`](crate::COMMAND_BURST) and [`Turns`]), and network input
//! only while [`HostDriver::reads_paused`] says so.

use std::future::poll_fn;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::{Command, HostDriver, Input, IoEvent, Runtime, Turns};

/// One of a driver's input queues (see [`Sources::is_empty`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// [`Sources::poll_ctl`]'s.
    Ctl,
    /// [`Sources::poll_io`]'s.
    Io,
    /// [`Sources::poll_cmd`]'s.
    Cmd,
}

/// What an async driver waits on, in its runtime's types.
pub trait Sources<R: Runtime> {
    /// Whether `source` surely holds nothing now, found without registering
    /// for a wake-up: inputs joining a turn are not polled from such a
    /// queue. (A poll that finds a queue empty registers the task's waker,
    /// which costs more than the look; before the driver waits, every queue
    /// is polled.) `false` when the adapter cannot tell.
    fn is_empty(&self, source: Source) -> bool {
        let _ = source;
        false
    }
    /// Writers' reports (`Written`, `WriterDone`): never paused.
    fn poll_ctl(&mut self, cx: &mut Context<'_>) -> Poll<Option<IoEvent<R::Stream>>>;
    /// Bytes read, accepts, dials, ends of stream: paused while reads are.
    fn poll_io(&mut self, cx: &mut Context<'_>) -> Poll<Option<IoEvent<R::Stream>>>;
    /// Commands from the handles; `None` once every handle is gone.
    fn poll_cmd(&mut self, cx: &mut Context<'_>) -> Poll<Option<Command<R>>>;
    /// Fires at the instant last [`set_timer`](Self::set_timer) gave.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()>;
    /// Moves the timer to `at`.
    fn set_timer(&mut self, at: Instant);
}

/// Runs `host` until it is done, waiting on `src`.
pub async fn run<R: Runtime, S: Sources<R>>(host: &mut HostDriver<R>, rt: &mut R, src: &mut S) {
    let mut armed: Option<Instant> = None;
    let mut turns = Turns::default();
    while !host.is_done() {
        let reading = !host.reads_paused(Instant::now());
        let resume = if reading { None } else { host.resume_hook() };
        let io_first = turns.io_first();
        let first = poll_fn(|cx| {
            if let Some(hook) = &resume
                && !hook.register(cx.waker())
            {
                // The application caught up already: look again.
                return Poll::Ready(Input::Wake);
            }
            if let Some(input) = poll_one(src, cx, reading, io_first, false) {
                return Poll::Ready(input);
            }
            if armed.is_some() && src.poll_timer(cx).is_ready() {
                armed = None;
                return Poll::Ready(Input::Wake);
            }
            Poll::Pending
        })
        .await;
        let now = Instant::now();
        turns.took(&first);
        host.take(rt, first, now);
        // Everything else already waiting joins this turn.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        for _ in 1..crate::TURN_INPUTS {
            if host.is_done() {
                break;
            }
            let reading = !host.reads_paused(now);
            let Some(input) = poll_one(src, &mut cx, reading, turns.io_first(), true) else {
                break;
            };
            turns.took(&input);
            host.take(rt, input, now);
        }
        host.finish_turn(rt, now);
        let next = host.next_deadline();
        if next != armed {
            if let Some(at) = next {
                src.set_timer(at);
            }
            armed = next;
        }
    }
    tracing::debug!(id = %host.mesh().id(), "driver done");
}

/// The next ready input in turn order, if any. `joining`: for a turn under
/// way, so a queue the adapter knows to be empty is not polled.
fn poll_one<R: Runtime, S: Sources<R>>(
    src: &mut S,
    cx: &mut Context<'_>,
    reading: bool,
    io_first: bool,
    joining: bool,
) -> Option<Input<R>> {
    let look = |src: &S, source| !(joining && src.is_empty(source));
    if look(src, Source::Ctl)
        && let Poll::Ready(Some(e)) = src.poll_ctl(cx)
    {
        return Some(Input::Io(e));
    }
    let io = |src: &mut S, cx: &mut Context<'_>| -> Option<Input<R>> {
        if !look(src, Source::Io) {
            return None;
        }
        match src.poll_io(cx) {
            Poll::Ready(Some(e)) => Some(Input::Io(e)),
            _ => None,
        }
    };
    if reading
        && io_first
        && let Some(i) = io(src, cx)
    {
        return Some(i);
    }
    if look(src, Source::Cmd)
        && let Poll::Ready(c) = src.poll_cmd(cx)
    {
        return Some(c.map_or(Input::HandlesDropped, Input::Command));
    }
    if reading && !io_first {
        return io(src, cx);
    }
    None
}
