//! `mesh`: the command-line face of the mesh library.
#![forbid(unsafe_code)]

mod decode;
mod sim;

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
    /// Simulate a mesh of N nodes (deterministic, virtual time) and report how broadcasts spread.
    Sim(sim::SimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Decode(args) => decode::run(&args),
        Command::Sim(args) => sim::run(&args),
    }
}
