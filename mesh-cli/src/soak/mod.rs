//! `mesh soak`: a long fault-injection run on real sockets. N child
//! `mesh chat --json` processes (this binary) on 127.0.0.1; random live nodes
//! broadcast unique texts while, every few seconds, a random node is killed
//! (SIGKILL), restarted in place (SIGKILL, then a new process on the same
//! port) or stopped (`/quit`), and replaced by a fresh node bootstrapping from
//! one or two live ones. Every broadcast is checked against the peer graph
//! rebuilt from the nodes' own lines (see `ledger`), and each node's resident
//! set is sampled from `/proc`.

mod faults;
mod fleet;
mod ledger;
mod report;
mod run;
mod verdict;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::Runtime;
use crate::out::errln;

/// `mesh soak` flags.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Checked: a broadcast sent at t0 must be printed exactly once, within 5 s, by \
every node that at t0 was live, had had a peer for 2 s and was connected to the \
sender (an edge counts once both ends printed peer_up), and that stayed \
connected to a live node holding the message for those 5 s. Nodes never \
faulted (a quarter, rounded up) have their RSS watched: the run fails if one \
alive from the mark (1 minute, or half the run if shorter) to the end grows \
over 1.5x and over +16 MiB. Exit status: 0 ok, 1 a miss, duplicate, crash or \
RSS growth, 2 a bad flag, 130 interrupted.")]
pub struct SoakArgs {
    /// Nodes kept running (child `mesh chat` processes).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(2..=64))]
    nodes: u16,
    /// Minutes to run, fractions allowed (0.5 is 30 s); broadcasts and faults
    /// stop 6 s before the end so the last ones are checked.
    #[arg(long, default_value_t = 1.0, value_parser = parse_minutes)]
    minutes: f64,
    /// Seed of every random choice (origins, victims, fault kinds, bootstrap
    /// nodes); default: from the clock. Timing is real, so a run is not replayed exactly.
    #[arg(long)]
    seed: Option<u64>,
    /// Seconds between faults (0: none).
    #[arg(long, value_name = "SECS", default_value_t = 5.0, value_parser = parse_fault_every)]
    fault_every: f64,
    /// Broadcasts per second, each from a random live node.
    #[arg(long, value_name = "PER_SEC", default_value_t = 4.0, value_parser = parse_rate)]
    rate: f64,
    /// The runtime the nodes run on (passed to `mesh chat`).
    #[arg(long, value_enum, default_value_t = Runtime::Tokio)]
    runtime: Runtime,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
}

/// A float flag in `lo..=hi`, or exactly 0 when `zero` is allowed.
fn parse_float(s: &str, lo: f64, hi: f64, zero: bool) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{s}: {e}"))?;
    if (zero && v == 0.0) || (v.is_finite() && v >= lo && v <= hi) {
        Ok(v)
    } else if zero {
        Err(format!("{s}: must be 0 or from {lo} to {hi}"))
    } else {
        Err(format!("{s}: must be from {lo} to {hi}"))
    }
}

/// `--minutes`: over 0, at most a week.
fn parse_minutes(s: &str) -> Result<f64, String> {
    let v = parse_float(s, 0.0, 10_080.0, false)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(format!("{s}: must be over 0"))
    }
}

/// `--fault-every`: 0 (no faults) or 0.2 to 3600 s.
fn parse_fault_every(s: &str) -> Result<f64, String> {
    parse_float(s, 0.2, 3600.0, true)
}

/// `--rate`: 0.1 to 1000 broadcasts a second.
fn parse_rate(s: &str) -> Result<f64, String> {
    parse_float(s, 0.1, 1000.0, false)
}

/// Runs `mesh soak`: 0 if every check held, 1 if one failed (or the nodes
/// could not start), 130 if interrupted.
pub fn run(args: &SoakArgs) -> ExitCode {
    let stop = watch_signals();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let mut soak = match run::Soak::new(args, seed, stop.clone()) {
        Ok(s) => s,
        Err(e) => {
            errln!("mesh soak: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = soak.setup() {
        drop(soak);
        errln!("mesh soak: {e}");
        return if stop.load(Ordering::SeqCst) {
            ExitCode::from(130)
        } else {
            ExitCode::FAILURE
        };
    }
    soak.run();
    let ok = soak.finish();
    // Dropping the soak kills every child before the status is returned.
    drop(soak);
    if stop.load(Ordering::SeqCst) {
        ExitCode::from(130)
    } else if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A flag raised by the first SIGINT or SIGTERM (watched by a thread), so
/// the soak ends, reports and kills its children instead of dying at once.
fn watch_signals() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let raised = flag.clone();
    let _ = std::thread::Builder::new()
        .name("soak-signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{SignalKind, signal};
                    if let Ok(mut term) = signal(SignalKind::terminate()) {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => {}
                            _ = term.recv() => {}
                        }
                        return;
                    }
                }
                let _ = tokio::signal::ctrl_c().await;
            });
            raised.store(true, Ordering::SeqCst);
        });
    flag
}
