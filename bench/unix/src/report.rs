//! The results: an aligned table for people, JSON for machines (the schema of
//! `ipc bench --json`: `{"load", "noise", "results": [Row...]}`).

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::Path;

use crate::noise::Noise;
use libipc_bench::Measured;
use libipc_bench::{Context, Result};

/// The `system` of the raw baselines' rows, the ones other rows are compared with.
pub const RAW: &str = "raw";

/// One measurement, as written to JSON.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// "libipc", "raw", or another system's name ([`LinkKind::system`]).
    ///
    /// [`LinkKind::system`]: crate::LinkKind::system
    pub system: String,
    /// libipc rows: "unix", "tcp", ...; raw rows: the baseline, "unix", "unix-spin",
    /// "shm-futex" or "shm-spin".
    pub transport: String,
    /// "rtt" or "stream".
    pub pattern: &'static str,
    /// Message size in bytes.
    pub size: usize,
    #[serde(flatten)]
    pub measured: Measured,
    /// User + system CPU time of both processes per message, in microseconds (a round trip
    /// is two messages; see `Trial::cpu_us_per_msg`).
    pub cpu_us_per_msg: f64,
    /// The largest per-round result over the smallest (1: the rounds agreed).
    pub rounds_spread: f64,
    /// libipc rows: the raw baseline that waits the same way; absent if no such raw row was
    /// measured at this pattern and size (then `vs_same_wait` is absent too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_wait_baseline: Option<String>,
    /// libipc rows: rtt p50 / baseline p50 (lower is better) or stream msgs/s / baseline
    /// msgs/s (higher is better), against `same_wait_baseline`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_same_wait: Option<f64>,
    /// libipc rows: the plain blocking socket baseline ("unix").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocking_baseline: Option<String>,
    /// libipc rows: the same ratio against `blocking_baseline`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_blocking: Option<f64>,
}

#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// The number of `--load` workers; `None` (null) for a run without them.
    load: Option<usize>,
    noise: Noise,
    results: Vec<Row>,
}

impl Report {
    /// Collect the rows and work out each libipc row's ratios to the raw rows it names.
    pub fn new(mut results: Vec<Row>, load: Option<usize>, noise: Noise) -> Report {
        let raw: Vec<Row> = results
            .iter()
            .filter(|r| r.system == RAW)
            .cloned()
            .collect();
        let ratio = |row: &Row, baseline: Option<&str>| {
            let base = raw.iter().find(|b| {
                Some(b.transport.as_str()) == baseline
                    && b.pattern == row.pattern
                    && b.size == row.size
            })?;
            match (row.measured, base.measured) {
                (Measured::Rtt { p50_us: a, .. }, Measured::Rtt { p50_us: b, .. }) => Some(a / b),
                (
                    Measured::Stream { msgs_per_s: a, .. },
                    Measured::Stream { msgs_per_s: b, .. },
                ) => Some(a / b),
                _ => None,
            }
        };
        for row in results.iter_mut().filter(|r| r.system != RAW) {
            row.vs_same_wait = ratio(row, row.same_wait_baseline.as_deref());
            if row.vs_same_wait.is_none() {
                row.same_wait_baseline = None;
            }
            row.vs_blocking = ratio(row, row.blocking_baseline.as_deref());
            if row.vs_blocking.is_none() {
                row.blocking_baseline = None;
            }
        }
        Report {
            load,
            noise,
            results,
        }
    }

    /// The rows, in measurement order.
    pub fn results(&self) -> &[Row] {
        &self.results
    }

