//! The background acceptor shared by [`Listener`](crate::Listener) and
//! [`AsyncListener`](crate::aio::AsyncListener).
//!
//! One thread per listener accepts connections as they arrive and runs each handshake on a
//! short-lived thread, so `connect` completes even before anyone calls `accept` (bind, connect
//! and accept may run in sequence on one thread), and a silent or broken client never holds up
//! others. At most [`MAX_PENDING`] connections wait (in handshake or unaccepted); beyond that
//! new clients wait in the kernel backlog.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use rustix::event::{PollFd, PollFlags};

use crate::error::{Error, Result};
use crate::handshake::{self, Established};
use crate::options::Options;
use crate::sys::{self, WakePipe};
use crate::transport;

/// Connections that may be in handshake or waiting for `accept` at once.
pub(crate) const MAX_PENDING: usize = 1024;

#[derive(Debug)]
struct State {
    stop: AtomicBool,
    /// Wakes the acceptor thread: on stop, and when `accept` made room.
    kick: WakePipe,
    pending: AtomicUsize,
}

/// Where established connections go; returns `false` if nobody will take them any more.
pub(crate) type Deliver = Box<dyn Fn(Established) -> bool + Send + Sync>;

/// Handle to the acceptor thread; dropping it stops the thread and waits for it.
#[derive(Debug)]
pub(crate) struct Acceptor {
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

impl Acceptor {
    pub(crate) fn start(
        listener: Arc<OwnedFd>,
        opts: Options,
        shm: bool,
        deliver: Deliver,
    ) -> Result<Acceptor> {
        let state = Arc::new(State {
            stop: AtomicBool::new(false),
            kick: WakePipe::new()?,
            pending: AtomicUsize::new(0),
        });
        let st = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("libipc-acceptor".into())
            .spawn(move || run(&listener, &opts, shm, &st, Arc::new(deliver)))
            .map_err(|e| Error::from_io(&e, "starting the acceptor thread"))?;
        Ok(Acceptor {
            state,
            thread: Some(thread),
        })
    }

    /// `accept` took one delivered connection: make room for another.
    pub(crate) fn taken(&self) {
        if self.state.pending.fetch_sub(1, Ordering::AcqRel) == MAX_PENDING {
            self.state.kick.wake();
        }
    }
}

impl Acceptor {
    /// Stop accepting; the thread exits and closes the listening socket soon after.
    pub(crate) fn stop(&self) {
        self.state.stop.store(true, Ordering::Release);
        self.state.kick.wake();
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(listener: &OwnedFd, opts: &Options, shm: bool, st: &Arc<State>, deliver: Arc<Deliver>) {
    loop {
        if st.stop.load(Ordering::Acquire) {
            return;
        }
        let room = st.pending.load(Ordering::Acquire) < MAX_PENDING;
        let kick = st.kick.fd();
        let mut fds = [
            PollFd::new(&kick, PollFlags::IN),
            PollFd::new(
                listener,
                if room {
                    PollFlags::IN
                } else {
                    PollFlags::empty()
                },
            ),
        ];
        if let Err(e) = sys::poll(&mut fds, None) {
            tracing::error!(error = %e, "acceptor poll failed; listener stops accepting");
            return;
        }
        st.kick.drain();
        while st.pending.load(Ordering::Acquire) < MAX_PENDING {
            match sys::accept(listener.as_fd()) {
                Ok(Some(fd)) => spawn_handshake(fd, opts, shm, st, &deliver),
                Ok(None) => break,
                Err(e) => {
                    // EMFILE and friends: log, and try again when woken (not in a hot loop).
                    tracing::warn!(error = %e, "accept failed");
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    break;
                }
            }
        }
    }
}

fn spawn_handshake(
    fd: OwnedFd,
    opts: &Options,
    shm: bool,
    st: &Arc<State>,
    deliver: &Arc<Deliver>,
) {
    st.pending.fetch_add(1, Ordering::AcqRel);
    let (opts, st2, deliver) = (opts.clone(), Arc::clone(st), Arc::clone(deliver));
    let spawned = std::thread::Builder::new()
        .name("libipc-handshake".into())
        .spawn(move || {
            // A panic here must not leak the pending slot: catch it and count it as a refusal.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                transport::prepare_accepted(&fd).and_then(|()| handshake::server(fd, &opts, shm))
            }))
            .unwrap_or_else(|_| {
                Err(Error::new(
                    crate::error::ErrorKind::Io,
                    "the handshake panicked",
                ))
            });
            let delivered = match result {
                Ok(est) => deliver(est),
                Err(e) => {
                    tracing::info!(error = %e, "refused a connection");
                    false
                }
            };
            if !delivered && st2.pending.fetch_sub(1, Ordering::AcqRel) == MAX_PENDING {
                st2.kick.wake();
            }
        });
    if let Err(e) = spawned {
        st.pending.fetch_sub(1, Ordering::AcqRel);
        tracing::warn!(error = %e, "could not start a handshake thread; connection dropped");
    }
}
