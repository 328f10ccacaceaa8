//! `ipc-compare`: libipc next to raw OS primitives and the IPC libraries people compare it
//! with, measured in one run by the same loops (docs/performance.md).
//!
//! It is `ipc bench` with more systems: the raw baselines and libipc transports of the Unix
//! bench library (`bench/unix`, [`libipc_bench_unix`]) plus one [`LinkKind`] per peer library
//! ([`peers`]), each a link built with that library as its users would build one. One peer
//! process (this executable re-run as `ipc-compare __compare-peer SPEC...`) serves every link
//! from one thread; every measurement is driven from here through the
//! [`Link`](libipc_bench::Link) trait, and each pattern and size is interleaved across all the
//! systems, so they share the same CPU placement and drift. The report is `ipc bench`'s:
//! the same table and the same JSON schema, with `system` naming the library.
//!
//! Besides: connection set-up, idle memory and the scaling curve (`extra.rs`), the C and
//! Python APIs' round trips (`apis.rs`), and request/reply round trips with 1 and 64 requests
//! in flight, libipc's `rpc` next to a raw socket and gRPC (`rpc.rs`).

mod apis;
mod extra;
mod fanout;
mod peers;
mod plot;
mod publish;
mod rpc;

use std::fs::File;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use libipc_bench::{Budget, Context, Fail, Method, Result, parse_size};
use libipc_bench_unix::{
    BASELINES, LinkKind, LinkSpec, Load, Noise, Peer, Plan, Report, Rerun, RunQueue, ScratchDir,
    TRANSPORTS, cpu_time,
};

/// The hidden subcommand that runs the peer.
const PEER_COMMAND: &str = "__compare-peer";
/// The hidden subcommand that runs a load worker.
const LOAD_COMMAND: &str = "__compare-load";
/// The hidden subcommand that runs a client pair's bench side (set-up, memory, scaling).
const PAIR_COMMAND: &str = "__compare-pair";
/// The hidden subcommand that runs a request/reply row's server.
const RPC_SERVER_COMMAND: &str = "__compare-rpc-server";
/// The hidden subcommand that runs the echo process of the C and Python API rows.
const ECHO_COMMAND: &str = "__compare-echo";

/// The peer libraries' kinds left out of the scaling curve: they busy-poll and never sleep,
/// so with more pairs than CPUs they starve each other by design (raw `shm-spin` likewise).
const NOT_SCALED: [(&str, &str); 1] = [("iceoryx2", "shm-spin")];
/// The raw and libipc kinds on the scaling curve (the others wait like one of these, and
/// leaving them out keeps the default run near 5 minutes).
const SCALED: [(&str, &str); 6] = [
    ("raw", "unix"),
    ("raw", "shm-futex"),
    ("libipc", "unix"),
    ("libipc", "tcp"),
    ("libipc", "shm"),
    ("libipc", "shm-spin"),
];

/// Measure libipc next to raw OS primitives and peer IPC libraries, in one run.
///
/// Every system carries the same messages between the same two threads (this process and one
/// peer process): round trips (p50/p99/p99.9) and one-way streaming (msgs/s, MB/s) at each
/// size, with the CPU time both processes spent per message. Progress goes to stderr, the
/// table to stdout.
#[derive(Debug, Parser)]
#[command(name = "ipc-compare", version)]
struct Cli {
    #[command(subcommand)]
    hidden: Option<Hidden>,
    /// A peer library to measure (a wrong name lists them); repeat for several. Default: all
    /// this build has. The raw baselines and libipc's transports are always measured.
    #[arg(long = "system", value_name = "NAME", value_parser = parse_system)]
    systems: Vec<String>,
    /// Message sizes in bytes, comma-separated; k and m suffixes mean KiB and MiB.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_size,
          default_value = "64,1024,65536,1048576")]
    sizes: Vec<usize>,
    /// Also write the results to FILE as JSON, in `ipc bench --json`'s schema.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Measure beside N processes that load the machine like a parallel build (default: the
    /// CPUs + 1).
    #[arg(long, value_name = "N", num_args = 0..=1, require_equals = true,
          value_parser = clap::value_parser!(u16).range(1..))]
    load: Option<Option<u16>>,
    /// Tiny time budgets: checks that every system works; the numbers mean little.
    #[arg(long)]
    quick: bool,
    /// Also write results.json, results.md and the plots (PNG) into DIR.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Put the results' markdown into FILE, between its two ipc-compare marker lines
    /// (docs/performance.md), linking the plots in --out.
    #[arg(long, value_name = "FILE", requires = "out")]
    doc: Option<PathBuf>,
    /// Leave out connection set-up, idle memory and the scaling curve.
    #[arg(long)]
    no_extra: bool,
    /// Leave out the request/reply rows.
    #[arg(long)]
    no_rpc: bool,
    /// Leave out the publish/subscribe fan-out rows.
    #[arg(long)]
    no_fanout: bool,
    /// Also measure the C API's 64 B round trip with this build of bench/c/ping.c.
    #[arg(long, value_name = "PROGRAM")]
    c_ping: Option<PathBuf>,
    /// Also measure the Python API's 64 B round trip: this interpreter (with the libipc
    /// package) running --python-ping.
    #[arg(long, value_name = "PYTHON", requires = "python_ping")]
    python: Option<PathBuf>,
    /// bench/python/ping.py, for --python.
    #[arg(long, value_name = "SCRIPT", requires = "python")]
    python_ping: Option<PathBuf>,
    /// Print the systems this build measures (one per line: raw, libipc, then each peer
    /// library) and exit.
    #[arg(long, conflicts_with_all = ["systems", "json", "load", "quick", "out"])]
    list: bool,
}

