//! `ipc bench`: libipc against raw baselines (no libipc code), in the same run.
//!
//! The bench sets up one link per raw baseline ([`BASELINES`]: a Unix socket, and a FIFO per
//! direction, each blocking or spinning first like libipc; shared memory with futex wake-ups,
//! shared memory with spinning) and per libipc transport ([`TRANSPORTS`]),
//! starts one peer process by re-running this executable as `ipc __bench-peer SPEC...`, and
//! drives every measurement from here through the [`Link`](libipc_bench::Link) trait, so every
//! system runs the same loops between the same two threads. The links, the peer's commands and
//! the measurement loops are the bench library's (`bench/common`, [`libipc_bench`]), shared
//! with pipe-bench; this module has the Unix side: the raw baselines, the peer process, the
//! report.
//!
//! For each pattern and size, every link measured with that pattern warms up, then their
//! measured rounds are interleaved (see [`libipc_bench::measure`]) so drift and scheduler
//! placement affect all of them alike. Each libipc row is compared with the raw row that waits the same way and
//! with the plain blocking socket. Every row also gets the CPU time both processes spent per
//! message; the run ends with a judgement of how quiet the machine was ([`noise`]), and under
//! `--load` it runs beside processes that load the machine like a parallel build ([`load`]).

mod load;
mod noise;
mod peer;
mod raw;
#[allow(unsafe_code)]
mod raw_shm;
mod report;
mod soak;
mod spawn;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use load::WorkerArgs as LoadWorkerArgs;
pub(crate) use load::run_worker as run_load_worker;
pub use peer::PeerArgs;
pub(crate) use peer::run as run_peer;
pub use soak::SoakPeerArgs;
pub(crate) use soak::run_peer as run_soak_peer;

use libipc_bench::{Budget, Measured, Method, Pattern, Progress, interleave, parse_size};
use load::Load;
use noise::{Noise, RunQueue};
use raw_shm::Wait;
use report::{Report, Row};
use spawn::{Peer, ScratchDir};

use crate::fail::{Context, Fail, Result};

/// A raw baseline: messages carried with no libipc channel code, measured in the same run as
/// libipc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Baseline {
    /// A Unix stream with a 4-byte length prefix, blocking in every read ([`raw`]).
    Unix,
    /// The same stream, spinning before each blocking read the way libipc's stream channels
    /// wait ([`libipc::Spinner`] with libipc's default stream spin).
    UnixSpin,
    /// A FIFO per direction with the same 4-byte length prefix, blocking in every read
    /// ([`raw`]).
    Pipe,
    /// The same FIFOs, spinning before each blocking read like `unix-spin`.
    PipeSpin,
    /// A shared-memory ring per direction, waiting in shared futexes ([`raw_shm`]).
    ShmFutex,
    /// The same rings, both sides busy-spinning instead of sleeping.
    ShmSpin,
}

/// Every raw baseline, always measured, in this order.
pub(crate) const BASELINES: [Baseline; 6] = [
    Baseline::Unix,
    Baseline::UnixSpin,
    Baseline::Pipe,
    Baseline::PipeSpin,
    Baseline::ShmFutex,
    Baseline::ShmSpin,
];

/// The baseline every libipc row is also compared with ("vs blocking"): the plain socket an
/// application would write without libipc.
pub(crate) const BLOCKING: Baseline = Baseline::Unix;

