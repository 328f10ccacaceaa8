//! Parent and child: a connected pair of Unix sockets, one end inherited by a child process.
//!
//! The child's end crosses `exec` as a plain descriptor number, written in an environment
//! variable (the token). Both ends are close-on-exec from birth, so no other child ever
//! inherits one: a spawn keeps the child's end open across `exec` only in the child it starts
//! ([`keep_across_exec`]), and the child, on adopting it ([`adopt_inherited`]), makes it
//! close-on-exec again, so its own children do not inherit it either.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::fs::FileType;
use rustix::io::{Errno, FdFlags};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use super::socket::SocketStream;
use super::{Stream, ioe};
use crate::error::{Error, ErrorKind, Result};

/// Lowest descriptor number an end may have: 0, 1 and 2 are the child's standard streams,
/// which a spawner may replace (`dup2`) before `exec`.
const MIN_FD: RawFd = 3;

/// A connected pair of Unix stream sockets, both close-on-exec, non-blocking and numbered 3 or
/// above.
pub(crate) fn stream_pair() -> Result<(Stream, Stream)> {
    let (a, b) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::from_io(&ioe(e), "socketpair"))?;
    Ok((
        SocketStream::stream(above_stdio(a)?, true)?,
        SocketStream::stream(above_stdio(b)?, true)?,
    ))
}

/// `fd`, or a close-on-exec duplicate numbered [`MIN_FD`] or above if it is lower (possible
/// when the process runs with a standard stream closed).
fn above_stdio(fd: OwnedFd) -> Result<OwnedFd> {
    if fd.as_raw_fd() >= MIN_FD {
        return Ok(fd);
    }
    rustix::io::fcntl_dupfd_cloexec(&fd, MIN_FD)
        .map_err(|e| Error::from_io(&ioe(e), "duplicating a descriptor"))
}

/// What a child is told to open `end` with: its descriptor number.
pub(crate) fn inherit_token(end: &Stream) -> String {
    end.as_fd().as_raw_fd().to_string()
}

/// Make `cmd` keep `end` open across `exec` in the child it starts (only there: the
/// descriptor stays close-on-exec in this process, so children other threads start meanwhile
/// do not inherit it). `end` must stay open until the child has started.
pub(crate) fn keep_across_exec(cmd: &mut Command, end: &Stream) {
    let fd = end.as_fd().as_raw_fd();
    // SAFETY: the closure runs in the forked child before `exec`, where only async-signal-safe
    // calls are allowed: it makes one `fcntl` system call (rustix calls the kernel directly,
    // without allocating or locking) on a descriptor the child inherited open from us (the
    // caller keeps `end` open until the child has started), and builds no Rust value that
    // allocates.
    unsafe {
        cmd.pre_exec(move || {
            let fd = BorrowedFd::borrow_raw(fd);
            rustix::io::fcntl_setfd(fd, FdFlags::empty()).map_err(ioe)
        });
    }
}

fn unusable(token: &str, why: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidEndpoint,
        format!("descriptor {token}: {why}"),
    )
}

/// Adopt the inherited descriptor named by `token` (a decimal descriptor number): check that
/// it is open and a Unix stream socket, and only then take it: make it close-on-exec and
/// non-blocking. Nothing is closed when a check fails.
///
/// The caller makes sure the token is taken at most once (the descriptor then belongs to the
/// stream).
pub(crate) fn adopt_inherited(token: &str) -> Result<Stream> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return Err(unusable(
            token,
            "not a descriptor number (expected decimal digits)",
        ));
    }
    let fd: RawFd = token
        .parse()
        .map_err(|_| unusable(token, "not a descriptor number (too large)"))?;
    // SAFETY: F_GETFD on any integer is harmless: it reads the descriptor's flags, or fails
    // with EBADF if it is not open; it touches no memory of ours.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(unusable(token, "not an open descriptor in this process"));
    }
    // SAFETY: the descriptor is open (checked just above) and, by the inheritance contract
    // (the spawner named it for us, and the caller takes it once), it is ours and nobody
    // closes it while it is borrowed here.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    check_unix_stream(borrowed).map_err(|why| unusable(token, why))?;
    // SAFETY: as above, the descriptor is open and ours to own from here on; the caller takes
    // it once, so nothing else owns it.
    own(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Make a stream of a descriptor the caller owns, after checking that it is a Unix stream
/// socket (an error drops, and so closes, `fd`). It is made close-on-exec and non-blocking.
pub(crate) fn adopt_fd(fd: OwnedFd) -> Result<Stream> {
    let token = fd.as_raw_fd().to_string();
    check_unix_stream(fd.as_fd()).map_err(|why| unusable(&token, why))?;
    own(fd)
}

/// A stream of a checked descriptor: close-on-exec (so our children do not inherit it) and
/// non-blocking.
fn own(fd: OwnedFd) -> Result<Stream> {
    rustix::io::fcntl_setfd(&fd, FdFlags::CLOEXEC)
        .map_err(|e| Error::from_io(&ioe(e), "setting close-on-exec"))?;
    SocketStream::stream(fd, true)
}

/// Why `fd` is not a connected Unix stream socket, if it is not.
fn check_unix_stream(fd: BorrowedFd<'_>) -> std::result::Result<(), String> {
    let stat = rustix::fs::fstat(fd).map_err(|e| format!("fstat: {}", ioe(e)))?;
    let kind = FileType::from_raw_mode(stat.st_mode);
    if kind != FileType::Socket {
        return Err(format!("not a socket (it is a {kind:?})"));
    }
    let family = rustix::net::getsockname(fd)
        .map_err(|e| format!("getsockname: {}", ioe(e)))?
        .address_family();
    if family != AddressFamily::UNIX {
        return Err(format!("not a Unix socket (address family {family:?})"));
    }
    match rustix::net::sockopt::socket_type(fd) {
        Ok(SocketType::STREAM) => {}
        Ok(t) => return Err(format!("not a stream socket (type {t:?})")),
        Err(e) => return Err(format!("SO_TYPE: {}", ioe(e))),
    }
    match rustix::net::getpeername(fd) {
        Ok(_) => Ok(()),
        Err(Errno::NOTCONN) => Err("not connected (a listening or unconnected socket)".into()),
        Err(e) => Err(format!("getpeername: {}", ioe(e))),
    }
}
