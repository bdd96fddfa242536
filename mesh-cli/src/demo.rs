//! `mesh demo`: N nodes on loopback in one process, joined through peer
//! exchange; a broadcast, a whisper and a reply; who got what, and how fast.

use crate::out::{errln, outln};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::node::Node;
use mesh_proto::mesh::{Config, Event, Message};
use mesh_proto::wire::{Encryption, Protocol, Value};

/// Arguments of `mesh demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(2..=200))]
    nodes: u16,
    /// The runtime driving the nodes.
    #[arg(long, value_enum, default_value_t = crate::Runtime::Tokio)]
    runtime: crate::Runtime,
}

const WAIT: Duration = Duration::from_secs(10);

/// Runs the demo; exits 1 if anything did not arrive.
pub fn run(args: &DemoArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln!("mesh demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(demo(usize::from(args.nodes), args.runtime)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            errln!("mesh demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn name(i: usize) -> String {
    format!("node{i}")
}

/// Waits for the next message at `sock` matching `want`, up to `WAIT`.
async fn wait_for(sock: &Node, want: impl Fn(&Message) -> bool) -> Option<(Message, Instant)> {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let m = sock.next(left).await?;
        if want(&m) {
            return Some((m, Instant::now()));
        }
    }
}

fn text_of(m: &Message) -> Option<&str> {
    m.packets.get(1).and_then(Value::as_str)
}

async fn demo(n: usize, runtime: crate::Runtime) -> Result<bool, String> {
    let protocol = Protocol::new("demo", Encryption::Plaintext);
    let mut nodes = Vec::with_capacity(n);
    for _ in 0..n {
        // Everyone joins through node0: let it take them all.
        let sock = crate::node::bind(
            runtime,
            "127.0.0.1",
            0,
            protocol.clone(),
            None,
            |c: &mut Config| {
                c.max_inbound = 256;
            },
        )
        .await
        .map_err(|e| format!("bind: {e}"))?;
        nodes.push(sock);
    }
    outln!("{n} nodes on 127.0.0.1 ({runtime:?} runtime):");
    for (i, s) in nodes.iter().enumerate() {
        outln!(
            "  {} {} at {}",
            name(i),
            short(&s.id().to_text()),
            s.out_addr()
        );
    }

    // Everyone dials node0 only; peer exchange does the rest.
    let port0 = nodes[0].port();
    let mut events: Vec<_> = nodes.iter().map(Node::events).collect();
    for s in &nodes[1..] {
        s.connect("127.0.0.1", port0)
            .await
            .map_err(|e| format!("connect: {e}"))?;
    }
    let joined = Instant::now();
    for (i, ev) in events.iter_mut().enumerate() {
        let up = tokio::time::timeout(WAIT, async {
            while let Some(e) = ev.recv().await {
                if matches!(e, Event::Connected) {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        if !up {
            outln!("{} never joined", name(i));
            return Ok(false);
        }
    }
    let join_time = joined.elapsed();
    // Give peer exchange a moment, then show the links it made.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut links = 0;
    for s in &nodes {
        links += s.routes().await.len();
    }
    outln!(
        "joined in {:.2} ms through node0; peer exchange made {} links (mean degree {:.1})",
        join_time.as_secs_f64() * 1000.0,
        links / 2,
        links as f64 / n as f64
    );

    let mut ok = true;
    let mut latencies = Vec::new();

    // 1. A broadcast from the last node reaches everyone else.
    let from = n - 1;
    let sent = Instant::now();
    nodes[from]
        .send(vec![Value::from("hello, mesh")])
        .await
        .map_err(|e| e.to_string())?;
    // Every receiver waits at once, so each time is its own arrival time.
    let waiters: Vec<_> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != from)
        .map(|(i, s)| {
            let s = s.clone();
            (
                i,
                tokio::spawn(
                    async move { wait_for(&s, |m| text_of(m) == Some("hello, mesh")).await },
                ),
            )
        })
        .collect();
    let mut got = Vec::new();
    let mut node0_copy = None;
    for (i, waiter) in waiters {
        match waiter.await.ok().flatten() {
            Some((m, at)) => {
                latencies.push(at - sent);
                got.push(i);
                if i == 0 {
                    node0_copy = Some(m);
                }
            }
            None => {
                outln!("broadcast: {} MISSING", name(i));
                ok = false;
            }
        }
    }
    if let Some(m) = node0_copy {
        let t0 = Instant::now();
        nodes[0]
            .reply(&m, vec![Value::from("hi back")])
            .await
            .map_err(|e| e.to_string())?;
        match wait_for(&nodes[from], |m| text_of(m) == Some("hi back")).await {
            Some((_, at)) => outln!(
                "reply: node0 -> {} arrived in {:.2} ms",
                name(from),
                (at - t0).as_secs_f64() * 1000.0
            ),
            None => {
                outln!("reply: node0 -> {} MISSING", name(from));
                ok = false;
            }
        }
    }
    outln!(
        "broadcast from {}: delivered to {} of {} nodes",
        name(from),
        got.len(),
        n - 1
    );

    // 2. A whisper from node0 reaches its direct peers only.
    let peers = nodes[0].routes().await;
    nodes[0]
        .whisper(vec![Value::from("psst")])
        .await
        .map_err(|e| e.to_string())?;
    let mut whispered = 0;
    for s in &nodes[1..] {
        let direct = peers.contains(s.id());
        let arrived = if direct {
            wait_for(s, |m| text_of(m) == Some("psst")).await.is_some()
        } else {
            false
        };
        if direct && !arrived {
            ok = false;
        }
        whispered += usize::from(arrived);
    }
    outln!(
        "whisper from node0: delivered to {whispered} direct peers of {}",
        peers.len()
    );

    latencies.sort();
    if let (Some(first), Some(last)) = (latencies.first(), latencies.last()) {
        let p50 = latencies[latencies.len() / 2];
        outln!(
            "broadcast latency: min {:.2} ms, p50 {:.2} ms, max {:.2} ms",
            first.as_secs_f64() * 1000.0,
            p50.as_secs_f64() * 1000.0,
            last.as_secs_f64() * 1000.0
        );
    }
    for s in &nodes {
        let _ = s.close().await;
    }
    outln!(
        "{}",
        if ok {
            "everything arrived"
        } else {
            "SOMETHING WAS LOST"
        }
    );
    Ok(ok)
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}
