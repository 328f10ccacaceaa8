//! Adaptive spinning before a blocking wait.
//!
//! Polling for a little while before sleeping saves the scheduler wake-up that dominates a
//! local round trip, but only when the answer comes while we poll. On a loaded machine the
//! peer we just woke is often queued behind us on our own CPU, and a spinner then only delays
//! it (measured: 13x slower than not spinning at all during a parallel build). So a
//! [`Spinner`]:
//!
//! - never spins when the process may use only one CPU;
//! - spins for a window that adapts per channel side: it doubles (up to the configured
//!   maximum) when the wait ended while spinning, and halves when it did not, down to nothing;
//!   with no window, every [`PROBE_EVERY`]th wait spins briefly to see whether things improved,
//!   and each failed probe doubles that interval (up to [`MAX_PROBE_EVERY`]);
//! - stops at once, and stops spinning for a while, when it finds it was descheduled in the
//!   middle of a spin (a gap of [`PREEMPTED`] between two looks at the clock), or when its
//!   yields gave the CPU away for [`PREEMPTED`] in all (each yield beyond [`YIELD_FREE`]): the
//!   machine has more runnable threads than CPUs, which is exactly when spinning delays the
//!   peer. (Spinners that outnumber the CPUs hand the CPU to each other at every yield, a few
//!   µs at a time, so no single gap shows it: measured, 4 spinning processes on 2 CPUs kept
//!   spinning and the aggregate throughput of 2 shm pairs fell to a third of one pair's.)
//! - measures what it is for: the average wait when spinning won, and (one wait in
//!   [`EXPLORE_EVERY`], told by the caller through [`Spinner::blocked`]) when it blocked at
//!   once; when blocking is no slower, as on a busy machine where CPUs are awake anyway and
//!   spinning only delays the peer, it blocks (and now and then spins, to keep measuring);
//! - yields its CPU every [`YIELD_EVERY`] of spinning, so a peer queued on this CPU can run;
//! - bounds the CPU it burns per wait by the window (at most the configured maximum).
//!
//! The state is a pair of relaxed atomics: shared by every thread using the side, and cheap.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::sys;

/// Smallest useful window; below it spinning stops.
const MIN_WINDOW_NS: u32 = 1_000;
/// With no window, one wait in this many probes.
pub(crate) const PROBE_EVERY: u32 = 16;
/// The longest interval between probes, in waits.
pub(crate) const MAX_PROBE_EVERY: u32 = 1024;
/// One wait in this many takes the other way (spin or block) than the faster one, to keep
/// measuring both.
pub(crate) const EXPLORE_EVERY: u32 = 128;
/// A gap this long between two looks at the clock while spinning means we lost the CPU.
pub(crate) const PREEMPTED: Duration = Duration::from_micros(30);
/// How often a spinner yields its CPU.
pub(crate) const YIELD_EVERY: Duration = Duration::from_micros(4);
/// What a `sched_yield` costs when no other thread wants the CPU (measured here: 0.5 µs on
/// average, 1 in 3,000 above 2 µs); time in a yield beyond this went to another thread.
pub(crate) const YIELD_FREE: Duration = Duration::from_micros(1);
/// Polls between two looks at the clock.
const BATCH: u32 = 16;

/// The adaptive spin state of one side of a channel: the waiting strategy every libipc
/// channel uses, public so that a baseline (`ipc bench`'s raw `unix-spin` row) or another
/// runtime can wait the same way.
#[derive(Debug)]
pub struct Spinner {
    max_ns: u32,
    window_ns: AtomicU32,
    skipped: AtomicU32,
    /// Waits between probes while the window is zero.
    probe_every: AtomicU32,
    /// See [`PREEMPTED`] (longer in tests that must not depend on the scheduler).
    preempted: Duration,
    /// Waits so far (for the occasional exploring wait).
    waits: AtomicU32,
    /// Running averages, in ns (0: not measured yet), of how long a wait took when spinning
    /// won, and when it did not spin at all but blocked at once.
    spin_ns: AtomicU32,
    block_ns: AtomicU32,
    /// Whether the last `spin` call skipped spinning (so `blocked` may measure a plain wait).
    skipped_last: AtomicBool,
}