    /// The run's conditions, for people: the load it ran beside, and how quiet the machine
    /// looked.
    pub fn conditions(&self) -> String {
        let load = match self.load {
            Some(n) => format!(
                "Measured beside {n} load processes (1-5 ms CPU bursts between 0.1-2 ms \
                 sleeps, like a parallel build)."
            ),
            None => "Measured without added load.".to_owned(),
        };
        let noise = if self.noise.busy {
            format!(
                "The machine looked busy ({}); the numbers may not repeat.",
                self.noise.detail
            )
        } else {
            format!("The machine looked quiet ({}).", self.noise.detail)
        };
        format!("{load} {noise}")
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        if let Some(n) = self.load {
            let _ = writeln!(
                out,
                "load: {n} processes (1-5 ms CPU bursts between 0.1-2 ms sleeps, like a \
                 parallel build)"
            );
        }
        if self.noise.busy {
            let _ = writeln!(
                out,
                "warning: the machine looks busy ({}); the numbers may not repeat",
                self.noise.detail
            );
        }
        if !out.is_empty() {
            out.push('\n');
        }
        // At least as wide as `ipc bench`'s names, wider for longer ones.
        let sw = self
            .results
            .iter()
            .map(|r| r.system.chars().count())
            .fold(7, usize::max);
        let tw = self
            .results
            .iter()
            .map(|r| r.transport.chars().count())
            .fold(9, usize::max);
        let cell = |v: Option<f64>, b: Option<&str>| match (v, b) {
            (Some(v), Some(b)) => format!("{} {b}", ratio(v)),
            _ => "-".to_owned(),
        };
        out.push_str(
            "Round-trip latency, microseconds. cpu µs/msg: user+system CPU of both processes per \
             message (a round trip is two).\nvs same-wait / vs blocking: libipc p50 / p50 of \
             the raw row named (the one that waits the same way / the plain blocking socket); \
             lower is better.\n",
        );
        let _ = writeln!(
            out,
            "{:<sw$} {:<tw$} {:>9} {:>9} {:>9} {:>9} {:>10}  {:<17} vs blocking",
            "system", "transport", "size B", "p50", "p99", "p99.9", "cpu µs/msg", "vs same-wait"
        );
        for r in &self.results {
            if let Measured::Rtt {
                p50_us,
                p99_us,
                p999_us,
                ..
            } = r.measured
            {
                let _ = writeln!(
                    out,
                    "{:<sw$} {:<tw$} {:>9} {:>9.1} {:>9.1} {:>9.1} {:>10}  {:<17} {}",
                    r.system,
                    r.transport,
                    r.size,
                    p50_us,
                    p99_us,
                    p999_us,
                    significant(r.cpu_us_per_msg),
                    cell(r.vs_same_wait, r.same_wait_baseline.as_deref()),
                    cell(r.vs_blocking, r.blocking_baseline.as_deref()),
                );
            }
        }
        out.push_str(
            "\nOne-way streaming, MB = 10^6 bytes. vs same-wait / vs blocking: libipc msgs/s / \
             msgs/s of the raw row named; higher is better.\n",
        );
        let _ = writeln!(
            out,
            "{:<sw$} {:<tw$} {:>9} {:>12} {:>9} {:>10}  {:<17} vs blocking",
            "system", "transport", "size B", "msgs/s", "MB/s", "cpu µs/msg", "vs same-wait"
        );
        for r in &self.results {
            if let Measured::Stream {
                msgs_per_s,
                mb_per_s,
                ..
            } = r.measured
            {
                let _ = writeln!(
                    out,
                    "{:<sw$} {:<tw$} {:>9} {:>12.0} {:>9.1} {:>10}  {:<17} {}",
                    r.system,
                    r.transport,
                    r.size,
                    msgs_per_s,
                    mb_per_s,
                    significant(r.cpu_us_per_msg),
                    cell(r.vs_same_wait, r.same_wait_baseline.as_deref()),
                    cell(r.vs_blocking, r.blocking_baseline.as_deref()),
                );
            }
        }
        out
    }

    /// Write `{"load": ..., "noise": ..., "results": [...]}` to `file` (opened early, so a bad
    /// path fails before the run).
    pub fn write_json(&self, mut file: File, path: &Path) -> Result {
        let json = serde_json::to_string_pretty(self).expect("plain data serializes");
        writeln!(file, "{json}").context(format_args!("writing {}", path.display()))
    }
}

/// A ratio such as `1.23x` or `0.0031x`: never rounded to nothing.
fn ratio(v: f64) -> String {
    format!("{}x", significant(v))
}

/// `v` with two decimals, or more below 1 so that two significant digits remain (0.0031, not
/// 0.00).
fn significant(v: f64) -> String {
    if !v.is_finite() || v <= 0.0 || v >= 1.0 {
        return format!("{v:.2}");
    }
    let decimals = (1 - v.log10().floor() as i32).max(2) as usize;
    format!("{v:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::{ratio, significant};

    #[test]
    fn small_ratios_keep_two_significant_digits() {
        assert_eq!(ratio(1.234), "1.23x");
        assert_eq!(ratio(12.0), "12.00x");
        assert_eq!(ratio(0.5), "0.50x");
        assert_eq!(ratio(0.05), "0.050x");
        assert_eq!(ratio(0.00312), "0.0031x");
        assert_eq!(significant(0.0), "0.00");
    }
}
