//! The SETUP exchange on the control socket, after the hellos: the server creates the segment
//! and doorbells and sends them; the client receives, checks and maps them.
//!
//! SETUP frame: header (type 0x04, length 24), payload `segment size u64 | ring capacity u64 |
//! layout version u32 | flags u32` (bit 0: the segment is an unsealed POSIX shm object, the
//! fallback of `segment::posix_fallback`; other bits zero), with exactly five descriptors:
//! `[memfd, ring0 data bell, ring0 space bell, ring1 data bell, ring1 space bell]`.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use rustix::event::EventfdFlags;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use super::ring::{Consumer, Producer};
use super::segment::{Geometry, LAYOUT_VERSION, Segment};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::{self, Interest};
use crate::wire::{FrameHeader, FrameType, HEADER_LEN};

/// Hello capability bit: "this connection uses shared memory".
pub(crate) const CAP_SHM: u32 = 1;
const SETUP_LEN: usize = 24;
const FDS: usize = 5;
/// SETUP flag: the segment is an unsealed POSIX shm object (the fallback without memfd).
const SETUP_UNSEALED: u32 = 1;

fn violation(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ProtocolViolation, msg)
}

/// One side's view of an established shared-memory connection.
#[derive(Debug)]
pub(crate) struct ShmSetup {
    pub(crate) segment: Segment,
    pub(crate) consumer: Consumer,
    pub(crate) producer: Producer,
    /// Rung by the peer when it published data for us (we sleep on it).
    pub(crate) data_in: OwnedFd,
    /// We ring it after freeing space in the ring we consume.
    pub(crate) space_in: OwnedFd,
    /// We ring it after publishing data.
    pub(crate) data_out: OwnedFd,
    /// Rung by the peer when it freed space in the ring we produce into (we sleep on it).
    pub(crate) space_out: OwnedFd,
}

fn eventfd() -> Result<OwnedFd> {
    rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).map_err(|e| {
        Error::from_io(
            &std::io::Error::from_raw_os_error(e.raw_os_error()),
            "eventfd",
        )
    })
}

/// Server side: create the segment and doorbells, send them, keep our ends.
/// What the server has created for one connection, before it is sent.
#[derive(Debug)]
pub(crate) struct Offer {
    geo: Geometry,
    segment: Segment,
    memfd: OwnedFd,
    sealed: bool,
    bells: [OwnedFd; 4],
}

impl Offer {
    /// Create the segment and doorbells (before the server accepts the hello, so that a
    /// failure here can still be reported to the client as a refusal).
    pub(crate) fn create(ring_size: u64) -> Result<Offer> {
        let geo = Geometry::new(ring_size)?;
        let (segment, memfd, sealed) = Segment::create(geo)?;
        let bells = [eventfd()?, eventfd()?, eventfd()?, eventfd()?];
        Ok(Offer {
            geo,
            segment,
            memfd,
            sealed,
            bells,
        })
    }

    /// Send the SETUP frame and descriptors; keep our ends.
    pub(crate) fn send(self, ctrl: BorrowedFd<'_>) -> Result<ShmSetup> {
        let Offer {
            geo,
            segment,
            memfd,
            sealed,
            bells,
        } = self;
        send_setup(ctrl, geo, segment, memfd, sealed, bells)
    }
}

fn send_setup(
    ctrl: BorrowedFd<'_>,
    geo: Geometry,
    segment: Segment,
    memfd: OwnedFd,
    sealed: bool,
    bells: [OwnedFd; 4],
) -> Result<ShmSetup> {
    let mut payload = [0u8; HEADER_LEN + SETUP_LEN];
    payload[..HEADER_LEN].copy_from_slice(
        &FrameHeader {
            length: SETUP_LEN as u32,
            frame_type: FrameType::Setup,
            flags: 0,
        }
        .encode(),
    );
    payload[8..16].copy_from_slice(&geo.size().to_le_bytes());
    payload[16..24].copy_from_slice(&geo.cap.to_le_bytes());
    payload[24..28].copy_from_slice(&LAYOUT_VERSION.to_le_bytes());
    payload[28..32].copy_from_slice(&u32::from(!sealed).to_le_bytes());
    let fds: [BorrowedFd<'_>; FDS] = [
        memfd.as_fd(),
        bells[0].as_fd(),
        bells[1].as_fd(),
        bells[2].as_fd(),
        bells[3].as_fd(),
    ];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(Error::new(ErrorKind::Io, "SCM_RIGHTS buffer too small"));
    }
    let sent = rustix::net::sendmsg(
        ctrl,
        &[IoSlice::new(&payload)],
        &mut control,
        SendFlags::NOSIGNAL,
    )
    .map_err(|e| sys::io_error(e, "sending the shared-memory setup"))?;
    if sent < payload.len() {
        // The descriptors went with the first byte; the rest is plain data.
        sys::send_all(ctrl, &mut [IoSlice::new(&payload[sent..])])
            .map_err(|(_, e)| sys::io_error(e, "sending the shared-memory setup"))?;
    }
    let [c2s_data, c2s_space, s2c_data, s2c_space] = bells;
    Ok(ShmSetup {
        consumer: Consumer::new(segment.ring(0)),
        producer: Producer::new(segment.ring(1)),
        segment,
        data_in: c2s_data,
        space_in: c2s_space,
        data_out: s2c_data,
        space_out: s2c_space,
    })
}

