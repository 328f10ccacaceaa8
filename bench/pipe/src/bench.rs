//! The method of `ipc bench` (`cli/src/bench/`), for Windows named pipes.
//!
//! The bench makes three links to one peer process (this executable re-run as
//! `pipe-bench __peer BASE`): `raw` and `raw-spin`, a named pipe each with no libipc code
//! ([`crate::raw`]; `raw-spin` spins before blocking like libipc's stream channels), and
//! `libipc`, a `pipe://` channel (`Listener::accept` here, `Channel::connect` there, then
//! `Channel::send` / `Channel::recv`). One peer thread serves all three, obeying small text
//! commands on the link being measured: `echo N` (send the next N messages back), `sink N`
//! (receive N messages, then answer `ok`), `goto I` (the next command comes on link I),
//! `quit`.
//!
//! Every link runs the same two loops: ping-pong round trips (p50/p99/p99.9 from an
//! hdrhistogram) and one-way streaming (messages until the peer's `ok`: msgs/s and MB/s). For
//! each pattern and size, each link warms up in growing batches (which also sizes its rounds
//! to the time budget), then the links' measured rounds are interleaved, rotating who goes
//! first, so drift and scheduler placement hit all of them alike. libipc is compared with
//! `raw-spin` (the raw pipe that waits the same way) and with `raw` (the plain blocking one).

use std::ffi::{CStr, c_char};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command as Process, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use libipc::{Channel, Listener, Message};
use serde_json::json;

use crate::raw::{RawPipe, Server};

pub(crate) type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const USAGE: &str = "\
usage: pipe-bench [--quick] [--sizes LIST] [--json FILE]
  --quick        tiny time budgets: checks that everything works; the numbers mean little
  --sizes LIST   message sizes in bytes, comma-separated, k/m suffixes for KiB/MiB
                 (default 64,4k,64k,1m)
  --json FILE    also write the results to FILE as JSON
";

/// The hidden first argument of the peer process.
const PEER_ARG: &str = "__peer";

/// The peer's answer once a `sink` batch has arrived in full.
const ACK: &[u8] = b"ok";

/// How long the peer may take to connect all its links.
const SETUP_LIMIT: Duration = Duration::from_secs(60);

/// What a link speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    Raw,
    RawSpin,
    Libipc,
}

/// Every link, in the order of `goto I`.
const SYSTEMS: [System; 3] = [System::Raw, System::RawSpin, System::Libipc];

impl System {
    fn name(self) -> &'static str {
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

/// One connected message link: the loops use only this, so every system runs the same code
/// around its own send and receive.
pub(crate) trait Link {
    /// Send one message.
    fn send(&mut self, msg: &[u8]) -> Result;
    /// Receive one message; it stays readable until the next call.
    fn recv(&mut self) -> Result<&[u8]>;
    /// Receive one message and send it back unchanged.
    fn echo(&mut self) -> Result;
}

/// A libipc channel, used the way an application would: `send(&[u8])`, `recv() -> Message`.
struct IpcLink {
    channel: Channel,
    last: Message,
}

impl Link for IpcLink {
    fn send(&mut self, msg: &[u8]) -> Result {
        Ok(self.channel.send(msg)?)
    }

    fn recv(&mut self) -> Result<&[u8]> {
        self.last = self.channel.recv()?;
        Ok(&self.last)
    }

    fn echo(&mut self) -> Result {
        let m = self.channel.recv()?;
        Ok(self.channel.send(&m)?)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Echo(u64),
    Sink(u64),
    Goto(usize),
    Quit,
}

impl Command {
    fn encode(self) -> String {
        match self {
            Command::Echo(n) => format!("echo {n}"),
            Command::Sink(n) => format!("sink {n}"),
            Command::Goto(i) => format!("goto {i}"),
            Command::Quit => "quit".to_owned(),
        }
    }

