//! The measures that need a fresh pair of processes per sample, not the one long-lived peer of
//! the latency and throughput rows: connection set-up time, resident memory per idle
//! connection, and aggregate throughput with many client pairs at once.
//!
//! Each sample is a *driver*: this executable re-run as `ipc-compare __compare-pair`, which
//! plays the bench's part for one kind ([`Peer::start`] with one or more links of that kind,
//! so the driver and its peer are one client pair). It reports on stdout and obeys stdin:
//!
//! - `ready SETUP_NS RSS_KIB PEER_RSS_KIB` once every link is open and has carried one round
//!   trip. `SETUP_NS` is link 0's set-up time: from the moment the peer began opening it
//!   (its monotonic clock, the same clock here) to the end of the first round trip over it
//!   (the peer's answer to `opened`), so a library that connects lazily pays its connection
//!   there too. The RSS figures are the driver's and the peer's resident memory then.
//! - `stream MILLIS` (stdin): stream 64-message batches on link 0 for about MILLIS ms, then
//!   `streamed MESSAGES NANOS`.
//! - end of stdin: quit the peer and exit.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command as Process, Stdio};
use std::time::{Duration, Instant};

use libipc_bench::{ACK, Command, Context, Fail, Result};
use libipc_bench_unix::{LinkKind, Peer, Rerun, ScratchDir, monotonic_ns};

/// Messages per `sink` batch while streaming.
const BATCH: u64 = 64;

/// How long a driver may take to report `ready` or its streaming result.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(60);

/// One kind's set-up time and idle memory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SetupRow {
    pub system: String,
    pub transport: String,
    /// Median connection set-up time (listen, connect, handshake, first round trip) over
    /// `samples` fresh pairs, in microseconds.
    pub setup_p50_us: f64,
    /// The slowest of them.
    pub setup_max_us: f64,
    pub samples: usize,
    /// Resident memory each extra idle connection costs the connecting side (the peer), KiB;
    /// absent for a kind that allows only one link per peer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_kib_per_conn: Option<f64>,
    /// The same for the listening side (the driver).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener_kib_per_conn: Option<f64>,
    /// How many idle connections the memory figures come from.
    pub idle_conns: usize,
}

/// Aggregate one-way throughput of `pairs` client pairs streaming at once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScalingRow {
    pub system: String,
    pub transport: String,
    pub pairs: usize,
    pub size: usize,
    pub msgs_per_s: f64,
    pub mb_per_s: f64,
}

/// The driver process's life (`__compare-pair`): `links` links of `kind` for messages up to
/// `size` bytes, then obey stdin.
pub fn run_driver(
    peer_command: &Rerun,
    kind: &'static dyn LinkKind,
    links: usize,
    size: usize,
) -> Result {
    let dir = ScratchDir::new()?;
    let kinds = vec![kind; links.max(1)];
    let mut peer = Peer::start(peer_command, dir.path(), &kinds, size.max(16))?;
    let mut setup_ns = 0;
    for i in (0..kinds.len()).rev() {
        let link = peer.board.link(i)?;
        link.send(Command::Opened.encode().as_bytes())?;
        let answer = link.recv()?;
        let now = monotonic_ns();
        let at = std::str::from_utf8(answer)
            .ok()
            .and_then(|a| a.strip_prefix("opened "))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| Fail::new("the peer's answer to `opened` is not `opened NS`"))?;
        if i == 0 {
            setup_ns = now.saturating_sub(at);
        }
    }
    let own = rss_kib(std::process::id())?;
    let theirs = rss_kib(peer.pid())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {setup_ns} {own} {theirs}")?;
    out.flush()?;
    let payload = vec![0x5au8; size];
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let millis: u64 = line
            .strip_prefix("stream ")
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| Fail::new(format!("driver: unknown command {line:?}")))?;
        let link = peer.board.link(0)?;
        let deadline = Duration::from_millis(millis);
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed() < deadline {
            link.send(Command::Sink(BATCH).encode().as_bytes())?;
            for _ in 0..BATCH {
                link.send(&payload)?;
            }
            if link.recv()? != ACK {
                return Err(Fail::new("driver: the peer's answer to `sink` is not `ok`"));
            }
            sent += BATCH;
        }
        writeln!(out, "streamed {sent} {}", start.elapsed().as_nanos())?;
        out.flush()?;
    }
    peer.finish()
}

