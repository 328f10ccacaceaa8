//! The Windows backend: named pipes with overlapped I/O, waits on event objects. See
//! `sys/mod.rs` for the contract.
//!
//! What Windows lacks here gives `Unsupported` with a message naming the alternative
//! (`unsupported.rs`): Unix sockets, the runtime directory of bare socket names (bare names
//! are named pipes on Windows), TCP (not yet ported), shared memory.

mod listener;
mod op;
mod scratch;
mod security;
mod stream;
#[cfg(test)]
mod tests;
mod unsupported;
mod wait;

use std::io;

use windows_sys::Win32::Foundation::{
    ERROR_BROKEN_PIPE, ERROR_NO_DATA, ERROR_OPERATION_ABORTED, ERROR_PIPE_NOT_CONNECTED,
    GetLastError, HANDLE, INVALID_HANDLE_VALUE,
};

pub(crate) use listener::{StreamListener, bind_pipe, connect_pipe};
pub(crate) use scratch::Scratch;
pub(crate) use stream::Stream;
pub(crate) use unsupported::{
    LocalAddr, SocketFile, adopt_inherited, bind_local, bind_tcp, check_private_dir, connect_local,
    connect_tcp, ensure_private_dir, inherit_token, keep_across_exec, runtime_dir, stream_pair,
};
pub(crate) use wait::{Source, Waker, usable_cpus, wait_any, yield_now};

use crate::error::{Error, ErrorKind};

/// The calling thread's last Win32 error code.
fn last_error() -> u32 {
    // SAFETY: GetLastError only reads the calling thread's error slot.
    unsafe { GetLastError() }
}

/// An error from a Win32 error code; the end of a pipe connection is `PeerDisconnected`.
fn win_error(code: u32, what: &str) -> Error {
    let os = io::Error::from_raw_os_error(code as i32);
    match code {
        ERROR_BROKEN_PIPE | ERROR_NO_DATA | ERROR_PIPE_NOT_CONNECTED | ERROR_OPERATION_ABORTED => {
            Error::new(
                ErrorKind::PeerDisconnected,
                format!("{what}: peer disconnected ({os})"),
            )
            .with_os(Some(code as i32))
        }
        _ => Error::from_io(&os, what),
    }
}

/// A handle we own, closed on drop (`std`'s `OwnedHandle` from a raw Win32 `HANDLE`), or the
/// last error if the call that made it failed.
fn owned(h: HANDLE, what: &str) -> crate::error::Result<std::os::windows::io::OwnedHandle> {
    if h.is_null() || h == INVALID_HANDLE_VALUE {
        return Err(win_error(last_error(), what));
    }
    // SAFETY: `h` is a valid handle just returned to us by the system, owned by no one else.
    Ok(unsafe { std::os::windows::io::FromRawHandle::from_raw_handle(h) })
}
