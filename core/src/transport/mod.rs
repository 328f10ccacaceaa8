//! Transports turn an [`Endpoint`] into connected byte streams: one file per transport.
//! Every stream transport yields a connected socket fd; framing and the handshake on top of
//! it are shared (`handshake.rs`, `wire/`). `shm://` uses the Unix transport for its control
//! socket and moves messages through shared memory (`crate::shm`); pipes are a later transport.

mod tcp;
mod unix;

use std::os::fd::OwnedFd;

use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::options::Options;
use crate::sys;

/// A bound, listening, non-blocking socket and what it takes to clean it up.
#[derive(Debug)]
pub(crate) struct Bound {
    pub(crate) fd: OwnedFd,
    /// The endpoint as clients should name it (TCP port 0 replaced by the real port).
    pub(crate) local: Endpoint,
    /// The socket file to remove on drop, for file-based Unix sockets.
    pub(crate) _file: Option<sys::SocketFile>,
    /// Connections use shared memory (`shm://`); the socket is only for setup and liveness.
    pub(crate) shm: bool,
}

fn unavailable(ep: &Endpoint) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "{ep}: transport not available in this build or on this platform (pipe:// is planned)"
        ),
    )
}

/// Bind and listen at `ep`.
pub(crate) fn bind(ep: &Endpoint, opts: &Options) -> Result<Bound> {
    let bound = match ep {
        Endpoint::Unix(_) | Endpoint::UnixAbstract(_) | Endpoint::Named(_) => unix::bind(ep, opts)?,
        Endpoint::Tcp { host, port } => {
            if opts.allowed_uids.is_some() {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "allowed_uids needs a transport with peer credentials (unix); TCP peers cannot be verified",
                ));
            }
            tcp::bind(host, *port)?
        }
        Endpoint::Shm(_) if shm_available() => {
            let mut b = unix::bind(ep, opts)?;
            b.shm = true;
            b
        }
        Endpoint::Shm(_) | Endpoint::Pipe(_) => return Err(unavailable(ep)),
    };
    sys::set_nonblocking(std::os::fd::AsFd::as_fd(&bound.fd), true)?;
    Ok(bound)
}

/// Connect to `ep`, returning a blocking connected socket.
pub(crate) fn connect(ep: &Endpoint, opts: &Options) -> Result<OwnedFd> {
    match ep {
        Endpoint::Unix(_) | Endpoint::UnixAbstract(_) | Endpoint::Named(_) => {
            unix::connect(ep, opts)
        }
        Endpoint::Tcp { host, port } => {
            if opts.allowed_uids.is_some() {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "allowed_uids needs a transport with peer credentials (unix); TCP peers cannot be verified",
                ));
            }
            sys::connect_tcp(host, *port, opts.connect_timeout)
        }
        Endpoint::Shm(_) if shm_available() => unix::connect(ep, opts),
        Endpoint::Shm(_) | Endpoint::Pipe(_) => Err(unavailable(ep)),
    }
}

/// Shared memory: sealed memfds on Linux and Android, the POSIX shm fallback on other Unix
/// systems (see `shm::segment::posix_fallback`).
fn shm_available() -> bool {
    cfg!(unix)
}

/// Prepare an accepted connection for use (per-transport socket options).
pub(crate) fn prepare_accepted(fd: &OwnedFd) -> Result<()> {
    let fd = std::os::fd::AsFd::as_fd(fd);
    if !sys::is_unix_socket(fd) {
        sys::set_nodelay(fd)?;
    }
    Ok(())
}
