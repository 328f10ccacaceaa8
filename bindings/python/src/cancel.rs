//! `libipc.Cancel`: the core's cancellation handle, for the `cancel=` keyword of every
//! blocking call.

use std::os::fd::AsRawFd;

use pyo3::prelude::*;

use crate::errors::IntoPy;

/// A cancellation handle: `cancel()` ends every blocking call given it (`cancel=`), on any
/// thread, with `CancelledError`, and later ones at once, until `reset()`. A cancelled call
/// has lost nothing. Writing a byte to `fileno()` also cancels (safe from a signal handler
/// or another process's side of a pipe).
#[pyclass(frozen, module = "libipc")]
pub(crate) struct Cancel {
    pub(crate) inner: libipc::Cancel,
}

#[pymethods]
impl Cancel {
    #[new]
    fn new(py: Python<'_>) -> PyResult<Cancel> {
        Ok(Cancel {
            inner: libipc::Cancel::new().py_err(py)?,
        })
    }

    /// Cancel: blocked and later calls given this handle raise `CancelledError`.
    fn cancel(&self) {
        self.inner.cancel();
    }

    /// Make the handle usable again.
    fn reset(&self) {
        self.inner.reset();
    }

    /// Whether the handle is cancelled.
    #[getter]
    fn cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    /// A non-blocking descriptor: writing any byte to it cancels.
    fn fileno(&self) -> i32 {
        self.inner.signal_fd().as_raw_fd()
    }

    fn __repr__(&self) -> String {
        format!("<libipc.Cancel cancelled={}>", self.inner.is_cancelled())
    }
}

/// The core handle of an optional `cancel=` argument.
pub(crate) fn core<'a>(c: &'a Option<Bound<'_, Cancel>>) -> Option<&'a libipc::Cancel> {
    c.as_ref().map(|c| &c.get().inner)
}
