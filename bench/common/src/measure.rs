//! The two measurement loops, identical for every [`Link`]: ping-pong round trips and one-way
//! streaming.
//!
//! A [`Trial`] warms up in growing batches, which also calibrates how many iterations fit in
//! the time budget; the budget is then spent in several rounds, and [`interleave`] runs the
//! rounds of every system measured at one pattern and size in turn. Scheduler placement (same
//! CPU or not, which changes round trips several-fold on small VMs) and other drift then hit
//! every system alike instead of whichever happened to run at a bad moment.
//!
//! With a CPU clock, each round is bracketed by CPU readings of both processes (see
//! [`Trial::cpu_us_per_msg`]); each round's own result is kept to see how much rounds
//! disagree ([`Trial::spread`]).
//!
//! [`interleave`]: crate::interleave

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::fail::{Fail, Result};
use crate::link::Link;
use crate::peer::{ACK, Command};

/// The CPU time (user + system) this process has used so far, all threads: each bench brings
/// its platform's clock.
pub type CpuTime = fn() -> Duration;

/// Time budgets per measurement.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    warmup: Duration,
    measure: Duration,
    pub rounds: u64,
    min_per_round: u64,
}

impl Budget {
    /// About 1.2 s per measurement: 0.2 s warm-up, then 10 rounds of 0.1 s.
    pub const FULL: Budget = Budget {
        warmup: Duration::from_millis(200),
        measure: Duration::from_millis(1000),
        rounds: 10,
        min_per_round: 20,
    };
    /// Milliseconds per measurement: proves the machinery works; the numbers mean little.
    pub const QUICK: Budget = Budget {
        warmup: Duration::from_millis(5),
        measure: Duration::from_millis(20),
        rounds: 2,
        min_per_round: 5,
    };

    /// About how long one measurement takes (warm-up and rounds).
    pub fn per_measurement(&self) -> Duration {
        self.warmup + self.measure
    }

    fn per_round(&self, per_iteration: Duration) -> u64 {
        let fit =
            self.measure.as_nanos() / per_iteration.as_nanos().max(1) / u128::from(self.rounds);
        (fit as u64).max(self.min_per_round)
    }
}

/// How to measure: the time budget, and the CPU clock if CPU time is counted (the peer must
/// then have one too, to answer `cpu`).
#[derive(Debug, Clone, Copy)]
pub struct Method {
    pub budget: Budget,
    pub cpu_time: Option<CpuTime>,
}

/// The measurement kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    Rtt,
    Stream,
}

impl Pattern {
    pub const ALL: [Pattern; 2] = [Pattern::Rtt, Pattern::Stream];

    pub fn name(self) -> &'static str {
        match self {
            Pattern::Rtt => "rtt",
            Pattern::Stream => "stream",
        }
    }
}

/// What one measurement found.
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(untagged)]
pub enum Measured {
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

impl Measured {
    /// The figure ratios compare: p50 (lower is better) or msgs/s (higher is better).
    pub fn key(self) -> f64 {
        match self {
            Measured::Rtt { p50_us, .. } => p50_us,
            Measured::Stream { msgs_per_s, .. } => msgs_per_s,
        }
    }
}

/// One measurement in progress: calibrated, accumulating over rounds.
#[derive(Debug)]
pub struct Trial {
    pattern: Pattern,
    per_round: u64,
    cpu_time: Option<CpuTime>,
    times: Histogram<u64>,
    /// This round's round-trip times (then added to `times`).
    round_times: Histogram<u64>,
    /// Per round: its p50 in microseconds (rtt) or its messages per second (stream).
    round_results: Vec<f64>,
    /// Round trips (rtt) or messages (stream) measured.
    messages: u64,
    busy: Duration,
    /// CPU time both processes used during the measured rounds.
    cpu: Duration,
}

impl Trial {
    /// Warm up `link` for `pattern` and work out how many iterations a round gets.
    pub fn start(
        pattern: Pattern,
        link: &mut dyn Link,
        payload: &[u8],
        method: &Method,
    ) -> Result<Trial> {
        let per = calibrate(method.budget.warmup, |n| match pattern {
            Pattern::Rtt => round_trips(link, payload, n, None),
            Pattern::Stream => one_way(link, payload, n),
        })?;
        let histogram = || {
            Histogram::new_with_bounds(1, 100_000_000_000, 3)
                .map_err(|e| Fail::new(format!("histogram: {e}")))
        };
        Ok(Trial {
            pattern,
            per_round: method.budget.per_round(per),
            cpu_time: method.cpu_time,
            times: histogram()?,
            round_times: histogram()?,
            round_results: Vec::new(),
            messages: 0,
            busy: Duration::ZERO,
            cpu: Duration::ZERO,
        })
    }

