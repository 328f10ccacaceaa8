//! Blocking calls from Python: the GIL is released while waiting; a `libipc.Cancel` given as
//! `cancel=` ends the wait from any thread; and on the main thread a signal (Ctrl-C) ends it
//! at once, so its Python handler runs (`KeyboardInterrupt`).
//!
//! Signals: CPython's C-level handler writes the signal number to the "wake-up descriptor"
//! (`signal.set_wakeup_fd`). For the length of a blocking wait on the main thread (the only
//! thread where Python runs signal handlers) that descriptor is the signal side of a core
//! [`Cancel`], so the wait ends with `Cancelled`; the previous wake-up descriptor is put back
//! and given the bytes it missed (asyncio's loop, for example, reads its own). Then the
//! handler runs: if it raises, so does the call; if not, the call waits on (PEP 475).
//! Nothing polls: no slices, no timer.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use libipc::{Cancel, ErrorKind, Wait};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use crate::errors;

/// The main thread's signal hook, made on first use.
struct Signals {
    cancel: Cancel,
    set_wakeup_fd: Py<PyAny>,
    kwargs: Py<PyDict>,
    /// `threading.main_thread().native_id`.
    main_tid: i32,
}

static SIGNALS: PyOnceLock<Signals> = PyOnceLock::new();

fn signals(py: Python<'_>) -> PyResult<&Signals> {
    SIGNALS.get_or_try_init(py, || {
        let kwargs = PyDict::new(py);
        kwargs.set_item("warn_on_full_buffer", false)?;
        let main = py.import("threading")?.call_method0("main_thread")?;
        Ok(Signals {
            cancel: Cancel::new().map_err(|e| errors::to_py(py, &e))?,
            set_wakeup_fd: py.import("signal")?.getattr("set_wakeup_fd")?.unbind(),
            kwargs: kwargs.unbind(),
            main_tid: main.getattr("native_id")?.extract()?,
        })
    })
}

impl Signals {
    fn on_main_thread(&self) -> bool {
        rustix::thread::gettid().as_raw_nonzero().get() == self.main_tid
    }

    /// Make our descriptor the wake-up descriptor; returns the previous one.
    fn install(&self, py: Python<'_>) -> PyResult<i32> {
        let fd = self.cancel.signal_fd().as_raw_fd();
        self.set_wakeup_fd
            .bind(py)
            .call((fd,), Some(self.kwargs.bind(py)))?
            .extract()
    }

    /// Put `old` back and pass it the signal numbers written to ours meanwhile.
    fn uninstall(&self, py: Python<'_>, old: i32) -> PyResult<()> {
        self.set_wakeup_fd
            .bind(py)
            .call((old,), Some(self.kwargs.bind(py)))?;
        let missed = self.cancel.reset_taking_bytes();
        if old >= 0 && !missed.is_empty() {
            // SAFETY: `old` is the wake-up descriptor Python had installed (so open, owned by
            // whoever installed it); borrowed only for this write.
            let fd = unsafe { BorrowedFd::borrow_raw(old) };
            // Best effort, as CPython's own handler does: the byte is only a wake-up.
            let _ = rustix::io::write(fd, &missed);
        }
        Ok(())
    }
}

/// How a blocking call starts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Try once without releasing the GIL first (receives, accept: most often something is
    /// there, or a short spin finds it).
    TryFirst,
    /// Straight to the wait (sends: a no-wait send could send part of a message).
    Wait,
}

/// Run `op` with the GIL released until it returns, `timeout` (`None`: no limit) passes, or
/// `cancel` fires (`CancelledError`). `op` may run more than once: only after it returned
/// `Cancelled` for a signal whose handler did not raise, which by the core's contract means
/// nothing happened.
pub(crate) fn blocking<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    cancel: Option<&Cancel>,
    start: Start,
    mut op: impl FnMut(Wait<'_>) -> libipc::Result<T> + Send,
) -> PyResult<T> {
    // A timeout too far to represent is no limit.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let base = |c| wait_for(deadline, c);
    let result = |py: Python<'_>, r: libipc::Result<T>| r.map_err(|e| errors::to_py(py, &e));
    if timeout == Some(Duration::ZERO) {
        return result(py, op(base(cancel)));
    }
    let sig = signals(py)?;
    if !sig.on_main_thread() {
        return result(py, py.detach(|| op(base(cancel))));
    }
    if start == Start::TryFirst {
        match op(wait_for(Some(Instant::now()), cancel)) {
            Err(e) if e.kind() == ErrorKind::Timeout => {}
            r => return result(py, r),
        }
    }
    loop {
        let old = sig.install(py)?;
        // A signal that came before the install wrote to the old descriptor: run its handler
        // now rather than wait through it.
        if let Err(e) = py.check_signals() {
            sig.uninstall(py, old)?;
            return Err(e);
        }
        let r = py.detach(|| op(base(cancel).or_cancel(&sig.cancel)));
        sig.uninstall(py, old)?;
        match r {
            Err(e)
                if e.kind() == ErrorKind::Cancelled
                    && !cancel.is_some_and(Cancel::is_cancelled) =>
            {
                // A signal: its handler runs here; if it returns, wait on.
                py.check_signals()?;
            }
            r => return result(py, r),
        }
    }
}

/// Until `deadline` (`None`: no limit), watching `cancel`.
fn wait_for(deadline: Option<Instant>, cancel: Option<&Cancel>) -> Wait<'_> {
    let w = match deadline {
        None => Wait::forever(),
        Some(d) => Wait::until(d),
    };
    match cancel {
        Some(c) => w.or_cancel(c),
        None => w,
    }
}
