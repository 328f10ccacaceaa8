//! `Channel` (blocking) and `connect`.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use libipc::{ErrorKind, Message};
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{self, IntoPy};
use crate::options::{self, Common};
use crate::views::{self, MessageView, SendBuffer};
use crate::wait::blocking;

/// A connected channel (see the package README). Thread-safe: one thread may send while
/// another receives.
#[pyclass(frozen, module = "libipc")]
pub(crate) struct Channel {
    pub(crate) inner: libipc::Channel,
    /// A message `recv_into` could not take (buffer too small): first in line for the next
    /// receive of any kind.
    stash: Mutex<Option<Vec<u8>>>,
    /// Held from the look at `stash` until the core handed over a message, so receives on
    /// several threads can neither overwrite nor overtake a stashed message.
    gate: Mutex<()>,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Send once, waiting at most `slice` (zero: not at all).
fn send_for(ch: &libipc::Channel, data: &[u8], slice: Duration) -> libipc::Result<()> {
    if slice.is_zero() {
        ch.try_send(data)
    } else {
        ch.send_timeout(data, slice)
    }
}

/// Connect to `endpoint`.
#[pyfunction]
#[pyo3(signature = (endpoint, timeout=None, *, max_message_size=None, connect_timeout=Some(10.0),
    handshake_timeout=None, allowed_uids=None, shm_spin=None, stream_spin=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn connect(
    py: Python<'_>,
    endpoint: &str,
    timeout: Option<f64>,
    max_message_size: Option<i128>,
    connect_timeout: Option<f64>,
    handshake_timeout: Option<f64>,
    allowed_uids: Option<Bound<'_, PyAny>>,
    shm_spin: Option<f64>,
    stream_spin: Option<f64>,
) -> PyResult<Channel> {
    let opts = connect_options(
        py,
        timeout,
        connect_timeout,
        Common {
            max_message_size,
            handshake_timeout,
            allowed_uids: uids(allowed_uids)?,
            shm_spin,
            stream_spin,
        },
    )?;
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

/// `allowed_uids`: any iterable of ints, or `None`.
pub(crate) fn uids(obj: Option<Bound<'_, PyAny>>) -> PyResult<Option<Vec<i128>>> {
    obj.map(|o| o.try_iter()?.map(|u| u?.extract::<i128>()).collect())
        .transpose()
}

impl Channel {
    pub(crate) fn new(inner: libipc::Channel) -> Channel {
        Channel {
            inner,
            stash: Mutex::new(None),
            gate: Mutex::new(()),
        }
    }

    /// Receive once, waiting at most `slice`: the stashed message first.
    fn recv_for(&self, slice: Duration) -> libipc::Result<Vec<u8>> {
        let _gate = lock(&self.gate);
        if let Some(v) = lock(&self.stash).take() {
            return Ok(v);
        }
        self.core_recv(slice).map(Message::into_vec)
    }

    fn core_recv(&self, slice: Duration) -> libipc::Result<Message> {
        if slice.is_zero() {
            self.inner.try_recv()
        } else {
            self.inner.recv_timeout(slice)
        }
    }

    /// Run `f` with the receive gate held and the stashed message taken out.
    pub(crate) fn with_gate<T>(&self, f: impl FnOnce(Option<Vec<u8>>) -> T) -> T {
        let _gate = lock(&self.gate);
        let stashed = lock(&self.stash).take();
        f(stashed)
    }

    /// Put a message back first in line (the gate must be held by the caller).
    fn keep(&self, v: Vec<u8>) {
        *lock(&self.stash) = Some(v);
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
    /// Send one message: bytes, bytearray, memoryview or any C-contiguous buffer.
    #[pyo3(signature = (data, timeout=None))]
    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        let t = options::timeout(py, timeout)?;
        if let Ok(b) = data.cast::<PyBytes>() {
            // Immutable: sent straight from the bytes object.
            let bytes = b.as_bytes();
            return blocking(py, t, |s| send_for(&self.inner, bytes, s));
        }
        // Another buffer may be changed by other threads while the GIL is released: copy.
        let v = views::buffer_bytes(py, data)?;
        blocking(py, t, |s| send_for(&self.inner, &v, s))
    }

    /// Wait until the rest of a message an earlier timed send left half-written has gone out
    /// (`TimeoutError`: some is still queued; it goes out before any later message).
    #[pyo3(signature = (timeout=None))]
    fn flush(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let t = options::timeout(py, timeout)?;
        blocking(py, t, |s| self.inner.flush_timeout(s))
    }

    /// Receive the next message as bytes.
    #[pyo3(signature = (timeout=None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyBytes>> {
        let t = options::timeout(py, timeout)?;
        let v = blocking(py, t, |s| self.recv_for(s))?;
        Ok(PyBytes::new(py, &v))
    }

    /// The next message if one is there now, else `None`.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        match py.detach(|| self.recv_for(Duration::ZERO)) {
            Ok(v) => Ok(Some(PyBytes::new(py, &v))),
            Err(e) if e.kind() == ErrorKind::Timeout => Ok(None),
            Err(e) => Err(errors::to_py(py, &e)),
        }
    }

    /// Receive the next message into a writable buffer; returns its length. If it does not
    /// fit: `BufferTooSmallError` (`needed`) and the message is kept for the next receive.
    #[pyo3(signature = (buffer, timeout=None))]
    fn recv_into(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyAny>,
        timeout: Option<f64>,
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
        let copy = move |src: *const u8, n: usize| -> Result<usize, usize> {
            if n > cap {
                return Err(n);
            }
            // SAFETY: `dst` is writable for `cap >= n` bytes (the buffer stays exported until
            // `buf` drops, after this call), `src` readable for `n`; they cannot overlap
            // (ours is library memory).
            unsafe { std::ptr::copy_nonoverlapping(src, dst.get(), n) };
            Ok(n)
        };
        let got = blocking(py, t, |s| {
            self.with_gate(|stashed| match stashed {
                Some(v) => Ok(copy(v.as_ptr(), v.len()).inspect_err(|_| self.keep(v))),
                None => {
                    let read = |view: libipc::ReadBuf<'_>| {
                        copy(view.as_ptr(), view.len()).map_err(|n| (n, view.to_vec()))
                    };
                    let r = self.inner.recv_with_timeout(s, read)?;
                    Ok(r.map_err(|(n, kept)| {
                        self.keep(kept);
                        n
                    }))
                }
            })
        })?;
        drop(buf);
        got.map_err(|needed| errors::buffer_too_small(py, needed, cap))
    }

    /// Receive the next message in place (zero copy over shared memory).
    #[pyo3(signature = (timeout=None))]
    fn recv_view(slf: Bound<'_, Self>, timeout: Option<f64>) -> PyResult<MessageView> {
        views::recv_view(slf, timeout)
    }

    /// Reserve a `size`-byte message to be written in place, then committed.
    #[pyo3(signature = (size, timeout=None))]
    fn reserve(slf: Bound<'_, Self>, size: usize, timeout: Option<f64>) -> PyResult<SendBuffer> {
        views::reserve(slf, size, timeout)
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
        match blocking(py, None, |s| self.recv_for(s)) {
            Ok(v) => Ok(PyBytes::new(py, &v)),
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
