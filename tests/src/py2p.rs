//! A harness around the REAL py2p 0.7.878: each [`Py2p`] is one py2p
//! `MeshSocket` in a Python subprocess running `tests/py2p/driver.py`,
//! commanded over its stdin and reporting over its stdout, one JSON object a
//! line (values in the typed form of [`mesh_proto::wire::json`]).
//!
//! The Python comes from `PY2P_PYTHON` (exported by `scripts/test.sh`, which
//! creates the venv with `scripts/py2p-venv.sh`), else from
//! `<repo>/.venv/py2p/bin/python`. [`available`] decides whether a test can
//! run: under CI (`CI=true`) a missing or broken venv is a failure (it
//! panics); elsewhere the test is skipped with a loud line on stderr.
//!
//! Every wait is bounded: a command's answer by [`COMMAND_TIMEOUT`], a
//! message by the caller's timeout. Dropping a [`Py2p`] closes its stdin
//! (the driver closes py2p and exits) and then kills it if it lingers; when
//! dropped during a panic it prints the driver's stderr first.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use mesh_proto::wire::json::{from_json, to_json};
use mesh_proto::wire::{Encryption, Value};
use serde_json::{Value as Json, json};

/// How long one driver command may take (py2p's `connect` alone may block
/// for its 1 s socket timeout).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause between two sends that reach one py2p node: py2p parses a buffer
/// holding exactly a next 4-byte header as a whole frame and drops the link,
/// and loses frames under bursts (shared/spec, "py2p faults"). Our tests
/// never ask that of it.
pub const PACE: Duration = Duration::from_millis(80);

/// The repository root (the parent of the `tests` package).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The driver script.
pub fn driver_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("py2p")
        .join("driver.py")
}

/// True when running under CI (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// The venv's python: `PY2P_PYTHON`, else `<repo>/.venv/py2p/bin/python`.
pub fn python_path() -> PathBuf {
    match std::env::var_os("PY2P_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo_root()
            .join(".venv")
            .join("py2p")
            .join("bin")
            .join("python"),
    }
}

/// Checks once that the python exists and imports py2p 0.7.878.
fn check_python() -> &'static Result<PathBuf, String> {
    static CHECK: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    CHECK.get_or_init(|| {
        let python = python_path();
        if !python.exists() {
            return Err(format!(
                "no python at {} (set PY2P_PYTHON, or run scripts/py2p-venv.sh / scripts/test.sh)",
                python.display()
            ));
        }
        let out = Command::new(&python)
            .arg(driver_path())
            .arg("--check")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !stdout.contains("\"0.7.878\"") {
            return Err(format!(
                "{} cannot import py2p 0.7.878 ({}): {}{}",
                python.display(),
                out.status,
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(python)
    })
}

/// Whether the real py2p can run. In CI a missing py2p fails the test
/// (panics); elsewhere it prints why `test` is skipped and returns false.
pub fn available(test: &str) -> bool {
    match check_python() {
        Ok(_) => true,
        Err(why) if in_ci() => {
            panic!("py2p interop test {test}: py2p is missing under CI=true: {why}")
        }
        Err(why) => {
            // Straight to the process's stderr: libtest captures eprintln!
            // of passing tests, and this must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "!!!!! SKIPPED py2p interop test {test}: {why}. \
                 Run scripts/test.sh (it creates the venv). Under CI this is a failure."
            );
            false
        }
    }
}

/// A port that was free a moment ago (bind port 0, read it, drop the
/// listener). py2p binds without SO_REUSEADDR, so each node gets a new one.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a probe listener on 127.0.0.1:0")
        .port()
}

/// How to start a py2p node.
#[derive(Clone, Debug)]
pub struct Options {
    /// The subnet of its `Protocol`.
    pub subnet: String,
    /// `Plaintext` or `SSL`.
    pub encryption: Encryption,
    /// py2p's module-wide `max_outgoing` (dials made from peer lists). py2p's
    /// default is 4; 0 keeps a hand-made line a line.
    pub max_outgoing: usize,
    /// py2p's `debug_level` (its prints go to the driver's stderr).
    pub debug_level: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            subnet: "mesh".into(),
            encryption: Encryption::Plaintext,
            max_outgoing: 4,
            debug_level: 0,
        }
    }
}

