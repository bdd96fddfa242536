//! Whose turn it is in an async driver's loop: commands before pending I/O
//! (see [`COMMAND_BURST`]), with I/O first after a burst of commands.

use crate::{COMMAND_BURST, Input, Runtime};

/// Counts the commands a driver took in a row.
#[derive(Clone, Copy, Debug, Default)]
pub struct Turns {
    burst: usize,
}

impl Turns {
    /// Whether pending I/O goes before the next command.
    pub fn io_first(&self) -> bool {
        self.burst >= COMMAND_BURST
    }

    /// Notes the input the driver took.
    pub fn took<R: Runtime>(&mut self, input: &Input<R>) {
        self.burst = match input {
            Input::Command(_) | Input::HandlesDropped => self.burst + 1,
            Input::Io(_) | Input::Wake => 0,
        };
    }
}
