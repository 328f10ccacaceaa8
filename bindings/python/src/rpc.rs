//! Request/reply (`libipc::rpc`): `rpc_connect` / `RpcClient` / `PendingCall`, and
//! `rpc_listen` / `RpcServer` / `RpcConnection` / `Request`. Thin: matching replies, slots,
//! deadlines, cancellation and late replies are the core's; this file converts arguments and
//! releases the GIL. The asyncio forms (`libipc/aio.py`) drive the same objects with their
//! non-blocking calls and descriptors.

use std::sync::Mutex;

use libipc::rpc::{Client, Pending, Received, Responder, Server};
use libipc::{ErrorKind, Wait};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::cancel::{self, Cancel};
use crate::channel::{Peer, connect_options, uids};
use crate::errors::{self, IntoPy};
use crate::listener::listen_options;
use crate::options::{self, Common};
use crate::views;
use crate::wait::{Start, blocking};

/// The bytes of any buffer, copied unless it is `bytes` (which cannot change while the GIL is
/// released).
fn owned_or_bytes(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    match data.cast::<PyBytes>() {
        Ok(b) => Ok(b.as_bytes().to_vec()),
        Err(_) => views::buffer_bytes(py, data),
    }
}

/// A request/reply client (see the package README). Thread-safe: any number of calls may be
/// in flight, from any threads.
#[pyclass(frozen, module = "libipc")]
pub(crate) struct RpcClient {
    inner: Client,
}

/// A request sent with `RpcClient.start` whose reply has not been taken yet.
#[pyclass(frozen, module = "libipc")]
pub(crate) struct PendingCall {
    inner: Mutex<Option<Pending>>,
    id: u64,
}

/// A request/reply server: accepts `RpcConnection`s.
#[pyclass(frozen, module = "libipc")]
pub(crate) struct RpcServer {
    inner: Server,
    endpoint: String,
}

/// One client's connection on an `RpcServer`: receive its requests, answer them (in any
/// order, from any thread).
#[pyclass(frozen, module = "libipc")]
pub(crate) struct RpcConnection {
    inner: Responder,
}

/// A request: its id (to answer with) and body.
#[pyclass(frozen, get_all, module = "libipc")]
pub(crate) struct Request {
    id: u64,
    body: Py<PyBytes>,
}

/// Connect to a request/reply server at `endpoint`.
#[pyfunction]
#[pyo3(signature = (endpoint, timeout=None, *, max_message_size=None, connect_timeout=Some(10.0),
    handshake_timeout=None, allowed_uids=None, allowed_gids=None, shm_spin=None, stream_spin=None,
    shm_posix_fallback=None, frame_timeout=None, expected_server_uid=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn rpc_connect(
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
) -> PyResult<RpcClient> {
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
    let inner = py
        .detach(|| Client::connect_with(endpoint, &opts))
        .py_err(py)?;
    Ok(RpcClient { inner })
}

/// Listen at `endpoint` for request/reply clients.
#[pyfunction]
#[pyo3(signature = (endpoint, *, max_message_size=None, socket_mode=None, handshake_timeout=None,
    allowed_uids=None, allowed_gids=None, shm_ring_size=None, shm_spin=None, stream_spin=None,
    shm_posix_fallback=None, max_connections=None, frame_timeout=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn rpc_listen(
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
) -> PyResult<RpcServer> {
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
        .detach(|| Server::bind_with(endpoint, &opts))
        .py_err(py)?;
    let endpoint = inner.local_endpoint().to_string();
    Ok(RpcServer { inner, endpoint })
}

impl RpcClient {
    fn start_for(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
        cancel: Option<&libipc::Cancel>,
    ) -> PyResult<Pending> {
        let t = options::timeout(py, timeout)?;
        let body = owned_or_bytes(py, data)?;
        // A start that gives up has sent nothing, so running it again is safe.
        blocking(py, t, cancel, Start::Wait, |w| {
            self.inner.start_wait(&body, w)
        })
    }
}

/// Wait for `p`'s reply; the request stays in flight if the wait ends first.
fn wait_pending<'py>(
    py: Python<'py>,
    p: &mut Pending,
    timeout: Option<f64>,
    cancel: Option<&libipc::Cancel>,
) -> PyResult<Bound<'py, PyBytes>> {
    let t = options::timeout(py, timeout)?;
    let m = blocking(py, t, cancel, Start::TryFirst, |w| p.wait_for(w))?;
    Ok(PyBytes::new(py, &m))
}