/// A message py2p queued (and the driver took with `recv()`).
#[derive(Clone, Debug, PartialEq)]
pub struct Py2pMessage {
    /// Hex of the message id (SHA-256 of the body).
    pub id: String,
    /// The sender's id text.
    pub sender: String,
    /// The originator's timestamp.
    pub time: i64,
    /// The main flag.
    pub msg_type: u64,
    /// The packets, sub-flag at index 0 (py2p's `msg.packets`).
    pub packets: Vec<Value>,
}

/// py2p's routing state.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    /// Ids in the routing table.
    pub ids: Vec<String>,
    /// Connections still waiting for a handshake.
    pub awaiting: usize,
    /// Ids of connections py2p dialed.
    pub outgoing: Vec<String>,
    /// Per peer: `(id, compression flags it advertised)`.
    pub compression: Vec<(String, Vec<u8>)>,
}

/// py2p's `status` and the driver's compression counts.
#[derive(Clone, Debug)]
pub struct Status {
    /// `"Nominal"`, or py2p's exception tracebacks joined.
    pub status: String,
    /// Frames compressed, by method flag.
    pub compressed: Vec<(u8, u64)>,
    /// Frames successfully decompressed, by method flag.
    pub decompressed: Vec<(u8, u64)>,
}

impl Status {
    /// Whether py2p recorded no exception.
    pub fn nominal(&self) -> bool {
        self.status == "Nominal"
    }

    fn count(list: &[(u8, u64)], flag: u8) -> u64 {
        list.iter().find(|(f, _)| *f == flag).map_or(0, |(_, n)| *n)
    }

    /// Frames compressed with `flag` so far.
    pub fn compressed_with(&self, flag: u8) -> u64 {
        Status::count(&self.compressed, flag)
    }

    /// Frames decompressed with `flag` so far.
    pub fn decompressed_with(&self, flag: u8) -> u64 {
        Status::count(&self.decompressed, flag)
    }
}

/// One real py2p `MeshSocket` in a subprocess.
pub struct Py2p {
    name: String,
    child: Child,
    stdin: Mutex<Option<ChildStdin>>,
    answers: Mutex<Receiver<Json>>,
    messages: Mutex<Receiver<Py2pMessage>>,
    stderr: Arc<Mutex<String>>,
    seq: Mutex<u64>,
    id: String,
    port: u16,
    protocol_id: String,
}

impl std::fmt::Debug for Py2p {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Py2p")
            .field("name", &self.name)
            .field("id", &self.id)
            .field("port", &self.port)
            .finish()
    }
}

