//! asyncio: `aio_listen`, `aio_connect`, `AsyncListener`, `AsyncChannel` (re-exported by
//! `libipc.aio` as `listen` / `connect`). The core's tokio API runs on pyo3-async-runtimes'
//! runtime; each method returns an awaitable and never blocks the event loop.
//!
//! Cancellation: a Python future can be cancelled after the Rust side has already received a
//! message, whose result would then be dropped. So `recv` / `accept` do not return what the
//! core delivered: a Rust future (`_fill`) puts it into an inbox, and the coroutine from
//! `libipc._aio_support` takes it out synchronously afterwards. Cancelled in between, the item
//! waits in the inbox for the next call. At most one `_fill` receives at a time (FIFO kept).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
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

/// Items the core delivered that no caller has taken yet, and the lock that lets one future
/// at a time wait for more.
struct Inbox<T> {
    items: Mutex<VecDeque<T>>,
    filling: tokio::sync::Mutex<()>,
}

impl<T> Inbox<T> {
    fn new() -> Arc<Inbox<T>> {
        Arc::new(Inbox {
            items: Mutex::new(VecDeque::new()),
            filling: tokio::sync::Mutex::new(()),
        })
    }

    fn items(&self) -> std::sync::MutexGuard<'_, VecDeque<T>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(&self) -> Option<T> {
        self.items().pop_front()
    }

    /// Wait (one filler at a time) until the inbox holds an item, getting it from `next`.
    async fn fill<F: Future<Output = libipc::Result<T>>>(&self, next: F) -> PyResult<()> {
        let _one = self.filling.lock().await;
        if !self.items().is_empty() {
            return Ok(());
        }
        // No await between the core handing the item over and the push: a cancellation
        // (dropping this future) either leaves the item in the core or finds it pushed.
        let item = next.await.map_err(py_err)?;
        self.items().push_back(item);
        Ok(())
    }
}

/// `libipc._aio_support.<name>(obj)`: the coroutine that takes from `obj`'s inbox.
fn support<'py>(obj: Bound<'py, PyAny>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let py = obj.py();
    let m = MODULE.get_or_try_init(py, || -> PyResult<Py<PyModule>> {
        Ok(py.import("libipc._aio_support")?.unbind())
    })?;
    m.bind(py).getattr(name)?.call1((obj,))
}

/// Listen at `endpoint` (awaitable giving an `AsyncListener`).
#[pyfunction]
#[pyo3(signature = (endpoint, *, max_message_size=None, socket_mode=None, handshake_timeout=None,
    allowed_uids=None, shm_ring_size=None, shm_spin=None, stream_spin=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn aio_listen<'py>(
    py: Python<'py>,
    endpoint: String,
    max_message_size: Option<i128>,
    socket_mode: Option<i128>,
    handshake_timeout: Option<f64>,
    allowed_uids: Option<Bound<'py, PyAny>>,
    shm_ring_size: Option<i128>,
    shm_spin: Option<f64>,
    stream_spin: Option<f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = listener::listen_options(
        py,
        max_message_size,
        socket_mode,
        handshake_timeout,
        allowed_uids,
        shm_ring_size,
        shm_spin,
        stream_spin,
    )?;
    future_into_py(py, async move {
        let inner = libipc::aio::AsyncListener::bind_with(endpoint.as_str(), &opts)
            .await
            .map_err(py_err)?;
        let endpoint = inner.local_endpoint().to_string();
        Ok(AsyncListener {
            inner: Arc::new(inner),
            endpoint,
            inbox: Inbox::new(),
        })
    })
}

/// Connect to `endpoint` (awaitable giving an `AsyncChannel`).
#[pyfunction]
#[pyo3(signature = (endpoint, timeout=None, *, max_message_size=None, connect_timeout=Some(10.0),
    handshake_timeout=None, allowed_uids=None, shm_spin=None, stream_spin=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn aio_connect<'py>(
    py: Python<'py>,
    endpoint: String,
    timeout: Option<f64>,
    max_message_size: Option<i128>,
    connect_timeout: Option<f64>,
    handshake_timeout: Option<f64>,
    allowed_uids: Option<Bound<'py, PyAny>>,
    shm_spin: Option<f64>,
    stream_spin: Option<f64>,
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
            stream_spin,
        },
    )?;
    future_into_py(py, async move {
        let inner = libipc::aio::AsyncChannel::connect_with(endpoint.as_str(), &opts)
            .await
            .map_err(py_err)?;
        Ok(AsyncChannel::new(inner))
    })
}

/// A bound endpoint accepting channels, for asyncio.
#[pyclass(frozen, module = "libipc.aio")]
pub(crate) struct AsyncListener {
    inner: Arc<libipc::aio::AsyncListener>,
    endpoint: String,
    inbox: Arc<Inbox<libipc::aio::AsyncChannel>>,
}

#[pymethods]
impl AsyncListener {
    /// Await the next client.
    fn accept(slf: Bound<'_, Self>) -> PyResult<Bound<'_, PyAny>> {
        support(slf.into_any(), "take_or_fill")
    }

    /// An accepted channel nobody has taken yet, or `None`.
    fn _take(&self) -> Option<AsyncChannel> {
        self.inbox.take().map(AsyncChannel::new)
    }

    /// Await one more accepted channel into the inbox.
    fn _fill<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (l, inbox) = (Arc::clone(&self.inner), Arc::clone(&self.inbox));
        future_into_py(py, async move { inbox.fill(l.accept()).await })
    }

    /// Stop accepting: pending and later `accept` calls raise `ClosedError`.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
    }

    /// The endpoint clients connect to.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __anext__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, PyAny>> {
        support(slf.into_any(), "next_or_stop")
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
        self.close(py);
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
    inbox: Arc<Inbox<libipc::Message>>,
}

impl AsyncChannel {
    fn new(inner: libipc::aio::AsyncChannel) -> AsyncChannel {
        AsyncChannel {
            inner,
            inbox: Inbox::new(),
        }
    }
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

    /// Await the next message (bytes). Cancelling it loses nothing.
    fn recv(slf: Bound<'_, Self>) -> PyResult<Bound<'_, PyAny>> {
        support(slf.into_any(), "take_or_fill")
    }

    /// A received message nobody has taken yet, or `None`.
    fn _take<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inbox.take().map(|m| PyBytes::new(py, &m))
    }

    /// Await one more message into the inbox.
    fn _fill<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (ch, inbox) = (self.inner.clone(), Arc::clone(&self.inbox));
        future_into_py(py, async move { inbox.fill(ch.recv()).await })
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

    fn __anext__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, PyAny>> {
        support(slf.into_any(), "next_or_stop")
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
