//! One overlapped operation at a time on a pipe handle: the `OVERLAPPED`, the buffer and the
//! event, and the rule that memory the system may still write is never freed.

use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::sync::{Mutex, MutexGuard, OnceLock};

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_IO_INCOMPLETE, ERROR_MORE_DATA, HANDLE, INVALID_HANDLE_VALUE, WAIT_OBJECT_0,
};
use windows_sys::Win32::System::IO::{
    CancelIoEx, CreateIoCompletionPort, GetOverlappedResult, OVERLAPPED,
};
use windows_sys::Win32::System::Threading::WaitForSingleObject;

use super::wait::{Source, manual_event};
use super::{last_error, win_error};
use crate::error::Result;

/// How long hanging up waits for the system to confirm a cancelled operation.
const CANCEL_WAIT_MS: u32 = 10_000;

/// Make the I/O on `h` outlive the thread that starts it. Windows cancels a thread's pending
/// I/O when the thread exits, unless the handle is associated with a completion port: so
/// every pipe handle is associated with one process-wide port, on which no packet is ever
/// queued (every `OVERLAPPED` has the low bit of its event set) and which nobody reads.
pub(super) fn thread_agnostic(h: HANDLE) -> Result<()> {
    static PORT: OnceLock<usize> = OnceLock::new();
    let port = match PORT.get() {
        Some(&p) => p as HANDLE,
        None => {
            // SAFETY: creates a new port (no file handle yet); the result is checked.
            let p =
                unsafe { CreateIoCompletionPort(INVALID_HANDLE_VALUE, std::ptr::null_mut(), 0, 1) };
            if p.is_null() {
                return Err(win_error(last_error(), "CreateIoCompletionPort"));
            }
            // Kept for the life of the process. If another thread won the race, ours is closed.
            let kept = *PORT.get_or_init(|| p as usize) as HANDLE;
            if kept != p {
                // SAFETY: our own fresh port, never used.
                unsafe { CloseHandle(p) };
            }
            kept
        }
    };
    // SAFETY: `h` is an open handle opened for overlapped I/O; `port` is our port.
    if unsafe { CreateIoCompletionPort(h, port, 0, 0) }.is_null() {
        return Err(win_error(
            last_error(),
            "associating a pipe with the completion port",
        ));
    }
    Ok(())
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One overlapped operation at a time: its `OVERLAPPED`, its buffer (both on the heap, so
/// they stay put while the system uses them) and its manual-reset event.
#[derive(Debug)]
pub(super) struct Op {
    pub(super) ov: *mut OVERLAPPED,
    pub(super) buf: *mut u8,
    pub(super) cap: usize,
    pub(super) event: OwnedHandle,
    /// What the last operation seen complete moved (also when it failed).
    pub(super) moved: u32,
    /// The system owns `ov` and `buf` until the operation is seen complete.
    pub(super) in_flight: bool,
}

// SAFETY: the raw pointers are heap blocks owned by this `Op`; every use goes through `&mut
// Op` (behind the owner's mutex) or is the system's, which does not care about threads.
unsafe impl Send for Op {}

impl Op {
    pub(super) fn new(cap: usize) -> Result<Op> {
        let ov: Box<OVERLAPPED> = Box::new(
            // SAFETY: OVERLAPPED is plain data; all zeroes is its documented initial state.
            unsafe { std::mem::zeroed() },
        );
        let buf: Box<[u8]> = vec![0u8; cap].into_boxed_slice();
        Ok(Op {
            event: manual_event()?,
            ov: Box::into_raw(ov),
            buf: Box::into_raw(buf).cast(),
            cap,
            moved: 0,
            in_flight: false,
        })
    }

    /// The event, signalled when the operation in flight completes.
    pub(super) fn source(&self) -> Source {
        Source::event(&self.event)
    }

    /// Prepare for a new operation, which the caller starts at once with the pointer returned.
    pub(super) fn arm(&mut self) -> *mut OVERLAPPED {
        debug_assert!(!self.in_flight);
        // The low bit set: the completion signals the event but queues no packet on the
        // completion port the handle is associated with (see `thread_agnostic`).
        let event = (self.event.as_raw_handle() as usize | 1) as HANDLE;
        // SAFETY: nothing is in flight, so nobody else uses `ov`; it is a live heap block.
        unsafe {
            self.ov.write(std::mem::zeroed());
            (*self.ov).hEvent = event;
        }
        self.in_flight = true;
        self.ov
    }

    /// The operation could not start (the system took nothing).
    pub(super) fn not_started(&mut self) {
        self.in_flight = false;
    }

    /// The outcome of the operation in flight on `h`: `None` while it runs, else the bytes it
    /// moved or its error code.
    pub(super) fn check(&mut self, h: HANDLE) -> Option<std::result::Result<u32, u32>> {
        debug_assert!(self.in_flight);
        let mut n = 0u32;
        // SAFETY: `h` is the open handle the operation runs on; `ov` is its live OVERLAPPED.
        let ok = unsafe { GetOverlappedResult(h, self.ov, &mut n, 0) };
        self.moved = n;
        if ok == 0 {
            match last_error() {
                ERROR_IO_INCOMPLETE => return None,
                ERROR_MORE_DATA => {}
                code => {
                    self.in_flight = false;
                    return Some(Err(code));
                }
            }
        }
        self.in_flight = false;
        Some(Ok(n))
    }

    /// Cancel the operation in flight on `h` (if any) and wait for the system to let go of it.
    /// If it never does, the memory stays marked in flight and is leaked on drop.
    pub(super) fn cancel(&mut self, h: HANDLE) {
        if !self.in_flight {
            return;
        }
        // SAFETY: `h` is open; cancelling names our own OVERLAPPED.
        unsafe { CancelIoEx(h, self.ov) };
        // SAFETY: the event is ours and open.
        if unsafe { WaitForSingleObject(self.event.as_raw_handle(), CANCEL_WAIT_MS) }
            == WAIT_OBJECT_0
        {
            let _ = self.check(h);
        }
        if self.in_flight {
            tracing::error!("a cancelled pipe operation did not end; leaking its buffer");
        }
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        if self.in_flight {
            return; // The system may still write there: leak rather than free.
        }
        // SAFETY: both blocks came from `Box::into_raw` in `new` with these types and sizes,
        // and nothing is in flight.
        unsafe {
            drop(Box::from_raw(self.ov));
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.buf, self.cap,
            )));
        }
    }
}
