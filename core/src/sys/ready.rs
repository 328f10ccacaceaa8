//! [`Ready`]: what a wait saw, the same on every backend.

/// What `wait_any` saw: which sources are ready (bit `i` for `sources[i]`), and whether
/// the waker fired. Nothing at all means the deadline passed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Ready {
    /// Bit `i`: `sources[i]` is ready (set by the backends).
    pub(super) bits: u32,
    /// A waker fired (set by the backends).
    pub(super) cancelled: bool,
}

impl Ready {
    /// Source `i` is ready.
    #[cfg_attr(any(not(feature = "tokio"), not(unix)), allow(dead_code))] // the async driver's
    pub(crate) fn source(i: usize) -> Ready {
        Ready {
            bits: 1 << i,
            cancelled: false,
        }
    }

    /// Whether source `i` is ready.
    #[cfg_attr(not(unix), allow(dead_code))] // asked by links with several sources (shm)
    pub(crate) fn is(self, i: usize) -> bool {
        self.bits & (1 << i) != 0
    }

    /// Whether the waker fired.
    pub(crate) fn cancelled(self) -> bool {
        self.cancelled
    }

    /// Whether the deadline passed with nothing ready.
    pub(crate) fn timed_out(self) -> bool {
        self.bits == 0 && !self.cancelled
    }

    /// What a wait on two lists of sources put end to end saw, as two: the first `n`
    /// sources, and the rest (numbered from 0). Both carry whether a waker fired.
    pub(crate) fn split(self, n: usize) -> (Ready, Ready) {
        let first = if n >= 32 {
            self.bits
        } else {
            self.bits & ((1 << n) - 1)
        };
        let rest = if n >= 32 { 0 } else { self.bits >> n };
        (
            Ready {
                bits: first,
                cancelled: self.cancelled,
            },
            Ready {
                bits: rest,
                cancelled: self.cancelled,
            },
        )
    }
}
