//! The Unix side of libipc's benches, shared by `ipc bench` (`cli/src/bench/`) and any other
//! bench that measures more systems the same way: the raw baselines, the libipc transports,
//! the peer process, load workers, the noise verdict and the report. The method itself (the
//! [`Link`](libipc_bench::Link) trait, the peer's commands, the measurement loops and
//! [`interleave`](libipc_bench::interleave)) is the platform-neutral `bench/common`
//! ([`libipc_bench`]).
//!
//! A bench run goes:
//!
//! 1. Pick the [`LinkKind`]s to measure, in row order: the raw baselines ([`Baseline`],
//!    [`BASELINES`]), the libipc transports ([`Transport`], [`TRANSPORTS`]) and any kind of
//!    its own. A kind is a row name (`system`, `transport`), the patterns it is measured
//!    with, the raw rows it is compared with, and how each process makes its side of a link:
//!    the bench's side first ([`LinkKind::bench_side`], e.g. listening), then the peer's from
//!    a `SYSTEM:TRANSPORT=ARG` argument ([`LinkKind::peer_side`], e.g. connecting), then the
//!    bench completes its side (accepting). A peer library (iceoryx2, ZeroMQ, ...) plugs in
//!    as one more kind; `tests/another_kind.rs` adds one from outside the crate, end to end.
//! 2. [`Peer::start`] makes a [`ScratchDir`]-based setup, starts the peer by re-running the
//!    bench's executable ([`Rerun`]: `current_exe()` and the bench's hidden peer
//!    subcommand), and completes every link. The peer's subcommand calls [`run_peer`] with
//!    the same kinds and the specs parsed by [`LinkSpec::parse`].
//! 3. [`Plan::run`] measures every link with each pattern and size, interleaved; optionally
//!    beside [`Load`] workers (the bench's hidden load subcommand calls
//!    [`run_load_worker`]).
//! 4. [`Noise::judge`] says how quiet the machine was; [`Report`] makes the table and the
//!    JSON (`{"load", "noise", "results": [...]}`, rows of any `system`).
//!
//! Only `raw_shm` (the raw shared-memory baselines) and the peer's claim on inherited descriptors use unsafe code.

#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod inherit;
mod kind;
mod load;
mod noise;
mod peer;
mod plan;
mod raw;
#[allow(unsafe_code)]
mod raw_shm;
mod report;
mod spawn;
mod transports;

use std::time::Duration;

pub use kind::{
    BenchSide, Finish, Inherit, LinkKind, LinkSpec, PEER_TIMEOUT, POLL_SLEEP, Setup, Started, find,
};
pub use load::{Load, default_workers, run_worker as run_load_worker};
pub use noise::{Noise, RunQueue};
pub use peer::run_peer;
pub use plan::{Outcome, Plan};
pub use raw::{BASELINES, BLOCKING, Baseline};
pub use report::{RAW, Report, Row};
pub use spawn::{Peer, PeerLink, Rerun, ScratchDir};
pub use transports::{INHERITED, TRANSPORTS, Transport};

/// CPU time (user + system) this process has used so far, all threads.
///
/// `CLOCK_PROCESS_CPUTIME_ID` is the same user + system total `getrusage` reports, read with
/// nanosecond resolution instead of `getrusage`'s microseconds (or `/proc`'s clock ticks).
pub fn cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// The monotonic clock in nanoseconds: the same clock in every process of the machine, so
/// one process's reading can be compared with another's.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec.max(0) as u64) * 1_000_000_000 + t.tv_nsec.clamp(0, 999_999_999) as u64
}

/// Every kind this crate has: the raw baselines, then the libipc transports this build can
/// measure. A peer process given these (and a bench's own kinds) can open any of their links.
pub fn kinds() -> Vec<&'static dyn LinkKind> {
    let mut kinds: Vec<&'static dyn LinkKind> = Vec::new();
    kinds.extend(BASELINES.iter().map(|b| b as &dyn LinkKind));
    kinds.extend(
        TRANSPORTS
            .iter()
            .filter(|t| t.ready)
            .map(|t| t as &dyn LinkKind),
    );
    kinds
}
