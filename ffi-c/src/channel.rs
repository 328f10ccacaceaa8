//! `ipc_channel`: connect, send, receive (owned, into a caller buffer, in place), reserve and
//! commit, peer credentials, readiness descriptor, close.

use std::ffi::{c_char, c_int};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use libipc::{Channel, RecvSlot, SendSlot};

use crate::ffi::{self, Failure, FfiResult, Wait};
use crate::message::ipc_message;
use crate::options::{self, ipc_options};
use crate::status::ipc_status;

/// A connected channel. One thread may send while others receive; `ipc_channel_close` may be
/// called from any thread. A reservation or an in-place receive belongs to the thread that
/// started it. `ipc_channel_free` must be the last call.
///
/// Thread-safety invariant (why sharing `&ipc_channel` between threads is sound although the
/// core slots hold `MutexGuard`s and are not `Send`): a slot is created, used, committed and
/// dropped only on its owner thread (`take_reservation`, `ipc_channel_release` and `Drop`
/// look at `owner`); other threads only move the `Held` records inside the vectors, never
/// touch the guard, and `Drop` forgets slots of other threads instead of dropping them.
#[allow(non_camel_case_types)]
pub struct ipc_channel {
    // The slots borrow `channel` (their `'static` is a lie the handle keeps true): they are
    // declared first so they drop first, and `Drop` below empties them before that.
    sending: Mutex<Vec<Held<SendSlot<'static>>>>,
    receiving: Mutex<Receiving>,
    /// Held by a receive from its look at the stash until the core has handed it a message
    /// (and, if the caller's buffer is too small, the message is stashed), so that receives on
    /// several threads can neither overwrite the stash nor overtake a stashed message.
    recv_gate: Mutex<()>,
    /// Fast-path hints, kept with the vectors and the stash they describe, so the common
    /// call (nothing held, nothing stashed) takes no lock for them: how many reservations
    /// and in-place receives are held, and whether a message is stashed.
    sends_held: AtomicUsize,
    recvs_held: AtomicUsize,
    stashed: AtomicBool,
    channel: Channel,
}

impl std::fmt::Debug for ipc_channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ipc_channel")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// Something outstanding that belongs to one thread.
struct Held<T> {
    owner: u64,
    value: T,
}

/// Receive-side state kept by the C layer.
#[derive(Default)]
struct Receiving {
    /// A message a too-small `recv_into` buffer could not take: first in line for the next
    /// receive of any kind.
    stash: Option<Vec<u8>>,
    /// In-place receives not yet released, at most one per thread.
    held: Vec<Held<InPlace>>,
}

