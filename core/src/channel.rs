//! The blocking [`Channel`]: a connected, bidirectional, message-oriented link.
//!
//! Contract, the same on every transport:
//! - messages keep their boundaries: what one `send` writes, one `recv` returns, byte for byte;
//!   empty messages are allowed;
//! - order is FIFO per direction, nothing is duplicated, nothing is dropped silently;
//! - `send` applies backpressure: it blocks while the peer is not reading (or times out);
//! - one thread may send while another receives; `Channel` is `Send + Sync` and cheap to clone
//!   (clones share the connection, which closes when the last clone drops or on `close`);
//! - a receive that times out or is cancelled loses nothing: a partly received message is
//!   kept for the next call.
//!
//! Every blocking call has a `*_wait` form taking a [`Wait`]: a deadline and, optionally, a
//! [`Cancel`](crate::Cancel) handle that interrupts it from another thread (or a signal
//! handler).
//!
//! ```no_run
//! # fn main() -> libipc::Result<()> {
//! let ch = libipc::Channel::connect("orders")?;
//! ch.send(b"hello")?;
//! let reply = ch.recv()?;
//! println!("{} bytes", reply.len());
//! # Ok(()) }
//! ```
//!
//! This file is the blocking *driver* of the link seam (`link/mod.rs`): one caller per side
//! at a time (a [`Gate`]), adaptive spinning ([`Spinner`]), then a wait on the link's sources
//! and the cancellation handle.

use std::fmt;
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::buf::{ReadBuf, WriteBuf};
pub use crate::conn::{Message, PeerCredentials};
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::handshake;
use crate::link::{Incoming, Link};
use crate::options::Options;
use crate::slot::{RecvSlot, SendSlot};
use crate::spin::Spinner;
use crate::sys;
use crate::transport;
use crate::wait::{Gate, GateGuard, Wait, after};

/// The blocking channel's state: the link, and what the driver keeps beside it.
pub(crate) struct Shared {
    pub(crate) link: Arc<dyn Link>,
    pub(crate) rx_gate: Gate,
    pub(crate) tx_gate: Gate,
    rx_spin: Spinner,
    tx_spin: Spinner,
    /// A message a too-small `recv_into` buffer could not take: first in line for the next
    /// receive of any kind. Only touched with the receive gate held.
    stash: Mutex<Option<Vec<u8>>>,
    stashed: AtomicBool,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

/// A connected message channel.
///
/// Messages keep their boundaries (what one `send` writes, one `recv` returns, byte for byte;
/// empty messages are allowed), arrive in FIFO order per direction, are never duplicated or
/// dropped silently, and `send` applies backpressure. One thread may send while another
/// receives; clones share the connection, which closes on [`close`](Self::close) or when the
/// last clone drops. A receive that times out loses nothing.
#[derive(Clone)]
pub struct Channel {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("peer", &self.peer())
            .finish_non_exhaustive()
    }
}

fn no_message() -> Error {
    Error::timeout("no message arrived before the timeout")
}

fn not_taken() -> Error {
    Error::timeout("the peer did not take the message before the timeout (it is not reading)")
}

impl Shared {
    fn conn(&self) -> &crate::conn::Conn {
        self.link.conn()
    }

    /// Take the stashed message if `fits` its length (the receive gate must be held).
    /// `Err(len)`: one is stashed but does not fit.
    fn take_stash(
        &self,
        fits: impl FnOnce(usize) -> bool,
    ) -> Option<std::result::Result<Vec<u8>, usize>> {
        if !self.stashed.load(Ordering::Acquire) {
            return None;
        }
        let mut stash = self.stash.lock().unwrap_or_else(|p| p.into_inner());
        let n = stash.as_ref()?.len();
        Some(if fits(n) {
            self.stashed.store(false, Ordering::Release);
            stash.take().ok_or(n)
        } else {
            Err(n)
        })
    }

    fn keep(&self, v: Vec<u8>) {
        *self.stash.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
        self.stashed.store(true, Ordering::Release);
    }

