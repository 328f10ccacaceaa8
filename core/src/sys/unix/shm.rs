//! What shared memory needs from the OS: sealed memfds (or unsealed POSIX shm objects, the
//! fallback) and their mappings, eventfd doorbells, and passing descriptors over a local
//! socket (`SCM_RIGHTS`).

use std::fs::File;
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use memmap2::{MmapOptions, MmapRaw};
use rustix::event::EventfdFlags;
use rustix::fs::SealFlags;
use rustix::io::Errno;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use super::Stream;
use super::wait::{Source, wait_any};
use super::{errno_error, ioe};
use crate::error::{Error, ErrorKind, Result};

fn io(e: Errno, what: &str) -> Error {
    Error::from_io(&ioe(e), what)
}

fn violation(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ProtocolViolation, msg)
}

/// A shared segment's descriptor (a memfd, or a POSIX shm object).
pub(crate) type SegmentFd = OwnedFd;

/// A shared mapping of a whole segment. Memory another process can write: only ever
/// accessed through raw pointers (copies and atomics), never through Rust references.
#[derive(Debug)]
pub(crate) struct Mapping {
    map: MmapRaw,
}

impl Mapping {
    /// Map `len` bytes of `fd`, writable or read-only; `populate`: every page at once (no
    /// fault per page later).
    fn new(fd: &SegmentFd, len: u64, writable: bool, populate: bool) -> Result<Mapping> {
        let file = File::from(
            fd.as_fd()
                .try_clone_to_owned()
                .map_err(|e| Error::from_io(&e, "dup"))?,
        );
        let mut options = MmapOptions::new();
        options.len(len as usize);
        if populate {
            options.populate();
        }
        let map = if writable {
            options.map_raw(&file)
        } else {
            options.map_raw_read_only(&file)
        }
        .map_err(|e| {
            Error::from_io(
                &e,
                if writable {
                    "mapping the shared segment"
                } else {
                    "mapping the shared segment read-only"
                },
            )
        })?;
        Ok(Mapping { map })
    }

