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
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::acceptor::Acceptor;
use crate::channel::Channel;
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::handshake::Established;
use crate::options::Options;
use crate::sys::{self, SocketFile, WakePipe};
use crate::transport;

#[derive(Debug, Default)]
struct Queue {
    ready: VecDeque<Established>,
    closed: bool,
}

#[derive(Debug)]
struct Inbox {
    queue: Mutex<Queue>,
    cond: Condvar,
    /// Readable while connections wait to be accepted (one byte per connection).
    signal: WakePipe,
}

/// A listening endpoint. [`close`](Listener::close) it, or drop it, to stop listening and
/// remove its socket file, if it made one. Channels already accepted stay open.
pub struct Listener {
    inbox: Arc<Inbox>,
    opts: Options,
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
        let transport::Bound {
            fd,
            local,
            _file,
            shm,
        } = transport::bind(&ep, opts)?;
        tracing::debug!(endpoint = %local, "listening");
        let inbox = Arc::new(Inbox {
            queue: Mutex::default(),
            cond: Condvar::new(),
            signal: WakePipe::new()?,
        });
        let sink = Arc::clone(&inbox);
        let deliver = Box::new(move |est| {
            let mut q = sink.queue.lock().unwrap_or_else(|p| p.into_inner());
            if q.closed {
                return false;
            }
            q.ready.push_back(est);
            sink.signal.wake();
            sink.cond.notify_one();
            true
        });
        let acceptor = Acceptor::start(fd, opts.clone(), shm, deliver)?;
        Ok(Listener {
            inbox,
            opts: opts.clone(),
            local,
            acceptor,
            file: Mutex::new(_file),
        })
    }

    /// The endpoint clients connect to (for `tcp://host:0`, with the port the OS picked).
    pub fn local_endpoint(&self) -> &Endpoint {
        &self.local
    }

    /// Wait for the next client whose handshake succeeded.
    pub fn accept(&self) -> Result<Channel> {
        self.accept_until(None)
    }

    /// Like [`accept`](Self::accept), giving up with `Timeout` after `timeout`.
    pub fn accept_timeout(&self, timeout: Duration) -> Result<Channel> {
        self.accept_until(Some(sys::after(timeout)))
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
            self.inbox.cond.notify_all();
            std::mem::take(&mut q.ready)
        };
        drop(dropped);
        // Not under the queue lock (handshake threads deliver through it).
        self.acceptor.shutdown();
        // The socket is closed: now the name can go (only if it is still ours).
        drop(self.file.lock().unwrap_or_else(|p| p.into_inner()).take());
    }

    fn accept_until(&self, deadline: Option<Instant>) -> Result<Channel> {
        let mut q = self.inbox.queue.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if q.closed {
                return Err(Error::new(ErrorKind::Closed, "the listener was closed"));
            }
            if let Some(est) = q.ready.pop_front() {
                drop(q);
                self.inbox.signal.take_one();
                self.acceptor.taken();
                return Channel::from_established(est, &self.opts);
            }
            q = match deadline {
                None => self.inbox.cond.wait(q).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::new(
                            ErrorKind::Timeout,
                            "no client connected before the timeout",
                        ));
                    }
                    self.inbox
                        .cond
                        .wait_timeout(q, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.close();
    }
}

impl AsFd for Listener {
    /// Readable while at least one connection is waiting to be accepted: poll it from an event
    /// loop, then call [`accept_timeout`](Listener::accept_timeout) with a zero timeout.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inbox.signal.fd()
    }
}

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