    /// The next message (the receive gate held): try, spin, then wait on the link's sources.
    fn recv_locked(&self, wait: &Wait<'_>, in_place: bool) -> Result<Incoming> {
        let link = &*self.link;
        self.recv_driven(wait, |arm| link.try_recv(arm, in_place))
    }

    /// [`recv_locked`](Self::recv_locked) with `try_recv(arm)` as the link's no-wait receive.
    fn recv_driven(
        &self,
        wait: &Wait<'_>,
        mut try_recv: impl FnMut(bool) -> Result<Option<Incoming>>,
    ) -> Result<Incoming> {
        let link = &*self.link;
        if let Some(m) = try_recv(false)? {
            return Ok(m);
        }
        wait.check()?;
        let started = Instant::now();
        if !wait.expired() {
            let mut got: Option<Result<Incoming>> = None;
            self.rx_spin.spin(
                || match try_recv(false) {
                    Ok(None) => false,
                    Ok(Some(m)) => {
                        got = Some(Ok(m));
                        true
                    }
                    Err(e) => {
                        got = Some(Err(e));
                        true
                    }
                },
                wait.deadline(),
            );
            if let Some(r) = got {
                return r;
            }
        }
        loop {
            if let Some(m) = try_recv(true)? {
                self.rx_spin.blocked(started);
                return Ok(m);
            }
            if wait.expired() {
                // Stay armed: the readiness descriptor now tells when to try again.
                return Err(no_message());
            }
            // Wake for the link's own deadline too (a frame timeout), then try again.
            let deadline = match (wait.deadline(), link.recv_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let ready = if self.push_rest() {
                self.wait_recv_pushing_rest(wait, deadline)?
            } else {
                sys::wait_any(link.recv_sources(), wait.wakers(), deadline)?
            };
            if ready.timed_out() {
                continue;
            }
            link.recv_woken(ready);
            if ready.cancelled() {
                return Err(Error::cancelled());
            }
        }
    }

    /// While a receive waits: write more of the rest of a message a send left partly written
    /// when its wait ended (`send_timeout`, a cancelled send), if no other caller is sending.
    /// Returns whether some of it is still to go. Without this, a peer waiting for the end of
    /// that message and this side waiting for the reply would wait for each other.
    fn push_rest(&self) -> bool {
        let Some(_gate) = self.tx_gate.try_enter() else {
            return false;
        };
        // An error (the peer is gone) is the receive's to report.
        matches!(self.link.try_flush(true), Ok(false))
    }

    /// Wait for the receive side's sources and, as the rest of a message is still to go out,
    /// the send side's too; returns what the receive side saw (nothing, if only the send side
    /// woke: the caller then tries again, pushing the rest on).
    fn wait_recv_pushing_rest(
        &self,
        wait: &Wait<'_>,
        deadline: Option<Instant>,
    ) -> Result<sys::Ready> {
        let link = &*self.link;
        let recv = link.recv_sources();
        let mut all = Vec::with_capacity(recv.len() + link.send_sources().len());
        all.extend_from_slice(recv);
        all.extend_from_slice(link.send_sources());
        let (rx, tx) = sys::wait_any(&all, wait.wakers(), deadline)?.split(recv.len());
        if !tx.timed_out()
            && !tx.cancelled()
            && let Some(_gate) = self.tx_gate.try_enter()
        {
            // Handled under the send gate, so no sender's wake-up is taken from it.
            let _ = link.send_woken(tx);
        }
        Ok(rx)
    }

    fn recv(&self, wait: &Wait<'_>) -> Result<Message> {
        let _gate = self.rx_gate.enter(wait, "receive")?;
        if let Some(Ok(v)) = self.take_stash(|_| true) {
            return Ok(Message::new(v));
        }
        match self.recv_locked(wait, false)? {
            Incoming::Message(m) => Ok(m),
            Incoming::InPlace(_) | Incoming::Copied(_) => unreachable!("not asked for"),
        }
    }

    /// Receive for an in-place read: the gate, kept if the message stays in place.
    fn recv_in_place(&self, wait: &Wait<'_>) -> Result<(Option<GateGuard<'_>>, Incoming)> {
        let gate = self.rx_gate.enter(wait, "receive")?;
        if let Some(Ok(v)) = self.take_stash(|_| true) {
            return Ok((None, Incoming::Message(Message::new(v))));
        }
        let got = self.recv_locked(wait, true)?;
        Ok(match got {
            Incoming::InPlace(_) => (Some(gate), got),
            m => (None, m),
        })
    }

    fn recv_into(&self, buf: &mut [u8], wait: &Wait<'_>) -> Result<usize> {
        let cap = buf.len();
        let _gate = self.rx_gate.enter(wait, "receive")?;
        match self.take_stash(|n| n <= cap) {
            Some(Ok(v)) => {
                buf[..v.len()].copy_from_slice(&v);
                return Ok(v.len());
            }
            Some(Err(n)) => return Err(Error::buffer_too_small(n, cap)),
            None => {}
        }
        let link = &*self.link;
        match self.recv_driven(wait, |arm| link.try_recv_into(arm, buf))? {
            Incoming::Copied(n) => Ok(n),
            Incoming::Message(m) if m.len() <= cap => {
                buf[..m.len()].copy_from_slice(&m);
                Ok(m.len())
            }
            Incoming::Message(m) => {
                let n = m.len();
                self.keep(m.into_vec());
                Err(Error::buffer_too_small(n, cap))
            }
            Incoming::InPlace(r) => {
                // SAFETY: the link guarantees `ptr` is readable for `len` bytes until the
                // message is released, just below.
                let view = unsafe { ReadBuf::from_raw(r.ptr, r.len) };
                let result = if r.len <= cap {
                    view.read_at(0, &mut buf[..r.len]);
                    Ok(r.len)
                } else {
                    self.keep(view.to_vec());
                    Err(Error::buffer_too_small(r.len, cap))
                };
                self.link.release(r);
                result
            }
        }
    }

    /// Send `data` whole (the send gate held): try, spin, then wait on the link's sources.
    /// Giving up (deadline, cancel) before the first byte is `Timeout`/`Cancelled` with
    /// nothing sent; after it, the rest is kept to go out first and the send succeeds.
    fn send_locked(&self, data: &[u8], wait: &Wait<'_>) -> Result<()> {
        let link = &*self.link;
        let mut progress = 0;
        if link.try_send(data, &mut progress, false)? {
            return Ok(());
        }
        loop {
            if !wait.expired() && self.tx_spin.enabled() {
                let mut outcome: Option<Result<()>> = None;
                self.tx_spin.spin(
                    || match link.try_send(data, &mut progress, false) {
                        Ok(false) => false,
                        Ok(true) => {
                            outcome = Some(Ok(()));
                            true
                        }
                        Err(e) => {
                            outcome = Some(Err(e));
                            true
                        }
                    },
                    wait.deadline(),
                );
                if let Some(r) = outcome {
                    return r;
                }
            }
            if link.try_send(data, &mut progress, true)? {
                return Ok(());
            }
            let give_up = |e: Error| {
                if progress == 0 {
                    Err(e)
                } else {
                    // Part of the message is out: it counts as sent; its rest goes first.
                    link.keep_rest(data, progress);
                    Ok(())
                }
            };
            if wait.expired() {
                return give_up(not_taken());
            }
            let ready = sys::wait_any(link.send_sources(), wait.wakers(), wait.deadline())?;
            if ready.timed_out() {
                continue;
            }
            if let Err(e) = link.send_woken(ready) {
                if progress > 0 {
                    link.keep_rest(data, progress);
                }
                return Err(e);
            }
            if ready.cancelled() {
                return give_up(Error::cancelled());
            }
        }
    }

    pub(crate) fn send(&self, data: &[u8], wait: &Wait<'_>) -> Result<()> {
        self.conn().check_send_size(data.len())?;
        let _gate = self.tx_gate.enter(wait, "send")?;
        self.send_locked(data, wait)
    }

    fn flush(&self, wait: &Wait<'_>) -> Result<()> {
        let _gate = self.tx_gate.enter(wait, "send")?;
        if let Some(e) = self.conn().send_blocked() {
            return Err(e);
        }
        let link = &*self.link;
        loop {
            if link.try_flush(true)? {
                return Ok(());
            }
            if wait.expired() {
                return Err(Error::timeout(
                    "an earlier message is still going out; the peer is not reading",
                ));
            }
            let ready = sys::wait_any(link.send_sources(), wait.wakers(), wait.deadline())?;
            if !ready.timed_out() {
                link.send_woken(ready)?;
            }
            if ready.cancelled() {
                return Err(Error::cancelled());
            }
        }
    }

    /// Reserve room in place (the link can place `len` bytes): the send gate, kept for the
    /// slot.
    fn reserve_in_place(&self, len: usize, wait: &Wait<'_>) -> Result<crate::link::InPlaceSend> {
        let gate = self.tx_gate.enter(wait, "send")?;
        let link = &*self.link;
        let r = loop {
            if let Some(r) = link.try_reserve(len, false)? {
                break r;
            }
            if !wait.expired() {
                let mut got = None;
                self.tx_spin.spin(
                    || match link.try_reserve(len, false) {
                        Ok(None) => false,
                        other => {
                            got = Some(other);
                            true
                        }
                    },
                    wait.deadline(),
                );
                if let Some(Some(r)) = got.transpose()? {
                    break r;
                }
            }
            if let Some(r) = link.try_reserve(len, true)? {
                break r;
            }
            if wait.expired() {
                return Err(not_taken());
            }
            let ready = sys::wait_any(link.send_sources(), wait.wakers(), wait.deadline())?;
            if !ready.timed_out() {
                link.send_woken(ready)?;
            }
            if ready.cancelled() {
                return Err(Error::cancelled());
            }
        };
        gate.keep_for_slot();
        Ok(r)
    }

    /// Orderly close: finish what is pending and say CLOSE (if no other thread is sending),
    /// wait at most the handshake timeout for it to go out (and, over TCP, be acknowledged),
    /// then hang up, which wakes every blocked call.
    fn close(&self) {
        let link = &*self.link;
        if link.conn().closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let deadline = after(link.conn().close_timeout);
        if let Ok(_gate) = self.tx_gate.enter(&Wait::no_wait(), "send") {
            let closed = loop {
                match link.try_close(true) {
                    Ok(true) => break true,
                    Ok(false) => {}
                    Err(_) => break false,
                }
                match sys::wait_any(link.send_sources(), [None, None], Some(deadline)) {
                    Ok(r) if !r.timed_out() && link.send_woken(r).is_ok() => {}
                    _ => break false,
                }
            };
            if closed && link.shutdown_write() {
                while !link.settled() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        self.rx_gate.close();
        self.tx_gate.close();
        link.hang_up();
        link.conn().release_count();
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.close();
    }
}

impl Channel {
    /// Connect to a listener with default [`Options`].
    pub fn connect<E>(endpoint: E) -> Result<Channel>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        Channel::connect_with(endpoint, &Options::default())
    }

    /// Connect with options (timeouts, message limit, uid allow-list for the listener).
    pub fn connect_with<E>(endpoint: E, opts: &Options) -> Result<Channel>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        opts.validate()?;
        let ep = endpoint.try_into()?;
        let link = handshake::client(transport::for_endpoint(&ep)?, &ep, opts)?;
        Ok(Channel::from_link(link))
    }

    /// The peer sent a message a layer above finds malformed: tell it (ERROR frame, when that
    /// needs no waiting), hang up, and end the channel with `err`, which every later call
    /// returns (an earlier end wins: that one is returned).
    pub(crate) fn fail(&self, err: Error) -> Error {
        self.shared.link.fail(err)
    }

    /// Hang up at once (no CLOSE, no waiting): the peer sees `PeerDisconnected`, and calls
    /// blocked on this channel in other threads return.
    /// What the transport set up beside the link for this connection's owner, once.
    #[cfg(unix)]
    pub(crate) fn take_attachment(&self) -> Option<Box<dyn std::any::Any + Send>> {
        self.shared.link.take_attachment()
    }

    pub(crate) fn hang_up_now(&self) {
        self.shared.link.hang_up();
    }

    pub(crate) fn from_link(link: Arc<dyn Link>) -> Channel {
        let (rx_spin, tx_spin) = link.spin();
        Channel {
            shared: Arc::new(Shared {
                link,
                rx_gate: Gate::default(),
                tx_gate: Gate::default(),
                rx_spin: Spinner::new(rx_spin),
                tx_spin: Spinner::new(tx_spin),
                stash: Mutex::new(None),
                stashed: AtomicBool::new(false),
            }),
        }
    }

    /// Send one message, blocking while the peer is not reading.
    ///
    /// Errors: `MessageTooLarge` (nothing sent; the channel stays usable), `PeerDisconnected`,
    /// `Closed`.
    pub fn send(&self, data: &[u8]) -> Result<()> {
        self.shared.send(data, &Wait::forever())
    }

    /// Send one message, waiting at most `timeout`. `Timeout` means nothing of the message was
    /// sent (it may be retried). If the deadline passes after part of it went out, the rest is
    /// kept in the channel and written before any later message (or by `close`), and the call
    /// returns `Ok`: frames are never left half-written. A receive on this channel pushes the
    /// rest on while it waits (unless another thread is sending), so waiting for the reply to
    /// such a message works; [`flush_timeout`](Self::flush_timeout) waits until it is all out.
    /// (How much goes out at once depends on the transport: a FIFO holds 64 KiB, a Unix socket
    /// a few hundred.)
    pub fn send_timeout(&self, data: &[u8], timeout: Duration) -> Result<()> {
        self.shared.send(data, &Wait::timeout(timeout))
    }

    /// Send a message if it can go out without waiting; `Timeout` ("full") if the peer is not
    /// taking more right now. Nothing is sent on `Timeout`.
    pub fn try_send(&self, data: &[u8]) -> Result<()> {
        self.shared.send(data, &Wait::no_wait())
    }

    /// Send one message, waiting as `wait` allows. `Timeout` and `Cancelled` mean nothing of
    /// the message was sent; if the wait ends after part of it went out, the rest goes out
    /// before anything else and the call returns `Ok` (as for
    /// [`send_timeout`](Self::send_timeout)).
    pub fn send_wait(&self, data: &[u8], wait: Wait<'_>) -> Result<()> {
        self.shared.send(data, &wait)
    }

    /// Receive the next message, blocking until one arrives.
    ///
    /// Errors: `Closed` once the peer closed the channel (after every message it sent has been
    /// received) or after [`close`](Self::close); `PeerDisconnected` if the peer vanished;
    /// `ProtocolViolation`/`MessageTooLarge` if it sent malformed or oversize data.
    pub fn recv(&self) -> Result<Message> {
        self.shared.recv(&Wait::forever())
    }

    /// Receive, waiting at most `timeout`; `Timeout` loses nothing.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message> {
        self.shared.recv(&Wait::timeout(timeout))
    }