#[derive(Debug, Subcommand)]
enum Hidden {
    /// The peer process: open these links (SYSTEM:TRANSPORT=ARG) and obey the bench.
    #[command(name = "__compare-peer", hide = true)]
    Peer {
        #[arg(required = true, value_name = "SPEC", value_parser = parse_spec)]
        links: Vec<LinkSpec>,
    },
    /// A client pair's bench side, for set-up, memory and scaling (see extra.rs).
    #[command(name = "__compare-pair", hide = true)]
    Pair {
        #[arg(long)]
        links: usize,
        #[arg(long)]
        size: usize,
        #[arg(value_name = "SYSTEM:TRANSPORT")]
        kind: String,
    },
    /// The libipc echo process for the API rows.
    #[command(name = "__compare-echo", hide = true)]
    Echo {
        #[arg(value_name = "ENDPOINT")]
        endpoint: String,
    },
    /// A request/reply row's server (see rpc.rs).
    #[command(name = "__compare-rpc-server", hide = true)]
    RpcServer {
        system: String,
        transport: String,
        endpoint: String,
    },
    /// A fan-out row's subscriber (see fanout.rs).
    #[command(name = "__compare-fanout-sub", hide = true)]
    FanoutSub {
        system: String,
        endpoint: String,
        count: usize,
        size: usize,
    },
    /// A load worker; exits once PARENT_PID is no longer its parent.
    #[command(name = "__compare-load", hide = true)]
    Load {
        #[arg(value_name = "PARENT_PID")]
        parent: u32,
    },
}

/// Every kind this build can open: the bench library's, then the peer libraries'.
fn all_kinds() -> Vec<&'static dyn LinkKind> {
    let mut kinds = libipc_bench_unix::kinds();
    kinds.extend(peers::kinds());
    kinds
}

fn parse_spec(text: &str) -> std::result::Result<LinkSpec, String> {
    LinkSpec::parse(text, &all_kinds())
}

fn parse_system(name: &str) -> std::result::Result<String, String> {
    let peers = peers::kinds();
    let known = || {
        let mut names: Vec<&str> = peers.iter().map(|k| k.system()).collect();
        names.dedup();
        names.join(", ")
    };
    match peers.iter().find(|k| k.system() == name) {
        Some(k) => Ok(k.system().to_owned()),
        None => Err(format!(
            "unknown or not built: {name:?}; this build has: {}",
            known()
        )),
    }
}

/// The links, in row order: each raw baseline followed by the libipc transports that wait the
/// same way, then the peer libraries' kinds (all of a named system's kinds, with `--system`).
fn link_order(systems: &[String]) -> Vec<&'static dyn LinkKind> {
    let mut kinds: Vec<&'static dyn LinkKind> = Vec::new();
    for baseline in &BASELINES {
        kinds.push(baseline);
        for t in TRANSPORTS
            .iter()
            .filter(|t| t.ready && t.same_wait == *baseline)
        {
            kinds.push(t);
        }
    }
    for k in peers::kinds() {
        if systems.is_empty() || systems.iter().any(|s| s == k.system()) {
            kinds.push(k);
        }
    }
    kinds
}

