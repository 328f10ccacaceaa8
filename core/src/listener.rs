//! The blocking [`Listener`]: accepts connections and hands out [`Channel`]s.
//!
//! Handshakes run on short-lived threads, so a client that connects and then says nothing (or
//! speaks the wrong protocol) never holds up other clients: it is answered with an ERROR frame
//! and dropped after the handshake timeout, and the failure is logged (`tracing`, target
//! `libipc`), while `accept` keeps returning good connections.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};

use crate::channel::Channel;
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::handshake;
use crate::options::Options;
use crate::sys::{self, WakePipe};
use crate::transport::{self, Bound};

/// A listening endpoint. Dropping it (or [`close`](Self::close)) stops listening and removes
/// its socket file, if it made one. Channels already accepted stay open.
pub struct Listener {
    bound: Bound,
    opts: Options,
    done_tx: mpsc::Sender<Channel>,
    done_rx: Mutex<mpsc::Receiver<Channel>>,
    wake: Arc<WakePipe>,
    closed: AtomicBool,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("endpoint", &self.bound.local.to_string())
            .finish()
    }
}

impl Listener {
    /// Listen at `endpoint` with default [`Options`].
    ///
    /// Errors: `InvalidEndpoint`; `AddressInUse` if a live listener answers there or the path
    /// holds something other than a socket (a stale socket file is reclaimed);
    /// `PermissionDenied`; `Unsupported` for transports not in this build.
    pub fn bind<E>(endpoint: E) -> Result<Listener>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        Listener::bind_with(endpoint, &Options::default())
    }

    /// Listen with options (socket mode, message limit, uid allow-list, handshake timeout).
    pub fn bind_with<E>(endpoint: E, opts: &Options) -> Result<Listener>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        opts.validate()?;
        let ep = endpoint.try_into()?;
        let bound = transport::bind(&ep, opts)?;
        tracing::debug!(endpoint = %bound.local, "listening");
        let (done_tx, done_rx) = mpsc::channel();
        Ok(Listener {
            bound,
            opts: opts.clone(),
            done_tx,
            done_rx: Mutex::new(done_rx),
            wake: Arc::new(WakePipe::new()?),
            closed: AtomicBool::new(false),
        })
    }

    /// The endpoint clients connect to (for `tcp://host:0`, with the port the OS picked).
    pub fn local_endpoint(&self) -> &Endpoint {
        &self.bound.local
    }

    /// Wait for the next client whose handshake succeeds.
    pub fn accept(&self) -> Result<Channel> {
        self.accept_until(None)
    }

    /// Like [`accept`](Self::accept), giving up with `Timeout` after `timeout`.
    pub fn accept_timeout(&self, timeout: Duration) -> Result<Channel> {
        self.accept_until(Some(Instant::now() + timeout))
    }

    /// An endless iterator of accepted channels (it ends only when the listener is closed).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// Stop accepting: wakes threads blocked in `accept` (they return `Closed`). The socket file
    /// is removed when the listener is dropped.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.wake();
    }

    fn accept_until(&self, deadline: Option<Instant>) -> Result<Channel> {
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::new(ErrorKind::Closed, "the listener was closed"));
            }
            if let Ok(ch) = self
                .done_rx
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .try_recv()
            {
                return Ok(ch);
            }
            let wake_fd = self.wake.fd();
            let mut fds = [
                PollFd::new(&self.bound.fd, PollFlags::IN),
                PollFd::new(&wake_fd, PollFlags::IN),
            ];
            if sys::poll(&mut fds, deadline)? == 0 {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "no client connected before the timeout",
                ));
            }
            if !fds[1].revents().is_empty() {
                self.wake.drain();
            }
            while let Some(fd) = sys::accept(self.bound.fd.as_fd())? {
                self.start_handshake(fd);
            }
        }
    }

    fn start_handshake(&self, fd: std::os::fd::OwnedFd) {
        let opts = self.opts.clone();
        let done = self.done_tx.clone();
        let wake = Arc::clone(&self.wake);
        let spawned = std::thread::Builder::new()
            .name("libipc-handshake".into())
            .spawn(move || {
                let result =
                    transport::prepare_accepted(&fd).and_then(|()| handshake::server(fd, &opts));
                match result {
                    Ok(est) => {
                        if done.send(Channel::from_established(est, &opts)).is_ok() {
                            wake.wake();
                        }
                    }
                    Err(e) => tracing::info!(error = %e, "refused a connection"),
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start a handshake thread; connection dropped");
        }
    }
}

impl AsFd for Listener {
    /// The listening socket, for readiness polling (readable: a client is waiting).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.bound.fd.as_fd()
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.bound.fd.as_raw_fd()
    }
}

/// Iterator returned by [`Listener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a Listener,
}

impl Iterator for Incoming<'_> {
    type Item = Result<Channel>;
    fn next(&mut self) -> Option<Result<Channel>> {
        match self.listener.accept() {
            Err(e) if e.kind() == ErrorKind::Closed => None,
            r => Some(r),
        }
    }
}
