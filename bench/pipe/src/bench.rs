//! The method of `ipc bench`, for Windows named pipes: the links, the peer's commands and the
//! measurement loops are the shared bench library's (`bench/common`, [`libipc_bench`]).
//!
//! The bench makes three links to one peer process (this executable re-run as
//! `pipe-bench __peer BASE`): `raw` and `raw-spin`, a named pipe each with no libipc code
//! ([`crate::raw`]; `raw-spin` spins before blocking like libipc's stream channels), and
//! `libipc`, a `pipe://` channel (`Listener::accept` here, `Channel::connect` there, then
//! `Channel::send` / `Channel::recv`). One peer thread serves all three, obeying the shared
//! commands on the link being measured ([`libipc_bench::peer`]; no `cpu`: CPU time is not
//! counted here).
//!
//! Every link runs the same two loops: ping-pong round trips (p50/p99/p99.9 from an
//! hdrhistogram) and one-way streaming (messages until the peer's `ok`: msgs/s and MB/s). For
//! each pattern and size, each link warms up in growing batches (which also sizes its rounds
//! to the time budget), then the links' measured rounds are interleaved, rotating who goes
//! first, so drift and scheduler placement hit all of them alike. libipc is compared with
//! `raw-spin` (the raw pipe that waits the same way) and with `raw` (the plain blocking one).

use std::path::PathBuf;
use std::process::{Child, Command as Process, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use libipc::{Channel, Listener};
use libipc_bench::{
    Budget, Fail, IpcLink, Link, Method, Pattern, PeerLinks, Progress, Result, interleave,
    parse_size,
};

use crate::raw::{RawPipe, Server};
use crate::report::{Row, human, table, to_json, wine_version};

const USAGE: &str = "\
usage: pipe-bench [--quick] [--sizes LIST] [--json FILE]
  --quick        tiny time budgets: checks that everything works; the numbers mean little
  --sizes LIST   message sizes in bytes, comma-separated, k/m suffixes for KiB/MiB
                 (default 64,4k,64k,1m)
  --json FILE    also write the results to FILE as JSON
";

/// The hidden first argument of the peer process.
const PEER_ARG: &str = "__peer";

/// How long the peer may take to connect all its links.
const SETUP_LIMIT: Duration = Duration::from_secs(60);

/// What a link speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum System {
    Raw,
    RawSpin,
    Libipc,
}

/// Every link, in the order of `goto I`.
pub(crate) const SYSTEMS: [System; 3] = [System::Raw, System::RawSpin, System::Libipc];

impl System {
    pub(crate) fn name(self) -> &'static str {
        match self {
            System::Raw => "raw",
            System::RawSpin => "raw-spin",
            System::Libipc => "libipc",
        }
    }

    /// Its pipe's name (unique among running benches: `BASE` holds our pid).
    fn pipe(self, base: &str) -> String {
        format!("{base}-{}", self.name())
    }

    /// How long a raw link spins before a blocking read (libipc spins by its own options).
    fn spin(self) -> Duration {
        match self {
            System::RawSpin => libipc::DEFAULT_STREAM_SPIN,
            System::Raw | System::Libipc => Duration::ZERO,
        }
    }
}

