//! `Turns`: commands go first, until `COMMAND_BURST` in a row give I/O a turn.

use mesh_host::{COMMAND_BURST, Command, Input, IoEvent, Turns};

use crate::fake_runtime::{FakeRuntime, slot};

fn command() -> Input<FakeRuntime> {
    Input::Command(Command::Counters(slot()))
}

#[test]
fn io_waits_until_a_burst_of_commands() {
    let mut turns = Turns::default();
    assert!(!turns.io_first(), "commands first at the start");
    for _ in 1..COMMAND_BURST {
        turns.took(&command());
    }
    assert!(!turns.io_first(), "one short of the burst");
    turns.took(&Input::<FakeRuntime>::HandlesDropped); // counts as a command
    assert!(turns.io_first(), "a full burst: I/O's turn");
}

#[test]
fn io_or_a_wake_starts_a_new_burst() {
    let inputs: [fn() -> Input<FakeRuntime>; 2] = [
        || {
            Input::Io(IoEvent::Written {
                conn: mesh_proto::mesh::ConnId(0),
                n: 0,
            })
        },
        || Input::Wake,
    ];
    for other in inputs {
        let mut turns = Turns::default();
        for _ in 0..COMMAND_BURST {
            turns.took(&command());
        }
        assert!(turns.io_first());
        turns.took(&other());
        assert!(!turns.io_first(), "{:?} resets the count", other());
    }
}
