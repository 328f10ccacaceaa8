//! [`AsyncListener`]: the tokio twin of [`Listener`](crate::Listener).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Notify, mpsc};

use super::{AsyncChannel, elapsed, require_runtime, under};
use crate::acceptor::Acceptor;
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::link::Link;
use crate::options::Options;
use crate::sys::SocketFile;
use crate::transport;
use crate::wait::Wait;

/// A listening endpoint for async code. Handshakes run in the background (as for
/// [`Listener`](crate::Listener)), so a silent or broken client never delays others and
/// `connect` completes before `accept` is called. [`close`](AsyncListener::close) it, or drop
/// it, to stop listening and remove its socket file.
pub struct AsyncListener {
    ready: Mutex<mpsc::UnboundedReceiver<Arc<dyn Link>>>,
    local: Endpoint,
    closed: Arc<AtomicBool>,
    wake: Notify,
    acceptor: Acceptor,
    /// Taken (and so removed) by `close`, after the listening socket is closed.
    file: std::sync::Mutex<Option<SocketFile>>,
}

impl fmt::Debug for AsyncListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncListener")
            .field("endpoint", &self.local.to_string())
            .finish()
    }
}

fn closed_error() -> Error {
    Error::new(ErrorKind::Closed, "the listener was closed")
}

impl AsyncListener {
    /// Listen at `endpoint` with default options. Errors as [`Listener::bind`](crate::Listener::bind).
    pub async fn bind<E>(endpoint: E) -> Result<AsyncListener>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        AsyncListener::bind_with(endpoint, &Options::default()).await
    }

    /// Listen with options.
    pub async fn bind_with<E>(endpoint: E, opts: &Options) -> Result<AsyncListener>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        require_runtime()?;
        opts.validate()?;
        let ep = endpoint.try_into()?;
        let t = transport::for_endpoint(&ep)?;
        let opts = transport::listener_options(&ep, opts);
        let opts2 = opts.clone();
        // Binding may probe a stale socket file: keep it off the async worker.
        let bound = tokio::task::spawn_blocking(move || t.bind(&ep, &opts2))
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("bind task failed: {e}")))??;
        AsyncListener::start(bound, t, &opts)
    }

    /// Listen at once, on the calling thread, which may block for a moment (binding may probe
    /// a stale socket file, as [`Listener::bind`](crate::Listener::bind) does). Needs no
    /// runtime (accepting does): for a binding whose `listen` is synchronous (Node).
    pub fn bind_now<E>(endpoint: E, opts: &Options) -> Result<AsyncListener>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        opts.validate()?;
        let ep = endpoint.try_into()?;
        let t = transport::for_endpoint(&ep)?;
        let opts = transport::listener_options(&ep, opts);
        let bound = t.bind(&ep, &opts)?;
        AsyncListener::start(bound, t, &opts)
    }

    fn start(
        bound: transport::Bound,
        t: &'static dyn transport::Transport,
        opts: &Options,
    ) -> Result<AsyncListener> {
        let transport::Bound {
            listener,
            local,
            file,
        } = bound;
        let (tx, rx) = mpsc::unbounded_channel();
        let closed = Arc::new(AtomicBool::new(false));
        let open = Arc::clone(&closed);
        // After close, handshakes that finish are dropped (the client sees the connection end).
        let deliver = Box::new(move |link| !open.load(Ordering::Acquire) && tx.send(link).is_ok());
        let acceptor = Acceptor::start(listener, t, opts.clone(), deliver)?;
        Ok(AsyncListener {
            ready: Mutex::new(rx),
            local,
            closed,
            wake: Notify::new(),
            acceptor,
            file: std::sync::Mutex::new(file),
        })
    }

    /// The endpoint clients connect to.
    pub fn local_endpoint(&self) -> &Endpoint {
        &self.local
    }

    /// Wait for the next client whose handshake succeeded. Cancellation-safe.
    pub async fn accept(&self) -> Result<AsyncChannel> {
        let closed = self.wake.notified();
        if self.closed.load(Ordering::Acquire) {
            return Err(closed_error());
        }
        let mut ready = self.ready.lock().await;
        let link = tokio::select! {
            link = ready.recv() => link,
            () = closed => None,
        };
        match link {
            Some(link) if !self.closed.load(Ordering::Acquire) => {
                self.acceptor.taken();
                AsyncChannel::from_link(link)
            }
            _ => {
                // Closed (perhaps while we held the queue, so `close` could not empty it).
                ready.close();
                while ready.try_recv().is_ok() {}
                Err(closed_error())
            }
        }
    }

    /// Accept within `wait`: `Timeout` when its deadline passes, `Cancelled` when one of its
    /// handles fires; a client whose handshake is done is never lost (the next accept gets
    /// it).
    pub async fn accept_wait(&self, wait: Wait<'_>) -> Result<AsyncChannel> {
        under(&wait, "accept", self.accept()).await
    }

    /// Like [`accept`](Self::accept), giving up with `Timeout` after `timeout`.
    pub async fn accept_timeout(&self, timeout: Duration) -> Result<AsyncChannel> {
        tokio::time::timeout(timeout, self.accept())
            .await
            .map_err(|_| elapsed("accept"))?
    }

    /// Stop listening, as [`Listener::close`](crate::Listener::close): when this returns, the
    /// listening socket is closed (clients are refused with `NotFound`) and the socket file is
    /// removed; pending and later `accept` calls return `Closed`. It waits for the background
    /// acceptor thread to end, which takes at most a moment (that thread never waits on the
    /// runtime). Idempotent; dropping the listener closes it.
    pub fn close(&self) {
        // The listening socket and its file go first: a pending `accept` woken by this close
        // may end its program at once, and must not leave the file behind.
        self.acceptor.shutdown();
        drop(self.file.lock().unwrap_or_else(|p| p.into_inner()).take());
        self.closed.store(true, Ordering::Release);
        self.wake.notify_waiters();
        // Connections handshaken but not accepted are dropped now, not left hanging.
        if let Ok(mut ready) = self.ready.try_lock() {
            ready.close();
            while ready.try_recv().is_ok() {}
        }
    }
}

impl Drop for AsyncListener {
    fn drop(&mut self) {
        self.close();
    }
}
