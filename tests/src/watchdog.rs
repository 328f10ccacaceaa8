//! Hang protection. A [`Watchdog`] started at the top of a test aborts the whole test process
//! (after killing every helper process it started) if the test neither finishes nor makes
//! progress for [`IDLE_LIMIT`], or runs longer than [`TOTAL_LIMIT`]. It never fails a test
//! for being slow: the limits are far above any healthy run and only catch deadlocks.
//!
//! Progress is any call to [`tick`] in this process (the stream helpers tick once per message),
//! so long volume tests are not mistaken for hangs.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A test that makes no progress for this long is considered hung.
pub const IDLE_LIMIT: Duration = Duration::from_secs(120);
/// A test still running after this long is considered hung, progress or not.
pub const TOTAL_LIMIT: Duration = Duration::from_secs(30 * 60);

static TICKS: AtomicU64 = AtomicU64::new(0);

/// Record progress (cheap; call freely).
pub fn tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

/// Guards the current test until dropped.
#[derive(Debug)]
pub struct Watchdog {
    done: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Start watching the current test (named after the current thread, as the test harness
    /// names it).
    pub fn start() -> Watchdog {
        let name = std::thread::current()
            .name()
            .unwrap_or("<unnamed test>")
            .to_owned();
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let watched = Arc::clone(&done);
        let thread = std::thread::Builder::new()
            .name(format!("watchdog {name}"))
            .spawn(move || watch(&name, &watched))
            .expect("spawn watchdog");
        Watchdog {
            done,
            thread: Some(thread),
        }
    }
}

fn watch(name: &str, done: &(Mutex<bool>, Condvar)) {
    let start = Instant::now();
    let mut last_ticks = TICKS.load(Ordering::Relaxed);
    let mut last_progress = start;
    let mut finished = done.0.lock().unwrap_or_else(|p| p.into_inner());
    while !*finished {
        finished = done
            .1
            .wait_timeout(finished, Duration::from_secs(1))
            .unwrap_or_else(|p| p.into_inner())
            .0;
        let ticks = TICKS.load(Ordering::Relaxed);
        if ticks != last_ticks {
            last_ticks = ticks;
            last_progress = Instant::now();
        }
        let why = if last_progress.elapsed() > IDLE_LIMIT {
            format!("made no progress for {IDLE_LIMIT:?}")
        } else if start.elapsed() > TOTAL_LIMIT {
            format!("ran for more than {TOTAL_LIMIT:?}")
        } else {
            continue;
        };
        if *finished {
            return;
        }
        // Written straight to the stderr handle: the test harness captures print! output and
        // would lose it when the process aborts.
        let _ = writeln!(
            std::io::stderr(),
            "\nWATCHDOG: test `{name}` {why}; it is hung. Killing helper processes and aborting."
        );
        crate::peer::kill_all();
        std::process::abort();
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        *self.done.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.done.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
