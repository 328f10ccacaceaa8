//! `Channel` (blocking) and `connect`.

use libipc::ErrorKind;
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::cancel::{self, Cancel};
use crate::errors::{self, IntoPy};
use crate::options::{self, Common};
use crate::spawn;
use crate::views::{self, MessageView, SendBuffer};
use crate::wait::{Start, blocking};

/// A connected channel (see the package README). Thread-safe: one thread may send while
/// another receives.
#[pyclass(frozen, module = "libipc")]
pub(crate) struct Channel {
    pub(crate) inner: libipc::Channel,
}

/// The credentials of the peer process, where the transport provides them (`None` over TCP).
#[pyclass(frozen, get_all, module = "libipc")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Peer {
    pid: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
}

impl Peer {
    pub(crate) fn new(pid: Option<u32>, uid: Option<u32>, gid: Option<u32>) -> Peer {
        Peer { pid, uid, gid }
    }
}

#[pymethods]
impl Peer {
    fn __repr__(&self) -> String {
        let f = |v: Option<u32>| v.map_or("None".to_owned(), |v| v.to_string());
        format!(
            "Peer(pid={}, uid={}, gid={})",
            f(self.pid),
            f(self.uid),
            f(self.gid)
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Peer>().is_ok_and(|o| *o.get() == *self)
    }
}

/// Connect to `endpoint`.
#[pyfunction]
#[pyo3(signature = (endpoint, timeout=None, *, max_message_size=None, connect_timeout=Some(10.0),
    handshake_timeout=None, allowed_uids=None, allowed_gids=None, shm_spin=None, stream_spin=None, shm_posix_fallback=None,
    frame_timeout=None, expected_server_uid=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn connect(
    py: Python<'_>,
    endpoint: &str,
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
    expected_server_uid: Option<i128>,
) -> PyResult<Channel> {
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
    let opts = match expected_server_uid {
        Some(uid) => opts.with_expected_server_uid(options::whole(py, "expected_server_uid", uid)?),
        None => opts,
    };
    let ch = py
        .detach(|| libipc::Channel::connect_with(endpoint, &opts))
        .py_err(py)?;
    Ok(Channel::new(ch))
}

/// The options of a connect call: `timeout`, when given, replaces `connect_timeout`.
pub(crate) fn connect_options(
    py: Python<'_>,
    timeout: Option<f64>,
    connect_timeout: Option<f64>,
    common: Common,
) -> PyResult<libipc::Options> {
    let t = match timeout.or(connect_timeout) {
        None => None,
        Some(s) => Some(options::seconds(py, "timeout", s)?),
    };
    Ok(common.build(py)?.with_connect_timeout(t))
}

/// `allowed_uids` or `allowed_gids`: any iterable of ints, or `None`.
pub(crate) fn uids(obj: Option<Bound<'_, PyAny>>) -> PyResult<Option<Vec<i128>>> {
    obj.map(|o| o.try_iter()?.map(|u| u?.extract::<i128>()).collect())
        .transpose()
}

impl Channel {
    pub(crate) fn new(inner: libipc::Channel) -> Channel {
        Channel { inner }
    }
}

/// A raw pointer that may cross `py.detach` (which runs its closure on the same thread).
struct Raw(*mut u8);
// SAFETY: the pointer is only used by the closure given to `py.detach`, which runs on the
// calling thread while the buffer it points into stays exported.
unsafe impl Send for Raw {}
// SAFETY: as above: shared only with that closure, on the same thread.
unsafe impl Sync for Raw {}

impl Raw {
    /// The pointer (a method, so closures capture the whole `Raw`, not its field).
    fn get(&self) -> *mut u8 {
        self.0
    }
}

#[pymethods]
impl Channel {
    /// Two connected channels in this process, over a socket pair.
    #[staticmethod]
    #[pyo3(signature = (*, max_message_size=None, handshake_timeout=None, stream_spin=None))]
    fn pair(
        py: Python<'_>,
        max_message_size: Option<i128>,
        handshake_timeout: Option<f64>,
        stream_spin: Option<f64>,
    ) -> PyResult<(Channel, Channel)> {
        let opts = spawn::pair_options(py, max_message_size, handshake_timeout, stream_spin)?;
        let (a, b) = py.detach(|| libipc::Channel::pair_with(&opts)).py_err(py)?;
        Ok((Channel::new(a), Channel::new(b)))
    }

    /// In a child started with `libipc.spawn` (or any libipc spawn helper): open the channel
    /// to the parent, named by the environment variable ``LIBIPC_CHANNEL_FD``.
    #[staticmethod]
    #[pyo3(signature = (*, max_message_size=None, handshake_timeout=None, stream_spin=None))]
    fn from_env(
        py: Python<'_>,
        max_message_size: Option<i128>,
        handshake_timeout: Option<f64>,
        stream_spin: Option<f64>,
    ) -> PyResult<Channel> {
        let opts = spawn::pair_options(py, max_message_size, handshake_timeout, stream_spin)?;
        let ch = py
            .detach(|| libipc::Channel::from_env_with(&opts))
            .py_err(py)?;
        Ok(Channel::new(ch))
    }

