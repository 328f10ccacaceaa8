//! The fragments of a message joined so far (frames or records with the MORE flag).
//!
//! Up to 1 MiB they are joined in a `Vec`. Past that, in scratch memory of its own mapping
//! (`sys::Scratch`, doubled as needed), which goes back to the system the moment a message is
//! refused (over the limit, or a violation half-way): a peer cannot pin memory it was refused,
//! whatever the allocator keeps of freed blocks. A complete message is copied into a `Vec` of
//! its exact size.

use crate::sys::Scratch;

/// Joined in a `Vec` up to this many bytes.
const IN_VEC: usize = 1 << 20;

/// A message being joined from fragments.
#[derive(Debug, Default)]
pub(crate) struct Assembly {
    vec: Vec<u8>,
    scratch: Option<Scratch>,
    len: usize,
}

impl Assembly {
    /// Bytes joined so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// `n` more bytes at the end, for the caller to fill.
    pub(crate) fn grow(&mut self, n: usize) -> &mut [u8] {
        let (start, end) = (self.len, self.len + n);
        let room = self.scratch.as_ref().map_or(0, |s| s.bytes().len());
        if end > IN_VEC && end > room {
            let bigger = Scratch::new(end.next_power_of_two().max(2 * IN_VEC));
            if let Some(mut bigger) = bigger {
                bigger.bytes_mut()[..start].copy_from_slice(self.joined());
                self.scratch = Some(bigger);
                self.vec = Vec::new();
            } else if let Some(old) = self.scratch.take() {
                // No room for a mapping: go on in the heap.
                self.vec = old.bytes()[..start].to_vec();
            }
        }
        self.len = end;
        match &mut self.scratch {
            Some(s) => &mut s.bytes_mut()[start..end],
            None => {
                self.vec.resize(end, 0);
                &mut self.vec[start..end]
            }
        }
    }

    fn joined(&self) -> &[u8] {
        match &self.scratch {
            Some(s) => &s.bytes()[..self.len],
            None => &self.vec,
        }
    }

    /// The message joined.
    pub(crate) fn into_vec(self) -> Vec<u8> {
        match self.scratch {
            Some(s) => s.bytes()[..self.len].to_vec(),
            None => self.vec,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // Maps scratch memory (a system call) and fills megabytes: not for Miri.
    #[cfg_attr(miri, ignore)]
    fn joins_across_the_move_to_scratch_memory() {
        let mut a = Assembly::default();
        let mut want = Vec::new();
        for (i, n) in [0, 5, IN_VEC - 5, 1, 3 * IN_VEC, 7].into_iter().enumerate() {
            a.grow(n).fill(i as u8);
            want.extend(std::iter::repeat_n(i as u8, n));
            assert_eq!(a.len(), want.len());
        }
        assert!(a.scratch.is_some());
        assert_eq!(a.into_vec(), want);
    }
}
