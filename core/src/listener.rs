//! The blocking [`Listener`]: accepts connections and hands out [`Channel`]s.
//!
//! A background acceptor (see `acceptor.rs`) runs handshakes as clients arrive, so a client that
//! connects and then says nothing (or speaks the wrong protocol) never holds up others: it is
//! answered with an ERROR frame and dropped after the handshake timeout, the failure is logged
//! (`tracing`, target `libipc`), and `accept` keeps returning good connections. `connect`
//! completes even before `accept` is called.
//!
//! [`Listener::close`] is synchronous: it stops and joins the acceptor (which owns, and so
//! closes, the listening socket) and then removes the socket file. It never holds the queue lock
//! while joining, and the acceptor thread takes no lock, so it cannot deadlock.

use std::collections::VecDeque;
use std::fmt;
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::acceptor::Acceptor;
use crate::channel::Channel;
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::link::Link;
use crate::options::Options;
use crate::sys::{self, SocketFile, Waker};
use crate::transport;
use crate::wait::Wait;

#[derive(Debug, Default)]
struct Queue {
    ready: VecDeque<Arc<dyn Link>>,
    closed: bool,
}

#[derive(Debug)]
struct Inbox {
    queue: Mutex<Queue>,
    /// Fired while connections wait to be accepted (one byte per connection), and for good
    /// once the listener is closed.
    signal: Waker,
}

/// A listening endpoint. [`close`](Listener::close) it, or drop it, to stop listening and
/// remove its socket file, if it made one. Channels already accepted stay open.
pub struct Listener {
    inbox: Arc<Inbox>,
    local: Endpoint,
    acceptor: Acceptor,
    /// Taken (and so removed) by `close`, after the listening socket is closed.
    file: Mutex<Option<SocketFile>>,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("endpoint", &self.local.to_string())
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
        let t = transport::for_endpoint(&ep)?;
        let transport::Bound {
            listener,
            local,
            file,
        } = t.bind(&ep, opts)?;
        tracing::debug!(endpoint = %local, "listening");
        let inbox = Arc::new(Inbox {
            queue: Mutex::default(),
            signal: Waker::new()?,
        });
        let sink = Arc::clone(&inbox);
        let deliver = Box::new(move |link| {
            let mut q = sink.queue.lock().unwrap_or_else(|p| p.into_inner());
            if q.closed {
                return false;
            }
            q.ready.push_back(link);
            sink.signal.wake();
            true
        });
        let acceptor =
            Acceptor::start(listener, t, transport::listener_options(&ep, opts), deliver)?;
        Ok(Listener {
            inbox,
            local,
            acceptor,
            file: Mutex::new(file),
        })
    }

    /// The endpoint clients connect to (for `tcp://host:0`, with the port the OS picked).
    pub fn local_endpoint(&self) -> &Endpoint {
        &self.local
    }

    /// Wait for the next client whose handshake succeeded.
    pub fn accept(&self) -> Result<Channel> {
        self.accept_wait(Wait::forever())
    }

    /// Like [`accept`](Self::accept), giving up with `Timeout` after `timeout`.
    pub fn accept_timeout(&self, timeout: Duration) -> Result<Channel> {
        self.accept_wait(Wait::timeout(timeout))
    }

    /// An endless iterator of accepted channels (it ends only when the listener is closed).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// Stop listening. When this returns:
    ///
    /// - the listening socket is closed, so a client connecting now is refused (`NotFound`, on
    ///   every transport), and the background acceptor thread has ended;
    /// - the socket file is removed, if this listener made it and it is still the same file;
    /// - `accept`, including calls blocked in other threads, returns `Closed`.
    ///
    /// Connections handshaken but not yet accepted are dropped, as are handshakes still under
    /// way when they finish (those clients see the connection end). Channels already accepted
    /// stay open. Idempotent and callable from any thread; dropping the listener closes it.
    pub fn close(&self) {
        let dropped = {
            let mut q = self.inbox.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.closed = true;
            self.inbox.signal.drain();
            // Stays fired: every waiting `accept` wakes and sees `closed`.
            self.inbox.signal.wake();
            std::mem::take(&mut q.ready)
        };
        drop(dropped);
        // Not under the queue lock (handshake threads deliver through it).
        self.acceptor.shutdown();
        // The socket is closed: now the name can go (only if it is still ours).
        drop(self.file.lock().unwrap_or_else(|p| p.into_inner()).take());
    }

    /// Wait for the next client whose handshake succeeded, as `wait` allows (`Timeout`,
    /// `Cancelled`: nothing was taken).
    pub fn accept_wait(&self, wait: Wait<'_>) -> Result<Channel> {
        loop {
            {
                let mut q = self.inbox.queue.lock().unwrap_or_else(|p| p.into_inner());
                if q.closed {
                    return Err(Error::new(ErrorKind::Closed, "the listener was closed"));
                }
                if let Some(link) = q.ready.pop_front() {
                    self.inbox.signal.take_one();
                    drop(q);
                    self.acceptor.taken();
                    return Ok(Channel::from_link(link));
                }
            }
            wait.check()?;
            if wait.expired() {
                return Err(Error::timeout("no client connected before the timeout"));
            }
            let ready = sys::wait_any(
                &[self.inbox.signal.source()],
                wait.wakers(),
                wait.deadline(),
            )?;
            if ready.cancelled() {
                return Err(Error::cancelled());
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(unix)]
impl AsFd for Listener {
    /// Readable while at least one connection is waiting to be accepted: poll it from an event
    /// loop, then call [`accept_timeout`](Listener::accept_timeout) with a zero timeout.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inbox.signal.fd()
    }
}

#[cfg(unix)]
impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.inbox.signal.fd().as_raw_fd()
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
