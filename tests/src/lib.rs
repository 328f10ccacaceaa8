//! Helpers for libipc's cross-process conformance suite (`tests/tests/*.rs`) and for the
//! `ipc-test-peer` helper binary the suite runs as separate processes.
//!
//! - [`api`]: the blocking and the async API behind one interface, and [`api_tests!`], which
//!   instantiates a test once per transport and API;
//! - [`transport`]: the transports the suite runs on, the [`transport_tests!`] macro that
//!   instantiates a test once per transport, and private temporary directories;
//! - [`peer`]: spawning `ipc-test-peer` ([`peer!`]), reading its output, killing it on drop;
//! - [`stream`]: checksummed message streams (sequence number + CRC-32 in every message);
//! - [`raw`]: speaking wire format v1 by hand over a plain socket, to misbehave on purpose;
//! - [`shm_raw`]: the `shm://` SETUP exchange and ring records by hand, both sides;
//! - [`shm_chaos`]: a peer that scribbles over a shared segment, and a victim that must survive it;
//! - [`watchdog`]: turns a hung test into a loud failure instead of a stuck test run.
//!
//! No test asserts a wall-clock bound: timeouts below are either the behaviour under test
//! (`recv_timeout`, the handshake timeout) or generous hang guards.

#![deny(unsafe_code)]

pub mod api;
pub mod peer;
pub mod raw;
#[cfg(unix)]
pub mod raw_fifo;
#[cfg(unix)]
pub mod shm_chaos;
#[cfg(unix)]
#[allow(unsafe_code)] // the only module that touches shared memory; every block says why
pub mod shm_raw;
pub mod stream;
pub mod transport;
pub mod watchdog;

/// The uid this process runs as.
#[cfg(unix)]
pub fn my_uid() -> u32 {
    rustix::process::getuid().as_raw()
}
