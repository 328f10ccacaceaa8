//! Zero-copy views: `MessageView` (a received message read in place) and `SendBuffer` (an
//! outgoing message written in place). Over shared memory both point into the ring. They hold
//! core slots, which keep one side of the channel locked and must be finished on the thread
//! that made them, hence `unsendable`: PyO3 refuses other threads' access.

use std::ffi::c_int;
use std::time::{Duration, Instant};

use libipc::{ErrorKind, RecvSlot, SendSlot};
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyBufferError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::channel::Channel;
use crate::errors;
use crate::options;
use crate::wait::blocking;

/// The bytes of any C-contiguous buffer, copied.
pub(crate) fn buffer_bytes(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let buf = PyUntypedBuffer::get(data)?;
    if !buf.is_c_contiguous() {
        return Err(errors::raise(
            py,
            ErrorKind::InvalidArgument.code(),
            "send needs a C-contiguous buffer",
        ));
    }
    let n = buf.len_bytes();
    let mut v = vec![0u8; n];
    if n > 0 {
        // SAFETY: the buffer is exported (held by `buf`) and C-contiguous, so `buf_ptr` is
        // readable for `len_bytes`; we hold the GIL, so Python code cannot change it meanwhile.
        unsafe { std::ptr::copy_nonoverlapping(buf.buf_ptr().cast::<u8>(), v.as_mut_ptr(), n) };
    }
    Ok(v)
}

/// A value that may cross `py.detach`, which runs its closure on the calling thread.
struct SameThread<T>(T);
// SAFETY: only moved into and out of a `py.detach` closure, which runs on the calling thread,
// so the (thread-bound) slot never changes thread.
unsafe impl<T> Send for SameThread<T> {}

enum Received {
    Slot(RecvSlot<'static>),
    Stashed(Vec<u8>),
}

impl Received {
    fn data(&self) -> (*const u8, usize) {
        match self {
            Received::Slot(s) => (s.as_ptr(), s.len()),
            Received::Stashed(v) => (v.as_ptr(), v.len()),
        }
    }
}

/// A received message, read in place; `memoryview(view)` gives its bytes without a copy.
/// `release()` (or leaving `with view:`) gives the space back.
#[pyclass(unsendable, module = "libipc")]
pub(crate) struct MessageView {
    // Declared before `_channel`: the slot borrows the channel it keeps alive.
    received: Option<Received>,
    exports: usize,
    _channel: Py<Channel>,
}

pub(crate) fn recv_view(slf: Bound<'_, Channel>, timeout: Option<f64>) -> PyResult<MessageView> {
    let py = slf.py();
    let t = options::timeout(py, timeout)?;
    let ch: &Channel = slf.get();
    let got = blocking(py, t, |s| {
        ch.with_gate(|stashed| match stashed {
            Some(v) => Ok(SameThread(Received::Stashed(v))),
            None => {
                let slot = ch.inner.recv_in_place_timeout(s)?;
                // SAFETY: the slot borrows `ch.inner`, inside the Python object that the view
                // keeps alive (`_channel`, dropped after the slot); Python objects do not move.
                let slot = unsafe { std::mem::transmute::<RecvSlot<'_>, RecvSlot<'static>>(slot) };
                Ok(SameThread(Received::Slot(slot)))
            }
        })
    })?;
    Ok(MessageView {
        received: Some(got.0),
        exports: 0,
        _channel: slf.unbind(),
    })
}

fn released() -> PyErr {
    PyValueError::new_err("the message view was released")
}

#[pymethods]
impl MessageView {
    /// Give the message's space back; no memoryview of it may be alive.
    fn release(&mut self) -> PyResult<()> {
        if self.exports > 0 {
            return Err(PyBufferError::new_err(
                "a memoryview of this message is still alive; release it first",
            ));
        }
        self.received = None;
        Ok(())
    }

    /// A copy of the bytes.
    fn tobytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let (p, n) = self.received.as_ref().ok_or_else(released)?.data();
        // SAFETY: `p` is readable for `n` bytes while the message is held (`&self`).
        Ok(PyBytes::new(py, unsafe {
            std::slice::from_raw_parts(p, n)
        }))
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.tobytes(py)
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.received.as_ref().ok_or_else(released)?.data().1)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &mut self,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        self.release()?;
        Ok(false)
    }

    /// # Safety
    /// Called by Python with a valid `view` to fill.
    unsafe fn __getbuffer__(
        mut slf: PyRefMut<'_, Self>,
        view: *mut pyo3::ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let (p, n) = slf.received.as_ref().ok_or_else(released)?.data();
        // SAFETY: `view` is valid per the buffer protocol; `p` stays valid for `n` bytes until
        // the message is released, which `release` refuses while exports are alive.
        unsafe { fill(view, slf.as_ptr(), p.cast_mut(), n, true, flags) }?;
        slf.exports += 1;
        Ok(())
    }

    /// # Safety
    /// Called by Python for a view `__getbuffer__` filled.
    unsafe fn __releasebuffer__(mut slf: PyRefMut<'_, Self>, _view: *mut pyo3::ffi::Py_buffer) {
        slf.exports -= 1;
    }
}

