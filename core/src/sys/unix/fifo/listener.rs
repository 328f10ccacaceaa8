//! The listening side: binding a rendezvous FIFO (reclaiming a stale one), reading
//! connection requests and opening the FIFOs they name.

use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::super::Stream;
use super::super::dir::current_uid;
use super::super::socket::SocketFile;
use super::super::wait::Waker;
use super::{FifoStream, conn_path, fstat, is_fifo, lock, open, os_error};
use crate::conn::PeerCredentials;
use crate::error::{Error, ErrorKind, Result};
use crate::wire::{FIFO_MAGIC, FIFO_REQUEST_LEN, FIFO_TOKEN_MAX, FifoRequest};

/// A bound rendezvous FIFO, yielding connections as requests arrive.
#[derive(Debug)]
pub(crate) struct FifoListener {
    path: PathBuf,
    fd: OwnedFd,
    /// Bytes read from the rendezvous and not yet used (at most a partial record, except
    /// between calls of `try_accept`).
    queue: Mutex<Vec<u8>>,
}

impl FifoListener {
    /// Take the next connection request and open its FIFOs, or `None` if no request is
    /// queued. Malformed requests, and requests whose FIFOs are missing or wrong, are
    /// logged and skipped.
    pub(crate) fn try_accept(&self) -> Result<Option<Stream>> {
        let mut q = lock(&self.queue);
        loop {
            if q.len() >= FIFO_REQUEST_LEN {
                let record: &[u8; FIFO_REQUEST_LEN] =
                    q[..FIFO_REQUEST_LEN].try_into().expect("a record");
                match FifoRequest::decode(record) {
                    Ok(req) => {
                        q.drain(..FIFO_REQUEST_LEN);
                        match accept_request(&self.path, &req.token) {
                            Ok(s) => return Ok(Some(Stream::Fifo(s))),
                            Err(e) => {
                                tracing::warn!(path = %self.path.display(), error = %e, "FIFO connection request dropped");
                            }
                        }
                    }
                    Err(e) => {
                        // Skip to the next thing that looks like a record.
                        let skip = q[1..]
                            .windows(FIFO_MAGIC.len())
                            .position(|w| w == FIFO_MAGIC)
                            .map_or(q.len() - (FIFO_MAGIC.len() - 1), |i| i + 1);
                        tracing::warn!(path = %self.path.display(), error = %e, skipped = skip, "garbage on a FIFO rendezvous skipped");
                        q.drain(..skip);
                    }
                }
                continue;
            }
            let mut buf = [0u8; 4096];
            match rustix::io::read(&self.fd, &mut buf) {
                Ok(0) | Err(Errno::AGAIN) => return Ok(None),
                Ok(n) => q.extend_from_slice(&buf[..n]),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(os_error(e, "reading the FIFO rendezvous")),
            }
        }
    }

    /// Wait until `kick` fires or (if `accepting`) a request is queued.
    pub(crate) fn wait(&self, kick: &Waker, accepting: bool) -> Result<()> {
        if accepting && lock(&self.queue).len() >= FIFO_REQUEST_LEN {
            return Ok(());
        }
        let flags = if accepting {
            PollFlags::IN
        } else {
            PollFlags::empty()
        };
        let kick = kick.fd();
        let mut fds = [
            PollFd::new(&kick, PollFlags::IN),
            PollFd::new(&self.fd, flags),
        ];
        loop {
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => return Ok(()),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(os_error(e, "poll")),
            }
        }
    }
}

/// Open the FIFOs a request names and check them; the files are removed whatever happens.
fn accept_request(rendezvous: &Path, token: &str) -> Result<FifoStream> {
    let up = conn_path(rendezvous, token, "up");
    let down = conn_path(rendezvous, token, "down");
    let result = open_pair(&up, &down);
    if result.is_err() {
        // A client that is gone (or never was) left them behind.
        remove_fifo(&up);
        remove_fifo(&down);
    }
    result
}

fn open_pair(up: &Path, down: &Path) -> Result<FifoStream> {
    // Never open what is not a FIFO (a device could act on being opened).
    for p in [up, down] {
        match rustix::fs::lstat(p) {
            Ok(st) if is_fifo(&st) => {}
            Ok(_) => return Err(refused(p, "is not a FIFO")),
            Err(e) => return Err(os_error(e, format_args!("checking {}", p.display()))),
        }
    }
    let rd = open(up, OFlags::RDONLY)
        .map_err(|e| os_error(e, format_args!("opening {}", up.display())))?;
    let wr = open(down, OFlags::WRONLY).map_err(|e| match e {
        Errno::NXIO => Error::new(
            ErrorKind::PeerDisconnected,
            format!("the client of {} is gone", down.display()),
        ),
        e => os_error(e, format_args!("opening {}", down.display())),
    })?;
    // Both ends are open: the files have served (removed before anything is checked, so a
    // refused client sees them gone by the time it sees the end).
    remove_fifo(up);
    remove_fifo(down);
    let (su, sd) = (fstat(&rd, up)?, fstat(&wr, down)?);
    for (p, st) in [(up, &su), (down, &sd)] {
        if !is_fifo(st) {
            return Err(refused(p, "is not a FIFO"));
        }
        if st.st_mode & 0o077 != 0 {
            return Err(refused(
                p,
                format_args!("has mode {:o}; it must be 0600", st.st_mode & 0o777),
            ));
        }
    }
    if su.st_uid != sd.st_uid || (su.st_dev, su.st_ino) == (sd.st_dev, sd.st_ino) {
        return Err(refused(up, "and its pair are not two FIFOs of one owner"));
    }
    let peer = PeerCredentials {
        pid: None,
        uid: Some(su.st_uid),
        gid: Some(su.st_gid),
    };
    FifoStream::new(rd, wr, None, None, peer, Vec::new())
}

