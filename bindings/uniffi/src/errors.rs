//! One error type for Kotlin and Swift: a variant per kind of the core's one table
//! (`libipc::ErrorKind::ALL`), each with the core's message. Kotlin sees a sealed
//! `IpcException` hierarchy, Swift an `IpcError` enum conforming to `Error`.

use libipc::ErrorKind;

/// What went wrong: the core's error kinds, one to one (`error_code` gives the number).
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum IpcError {
    #[error("{0}")]
    InvalidEndpoint(String),
    #[error("{0}")]
    AddressInUse(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    PeerDisconnected(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    MessageTooLarge(String),
    #[error("{0}")]
    ProtocolMismatch(String),
    #[error("{0}")]
    ProtocolViolation(String),
    #[error("{0}")]
    Closed(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Lagged(String),
    #[error("{0}")]
    BufferTooSmall(String),
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Cancelled(String),
    #[error("{0}")]
    Remote(String),
}

impl IpcError {
    /// The core's kind of this error.
    pub fn kind(&self) -> ErrorKind {
        use IpcError as E;
        match self {
            E::InvalidEndpoint(_) => ErrorKind::InvalidEndpoint,
            E::AddressInUse(_) => ErrorKind::AddressInUse,
            E::NotFound(_) => ErrorKind::NotFound,
            E::PermissionDenied(_) => ErrorKind::PermissionDenied,
            E::PeerDisconnected(_) => ErrorKind::PeerDisconnected,
            E::Timeout(_) => ErrorKind::Timeout,
            E::MessageTooLarge(_) => ErrorKind::MessageTooLarge,
            E::ProtocolMismatch(_) => ErrorKind::ProtocolMismatch,
            E::ProtocolViolation(_) => ErrorKind::ProtocolViolation,
            E::Closed(_) => ErrorKind::Closed,
            E::Io(_) => ErrorKind::Io,
            E::Unsupported(_) => ErrorKind::Unsupported,
            E::InvalidArgument(_) => ErrorKind::InvalidArgument,
            E::Lagged(_) => ErrorKind::Lagged,
            E::BufferTooSmall(_) => ErrorKind::BufferTooSmall,
            E::Busy(_) => ErrorKind::Busy,
            E::Cancelled(_) => ErrorKind::Cancelled,
            E::Remote(_) => ErrorKind::Remote,
        }
    }
}

impl From<libipc::Error> for IpcError {
    fn from(e: libipc::Error) -> IpcError {
        let m = e.message().to_owned();
        match e.kind() {
            ErrorKind::InvalidEndpoint => IpcError::InvalidEndpoint(m),
            ErrorKind::AddressInUse => IpcError::AddressInUse(m),
            ErrorKind::NotFound => IpcError::NotFound(m),
            ErrorKind::PermissionDenied => IpcError::PermissionDenied(m),
            ErrorKind::PeerDisconnected => IpcError::PeerDisconnected(m),
            ErrorKind::Timeout => IpcError::Timeout(m),
            ErrorKind::MessageTooLarge => IpcError::MessageTooLarge(m),
            ErrorKind::ProtocolMismatch => IpcError::ProtocolMismatch(m),
            ErrorKind::ProtocolViolation => IpcError::ProtocolViolation(m),
            ErrorKind::Closed => IpcError::Closed(m),
            ErrorKind::Unsupported => IpcError::Unsupported(m),
            ErrorKind::InvalidArgument => IpcError::InvalidArgument(m),
            ErrorKind::Lagged => IpcError::Lagged(m),
            ErrorKind::BufferTooSmall => IpcError::BufferTooSmall(m),
            ErrorKind::Busy => IpcError::Busy(m),
            ErrorKind::Cancelled => IpcError::Cancelled(m),
            ErrorKind::Remote => IpcError::Remote(m),
            // `Io`, and any kind a newer core adds before this list learns it (the test below
            // fails then).
            _ => IpcError::Io(format!("{}: {m}", e.kind())),
        }
    }
}

impl From<&libipc::Error> for IpcError {
    fn from(e: &libipc::Error) -> IpcError {
        IpcError::from(e.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_kind_has_its_own_variant_of_the_same_name() {
        for &k in ErrorKind::ALL {
            let e = IpcError::from(libipc::Error::new(k, "m"));
            assert_eq!(e.kind(), k, "{k:?}");
            let variant = format!("{e:?}");
            assert!(variant.starts_with(&format!("{}(", k.name())), "{variant}");
        }
    }
}
