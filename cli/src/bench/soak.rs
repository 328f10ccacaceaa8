//! `ipc bench --soak`: mixed traffic across transports for minutes, watching both processes'
//! resources.
//!
//! A peer process (this executable re-run as `ipc __soak-peer DIR`) listens on a Unix socket,
//! TCP on loopback, shared memory and a FIFO, and echoes every message on every connection (a
//! thread per connection). This process runs, per transport, one *steady* client (one
//! connection for the whole run, round trips of varied sizes) and one *churning* client
//! (connect, a few round trips or none, then close or drop the channel, again and again). Every
//! echo is checked byte for byte; any error ends the soak with a failure.
//!
//! Every interval both processes' resident memory (`VmRSS`), open descriptors (`/proc/PID/fd`)
//! and threads (`Threads`) are sampled from `/proc` (so the soak runs on Linux). At the end the
//! samples are printed as a table, with a verdict per process and measure comparing the first
//! quarter of the samples with the last: a count (descriptors, threads) is flat when the
//! smallest value of the last quarter is no larger than the largest of the first (the churning
//! clients make them move a little from sample to sample; a leak lifts even the lowest), and
//! resident memory when the smallest value of the last quarter is within 5% of the largest of
//! the first.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use libipc::{Channel, Listener};

use crate::fail::{Context, Fail, Result};
use libipc_bench_unix::ScratchDir;

/// How long a round trip may take before the soak calls it a hang.
const WATCHDOG: Duration = Duration::from_secs(60);
/// How long the peer may take to start listening, or to exit once told to.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);
/// The transports soaked, in the order the peer prints their endpoints.
const TRANSPORTS: [&str; 4] = ["unix", "tcp", "shm", "fifo"];
/// Message sizes, drawn with the weights beside them (1 MiB messages now and then).
const SIZES: [(usize, u32); 8] = [
    (0, 4),
    (1, 4),
    (64, 16),
    (1000, 16),
    (4096, 8),
    (65536, 4),
    (262_144, 2),
    (1_048_576, 1),
];

/// How long to soak and how often to sample.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) duration: Duration,
    pub(crate) interval: Duration,
}

/// `ipc __soak-peer DIR`: the soak's listening side.
#[derive(Debug, clap::Args)]
pub struct SoakPeerArgs {
    /// The private directory for the socket and FIFO files.
    dir: PathBuf,
}

/// The peer: bind every transport, print `ready EP...`, echo until stdin closes.
pub(crate) fn run_peer(args: SoakPeerArgs) -> Result {
    let name = args
        .dir
        .file_name()
        .map_or_else(|| "ipc-soak".into(), |n| n.to_string_lossy().into_owned());
    let endpoints = [
        format!("unix://{}/soak.sock", args.dir.display()),
        "tcp://127.0.0.1:0".to_owned(),
        format!("shm://{name}"),
        format!("fifo://{}/soak.fifo", args.dir.display()),
    ];
    let mut listeners = Vec::new();
    for ep in &endpoints {
        listeners.push(Arc::new(
            Listener::bind(ep.as_str()).context(format_args!("binding {ep}"))?,
        ));
    }
    let local: Vec<String> = listeners
        .iter()
        .map(|l| l.local_endpoint().to_string())
        .collect();
    println!("ready {}", local.join(" "));
    std::io::stdout().flush()?;
    let acceptors: Vec<_> = listeners
        .iter()
        .map(|l| {
            let l = Arc::clone(l);
            std::thread::spawn(move || {
                // Accept errors (a client dropped during its handshake) end only that attempt.
                for ch in l.incoming().flatten() {
                    drop(std::thread::spawn(move || {
                        while let Ok(m) = ch.recv() {
                            if ch.send(&m).is_err() {
                                break;
                            }
                        }
                    }));
                }
            })
        })
        .collect();
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    for l in &listeners {
        l.close();
    }
    for a in acceptors {
        a.join()
            .map_err(|_| Fail::new("a soak acceptor panicked"))?;
    }
    Ok(())
}

/// Traffic counters of one transport, shared by its clients.
#[derive(Default)]
struct Traffic {
    messages: AtomicU64,
    bytes: AtomicU64,
    connects: AtomicU64,
}

/// One process's resources at one moment.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Usage {
    rss_kib: u64,
    fds: u64,
    threads: u64,
}

