//! SIGINT and SIGTERM as a [`Cancel`]: a long-running subcommand waits with the handle, and on
//! a signal cleans up (closes its listener, which removes the socket file) and then ends the
//! way the signal would have ended it ([`Stop::exit`]).
//!
//! The handlers are installed whatever the inherited disposition: a process started from a
//! background job of a non-interactive shell inherits SIGINT as ignored, and must still clean
//! up when asked to stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use libipc::Cancel;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::fail::{Context, Result};

/// Fired by the first SIGINT or SIGTERM.
#[derive(Debug)]
pub struct Stop {
    cancel: Cancel,
    signal: Arc<AtomicI32>,
}

impl Stop {
    /// Install the handlers. A thread turns the first signal into a cancellation.
    pub fn install() -> Result<Stop> {
        let cancel = Cancel::new()?;
        let signal = Arc::new(AtomicI32::new(0));
        let mut signals =
            Signals::new([SIGINT, SIGTERM]).context("installing SIGINT/SIGTERM handlers")?;
        let (fire, seen) = (cancel.clone(), Arc::clone(&signal));
        std::thread::Builder::new()
            .name("ipc-signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    seen.store(sig, Ordering::Release);
                    fire.cancel();
                }
            })
            .context("starting the signal thread")?;
        Ok(Stop { cancel, signal })
    }

    /// The handle to wait with.
    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    /// End the process as the signal received would have (killed by it: the shell reports
    /// 128 + its number). Call after cleaning up.
    pub fn exit(&self) -> ! {
        let sig = match self.signal.load(Ordering::Acquire) {
            0 => SIGTERM,
            sig => sig,
        };
        // Restores the default action, unblocks and raises the signal; aborts if that fails.
        let _ = signal_hook::low_level::emulate_default_handler(sig);
        std::process::exit(128 + sig)
    }
}
