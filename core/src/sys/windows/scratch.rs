//! Scratch memory given back to the system when dropped (`sys/unix/scratch.rs`): the Windows
//! heap serves blocks this large with their own virtual allocation and releases it on free.

/// Zeroed memory of a fixed size.
#[derive(Debug)]
pub(crate) struct Scratch {
    mem: Vec<u8>,
}

impl Scratch {
    /// `len` bytes.
    pub(crate) fn new(len: usize) -> Option<Scratch> {
        Some(Scratch { mem: vec![0; len] })
    }

    /// The memory.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.mem
    }

    /// The memory, to write.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.mem
    }
}