#[pymethods]
impl RpcClient {
    /// Send a request and wait for its reply (`RemoteError` with `status` for an error
    /// reply). A call that times out or is cancelled abandons its request.
    #[pyo3(signature = (data, timeout=None, *, cancel=None))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        timeout: Option<f64>,
        cancel: Option<Bound<'py, Cancel>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let c = cancel::core(&cancel);
        let started = std::time::Instant::now();
        let mut p = self.start_for(py, data, timeout, c)?;
        let left = timeout.map(|t| (t - started.elapsed().as_secs_f64()).max(0.0));
        // Dropping `p` after a failed wait abandons the request.
        wait_pending(py, &mut p, left, c)
    }

    /// Send a request without waiting for its reply (`timeout` bounds the sending).
    #[pyo3(signature = (data, timeout=None, *, cancel=None))]
    fn start(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
        cancel: Option<Bound<'_, Cancel>>,
    ) -> PyResult<PendingCall> {
        let p = self.start_for(py, data, timeout, cancel::core(&cancel))?;
        Ok(PendingCall {
            id: p.id(),
            inner: Mutex::new(Some(p)),
        })
    }

    /// Send a request now or not at all: `None` if the server is not taking requests now.
    fn try_start(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Option<PendingCall>> {
        let body = owned_or_bytes(py, data)?;
        match self.inner.start_wait(&body, Wait::no_wait()) {
            Ok(p) => Ok(Some(PendingCall {
                id: p.id(),
                inner: Mutex::new(Some(p)),
            })),
            Err(e) if e.kind() == ErrorKind::Timeout => Ok(None),
            Err(e) => Err(errors::to_py(py, &e)),
        }
    }

    /// Requests sent whose replies have not been taken yet.
    #[getter]
    fn in_flight(&self) -> usize {
        self.inner.in_flight()
    }

    /// Replies that came for requests nobody waited for any more, dropped.
    #[getter]
    fn late_replies(&self) -> u64 {
        self.inner.late_replies()
    }

    /// The server's credentials.
    #[getter]
    fn peer(&self) -> Peer {
        let p = self.inner.peer();
        Peer::new(p.pid, p.uid, p.gid)
    }

    /// Readable when `PendingCall.try_take` could make progress.
    fn fileno(&self) -> i32 {
        use std::os::fd::{AsFd, AsRawFd};
        self.inner.as_fd().as_raw_fd()
    }

    /// Close the connection: calls in flight raise `ClosedError`.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
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
        format!("<libipc.RpcClient in_flight={}>", self.inner.in_flight())
    }
}

impl PendingCall {
    fn with<T>(&self, py: Python<'_>, f: impl FnOnce(&mut Pending) -> PyResult<T>) -> PyResult<T> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(p) => f(p),
            None => Err(errors::raise(
                py,
                ErrorKind::InvalidArgument.code(),
                "InvalidArgument: this call was abandoned",
            )),
        }
    }
}

#[pymethods]
impl PendingCall {
    /// The request's id.
    #[getter]
    fn id(&self) -> u64 {
        self.id
    }

    /// Wait for the reply. A wait that times out or is cancelled leaves the request in
    /// flight: wait again, or `abandon` it.
    #[pyo3(signature = (timeout=None, *, cancel=None))]
    fn wait<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
        cancel: Option<Bound<'py, Cancel>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let c = cancel::core(&cancel);
        // Taken out while waiting (the GIL is released), put back after: the request stays in
        // flight when the wait ends first, and a later wait after its reply says so.
        let taken = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(mut p) = taken else {
            return Err(errors::raise(
                py,
                ErrorKind::InvalidArgument.code(),
                "InvalidArgument: this call was abandoned, or another thread is waiting for it",
            ));
        };
        let r = wait_pending(py, &mut p, timeout, c);
        *self.inner.lock().unwrap_or_else(|p| p.into_inner()) = Some(p);
        r
    }

    /// The reply if it is here, without waiting (`None`: not yet; the client's `fileno()`
    /// becomes readable when it may be).
    fn try_take<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        self.with(py, |p| match p.try_take() {
            None => Ok(None),
            Some(Ok(m)) => Ok(Some(PyBytes::new(py, &m))),
            Some(Err(e)) => Err(errors::to_py(py, &e)),
        })
    }

    /// Give up the request: its reply, if it comes, is dropped and counted; the server is
    /// told. Later calls on this object raise `InvalidArgumentError`.
    fn abandon(&self) {
        let p = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(p);
    }

    fn __repr__(&self) -> String {
        format!("<libipc.PendingCall id={}>", self.id)
    }
}

#[pymethods]
impl RpcServer {
    /// Wait for the next client (`None`: no limit).
    #[pyo3(signature = (timeout=None, *, cancel=None))]
    fn accept(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
        cancel: Option<Bound<'_, Cancel>>,
    ) -> PyResult<RpcConnection> {
        let t = options::timeout(py, timeout)?;
        let inner = blocking(py, t, cancel::core(&cancel), Start::TryFirst, |w| {
            self.inner.accept_wait(w)
        })?;
        Ok(RpcConnection { inner })
    }

