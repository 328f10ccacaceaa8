//! [`AsyncChannel`]: the tokio twin of [`Channel`](crate::Channel), and the async *driver* of
//! the link seam (`link/mod.rs`): the same links as the blocking API, waited on through tokio's
//! reactor (each of the link's descriptors registered once with `AsyncFd`). All channel state
//! lives in the link, so a dropped future loses nothing. The async API does not spin.

use std::fmt;
#[cfg(unix)]
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{elapsed, limit, require_runtime, under};
use crate::conn::{Conn, Message, PeerCredentials};
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::handshake;
use crate::link::{Incoming, Link};
use crate::options::Options;
use crate::spin::Spinner;
use crate::sys::{Ready, Source};
use crate::transport;
use crate::wait::{Wait, after};

/// A descriptor owned by the link, registered with tokio.
#[derive(Debug)]
struct Registered(RawFd);

impl AsRawFd for Registered {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

#[derive(Debug)]
struct Inner {
    /// One registration per distinct descriptor among the link's sources.
    fds: Vec<AsyncFd<Registered>>,
    /// For each receive / send source, its registration in `fds`.
    recv_at: Vec<usize>,
    send_at: Vec<usize>,
    /// Per registration: whether a receive and a send both wait for it to be readable (the
    /// shm control socket). Such readiness is only cleared once the descriptor is really no
    /// longer readable, or the side that woke first would hide it from the other.
    shared_read: Vec<bool>,
    rx_gate: Mutex<()>,
    tx_gate: Mutex<()>,
    /// Messages given back with `put_back`, first in line (front first).
    kept: std::sync::Mutex<std::collections::VecDeque<Message>>,
    /// The receive side's adaptive spinner, used only by [`AsyncChannel::recv_now`].
    rx_spin: Spinner,
    /// When a `recv_now` that gave up began, for the spinner to learn what the wait that
    /// followed cost.
    rx_gave_up: std::sync::Mutex<Option<std::time::Instant>>,
    // Last: the link (which owns the descriptors) is dropped after the registrations.
    link: Arc<dyn Link>,
}

/// What [`AsyncChannel::send_now`] could do without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendNow {
    /// The whole message went out.
    Sent,
    /// Part of it went out; the rest is kept in the channel, to go before anything else
    /// ([`AsyncChannel::flush_wait`] finishes it).
    Started,
    /// Nothing of it went out: send it with [`AsyncChannel::send`].
    Blocked,
}

/// A connected message channel for async code. Same contract as [`Channel`](crate::Channel):
/// boundaries kept, FIFO, backpressure, errors, on every transport. `Send + Sync`; clones
/// share the connection.
#[derive(Clone)]
pub struct AsyncChannel {
    inner: Arc<Inner>,
}

impl fmt::Debug for AsyncChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncChannel")
            .field("peer", &self.peer())
            .finish_non_exhaustive()
    }
}

fn io_err(e: std::io::Error) -> Error {
    Error::from_io(&e, "waiting on the channel")
}

impl Inner {
    fn conn(&self) -> &Conn {
        self.link.conn()
    }

    /// A message given back with `put_back`, if any (the receive gate held).
    fn take_kept(&self) -> Option<Message> {
        self.kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }

