//! Guards for split in-place (zero-copy) sends and receives: [`SendSlot`] (from
//! [`Channel::reserve`]) and [`RecvSlot`] (from [`Channel::recv_in_place`]). Their contract is
//! written on the two types.
//!
//! [`Channel::reserve`]: crate::Channel::reserve
//! [`Channel::recv_in_place`]: crate::Channel::recv_in_place

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::buf::{ReadBuf, WriteBuf};
use crate::channel::Shared;
use crate::error::{Error, ErrorKind, Result};
use crate::link::{InPlaceRecv, InPlaceSend};
use crate::wait::Wait;

/// One outgoing message being written in place (from [`Channel::reserve`]);
/// [`commit`](Self::commit) sends it. Dropping it without committing sends nothing, and the
/// channel stays fully usable.
///
/// The slot is owned: `'static` and `Send + Sync`, it keeps the channel alive and may be
/// finished on any thread (which is what language bindings need).
///
/// Over shared memory, when the message fits in one ring record (half the ring), the slot
/// points straight into the ring the peer also maps (no copy) and holds the channel's send
/// side until it is committed or dropped: other sends on the channel wait meanwhile (on the
/// thread that made the slot, a send without timeout fails with `Busy` instead of waiting for
/// ever). Like [`WriteBuf`], it never hands out a Rust reference to those bytes: write with
/// [`write_at`](Self::write_at), [`fill`](Self::fill) or the raw pointer. Larger messages, and
/// every message over sockets, use a private buffer that `commit` sends the normal way.
///
/// ```no_run
/// # fn demo(ch: &libipc::Channel) -> libipc::Result<()> {
/// let mut slot = ch.reserve(11)?;
/// slot.write_at(0, b"hello");
/// slot.write_at(5, b" world");
/// slot.commit()?;
///
/// let aborted = ch.reserve(100)?;
/// drop(aborted); // nothing is sent
/// # Ok(()) }
/// ```
pub struct SendSlot {
    shared: Arc<Shared>,
    kind: SendKind,
}

enum SendKind {
    /// A record reserved in the shared-memory ring (the send gate held).
    InPlace(InPlaceSend),
    /// A private buffer, sent by `commit` waiting at most the reservation's timeout.
    Private {
        buf: Vec<u8>,
        timeout: Option<Duration>,
    },
    /// Committed, or given back: nothing left to do on drop.
    Done,
}

impl fmt::Debug for SendSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendSlot")
            .field("len", &self.len())
            .field("in_place", &matches!(self.kind, SendKind::InPlace(_)))
            .finish()
    }
}

impl SendSlot {
    pub(crate) fn in_place(shared: Arc<Shared>, r: InPlaceSend) -> SendSlot {
        SendSlot {
            shared,
            kind: SendKind::InPlace(r),
        }
    }

    pub(crate) fn private(shared: Arc<Shared>, len: usize, timeout: Option<Duration>) -> SendSlot {
        SendSlot {
            shared,
            kind: SendKind::Private {
                buf: vec![0; len],
                timeout,
            },
        }
    }

    /// The message length (fixed by `reserve`).
    pub fn len(&self) -> usize {
        match &self.kind {
            SendKind::InPlace(r) => r.len,
            SendKind::Private { buf, .. } => buf.len(),
            SendKind::Done => 0,
        }
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The start of the message, valid for writes of [`len`](Self::len) bytes until the slot
    /// is committed or dropped. Write through raw pointers only (no `&mut [u8]` over it: with
    /// shared memory, the peer process maps these bytes too). Bytes not written are sent as
    /// whatever the memory held (not necessarily zero).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        match &mut self.kind {
            SendKind::InPlace(r) => r.ptr,
            SendKind::Private { buf, .. } => buf.as_mut_ptr(),
            SendKind::Done => std::ptr::NonNull::dangling().as_ptr(),
        }
    }

    /// A [`WriteBuf`] view of the message (what [`Channel::send_with`] hands its closure).
    pub fn buf(&mut self) -> WriteBuf<'_> {
        let len = self.len();
        let ptr = self.as_mut_ptr();
        // SAFETY: `ptr` is valid for writes of `len` bytes while the slot lives (ring space
        // reserved and locked by this side, or our own vector), and the view borrows the slot
        // mutably, so it cannot outlive it or alias another view.
        unsafe { WriteBuf::from_raw(ptr, len) }
    }

    /// Copy `src` into the message at `offset`.
    ///
    /// # Panics
    /// If `offset + src.len()` exceeds [`len`](Self::len).
    pub fn write_at(&mut self, offset: usize, src: &[u8]) {
        self.buf().write_at(offset, src);
    }

    /// Fill the message with a byte.
    pub fn fill(&mut self, byte: u8) {
        self.buf().fill(byte);
    }

    /// Send the message. Over shared memory (one record) this only publishes it: room was
    /// made by `reserve`. With a private buffer this is a normal send, waiting at most the
    /// timeout given to [`Channel::reserve_timeout`] (counted from now; without limit after
    /// [`Channel::reserve`]), with the errors and partial-send rules of
    /// [`Channel::send_timeout`]. If the channel ended since the reservation, nothing is sent
    /// and the error says why (`Closed`, `PeerDisconnected`, ...). A `Timeout` here drops the
    /// message; [`try_commit`](Self::try_commit) keeps it instead.
    pub fn commit(self) -> Result<()> {
        self.try_commit().map_err(|(e, _)| e)
    }

    /// [`commit`](Self::commit), but a `Timeout` (nothing was sent) hands the slot back,
    /// contents intact, to commit again later or drop. Any other error ends the slot.
    pub fn try_commit(self) -> std::result::Result<(), (Error, Option<SendSlot>)> {
        let wait = match &self.kind {
            SendKind::Private {
                timeout: Some(t), ..
            } => Wait::timeout(*t),
            _ => Wait::forever(),
        };
        self.commit_wait(wait)
    }

    /// Commit, waiting as `wait` allows (this matters for a private buffer, which is sent
    /// now; a slot in the ring is only published). `Timeout` or `Cancelled` (nothing was
    /// sent) hand the slot back; any other error ends it.
    pub fn commit_wait(
        mut self,
        wait: Wait<'_>,
    ) -> std::result::Result<(), (Error, Option<SendSlot>)> {
        match std::mem::replace(&mut self.kind, SendKind::Done) {
            SendKind::InPlace(r) => {
                let result = self.shared.link.commit(r);
                self.shared.tx_gate.leave();
                result.map_err(|e| (e, None))
            }
            SendKind::Private { buf, timeout } => match self.shared.send(&buf, &wait) {
                Ok(()) => Ok(()),
                Err(e) if matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Cancelled) => {
                    self.kind = SendKind::Private { buf, timeout };
                    Err((e, Some(self)))
                }
                Err(e) => Err((e, None)),
            },
            SendKind::Done => Ok(()),
        }
    }
}

