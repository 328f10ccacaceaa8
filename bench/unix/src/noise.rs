//! Whether the machine looked quiet enough for the numbers to mean much.
//!
//! Two signs, both cheap: the run queue (`procs_running` in `/proc/stat`, sampled a few times
//! before and after the measurements, with neither the load workers nor any measurement
//! running), and how much the rounds of one measurement disagree ([`Trial::spread`]).
//!
//! [`Trial::spread`]: libipc_bench::Trial::spread

use std::time::Duration;

/// Round-to-round spread above which a quiet run is called busy.
const MAX_SPREAD: f64 = 2.0;

/// The run queue over a short while.
#[derive(Debug, Clone, Copy)]
pub struct RunQueue {
    /// Mean `procs_running`, this process (the one sampling, so running) included.
    mean: f64,
    /// The smallest sample: if even that exceeds the CPUs, others kept them all busy.
    min: u32,
}

impl RunQueue {
    /// Five samples 20 ms apart; `None` without `/proc/stat`.
    pub fn sample() -> Option<RunQueue> {
        let mut samples = Vec::new();
        for i in 0..5 {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
            samples.push(procs_running()?);
        }
        Some(RunQueue {
            mean: f64::from(samples.iter().sum::<u32>()) / samples.len() as f64,
            min: samples.iter().copied().min().unwrap_or(0),
        })
    }
}

/// The verdict, as written to JSON.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Noise {
    pub busy: bool,
    /// What was seen, for people.
    pub detail: String,
}

impl Noise {
    /// Judge a run from the run queue before and after it and its worst round-to-round spread
    /// (with the row it was seen in). Under `--load` (`loaded`) rounds are expected to
    /// disagree, so only the run queue counts.
    pub fn judge(
        before: Option<RunQueue>,
        after: Option<RunQueue>,
        worst: Option<(f64, String)>,
        loaded: bool,
    ) -> Noise {
        let cpus = system_cpus();
        let mut busy = false;
        let mut parts = Vec::new();
        match (before, after) {
            (Some(b), Some(a)) => {
                busy |= b.min as usize > cpus || a.min as usize > cpus;
                parts.push(format!(
                    "{:.1} runnable tasks before, {:.1} after, on {cpus} CPUs, counting the bench",
                    b.mean, a.mean
                ));
            }
            _ => parts.push("run queue unknown (no /proc/stat)".to_owned()),
        }
        if let Some(load) = loadavg() {
            parts.push(format!("1-minute load average {load:.2}"));
        }
        if let Some((spread, row)) = worst {
            if !loaded {
                busy |= spread > MAX_SPREAD;
            }
            parts.push(format!("rounds differ by up to {spread:.1}x ({row})"));
        }
        Noise {
            busy,
            detail: parts.join("; "),
        }
    }
}

/// `procs_running` from `/proc/stat`: tasks running or ready to run, system-wide.
fn procs_running() -> Option<u32> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("procs_running "))
        .and_then(|n| n.trim().parse().ok())
}

/// The machine's online CPUs (the run queue is system-wide, whatever this process's affinity).
fn system_cpus() -> usize {
    let from_stat = std::fs::read_to_string("/proc/stat").ok().map(|stat| {
        stat.lines()
            .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
            .count()
    });
    match from_stat {
        Some(n) if n > 0 => n,
        _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