    /// Wait until one of `sources` (registered at `at`) is ready, or `deadline` passes
    /// (`Ready` with nothing set).
    async fn wait(
        &self,
        sources: &[Source],
        at: &[usize],
        deadline: Option<Instant>,
    ) -> Result<Ready> {
        // One readiness future per source: tokio wakes every such future waiting on a
        // descriptor (its `poll_*_ready` methods would keep only the last task's waker, and a
        // receive and a send may wait on the same descriptor, the shm control socket).
        type ReadyFut<'f> = std::pin::Pin<
            Box<
                dyn std::future::Future<Output = std::io::Result<AsyncFdReadyGuard<'f, Registered>>>
                    + Send
                    + 'f,
            >,
        >;
        let mut futs: Vec<ReadyFut<'_>> = sources
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let fd = &self.fds[at[i]];
                if s.is_write() {
                    Box::pin(fd.writable()) as ReadyFut<'_>
                } else {
                    Box::pin(fd.readable())
                }
            })
            .collect();
        let ready = std::future::poll_fn(|cx| {
            for (i, (s, f)) in sources.iter().zip(futs.iter_mut()).enumerate() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(Ok(mut guard)) => {
                        // The link is always tried until it would block before we wait, so
                        // the next wait may wait for a new readiness event. A shared source
                        // keeps its readiness while it stays readable, for the other side.
                        let keep = self.shared_read[at[i]]
                            && crate::sys::wait_any(
                                &[*s],
                                [None, None],
                                Some(std::time::Instant::now()),
                            )
                            .is_ok_and(|r| !r.timed_out());
                        if !keep {
                            guard.clear_ready();
                        }
                        return Poll::Ready(Ok(Ready::source(i)));
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(io_err(e))),
                    Poll::Pending => {}
                }
            }
            Poll::Pending
        });
        match deadline {
            None => ready.await,
            Some(d) => match tokio::time::timeout_at(d, ready).await {
                Ok(r) => r,
                Err(_) => Ok(Ready::default()),
            },
        }
    }

    async fn recv_wait(&self) -> Result<Ready> {
        // Wake for the link's own deadline too (a frame timeout), then try again.
        let deadline = self.link.recv_deadline().map(Instant::from_std);
        if !self.push_rest() {
            return self
                .wait(self.link.recv_sources(), &self.recv_at, deadline)
                .await;
        }
        // The rest of a partly sent message is still to go: wait for the send side too, and
        // push it on when that wakes (as the blocking `Channel`'s receive does). Returns what
        // the receive side saw (nothing, if only the send side woke).
        let recv = self.link.recv_sources();
        let all: Vec<Source> = recv
            .iter()
            .chain(self.link.send_sources())
            .copied()
            .collect();
        let at: Vec<usize> = self.recv_at.iter().chain(&self.send_at).copied().collect();
        let (rx, tx) = self.wait(&all, &at, deadline).await?.split(recv.len());
        if !tx.timed_out()
            && let Ok(_gate) = self.tx_gate.try_lock()
        {
            let _ = self.link.send_woken(tx);
        }
        Ok(rx)
    }

    /// Write more of the rest of a message whose sending future gave up part-way, if no
    /// other task is sending; whether some of it is still to go (see `Channel`'s receive).
    fn push_rest(&self) -> bool {
        let Ok(_gate) = self.tx_gate.try_lock() else {
            return false;
        };
        matches!(self.link.try_flush(true), Ok(false))
    }

    async fn send_wait(&self, deadline: Option<Instant>) -> Result<Ready> {
        self.wait(self.link.send_sources(), &self.send_at, deadline)
            .await
    }
}

/// Keeps the rest of a message whose sending future is dropped half-way.
struct KeepRest<'a> {
    link: &'a dyn Link,
    data: &'a [u8],
    progress: usize,
    done: bool,
}

impl Drop for KeepRest<'_> {
    fn drop(&mut self) {
        if !self.done && self.progress > 0 {
            self.link.keep_rest(self.data, self.progress);
        }
    }
}

