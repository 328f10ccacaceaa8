//! `ipc ping`: timed round trips against `ipc listen --echo`.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::endpoint;
use crate::fail::{Context, Fail, Result};

/// Measure round trips against `ipc listen --echo ENDPOINT`, checking every echo.
///
/// Prints the count and the min, p50, p99, p99.9 and max round-trip times in microseconds.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The echo server's endpoint.
    endpoint: String,
    /// Number of round trips.
    #[arg(short = 'n', long = "count", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    /// Message size in bytes.
    #[arg(short, long, default_value_t = 64)]
    size: usize,
    /// Give up if an echo takes longer than this many seconds.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    timeout: Duration,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

pub fn run(args: Args) -> Result {
    let channel = endpoint::connect(&args.endpoint)?;
    let mut payload: Vec<u8> = (0..args.size).map(|i| (i % 251) as u8).collect();
    let mut times = Histogram::<u64>::new_with_bounds(1, 100_000_000_000, 3)
        .map_err(|e| Fail::new(format!("histogram: {e}")))?;
    let (mut min, mut max) = (Duration::MAX, Duration::ZERO);
    for i in 0..args.count {
        // Stamp the sequence number so a stale or reordered echo cannot pass for this one.
        let stamp = i.to_le_bytes();
        let n = stamp.len().min(payload.len());
        payload[..n].copy_from_slice(&stamp[..n]);
        let start = Instant::now();
        channel.send(&payload).context("sending")?;
        let echo = match channel.recv_timeout(args.timeout) {
            Err(e) if e.kind() == libipc::ErrorKind::Timeout => {
                return Err(Fail::new(format!(
                    "round trip {}: no echo within {:?}; is the peer `ipc listen --echo`?",
                    i + 1,
                    args.timeout
                )));
            }
            r => r.context("waiting for the echo")?,
        };
        let rtt = start.elapsed();
        if *echo != *payload {
            return Err(Fail::new(format!(
                "round trip {}: the echo differs from what was sent ({} bytes back, {} sent); is \
                 the peer `ipc listen --echo`?",
                i + 1,
                echo.len(),
                payload.len()
            )));
        }
        times.saturating_record(rtt.as_nanos().max(1) as u64);
        min = min.min(rtt);
        max = max.max(rtt);
    }
    channel.close();
    let us = |ns: u64| ns as f64 / 1000.0;
    println!(
        "{} round trips of {} B to {}, times in microseconds",
        args.count, args.size, args.endpoint
    );
    println!(
        "count {}  min {:.2}  p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        args.count,
        min.as_nanos() as f64 / 1000.0,
        us(times.value_at_quantile(0.50)),
        us(times.value_at_quantile(0.99)),
        us(times.value_at_quantile(0.999)),
        max.as_nanos() as f64 / 1000.0,
    );
    Ok(())
}
