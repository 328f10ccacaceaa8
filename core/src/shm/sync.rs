//! Every atomic the shared-memory rings use, in one place, so that the loom model checker can
//! swap in its own types under `cfg(loom)` (see `ring.rs`'s model tests).

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// Spin-wait hint.
#[cfg(not(loom))]
pub(crate) fn spin() {
    std::hint::spin_loop();
}

/// Spin-wait hint: under loom, yield so the model explores other threads.
#[cfg(loom)]
pub(crate) fn spin() {
    loom::thread::yield_now();
}
