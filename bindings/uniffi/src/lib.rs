//! libipc for Kotlin and Swift through uniffi (proc-macro exports, no UDL): a thin layer over
//! the core's owned async handles (`libipc::aio`). Objects are `Arc`s of `Send + Sync`
//! structs holding core handles; no lifetime is borrowed across the boundary.
//!
//! Every wait runs on the core's tokio runtime (`libipc::aio::new_runtime`, one per process):
//! the `async` methods enter it each time they are polled (`InRuntime`), so the foreign
//! executor (Kotlin coroutines, Swift tasks) drives them while tokio's reactor and timers are
//! the core's; the blocking variants `block_on` the same runtime. Calls are cancelled through
//! a `CancelHandle`, the core's cancellation handle: uniffi's generated async code ignores a
//! Swift `Task`'s cancellation, and on a Kotlin coroutine's it drops the Rust future together
//! with a message it may just have taken. So the handwritten `receive` / `acceptClient`
//! wrappers (bindings/kotlin, bindings/swift) fire the handle instead, and give back
//! (`put_back`) a message taken just as the caller was cancelled.

mod errors;
mod options;
mod pubsub;
mod rpc;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;

use libipc::aio::{AsyncChannel, AsyncListener};
use libipc::{Cancel, Wait};

pub use errors::IpcError;
pub use options::IpcOptions;
pub use pubsub::{Delivery, Overflow, Publisher, PublisherPolicy, PublisherStats, Subscriber};
pub use rpc::{RpcClient, RpcConnection, RpcReply, RpcRequest, RpcServer};

uniffi::setup_scaffolding!("libipc");

/// The core's runtime, started on first use.
static RUNTIME: LazyLock<Result<tokio::runtime::Runtime, libipc::Error>> =
    LazyLock::new(libipc::aio::new_runtime);

fn runtime() -> Result<&'static tokio::runtime::Runtime, IpcError> {
    RUNTIME.as_ref().map_err(IpcError::from)
}

/// Polls its future inside the core's runtime (for its reactor and timers), from whatever
/// executor awaits it.
struct InRuntime<F>(Pin<Box<F>>);

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _entered = RUNTIME.as_ref().ok().map(|rt| rt.enter());
        self.0.as_mut().poll(cx)
    }
}

async fn in_runtime<T>(fut: impl Future<Output = libipc::Result<T>> + Send) -> Result<T, IpcError> {
    runtime()?;
    InRuntime(Box::pin(fut)).await.map_err(IpcError::from)
}

/// A blocking call's wait: `timeout_ms` (none: no limit) and a cancellation handle.
fn wait_for(timeout_ms: Option<u64>, cancel: Option<&CancelHandle>) -> Wait<'_> {
    let w = match timeout_ms {
        Some(ms) => Wait::timeout(Duration::from_millis(ms)),
        None => Wait::forever(),
    };
    match cancel {
        Some(c) => w.or_cancel(&c.cancel),
        None => w,
    }
}

/// The core's cancellation handle: `cancel()` from any thread ends the blocking calls given
/// it with `IpcError.Cancelled`, having lost nothing, until `reset()`.
#[derive(Debug, uniffi::Object)]
pub struct CancelHandle {
    cancel: Cancel,
}

#[uniffi::export]
impl CancelHandle {
    /// A new handle, not cancelled.
    #[uniffi::constructor]
    pub fn new() -> Result<Arc<Self>, IpcError> {
        Ok(Arc::new(CancelHandle {
            cancel: Cancel::new()?,
        }))
    }

    /// Cancel (idempotent; any thread).
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Whether it is cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Make it usable again.
    pub fn reset(&self) {
        self.cancel.reset();
    }
}

/// The peer process's credentials (`None` where the transport does not tell: TCP).
#[derive(Debug, Clone, uniffi::Record)]
pub struct PeerCredentials {
    pub pid: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// A connected message channel: message boundaries kept, in order, with backpressure.
#[derive(Debug, uniffi::Object)]
pub struct Channel {
    ch: AsyncChannel,
}

#[uniffi::export]
impl Channel {
    /// Send one message, waiting while the peer is not reading; `cancel` ends the wait with
    /// `Cancelled` (nothing of the message sent, or, once part of it went, the rest still
    /// goes first and the call succeeds).
    #[uniffi::method(default(cancel = None))]
    pub async fn send(
        &self,
        data: Vec<u8>,
        cancel: Option<Arc<CancelHandle>>,
    ) -> Result<(), IpcError> {
        let ch = self.ch.clone();
        in_runtime(async move {
            let wait = wait_for(None, cancel.as_deref());
            ch.send_wait(&data, wait).await
        })
        .await
    }

    /// Receive the next message; `cancel` ends the wait with `Cancelled`. Either that or
    /// dropping the call (a cancelled coroutine) loses nothing: the next receive gets the
    /// message.
    #[uniffi::method(default(cancel = None))]
    pub async fn recv(&self, cancel: Option<Arc<CancelHandle>>) -> Result<Vec<u8>, IpcError> {
        let ch = self.ch.clone();
        in_runtime(async move {
            let wait = wait_for(None, cancel.as_deref());
            ch.recv_wait(wait).await.map(libipc::Message::into_vec)
        })
        .await
    }

    /// Send, blocking the calling thread at most `timeout_ms` (`Timeout`: nothing sent) or
    /// until `cancel` fires (`Cancelled`).
    pub fn send_blocking(
        &self,
        data: Vec<u8>,
        timeout_ms: Option<u64>,
        cancel: Option<Arc<CancelHandle>>,
    ) -> Result<(), IpcError> {
        let rt = runtime()?;
        let wait = wait_for(timeout_ms, cancel.as_deref());
        Ok(rt.block_on(self.ch.send_wait(&data, wait))?)
    }