impl Baseline {
    /// Its rows' `transport`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Baseline::Unix => "unix",
            Baseline::UnixSpin => "unix-spin",
            Baseline::Pipe => "pipe",
            Baseline::PipeSpin => "pipe-spin",
            Baseline::ShmFutex => "shm-futex",
            Baseline::ShmSpin => "shm-spin",
        }
    }

    /// What it is measured with. Spinning streams like `shm-futex` (whose rings rarely wait
    /// when streaming), so it is measured with round trips only, which keeps the run short.
    pub(crate) fn patterns(self) -> &'static [Pattern] {
        match self {
            Baseline::Unix
            | Baseline::UnixSpin
            | Baseline::Pipe
            | Baseline::PipeSpin
            | Baseline::ShmFutex => &Pattern::ALL,
            Baseline::ShmSpin => &[Pattern::Rtt],
        }
    }

    /// How a shared-memory baseline waits; `None` for the streams.
    pub(crate) fn wait(self) -> Option<Wait> {
        match self {
            Baseline::Unix | Baseline::UnixSpin | Baseline::Pipe | Baseline::PipeSpin => None,
            Baseline::ShmFutex => Some(Wait::Futex),
            Baseline::ShmSpin => Some(Wait::Spin),
        }
    }

    /// How long a socket baseline spins before a blocking read (zero: it never spins).
    pub(crate) fn stream_spin(self) -> Duration {
        match self {
            Baseline::UnixSpin | Baseline::PipeSpin => libipc::DEFAULT_STREAM_SPIN,
            _ => Duration::ZERO,
        }
    }

    /// Whether it is a pair of FIFOs (else a socket, or shared memory).
    pub(crate) fn is_pipe(self) -> bool {
        matches!(self, Baseline::Pipe | Baseline::PipeSpin)
    }
}

/// A libipc transport the bench can measure. A new transport is one more [`TRANSPORTS`] entry.
#[derive(Debug)]
pub(crate) struct Transport {
    pub(crate) name: &'static str,
    /// The endpoint to listen at, given a fresh private directory (whose name is unique among
    /// running benches).
    pub(crate) endpoint: fn(&Path) -> String,
    /// The raw baseline that waits the way it does, its rows' "vs same-wait" (they are also
    /// compared with [`BLOCKING`]). A variant that waits differently (say, shm with spinning
    /// enabled, against `shm-spin`) is its own entry.
    pub(crate) same_wait: Baseline,
    /// Whether this build can measure it; if not, naming it is a usage error.
    pub(crate) ready: bool,
    /// How long shared-memory channels spin before sleeping (both sides; ignored elsewhere).
    pub(crate) spin: Duration,
}

pub(crate) const TRANSPORTS: &[Transport] = &[
    Transport {
        name: "unix",
        endpoint: |dir| format!("unix://{}/libipc.sock", dir.display()),
        same_wait: Baseline::UnixSpin,
        ready: true,
        spin: Duration::ZERO,
    },
    Transport {
        name: "tcp",
        endpoint: |_| "tcp://127.0.0.1:0".to_owned(),
        same_wait: Baseline::UnixSpin,
        ready: true,
        spin: Duration::ZERO,
    },
    // FIFOs (a rendezvous FIFO and two per connection), against the raw FIFO pair that spins
    // first like libipc's stream channels.
    Transport {
        name: "fifo",
        endpoint: |dir| format!("fifo://{}/libipc.fifo", dir.display()),
        same_wait: Baseline::PipeSpin,
        ready: true,
        spin: Duration::ZERO,
    },
    // A socket pair whose one end the peer inherited (`Channel::spawn` here, `Channel::from_env`
    // in the peer), frames as over a Unix socket.
    Transport {
        name: "pair",
        endpoint: |_| INHERITED.to_owned(),
        same_wait: Baseline::UnixSpin,
        ready: true,
        spin: Duration::ZERO,
    },
    // Stream transports spin before sleeping (libipc's default stream spin), like `unix-spin`.
    // Shared memory without spinning, against the raw ring that sleeps on a futex at once.
    Transport {
        name: "shm",
        endpoint: |dir| format!("shm://{}", unique_name(dir)),
        same_wait: Baseline::ShmFutex,
        ready: true,
        spin: Duration::ZERO,
    },
    // Shared memory with libipc's default spinning, against the raw busy-spinning ping-pong.
    Transport {
        name: "shm-spin",
        endpoint: |dir| format!("shm://{}-spin", unique_name(dir)),
        same_wait: Baseline::ShmSpin,
        ready: true,
        spin: libipc::DEFAULT_SHM_SPIN,
    },
];

/// The "endpoint" of the `pair` transport: the peer opens it with `Channel::from_env`.
pub(crate) const INHERITED: &str = "inherited:LIBIPC_CHANNEL_FD";

/// Transports libipc has that this bench cannot measure here, and why.
const ELSEWHERE: &[(&str, &str)] = &[(
    "pipe",
    "pipe:// is Windows named pipes, which pipe-bench (bench/pipe) measures on Windows; on \
     Unix the pipe transport is fifo",
)];

