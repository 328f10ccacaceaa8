//! The async API on tokio: [`AsyncListener`] and [`AsyncChannel`], with the same semantics as
//! the blocking [`Listener`](crate::Listener) and [`Channel`](crate::Channel).
//!
//! Everything here must run inside a tokio runtime with I/O and time enabled
//! (`#[tokio::main]`, or a runtime built with `enable_all()`); outside one, constructors fail
//! with `InvalidArgument` instead of panicking.
//!
//! Cancellation: every future may be dropped at any `.await` without losing or corrupting
//! anything. A cancelled `recv` keeps any partly received message for the next call. A
//! cancelled `send` either sent nothing of its message, or its message is completed by the
//! next `send` or `close` on the channel (frames are never left half-written); call
//! [`AsyncChannel::close`] before dropping a channel to be sure everything went out.
//!
//! ```no_run
//! use libipc::aio::{AsyncChannel, AsyncListener};
//! # async fn demo() -> libipc::Result<()> {
//! let listener = AsyncListener::bind("tcp://127.0.0.1:0").await?;
//! let endpoint = listener.local_endpoint().to_string();
//! tokio::spawn(async move {
//!     while let Ok(ch) = listener.accept().await {
//!         tokio::spawn(async move {
//!             while let Ok(msg) = ch.recv().await {
//!                 if ch.send(&msg).await.is_err() { break; }
//!             }
//!         });
//!     }
//! });
//! let ch = AsyncChannel::connect(endpoint.as_str()).await?;
//! ch.send(b"ping").await?;
//! assert_eq!(&*ch.recv().await?, b"ping");
//! ch.close().await;
//! # Ok(()) }
//! ```

mod channel;
mod listener;

pub use channel::AsyncChannel;
pub use listener::AsyncListener;

use crate::error::{Error, ErrorKind, Result};

/// Fail cleanly (rather than panic inside tokio) when called outside a runtime.
fn require_runtime() -> Result<()> {
    tokio::runtime::Handle::try_current()
        .map(|_| ())
        .map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                "libipc::aio must be used inside a tokio runtime with I/O and time enabled",
            )
        })
}

fn elapsed(what: &str) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("{what} did not complete before the timeout"),
    )
}
