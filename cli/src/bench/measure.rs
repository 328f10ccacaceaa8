//! The two measurement loops, identical for every [`Link`]: ping-pong round trips and one-way
//! streaming. Each warms up in growing batches, which also calibrates how many iterations fit
//! in the time budget, then measures one batch of that many.

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
    min_iterations: u64,
}

impl Budget {
    /// About 1.8 s per measurement.
    pub(crate) const FULL: Budget = Budget {
        warmup: Duration::from_millis(300),
        measure: Duration::from_millis(1500),
        min_iterations: 100,
    };
    /// Milliseconds per measurement: proves the machinery works; the numbers mean little.
    pub(crate) const QUICK: Budget = Budget {
        warmup: Duration::from_millis(5),
        measure: Duration::from_millis(20),
        min_iterations: 10,
    };

    fn iterations(&self, per_iteration: Duration) -> u64 {
        let fit = self.measure.as_nanos() / per_iteration.as_nanos().max(1);
        (fit as u64).max(self.min_iterations)
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

pub(crate) fn run(
    pattern: Pattern,
    link: &mut dyn Link,
    size: usize,
    budget: &Budget,
) -> Result<Measured> {
    let payload = vec![0xa5u8; size];
    match pattern {
        Pattern::Rtt => rtt(link, &payload, budget),
        Pattern::Stream => stream(link, &payload, budget),
    }
}

fn rtt(link: &mut dyn Link, payload: &[u8], budget: &Budget) -> Result<Measured> {
    let per = calibrate(budget.warmup, |n| round_trips(link, payload, n, None))?;
    let n = budget.iterations(per);
    let mut times = Histogram::<u64>::new_with_bounds(1, 100_000_000_000, 3)
        .map_err(|e| Fail::new(format!("histogram: {e}")))?;
    round_trips(link, payload, n, Some(&mut times))?;
    let us = |q: f64| times.value_at_quantile(q) as f64 / 1000.0;
    Ok(Measured::Rtt {
        p50_us: us(0.50),
        p99_us: us(0.99),
        p999_us: us(0.999),
        samples: n,
    })
}

fn stream(link: &mut dyn Link, payload: &[u8], budget: &Budget) -> Result<Measured> {
    let per = calibrate(budget.warmup, |n| one_way(link, payload, n))?;
    let n = budget.iterations(per);
    let took = one_way(link, payload, n)?.as_secs_f64();
    let msgs_per_s = n as f64 / took;
    Ok(Measured::Stream {
        msgs_per_s,
        mb_per_s: msgs_per_s * payload.len() as f64 / 1e6,
        messages: n,
    })
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
