//! The blocking [`Channel`]: a connected, bidirectional, message-oriented link.
//!
//! Contract, the same on every transport:
//! - messages keep their boundaries: what one `send` writes, one `recv` returns, byte for byte;
//!   empty messages are allowed;
//! - order is FIFO per direction, nothing is duplicated, nothing is dropped silently;
//! - `send` applies backpressure: it blocks while the peer is not reading (or times out);
//! - one thread may send while another receives; `Channel` is `Send + Sync` and cheap to clone
//!   (clones share the connection, which closes when the last clone drops or on `close`);
//! - a receive that times out loses nothing: a partly received message is kept for the next call.
//!
//! ```no_run
//! # fn main() -> libipc::Result<()> {
//! let ch = libipc::Channel::connect("orders")?;
//! ch.send(b"hello")?;
//! let reply = ch.recv()?;
//! println!("{} bytes", reply.len());
//! # Ok(()) }
//! ```

use std::fmt;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::buf::{ReadBuf, WriteBuf};
use crate::conn::{Conn, closed_error};
pub use crate::conn::{Message, PeerCredentials};
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::handshake::{self, Established};
use crate::options::Options;
use crate::shm::ShmLink;
use crate::slot::{RecvSlot, SendSlot};
use crate::sys::{self, Interest};
use crate::transport;
use crate::wire::{ErrorPayload, Frame, FrameHeader, FrameReader, FrameType};

/// Messages up to this size are copied behind their header and sent with one `send`.
const COALESCE_MAX: usize = 64 * 1024;

/// What the receiving half does next.
#[derive(Debug)]
pub(crate) struct RecvHalf {
    pub(crate) reader: FrameReader,
    /// Set once the stream has ended (peer CLOSE, error, EOF): every later recv returns it.
    pub(crate) ended: Option<Error>,
}

/// The outcome of decoding what has been received so far.
#[derive(Debug)]
pub(crate) enum Step {
    /// A complete message.
    Message(Message),
    /// More bytes are needed.
    NeedData,
    /// The stream has ended (CLOSE, peer ERROR, earlier failure, local close).
    End(Error),
    /// The peer broke the protocol: report it and end the stream.
    Fail(Error),
}

impl RecvHalf {
    pub(crate) fn new(max_recv: u32) -> RecvHalf {
        RecvHalf {
            reader: FrameReader::new(max_recv),
            ended: None,
        }
    }

    /// Decode the next frame from buffered bytes.
    pub(crate) fn step(&mut self, closed: &AtomicBool) -> Step {
        if let Some(e) = &self.ended {
            return Step::End(e.clone());
        }
        if closed.load(Ordering::Acquire) {
            return Step::End(closed_error());
        }
        match self.reader.next() {
            Ok(Some(Frame::Message(m))) => Step::Message(Message::new(m)),
            Ok(Some(Frame::Close)) => {
                Step::End(Error::new(ErrorKind::Closed, "the peer closed the channel"))
            }
            Ok(Some(Frame::Error(p))) => Step::End(p.to_error()),
            Ok(None) if closed.load(Ordering::Acquire) => Step::End(closed_error()),
            Ok(None) => Step::NeedData,
            Err(e) => Step::Fail(e),
        }
    }
}

#[derive(Debug)]
pub(crate) struct SendHalf {
    scratch: Vec<u8>,
    /// The unsent rest of a frame whose send timed out after it had started.
    pending: Vec<u8>,
    sent: usize,
    pub(crate) ended: Option<Error>,
}

/// The blocking channel's state.
#[derive(Debug)]
pub(crate) struct Shared {
    conn: Conn,
    rx: Mutex<RecvHalf>,
    tx: Mutex<SendHalf>,
}

impl std::ops::Deref for Shared {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.conn
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
    link: Arc<Link>,
}

/// The transport-specific half of a channel.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per channel, behind an Arc
enum Link {
    /// Unix sockets and TCP: frames on a byte stream.
    Stream(Shared),
    /// Shared-memory rings, with the socket kept for liveness.
    Shm(ShmLink),
}

impl Link {
    fn conn(&self) -> &Conn {
        match self {
            Link::Stream(s) => &s.conn,
            Link::Shm(l) => l.conn(),
        }
    }