    /// Receive a message if one is already available; `Timeout` if none is.
    ///
    /// To wait for messages in an event loop, call `try_recv` until it returns `Timeout`, then
    /// poll the channel's descriptor ([`as_fd`](Self::as_fd)) for readability, then call it
    /// again (see [`AsFd for Channel`](#impl-AsFd-for-Channel)). After any receive that returned
    /// `Timeout`, the descriptor becomes readable when a message arrives or the channel ends.
    pub fn try_recv(&self) -> Result<Message> {
        self.shared.recv(&Wait::no_wait())
    }

    /// Receive the next message, waiting as `wait` allows; `Timeout` and `Cancelled` lose
    /// nothing.
    pub fn recv_wait(&self, wait: Wait<'_>) -> Result<Message> {
        self.shared.recv(&wait)
    }

    /// Receive the next message into `buf`, returning its length. If it does not fit:
    /// `BufferTooSmall`, whose [`Error::needed`] is the message's length, and the message is
    /// kept, first in line for the next receive of any kind (a bigger buffer, `recv`, ...).
    /// Over shared memory the message is copied straight from the ring into `buf`; over a
    /// stream, straight from the kernel (a message that has only partly arrived when the wait
    /// ends is kept by the channel, not in `buf`, and the next receive of any kind gets it
    /// whole).
    pub fn recv_into(&self, buf: &mut [u8]) -> Result<usize> {
        self.shared.recv_into(buf, &Wait::forever())
    }

