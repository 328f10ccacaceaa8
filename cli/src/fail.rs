//! The CLI's one error type is the bench library's (`bench/common/src/fail.rs`, shared with
//! pipe-bench): a single line for humans, printed as `ipc: <kind>: <message>`, the libipc error
//! kind (in lower-case words from the core's table) kept through every added context.

pub use libipc_bench::{Context, Fail, Result};
