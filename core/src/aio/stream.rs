//! The socket (Unix, TCP) half of [`AsyncChannel`](super::AsyncChannel).

use std::io::{self, IoSlice};
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rustix::io::Errno;
use tokio::io::unix::AsyncFd;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::elapsed;
use crate::channel::{RecvHalf, Step};
use crate::conn::{Conn, Message};
use crate::error::{Error, ErrorKind, Result};
use crate::handshake::Established;
use crate::options::Options;
use crate::sys;
use crate::wire::{FrameHeader, FrameType, HEADER_LEN};

#[derive(Debug, Default)]
struct SendHalf {
    /// Bytes of a frame that a cancelled or interrupted send left to write.
    pending: Vec<u8>,
    sent: usize,
    ended: Option<Error>,
}

impl SendHalf {
    fn idle(&self) -> bool {
        self.sent == self.pending.len()
    }
}

#[derive(Debug)]
struct Shared {
    io: AsyncFd<Conn>,
    rx: Mutex<RecvHalf>,
    tx: Mutex<SendHalf>,
}

/// The socket (Unix or TCP) implementation of [`AsyncChannel`](super::AsyncChannel).
#[derive(Debug)]
pub(super) struct StreamChannel {
    shared: Shared,
}

fn closed_error() -> Error {
    Error::new(ErrorKind::Closed, "the channel was closed")
}

impl StreamChannel {
    pub(super) fn from_established(est: Established, opts: &Options) -> Result<StreamChannel> {
        sys::set_nonblocking(est.fd.as_fd(), true)?;
        let conn = Conn::new(est, opts);
        let rx = Mutex::new(RecvHalf::new(conn.max_recv));
        // SAFETY: `Conn` owns its `OwnedFd`, never replaces it, and its `as_raw_fd` always
        // returns that fd, so the fd stays open and the same for the `AsyncFd`'s lifetime.
        let io = unsafe { AsyncFd::register(conn) }
            .map_err(|e| Error::from_io(&e.into(), "registering with tokio"))?;
        Ok(StreamChannel {
            shared: Shared {
                io,
                rx,
                tx: Mutex::new(SendHalf::default()),
            },
        })
    }

    pub(super) fn conn(&self) -> &Conn {
        self.shared.io.get_ref()
    }

    /// Send one message, waiting while the peer is not reading.
    pub(super) async fn send(&self, data: &[u8]) -> Result<()> {
        self.send_inner(data, None).await
    }

    /// Send one message, waiting at most `timeout`. `Timeout` means nothing of the message was
    /// sent. If the deadline passes after part of it went out, the rest is kept in the channel
    /// and written before any later message (or by `close`), and the call returns `Ok`.
    pub(super) async fn send_timeout(&self, data: &[u8], timeout: Duration) -> Result<()> {
        self.send_inner(data, Some(Instant::from_std(sys::after(timeout))))
            .await
    }

