//! [`ShmLink`]: a channel over two rings in shared memory, one per direction, with eventfd
//! doorbells and the control stream kept for liveness and error reports.
//!
//! A side rings the other's doorbell only when the other has said (with a flag in the ring
//! header) that it is asleep: a receive with `arm` sets the consumer's flag before its caller
//! waits, a send with `arm` sets the producer's. The caller (a driver, see `link/mod.rs`)
//! waits on the doorbell and the control stream together, so a dead peer is seen at once.
//!
//! Readiness for callers who poll: a receive that found nothing with `arm` and then gave up
//! (timeout) leaves the consumer *armed* (its flag set, `Rx::armed`), so the next message rings
//! the data doorbell; `readiness` is an epoll set of that doorbell and the control stream, and
//! is what `Channel::as_fd` returns. The next receive disarms: it clears the flag, drains the
//! doorbell and reads the control stream without waiting.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::ring::{Consumer, Producer, Record, Reservation};
use super::segment::Segment;
use super::setup::ShmSetup;
use crate::buf::ReadBuf;
use crate::conn::{Conn, Message, closed_error};
use crate::error::{Error, ErrorKind, Result};
use crate::link::{InPlaceRecv, InPlaceSend, Incoming, Link};
use crate::sys::shm::Doorbell;
use crate::sys::{self, Ready, Source};
use crate::wire::assembly::Assembly;
use crate::wire::{
    ErrorPayload, FLAG_MORE, Frame, FrameReader, FrameType, HEADER_LEN, MAX_ERROR_PAYLOAD,
};

#[derive(Debug)]
struct Rx {
    cons: Consumer,
    /// Fragments (MORE records) of a message larger than one record.
    assembly: Option<Assembly>,
    /// Since when a fragmented message has waited for its next fragment while this side
    /// receives (`frame_timeout`).
    stall: Option<Instant>,
    ended: Option<Error>,
    /// Decodes what arrives on the control stream (only ever an ERROR frame).
    ctrl: FrameReader,
    /// Set when the control stream says the peer is gone; reported once the ring is drained.
    peer_gone: Option<Error>,
    /// A receive armed the consumer and gave up (see the module docs).
    armed: bool,
    /// The producer took our sleep flag (so rang, or is about to ring, the data doorbell) at a
    /// moment our last drain may have come before the ring: drain before the next sleep. Each
    /// sleep otherwise drains once, as it wakes.
    stale_ring: bool,
}

#[derive(Debug)]
struct Tx {
    prod: Producer,
    ended: Option<Error>,
    /// The unsent rest of a large message whose sender gave up after it had started.
    pending: Vec<u8>,
    pending_at: usize,
}

/// A connected shared-memory channel.
#[derive(Debug)]
pub(crate) struct ShmLink {
    conn: Conn,
    ctrl: sys::Stream,
    rx: Mutex<Rx>,
    tx: Mutex<Tx>,
    data_in: Doorbell,
    space_in: Doorbell,
    data_out: Doorbell,
    space_out: Doorbell,
    /// An epoll set of `data_in` and the control stream (the channel's pollable descriptor).
    readiness: OwnedFd,
    recv_src: [Source; 2],
    send_src: [Source; 2],
    /// The largest payload of one record in the ring we produce into.
    max_record: usize,
    spin: Duration,
    // Declared last: the mapping must outlive every ring pointer above.
    _segment: Segment,
}

