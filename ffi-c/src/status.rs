//! `ipc_status`: the one status type of the C API, with stable numbers.

use std::ffi::{c_char, c_int};

use libipc::ErrorKind;

use crate::ffi;

/// The result of every fallible libipc call. `IPC_OK` is success; every other value is a
/// failure whose message `ipc_last_error()` returns on the same thread.
///
/// The numbers are stable and never reused; a retired status stays here as a comment.
/// 1 to 13 are the core's error kinds (also the wire format's error codes); 100 and up are
/// C-only.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ipc_status {
    /// Success.
    IPC_OK = 0,
    /// The endpoint string does not parse or names something unusable.
    IPC_ERR_INVALID_ENDPOINT = 1,
    /// A live listener (or a file that is not a socket) is at the address.
    IPC_ERR_ADDRESS_IN_USE = 2,
    /// Nobody listens at the endpoint.
    IPC_ERR_NOT_FOUND = 3,
    /// File permissions or a uid allow-list refused access.
    IPC_ERR_PERMISSION_DENIED = 4,
    /// The peer went away without closing the channel (crash, kill, reset).
    IPC_ERR_PEER_DISCONNECTED = 5,
    /// The timeout passed (with timeout 0: nothing to receive, or no room now). Nothing was
    /// lost or half-sent.
    IPC_ERR_TIMEOUT = 6,
    /// Larger than this side's or the peer's message limit; nothing was sent.
    IPC_ERR_MESSAGE_TOO_LARGE = 7,
    /// The peer speaks an incompatible protocol version.
    IPC_ERR_PROTOCOL_MISMATCH = 8,
    /// The peer sent malformed data; the channel is closed.
    IPC_ERR_PROTOCOL_VIOLATION = 9,
    /// Closed by this side, or by the peer after all its messages were received.
    IPC_ERR_CLOSED = 10,
    /// Another operating-system error.
    IPC_ERR_IO = 11,
    /// The transport or feature is not available here.
    IPC_ERR_UNSUPPORTED = 12,
    /// A bad argument: a NULL handle or pointer, invalid UTF-8, an out-of-range value.
    IPC_ERR_INVALID_ARGUMENT = 13,
    // 14..=99: reserved for future core error kinds.
    /// The caller's buffer is too small; the size needed was written and nothing was consumed.
    IPC_ERR_BUFFER_TOO_SMALL = 100,
    /// A bug inside libipc was caught at the API boundary.
    IPC_ERR_PANIC = 101,
    /// This thread holds a reservation (sends) or an in-place receive (receives) on the
    /// channel; commit, abort or release it first.
    IPC_ERR_BUSY = 102,
}

/// Every status, in number order.
pub(crate) const ALL_STATUSES: [ipc_status; 17] = [
    ipc_status::IPC_OK,
    ipc_status::IPC_ERR_INVALID_ENDPOINT,
    ipc_status::IPC_ERR_ADDRESS_IN_USE,
    ipc_status::IPC_ERR_NOT_FOUND,
    ipc_status::IPC_ERR_PERMISSION_DENIED,
    ipc_status::IPC_ERR_PEER_DISCONNECTED,
    ipc_status::IPC_ERR_TIMEOUT,
    ipc_status::IPC_ERR_MESSAGE_TOO_LARGE,
    ipc_status::IPC_ERR_PROTOCOL_MISMATCH,
    ipc_status::IPC_ERR_PROTOCOL_VIOLATION,
    ipc_status::IPC_ERR_CLOSED,
    ipc_status::IPC_ERR_IO,
    ipc_status::IPC_ERR_UNSUPPORTED,
    ipc_status::IPC_ERR_INVALID_ARGUMENT,
    ipc_status::IPC_ERR_BUFFER_TOO_SMALL,
    ipc_status::IPC_ERR_PANIC,
    ipc_status::IPC_ERR_BUSY,
];

impl ipc_status {
    /// The status of a core error kind: the same number.
    pub(crate) fn from_kind(kind: ErrorKind) -> ipc_status {
        let code = c_int::from(kind.code());
        ALL_STATUSES
            .into_iter()
            .find(|s| *s as c_int == code && code != 0)
            // A kind newer than this table: still a failure, reported as an OS-level one.
            .unwrap_or(ipc_status::IPC_ERR_IO)
    }