    async fn send_inner(&self, data: &[u8], deadline: Option<Instant>) -> Result<()> {
        let conn = self.conn();
        conn.check_send_size(data.len())?;
        let mut tx = match deadline {
            None => self.shared.tx.lock().await,
            Some(d) => tokio::time::timeout_at(d, self.shared.tx.lock())
                .await
                .map_err(|_| elapsed("send"))?,
        };
        if let Some(e) = conn.send_blocked() {
            return Err(e);
        }
        if let Some(e) = &tx.ended {
            return Err(e.clone());
        }
        if !tx.idle() {
            match deadline {
                None => self.flush(&mut tx).await?,
                Some(d) => tokio::time::timeout_at(d, self.flush(&mut tx))
                    .await
                    .map_err(|_| elapsed("send"))??,
            }
        }
        let header = FrameHeader::data(data.len() as u32).encode();
        let total = HEADER_LEN + data.len();
        let mut written = 0usize;
        while written == 0 {
            let ready = self.shared.io.writable();
            let mut guard = match deadline {
                None => ready.await,
                Some(d) => tokio::time::timeout_at(d, ready)
                    .await
                    .map_err(|_| elapsed("send"))?,
            }
            .map_err(|e| Error::from_io(&e, "send"))?;
            let attempt = guard.try_io(|io| {
                let mut slices = [IoSlice::new(&header), IoSlice::new(data)];
                match sys::send_all(io.get_ref().fd.as_fd(), &mut slices) {
                    Ok(n) => {
                        written = n;
                        Ok(Ok(()))
                    }
                    Err((0, Errno::AGAIN)) => Err(io::ErrorKind::WouldBlock.into()),
                    Err((n, e)) => {
                        written = n;
                        Ok(Err(e))
                    }
                }
            });
            match attempt {
                Err(_would_block) => continue,
                Ok(Ok(Ok(()))) => return Ok(()),
                Ok(Ok(Err(Errno::AGAIN))) => break,
                Ok(Ok(Err(e))) => return Err(self.end_send(&mut tx, e)),
                Ok(Err(e)) => return Err(Error::from_io(&e, "send")),
            }
        }
        // Part of the frame is out: keep the rest in the channel so that even if this future is
        // dropped, the frame is completed before anything else is written.
        let mut rest = Vec::with_capacity(total - written);
        if written < HEADER_LEN {
            rest.extend_from_slice(&header[written..]);
            rest.extend_from_slice(data);
        } else {
            rest.extend_from_slice(&data[written - HEADER_LEN..]);
        }
        tx.pending = rest;
        tx.sent = 0;
        match deadline {
            None => self.flush(&mut tx).await,
            // Past the deadline the message still counts as sent: its rest goes out before
            // anything else, as with the blocking `send_timeout`.
            Some(d) => tokio::time::timeout_at(d, self.flush(&mut tx))
                .await
                .unwrap_or(Ok(())),
        }
    }

    fn end_send(&self, tx: &mut SendHalf, e: Errno) -> Error {
        let err = if self.conn().closed.load(Ordering::Acquire) {
            closed_error()
        } else {
            sys::io_error(e, "send")
        };
        tx.ended = Some(err.clone());
        err
    }

