//! The one error type of libipc, and the one table of its error kinds.
//!
//! Every fallible operation returns [`Error`], whose [`ErrorKind`] is stable: the C ABI and
//! every language binding map the kinds one to one, and the numeric [`ErrorKind::code`] is
//! also what travels in ERROR frames on the wire (see `docs/wire-format.md`). Codes are never
//! reused; new kinds get new numbers.
//!
//! The kinds are written once, in the `error_kinds!` table below: the enum, its codes, names
//! and descriptions all come from it, and so do (through `cargo xtask tables`) the C status
//! enum, the Python exception classes and the code tables in the docs; the test command fails
//! when any of them drifts.
//!
//! Codes 1 to 99 may travel on the wire (hello status, ERROR frames). Codes from 100 up are
//! local conditions that are never sent to a peer; 101 and 103 are reserved (101 is the C
//! API's `IPC_ERR_PANIC`).
//!
//! The error type is written by hand (no `thiserror` on the public type) so that its layout
//! stays ours: a kind, a human-readable message and, where there is one, the OS error or the
//! size a buffer needed.

use std::fmt;
use std::io;

/// Declares [`ErrorKind`] and its table from one list: `Name = code: "description"`.
macro_rules! error_kinds {
    ($($(#[$attr:meta])* $kind:ident = $code:literal $symbol:literal : $summary:literal,)+) => {
        /// What went wrong, as a stable category.
        ///
        /// The numbers returned by [`ErrorKind::code`] are part of the wire format and of the
        /// C ABI.
        #[non_exhaustive]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $(
                #[doc = $summary]
                #[doc = concat!("(code ", $code, ")")]
                $(#[$attr])*
                $kind,
            )+
        }

        impl ErrorKind {
            /// Every kind, in code order.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$kind),+];

            /// The stable number of this kind (wire ERROR frames, C ABI). Never reused.
            pub const fn code(self) -> u16 {
                match self {
                    $(ErrorKind::$kind => $code,)+
                }
            }

            /// The kind's name as written in the docs and test vectors (`"ProtocolViolation"`).
            pub const fn name(self) -> &'static str {
                match self {
                    $(ErrorKind::$kind => stringify!($kind),)+
                }
            }

            /// The kind's stable symbol for bindings whose errors carry a string code
            /// (`"IPC_PROTOCOL_VIOLATION"`: Node's `err.code`); the C status is the same with
            /// `IPC_ERR_` in front.
            pub const fn symbol(self) -> &'static str {
                match self {
                    $(ErrorKind::$kind => $symbol,)+
                }
            }

            /// One sentence saying what the kind means (the text every binding documents).
            pub const fn summary(self) -> &'static str {
                match self {
                    $(ErrorKind::$kind => $summary,)+
                }
            }
        }
    };
}

error_kinds! {
    InvalidEndpoint = 1 "IPC_INVALID_ENDPOINT": "The endpoint string could not be parsed or names something unusable.",
    AddressInUse = 2 "IPC_ADDRESS_IN_USE": "Something already lives at the address: a live listener, or a file that is not a socket.",
    NotFound = 3 "IPC_NOT_FOUND": "Nobody is listening at the endpoint.",
    PermissionDenied = 4 "IPC_PERMISSION_DENIED": "The OS or the peer refused access: file permissions, or a uid allow-list.",
    PeerDisconnected = 5 "IPC_PEER_DISCONNECTED": "The peer went away without closing the channel: crash, kill, reset.",
    Timeout = 6 "IPC_TIMEOUT": "The operation did not complete before its timeout; nothing was lost.",
    MessageTooLarge = 7 "IPC_MESSAGE_TOO_LARGE": "A message is larger than the limit this side or the peer advertised.",
    ProtocolMismatch = 8 "IPC_PROTOCOL_MISMATCH": "The peer speaks an incompatible protocol version.",
    ProtocolViolation = 9 "IPC_PROTOCOL_VIOLATION": "The peer sent malformed data; the channel is closed.",
    Closed = 10 "IPC_CLOSED": "The channel or listener was closed, by this side or by the peer in an orderly way.",
    Io = 11 "IPC_IO": "Any other operating-system error; `Error::os_error` carries the errno.",
    Unsupported = 12 "IPC_UNSUPPORTED": "The transport or feature is not available in this build or on this platform.",
    InvalidArgument = 13 "IPC_INVALID_ARGUMENT": "An argument or option is out of range or inconsistent.",
    Lagged = 14 "IPC_LAGGED": "The publisher cut this subscriber off: it stayed behind for longer than the publisher's block timeout; the messages after the last one it received did not reach it.",
    BufferTooSmall = 100 "IPC_BUFFER_TOO_SMALL": "The caller's buffer is too small for the message, which is kept for the next receive; `Error::needed` says how many bytes it has.",
    Busy = 102 "IPC_BUSY": "This thread holds that side of the channel (an unfinished in-place slot); finish it first.",
    Cancelled = 104 "IPC_CANCELLED": "A cancellation token stopped the call; nothing was lost or half-done.",
    Remote = 105 "IPC_REMOTE": "The server's handler answered the request with an error: `Error::status` has its status, the message its text; the channel is fine.",
}