fn run(cli: Cli) -> Result {
    match cli.hidden {
        Some(Hidden::Peer { links }) => return libipc_bench_unix::run_peer(&all_kinds(), &links),
        Some(Hidden::Load { parent }) => return libipc_bench_unix::run_load_worker(parent),
        Some(Hidden::Pair { links, size, kind }) => {
            let found = all_kinds()
                .into_iter()
                .find(|k| format!("{}:{}", k.system(), k.transport()) == kind)
                .ok_or_else(|| Fail::new(format!("unknown kind {kind:?}")))?;
            return extra::run_driver(&Rerun::current_exe(PEER_COMMAND)?, found, links, size);
        }
        Some(Hidden::Echo { endpoint }) => return apis::run_echo(&endpoint),
        Some(Hidden::RpcServer {
            system,
            transport,
            endpoint,
        }) => return rpc::run_server(&system, &transport, &endpoint),
        Some(Hidden::FanoutSub {
            system,
            endpoint,
            count,
            size,
        }) => return fanout::run_sub(&system, &endpoint, count, size),
        None => {}
    }
    if cli.list {
        let mut names: Vec<&str> = Vec::new();
        for k in link_order(&[]) {
            if !names.contains(&k.system()) {
                names.push(k.system());
            }
        }
        println!("{}", names.join("\n"));
        return Ok(());
    }
    let budget = if cli.quick {
        Budget::QUICK
    } else {
        Budget::FULL
    };
    let mut sizes: Vec<usize> = Vec::new();
    for size in cli.sizes {
        if !sizes.contains(&size) {
            sizes.push(size);
        }
    }
    if sizes.is_empty() {
        return Err(Fail::new("no message sizes to measure"));
    }
    let json = match cli.json {
        Some(path) => {
            let file = File::create(&path).context(format_args!("creating {}", path.display()))?;
            Some((file, path))
        }
        None => None,
    };
    let load = cli
        .load
        .map(|n| n.map_or_else(libipc_bench_unix::default_workers, usize::from));
    let quiet_before = RunQueue::sample();
    let dir = ScratchDir::new()?;
    let max_size = sizes.iter().copied().max().unwrap_or(0);
    let kinds = link_order(&cli.systems);
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
    // The measures that need fresh processes per sample, the other APIs' round trips, then
    // request/reply
    // (beside the same load, if any).
    let workers = match load {
        Some(n) => Some(Load::start(n, &Rerun::current_exe(LOAD_COMMAND)?)?),
        None => None,
    };
    let (setup, scaling) = if cli.no_extra {
        (Vec::new(), Vec::new())
    } else {
        let extent = if cli.quick {
            extra::Extent::quick()
        } else {
            extra::Extent::full()
        };
        let driver = Rerun::current_exe(PAIR_COMMAND)?;
        let setup = extra::measure_setup(
            &driver,
            &kinds,
            // The inherited channel: one per peer.
            |k| !(k.system() == "libipc" && k.transport() == "pair"),
            &extent,
        )?;
        let scaled: Vec<_> = kinds
            .iter()
            .copied()
            .filter(|k| {
                let name = (k.system(), k.transport());
                if k.system() == "raw" || k.system() == "libipc" {
                    SCALED.contains(&name)
                } else {
                    !NOT_SCALED.contains(&name)
                }
            })
            .collect();
        let scaling = extra::measure_scaling(&driver, &scaled, &extent)?;
        (setup, scaling)
    };
    let clients = apis::Clients {
        c_ping: cli.c_ping.clone(),
        python: cli.python.clone().zip(cli.python_ping.clone()),
    };
    let apis = if clients.c_ping.is_some() || clients.python.is_some() {
        let (rounds, count) = if cli.quick { (1, 200) } else { (5, 20_000) };
        apis::measure(
            &std::env::current_exe().context("finding this executable")?,
            ECHO_COMMAND,
            &clients,
            dir.path(),
            rounds,
            count,
        )?
    } else {
        Vec::new()
    };
    let rpc = if cli.no_rpc {
        Vec::new()
    } else {
        let (rounds, single, batches) = if cli.quick {
            (1, 200, 5)
        } else {
            (5, 5_000, 100)
        };
        rpc::measure(
            &std::env::current_exe().context("finding this executable")?,
            RPC_SERVER_COMMAND,
            dir.path(),
            rounds,
            single,
            batches,
        )?
    };
    let fanout = if cli.no_fanout {
        Vec::new()
    } else {
        let sizes: Vec<usize> = [64, 1 << 20]
            .into_iter()
            .filter(|s| sizes.contains(s))
            .collect();
        fanout::measure(
            &std::env::current_exe().context("finding this executable")?,
            dir.path(),
            &sizes,
            cli.quick,
        )?
    };
    drop(workers);
    print!("{}", publish::rpc_table(&rpc));
    print!("{}", publish::fanout_table(&fanout));
    let output = publish::Output {
        report,
        setup,
        scaling,
        apis,
        rpc,
        fanout,
        machine: publish::machine(),
        command: command_line(),
    };
    for line in publish::targets(&output) {
        println!("target: {line}");
    }
    if let Some(out) = &cli.out {
        publish::write_dir(&output, out)?;
        eprintln!("written: {}", out.display());
        if let Some(doc) = &cli.doc {
            let base = doc.parent().unwrap_or(std::path::Path::new("."));
            let plots = match out.strip_prefix(base) {
                Ok(rel) => rel.display().to_string(),
                Err(_) => out.display().to_string(),
            };
            publish::splice_doc(&output, doc, Some(&plots))?;
            eprintln!("updated: {}", doc.display());
        }
    }
    Ok(())
}

/// How this run was asked for, for the published page: `ipc-compare` and its arguments, with
/// the paths of the client programs shortened to their names.
fn command_line() -> String {
    let mut words = vec!["ipc-compare".to_owned()];
    for arg in std::env::args_os().skip(1) {
        let arg = arg.to_string_lossy().into_owned();
        let short = match arg.rsplit_once('/') {
            Some((_, name)) if arg.starts_with('/') => name.to_owned(),
            _ => arg,
        };
        words.push(short);
    }
    words.join(" ")
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipc-compare: {e}");
            ExitCode::FAILURE
        }
    }
}
