//! `ipc_channel`: connect, send, receive (owned, into a caller buffer, in place), reserve and
//! commit, peer credentials, readiness descriptor, cancellation, close.
//!
//! Everything here translates C arguments to the core's API: the stash of a too-large message,
//! the receive and send gates, the owned in-place slots and cancellation are the core's. What
//! is the C API's own is its shape: a reservation and an in-place receive are named by the
//! thread that made them (there is no slot handle), so each thread keeps its slots in a
//! thread-local table, and a thread's own calls that would wait for its own slot return
//! `IPC_ERR_BUSY`.

use std::cell::RefCell;
use std::ffi::{c_char, c_int};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use libipc::{Channel, RecvSlot, SendSlot};

use crate::cancel::{Cancellable, ipc_cancel};
use crate::ffi::{self, Failure, FfiResult};
use crate::message::ipc_message;
use crate::options::{self, ipc_options};
use crate::status::ipc_status;

/// A connected channel. One thread may send while others receive; `ipc_channel_close` may be
/// called from any thread. A reservation or an in-place receive belongs to the thread that
/// started it. `ipc_channel_free` must be the last call.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ipc_channel {
    channel: Channel,
    /// Names this handle in the per-thread slot tables (never reused).
    id: u64,
    cancel: Cancellable,
}

/// What one thread holds on one channel.
struct Held {
    channel: u64,
    /// A reservation, with the timeout its private-buffer commit may wait.
    send: Option<(SendSlot, Option<Duration>)>,
    /// An in-place receive.
    recv: Option<RecvSlot>,
}

