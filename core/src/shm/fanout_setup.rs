//! The SETUP of a publish/subscribe connection over shared memory (`docs/wire-format.md`,
//! section 17.5): instead of two rings of its own, a subscriber gets the publisher's one
//! fan-out segment (sealed so that it can only map it read-only), a cursor page of its own and
//! two doorbells. The control socket then carries the connection's frames (SUBSCRIBE,
//! SUBSCRIBED, ERROR, CLOSE) as a Unix-socket connection does; its end is the subscriber's
//! departure, so a crashed subscriber's cursor is released at once.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::Instant;

use super::fanout::{CursorPtrs, FanPtrs, PAGE};
use super::segment::{MAX_RING, MIN_RING};
use super::setup::recv_setup;
use crate::error::{Error, ErrorKind, Result};
use crate::sys::Stream;
use crate::sys::shm::{self as os, Doorbell, Mapping, SegmentFd};
use crate::wire::{SETUP_FANOUT_FDS, Setup};

/// The fan-out segment's layout version (section 17.5).
pub(crate) use super::fanout::FAN_LAYOUT_VERSION;

fn violation(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ProtocolViolation, msg)
}

fn check_capacity(cap: u64) -> Result<()> {
    if !cap.is_power_of_two() || !(MIN_RING..=MAX_RING).contains(&cap) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("ring size {cap} must be a power of two from {MIN_RING} to {MAX_RING} bytes"),
        ));
    }
    Ok(())
}

/// The publisher's fan-out segment, shared by every subscriber's connection.
pub(crate) struct FanoutShare {
    map: Mapping,
    fd: SegmentFd,
    cap: u64,
    unsealed: bool,
    posix_fallback: bool,
    /// Rung by subscribers when they moved their cursor while the publisher waits.
    space: Doorbell,
}

impl fmt::Debug for FanoutShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanoutShare")
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

impl FanoutShare {
    /// Create the segment (`cap` data bytes), write its header and seal it read-only for
    /// everyone but this mapping.
    pub(crate) fn create(cap: u64, posix_fallback: bool) -> Result<Arc<FanoutShare>> {
        check_capacity(cap)?;
        let (fd, map) = os::create_segment(PAGE + cap, posix_fallback, true)?;
        let share = FanoutShare {
            map,
            fd,
            cap,
            unsealed: posix_fallback,
            posix_fallback,
            space: Doorbell::new()?,
        };
        share.ptrs().init_header();
        if !posix_fallback {
            os::seal_read_only(&share.fd)?;
        }
        Ok(Arc::new(share))
    }

    /// Pointers into the segment (valid while `self` lives).
    pub(crate) fn ptrs(&self) -> FanPtrs {
        FanPtrs::new(self.map.as_mut_ptr(), self.cap)
    }

    /// The doorbell the publisher waits on for cursors to move.
    pub(crate) fn space(&self) -> &Doorbell {
        &self.space
    }
}

/// A publisher's fan-out segment, carried in the listener's options so that its shared-memory
/// transport hands it to each subscriber (compared by identity).
#[derive(Debug, Clone)]
pub(crate) struct FanoutRef(pub(crate) Arc<FanoutShare>);

impl PartialEq for FanoutRef {
    fn eq(&self, other: &FanoutRef) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for FanoutRef {}

/// What the publisher keeps of one subscriber's connection.
#[derive(Debug)]
pub(crate) struct PublisherEnd {
    cursor: Mapping,
    /// Rung when the subscriber sleeps and a message is written.
    pub(crate) data: Doorbell,
}

impl PublisherEnd {
    /// The subscriber's cursor page (valid while `self` lives).
    pub(crate) fn cursor(&self) -> CursorPtrs {
        CursorPtrs::new(self.cursor.as_mut_ptr())
    }
}

/// What the publisher prepared for one subscriber before answering its hello.
#[derive(Debug)]
pub(crate) struct FanoutOffer {
    share: Arc<FanoutShare>,
    cursor_fd: SegmentFd,
    cursor: Mapping,
    data: Doorbell,
}

impl FanoutOffer {
    /// A cursor page and a data doorbell for a new subscriber.
    pub(crate) fn create(share: &Arc<FanoutShare>) -> Result<FanoutOffer> {
        let (cursor_fd, cursor) = os::create_segment(PAGE, share.posix_fallback, false)?;
        if !share.posix_fallback {
            os::seal(&cursor_fd)?;
        }
        Ok(FanoutOffer {
            share: Arc::clone(share),
            cursor_fd,
            cursor,
            data: Doorbell::new()?,
        })
    }

