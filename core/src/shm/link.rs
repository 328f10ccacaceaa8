//! The blocking shared-memory channel: spin briefly, then sleep on an eventfd doorbell and the
//! control socket together, so a dead peer wakes us at once. A side rings the other's doorbell
//! only when the other has said (with a flag in the ring header) that it is asleep.
//!
//! Readiness for callers who poll: a receive that finds nothing once its deadline has passed
//! leaves the consumer *armed* (its sleep flag set, `Rx::armed`), so the next message rings
//! the data doorbell; `readiness` is an epoll set of that doorbell and the control socket, and
//! is what `Channel::as_fd` returns. The next receive disarms: it clears the flag, drains the
//! doorbell and reads the control socket without waiting. A receive that was not armed adds no
//! system call to the blocking path.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering as StdOrdering;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;

use super::ring::{Consumer, Producer, Record, Reservation};
use super::segment::Segment;
use super::setup::ShmSetup;
use crate::buf::ReadBuf;
use crate::conn::{Conn, Message};
use crate::error::{Error, ErrorKind, Result};
use crate::sys;
use crate::wire::{
    ErrorPayload, FLAG_MORE, Frame, FrameReader, FrameType, HEADER_LEN, MAX_ERROR_PAYLOAD,
};

#[derive(Debug)]
struct Rx {
    cons: Consumer,
    /// Fragments (MORE records) of a message larger than one record.
    assembly: Option<Vec<u8>>,
    ended: Option<Error>,
    /// Decodes what arrives on the control socket (only ever an ERROR frame).
    ctrl: FrameReader,
    /// Set when the control socket says the peer is gone; reported once the ring is drained.
    peer_gone: Option<Error>,
    /// A receive timed out and left the sleep flag set (see the module docs).
    armed: bool,
}

#[derive(Debug)]
struct Tx {
    prod: Producer,
    ended: Option<Error>,
    /// The unsent rest of a large message whose send timed out after it had started.
    pending: Vec<u8>,
    pending_at: usize,
}

/// A connected shared-memory channel (blocking).
#[derive(Debug)]
pub(crate) struct ShmLink {
    conn: Conn,
    rx: Mutex<Rx>,
    tx: Mutex<Tx>,
    data_in: OwnedFd,
    space_in: OwnedFd,
    data_out: OwnedFd,
    space_out: OwnedFd,
    /// An epoll set of `data_in` and the control socket (the channel's pollable descriptor).
    readiness: OwnedFd,
    /// The largest payload of one record in the ring we produce into.
    max_record: usize,
    spin: Duration,
    // Declared last: the mapping must outlive every ring pointer above.
    _segment: Segment,
}

/// What woke a sleeper.
enum Woke {
    Bell,
    Ctrl,
    Timeout,
}

fn closed_error() -> Error {
    Error::new(ErrorKind::Closed, "the channel was closed")
}

fn ring(bell: &OwnedFd) {
    let _ = rustix::io::write(bell, &1u64.to_ne_bytes());
}

fn drain(bell: &OwnedFd) {
    let mut b = [0u8; 8];
    let _ = rustix::io::read(bell, &mut b);
}

/// A message taken from the ring: one record still in place (the caller releases it), or
/// fragments assembled into a vector.
enum Taken {
    Record(Record),
    Assembled(Vec<u8>),
}

/// A received message held for an in-place read (`RecvSlot`).
#[derive(Debug)]
pub(crate) enum ShmRecv<'a> {
    /// One record, still in the ring; released when dropped.
    InPlace(RingRecv<'a>),
    /// A fragmented message, copied out of the ring.
    Assembled(Vec<u8>),
}

/// One received record left in the ring, with the receive side locked, until dropped.
#[derive(Debug)]
pub(crate) struct RingRecv<'a> {
    link: &'a ShmLink,
    rx: MutexGuard<'a, Rx>,
    rec: Record,
}

impl RingRecv<'_> {
    pub(crate) fn len(&self) -> usize {
        self.rec.header.length as usize
    }

    /// The payload: valid for reads of `len` bytes while `self` lives (see `ReadBuf`).
    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.rx.cons.payload_ptr(&self.rec)
    }
}