    fn send_until(&self, data: &[u8], deadline: Option<Instant>) -> Result<()> {
        match self {
            Link::Stream(s) => s.send_until(data, deadline),
            Link::Shm(l) => l.send_until(data, deadline),
        }
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<Message> {
        match self {
            Link::Stream(s) => s.recv_until(deadline),
            Link::Shm(l) => l.recv_until(deadline),
        }
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("fd", &self.link.conn().fd.as_raw_fd())
            .field("peer", &self.link.conn().peer)
            .finish()
    }
}

impl Conn {
    /// Record a terminal receive error and shut the socket down. A protocol failure is first
    /// reported to the peer with an ERROR frame, when no sender is mid-message (`tx_free`).
    pub(crate) fn end_recv(&self, rx: &mut RecvHalf, step: Step, tx_free: bool) -> Error {
        let err = match step {
            Step::Fail(err) => {
                if tx_free {
                    let frame = ErrorPayload::from_error(err.kind(), err.message()).encode_frame();
                    sys::send_nowait(self.fd.as_fd(), &frame);
                }
                tracing::debug!(error = %err, "channel failed");
                sys::shutdown(self.fd.as_fd(), false);
                err
            }
            Step::End(err) => err,
            Step::Message(_) | Step::NeedData => unreachable!("not an end"),
        };
        self.end_with(rx, &err);
        err
    }

    fn end_with(&self, rx: &mut RecvHalf, err: &Error) {
        rx.ended = Some(err.clone());
        let _ = self.recv_end.set(err.clone());
    }

    /// Classify the end of the byte stream.
    pub(crate) fn eof_error(&self, rx: &RecvHalf) -> Error {
        if self.closed.load(Ordering::Acquire) {
            closed_error()
        } else if rx.reader.has_partial() {
            Error::new(
                ErrorKind::PeerDisconnected,
                "peer disconnected in the middle of a message",
            )
        } else {
            Error::new(
                ErrorKind::PeerDisconnected,
                "peer disconnected without closing the channel",
            )
        }
    }

