//! `mesh chat`: a mesh node on stdin/stdout. Each stdin line is broadcast;
//! `/whisper`, `/reply`, `/connect`, `/peers`, `/stats`, `/quit` are commands.

use crate::out::{errln, outln};
use std::process::ExitCode;

use crate::node::Node;
use mesh_proto::mesh::{Event, Message, RejectReason};
use mesh_proto::wire::json::to_json;
use mesh_proto::wire::{Encryption, Protocol, Value};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::addr::parse_host_port;

/// Arguments of `mesh chat`.
#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// Address to listen on (`0.0.0.0:0` for any interface and a free port).
    #[arg(long, value_parser = parse_host_port)]
    bind: (String, u16),
    /// Peers to dial at start (repeatable).
    #[arg(long, value_parser = parse_host_port)]
    connect: Vec<(String, u16)>,
    /// Subnet: only nodes with the same subnet (and encryption) talk.
    #[arg(long, default_value = "mesh")]
    subnet: String,
    /// TLS (py2p's "SSL" encryption).
    #[arg(long)]
    tls: bool,
    /// The address peers should dial to reach us, if not the bound one.
    #[arg(long, value_parser = parse_host_port)]
    out_addr: Option<(String, u16)>,
    /// The runtime driving the node.
    #[arg(long, value_enum, default_value_t = crate::Runtime::Tokio)]
    runtime: crate::Runtime,
    /// Lazy push between our own nodes (`on`), or pure py2p flooding (`off`).
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    lazy: OnOff,
    /// One JSON object per line on stdout.
    #[arg(long)]
    json: bool,
}

/// A switch given as `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

/// Writes one output line and flushes it at once (scripts read line by line).
/// A closed stdout ends the process (see `out`).
fn emit(json_mode: bool, value: serde_json::Value, text: String) {
    if json_mode {
        outln!("{value}");
    } else {
        outln!("{text}");
    }
}