thread_local! {
    /// This thread's reservations and in-place receives, by channel. Dropped with the thread
    /// (which gives back what it still held).
    static HELD: RefCell<Vec<Held>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` on this thread's entry for channel `id` (made if missing; removed when emptied).
fn held<T>(id: u64, f: impl FnOnce(&mut Held) -> T) -> T {
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        let at = match h.iter().position(|e| e.channel == id) {
            Some(at) => at,
            None => {
                h.push(Held {
                    channel: id,
                    send: None,
                    recv: None,
                });
                h.len() - 1
            }
        };
        let out = f(&mut h[at]);
        if h[at].send.is_none() && h[at].recv.is_none() {
            h.swap_remove(at);
        }
        out
    })
}

/// Whether this thread holds a reservation (`send`) or an in-place receive on channel `id`.
fn holds(id: u64, send: bool) -> bool {
    HELD.with(|h| {
        h.borrow().iter().any(|e| {
            e.channel == id
                && if send {
                    e.send.is_some()
                } else {
                    e.recv.is_some()
                }
        })
    })
}

fn busy(what: &str) -> Failure {
    Failure::new(
        ipc_status::IPC_ERR_BUSY,
        format!("this thread has {what} outstanding on this channel; finish it first"),
    )
}

impl ipc_channel {
    pub(crate) fn new_handle(channel: Channel) -> *mut ipc_channel {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ffi::into_handle(ipc_channel {
            channel,
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            cancel: Cancellable::default(),
        })
    }

    /// `IPC_ERR_BUSY` if this thread holds a reservation (its send would wait for itself).
    fn check_send(&self) -> FfiResult<()> {
        if holds(self.id, true) {
            return Err(busy("a reservation (ipc_channel_reserve)"));
        }
        Ok(())
    }

    /// `IPC_ERR_BUSY` if this thread holds an in-place receive.
    fn check_recv(&self) -> FfiResult<()> {
        if holds(self.id, false) {
            return Err(busy("an in-place receive (ipc_channel_recv_in_place)"));
        }
        Ok(())
    }
}

impl Drop for ipc_channel {
    fn drop(&mut self) {
        // Give up this thread's slots first, so that the close below can say CLOSE (a held
        // reservation holds the send side). Slots other threads hold keep the channel's state
        // alive until they finish or exit; their sends then see Closed.
        let id = self.id;
        let mine = HELD
            .try_with(|h| {
                let mut h = h.borrow_mut();
                let (mine, rest) = std::mem::take(&mut *h)
                    .into_iter()
                    .partition(|e| e.channel == id);
                *h = rest;
                mine
            })
            .unwrap_or_else(|_| Vec::new());
        drop(mine);
        self.channel.close();
    }
}

/// Connect to `endpoint` with `opts` (NULL for the defaults); the options' connect timeout
/// bounds the whole call.
///
/// Errors: `IPC_ERR_INVALID_ENDPOINT`, `IPC_ERR_NOT_FOUND`, `IPC_ERR_PERMISSION_DENIED`,
/// `IPC_ERR_TIMEOUT`, `IPC_ERR_PROTOCOL_MISMATCH`, `IPC_ERR_INVALID_ARGUMENT`, `IPC_ERR_IO`.
///
/// # Safety
/// `endpoint` is NULL or NUL-terminated; `opts` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_connect(
    endpoint: *const c_char,
    opts: *const ipc_options,
    out: *mut *mut ipc_channel,
) -> ipc_status {
    ffi::boundary(|| {
        ffi::out_param(out, "out")?;
        // SAFETY: per this function's contract.
        let ep = unsafe { ffi::utf8(endpoint, "endpoint") }?;
        // SAFETY: per this function's contract.
        let opts = unsafe { options::or_default(opts) };
        let ch = Channel::connect_with(ep, &opts)?;
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { ffi::write_out(out, ipc_channel::new_handle(ch)) };
        Ok(())
    })
}

/// Make every blocking call on `ch` also end, with `IPC_ERR_CANCELLED`, when `cancel` fires
/// (`ipc_cancel_fire`, from any thread or a signal handler); NULL detaches. The channel keeps
/// its own reference: `cancel` may be freed afterwards. A cancelled call has lost nothing.
///
/// # Safety
/// `ch` is NULL or live; `cancel` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_set_cancel(
    ch: *mut ipc_channel,
    cancel: *const ipc_cancel,
) -> ipc_status {
    ffi::boundary(|| {
        // SAFETY: per this function's contract.
        let ch = unsafe { ffi::handle(ch, "channel") }?;
        // SAFETY: per this function's contract.
        ch.cancel.set(unsafe { cancel.as_ref() });
        Ok(())
    })
}

/// Send `len` bytes at `data` as one message (NULL `data` only with `len` 0), waiting at most
/// `timeout_ms` for the peer to make room (`IPC_WAIT_FOREVER`, 0, or milliseconds).
///
/// Errors: `IPC_ERR_TIMEOUT` (nothing was sent; retry), `IPC_ERR_MESSAGE_TOO_LARGE` (nothing
/// sent; the channel stays usable), `IPC_ERR_PEER_DISCONNECTED`, `IPC_ERR_CLOSED`,
/// `IPC_ERR_CANCELLED` (nothing was sent), `IPC_ERR_BUSY` (this thread holds a reservation).
///
/// # Safety
/// `ch` is NULL or live; a non-null `data` is readable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_send(
    ch: *mut ipc_channel,
    data: *const u8,
    len: usize,
    timeout_ms: i32,
) -> ipc_status {
    ffi::boundary(|| {
        // SAFETY: per this function's contract.
        let ch = unsafe { ffi::handle(ch, "channel") }?;
        // SAFETY: per this function's contract.
        let data = unsafe { ffi::bytes(data, len) }?;
        let wait = ffi::wait(timeout_ms)?;
        ch.check_send()?;
        ch.cancel
            .with(wait, |w| ch.channel.send_wait(data, w))
            .map_err(Failure::from)
    })
}

/// Wait at most `timeout_ms` until the rest of a message that an earlier send with a timeout
/// left half-written has gone out (such a send returns `IPC_OK`: the message counts as sent,
/// and its rest goes out before any later message or with close). `IPC_OK` at once if there
/// is none.
///
/// Errors: `IPC_ERR_TIMEOUT` (some is still queued), `IPC_ERR_PEER_DISCONNECTED`,
/// `IPC_ERR_CLOSED`, `IPC_ERR_CANCELLED`, `IPC_ERR_BUSY` (this thread holds a reservation).
///
/// # Safety
/// `ch` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_flush(ch: *mut ipc_channel, timeout_ms: i32) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(ch, "channel", |ch| {
            let wait = ffi::wait(timeout_ms)?;
            ch.check_send()?;
            ch.cancel
                .with(wait, |w| ch.channel.flush_wait(w))
                .map_err(Failure::from)
        })
    }
}

/// Receive the next message into a library-owned `ipc_message` (free it with
/// `ipc_message_free`), waiting at most `timeout_ms`.
///
/// Errors: `IPC_ERR_TIMEOUT` (nothing lost), `IPC_ERR_CLOSED` (the peer closed after every
/// message was received, or this side closed), `IPC_ERR_PEER_DISCONNECTED`,
/// `IPC_ERR_PROTOCOL_VIOLATION`, `IPC_ERR_MESSAGE_TOO_LARGE`, `IPC_ERR_CANCELLED` (nothing
/// lost), `IPC_ERR_BUSY`.
///
/// # Safety
/// `ch` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_recv(
    ch: *mut ipc_channel,
    timeout_ms: i32,
    out: *mut *mut ipc_message,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::produce(ch, "channel", out, "out", |ch| {
            let wait = ffi::wait(timeout_ms)?;
            ch.check_recv()?;
            let m = ch.cancel.with(wait, |w| ch.channel.recv_wait(w))?;
            Ok(ffi::into_handle(ipc_message { data: m.into_vec() }))
        })
    }
}

/// `ipc_channel_recv` without waiting: `IPC_ERR_TIMEOUT` if no message is there now. Part of
/// the readiness rule of `ipc_channel_fd`.
///
/// # Safety
/// As `ipc_channel_recv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_try_recv(
    ch: *mut ipc_channel,
    out: *mut *mut ipc_message,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe { ipc_channel_recv(ch, 0, out) }
}

/// Receive the next message into `buf` (`cap` bytes) and its length into `*out_len`. If it
/// does not fit: `IPC_ERR_BUFFER_TOO_SMALL`, `*out_len` = its size, and the message is kept
/// first in line for the next receive of any kind.
///
/// Errors: `IPC_ERR_BUFFER_TOO_SMALL`, `IPC_ERR_INVALID_ARGUMENT` (NULL `buf` with `cap > 0`),
/// and as `ipc_channel_recv`.
///
/// # Safety
/// `ch` is NULL or live; a non-null `buf` is writable for `cap` bytes; `out_len` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_recv_into(
    ch: *mut ipc_channel,
    buf: *mut u8,
    cap: usize,
    timeout_ms: i32,
    out_len: *mut usize,
) -> ipc_status {
    ffi::boundary(|| {
        // SAFETY: per this function's contract.
        let ch = unsafe { ffi::handle(ch, "channel") }?;
        ffi::out_param(out_len, "out_len")?;
        // SAFETY: per this function's contract.
        let dst = unsafe { ffi::bytes_mut(buf, cap) }?;
        let wait = ffi::wait(timeout_ms)?;
        ch.check_recv()?;
        let (n, result) = match ch.cancel.with(wait, |w| ch.channel.recv_into_wait(dst, w)) {
            Ok(n) => (n, Ok(())),
            Err(e) => match e.needed() {
                Some(needed) => (needed, Err(Failure::from(e))),
                None => return Err(e.into()),
            },
        };
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { ffi::write_out(out_len, n) };
        result
    })
}

