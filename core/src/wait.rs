//! How long a blocking call may wait ([`Wait`]), the cancellation handle ([`Cancel`]) that
//! interrupts it from anywhere, and the gate that lets one caller at a time use one side of a
//! channel.
//!
//! ```no_run
//! use libipc::{Cancel, Channel, ErrorKind, Wait};
//! # fn main() -> libipc::Result<()> {
//! let ch = Channel::connect("demo")?;
//! let cancel = Cancel::new()?;
//! let stopper = cancel.clone();
//! std::thread::spawn(move || stopper.cancel()); // from any thread
//! match ch.recv_wait(Wait::forever().or_cancel(&cancel)) {
//!     Err(e) if e.kind() == ErrorKind::Cancelled => { /* nothing was lost */ }
//!     other => { other?; }
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::sys;

/// `now + d`, saturating (a `Duration::MAX` timeout means "about forever", never a panic).
pub(crate) fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 86_400))
}

/// A cancellation handle: [`cancel`](Self::cancel) interrupts every blocking call that was
/// given this handle (through [`Wait::or_cancel`]) and is waiting, or that starts waiting
/// later, until [`reset`](Self::reset). Such a call returns `Cancelled` promptly and has lost
/// nothing: a receive took no message, a send either sent nothing or (if part of the message
/// was already out) keeps the rest to go out first, as after a timeout.
///
/// Cloning shares the handle; it is `Send + Sync`. Cancelling is also possible from a signal
/// handler: writing any byte to [`signal_fd`](Self::signal_fd) (Unix) fires it, and
/// `write` is async-signal-safe. (A language runtime that forwards signals to a wake-up
/// descriptor, such as CPython's `signal.set_wakeup_fd`, can be given that descriptor.)
#[derive(Clone)]
pub struct Cancel {
    inner: Arc<CancelInner>,
}

struct CancelInner {
    fired: AtomicBool,
    waker: sys::Waker,
}

impl fmt::Debug for Cancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancel")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl Cancel {
    /// A new handle, not cancelled.
    pub fn new() -> Result<Cancel> {
        Ok(Cancel {
            inner: Arc::new(CancelInner {
                fired: AtomicBool::new(false),
                waker: sys::Waker::new()?,
            }),
        })
    }

    /// Cancel: calls waiting with this handle return `Cancelled`, and so do later ones until
    /// [`reset`](Self::reset). Idempotent; callable from any thread.
    pub fn cancel(&self) {
        self.inner.fired.store(true, Ordering::Release);
        self.inner.waker.wake();
    }

    /// Whether the handle is cancelled (by [`cancel`](Self::cancel) or a byte written to
    /// [`signal_fd`](Self::signal_fd)).
    pub fn is_cancelled(&self) -> bool {
        self.inner.fired.load(Ordering::Acquire) || self.inner.waker.is_fired()
    }

    /// Make the handle usable again: calls given it wait normally until the next cancel.
    pub fn reset(&self) {
        self.inner.fired.store(false, Ordering::Release);
        self.inner.waker.drain();
    }

    /// Like [`reset`](Self::reset), returning the bytes written to
    /// [`signal_fd`](Self::signal_fd) since the last reset (a runtime's signal wake-up
    /// descriptor writes signal numbers there, which a binding may want to pass on).
    pub fn reset_taking_bytes(&self) -> Vec<u8> {
        self.inner.fired.store(false, Ordering::Release);
        let mut bytes = Vec::new();
        self.inner.waker.drain_into(&mut bytes);
        bytes
    }

    /// The descriptor to write a byte to in order to cancel (non-blocking, close-on-exec,
    /// owned by the handle). Async-signal-safe to write.
    #[cfg(unix)]
    pub fn signal_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.inner.waker.write_fd()
    }

    pub(crate) fn waker(&self) -> &sys::Waker {
        &self.inner.waker
    }

    fn fired_flag(&self) -> bool {
        self.inner.fired.load(Ordering::Acquire)
    }
}

/// How long a blocking call may wait: until a deadline (or without limit), and until a
/// [`Cancel`] handle fires. The `*_wait` methods of [`Channel`](crate::Channel) and
/// [`Listener`](crate::Listener) take one; the other methods are shorthands
/// (`recv` = `recv_wait(Wait::forever())`, `recv_timeout(t)` = `recv_wait(Wait::timeout(t))`,
/// `try_recv` = `recv_wait(Wait::no_wait())`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Wait<'a> {
    deadline: Option<Instant>,
    /// At most two handles: typically a caller's and a language runtime's (a binding that
    /// turns signals into cancellation).
    cancel: [Option<&'a Cancel>; 2],
}