impl AsyncChannel {
    /// Connect with default options.
    pub async fn connect<E>(endpoint: E) -> Result<AsyncChannel>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        AsyncChannel::connect_with(endpoint, &Options::default()).await
    }

    /// Connect with options. Connecting and the handshake run on tokio's blocking pool, so the
    /// calling task's thread is never blocked.
    pub async fn connect_with<E>(endpoint: E, opts: &Options) -> Result<AsyncChannel>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        require_runtime()?;
        opts.validate()?;
        let ep = endpoint.try_into()?;
        let t = transport::for_endpoint(&ep)?;
        let opts2 = opts.clone();
        let link = tokio::task::spawn_blocking(move || handshake::client(t, &ep, &opts2))
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("connect task failed: {e}")))??;
        AsyncChannel::from_link(link)
    }

    /// Two connected channels in this process, over a socket pair (as
    /// [`Channel::pair`](crate::Channel::pair)). Not `async`: it waits for nothing outside
    /// this call.
    pub fn pair() -> Result<(AsyncChannel, AsyncChannel)> {
        AsyncChannel::pair_with(&Options::default())
    }

    /// [`pair`](Self::pair) with options.
    pub fn pair_with(opts: &Options) -> Result<(AsyncChannel, AsyncChannel)> {
        require_runtime()?;
        let (a, b) = crate::spawn::pair_links(opts)?;
        Ok((AsyncChannel::from_link(a)?, AsyncChannel::from_link(b)?))
    }

    /// In a child process started with a libipc spawn helper: open the channel to the parent
    /// (as [`Channel::from_env`](crate::Channel::from_env), whose errors it has). The handshake
    /// runs on tokio's blocking pool.
    pub async fn from_env() -> Result<AsyncChannel> {
        AsyncChannel::from_env_with(&Options::default()).await
    }

    /// [`from_env`](Self::from_env) with options.
    pub async fn from_env_with(opts: &Options) -> Result<AsyncChannel> {
        require_runtime()?;
        let opts = opts.clone();
        let link = tokio::task::spawn_blocking(move || crate::spawn::from_env_link(&opts))
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("handshake task failed: {e}")))??;
        AsyncChannel::from_link(link)
    }

    /// Start `cmd` as a child process holding the other end of a new channel (as
    /// [`Channel::spawn`](crate::Channel::spawn), whose errors and conditions it has). The
    /// process is started on this thread; waiting for the child to open the channel runs on
    /// tokio's blocking pool. The child is a `std::process::Child`: reaping it stays yours.
    pub async fn spawn(
        cmd: &mut std::process::Command,
    ) -> Result<(AsyncChannel, std::process::Child)> {
        AsyncChannel::spawn_with(cmd, &Options::default()).await
    }

    /// [`spawn`](Self::spawn) with options for the parent's side.
    pub async fn spawn_with(
        cmd: &mut std::process::Command,
        opts: &Options,
    ) -> Result<(AsyncChannel, std::process::Child)> {
        require_runtime()?;
        let (end, child) = crate::spawn::start(cmd, opts)?;
        let (link, child) = tokio::task::spawn_blocking(move || crate::spawn::finish(end, child))
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("handshake task failed: {e}")))??;
        Ok((AsyncChannel::from_link(link)?, child))
    }

    /// What the transport set up beside the link for this connection's owner, once.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn take_attachment(&self) -> Option<Box<dyn std::any::Any + Send>> {
        self.inner.link.take_attachment()
    }

    /// As [`Channel::fail`](crate::Channel): the peer sent what a layer above finds
    /// malformed; report it, hang up, end the channel with `err`.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn fail(&self, err: Error) -> Error {
        self.inner.link.fail(err)
    }

    pub(crate) fn from_link(link: Arc<dyn Link>) -> Result<AsyncChannel> {
        let mut fds: Vec<AsyncFd<Registered>> = Vec::new();
        let mut raw: Vec<RawFd> = Vec::new();
        let mut place = |s: &Source| -> Result<usize> {
            if let Some(i) = raw.iter().position(|r| *r == s.raw_fd()) {
                return Ok(i);
            }
            // SAFETY: the descriptor belongs to the link, which `Inner` holds (declared after
            // the registrations, so dropped after them) and which never replaces or closes its
            // descriptors while it lives, so it stays open and the same for the registration's
            // lifetime.
            let fd = unsafe { AsyncFd::register(Registered(s.raw_fd())) }
                .map_err(|e| Error::from_io(&e.into(), "registering with tokio"))?;
            fds.push(fd);
            raw.push(s.raw_fd());
            Ok(fds.len() - 1)
        };
        let recv_at = link
            .recv_sources()
            .iter()
            .map(&mut place)
            .collect::<Result<Vec<_>>>()?;
        let send_at = link
            .send_sources()
            .iter()
            .map(&mut place)
            .collect::<Result<Vec<_>>>()?;
        let shared_read = (0..fds.len())
            .map(|f| {
                let reads = |sources: &[Source], at: &[usize]| {
                    sources
                        .iter()
                        .zip(at)
                        .any(|(s, &a)| a == f && !s.is_write())
                };
                reads(link.recv_sources(), &recv_at) && reads(link.send_sources(), &send_at)
            })
            .collect();
        Ok(AsyncChannel {
            inner: Arc::new(Inner {
                fds,
                recv_at,
                send_at,
                shared_read,
                rx_gate: Mutex::new(()),
                tx_gate: Mutex::new(()),
                kept: std::sync::Mutex::new(std::collections::VecDeque::new()),
                rx_spin: Spinner::new(link.spin().0),
                rx_gave_up: std::sync::Mutex::new(None),
                link,
            }),
        })
    }

    /// Send one message, waiting while the peer is not reading.
    pub async fn send(&self, data: &[u8]) -> Result<()> {
        self.send_until(data, None, None).await
    }

    /// Send one message, waiting at most `timeout`. `Timeout` means nothing of the message was
    /// sent. If the deadline passes after part of it went out, the rest is kept in the channel
    /// and written before any later message (or by `close`), and the call returns `Ok`; a
    /// `recv` on this channel pushes the rest on while it waits (unless another task is
    /// sending).
    pub async fn send_timeout(&self, data: &[u8], timeout: Duration) -> Result<()> {
        self.send_until(data, Some(Instant::from_std(after(timeout))), None)
            .await
    }

    /// Send one message within `wait`: its deadline as [`send_timeout`](Self::send_timeout),
    /// and `Cancelled` when one of its handles fires before any of the message went out (once
    /// part of it has, the rest is kept and the call returns `Ok`, as on a timeout).
    pub async fn send_wait(&self, data: &[u8], wait: Wait<'_>) -> Result<()> {
        wait.check()?;
        self.send_until(data, wait.deadline().map(Instant::from_std), Some(&wait))
            .await
    }

    /// Send without waiting, on the calling thread (for event-loop bindings, whose common
    /// case needs no wait at all): what could be written now. [`SendNow::Started`] means part
    /// of the message went out and the rest is kept in the channel, to go before anything
    /// else: finish it with [`flush_wait`](Self::flush_wait) (a later send, receive or close
    /// also pushes it on). [`SendNow::Blocked`]: nothing of it went out (the peer is not
    /// reading, or another task is sending); send it with `send`.
    pub fn send_now(&self, data: &[u8]) -> Result<SendNow> {
        let inner = &*self.inner;
        inner.conn().check_send_size(data.len())?;
        let Ok(_gate) = inner.tx_gate.try_lock() else {
            return Ok(SendNow::Blocked);
        };
        let mut progress = 0;
        match inner.link.try_send(data, &mut progress, false)? {
            true => Ok(SendNow::Sent),
            false if progress == 0 => Ok(SendNow::Blocked),
            false => {
                inner.link.keep_rest(data, progress);
                Ok(SendNow::Started)
            }
        }
    }

    /// Write out the rest a partly sent message left in the channel (after
    /// [`send_now`](Self::send_now) gave [`SendNow::Started`], or a send that timed out or was
    /// cancelled part-way), within `wait`: `Ok(true)` once nothing is left, `Ok(false)` if the
    /// wait ended first (the rest stays kept, to go first).
    pub async fn flush_wait(&self, wait: Wait<'_>) -> Result<bool> {
        if wait.check().is_err() {
            return Ok(false);
        }
        let inner = &*self.inner;
        let deadline = wait.deadline().map(Instant::from_std);
        let Ok(_gate) = limit(inner.tx_gate.lock(), deadline, Some(&wait)).await? else {
            return Ok(false);
        };
        loop {
            if inner.link.try_flush(true)? {
                return Ok(true);
            }
            match limit(inner.send_wait(None), deadline, Some(&wait)).await? {
                Ok(ready) => {
                    let ready = ready?;
                    if !ready.timed_out() {
                        inner.link.send_woken(ready)?;
                    }
                }
                Err(_) => return Ok(false),
            }
        }
    }

    async fn send_until(
        &self,
        data: &[u8],
        deadline: Option<Instant>,
        wait: Option<&Wait<'_>>,
    ) -> Result<()> {
        let inner = &*self.inner;
        inner.conn().check_send_size(data.len())?;
        let _gate = limit(inner.tx_gate.lock(), deadline, wait)
            .await?
            .map_err(|stop| stop.error("send"))?;
        let mut send = KeepRest {
            link: &*inner.link,
            data,
            progress: 0,
            done: false,
        };
        loop {
            match inner.link.try_send(data, &mut send.progress, true) {
                Ok(true) => {
                    send.done = true;
                    return Ok(());
                }
                Ok(false) => {}
                Err(e) => {
                    send.done = true;
                    return Err(e);
                }
            }
            let ready = match limit(inner.send_wait(None), deadline, wait).await? {
                Ok(ready) => ready?,
                Err(stop) => {
                    // Nothing sent: a timeout or cancellation. Part of it out: it counts as
                    // sent, its rest goes first (by `KeepRest`).
                    return if send.progress == 0 {
                        send.done = true;
                        Err(stop.error("send"))
                    } else {
                        Ok(())
                    };
                }
            };
            if ready.timed_out() {
                continue;
            }
            inner.link.send_woken(ready)?;
        }
    }

    /// Receive the next message. Errors as [`Channel::recv`](crate::Channel::recv).
    pub async fn recv(&self) -> Result<Message> {
        let inner = &*self.inner;
        let _gate = inner.rx_gate.lock().await;
        if let Some(m) = inner.take_kept() {
            return Ok(m);
        }
        let gave_up = inner
            .rx_gave_up
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        loop {
            match inner.link.try_recv(true, false)? {
                Some(Incoming::Message(m)) => {
                    if let Some(since) = gave_up {
                        inner.rx_spin.blocked(since);
                    }
                    return Ok(m);
                }
                Some(Incoming::InPlace(_) | Incoming::Copied(_)) => unreachable!("not asked for"),
                None => {}
            }
            let ready = inner.recv_wait().await?;
            if !ready.timed_out() {
                inner.link.recv_woken(ready);
            }
        }
    }

    /// Receive, giving up with `Timeout` after `timeout` (nothing is lost).
    pub async fn recv_timeout(&self, timeout: Duration) -> Result<Message> {
        tokio::time::timeout(timeout, self.recv())
            .await
            .map_err(|_| elapsed("recv"))?
    }

    /// Receive within `wait`: `Timeout` when its deadline passes, `Cancelled` when one of its
    /// handles fires; either way no message is lost (the next receive gets it).
    pub async fn recv_wait(&self, wait: Wait<'_>) -> Result<Message> {
        under(&wait, "recv", self.recv()).await
    }

    /// Receive on the calling thread without handing the wait to the runtime: a message that
    /// is already there, or, with `spin`, one that arrives while the receive side's adaptive
    /// spinner polls (at most the `shm_spin` / `stream_spin` option, and only while spinning
    /// pays off: see [`Spinner`]); `Ok(None)` otherwise (then use `recv`, whose wait the
    /// spinner learns from) or when another task is receiving. For event-loop bindings (Node),
    /// where a message that comes within microseconds is worth not leaving the loop's thread.
    pub fn recv_now(&self, spin: bool) -> Result<Option<Message>> {
        let inner = &*self.inner;
        let Ok(_gate) = inner.rx_gate.try_lock() else {
            return Ok(None);
        };
        if let Some(m) = inner.take_kept() {
            return Ok(Some(m));
        }
        let link = &*inner.link;
        let take = |m: Option<Incoming>| match m {
            Some(Incoming::Message(m)) => Some(m),
            Some(Incoming::InPlace(_) | Incoming::Copied(_)) => unreachable!("not asked for"),
            None => None,
        };
        if let Some(m) = take(link.try_recv(false, false)?) {
            return Ok(Some(m));
        }
        if !spin {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        let mut got: Option<Result<Option<Incoming>>> = None;
        inner.rx_spin.spin(
            || match link.try_recv(false, false) {
                Ok(None) => false,
                r => {
                    got = Some(r);
                    true
                }
            },
            None,
        );
        match got {
            Some(r) => Ok(take(r?)),
            None => {
                *inner.rx_gave_up.lock().unwrap_or_else(|p| p.into_inner()) = Some(started);
                Ok(None)
            }
        }
    }

    /// Give a received message back, first in line for the next receive: for a binding whose
    /// caller was cancelled just as its receive completed (a cancelled Kotlin coroutine cannot
    /// take a result), so that the message is not lost. With several tasks receiving at once,
    /// messages given back come before the others, the last given back first.
    pub fn put_back(&self, message: Message) {
        self.inner
            .kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_front(message);
    }

    /// Receive a message if one is already available, without waiting; `Timeout` if none is
    /// (or another task is receiving).
    pub fn try_recv(&self) -> Result<Message> {
        let inner = &*self.inner;
        let Ok(_gate) = inner.rx_gate.try_lock() else {
            return Err(Error::timeout("another task is receiving"));
        };
        if let Some(m) = inner.take_kept() {
            return Ok(m);
        }
        match inner.link.try_recv(true, false)? {
            Some(Incoming::Message(m)) => Ok(m),
            Some(Incoming::InPlace(_) | Incoming::Copied(_)) => unreachable!("not asked for"),
            None => Err(Error::timeout("no message is available")),
        }
    }

    /// Close the channel: anything a cancelled send left is written out, then CLOSE, waiting
    /// at most the handshake timeout for the peer to take it; then the connection is shut
    /// down. Pending `recv` and `send` calls return `Closed`. Idempotent and cancellation-safe.
    pub async fn close(&self) {
        let inner = &*self.inner;
        let link = &*inner.link;
        if link
            .conn()
            .closed
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        // Hang up even if this future is dropped half-way.
        let _hang_up = HangUp(link);
        let _ = tokio::time::timeout(link.conn().close_timeout, async {
            let _gate = inner.tx_gate.lock().await;
            loop {
                match link.try_close(true) {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(_) => return,
                }
                match inner.send_wait(None).await {
                    Ok(r) if link.send_woken(r).is_ok() => {}
                    _ => return,
                }
            }
            // Over TCP, wait for the peer's kernel to acknowledge everything before the
            // connection closes: closing with unread input sends a reset that destroys data in
            // flight.
            if link.shutdown_write() {
                while !link.settled() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        })
        .await;
    }

    /// The peer's credentials, as [`Channel::peer`](crate::Channel::peer).
    pub fn peer(&self) -> PeerCredentials {
        self.inner.conn().peer
    }

    /// The largest message `send` accepts (the smaller of both sides' limits).
    pub fn max_message_size(&self) -> usize {
        self.inner.conn().max_send
    }
}

/// Hangs the link up when dropped (so a cancelled `close` still ends the channel).
struct HangUp<'a>(&'a dyn Link);

impl Drop for HangUp<'_> {
    fn drop(&mut self) {
        self.0.hang_up();
        self.0.conn().release_count();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Best effort without waiting: what is pending and CLOSE, if they fit; then hang up.
        self.link.close_now();
    }
}

#[cfg(unix)]
impl AsRawFd for AsyncChannel {
    /// A descriptor of the connection (for diagnostics; wait with the async methods).
    fn as_raw_fd(&self) -> RawFd {
        self.inner.link.readiness_fd().as_raw_fd()
    }
}