    /// Receive, blocking the calling thread at most `timeout_ms` (`Timeout`) or until
    /// `cancel` fires (`Cancelled`); neither loses a message.
    pub fn recv_blocking(
        &self,
        timeout_ms: Option<u64>,
        cancel: Option<Arc<CancelHandle>>,
    ) -> Result<Vec<u8>, IpcError> {
        let rt = runtime()?;
        let wait = wait_for(timeout_ms, cancel.as_deref());
        Ok(rt.block_on(self.ch.recv_wait(wait))?.into_vec())
    }

    /// Give a received message back, first in line for the next receive (for a caller that
    /// was cancelled just as its receive completed: the Kotlin `receive()` does this).
    pub fn put_back(&self, data: Vec<u8>) {
        self.ch.put_back(libipc::Message::from(data));
    }

    /// A message already there, or `None`; never waits.
    pub fn try_recv(&self) -> Result<Option<Vec<u8>>, IpcError> {
        Ok(self.ch.recv_now(false)?.map(libipc::Message::into_vec))
    }

    /// Close in an orderly way: what is still to go is sent, then the peer's receive ends
    /// with `Closed`. Pending calls here end with `Closed`. Idempotent. (Releasing the object
    /// also closes it, without waiting.)
    pub fn shutdown(&self) -> Result<(), IpcError> {
        let rt = runtime()?;
        rt.block_on(self.ch.close());
        Ok(())
    }

    /// The peer process's credentials.
    pub fn peer(&self) -> PeerCredentials {
        let p = self.ch.peer();
        PeerCredentials {
            pid: p.pid,
            uid: p.uid,
            gid: p.gid,
        }
    }

    /// The largest message `send` accepts (the smaller of both sides' limits).
    pub fn max_message_size(&self) -> u64 {
        self.ch.max_message_size() as u64
    }
}

/// A listening endpoint. Handshakes run in the background, so a silent client never holds up
/// the others.
#[derive(Debug, uniffi::Object)]
pub struct Listener {
    listener: Arc<AsyncListener>,
}

#[uniffi::export]
impl Listener {
    /// Listen at `endpoint` (`unix:///path`, `tcp://host:port`, `shm://name`, ...).
    #[uniffi::constructor]
    pub fn bind(endpoint: String, options: Option<IpcOptions>) -> Result<Arc<Self>, IpcError> {
        let opts = options.unwrap_or_default().to_core()?;
        Ok(Arc::new(Listener {
            listener: Arc::new(AsyncListener::bind_now(endpoint.as_str(), &opts)?),
        }))
    }

    /// The endpoint clients connect to (the real port for `tcp://...:0`).
    pub fn endpoint(&self) -> String {
        self.listener.local_endpoint().to_string()
    }

    /// The next client whose handshake succeeded; `cancel` ends the wait with `Cancelled`.
    /// Neither that nor dropping the call loses a client.
    #[uniffi::method(default(cancel = None))]
    pub async fn accept(
        &self,
        cancel: Option<Arc<CancelHandle>>,
    ) -> Result<Arc<Channel>, IpcError> {
        let l = Arc::clone(&self.listener);
        let ch = in_runtime(async move {
            let wait = wait_for(None, cancel.as_deref());
            l.accept_wait(wait).await
        })
        .await?;
        Ok(Arc::new(Channel { ch }))
    }

    /// Accept, blocking the calling thread at most `timeout_ms` or until `cancel` fires.
    pub fn accept_blocking(
        &self,
        timeout_ms: Option<u64>,
        cancel: Option<Arc<CancelHandle>>,
    ) -> Result<Arc<Channel>, IpcError> {
        let rt = runtime()?;
        let wait = wait_for(timeout_ms, cancel.as_deref());
        let ch = rt.block_on(self.listener.accept_wait(wait))?;
        Ok(Arc::new(Channel { ch }))
    }

    /// Stop listening: the socket (file) goes away, pending accepts end with `Closed`.
    pub fn shutdown(&self) {
        self.listener.close();
    }
}

/// Connect to a listener at `endpoint`.
#[uniffi::export]
pub async fn connect(
    endpoint: String,
    options: Option<IpcOptions>,
) -> Result<Arc<Channel>, IpcError> {
    let opts = options.unwrap_or_default().to_core()?;
    let ch = in_runtime(async move { AsyncChannel::connect_with(endpoint.as_str(), &opts).await })
        .await?;
    Ok(Arc::new(Channel { ch }))
}

/// Connect, blocking the calling thread (within the connect timeout of `options`).
#[uniffi::export]
pub fn connect_blocking(
    endpoint: String,
    options: Option<IpcOptions>,
) -> Result<Arc<Channel>, IpcError> {
    let rt = runtime()?;
    let opts = options.unwrap_or_default().to_core()?;
    let ch = rt.block_on(AsyncChannel::connect_with(endpoint.as_str(), &opts))?;
    Ok(Arc::new(Channel { ch }))
}

/// One row of the core's error table: an `IpcError` variant's name and its number (as in the
/// C API and on the wire).
#[derive(Debug, Clone, uniffi::Record)]
pub struct ErrorCode {
    pub name: String,
    pub code: u16,
}

/// The core's error table, in code order.
#[uniffi::export]
pub fn error_codes() -> Vec<ErrorCode> {
    libipc::ErrorKind::ALL
        .iter()
        .map(|k| ErrorCode {
            name: k.name().to_owned(),
            code: k.code(),
        })
        .collect()
}