    /// [`recv_into`](Self::recv_into), waiting as `wait` allows.
    pub fn recv_into_wait(&self, buf: &mut [u8], wait: Wait<'_>) -> Result<usize> {
        self.shared.recv_into(buf, &wait)
    }

    /// Close the channel: the peer receives every message sent so far, then `Closed`. Threads
    /// blocked in `recv` or `send` on this channel wake up with `Closed`. Idempotent; dropping
    /// the last clone closes too.
    ///
    /// Close waits at most the handshake timeout (default 5 s) for the peer to make room for
    /// what is still queued and, over TCP, for its kernel to acknowledge it. If another thread
    /// is in the middle of sending, or the peer stays full past that time, the peer instead
    /// sees `PeerDisconnected` after the messages it did receive.
    pub fn close(&self) {
        self.shared.close();
    }

    /// Wait at most `timeout` until the rest of a message that a timed send left half-written
    /// has gone out (see [`send_timeout`](Self::send_timeout)); at once if there is none.
    /// `Timeout`: some of it is still queued in the channel (it still goes out before any
    /// later message, or with `close`). Useful after [`try_send`](Self::try_send) /
    /// `send_timeout` when nothing else will be sent for a while.
    pub fn flush_timeout(&self, timeout: Duration) -> Result<()> {
        self.shared.flush(&Wait::timeout(timeout))
    }