/// Resident memory of process `pid`, KiB (`VmRSS` in `/proc/PID/status`).
fn rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).context(format_args!("reading {path}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| Fail::new(format!("no VmRSS in {path}")))
}

/// A running driver.
struct Driver {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

/// What a driver said when ready.
#[derive(Debug, Clone, Copy)]
struct Ready {
    setup_ns: u64,
    own_kib: u64,
    peer_kib: u64,
}

impl Driver {
    fn start(command: &Rerun, kind: &dyn LinkKind, links: usize, size: usize) -> Result<Driver> {
        let mut child = Process::new(&command.exe)
            .args(&command.args)
            .args([
                "--links".to_owned(),
                links.to_string(),
                "--size".to_owned(),
                size.to_string(),
                format!("{}:{}", kind.system(), kind.transport()),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context(format_args!("starting a driver for {kind:?}"))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Ok(Driver {
            child,
            stdin,
            stdout,
        })
    }

    /// The next line the driver prints (a watchdog kills it if it takes too long).
    fn line(&mut self) -> Result<String> {
        let pid = self.child.id();
        let watchdog = Watchdog::arm(pid, DRIVER_TIMEOUT);
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line)?;
        drop(watchdog);
        if n == 0 {
            let status = self.child.wait()?;
            return Err(Fail::new(format!("a bench driver ended early ({status})")));
        }
        Ok(line.trim_end().to_owned())
    }

    fn ready(&mut self) -> Result<Ready> {
        let line = self.line()?;
        match numbers_after(&line, "ready ")[..] {
            [setup_ns, own_kib, peer_kib] => Ok(Ready {
                setup_ns,
                own_kib,
                peer_kib,
            }),
            _ => Err(Fail::new(format!(
                "a bench driver said {line:?}, not `ready ...`"
            ))),
        }
    }

    fn stream(&mut self, millis: u64) -> Result {
        let stdin = self.stdin.as_mut().expect("open until finish");
        writeln!(stdin, "stream {millis}")?;
        stdin.flush()?;
        Ok(())
    }

    /// Messages per second the last `stream` achieved.
    fn streamed(&mut self) -> Result<f64> {
        let line = self.line()?;
        match numbers_after(&line, "streamed ")[..] {
            [messages, nanos] if nanos > 0 => Ok(messages as f64 * 1e9 / nanos as f64),
            _ => Err(Fail::new(format!(
                "a bench driver said {line:?}, not `streamed ...`"
            ))),
        }
    }

    /// Close its stdin and wait for it to exit successfully.
    fn finish(mut self) -> Result {
        drop(self.stdin.take());
        let pid = self.child.id();
        let watchdog = Watchdog::arm(pid, DRIVER_TIMEOUT);
        let status = self.child.wait()?;
        drop(watchdog);
        if status.success() {
            Ok(())
        } else {
            Err(Fail::new(format!("a bench driver failed ({status})")))
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Kills process `pid` if not disarmed (dropped) within the time given.
struct Watchdog(Option<std::sync::mpsc::Sender<()>>);

impl Watchdog {
    fn arm(pid: u32, after: Duration) -> Watchdog {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(after) {
                eprintln!("ipc-compare: a bench driver (pid {pid}) hung; killing it");
                let _ = rustix::process::kill_process(
                    rustix::process::Pid::from_raw(pid as i32).expect("a child's pid"),
                    rustix::process::Signal::KILL,
                );
            }
        });
        Watchdog(Some(tx))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// How the set-up and scaling measures are sized.
#[derive(Debug, Clone)]
pub struct Extent {
    /// Fresh pairs per kind for the set-up time.
    pub setup_samples: usize,
    /// Idle connections per kind for the memory figures.
    pub idle_conns: usize,
    /// Client pair counts for the scaling curve.
    pub pairs: Vec<usize>,
    /// How long each scaling step streams.
    pub stream: Duration,
    /// The message size the scaling steps stream.
    pub size: usize,
}

impl Extent {
    pub const FULL_PAIRS: [usize; 5] = [1, 4, 16, 64, 256];

    pub fn full() -> Extent {
        // The CPU count too, where scaling should stop growing.
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut pairs = Extent::FULL_PAIRS.to_vec();
        if !pairs.contains(&cpus) {
            pairs.push(cpus);
            pairs.sort_unstable();
        }
        Extent {
            setup_samples: 7,
            idle_conns: 32,
            pairs,
            stream: Duration::from_millis(300),
            size: 64,
        }
    }

    pub fn quick() -> Extent {
        Extent {
            setup_samples: 2,
            idle_conns: 4,
            pairs: vec![1, 4],
            stream: Duration::from_millis(50),
            size: 64,
        }
    }
}

/// Set-up time and idle memory of each of `kinds`. `multi(kind)`: whether a peer may open
/// more than one link of it.
pub fn measure_setup(
    driver: &Rerun,
    kinds: &[&'static dyn LinkKind],
    multi: impl Fn(&dyn LinkKind) -> bool,
    extent: &Extent,
) -> Result<Vec<SetupRow>> {
    let mut rows = Vec::new();
    for (n, &kind) in kinds.iter().enumerate() {
        eprintln!(
            "[setup {}/{}] {kind:?}: {} fresh pairs, then {} idle connections",
            n + 1,
            kinds.len(),
            extent.setup_samples,
            extent.idle_conns
        );
        let mut times = Vec::new();
        let mut one = Vec::new();
        for _ in 0..extent.setup_samples {
            let mut d = Driver::start(driver, kind, 1, 64)?;
            let ready = d.ready().context(format_args!("{kind:?}"))?;
            d.finish()?;
            times.push(ready.setup_ns as f64 / 1e3);
            one.push(ready);
        }
        times.sort_by(f64::total_cmp);
        let (client, listener) = if multi(kind) && extent.idle_conns > 0 {
            let mut d = Driver::start(driver, kind, 1 + extent.idle_conns, 64)?;
            let many = d.ready().context(format_args!("{kind:?}"))?;
            d.finish()?;
            let median = |f: fn(&Ready) -> u64| {
                let mut v: Vec<u64> = one.iter().map(f).collect();
                v.sort_unstable();
                v[v.len() / 2] as f64
            };
            let per = |many: u64, one: f64| (many as f64 - one) / extent.idle_conns as f64;
            (
                Some(per(many.peer_kib, median(|r| r.peer_kib))),
                Some(per(many.own_kib, median(|r| r.own_kib))),
            )
        } else {
            (None, None)
        };
        rows.push(SetupRow {
            system: kind.system().to_owned(),
            transport: kind.transport().to_owned(),
            setup_p50_us: times[times.len() / 2],
            setup_max_us: times[times.len() - 1],
            samples: times.len(),
            client_kib_per_conn: client,
            listener_kib_per_conn: listener,
            idle_conns: extent.idle_conns,
        });
    }
    Ok(rows)
}

/// Aggregate throughput of each of `kinds` with each pair count: that many drivers (each a
/// client pair of two processes) stream at once.
pub fn measure_scaling(
    driver: &Rerun,
    kinds: &[&'static dyn LinkKind],
    extent: &Extent,
) -> Result<Vec<ScalingRow>> {
    let mut rows = Vec::new();
    let steps = kinds.len() * extent.pairs.len();
    let mut step = 0;
    for &kind in kinds {
        for &pairs in &extent.pairs {
            step += 1;
            eprintln!("[scaling {step}/{steps}] {kind:?}: {pairs} pairs");
            let mut drivers = Vec::with_capacity(pairs);
            // Started a few at a time, so that hundreds of processes starting at once do not
            // push any past its connection timeout.
            for chunk in (0..pairs).collect::<Vec<_>>().chunks(16) {
                let start = drivers.len();
                for _ in chunk {
                    drivers.push(Driver::start(driver, kind, 1, extent.size)?);
                }
                for d in &mut drivers[start..] {
                    d.ready().context(format_args!("{kind:?}, {pairs} pairs"))?;
                }
            }
            let millis = extent.stream.as_millis() as u64;
            for d in &mut drivers {
                d.stream(millis)?;
            }
            let mut total = 0.0;
            for d in &mut drivers {
                total += d.streamed()?;
            }
            for d in drivers {
                d.finish()?;
            }
            rows.push(ScalingRow {
                system: kind.system().to_owned(),
                transport: kind.transport().to_owned(),
                pairs,
                size: extent.size,
                msgs_per_s: total,
                mb_per_s: total * extent.size as f64 / 1e6,
            });
        }
    }
    Ok(rows)
}

/// The numbers in a driver's `line` after its first word `word` (empty if the line does not
/// start with it; a field that is not a number is left out, so the caller's match fails).
fn numbers_after(line: &str, word: &str) -> Vec<u64> {
    line.strip_prefix(word)
        .map(|r| r.split(' ').filter_map(|f| f.parse().ok()).collect())
        .unwrap_or_default()
}
