//! How one side waits for the other: a shared futex, or a busy spin. Either way it notices when
//! the other process is gone, so a crashed peer is an error, not a hang.
//!
//! Futex: the waiter sets its `asleep` word, then (after a SeqCst fence) checks the condition
//! once more and calls FUTEX_WAIT on the watched word with the value it just saw; there is no
//! spinning before sleeping. The waker stores the watched word, fences, and calls FUTEX_WAKE
//! only if the waiter's `asleep` word is set, clearing it as it does, so a burst of sends
//! while the waiter is waking makes one FUTEX_WAKE, not one each (every word has one waker:
//! the producer wakes on `seq`, the consumer on `freed`). The two fences make it impossible
//! for the waiter to miss the new value while the waker misses the flag, and FUTEX_WAIT itself
//! refuses to sleep if the word has already changed. The futexes are the shared kind (no
//! FUTEX_PRIVATE_FLAG): the two sides are different processes.
//!
//! Spin: the waiter loads the watched word in a loop with `std::hint::spin_loop`, never
//! sleeping; the waker does nothing beyond its store.

use std::io::{ErrorKind, Read};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, Ordering, fence};

use rustix::io::Errno;
use rustix::thread::futex;

use libipc_bench::{Fail, Result};

/// How often a sleeping waiter checks that the other process is still there.
const FUTEX_TIMEOUT: futex::Timespec = futex::Timespec {
    tv_sec: 0,
    tv_nsec: 100_000_000,
};
/// How many spins between those checks when spinning (milliseconds' worth).
const SPINS_PER_CHECK: u32 = 1 << 18;

/// The waiting strategy of a raw shared-memory link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Sleep in FUTEX_WAIT; wake with FUTEX_WAKE when the waiter says it is asleep.
    Futex,
    /// Busy-spin on the word, never sleeping.
    Spin,
}

/// A [`Wait`] strategy, and this side's end of a socket pair that the other process holds
/// open until it exits (nothing is ever written on it: reading end-of-file means it is gone).
#[derive(Debug)]
pub(crate) struct Waiter {
    wait: Wait,
    alive: UnixStream,
}

impl Waiter {
    pub(crate) fn new(wait: Wait, alive: UnixStream) -> Result<Waiter> {
        alive.set_nonblocking(true)?;
        Ok(Waiter { wait, alive })
    }

    /// Wait until `ready(word)`; returns the value of `word` that was ready. `asleep` is this
    /// side's flag for the waker.
    pub(crate) fn until(
        &self,
        word: &AtomicU32,
        asleep: &AtomicU32,
        mut ready: impl FnMut(u32) -> bool,
    ) -> Result<u32> {
        let value = word.load(Ordering::Acquire);
        if ready(value) {
            return Ok(value);
        }
        match self.wait {
            Wait::Spin => {
                let mut spins = 0u32;
                loop {
                    std::hint::spin_loop();
                    let value = word.load(Ordering::Acquire);
                    if ready(value) {
                        return Ok(value);
                    }
                    spins = spins.wrapping_add(1);
                    if spins.is_multiple_of(SPINS_PER_CHECK) {
                        self.check_other_side()?;
                    }
                }
            }
            Wait::Futex => loop {
                asleep.store(1, Ordering::Relaxed);
                fence(Ordering::SeqCst);
                let value = word.load(Ordering::Acquire);
                if ready(value) {
                    asleep.store(0, Ordering::Relaxed);
                    return Ok(value);
                }
                let slept = futex::wait(word, futex::Flags::empty(), value, Some(&FUTEX_TIMEOUT));
                asleep.store(0, Ordering::Relaxed);
                match slept {
                    Ok(()) | Err(Errno::AGAIN) | Err(Errno::INTR) => {}
                    Err(Errno::TIMEDOUT) => self.check_other_side()?,
                    Err(e) => return Err(Fail::new(format!("futex wait: {e}"))),
                }
                let value = word.load(Ordering::Acquire);
                if ready(value) {
                    return Ok(value);
                }
            },
        }
    }

    /// After storing `word` with Release: wake the other side if it sleeps on `word` (as its
    /// `asleep` flag says), clearing the flag.
    pub(crate) fn wake(&self, word: &AtomicU32, asleep: &AtomicU32) -> Result {
        if self.wait == Wait::Futex {
            fence(Ordering::SeqCst);
            // Load first: the swap writes, which would pull the line away from the other side
            // on every message.
            if asleep.load(Ordering::Relaxed) != 0 && asleep.swap(0, Ordering::Relaxed) != 0 {
                futex::wake(word, futex::Flags::empty(), 1)
                    .map_err(|e| Fail::new(format!("futex wake: {e}")))?;
            }
        }
        Ok(())
    }

    fn check_other_side(&self) -> Result {
        match (&self.alive).read(&mut [0u8; 1]) {
            Ok(0) => Err(Fail::new(
                "the other process of the shared-memory link has exited",
            )),
            Ok(_) => Err(Fail::new(
                "unexpected data on the shared-memory link's socket",
            )),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => Ok(()),
            Err(e) => Err(Fail::new(format!(
                "checking the other side of the shared-memory link: {e}"
            ))),
        }
    }
}
