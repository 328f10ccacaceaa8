//! The CLI's one error type: a single line for humans, printed as `ipc: <message>`.
//!
//! It is the bench library's ([`libipc_bench::Fail`], bench/common), so that the bench's
//! links and loops, shared with pipe-bench, report errors the same way as the rest of `ipc`.

pub use libipc_bench::{Context, Fail, Result};