    /// The endpoint clients connect to.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Readable while a client waits to be accepted.
    fn fileno(&self) -> i32 {
        use std::os::fd::{AsFd, AsRawFd};
        self.inner.as_fd().as_raw_fd()
    }

    /// Stop accepting (connections already accepted go on).
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
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
        format!("<libipc.RpcServer {}>", self.endpoint)
    }
}

fn request(py: Python<'_>, r: libipc::rpc::Request) -> Request {
    Request {
        id: r.id(),
        body: PyBytes::new(py, r.body()).unbind(),
    }
}

/// What `recv_any` returns: a `Request`, or the id of a request the client cancelled.
fn received(py: Python<'_>, r: Received) -> PyResult<Py<PyAny>> {
    Ok(match r {
        Received::Request(r) => Py::new(py, request(py, r))?.into_any(),
        Received::Cancel(id) => id.into_pyobject(py)?.into_any().unbind(),
    })
}

#[pymethods]
impl RpcConnection {
    /// The client's next request (`ClosedError` once it closed).
    #[pyo3(signature = (timeout=None, *, cancel=None))]
    fn recv(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
        cancel: Option<Bound<'_, Cancel>>,
    ) -> PyResult<Request> {
        let t = options::timeout(py, timeout)?;
        let r = blocking(py, t, cancel::core(&cancel), Start::TryFirst, |w| {
            self.inner.recv_wait(w)
        })?;
        Ok(request(py, r))
    }

    /// The next request, or the id (an `int`) of a request the client cancelled (it no
    /// longer waits for the reply), without waiting: `None` if nothing is there now.
    fn try_recv_any(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.inner.recv_any_wait(Wait::no_wait()) {
            Ok(r) => received(py, r).map(Some),
            Err(e) if e.kind() == ErrorKind::Timeout => Ok(None),
            Err(e) => Err(errors::to_py(py, &e)),
        }
    }

    /// Answer request `id` with `data`.
    #[pyo3(signature = (id, data, timeout=None, *, cancel=None))]
    fn reply(
        &self,
        py: Python<'_>,
        id: u64,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
        cancel: Option<Bound<'_, Cancel>>,
    ) -> PyResult<()> {
        let t = options::timeout(py, timeout)?;
        let body = owned_or_bytes(py, data)?;
        blocking(py, t, cancel::core(&cancel), Start::Wait, |w| {
            self.inner.respond_wait(id, Ok(&body), w)
        })
    }

    /// Answer request `id` with an error: `status` (non-zero) and `text`; the client's call
    /// raises `RemoteError`.
    #[pyo3(signature = (id, status, text="", timeout=None, *, cancel=None))]
    fn reply_error(
        &self,
        py: Python<'_>,
        id: u64,
        status: u32,
        text: &str,
        timeout: Option<f64>,
        cancel: Option<Bound<'_, Cancel>>,
    ) -> PyResult<()> {
        let t = options::timeout(py, timeout)?;
        let err = libipc::Error::remote(status, text);
        blocking(py, t, cancel::core(&cancel), Start::Wait, |w| {
            self.inner.respond_wait(id, Err(&err), w)
        })
    }

    /// Answer now or not at all: `False` if the client is not taking replies now (nothing
    /// was sent). `status` non-zero makes it an error reply with `data` as its UTF-8 text.
    #[pyo3(signature = (id, data, status=0))]
    fn try_reply(
        &self,
        py: Python<'_>,
        id: u64,
        data: &Bound<'_, PyAny>,
        status: u32,
    ) -> PyResult<bool> {
        let body = owned_or_bytes(py, data)?;
        let result = if status == 0 {
            self.inner.respond_wait(id, Ok(&body), Wait::no_wait())
        } else {
            let err = libipc::Error::remote(status, String::from_utf8_lossy(&body));
            self.inner.respond_wait(id, Err(&err), Wait::no_wait())
        };
        match result {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::Timeout => Ok(false),
            Err(e) => Err(errors::to_py(py, &e)),
        }
    }

    /// The client's credentials.
    #[getter]
    fn peer(&self) -> Peer {
        let p = self.inner.peer();
        Peer::new(p.pid, p.uid, p.gid)
    }

    /// Readable when `try_recv_any` could make progress.
    fn fileno(&self) -> i32 {
        use std::os::fd::{AsFd, AsRawFd};
        self.inner.as_fd().as_raw_fd()
    }

    /// Close the connection to this client.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
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
}

#[pymethods]
impl Request {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<libipc.Request id={} {} bytes>",
            self.id,
            self.body.bind(py).as_bytes().len()
        )
    }
}