    /// [`flush_timeout`](Self::flush_timeout), waiting as `wait` allows.
    pub fn flush_wait(&self, wait: Wait<'_>) -> Result<()> {
        self.shared.flush(&wait)
    }

    /// Send a `len`-byte message written in place by `fill`. Over shared memory the bytes go
    /// straight into the ring (no copy) when the message fits in one ring record (half the ring);
    /// otherwise, and over sockets, `fill` writes a private buffer that is then sent.
    ///
    /// ```no_run
    /// # fn demo(ch: &libipc::Channel) -> libipc::Result<()> {
    /// ch.send_with(12, |buf| {
    ///     buf.write_at(0, b"hello ");
    ///     buf.write_at(6, b"world!");
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn send_with(&self, len: usize, fill: impl FnOnce(&mut WriteBuf<'_>)) -> Result<()> {
        let mut slot = self.reserve(len)?;
        fill(&mut slot.buf());
        slot.commit()
    }

    /// Reserve a `len`-byte outgoing message, to be written in place and then
    /// [`commit`](SendSlot::commit)ted; dropping the slot instead sends nothing. Over shared
    /// memory the slot points into the ring when the message fits in one ring record (half
    /// the ring), waiting here for room, and holds the send side until it is committed or
    /// dropped (other sends on this channel wait meanwhile); otherwise, and over sockets,
    /// it is a private buffer and `commit` sends it (waiting there).
    ///
    /// The slot is owned (`'static`, `Send`): it keeps the channel alive and may be finished
    /// on any thread.
    ///
    /// Errors: `MessageTooLarge` (nothing reserved; the channel stays usable), `Closed`,
    /// `PeerDisconnected`, as for [`send`](Self::send).
    ///
    /// ```no_run
    /// # fn demo(ch: &libipc::Channel) -> libipc::Result<()> {
    /// let mut slot = ch.reserve(4)?;
    /// slot.write_at(0, &7u32.to_le_bytes());
    /// slot.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn reserve(&self, len: usize) -> Result<SendSlot> {
        self.reserve_inner(len, &Wait::forever(), None)
    }

