//! The shared segment: a sealed memfd holding a small header and two rings.
//!
//! ```text
//! offset              size   content
//! 0                   4096   segment header: magic "LIPC-SHM", layout version u32 (1),
//!                            reserved u32, ring capacity u64, ring 0 offset u64,
//!                            ring 1 offset u64, segment size u64, zeros
//! 4096                4096   ring 0 header (client -> server)
//! 8192                C      ring 0 data
//! 8192 + C            4096   ring 1 header (server -> client)
//! 12288 + C           C      ring 1 data
//! ring header: write cursor u64 @0, read cursor u64 @64, consumer-sleeping u32 @128,
//!              producer-waiting u32 @192, zeros to 4096
//! ```
//! Header integers are little-endian; the ring words are native-endian atomics (both sides are
//! on one machine). The creator (the listener) writes the header, seals the memfd
//! against shrinking and growing (`F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`) so the peer can
//! never make our mapping fault, and the receiver checks seals, size and header before use,
//! then keeps its own copy of the geometry (it never re-reads the header).

use super::ring::RingPtrs;
use super::sync::{AtomicU32, AtomicU64};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::shm::{self as os, Mapping, SegmentFd};

/// Magic bytes at the start of a segment.
pub(crate) const MAGIC: [u8; 8] = *b"LIPC-SHM";
/// Layout version described above.
pub(crate) const LAYOUT_VERSION: u32 = 1;
const PAGE: u64 = 4096;
/// Smallest and largest ring capacity accepted.
pub(crate) const MIN_RING: u64 = 64 * 1024;
pub(crate) const MAX_RING: u64 = 1 << 30;

/// Geometry shared by both sides, derived from the ring capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) cap: u64,
}

impl Geometry {
    pub(crate) fn new(cap: u64) -> Result<Geometry> {
        if !cap.is_power_of_two() || !(MIN_RING..=MAX_RING).contains(&cap) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "ring size {cap} must be a power of two from {MIN_RING} to {MAX_RING} bytes"
                ),
            ));
        }
        Ok(Geometry { cap })
    }
    pub(crate) fn ring_offset(&self, i: u64) -> u64 {
        PAGE + i * (PAGE + self.cap)
    }
    pub(crate) fn size(&self) -> u64 {
        PAGE + 2 * (PAGE + self.cap)
    }
}

/// A mapped segment.
#[derive(Debug)]
pub(crate) struct Segment {
    map: Mapping,
    geo: Geometry,
}

fn violation(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ProtocolViolation, msg)
}

impl Segment {
    /// Create, size, initialise and (unless `posix_fallback`) seal a new segment (listener
    /// side). Returns the segment and its descriptor.
    pub(crate) fn create(geo: Geometry, posix_fallback: bool) -> Result<(Segment, SegmentFd)> {
        let (fd, map) = os::create_segment(geo.size(), posix_fallback, false)?;
        let seg = Segment { map, geo };
        let mut header = [0u8; 48];
        header[0..8].copy_from_slice(&MAGIC);
        header[8..12].copy_from_slice(&LAYOUT_VERSION.to_le_bytes());
        header[16..24].copy_from_slice(&geo.cap.to_le_bytes());
        header[24..32].copy_from_slice(&geo.ring_offset(0).to_le_bytes());
        header[32..40].copy_from_slice(&geo.ring_offset(1).to_le_bytes());
        header[40..48].copy_from_slice(&geo.size().to_le_bytes());
        debug_assert!(seg.map.len() as u64 == geo.size());
        // SAFETY: the mapping is `geo.size()` bytes, far more than 48; nobody else has the
        // descriptor yet.
        unsafe {
            std::ptr::copy_nonoverlapping(header.as_ptr(), seg.map.as_mut_ptr(), header.len())
        };
        if !posix_fallback {
            os::seal(&fd)?;
        }
        Ok((seg, fd))
    }

    /// Check and map a segment received from the listener (client side). `sealed`: what the
    /// listener announced. An unsealed (POSIX shm) segment is accepted only by a side that
    /// uses the fallback itself (`posix_fallback`): elsewhere it must be a sealed memfd.
    pub(crate) fn open(
        fd: &SegmentFd,
        geo: Geometry,
        sealed: bool,
        posix_fallback: bool,
    ) -> Result<Segment> {
        if sealed {
            os::check_sealed(fd)?;
        } else if !posix_fallback {
            return Err(violation(
                "the listener offers an unsealed shared segment; this side accepts only sealed memfds",
            ));
        }
        let map = os::map_received(fd, geo.size())?;
        let seg = Segment { map, geo };
        let mut header = [0u8; 48];
        // SAFETY: the mapping is at least 48 bytes; copying (not referencing) bytes the peer
        // may still change is fine, we validate the copy and then use our own geometry.
        unsafe {
            std::ptr::copy_nonoverlapping(seg.map.as_mut_ptr(), header.as_mut_ptr(), header.len())
        };
        let u64_at = |o: usize| u64::from_le_bytes(header[o..o + 8].try_into().expect("8 bytes"));
        let u32_at = |o: usize| u32::from_le_bytes(header[o..o + 4].try_into().expect("4 bytes"));
        if header[0..8] != MAGIC || u32_at(8) != LAYOUT_VERSION {
            return Err(violation(
                "shared segment header: bad magic or layout version",
            ));
        }
        if u32_at(12) != 0
            || u64_at(16) != geo.cap
            || u64_at(24) != geo.ring_offset(0)
            || u64_at(32) != geo.ring_offset(1)
            || u64_at(40) != geo.size()
        {
            return Err(violation(
                "shared segment header does not match the announced geometry",
            ));
        }
        Ok(seg)
    }

    /// Pointers into ring `i` (0: client to server, 1: server to client).
    pub(crate) fn ring(&self, i: u64) -> RingPtrs {
        let base = self.geo.ring_offset(i) as usize;
        let at = |o: usize| {
            // SAFETY: every offset used below is inside the mapping (ring header page).
            unsafe { self.map.as_mut_ptr().add(base + o) }
        };
        RingPtrs {
            write: at(0) as *const AtomicU64,
            read: at(64) as *const AtomicU64,
            consumer_sleeping: at(128) as *const AtomicU32,
            producer_waiting: at(192) as *const AtomicU32,
            data: at(PAGE as usize),
            cap: self.geo.cap,
        }
    }
}
