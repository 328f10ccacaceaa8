//! # libipc
//!
//! Message channels between processes, over Unix domain sockets, TCP and shared memory on
//! Unix, and named pipes on Windows, with one documented, versioned wire format
//! (`docs/wire-format.md`) that every language binding speaks.
//!
//! - [`Endpoint`] strings name where to listen or connect (`unix:///path`, `unix:@name`,
//!   `tcp://host:port`, `shm://name`, `pipe://name` (Windows), or a bare name: on Unix a
//!   socket in a private per-user directory, on Windows a named pipe).
//! - Over `shm://`, [`Channel::send_with`] and [`Channel::recv_with`] write and read messages
//!   in place in the shared ring ([`WriteBuf`], [`ReadBuf`]); [`Channel::reserve`] and
//!   [`Channel::recv_in_place`] do the same with guards ([`SendSlot`], [`RecvSlot`]).
//! - A [`Channel`] is pollable (`AsFd`, Unix): after a receive returns `Timeout`, its
//!   descriptor becomes readable when there is something to receive.
//! - [`Listener`] and [`Channel`] are the blocking API; [`aio`] has the same on tokio (Unix; the
//!   default-on `tokio` feature; without it the crate does not depend on tokio).
//! - Every blocking call can also be given a [`Wait`]: a deadline and a [`Cancel`] handle that
//!   interrupts it from another thread or a signal handler, losing nothing.
//! - [`SendSlot`] and [`RecvSlot`] are owned (`'static`, `Send`): what language bindings hold.
//! - Every failure is an [`Error`] with a stable [`ErrorKind`]; [`ErrorKind::ALL`] and
//!   [`Options::TABLE`] are the one table of each that every binding follows.
//!
//! ```no_run
//! use libipc::{Channel, Listener};
//! # fn main() -> libipc::Result<()> {
//! let listener = Listener::bind("demo")?;
//! std::thread::spawn(move || {
//!     for ch in listener.incoming().flatten() {
//!         for msg in ch.iter().flatten() {
//!             ch.send(&msg).ok(); // echo
//!         }
//!     }
//! });
//! let ch = Channel::connect("demo")?;
//! ch.send(b"ping")?;
//! assert_eq!(&*ch.recv()?, b"ping");
//! # Ok(()) }
//! ```
//!
//! Diagnostics go through `tracing` under the `libipc` target and are silent unless the
//! application installs a subscriber (the `ipc` CLI does when `LIBIPC_LOG` is set).

#![warn(missing_docs)]

mod acceptor;
#[cfg(all(feature = "tokio", unix))]
pub mod aio;
mod buf;
mod channel;
mod conn;
pub mod endpoint;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod link;
mod listener;
mod options;
pub mod pubsub;
pub mod rpc;
#[cfg(unix)]
mod shm;
mod slot;
pub mod spawn;
mod spin;
mod sys;
mod transport;
mod wait;
pub mod wire;

pub use buf::{ReadBuf, WriteBuf};
pub use channel::{Channel, Messages};
pub use conn::{Message, PeerCredentials};
pub use endpoint::Endpoint;
pub use error::{Error, ErrorKind, Result};
pub use listener::{Incoming, Listener};
pub use options::{
    DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_SHM_RING_SIZE, DEFAULT_SHM_SPIN, DEFAULT_STREAM_SPIN,
    OptionInfo, OptionValue, Options, Scope,
};
pub use slot::{RecvSlot, SendSlot};
pub use spin::Spinner;
pub use wait::{Cancel, Wait};