    /// [`reserve`](Self::reserve), giving up with `Timeout` (nothing reserved) if there is no
    /// room in the ring by `timeout`. For a private buffer (over sockets, or a message larger
    /// than one ring record) there is nothing to wait for yet; `commit` then waits at most
    /// `timeout`, counted from the commit, as [`send_timeout`](Self::send_timeout) does.
    pub fn reserve_timeout(&self, len: usize, timeout: Duration) -> Result<SendSlot> {
        self.reserve_inner(len, &Wait::timeout(timeout), Some(timeout))
    }

    /// [`reserve`](Self::reserve), waiting for ring room as `wait` allows (a private buffer's
    /// `commit` then waits without limit; use [`SendSlot::commit_wait`] to bound it).
    pub fn reserve_wait(&self, len: usize, wait: Wait<'_>) -> Result<SendSlot> {
        self.reserve_inner(len, &wait, None)
    }

    fn reserve_inner(
        &self,
        len: usize,
        wait: &Wait<'_>,
        commit_timeout: Option<Duration>,
    ) -> Result<SendSlot> {
        let shared = &self.shared;
        shared.conn().check_send_size(len)?;
        let max = shared.link.max_in_place();
        if max > 0 && len <= max {
            let r = shared.reserve_in_place(len, wait)?;
            return Ok(SendSlot::in_place(Arc::clone(shared), r));
        }
        if let Some(e) = shared.conn().send_blocked() {
            return Err(e);
        }
        Ok(SendSlot::private(Arc::clone(shared), len, commit_timeout))
    }

