//! Publish/subscribe (`libipc::pubsub`): `publisher` / `Publisher` and `subscribe` /
//! `Subscriber` / `Delivery`. Thin: queues, the overflow policy, sequence numbers, drop
//! reports and topic filtering are the core's; this file converts arguments and releases the
//! GIL. The asyncio forms (`libipc/aio.py`) use `try_recv` and the descriptor.

use libipc::pubsub::{DEFAULT_DEPTH, Policy, Publisher as CorePublisher, Subscriber as CoreSub};
use libipc::{ErrorKind, Wait};
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::cancel::{self, Cancel};
use crate::channel::{connect_options, is_closed, uids};
use crate::errors::{self, IntoPy};
use crate::listener::listen_options;
use crate::options::{self, Common};
use crate::views;
use crate::wait::{Start, blocking};

/// A publisher (see the package README). Thread-safe.
#[pyclass(frozen, module = "libipc")]
pub(crate) struct Publisher {
    inner: CorePublisher,
    endpoint: String,
}

/// A subscriber: receives, in order, what its publisher publishes on the topics it asked for.
#[pyclass(frozen, module = "libipc")]
pub(crate) struct Subscriber {
    inner: CoreSub,
}

/// One received message: `topic`, `payload`, `seq` (its number for this subscriber) and
/// `dropped` (messages for this subscriber dropped just before it).
#[pyclass(frozen, get_all, module = "libipc")]
pub(crate) struct Delivery {
    topic: Py<PyBytes>,
    payload: Py<PyBytes>,
    seq: u64,
    dropped: u64,
}

#[pymethods]
impl Delivery {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<libipc.Delivery seq={} dropped={} topic={:?} {} bytes>",
            self.seq,
            self.dropped,
            String::from_utf8_lossy(self.topic.bind(py).as_bytes()),
            self.payload.bind(py).as_bytes().len()
        )
    }
}

fn bytes_of(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    match data.cast::<PyBytes>() {
        Ok(b) => Ok(b.as_bytes().to_vec()),
        Err(_) => views::buffer_bytes(py, data),
    }
}

fn invalid(py: Python<'_>, message: &str) -> PyErr {
    errors::raise(py, ErrorKind::InvalidArgument.code(), message)
}

/// Publish at `endpoint`. `overflow` is `"drop_oldest"` (the default) or `"block"` (then
/// `block_timeout` seconds bound one publish's wait for full subscribers); `depth` is the
/// messages queued per subscriber.
#[pyfunction]
#[pyo3(signature = (endpoint, *, overflow="drop_oldest", block_timeout=None, depth=None,
    max_message_size=None, socket_mode=None, handshake_timeout=None, allowed_uids=None,
    allowed_gids=None, shm_ring_size=None, shm_spin=None, stream_spin=None,
    shm_posix_fallback=None, max_connections=None, frame_timeout=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn publisher(
    py: Python<'_>,
    endpoint: &str,
    overflow: &str,
    block_timeout: Option<f64>,
    depth: Option<i128>,
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
) -> PyResult<Publisher> {
    let depth = match depth {
        None => DEFAULT_DEPTH,
        Some(d) => options::whole(py, "depth", d)?,
    };
    let policy = match (overflow, block_timeout) {
        ("drop_oldest", None) => Policy::drop_oldest(depth),
        ("drop_oldest", Some(_)) => {
            return Err(invalid(py, "block_timeout is for overflow=\"block\""));
        }
        ("block", t) => Policy::block(
            options::seconds(py, "block_timeout", t.unwrap_or(10.0))?,
            depth,
        ),
        (other, _) => {
            return Err(invalid(
                py,
                &format!("overflow is {other:?}: \"drop_oldest\" or \"block\""),
            ));
        }
    };
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
        .detach(|| CorePublisher::bind_with(endpoint, &opts, policy))
        .py_err(py)?;
    let endpoint = inner.local_endpoint().to_string();
    Ok(Publisher { inner, endpoint })
}

/// Subscribe at `endpoint` to the topics starting with one of `topics` (empty: every topic).
#[pyfunction]
#[pyo3(signature = (endpoint, topics=None, timeout=None, *, max_message_size=None,
    connect_timeout=Some(10.0), handshake_timeout=None, allowed_uids=None, allowed_gids=None,
    shm_spin=None, stream_spin=None, shm_posix_fallback=None, frame_timeout=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn subscribe(
    py: Python<'_>,
    endpoint: &str,
    topics: Option<Bound<'_, PyAny>>,
    timeout: Option<f64>,
    max_message_size: Option<i128>,
    connect_timeout: Option<f64>,
    handshake_timeout: Option<f64>,
    allowed_uids: Option<Bound<'_, PyAny>>,
    allowed_gids: Option<Bound<'_, PyAny>>,
    shm_spin: Option<f64>,
    stream_spin: Option<f64>,
    shm_posix_fallback: Option<bool>,
    frame_timeout: Option<f64>,
) -> PyResult<Subscriber> {
    let mut prefixes: Vec<Vec<u8>> = Vec::new();
    if let Some(t) = topics {
        if t.is_instance_of::<PyBytes>() || t.is_instance_of::<pyo3::types::PyString>() {
            return Err(invalid(
                py,
                "topics is a list of prefixes (bytes or str), not one prefix",
            ));
        }
        for p in t.try_iter()? {
            let p = p?;
            prefixes.push(match p.extract::<String>() {
                Ok(s) => s.into_bytes(),
                Err(_) => bytes_of(py, &p)?,
            });
        }
    }
    let opts = connect_options(
        py,
        timeout,
        connect_timeout,
        Common {
            max_message_size,
            handshake_timeout,
            allowed_uids: uids(allowed_uids)?,
            allowed_gids: uids(allowed_gids)?,
            shm_spin,
            stream_spin,
            shm_posix_fallback,
            frame_timeout,
        },
    )?;
    let inner = py
        .detach(|| CoreSub::connect_with(endpoint, &opts, &prefixes))
        .py_err(py)?;
    Ok(Subscriber { inner })
}

