//! `mesh`: the command-line face of the mesh library.
#![forbid(unsafe_code)]

mod addr;
mod bench;
mod chat;
mod decode;
mod demo;
mod node;
mod out;
mod sim;
mod soak;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A py2p-compatible mesh node and tools.
#[derive(Debug, Parser)]
#[command(name = "mesh", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode one py2p frame (hex, from the argument or stdin) and print it as one JSON line.
    Decode(decode::DecodeArgs),
    /// Run a mesh node on stdin/stdout: each line is broadcast; /whisper, /reply, /connect, /peers, /stats, /quit.
    Chat(chat::ChatArgs),
    /// Run N nodes on loopback in one process: join, broadcast, whisper, reply, and report.
    Demo(demo::DemoArgs),
    /// Simulate a mesh of N nodes (deterministic, virtual time) and report how broadcasts spread.
    Sim(sim::SimArgs),
    /// Measure throughput and latency through a line of nodes on loopback, optionally against a raw TCP relay.
    Bench(bench::BenchArgs),
    /// Run N `mesh chat` processes for minutes under broadcasts and kills/restarts, checking every delivery and RSS.
    Soak(soak::SoakArgs),
}

/// The runtime a node runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    /// tokio (mesh-tokio).
    Tokio,
    /// async-std (mesh-async-std, which runs on the smol stack).
    #[value(name = "async-std")]
    AsyncStd,
    /// smol (mesh-async-std: the same adapter, built on async-io and async-executor).
    Smol,
    /// std threads (mesh-blocking).
    Blocking,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr; stdout is for output scripts read. RUST_LOG filters.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // A closed stderr (`2>&1 | head`) must not panic: its default
        // reports a failed write with eprintln!, which panics then.
        .log_internal_errors(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match cli.command {
        Command::Decode(args) => decode::run(&args),
        Command::Sim(args) => sim::run(&args),
        Command::Chat(args) => chat::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Soak(args) => soak::run(&args),
    }
}
