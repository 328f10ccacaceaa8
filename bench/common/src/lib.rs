//! The measurement method shared by `ipc bench` (`cli/src/bench/` on `bench/unix/`, libipc's
//! Unix transports against raw baselines) and `pipe-bench` (`bench/pipe/`, Windows named pipes).
//!
//! Both benches start one peer process, make one [`Link`] to it per system measured, and drive
//! every measurement from the bench's side:
//!
//! - [`peer`]: the text commands the peer obeys on the link being measured (`echo N`,
//!   `sink N`, `cpu`, `goto I`, `quit`), the peer's [`serve`] loop, and the bench's
//!   [`PeerLinks`], which tells the peer which link to read next.
//! - [`measure`]: the two loops (ping-pong round trips, one-way streaming), time budgets,
//!   warm-up and calibration, and [`interleave`], which runs every system's rounds at one
//!   pattern and size in turn so drift hits them all alike.
//!
//! - [`Framing`]: the raw baselines' 4-byte length prefix, over any byte stream.
//!
//! Nothing here is platform-specific: each bench brings its own raw links and, if it has one,
//! its process CPU clock ([`CpuTime`]).

mod fail;
mod frame;
mod link;
pub mod measure;
pub mod peer;
mod run;

pub use fail::{Context, Fail, Result, kind_words};
pub use frame::Framing;
pub use link::{IpcLink, Link};
pub use measure::{Budget, CpuTime, Measured, Method, Pattern, Trial};
pub use peer::{ACK, Command, PeerLinks, serve};
pub use run::{Progress, interleave};

/// A message size from the command line: bytes, or with a `k` / `m` suffix KiB / MiB; at most
/// libipc's default message limit.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let lower = text.trim().to_ascii_lowercase();
    let (digits, unit) = match lower.strip_suffix('k') {
        Some(d) => (d, 1 << 10),
        None => match lower.strip_suffix('m') {
            Some(d) => (d, 1 << 20),
            None => (lower.as_str(), 1),
        },
    };
    let size = digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("{text:?} is not a size in bytes (e.g. 64, 4k, 1m)"))?;
    if size > libipc::DEFAULT_MAX_MESSAGE_SIZE {
        return Err(format!(
            "{size} bytes is above libipc's default message limit of {} bytes",
            libipc::DEFAULT_MAX_MESSAGE_SIZE
        ));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("64"), Ok(64));
        assert_eq!(parse_size(" 4K"), Ok(4096));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert!(parse_size("x").is_err());
        assert!(parse_size("1k5").is_err());
        assert!(parse_size(&(libipc::DEFAULT_MAX_MESSAGE_SIZE + 1).to_string()).is_err());
    }
}
