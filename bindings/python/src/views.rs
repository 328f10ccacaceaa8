//! Zero-copy views: `MessageView` (a received message read in place) and `SendBuffer` (an
//! outgoing message written in place). Over shared memory both point into the ring. They hold
//! the core's owned slots, which keep the channel alive and one side of it reserved until
//! released, committed or aborted, on any thread.

use std::ffi::c_int;
use std::time::Duration;

use libipc::{ErrorKind, RecvSlot, SendSlot};
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyBufferError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::cancel::{self, Cancel};
use crate::channel::Channel;
use crate::errors;
use crate::options;
use crate::wait::{Start, blocking};

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

/// A received message, read in place; `memoryview(view)` gives its bytes without a copy.
/// `release()` (or leaving `with view:`) gives the space back.
#[pyclass(module = "libipc")]
pub(crate) struct MessageView {
    slot: Option<RecvSlot>,
    exports: usize,
}

pub(crate) fn recv_view(
    slf: Bound<'_, Channel>,
    timeout: Option<f64>,
    cancel: Option<Bound<'_, Cancel>>,
) -> PyResult<MessageView> {
    let py = slf.py();
    let t = options::timeout(py, timeout)?;
    let ch: &Channel = slf.get();
    let slot = blocking(py, t, cancel::core(&cancel), Start::TryFirst, |w| {
        ch.inner.recv_in_place_wait(w)
    })?;
    Ok(MessageView {
        slot: Some(slot),
        exports: 0,
    })
}

impl MessageView {
    fn data(&self) -> PyResult<(*const u8, usize)> {
        let s = self.slot.as_ref().ok_or_else(released)?;
        Ok((s.as_ptr(), s.len()))
    }
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
        self.slot = None;
        Ok(())
    }

    /// A copy of the bytes.
    fn tobytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let (p, n) = self.data()?;
        // SAFETY: `p` is readable for `n` bytes while the message is held (`&self`).
        Ok(PyBytes::new(py, unsafe {
            std::slice::from_raw_parts(p, n)
        }))
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.tobytes(py)
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.data()?.1)
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
        let (p, n) = slf.data()?;
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
#[pyclass(module = "libipc")]
pub(crate) struct SendBuffer {
    slot: Option<SendSlot>,
    exports: usize,
    /// The timeout given to `reserve`, which also bounds a private-buffer commit.
    timeout: Option<Duration>,
}

pub(crate) fn reserve(
    slf: Bound<'_, Channel>,
    size: usize,
    timeout: Option<f64>,
    cancel: Option<Bound<'_, Cancel>>,
) -> PyResult<SendBuffer> {
    let py = slf.py();
    let t = options::timeout(py, timeout)?;
    let ch: &Channel = slf.get();
    // Waits for ring room; a private-buffer slot then sends in `commit`, within the same
    // timeout.
    let slot = blocking(py, t, cancel::core(&cancel), Start::Wait, |w| {
        ch.inner.reserve_wait(size, w)
    })?;
    Ok(SendBuffer {
        slot: Some(slot),
        exports: 0,
        timeout: t,
    })
}

fn finished() -> PyErr {
    PyValueError::new_err("the send buffer was already committed or aborted")
}

impl SendBuffer {
    fn take(&mut self) -> PyResult<SendSlot> {
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
    /// Send the message. `TimeoutError` or `CancelledError` (over sockets, where this is the
    /// actual send; nothing was sent) keep the buffer as it is: commit again or abort.
    #[pyo3(signature = (*, cancel=None))]
    fn commit(&mut self, py: Python<'_>, cancel: Option<Bound<'_, Cancel>>) -> PyResult<()> {
        let mut slot = Some(self.take()?);
        let r = blocking(py, self.timeout, cancel::core(&cancel), Start::Wait, |w| {
            let Some(s) = slot.take() else {
                return Ok(()); // committed by an earlier round
            };
            s.commit_wait(w).map_err(|(e, back)| {
                slot = back; // handed back (nothing sent): to retry or keep
                e
            })
        });
        if r.is_err() {
            self.slot = slot;
        }
        r
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
            self.commit(py, None)?;
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
