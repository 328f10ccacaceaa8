//! The 64 B round trip through the C and Python APIs, beside the Rust API's, in the same run
//! (`--c-ping`, `--python`): one libipc echo process (this executable re-run as
//! `ipc-compare __compare-echo ENDPOINT`), and each API's client in a process of its own,
//! rounds alternating between the APIs. The clients are `bench/c/ping.c` and
//! `bench/python/ping.py`, which print `count N p50 X p99 Y` (microseconds); the Rust client
//! is this process, timing the same loop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::Instant;

use libipc::{Channel, Endpoint, Listener};
use libipc_bench::{Context, Fail, Result};

/// One API's round trips over one transport.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiRow {
    /// "rust", "c" or "python".
    pub api: String,
    /// "unix" or "shm".
    pub transport: String,
    pub size: usize,
    /// Medians over the rounds of each round's p50 and p99, microseconds.
    pub p50_us: f64,
    pub p99_us: f64,
    pub rounds: usize,
    pub round_trips_per_round: usize,
}

/// The client programs to measure besides the Rust API.
#[derive(Debug, Clone, Default)]
pub struct Clients {
    /// `bench/c/ping.c`, built against libipc.
    pub c_ping: Option<PathBuf>,
    /// A Python interpreter with the libipc package, and `bench/python/ping.py`.
    pub python: Option<(PathBuf, PathBuf)>,
}

/// The echo process's life: listen at `endpoint`, print `ready`, echo every message of every
/// connection (a thread each) until stdin ends.
pub fn run_echo(endpoint: &str) -> Result {
    let ep = Endpoint::parse(endpoint)?;
    let listener = Listener::bind(&ep).context(format_args!("listening at {endpoint}"))?;
    println!("ready");
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = std::io::stdin().read_line(&mut sink);
        std::process::exit(0);
    });
    loop {
        let ch = listener.accept()?;
        std::thread::spawn(move || {
            while let Ok(m) = ch.recv() {
                if ch.send(&m).is_err() {
                    break;
                }
            }
        });
    }
}

/// The echo process, killed on drop.
struct Echo(Child);

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_echo(exe: &Path, command: &str, endpoint: &str) -> Result<Echo> {
    let mut child = Process::new(exe)
        .args([command, endpoint])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the echo process")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let echo = Echo(child);
    if line.trim() != "ready" {
        return Err(Fail::new(format!(
            "the echo process said {line:?}, not `ready`"
        )));
    }
    Ok(echo)
}

/// `count N p50 X p99 Y` → (p50, p99).
fn parse_ping(out: &str) -> Option<(f64, f64)> {
    let words: Vec<&str> = out.split_whitespace().collect();
    let at = |key: &str| {
        let i = words.iter().position(|w| *w == key)?;
        words.get(i + 1)?.parse::<f64>().ok()
    };
    Some((at("p50")?, at("p99")?))
}

fn run_client(program: &Path, args: &[&str]) -> Result<(f64, f64)> {
    let out = Process::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context(format_args!("running {}", program.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(Fail::new(format!(
            "{} {args:?} failed ({})",
            program.display(),
            out.status
        )));
    }
    parse_ping(&text).ok_or_else(|| {
        Fail::new(format!(
            "{} printed {text:?}, not `count N p50 X p99 Y`",
            program.display()
        ))
    })
}

/// One API's round of round trips: (p50, p99) in microseconds.
type Ping = Box<dyn Fn() -> Result<(f64, f64)>>;

/// The Rust API's twin of `ping.c`: `count` timed round trips of `size` bytes.
fn rust_ping(endpoint: &str, count: usize, size: usize) -> Result<(f64, f64)> {
    let ch = Channel::connect(endpoint).context(format_args!("connecting to {endpoint}"))?;
    let msg = vec![0x42u8; size];
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let t = Instant::now();
        ch.send(&msg)?;
        let back = ch.recv()?;
        times.push(t.elapsed().as_nanos() as f64 / 1e3);
        if back.len() != size {
            return Err(Fail::new("the echo came back with another length"));
        }
    }
    ch.close();
    times.sort_by(f64::total_cmp);
    Ok((times[count / 2], times[count * 99 / 100]))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Measure the Rust API and the `clients` given over unix and shm, `rounds` alternating
/// rounds of `count` round trips each; `scratch` holds the socket. `exe`/`command`: how to
/// start the echo process.
pub fn measure(
    exe: &Path,
    command: &str,
    clients: &Clients,
    scratch: &Path,
    rounds: usize,
    count: usize,
) -> Result<Vec<ApiRow>> {
    const SIZE: usize = 64;
    let mut rows = Vec::new();
    let shm_name = format!(
        "shm://{}-echo",
        scratch
            .file_name()
            .map_or_else(|| "ipc-compare".into(), |n| n.to_string_lossy())
    );
    let unix = format!("unix://{}", scratch.join("echo.sock").display());
    for (transport, endpoint) in [("unix", unix), ("shm", shm_name)] {
        let _echo = start_echo(exe, command, &endpoint)?;
        let n = count.to_string();
        let size = SIZE.to_string();
        let mut apis: Vec<(&str, Ping)> = Vec::new();
        {
            let endpoint = endpoint.clone();
            apis.push(("rust", Box::new(move || rust_ping(&endpoint, count, SIZE))));
        }
        if let Some(c) = &clients.c_ping {
            let (c, endpoint, n, size) = (c.clone(), endpoint.clone(), n.clone(), size.clone());
            apis.push((
                "c",
                Box::new(move || run_client(&c, &[&endpoint, &n, &size])),
            ));
        }
        if let Some((python, script)) = &clients.python {
            let (python, script) = (python.clone(), script.to_string_lossy().into_owned());
            let (endpoint, n, size) = (endpoint.clone(), n.clone(), size.clone());
            apis.push((
                "python",
                Box::new(move || run_client(&python, &[&script, &endpoint, &n, &size])),
            ));
        }
        let mut results: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); apis.len()];
        for round in 0..=rounds {
            for (i, (name, ping)) in apis.iter().enumerate() {
                eprintln!("[apis] {name} {transport} round {round}/{rounds}");
                let (p50, p99) = ping().context(format_args!("the {name} API over {transport}"))?;
                // Round 0 warms up (connections, caches, the spinner's history).
                if round > 0 {
                    results[i].0.push(p50);
                    results[i].1.push(p99);
                }
            }
        }
        for ((name, _), (p50, p99)) in apis.iter().zip(results) {
            rows.push(ApiRow {
                api: (*name).to_owned(),
                transport: transport.to_owned(),
                size: SIZE,
                p50_us: median(p50),
                p99_us: median(p99),
                rounds,
                round_trips_per_round: count,
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::parse_ping;

    #[test]
    fn ping_lines_parse() {
        assert_eq!(
            parse_ping("count 100 p50 3.25 p99 10.5\n"),
            Some((3.25, 10.5))
        );
        assert_eq!(parse_ping("count 100 p50 x p99 1"), None);
        assert_eq!(parse_ping(""), None);
    }
}
