//! The child processes of a soak: `mesh chat --json` nodes spawned from this
//! very binary, each read by one thread that stamps its stdout lines, and all
//! killed when the [`Fleet`] is dropped (any exit, a signal or a panic).

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use clap::ValueEnum;

/// What a node's reader thread saw.
#[derive(Debug)]
pub enum Seen {
    /// One stdout line, parsed as JSON (`null` when it is not JSON).
    Line(serde_json::Value),
    /// Its stdout closed: the process ended.
    Eof,
}

/// One stamped observation of node `node` (its incarnation number).
#[derive(Debug)]
pub struct Observed {
    /// The incarnation that printed it.
    pub node: usize,
    /// When the reader thread read it.
    pub at: Instant,
    /// The line or the end.
    pub seen: Seen,
}

/// One running child.
#[derive(Debug)]
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
}

/// Every child of the soak, live or shutting down; dropping it kills them all.
#[derive(Debug)]
pub struct Fleet {
    exe: PathBuf,
    runtime: &'static str,
    procs: HashMap<usize, Proc>,
    /// Children told to `/quit`, with when: killed if still there after 5 s.
    draining: Vec<(Proc, Instant)>,
    tx: Sender<Observed>,
    /// Every node's stamped lines, in arrival order.
    pub rx: Receiver<Observed>,
}

impl Fleet {
    /// A fleet of `mesh chat` nodes on `runtime`, run from the current executable.
    pub fn new(runtime: crate::Runtime) -> io::Result<Fleet> {
        let (tx, rx) = channel();
        let runtime = match runtime.to_possible_value() {
            Some(v) => match v.get_name() {
                "async-std" => "async-std",
                "smol" => "smol",
                "blocking" => "blocking",
                _ => "tokio",
            },
            None => "tokio",
        };
        Ok(Fleet {
            exe: std::env::current_exe()?,
            runtime,
            procs: HashMap::new(),
            draining: Vec::new(),
            tx,
            rx,
        })
    }

    /// Starts incarnation `node`: `mesh chat --json --bind 127.0.0.1:PORT`
    /// dialing each of `connect`; returns its pid.
    pub fn spawn(&mut self, node: usize, port: u16, connect: &[String]) -> io::Result<u32> {
        let mut cmd = Command::new(&self.exe);
        cmd.args(["chat", "--json", "--runtime", self.runtime, "--bind"])
            .arg(format!("127.0.0.1:{port}"));
        for addr in connect {
            cmd.args(["--connect", addr]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let pid = child.id();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        self.procs.insert(node, Proc { child, stdin });
        let tx = self.tx.clone();
        std::thread::Builder::new()
            .name(format!("soak-n{node}"))
            .spawn(move || {
                if let Some(stdout) = stdout {
                    for line in BufReader::new(stdout).lines() {
                        let Ok(line) = line else { break };
                        let v = serde_json::from_str(&line).unwrap_or(serde_json::Value::Null);
                        let at = Instant::now();
                        if tx
                            .send(Observed {
                                node,
                                at,
                                seen: Seen::Line(v),
                            })
                            .is_err()
                        {
                            return;
                        }
                    }
                }
                let _ = tx.send(Observed {
                    node,
                    at: Instant::now(),
                    seen: Seen::Eof,
                });
            })?;
        Ok(pid)
    }

    /// Writes one stdin line to `node`; `false` if it is gone.
    pub fn say(&mut self, node: usize, line: &str) -> bool {
        let Some(stdin) = self.procs.get_mut(&node).and_then(|p| p.stdin.as_mut()) else {
            return false;
        };
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .is_ok()
    }

    /// Kills `node` with SIGKILL and reaps it.
    pub fn kill(&mut self, node: usize) {
        if let Some(mut p) = self.procs.remove(&node) {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }

    /// Asks `node` to close gracefully (`/quit`); it is reaped by [`Fleet::reap`].
    pub fn quit(&mut self, node: usize) {
        self.say(node, "/quit");
        if let Some(mut p) = self.procs.remove(&node) {
            p.stdin = None;
            self.draining.push((p, Instant::now()));
        }
    }

    /// Reaps the children that finished quitting; kills those that take over 5 s.
    pub fn reap(&mut self) {
        self.draining.retain_mut(|(p, since)| {
            if matches!(p.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            if since.elapsed() > Duration::from_secs(5) {
                let _ = p.child.kill();
                let _ = p.child.wait();
                return false;
            }
            true
        });
    }

    /// `node`'s resident set in KiB (Linux: `VmRSS` in `/proc/PID/status`).
    pub fn rss_kib(&self, node: usize) -> Option<u64> {
        let pid = self.procs.get(&node)?.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for (_, mut p) in self.procs.drain() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        for (mut p, _) in self.draining.drain(..) {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}
