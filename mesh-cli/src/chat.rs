//! `mesh chat`: a mesh node on stdin/stdout. Each stdin line is broadcast;
//! `/whisper`, `/reply`, `/connect`, `/peers`, `/stats`, `/quit` are commands.

use std::io::Write;
use std::process::ExitCode;

use crate::node::Node;
use mesh_proto::mesh::{Event, Message};
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
fn emit(json_mode: bool, value: serde_json::Value, text: String) {
    let mut out = std::io::stdout().lock();
    let _ = if json_mode {
        writeln!(out, "{value}")
    } else {
        writeln!(out, "{text}")
    };
    let _ = out.flush();
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
            eprintln!("mesh chat: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(chat(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesh chat: {e}");
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
    let sock = Node::bind(
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
        if let Err(e) = sock.connect(host, *port).await {
            tracing::warn!(%host, port, error = %e, "connect failed");
        }
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut last: Option<Message> = None;
    loop {
        tokio::select! {
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
    let _ = sock.close().await;
    Ok(())
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
            Ok((host, port)) => {
                if let Err(e) = sock.connect(&host, port).await {
                    tracing::warn!(%host, port, error = %e, "connect failed");
                }
            }
            Err(e) => tracing::warn!("{e}"),
        },
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
            None => tracing::warn!("/reply: no message received yet"),
        },
        _ if line.is_empty() => {}
        _ => {
            sock.send(vec![Value::from(line)])
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(true)
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
        Event::Rejected { reason, .. } => emit(
            json_mode,
            json!({"event": "rejected", "reason": reason.to_string()}),
            format!("rejected a connection: {reason}"),
        ),
        Event::Message { .. } => {
            while let Some(m) = sock.recv().await {
                message_line(json_mode, &m);
                *last = Some(m);
            }
        }
        other => tracing::debug!(?other, "event"),
    }
}