/// A topic or payload argument: bytes-like, or `str` (UTF-8).
fn topic_bytes(py: Python<'_>, topic: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    match topic.extract::<String>() {
        Ok(s) => Ok(s.into_bytes()),
        Err(_) => bytes_of(py, topic),
    }
}

#[pymethods]
impl Publisher {
    /// Publish `data` under `topic` to every subscriber whose prefixes match; how many it was
    /// queued for. Waits only with `overflow="block"`, for full subscribers.
    #[pyo3(signature = (data, topic=None))]
    fn publish(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        topic: Option<Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        let payload = bytes_of(py, data)?;
        let topic = match topic {
            None => Vec::new(),
            Some(t) => topic_bytes(py, &t)?,
        };
        py.detach(|| self.inner.publish(&topic, &payload))
            .py_err(py)
    }

    /// Wait until at least `count` subscribers are connected.
    #[pyo3(signature = (count, timeout=None, *, cancel=None))]
    fn wait_for_subscribers(
        &self,
        py: Python<'_>,
        count: usize,
        timeout: Option<f64>,
        cancel: Option<Bound<'_, Cancel>>,
    ) -> PyResult<()> {
        let t = options::timeout(py, timeout)?;
        blocking(py, t, cancel::core(&cancel), Start::TryFirst, |w| {
            self.inner.wait_for_subscribers(count, w)
        })
    }

    /// Subscribers connected now.
    #[getter]
    fn subscribers(&self) -> usize {
        self.inner.subscribers()
    }

    /// `(subscribers, published, dropped, cut_off)`: the publisher's counters.
    #[getter]
    fn stats(&self) -> (usize, u64, u64, u64) {
        let s = self.inner.stats();
        (s.subscribers, s.published, s.dropped, s.cut_off)
    }

    /// The endpoint subscribers connect to.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Stop accepting and end every subscription after what is queued for it, waiting at
    /// most `timeout` seconds (None: until each took its messages or took none for the
    /// handshake timeout); whether every subscriber was served.
    #[pyo3(signature = (timeout=None))]
    fn close(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let t = options::timeout(py, timeout)?;
        Ok(py.detach(|| match t {
            None => {
                self.inner.close();
                true
            }
            Some(d) => self.inner.close_wait(d),
        }))
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
    ) -> PyResult<bool> {
        self.close(py, None)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("<libipc.Publisher {}>", self.endpoint)
    }
}

fn delivery(py: Python<'_>, d: libipc::pubsub::Delivery) -> Delivery {
    Delivery {
        topic: PyBytes::new(py, d.topic()).unbind(),
        payload: PyBytes::new(py, d.payload()).unbind(),
        seq: d.seq(),
        dropped: d.dropped(),
    }
}

#[pymethods]
impl Subscriber {
    /// The next message (`ClosedError` once the publisher closed, after everything it sent;
    /// `LaggedError` if it cut this subscriber off).
    #[pyo3(signature = (timeout=None, *, cancel=None))]
    fn recv(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
        cancel: Option<Bound<'_, Cancel>>,
    ) -> PyResult<Delivery> {
        let t = options::timeout(py, timeout)?;
        let d = blocking(py, t, cancel::core(&cancel), Start::TryFirst, |w| {
            self.inner.recv_wait(w)
        })?;
        Ok(delivery(py, d))
    }

    /// The next message if one is there now, else `None`.
    fn try_recv(&self, py: Python<'_>) -> PyResult<Option<Delivery>> {
        match self.inner.recv_wait(Wait::no_wait()) {
            Ok(d) => Ok(Some(delivery(py, d))),
            Err(e) if e.kind() == ErrorKind::Timeout => Ok(None),
            Err(e) => Err(errors::to_py(py, &e)),
        }
    }

    /// Messages dropped for this subscriber so far.
    #[getter]
    fn dropped(&self) -> u64 {
        self.inner.dropped()
    }

    /// This subscriber's topic prefixes.
    #[getter]
    fn topics<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        self.inner
            .prefixes()
            .iter()
            .map(|p| PyBytes::new(py, p))
            .collect()
    }

    /// Readable when a message may be waiting (for `try_recv`).
    fn fileno(&self) -> i32 {
        use std::os::fd::{AsFd, AsRawFd};
        self.inner.as_fd().as_raw_fd()
    }

    /// Leave: the publisher forgets this subscriber.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The next message; the iteration ends when the publisher closes.
    fn __next__(&self, py: Python<'_>) -> PyResult<Delivery> {
        match self.recv(py, None, None) {
            Ok(d) => Ok(d),
            Err(e) if is_closed(py, &e) => Err(PyStopIteration::new_err(())),
            Err(e) => Err(e),
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
        format!("<libipc.Subscriber {} topics>", self.inner.prefixes().len())
    }
}
