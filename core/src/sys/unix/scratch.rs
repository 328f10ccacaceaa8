//! Scratch memory in a mapping of its own, given back to the system when dropped.

use memmap2::{MmapMut, MmapOptions};

/// Zeroed private memory of a fixed size. A buffer that a peer fills and that must not stay
/// resident once dropped, whatever the allocator would keep: glibc keeps freed blocks at the
/// top of a thread's arena resident (up to 32 MiB per arena once large blocks have been
/// freed), and `malloc_trim` does not reach those. Unmapping always gives the pages back.
#[derive(Debug)]
pub(crate) struct Scratch {
    map: MmapMut,
}

impl Scratch {
    /// `len` bytes, or `None` if the system has no room for the mapping.
    pub(crate) fn new(len: usize) -> Option<Scratch> {
        let map = MmapOptions::new().len(len).map_anon().ok()?;
        Some(Scratch { map })
    }

    /// The memory (private to this process: ordinary Rust references are fine).
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// The memory, to write.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }
}