/// A message taken from the ring: one record still in place (the caller releases it), or
/// fragments assembled into a vector.
enum Taken {
    Record(Record),
    Assembled(Vec<u8>),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ShmLink {
    pub(crate) fn new(
        conn: Conn,
        ctrl: sys::Stream,
        setup: ShmSetup,
        spin: Duration,
    ) -> Result<ShmLink> {
        let readiness = sys::readiness_set(&[setup.data_in.as_fd(), ctrl.as_fd()])?;
        let max_record = setup.producer.ring().max_record_payload() as usize;
        Ok(ShmLink {
            recv_src: [setup.data_in.source(), ctrl.read_source()],
            send_src: [setup.space_out.source(), ctrl.read_source()],
            conn,
            ctrl,
            rx: Mutex::new(Rx {
                cons: setup.consumer,
                assembly: None,
                stall: None,
                ended: None,
                // Only an ERROR frame may come (its size is bounded by the header check):
                // no DATA, whatever its length, is awaited or allocated for.
                ctrl: FrameReader::new(0),
                peer_gone: None,
                armed: false,
                stale_ring: false,
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

    /// A protocol failure: tell the peer (best effort), hang up, remember it.
    fn report_failure(&self, err: Error) -> Error {
        let frame = ErrorPayload::from_error(err.kind(), err.message()).encode_frame();
        self.ctrl.write_now(&frame);
        self.ctrl.hang_up();
        self.conn.set_recv_end(&err);
        tracing::debug!(error = %err, "shared-memory channel failed");
        err
    }

    fn end_rx(&self, rx: &mut Rx, err: Error) -> Error {
        // Nothing more will be joined: free what a refused message had taken at once.
        rx.assembly = None;
        rx.ended = Some(err.clone());
        self.conn.set_recv_end(&err);
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
                    let e = self.report_failure(e);
                    return Some(Err(self.end_rx(rx, e)));
                }
            };
            if rec.header.frame_type == FrameType::Close && rx.assembly.is_some() {
                let e = Error::new(
                    ErrorKind::ProtocolViolation,
                    "CLOSE in the middle of a fragmented message",
                );
                let e = self.report_failure(e);
                return Some(Err(self.end_rx(rx, e)));
            }
            if rec.header.frame_type == FrameType::Close {
                self.release_record(rx, rec.size());
                let e = Error::new(ErrorKind::Closed, "the peer closed the channel");
                return Some(Err(self.end_rx(rx, e)));
            }
            let len = rec.header.length as usize;
            let so_far = rx.assembly.as_ref().map_or(0, Assembly::len);
            if (so_far + len) as u64 > u64::from(self.conn.max_recv) {
                let e = Error::new(
                    ErrorKind::MessageTooLarge,
                    format!(
                        "peer sent a message of more than {} bytes, the limit this side advertised",
                        self.conn.max_recv
                    ),
                );
                let e = self.report_failure(e);
                return Some(Err(self.end_rx(rx, e)));
            }
            let more = rec.header.flags & FLAG_MORE != 0;
            if !more && rx.assembly.is_none() {
                return Some(Ok(Taken::Record(rec)));
            }
            let mut joined = rx.assembly.take().unwrap_or_default();
            rx.cons.read_payload(&rec, 0, joined.grow(len));
            self.release_record(rx, rec.size());
            rx.stall = None;
            if more {
                rx.assembly = Some(joined);
            } else {
                return Some(Ok(Taken::Assembled(joined.into_vec())));
            }
        }
    }

    /// The ring is empty: start, keep or enforce the frame timeout of a fragmented message
    /// that has begun to arrive. An error once it has waited longer than `frame_timeout` for
    /// its next fragment.
    fn check_stall(&self, rx: &mut Rx) -> Result<()> {
        let (Some(limit), Some(_)) = (self.conn.frame_timeout, &rx.assembly) else {
            rx.stall = None;
            return Ok(());
        };
        match rx.stall {
            Some(since) if since.elapsed() >= limit => {
                let e = Error::new(
                    ErrorKind::ProtocolViolation,
                    format!(
                        "the peer sent part of a fragmented message and not the rest within \
                         {limit:?} (frame timeout)"
                    ),
                );
                let e = self.report_failure(e);
                Err(self.end_rx(rx, e))
            }
            Some(_) => Ok(()),
            None => {
                rx.stall = Some(Instant::now());
                Ok(())
            }
        }
    }

    fn release_record(&self, rx: &mut Rx, size: u64) {
        if rx.cons.release_bytes(size) {
            self.space_in.ring();
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
                self.release_record(rx, rec.size());
                Message::new(v)
            }
            Taken::Assembled(v) => Message::new(v),
        }
    }

    /// Read what the control stream has: EOF (the peer is gone) or an ERROR frame.
    fn read_ctrl(&self, rx: &mut Rx) {
        let gone = match self.ctrl.read(rx.ctrl.spare()) {
            Ok(Some(0)) => Some(Error::new(
                ErrorKind::PeerDisconnected,
                "peer disconnected without closing the channel",
            )),
            Ok(Some(n)) => {
                // SAFETY: `read` initialised `n` bytes of the slice `spare` returned.
                unsafe { rx.ctrl.filled(n) };
                match rx.ctrl.next() {
                    Ok(None) => None,
                    Ok(Some(Frame::Error(p))) => Some(p.to_error()),
                    Ok(Some(_)) => Some(self.report_failure(Error::new(
                        ErrorKind::ProtocolViolation,
                        "unexpected frame on the shared-memory control socket",
                    ))),
                    // A malformed header, or a DATA frame (refused by the reader's limit of 0
                    // before its body is awaited): answered with ERROR 9, as on a stream.
                    Err(e) => Some(self.report_failure(Error::new(
                        ErrorKind::ProtocolViolation,
                        format!("on the shared-memory control socket: {}", e.message()),
                    ))),
                }
            }
            Ok(None) => None,
            Err(e) => Some(e),
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
        if self.conn.is_closed() {
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

    /// Stop saying we sleep, drain the doorbell, and read the control stream (without
    /// waiting) if `ctrl` says it may have news. `rung`: the wait saw the doorbell ring.
    fn disarm(&self, rx: &mut Rx, ctrl: bool, rung: bool) {
        rx.armed = false;
        let taken = !rx.cons.set_sleeping(false);
        // A producer that took the flag rings once; if we saw no ring, it may come after the
        // drain below.
        rx.stale_ring |= taken && !rung;
        self.data_in.drain();
        if ctrl {
            self.read_ctrl(rx);
        }
    }

    // ---- sending ----

    /// What stops a send before it starts.
    fn send_check(&self, tx: &Tx) -> Result<()> {
        if let Some(e) = self.conn.send_blocked().or_else(|| tx.ended.clone()) {
            return Err(e);
        }
        Ok(())
    }

    /// If the peer is gone or reported an error on the control stream, the error to return.
    fn ctrl_trouble(&self) -> Option<Error> {
        if self.conn.is_closed() {
            return Some(closed_error());
        }
        let mut buf = [0u8; HEADER_LEN + MAX_ERROR_PAYLOAD as usize];
        match sys::shm::peek(&self.ctrl, &mut buf) {
            Ok(None) => None,
            Ok(Some(0)) => Some(Error::new(ErrorKind::PeerDisconnected, "peer disconnected")),
            Ok(Some(n)) => Some(
                crate::wire::decode_frame(&buf[..n], 0)
                    .ok()
                    .and_then(|(_, p)| ErrorPayload::decode(p).ok())
                    .map_or_else(
                        || Error::new(ErrorKind::PeerDisconnected, "the peer reported an error"),
                        |p| p.to_error(),
                    ),
            ),
            Err(e) => Some(e),
        }
    }

    /// Whether a record of `len` payload bytes fits now. If not and `arm`, the producer
    /// announces that it waits (the caller then waits on `space_out`).
    fn room(&self, tx: &mut Tx, len: u64, arm: bool) -> Result<bool> {
        if tx.prod.has_room(len).map_err(|e| self.report_failure(e))? {
            return Ok(true);
        }
        if !arm {
            return Ok(false);
        }
        tx.prod.set_waiting(true);
        if !tx.prod.has_room(len).unwrap_or(true) {
            return Ok(false);
        }
        tx.prod.set_waiting(false);
        Ok(true)
    }

    /// Write one record whose room `room` ensured.
    fn put(&self, tx: &mut Tx, data: &[u8], flags: u8) -> Result<()> {
        let r = self.reserve_now(tx, data.len())?;
        tx.prod.write_payload(&r, 0, data);
        if tx.prod.commit(r, FrameType::Data, flags) {
            self.data_out.ring();
        }
        Ok(())
    }

    /// Reserve a record of `len` payload bytes whose room `room` ensured.
    fn reserve_now(&self, tx: &mut Tx, len: usize) -> Result<Reservation> {
        tx.prod
            .try_reserve(len as u64)
            .map_err(|e| self.report_failure(e))?
            .ok_or_else(|| Error::new(ErrorKind::Timeout, "the ring is full"))
    }

    /// Write as much of a pending rest as fits now; `true` when nothing is pending any more.
    fn flush_now(&self, tx: &mut Tx, arm: bool) -> Result<bool> {
        let max = self.max_record;
        while tx.pending_at < tx.pending.len() {
            let n = max.min(tx.pending.len() - tx.pending_at);
            if !self.room(tx, n as u64, arm)? {
                return Ok(false);
            }
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
        }
        tx.pending = Vec::new();
        tx.pending_at = 0;
        Ok(true)
    }
}

impl Link for ShmLink {
    fn conn(&self) -> &Conn {
        &self.conn
    }

    fn spin(&self) -> (Duration, Duration) {
        (self.spin, self.spin)
    }

    fn try_recv(&self, arm: bool, in_place: bool) -> Result<Option<Incoming>> {
        let mut rx = lock(&self.rx);
        if rx.armed && !arm {
            self.disarm(&mut rx, true, false);
        }
        loop {
            if let Some(r) = self.rx_poll(&mut rx) {
                let taken = r?;
                return Ok(Some(match taken {
                    Taken::Record(rec) if in_place => {
                        let [at, size] = [rec.payload_at, rec.size()];
                        Incoming::InPlace(InPlaceRecv {
                            ptr: rx.cons.payload_ptr(&rec),
                            len: rec.header.length as usize,
                            token: [at, size],
                        })
                    }
                    other => Incoming::Message(self.copy_out(&mut rx, other)),
                }));
            }
            self.check_stall(&mut rx)?;
            if !arm {
                return Ok(None);
            }
            if !rx.armed && std::mem::take(&mut rx.stale_ring) {
                // A bell rung for a record we already took (the producer took our earlier
                // sleep flag, and rang after we drained) would make the readiness descriptor
                // readable with nothing to receive: clear it before arming. Rings from now on
                // are for records the check below has not seen. (A peer that rings without
                // taking the flag, as wire-format 11.7 also allows, can still leave one: a
                // wake-up is a hint, and costs a second look.)
                self.data_in.drain();
            }
            rx.cons.set_sleeping(true);
            if !rx.cons.has_data() {
                rx.armed = true;
                return Ok(None);
            }
            // Not sleeping after all; if the producer took the flag meanwhile, its ring is
            // for a record we are about to take.
            rx.stale_ring |= !rx.cons.set_sleeping(false);
        }
    }

    fn recv_sources(&self) -> &[Source] {
        &self.recv_src
    }

    fn recv_deadline(&self) -> Option<Instant> {
        let limit = self.conn.frame_timeout?;
        lock(&self.rx).stall.map(|since| since + limit)
    }

    fn recv_woken(&self, ready: Ready) {
        let mut rx = lock(&self.rx);
        self.disarm(&mut rx, ready.is(1) || ready.timed_out(), ready.is(0));
    }

    fn release(&self, msg: InPlaceRecv) {
        let mut rx = lock(&self.rx);
        self.release_record(&mut rx, msg.token[1]);
    }

    fn try_send(&self, data: &[u8], progress: &mut usize, arm: bool) -> Result<bool> {
        let mut tx = lock(&self.tx);
        if *progress == 0 {
            self.send_check(&tx)?;
            self.conn.check_send_size(data.len())?;
            if !self.flush_now(&mut tx, arm)? {
                return Ok(false);
            }
        } else if let Some(e) = tx.ended.clone() {
            return Err(e);
        }
        let max = self.max_record;
        loop {
            let n = max.min(data.len() - *progress);
            let last = *progress + n == data.len();
            if !self.room(&mut tx, n as u64, arm)? {
                return Ok(false);
            }
            self.put(
                &mut tx,
                &data[*progress..*progress + n],
                if last { 0 } else { FLAG_MORE },
            )?;
            *progress += n;
            if last {
                return Ok(true);
            }
        }
    }

    fn keep_rest(&self, data: &[u8], progress: usize) {
        let mut tx = lock(&self.tx);
        tx.pending = data[progress..].to_vec();
        tx.pending_at = 0;
    }

    fn try_flush(&self, arm: bool) -> Result<bool> {
        let mut tx = lock(&self.tx);
        if let Some(e) = tx.ended.clone() {
            return Err(e);
        }
        self.flush_now(&mut tx, arm)
    }

    fn send_sources(&self) -> &[Source] {
        &self.send_src
    }

    fn send_woken(&self, ready: Ready) -> Result<()> {
        let tx = lock(&self.tx);
        tx.prod.set_waiting(false);
        self.space_out.drain();
        if ready.is(1)
            && let Some(e) = self.ctrl_trouble()
        {
            return Err(e);
        }
        Ok(())
    }

    fn max_in_place(&self) -> usize {
        self.max_record
    }

    fn try_reserve(&self, len: usize, arm: bool) -> Result<Option<InPlaceSend>> {
        debug_assert!(len <= self.max_record);
        let mut tx = lock(&self.tx);
        self.send_check(&tx)?;
        self.conn.check_send_size(len)?;
        if !self.flush_now(&mut tx, arm)? || !self.room(&mut tx, len as u64, arm)? {
            return Ok(None);
        }
        let r = self.reserve_now(&mut tx, len)?;
        Ok(Some(InPlaceSend {
            ptr: tx.prod.payload_ptr(&r),
            len,
            token: r.to_token(),
        }))
    }

    fn commit(&self, slot: InPlaceSend) -> Result<()> {
        let mut tx = lock(&self.tx);
        self.send_check(&tx)?;
        if tx
            .prod
            .commit(Reservation::from_token(slot.token), FrameType::Data, 0)
        {
            self.data_out.ring();
        }
        Ok(())
    }

    fn try_close(&self, arm: bool) -> Result<bool> {
        let mut tx = lock(&self.tx);
        if tx.ended.is_some() || self.conn.recv_end.get().is_some() {
            return Ok(true);
        }
        if !self.flush_now(&mut tx, arm)? || !self.room(&mut tx, 0, arm)? {
            return Ok(false);
        }
        if let Some(r) = tx.prod.try_reserve(0).map_err(|e| self.report_failure(e))?
            && tx.prod.commit(r, FrameType::Close, 0)
        {
            self.data_out.ring();
        }
        Ok(true)
    }

    fn shutdown_write(&self) -> bool {
        // CLOSE went through the ring; the control stream is hung up by `hang_up`.
        false
    }

    fn hang_up(&self) {
        self.ctrl.hang_up();
    }

    fn fail(&self, err: Error) -> Error {
        let mut rx = lock(&self.rx);
        if let Some(e) = &rx.ended {
            return e.clone();
        }
        let e = self.report_failure(err);
        self.end_rx(&mut rx, e)
    }

    fn close_now(&self) {
        if !self
            .conn
            .closed
            .swap(true, std::sync::atomic::Ordering::AcqRel)
            && let Ok(mut tx) = self.tx.try_lock()
            && tx.ended.is_none()
            && self.conn.recv_end.get().is_none()
            && matches!(self.flush_now(&mut tx, false), Ok(true))
            && let Ok(Some(r)) = tx.prod.try_reserve(0)
            && tx.prod.commit(r, FrameType::Close, 0)
        {
            self.data_out.ring();
        }
        self.ctrl.hang_up();
    }

    fn readiness_fd(&self) -> BorrowedFd<'_> {
        self.readiness.as_fd()
    }
}

impl Drop for ShmLink {
    fn drop(&mut self) {
        self.ctrl.hang_up();
    }
}