/// The scratch directory's name (`ipc-bench-PID-N`), unique among running benches.
fn unique_name(dir: &Path) -> String {
    dir.file_name()
        .map_or_else(|| "ipc-bench".into(), |n| n.to_string_lossy())
        .into_owned()
}

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
        .map(|n| n.map_or_else(load::default_workers, usize::from));
    let quiet_before = RunQueue::sample();
    let dir = ScratchDir::new()?;
    let max_size = sizes.iter().copied().max().unwrap_or(0);
    let mut peer = Peer::start(dir.path(), &transports, max_size)?;
    // For each pattern, the links measured with it.
    let plan: Vec<(Pattern, Vec<usize>)> = Pattern::ALL
        .iter()
        .map(|&pattern| {
            let members = (0..peer.links.len())
                .filter(|&i| peer.links[i].patterns().contains(&pattern))
                .collect();
            (pattern, members)
        })
        .collect();
    let total: usize = plan.iter().map(|(_, m)| m.len() * sizes.len()).sum();
    let each = budget.per_measurement();
    eprintln!(
        "estimated run time: ~{}s ({total} measurements of about {:.2} s each)",
        (each.as_secs_f64() * total as f64).ceil().max(1.0),
        each.as_secs_f64()
    );
    // Killed when dropped: at the end of the measurements, or on any error or panic.
    let workers = load.map(Load::start).transpose()?;
    let method = Method {
        budget,
        cpu_time: Some(cpu_time),
    };
    let mut progress = Progress { done: 0, total };
    let mut rows = Vec::new();
    let mut worst: Option<(f64, String)> = None;
    for (pattern, members) in plan {
        for &size in &sizes {
            let payload = vec![0xa5u8; size];
            let labels = &peer.links;
            let what = |i: usize| {
                let (system, transport) = (labels[i].system.name(), labels[i].transport);
                format!("{system} {transport} {} {size} B", pattern.name())
            };
            let trials = interleave(
                &mut peer.board,
                &members,
                pattern,
                &payload,
                &method,
                &mut progress,
                what,
            )?;
            for (trial, &i) in trials.iter().zip(&members) {
                let measured = trial.finish(size);
                eprintln!("       {}: {}", what(i), summary(&measured));
                let spread = trial.spread();
                if worst.as_ref().is_none_or(|(w, _)| spread > *w) {
                    worst = Some((spread, what(i)));
                }
                let link = &peer.links[i];
                let libipc = link.same_wait.is_some();
                rows.push(Row {
                    system: link.system.name(),
                    transport: link.transport,
                    pattern: pattern.name(),
                    size,
                    measured,
                    cpu_us_per_msg: trial.cpu_us_per_msg().unwrap_or_default(),
                    rounds_spread: spread,
                    same_wait_baseline: link.same_wait.map(Baseline::name),
                    vs_same_wait: None,
                    blocking_baseline: libipc.then(|| BLOCKING.name()),
                    vs_blocking: None,
                });
            }
        }
    }
    drop(workers);
    peer.finish()?;
    let noise = Noise::judge(quiet_before, RunQueue::sample(), worst, load.is_some());

    let report = Report::new(rows, load, noise);
    print!("{}", report.table());
    if let Some((file, path)) = json {
        report.write_json(file, &path)?;
    }
    Ok(())
}

fn summary(m: &Measured) -> String {
    match m {
        Measured::Rtt {
            p50_us, samples, ..
        } => {
            format!("p50 {p50_us:.1} us ({samples} round trips)")
        }
        Measured::Stream {
            msgs_per_s,
            mb_per_s,
            ..
        } => {
            format!("{msgs_per_s:.0} msgs/s, {mb_per_s:.1} MB/s")
        }
    }
}

/// CPU time (user + system) this process has used so far, all threads.
///
/// `CLOCK_PROCESS_CPUTIME_ID` is the same user + system total `getrusage` reports, read with
/// nanosecond resolution instead of `getrusage`'s microseconds (or `/proc`'s clock ticks).
pub(crate) fn cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}
