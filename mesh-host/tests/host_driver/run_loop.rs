//! `run`: inputs joining a turn are not polled from a queue the adapter
//! knows to be empty (a poll that finds nothing registers a waker).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use mesh_host::{Command, IoEvent, Source, Sources, run};

use crate::fake_runtime::{FakeRuntime, slot};
use crate::node::Node;

/// Commands queued by the test; the writers' and network queues stay
/// empty. Counts the polls of each queue.
#[derive(Default)]
struct Queues {
    cmds: VecDeque<Command<FakeRuntime>>,
    /// Whether `is_empty` tells (an adapter that can look), or always says
    /// "maybe not" (the default).
    looks: bool,
    ctl_polls: usize,
    io_polls: usize,
    cmd_polls: usize,
}

impl Sources<FakeRuntime> for Queues {
    fn is_empty(&self, source: Source) -> bool {
        self.looks && (source != Source::Cmd || self.cmds.is_empty())
    }
    fn poll_ctl(&mut self, _: &mut Context<'_>) -> Poll<Option<IoEvent<()>>> {
        self.ctl_polls += 1;
        Poll::Pending
    }
    fn poll_io(&mut self, _: &mut Context<'_>) -> Poll<Option<IoEvent<()>>> {
        self.io_polls += 1;
        Poll::Pending
    }
    fn poll_cmd(&mut self, _: &mut Context<'_>) -> Poll<Option<Command<FakeRuntime>>> {
        self.cmd_polls += 1;
        self.cmds
            .pop_front()
            .map_or(Poll::Pending, |c| Poll::Ready(Some(c)))
    }
    fn poll_timer(&mut self, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
    fn set_timer(&mut self, _: Instant) {}
}

/// Runs the driver loop on three queued commands until it waits; the polls
/// of (writers' reports, network, commands).
fn polls_for_three_commands(looks: bool) -> (usize, usize, usize) {
    let mut node = Node::new(1);
    let mut src = Queues {
        looks,
        ..Queues::default()
    };
    let replies: Vec<_> = (0..3).map(|_| slot()).collect();
    for r in &replies {
        src.cmds.push_back(Command::Counters(r.clone()));
    }
    let waiting = pin!(run(&mut node.driver, &mut node.rt, &mut src))
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending();
    assert!(waiting, "the driver waits once the queues are empty");
    assert!(
        replies.iter().all(|r| r.borrow().is_some()),
        "all three commands were answered"
    );
    (src.ctl_polls, src.io_polls, src.cmd_polls)
}

#[test]
fn inputs_joining_a_turn_skip_queues_known_to_be_empty() {
    // The first input polls the writers' queue, then the commands; two more
    // commands join the turn without it; before waiting, every queue is
    // polled (that is what registers the driver for a wake-up).
    assert_eq!(polls_for_three_commands(true), (2, 1, 4));
    // An adapter that cannot look: each joining input polls the writers'
    // queue first, and the turn ends on a poll of every queue.
    assert_eq!(polls_for_three_commands(false), (5, 2, 5));
}
