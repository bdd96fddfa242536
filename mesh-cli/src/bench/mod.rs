//! `mesh bench`: a line of nodes on loopback, the first publishing unique
//! payloads and the last counting them, on the runtime asked for; with
//! `--baseline raw`, the same run through a raw framed-TCP relay that hashes
//! and dedups (`raw.rs`), in the same invocation, and the ratio of the two.

mod blocking;
mod hist;
mod idle;
mod line;
mod nodes;
mod payload;
mod progress;
mod raw;
mod record;
mod report;
mod rss;
mod window;

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use crate::Runtime;
use crate::out::errln;
use record::{Outcome, Plan};

/// `mesh bench` flags.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Nodes in the line (the first publishes, the last counts).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(2..=64))]
    nodes: u16,
    /// Payload bytes per message (the first 16 carry a sequence number and the publish time).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(16..=8_388_608))]
    size: u32,
    /// Messages to publish.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    count: u64,
    /// At most this many messages in flight (published, not yet counted); default: as fast as backpressure allows.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    window: Option<u64>,
    /// Publish at this many messages per second instead.
    #[arg(long, value_name = "MSGS/S", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    rate: Option<u64>,
    /// The runtime the nodes run on.
    #[arg(long, value_enum, default_value_t = Runtime::Tokio)]
    runtime: Runtime,
    /// Nodes speak TLS (py2p's SSL encryption).
    #[arg(long)]
    tls: bool,
    /// Also run the same load through a baseline in the same invocation and print our/baseline.
    #[arg(long, value_enum)]
    baseline: Option<Baseline>,
    /// A run that delivers nothing new for this many seconds ends, counting the rest as lost.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    stall_secs: u64,
    /// Instead of a line: what an idle, handshaken connection costs a tokio node
    /// (this many silent clients handshake, then the resident set is compared).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=10_000))]
    idle: Option<u16>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
}

/// What a run is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Baseline {
    /// Plain TCP hops with py2p's framing, each SHA-256ing every frame and keeping a seen-set.
    Raw,
}

/// Runs `mesh bench`: 0 if every run delivered every message, 1 if one lost
/// some or could not run.
pub fn run(args: &BenchArgs) -> ExitCode {
    let plan = Plan {
        count: args.count,
        size: args.size as usize,
        window: args.window,
        rate: args.rate,
        stall: Duration::from_secs(args.stall_secs),
    };
    let nodes = usize::from(args.nodes);
    let progress = !args.json;
    let tokio = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail("cannot start tokio", &e),
    };
    if let Some(n) = args.idle {
        return match tokio.block_on(idle::run(usize::from(n))) {
            Ok(idle) => {
                report::idle(args, &idle);
                ExitCode::SUCCESS
            }
            Err(e) => fail("the idle-connection measurement failed", &e),
        };
    }
    report::header(args, &plan);
    rss::reset_peak();
    let ours = match args.runtime {
        // In a runtime task, as the raw baseline's publisher and counter
        // are: `block_on` would run the application on the main thread, and
        // every message would cost a wake-up of that extra thread.
        Runtime::Tokio => tokio.block_on(async {
            let line = async_line::<mesh_tokio::MeshSocket>(nodes, args.tls, plan, progress);
            tokio::spawn(line).await.map_err(io::Error::other)?
        }),
        Runtime::AsyncStd => async_std::task::block_on(async_line::<mesh_async_std::MeshSocket>(
            nodes, args.tls, plan, progress,
        )),
        Runtime::Smol => smol::block_on(async_line::<mesh_async_std::MeshSocket>(
            nodes, args.tls, plan, progress,
        )),
        Runtime::Blocking => blocking_line(nodes, args.tls, plan, progress),
    };
    let ours = match ours {
        Ok(o) => with_peak(o),
        Err(e) => return fail("the mesh line failed", &e),
    };
    let name = report::runtime_name(args.runtime, args.tls);
    report::outcome(args, &name, &plan, &ours);
    let mut ok = ours.delivered == plan.count;
    if let Some(Baseline::Raw) = args.baseline {
        // Settle: the nodes' lingering sockets go before the baseline runs.
        std::thread::sleep(Duration::from_millis(200));
        rss::reset_peak();
        match tokio.block_on(raw::run(nodes, plan, progress)) {
            Ok(raw) => {
                let raw = with_peak(raw);
                report::outcome(args, "raw", &plan, &raw);
                report::ratio(args, &name, &ours, &raw);
                ok &= raw.delivered == plan.count;
            }
            Err(e) => return fail("the raw baseline failed", &e),
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        errln!("mesh bench: messages were lost (delivered < count)");
        ExitCode::FAILURE
    }
}

async fn async_line<N: line::LineNode>(
    nodes: usize,
    tls: bool,
    plan: Plan,
    progress: bool,
) -> io::Result<Outcome> {
    let built = line::build::<N>(nodes, tls).await?;
    let outcome = line::run(&built, plan, progress).await;
    line::close(&built).await;
    Ok(outcome)
}

fn blocking_line(nodes: usize, tls: bool, plan: Plan, progress: bool) -> io::Result<Outcome> {
    let built = blocking::build(nodes, tls)?;
    let outcome = blocking::run(&built, plan, progress);
    blocking::close(&built);
    Ok(outcome)
}

fn with_peak(mut o: Outcome) -> Outcome {
    o.peak_rss_kib = rss::peak_kib();
    o
}

fn fail(what: &str, e: &io::Error) -> ExitCode {
    errln!("mesh bench: {what}: {e}");
    ExitCode::FAILURE
}
