//! `ipc_listener`: bind an endpoint and accept channels.

use std::ffi::{CString, c_char, c_int};
use std::os::fd::AsRawFd;

use libipc::Listener;

use crate::cancel::{Cancellable, ipc_cancel};
use crate::channel::ipc_channel;
use crate::ffi::{self, Failure};
use crate::options::{self, ipc_options};
use crate::status::ipc_status;

/// A bound endpoint that accepts channels. Every function may be called from any thread at the
/// same time, except `ipc_listener_free`, which must be the last call.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ipc_listener {
    inner: Listener,
    endpoint: CString,
    cancel: Cancellable,
}

/// Bind `endpoint` (see docs/endpoints.md: `unix:///path`, `unix:@name`, `tcp://host:port`,
/// `shm://name`, or a bare name) with `opts` (NULL for the defaults).
///
/// Errors: `IPC_ERR_INVALID_ENDPOINT`, `IPC_ERR_ADDRESS_IN_USE`, `IPC_ERR_PERMISSION_DENIED`,
/// `IPC_ERR_INVALID_ARGUMENT` (NULL pointers, invalid UTF-8, bad options), `IPC_ERR_IO`.
///
/// # Safety
/// `endpoint` is NULL or NUL-terminated; `opts` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_listener_bind(
    endpoint: *const c_char,
    opts: *const ipc_options,
    out: *mut *mut ipc_listener,
) -> ipc_status {
    ffi::boundary(|| {
        ffi::out_param(out, "out")?;
        // SAFETY: per this function's contract.
        let ep = unsafe { ffi::utf8(endpoint, "endpoint") }?;
        // SAFETY: per this function's contract.
        let opts = unsafe { options::or_default(opts) };
        let inner = Listener::bind_with(ep, &opts)?;
        let endpoint = CString::new(inner.local_endpoint().to_string())
            .map_err(|_| Failure::invalid("endpoint contains a NUL byte"))?;
        let l = ffi::into_handle(ipc_listener {
            inner,
            endpoint,
            cancel: Cancellable::default(),
        });
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { ffi::write_out(out, l) };
        Ok(())
    })
}

/// Make `ipc_listener_accept` also end, with `IPC_ERR_CANCELLED`, when `cancel` fires; NULL
/// detaches. The listener keeps its own reference: `cancel` may be freed afterwards.
///
/// # Safety
/// `l` is NULL or live; `cancel` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_listener_set_cancel(
    l: *mut ipc_listener,
    cancel: *const ipc_cancel,
) -> ipc_status {
    ffi::boundary(|| {
        // SAFETY: per this function's contract.
        let l = unsafe { ffi::handle(l, "listener") }?;
        // SAFETY: per this function's contract.
        l.cancel.set(unsafe { cancel.as_ref() });
        Ok(())
    })
}

/// Wait for the next client whose handshake succeeded: `IPC_WAIT_FOREVER`, 0 (only one that
/// is already waiting), or at most `timeout_ms` milliseconds.
///
/// Errors: `IPC_ERR_TIMEOUT`, `IPC_ERR_CLOSED` (the listener was closed),
/// `IPC_ERR_CANCELLED` (an attached cancellation handle fired), `IPC_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `l` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_listener_accept(
    l: *mut ipc_listener,
    timeout_ms: i32,
    out: *mut *mut ipc_channel,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::produce(l, "listener", out, "out", |l| {
            let wait = ffi::wait(timeout_ms)?;
            let ch = l.cancel.with(wait, |w| l.inner.accept_wait(w))?;
            Ok(ipc_channel::new_handle(ch))
        })
    }
}

/// Copy the endpoint clients connect to (for `tcp://127.0.0.1:0`, with the port the OS chose)
/// into `buf`, NUL-terminated, and its length without the NUL into `*out_len`. If `cap` is too
/// small: `IPC_ERR_BUFFER_TOO_SMALL` with `*out_len` = the bytes needed including the NUL
/// (`buf` NULL with `cap` 0 asks for just that; NULL with `cap > 0` is
/// `IPC_ERR_INVALID_ARGUMENT`).
///
/// # Safety
/// `l` is NULL or live; a non-null `buf` is writable for `cap` bytes; `out_len` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_listener_endpoint(
    l: *const ipc_listener,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> ipc_status {
    ffi::boundary(|| {
        // SAFETY: per this function's contract.
        let l = unsafe { ffi::handle(l, "listener") }?;
        // SAFETY: per this function's contract.
        unsafe { ffi::copy_c_string(&l.endpoint, "endpoint", buf, cap, out_len) }
    })
}

/// A descriptor that is readable while a client waits to be accepted; poll it, then call
/// `ipc_listener_accept` with timeout 0. Do not read, write or close it.
///
/// # Safety
/// `l` is NULL or live; `out_fd` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_listener_fd(l: *const ipc_listener, out_fd: *mut c_int) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe { ffi::produce(l, "listener", out_fd, "out_fd", |l| Ok(l.inner.as_raw_fd())) }
}

/// Stop accepting: blocked and later accepts return `IPC_ERR_CLOSED`, new clients are refused.
/// Channels already accepted are unaffected. Idempotent.
///
/// # Safety
/// `l` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_listener_close(l: *mut ipc_listener) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(l, "listener", |l| {
            l.inner.close();
            Ok(())
        })
    }
}

/// Close and free a listener (NULL is ignored); its socket file is removed.
///
/// # Safety
/// `l` is NULL or live, and this is the last call on it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_listener_free(l: *mut ipc_listener) {
    // SAFETY: per this function's contract.
    ffi::boundary_value((), || unsafe { ffi::free_handle(l) })
}