    /// Write out `tx.pending`; cancellation-safe (progress is recorded in `tx`).
    async fn flush(&self, tx: &mut SendHalf) -> Result<()> {
        while !tx.idle() {
            let mut guard = self
                .shared
                .io
                .writable()
                .await
                .map_err(|e| Error::from_io(&e, "send"))?;
            let attempt = guard.try_io(|io| {
                let mut slices = [IoSlice::new(&tx.pending[tx.sent..])];
                match sys::send_all(io.get_ref().fd.as_fd(), &mut slices) {
                    Ok(n) => {
                        tx.sent += n;
                        Ok(Ok(()))
                    }
                    Err((n, Errno::AGAIN)) => {
                        tx.sent += n;
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err((_, e)) => Ok(Err(e)),
                }
            });
            if let Ok(Ok(Err(e))) = attempt {
                return Err(self.end_send(tx, e));
            }
        }
        tx.pending = Vec::new();
        tx.sent = 0;
        Ok(())
    }

    /// End the receive side. A violation is reported to the peer only if no frame is
    /// half-written, with the send side kept locked while doing so.
    fn end_recv(&self, rx: &mut RecvHalf, end: Step) -> Error {
        let tx = self.shared.tx.try_lock().ok();
        let tx_free = tx.as_ref().is_some_and(|t| t.idle());
        self.conn().end_recv(rx, end, tx_free)
    }

    /// Receive the next message. Errors as [`Channel::recv`](crate::Channel::recv).
    pub(super) async fn recv(&self) -> Result<Message> {
        let conn = self.conn();
        let mut rx = self.shared.rx.lock().await;
        loop {
            match rx.step(&conn.closed) {
                Step::Message(m) => return Ok(m),
                Step::NeedData => {}
                end => return Err(self.end_recv(&mut rx, end)),
            }
            let mut guard = self
                .shared
                .io
                .readable()
                .await
                .map_err(|e| Error::from_io(&e, "recv"))?;
            let attempt = guard.try_io(|io| {
                match sys::read_into(io.get_ref().fd.as_fd(), rx.reader.spare()) {
                    Err(Errno::AGAIN) => Err(io::ErrorKind::WouldBlock.into()),
                    other => Ok(other),
                }
            });
            let Ok(read) = attempt else { continue };
            let read = read.map_err(|e| Error::from_io(&e, "recv"))?;
            if let Ok(n) = read {
                // SAFETY: `read_into` initialised `n` bytes of the slice `spare` returned, and
                // nothing touched the reader in between.
                unsafe { rx.reader.filled(n) };
            }
            if let Some(e) = conn.after_read(&mut rx, read) {
                return Err(e);
            }
        }
    }

    /// Receive a message if one is already available, without waiting; `Timeout` if none is
    /// (or another task is receiving).
    pub(super) fn try_recv(&self) -> Result<Message> {
        let conn = self.conn();
        let Ok(mut rx) = self.shared.rx.try_lock() else {
            return Err(Error::new(ErrorKind::Timeout, "another task is receiving"));
        };
        loop {
            match rx.step(&conn.closed) {
                Step::Message(m) => return Ok(m),
                Step::NeedData => {}
                end => return Err(self.end_recv(&mut rx, end)),
            }
            let read = sys::read_into(conn.fd.as_fd(), rx.reader.spare());
            match read {
                Err(Errno::AGAIN) => {
                    return Err(Error::new(ErrorKind::Timeout, "no message is available"));
                }
                // SAFETY: `read_into` initialised `n` bytes of the slice `spare` returned.
                Ok(n) => unsafe { rx.reader.filled(n) },
                Err(_) => {}
            }
            if let Some(e) = conn.after_read(&mut rx, read) {
                return Err(e);
            }
        }
    }

    /// Close the channel: anything a cancelled send left is written out, then CLOSE, waiting
    /// at most the handshake timeout for the peer to take it; then the socket is shut down.
    /// Pending `recv` and `send` calls return `Closed`. Idempotent.
    pub(super) async fn close(&self) {
        let conn = self.conn();
        if conn.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        // Shut the socket down even if this future is dropped half-way.
        let _shutdown = ShutdownOnDrop(conn.fd.as_fd());
        let _ = tokio::time::timeout(conn.close_timeout, async {
            let mut tx = self.shared.tx.lock().await;
            if tx.ended.is_some() || self.flush(&mut tx).await.is_err() {
                return;
            }
            tx.pending = FrameHeader {
                length: 0,
                frame_type: FrameType::Close,
                flags: 0,
            }
            .encode()
            .to_vec();
            tx.sent = 0;
            if self.flush(&mut tx).await.is_err() {
                return;
            }
            // Over TCP, wait for the peer's kernel to acknowledge everything before the socket
            // closes: closing with unread input sends a reset that destroys data in flight.
            let fd = conn.fd.as_fd();
            if sys::shutdown(fd, true) {
                while !sys::nothing_in_flight(fd) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        })
        .await;
    }
}

/// Shuts a socket down in both directions when dropped.
struct ShutdownOnDrop<'a>(std::os::fd::BorrowedFd<'a>);

impl Drop for ShutdownOnDrop<'_> {
    fn drop(&mut self) {
        sys::shutdown(self.0, false);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let conn = self.io.get_ref();
        if conn.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        // Best effort without blocking: finish a pending frame and say CLOSE if it all fits.
        if let Ok(tx) = self.tx.try_lock()
            && tx.ended.is_none()
            && sys::send_nowait(conn.fd.as_fd(), &tx.pending[tx.sent..])
        {
            let close = FrameHeader {
                length: 0,
                frame_type: FrameType::Close,
                flags: 0,
            }
            .encode();
            sys::send_nowait(conn.fd.as_fd(), &close);
        }
        sys::shutdown(conn.fd.as_fd(), false);
    }
}
