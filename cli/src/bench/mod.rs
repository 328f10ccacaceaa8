//! `ipc bench`: libipc against a raw Unix-socket baseline, in the same run.
//!
//! The bench listens once per system (the raw baseline, then libipc per transport), starts one
//! peer process by re-running this executable as `ipc __bench-peer SYSTEM=ENDPOINT...`, and
//! drives every measurement from here through the [`link::Link`] trait, so both systems run the
//! same loops between the same two threads.
//!
//! For each pattern and size, every system warms up, then their measured rounds are
//! interleaved (see [`measure`]) so drift and scheduler placement affect all of them alike.

mod link;
mod measure;
mod peer;
mod raw;
mod report;
mod spawn;

use std::fs::File;
use std::path::{Path, PathBuf};

pub use peer::PeerArgs;
pub(crate) use peer::run as run_peer;

use measure::{Budget, Pattern, Trial};
use report::{Report, Row};
use spawn::{Peer, ScratchDir};

use crate::fail::{Context, Fail, Result};

/// A libipc transport the bench can measure. A new transport is one more [`TRANSPORTS`] entry.
#[derive(Debug)]
pub(crate) struct Transport {
    pub(crate) name: &'static str,
    /// The endpoint to listen at, given a fresh private directory.
    pub(crate) endpoint: fn(&Path) -> String,
}

pub(crate) const TRANSPORTS: &[Transport] = &[
    Transport {
        name: "unix",
        endpoint: |dir| format!("unix://{}/libipc.sock", dir.display()),
    },
    Transport {
        name: "tcp",
        endpoint: |_| "tcp://127.0.0.1:0".to_owned(),
    },
];

/// Transports libipc will have but this build cannot measure yet.
const PLANNED: &[&str] = &["shm", "pipe"];

/// Measure libipc latency and throughput against a raw Unix-socket baseline.
///
/// Starts its own peer process and, for each transport and message size, measures ping-pong
/// round-trip latency (p50/p99/p99.9) and one-way streaming throughput, next to a raw baseline
/// (a plain Unix stream with a 4-byte length prefix, no libipc code) measured with the same
/// loops. Each measurement warms up for 0.3 s, then runs for about 1.5 s in 10 rounds
/// interleaved with the other systems' rounds; with the defaults the whole run takes about a
/// minute. Progress goes to stderr, the table to stdout. Round trips depend heavily on whether
/// the two processes share a CPU; for steadier numbers pin everything to one CPU, e.g.
/// `taskset -c 0 ipc bench` (the peer inherits the affinity).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Transport to measure; repeat for several (unix, tcp). Default: all of them.
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
    /// Tiny time budgets (milliseconds per measurement): checks that everything works, for
    /// tests; the numbers are not meaningful.
    #[arg(long)]
    quick: bool,
}

fn parse_transport(name: &str) -> Result<&'static Transport, String> {
    let known: Vec<&str> = TRANSPORTS.iter().map(|t| t.name).collect();
    TRANSPORTS.iter().find(|t| t.name == name).ok_or_else(|| {
        if PLANNED.contains(&name) {
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

fn parse_size(text: &str) -> Result<usize, String> {
    let lower = text.trim().to_ascii_lowercase();
    let (digits, unit) = match lower.strip_suffix('k') {
        Some(d) => (d, 1 << 10),
        None => match lower.strip_suffix('m') {
            Some(d) => (d, 1 << 20),
            None => (lower.as_str(), 1),
        },
    };
    let size = digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("{text:?} is not a size in bytes (e.g. 64, 4k, 1m)"))?;
    if size > libipc::DEFAULT_MAX_MESSAGE_SIZE {
        return Err(format!(
            "{size} bytes is above libipc's default message limit of {} bytes",
            libipc::DEFAULT_MAX_MESSAGE_SIZE
        ));
    }
    Ok(size)
}

pub(crate) fn run(args: Args) -> Result {
    let budget = if args.quick {
        Budget::QUICK
    } else {
        Budget::FULL
    };
    let mut transports: Vec<&Transport> = Vec::new();
    for t in if args.transports.is_empty() {
        TRANSPORTS.iter().collect()
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

    let dir = ScratchDir::new()?;
    let mut peer = Peer::start(dir.path(), &transports)?;
    let count = peer.links.len();
    let total = Pattern::ALL.len() * sizes.len() * count;
    let mut rows = Vec::new();
    for pattern in Pattern::ALL {
        for &size in &sizes {
            let payload = vec![0xa5u8; size];
            let what = |peer: &Peer, i: usize| {
                let link = &peer.links[i];
                let (system, transport) = (link.system.name(), link.transport);
                format!("{system} {transport} {} {size} B", pattern.name())
            };
            let mut trials = Vec::new();
            for i in 0..count {
                eprintln!("[{}/{total}] {} ...", rows.len() + i + 1, what(&peer, i));
                let trial = Trial::start(pattern, peer.link(i)?, &payload, &budget);
                trials.push(trial.map_err(|e| Fail::new(format!("{}: {e}", what(&peer, i))))?);
            }
            // Interleave, rotating who goes first, so drift hits every system alike.
            for round in 0..budget.rounds as usize {
                for k in 0..count {
                    let i = (round + k) % count;
                    trials[i]
                        .round(peer.link(i)?, &payload)
                        .map_err(|e| Fail::new(format!("{}: {e}", what(&peer, i))))?;
                }
            }
            for (i, trial) in trials.iter().enumerate() {
                let measured = trial.finish(size);
                eprintln!("       {}: {}", what(&peer, i), summary(&measured));
                rows.push(Row {
                    system: peer.links[i].system.name(),
                    transport: peer.links[i].transport,
                    pattern: pattern.name(),
                    size,
                    measured,
                    vs_raw: None,
                });
            }
        }
    }
    peer.finish()?;

    let report = Report::new(rows);
    print!("{}", report.table());
    if let Some((file, path)) = json {
        report.write_json(file, &path)?;
    }
    Ok(())
}

fn summary(m: &measure::Measured) -> String {
    match m {
        measure::Measured::Rtt {
            p50_us, samples, ..
        } => {
            format!("p50 {p50_us:.1} us ({samples} round trips)")
        }
        measure::Measured::Stream {
            msgs_per_s,
            mb_per_s,
            ..
        } => {
            format!("{msgs_per_s:.0} msgs/s, {mb_per_s:.1} MB/s")
        }
    }
}
