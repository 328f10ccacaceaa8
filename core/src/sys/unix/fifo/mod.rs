//! FIFOs (`fifo://`): a listener's rendezvous FIFO, and connections made of two FIFOs, one per
//! direction (`docs/wire-format.md`, "Unix FIFOs").
//!
//! - The listener creates the rendezvous (mode 0600, then the listener's socket mode) and
//!   holds it open for reading *and* writing, so it never reads EOF there; it is readable
//!   only while requests are queued. A rendezvous left by a crashed listener (nobody has it
//!   open for reading: opening it to write fails with `ENXIO`) is removed at the next bind,
//!   with the connection FIFOs left beside it.
//! - A client creates `<rendezvous>.<token>.up` and `.down` (mode 0600), opens both, and
//!   writes one 64-byte request naming the token into the rendezvous (atomic: at most
//!   `PIPE_BUF`). The listener opens the pair, checks that both are FIFOs of one owner with no
//!   group or other permissions (that owner is the peer's uid), and removes the files: from
//!   then on they exist only as open descriptors.
//! - Until the server has opened `up`, a client write there would fail (no reader): the client
//!   holds a reader of its own (the *keeper*) until the first byte arrives on `down`, and
//!   until then an empty read on `down` means "not yet" unless the server has come and gone.
//! - Writing into a pipe whose reader is gone raises SIGPIPE, and pipes have no
//!   `MSG_NOSIGNAL`: writes block SIGPIPE on the calling thread and take back the one they
//!   raised (`stream::NoSigpipe`), whatever the process's disposition.
//! - A FIFO cannot be shut down under a thread waiting on it: shutting a direction replaces
//!   its descriptor (`dup3`) with the end of a pipe whose other end is closed (so the peer
//!   sees EOF or EPIPE, and later calls here see the same), and hanging up also rings a bell
//!   that every wait watches (`FifoStream::hang_up_source`).

mod listener;
mod stream;

pub(crate) use listener::{FifoListener, bind_fifo};
pub(crate) use stream::FifoStream;
use stream::write_pipe;

use std::ffi::OsString;
use std::io::IoSlice;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::dir::current_uid;
use super::socket::SocketFile;
use super::wait::{Source, wait_any};
use super::{Stream, ioe};
use crate::conn::PeerCredentials;
use crate::error::{Error, ErrorKind, Result};
use crate::wire::FifoRequest;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn os_error(e: Errno, what: impl std::fmt::Display) -> Error {
    Error::from_io(&ioe(e), what)
}

/// `<rendezvous>.<token>.<end>`: a connection FIFO's path.
fn conn_path(rendezvous: &Path, token: &str, end: &str) -> PathBuf {
    let mut p = OsString::from(rendezvous.as_os_str());
    p.push(format!(".{token}.{end}"));
    PathBuf::from(p)
}

fn is_fifo(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Fifo
}

fn open(path: &Path, flags: OFlags) -> std::result::Result<OwnedFd, Errno> {
    let flags = flags | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    loop {
        match rustix::fs::open(path, flags, Mode::empty()) {
            Err(Errno::INTR) => continue,
            r => return r,
        }
    }
}

fn fstat(fd: &OwnedFd, path: &Path) -> Result<Stat> {
    rustix::fs::fstat(fd).map_err(|e| os_error(e, format_args!("checking {}", path.display())))
}

/// Poll one descriptor without waiting; its returned events.
fn poll_now(fd: BorrowedFd<'_>, events: PollFlags) -> PollFlags {
    let mut fds = [PollFd::from_borrowed_fd(fd, events)];
    match rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())) {
        Ok(n) if n > 0 => fds[0].revents(),
        _ => PollFlags::empty(),
    }
}

/// A token no other connection uses: pid, a counter and a random number.
fn new_token() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{:x}-{:x}-{:08x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    )
}