impl Py2p {
    /// Starts a py2p node named `name` (for messages) on 127.0.0.1 and a
    /// fresh port; panics if it cannot (call [`available`] first).
    pub fn start(name: &str, opts: &Options) -> Py2p {
        let python = match check_python() {
            Ok(p) => p.clone(),
            Err(why) => panic!("py2p node {name}: {why}"),
        };
        let mut last_error = String::new();
        // A probed port can be taken before py2p binds it: try a few.
        for _ in 0..3 {
            let port = free_port();
            let mut node = Py2p::spawn(name, &python);
            let start = json!({
                "cmd": "start",
                "host": "127.0.0.1",
                "port": port,
                "subnet": opts.subnet,
                "encryption": opts.encryption.as_str(),
                "max_outgoing": opts.max_outgoing,
                "debug_level": opts.debug_level,
            });
            match node.command(start) {
                Ok(answer) => {
                    node.port = port;
                    node.id = answer["id"].as_str().unwrap_or_default().to_owned();
                    node.protocol_id = answer["protocol_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    assert!(!node.id.is_empty(), "py2p {name}: start gave no id");
                    return node;
                }
                Err(e) => last_error = e,
            }
        }
        panic!("py2p node {name} did not start: {last_error}");
    }

    fn spawn(name: &str, python: &Path) -> Py2p {
        let mut child = Command::new(python)
            .arg("-u")
            .arg(driver_path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("py2p {name}: cannot spawn {}: {e}", python.display()));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        let (answer_tx, answer_rx) = mpsc::channel();
        let (message_tx, message_rx) = mpsc::channel();
        let stderr = Arc::new(Mutex::new(String::new()));
        let log = Arc::clone(&stderr);
        let who = name.to_owned();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let parsed: Json = match serde_json::from_str(&line) {
                    Ok(j) => j,
                    Err(e) => {
                        eprintln!("py2p {who}: bad driver line {line:?}: {e}");
                        continue;
                    }
                };
                if parsed.get("event").and_then(Json::as_str) == Some("message") {
                    match parse_message(&parsed) {
                        Ok(m) => {
                            let _ = message_tx.send(m);
                        }
                        Err(e) => eprintln!("py2p {who}: bad message {line}: {e}"),
                    }
                } else {
                    let _ = answer_tx.send(parsed);
                }
            }
        });
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = log.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        Py2p {
            name: name.to_owned(),
            child,
            stdin: Mutex::new(stdin),
            answers: Mutex::new(answer_rx),
            messages: Mutex::new(message_rx),
            stderr,
            seq: Mutex::new(0),
            id: String::new(),
            port: 0,
            protocol_id: String::new(),
        }
    }

    /// Sends one command and waits for its answer (the answer's object, or
    /// the driver's error text).
    fn command(&self, mut cmd: Json) -> Result<Json, String> {
        let seq = {
            let mut s = self.seq.lock().expect("seq lock");
            *s += 1;
            *s
        };
        cmd["seq"] = json!(seq);
        {
            let mut stdin = self.stdin.lock().expect("stdin lock");
            let pipe = stdin.as_mut().ok_or("driver stdin closed")?;
            writeln!(pipe, "{cmd}")
                .and_then(|()| pipe.flush())
                .map_err(|e| format!("write to driver: {e}"))?;
        }
        let answers = self.answers.lock().expect("answers lock");
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match answers.recv_timeout(left) {
                Ok(answer) if answer["seq"] == json!(seq) => {
                    return if answer["ok"] == json!(true) {
                        Ok(answer)
                    } else {
                        Err(answer["error"].as_str().unwrap_or("unknown").to_owned())
                    };
                }
                Ok(_) => continue, // a stale answer of a timed-out command
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("no answer to {cmd} within {COMMAND_TIMEOUT:?}"));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("driver exited before answering {cmd}"));
                }
            }
        }
    }

    /// A command that must succeed.
    fn must(&self, cmd: Json) -> Json {
        let what = cmd["cmd"].clone();
        self.command(cmd)
            .unwrap_or_else(|e| panic!("py2p {}: {what} failed: {e}", self.name))
    }

    /// Its node id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its listening port (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its protocol id (base58).
    pub fn protocol_id(&self) -> &str {
        &self.protocol_id
    }

    /// `connect('127.0.0.1', port)`.
    pub fn connect(&self, port: u16) {
        self.must(json!({"cmd": "connect", "host": "127.0.0.1", "port": port}));
    }

    /// `send(*packets)`: a broadcast.
    pub fn send(&self, packets: &[Value]) {
        self.must(json!({"cmd": "send", "packets": typed(packets)}));
    }

    /// `send(*packets, flag=flag, type=sub)`.
    pub fn send_with(&self, packets: &[Value], flag: u8, sub: u8) {
        self.must(json!({
            "cmd": "send", "packets": typed(packets), "flag": flag, "type": sub,
        }));
    }

    /// `send(*packets, flag=whisper, type=whisper)`: direct peers only.
    pub fn whisper(&self, packets: &[Value]) {
        self.send_with(packets, 2, 2);
    }

    /// `msg.reply(*packets)` on a message it reported (only to a sender it
    /// is connected to: py2p's reply-via-request crashes on Python 3).
    pub fn reply(&self, msg: &Py2pMessage, packets: &[Value]) {
        self.must(json!({"cmd": "reply", "id": msg.id, "packets": typed(packets)}));
    }

    /// `register_handler(register_1 | register_2)`: py2p's test handlers.
    pub fn register(&self, handler: &str) {
        self.must(json!({"cmd": "register", "handler": handler}));
    }

    /// Its routing table.
    pub fn routes(&self) -> Routes {
        let a = self.must(json!({"cmd": "routes"}));
        let strings = |v: &Json| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let compression = a["peers"]
            .as_array()
            .map(|peers| {
                peers
                    .iter()
                    .map(|p| {
                        let methods = p["compression"]
                            .as_array()
                            .map(|m| {
                                m.iter()
                                    .filter_map(|f| f.as_u64().and_then(|f| u8::try_from(f).ok()))
                                    .collect()
                            })
                            .unwrap_or_default();
                        (p["id"].as_str().unwrap_or_default().to_owned(), methods)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Routes {
            ids: strings(&a["ids"]),
            awaiting: usize::try_from(a["awaiting"].as_u64().unwrap_or(0)).unwrap_or(0),
            outgoing: strings(&a["outgoing"]),
            compression,
        }
    }

    /// Its routing table's ids, sorted.
    pub fn route_ids(&self) -> Vec<String> {
        let mut ids = self.routes().ids;
        ids.sort();
        ids
    }

    /// py2p's `status` and the compression counts.
    pub fn status(&self) -> Status {
        let a = self.must(json!({"cmd": "status"}));
        let counts = |v: &Json| -> Vec<(u8, u64)> {
            v.as_object()
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, n)| Some((k.parse().ok()?, n.as_u64()?)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let status = match &a["status"] {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        Status {
            status,
            compressed: counts(&a["compressed"]),
            decompressed: counts(&a["decompressed"]),
        }
    }

    /// The next message it queued, waiting up to `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Py2pMessage> {
        self.messages
            .lock()
            .expect("messages lock")
            .recv_timeout(timeout)
            .ok()
    }

    /// Every message it queues within `window` (waiting the whole window).
    pub fn collect(&self, window: Duration) -> Vec<Py2pMessage> {
        let deadline = Instant::now() + window;
        let rx = self.messages.lock().expect("messages lock");
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(m) => got.push(m),
                Err(_) => return got,
            }
        }
    }

    /// `close()`, then waits for the process to exit.
    pub fn close(mut self) {
        self.must(json!({"cmd": "close"}));
        self.stdin.lock().expect("stdin lock").take();
        let _ = wait_exit(&mut self.child, Duration::from_secs(5));
    }

    /// What the driver (and py2p) printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Py2p {
    fn drop(&mut self) {
        if let Ok(mut stdin) = self.stdin.lock() {
            stdin.take(); // EOF: the driver closes py2p and exits
        }
        if !wait_exit(&mut self.child, Duration::from_secs(3)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if thread::panicking() {
            let log = self.stderr();
            if !log.trim().is_empty() {
                eprintln!("---- py2p {} ({}) stderr ----\n{log}", self.name, self.id);
            }
        }
    }
}

/// Waits up to `limit` for `child` to exit; true if it did.
fn wait_exit(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => return false,
        }
    }
}

fn typed(packets: &[Value]) -> Json {
    Json::Array(packets.iter().map(to_json).collect())
}

fn parse_message(j: &Json) -> Result<Py2pMessage, String> {
    let packets = j["packets"]
        .as_array()
        .ok_or("no packets")?
        .iter()
        .map(from_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Py2pMessage {
        id: j["id"].as_str().ok_or("no id")?.to_owned(),
        sender: j["sender"].as_str().ok_or("no sender")?.to_owned(),
        time: j["time"].as_i64().ok_or("no time")?,
        msg_type: j["msg_type"].as_u64().ok_or("no msg_type")?,
        packets,
    })
}

/// Fails the test (by panicking with `what`) unless `cond` holds within
/// `limit`, checking every 20 ms.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Kills the whole test process if a test runs past its hard limit: every
/// wait is bounded, this is the backstop. Drop it when the test ends.
#[derive(Debug)]
pub struct Watchdog {
    done: Option<mpsc::Sender<()>>,
}

impl Watchdog {
    /// Arms a `limit` for `test`.
    pub fn arm(test: &str, limit: Duration) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        let test = test.to_owned();
        thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!(
                    "py2p interop test {test} ran past its hard limit of {limit:?}: aborting"
                );
                std::process::exit(101);
            }
        });
        Watchdog { done: Some(tx) }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(tx) = self.done.take() {
            let _ = tx.send(());
        }
    }
}
