//! The two measurement loops, identical for every [`Link`]: ping-pong round trips and one-way
//! streaming.
//!
//! A [`Trial`] warms up in growing batches, which also calibrates how many iterations fit in
//! the time budget; the budget is then spent in several rounds, and the caller interleaves the
//! rounds of every system measured at one pattern and size. Scheduler placement (same CPU or
//! not, which changes round trips several-fold on small VMs) and other drift then hit every
//! system alike instead of whichever happened to run at a bad moment.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::link::Link;
use super::peer::{ACK, Command};
use crate::fail::{Fail, Result};

/// Time budgets per measurement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    warmup: Duration,
    measure: Duration,
    pub(crate) rounds: u64,
    min_per_round: u64,
}

impl Budget {
    /// About 1.2 s per measurement: 0.2 s warm-up, then 10 rounds of 0.1 s.
    pub(crate) const FULL: Budget = Budget {
        warmup: Duration::from_millis(200),
        measure: Duration::from_millis(1000),
        rounds: 10,
        min_per_round: 20,
    };
    /// Milliseconds per measurement: proves the machinery works; the numbers mean little.
    pub(crate) const QUICK: Budget = Budget {
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

/// The measurement kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pattern {
    Rtt,
    Stream,
}

impl Pattern {
    pub(crate) const ALL: [Pattern; 2] = [Pattern::Rtt, Pattern::Stream];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Pattern::Rtt => "rtt",
            Pattern::Stream => "stream",
        }
    }
}

/// What one measurement found.
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(untagged)]
pub(crate) enum Measured {
    /// Round-trip times in microseconds, over `samples` round trips.
    Rtt {
        p50_us: f64,
        p99_us: f64,
        p999_us: f64,
        samples: u64,
    },
    /// One-way throughput over `messages` messages (MB = 10^6 bytes).
    Stream {
        msgs_per_s: f64,
        mb_per_s: f64,
        messages: u64,
    },
}

/// One measurement in progress: calibrated, accumulating over rounds.
#[derive(Debug)]
pub(crate) struct Trial {
    pattern: Pattern,
    per_round: u64,
    times: Histogram<u64>,
    messages: u64,
    busy: Duration,
}

impl Trial {
    /// Warm up `link` for `pattern` and work out how many iterations a round gets.
    pub(crate) fn start(
        pattern: Pattern,
        link: &mut dyn Link,
        payload: &[u8],
        budget: &Budget,
    ) -> Result<Trial> {
        let per = calibrate(budget.warmup, |n| match pattern {
            Pattern::Rtt => round_trips(link, payload, n, None),
            Pattern::Stream => one_way(link, payload, n),
        })?;
        Ok(Trial {
            pattern,
            per_round: budget.per_round(per),
            times: Histogram::new_with_bounds(1, 100_000_000_000, 3)
                .map_err(|e| Fail::new(format!("histogram: {e}")))?,
            messages: 0,
            busy: Duration::ZERO,
        })
    }

    /// One measured round.
    pub(crate) fn round(&mut self, link: &mut dyn Link, payload: &[u8]) -> Result {
        let n = self.per_round;
        self.busy += match self.pattern {
            Pattern::Rtt => round_trips(link, payload, n, Some(&mut self.times))?,
            Pattern::Stream => one_way(link, payload, n)?,
        };
        self.messages += n;
        Ok(())
    }

    /// The result over every round so far.
    pub(crate) fn finish(&self, size: usize) -> Measured {
        match self.pattern {
            Pattern::Rtt => {
                let us = |q: f64| self.times.value_at_quantile(q) as f64 / 1000.0;
                Measured::Rtt {
                    p50_us: us(0.50),
                    p99_us: us(0.99),
                    p999_us: us(0.999),
                    samples: self.messages,
                }
            }
            Pattern::Stream => {
                let msgs_per_s = self.messages as f64 / self.busy.as_secs_f64();
                Measured::Stream {
                    msgs_per_s,
                    mb_per_s: msgs_per_s * size as f64 / 1e6,
                    messages: self.messages,
                }
            }
        }
    }
}

/// `n` timed ping-pongs; each round trip goes into `times` when given. Returns the total time.
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
            return Err(Fail::new(format!(
                "echo of {len} bytes for {} sent",
                payload.len()
            )));
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
        return Err(Fail::new("the peer's ack after a stream batch was garbled"));
    }
    Ok(start.elapsed())
}

/// Run batches of growing size for about `warmup`; returns the time per iteration of the last.
fn calibrate(warmup: Duration, mut batch: impl FnMut(u64) -> Result<Duration>) -> Result<Duration> {
    let start = Instant::now();
    let mut n = 1u64;
    loop {
        let per = Duration::from_nanos((batch(n)?.as_nanos() / u128::from(n)) as u64);
        let left = warmup.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Ok(per);
        }
        let fit = (left.as_nanos() / per.as_nanos().max(1)) as u64;
        n = fit.clamp(1, n.saturating_mul(2));
    }
}