/// Make a connection FIFO of ours with mode 0600.
fn make_fifo(path: &Path) -> Result<SocketFile> {
    let what = || format!("creating FIFO {}", path.display());
    rustix::fs::mkfifoat(rustix::fs::CWD, path, Mode::from_raw_mode(0o600))
        .map_err(|e| os_error(e, what()))?;
    let st = rustix::fs::lstat(path).map_err(|e| os_error(e, what()))?;
    let file = SocketFile::new(path.to_owned(), st.st_dev, st.st_ino);
    rustix::fs::chmod(path, Mode::from_raw_mode(0o600)).map_err(|e| os_error(e, what()))?;
    Ok(file)
}

/// Connect through the rendezvous FIFO at `path`, waiting up to `timeout` for room in it.
/// `check` judges the listener's credentials (the rendezvous's owner) before anything is
/// created or written; its error is returned as it is.
pub(crate) fn connect_fifo(
    path: &Path,
    timeout: Option<Duration>,
    check: &dyn Fn(&PeerCredentials) -> Result<()>,
) -> Result<Stream> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let nobody = || {
        Error::new(
            ErrorKind::NotFound,
            format!("nobody is listening at fifo://{}", path.display()),
        )
    };
    let rendezvous = match open(path, OFlags::WRONLY) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::NXIO) => return Err(nobody()),
        // The connection FIFOs go beside the rendezvous, which a link would misplace.
        Err(Errno::LOOP) => {
            return Err(Error::new(
                ErrorKind::InvalidEndpoint,
                format!(
                    "{} is a symbolic link; name the FIFO itself",
                    path.display()
                ),
            ));
        }
        Err(e) => {
            return Err(os_error(
                e,
                format_args!("connecting to fifo://{}", path.display()),
            ));
        }
    };
    let st = fstat(&rendezvous, path)?;
    if !is_fifo(&st) {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "{} is not a FIFO; nobody is listening there",
                path.display()
            ),
        ));
    }
    let peer = PeerCredentials {
        pid: None,
        uid: Some(st.st_uid),
        gid: Some(st.st_gid),
    };
    // Before any file is made or any request written: a squatter learns nothing from us.
    check(&peer)?;
    let token = new_token();
    let (up, down) = (
        conn_path(path, &token, "up"),
        conn_path(path, &token, "down"),
    );
    // Removed again (when these drop) on every way out but success.
    let files = vec![make_fifo(&up)?, make_fifo(&down)?];
    let opened = |p: &Path, flags| {
        open(p, flags).map_err(|e| os_error(e, format_args!("opening {}", p.display())))
    };
    let rd = opened(&down, OFlags::RDONLY)?;
    let keeper = opened(&up, OFlags::RDONLY)?;
    let wr = opened(&up, OFlags::WRONLY)?;
    for (fd, p) in [(&rd, &down), (&wr, &up)] {
        let st = fstat(fd, p)?;
        if !is_fifo(&st) || st.st_uid != current_uid() || st.st_mode & 0o777 != 0o600 {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!("{} changed while connecting", p.display()),
            ));
        }
    }
    let record = FifoRequest::new(token)?.encode();
    loop {
        match write_pipe(rendezvous.as_fd(), &[IoSlice::new(&record)]) {
            Ok(n) if n == record.len() => break,
            Ok(0) => {
                if wait_any(
                    &[Source::writable(rendezvous.as_fd())],
                    [None, None],
                    deadline,
                )?
                .timed_out()
                {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "connecting to fifo://{}: the listener's queue stayed full",
                            path.display()
                        ),
                    ));
                }
            }
            // Never for a record within PIPE_BUF; the rendezvous is not what it should be.
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("fifo://{}: connection request cut short", path.display()),
                ));
            }
            Err(e) if e.kind() == ErrorKind::PeerDisconnected => return Err(nobody()),
            Err(e) => return Err(e),
        }
    }
    // Kept until the server's first byte: if the listener goes away before it opens our
    // FIFOs, its end of the rendezvous reports that (PeerDisconnected, not a timeout).
    FifoStream::new(rd, wr, Some(keeper), Some(rendezvous), peer, files).map(Stream::Fifo)
}