impl Spinner {
    /// A spinner that spins at most `max` per wait (none at all on a single usable CPU).
    pub fn new(max: Duration) -> Spinner {
        let max_ns = if sys::usable_cpus() <= 1 {
            0
        } else {
            max.as_nanos().min(u128::from(u32::MAX)) as u32
        };
        Spinner {
            max_ns,
            window_ns: AtomicU32::new(max_ns),
            skipped: AtomicU32::new(0),
            probe_every: AtomicU32::new(PROBE_EVERY),
            preempted: PREEMPTED,
            waits: AtomicU32::new(0),
            spin_ns: AtomicU32::new(0),
            block_ns: AtomicU32::new(0),
            skipped_last: AtomicBool::new(false),
        }
    }

    /// A spinner that never spins.
    #[cfg(test)]
    pub(crate) fn off() -> Spinner {
        Spinner::new(Duration::ZERO)
    }

    /// Whether this spinner may ever spin.
    pub fn enabled(&self) -> bool {
        self.max_ns > 0
    }

    /// Spin until `ready()` or the current window (or `deadline`) ends; whether `ready()`
    /// became true. Adapts the window to the outcome. When this returns `false` the caller
    /// blocks; it should then call [`blocked`](Self::blocked) with the instant it called
    /// `spin`, so the spinner learns what a plain blocking wait costs and stops spinning when
    /// that is no slower (a busy machine, where spinning only delays the peer).
    pub fn spin(&self, mut ready: impl FnMut() -> bool, deadline: Option<Instant>) -> bool {
        if self.max_ns == 0 {
            return false;
        }
        let n = self.waits.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let explore = n.is_multiple_of(EXPLORE_EVERY);
        let mut window = self.window_ns.load(Ordering::Relaxed);
        if window > 0 {
            let (spun, blocked) = (
                self.spin_ns.load(Ordering::Relaxed),
                self.block_ns.load(Ordering::Relaxed),
            );
            let blocking_is_faster = spun > 0 && blocked > 0 && blocked <= spun;
            // Mostly the faster way; now and then the other, to keep both measures fresh.
            if blocking_is_faster != explore {
                self.skipped_last.store(true, Ordering::Relaxed);
                return false;
            }
        }
        self.skipped_last.store(false, Ordering::Relaxed);
        if window == 0 {
            let n = self.skipped.fetch_add(1, Ordering::Relaxed) + 1;
            if n < self.probe_every.load(Ordering::Relaxed) {
                return false;
            }
            self.skipped.store(0, Ordering::Relaxed);
            // A probe spins the whole window: a shorter one would miss answers that a full
            // spin catches, and then spinning would never come back. Rare, so bounded.
            window = self.max_ns;
        }
        let start = Instant::now();
        let mut end = start + Duration::from_nanos(u64::from(window));
        if let Some(d) = deadline {
            end = end.min(d);
        }
        let mut next_yield = start + YIELD_EVERY;
        let mut last = start;
        let mut given_away = Duration::ZERO;
        let mut preempted = false;
        let won = 'spin: loop {
            for _ in 0..BATCH {
                if ready() {
                    break 'spin true;
                }
                std::hint::spin_loop();
            }
            let now = Instant::now();
            if now.duration_since(last) >= self.preempted {
                preempted = true;
                break ready();
            }
            last = now;
            if now >= end {
                break ready();
            }
            if now >= next_yield {
                sys::yield_now();
                last = Instant::now();
                next_yield = last + YIELD_EVERY;
                given_away += last.duration_since(now).saturating_sub(YIELD_FREE);
                if given_away >= self.preempted {
                    preempted = true;
                    break ready();
                }
            }
        };
        if won && !preempted {
            average(&self.spin_ns, start.elapsed());
        }
        self.adapt(window, won, preempted);
        won
    }

    /// After a `spin` that returned `false`: the wait, begun at `since`, is over. If that
    /// `spin` did not spin at all, its length is what a plain blocking wait costs now.
    pub fn blocked(&self, since: Instant) {
        if self.skipped_last.swap(false, Ordering::Relaxed)
            && self.window_ns.load(Ordering::Relaxed) > 0
        {
            average(&self.block_ns, since.elapsed());
        }
    }

    fn adapt(&self, window: u32, won: bool, preempted: bool) {
        let probing = self.window_ns.load(Ordering::Relaxed) == 0;
        let next = if won && !preempted {
            window.saturating_mul(2).clamp(MIN_WINDOW_NS, self.max_ns)
        } else if preempted || probing || window / 2 < MIN_WINDOW_NS {
            0
        } else {
            window / 2
        };
        self.window_ns.store(next, Ordering::Relaxed);
        if next > 0 {
            self.probe_every.store(PROBE_EVERY, Ordering::Relaxed);
        } else if probing || preempted {
            // A failed probe, or a spin cut short by the scheduler: wait longer before the
            // next probe.
            let every = self.probe_every.load(Ordering::Relaxed);
            self.probe_every
                .store((every * 2).min(MAX_PROBE_EVERY), Ordering::Relaxed);
        }
        if next == 0 {
            self.skipped.store(0, Ordering::Relaxed);
        }
    }

    /// The current window (for tests and diagnostics).
    #[cfg(test)]
    pub fn window(&self) -> Duration {
        Duration::from_nanos(u64::from(self.window_ns.load(Ordering::Relaxed)))
    }
}

