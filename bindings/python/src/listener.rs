//! `Listener` (blocking) and `listen`.

use std::time::Duration;

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;

use crate::cancel::{self, Cancel};
use crate::channel::{self, Channel};
use crate::errors::IntoPy;
use crate::options::{self, Common};
use crate::wait::{Start, blocking};

/// A bound endpoint accepting channels (see the package README). Thread-safe.
#[pyclass(frozen, module = "libipc")]
pub(crate) struct Listener {
    inner: libipc::Listener,
    endpoint: String,
}

/// The options of a listen call.
#[allow(clippy::too_many_arguments)]
pub(crate) fn listen_options(
    py: Python<'_>,
    max_message_size: Option<i128>,
    socket_mode: Option<i128>,
    handshake_timeout: Option<f64>,
    allowed_uids: Option<Bound<'_, PyAny>>,
    allowed_gids: Option<Bound<'_, PyAny>>,
    shm_ring_size: Option<i128>,
    shm_spin: Option<f64>,
    stream_spin: Option<f64>,
    shm_posix_fallback: Option<bool>,
    max_connections: Option<i128>,
    frame_timeout: Option<f64>,
) -> PyResult<libipc::Options> {
    let mut o = Common {
        max_message_size,
        handshake_timeout,
        allowed_uids: channel::uids(allowed_uids)?,
        allowed_gids: channel::uids(allowed_gids)?,
        shm_spin,
        stream_spin,
        shm_posix_fallback,
        frame_timeout,
    }
    .build(py)?;
    if let Some(n) = max_connections {
        o = o.with_max_connections(options::whole(py, "max_connections", n)?);
    }
    if let Some(mode) = socket_mode {
        o = o.with_socket_mode(options::whole(py, "socket_mode", mode)?);
    }
    if let Some(n) = shm_ring_size {
        o = o.with_shm_ring_size(options::whole(py, "shm_ring_size", n)?);
    }
    Ok(o)
}

/// Listen at `endpoint`.
#[pyfunction]
#[pyo3(signature = (endpoint, *, max_message_size=None, socket_mode=None, handshake_timeout=None,
    allowed_uids=None, allowed_gids=None, shm_ring_size=None, shm_spin=None, stream_spin=None, shm_posix_fallback=None,
    max_connections=None, frame_timeout=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn listen(
    py: Python<'_>,
    endpoint: &str,
    max_message_size: Option<i128>,
    socket_mode: Option<i128>,
    handshake_timeout: Option<f64>,
    allowed_uids: Option<Bound<'_, PyAny>>,
    allowed_gids: Option<Bound<'_, PyAny>>,
    shm_ring_size: Option<i128>,
    shm_spin: Option<f64>,
    stream_spin: Option<f64>,
    shm_posix_fallback: Option<bool>,
    max_connections: Option<i128>,
    frame_timeout: Option<f64>,
) -> PyResult<Listener> {
    let opts = listen_options(
        py,
        max_message_size,
        socket_mode,
        handshake_timeout,
        allowed_uids,
        allowed_gids,
        shm_ring_size,
        shm_spin,
        stream_spin,
        shm_posix_fallback,
        max_connections,
        frame_timeout,
    )?;
    let inner = py
        .detach(|| libipc::Listener::bind_with(endpoint, &opts))
        .py_err(py)?;
    let endpoint = inner.local_endpoint().to_string();
    Ok(Listener { inner, endpoint })
}

#[pymethods]
impl Listener {
    /// Wait for the next client (`None`: no limit).
    #[pyo3(signature = (timeout=None, *, cancel=None))]
    fn accept(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
        cancel: Option<Bound<'_, Cancel>>,
    ) -> PyResult<Channel> {
        let t = options::timeout(py, timeout)?;
        self.accept_for(py, t, cancel::core(&cancel))
    }

    /// Stop accepting: blocked and later `accept` calls raise `ClosedError`; when it returns,
    /// new clients are refused and the socket file is gone.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
    }

    /// The endpoint clients connect to (for `tcp://host:0`, with the real port).
    #[getter]
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Readable while a client waits to be accepted.
    fn fileno(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.inner.as_raw_fd()
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Channel> {
        match self.accept_for(py, None, None) {
            Err(e) if channel::is_closed(py, &e) => Err(PyStopIteration::new_err(())),
            r => r,
        }
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        format!("<libipc.Listener {}>", self.endpoint)
    }
}

impl Listener {
    fn accept_for(
        &self,
        py: Python<'_>,
        t: Option<Duration>,
        cancel: Option<&libipc::Cancel>,
    ) -> PyResult<Channel> {
        let ch = blocking(py, t, cancel, Start::TryFirst, |w| {
            self.inner.accept_wait(w)
        })?;
        Ok(Channel::new(ch))
    }
}
