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
//!   raised ([`NoSigpipe`]), whatever the process's disposition.
//! - A FIFO cannot be shut down under a thread waiting on it: shutting a direction replaces
//!   its descriptor (`dup3`) with the end of a pipe whose other end is closed (so the peer
//!   sees EOF or EPIPE, and later calls here see the same), and hanging up also rings a bell
//!   that every wait watches ([`FifoStream::hang_up_source`]).

use std::ffi::OsString;
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::dir::current_uid;
use super::socket::SocketFile;
use super::wait::{Source, Waker, wait_any};
use super::{Stream, errno_error, ioe};
use crate::conn::PeerCredentials;
use crate::error::{Error, ErrorKind, Result};
use crate::wire::{FIFO_MAGIC, FIFO_REQUEST_LEN, FIFO_TOKEN_MAX, FifoRequest};

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

/// SIGPIPE kept from the process while this thread writes into a pipe: blocked on this thread
/// from `new` to `end`, and if the write raised it (EPIPE) while none was pending before,
/// taken back, so the process never sees it whatever its disposition.
struct NoSigpipe {
    old: libc::sigset_t,
    was_blocked: bool,
    was_pending: bool,
}

fn sigpipe_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `sigemptyset` initialises the set it is given; `sigaddset` then adds a valid
    // signal number to the initialised set.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
        set.assume_init()
    }
}

impl NoSigpipe {
    fn new() -> NoSigpipe {
        let set = sigpipe_set();
        let mut old = MaybeUninit::<libc::sigset_t>::uninit();
        let mut pending = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: `set` is initialised; `pthread_sigmask` fills `old` and `sigpending` fills
        // `pending` (both always succeed with valid arguments, which these are), so both are
        // initialised before `sigismember` reads them.
        unsafe {
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, old.as_mut_ptr());
            libc::sigpending(pending.as_mut_ptr());
            let old = old.assume_init();
            let pending = pending.assume_init();
            NoSigpipe {
                was_blocked: libc::sigismember(&old, libc::SIGPIPE) == 1,
                was_pending: libc::sigismember(&pending, libc::SIGPIPE) == 1,
                old,
            }
        }
    }

    /// After the write: `epipe` if it failed with EPIPE (and so raised SIGPIPE).
    fn end(self, epipe: bool) {
        if epipe && !self.was_pending {
            let set = sigpipe_set();
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `set` and `zero` are initialised; a null `siginfo_t` pointer is allowed.
            // SIGPIPE is blocked on this thread, so the one the write raised is pending here.
            unsafe {
                libc::sigtimedwait(&set, std::ptr::null_mut(), &zero);
            }
        }
        if !self.was_blocked {
            // SAFETY: `self.old` is the mask `pthread_sigmask` returned in `new`.
            unsafe {
                libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
            }
        }
    }
}