fn packets_text(packets: &[Value]) -> String {
    packets
        .iter()
        .skip(1)
        .map(|p| match p {
            Value::Str(s) => s.as_str().to_string(),
            Value::Bin(b) => String::from_utf8_lossy(b).into_owned(),
            other => format!("{other:?}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn message_line(json_mode: bool, m: &Message) {
    let packets: Vec<_> = m.packets.iter().map(to_json).collect();
    emit(
        json_mode,
        json!({"event": "message", "sender": m.sender.to_text(), "id": m.id.to_hex(), "time": m.time, "packets": packets}),
        format!(
            "<{}> {}",
            short(&m.sender.to_text()),
            packets_text(&m.packets)
        ),
    );
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

/// Runs the node until `/quit` or end of stdin.
pub fn run(args: &ChatArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln!("mesh chat: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(chat(args));
    // A stdin read may still be blocked in a thread: do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            errln!("mesh chat: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn chat(args: &ChatArgs) -> Result<(), String> {
    let encryption = if args.tls {
        Encryption::Ssl
    } else {
        Encryption::Plaintext
    };
    let protocol = Protocol::new(args.subnet.clone(), encryption);
    let sock = crate::node::bind(
        args.runtime,
        &args.bind.0,
        args.bind.1,
        protocol,
        args.out_addr.clone(),
        match args.lazy {
            OnOff::On => |_| {},
            OnOff::Off => |c| c.lazy_push = false,
        },
    )
    .await
    .map_err(|e| format!("bind {}:{}: {e}", args.bind.0, args.bind.1))?;
    let mut events = sock.events();
    let out = sock.out_addr().to_string();
    emit(
        args.json,
        json!({"event": "ready", "id": sock.id().to_text(), "addr": out}),
        format!("ready: {} at {out}", sock.id()),
    );
    for (host, port) in &args.connect {
        dial(&sock, args.json, host, *port).await;
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut last: Option<Message> = None;
    let first_signal = signal();
    tokio::pin!(first_signal);
    loop {
        tokio::select! {
            name = &mut first_signal => {
                tracing::info!(signal = name, "closing gracefully (again to exit at once)");
                break;
            }
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                if !command(&sock, args.json, &line, &last).await? {
                    break;
                }
            }
            event = events.recv() => {
                let Some(event) = event else { break };
                on_event(&sock, args.json, event, &mut last).await;
            }
        }
    }
    // Queued frames are flushed and peers see a clean close; a second
    // signal does not wait for that.
    tokio::select! {
        _ = sock.close() => {}
        _ = signal() => std::process::exit(130),
    }
    Ok(())
}

/// The next SIGINT (Ctrl-C) or SIGTERM.
async fn signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return "interrupt";
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "interrupt",
            _ = term.recv() => "terminate",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupt"
    }
}

/// Handles one stdin line; `false` to quit.
async fn command(
    sock: &Node,
    json_mode: bool,
    line: &str,
    last: &Option<Message>,
) -> Result<bool, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
    match cmd {
        "/quit" => return Ok(false),
        "/peers" => {
            let ids: Vec<String> = sock.routes().await.iter().map(|p| p.to_text()).collect();
            let text = format!("peers: {}", ids.join(", "));
            emit(json_mode, json!({"event": "peers", "ids": ids}), text);
        }
        "/stats" => {
            let c = sock.counters().await;
            let l = &c.lazy;
            emit(
                json_mode,
                json!({"event": "stats", "counters": {
                    "frames_in": c.frames_in, "bytes_in": c.bytes_in,
                    "frames_out": c.frames_out, "bytes_out": c.bytes_out,
                    "relayed": c.relayed, "duplicates": c.duplicates,
                    "delivered": c.delivered, "handled": c.handled,
                    "stale": c.stale, "future": c.future, "queue_drops": c.queue_drops,
                    "undecodable": c.undecodable, "violations": c.violations,
                    "lazy": {
                        "announced": l.announced, "announcements_received": l.announcements_received,
                        "grafts_sent": l.grafts_sent, "grafts_received": l.grafts_received,
                        "prunes_sent": l.prunes_sent, "prunes_received": l.prunes_received,
                        "served_from_cache": l.served_from_cache, "bytes_out": l.bytes_out,
                    },
                }}),
                format!(
                    "stats: {} frames in, {} out ({} bytes), {} relayed, {} duplicates, {} delivered; lazy push: {} ids announced, {} grafts, {} prunes",
                    c.frames_in,
                    c.frames_out,
                    c.bytes_out,
                    c.relayed,
                    c.duplicates,
                    c.delivered,
                    l.announced,
                    l.grafts_sent,
                    l.prunes_sent
                ),
            );
        }
        "/connect" => match parse_host_port(rest.trim()) {
            Ok((host, port)) => dial(sock, json_mode, &host, port).await,
            Err(e) => notice(
                json_mode,
                "/connect",
                &format!("{e} (usage: /connect HOST:PORT)"),
            ),
        },
        "/whisper" if rest.trim().is_empty() => {
            notice(
                json_mode,
                "/whisper",
                "nothing to whisper (usage: /whisper TEXT)",
            );
        }
        "/whisper" => {
            sock.whisper(vec![Value::from(rest)])
                .await
                .map_err(|e| e.to_string())?;
        }
        "/reply" => match last {
            Some(m) => sock
                .reply(m, vec![Value::from(rest)])
                .await
                .map_err(|e| e.to_string())?,
            None => notice(json_mode, "/reply", "no message received yet"),
        },
        _ if line.is_empty() => {}
        _ if cmd.starts_with('/') => notice(
            json_mode,
            cmd,
            "unknown command (commands: /whisper TEXT, /reply TEXT, /connect HOST:PORT, /peers, /stats, /quit)",
        ),
        _ => {
            sock.send(vec![Value::from(line)])
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(true)
}

/// Dials `host:port`; a failure is a `dial_failed` line (the node keeps running).
async fn dial(sock: &Node, json_mode: bool, host: &str, port: u16) {
    if let Err(e) = sock.connect(host, port).await {
        let addr = crate::addr::host_port_text(host, port);
        let reason = explain_io(&e);
        emit(
            json_mode,
            json!({"event": "dial_failed", "addr": addr, "reason": reason}),
            format!("could not connect to {addr}: {reason}"),
        );
    }
}

/// A line about a command that did nothing: `{"event":"notice",..}` with `--json`.
fn notice(json_mode: bool, command: &str, text: &str) {
    emit(
        json_mode,
        json!({"event": "notice", "command": command, "text": text}),
        format!("{command}: {text}"),
    );
}

/// An I/O error in words a user can act on.
fn explain_io(e: &std::io::Error) -> String {
    let text = e.to_string();
    if text.contains("InvalidContentType") || text.contains("corrupt message") {
        format!("the peer is not speaking TLS (a plaintext node? both ends need --tls): {text}")
    } else if text.contains("HandshakeFailure") || text.contains("peer is incompatible") {
        format!("TLS handshake failed: {text}")
    } else {
        text
    }
}

async fn on_event(sock: &Node, json_mode: bool, event: Event, last: &mut Option<Message>) {
    match event {
        Event::Connected => emit(
            json_mode,
            json!({"event": "connect"}),
            "connected to the mesh".into(),
        ),
        Event::PeerUp { peer, addr, .. } => emit(
            json_mode,
            json!({"event": "peer_up", "id": peer.to_text()}),
            format!("peer up: {peer} at {addr}"),
        ),
        Event::PeerDown { peer, .. } => emit(
            json_mode,
            json!({"event": "peer_down", "id": peer.to_text()}),
            format!("peer down: {peer}"),
        ),
        Event::Rejected { reason, .. } => {
            let reason = match reason {
                RejectReason::ProtocolMismatch { .. } => {
                    format!("{reason}: the peer is on another subnet or encryption")
                }
                other => other.to_string(),
            };
            emit(
                json_mode,
                json!({"event": "rejected", "reason": reason}),
                format!("rejected a connection: {reason}"),
            )
        }
        Event::Message { .. } => {
            while let Some(m) = sock.recv().await {
                message_line(json_mode, &m);
                *last = Some(m);
            }
        }
        other => tracing::debug!(?other, "event"),
    }
}