    /// Send one message: bytes, bytearray, memoryview or any C-contiguous buffer.
    #[pyo3(signature = (data, timeout=None, *, cancel=None))]
    fn send(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
        cancel: Option<Bound<'_, Cancel>>,
    ) -> PyResult<()> {
        let t = options::timeout(py, timeout)?;
        let c = cancel::core(&cancel);
        if let Ok(b) = data.cast::<PyBytes>() {
            // Immutable: sent straight from the bytes object.
            let bytes = b.as_bytes();
            return blocking(py, t, c, Start::Wait, |w| self.inner.send_wait(bytes, w));
        }
        // Another buffer may be changed by other threads while the GIL is released: copy.
        let v = views::buffer_bytes(py, data)?;
        blocking(py, t, c, Start::Wait, |w| self.inner.send_wait(&v, w))
    }

    /// Wait until the rest of a message an earlier timed send left half-written has gone out
    /// (`TimeoutError`: some is still queued; it goes out before any later message).
    #[pyo3(signature = (timeout=None, *, cancel=None))]
    fn flush(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
        cancel: Option<Bound<'_, Cancel>>,
    ) -> PyResult<()> {
        let t = options::timeout(py, timeout)?;
        blocking(py, t, cancel::core(&cancel), Start::Wait, |w| {
            self.inner.flush_wait(w)
        })
    }

    /// Receive the next message as bytes.
    #[pyo3(signature = (timeout=None, *, cancel=None))]
    fn recv<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
        cancel: Option<Bound<'py, Cancel>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let t = options::timeout(py, timeout)?;
        let m = blocking(py, t, cancel::core(&cancel), Start::TryFirst, |w| {
            self.inner.recv_wait(w)
        })?;
        Ok(PyBytes::new(py, &m))
    }

    /// The next message if one is there now, else `None`.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        match self.inner.try_recv() {
            Ok(m) => Ok(Some(PyBytes::new(py, &m))),
            Err(e) if e.kind() == ErrorKind::Timeout => Ok(None),
            Err(e) => Err(errors::to_py(py, &e)),
        }
    }

    /// Receive the next message into a writable buffer; returns its length. If it does not
    /// fit: `BufferTooSmallError` (`needed`) and the message is kept for the next receive.
    #[pyo3(signature = (buffer, timeout=None, *, cancel=None))]
    fn recv_into(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyAny>,
        timeout: Option<f64>,
        cancel: Option<Bound<'_, Cancel>>,
    ) -> PyResult<usize> {
        let t = options::timeout(py, timeout)?;
        let buf = PyUntypedBuffer::get(buffer)?;
        if buf.readonly() || !buf.is_c_contiguous() {
            return Err(errors::raise(
                py,
                ErrorKind::InvalidArgument.code(),
                "recv_into needs a writable, C-contiguous buffer",
            ));
        }
        let cap = buf.len_bytes();
        let dst = Raw(buf.buf_ptr().cast::<u8>());
        let got = blocking(py, t, cancel::core(&cancel), Start::TryFirst, |w| {
            let mut empty = [0u8; 0];
            let slice: &mut [u8] = if cap == 0 {
                &mut empty
            } else {
                // SAFETY: the buffer is exported (held by `buf`, dropped after this call), so
                // `dst` is valid for writes of `cap` bytes and cannot be resized or freed
                // meanwhile; it is process-private memory. No other Rust reference to it
                // exists (Python threads writing it concurrently would race on bytes only,
                // as with `socket.recv_into`).
                unsafe { std::slice::from_raw_parts_mut(dst.get(), cap) }
            };
            self.inner.recv_into_wait(slice, w)
        })?;
        drop(buf);
        Ok(got)
    }

    /// Receive the next message in place (zero copy over shared memory).
    #[pyo3(signature = (timeout=None, *, cancel=None))]
    fn recv_view(
        slf: Bound<'_, Self>,
        timeout: Option<f64>,
        cancel: Option<Bound<'_, Cancel>>,
    ) -> PyResult<MessageView> {
        views::recv_view(slf, timeout, cancel)
    }

    /// Reserve a `size`-byte message to be written in place, then committed.
    #[pyo3(signature = (size, timeout=None, *, cancel=None))]
    fn reserve(
        slf: Bound<'_, Self>,
        size: usize,
        timeout: Option<f64>,
        cancel: Option<Bound<'_, Cancel>>,
    ) -> PyResult<SendBuffer> {
        views::reserve(slf, size, timeout, cancel)
    }

    /// Close the channel: the peer receives everything sent so far, then `ClosedError`.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
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

    /// A descriptor for readiness polling: `try_recv()` until `None`, then wait for it.
    fn fileno(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.inner.as_raw_fd()
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        match blocking(py, None, None, Start::TryFirst, |w| self.inner.recv_wait(w)) {
            Ok(m) => Ok(PyBytes::new(py, &m)),
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
        format!("<libipc.Channel fd={}>", self.fileno())
    }
}

/// Whether a Python exception is libipc's `ClosedError` (an orderly end).
pub(crate) fn is_closed(py: Python<'_>, e: &PyErr) -> bool {
    e.value(py)
        .getattr("code")
        .and_then(|c| c.extract::<u16>())
        .is_ok_and(|c| c == ErrorKind::Closed.code())
}