    /// The start of the mapping.
    pub(crate) fn as_mut_ptr(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// Create a segment of `size` bytes and map it: a memfd that can be sealed, or (with
/// `posix_fallback`) a POSIX shm object under a random name that is unlinked at once.
/// `populate`: every page allocated and mapped at once (a ring written over and over, whose
/// first pass should not pay a page fault per page).
pub(crate) fn create_segment(
    size: u64,
    posix_fallback: bool,
    populate: bool,
) -> Result<(SegmentFd, Mapping)> {
    let fd = if posix_fallback {
        posix_shm()?
    } else {
        memfd()?
    };
    rustix::fs::ftruncate(&fd, size).map_err(|e| io(e, "sizing the shared segment"))?;
    let map = Mapping::new(&fd, size, true, populate)?;
    Ok((fd, map))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn memfd() -> Result<OwnedFd> {
    use rustix::fs::MemfdFlags;
    rustix::fs::memfd_create(
        "libipc-shm",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )
    .map_err(|e| io(e, "memfd_create"))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn memfd() -> Result<OwnedFd> {
    Err(Error::new(
        ErrorKind::Unsupported,
        "memfd is not available on this platform; set the shm_posix_fallback option",
    ))
}

/// Seal a segment against shrinking and growing, and against further seal changes, so the
/// peer can never make our mapping fault.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn seal(fd: &SegmentFd) -> Result<()> {
    rustix::fs::fcntl_add_seals(fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)
        .map_err(|e| io(e, "sealing the shared segment"))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn seal(_fd: &SegmentFd) -> Result<()> {
    Err(Error::new(
        ErrorKind::Unsupported,
        "sealing is not available on this platform",
    ))
}

/// Seal a segment its creator has mapped writable against resizing, against every *new*
/// writable mapping or `write` (`F_SEAL_FUTURE_WRITE`: the creator's own mapping stays
/// writable) and against further seal changes: whoever receives it can only read it.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn seal_read_only(fd: &SegmentFd) -> Result<()> {
    rustix::fs::fcntl_add_seals(
        fd,
        SealFlags::SHRINK | SealFlags::GROW | SealFlags::FUTURE_WRITE | SealFlags::SEAL,
    )
    .map_err(|e| io(e, "sealing the fan-out segment read-only"))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn seal_read_only(_fd: &SegmentFd) -> Result<()> {
    Err(Error::new(
        ErrorKind::Unsupported,
        "sealing is not available on this platform",
    ))
}

/// Check that a received read-only segment is sealed against resizing (so our mapping never
/// faults); `ProtocolViolation` if not. Write seals are fine: we map it read-only.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn check_sealed_read_only(fd: &SegmentFd) -> Result<()> {
    resize_sealed(fd, "the fan-out segment").map(drop)
}

/// The seals of a received segment, checked to include those against resizing and against
/// further seal changes; `ProtocolViolation` (naming `what`) if not.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn resize_sealed(fd: &SegmentFd, what: &str) -> Result<SealFlags> {
    let seals = rustix::fs::fcntl_get_seals(fd)
        .map_err(|_| violation(format!("{what} is not a sealable memfd")))?;
    let needed = SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL;
    if !seals.contains(needed) {
        return Err(violation(format!(
            "{what} is not sealed against resizing (seals {seals:?})"
        )));
    }
    Ok(seals)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn check_sealed_read_only(_fd: &SegmentFd) -> Result<()> {
    Err(violation(
        "a sealed segment was announced, but this platform has no memfd seals",
    ))
}

/// Map a received segment read-only after checking that it is exactly `size` bytes.
pub(crate) fn map_received_read_only(fd: &SegmentFd, size: u64) -> Result<Mapping> {
    check_size(fd, size)?;
    // Populated: its pages are the publisher's, already there.
    Mapping::new(fd, size, false, true)
}

/// `ProtocolViolation` unless a received segment is exactly `size` bytes.
fn check_size(fd: &SegmentFd, size: u64) -> Result<()> {
    let stat = rustix::fs::fstat(fd).map_err(|e| io(e, "fstat on the shared segment"))?;
    if stat.st_size as u64 != size {
        return Err(violation(format!(
            "shared segment is {} bytes, expected {size}",
            stat.st_size
        )));
    }
    Ok(())
}

/// Check that a received segment is sealed against resizing (`ProtocolViolation` if not).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn check_sealed(fd: &SegmentFd) -> Result<()> {
    let seals = resize_sealed(fd, "the shared segment")?;
    // Both sides map the segment writable: a write seal would make that mapping fail with
    // EPERM, which is the peer's fault, not a permission of ours.
    if seals.intersects(SealFlags::WRITE | SealFlags::FUTURE_WRITE) {
        return Err(violation(format!(
            "the shared segment is sealed against writing (seals {seals:?})"
        )));
    }
    Ok(())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn check_sealed(_fd: &SegmentFd) -> Result<()> {
    Err(violation(
        "a sealed segment was announced, but this platform has no memfd seals",
    ))
}

/// Map a received segment after checking that it is exactly `size` bytes.
pub(crate) fn map_received(fd: &SegmentFd, size: u64) -> Result<Mapping> {
    check_size(fd, size)?;
    Mapping::new(fd, size, true, false)
}

/// Android has no POSIX shm objects (its libc has no `shm_open`): the fallback is not there.
#[cfg(target_os = "android")]
fn posix_shm() -> Result<OwnedFd> {
    Err(Error::new(
        ErrorKind::Unsupported,
        "Android has no POSIX shared memory objects; shm:// uses sealed memfds there (leave shm_posix_fallback off)",
    ))
}

/// A POSIX shm object under a random name, unlinked at once (the descriptor is all we need).
#[cfg(not(target_os = "android"))]
fn posix_shm() -> Result<OwnedFd> {
    use rustix::fs::Mode;
    use rustix::shm::OFlags;
    for _ in 0..16 {
        let name = format!("/libipc-{:016x}", fastrand::u64(..));
        match rustix::shm::open(
            name.as_str(),
            OFlags::CREATE | OFlags::EXCL | OFlags::RDWR,
            Mode::RUSR | Mode::WUSR,
        ) {
            Ok(fd) => {
                let _ = rustix::shm::unlink(name.as_str());
                return Ok(fd);
            }
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(io(e, "shm_open")),
        }
    }
    Err(Error::new(
        ErrorKind::Io,
        "shm_open kept finding its random names taken",
    ))
}

/// An eventfd doorbell: one side rings it, the other sleeps on it.
#[derive(Debug)]
pub(crate) struct Doorbell {
    fd: OwnedFd,
}

impl Doorbell {
    /// A new doorbell (non-blocking, close-on-exec, counter mode).
    pub(crate) fn new() -> Result<Doorbell> {
        let fd = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|e| io(e, "eventfd"))?;
        Ok(Doorbell { fd })
    }

    /// A doorbell received from the peer, checked: it must be an eventfd. Something that is not
    /// (a regular file, say, which is always readable) would make a sleeping side wake at
    /// once, forever.
    pub(crate) fn received(fd: OwnedFd) -> Result<Doorbell> {
        check_eventfd(&fd)?;
        rustix::io::ioctl_fionbio(&fd, true)
            .map_err(|e| Error::from_io(&ioe(e), "setting non-blocking mode"))?;
        Ok(Doorbell { fd })
    }

    /// A received doorbell that this side sleeps on (the peer rings it), checked as
    /// [`received`](Self::received) and also for counter mode: one in semaphore mode
    /// (`EFD_SEMAPHORE`) gives up one unit per read, so a peer that pre-loads it near 2^64
    /// would keep every sleep from starting. Only a side that alone reads the doorbell may
    /// check it (the check rings and reads it): the peer never rings these before this side
    /// has said it sleeps, which it has not yet.
    pub(crate) fn received_to_wait_on(fd: OwnedFd) -> Result<Doorbell> {
        let bell = Doorbell::received(fd)?;
        check_counter_mode(&bell.fd)?;
        Ok(bell)
    }

    /// Ring it (the sleeper wakes).
    pub(crate) fn ring(&self) {
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// Take the rings so far: one read resets the counter (a doorbell we sleep on was checked
    /// to be in counter mode, `received_to_wait_on`).
    pub(crate) fn drain(&self) {
        let mut b = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut b);
    }

    /// Wait here for a ring.
    pub(crate) fn source(&self) -> Source {
        Source::readable(self.fd.as_fd())
    }
}

impl AsFd for Doorbell {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn check_eventfd(bell: &OwnedFd) -> Result<()> {
    // eventfds are anonymous inodes (no file-type bits), and take an 8-byte write of zero
    // (which leaves the counter alone); timerfd, signalfd and epoll descriptors refuse it.
    let stat = rustix::fs::fstat(bell)
        .map_err(|_| violation("a doorbell descriptor cannot be examined"))?;
    if stat.st_mode & libc::S_IFMT != 0 {
        return Err(violation("a shared-memory doorbell is not an eventfd"));
    }
    if matches!(rustix::io::write(bell, &0u64.to_ne_bytes()), Ok(8)) {
        Ok(())
    } else {
        Err(violation("a shared-memory doorbell is not an eventfd"))
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn check_eventfd(_bell: &OwnedFd) -> Result<()> {
    Ok(())
}

/// Whether a (non-blocking) eventfd is in counter mode: after a first read (which takes what
/// a counter holds, or one unit of a semaphore), ringing it twice and reading must give 2 at
/// once. A semaphore gives 1, and one loaded near 2^64 refuses the write.
fn check_counter_mode(bell: &OwnedFd) -> Result<()> {
    let mut b = [0u8; 8];
    let _ = rustix::io::read(bell, &mut b);
    if !matches!(rustix::io::write(bell, &2u64.to_ne_bytes()), Ok(8)) {
        return Err(violation(
            "a shared-memory doorbell cannot be rung (its counter is full)",
        ));
    }
    match rustix::io::read(bell, &mut b) {
        Ok(8) if u64::from_ne_bytes(b) == 2 => Ok(()),
        Ok(8) => Err(violation(
            "a shared-memory doorbell is in semaphore mode, not counter mode",
        )),
        _ => Err(violation("a shared-memory doorbell cannot be read")),
    }
}

/// Send `bytes` with `fds` attached (to the first byte), waiting for room until `deadline`.
pub(crate) fn send_with_fds(
    stream: &Stream,
    bytes: &[u8],
    fds: &[BorrowedFd<'_>],
    deadline: Instant,
) -> Result<()> {
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(Error::new(ErrorKind::Io, "SCM_RIGHTS buffer too small"));
    }
    let sent = loop {
        match rustix::net::sendmsg(
            stream.as_fd(),
            &[IoSlice::new(bytes)],
            &mut control,
            SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
        ) {
            Ok(n) => break n,
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => {
                if wait_any(&[stream.write_source()], [None, None], Some(deadline))?.timed_out() {
                    return Err(Error::timeout("timed out sending descriptors"));
                }
            }
            Err(e) => return Err(errno_error(e, "sending descriptors")),
        }
    };
    // The descriptors went with the first byte; the rest is plain data.
    let mut done = sent;
    while done < bytes.len() {
        done += stream.write(&[IoSlice::new(&bytes[done..])])?;
        if done < bytes.len()
            && wait_any(&[stream.write_source()], [None, None], Some(deadline))?.timed_out()
        {
            return Err(Error::timeout("timed out sending descriptors"));
        }
    }
    Ok(())
}

/// Receive up to `buf.len()` bytes, and at most `max_fds` descriptors with them, waiting for
/// the first byte until `deadline`. Returns the bytes received (0: the peer closed) and the
/// descriptors. More control data than `max_fds` allows is a `ProtocolViolation` (the extra
/// descriptors are closed).
pub(crate) fn recv_with_fds(
    stream: &Stream,
    buf: &mut [u8],
    max_fds: usize,
    deadline: Instant,
) -> Result<(usize, Vec<OwnedFd>)> {
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(max_fds))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = loop {
        match rustix::net::recvmsg(
            stream.as_fd(),
            &mut [IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
        ) {
            Ok(m) => break m,
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => {
                if wait_any(&[stream.read_source()], [None, None], Some(deadline))?.timed_out() {
                    return Err(Error::timeout("timed out waiting for descriptors"));
                }
            }
            Err(e) => return Err(errno_error(e, "receiving descriptors")),
        }
    };
    let mut fds: Vec<OwnedFd> = Vec::new();
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = m {
            fds.extend(rights);
        }
    }
    if msg.flags.contains(ReturnFlags::CTRUNC) {
        // The kernel also truncates when it cannot install a descriptor in our table (it is
        // full): fewer than `max_fds` arrived although there was room for them. That is our
        // resource limit, not the peer's fault: report the errno a new descriptor gets now.
        // The descriptors that did arrive stay open while we probe.
        if fds.len() < max_fds
            && let Err(e) = rustix::io::fcntl_dupfd_cloexec(stream.as_fd(), 0)
        {
            return Err(errno_error(e, "receiving descriptors"));
        }
        return Err(violation("a message carried more descriptors than allowed"));
    }
    Ok((msg.bytes, fds))
}

/// Look at what is queued on a stream without taking it or waiting: `None` if nothing is,
/// `Some(0)` if the peer closed.
pub(crate) fn peek(stream: &Stream, buf: &mut [u8]) -> Result<Option<usize>> {
    match rustix::net::recv(stream.as_fd(), buf, RecvFlags::PEEK | RecvFlags::DONTWAIT) {
        Ok((n, _)) => Ok(Some(n)),
        Err(Errno::AGAIN | Errno::INTR) => Ok(None),
        Err(e) => Err(errno_error(e, "shared-memory control socket")),
    }
}