fn refused(p: &Path, why: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::PermissionDenied,
        format!("connection FIFO {} {why}", p.display()),
    )
}

/// Remove `p` if it is a FIFO.
fn remove_fifo(p: &Path) {
    if matches!(rustix::fs::lstat(p), Ok(st) if is_fifo(&st)) {
        let _ = rustix::fs::unlink(p);
    }
}

impl Drop for FifoListener {
    /// Remove the connection FIFOs of clients killed before this listener took their request
    /// (they cannot remove them themselves). Done while the rendezvous is still open for
    /// reading, so no other listener can be at `path` yet, and whoever owns such files could
    /// only have connected to this listener, which is going away.
    fn drop(&mut self) {
        remove_leftovers(&self.path);
    }
}

/// Bind a rendezvous FIFO at `path` with `mode`; a stale one (and the connection FIFOs a crash
/// left beside it) is removed first.
pub(crate) fn bind_fifo(path: &Path, mode: u32) -> Result<(FifoListener, SocketFile)> {
    for _attempt in 0..8 {
        reclaim_if_stale(path)?;
        remove_leftovers(path);
        match rustix::fs::mkfifoat(rustix::fs::CWD, path, Mode::from_raw_mode(0o600)) {
            Ok(()) => {}
            // Someone made one between our check and now: check again.
            Err(Errno::EXIST) => continue,
            Err(e) => {
                return Err(os_error(
                    e,
                    format_args!("creating FIFO {}", path.display()),
                ));
            }
        }
        // Created 0600 whatever the umask took away, before anything opens it.
        let made = rustix::fs::chmod(path, Mode::from_raw_mode(0o600))
            .and_then(|()| open(path, OFlags::RDWR))
            .map_err(|e| os_error(e, format_args!("opening FIFO {}", path.display())));
        let fd = match made {
            Ok(fd) => fd,
            Err(e) => {
                let _ = rustix::fs::unlink(path);
                return Err(e);
            }
        };
        let st = fstat(&fd, path)?;
        if !is_fifo(&st) || st.st_uid != current_uid() {
            return Err(Error::new(
                ErrorKind::AddressInUse,
                format!("{} was replaced while binding", path.display()),
            ));
        }
        let file = SocketFile::new(path.to_owned(), st.st_dev, st.st_ino);
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
            .map_err(|e| os_error(e, "setting the FIFO's mode"))?;
        let listener = FifoListener {
            path: path.to_owned(),
            fd,
            queue: Mutex::new(Vec::new()),
        };
        return Ok((listener, file));
    }
    Err(Error::new(
        ErrorKind::AddressInUse,
        format!("{} keeps changing under us", path.display()),
    ))
}

/// If `path` holds a FIFO of ours that nobody reads (a crashed listener's), remove it. A live
/// one is AddressInUse; anything else is left alone and reported.
fn reclaim_if_stale(path: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Error::from_io(
                &e,
                format_args!("checking {}", path.display()),
            ));
        }
        Ok(m) => m,
    };
    if !meta.file_type().is_fifo() {
        return Err(Error::new(
            ErrorKind::AddressInUse,
            format!(
                "{} exists and is not a FIFO; refusing to replace it",
                path.display()
            ),
        ));
    }
    if meta.uid() != current_uid() {
        return Err(Error::new(
            ErrorKind::AddressInUse,
            format!(
                "{} is a FIFO of uid {}, not ours; refusing to replace it",
                path.display(),
                meta.uid()
            ),
        ));
    }
    match open(path, OFlags::WRONLY) {
        Ok(_) => Err(Error::new(
            ErrorKind::AddressInUse,
            format!("a listener is live at {}", path.display()),
        )),
        Err(Errno::NOENT) => Ok(()),
        Err(Errno::NXIO) => {
            // Remove only the very file we found dead (if it changed, mkfifo fails and we
            // check again).
            match std::fs::symlink_metadata(path) {
                Ok(now) if now.dev() == meta.dev() && now.ino() == meta.ino() => {}
                _ => return Ok(()),
            }
            tracing::debug!(path = %path.display(), "reclaiming stale FIFO");
            match rustix::fs::unlink(path) {
                Ok(()) | Err(Errno::NOENT) => Ok(()),
                Err(e) => Err(os_error(
                    e,
                    format_args!("removing stale FIFO {}", path.display()),
                )),
            }
        }
        Err(e) => Err(os_error(e, format_args!("checking {}", path.display()))),
    }
}

/// Remove connection FIFOs of ours named after the rendezvous at `path`
/// (`<name>.<token>.up` / `.down`), which only a crash leaves behind. Called while no
/// listener is at `path`, or by the one there as it closes, so no connection that could
/// still succeed is being made through them.
fn remove_leftovers(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = [name.as_bytes(), b"."].concat();
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(rest) = file.as_bytes().strip_prefix(prefix.as_slice()) else {
            continue;
        };
        let Some(token) = rest
            .strip_suffix(b".up")
            .or_else(|| rest.strip_suffix(b".down"))
        else {
            continue;
        };
        let token_like = (1..=FIFO_TOKEN_MAX).contains(&token.len())
            && token
                .iter()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase() || *c == b'-');
        let p = entry.path();
        if token_like
            && let Ok(meta) = std::fs::symlink_metadata(&p)
            && meta.file_type().is_fifo()
            && meta.uid() == current_uid()
        {
            tracing::debug!(path = %p.display(), "removing a stale connection FIFO");
            let _ = std::fs::remove_file(&p);
        }
    }
}
