//! The link seam: what a connected channel does, whatever carries its messages.
//!
//! A [`Link`] is a non-blocking state machine. Every operation either completes now or says
//! "not yet", after which the caller waits on the link's sources ([`Link::recv_sources`],
//! [`Link::send_sources`]) and tries again. The link never waits itself; the *drivers* wait:
//! the blocking channel (`channel.rs`: gates, adaptive spinning, `poll` with a cancellation
//! handle) and the async channel (`aio/`: tokio's reactor). So each link is written once and
//! both APIs, and every language above them, get the same behaviour.
//!
//! Two links exist: [`stream::StreamLink`] (frames on a byte stream: Unix sockets, TCP, and any
//! later stream transport) and `shm::ShmLink` (rings in shared memory, with a control stream
//! for liveness). Links are made by the transports (`transport/`) after the handshake.

pub(crate) mod stream;

use std::fmt;
#[cfg(unix)]
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use crate::conn::{Conn, Message};
use crate::error::{Error, Result};
use crate::sys::{Ready, Source};

/// A received message left where it lies (a ring record): readable at `ptr` for `len` bytes
/// until given back with [`Link::release`].
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(unix), allow(dead_code))] // made only by the shm link (Unix)
pub(crate) struct InPlaceRecv {
    pub(crate) ptr: *const u8,
    pub(crate) len: usize,
    /// Link-specific: what to release.
    pub(crate) token: [u64; 2],
}

/// Space reserved for one outgoing message where it will be read (a ring record): writable
/// at `ptr` for `len` bytes until [`Link::commit`]ted (forgetting it publishes nothing).
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(unix), allow(dead_code))] // made only by the shm link (Unix)
pub(crate) struct InPlaceSend {
    pub(crate) ptr: *mut u8,
    pub(crate) len: usize,
    /// Link-specific: what to commit.
    pub(crate) token: [u64; 3],
}

// SAFETY: the pointers refer to memory the link owns (a mapping it keeps alive as long as the
// link lives, and the holder of these values holds the link); the values themselves are plain
// data, and who may touch the bytes is decided by the channel's gates, not by the thread.
unsafe impl Send for InPlaceRecv {}
// SAFETY: as above.
unsafe impl Sync for InPlaceRecv {}
// SAFETY: as above.
unsafe impl Send for InPlaceSend {}
// SAFETY: as above.
unsafe impl Sync for InPlaceSend {}

/// What a receive got.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A message, copied out.
    Message(Message),
    /// A message left in place (only when asked for, and only by links that can).
    #[cfg_attr(not(unix), allow(dead_code))] // the shm link (Unix)
    InPlace(InPlaceRecv),
    /// A message of this many bytes, written into the buffer given to
    /// [`Link::try_recv_into`].
    Copied(usize),
}

