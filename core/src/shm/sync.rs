//! Every atomic the shared-memory rings use, in one place, so that the loom model checker can
//! swap in its own types (see the `loom_model` tests at the end of `ring.rs`).
//!
//! The switch is the custom cfg `libipc_loom`, not `loom`: tokio has its own `cfg(loom)` code
//! paths, and building the crate with `--cfg loom` breaks it. Run the model with
//! `RUSTFLAGS="--cfg libipc_loom" cargo test -p libipc --lib --release loom_model` (in its own
//! target directory). A build with this cfg is only good for that test: the real transport would
//! place loom's bookkeeping types over shared memory.

#[cfg(not(libipc_loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

#[cfg(libipc_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