    /// Receive the next message, to be read in place; its space is released when the slot
    /// drops. Over shared memory a message that fits in one record stays in the ring and the
    /// receive side stays held until then (receiving on this channel meanwhile, from any
    /// thread, waits or times out; on the thread that made the slot, a receive without
    /// timeout fails with `Busy` instead of waiting forever); a fragmented message is
    /// assembled into a buffer the slot owns. Over sockets the slot holds the received
    /// message. The slot is owned (`'static`, `Send`). Errors as for [`recv`](Self::recv).
    ///
    /// ```no_run
    /// # fn demo(ch: &libipc::Channel) -> libipc::Result<()> {
    /// let msg = ch.recv_in_place()?;
    /// let mut tag = [0u8; 4];
    /// if msg.len() >= 4 {
    ///     msg.read_at(0, &mut tag);
    /// }
    /// drop(msg);
    /// # Ok(()) }
    /// ```
    pub fn recv_in_place(&self) -> Result<RecvSlot> {
        self.recv_in_place_wait(Wait::forever())
    }

    /// [`recv_in_place`](Self::recv_in_place), giving up with `Timeout` after `timeout` (a
    /// zero timeout only takes a message already there). `Timeout` loses nothing.
    pub fn recv_in_place_timeout(&self, timeout: Duration) -> Result<RecvSlot> {
        self.recv_in_place_wait(Wait::timeout(timeout))
    }

    /// [`recv_in_place`](Self::recv_in_place), waiting as `wait` allows.
    pub fn recv_in_place_wait(&self, wait: Wait<'_>) -> Result<RecvSlot> {
        let (gate, got) = self.shared.recv_in_place(&wait)?;
        Ok(match got {
            Incoming::InPlace(r) => {
                gate.expect("an in-place message keeps the gate")
                    .keep_for_slot();
                RecvSlot::in_place(Arc::clone(&self.shared), r)
            }
            Incoming::Message(m) => RecvSlot::owned(m.into_vec()),
            Incoming::Copied(_) => unreachable!("not asked for"),
        })
    }

