//! A `mesh chat --json` process, driven as a script drives it: lines in on
//! stdin, one JSON object a line out on stdout.
#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

/// One `mesh chat --bind 127.0.0.1:0 --json` node; killed when dropped.
pub struct Chat {
    pub child: Child,
    stdin: ChildStdin,
    /// Its stdout, parsed (every line must be JSON).
    pub lines: mpsc::Receiver<Json>,
}

impl Chat {
    /// Starts a node with these extra arguments.
    pub fn start(args: &[&str]) -> Chat {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mesh"))
            .args(["chat", "--bind", "127.0.0.1:0", "--json"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Json = serde_json::from_str(&line).expect("every stdout line is JSON");
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Chat {
            child,
            stdin,
            lines,
        }
    }

    /// One stdin line.
    pub fn say(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next line whose "event" is `event`, within 10 s; others are dropped.
    pub fn expect(&self, event: &str) -> Json {
        self.expect_keeping(event, Duration::from_secs(10), &mut Vec::new())
    }

    /// The next line whose "event" is `event`, within `limit`; the lines
    /// before it go to `seen`.
    pub fn expect_keeping(&self, event: &str, limit: Duration, seen: &mut Vec<Json>) -> Json {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {event} line within {limit:?}"));
            if v["event"] == event {
                return v;
            }
            seen.push(v);
        }
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