/// An in-place receive: in the ring (or core buffer), or the stashed message.
enum InPlace {
    Slot(RecvSlot<'static>),
    Stashed(Vec<u8>),
}

impl InPlace {
    fn data(&self) -> (*const u8, usize) {
        match self {
            InPlace::Slot(s) => (s.as_ptr(), s.len()),
            InPlace::Stashed(v) => (v.as_ptr(), v.len()),
        }
    }
}

/// A small number naming the calling thread (std's `ThreadId::as_u64` is unstable).
fn this_thread() -> u64 {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static ID: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    ID.with(|id| *id)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn busy(what: &str) -> Failure {
    Failure::new(
        ipc_status::IPC_ERR_BUSY,
        format!("this thread has {what} outstanding on this channel; finish it first"),
    )
}

impl ipc_channel {
    pub(crate) fn new_handle(channel: Channel) -> *mut ipc_channel {
        ffi::into_handle(ipc_channel {
            sending: Mutex::new(Vec::new()),
            receiving: Mutex::new(Receiving::default()),
            recv_gate: Mutex::new(()),
            sends_held: AtomicUsize::new(0),
            recvs_held: AtomicUsize::new(0),
            stashed: AtomicBool::new(false),
            channel,
        })
    }

    /// Keep a reservation for this thread.
    fn hold_send(&self, slot: SendSlot<'static>) {
        lock(&self.sending).push(Held {
            owner: this_thread(),
            value: slot,
        });
        self.sends_held.fetch_add(1, Ordering::AcqRel);
    }

    /// `IPC_ERR_BUSY` if this thread holds a reservation (its send would wait for itself).
    fn check_send(&self) -> FfiResult<()> {
        let me = this_thread();
        // A zero count is exact for this thread: its own reservations were counted before.
        if self.sends_held.load(Ordering::Acquire) > 0
            && lock(&self.sending).iter().any(|h| h.owner == me)
        {
            return Err(busy("a reservation (ipc_channel_reserve)"));
        }
        Ok(())
    }

    /// Start a receive: `IPC_ERR_BUSY` if this thread holds an in-place receive, else the
    /// receive gate (waited for within `wait`) and the deadline of the whole call.
    fn start_recv(&self, wait: Wait) -> FfiResult<(MutexGuard<'_, ()>, Left)> {
        let me = this_thread();
        if self.recvs_held.load(Ordering::Acquire) > 0
            && lock(&self.receiving).held.iter().any(|h| h.owner == me)
        {
            return Err(busy("an in-place receive (ipc_channel_recv_in_place)"));
        }
        // The common case, an uncontended gate, reads no clock.
        match self.recv_gate.try_lock() {
            Ok(g) => return Ok((g, Left::from(wait))),
            Err(TryLockError::Poisoned(p)) => return Ok((p.into_inner(), Left::from(wait))),
            Err(TryLockError::WouldBlock) => {}
        }
        let Wait::For(d) = wait else {
            return Ok((lock(&self.recv_gate), Left::Forever));
        };
        let end = Instant::now() + d;
        loop {
            match self.recv_gate.try_lock() {
                Ok(g) => return Ok((g, Left::until(end))),
                Err(TryLockError::Poisoned(p)) => return Ok((p.into_inner(), Left::until(end))),
                Err(TryLockError::WouldBlock) if Instant::now() >= end => {
                    return Err(Failure::new(
                        ipc_status::IPC_ERR_TIMEOUT,
                        "another thread is receiving on this channel",
                    ));
                }
                Err(TryLockError::WouldBlock) => std::thread::sleep(GATE_POLL),
            }
        }
    }

    /// The stashed message, if `fits` says to take it (the receive gate must be held).
    fn take_stash(&self, fits: impl FnOnce(usize) -> bool) -> Option<Result<Vec<u8>, usize>> {
        // Exact under the receive gate, which every stash change holds.
        if !self.stashed.load(Ordering::Acquire) {
            return None;
        }
        let mut rx = lock(&self.receiving);
        let n = rx.stash.as_ref()?.len();
        Some(if fits(n) {
            self.stashed.store(false, Ordering::Release);
            rx.stash.take().ok_or(n)
        } else {
            Err(n)
        })
    }

    fn recv_owned(&self, wait: Wait) -> FfiResult<Vec<u8>> {
        let (_gate, deadline) = self.start_recv(wait)?;
        if let Some(Ok(v)) = self.take_stash(|_| true) {
            return Ok(v);
        }
        let m = match deadline.left() {
            None => self.channel.recv(),
            Some(d) => self.channel.recv_timeout(d),
        }?;
        Ok(m.into_vec())
    }
}

/// How often a timed receive looks whether another thread's receive has finished.
const GATE_POLL: Duration = Duration::from_micros(50);

/// What is left of a receive's timeout once the receive gate is held.
#[derive(Debug, Clone, Copy)]
enum Left {
    Forever,
    For(Duration),
}

impl Left {
    fn from(wait: Wait) -> Left {
        match wait {
            Wait::Forever => Left::Forever,
            Wait::For(d) => Left::For(d),
        }
    }

    fn until(end: Instant) -> Left {
        Left::For(end.saturating_duration_since(Instant::now()))
    }

    /// The time left for the core's timed call (`None`: block).
    fn left(self) -> Option<Duration> {
        match self {
            Left::Forever => None,
            Left::For(d) => Some(d),
        }
    }
}

impl Drop for ipc_channel {
    fn drop(&mut self) {
        // A slot holds a lock of the core channel that only its own thread may release. One
        // another thread still holds (a misuse: free must be the last call) is leaked, which
        // leaves that side of the channel locked; the channel is going away anyway.
        let me = this_thread();
        for h in std::mem::take(self.sending.get_mut().unwrap_or_else(|p| p.into_inner())) {
            if h.owner == me {
                drop(h.value);
            } else {
                std::mem::forget(h.value);
            }
        }
        let rx = self.receiving.get_mut().unwrap_or_else(|p| p.into_inner());
        for h in std::mem::take(&mut rx.held) {
            match h.value {
                InPlace::Slot(s) if h.owner != me => std::mem::forget(s),
                other => drop(other),
            }
        }
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

/// Send `len` bytes at `data` as one message (NULL `data` only with `len` 0), waiting at most
/// `timeout_ms` for the peer to make room (`IPC_WAIT_FOREVER`, 0, or milliseconds).
///
/// Errors: `IPC_ERR_TIMEOUT` (nothing was sent; retry), `IPC_ERR_MESSAGE_TOO_LARGE` (nothing
/// sent; the channel stays usable), `IPC_ERR_PEER_DISCONNECTED`, `IPC_ERR_CLOSED`,
/// `IPC_ERR_BUSY` (this thread holds a reservation).
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
        match wait {
            Wait::Forever => ch.channel.send(data),
            Wait::For(d) if d.is_zero() => ch.channel.try_send(data),
            Wait::For(d) => ch.channel.send_timeout(data, d),
        }?;
        Ok(())
    })
}

/// Wait at most `timeout_ms` until the rest of a message that an earlier send with a timeout
/// left half-written has gone out (such a send returns `IPC_OK`: the message counts as sent,
/// and its rest goes out before any later message or with close). `IPC_OK` at once if there
/// is none.
///
/// Errors: `IPC_ERR_TIMEOUT` (some is still queued), `IPC_ERR_PEER_DISCONNECTED`,
/// `IPC_ERR_CLOSED`, `IPC_ERR_BUSY` (this thread holds a reservation).
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
            let d = match wait {
                Wait::Forever => std::time::Duration::MAX,
                Wait::For(d) => d,
            };
            ch.channel.flush_timeout(d)?;
            Ok(())
        })
    }
}

