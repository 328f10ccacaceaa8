//! One overlapped operation at a time on a pipe handle: the `OVERLAPPED`, the buffer and the
//! event, and the rule that memory the system may still write is never freed.

use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::sync::{Mutex, MutexGuard};

use windows_sys::Win32::Foundation::{ERROR_IO_INCOMPLETE, ERROR_MORE_DATA, HANDLE, WAIT_OBJECT_0};
use windows_sys::Win32::System::IO::{CancelIoEx, GetOverlappedResult, OVERLAPPED};
use windows_sys::Win32::System::Threading::WaitForSingleObject;

use super::last_error;
use super::wait::{Source, manual_event};
use crate::error::Result;

/// How long hanging up waits for the system to confirm a cancelled operation.
const CANCEL_WAIT_MS: u32 = 10_000;

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
        // SAFETY: nothing is in flight, so nobody else uses `ov`; it is a live heap block.
        unsafe {
            self.ov.write(std::mem::zeroed());
            (*self.ov).hEvent = self.event.as_raw_handle();
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