impl<'a> Wait<'a> {
    /// No time limit.
    pub fn forever() -> Wait<'static> {
        Wait {
            deadline: None,
            cancel: [None, None],
        }
    }

    /// Wait at most `timeout` from now.
    pub fn timeout(timeout: Duration) -> Wait<'static> {
        Wait {
            deadline: Some(after(timeout)),
            cancel: [None, None],
        }
    }

    /// Wait until `deadline`.
    pub fn until(deadline: Instant) -> Wait<'static> {
        Wait {
            deadline: Some(deadline),
            cancel: [None, None],
        }
    }

    /// Do not wait: only what can be done now.
    pub fn no_wait() -> Wait<'static> {
        Wait::until(Instant::now())
    }

    /// The same limit, and also stop (with `Cancelled`) when `cancel` fires. A wait watches
    /// at most two handles (say, a caller's and one a language binding fires on a signal);
    /// adding a third replaces the second.
    pub fn or_cancel<'b>(self, cancel: &'b Cancel) -> Wait<'b>
    where
        'a: 'b,
    {
        let [first, second] = self.cancel;
        Wait {
            deadline: self.deadline,
            cancel: match first {
                None => [Some(cancel), second],
                Some(f) => [Some(f), Some(cancel)],
            },
        }
    }

    /// The same cancellation handles with another deadline.
    pub(crate) fn with_deadline(self, deadline: Option<Instant>) -> Wait<'a> {
        Wait {
            deadline,
            cancel: self.cancel,
        }
    }

    /// The deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The (first) cancellation handle, if any.
    pub fn cancel(&self) -> Option<&'a Cancel> {
        self.cancel[0]
    }

    /// The watched cancellation handles.
    #[cfg(all(unix, feature = "tokio"))]
    pub(crate) fn cancels(&self) -> impl Iterator<Item = &'a Cancel> + use<'a> {
        self.cancel.into_iter().flatten()
    }

    /// Whether any cancellation handle is watched.
    pub(crate) fn cancellable(&self) -> bool {
        self.cancel[0].is_some()
    }

    /// Whether a watched handle is cancelled (flag or signal byte).
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancel.iter().flatten().any(|c| c.is_cancelled())
    }

    pub(crate) fn wakers(&self) -> [Option<&'a sys::Waker>; 2] {
        self.cancel.map(|c| c.map(|c| c.waker()))
    }

    /// Whether the deadline has passed.
    pub(crate) fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// `Cancelled` if the handle fired (checked cheaply: the flag set by `cancel`; a byte
    /// written to the signal descriptor is seen by the next wait).
    pub(crate) fn check(&self) -> Result<()> {
        if self.cancel.iter().flatten().any(|c| c.fired_flag()) {
            return Err(Error::cancelled());
        }
        Ok(())
    }
}

/// One side (sending or receiving) of a blocking channel: held by the one call or in-place
/// slot using it, waited for by the others.
///
/// A gate remembers which thread holds it for a slot, so that a thread that would wait for
/// its own slot without a time limit gets `Busy` instead of waiting forever.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    state: Mutex<GateState>,
    cond: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    held: bool,
    /// The thread that made the in-place slot holding the gate, if a slot holds it.
    slot_owner: Option<ThreadId>,
    waiters: usize,
    closed: bool,
}

/// How long a gate waiter that also watches a cancellation handle sleeps between looks.
const GATE_CANCEL_POLL: Duration = Duration::from_millis(2);

