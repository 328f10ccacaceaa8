//! Waiting: `WaitForMultipleObjects` on event objects and [`Waker`]s with a deadline, and what
//! the adaptive spinner asks of the scheduler.
//!
//! Every event here is manual-reset, so looking at one (a zero-timeout wait) never consumes
//! it: a [`Source`] is signalled while its operation is complete (a read has data or ended, a
//! write finished, a client connected), like a readable or writable descriptor on Unix.

use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use windows_sys::Win32::Foundation::{HANDLE, WAIT_FAILED, WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows_sys::Win32::System::Threading::{
    CreateEventW, INFINITE, ResetEvent, SetEvent, SwitchToThread, WaitForMultipleObjects,
    WaitForSingleObject,
};

use super::{last_error, owned, win_error};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::Ready;

/// A new manual-reset event, not signalled.
pub(super) fn manual_event() -> Result<OwnedHandle> {
    // SAFETY: no security attributes, no name: plain arguments; the result is checked.
    owned(
        unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) },
        "CreateEventW",
    )
}

/// Whether the event `h` is signalled now (without consuming it: every event here is
/// manual-reset).
pub(super) fn is_signalled(h: HANDLE) -> bool {
    // SAFETY: `h` is an event handle its owner keeps open for this call.
    unsafe { WaitForSingleObject(h, 0) == WAIT_OBJECT_0 }
}

/// Something to wait for: an event object that is signalled while its operation is complete.
///
/// A `Source` names an event owned by something else (a stream, a waker); it is only obtained
/// by borrowing that owner, and only used (by [`wait_any`]) while the owner lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Source {
    /// The event handle's value (a `HANDLE` is a pointer, which is neither `Send` nor `Sync`).
    event: usize,
}

impl Source {
    /// Wait for the event `h` (owned by the caller's owner, see above).
    pub(super) fn event(h: &OwnedHandle) -> Source {
        Source {
            event: h.as_raw_handle() as usize,
        }
    }

    fn handle(self) -> HANDLE {
        self.event as HANDLE
    }
}

/// Wait until one of `sources` is ready, one of the `cancel` wakers fires, or `deadline`
/// passes (`None`: no limit).
pub(crate) fn wait_any(
    sources: &[Source],
    cancel: [Option<&Waker>; 2],
    deadline: Option<Instant>,
) -> Result<Ready> {
    let n = sources.len();
    let mut handles: Vec<HANDLE> = sources.iter().map(|s| s.handle()).collect();
    handles.extend(cancel.iter().flatten().map(|w| w.event.as_raw_handle()));
    if handles.len() > 64 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "too many sources to wait on",
        ));
    }
    loop {
        let ms = match deadline {
            None => INFINITE,
            // Rounded up, so a wait never ends before the deadline (and spins in 0-ms waits).
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .as_nanos()
                .div_ceil(1_000_000)
                .min(u128::from(INFINITE - 1)) as u32,
        };
        let r = if handles.is_empty() {
            // SAFETY: Sleep takes a plain number.
            unsafe { windows_sys::Win32::System::Threading::Sleep(ms) };
            WAIT_TIMEOUT
        } else {
            // SAFETY: `handles` holds events owned by live owners (see `Source`, and the wakers
            // are borrowed for this call), and its length is passed with it.
            unsafe { WaitForMultipleObjects(handles.len() as u32, handles.as_ptr(), 0, ms) }
        };
        if r == WAIT_FAILED {
            return Err(win_error(last_error(), "WaitForMultipleObjects"));
        }
        if r == WAIT_TIMEOUT {
            if deadline.is_some_and(|d| Instant::now() < d) {
                continue;
            }
            return Ok(Ready::default());
        }
        // One of them fired; report every one that is signalled now.
        let mut ready = Ready::default();
        for (i, &h) in handles.iter().enumerate() {
            if is_signalled(h) {
                if i < n {
                    ready.bits |= 1 << i;
                } else {
                    ready.cancelled = true;
                }
            }
        }
        if !ready.timed_out() {
            return Ok(ready);
        }
        // The event was reset again between the wait and the look: wait again.
    }
}

/// Fires on [`wake`](Self::wake) and stays fired until each wake-up is taken: a manual-reset
/// event signalled while the count of wake-ups is above zero.
#[derive(Debug)]
pub(crate) struct Waker {
    event: OwnedHandle,
    count: AtomicUsize,
}

impl Waker {
    pub(crate) fn new() -> Result<Waker> {
        Ok(Waker {
            event: manual_event()?,
            count: AtomicUsize::new(0),
        })
    }

    fn set(&self) {
        // SAFETY: `self.event` is an event handle we own.
        unsafe { SetEvent(self.event.as_raw_handle()) };
    }

    /// Reset the event, unless a wake-up came in meanwhile (then it stays signalled).
    fn reset(&self) {
        // SAFETY: `self.event` is an event handle we own.
        unsafe { ResetEvent(self.event.as_raw_handle()) };
        if self.count.load(Ordering::Acquire) > 0 {
            self.set();
        }
    }

    /// Fire.
    pub(crate) fn wake(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
        self.set();
    }

    /// Consume one wake-up (it stays fired while more remain).
    pub(crate) fn take_one(&self) {
        let taken = self
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| c.checked_sub(1));
        if taken == Ok(1) {
            self.reset();
        }
    }

    /// Consume every wake-up. (Nothing writes bytes to a Windows waker, so none are kept.)
    pub(crate) fn drain_into(&self, out: &mut Vec<u8>) {
        let _ = out;
        self.drain();
    }

    /// Consume every wake-up.
    pub(crate) fn drain(&self) {
        if self.count.swap(0, Ordering::AcqRel) > 0 || is_signalled(self.event.as_raw_handle()) {
            self.reset();
        }
    }

    /// Whether it is fired now.
    pub(crate) fn is_fired(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    /// What to wait on for it to fire.
    pub(crate) fn source(&self) -> Source {
        Source::event(&self.event)
    }
}

/// How many CPUs this process may run on, read once.
pub(crate) fn usable_cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Let another ready thread have this CPU (it returns at once if there is none).
pub(crate) fn yield_now() {
    // SAFETY: SwitchToThread takes no arguments.
    unsafe { SwitchToThread() };
}
