//! `ipc bench`: libipc against raw baselines (no libipc code), in the same run.
//!
//! The bench sets up one link per raw baseline ([`BASELINES`]: a Unix socket, and a FIFO per
//! direction, each blocking or spinning first like libipc; shared memory with futex wake-ups,
//! shared memory with spinning) and per libipc transport ([`TRANSPORTS`]),
//! starts one peer process by re-running this executable as `ipc __bench-peer SPEC...`, and
//! drives every measurement from here through the [`Link`](libipc_bench::Link) trait, so every
//! system runs the same loops between the same two threads. The links, the peer's commands and
//! the measurement loops are the bench library's (`bench/common`, [`libipc_bench`]), shared
//! with pipe-bench; the raw baselines, the libipc links, the peer process, the load workers,
//! the noise verdict and the report are the Unix bench library's (`bench/unix`,
//! [`libipc_bench_unix`]), which other Unix benches share. This module has the command line,
//! the choice and order of the links, and `--soak` ([`soak`]).
//!
//! For each pattern and size, every link measured with that pattern warms up, then their
//! measured rounds are interleaved (see [`libipc_bench::measure`]) so drift and scheduler
//! placement affect all of them alike. Each libipc row is compared with the raw row that waits the same way and
//! with the plain blocking socket. Every row also gets the CPU time both processes spent per
//! message; the run ends with a judgement of how quiet the machine was
//! ([`Noise`](libipc_bench_unix::Noise)), and under `--load` it runs beside processes that load
//! the machine like a parallel build ([`Load`](libipc_bench_unix::Load)).

mod soak;

use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

pub use soak::SoakPeerArgs;
pub(crate) use soak::run_peer as run_soak_peer;

use libipc_bench::{Budget, Method, parse_size};
use libipc_bench_unix::{
    BASELINES, LinkKind, LinkSpec, Load, Noise, Peer, Plan, Report, Rerun, RunQueue, ScratchDir,
    TRANSPORTS, Transport, cpu_time,
};

use crate::fail::{Context, Fail, Result};

/// The hidden subcommand that runs the peer.
const PEER_COMMAND: &str = "__bench-peer";
/// The hidden subcommand that runs a load worker.
const LOAD_COMMAND: &str = "__bench-load";

/// Transports libipc has that this bench cannot measure here, and why.
const ELSEWHERE: &[(&str, &str)] = &[(
    "pipe",
    "pipe:// is Windows named pipes, which pipe-bench (bench/pipe) measures on Windows; on \
     Unix the pipe transport is fifo",
)];

/// Measure libipc latency and throughput against raw baselines.
///
/// Starts its own peer process and, for each transport and message size, measures ping-pong
/// round-trip latency (p50/p99/p99.9) and one-way streaming throughput, next to raw baselines
/// that use no libipc code, measured with the same loops in the same run: a plain Unix stream
/// with a 4-byte length prefix that blocks in each read (`unix`) or first spins the way libipc
/// does (`unix-spin`), the same over a FIFO per direction (`pipe`, `pipe-spin`), and a
/// shared-memory ring per direction that wakes the other side with a
/// shared futex (`shm-futex`) or busy-spins (`shm-spin`, round trips only). Each libipc row is
/// compared with the raw row that waits the same way ("vs same-wait") and with the blocking
/// socket ("vs blocking"); every row shows the CPU time (user + system, both processes) per
/// message. Each measurement warms up for 0.2 s, then runs for about 1 s in 10 rounds
/// interleaved with the other systems' rounds; the estimated run time is printed first (about
/// a minute with the defaults). A warning says when the machine looked busy (run queue, or
/// rounds that disagree). Progress goes to stderr, the table to stdout. Round trips depend
/// heavily on whether the two processes share a CPU; for steadier
/// numbers pin everything to one CPU, e.g. `taskset -c 0 ipc bench` (the peer inherits the
/// affinity), though `shm-spin` then measures the scheduler's time slice: spinning needs two
/// CPUs.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Transport to measure (unix, tcp, ...; a wrong name lists them); repeat for several.
    /// Default: all of them. The raw baselines are always measured.
    #[arg(long = "transport", value_name = "T", value_parser = parse_transport)]
    transports: Vec<&'static Transport>,
    /// Message sizes in bytes, comma-separated; k and m suffixes mean KiB and MiB.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_size,
          default_value = "64,4096,65536,1048576")]
    sizes: Vec<usize>,
    /// Also write the results to FILE as JSON: {"results": [{"system", "transport", "pattern",
    /// "size", ...}]}.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Measure beside N processes that load the machine like a parallel build: random 1-5 ms
    /// CPU bursts between 0.1-2 ms sleeps (plain busy loops would not slow a ping-pong). N
    /// defaults to the CPUs + 1. They run during the measurements only.
    #[arg(long, value_name = "N", num_args = 0..=1, require_equals = true,
          value_parser = clap::value_parser!(u16).range(1..))]
    load: Option<Option<u16>>,
    /// Tiny time budgets (milliseconds per measurement): checks that everything works, for
    /// tests; the numbers are not meaningful. With --soak: 20 s, sampled every 2 s.
    #[arg(long)]
    quick: bool,
    /// Soak instead of measuring (Linux): mixed traffic over unix, tcp, shm and fifo (sizes
    /// from 0 to 1 MiB, long-lived connections and connections opened and closed over and
    /// over, every echo checked) for --minutes, sampling both processes' resident memory,
    /// descriptors and threads every 10 s; prints the samples and whether each stayed flat
    /// (first quarter against last). --json writes {"samples", "verdicts", "traffic", "flat"}.
    #[arg(long, conflicts_with_all = ["transports", "sizes", "load"])]
    soak: bool,
    /// How long to soak, in minutes.
    #[arg(long, value_name = "N", default_value_t = 10, requires = "soak",
          value_parser = clap::value_parser!(u64).range(1..))]
    minutes: u64,
    /// With --soak: also write the samples to FILE as CSV.
    #[arg(long, value_name = "FILE", requires = "soak")]
    csv: Option<PathBuf>,
}

