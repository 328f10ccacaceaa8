//! The blocking [`Listener`]: accepts connections and hands out [`Channel`]s.
//!
//! A background acceptor (see `acceptor.rs`) runs handshakes as clients arrive, so a client that
//! connects and then says nothing (or speaks the wrong protocol) never holds up others: it is
//! answered with an ERROR frame and dropped after the handshake timeout, the failure is logged
//! (`tracing`, target `libipc`), and `accept` keeps returning good connections. `connect`
//! completes even before `accept` is called.

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

/// A listening endpoint. Dropping it stops listening and removes its socket file, if it made
/// one. Channels already accepted stay open.
pub struct Listener {
    inbox: Arc<Inbox>,
    opts: Options,
    local: Endpoint,
    acceptor: Option<Acceptor>,
    _file: Option<SocketFile>,
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
        let acceptor = Acceptor::start(Arc::new(fd), opts.clone(), shm, deliver)?;
        Ok(Listener {
            inbox,
            opts: opts.clone(),
            local,
            acceptor: Some(acceptor),
            _file,
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

    /// Stop accepting: threads blocked in `accept` return `Closed`, clients connecting from now
    /// on are refused. The socket file is removed when the listener is dropped.
    pub fn close(&self) {
        let mut q = self.inbox.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.closed = true;
        q.ready.clear();
        self.inbox.signal.drain();
        self.inbox.cond.notify_all();
        if let Some(a) = &self.acceptor {
            a.stop();
        }
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
                if let Some(a) = &self.acceptor {
                    a.taken();
                }
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
        // Stop and join the acceptor before the socket file goes.
        self.acceptor.take();
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