    fn name(self) -> &'static std::ffi::CStr {
        match self {
            ipc_status::IPC_OK => c"IPC_OK",
            ipc_status::IPC_ERR_INVALID_ENDPOINT => c"IPC_ERR_INVALID_ENDPOINT",
            ipc_status::IPC_ERR_ADDRESS_IN_USE => c"IPC_ERR_ADDRESS_IN_USE",
            ipc_status::IPC_ERR_NOT_FOUND => c"IPC_ERR_NOT_FOUND",
            ipc_status::IPC_ERR_PERMISSION_DENIED => c"IPC_ERR_PERMISSION_DENIED",
            ipc_status::IPC_ERR_PEER_DISCONNECTED => c"IPC_ERR_PEER_DISCONNECTED",
            ipc_status::IPC_ERR_TIMEOUT => c"IPC_ERR_TIMEOUT",
            ipc_status::IPC_ERR_MESSAGE_TOO_LARGE => c"IPC_ERR_MESSAGE_TOO_LARGE",
            ipc_status::IPC_ERR_PROTOCOL_MISMATCH => c"IPC_ERR_PROTOCOL_MISMATCH",
            ipc_status::IPC_ERR_PROTOCOL_VIOLATION => c"IPC_ERR_PROTOCOL_VIOLATION",
            ipc_status::IPC_ERR_CLOSED => c"IPC_ERR_CLOSED",
            ipc_status::IPC_ERR_IO => c"IPC_ERR_IO",
            ipc_status::IPC_ERR_UNSUPPORTED => c"IPC_ERR_UNSUPPORTED",
            ipc_status::IPC_ERR_INVALID_ARGUMENT => c"IPC_ERR_INVALID_ARGUMENT",
            ipc_status::IPC_ERR_BUFFER_TOO_SMALL => c"IPC_ERR_BUFFER_TOO_SMALL",
            ipc_status::IPC_ERR_PANIC => c"IPC_ERR_PANIC",
            ipc_status::IPC_ERR_BUSY => c"IPC_ERR_BUSY",
        }
    }
}

/// The name of a status constant, e.g. `"IPC_ERR_TIMEOUT"`; `"IPC_STATUS_UNKNOWN"` for a
/// number that is not a status. Static; never NULL.
///
/// Takes an `int` so that any number C passes is well-defined.
#[unsafe(no_mangle)]
pub extern "C" fn ipc_status_name(status: c_int) -> *const c_char {
    ffi::boundary_value(c"IPC_STATUS_UNKNOWN".as_ptr(), || {
        ALL_STATUSES
            .into_iter()
            .find(|s| *s as c_int == status)
            .map_or(c"IPC_STATUS_UNKNOWN", ipc_status::name)
            .as_ptr()
    })
}

/// The message of the most recent failure on the calling thread, NUL-terminated, never NULL
/// (the empty string before any failure). Valid until the next failing libipc call on this
/// thread; copy it to keep it longer.
#[unsafe(no_mangle)]
pub extern "C" fn ipc_last_error() -> *const c_char {
    ffi::boundary_value(c"".as_ptr(), ffi::last_error_ptr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_kinds_keep_their_numbers() {
        for kind in ErrorKind::ALL {
            assert_eq!(
                ipc_status::from_kind(kind) as c_int,
                c_int::from(kind.code())
            );
        }
    }

    #[test]
    fn every_status_has_its_own_name() {
        for s in ALL_STATUSES {
            // SAFETY: ipc_status_name returns a static NUL-terminated string.
            let name = unsafe { std::ffi::CStr::from_ptr(ipc_status_name(s as c_int)) };
            assert_eq!(name, s.name());
            assert!(name.to_str().unwrap().starts_with("IPC_"));
        }
        // SAFETY: as above.
        let unknown = unsafe { std::ffi::CStr::from_ptr(ipc_status_name(55)) };
        assert_eq!(unknown, c"IPC_STATUS_UNKNOWN");
    }
}
