//! Guards for split in-place (zero-copy) sends and receives: [`SendSlot`] (from
//! [`Channel::reserve`]) and [`RecvSlot`] (from [`Channel::recv_in_place`]). Their contract is
//! written on the two types.
//!
//! [`Channel::reserve`]: crate::Channel::reserve
//! [`Channel::recv_in_place`]: crate::Channel::recv_in_place

use std::time::Duration;

use crate::buf::{ReadBuf, WriteBuf};
use crate::channel::Channel;
use crate::error::{Error, ErrorKind, Result};
use crate::shm::{RingRecv, RingSend, ShmRecv};

/// One outgoing message being written in place (from [`Channel::reserve`]);
/// [`commit`](Self::commit) sends it. Dropping it without committing sends nothing, and the
/// channel stays fully usable.
///
/// Over shared memory, when the message fits in one ring record (half the ring), the slot
/// points straight into the ring the peer also maps (no copy) and holds the channel's send
/// side locked until it is committed or dropped: other sends on the channel wait meanwhile
/// (from the thread holding the slot, a blocking send would wait forever), and the slot is not
/// `Send` (finish it on the thread that made it). Like [`WriteBuf`], it never hands out a Rust
/// reference to those bytes: write with [`write_at`](Self::write_at), [`fill`](Self::fill) or
/// the raw pointer. Larger messages, and every message over sockets, use a private buffer that
/// `commit` sends the normal way.
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
#[derive(Debug)]
pub struct SendSlot<'a> {
    kind: SendKind<'a>,
}

#[derive(Debug)]
enum SendKind<'a> {
    /// A record reserved in the shared-memory ring (send side locked).
    Ring(RingSend<'a>),
    /// A private buffer, sent by `commit` waiting at most the reservation's timeout.
    Private {
        buf: Vec<u8>,
        channel: &'a Channel,
        timeout: Option<Duration>,
    },
}

impl<'a> SendSlot<'a> {
    pub(crate) fn ring(r: RingSend<'a>) -> SendSlot<'a> {
        SendSlot {
            kind: SendKind::Ring(r),
        }
    }

    pub(crate) fn private(
        channel: &'a Channel,
        len: usize,
        timeout: Option<Duration>,
    ) -> SendSlot<'a> {
        SendSlot {
            kind: SendKind::Private {
                buf: vec![0; len],
                channel,
                timeout,
            },
        }
    }

    /// The message length (fixed by `reserve`).
    pub fn len(&self) -> usize {
        match &self.kind {
            SendKind::Ring(r) => r.len(),
            SendKind::Private { buf, .. } => buf.len(),
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
            SendKind::Ring(r) => r.as_mut_ptr(),
            SendKind::Private { buf, .. } => buf.as_mut_ptr(),
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
    pub fn try_commit(self) -> std::result::Result<(), (Error, Option<SendSlot<'a>>)> {
        match self.kind {
            SendKind::Ring(r) => r.commit().map_err(|e| (e, None)),
            SendKind::Private {
                buf,
                channel,
                timeout,
            } => match channel.send_until(&buf, timeout.map(crate::sys::after)) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == ErrorKind::Timeout => Err((
                    e,
                    Some(SendSlot {
                        kind: SendKind::Private {
                            buf,
                            channel,
                            timeout,
                        },
                    }),
                )),
                Err(e) => Err((e, None)),
            },
        }
    }
}

/// One received message read in place (from [`Channel::recv_in_place`]); dropping it releases
/// the message, and the next receive returns the one after it.
///
/// Over shared memory, a message that came in one ring record stays in the ring (no copy) and
/// the channel's receive side stays locked until the slot drops: other receives on the channel
/// wait or time out meanwhile (from the thread holding the slot, a blocking receive would wait
/// forever), the sender may run out of room, and the slot is not `Send`. Like [`ReadBuf`], it
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
#[derive(Debug)]
pub struct RecvSlot<'a> {
    kind: RecvKind<'a>,
}

#[derive(Debug)]
enum RecvKind<'a> {
    /// A record still in the shared-memory ring (receive side locked).
    Ring(RingRecv<'a>),
    /// A message received over a socket, or assembled from ring fragments.
    Owned(Vec<u8>),
}

impl<'a> RecvSlot<'a> {
    pub(crate) fn shm(r: ShmRecv<'a>) -> RecvSlot<'a> {
        let kind = match r {
            ShmRecv::InPlace(r) => RecvKind::Ring(r),
            ShmRecv::Assembled(v) => RecvKind::Owned(v),
        };
        RecvSlot { kind }
    }

    pub(crate) fn owned(v: Vec<u8>) -> RecvSlot<'a> {
        RecvSlot {
            kind: RecvKind::Owned(v),
        }
    }

    /// The message length.
    pub fn len(&self) -> usize {
        match &self.kind {
            RecvKind::Ring(r) => r.len(),
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
            RecvKind::Ring(r) => r.as_ptr(),
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
