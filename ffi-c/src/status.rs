//! `ipc_status`: the one status type of the C API, with stable numbers.

use std::ffi::{c_char, c_int};

use libipc::ErrorKind;

use crate::ffi;

/// The result of every fallible libipc call. `IPC_OK` is success; every other value is a
/// failure whose message `ipc_last_error()` returns on the same thread.
///
/// The numbers are stable and never reused; a retired status stays here as a comment.
/// Every core error kind has the status of the same number (1 to 99: kinds that are also
/// wire error codes; 100 and up: local conditions); `IPC_ERR_PANIC` (101) is the C API's own.
/// The variants are generated from the core's table (`cargo xtask tables`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ipc_status {
    /// Success.
    IPC_OK = 0,
    // @generated begin error-kinds (cargo xtask tables; do not edit)
    /// The endpoint string could not be parsed or names something unusable.
    IPC_ERR_INVALID_ENDPOINT = 1,
    /// Something already lives at the address: a live listener, or a file that is not a socket.
    IPC_ERR_ADDRESS_IN_USE = 2,
    /// Nobody is listening at the endpoint.
    IPC_ERR_NOT_FOUND = 3,
    /// The OS or the peer refused access: file permissions, or a uid allow-list.
    IPC_ERR_PERMISSION_DENIED = 4,
    /// The peer went away without closing the channel: crash, kill, reset.
    IPC_ERR_PEER_DISCONNECTED = 5,
    /// The operation did not complete before its timeout; nothing was lost.
    IPC_ERR_TIMEOUT = 6,
    /// A message is larger than the limit this side or the peer advertised.
    IPC_ERR_MESSAGE_TOO_LARGE = 7,
    /// The peer speaks an incompatible protocol version.
    IPC_ERR_PROTOCOL_MISMATCH = 8,
    /// The peer sent malformed data; the channel is closed.
    IPC_ERR_PROTOCOL_VIOLATION = 9,
    /// The channel or listener was closed, by this side or by the peer in an orderly way.
    IPC_ERR_CLOSED = 10,
    /// Any other operating-system error; `Error::os_error` carries the errno.
    IPC_ERR_IO = 11,
    /// The transport or feature is not available in this build or on this platform.
    IPC_ERR_UNSUPPORTED = 12,
    /// An argument or option is out of range or inconsistent.
    IPC_ERR_INVALID_ARGUMENT = 13,
    /// The publisher cut this subscriber off: it stayed behind for longer than the publisher's
    /// block timeout; the messages after the last one it received did not reach it.
    IPC_ERR_LAGGED = 14,
    /// The caller's buffer is too small for the message, which is kept for the next receive;
    /// `Error::needed` says how many bytes it has.
    IPC_ERR_BUFFER_TOO_SMALL = 100,
    /// A bug inside libipc was caught at the API boundary (the C API's own status).
    IPC_ERR_PANIC = 101,
    /// This thread holds that side of the channel (an unfinished in-place slot); finish it first.
    IPC_ERR_BUSY = 102,
    /// A cancellation token stopped the call; nothing was lost or half-done.
    IPC_ERR_CANCELLED = 104,
    /// The server's handler answered the request with an error: `Error::status` has its status, the
    /// message its text; the channel is fine.
    IPC_ERR_REMOTE = 105,
    // @generated end error-kinds
}

/// Every status, in number order.
pub(crate) const ALL_STATUSES: &[ipc_status] = &[
    ipc_status::IPC_OK,
    // @generated begin error-kind-list (cargo xtask tables; do not edit)
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
    ipc_status::IPC_ERR_LAGGED,
    ipc_status::IPC_ERR_BUFFER_TOO_SMALL,
    ipc_status::IPC_ERR_PANIC,
    ipc_status::IPC_ERR_BUSY,
    ipc_status::IPC_ERR_CANCELLED,
    ipc_status::IPC_ERR_REMOTE,
    // @generated end error-kind-list
];

#[cfg(test)]
/// `IPC_ERR_` and the kind's name in upper snake case (`"ProtocolViolation"` ->
/// `"PROTOCOL_VIOLATION"`): the rule that names each kind's status.
pub(crate) fn status_name_of(kind_name: &str) -> String {
    let mut out = String::from("IPC_ERR_");
    for (i, c) in kind_name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

impl ipc_status {
    /// The status of a core error kind: the same number.
    pub(crate) fn from_kind(kind: ErrorKind) -> ipc_status {
        let code = c_int::from(kind.code());
        ALL_STATUSES
            .iter()
            .copied()
            .find(|s| *s as c_int == code && code != 0 && *s != ipc_status::IPC_ERR_PANIC)
            // A kind newer than this table: still a failure, reported as an OS-level one.
            .unwrap_or(ipc_status::IPC_ERR_IO)
    }

    fn name(self) -> &'static std::ffi::CStr {
        NAMES
            .iter()
            .find(|(s, _)| *s == self)
            .map_or(c"IPC_STATUS_UNKNOWN", |(_, n)| n)
    }
}