impl Usage {
    /// Read from `/proc/PID` (`self` for this process).
    fn of(pid: &str) -> Result<Usage> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context(
            format_args!("reading /proc/{pid}/status (the soak needs Linux's /proc)"),
        )?;
        let field = |name: &str| -> Result<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .ok_or_else(|| Fail::new(format!("no {name} in /proc/{pid}/status")))
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .context(format_args!("listing /proc/{pid}/fd"))?
            .count() as u64;
        Ok(Usage {
            rss_kib: field("VmRSS:")?,
            fds,
            threads: field("Threads:")?,
        })
    }
}

#[derive(Debug, Clone, serde::Serialize)]
struct Sample {
    seconds: f64,
    soak: Usage,
    peer: Usage,
    messages: u64,
    connects: u64,
}

#[derive(Debug, serde::Serialize)]
struct Verdict {
    process: &'static str,
    measure: &'static str,
    first_quarter_max: u64,
    last_quarter_min: u64,
    flat: bool,
}

/// Run the soak: start the peer, drive traffic for `plan.duration`, sample, report.
pub(crate) fn run(plan: Plan, json: Option<PathBuf>, csv: Option<PathBuf>) -> Result {
    // Files are opened first, so a bad path fails before minutes of traffic.
    let json = json
        .map(|p| File::create(&p).context(format_args!("creating {}", p.display())))
        .transpose()?;
    let csv = csv
        .map(|p| File::create(&p).context(format_args!("creating {}", p.display())))
        .transpose()?;
    Usage::of("self")?;
    let dir = ScratchDir::new()?;
    let mut peer = SoakPeer::start(dir.path())?;
    let peer_pid = peer.child.id().to_string();
    eprintln!(
        "soak: {} s of traffic over {}, sampling every {} s",
        plan.duration.as_secs(),
        TRANSPORTS.join(", "),
        plan.interval.as_secs()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let (failed_tx, failed) = mpsc::channel::<Fail>();
    let traffic: Vec<Arc<Traffic>> = TRANSPORTS.iter().map(|_| Arc::default()).collect();
    let mut workers = Vec::new();
    for (i, ep) in peer.endpoints.iter().enumerate() {
        for churn in [false, true] {
            let (ep, stop, counts, failed) = (
                ep.clone(),
                Arc::clone(&stop),
                Arc::clone(&traffic[i]),
                failed_tx.clone(),
            );
            let seed = (i as u64) * 2 + u64::from(churn) + 1;
            workers.push(std::thread::spawn(move || {
                let client = if churn { churning } else { steady };
                if let Err(e) = client(&ep, seed, &stop, &counts) {
                    stop.store(true, Ordering::Relaxed);
                    let _ = failed.send(e.within(format_args!("{ep}")));
                }
            }));
        }
    }
    drop(failed_tx);

    let total = |f: fn(&Traffic) -> &AtomicU64| -> u64 {
        traffic.iter().map(|t| f(t).load(Ordering::Relaxed)).sum()
    };
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut outcome = Ok(());
    while start.elapsed() < plan.duration {
        let next = plan.interval * (samples.len() as u32 + 1);
        if let Ok(e) = failed.recv_timeout(next.saturating_sub(start.elapsed())) {
            outcome = Err(e);
            break;
        }
        let sample = Sample {
            seconds: start.elapsed().as_secs_f64(),
            soak: Usage::of("self")?,
            peer: Usage::of(&peer_pid).context("sampling the soak peer")?,
            messages: total(|t| &t.messages),
            connects: total(|t| &t.connects),
        };
        eprintln!("{}", row(&sample));
        samples.push(sample);
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().map_err(|_| Fail::new("a soak client panicked"))?;
    }
    if let Ok(e) = failed.try_recv() {
        outcome = outcome.and(Err(e));
    }
    outcome?;
    peer.finish()?;

    let verdicts = judge(&samples);
    print!("{}", table(&samples, &verdicts));
    for (name, t) in TRANSPORTS.iter().zip(&traffic) {
        println!(
            "{name}: {} messages, {:.1} MiB echoed, {} connections",
            t.messages.load(Ordering::Relaxed),
            t.bytes.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0),
            t.connects.load(Ordering::Relaxed)
        );
    }
    let flat = verdicts.iter().all(|v| v.flat);
    println!(
        "{}",
        if flat {
            "every measure stayed flat"
        } else {
            "NOT FLAT: see the measures marked grew"
        }
    );
    if let Some(file) = csv {
        write_csv(file, &samples)?;
    }
    if let Some(file) = json {
        let per_transport: Vec<_> = TRANSPORTS
            .iter()
            .zip(&traffic)
            .map(|(name, t)| {
                serde_json::json!({
                    "transport": name,
                    "messages": t.messages.load(Ordering::Relaxed),
                    "bytes": t.bytes.load(Ordering::Relaxed),
                    "connects": t.connects.load(Ordering::Relaxed),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "duration_s": plan.duration.as_secs_f64(),
            "interval_s": plan.interval.as_secs_f64(),
            "samples": samples,
            "verdicts": verdicts,
            "traffic": per_transport,
            "flat": flat,
        });
        serde_json::to_writer_pretty(file, &doc)
            .map_err(|e| Fail::new(format!("writing the soak JSON: {e}")))?;
    }
    Ok(())
}

/// The peer process, killed on drop unless it finished.
struct SoakPeer {
    child: Child,
    endpoints: Vec<String>,
}

impl SoakPeer {
    fn start(dir: &Path) -> Result<SoakPeer> {
        let exe = std::env::current_exe().context("finding this executable")?;
        let mut child = Process::new(exe)
            .arg("__soak-peer")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the soak peer")?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut peer = SoakPeer {
            child,
            endpoints: Vec::new(),
        };
        let line = rx.recv_timeout(PEER_TIMEOUT).unwrap_or_default();
        match line.trim_end().strip_prefix("ready ") {
            Some(eps) if eps.split(' ').count() == TRANSPORTS.len() => {
                peer.endpoints = eps.split(' ').map(str::to_owned).collect();
                Ok(peer)
            }
            _ => Err(Fail::new(format!(
                "the soak peer did not start (it printed {line:?})"
            ))),
        }
    }

    /// Close its stdin and wait for it to exit cleanly.
    fn finish(&mut self) -> Result {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + PEER_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return if status.success() {
                    Ok(())
                } else {
                    Err(Fail::new(format!("the soak peer exited with {status}")))
                };
            }
            if Instant::now() > deadline {
                return Err(Fail::new("the soak peer did not exit when told to"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SoakPeer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One round trip of a message of a drawn size, checked byte for byte.
fn round_trip(ch: &Channel, rng: &mut Rng, counts: &Traffic) -> Result {
    let total: u32 = SIZES.iter().map(|(_, w)| w).sum();
    let mut pick = rng.below(total);
    let size = SIZES
        .iter()
        .find(|(_, w)| {
            let hit = pick < *w;
            pick = pick.saturating_sub(*w);
            hit
        })
        .map_or(0, |(s, _)| *s);
    let first = rng.below(256) as u8;
    let msg: Vec<u8> = (0..size).map(|i| first.wrapping_add(i as u8)).collect();
    ch.send_timeout(&msg, WATCHDOG).context("sending")?;
    let echo = ch.recv_timeout(WATCHDOG).context("receiving the echo")?;
    if *echo != *msg {
        return Err(Fail::new(format!(
            "the echo of a {size}-byte message came back as {} different bytes",
            echo.len()
        )));
    }
    counts.messages.fetch_add(1, Ordering::Relaxed);
    counts.bytes.fetch_add(size as u64, Ordering::Relaxed);
    Ok(())
}

/// One connection for the whole soak.
fn steady(ep: &str, seed: u64, stop: &AtomicBool, counts: &Traffic) -> Result {
    let mut rng = Rng(seed);
    let ch = Channel::connect(ep).context("connecting")?;
    counts.connects.fetch_add(1, Ordering::Relaxed);
    while !stop.load(Ordering::Relaxed) {
        round_trip(&ch, &mut rng, counts)?;
    }
    ch.close();
    Ok(())
}

/// Connections opened and ended over and over: some carry nothing, some are dropped without
/// a close.
fn churning(ep: &str, seed: u64, stop: &AtomicBool, counts: &Traffic) -> Result {
    let mut rng = Rng(seed);
    while !stop.load(Ordering::Relaxed) {
        let ch = Channel::connect(ep).context("connecting")?;
        counts.connects.fetch_add(1, Ordering::Relaxed);
        for _ in 0..rng.below(20) {
            round_trip(&ch, &mut rng, counts)?;
        }
        if rng.below(2) == 0 {
            ch.close();
        }
    }
    Ok(())
}

/// A xorshift generator: the traffic's sizes and choices, the same in every run.
struct Rng(u64);

impl Rng {
    /// A number below `n` (not perfectly uniform; good enough to mix traffic).
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 32) as u32 % n
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn row(s: &Sample) -> String {
    format!(
        "{:>7.0} | {:>8.1} {:>5} {:>7} | {:>8.1} {:>5} {:>7} | {:>10} {:>8}",
        s.seconds,
        mib(s.soak.rss_kib),
        s.soak.fds,
        s.soak.threads,
        mib(s.peer.rss_kib),
        s.peer.fds,
        s.peer.threads,
        s.messages,
        s.connects
    )
}

fn table(samples: &[Sample], verdicts: &[Verdict]) -> String {
    let mut out = String::new();
    out.push_str("        |          clients         |           peer           |\n");
    out.push_str(
        "  t (s) | RSS(MiB)   fds threads | RSS(MiB)   fds threads |   messages connects\n",
    );
    for s in samples {
        out.push_str(&row(s));
        out.push('\n');
    }
    for v in verdicts {
        let unit = |n: u64| {
            if v.measure == "rss" {
                format!("{:.1} MiB", mib(n))
            } else {
                n.to_string()
            }
        };
        out.push_str(&format!(
            "{:<7} {:<7}: first quarter max {}, last quarter min {}: {}\n",
            v.process,
            v.measure,
            unit(v.first_quarter_max),
            unit(v.last_quarter_min),
            if v.flat { "flat" } else { "grew" }
        ));
    }
    out
}

/// Compare the first quarter of the samples with the last, per process and measure.
fn judge(samples: &[Sample]) -> Vec<Verdict> {
    let quarter = samples.len().div_ceil(4).max(1);
    let (first, last) = (
        &samples[..quarter.min(samples.len())],
        &samples[samples.len().saturating_sub(quarter)..],
    );
    let mut out = Vec::new();
    for process in ["clients", "peer"] {
        let pick = |s: &Sample| if process == "peer" { s.peer } else { s.soak };
        for (measure, get) in [
            ("rss", (|u: Usage| u.rss_kib) as fn(Usage) -> u64),
            ("fds", |u| u.fds),
            ("threads", |u| u.threads),
        ] {
            let first_max = first.iter().map(|s| get(pick(s))).max().unwrap_or(0);
            let last_min = last.iter().map(|s| get(pick(s))).min().unwrap_or(0);
            let allowed = if measure == "rss" {
                first_max + first_max / 20
            } else {
                first_max
            };
            out.push(Verdict {
                process,
                measure,
                first_quarter_max: first_max,
                last_quarter_min: last_min,
                flat: last_min <= allowed,
            });
        }
    }
    out
}

fn write_csv(mut file: File, samples: &[Sample]) -> Result {
    let mut text = String::from(
        "seconds,clients_rss_kib,clients_fds,clients_threads,peer_rss_kib,peer_fds,peer_threads,messages,connects\n",
    );
    for s in samples {
        text.push_str(&format!(
            "{:.1},{},{},{},{},{},{},{},{}\n",
            s.seconds,
            s.soak.rss_kib,
            s.soak.fds,
            s.soak.threads,
            s.peer.rss_kib,
            s.peer.fds,
            s.peer.threads,
            s.messages,
            s.connects
        ));
    }
    file.write_all(text.as_bytes())
        .context("writing the soak CSV")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rss_kib: u64, fds: u64) -> Sample {
        let u = Usage {
            rss_kib,
            fds,
            threads: 5,
        };
        Sample {
            seconds: 0.0,
            soak: u,
            peer: u,
            messages: 0,
            connects: 0,
        }
    }

    #[test]
    fn a_leak_lifts_the_last_quarter() {
        let flat: Vec<Sample> = [10, 12, 10, 11, 12, 10, 11, 10]
            .iter()
            .map(|&f| sample(4000, f))
            .collect();
        assert!(judge(&flat).iter().all(|v| v.flat));
        let leak: Vec<Sample> = (0..8).map(|i| sample(4000 + i * 400, 10 + i)).collect();
        let grew: Vec<_> = judge(&leak)
            .into_iter()
            .filter(|v| !v.flat)
            .map(|v| (v.process, v.measure))
            .collect();
        assert_eq!(
            grew,
            [
                ("clients", "rss"),
                ("clients", "fds"),
                ("peer", "rss"),
                ("peer", "fds")
            ]
        );
    }
}