/// Write `bufs` into a pipe without waiting or raising SIGPIPE, as much as fits now.
fn write_pipe(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> Result<usize> {
    let mut owned = [IoSlice::new(&[]); 4];
    if bufs.len() > owned.len() {
        return Err(Error::new(ErrorKind::InvalidArgument, "too many slices"));
    }
    owned[..bufs.len()].copy_from_slice(bufs);
    let mut rest: &mut [IoSlice<'_>] = &mut owned[..bufs.len()];
    IoSlice::advance_slices(&mut rest, 0);
    let guard = NoSigpipe::new();
    let mut total = 0;
    let mut result = Ok(());
    while !rest.is_empty() {
        match rustix::io::writev(fd, rest) {
            Ok(n) => {
                total += n;
                IoSlice::advance_slices(&mut rest, n);
            }
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => break,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    guard.end(result == Err(Errno::PIPE));
    match result {
        Err(_) if total > 0 => Ok(total), // reported by the next write
        Err(e) => Err(errno_error(e, "writing to a FIFO")),
        Ok(()) => Ok(total),
    }
}

/// Make `target` name the end of a pipe whose other end is closed (the read end: EOF; the
/// write end: EPIPE), releasing what it named. The descriptor number stays ours, so nothing
/// waiting on it or registered with it can meet a stranger's descriptor there.
fn retire(target: &OwnedFd, read_end: bool) -> bool {
    let Ok((r, w)) = rustix::pipe::pipe_with(
        rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
    ) else {
        return false;
    };
    let dead = if read_end { r } else { w };
    // SAFETY: both descriptors are open and owned (`dead` here, `target` by the stream, which
    // outlives this call); `dup3` atomically makes `target`'s number refer to `dead`'s pipe.
    let rc = unsafe { libc::dup3(dead.as_raw_fd(), target.as_raw_fd(), libc::O_CLOEXEC) };
    rc >= 0
}

/// A connection over two FIFOs: the [`Stream`] of `fifo://`.
#[derive(Debug)]
pub(crate) struct FifoStream {
    rd: OwnedFd,
    wr: OwnedFd,
    /// Rung by `hang_up`, which cannot otherwise end a wait on a FIFO.
    bell: Waker,
    hung: AtomicBool,
    /// Client side, until the first byte from the server: a reader of our `up` FIFO.
    keeper: Mutex<Option<OwnedFd>>,
    /// Client side: no byte from the server yet (an empty read means "not yet" unless the
    /// server has opened `down` and closed it again).
    awaiting: AtomicBool,
    peer: PeerCredentials,
    /// Client side: our FIFO files, removed on drop unless the server already did.
    _files: Vec<SocketFile>,
}

impl FifoStream {
    fn new(
        rd: OwnedFd,
        wr: OwnedFd,
        keeper: Option<OwnedFd>,
        peer: PeerCredentials,
        files: Vec<SocketFile>,
    ) -> Result<FifoStream> {
        Ok(FifoStream {
            rd,
            wr,
            bell: Waker::new()?,
            hung: AtomicBool::new(false),
            awaiting: AtomicBool::new(keeper.is_some()),
            keeper: Mutex::new(keeper),
            peer,
            _files: files,
        })
    }

    pub(crate) fn read(&self, buf: &mut [MaybeUninit<u8>]) -> Result<Option<usize>> {
        if self.hung.load(Ordering::Acquire) {
            return Ok(Some(0));
        }
        loop {
            match rustix::io::read(&self.rd, &mut *buf) {
                Ok(([], _)) => {
                    let not_yet = self.awaiting.load(Ordering::Acquire)
                        && !poll_now(self.rd.as_fd(), PollFlags::IN).contains(PollFlags::HUP);
                    return Ok(if not_yet { None } else { Some(0) });
                }
                Ok((init, _)) => {
                    let n = init.len();
                    if self.awaiting.load(Ordering::Relaxed) {
                        // The server has opened `up`: our own reader there can go.
                        self.awaiting.store(false, Ordering::Release);
                        lock(&self.keeper).take();
                    }
                    return Ok(Some(n));
                }
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return Ok(None),
                Err(e) => return Err(errno_error(e, "reading from a FIFO")),
            }
        }
    }

    pub(crate) fn write(&self, bufs: &[IoSlice<'_>]) -> Result<usize> {
        if self.hung.load(Ordering::Acquire) {
            return Err(errno_error(Errno::PIPE, "writing to a FIFO"));
        }
        write_pipe(self.wr.as_fd(), bufs)
    }

    pub(crate) fn write_now(&self, bytes: &[u8]) -> bool {
        !self.hung.load(Ordering::Acquire)
            && matches!(write_pipe(self.wr.as_fd(), &[IoSlice::new(bytes)]), Ok(n) if n == bytes.len())
    }

    pub(crate) fn read_source(&self) -> Source {
        Source::readable(self.rd.as_fd())
    }

    pub(crate) fn write_source(&self) -> Source {
        Source::writable(self.wr.as_fd())
    }

    /// Readable once `hang_up` was called.
    pub(crate) fn hang_up_source(&self) -> Source {
        Source::readable(self.bell.fd())
    }

    pub(crate) fn peer_credentials(&self) -> PeerCredentials {
        self.peer
    }

    pub(crate) fn shutdown_write(&self) -> bool {
        lock(&self.keeper).take();
        let connected = !self.hung.load(Ordering::Acquire)
            && !poll_now(self.wr.as_fd(), PollFlags::OUT).contains(PollFlags::ERR);
        retire(&self.wr, false);
        connected
    }

    pub(crate) fn hang_up(&self) {
        if self.hung.swap(true, Ordering::AcqRel) {
            return;
        }
        lock(&self.keeper).take();
        retire(&self.rd, true);
        retire(&self.wr, false);
        self.bell.wake();
    }

    pub(crate) fn settled(&self) -> bool {
        true
    }

    pub(crate) fn drain(&self) -> std::result::Result<(), ()> {
        let mut buf = [0u8; 4096];
        // Bounded, so a peer that floods us cannot keep a closing thread here.
        for _ in 0..256 {
            match rustix::io::read(&self.rd, &mut buf) {
                Ok(0) | Err(Errno::AGAIN) => return Ok(()),
                Ok(_) | Err(Errno::INTR) => continue,
                Err(_) => return Err(()),
            }
        }
        Ok(())
    }
}

impl AsFd for FifoStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.rd.as_fd()
    }
}

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
    FifoStream::new(rd, wr, None, peer, Vec::new())
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
/// listener is at `path`, so no connection is being made through them.
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
pub(crate) fn connect_fifo(path: &Path, timeout: Option<Duration>) -> Result<Stream> {
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
    drop(rendezvous);
    FifoStream::new(rd, wr, Some(keeper), peer, files).map(Stream::Fifo)
}
