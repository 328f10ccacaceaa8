//! `ipc_message`: a received message the library allocated.

/// A received message, owned by the caller (it may outlive its channel). Free it with
/// `ipc_message_free`.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ipc_message {
    pub(crate) data: Vec<u8>,
}

use crate::ffi;

/// The message's bytes: never NULL for a message (even an empty one); NULL for a NULL `m`.
/// Valid until `ipc_message_free(m)`.
///
/// # Safety
/// `m` is NULL or a live message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_message_data(m: *const ipc_message) -> *const u8 {
    ffi::boundary_value(std::ptr::null(), || {
        // SAFETY: per this function's contract.
        unsafe { ffi::handle(m, "message") }.map_or(std::ptr::null(), |m| m.data.as_ptr())
    })
}

/// The message's length in bytes (0 for a NULL `m`).
///
/// # Safety
/// `m` is NULL or a live message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_message_len(m: *const ipc_message) -> usize {
    ffi::boundary_value(0, || {
        // SAFETY: per this function's contract.
        unsafe { ffi::handle(m, "message") }.map_or(0, |m| m.data.len())
    })
}

/// Free a message (NULL is ignored).
///
/// # Safety
/// `m` is NULL or a live message, not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_message_free(m: *mut ipc_message) {
    // SAFETY: per this function's contract.
    ffi::boundary_value((), || unsafe { ffi::free_handle(m) })
}