/// Fill a `Py_buffer` for `len` bytes at `buf`, owned by `obj`.
///
/// # Safety
/// `view` is a `Py_buffer` to fill; `buf` is valid for `len` bytes (writes too unless
/// `readonly`) for as long as the export lives.
unsafe fn fill(
    view: *mut pyo3::ffi::Py_buffer,
    obj: *mut pyo3::ffi::PyObject,
    buf: *mut u8,
    len: usize,
    readonly: bool,
    flags: c_int,
) -> PyResult<()> {
    // SAFETY: per this function's contract; PyBuffer_FillInfo takes its own reference to
    // `obj` and sets the exception on failure.
    let r = unsafe {
        pyo3::ffi::PyBuffer_FillInfo(
            view,
            obj,
            buf.cast(),
            len as pyo3::ffi::Py_ssize_t,
            c_int::from(readonly),
            flags,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        // SAFETY: only called on the thread that holds the GIL (buffer protocol).
        Err(PyErr::fetch(unsafe { Python::assume_attached() }))
    }
}

/// An outgoing message written in place: fill `memoryview(buf)`, then `commit()` (or
/// `abort()`); `with ch.reserve(n) as buf:` commits on success and aborts on an exception.
#[pyclass(unsendable, module = "libipc")]
pub(crate) struct SendBuffer {
    // Declared before `_channel`: the slot borrows the channel it keeps alive.
    slot: Option<SendSlot<'static>>,
    exports: usize,
    /// The timeout given to `reserve`, which also bounds a private-buffer commit.
    timeout: Option<Duration>,
    _channel: Py<Channel>,
}

pub(crate) fn reserve(
    slf: Bound<'_, Channel>,
    size: usize,
    timeout: Option<f64>,
) -> PyResult<SendBuffer> {
    let py = slf.py();
    let t = options::timeout(py, timeout)?;
    let ch: &Channel = slf.get();
    // Waits (for ring room) in slices; a private-buffer slot then sends in `commit`, which
    // retries slice by slice until this same timeout.
    let slot = blocking(py, t, |s| {
        let slot = ch.inner.reserve_timeout(size, s)?;
        // SAFETY: as in `recv_view`: the channel outlives the slot (`_channel`).
        Ok(SameThread(unsafe {
            std::mem::transmute::<SendSlot<'_>, SendSlot<'static>>(slot)
        }))
    })?;
    Ok(SendBuffer {
        slot: Some(slot.0),
        exports: 0,
        timeout: t,
        _channel: slf.unbind(),
    })
}

fn finished() -> PyErr {
    PyValueError::new_err("the send buffer was already committed or aborted")
}

impl SendBuffer {
    fn take(&mut self) -> PyResult<SendSlot<'static>> {
        if self.exports > 0 {
            return Err(PyBufferError::new_err(
                "a memoryview of this buffer is still alive; release it first",
            ));
        }
        self.slot.take().ok_or_else(finished)
    }
}

#[pymethods]
impl SendBuffer {
    /// Send the message. `TimeoutError` (over sockets, where this is the actual send) keeps
    /// the buffer as it is: commit again or abort.
    fn commit(&mut self, py: Python<'_>) -> PyResult<()> {
        let mut slot = self.take()?;
        let deadline = self.timeout.map(|t| Instant::now() + t);
        loop {
            let try_once = SameThread(slot);
            let result = py.detach(move || {
                let try_once = try_once;
                try_once
                    .0
                    .try_commit()
                    .map_err(|(e, back)| (e, SameThread(back)))
            });
            let (e, back) = match result {
                Ok(()) => return Ok(()),
                Err((e, back)) => (e, back.0),
            };
            // Only a timeout hands the slot back (nothing was sent): retry, or keep it.
            let Some(back) = back else {
                return Err(errors::to_py(py, &e));
            };
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.slot = Some(back);
                return Err(errors::to_py(py, &e));
            }
            if let Err(interrupted) = py.check_signals() {
                self.slot = Some(back);
                return Err(interrupted);
            }
            slot = back;
        }
    }

    /// Drop the message: nothing is sent.
    fn abort(&mut self) -> PyResult<()> {
        drop(self.take()?);
        Ok(())
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.slot.as_ref().ok_or_else(finished)?.len())
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &mut self,
        py: Python<'_>,
        exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        if self.slot.is_none() {
            return Ok(false); // committed or aborted inside the block
        }
        if exc_type.is_none() {
            self.commit(py)?;
        } else {
            self.abort()?;
        }
        Ok(false)
    }

    /// # Safety
    /// Called by Python with a valid `view` to fill.
    unsafe fn __getbuffer__(
        mut slf: PyRefMut<'_, Self>,
        view: *mut pyo3::ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let slot = slf.slot.as_mut().ok_or_else(finished)?;
        let (p, n) = (slot.as_mut_ptr(), slot.len());
        // SAFETY: `view` is valid per the buffer protocol; `p` stays valid for writes of `n`
        // bytes until commit/abort, which refuse while exports are alive.
        unsafe { fill(view, slf.as_ptr(), p, n, false, flags) }?;
        slf.exports += 1;
        Ok(())
    }

    /// # Safety
    /// Called by Python for a view `__getbuffer__` filled.
    unsafe fn __releasebuffer__(mut slf: PyRefMut<'_, Self>, _view: *mut pyo3::ffi::Py_buffer) {
        slf.exports -= 1;
    }
}
