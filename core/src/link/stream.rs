//! [`StreamLink`]: messages as frames on a connected byte stream (Unix sockets, TCP, FIFOs), decoded
//! by the sans-IO [`FrameReader`] and laid out by the [`FrameWriter`].

use std::any::Any;
use std::io::IoSlice;
#[cfg(unix)]
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Incoming, Link};
use crate::conn::{Conn, Message, closed_error};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::{self, Ready, Source};
use crate::wire::{ErrorPayload, Frame, FrameReader, FrameWriter, Got};

#[derive(Debug)]
struct RecvState {
    reader: FrameReader,
    /// Set once the stream has ended (peer CLOSE, error, EOF): every later receive returns it.
    ended: Option<Error>,
    /// While part of a frame is held: the reader's `frames_done` then, and since when (the
    /// frame timeout counts from there).
    stall: Option<(u64, Instant)>,
}

#[derive(Debug)]
struct SendState {
    writer: FrameWriter,
    /// Set once sending failed: every later send returns it.
    ended: Option<Error>,
    /// CLOSE is queued.
    closing: bool,
}

/// A channel over a connected byte stream.
#[derive(Debug)]
pub(crate) struct StreamLink {
    conn: Conn,
    stream: sys::Stream,
    rx: Mutex<RecvState>,
    tx: Mutex<SendState>,
    recv_src: Vec<Source>,
    send_src: Vec<Source>,
    spin: Duration,
    /// What the transport set up beside the stream for the connection's owner (a
    /// publish/subscribe connection over shared memory: its fan-out ends), taken once.
    attachment: Mutex<Option<Box<dyn Any + Send>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl StreamLink {
    pub(crate) fn new(conn: Conn, stream: sys::Stream, spin: Duration) -> StreamLink {
        let max_recv = conn.max_recv;
        StreamLink {
            recv_src: stream.read_sources(),
            send_src: stream.write_sources(),
            conn,
            stream,
            rx: Mutex::new(RecvState {
                reader: FrameReader::new(max_recv),
                ended: None,
                stall: None,
            }),
            tx: Mutex::new(SendState {
                writer: FrameWriter::new(),
                ended: None,
                closing: false,
            }),
            spin,
            attachment: Mutex::new(None),
        }
    }

    /// With something for the connection's owner to take ([`Link::take_attachment`]).
    #[cfg(unix)]
    pub(crate) fn with_attachment(self, a: Box<dyn Any + Send>) -> StreamLink {
        *lock(&self.attachment) = Some(a);
        self
    }

    /// End the receive side with `err`. A protocol failure (`report`) is first reported to
    /// the peer with an ERROR frame, when no frame is half-written, and the stream is shut.
    fn end_recv(&self, rx: &mut RecvState, err: Error, report: bool) -> Error {
        if report {
            if let Ok(tx) = self.tx.try_lock()
                && tx.writer.is_idle()
            {
                let frame = ErrorPayload::from_error(err.kind(), err.message()).encode_frame();
                self.stream.write_now(&frame);
            }
            tracing::debug!(error = %err, "channel failed");
            self.stream.hang_up();
        }
        rx.ended = Some(err.clone());
        self.conn.set_recv_end(&err);
        err
    }

    /// Classify the end of the byte stream.
    fn eof_error(&self, rx: &RecvState) -> Error {
        if self.conn.is_closed() {
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

    fn end_send(&self, tx: &mut SendState, e: Error) -> Error {
        let err = if self.conn.is_closed() {
            closed_error()
        } else {
            e
        };
        tx.ended = Some(err.clone());
        err
    }

    /// Take the next message without waiting; with a non-empty `dst` (lent to the reader for
    /// this call, see `FrameReader::next_into`), one that fits may come as
    /// [`Incoming::Copied`]. The caller of a non-empty `dst` then calls `unlend`.
    fn recv_now(&self, rx: &mut RecvState, dst: &mut [u8]) -> Result<Option<Incoming>> {
        loop {
            if let Some(e) = &rx.ended {
                return Err(e.clone());
            }
            if self.conn.is_closed() {
                return Err(closed_error());
            }
            match rx.reader.next_into(dst) {
                Ok(Some(Got::Into(n))) => return Ok(Some(Incoming::Copied(n))),
                Ok(Some(Got::Frame(Frame::Message(m)))) => {
                    return Ok(Some(Incoming::Message(Message::new(m))));
                }
                Ok(Some(Got::Frame(Frame::Close))) => {
                    let e = Error::new(ErrorKind::Closed, "the peer closed the channel");
                    return Err(self.end_recv(rx, e, false));
                }
                Ok(Some(Got::Frame(Frame::Error(p)))) => {
                    return Err(self.end_recv(rx, p.to_error(), false));
                }
                Ok(None) => {}
                Err(e) => return Err(self.end_recv(rx, e, true)),
            }
            // SAFETY: `read` writes only bytes it read into the slice.
            match self.stream.read(unsafe { rx.reader.spare_into(dst) }) {
                Ok(Some(0)) => {
                    let e = self.eof_error(rx);
                    return Err(self.end_recv(rx, e, false));
                }
                // SAFETY: `read` initialised `n` bytes of the slice `spare_into` returned,
                // and nothing touched the reader in between.
                Ok(Some(n)) => unsafe { rx.reader.filled(n) },
                Ok(None) => {
                    self.check_stall(rx)?;
                    return Ok(None);
                }
                Err(e) => {
                    let e = if self.conn.is_closed() {
                        closed_error()
                    } else {
                        e
                    };
                    return Err(self.end_recv(rx, e, false));
                }
            }
        }
    }

    /// Nothing more to read now: start, keep or enforce the frame timeout. An error when part
    /// of a frame has been waiting longer than `frame_timeout`.
    fn check_stall(&self, rx: &mut RecvState) -> Result<()> {
        let Some(limit) = self.conn.frame_timeout else {
            return Ok(());
        };
        if !rx.reader.has_partial() {
            rx.stall = None;
            return Ok(());
        }
        let done = rx.reader.frames_done();
        match rx.stall {
            Some((d, since)) if d == done => {
                if since.elapsed() >= limit {
                    let e = Error::new(
                        ErrorKind::ProtocolViolation,
                        format!(
                            "the peer sent part of a frame and not the rest within {limit:?} (frame timeout)"
                        ),
                    );
                    return Err(self.end_recv(rx, e, true));
                }
            }
            _ => rx.stall = Some((done, Instant::now())),
        }
        Ok(())
    }

    /// Write out pending bytes; `true` when none are left.
    fn flush_locked(&self, tx: &mut SendState) -> Result<bool> {
        while !tx.writer.is_idle() {
            let n = match self.stream.write(&[IoSlice::new(tx.writer.pending())]) {
                Ok(n) => n,
                Err(e) => return Err(self.end_send(tx, e)),
            };
            if n == 0 {
                return Ok(false);
            }
            tx.writer.advance(n);
        }
        Ok(true)
    }
}

impl Link for StreamLink {
    fn conn(&self) -> &Conn {
        &self.conn
    }

    fn take_attachment(&self) -> Option<Box<dyn Any + Send>> {
        lock(&self.attachment).take()
    }

    fn spin(&self) -> (Duration, Duration) {
        (self.spin, Duration::ZERO)
    }

    fn try_recv(&self, _arm: bool, _in_place: bool) -> Result<Option<Incoming>> {
        self.recv_now(&mut lock(&self.rx), &mut [])
    }

    fn try_recv_into(&self, _arm: bool, dst: &mut [u8]) -> Result<Option<Incoming>> {
        let mut rx = lock(&self.rx);
        let r = self.recv_now(&mut rx, dst);
        rx.reader.unlend(dst);
        r
    }

    fn recv_sources(&self) -> &[Source] {
        &self.recv_src
    }

    fn recv_woken(&self, _ready: Ready) {}

    fn recv_deadline(&self) -> Option<Instant> {
        let limit = self.conn.frame_timeout?;
        let rx = lock(&self.rx);
        rx.stall.map(|(_, since)| since + limit)
    }

    fn try_send(&self, data: &[u8], progress: &mut usize, _arm: bool) -> Result<bool> {
        let mut tx = lock(&self.tx);
        if *progress == 0 {
            if let Some(e) = self.conn.send_blocked().or_else(|| tx.ended.clone()) {
                return Err(e);
            }
            self.conn.check_send_size(data.len())?;
            if !self.flush_locked(&mut tx)? {
                return Ok(false);
            }
        } else if let Some(e) = tx.ended.clone() {
            return Err(e);
        }
        let total = FrameWriter::frame_len(data);
        let SendState { writer, .. } = &mut *tx;
        let [a, b] = writer.data_frame(data, *progress);
        let n = match self.stream.write(&[IoSlice::new(a), IoSlice::new(b)]) {
            Ok(n) => n,
            Err(e) => return Err(self.end_send(&mut tx, e)),
        };
        *progress += n;
        Ok(*progress == total)
    }

    fn keep_rest(&self, data: &[u8], progress: usize) {
        let mut tx = lock(&self.tx);
        if tx.ended.is_none() {
            tx.writer.keep_rest(data, progress);
        }
    }

    fn try_flush(&self, _arm: bool) -> Result<bool> {
        let mut tx = lock(&self.tx);
        if let Some(e) = tx.ended.clone() {
            return Err(e);
        }
        self.flush_locked(&mut tx)
    }

    fn send_sources(&self) -> &[Source] {
        &self.send_src
    }

    fn send_woken(&self, _ready: Ready) -> Result<()> {
        Ok(())
    }

    fn try_close(&self, _arm: bool) -> Result<bool> {
        let mut tx = lock(&self.tx);
        if let Some(e) = tx.ended.clone() {
            return Err(e);
        }
        if !tx.closing {
            tx.writer.push_close();
            tx.closing = true;
        }
        self.flush_locked(&mut tx)
    }

    fn shutdown_write(&self) -> bool {
        self.stream.shutdown_write()
    }

    fn settled(&self) -> bool {
        self.stream.settled()
    }

    fn fail(&self, err: Error) -> Error {
        let mut rx = lock(&self.rx);
        if let Some(e) = &rx.ended {
            return e.clone();
        }
        self.end_recv(&mut rx, err, true)
    }

    fn hang_up(&self) {
        self.stream.hang_up();
    }

    fn close_now(&self) {
        if !self
            .conn
            .closed
            .swap(true, std::sync::atomic::Ordering::AcqRel)
            && let Ok(tx) = self.tx.try_lock()
            && tx.ended.is_none()
            && self.stream.write_now(tx.writer.pending())
            && !tx.closing
        {
            let mut w = FrameWriter::new();
            w.push_close();
            self.stream.write_now(w.pending());
        }
        self.stream.hang_up();
    }

    #[cfg(unix)]
    fn readiness_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl Drop for StreamLink {
    fn drop(&mut self) {
        self.stream.hang_up();
    }
}