/// Reserve space for a `len`-byte message and point `*out_buf` at it (over shared memory, in
/// the ring itself, waiting at most `timeout_ms` for room). Write the message there, then
/// `ipc_channel_commit` (send it) or `ipc_channel_abort` (send nothing), on this thread. The
/// buffer is write-only and invalid after commit or abort. Until then this thread's other
/// sends return `IPC_ERR_BUSY`; while the reservation is in the ring, other threads' sends
/// wait for it. A thread that ends gives up what it still holds.
///
/// Errors: as `ipc_channel_send`.
///
/// # Safety
/// `ch` is NULL or live; `out_buf` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_reserve(
    ch: *mut ipc_channel,
    len: usize,
    timeout_ms: i32,
    out_buf: *mut *mut u8,
) -> ipc_status {
    ffi::boundary(|| {
        // SAFETY: per this function's contract.
        let ch = unsafe { ffi::handle(ch, "channel") }?;
        ffi::out_param(out_buf, "out_buf")?;
        let wait = ffi::wait(timeout_ms)?;
        ch.check_send()?;
        let commit_timeout = match wait {
            ffi::Wait::Forever => None,
            ffi::Wait::For(d) => Some(d),
        };
        let mut slot = ch.cancel.with(wait, |w| ch.channel.reserve_wait(len, w))?;
        let ptr = slot.as_mut_ptr();
        held(ch.id, |h| h.send = Some((slot, commit_timeout)));
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { ffi::write_out(out_buf, ptr) };
        Ok(())
    })
}