    /// Send the fan-out SETUP and its four descriptors; keep our ends.
    pub(crate) fn send(self, ctrl: &Stream, deadline: Instant) -> Result<PublisherEnd> {
        let frame = Setup {
            segment_size: PAGE + self.share.cap,
            ring_capacity: self.share.cap,
            layout_version: FAN_LAYOUT_VERSION,
            unsealed: self.share.unsealed,
            fanout: true,
        }
        .encode_frame();
        let fds: [BorrowedFd<'_>; SETUP_FANOUT_FDS] = [
            self.share.fd.as_fd(),
            self.cursor_fd.as_fd(),
            self.data.as_fd(),
            self.share.space.as_fd(),
        ];
        os::send_with_fds(ctrl, &frame, &fds, deadline).map_err(|e| {
            Error::new(
                e.kind(),
                format!("sending the fan-out setup: {}", e.message()),
            )
        })?;
        Ok(PublisherEnd {
            cursor: self.cursor,
            data: self.data,
        })
    }
}

/// What a subscriber holds of the publisher's fan-out.
#[derive(Debug)]
pub(crate) struct SubscriberEnd {
    // The mappings outlive every pointer handed out (the owner keeps `self`).
    segment: Mapping,
    cursor: Mapping,
    cap: u64,
    /// Rung by the publisher when we sleep and it wrote a message.
    pub(crate) data: Doorbell,
    /// We ring it after moving our cursor while the publisher waits.
    pub(crate) space: Doorbell,
}

impl SubscriberEnd {
    /// Pointers into the (read-only) segment.
    pub(crate) fn ring(&self) -> FanPtrs {
        // The mapping is PAGE + cap bytes (checked when received).
        FanPtrs::new(self.segment.as_mut_ptr(), self.cap)
    }

    /// Our cursor page.
    pub(crate) fn cursor(&self) -> CursorPtrs {
        CursorPtrs::new(self.cursor.as_mut_ptr())
    }
}

/// Subscriber side: receive the fan-out SETUP, check everything, map the segment read-only.
pub(crate) fn take_fanout_offer(
    ctrl: &Stream,
    deadline: Instant,
    posix_fallback: bool,
) -> Result<SubscriberEnd> {
    let (setup, fds) = recv_setup(ctrl, deadline)?;
    if !setup.fanout {
        return Err(violation(
            "a publisher over shared memory must send the fan-out SETUP (flag FANOUT)",
        ));
    }
    if fds.len() != SETUP_FANOUT_FDS {
        return Err(violation(format!(
            "the fan-out setup carried {} descriptors, expected {SETUP_FANOUT_FDS}",
            fds.len()
        )));
    }
    if setup.layout_version != FAN_LAYOUT_VERSION {
        return Err(Error::new(
            ErrorKind::ProtocolMismatch,
            format!(
                "fan-out layout version {} is not supported",
                setup.layout_version
            ),
        ));
    }
    if setup.unsealed && !posix_fallback {
        return Err(violation(
            "the publisher offers an unsealed fan-out segment; this side accepts only sealed memfds",
        ));
    }
    let cap = setup.ring_capacity;
    check_capacity(cap).map_err(|e| violation(format!("bad ring capacity: {}", e.message())))?;
    if setup.segment_size != PAGE + cap {
        return Err(violation(
            "SETUP segment size does not match its fan-out capacity",
        ));
    }
    let mut fds = fds.into_iter();
    let mut next = || fds.next().expect("four descriptors");
    let memfd = next();
    if !setup.unsealed {
        os::check_sealed_read_only(&memfd)?;
    }
    let segment = os::map_received_read_only(&memfd, PAGE + cap)?;
    drop(memfd);
    let cursor_fd = next();
    if !setup.unsealed {
        os::check_sealed(&cursor_fd)?;
    }
    let cursor = os::map_received(&cursor_fd, PAGE)?;
    drop(cursor_fd);
    let data = Doorbell::received_to_wait_on(next())?;
    let space = Doorbell::received(next())?;
    let end = SubscriberEnd {
        segment,
        cursor,
        cap,
        data,
        space,
    };
    end.ring().check_header()?;
    Ok(end)
}
