//! The shared region: one sealed memfd that the bench and its peer both map `MAP_SHARED`.
//!
//! Layout: a 64-byte header (magic, lane capacity), then two lanes, bench-to-peer first, each
//! [`LANE_HEADER`] bytes of header and `capacity` bytes of ring data (see [`super::lane`]).

use std::ffi::c_void;
use std::io;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::mm::{MapFlags, ProtFlags};

use super::lane;
use libipc_bench::{Context, Fail, Result};

const MAGIC: u32 = u32::from_le_bytes(*b"ipcB");
const HEADER: usize = 64;
/// Bytes of each lane's header; a multiple of 64 so ring data starts on a cache line.
pub(crate) const LANE_HEADER: usize = 128;
/// Ring positions are wrapping `u32` byte counts, so a capacity must be a power of two and at
/// most 2^31; 1 GiB is plenty.
const MAX_CAPACITY: u32 = 1 << 30;
const MIN_CAPACITY: u32 = 64 << 10;

/// A mapping of the whole memfd, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Region {
    base: NonNull<u8>,
    len: usize,
    capacity: u32,
}

/// The ring capacity for messages of up to `max_message` bytes: room for two of the largest
/// records, so one always fits once the ring is empty, wherever the last one ended.
pub(crate) fn lane_capacity(max_message: usize) -> Result<u32> {
    lane::record_len(max_message)
        .checked_mul(2)
        .and_then(usize::checked_next_power_of_two)
        .and_then(|c| u32::try_from(c).ok())
        .filter(|&c| c <= MAX_CAPACITY)
        .map(|c| c.max(MIN_CAPACITY))
        .ok_or_else(|| {
            Fail::new(format!(
                "{max_message}-byte messages are too big for a ring"
            ))
        })
}

fn region_len(capacity: u32) -> usize {
    HEADER + 2 * (LANE_HEADER + capacity as usize)
}

impl Region {
    /// A new zeroed region with lanes of `capacity` bytes, and its memfd, sealed so that
    /// neither side can shrink it under the other's mapping (which would be SIGBUS).
    pub(crate) fn create(capacity: u32) -> Result<(Region, OwnedFd)> {
        let len = region_len(capacity);
        let fd = rustix::fs::memfd_create(
            "ipc-bench-raw-shm",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )
        .map_err(io::Error::from)
        .context("memfd_create")?;
        rustix::fs::ftruncate(&fd, len as u64)
            .map_err(io::Error::from)
            .context("sizing the memfd")?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)
            .map_err(io::Error::from)
            .context("sealing the memfd")?;
        let region = Region::map(&fd, len, capacity)?;
        region.header_word(4).store(capacity, Ordering::Relaxed);
        region.header_word(0).store(MAGIC, Ordering::Release);
        Ok((region, fd))
    }

    /// Map a region the bench created, after checking that it cannot change size and that its
    /// header matches its size.
    pub(crate) fn open(fd: &OwnedFd) -> Result<Region> {
        let seals = rustix::fs::fcntl_get_seals(fd)
            .map_err(io::Error::from)
            .context("reading the memfd's seals")?;
        if !seals.contains(SealFlags::SHRINK | SealFlags::GROW) {
            return Err(Fail::new("the shared memfd is not sealed against resizing"));
        }
        let len = usize::try_from(rustix::fs::fstat(fd).map_err(io::Error::from)?.st_size)
            .map_err(|_| Fail::new("the shared memfd has a negative size"))?;
        if len < HEADER {
            return Err(Fail::new(format!("the shared memfd is only {len} bytes")));
        }
        let mut region = Region::map(fd, len, 0)?;
        let magic = region.header_word(0).load(Ordering::Acquire);
        let capacity = region.header_word(4).load(Ordering::Relaxed);
        if magic != MAGIC
            || !capacity.is_power_of_two()
            || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity)
            || region_len(capacity) != len
        {
            return Err(Fail::new(format!(
                "the shared memfd's header does not describe it ({len} bytes, capacity {capacity})"
            )));
        }
        region.capacity = capacity;
        Ok(region)
    }

    fn map(fd: &OwnedFd, len: usize, capacity: u32) -> Result<Region> {
        // SAFETY: a fresh shared mapping of `len` bytes of `fd` at an address the kernel picks,
        // so it replaces no existing mapping. The memfd is sealed against shrinking (checked by
        // `open`, done by `create`), so every mapped byte stays backed: no SIGBUS.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )
        }
        .map_err(io::Error::from)
        .context("mapping the shared memfd")?;
        let base = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| Fail::new("mmap returned null"))?;
        Ok(Region {
            base,
            len,
            capacity,
        })
    }

    /// Bytes of ring data in each lane.
    pub(crate) fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The start of lane `i` (0: bench to peer, 1: peer to bench): its header, then its data.
    pub(crate) fn lane(&self, i: usize) -> NonNull<u8> {
        assert!(i < 2, "a region has two lanes");
        let offset = HEADER + i * (LANE_HEADER + self.capacity as usize);
        // SAFETY: `offset + LANE_HEADER + capacity <= len` (see `region_len`), so the result
        // stays inside this mapping.
        unsafe { self.base.add(offset) }
    }

    /// A word of the region header; only ever accessed atomically.
    fn header_word(&self, offset: usize) -> &AtomicU32 {
        assert!(offset.is_multiple_of(4) && offset + 4 <= HEADER);
        // SAFETY: the word is inside the mapping (HEADER <= len, checked by `open`), 4-aligned
        // (the mapping is page-aligned), lives as long as `self`, and both processes access
        // it only atomically.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast()) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `base..base+len` is exactly the mapping made in `map`, and nothing refers to
        // it any more: lanes hold an `Rc<Region>`, so the region drops after them.
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast::<c_void>(), self.len) };
    }
}
