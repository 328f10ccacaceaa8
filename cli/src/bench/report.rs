//! The results: an aligned table for people, JSON for machines.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::Path;

use super::measure::Measured;
use crate::fail::{Context, Result};

/// One measurement, as written to JSON.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Row {
    /// "libipc" or "raw".
    pub(crate) system: &'static str,
    /// libipc rows: "unix", "tcp", ...; raw rows: the baseline, "unix", "shm-futex" or
    /// "shm-spin".
    pub(crate) transport: &'static str,
    /// "rtt" or "stream".
    pub(crate) pattern: &'static str,
    /// Message size in bytes.
    pub(crate) size: usize,
    #[serde(flatten)]
    pub(crate) measured: Measured,
    /// libipc rows: rtt p50 / raw p50 (lower is better) or stream msgs/s / raw msgs/s (higher
    /// is better), against the raw row of the same pattern and size whose transport is
    /// `baseline`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) vs_raw: Option<f64>,
    /// libipc rows: the raw transport they are compared with; absent if no such raw row was
    /// measured (then `vs_raw` is absent too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) baseline: Option<&'static str>,
}

#[derive(Debug, serde::Serialize)]
pub(crate) struct Report {
    results: Vec<Row>,
}

impl Report {
    /// Collect the rows and work out each libipc row's ratio to the raw row it names.
    pub(crate) fn new(mut results: Vec<Row>) -> Report {
        let raw: Vec<Row> = results
            .iter()
            .filter(|r| r.system == "raw")
            .cloned()
            .collect();
        for row in results.iter_mut().filter(|r| r.system != "raw") {
            let base = raw.iter().find(|b| {
                Some(b.transport) == row.baseline && b.pattern == row.pattern && b.size == row.size
            });
            row.vs_raw = base.and_then(|b| match (row.measured, b.measured) {
                (Measured::Rtt { p50_us: a, .. }, Measured::Rtt { p50_us: b, .. }) => Some(a / b),
                (
                    Measured::Stream { msgs_per_s: a, .. },
                    Measured::Stream { msgs_per_s: b, .. },
                ) => Some(a / b),
                _ => None,
            });
            if row.vs_raw.is_none() {
                row.baseline = None;
            }
        }
        Report { results }
    }

    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let ratio = |r: &Row| match (r.vs_raw, r.baseline) {
            (Some(v), Some(b)) => format!("{v:.2}x {b}"),
            _ => "-".to_owned(),
        };
        out.push_str(
            "Round-trip latency, microseconds (vs raw = libipc p50 / p50 of the raw transport \
             named; lower is better)\n",
        );
        let _ = writeln!(
            out,
            "{:<7} {:<9} {:>9} {:>9} {:>9} {:>9}  vs raw",
            "system", "transport", "size B", "p50", "p99", "p99.9"
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
                    "{:<7} {:<9} {:>9} {:>9.1} {:>9.1} {:>9.1}  {}",
                    r.system,
                    r.transport,
                    r.size,
                    p50_us,
                    p99_us,
                    p999_us,
                    ratio(r)
                );
            }
        }
        out.push_str(
            "\nOne-way streaming, MB = 10^6 bytes (vs raw = libipc msgs/s / msgs/s of the raw \
             transport named; higher is better)\n",
        );
        let _ = writeln!(
            out,
            "{:<7} {:<9} {:>9} {:>12} {:>9}  vs raw",
            "system", "transport", "size B", "msgs/s", "MB/s"
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
                    "{:<7} {:<9} {:>9} {:>12.0} {:>9.1}  {}",
                    r.system,
                    r.transport,
                    r.size,
                    msgs_per_s,
                    mb_per_s,
                    ratio(r)
                );
            }
        }
        out
    }

    /// Write `{"results": [...]}` to `file` (opened early, so a bad path fails before the run).
    pub(crate) fn write_json(&self, mut file: File, path: &Path) -> Result {
        let json = serde_json::to_string_pretty(self).expect("plain data serializes");
        writeln!(file, "{json}").context(format_args!("writing {}", path.display()))
    }
}