    /// One measured round.
    pub fn round(&mut self, link: &mut dyn Link, payload: &[u8]) -> Result {
        let n = self.per_round;
        let before = match self.cpu_time {
            Some(clock) => Some((peer_cpu(link)?, clock())),
            None => None,
        };
        let took = match self.pattern {
            Pattern::Rtt => round_trips(link, payload, n, Some(&mut self.round_times))?,
            Pattern::Stream => one_way(link, payload, n)?,
        };
        if let (Some(clock), Some((peer_before, before))) = (self.cpu_time, before) {
            let used = clock().saturating_sub(before);
            let peer_used = peer_cpu(link)?.saturating_sub(peer_before);
            self.cpu += used + peer_used;
        }
        self.busy += took;
        self.messages += n;
        self.round_results.push(match self.pattern {
            Pattern::Rtt => {
                let p50 = self.round_times.value_at_quantile(0.5) as f64 / 1000.0;
                self.times
                    .add(&self.round_times)
                    .map_err(|e| Fail::new(format!("histogram: {e}")))?;
                self.round_times.reset();
                p50
            }
            Pattern::Stream => n as f64 / took.as_secs_f64().max(1e-9),
        });
        Ok(())
    }

    /// CPU time per message, in microseconds (`None` without a CPU clock): the user + system
    /// time of both processes (this one, all its threads, and the peer) during the measured
    /// rounds, over the messages they carried; a round trip carries two. Counted: everything
    /// both processes did between the CPU readings around each round, which includes sending
    /// the round's command and, for the peer, answering one CPU reading (a few microseconds
    /// per round of thousands of messages). Not counted: warm-up, and CPU the kernel spends
    /// outside the two processes (interrupts, softirq work run on another task's time).
    pub fn cpu_us_per_msg(&self) -> Option<f64> {
        self.cpu_time?;
        let messages = match self.pattern {
            Pattern::Rtt => 2 * self.messages,
            Pattern::Stream => self.messages,
        };
        Some(self.cpu.as_secs_f64() * 1e6 / messages.max(1) as f64)
    }

    /// How much the rounds disagree: the largest per-round result over the smallest (p50 for
    /// round trips, messages per second for streaming); 1 means every round agreed.
    pub fn spread(&self) -> f64 {
        let max = self.round_results.iter().copied().fold(f64::MIN, f64::max);
        let min = self.round_results.iter().copied().fold(f64::MAX, f64::min);
        if min > 0.0 && max >= min {
            max / min
        } else {
            1.0
        }
    }

    /// The result over every round so far.
    pub fn finish(&self, size: usize) -> Measured {
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
                let msgs_per_s = self.messages as f64 / self.busy.as_secs_f64().max(1e-9);
                Measured::Stream {
                    msgs_per_s,
                    mb_per_s: msgs_per_s * size as f64 / 1e6,
                    messages: self.messages,
                }
            }
        }
    }
}

/// The peer's CPU time, asked over `link`.
fn peer_cpu(link: &mut dyn Link) -> Result<Duration> {
    link.send(Command::Cpu.encode().as_bytes())?;
    let answer = link.recv()?;
    std::str::from_utf8(answer)
        .ok()
        .and_then(|a| a.strip_prefix("cpu "))
        .and_then(|ns| ns.parse::<u64>().ok())
        .map(Duration::from_nanos)
        .ok_or_else(|| Fail::new("the peer's CPU time answer was garbled"))
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
