//! The measurements of one run: every link with every pattern it is measured with, at every
//! size, each pattern and size interleaved across the links ([`libipc_bench::interleave`]).

use libipc_bench::{Measured, Method, Pattern, Progress, Result, interleave};

use crate::report::Row;
use crate::spawn::Peer;

/// Which links each pattern measures, and at which sizes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// For each pattern, the links measured with it (indices into [`Peer::links`]).
    patterns: Vec<(Pattern, Vec<usize>)>,
    sizes: Vec<usize>,
}

/// What a run measured.
#[derive(Debug)]
pub struct Outcome {
    /// One row per link, pattern and size: by pattern, then size, then link.
    pub rows: Vec<Row>,
    /// The largest round-to-round spread seen, and the measurement it was seen in (for
    /// [`Noise::judge`](crate::Noise::judge)).
    pub worst: Option<(f64, String)>,
}

impl Plan {
    /// Every pattern a link of `peer` is measured with ([`Pattern::ALL`] order), at `sizes`.
    pub fn new(peer: &Peer, sizes: &[usize]) -> Plan {
        let patterns = Pattern::ALL
            .iter()
            .map(|&pattern| {
                let members = (0..peer.links.len())
                    .filter(|&i| peer.links[i].patterns.contains(&pattern))
                    .collect();
                (pattern, members)
            })
            .collect();
        Plan {
            patterns,
            sizes: sizes.to_vec(),
        }
    }

    /// How many measurements it makes.
    pub fn total(&self) -> usize {
        self.patterns
            .iter()
            .map(|(_, m)| m.len() * self.sizes.len())
            .sum()
    }

    /// Measure, with a progress line per measurement and a summary line per result on stderr.
    pub fn run(&self, peer: &mut Peer, method: &Method) -> Result<Outcome> {
        let mut progress = Progress {
            done: 0,
            total: self.total(),
        };
        let mut rows = Vec::new();
        let mut worst: Option<(f64, String)> = None;
        for (pattern, members) in &self.patterns {
            let pattern = *pattern;
            for &size in &self.sizes {
                let payload = vec![0xa5u8; size];
                let labels = &peer.links;
                let what = |i: usize| {
                    let (system, transport) = (&labels[i].system, &labels[i].transport);
                    format!("{system} {transport} {} {size} B", pattern.name())
                };
                let trials = interleave(
                    &mut peer.board,
                    members,
                    pattern,
                    &payload,
                    method,
                    &mut progress,
                    what,
                )?;
                for (trial, &i) in trials.iter().zip(members) {
                    let measured = trial.finish(size);
                    eprintln!("       {}: {}", what(i), summary(&measured));
                    let spread = trial.spread();
                    if worst.as_ref().is_none_or(|(w, _)| spread > *w) {
                        worst = Some((spread, what(i)));
                    }
                    let link = &peer.links[i];
                    rows.push(Row {
                        system: link.system.clone(),
                        transport: link.transport.clone(),
                        pattern: pattern.name(),
                        size,
                        measured,
                        cpu_us_per_msg: trial.cpu_us_per_msg().unwrap_or_default(),
                        rounds_spread: spread,
                        same_wait_baseline: link.same_wait.clone(),
                        vs_same_wait: None,
                        blocking_baseline: link.blocking_baseline.clone(),
                        vs_blocking: None,
                    });
                }
            }
        }
        Ok(Outcome { rows, worst })
    }
}

fn summary(m: &Measured) -> String {
    match m {
        Measured::Rtt {
            p50_us, samples, ..
        } => {
            format!("p50 {p50_us:.1} us ({samples} round trips)")
        }
        Measured::Stream {
            msgs_per_s,
            mb_per_s,
            ..
        } => {
            format!("{msgs_per_s:.0} msgs/s, {mb_per_s:.1} MB/s")
        }
    }
}
