//! Core errors as Python exceptions: the classes live in `libipc._errors` (pure Python, so
//! that each can also subclass its builtin: `TimeoutError`, `FileNotFoundError`, ...); they are
//! looked up once by their stable code.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

/// `libipc._errors.BY_CODE`, fetched once.
static BY_CODE: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

fn class_for(py: Python<'_>, code: u16) -> PyResult<Bound<'_, PyAny>> {
    let by_code = BY_CODE.get_or_try_init(py, || -> PyResult<Py<PyDict>> {
        let module = py.import("libipc._errors")?;
        Ok(module.getattr("BY_CODE")?.cast_into::<PyDict>()?.unbind())
    })?;
    let by_code = by_code.bind(py);
    match by_code.get_item(code)? {
        Some(cls) => Ok(cls),
        // A kind newer than the Python package: the base class still says what happened.
        None => py.import("libipc._errors")?.getattr("Error"),
    }
}

/// The Python exception for a core error (`BufferTooSmallError` with `needed` set,
/// `RemoteError` with `status`).
pub(crate) fn to_py(py: Python<'_>, e: &libipc::Error) -> PyErr {
    let err = raise(py, e.kind().code(), &e.to_string());
    if let Some(needed) = e.needed() {
        let _ = err.value(py).setattr("needed", needed);
    }
    if let Some(status) = e.status() {
        let _ = err.value(py).setattr("status", status);
        let _ = err.value(py).setattr("text", e.message());
    }
    err
}

/// An exception of the class registered for `code`, with `message`.
pub(crate) fn raise(py: Python<'_>, code: u16, message: &str) -> PyErr {
    match class_for(py, code).and_then(|cls| cls.call1((message,))) {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// Convert a core result for Python.
pub(crate) trait IntoPy<T> {
    /// The value, or the matching Python exception.
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for libipc::Result<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, &e))
    }
}