/// Each status's name.
#[rustfmt::skip]
const NAMES: &[(ipc_status, &std::ffi::CStr)] = &[
    (ipc_status::IPC_OK, c"IPC_OK"),
    // @generated begin error-kind-names (cargo xtask tables; do not edit)
    (ipc_status::IPC_ERR_INVALID_ENDPOINT, c"IPC_ERR_INVALID_ENDPOINT"),
    (ipc_status::IPC_ERR_ADDRESS_IN_USE, c"IPC_ERR_ADDRESS_IN_USE"),
    (ipc_status::IPC_ERR_NOT_FOUND, c"IPC_ERR_NOT_FOUND"),
    (ipc_status::IPC_ERR_PERMISSION_DENIED, c"IPC_ERR_PERMISSION_DENIED"),
    (ipc_status::IPC_ERR_PEER_DISCONNECTED, c"IPC_ERR_PEER_DISCONNECTED"),
    (ipc_status::IPC_ERR_TIMEOUT, c"IPC_ERR_TIMEOUT"),
    (ipc_status::IPC_ERR_MESSAGE_TOO_LARGE, c"IPC_ERR_MESSAGE_TOO_LARGE"),
    (ipc_status::IPC_ERR_PROTOCOL_MISMATCH, c"IPC_ERR_PROTOCOL_MISMATCH"),
    (ipc_status::IPC_ERR_PROTOCOL_VIOLATION, c"IPC_ERR_PROTOCOL_VIOLATION"),
    (ipc_status::IPC_ERR_CLOSED, c"IPC_ERR_CLOSED"),
    (ipc_status::IPC_ERR_IO, c"IPC_ERR_IO"),
    (ipc_status::IPC_ERR_UNSUPPORTED, c"IPC_ERR_UNSUPPORTED"),
    (ipc_status::IPC_ERR_INVALID_ARGUMENT, c"IPC_ERR_INVALID_ARGUMENT"),
    (ipc_status::IPC_ERR_LAGGED, c"IPC_ERR_LAGGED"),
    (ipc_status::IPC_ERR_BUFFER_TOO_SMALL, c"IPC_ERR_BUFFER_TOO_SMALL"),
    (ipc_status::IPC_ERR_PANIC, c"IPC_ERR_PANIC"),
    (ipc_status::IPC_ERR_BUSY, c"IPC_ERR_BUSY"),
    (ipc_status::IPC_ERR_CANCELLED, c"IPC_ERR_CANCELLED"),
    (ipc_status::IPC_ERR_REMOTE, c"IPC_ERR_REMOTE"),
    // @generated end error-kind-names
];

/// The name of a status constant, e.g. `"IPC_ERR_TIMEOUT"`; `"IPC_STATUS_UNKNOWN"` for a
/// number that is not a status. Static; never NULL.
///
/// Takes an `int` so that any number C passes is well-defined.
#[unsafe(no_mangle)]
pub extern "C" fn ipc_status_name(status: c_int) -> *const c_char {
    ffi::boundary_value(c"IPC_STATUS_UNKNOWN".as_ptr(), || {
        ALL_STATUSES
            .iter()
            .copied()
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

    /// The C statuses follow the core's one table: every kind has the status of its number,
    /// named by the rule, and there is no other status but `IPC_OK` and `IPC_ERR_PANIC`.
    #[test]
    fn statuses_follow_the_core_table() {
        for &kind in ErrorKind::ALL {
            let s = ipc_status::from_kind(kind);
            assert_eq!(s as c_int, c_int::from(kind.code()), "{kind}");
            assert_eq!(s.name().to_str().unwrap(), status_name_of(kind.name()));
        }
        assert_eq!(ALL_STATUSES.len(), ErrorKind::ALL.len() + 2);
        assert_eq!(
            status_name_of("ProtocolViolation"),
            "IPC_ERR_PROTOCOL_VIOLATION"
        );
    }

    #[test]
    fn every_status_has_its_own_name() {
        for &s in ALL_STATUSES {
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
