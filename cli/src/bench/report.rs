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
    /// "unix" or "tcp" (raw rows are "unix").
    pub(crate) transport: &'static str,
    /// "rtt" or "stream".
    pub(crate) pattern: &'static str,
    /// Message size in bytes.
    pub(crate) size: usize,
    #[serde(flatten)]
    pub(crate) measured: Measured,
    /// libipc rows: rtt p50 / raw p50 (lower is better) or stream msgs/s / raw msgs/s (higher
    /// is better), against the raw row of the same pattern and size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) vs_raw: Option<f64>,
}

#[derive(Debug, serde::Serialize)]
pub(crate) struct Report {
    results: Vec<Row>,
}

impl Report {
    /// Collect the rows and work out each libipc row's ratio to its raw row.
    pub(crate) fn new(mut results: Vec<Row>) -> Report {
        let raw: Vec<Row> = results
            .iter()
            .filter(|r| r.system == "raw")
            .cloned()
            .collect();
        for row in results.iter_mut().filter(|r| r.system != "raw") {
            let base = raw
                .iter()
                .find(|b| b.pattern == row.pattern && b.size == row.size);
            row.vs_raw = base.and_then(|b| match (row.measured, b.measured) {
                (Measured::Rtt { p50_us: a, .. }, Measured::Rtt { p50_us: b, .. }) => Some(a / b),
                (
                    Measured::Stream { msgs_per_s: a, .. },
                    Measured::Stream { msgs_per_s: b, .. },
                ) => Some(a / b),
                _ => None,
            });
        }
        Report { results }
    }

    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let ratio = |r: &Row| r.vs_raw.map_or("-".to_owned(), |v| format!("{v:.2}x"));
        out.push_str(
            "Round-trip latency, microseconds (vs raw = libipc p50 / raw p50; lower is better)\n",
        );
        let _ = writeln!(
            out,
            "{:<7} {:<9} {:>9} {:>9} {:>9} {:>9} {:>8}",
            "system", "transport", "size B", "p50", "p99", "p99.9", "vs raw"
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
                    "{:<7} {:<9} {:>9} {:>9.1} {:>9.1} {:>9.1} {:>8}",
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
            "\nOne-way streaming, MB = 10^6 bytes (vs raw = libipc msgs/s / raw msgs/s; higher is better)\n",
        );
        let _ = writeln!(
            out,
            "{:<7} {:<9} {:>9} {:>12} {:>9} {:>8}",
            "system", "transport", "size B", "msgs/s", "MB/s", "vs raw"
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
                    "{:<7} {:<9} {:>9} {:>12.0} {:>9.1} {:>8}",
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