impl ErrorKind {
    /// The kind with this stable number, if any.
    pub fn from_code(code: u16) -> Option<ErrorKind> {
        ErrorKind::ALL.iter().copied().find(|k| k.code() == code)
    }

    /// Whether this kind may travel to a peer (hello status, ERROR frames): codes below 100.
    /// The others are local conditions.
    pub const fn on_wire(self) -> bool {
        self.code() < 100
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
    needed: Option<usize>,
    status: Option<u32>,
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
            needed: None,
            status: None,
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

    /// For [`ErrorKind::BufferTooSmall`]: the size of the message that did not fit.
    pub fn needed(&self) -> Option<usize> {
        self.needed
    }

    /// For [`ErrorKind::Remote`]: the status of the server's error reply (never 0).
    pub fn status(&self) -> Option<u32> {
        self.status
    }

    /// An error reply to a request: the handler's `status` (non-zero; 0 is taken as 1) and
    /// text. A request handler returns it to answer with an error.
    pub fn remote(status: u32, message: impl Into<String>) -> Error {
        let mut e = Error::new(ErrorKind::Remote, message);
        e.status = Some(status.max(1));
        e
    }

    /// The same error, carrying an OS error number.
    pub(crate) fn with_os(mut self, os_error: Option<i32>) -> Error {
        self.os_error = os_error;
        self
    }

    pub(crate) fn buffer_too_small(needed: usize, cap: usize) -> Error {
        let mut e = Error::new(
            ErrorKind::BufferTooSmall,
            format!("the message has {needed} bytes, the buffer {cap}; it was kept"),
        );
        e.needed = Some(needed);
        e
    }

    pub(crate) fn cancelled() -> Error {
        Error::new(ErrorKind::Cancelled, "the call was cancelled")
    }

    pub(crate) fn timeout(what: &str) -> Error {
        Error::new(ErrorKind::Timeout, what)
    }

    /// Classify an I/O error, with context for the message.
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
            needed: None,
            status: None,
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
            ErrorKind::Cancelled => K::Interrupted,
            ErrorKind::Busy => K::ResourceBusy,
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
        let mut codes: Vec<u16> = ErrorKind::ALL.iter().map(|k| k.code()).collect();
        // The table is in code order, the wire codes are 1.. without gaps.
        assert!(codes.windows(2).all(|w| w[0] < w[1]));
        for (i, k) in ErrorKind::ALL.iter().filter(|k| k.on_wire()).enumerate() {
            assert_eq!(k.code() as usize, i + 1);
        }
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_code(k.code()), Some(*k));
            assert!(!k.summary().is_empty());
        }
        codes.dedup();
        assert_eq!(codes.len(), ErrorKind::ALL.len());
        for reserved in [0, 15, 99, 101, 103] {
            assert_eq!(ErrorKind::from_code(reserved), None);
        }
    }

    #[test]
    fn symbols_spell_the_names() {
        for k in ErrorKind::ALL {
            let mut snake = String::from("IPC");
            for c in k.name().chars() {
                if c.is_ascii_uppercase() {
                    snake.push('_');
                }
                snake.push(c.to_ascii_uppercase());
            }
            assert_eq!(k.symbol(), snake, "{k:?}");
        }
    }

    #[test]
    fn io_errors_are_classified() {
        let e = Error::from_io(
            &io::Error::from(io::ErrorKind::ConnectionRefused),
            "connect",
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        // EPIPE; on Windows, ERROR_BROKEN_PIPE.
        let broken = if cfg!(windows) { 109 } else { 32 };
        let e = Error::from_io(&io::Error::from_raw_os_error(broken), "send");
        assert_eq!(e.kind(), ErrorKind::PeerDisconnected);
        assert_eq!(e.os_error(), Some(broken));
    }

    #[test]
    fn buffer_too_small_says_what_it_needs() {
        let e = Error::buffer_too_small(10, 4);
        assert_eq!(
            (e.kind(), e.needed()),
            (ErrorKind::BufferTooSmall, Some(10))
        );
    }
}