/// This thread's reservation on `ch`, taken out of its table.
fn take_reservation(ch: &ipc_channel) -> FfiResult<(SendSlot, Option<Duration>)> {
    held(ch.id, |h| h.send.take()).ok_or_else(|| {
        Failure::invalid("this thread has no reservation on this channel (ipc_channel_reserve)")
    })
}

/// Send the message written into this thread's reservation. In the ring this only publishes
/// it; a message in a private buffer (sockets, or larger than half a ring) is sent now,
/// waiting at most the `timeout_ms` given to `ipc_channel_reserve`.
///
/// Errors: `IPC_ERR_INVALID_ARGUMENT` (no reservation on this thread); `IPC_ERR_TIMEOUT` or
/// `IPC_ERR_CANCELLED` (nothing was sent, the reservation and its buffer stay as they are:
/// commit again or abort); otherwise as `ipc_channel_send`, after which the reservation is
/// gone.
///
/// # Safety
/// `ch` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_commit(ch: *mut ipc_channel) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(ch, "channel", |ch| {
            let (slot, timeout) = take_reservation(ch)?;
            let wait = match timeout {
                None => ffi::Wait::Forever,
                Some(d) => ffi::Wait::For(d),
            };
            match ch.cancel.with(wait, |w| slot.commit_wait(w)) {
                Ok(()) => Ok(()),
                Err((e, Some(slot))) => {
                    // Nothing was sent: the reservation stays this thread's, contents intact,
                    // to commit again or abort.
                    held(ch.id, |h| h.send = Some((slot, timeout)));
                    Err(e.into())
                }
                Err((e, None)) => Err(e.into()),
            }
        })
    }
}

/// Drop this thread's reservation: nothing is sent, the channel stays usable.
///
/// Errors: `IPC_ERR_INVALID_ARGUMENT` (no reservation on this thread).
///
/// # Safety
/// `ch` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_abort(ch: *mut ipc_channel) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe { ffi::with(ch, "channel", |ch| take_reservation(ch).map(drop)) }
}