    fn decode(msg: &[u8]) -> Option<Command> {
        let text = std::str::from_utf8(msg).ok()?;
        match text.split_once(' ') {
            Some(("echo", n)) => n.parse().ok().map(Command::Echo),
            Some(("sink", n)) => n.parse().ok().map(Command::Sink),
            Some(("goto", i)) => i.parse().ok().map(Command::Goto),
            None if text == "quit" => Some(Command::Quit),
            _ => None,
        }
    }
}

pub(crate) fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    let (who, result) = if first.as_deref() == Some(PEER_ARG) {
        let result = match (args.next(), args.next()) {
            (Some(base), None) => peer(&base),
            _ => Err(format!("usage: pipe-bench {PEER_ARG} BASE").into()),
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

fn parse_size(text: &str) -> std::result::Result<usize, String> {
    let lower = text.trim().to_ascii_lowercase();
    let (digits, unit) = if let Some(d) = lower.strip_suffix('k') {
        (d, 1 << 10)
    } else if let Some(d) = lower.strip_suffix('m') {
        (d, 1 << 20)
    } else {
        (lower.as_str(), 1)
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

/// The peer process: connect every link, then obey commands until `quit`.
fn peer(base: &str) -> Result {
    let mut links: Vec<Box<dyn Link>> = Vec::new();
    for system in SYSTEMS {
        let pipe = system.pipe(base);
        links.push(match system {
            System::Libipc => Box::new(IpcLink {
                channel: Channel::connect(format!("pipe://{pipe}"))?,
                last: Message::default(),
            }),
            System::Raw | System::RawSpin => Box::new(RawPipe::connect(&pipe, system.spin())?),
        });
    }
    let mut at = 0;
    loop {
        let link = &mut links[at];
        let msg = link.recv()?;
        let command = Command::decode(msg)
            .ok_or_else(|| format!("garbled command {:?}", String::from_utf8_lossy(msg)))?;
        match command {
            Command::Echo(n) => (0..n).try_for_each(|_| link.echo())?,
            Command::Sink(n) => {
                for _ in 0..n {
                    link.recv()?;
                }
                link.send(ACK)?;
            }
            Command::Goto(i) if i < links.len() => at = i,
            Command::Goto(i) => return Err(format!("no link {i}").into()),
            Command::Quit => return Ok(()),
        }
    }
}

/// The bench's side: the peer process and a link to it per system.
struct Peer {
    child: Child,
    links: Vec<Box<dyn Link>>,
    /// The link the peer reads its next command from.
    at: usize,
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
            .map_err(|e| format!("starting the peer process: {e}"))?;
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
                Box::new(IpcLink {
                    channel: listener.accept()?,
                    last: Message::default(),
                }),
            ])
        })();
        drop(connected);
        match accepted {
            Ok(links) => Ok(Peer {
                child,
                links,
                at: 0,
            }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// Link `i`, the peer told to listen on it.
    fn link(&mut self, i: usize) -> Result<&mut dyn Link> {
        if i != self.at {
            self.links[self.at].send(Command::Goto(i).encode().as_bytes())?;
            self.at = i;
        }
        Ok(&mut *self.links[i])
    }

    /// Tell the peer to quit; its exit status.
    fn finish(mut self) -> Result {
        self.links[self.at].send(Command::Quit.encode().as_bytes())?;
        drop(self.links);
        let status = self.child.wait()?;
        if !status.success() {
            return Err(format!("the peer process failed ({status})").into());
        }
        Ok(())
    }
}

/// Time budgets per measurement (as `ipc bench`).
#[derive(Debug, Clone, Copy)]
struct Budget {
    warmup: Duration,
    measure: Duration,
    rounds: u64,
    min_per_round: u64,
}

impl Budget {
    /// About 1.2 s per measurement: 0.2 s warm-up, then 10 rounds of 0.1 s.
    const FULL: Budget = Budget {
        warmup: Duration::from_millis(200),
        measure: Duration::from_millis(1000),
        rounds: 10,
        min_per_round: 20,
    };
    /// Milliseconds per measurement: proves the machinery works; the numbers mean little.
    const QUICK: Budget = Budget {
        warmup: Duration::from_millis(5),
        measure: Duration::from_millis(20),
        rounds: 2,
        min_per_round: 5,
    };

    fn per_round(&self, per_iteration: Duration) -> u64 {
        let fit =
            self.measure.as_nanos() / per_iteration.as_nanos().max(1) / u128::from(self.rounds);
        (fit as u64).max(self.min_per_round)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    Rtt,
    Stream,
}

impl Pattern {
    fn name(self) -> &'static str {
        match self {
            Pattern::Rtt => "rtt",
            Pattern::Stream => "stream",
        }
    }
}

/// What one measurement found.
#[derive(Debug, Clone, Copy)]
enum Measured {
    /// Round-trip times in microseconds.
    Rtt {
        p50: f64,
        p99: f64,
        p999: f64,
    },
    Stream {
        msgs_per_s: f64,
        mb_per_s: f64,
    },
}

impl Measured {
    /// The figure the ratios compare: p50 (lower is better) or msgs/s (higher is better).
    fn key(self) -> f64 {
        match self {
            Measured::Rtt { p50, .. } => p50,
            Measured::Stream { msgs_per_s, .. } => msgs_per_s,
        }
    }
}

/// One link's measurement at one pattern and size, over its rounds.
struct Trial {
    pattern: Pattern,
    per_round: u64,
    times: Histogram<u64>,
    round_times: Histogram<u64>,
    /// Each round's p50 (µs) or msgs/s, to see how much rounds disagree.
    round_results: Vec<f64>,
    messages: u64,
    busy: Duration,
}

impl Trial {
    /// Warm up in growing batches for the budget's warm-up time; that sizes the rounds.
    fn start(
        pattern: Pattern,
        link: &mut dyn Link,
        payload: &[u8],
        budget: &Budget,
    ) -> Result<Trial> {
        let start = Instant::now();
        let mut n = 1u64;
        let per = loop {
            let took = match pattern {
                Pattern::Rtt => round_trips(link, payload, n, None)?,
                Pattern::Stream => one_way(link, payload, n)?,
            };
            let per = Duration::from_nanos((took.as_nanos() / u128::from(n)) as u64);
            let left = budget.warmup.saturating_sub(start.elapsed());
            if left.is_zero() {
                break per;
            }
            n = ((left.as_nanos() / per.as_nanos().max(1)) as u64).clamp(1, n.saturating_mul(2));
        };
        let histogram = || Histogram::new_with_bounds(1, 100_000_000_000, 3);
        Ok(Trial {
            pattern,
            per_round: budget.per_round(per),
            times: histogram()?,
            round_times: histogram()?,
            round_results: Vec::new(),
            messages: 0,
            busy: Duration::ZERO,
        })
    }

    /// One measured round.
    fn round(&mut self, link: &mut dyn Link, payload: &[u8]) -> Result {
        let n = self.per_round;
        let took = match self.pattern {
            Pattern::Rtt => round_trips(link, payload, n, Some(&mut self.round_times))?,
            Pattern::Stream => one_way(link, payload, n)?,
        };
        self.busy += took;
        self.messages += n;
        self.round_results.push(match self.pattern {
            Pattern::Rtt => {
                let p50 = self.round_times.value_at_quantile(0.5) as f64 / 1000.0;
                self.times.add(&self.round_times)?;
                self.round_times.reset();
                p50
            }
            Pattern::Stream => n as f64 / took.as_secs_f64().max(1e-9),
        });
        Ok(())
    }

    /// The largest per-round result over the smallest (1: every round agreed).
    fn spread(&self) -> f64 {
        let max = self.round_results.iter().copied().fold(f64::MIN, f64::max);
        let min = self.round_results.iter().copied().fold(f64::MAX, f64::min);
        if min > 0.0 && max >= min {
            max / min
        } else {
            1.0
        }
    }

    fn finish(&self, size: usize) -> Measured {
        match self.pattern {
            Pattern::Rtt => {
                let us = |q: f64| self.times.value_at_quantile(q) as f64 / 1000.0;
                Measured::Rtt {
                    p50: us(0.50),
                    p99: us(0.99),
                    p999: us(0.999),
                }
            }
            Pattern::Stream => {
                let msgs_per_s = self.messages as f64 / self.busy.as_secs_f64().max(1e-9);
                Measured::Stream {
                    msgs_per_s,
                    mb_per_s: msgs_per_s * size as f64 / 1e6,
                }
            }
        }
    }
}

/// `n` timed ping-pongs, each into `times` when given; the total time.
fn round_trips(
    link: &mut dyn Link,
    payload: &[u8],
    n: u64,
    mut times: Option<&mut Histogram<u64>>,
) -> Result<Duration> {
    link.send(Command::Echo(n).encode().as_bytes())?;
    let start = Instant::now();
    for _ in 0..n {
        let sent = Instant::now();
        link.send(payload)?;
        let len = link.recv()?.len();
        let rtt = sent.elapsed();
        if len != payload.len() {
            return Err(format!("echo of {len} bytes for {} sent", payload.len()).into());
        }
        if let Some(times) = times.as_deref_mut() {
            times.saturating_record(rtt.as_nanos().max(1) as u64);
        }
    }
    Ok(start.elapsed())
}

/// Send `n` messages while the peer receives them; the time until its ack arrives.
fn one_way(link: &mut dyn Link, payload: &[u8], n: u64) -> Result<Duration> {
    link.send(Command::Sink(n).encode().as_bytes())?;
    let start = Instant::now();
    for _ in 0..n {
        link.send(payload)?;
    }
    if link.recv()? != ACK {
        return Err("the peer's ack after a stream batch was garbled".into());
    }
    Ok(start.elapsed())
}

struct Row {
    system: System,
    pattern: Pattern,
    size: usize,
    measured: Measured,
    spread: f64,
}

fn run(args: Args) -> Result {
    if args.sizes.is_empty() {
        return Err("no message sizes to measure".into());
    }
    let budget = if args.quick {
        Budget::QUICK
    } else {
        Budget::FULL
    };
    let json = match &args.json {
        Some(path) => Some(
            std::fs::File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let wine = wine_version();
    let total = 2 * SYSTEMS.len() * args.sizes.len();
    eprintln!(
        "estimated run time: ~{:.0} s ({total} measurements)",
        (budget.warmup + budget.measure).as_secs_f64() * total as f64
    );
    let mut peer = Peer::start()?;
    let mut rows = Vec::new();
    for pattern in [Pattern::Rtt, Pattern::Stream] {
        for &size in &args.sizes {
            let payload = vec![0xa5u8; size];
            let what = |s: System| format!("{} {} {}", s.name(), pattern.name(), human(size));
            let mut trials = Vec::new();
            for (i, &system) in SYSTEMS.iter().enumerate() {
                eprintln!("[{}/{total}] {} ...", rows.len() + i + 1, what(system));
                let trial = Trial::start(pattern, peer.link(i)?, &payload, &budget);
                trials.push(trial.map_err(|e| format!("{}: {e}", what(system)))?);
            }
            // Interleave, rotating who goes first, so drift hits every system alike.
            let count = SYSTEMS.len();
            for round in 0..budget.rounds as usize {
                for k in 0..count {
                    let i = (round + k) % count;
                    trials[i]
                        .round(peer.link(i)?, &payload)
                        .map_err(|e| format!("{}: {e}", what(SYSTEMS[i])))?;
                }
            }
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
        serde_json::to_writer_pretty(file, &to_json(&rows, wine.as_deref()))?;
    }
    Ok(())
}

/// `row`'s key figure over `baseline`'s at the same pattern and size.
fn ratio(rows: &[Row], row: &Row, baseline: System) -> Option<f64> {
    let base = rows
        .iter()
        .find(|r| r.system == baseline && r.pattern == row.pattern && r.size == row.size)?;
    let (v, b) = (row.measured.key(), base.measured.key());
    (b > 0.0).then(|| v / b)
}

/// The ratio columns: libipc against both baselines, `raw-spin` against `raw`.
fn ratios(rows: &[Row], row: &Row) -> (Option<f64>, Option<f64>) {
    match row.system {
        System::Raw => (None, None),
        System::RawSpin => (None, ratio(rows, row, System::Raw)),
        System::Libipc => (
            ratio(rows, row, System::RawSpin),
            ratio(rows, row, System::Raw),
        ),
    }
}

fn table(rows: &[Row], wine: Option<&str>) -> String {
    let cell = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}x"));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\npipe-bench: libipc pipe:// against a raw named pipe, one run, two processes"
    );
    if let Some(v) = wine {
        let _ = writeln!(
            out,
            "under Wine {v}: the numbers measure Wine's named-pipe emulation (wineserver), not Windows"
        );
    }
    let _ = writeln!(
        out,
        "\nRound trips, µs (vs: libipc p50 / baseline p50, lower is better)\n\n\
         | system   | size    |      p50 |      p99 |    p99.9 | vs raw-spin | vs raw | spread |\n\
         |----------|---------|---------:|---------:|---------:|------------:|-------:|-------:|"
    );
    for r in rows.iter().filter(|r| r.pattern == Pattern::Rtt) {
        if let Measured::Rtt { p50, p99, p999 } = r.measured {
            let (spin, raw) = ratios(rows, r);
            let _ = writeln!(
                out,
                "| {:<8} | {:<7} | {p50:>8.1} | {p99:>8.1} | {p999:>8.1} | {:>11} | {:>6} | {:>6} |",
                r.system.name(),
                human(r.size),
                cell(spin),
                cell(raw),
                cell(Some(r.spread))
            );
        }
    }
    let _ = writeln!(
        out,
        "\nOne-way streaming (vs: libipc msgs/s / baseline msgs/s, higher is better)\n\n\
         | system   | size    |     msgs/s |     MB/s | vs raw-spin | vs raw | spread |\n\
         |----------|---------|-----------:|---------:|------------:|-------:|-------:|"
    );
    for r in rows.iter().filter(|r| r.pattern == Pattern::Stream) {
        if let Measured::Stream {
            msgs_per_s,
            mb_per_s,
        } = r.measured
        {
            let (spin, raw) = ratios(rows, r);
            let _ = writeln!(
                out,
                "| {:<8} | {:<7} | {msgs_per_s:>10.0} | {mb_per_s:>8.1} | {:>11} | {:>6} | {:>6} |",
                r.system.name(),
                human(r.size),
                cell(spin),
                cell(raw),
                cell(Some(r.spread))
            );
        }
    }
    let _ = writeln!(
        out,
        "\nspread: how much the measured rounds disagreed (largest round's p50 or msgs/s over \
         the smallest; 1.00x: they agreed). Far above 1, the machine was busy: measure again."
    );
    out
}

fn to_json(rows: &[Row], wine: Option<&str>) -> serde_json::Value {
    let results: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let mut v = json!({
                "system": r.system.name(),
                "transport": "pipe",
                "pattern": r.pattern.name(),
                "size": r.size,
                "rounds_spread": r.spread,
            });
            match r.measured {
                Measured::Rtt { p50, p99, p999 } => {
                    v["p50_us"] = json!(p50);
                    v["p99_us"] = json!(p99);
                    v["p999_us"] = json!(p999);
                }
                Measured::Stream {
                    msgs_per_s,
                    mb_per_s,
                } => {
                    v["msgs_per_s"] = json!(msgs_per_s);
                    v["mb_per_s"] = json!(mb_per_s);
                }
            }
            let (spin, raw) = ratios(rows, r);
            if let Some(x) = spin {
                v["vs_raw_spin"] = json!(x);
            }
            if let Some(x) = raw {
                v["vs_raw"] = json!(x);
            }
            v
        })
        .collect();
    json!({ "wine": wine, "results": results })
}

/// `64 B`, `4 KiB`, `1 MiB`.
fn human(size: usize) -> String {
    if size >= 1 << 20 && size.is_multiple_of(1 << 20) {
        format!("{} MiB", size >> 20)
    } else if size >= 1 << 10 && size.is_multiple_of(1 << 10) {
        format!("{} KiB", size >> 10)
    } else {
        format!("{size} B")
    }
}

/// Wine's version when running under Wine (its ntdll exports `wine_get_version`), else `None`.
fn wine_version() -> Option<String> {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
    // SAFETY: a NUL-terminated name; ntdll is loaded in every process; the result is checked.
    let ntdll = unsafe { GetModuleHandleA(c"ntdll.dll".as_ptr().cast()) };
    if ntdll.is_null() {
        return None;
    }
    // SAFETY: a module handle just returned, a NUL-terminated name; `None` if not exported.
    let f = unsafe { GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()) }?;
    type GetVersion = unsafe extern "C" fn() -> *const c_char;
    // SAFETY: Wine's ntdll exports `const char *wine_get_version(void)`, a C function of no
    // arguments (on x86_64 the "system" and "C" ABIs are the same).
    let get = unsafe { std::mem::transmute::<unsafe extern "system" fn() -> isize, GetVersion>(f) };
    // SAFETY: it returns a static NUL-terminated string (or null, checked).
    let p = unsafe { get() };
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null, NUL-terminated, static (lives for the process).
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}
