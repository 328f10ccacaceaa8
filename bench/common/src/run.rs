//! The interleaved run of every system measured at one pattern and size.

use crate::fail::{Fail, Result};
use crate::measure::{Method, Pattern, Trial};
use crate::peer::PeerLinks;

/// Where a run is, for the progress lines on stderr (`[3/40] raw rtt 64 B ...`).
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Measurements started so far.
    pub done: usize,
    /// Measurements in the whole run.
    pub total: usize,
}

/// Measure `pattern` with `payload` on each of the links `members`: each warms up (a progress
/// line on stderr as it starts), then their measured rounds are interleaved, rotating who goes
/// first, so drift hits every system alike. `what(i)` names link `i` in progress lines and
/// errors. Returns one finished [`Trial`] per member, in order.
pub fn interleave(
    links: &mut PeerLinks,
    members: &[usize],
    pattern: Pattern,
    payload: &[u8],
    method: &Method,
    progress: &mut Progress,
    what: impl Fn(usize) -> String,
) -> Result<Vec<Trial>> {
    let mut trials = Vec::new();
    for &i in members {
        progress.done += 1;
        eprintln!("[{}/{}] {} ...", progress.done, progress.total, what(i));
        let trial = Trial::start(pattern, links.link(i)?, payload, method);
        trials.push(trial.map_err(|e| Fail::new(format!("{}: {e}", what(i))))?);
    }
    let count = members.len();
    for round in 0..method.budget.rounds as usize {
        for k in 0..count {
            let t = (round + k) % count;
            let i = members[t];
            trials[t]
                .round(links.link(i)?, payload)
                .map_err(|e| Fail::new(format!("{}: {e}", what(i))))?;
        }
    }
    Ok(trials)
}