impl Drop for SendSlot {
    fn drop(&mut self) {
        // Not committed: nothing was published; give the send side back.
        if let SendKind::InPlace(_) = self.kind {
            self.shared.tx_gate.leave();
        }
    }
}

/// One received message read in place (from [`Channel::recv_in_place`]); dropping it releases
/// the message, and the next receive returns the one after it.
///
/// The slot is owned: `'static` and `Send + Sync`, it keeps the channel alive and may be
/// dropped on any thread.
///
/// Over shared memory, a message that came in one ring record stays in the ring (no copy) and
/// the channel's receive side stays held until the slot drops: other receives on the channel
/// wait or time out meanwhile (on the thread that made the slot, a receive without timeout
/// fails with `Busy` instead of waiting forever), and the sender may run out of room. Like [`ReadBuf`], it
/// never hands out a Rust reference to those bytes (the peer could change them): read with
/// [`read_at`](Self::read_at), [`to_vec`](Self::to_vec) or the raw pointer. A fragmented
/// message (larger than one record) is assembled into a buffer the slot owns; over sockets the
/// slot holds the received message.
///
/// ```no_run
/// # fn demo(ch: &libipc::Channel) -> libipc::Result<()> {
/// let msg = ch.recv_in_place()?;
/// let mut head = [0u8; 4];
/// if msg.len() >= 4 {
///     msg.read_at(0, &mut head);
/// }
/// drop(msg); // gives the space back to the sender
/// # Ok(()) }
/// ```
pub struct RecvSlot {
    kind: RecvKind,
}

enum RecvKind {
    /// A record still in the shared-memory ring (the receive gate held).
    InPlace(Arc<Shared>, InPlaceRecv),
    /// A message received over a socket, or assembled from ring fragments.
    Owned(Vec<u8>),
}

impl fmt::Debug for RecvSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvSlot")
            .field("len", &self.len())
            .field("in_place", &matches!(self.kind, RecvKind::InPlace(..)))
            .finish()
    }
}

impl Drop for RecvSlot {
    fn drop(&mut self) {
        if let RecvKind::InPlace(shared, r) = &self.kind {
            shared.link.release(*r);
            shared.rx_gate.leave();
        }
    }
}

impl RecvSlot {
    pub(crate) fn in_place(shared: Arc<Shared>, r: InPlaceRecv) -> RecvSlot {
        RecvSlot {
            kind: RecvKind::InPlace(shared, r),
        }
    }

    pub(crate) fn owned(v: Vec<u8>) -> RecvSlot {
        RecvSlot {
            kind: RecvKind::Owned(v),
        }
    }

    /// The message length.
    pub fn len(&self) -> usize {
        match &self.kind {
            RecvKind::InPlace(_, r) => r.len,
            RecvKind::Owned(v) => v.len(),
        }
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The start of the message, valid for reads of [`len`](Self::len) bytes until the slot
    /// drops. Over shared memory a misbehaving peer could change these bytes while you read
    /// them: copy what you need before validating it, and never build a `&[u8]` over it.
    pub fn as_ptr(&self) -> *const u8 {
        match &self.kind {
            RecvKind::InPlace(_, r) => r.ptr,
            RecvKind::Owned(v) => v.as_ptr(),
        }
    }

    /// A [`ReadBuf`] view of the message (what [`Channel::recv_with`] hands its closure).
    pub fn view(&self) -> ReadBuf<'_> {
        // SAFETY: `as_ptr` is valid for reads of `len` bytes while the slot lives (a record
        // this side has not released, or our own vector); the view borrows the slot.
        unsafe { ReadBuf::from_raw(self.as_ptr(), self.len()) }
    }

    /// Copy `dst.len()` bytes starting at `offset` into `dst`.
    ///
    /// # Panics
    /// If `offset + dst.len()` exceeds [`len`](Self::len).
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) {
        self.view().read_at(offset, dst);
    }

    /// Copy the whole message into a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        self.view().to_vec()
    }
}