/// A doorbell must be an eventfd: something that is not (a regular file, say, which is always
/// readable) would make a sleeping side wake at once, forever.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn check_doorbell(bell: &OwnedFd) -> Result<()> {
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
fn check_doorbell(_bell: &OwnedFd) -> Result<()> {
    Ok(())
}

/// Client side: receive the SETUP frame and descriptors, check everything, map the segment.
pub(crate) fn take_offer(ctrl: BorrowedFd<'_>, deadline: Instant) -> Result<ShmSetup> {
    let mut buf = [0u8; HEADER_LEN + SETUP_LEN];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(FDS + 3))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    if !sys::wait(ctrl, Interest::Read, Some(deadline))? {
        return Err(Error::new(
            ErrorKind::Timeout,
            "no shared-memory setup from the listener in time",
        ));
    }
    let msg = loop {
        match rustix::net::recvmsg(
            ctrl,
            &mut [IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            other => {
                break other.map_err(|e| sys::io_error(e, "receiving the shared-memory setup"))?;
            }
        }
    };
    let mut fds: Vec<OwnedFd> = Vec::new();
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = m {
            fds.extend(rights);
        }
    }
    if msg.flags.contains(ReturnFlags::CTRUNC) {
        return Err(violation(
            "the shared-memory setup carried more control data than allowed",
        ));
    }
    if msg.bytes == 0 {
        return Err(Error::new(
            ErrorKind::PeerDisconnected,
            "the listener closed before the shared-memory setup",
        ));
    }
    let mut got = msg.bytes;
    while got < buf.len() {
        if !sys::wait(ctrl, Interest::Read, Some(deadline))? {
            return Err(Error::new(
                ErrorKind::Timeout,
                "shared-memory setup incomplete",
            ));
        }
        // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout and `read_into` only
        // writes initialised bytes.
        let rest = unsafe { &mut *(&mut buf[got..] as *mut [u8] as *mut [MaybeUninit<u8>]) };
        match sys::read_into(ctrl, rest) {
            Ok(0) => {
                return Err(Error::new(
                    ErrorKind::PeerDisconnected,
                    "the listener closed during the shared-memory setup",
                ));
            }
            Ok(n) => got += n,
            Err(rustix::io::Errno::AGAIN) => {}
            Err(e) => return Err(sys::io_error(e, "receiving the shared-memory setup")),
        }
    }
    let header = FrameHeader::decode(buf[..HEADER_LEN].try_into().expect("8 bytes"))?;
    if header.frame_type != FrameType::Setup
        || header.length as usize != SETUP_LEN
        || header.flags != 0
    {
        return Err(violation(format!(
            "expected a SETUP frame of {SETUP_LEN} bytes, got {header:?}"
        )));
    }
    if fds.len() != FDS {
        return Err(violation(format!(
            "the shared-memory setup carried {} descriptors, expected {FDS}",
            fds.len()
        )));
    }
    let p = &buf[HEADER_LEN..];
    let size = u64::from_le_bytes(p[0..8].try_into().expect("8"));
    let cap = u64::from_le_bytes(p[8..16].try_into().expect("8"));
    let version = u32::from_le_bytes(p[16..20].try_into().expect("4"));
    let flags = u32::from_le_bytes(p[20..24].try_into().expect("4"));
    if flags & !SETUP_UNSEALED != 0 {
        return Err(violation("SETUP flags has undefined bits set"));
    }
    if version != LAYOUT_VERSION {
        return Err(Error::new(
            ErrorKind::ProtocolMismatch,
            format!("shared-memory layout version {version} is not supported"),
        ));
    }
    let geo =
        Geometry::new(cap).map_err(|e| violation(format!("bad ring capacity: {}", e.message())))?;
    if geo.size() != size {
        return Err(violation(
            "SETUP segment size does not match its ring capacity",
        ));
    }
    let mut fds = fds.into_iter();
    let mut next = || fds.next().expect("five descriptors");
    let memfd = next();
    let segment = Segment::open(&memfd, geo, flags & SETUP_UNSEALED == 0)?;
    drop(memfd);
    let (c2s_data, c2s_space, s2c_data, s2c_space) = (next(), next(), next(), next());
    for bell in [&c2s_data, &c2s_space, &s2c_data, &s2c_space] {
        check_doorbell(bell)?;
        sys::set_nonblocking(bell.as_fd(), true)?;
    }
    Ok(ShmSetup {
        consumer: Consumer::new(segment.ring(1)),
        producer: Producer::new(segment.ring(0)),
        segment,
        data_in: s2c_data,
        space_in: s2c_space,
        data_out: c2s_data,
        space_out: c2s_space,
    })
}
