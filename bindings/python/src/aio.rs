//! asyncio: `aio_listen`, `aio_connect`, `AsyncListener`, `AsyncChannel` (re-exported by
//! `libipc.aio` as `listen` / `connect`). The core's tokio API runs on pyo3-async-runtimes'
//! runtime; each method returns an awaitable and never blocks the event loop. Cancelling the
//! awaitable drops the core future, and the core's futures are cancellation-safe: a cancelled
//! `recv` loses no message.

use std::sync::Arc;

use libipc::ErrorKind;
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3_async_runtimes::tokio::future_into_py;

use crate::channel::{self, Peer};
use crate::errors;
use crate::listener;
use crate::options::Common;
use crate::views;

/// A core error inside a future, as the Python exception.
fn py_err(e: libipc::Error) -> PyErr {
    Python::attach(|py| errors::to_py(py, &e))
}

/// Listen at `endpoint` (awaitable giving an `AsyncListener`).
#[pyfunction]
#[pyo3(signature = (endpoint, *, max_message_size=None, socket_mode=None, handshake_timeout=None,
    allowed_uids=None, shm_ring_size=None, shm_spin=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn aio_listen<'py>(
    py: Python<'py>,
    endpoint: String,
    max_message_size: Option<usize>,
    socket_mode: Option<u32>,
    handshake_timeout: Option<f64>,
    allowed_uids: Option<Bound<'py, PyAny>>,
    shm_ring_size: Option<usize>,
    shm_spin: Option<f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = listener::listen_options(
        py,
        max_message_size,
        socket_mode,
        handshake_timeout,
        allowed_uids,
        shm_ring_size,
        shm_spin,
    )?;
    future_into_py(py, async move {
        let inner = libipc::aio::AsyncListener::bind_with(endpoint.as_str(), &opts)
            .await
            .map_err(py_err)?;
        let endpoint = inner.local_endpoint().to_string();
        Ok(AsyncListener {
            inner: Arc::new(inner),
            endpoint,
        })
    })
}

/// Connect to `endpoint` (awaitable giving an `AsyncChannel`).
#[pyfunction]
#[pyo3(signature = (endpoint, timeout=None, *, max_message_size=None, connect_timeout=Some(10.0),
    handshake_timeout=None, allowed_uids=None, shm_spin=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn aio_connect<'py>(
    py: Python<'py>,
    endpoint: String,
    timeout: Option<f64>,
    max_message_size: Option<usize>,
    connect_timeout: Option<f64>,
    handshake_timeout: Option<f64>,
    allowed_uids: Option<Bound<'py, PyAny>>,
    shm_spin: Option<f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = channel::connect_options(
        py,
        timeout,
        connect_timeout,
        Common {
            max_message_size,
            handshake_timeout,
            allowed_uids: channel::uids(allowed_uids)?,
            shm_spin,
        },
    )?;
    future_into_py(py, async move {
        let inner = libipc::aio::AsyncChannel::connect_with(endpoint.as_str(), &opts)
            .await
            .map_err(py_err)?;
        Ok(AsyncChannel { inner })
    })
}

/// A bound endpoint accepting channels, for asyncio.
#[pyclass(frozen, module = "libipc.aio")]
pub(crate) struct AsyncListener {
    inner: Arc<libipc::aio::AsyncListener>,
    endpoint: String,
}

#[pymethods]
impl AsyncListener {
    /// Await the next client.
    fn accept<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let l = Arc::clone(&self.inner);
        future_into_py(py, async move {
            let inner = l.accept().await.map_err(py_err)?;
            Ok(AsyncChannel { inner })
        })
    }

    /// Stop accepting: pending and later `accept` calls raise `ClosedError`.
    fn close(&self) {
        self.inner.close();
    }

    /// The endpoint clients connect to.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let l = Arc::clone(&self.inner);
        future_into_py(py, async move {
            match l.accept().await {
                Ok(inner) => Ok(AsyncChannel { inner }),
                Err(e) if e.kind() == ErrorKind::Closed => Err(PyStopAsyncIteration::new_err(())),
                Err(e) => Err(py_err(e)),
            }
        })
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let me = slf.clone().unbind();
        future_into_py(slf.py(), async move { Ok(me) })
    }

    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc_type: &Bound<'py, PyAny>,
        _exc: &Bound<'py, PyAny>,
        _tb: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.close();
        future_into_py(py, async move { Ok(false) })
    }

    fn __repr__(&self) -> String {
        format!("<libipc.aio.AsyncListener {}>", self.endpoint)
    }
}

/// A connected channel, for asyncio.
#[pyclass(frozen, module = "libipc.aio")]
pub(crate) struct AsyncChannel {
    inner: libipc::aio::AsyncChannel,
}

#[pymethods]
impl AsyncChannel {
    /// Await sending one message (any C-contiguous buffer; copied first).
    fn send<'py>(&self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let bytes = match data.cast::<PyBytes>() {
            Ok(b) => b.as_bytes().to_vec(),
            Err(_) => views::buffer_bytes(py, data)?,
        };
        let ch = self.inner.clone();
        future_into_py(py, async move { ch.send(&bytes).await.map_err(py_err) })
    }

    /// Await the next message (bytes).
    fn recv<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let ch = self.inner.clone();
        future_into_py(py, async move {
            let m = ch.recv().await.map_err(py_err)?;
            Ok(Python::attach(|py| PyBytes::new(py, &m).unbind()))
        })
    }

    /// Await closing: the peer receives everything sent so far, then `ClosedError`.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let ch = self.inner.clone();
        future_into_py(py, async move {
            ch.close().await;
            Ok(())
        })
    }

    /// The peer's credentials.
    #[getter]
    fn peer(&self) -> Peer {
        let p = self.inner.peer();
        Peer::new(p.pid, p.uid, p.gid)
    }

    /// The largest message `send` accepts on this channel.
    #[getter]
    fn max_message_size(&self) -> usize {
        self.inner.max_message_size()
    }

    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let ch = self.inner.clone();
        future_into_py(py, async move {
            match ch.recv().await {
                Ok(m) => Ok(Python::attach(|py| PyBytes::new(py, &m).unbind())),
                Err(e) if e.kind() == ErrorKind::Closed => Err(PyStopAsyncIteration::new_err(())),
                Err(e) => Err(py_err(e)),
            }
        })
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let me = slf.clone().unbind();
        future_into_py(slf.py(), async move { Ok(me) })
    }

    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc_type: &Bound<'py, PyAny>,
        _exc: &Bound<'py, PyAny>,
        _tb: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ch = self.inner.clone();
        future_into_py(py, async move {
            ch.close().await;
            Ok(false)
        })
    }
}
