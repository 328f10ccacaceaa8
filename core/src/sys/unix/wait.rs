//! Waiting: `poll` on several descriptors and a [`Waker`] with a deadline, epoll readiness
//! sets, and what the adaptive spinner asks of the scheduler.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::time::Instant;

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;

use super::ioe;
use crate::error::{Error, Result};
use crate::sys::Ready;

/// Something to wait for: a descriptor becoming readable or writable. Hang-up and errors
/// count as ready (the following I/O call reports them).
///
/// A `Source` names a descriptor owned by something else (a stream, a doorbell); it is only
/// obtained by borrowing that owner, and only used (by [`wait_any`]) while the owner lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Source {
    fd: RawFd,
    write: bool,
}

impl Source {
    /// Wait for `fd` to become readable.
    pub(crate) fn readable(fd: BorrowedFd<'_>) -> Source {
        Source {
            fd: fd.as_raw_fd(),
            write: false,
        }
    }

    /// Wait for `fd` to become writable.
    pub(crate) fn writable(fd: BorrowedFd<'_>) -> Source {
        Source {
            fd: fd.as_raw_fd(),
            write: true,
        }
    }

    /// The descriptor (for registering with an event loop).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn raw_fd(self) -> RawFd {
        self.fd
    }

    /// Whether it waits for writability.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn is_write(self) -> bool {
        self.write
    }
}

/// Wait until one of `sources` is ready, one of the `cancel` wakers fires, or `deadline` passes (`None`: no
/// limit). Interrupted system calls are retried (with the time left).
pub(crate) fn wait_any(
    sources: &[Source],
    cancel: [Option<&Waker>; 2],
    deadline: Option<Instant>,
) -> Result<Ready> {
    let n = sources.len();
    let mut set: Vec<PollFd<'_>> = Vec::with_capacity(n + 1);
    for s in sources {
        // SAFETY: a `Source` is only made from a descriptor borrowed from its owner, which the
        // caller keeps alive for this call (see `Source`).
        let fd = unsafe { BorrowedFd::borrow_raw(s.fd) };
        let flags = if s.write {
            PollFlags::OUT
        } else {
            PollFlags::IN
        };
        set.push(PollFd::from_borrowed_fd(fd, flags));
    }
    for c in cancel.iter().flatten() {
        set.push(PollFd::from_borrowed_fd(c.read.as_fd(), PollFlags::IN));
    }
    if poll(&mut set, deadline)? == 0 {
        return Ok(Ready::default());
    }
    let mut ready = Ready::default();
    for (i, p) in set[..n].iter().enumerate() {
        if !p.revents().is_empty() {
            ready.bits |= 1 << i;
        }
    }
    ready.cancelled = set[n..].iter().any(|p| !p.revents().is_empty());
    Ok(ready)
}

fn poll(fds: &mut [PollFd<'_>], deadline: Option<Instant>) -> Result<usize> {
    loop {
        let timeout = deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            rustix::event::Timespec {
                tv_sec: left.as_secs() as _,
                tv_nsec: left.subsec_nanos() as _,
            }
        });
        match rustix::event::poll(fds, timeout.as_ref()) {
            Ok(n) => return Ok(n),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(Error::from_io(&ioe(e), "poll")),
        }
    }
}

/// A self-pipe: [`wake`](Self::wake) makes it fire (its read end readable) until drained.
/// Writing a byte to its write end from anywhere (another thread, a signal handler, a language
/// runtime's signal wake-up descriptor) fires it too.
#[derive(Debug)]
pub(crate) struct Waker {
    read: OwnedFd,
    write: OwnedFd,
}

impl Waker {
    pub(crate) fn new() -> Result<Waker> {
        let (read, write) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )
        .map_err(|e| Error::from_io(&ioe(e), "pipe"))?;
        Ok(Waker { read, write })
    }

    /// Fire. Async-signal-safe (one `write`); a full pipe is already fired.
    pub(crate) fn wake(&self) {
        let _ = rustix::io::write(&self.write, &[1]);
    }

    /// Consume one wake-up (it stays fired while more remain).
    pub(crate) fn take_one(&self) {
        let mut buf = [0u8; 1];
        let _ = rustix::io::read(&self.read, &mut buf);
    }

    /// Consume every wake-up; returns the bytes read (at most `out.len()` of them are kept).
    pub(crate) fn drain_into(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 64];
        while let Ok(n) = rustix::io::read(&self.read, &mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// Consume every wake-up.
    pub(crate) fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!(rustix::io::read(&self.read, &mut buf), Ok(n) if n > 0) {}
    }

    /// Whether it is fired now (one `poll` with a zero timeout).
    pub(crate) fn is_fired(&self) -> bool {
        let mut fds = [PollFd::new(&self.read, PollFlags::IN)];
        matches!(rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())), Ok(n) if n > 0)
    }

    /// The read end, readable while fired (to wait on it elsewhere).
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// A new descriptor for the read end (close-on-exec), for a waiter that registers it
    /// somewhere of its own (an async runtime) while others may wait on the same waker.
    #[cfg(feature = "tokio")]
    pub(crate) fn read_dup(&self) -> Result<OwnedFd> {
        rustix::io::fcntl_dupfd_cloexec(&self.read, 0)
            .map_err(|e| Error::from_io(&ioe(e), "duplicating the cancellation descriptor"))
    }

    /// What to wait on for it to fire.
    pub(crate) fn source(&self) -> Source {
        Source::readable(self.read.as_fd())
    }

    /// The write end: writing any byte to it fires the waker.
    pub(crate) fn write_fd(&self) -> BorrowedFd<'_> {
        self.write.as_fd()
    }
}

/// A descriptor that is readable while any of `fds` is (an epoll set, level-triggered,
/// close-on-exec). A member that is closed leaves the set.
pub(crate) fn readiness_set(fds: &[BorrowedFd<'_>]) -> Result<OwnedFd> {
    use rustix::event::epoll;
    let fail = |e: Errno| Error::from_io(&ioe(e), "epoll");
    let set = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(fail)?;
    for (i, fd) in fds.iter().enumerate() {
        epoll::add(
            &set,
            fd,
            epoll::EventData::new_u64(i as u64),
            epoll::EventFlags::IN,
        )
        .map_err(fail)?;
    }
    Ok(set)
}

/// How many CPUs this process may run on (its affinity mask), read once.
pub(crate) fn usable_cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Ok(set) = rustix::thread::sched_getaffinity(None) {
            return set.count() as usize;
        }
        std::thread::available_parallelism().map_or(1, |n| n.get())
    })
}

/// Let another runnable thread have this CPU (it returns at once if there is none).
pub(crate) fn yield_now() {
    rustix::thread::sched_yield();
}