fn parse_transport(name: &str) -> Result<&'static Transport, String> {
    let ready = || TRANSPORTS.iter().filter(|t| t.ready);
    let known: Vec<&str> = ready().map(|t| t.name).collect();
    ready().find(|t| t.name == name).ok_or_else(|| {
        if let Some((_, why)) = ELSEWHERE.iter().find(|(n, _)| *n == name) {
            format!("{why}; available: {}", known.join(", "))
        } else if TRANSPORTS.iter().any(|t| t.name == name) {
            format!(
                "the {name} transport is not implemented yet; available: {}",
                known.join(", ")
            )
        } else {
            format!(
                "unknown transport {name:?}; available: {}",
                known.join(", ")
            )
        }
    })
}

pub(crate) fn run(args: Args) -> Result {
    if args.soak {
        let plan = if args.quick {
            soak::Plan {
                duration: Duration::from_secs(20),
                interval: Duration::from_secs(2),
            }
        } else {
            soak::Plan {
                duration: Duration::from_secs(args.minutes * 60),
                interval: Duration::from_secs(10),
            }
        };
        return soak::run(plan, args.json, args.csv);
    }
    let budget = if args.quick {
        Budget::QUICK
    } else {
        Budget::FULL
    };
    let mut transports: Vec<&Transport> = Vec::new();
    for t in if args.transports.is_empty() {
        TRANSPORTS.iter().filter(|t| t.ready).collect()
    } else {
        args.transports
    } {
        if !transports.iter().any(|k| k.name == t.name) {
            transports.push(t);
        }
    }
    let mut sizes: Vec<usize> = Vec::new();
    for size in args.sizes {
        if !sizes.contains(&size) {
            sizes.push(size);
        }
    }
    if sizes.is_empty() {
        return Err(Fail::new("no message sizes to measure"));
    }

    let json = match args.json {
        Some(path) => {
            let file = File::create(&path).context(format_args!("creating {}", path.display()))?;
            Some((file, path))
        }
        None => None,
    };

    let load = args
        .load
        .map(|n| n.map_or_else(libipc_bench_unix::default_workers, usize::from));
    let quiet_before = RunQueue::sample();
    let dir = ScratchDir::new()?;
    let max_size = sizes.iter().copied().max().unwrap_or(0);
    let kinds = link_order(&transports);
    let mut peer = Peer::start(
        &Rerun::current_exe(PEER_COMMAND)?,
        dir.path(),
        &kinds,
        max_size,
    )?;
    let plan = Plan::new(&peer, &sizes);
    let total = plan.total();
    let each = budget.per_measurement();
    eprintln!(
        "estimated run time: ~{}s ({total} measurements of about {:.2} s each)",
        (each.as_secs_f64() * total as f64).ceil().max(1.0),
        each.as_secs_f64()
    );
    // Killed when dropped: at the end of the measurements, or on any error or panic.
    let workers = match load {
        Some(n) => Some(Load::start(n, &Rerun::current_exe(LOAD_COMMAND)?)?),
        None => None,
    };
    let method = Method {
        budget,
        cpu_time: Some(cpu_time),
    };
    let outcome = plan.run(&mut peer, &method)?;
    drop(workers);
    peer.finish()?;
    let noise = Noise::judge(
        quiet_before,
        RunQueue::sample(),
        outcome.worst,
        load.is_some(),
    );

    let report = Report::new(outcome.rows, load, noise);
    print!("{}", report.table());
    if let Some((file, path)) = json {
        report.write_json(file, &path)?;
    }
    Ok(())
}

/// The links, in row order: each raw baseline, followed by the chosen libipc transports that
/// wait the same way (so the rows come out grouped).
fn link_order(transports: &[&'static Transport]) -> Vec<&'static dyn LinkKind> {
    let mut kinds: Vec<&'static dyn LinkKind> = Vec::new();
    for baseline in &BASELINES {
        kinds.push(baseline);
        for &t in transports.iter().filter(|t| t.same_wait == *baseline) {
            kinds.push(t);
        }
    }
    kinds
}

/// Arguments of the hidden `__bench-peer` subcommand.
#[derive(Debug, clap::Args)]
pub struct PeerArgs {
    /// Links to open, in order: SYSTEM:TRANSPORT=ARG, e.g. raw:unix=SOCKET_PATH,
    /// raw:pipe=FIFO_BASE, raw:shm-futex=MEMFD,ALIVE or libipc:tcp=ENDPOINT.
    #[arg(required = true, value_name = "SPEC", value_parser = parse_spec)]
    links: Vec<LinkSpec>,
}

fn parse_spec(text: &str) -> Result<LinkSpec, String> {
    LinkSpec::parse(text, &libipc_bench_unix::kinds())
}

pub(crate) fn run_peer(args: PeerArgs) -> Result {
    libipc_bench_unix::run_peer(&libipc_bench_unix::kinds(), &args.links)
}

/// Arguments of the hidden `__bench-load` subcommand.
#[derive(Debug, clap::Args)]
pub struct LoadWorkerArgs {
    /// The bench's process id: the worker exits once it is no longer its parent.
    #[arg(value_name = "PARENT_PID")]
    parent: u32,
}

pub(crate) fn run_load_worker(args: LoadWorkerArgs) -> Result {
    libipc_bench_unix::run_load_worker(args.parent)
}
