//! `ipc_cancel`: a cancellation handle (the core's `libipc::Cancel`). Attached to a channel
//! (`ipc_channel_set_cancel`) or a listener (`ipc_listener_set_cancel`), it makes their
//! blocking calls end with `IPC_ERR_CANCELLED` when fired, from any thread or from a signal
//! handler (write a byte to `ipc_cancel_signal_fd`).

use std::ffi::c_int;
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use libipc::{Cancel, Wait};

use crate::ffi;
use crate::status::ipc_status;

/// A cancellation handle. Every function may be called from any thread at the same time,
/// except `ipc_cancel_free`, which must be the last call (channels and listeners it was
/// attached to keep their own reference).
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ipc_cancel {
    inner: Cancel,
}

/// The cancellation handle attached to a channel or listener, if any.
#[derive(Debug, Default)]
pub(crate) struct Cancellable {
    attached: Mutex<Option<Cancel>>,
    /// Whether one is attached (so the common call takes no lock).
    any: AtomicBool,
}

impl Cancellable {
    pub(crate) fn set(&self, c: Option<&ipc_cancel>) {
        let mut slot = self.attached.lock().unwrap_or_else(|p| p.into_inner());
        *slot = c.map(|c| c.inner.clone());
        self.any.store(slot.is_some(), Ordering::Release);
    }

    /// Attach what `other` has attached (a connection inherits its server's handle).
    pub(crate) fn copy_from(&self, other: &Cancellable) {
        let theirs = other
            .attached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut slot = self.attached.lock().unwrap_or_else(|p| p.into_inner());
        *slot = theirs;
        self.any.store(slot.is_some(), Ordering::Release);
    }

    /// Run `f` with the core wait for a C timeout, watching the attached handle.
    pub(crate) fn with<R>(&self, wait: ffi::Wait, f: impl FnOnce(Wait<'_>) -> R) -> R {
        let base = match wait {
            ffi::Wait::Forever => Wait::forever(),
            ffi::Wait::For(d) if d.is_zero() => Wait::no_wait(),
            ffi::Wait::For(d) => Wait::timeout(d),
        };
        if !self.any.load(Ordering::Acquire) {
            return f(base);
        }
        let cancel = self
            .attached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match &cancel {
            Some(c) => f(base.or_cancel(c)),
            None => f(base),
        }
    }
}

/// Create a cancellation handle, not fired.
///
/// Errors: `IPC_ERR_INVALID_ARGUMENT` (NULL `out`), `IPC_ERR_IO`.
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_cancel_new(out: *mut *mut ipc_cancel) -> ipc_status {
    ffi::boundary(|| {
        ffi::out_param(out, "out")?;
        let c = ffi::into_handle(ipc_cancel {
            inner: Cancel::new()?,
        });
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { ffi::write_out(out, c) };
        Ok(())
    })
}

/// Fire: blocking calls watching this handle return `IPC_ERR_CANCELLED` now, and later ones
/// at once, until `ipc_cancel_reset`. Idempotent. (From a signal handler, write a byte to
/// `ipc_cancel_signal_fd` instead: that is async-signal-safe.)
///
/// # Safety
/// `c` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_cancel_fire(c: *const ipc_cancel) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(c, "cancel", |c| {
            c.inner.cancel();
            Ok(())
        })
    }
}

/// Make the handle usable again: calls watching it wait normally until the next fire.
///
/// # Safety
/// `c` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_cancel_reset(c: *const ipc_cancel) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(c, "cancel", |c| {
            c.inner.reset();
            Ok(())
        })
    }
}

/// Whether the handle is fired: `*out` = 1 or 0.
///
/// # Safety
/// `c` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_cancel_is_fired(c: *const ipc_cancel, out: *mut c_int) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::produce(c, "cancel", out, "out", |c| {
            Ok(c_int::from(c.inner.is_cancelled()))
        })
    }
}

/// A descriptor to write one byte to in order to fire the handle, e.g. from a signal handler
/// (`write` is async-signal-safe). Non-blocking; owned by the handle: do not close it.
///
/// # Safety
/// `c` is NULL or live; `out_fd` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_cancel_signal_fd(
    c: *const ipc_cancel,
    out_fd: *mut c_int,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::produce(c, "cancel", out_fd, "out_fd", |c| {
            Ok(c.inner.signal_fd().as_raw_fd())
        })
    }
}

/// Free a cancellation handle (NULL is ignored). Channels and listeners it is attached to
/// keep watching it.
///
/// # Safety
/// `c` is NULL or live, and this is the last call on it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_cancel_free(c: *mut ipc_cancel) {
    // SAFETY: per this function's contract.
    ffi::boundary_value((), || unsafe { ffi::free_handle(c) })
}