/// Receive the next message into a library-owned `ipc_message` (free it with
/// `ipc_message_free`), waiting at most `timeout_ms`.
///
/// Errors: `IPC_ERR_TIMEOUT` (nothing lost), `IPC_ERR_CLOSED` (the peer closed after every
/// message was received, or this side closed), `IPC_ERR_PEER_DISCONNECTED`,
/// `IPC_ERR_PROTOCOL_VIOLATION`, `IPC_ERR_MESSAGE_TOO_LARGE`, `IPC_ERR_BUSY`.
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
            let data = ch.recv_owned(ffi::wait(timeout_ms)?)?;
            Ok(ffi::into_handle(ipc_message { data }))
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
        if buf.is_null() && cap > 0 {
            return Err(Failure::invalid(format!("buf is NULL but cap is {cap}")));
        }
        let wait = ffi::wait(timeout_ms)?;
        // Copy into the caller's buffer; `Err(n)` = too small for an `n`-byte message.
        let copy = |src: *const u8, n: usize| -> Result<usize, usize> {
            if n > cap {
                return Err(n);
            }
            if n > 0 {
                // SAFETY: `buf` is writable for `cap >= n` bytes (non-null since cap > 0);
                // `src` is readable for `n` bytes (the callers below guarantee it).
                unsafe { std::ptr::copy_nonoverlapping(src, buf, n) };
            }
            Ok(n)
        };
        let (_gate, deadline) = ch.start_recv(wait)?;
        // The stashed message first: taken if it fits, else reported again.
        let result = match ch.take_stash(|n| n <= cap) {
            Some(Ok(v)) => copy(v.as_ptr(), v.len()),
            Some(Err(n)) => Err(n),
            None => {
                let read = |view: libipc::ReadBuf<'_>| match copy(view.as_ptr(), view.len()) {
                    Ok(n) => Ok(n),
                    // Too small: keep the message for the next receive. The gate is still
                    // ours, so no other receive can come first.
                    Err(n) => Err((n, view.to_vec())),
                };
                let r = match deadline.left() {
                    None => ch.channel.recv_with(read),
                    Some(d) => ch.channel.recv_with_timeout(d, read),
                }?;
                r.map_err(|(n, kept)| {
                    lock(&ch.receiving).stash = Some(kept);
                    ch.stashed.store(true, Ordering::Release);
                    n
                })
            }
        };
        let (n, status) = match result {
            Ok(n) => (n, None),
            Err(n) => (n, Some(n)),
        };
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { ffi::write_out(out_len, n) };
        if let Some(needed) = status {
            return Err(Failure::new(
                ipc_status::IPC_ERR_BUFFER_TOO_SMALL,
                format!("the message has {needed} bytes, the buffer {cap}; it was kept"),
            ));
        }
        Ok(())
    })
}