    /// Receive the next message and hand it to `read` in place, returning what `read`
    /// returns. Over shared memory the view points into the ring (no copy) and the space is
    /// released when `read` returns; see [`ReadBuf`] for what may be done with it.
    /// The receiving side stays held while `read` runs: receiving on the same channel from
    /// inside `read` times out (or, without a timeout, fails with `Busy`); copy what you need
    /// and return instead.
    ///
    /// ```no_run
    /// # fn demo(ch: &libipc::Channel) -> libipc::Result<()> {
    /// let first_byte = ch.recv_with(|msg| {
    ///     let mut b = [0u8; 1];
    ///     if !msg.is_empty() { msg.read_at(0, &mut b); }
    ///     b[0]
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn recv_with<T>(&self, read: impl FnOnce(ReadBuf<'_>) -> T) -> Result<T> {
        let slot = self.recv_in_place()?;
        Ok(read(slot.view()))
    }

    /// [`recv_with`](Self::recv_with), giving up with `Timeout` after `timeout`.
    pub fn recv_with_timeout<T>(
        &self,
        timeout: Duration,
        read: impl FnOnce(ReadBuf<'_>) -> T,
    ) -> Result<T> {
        let slot = self.recv_in_place_timeout(timeout)?;
        Ok(read(slot.view()))
    }

    /// The peer's credentials (pid, uid, gid) where the transport provides them (Unix sockets
    /// on Linux); all `None` over TCP.
    pub fn peer(&self) -> PeerCredentials {
        self.shared.conn().peer
    }

    /// The largest message [`send`](Self::send) accepts: the smaller of both sides' limits.
    pub fn max_message_size(&self) -> usize {
        self.shared.conn().max_send
    }

    /// An iterator over received messages that ends when the channel is closed in an orderly
    /// way and yields any other error once, then ends.
    pub fn iter(&self) -> Messages<'_> {
        Messages {
            channel: self,
            done: false,
        }
    }
}

/// The descriptor to poll for readability in an event loop (`poll`, `epoll`, tokio's
/// `AsyncFd`, ...). Do not read from or write to it.
///
/// The contract, on every transport: call [`try_recv`](Channel::try_recv) (or any receive with
/// a timeout) until it returns `Timeout`; from then on the descriptor becomes readable when a
/// message arrives or the channel ends (peer CLOSE, ERROR, hang-up), and the next receive
/// reports it. (A receive that timed out only because another thread was receiving on the
/// channel leaves that to the other thread.) Readiness may be spurious (then `try_recv` returns `Timeout` again), and a
/// receive that returned a message says nothing about the next one: keep calling `try_recv`
/// until `Timeout` before polling again. Over sockets messages already buffered in the channel
/// do not make the socket readable, which is why the loop must run until `Timeout`.
///
/// Over Unix sockets and TCP this is the socket. Over `shm://` it is an epoll descriptor
/// watching the data doorbell and the control socket: a receive that times out asks the
/// sender (through the ring) to ring the doorbell for the next message, and the next receive
/// drains it.
#[cfg(unix)]
impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.shared.link.readiness_fd()
    }
}

/// The descriptor of [`AsFd for Channel`](#impl-AsFd-for-Channel), with the same contract.
#[cfg(unix)]
impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// Iterator returned by [`Channel::iter`].
#[derive(Debug)]
pub struct Messages<'a> {
    channel: &'a Channel,
    done: bool,
}

impl Iterator for Messages<'_> {
    type Item = Result<Message>;
    fn next(&mut self) -> Option<Result<Message>> {
        if self.done {
            return None;
        }
        match self.channel.recv() {
            Ok(m) => Some(Ok(m)),
            Err(e) => {
                self.done = true;
                (e.kind() != ErrorKind::Closed).then_some(Err(e))
            }
        }
    }
}
