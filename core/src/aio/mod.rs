//! The async API on tokio: [`AsyncListener`] and [`AsyncChannel`], with the same semantics as
//! the blocking [`Listener`](crate::Listener) and [`Channel`](crate::Channel).
//!
//! Everything here must run inside a tokio runtime with I/O and time enabled
//! (`#[tokio::main]`, or a runtime built with `enable_all()`); outside one, constructors fail
//! with `InvalidArgument` instead of panicking.
//!
//! Cancellation: the `*_wait` methods take a [`Wait`](crate::Wait), as the blocking API's do
//! (a deadline and [`Cancel`](crate::Cancel) handles, which another thread or a language
//! binding fires: Node's `AbortSignal` does), and end with `Timeout` or `Cancelled` having
//! lost nothing. Besides, every future may be dropped at any `.await` without losing or corrupting
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

pub use channel::{AsyncChannel, SendNow};
pub use listener::AsyncListener;

use std::future::Future;
use std::task::Poll;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::wait::Wait;

/// A new tokio runtime for libipc's waits, as the language bindings run them (Node; the
/// uniffi bindings): multi-threaded with as many workers as usable CPUs, at most two (the
/// waits are readiness waits, not work), I/O and time enabled, threads named `libipc-aio`.
pub fn new_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(crate::sys::usable_cpus().clamp(1, 2))
        .thread_name("libipc-aio")
        .enable_all()
        .build()
        .map_err(|e| Error::from_io(&e, "starting the tokio runtime"))
}

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

/// Why [`limit`] stopped a future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Timeout,
    Cancelled,
}

impl Stop {
    fn error(self, what: &str) -> Error {
        match self {
            Stop::Timeout => elapsed(what),
            Stop::Cancelled => Error::cancelled(),
        }
    }
}

/// Run `fut` until it completes, `deadline` passes or a handle `wait` watches fires; a
/// stopped `fut` is dropped (so it must be cancellation-safe). When `fut` is ready at once,
/// nothing else is looked at.
async fn limit<F: Future>(
    fut: F,
    deadline: Option<Instant>,
    wait: Option<&Wait<'_>>,
) -> Result<std::result::Result<F::Output, Stop>> {
    let bounded = async {
        match deadline {
            None => Ok(fut.await),
            Some(d) => tokio::time::timeout_at(d, fut)
                .await
                .map_err(|_| Stop::Timeout),
        }
    };
    match wait.filter(|w| w.cancellable()) {
        None => Ok(bounded.await),
        Some(w) => tokio::select! {
            biased;
            r = bounded => Ok(r),
            c = cancelled(w) => c.map(|()| Err(Stop::Cancelled)),
        },
    }
}

/// `fut` under `wait` (its deadline and handles), as a result: `Timeout` (about `what`) or
/// `Cancelled` when stopped.
pub(crate) async fn under<T>(
    wait: &Wait<'_>,
    what: &str,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    wait.check()?;
    let deadline = wait.deadline().map(Instant::from_std);
    limit(fut, deadline, Some(wait))
        .await?
        .unwrap_or_else(|stop| Err(stop.error(what)))
}

/// Resolves when a handle `wait` watches is cancelled (by `Cancel::cancel` or a byte written
/// to its signal descriptor). Each handle's descriptor is duplicated and registered for this
/// wait alone, since a handle may be watched by several waits at once.
async fn cancelled(wait: &Wait<'_>) -> Result<()> {
    let fds = wait
        .cancels()
        .map(|c| {
            let fd = c.waker().read_dup()?;
            // SAFETY: `fd` is an `OwnedFd` the `AsyncFd` owns: open, and the same descriptor,
            // until the registration is dropped with it.
            unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(|e| {
                Error::from_io(&e.into(), "registering a cancellation handle with tokio")
            })
        })
        .collect::<Result<Vec<_>>>()?;
    std::future::poll_fn(|cx| {
        loop {
            if wait.is_cancelled() {
                return Poll::Ready(Ok(()));
            }
            let mut woke = false;
            for fd in &fds {
                match fd.poll_read_ready(cx) {
                    Poll::Ready(Ok(mut guard)) => {
                        // Fired handles stay readable until reset; this one was not (the
                        // check above), so the readiness is stale.
                        guard.clear_ready();
                        woke = true;
                    }
                    Poll::Ready(Err(e)) => {
                        return Poll::Ready(Err(Error::from_io(&e, "waiting for cancellation")));
                    }
                    Poll::Pending => {}
                }
            }
            if !woke {
                return Poll::Pending;
            }
        }
    })
    .await
}