/// Reserve space for a `len`-byte message and point `*out_buf` at it (over shared memory, in
/// the ring itself, waiting at most `timeout_ms` for room). Write the message there, then
/// `ipc_channel_commit` (send it) or `ipc_channel_abort` (send nothing), on this thread. The
/// buffer is write-only and invalid after commit or abort. Until then this thread's other
/// sends return `IPC_ERR_BUSY`; while the reservation is in the ring, other threads' sends
/// wait for it.
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
        let mut slot = match wait {
            Wait::Forever => ch.channel.reserve(len),
            Wait::For(d) => ch.channel.reserve_timeout(len, d),
        }?;
        let ptr = slot.as_mut_ptr();
        // SAFETY: the slot borrows `ch.channel`, which lives in the same heap handle and is
        // dropped only after every held slot is gone (field order and `Drop`); the slot never
        // leaves this handle, and only its owner thread commits or drops it.
        let slot = unsafe { std::mem::transmute::<SendSlot<'_>, SendSlot<'static>>(slot) };
        ch.hold_send(slot);
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { ffi::write_out(out_buf, ptr) };
        Ok(())
    })
}

/// This thread's reservation on `ch`, taken out of the handle.
fn take_reservation(ch: &ipc_channel) -> FfiResult<SendSlot<'static>> {
    let me = this_thread();
    let mut held = lock(&ch.sending);
    let at = held.iter().position(|h| h.owner == me).ok_or_else(|| {
        Failure::invalid("this thread has no reservation on this channel (ipc_channel_reserve)")
    })?;
    ch.sends_held.fetch_sub(1, Ordering::AcqRel);
    Ok(held.swap_remove(at).value)
}

/// Send the message written into this thread's reservation. In the ring this only publishes
/// it; a message in a private buffer (sockets, or larger than half a ring) is sent now,
/// waiting at most the `timeout_ms` given to `ipc_channel_reserve`.
///
/// Errors: `IPC_ERR_INVALID_ARGUMENT` (no reservation on this thread); `IPC_ERR_TIMEOUT`
/// (nothing was sent, the reservation and its buffer stay as they are: commit again or
/// abort); otherwise as `ipc_channel_send`, after which the reservation is gone.
///
/// # Safety
/// `ch` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_commit(ch: *mut ipc_channel) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(ch, "channel", |ch| {
            match take_reservation(ch)?.try_commit() {
                Ok(()) => Ok(()),
                Err((e, Some(slot))) => {
                    // Timed out with nothing sent: the reservation stays this thread's, contents
                    // intact, to commit again or abort.
                    ch.hold_send(slot);
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
        let (gate, deadline) = ch.start_recv(wait)?;
        let value = match ch.take_stash(|_| true) {
            Some(Ok(v)) => InPlace::Stashed(v),
            _ => {
                let slot = match deadline.left() {
                    None => ch.channel.recv_in_place(),
                    Some(d) => ch.channel.recv_in_place_timeout(d),
                }?;
                // SAFETY: as in `ipc_channel_reserve`: the slot borrows `ch.channel`, which
                // outlives every held slot, and only its owner thread drops it.
                InPlace::Slot(unsafe {
                    std::mem::transmute::<RecvSlot<'_>, RecvSlot<'static>>(slot)
                })
            }
        };
        drop(gate);
        let (data, len) = value.data();
        lock(&ch.receiving).held.push(Held {
            owner: this_thread(),
            value,
        });
        ch.recvs_held.fetch_add(1, Ordering::AcqRel);
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
    ffi::boundary(|| {
        // SAFETY: per this function's contract.
        let ch = unsafe { ffi::handle(ch, "channel") }?;
        let me = this_thread();
        let mut rx = lock(&ch.receiving);
        let at = rx.held.iter().position(|h| h.owner == me).ok_or_else(|| {
            Failure::invalid("this thread has no in-place receive on this channel")
        })?;
        let value = rx.held.swap_remove(at).value;
        ch.recvs_held.fetch_sub(1, Ordering::AcqRel);
        drop(rx);
        drop(value);
        Ok(())
    })
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