impl Gate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take the gate, waiting as `wait` allows. Errors: `Timeout` (held past the deadline),
    /// `Cancelled`, `Closed` (the channel was closed meanwhile).
    pub(crate) fn enter(&self, wait: &Wait<'_>, busy_what: &str) -> Result<GateGuard<'_>> {
        let mut st = self.lock();
        if !st.held {
            st.held = true;
            return Ok(GateGuard { gate: self });
        }
        wait.check()?;
        if wait.deadline.is_none()
            && !wait.cancellable()
            && st.slot_owner == Some(std::thread::current().id())
        {
            return Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "this thread holds the {busy_what} side of this channel (an unfinished in-place slot); waiting for it would never end"
                ),
            ));
        }
        st.waiters += 1;
        let result = loop {
            if st.closed {
                break Err(crate::conn::closed_error());
            }
            if !st.held {
                st.held = true;
                break Ok(());
            }
            let now = Instant::now();
            if wait.deadline.is_some_and(|d| now >= d) {
                break Err(Error::new(
                    ErrorKind::Timeout,
                    format!("another caller is using the {busy_what} side of this channel"),
                ));
            }
            if wait.is_cancelled() {
                break Err(Error::cancelled());
            }
            let mut slice = wait
                .deadline
                .map(|d| d.saturating_duration_since(now))
                .unwrap_or(Duration::MAX);
            if wait.cancellable() {
                slice = slice.min(GATE_CANCEL_POLL);
            }
            st = if slice == Duration::MAX {
                self.cond.wait(st).unwrap_or_else(|p| p.into_inner())
            } else {
                self.cond
                    .wait_timeout(st, slice)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            };
        };
        st.waiters -= 1;
        result.map(|()| GateGuard { gate: self })
    }

    /// Take the gate if nobody holds it, without waiting.
    pub(crate) fn try_enter(&self) -> Option<GateGuard<'_>> {
        let mut st = self.lock();
        if st.held || st.closed {
            return None;
        }
        st.held = true;
        Some(GateGuard { gate: self })
    }

    /// Give the gate back (the guard's drop, or a slot that kept it).
    pub(crate) fn leave(&self) {
        let mut st = self.lock();
        st.held = false;
        st.slot_owner = None;
        if st.waiters > 0 {
            drop(st);
            self.cond.notify_one();
        }
    }

    /// Wake every waiter with `Closed` (the channel is closing).
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.cond.notify_all();
    }
}

/// The gate, held until dropped (or kept for a slot with [`keep_for_slot`](Self::keep_for_slot)).
#[derive(Debug)]
pub(crate) struct GateGuard<'a> {
    gate: &'a Gate,
}

impl GateGuard<'_> {
    /// Keep the gate held after this guard is gone, on behalf of an in-place slot made on
    /// this thread; the slot gives it back with [`Gate::leave`].
    pub(crate) fn keep_for_slot(self) {
        self.gate.lock().slot_owner = Some(std::thread::current().id());
        std::mem::forget(self);
    }
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        self.gate.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_fires_resets_and_counts_signal_bytes() {
        let c = Cancel::new().unwrap();
        assert!(!c.is_cancelled());
        c.cancel();
        assert!(c.is_cancelled());
        assert!(Wait::forever().or_cancel(&c).check().is_err());
        c.reset();
        assert!(!c.is_cancelled());
        #[cfg(unix)]
        {
            rustix::io::write(c.signal_fd(), &[2]).unwrap();
            assert!(c.is_cancelled());
            assert_eq!(c.reset_taking_bytes(), vec![2]);
            assert!(!c.is_cancelled());
        }
    }

    #[test]
    fn a_wait_watches_two_handles() {
        let (a, b) = (Cancel::new().unwrap(), Cancel::new().unwrap());
        let w = Wait::forever().or_cancel(&a).or_cancel(&b);
        assert!(w.check().is_ok() && !w.is_cancelled());
        b.cancel();
        assert!(w.check().is_err());
        b.reset();
        #[cfg(unix)]
        rustix::io::write(a.signal_fd(), &[1]).unwrap();
        #[cfg(not(unix))]
        a.cancel();
        assert!(w.is_cancelled());
        let ready = sys::wait_any(&[], w.wakers(), None).unwrap();
        assert!(ready.cancelled());
        a.reset();
        assert!(!w.is_cancelled());
    }

    struct G(Gate);

    #[test]
    fn gate_waits_times_out_cancels_and_closes() {
        let g = Arc::new(G(Gate::default()));
        let held = g.0.enter(&Wait::forever(), "send").unwrap();
        let e = g.0.enter(&Wait::timeout(Duration::from_millis(5)), "send");
        assert_eq!(e.unwrap_err().kind(), ErrorKind::Timeout);
        let c = Cancel::new().unwrap();
        let c2 = c.clone();
        let g2 = Arc::clone(&g);
        let t = std::thread::spawn(move || {
            g2.0.enter(&Wait::forever().or_cancel(&c2), "send")
                .map(drop)
        });
        c.cancel();
        assert_eq!(t.join().unwrap().unwrap_err().kind(), ErrorKind::Cancelled);
        // A slot hold is attributed to its thread.
        held.keep_for_slot();
        // This thread made the slot: waiting for it without limit would never end.
        assert_eq!(
            g.0.enter(&Wait::forever(), "send").unwrap_err().kind(),
            ErrorKind::Busy
        );
        g.0.leave();
        let _again = g.0.enter(&Wait::no_wait(), "send").unwrap();
        let g3 = Arc::clone(&g);
        let t = std::thread::spawn(move || g3.0.enter(&Wait::forever(), "send").map(drop));
        std::thread::sleep(Duration::from_millis(5));
        g.0.close();
        assert_eq!(t.join().unwrap().unwrap_err().kind(), ErrorKind::Closed);
    }
}
