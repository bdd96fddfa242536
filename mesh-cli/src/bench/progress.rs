//! A progress line on stderr for long runs, only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Redraws `delivered/count` at most four times a second.
#[derive(Debug)]
pub struct Progress {
    count: u64,
    next: Instant,
    shown: bool,
    /// Asked once: a per-message `isatty` would cost more than the message.
    terminal: bool,
}

impl Progress {
    /// A progress line for `count` messages, or nothing if stderr is not a
    /// terminal.
    pub fn new(count: u64) -> Progress {
        Progress {
            count,
            // The first second stays quiet: short runs never draw.
            next: Instant::now() + Duration::from_secs(1),
            shown: false,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// Redraws if it is time.
    pub fn show(&mut self, delivered: u64, now: Instant) {
        if !self.terminal || now < self.next {
            return;
        }
        self.next = now + Duration::from_millis(250);
        let pct = delivered * 100 / self.count.max(1);
        let bar = "#".repeat((pct / 4) as usize);
        let _ = write!(
            std::io::stderr(),
            "\r[{bar:<25}] {delivered}/{}",
            self.count
        );
        self.shown = true;
    }

    /// Erases the line if it was drawn.
    pub fn clear(&mut self) {
        if self.shown {
            let _ = write!(std::io::stderr(), "\r{:60}\r", "");
        }
    }
}