    /// What reading `n` bytes (0 = EOF) or a read error means once the reader needs more.
    pub(crate) fn after_read(
        &self,
        rx: &mut RecvHalf,
        read: std::result::Result<usize, rustix::io::Errno>,
    ) -> Option<Error> {
        let err = match read {
            Ok(0) => self.eof_error(rx),
            Ok(_) => return None,
            Err(_) if self.closed.load(Ordering::Acquire) => closed_error(),
            Err(e) => sys::io_error(e, "recv"),
        };
        self.end_with(rx, &err);
        Some(err)
    }
}

impl Shared {
    fn recv_until(&self, deadline: Option<Instant>) -> Result<Message> {
        let mut rx = sys::lock_until(&self.rx, deadline)?;
        // Poll without sleeping for a while first (once per call), unless the caller would
        // not wait at all.
        let mut spin = (!self.spin.is_zero() && deadline.is_none_or(|d| Instant::now() < d))
            .then(|| sys::after(self.spin));
        loop {
            match rx.step(&self.closed) {
                Step::Message(m) => return Ok(m),
                Step::NeedData => {}
                end => {
                    // Report a violation only if no frame is half-written, and keep the send
                    // side locked while doing so.
                    let tx = self.tx.try_lock().ok();
                    let tx_free = tx.as_ref().is_some_and(|t| t.sent == t.pending.len());
                    let e = self.end_recv(&mut rx, end, tx_free);
                    drop(tx);
                    return Err(e);
                }
            }
            let read = match spin.take() {
                Some(end) => self.spin_read(&mut rx, end.min(deadline.unwrap_or(end))),
                None => None,
            };
            if let Some(read) = read {
                if let Ok(n) = read {
                    // SAFETY: `recv_nowait` initialised `n` bytes of the slice `spare`
                    // returned, and nothing touched the reader in between.
                    unsafe { rx.reader.filled(n) };
                }
                if let Some(e) = self.after_read(&mut rx, read) {
                    return Err(e);
                }
                continue;
            }
            if deadline.is_some() && !sys::wait(self.fd.as_fd(), Interest::Read, deadline)? {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "no message arrived before the timeout",
                ));
            }
            let read = sys::read_into(self.fd.as_fd(), rx.reader.spare());
            if let Ok(n) = read {
                // SAFETY: `read_into` initialised `n` bytes of the slice `spare` returned, and
                // nothing touched the reader in between.
                unsafe { rx.reader.filled(n) };
            }
            if let Some(e) = self.after_read(&mut rx, read) {
                return Err(e);
            }
        }
    }

    /// Poll the socket without sleeping until `end`: the outcome of the first read that was not
    /// "nothing yet", or `None` if nothing came.
    fn spin_read(
        &self,
        rx: &mut RecvHalf,
        end: Instant,
    ) -> Option<std::result::Result<usize, rustix::io::Errno>> {
        loop {
            match sys::recv_nowait(self.fd.as_fd(), rx.reader.spare()) {
                Err(rustix::io::Errno::AGAIN) => {}
                other => return Some(other),
            }
            if Instant::now() >= end {
                return None;
            }
            std::hint::spin_loop();
        }
    }

    fn send_until(&self, data: &[u8], deadline: Option<Instant>) -> Result<()> {
        self.check_send_size(data.len())?;
        let mut tx = sys::lock_until(&self.tx, deadline)?;
        if let Some(e) = self.send_blocked().or_else(|| tx.ended.clone()) {
            return Err(e);
        }
        // Finish what an earlier timed-out send left; until then nothing of this message is sent.
        self.flush(&mut tx, deadline)?;
        let header = FrameHeader::data(data.len() as u32).encode();
        let SendHalf {
            scratch,
            pending,
            sent,
            ..
        } = &mut *tx;
        // The frame as two parts: header and payload, or both copied into one buffer.
        let parts: [&[u8]; 2] = if data.len() <= COALESCE_MAX {
            scratch.clear();
            scratch.extend_from_slice(&header);
            scratch.extend_from_slice(data);
            [scratch, &[]]
        } else {
            [&header, data]
        };
        // The parts still to write once `written` bytes of the frame are out.
        let rest = |written: usize| -> [&[u8]; 2] {
            if written < parts[0].len() {
                [&parts[0][written..], parts[1]]
            } else {
                [&[], &parts[1][written - parts[0].len()..]]
            }
        };
        let mut written = 0;
        let result = match deadline {
            None => sys::send_all(self.fd.as_fd(), &mut parts.map(IoSlice::new)),
            // Try first and wait only when the socket is full: poll's idea of "writable" (a
            // quarter of the send buffer free, for Unix sockets) is stricter than what a send
            // accepts.
            Some(_) => loop {
                match sys::send_nonblocking(self.fd.as_fd(), &mut rest(written).map(IoSlice::new)) {
                    Ok(n) => break Ok(written + n),
                    Err((n, rustix::io::Errno::AGAIN)) => written += n,
                    Err((n, e)) => break Err((n, e)),
                }
                if !sys::wait(self.fd.as_fd(), Interest::Write, deadline)? {
                    break Err((0, rustix::io::Errno::AGAIN));
                }
            },
        };
        match result {
            Ok(_) => Ok(()),
            Err((_, rustix::io::Errno::AGAIN)) if written == 0 => Err(Error::new(
                ErrorKind::Timeout,
                "the peer did not start taking the message before the timeout",
            )),
            Err((_, rustix::io::Errno::AGAIN)) => {
                // Part of the frame is out: keep the rest, so the message is delivered whole
                // before anything else (by the next send or by close). It counts as sent.
                *pending = rest(written).concat();
                *sent = 0;
                Ok(())
            }
            Err((_, e)) => {
                let err = if self.closed.load(Ordering::Acquire) {
                    closed_error()
                } else {
                    sys::io_error(e, "send")
                };
                tx.ended = Some(err.clone());
                Err(err)
            }
        }
    }

    /// Write out the rest of a frame a timed-out send left, waiting until `deadline`.
    fn flush(&self, tx: &mut SendHalf, deadline: Option<Instant>) -> Result<()> {
        while tx.sent < tx.pending.len() {
            match sys::send_nonblocking(
                self.fd.as_fd(),
                &mut [IoSlice::new(&tx.pending[tx.sent..])],
            ) {
                Ok(n) => tx.sent += n,
                Err((n, rustix::io::Errno::AGAIN)) => {
                    tx.sent += n;
                    if tx.sent < tx.pending.len()
                        && !sys::wait(self.fd.as_fd(), Interest::Write, deadline)?
                    {
                        return Err(Error::new(
                            ErrorKind::Timeout,
                            "an earlier message is still going out; the peer is not reading",
                        ));
                    }
                }
                Err((_, e)) => {
                    let err = if self.closed.load(Ordering::Acquire) {
                        closed_error()
                    } else {
                        sys::io_error(e, "send")
                    };
                    tx.ended = Some(err.clone());
                    return Err(err);
                }
            }
        }
        tx.pending = Vec::new();
        tx.sent = 0;
        Ok(())
    }

    /// Orderly close: send CLOSE (unless a sender is mid-message), then shut the socket down.
    /// With `wait`, waits up to the close timeout for room to send CLOSE; without, tries once.
    fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let deadline = sys::after(self.close_timeout);
        if let Ok(mut tx) = self.tx.try_lock()
            && tx.ended.is_none()
        {
            // Finish a message a timed-out send left, then say CLOSE.
            tx.pending.extend_from_slice(
                &FrameHeader {
                    length: 0,
                    frame_type: FrameType::Close,
                    flags: 0,
                }
                .encode(),
            );
            if self.flush(&mut tx, Some(deadline)).is_ok() && sys::shutdown(self.fd.as_fd(), true) {
                sys::linger_tcp(self.fd.as_fd(), deadline);
            }
        }
        sys::shutdown(self.fd.as_fd(), false);
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
        let fd = transport::connect(&ep, opts)?;
        let est = handshake::client(fd, opts, matches!(ep, Endpoint::Shm(_)))?;
        tracing::debug!(endpoint = %ep, "connected");
        Channel::from_established(est, opts)
    }

    pub(crate) fn from_established(mut est: Established, opts: &Options) -> Result<Channel> {
        let shm = est.shm.take();
        let conn = Conn::new(est, opts);
        let link = match shm {
            Some(setup) => Link::Shm(ShmLink::new(conn, setup, opts.shm_spin)?),
            None => Link::Stream(Shared {
                rx: Mutex::new(RecvHalf::new(opts.max_message_u32())),
                tx: Mutex::new(SendHalf {
                    scratch: Vec::new(),
                    pending: Vec::new(),
                    sent: 0,
                    ended: None,
                }),
                conn,
            }),
        };
        Ok(Channel {
            link: Arc::new(link),
        })
    }

    /// Send one message, blocking while the peer is not reading.
    ///
    /// Errors: `MessageTooLarge` (nothing sent; the channel stays usable), `PeerDisconnected`,
    /// `Closed`.
    pub fn send(&self, data: &[u8]) -> Result<()> {
        self.link.send_until(data, None)
    }

    /// Send one message, waiting at most `timeout`. `Timeout` means nothing of the message was
    /// sent (it may be retried). If the deadline passes after part of it went out, the rest is
    /// kept in the channel and written before any later message (or by `close`), and the call
    /// returns `Ok`: frames are never left half-written.
    pub fn send_timeout(&self, data: &[u8], timeout: Duration) -> Result<()> {
        self.link.send_until(data, Some(sys::after(timeout)))
    }

    /// Receive the next message, blocking until one arrives.
    ///
    /// Errors: `Closed` once the peer closed the channel (after every message it sent has been
    /// received) or after [`close`](Self::close); `PeerDisconnected` if the peer vanished;
    /// `ProtocolViolation`/`MessageTooLarge` if it sent malformed or oversize data.
    pub fn recv(&self) -> Result<Message> {
        self.link.recv_until(None)
    }

    /// Receive, waiting at most `timeout`; `Timeout` loses nothing.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message> {
        self.link.recv_until(Some(sys::after(timeout)))
    }

    /// Receive a message if one is already available; `Timeout` if none is.
    ///
    /// To wait for messages in an event loop, call `try_recv` until it returns `Timeout`, then
    /// poll the channel's descriptor ([`as_fd`](Self::as_fd)) for readability, then call it
    /// again (see [`AsFd for Channel`](#impl-AsFd-for-Channel)). After any receive that returned
    /// `Timeout`, the descriptor becomes readable when a message arrives or the channel ends.
    pub fn try_recv(&self) -> Result<Message> {
        self.link.recv_until(Some(Instant::now()))
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
        match &*self.link {
            Link::Stream(s) => s.close(),
            Link::Shm(l) => l.close(),
        }
    }

    /// Wait at most `timeout` until the rest of a message that a timed send left half-written
    /// has gone out (see [`send_timeout`](Self::send_timeout)); at once if there is none.
    /// `Timeout`: some of it is still queued in the channel (it still goes out before any
    /// later message, or with `close`). Useful after [`try_send`](Self::try_send) /
    /// `send_timeout` when nothing else will be sent for a while.
    pub fn flush_timeout(&self, timeout: Duration) -> Result<()> {
        let deadline = Some(sys::after(timeout));
        match &*self.link {
            Link::Stream(s) => {
                let mut tx = sys::lock_until(&s.tx, deadline)?;
                if let Some(e) = s.send_blocked().or_else(|| tx.ended.clone()) {
                    return Err(e);
                }
                s.flush(&mut tx, deadline)
            }
            Link::Shm(l) => l.flush_until(deadline),
        }
    }

    /// Send a message if it can go out without waiting; `Timeout` ("full") if the peer is not
    /// taking more right now. Nothing is sent on `Timeout`.
    pub fn try_send(&self, data: &[u8]) -> Result<()> {
        self.link.send_until(data, Some(Instant::now()))
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
    /// the ring), waiting here for room, and holds the send side locked until it is committed
    /// or dropped (other sends on this channel wait meanwhile); otherwise, and over sockets,
    /// it is a private buffer and `commit` sends it (waiting there).
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
    pub fn reserve(&self, len: usize) -> Result<SendSlot<'_>> {
        self.reserve_within(len, None)
    }

    /// [`reserve`](Self::reserve), giving up with `Timeout` (nothing reserved) if there is no
    /// room in the ring by `timeout`. For a private buffer (over sockets, or a message larger
    /// than one ring record) there is nothing to wait for yet; `commit` then waits at most
    /// `timeout`, counted from the commit, as [`send_timeout`](Self::send_timeout) does.
    pub fn reserve_timeout(&self, len: usize, timeout: Duration) -> Result<SendSlot<'_>> {
        self.reserve_within(len, Some(timeout))
    }

    fn reserve_within(&self, len: usize, timeout: Option<Duration>) -> Result<SendSlot<'_>> {
        match &*self.link {
            Link::Shm(l) if len <= l.max_record() => {
                l.reserve(len, timeout.map(sys::after)).map(SendSlot::ring)
            }
            link => {
                let conn = link.conn();
                conn.check_send_size(len)?;
                if let Some(e) = conn.send_blocked() {
                    return Err(e);
                }
                Ok(SendSlot::private(self, len, timeout))
            }
        }
    }

    /// Send a whole message until `deadline` (used by a private [`SendSlot`]).
    pub(crate) fn send_until(&self, data: &[u8], deadline: Option<Instant>) -> Result<()> {
        self.link.send_until(data, deadline)
    }

    /// Receive the next message, to be read in place; its space is released when the slot
    /// drops. Over shared memory a message that fits in one record stays in the ring and the
    /// receive side stays locked until then (receiving on this channel meanwhile, from any
    /// thread, waits or times out); a fragmented message is assembled into a buffer the slot
    /// owns. Over sockets the slot holds the received message. Errors as for
    /// [`recv`](Self::recv).
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
    pub fn recv_in_place(&self) -> Result<RecvSlot<'_>> {
        self.recv_in_place_until(None)
    }

    /// [`recv_in_place`](Self::recv_in_place), giving up with `Timeout` after `timeout` (a
    /// zero timeout only takes a message already there). `Timeout` loses nothing.
    pub fn recv_in_place_timeout(&self, timeout: Duration) -> Result<RecvSlot<'_>> {
        self.recv_in_place_until(Some(sys::after(timeout)))
    }

    fn recv_in_place_until(&self, deadline: Option<Instant>) -> Result<RecvSlot<'_>> {
        match &*self.link {
            Link::Shm(l) => l.recv_slot(deadline).map(RecvSlot::shm),
            Link::Stream(s) => s
                .recv_until(deadline)
                .map(|m| RecvSlot::owned(m.into_vec())),
        }
    }

    /// Receive the next message and hand it to `read` in place, returning what `read`
    /// returns. Over shared memory the view points into the ring (no copy) and the space is
    /// released when `read` returns; see [`ReadBuf`] for what may be done with it.
    /// The receiving side stays locked while `read` runs: receiving on the same channel from
    /// inside `read` times out (or, without a timeout, waits forever); copy what you need and
    /// return instead.
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
        self.recv_with_deadline(None, read)
    }

    /// [`recv_with`](Self::recv_with), giving up with `Timeout` after `timeout`.
    pub fn recv_with_timeout<T>(
        &self,
        timeout: Duration,
        read: impl FnOnce(ReadBuf<'_>) -> T,
    ) -> Result<T> {
        self.recv_with_deadline(Some(sys::after(timeout)), read)
    }

    fn recv_with_deadline<T>(
        &self,
        deadline: Option<Instant>,
        read: impl FnOnce(ReadBuf<'_>) -> T,
    ) -> Result<T> {
        let slot = self.recv_in_place_until(deadline)?;
        Ok(read(slot.view()))
    }

    /// The peer's credentials (pid, uid, gid) where the transport provides them (Unix sockets
    /// on Linux); all `None` over TCP.
    pub fn peer(&self) -> PeerCredentials {
        self.link.conn().peer
    }

    /// The largest message [`send`](Self::send) accepts: the smaller of both sides' limits.
    pub fn max_message_size(&self) -> usize {
        self.link.conn().max_send
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
impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &*self.link {
            Link::Stream(s) => s.conn.fd.as_fd(),
            Link::Shm(l) => l.readiness_fd(),
        }
    }
}

/// The descriptor of [`AsFd for Channel`](#impl-AsFd-for-Channel), with the same contract.
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