/// Fold `sample` into the running average at `avg` (weight 1/8; 0 means none yet).
fn average(avg: &AtomicU32, sample: Duration) {
    let x = sample.as_nanos().clamp(1, u128::from(u32::MAX)) as u32;
    let old = avg.load(Ordering::Relaxed);
    let new = if old == 0 {
        x
    } else {
        (i64::from(old) + (i64::from(x) - i64::from(old)) / 8) as u32
    };
    avg.store(new.max(1), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_shrinks_on_failure_and_grows_back_on_success() {
        if sys::usable_cpus() <= 1 {
            assert!(!Spinner::new(Duration::from_micros(50)).enabled());
            return;
        }
        let mut s = Spinner::new(Duration::from_micros(16));
        s.preempted = Duration::MAX; // this test is about the window, not the scheduler
        assert_eq!(s.window(), Duration::from_micros(16));
        assert!(!s.spin(|| false, None));
        assert_eq!(s.window(), Duration::from_micros(8));
        // 8 -> 4 -> 2 -> 1 -> off.
        for _ in 0..4 {
            s.spin(|| false, None);
        }
        assert_eq!(s.window(), Duration::ZERO);
        // With no window, only every PROBE_EVERY-th wait spins (a probe).
        let mut polls = 0;
        for _ in 0..PROBE_EVERY - 1 {
            assert!(!s.spin(
                || {
                    polls += 1;
                    true
                },
                None
            ));
        }
        assert_eq!(polls, 0);
        assert!(s.spin(|| true, None));
        assert!(s.window() > Duration::ZERO);
        // A failed probe doubles the interval to the next one.
        while s.window() > Duration::ZERO {
            s.spin(|| false, None);
        }
        for _ in 0..PROBE_EVERY - 1 {
            assert!(!s.spin(|| true, None));
        }
        assert!(!s.spin(|| false, None)); // the probe fails
        for _ in 0..2 * PROBE_EVERY - 1 {
            assert!(!s.spin(|| true, None));
        }
        assert!(s.spin(|| true, None)); // the next probe comes twice as late, and wins
        for _ in 0..8 {
            assert!(s.spin(|| true, None));
        }
        assert_eq!(s.window(), Duration::from_micros(16));
    }

    #[test]
    fn zero_never_spins() {
        let s = Spinner::off();
        let mut polls = 0;
        assert!(!s.spin(
            || {
                polls += 1;
                true
            },
            None
        ));
        assert_eq!(polls, 0);
    }
}