/// A connected channel's transport-specific half. See the module docs.
///
/// Receiving and sending are each used by one caller at a time (the drivers' gates ensure it),
/// but receiving and sending run concurrently, and `close`-side calls may come from any thread.
pub(crate) trait Link: Send + Sync + fmt::Debug + 'static {
    /// The connection's limits and state.
    fn conn(&self) -> &Conn;

    /// What the transport set up beside the link for the connection's owner, once (none by
    /// default; a publish/subscribe connection over shared memory: its fan-out ends).
    #[cfg_attr(not(unix), allow(dead_code))]
    fn take_attachment(&self) -> Option<Box<dyn std::any::Any + Send>> {
        None
    }

    /// How long the blocking driver may spin, at most, before waiting to receive and to send.
    fn spin(&self) -> (Duration, Duration);

    // ---- receiving ----

    /// Take the next message, or the end of the channel (an error), without waiting; `None` if
    /// there is nothing yet. With `arm`, a `None` also guarantees that the receive sources
    /// become ready when something arrives (a link that must ask its peer for a wake-up does
    /// so here). With `in_place`, a message that lies in one piece where it was received is
    /// left there ([`Incoming::InPlace`]).
    fn try_recv(&self, arm: bool, in_place: bool) -> Result<Option<Incoming>>;

    /// [`try_recv`](Self::try_recv) with `in_place`, for a caller that wants the message in
    /// `dst`: a link that would otherwise copy the message into memory of its own may write
    /// one that fits straight into `dst` instead ([`Incoming::Copied`]; stream links do, so a
    /// message is copied once, from the kernel into `dst`). Anything else comes as from
    /// `try_recv`. Nothing is kept in `dst` after the call.
    fn try_recv_into(&self, arm: bool, dst: &mut [u8]) -> Result<Option<Incoming>> {
        let _ = dst;
        self.try_recv(arm, true)
    }

    /// What to wait on before trying to receive again.
    fn recv_sources(&self) -> &[Source];

    /// When a receive waiting on the sources must try again even if none fires: the
    /// `frame_timeout` of a frame (or fragmented message) that has begun to arrive, after
    /// which `try_recv` fails the channel. `None`: no such time.
    fn recv_deadline(&self) -> Option<Instant> {
        None
    }

    /// A wait on the receive sources ended (`ready` says which fired).
    fn recv_woken(&self, ready: Ready);

    /// Give back a message received in place.
    fn release(&self, msg: InPlaceRecv) {
        let _ = msg;
        unreachable!("this link never receives in place");
    }

    // ---- sending ----

    /// Send what is left of `data` as one message: `*progress` is how far it got (0 at the
    /// start; link-specific units), advanced by what goes out now. `Ok(true)`: all of it is
    /// out. `Ok(false)`: no room now (with `arm`, the send sources will become ready when
    /// there is). Before the first byte of a message goes out, whatever an earlier abandoned
    /// message left pending goes out first.
    fn try_send(&self, data: &[u8], progress: &mut usize, arm: bool) -> Result<bool>;

    /// The sender gives up on `data` after `progress` (`> 0`, not complete): the link keeps the
    /// rest, to go out before anything else (the message counts as sent).
    fn keep_rest(&self, data: &[u8], progress: usize);

    /// Write out what earlier messages left pending; `Ok(true)` when nothing is pending.
    fn try_flush(&self, arm: bool) -> Result<bool>;

    /// What to wait on before trying to send again.
    fn send_sources(&self) -> &[Source];

    /// A wait on the send sources ended; an error if it showed the peer is gone.
    fn send_woken(&self, ready: Ready) -> Result<()>;

    /// The largest message [`try_reserve`](Self::try_reserve) can place (0: none).
    fn max_in_place(&self) -> usize {
        0
    }

    /// Reserve room for a `len`-byte message to be written in place (`len <=
    /// max_in_place`), without waiting; `None` if there is no room now (with `arm`, the send
    /// sources become ready when there is). Pending bytes go out first.
    fn try_reserve(&self, len: usize, arm: bool) -> Result<Option<InPlaceSend>> {
        let _ = (len, arm);
        unreachable!("this link never sends in place");
    }

    /// Publish a message written in place (unless the channel ended meanwhile).
    fn commit(&self, slot: InPlaceSend) -> Result<()> {
        let _ = slot;
        unreachable!("this link never sends in place");
    }

    // ---- ending ----

    /// One step of an orderly close: write out what is pending, then CLOSE. `Ok(true)` when
    /// CLOSE is out, or when nothing more can be written; `Ok(false)`: wait for room.
    fn try_close(&self, arm: bool) -> Result<bool>;

    /// After CLOSE is out: shut down our sending side; whether the connection was still up
    /// (then [`settled`](Self::settled) tells when it is safe to hang up).
    fn shutdown_write(&self) -> bool;

    /// Whether nothing we sent is still in flight (TCP: the peer's kernel acknowledged it).
    fn settled(&self) -> bool {
        true
    }

    /// Hang up without waiting: every wait on the link ends.
    fn hang_up(&self);

    /// A layer above found the peer's message malformed (a request/reply envelope): report
    /// `err` to the peer with an ERROR frame when that can be done without waiting, hang up,
    /// and end both sides with it. Returns the error every later call reports (an earlier end
    /// wins).
    fn fail(&self, err: Error) -> Error;

    /// Close without waiting (a channel dropped where it cannot wait): mark the connection
    /// closed, write what is pending and CLOSE if they fit now, hang up. Dropping a link that
    /// was never closed only hangs up (the peer sees the connection end). (The async driver's.)
    #[cfg_attr(not(all(feature = "tokio", unix)), allow(dead_code))]
    fn close_now(&self);

    /// The descriptor that becomes readable when a receive that found nothing (with `arm`)
    /// could make progress (`AsFd for Channel`).
    #[cfg(unix)]
    fn readiness_fd(&self) -> BorrowedFd<'_>;
}