impl Drop for RingRecv<'_> {
    fn drop(&mut self) {
        self.link.release(&mut self.rx, self.rec);
    }
}

/// Space reserved in the ring for one outgoing record, with the send side locked. Dropping it
/// without `commit` publishes nothing.
#[derive(Debug)]
pub(crate) struct RingSend<'a> {
    link: &'a ShmLink,
    tx: MutexGuard<'a, Tx>,
    r: Reservation,
    len: usize,
}

impl RingSend<'_> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The payload: valid for writes of `len` bytes while `self` lives; the peer may map it.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut u8 {
        self.tx.prod.payload_ptr(&self.r)
    }

    /// Publish the record (unless the channel ended meanwhile: then nothing is published).
    pub(crate) fn commit(mut self) -> Result<()> {
        self.link.send_check(&self.tx)?;
        if self.tx.prod.commit(self.r, FrameType::Data, 0) {
            ring(&self.link.data_out);
        }
        Ok(())
    }
}

impl ShmLink {
    pub(crate) fn new(conn: Conn, setup: ShmSetup, spin: Duration) -> Result<ShmLink> {
        let max_recv = conn.max_recv;
        let readiness = sys::readiness_set(&[setup.data_in.as_fd(), conn.fd.as_fd()])?;
        let max_record = setup.producer.ring().max_record_payload() as usize;
        Ok(ShmLink {
            conn,
            rx: Mutex::new(Rx {
                cons: setup.consumer,
                assembly: None,
                ended: None,
                ctrl: FrameReader::new(max_recv),
                peer_gone: None,
                armed: false,
            }),
            tx: Mutex::new(Tx {
                prod: setup.producer,
                ended: None,
                pending: Vec::new(),
                pending_at: 0,
            }),
            data_in: setup.data_in,
            space_in: setup.space_in,
            data_out: setup.data_out,
            space_out: setup.space_out,
            readiness,
            max_record,
            spin,
            _segment: setup.segment,
        })
    }