pub(crate) fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    let (who, result) = if first.as_deref() == Some(PEER_ARG) {
        let result = match (args.next(), args.next()) {
            (Some(base), None) => peer(&base),
            _ => Err(Fail::new(format!("usage: pipe-bench {PEER_ARG} BASE"))),
        };
        ("pipe-bench peer", result)
    } else {
        match parse_args(first.into_iter().chain(args)) {
            Ok(Some(args)) => ("pipe-bench", run(args)),
            Ok(None) => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprint!("pipe-bench: {e}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{who}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug)]
struct Args {
    quick: bool,
    sizes: Vec<usize>,
    json: Option<PathBuf>,
}

/// The arguments, or `None` for `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> std::result::Result<Option<Args>, String> {
    let mut parsed = Args {
        quick: false,
        sizes: vec![64, 4 << 10, 64 << 10, 1 << 20],
        json: None,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => parsed.quick = true,
            "--sizes" => {
                let list = args.next().ok_or("--sizes needs a list of sizes")?;
                parsed.sizes = Vec::new();
                for size in list.split(',').map(parse_size) {
                    let size = size?;
                    if !parsed.sizes.contains(&size) {
                        parsed.sizes.push(size);
                    }
                }
            }
            "--json" => parsed.json = Some(args.next().ok_or("--json needs a file")?.into()),
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(parsed))
}

/// The peer process: connect every link, then obey commands until `quit`.
fn peer(base: &str) -> Result {
    let mut links: Vec<Box<dyn Link>> = Vec::new();
    for system in SYSTEMS {
        let pipe = system.pipe(base);
        links.push(match system {
            System::Libipc => Box::new(IpcLink::new(Channel::connect(format!("pipe://{pipe}"))?)),
            System::Raw | System::RawSpin => Box::new(RawPipe::connect(&pipe, system.spin())?),
        });
    }
    libipc_bench::serve(&mut links, None, &[])
}

/// The bench's side: the peer process and a link to it per system.
struct Peer {
    child: Child,
    /// The links, in the order of [`SYSTEMS`].
    links: PeerLinks,
}

impl Peer {
    fn start() -> Result<Peer> {
        let base = format!("libipc-pipe-bench-{}", std::process::id());
        let raw = Server::create(&System::Raw.pipe(&base))?;
        let raw_spin = Server::create(&System::RawSpin.pipe(&base))?;
        let listener = Listener::bind(format!("pipe://{}", System::Libipc.pipe(&base)))?;
        let mut child = Process::new(std::env::current_exe()?)
            .arg(PEER_ARG)
            .arg(&base)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| Fail::new(format!("starting the peer process: {e}")))?;
        // A raw accept waits for ever if the peer never connects (it failed to start, say).
        let (connected, watch) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(SETUP_LIMIT) {
                eprintln!(
                    "pipe-bench: the peer process did not connect within {} s",
                    SETUP_LIMIT.as_secs()
                );
                std::process::exit(1);
            }
        });
        let accepted = (|| -> Result<Vec<Box<dyn Link>>> {
            Ok(vec![
                Box::new(raw.accept(System::Raw.spin())?),
                Box::new(raw_spin.accept(System::RawSpin.spin())?),
                Box::new(IpcLink::new(listener.accept()?)),
            ])
        })();
        drop(connected);
        match accepted {
            Ok(links) => Ok(Peer {
                child,
                links: PeerLinks::new(links),
            }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// Tell the peer to quit; its exit status.
    fn finish(mut self) -> Result {
        self.links.quit()?;
        drop(self.links);
        let status = self.child.wait()?;
        if !status.success() {
            return Err(Fail::new(format!("the peer process failed ({status})")));
        }
        Ok(())
    }
}

fn run(args: Args) -> Result {
    if args.sizes.is_empty() {
        return Err(Fail::new("no message sizes to measure"));
    }
    let method = Method {
        budget: if args.quick {
            Budget::QUICK
        } else {
            Budget::FULL
        },
        cpu_time: None,
    };
    let json = match &args.json {
        Some(path) => Some(
            std::fs::File::create(path)
                .map_err(|e| Fail::new(format!("creating {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let wine = wine_version();
    let total = 2 * SYSTEMS.len() * args.sizes.len();
    eprintln!(
        "estimated run time: ~{:.0} s ({total} measurements)",
        method.budget.per_measurement().as_secs_f64() * total as f64
    );
    let mut peer = Peer::start()?;
    let mut progress = Progress { done: 0, total };
    let members: Vec<usize> = (0..SYSTEMS.len()).collect();
    let mut rows = Vec::new();
    for pattern in Pattern::ALL {
        for &size in &args.sizes {
            let payload = vec![0xa5u8; size];
            let what =
                |i: usize| format!("{} {} {}", SYSTEMS[i].name(), pattern.name(), human(size));
            let trials = interleave(
                &mut peer.links,
                &members,
                pattern,
                &payload,
                &method,
                &mut progress,
                what,
            )?;
            for (trial, &system) in trials.iter().zip(&SYSTEMS) {
                rows.push(Row {
                    system,
                    pattern,
                    size,
                    measured: trial.finish(size),
                    spread: trial.spread(),
                });
            }
        }
    }
    peer.finish()?;
    print!("{}", table(&rows, wine.as_deref()));
    if let Some(file) = json {
        serde_json::to_writer_pretty(file, &to_json(&rows, wine.as_deref()))
            .map_err(|e| Fail::new(format!("writing the JSON: {e}")))?;
    }
    Ok(())
}
