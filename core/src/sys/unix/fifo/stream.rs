//! [`FifoStream`]: a connection over two FIFOs, and writing into pipes without SIGPIPE.

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::event::PollFlags;
use rustix::io::Errno;

use super::super::errno_error;
use super::super::socket::SocketFile;
use super::super::wait::{Source, Waker, readiness_set};
use super::{lock, poll_now};
use crate::conn::PeerCredentials;
use crate::error::{Error, ErrorKind, Result};

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
pub(super) fn write_pipe(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> Result<usize> {
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
    #[cfg(not(target_os = "android"))]
    let rc = unsafe { libc::dup3(dead.as_raw_fd(), target.as_raw_fd(), libc::O_CLOEXEC) };
    // The libc crate does not declare `dup3` for Android (bionic has it): the system call.
    // SAFETY: as above.
    #[cfg(target_os = "android")]
    let rc = unsafe {
        libc::syscall(
            libc::SYS_dup3,
            dead.as_raw_fd(),
            target.as_raw_fd(),
            libc::O_CLOEXEC,
        )
    };
    rc >= 0
}

/// A connection over two FIFOs: the `Stream` of `fifo://`.
#[derive(Debug)]
pub(crate) struct FifoStream {
    rd: OwnedFd,
    wr: OwnedFd,
    /// Rung by `hang_up`, which cannot otherwise end a wait on a FIFO.
    bell: Waker,
    hung: AtomicBool,
    /// Client side, until the first byte from the server: a reader of our `up` FIFO.
    keeper: Mutex<Option<OwnedFd>>,
    /// Client side, until the first byte from the server: our writer on the listener's
    /// rendezvous, and a set readable when `rd` is or when that writer reports an error (the
    /// rendezvous has no reader: the listener is gone, whether or not it took our request).
    listener: Mutex<Option<(OwnedFd, OwnedFd)>>,
    /// Client side: no byte from the server yet (an empty read means "not yet" unless the
    /// server has opened `down` and closed it again).
    awaiting: AtomicBool,
    peer: PeerCredentials,
    /// Client side: our FIFO files, removed on drop unless the server already did.
    _files: Vec<SocketFile>,
}

impl FifoStream {
    pub(super) fn new(
        rd: OwnedFd,
        wr: OwnedFd,
        keeper: Option<OwnedFd>,
        rendezvous: Option<OwnedFd>,
        peer: PeerCredentials,
        files: Vec<SocketFile>,
    ) -> Result<FifoStream> {
        let listener = match rendezvous {
            Some(r) => {
                let set = readiness_set(&[rd.as_fd(), r.as_fd()])?;
                Some((r, set))
            }
            None => None,
        };
        Ok(FifoStream {
            listener: Mutex::new(listener),
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
        let mut looked_again = false;
        loop {
            match rustix::io::read(&self.rd, &mut *buf) {
                Ok(([], _)) => {
                    if !self.awaiting.load(Ordering::Acquire) {
                        return Ok(Some(0));
                    }
                    // Nothing, and no writer at the time of the read: the server has not
                    // opened `down` yet, or it has come and gone. It may have come, written
                    // and gone since the read, so data then counts before the hang-up.
                    let now = poll_now(self.rd.as_fd(), PollFlags::IN);
                    if now.contains(PollFlags::IN) && !looked_again {
                        looked_again = true;
                        continue;
                    }
                    return Ok(if now.contains(PollFlags::HUP) || self.listener_gone() {
                        Some(0)
                    } else {
                        None
                    });
                }
                Ok((init, _)) => {
                    let n = init.len();
                    if self.awaiting.load(Ordering::Relaxed) {
                        // The server has opened `up`: our own reader there can go.
                        self.awaiting.store(false, Ordering::Release);
                        lock(&self.keeper).take();
                        lock(&self.listener).take();
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

    /// Client side, before the server's first byte: the set that also wakes when the
    /// listener goes away (only the thread connecting waits then, so the set outlives the
    /// wait: it is dropped once that thread has read the first byte, or on hang-up).
    pub(crate) fn read_source(&self) -> Source {
        if let Some((_, set)) = &*lock(&self.listener) {
            return Source::readable(set.as_fd());
        }
        Source::readable(self.rd.as_fd())
    }

    /// Client side, before the server's first byte: whether the rendezvous has lost its
    /// reader (the listener closed or died before it opened our FIFOs).
    fn listener_gone(&self) -> bool {
        lock(&self.listener)
            .as_ref()
            .is_some_and(|(r, _)| poll_now(r.as_fd(), PollFlags::OUT).contains(PollFlags::ERR))
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
        lock(&self.listener).take();
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
        lock(&self.listener).take();
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
