//! The SETUP exchange on the control stream, after the hellos: the server creates the segment
//! and doorbells and sends them; the client receives, checks and maps them. The frame itself
//! is encoded and decoded in `wire/setup.rs`; the descriptors travel with it (`sys::shm`).

use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use super::ring::{Consumer, Producer};
use super::segment::{Geometry, LAYOUT_VERSION, Segment};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::shm::{self as os, Doorbell, SegmentFd};
use crate::sys::{self, Stream};
use crate::wire::{HEADER_LEN, SETUP_FDS, SETUP_LEN, Setup};

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
    pub(crate) data_in: Doorbell,
    /// We ring it after freeing space in the ring we consume.
    pub(crate) space_in: Doorbell,
    /// We ring it after publishing data.
    pub(crate) data_out: Doorbell,
    /// Rung by the peer when it freed space in the ring we produce into (we sleep on it).
    pub(crate) space_out: Doorbell,
}

/// What the server has created for one connection, before it is sent.
#[derive(Debug)]
pub(crate) struct Offer {
    geo: Geometry,
    segment: Segment,
    fd: SegmentFd,
    unsealed: bool,
    bells: [Doorbell; 4],
}

impl Offer {
    /// Create the segment and doorbells (before the server accepts the hello, so that a
    /// failure here can still be reported to the client as a refusal).
    pub(crate) fn create(ring_size: u64, posix_fallback: bool) -> Result<Offer> {
        let geo = Geometry::new(ring_size)?;
        let (segment, fd) = Segment::create(geo, posix_fallback)?;
        let bells = [
            Doorbell::new()?,
            Doorbell::new()?,
            Doorbell::new()?,
            Doorbell::new()?,
        ];
        Ok(Offer {
            geo,
            segment,
            fd,
            unsealed: posix_fallback,
            bells,
        })
    }

    /// Send the SETUP frame and descriptors; keep our ends.
    pub(crate) fn send(self, ctrl: &Stream, deadline: Instant) -> Result<ShmSetup> {
        let Offer {
            geo,
            segment,
            fd,
            unsealed,
            bells,
        } = self;
        let frame = Setup {
            segment_size: geo.size(),
            ring_capacity: geo.cap,
            layout_version: LAYOUT_VERSION,
            unsealed,
            fanout: false,
        }
        .encode_frame();
        let fds: [BorrowedFd<'_>; SETUP_FDS] = [
            fd.as_fd(),
            bells[0].as_fd(),
            bells[1].as_fd(),
            bells[2].as_fd(),
            bells[3].as_fd(),
        ];
        os::send_with_fds(ctrl, &frame, &fds, deadline).map_err(|e| {
            Error::new(
                e.kind(),
                format!("sending the shared-memory setup: {}", e.message()),
            )
        })?;
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
}

/// Client side: receive the SETUP frame and its descriptors (checked: sections 11.3 checks
/// 1 to 3).
pub(crate) fn recv_setup(
    ctrl: &Stream,
    deadline: Instant,
) -> Result<(Setup, Vec<std::os::fd::OwnedFd>)> {
    let mut buf = [0u8; HEADER_LEN + SETUP_LEN];
    // Room for more descriptors than allowed, so that too many is seen (not truncated away).
    let (first, fds) =
        os::recv_with_fds(ctrl, &mut buf, SETUP_FDS + 3, deadline).map_err(|e| match e.kind() {
            ErrorKind::Timeout => {
                Error::timeout("no shared-memory setup from the listener in time")
            }
            _ => e,
        })?;
    if first == 0 {
        return Err(Error::new(
            ErrorKind::PeerDisconnected,
            "the listener closed before the shared-memory setup",
        ));
    }
    let mut got = first;
    while got < buf.len() {
        // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout and `read` only writes
        // initialised bytes.
        let rest =
            unsafe { &mut *(&mut buf[got..] as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
        match ctrl.read(rest)? {
            Some(0) => {
                return Err(Error::new(
                    ErrorKind::PeerDisconnected,
                    "the listener closed during the shared-memory setup",
                ));
            }
            Some(n) => got += n,
            None => {
                if sys::wait_any(&[ctrl.read_source()], [None, None], Some(deadline))?.timed_out() {
                    return Err(Error::timeout("shared-memory setup incomplete"));
                }
            }
        }
    }
    Ok((Setup::decode_frame(&buf)?, fds))
}

/// Client side: receive the SETUP frame and descriptors, check everything, map the segment.
pub(crate) fn take_offer(
    ctrl: &Stream,
    deadline: Instant,
    posix_fallback: bool,
) -> Result<ShmSetup> {
    let (setup, fds) = recv_setup(ctrl, deadline)?;
    if setup.fanout {
        return Err(violation(
            "a fan-out SETUP on a connection that is not publish/subscribe",
        ));
    }
    if fds.len() != SETUP_FDS {
        return Err(violation(format!(
            "the shared-memory setup carried {} descriptors, expected {SETUP_FDS}",
            fds.len()
        )));
    }
    if setup.layout_version != LAYOUT_VERSION {
        return Err(Error::new(
            ErrorKind::ProtocolMismatch,
            format!(
                "shared-memory layout version {} is not supported",
                setup.layout_version
            ),
        ));
    }
    let geo = Geometry::new(setup.ring_capacity)
        .map_err(|e| violation(format!("bad ring capacity: {}", e.message())))?;
    if geo.size() != setup.segment_size {
        return Err(violation(
            "SETUP segment size does not match its ring capacity",
        ));
    }
    let mut fds = fds.into_iter();
    let mut next = || fds.next().expect("five descriptors");
    let memfd = next();
    let segment = Segment::open(&memfd, geo, !setup.unsealed, posix_fallback)?;
    drop(memfd);
    let c2s_data = Doorbell::received(next())?;
    let c2s_space = Doorbell::received_to_wait_on(next())?;
    let s2c_data = Doorbell::received_to_wait_on(next())?;
    let s2c_space = Doorbell::received(next())?;
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
