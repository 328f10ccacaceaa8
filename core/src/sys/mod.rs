//! Platform code, chosen by `cfg` in this one place: everything libipc asks of the operating
//! system goes through here, and `io::Error` / errno values never leave it (callers get
//! [`crate::Error`]).
//!
//! # The contract
//!
//! Every backend (`unix/`, `windows/`) provides exactly the items
//! re-exported below; a backend that lacks one, or gives it another signature, fails to
//! compile (the `const _` lines check the signatures of the free functions, and the
//! platform-neutral code above this layer calls every method listed here).
//!
//! - **Runtime directory** for bare names: [`runtime_dir`], [`ensure_private_dir`],
//!   [`check_private_dir`].
//! - **Streams**: a connected duplex byte stream, [`Stream`] (non-blocking: `read`, `write`,
//!   `write_now`; `read_source` / `write_source` to wait on; `peer_credentials`, `peer_groups`;
//!   `shutdown_write`, `hang_up`, `settled` (nothing of ours still in flight), `drain`), and
//!   [`StreamListener`] (`try_accept`, `wait` until something can be accepted or a [`Waker`]
//!   fires). Made by [`bind_local`] / [`connect_local`] (local sockets: a path or an abstract
//!   name, [`LocalAddr`]; a bound path is a [`SocketFile`], removed when dropped if still
//!   ours) and [`bind_tcp`] / [`connect_tcp`], and [`bind_pipe`] / [`connect_pipe`] (Windows
//!   named pipes). A backend without one of these kinds gives `Unsupported`, saying what to
//!   use instead (Windows: Unix sockets, TCP for now; Unix: named pipes).
//! - **Waiting**: [`wait_any`] on several [`Source`]s and up to two [`Waker`]s (the
//!   cancellation primitive: any thread, or a signal handler, can fire it), with a deadline;
//!   [`readiness_set`] (Unix: one descriptor readable while any of several is);
//!   [`usable_cpus`] and [`yield_now`] for the adaptive spinner.
//! - **Parent and child**: [`stream_pair`] (two connected streams), [`inherit_token`] (what
//!   a child is told to open its end with), [`keep_across_exec`] (a `Command` keeps that end
//!   open in the child it starts, and only there), [`adopt_inherited`] (the child takes the
//!   end named by the token, after checking it; it is close-on-exec from then on), and on Unix
//!   [`adopt_fd`] (a stream of a descriptor the caller owns). Windows: `Unsupported` for now.
//! - **Shared memory** ([`shm`], Unix backends): sealed memfds (or the POSIX fallback) and
//!   their mappings, eventfd doorbells, and passing descriptors over a local socket.
//! - **FIFOs** ([`fifo`], Unix backends): `bind_fifo` (a rendezvous FIFO, a
//!   `fifo::FifoListener` with `try_accept` / `wait` like [`StreamListener`], and its file, a
//!   [`SocketFile`]) and `connect_fifo`, giving [`Stream`]s over two FIFOs.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as imp;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as imp;

mod ready;

#[cfg(not(any(unix, windows)))]
compile_error!("libipc supports Unix and Windows platforms only");

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::Result;

// Runtime directory.
pub(crate) use imp::{check_private_dir, ensure_private_dir, runtime_dir};
// The uid this process runs as (Unix only: Windows names users by SID).
#[cfg(unix)]
pub(crate) use imp::current_uid;
// Streams and listeners.
pub(crate) use imp::{
    LocalAddr, SocketFile, Stream, StreamListener, bind_local, bind_pipe, bind_tcp, connect_local,
    connect_pipe, connect_tcp,
};
// Waiting.
#[cfg(unix)]
pub(crate) use imp::readiness_set;
pub(crate) use imp::{Source, Waker, usable_cpus, wait_any, yield_now};
pub(crate) use ready::Ready;
// Memory given back to the system when dropped.
pub(crate) use imp::Scratch;
// Shared memory.
#[cfg(unix)]
pub(crate) use imp::shm;
// Parent and child (a socket pair, one end inherited by a child process).
#[cfg(unix)]
pub(crate) use imp::adopt_fd;
pub(crate) use imp::{adopt_inherited, inherit_token, keep_across_exec, stream_pair};
// FIFOs.
#[cfg(unix)]
pub(crate) use imp::fifo;

// The signatures every backend must match.
#[allow(clippy::type_complexity)]
mod signatures {
    use super::*;
    const _: fn() -> Result<PathBuf> = imp::runtime_dir;
    const _: fn(&Path) -> Result<()> = imp::ensure_private_dir;
    const _: fn(&Path) -> Result<()> = imp::check_private_dir;
    const _: fn(&LocalAddr, u32) -> Result<(StreamListener, Option<SocketFile>)> = imp::bind_local;
    const _: fn(&LocalAddr, Option<Duration>) -> Result<Stream> = imp::connect_local;
    const _: fn(&str, u16) -> Result<(StreamListener, u16)> = imp::bind_tcp;
    const _: fn(&str, u16, Option<Duration>) -> Result<Stream> = imp::connect_tcp;
    const _: fn(&str) -> Result<StreamListener> = imp::bind_pipe;
    const _: fn(&str, Option<Duration>) -> Result<Stream> = imp::connect_pipe;
    const _: fn(&[Source], [Option<&Waker>; 2], Option<Instant>) -> Result<Ready> = imp::wait_any;
    const _: fn() -> usize = imp::usable_cpus;
    const _: fn() = imp::yield_now;

    // Parent and child.
    const _: fn() -> Result<(Stream, Stream)> = imp::stream_pair;
    const _: fn(&Stream) -> String = imp::inherit_token;
    const _: fn(&mut std::process::Command, &Stream) = imp::keep_across_exec;
    const _: fn(&str) -> Result<Stream> = imp::adopt_inherited;
    #[cfg(unix)]
    const _: fn(std::os::fd::OwnedFd) -> Result<Stream> = imp::adopt_fd;

    // FIFOs.
    #[cfg(unix)]
    const _: fn(&Path, u32) -> Result<(fifo::FifoListener, SocketFile)> = fifo::bind_fifo;
    #[cfg(unix)]
    const _: fn(
        &Path,
        Option<Duration>,
        &dyn Fn(&crate::conn::PeerCredentials) -> Result<()>,
    ) -> Result<Stream> = fifo::connect_fifo;
}
