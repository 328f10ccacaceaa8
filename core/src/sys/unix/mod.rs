//! The Unix backend (Linux-tested): sockets, FIFOs, `poll`, self-pipes, and for shared memory
//! memfds, eventfds and `SCM_RIGHTS`. See `sys/mod.rs` for the contract.

mod dir;
pub(crate) mod fifo;
mod pair;
mod pipe;
mod scratch;
pub(crate) mod shm;
mod socket;
mod stream;
mod wait;

use std::io;

use rustix::io::Errno;

pub(crate) use dir::{check_private_dir, current_uid, ensure_private_dir, runtime_dir};
pub(crate) use pair::{adopt_fd, adopt_inherited, inherit_token, keep_across_exec, stream_pair};
pub(crate) use pipe::{bind_pipe, connect_pipe};
pub(crate) use scratch::Scratch;
pub(crate) use socket::{
    LocalAddr, SocketFile, StreamListener, bind_local, bind_tcp, connect_local, connect_tcp,
};
pub(crate) use stream::Stream;
pub(crate) use wait::{Source, Waker, readiness_set, usable_cpus, wait_any, yield_now};

use crate::error::{Error, ErrorKind};

/// `std::io::Error` from a rustix errno.
fn ioe(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// Map an errno from a system call to an error; EOF-like conditions on a connection are
/// `PeerDisconnected`.
fn errno_error(e: Errno, what: &str) -> Error {
    match e {
        Errno::PIPE
        | Errno::CONNRESET
        | Errno::NOTCONN
        | Errno::CONNABORTED
        | Errno::TIMEDOUT
        | Errno::HOSTUNREACH
        | Errno::NETUNREACH
        | Errno::NETDOWN
        | Errno::HOSTDOWN => Error::new(
            ErrorKind::PeerDisconnected,
            format!("{what}: peer disconnected ({})", ioe(e)),
        )
        .with_os(Some(e.raw_os_error())),
        Errno::AGAIN => Error::new(ErrorKind::Timeout, format!("{what}: timed out")),
        e => Error::from_io(&ioe(e), what),
    }
}
