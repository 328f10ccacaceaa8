//! The one error type of libipc.
//!
//! Every fallible operation returns [`Error`], whose [`ErrorKind`] is stable: the C ABI and
//! every language binding map the kinds one to one, and the numeric [`ErrorKind::code`] is
//! also what travels in ERROR frames on the wire (see `docs/wire-format.md`). Codes are never
//! reused; new kinds get new numbers.
//!
//! The error type is written by hand (no `thiserror` on the public type) so that its layout
//! stays ours: a kind, a human-readable message and, for [`ErrorKind::Io`], the OS error.

use std::fmt;
use std::io;

/// What went wrong, as a stable category.
///
/// The numbers returned by [`ErrorKind::code`] are part of the wire format and of the C ABI.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The endpoint string could not be parsed or names something unusable (code 1).
    InvalidEndpoint,
    /// Something already lives at the address: a live listener, or a file that is not a socket (code 2).
    AddressInUse,
    /// Nobody is listening at the endpoint (code 3).
    NotFound,
    /// The OS or the peer refused access: file permissions, or a uid allow-list (code 4).
    PermissionDenied,
    /// The peer went away without closing the channel: crash, kill, reset (code 5).
    PeerDisconnected,
    /// The operation did not complete before its timeout; nothing was lost (code 6).
    Timeout,
    /// A message is larger than the limit this side or the peer advertised (code 7).
    MessageTooLarge,
    /// The peer speaks an incompatible protocol version (code 8).
    ProtocolMismatch,
    /// The peer sent malformed data; the channel is closed (code 9).
    ProtocolViolation,
    /// The channel or listener was closed, by this side or by the peer in an orderly way (code 10).
    Closed,
    /// Any other operating-system error; [`Error::os_error`] carries the errno (code 11).
    Io,
    /// The transport or feature is not available in this build or on this platform (code 12).
    Unsupported,
    /// An argument or option is out of range or inconsistent (code 13).
    InvalidArgument,
}

impl ErrorKind {
    /// Every kind, in code order.
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::InvalidEndpoint,
        ErrorKind::AddressInUse,
        ErrorKind::NotFound,
        ErrorKind::PermissionDenied,
        ErrorKind::PeerDisconnected,
        ErrorKind::Timeout,
        ErrorKind::MessageTooLarge,
        ErrorKind::ProtocolMismatch,
        ErrorKind::ProtocolViolation,
        ErrorKind::Closed,
        ErrorKind::Io,
        ErrorKind::Unsupported,
        ErrorKind::InvalidArgument,
    ];

    /// The stable number of this kind (wire ERROR frames, C ABI). Never reused.
    pub fn code(self) -> u16 {
        match self {
            ErrorKind::InvalidEndpoint => 1,
            ErrorKind::AddressInUse => 2,
            ErrorKind::NotFound => 3,
            ErrorKind::PermissionDenied => 4,
            ErrorKind::PeerDisconnected => 5,
            ErrorKind::Timeout => 6,
            ErrorKind::MessageTooLarge => 7,
            ErrorKind::ProtocolMismatch => 8,
            ErrorKind::ProtocolViolation => 9,
            ErrorKind::Closed => 10,
            ErrorKind::Io => 11,
            ErrorKind::Unsupported => 12,
            ErrorKind::InvalidArgument => 13,
        }
    }

    /// The kind with this stable number, if any.
    pub fn from_code(code: u16) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The kind's name as written in the docs and test vectors (`"ProtocolViolation"`).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidEndpoint => "InvalidEndpoint",
            ErrorKind::AddressInUse => "AddressInUse",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::PermissionDenied => "PermissionDenied",
            ErrorKind::PeerDisconnected => "PeerDisconnected",
            ErrorKind::Timeout => "Timeout",
            ErrorKind::MessageTooLarge => "MessageTooLarge",
            ErrorKind::ProtocolMismatch => "ProtocolMismatch",
            ErrorKind::ProtocolViolation => "ProtocolViolation",
            ErrorKind::Closed => "Closed",
            ErrorKind::Io => "Io",
            ErrorKind::Unsupported => "Unsupported",
            ErrorKind::InvalidArgument => "InvalidArgument",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A libipc error: a stable [`ErrorKind`], a message for humans and, for OS failures, the errno.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    os_error: Option<i32>,
}

/// `Result` with libipc's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            os_error: None,
        }
    }

    /// The stable category.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The human-readable description (without the kind prefix).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The OS error number behind this error, when there is one.
    pub fn os_error(&self) -> Option<i32> {
        self.os_error
    }

    /// The same error, carrying an OS error number.
    pub(crate) fn with_os(mut self, os_error: Option<i32>) -> Error {
        self.os_error = os_error;
        self
    }

    /// Classify an I/O error from a socket operation, with context for the message.
    pub(crate) fn from_io(err: &io::Error, context: impl fmt::Display) -> Error {
        use io::ErrorKind as K;
        let kind = match err.kind() {
            K::WouldBlock | K::TimedOut => ErrorKind::Timeout,
            K::BrokenPipe | K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof => {
                ErrorKind::PeerDisconnected
            }
            K::NotFound | K::ConnectionRefused => ErrorKind::NotFound,
            K::PermissionDenied => ErrorKind::PermissionDenied,
            K::AddrInUse => ErrorKind::AddressInUse,
            _ => ErrorKind::Io,
        };
        Error {
            kind,
            message: format!("{context}: {err}"),
            os_error: err.raw_os_error(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        use io::ErrorKind as K;
        let kind = match e.kind {
            ErrorKind::InvalidEndpoint | ErrorKind::InvalidArgument => K::InvalidInput,
            ErrorKind::AddressInUse => K::AddrInUse,
            ErrorKind::NotFound => K::NotFound,
            ErrorKind::PermissionDenied => K::PermissionDenied,
            ErrorKind::PeerDisconnected => K::ConnectionReset,
            ErrorKind::Timeout => K::TimedOut,
            ErrorKind::MessageTooLarge | ErrorKind::ProtocolViolation => K::InvalidData,
            ErrorKind::Closed => K::NotConnected,
            ErrorKind::Unsupported => K::Unsupported,
            _ => K::Other,
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for (i, k) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(k.code() as usize, i + 1);
            assert_eq!(ErrorKind::from_code(k.code()), Some(*k));
        }
        assert_eq!(ErrorKind::from_code(0), None);
        assert_eq!(ErrorKind::from_code(14), None);
    }

    #[test]
    fn io_errors_are_classified() {
        let e = Error::from_io(
            &io::Error::from(io::ErrorKind::ConnectionRefused),
            "connect",
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = Error::from_io(&io::Error::from_raw_os_error(32), "send");
        assert_eq!(e.kind(), ErrorKind::PeerDisconnected);
        assert_eq!(e.os_error(), Some(32));
    }
}