/// Receive the next message where it lies (over shared memory, in the ring) and point
/// `*out_data` / `*out_len` at it; `ipc_channel_release` gives it back. Until then this
/// thread's other receives return `IPC_ERR_BUSY`; while the message is in the ring, other
/// threads' receives wait for it. Over shared memory the bytes are in memory the peer can
/// write: copy what you validate.
///
/// Errors: as `ipc_channel_recv`.
///
/// # Safety
/// `ch` is NULL or live; `out_data` and `out_len` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_recv_in_place(
    ch: *mut ipc_channel,
    timeout_ms: i32,
    out_data: *mut *const u8,
    out_len: *mut usize,
) -> ipc_status {
    ffi::boundary(|| {
        // SAFETY: per this function's contract.
        let ch = unsafe { ffi::handle(ch, "channel") }?;
        ffi::out_param(out_data, "out_data")?;
        ffi::out_param(out_len, "out_len")?;
        let wait = ffi::wait(timeout_ms)?;
        ch.check_recv()?;
        let slot = ch.cancel.with(wait, |w| ch.channel.recv_in_place_wait(w))?;
        let (data, len) = (slot.as_ptr(), slot.len());
        held(ch.id, |h| h.recv = Some(slot));
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe {
            ffi::write_out(out_data, data);
            ffi::write_out(out_len, len);
        }
        Ok(())
    })
}

/// Give back this thread's in-place message; its bytes are invalid from now on.
///
/// Errors: `IPC_ERR_INVALID_ARGUMENT` (no in-place receive on this thread).
///
/// # Safety
/// `ch` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_release(ch: *mut ipc_channel) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(ch, "channel", |ch| {
            let slot = held(ch.id, |h| h.recv.take()).ok_or_else(|| {
                Failure::invalid("this thread has no in-place receive on this channel")
            })?;
            drop(slot);
            Ok(())
        })
    }
}

/// The credentials of the peer process: pid, uid, gid (Unix sockets and shared memory on
/// Linux); -1 where unknown (TCP).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ipc_peer_credentials {
    /// Process id at connect time, or -1.
    pub pid: i64,
    /// User id, or -1.
    pub uid: i64,
    /// Group id, or -1.
    pub gid: i64,
}

/// Write the peer's credentials to `*out`.
///
/// # Safety
/// `ch` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_peer(
    ch: *const ipc_channel,
    out: *mut ipc_peer_credentials,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::produce(ch, "channel", out, "out", |ch| {
            let p = ch.channel.peer();
            let id = |v: Option<u32>| v.map_or(-1, i64::from);
            Ok(ipc_peer_credentials {
                pid: id(p.pid),
                uid: id(p.uid),
                gid: id(p.gid),
            })
        })
    }
}

/// The largest message `ipc_channel_send` accepts on this channel (the smaller of both sides'
/// limits).
///
/// # Safety
/// `ch` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_max_message_size(
    ch: *const ipc_channel,
    out: *mut usize,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::produce(ch, "channel", out, "out", |ch| {
            Ok(ch.channel.max_message_size())
        })
    }
}

/// A descriptor that becomes readable when the channel may have something to receive (a
/// message or its end). Rule: receive with timeout 0 until `IPC_ERR_TIMEOUT`, then wait for
/// the descriptor, then receive again (messages already buffered in the library do not make it
/// readable). Do not read, write or close it.
///
/// # Safety
/// `ch` is NULL or live; `out_fd` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_fd(ch: *const ipc_channel, out_fd: *mut c_int) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::produce(ch, "channel", out_fd, "out_fd", |ch| {
            Ok(ch.channel.as_raw_fd())
        })
    }
}

/// Close the channel: the peer receives everything sent so far, then `IPC_ERR_CLOSED`; calls
/// blocked on this channel in other threads return `IPC_ERR_CLOSED`. Idempotent.
///
/// # Safety
/// `ch` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_close(ch: *mut ipc_channel) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(ch, "channel", |ch| {
            ch.channel.close();
            Ok(())
        })
    }
}

/// Close and free a channel (NULL is ignored). Release and commit or abort what this thread
/// holds first; anything still held is given up.
///
/// # Safety
/// `ch` is NULL or live, and this is the last call on it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_free(ch: *mut ipc_channel) {
    // SAFETY: per this function's contract.
    ffi::boundary_value((), || unsafe { ffi::free_handle(ch) })
}
