//! Blocking calls from Python: the GIL is released while waiting, and a long wait is cut into
//! slices with a signal check between them, so Ctrl-C raises `KeyboardInterrupt` promptly.

use std::time::{Duration, Instant};

use libipc::ErrorKind;
use pyo3::prelude::*;

use crate::errors;

/// The longest a blocking call waits before it looks at pending signals.
const SLICE: Duration = Duration::from_millis(50);

/// Run `op` with the GIL released until it succeeds, fails with something other than
/// `Timeout`, or `timeout` (`None`: no limit) passes. `op` gets the longest it may wait;
/// `Duration::ZERO` means "do not wait". A `Timeout` from `op` must mean that nothing happened
/// (true of every core call used here), so it can be retried.
pub(crate) fn blocking<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    mut op: impl FnMut(Duration) -> libipc::Result<T> + Send,
) -> PyResult<T> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let slice = match deadline {
            None => SLICE,
            Some(end) => end.saturating_duration_since(Instant::now()).min(SLICE),
        };
        match py.detach(|| op(slice)) {
            Ok(v) => return Ok(v),
            Err(e) if e.kind() == ErrorKind::Timeout => {
                if deadline.is_some_and(|end| Instant::now() >= end) {
                    return Err(errors::to_py(py, &e));
                }
                py.check_signals()?;
            }
            Err(e) => return Err(errors::to_py(py, &e)),
        }
    }
}