    /// The descriptor that becomes readable when a receive that timed out could make progress.
    pub(crate) fn readiness_fd(&self) -> BorrowedFd<'_> {
        self.readiness.as_fd()
    }

    /// The largest message that can be reserved in place (one record).
    pub(crate) fn max_record(&self) -> usize {
        self.max_record
    }

    pub(crate) fn conn(&self) -> &Conn {
        &self.conn
    }

    fn ctrl(&self) -> BorrowedFd<'_> {
        self.conn.fd.as_fd()
    }

    /// Spin (up to the configured time) until `ready`; `true` if it became ready.
    fn spin_until(&self, mut ready: impl FnMut() -> bool) -> bool {
        if self.spin.is_zero() {
            return false;
        }
        let end = sys::after(self.spin);
        loop {
            for _ in 0..64 {
                if ready() {
                    return true;
                }
                super::sync::spin();
            }
            if Instant::now() >= end {
                return ready();
            }
        }
    }

    /// Sleep until `bell` rings, the control socket has news, or the deadline passes.
    fn sleep(&self, bell: &OwnedFd, deadline: Option<Instant>) -> Result<Woke> {
        // A deadline already past is a timeout, whatever is readable: a doorbell that stays
        // readable (a peer ringing without pause) must not keep a timed call going.
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Woke::Timeout);
        }
        let ctrl = self.ctrl();
        let mut fds = [
            PollFd::new(bell, PollFlags::IN),
            PollFd::new(&ctrl, PollFlags::IN),
        ];
        if sys::poll(&mut fds, deadline)? == 0 {
            return Ok(Woke::Timeout);
        }
        drain(bell);
        Ok(if fds[1].revents().is_empty() {
            Woke::Bell
        } else {
            Woke::Ctrl
        })
    }

    /// A protocol failure: tell the peer (best effort), shut the control socket, remember it.
    fn fail(&self, err: Error) -> Error {
        let frame = ErrorPayload::from_error(err.kind(), err.message()).encode_frame();
        sys::send_nowait(self.ctrl(), &frame);
        sys::shutdown(self.ctrl(), false);
        let _ = self.conn.recv_end.set(err.clone());
        tracing::debug!(error = %err, "shared-memory channel failed");
        err
    }

    fn end_rx(&self, rx: &mut Rx, err: Error) -> Error {
        rx.ended = Some(err.clone());
        let _ = self.conn.recv_end.set(err.clone());
        err
    }

    // ---- receiving ----

    /// Take records until a message is complete or the ring is empty.
    fn rx_take(&self, rx: &mut Rx) -> Option<Result<Taken>> {
        loop {
            let rec = match rx.cons.try_peek() {
                Ok(Some(rec)) => rec,
                Ok(None) => return None,
                Err(e) => {
                    let e = self.fail(e);
                    return Some(Err(self.end_rx(rx, e)));
                }
            };
            if rec.header.frame_type == FrameType::Close && rx.assembly.is_some() {
                let e = Error::new(
                    ErrorKind::ProtocolViolation,
                    "CLOSE in the middle of a fragmented message",
                );
                let e = self.fail(e);
                return Some(Err(self.end_rx(rx, e)));
            }
            if rec.header.frame_type == FrameType::Close {
                self.release(rx, rec);
                let e = Error::new(ErrorKind::Closed, "the peer closed the channel");
                return Some(Err(self.end_rx(rx, e)));
            }
            let len = rec.header.length as usize;
            let so_far = rx.assembly.as_ref().map_or(0, Vec::len);
            if (so_far + len) as u64 > u64::from(self.conn.max_recv) {
                let e = Error::new(
                    ErrorKind::MessageTooLarge,
                    format!(
                        "peer sent a message of more than {} bytes, the limit this side advertised",
                        self.conn.max_recv
                    ),
                );
                let e = self.fail(e);
                return Some(Err(self.end_rx(rx, e)));
            }
            let more = rec.header.flags & FLAG_MORE != 0;
            if !more && rx.assembly.is_none() {
                return Some(Ok(Taken::Record(rec)));
            }
            let mut joined = rx.assembly.take().unwrap_or_default();
            let start = joined.len();
            joined.resize(start + len, 0);
            rx.cons.read_payload(&rec, 0, &mut joined[start..]);
            self.release(rx, rec);
            if more {
                rx.assembly = Some(joined);
            } else {
                return Some(Ok(Taken::Assembled(joined)));
            }
        }
    }

    fn release(&self, rx: &mut Rx, rec: Record) {
        if rx.cons.release(rec) {
            ring(&self.space_in);
        }
    }

    /// Copy a taken message out (releasing its record).
    fn copy_out(&self, rx: &mut Rx, taken: Taken) -> Message {
        match taken {
            Taken::Record(rec) => {
                let len = rec.header.length as usize;
                // SAFETY: `try_peek` validated that the payload lies inside the data area,
                // which stays mapped (and unreleased) until the copy is made.
                let v = unsafe { ReadBuf::from_raw(rx.cons.payload_ptr(&rec), len) }.to_vec();
                self.release(rx, rec);
                Message::new(v)
            }
            Taken::Assembled(v) => Message::new(v),
        }
    }

    /// Read what the control socket has: EOF (the peer is gone) or an ERROR frame.
    fn read_ctrl(&self, rx: &mut Rx) {
        let read = sys::recv_nowait(self.ctrl(), rx.ctrl.spare());
        let gone = match read {
            Ok(0) => Some(Error::new(
                ErrorKind::PeerDisconnected,
                "peer disconnected without closing the channel",
            )),
            Ok(n) => {
                // SAFETY: `read_into` initialised `n` bytes of the slice `spare` returned.
                unsafe { rx.ctrl.filled(n) };
                match rx.ctrl.next() {
                    Ok(None) => None,
                    Ok(Some(Frame::Error(p))) => Some(p.to_error()),
                    Ok(Some(_)) => Some(self.fail(Error::new(
                        ErrorKind::ProtocolViolation,
                        "unexpected frame on the shared-memory control socket",
                    ))),
                    Err(e) => Some(e),
                }
            }
            Err(Errno::AGAIN | Errno::INTR) => None,
            Err(e) => Some(sys::io_error(e, "shared-memory control socket")),
        };
        if rx.peer_gone.is_none() {
            rx.peer_gone = gone;
        }
    }

    /// Everything a receive can finish with without waiting: a message, or the end.
    fn rx_poll(&self, rx: &mut Rx) -> Option<Result<Taken>> {
        if let Some(e) = &rx.ended {
            return Some(Err(e.clone()));
        }
        if self.conn.closed.load(StdOrdering::Acquire) {
            return Some(Err(closed_error()));
        }
        if let Some(r) = self.rx_take(rx) {
            return Some(r);
        }
        if let Some(e) = rx.peer_gone.take() {
            return Some(Err(self.end_rx(rx, e)));
        }
        if let Some(e) = self.conn.recv_end.get() {
            return Some(Err(self.end_rx(rx, e.clone())));
        }
        None
    }

    /// Non-blocking receive for the async API: a message, the end, or (`None`) nothing yet, in
    /// which case the consumer has said it is asleep and the caller must wait on `data_in_fd`
    /// and the control socket, then call [`rx_woken`](Self::rx_woken).
    pub(crate) fn try_recv_or_sleep(&self) -> Option<Result<Message>> {
        let mut rx = self.rx.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(r) = self.rx_poll(&mut rx) {
                return Some(r.map(|t| self.copy_out(&mut rx, t)));
            }
            rx.cons.set_sleeping(true);
            if !rx.cons.has_data() {
                return None;
            }
            rx.cons.set_sleeping(false);
        }
    }

    /// After an async wait: clear the sleep flag, drain the doorbell, read the control socket
    /// if it had news.
    pub(crate) fn rx_woken(&self, ctrl_ready: bool) {
        let mut rx = self.rx.lock().unwrap_or_else(|p| p.into_inner());
        self.disarm(&mut rx, ctrl_ready);
    }

    /// Stop saying we sleep, drain the doorbell, and read the control socket (without
    /// waiting) if `ctrl` says it may have news.
    fn disarm(&self, rx: &mut Rx, ctrl: bool) {
        rx.armed = false;
        rx.cons.set_sleeping(false);
        drain(&self.data_in);
        if ctrl {
            self.read_ctrl(rx);
        }
    }

    /// Non-blocking send for the async API. `Ok(true)`: the message is accepted (any rest of a
    /// large message is kept and written before anything else: see `flush_now`). `Ok(false)`:
    /// no room now; the producer has said it waits, the caller waits on `space_out_fd` and the
    /// control socket, then calls [`tx_woken`](Self::tx_woken) and retries.
    pub(crate) fn try_send_or_wait(&self, data: &[u8]) -> Result<bool> {
        self.conn.check_send_size(data.len())?;
        let mut tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        self.send_check(&tx)?;
        if !self.flush_now(&mut tx)? {
            return Ok(false);
        }
        let max = tx.prod.ring().max_record_payload() as usize;
        let first = max.min(data.len());
        if !self.room_or_announce(&mut tx, first as u64)? {
            return Ok(false);
        }
        self.put(
            &mut tx,
            &data[..first],
            if first == data.len() { 0 } else { FLAG_MORE },
        )?;
        if first < data.len() {
            tx.pending = data[first..].to_vec();
            tx.pending_at = 0;
            self.flush_now(&mut tx)?;
        }
        Ok(true)
    }

    /// Whether a record of `len` payload bytes fits now. If not, the producer announces that it
    /// waits (the caller then waits on `space_out` and calls [`tx_woken`](Self::tx_woken)).
    fn room_or_announce(&self, tx: &mut Tx, len: u64) -> Result<bool> {
        if tx.prod.has_room(len).map_err(|e| self.fail(e))? {
            return Ok(true);
        }
        tx.prod.set_waiting(true);
        if !tx.prod.has_room(len).unwrap_or(true) {
            return Ok(false);
        }
        tx.prod.set_waiting(false);
        Ok(true)
    }

    /// Write the next `n` bytes of the pending rest as one record (the caller made room).
    fn put_pending(&self, tx: &mut Tx, n: usize) -> Result<()> {
        let last = tx.pending_at + n == tx.pending.len();
        let chunk = std::mem::take(&mut tx.pending);
        let r = self.put(
            tx,
            &chunk[tx.pending_at..tx.pending_at + n],
            if last { 0 } else { FLAG_MORE },
        );
        tx.pending = chunk;
        r?;
        tx.pending_at += n;
        Ok(())
    }

    /// Write as much of a pending rest as fits now; `true` when nothing is pending any more.
    fn flush_now(&self, tx: &mut Tx) -> Result<bool> {
        let max = tx.prod.ring().max_record_payload() as usize;
        while tx.pending_at < tx.pending.len() {
            let n = max.min(tx.pending.len() - tx.pending_at);
            if !self.room_or_announce(tx, n as u64)? {
                return Ok(false);
            }
            self.put_pending(tx, n)?;
        }
        tx.pending = Vec::new();
        tx.pending_at = 0;
        Ok(true)
    }

    /// Whether a pending rest is fully written (flushing what fits now).
    pub(crate) fn try_flush_or_wait(&self) -> Result<bool> {
        let mut tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = &tx.ended {
            return Err(e.clone());
        }
        self.flush_now(&mut tx)
    }

    /// After an async wait for room: clear the flag, drain the doorbell, report trouble seen on
    /// the control socket.
    pub(crate) fn tx_woken(&self, ctrl_ready: bool) -> Result<()> {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        tx.prod.set_waiting(false);
        drain(&self.space_out);
        if ctrl_ready && let Some(e) = self.ctrl_trouble() {
            return Err(e);
        }
        Ok(())
    }

    /// Async close, one step: publish CLOSE if everything before it is out and there is room.
    /// `Ok(true)`: done (CLOSE written, or nothing more can be written). `Ok(false)`: wait for
    /// room and call again.
    pub(crate) fn try_close_step(&self) -> Result<bool> {
        let mut tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        if tx.ended.is_some() || self.conn.recv_end.get().is_some() {
            return Ok(true);
        }
        if !self.flush_now(&mut tx)? {
            return Ok(false);
        }
        if !self.room_or_announce(&mut tx, 0)? {
            return Ok(false);
        }
        if let Some(r) = tx.prod.try_reserve(0).map_err(|e| self.fail(e))?
            && tx.prod.commit(r, FrameType::Close, 0)
        {
            ring(&self.data_out);
        }
        Ok(true)
    }

    /// Mark closed and hang up without waiting (async close's end, and async drop).
    pub(crate) fn hang_up(&self) {
        self.conn.closed.store(true, StdOrdering::Release);
        sys::shutdown(self.ctrl(), false);
    }

    pub(crate) fn data_in_fd(&self) -> BorrowedFd<'_> {
        self.data_in.as_fd()
    }

    pub(crate) fn space_out_fd(&self) -> BorrowedFd<'_> {
        self.space_out.as_fd()
    }

    pub(crate) fn ctrl_fd(&self) -> BorrowedFd<'_> {
        self.ctrl()
    }

    /// Wait for the next message (or the end). A timeout leaves the consumer armed.
    fn recv_loop(&self, deadline: Option<Instant>) -> Result<(MutexGuard<'_, Rx>, Taken)> {
        let mut rx = sys::lock_until(&self.rx, deadline)?;
        if rx.armed {
            self.disarm(&mut rx, true);
        }
        loop {
            if let Some(r) = self.rx_poll(&mut rx) {
                return r.map(|t| (rx, t));
            }
            let expired = deadline.is_some_and(|d| Instant::now() >= d);
            if !expired && self.spin_until(|| rx.cons.has_data()) {
                continue;
            }
            rx.cons.set_sleeping(true);
            if rx.cons.has_data() {
                rx.cons.set_sleeping(false);
                continue;
            }
            let woke = self.sleep(&self.data_in, deadline);
            if let Ok(Woke::Timeout) = woke {
                // Stay armed: drain a stale ring, then re-check (a message published from
                // here on rings the doorbell, making `readiness` readable).
                drain(&self.data_in);
                if rx.cons.has_data() {
                    rx.cons.set_sleeping(false);
                    continue;
                }
                rx.armed = true;
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "no message arrived before the timeout",
                ));
            }
            rx.cons.set_sleeping(false);
            if let Woke::Ctrl = woke? {
                self.read_ctrl(&mut rx);
            }
        }
    }

    pub(crate) fn recv_until(&self, deadline: Option<Instant>) -> Result<Message> {
        let (mut rx, taken) = self.recv_loop(deadline)?;
        Ok(self.copy_out(&mut rx, taken))
    }

    /// Receive the next message for an in-place read: a single record stays in the ring (and
    /// the receive side locked) until the returned value drops.
    pub(crate) fn recv_slot(&self, deadline: Option<Instant>) -> Result<ShmRecv<'_>> {
        let (rx, taken) = self.recv_loop(deadline)?;
        Ok(match taken {
            Taken::Record(rec) => ShmRecv::InPlace(RingRecv {
                link: self,
                rx,
                rec,
            }),
            Taken::Assembled(v) => ShmRecv::Assembled(v),
        })
    }

    // ---- sending ----

    /// What stops a send before it starts.
    fn send_check(&self, tx: &Tx) -> Result<()> {
        if let Some(e) = self.conn.send_blocked().or_else(|| tx.ended.clone()) {
            return Err(e);
        }
        Ok(())
    }

    /// If the peer is gone or reported an error on the control socket, the error to return.
    fn ctrl_trouble(&self) -> Option<Error> {
        if self.conn.closed.load(StdOrdering::Acquire) {
            return Some(closed_error());
        }
        let mut buf = [0u8; HEADER_LEN + MAX_ERROR_PAYLOAD as usize];
        match rustix::net::recv(
            self.ctrl(),
            &mut buf,
            rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT,
        ) {
            Ok((0, _)) => Some(Error::new(ErrorKind::PeerDisconnected, "peer disconnected")),
            Ok((n, _)) => Some(
                crate::wire::decode_frame(&buf[..n], 0)
                    .ok()
                    .and_then(|(_, p)| ErrorPayload::decode(p).ok())
                    .map_or_else(
                        || Error::new(ErrorKind::PeerDisconnected, "the peer reported an error"),
                        |p| p.to_error(),
                    ),
            ),
            Err(Errno::AGAIN | Errno::INTR) => None,
            Err(e) => Some(sys::io_error(e, "shared-memory control socket")),
        }
    }

    /// Wait until a record of `len` payload bytes fits.
    fn wait_room(&self, tx: &mut Tx, len: u64, deadline: Option<Instant>) -> Result<()> {
        loop {
            if tx.prod.has_room(len).map_err(|e| self.fail(e))? {
                return Ok(());
            }
            if self.spin_until(|| tx.prod.has_room(len).unwrap_or(true)) {
                continue;
            }
            tx.prod.set_waiting(true);
            if tx.prod.has_room(len).unwrap_or(true) {
                tx.prod.set_waiting(false);
                continue;
            }
            let woke = self.sleep(&self.space_out, deadline);
            tx.prod.set_waiting(false);
            match woke? {
                Woke::Bell => {}
                Woke::Ctrl => {
                    if let Some(e) = self.ctrl_trouble() {
                        return Err(e);
                    }
                }
                Woke::Timeout => {
                    if tx.prod.has_room(len).unwrap_or(true) {
                        continue;
                    }
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        "the ring stayed full: the peer is not reading",
                    ));
                }
            }
        }
    }

    /// Write one record whose room `wait_room` ensured.
    fn put(&self, tx: &mut Tx, data: &[u8], flags: u8) -> Result<()> {
        let r = self.reserve_now(tx, data.len())?;
        tx.prod.write_payload(&r, 0, data);
        if tx.prod.commit(r, FrameType::Data, flags) {
            ring(&self.data_out);
        }
        Ok(())
    }

    /// Reserve a record of `len` payload bytes whose room `wait_room` ensured.
    fn reserve_now(&self, tx: &mut Tx, len: usize) -> Result<Reservation> {
        tx.prod
            .try_reserve(len as u64)
            .map_err(|e| self.fail(e))?
            .ok_or_else(|| Error::new(ErrorKind::Timeout, "the ring is full"))
    }

    /// Send the rest of a message that a timed-out send left, as fragments.
    /// Write out the rest of a message an earlier timed-out send left, waiting until
    /// `deadline`.
    pub(crate) fn flush_until(&self, deadline: Option<Instant>) -> Result<()> {
        let mut tx = sys::lock_until(&self.tx, deadline)?;
        self.send_check(&tx)?;
        self.flush_pending(&mut tx, deadline)
    }

    fn flush_pending(&self, tx: &mut Tx, deadline: Option<Instant>) -> Result<()> {
        let max = tx.prod.ring().max_record_payload() as usize;
        while tx.pending_at < tx.pending.len() {
            let n = max.min(tx.pending.len() - tx.pending_at);
            self.wait_room(tx, n as u64, deadline)?;
            self.put_pending(tx, n)?;
        }
        tx.pending = Vec::new();
        tx.pending_at = 0;
        Ok(())
    }

    pub(crate) fn send_until(&self, data: &[u8], deadline: Option<Instant>) -> Result<()> {
        self.conn.check_send_size(data.len())?;
        let mut tx = sys::lock_until(&self.tx, deadline)?;
        self.send_check(&tx)?;
        self.flush_pending(&mut tx, deadline)?;
        let max = tx.prod.ring().max_record_payload() as usize;
        let mut off = 0;
        loop {
            let n = max.min(data.len() - off);
            let last = off + n == data.len();
            match self.wait_room(&mut tx, n as u64, deadline) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Timeout && off > 0 => {
                    // Part of the message is out: keep the rest so it is completed before
                    // anything else. The message counts as sent.
                    tx.pending = data[off..].to_vec();
                    tx.pending_at = 0;
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
            self.put(
                &mut tx,
                &data[off..off + n],
                if last { 0 } else { FLAG_MORE },
            )?;
            off += n;
            if last {
                return Ok(());
            }
        }
    }

    /// Reserve one record of `len` bytes (at most [`max_record`](Self::max_record)) to be
    /// written in place, waiting for room until `deadline`.
    pub(crate) fn reserve(&self, len: usize, deadline: Option<Instant>) -> Result<RingSend<'_>> {
        debug_assert!(len <= self.max_record);
        self.conn.check_send_size(len)?;
        let mut tx = sys::lock_until(&self.tx, deadline)?;
        self.send_check(&tx)?;
        self.flush_pending(&mut tx, deadline)?;
        self.wait_room(&mut tx, len as u64, deadline)?;
        let r = self.reserve_now(&mut tx, len)?;
        Ok(RingSend {
            link: self,
            tx,
            r,
            len,
        })
    }

    /// Orderly close: finish a pending message, publish CLOSE, then hang up the control socket.
    pub(crate) fn close(&self) {
        if self.conn.closed.swap(true, StdOrdering::AcqRel) {
            return;
        }
        let deadline = Some(sys::after(self.conn.close_timeout));
        if let Ok(mut tx) = self.tx.try_lock()
            && tx.ended.is_none()
            && self.conn.recv_end.get().is_none()
            && self.flush_pending(&mut tx, deadline).is_ok()
            && self.wait_room(&mut tx, 0, deadline).is_ok()
            && let Ok(Some(r)) = tx.prod.try_reserve(0)
            && tx.prod.commit(r, FrameType::Close, 0)
        {
            ring(&self.data_out);
        }
        sys::shutdown(self.ctrl(), false);
    }
}

impl Drop for ShmLink {
    fn drop(&mut self) {
        self.close();
    }
}
