//! Parent and child: `ChildEnd` (the core's `libipc::spawn::ChildEnd`), and the options of
//! `Channel.pair`, `Channel.from_env` and `libipc.spawn` (whose `Popen` call is the only Python
//! side of it, in `python/libipc/_spawn.py`).

use std::sync::Mutex;

use libipc::{ErrorKind, Options};
use pyo3::prelude::*;

use crate::channel::Channel;
use crate::errors::{self, IntoPy};
use crate::options::Common;

/// The options that matter for a socket pair (the rest are for sockets and shared memory).
pub(crate) fn pair_options(
    py: Python<'_>,
    max_message_size: Option<i128>,
    handshake_timeout: Option<f64>,
    stream_spin: Option<f64>,
) -> PyResult<Options> {
    Common {
        max_message_size,
        handshake_timeout,
        stream_spin,
        ..Common::default()
    }
    .build(py)
}

/// The parent's half of a channel to a child process not yet started (see the package
/// README): inherit `fd` in the child at the same number, set `env_name` to `env_value` in its
/// environment, start it, then `finish(pid)`.
#[pyclass(frozen, module = "libipc")]
pub(crate) struct ChildEnd {
    inner: Mutex<Option<libipc::spawn::ChildEnd>>,
    fd: i32,
    env_value: String,
}

fn gone(py: Python<'_>) -> PyErr {
    errors::raise(
        py,
        ErrorKind::Closed.code(),
        "this ChildEnd was already finished or closed",
    )
}

#[pymethods]
impl ChildEnd {
    #[new]
    #[pyo3(signature = (*, max_message_size=None, handshake_timeout=None, stream_spin=None))]
    fn new(
        py: Python<'_>,
        max_message_size: Option<i128>,
        handshake_timeout: Option<f64>,
        stream_spin: Option<f64>,
    ) -> PyResult<ChildEnd> {
        let opts = pair_options(py, max_message_size, handshake_timeout, stream_spin)?;
        let end = libipc::spawn::ChildEnd::with_options(&opts).py_err(py)?;
        Ok(ChildEnd {
            fd: end.child_fd(),
            env_value: end.env_value(),
            inner: Mutex::new(Some(end)),
        })
    }

    /// The descriptor the child must inherit, at this number (``pass_fds=[end.fd]``).
    #[getter]
    fn fd(&self) -> i32 {
        self.fd
    }

    /// ``"LIBIPC_CHANNEL_FD"``.
    #[getter]
    fn env_name(&self) -> &'static str {
        libipc::spawn::CHANNEL_FD_ENV
    }

    /// The variable's value: the descriptor number, in decimal.
    #[getter]
    fn env_value(&self) -> &str {
        &self.env_value
    }

    /// After the child started: close its end here and wait (at most the handshake timeout,
    /// with the GIL released) for it to open the channel. Raises `PeerDisconnectedError` if
    /// the child exited or closed its end without opening it, `TimeoutError` if it did not
    /// open it in time.
    fn finish(&self, py: Python<'_>, pid: u32) -> PyResult<Channel> {
        let end = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| gone(py))?;
        let ch = py.detach(|| end.finish(pid)).py_err(py)?;
        Ok(Channel::new(ch))
    }

    /// Close both halves without finishing (idempotent).
    fn close(&self) {
        drop(self.inner.lock().unwrap_or_else(|p| p.into_inner()).take());
    }

    fn __repr__(&self) -> String {
        format!(
            "<libipc.ChildEnd {}={}>",
            libipc::spawn::CHANNEL_FD_ENV,
            self.env_value
        )
    }
}
