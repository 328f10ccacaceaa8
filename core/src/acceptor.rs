//! The background acceptor shared by [`Listener`](crate::Listener) and
//! [`AsyncListener`](crate::aio::AsyncListener).
//!
//! One thread per listener accepts connections as they arrive and runs each handshake on a
//! short-lived thread, so `connect` completes even before anyone calls `accept` (bind, connect
//! and accept may run in sequence on one thread), and a silent or broken client never holds up
//! others. At most [`MAX_PENDING`] connections wait (in handshake or unaccepted); beyond that
//! new clients wait in the kernel backlog. No thread lives longer than a handshake: an
//! accepted channel has none.
//!
//! `max_connections` bounds what the listener holds: every accepted stream is counted (a
//! [`Counted`] carried by its handshake, then by its link's `Conn`) until the connection is
//! dropped (its handshake failed, it was never accepted, its channel was dropped) or its
//! channel closed.
//! A stream beyond the limit is refused at once on this thread (`handshake::refuse_now`).
//!
//! The acceptor thread alone owns the listener, so [`Acceptor::shutdown`] (stop, then
//! join) closes it: once it returns, clients are refused by the kernel. Handshake threads still
//! running finish on their own; their `Deliver` refuses the connection once the owner is closed.
//! The acceptor thread takes no lock and runs no user code, so joining it cannot deadlock.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::conn::Counted;
use crate::error::{Error, ErrorKind, Result};
use crate::handshake;
use crate::link::Link;
use crate::options::Options;
use crate::sys::{Stream, Waker};
use crate::transport::{Accept, Transport};

/// Connections that may be in handshake or waiting for `accept` at once.
pub(crate) const MAX_PENDING: usize = 1024;

#[derive(Debug)]
struct State {
    stop: AtomicBool,
    /// Wakes the acceptor thread: on stop, and when `accept` made room.
    kick: Waker,
    pending: AtomicUsize,
    /// Connections held (`max_connections`): in handshake, waiting, or accepted and not dropped.
    held: Arc<AtomicUsize>,
}

/// Where established connections go; returns `false` if nobody will take them any more.
pub(crate) type Deliver = Box<dyn Fn(Arc<dyn Link>) -> bool + Send + Sync>;

/// Handle to the acceptor thread; dropping it stops the thread and waits for it.
#[derive(Debug)]
pub(crate) struct Acceptor {
    state: Arc<State>,
    /// Held while joining, so every concurrent `shutdown` returns only once the thread is gone.
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Acceptor {
    /// Start accepting on `listener`, which the acceptor thread owns and closes when it ends;
    /// connections are handshaken for transport `t`.
    pub(crate) fn start(
        listener: Box<dyn Accept>,
        t: &'static dyn Transport,
        opts: Options,
        deliver: Deliver,
    ) -> Result<Acceptor> {
        let state = Arc::new(State {
            stop: AtomicBool::new(false),
            kick: Waker::new()?,
            pending: AtomicUsize::new(0),
            held: Arc::new(AtomicUsize::new(0)),
        });
        let st = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("libipc-acceptor".into())
            .spawn(move || {
                run(&*listener, t, &opts, &st, Arc::new(deliver));
                // Closed here, before `shutdown`'s join returns.
                drop(listener);
            })
            .map_err(|e| Error::from_io(&e, "starting the acceptor thread"))?;
        Ok(Acceptor {
            state,
            thread: Mutex::new(Some(thread)),
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
    /// Stop accepting and wait for the acceptor thread to end: when this returns, the listening
    /// socket is closed (new clients are refused). Idempotent, callable from any thread; a call
    /// racing another returns only once the thread is gone. Handshakes already under way are not
    /// waited for.
    pub(crate) fn shutdown(&self) {
        self.state.stop.store(true, Ordering::Release);
        self.state.kick.wake();
        let mut thread = self.thread.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = thread.take() {
            // The acceptor thread never gets here (it runs no user code); if it somehow did,
            // joining itself would deadlock, so let it end on its own instead.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(
    listener: &dyn Accept,
    t: &'static dyn Transport,
    opts: &Options,
    st: &Arc<State>,
    deliver: Arc<Deliver>,
) {
    loop {
        if st.stop.load(Ordering::Acquire) {
            return;
        }
        let room = st.pending.load(Ordering::Acquire) < MAX_PENDING;
        if let Err(e) = listener.wait(&st.kick, room) {
            tracing::error!(error = %e, "acceptor wait failed; listener stops accepting");
            return;
        }
        st.kick.drain();
        // Once stopped, leave queued clients alone: closing the listener refuses them at once,
        // instead of handshaking connections nobody will accept.
        while !st.stop.load(Ordering::Acquire) && st.pending.load(Ordering::Acquire) < MAX_PENDING {
            match listener.try_accept() {
                Ok(Some(stream)) => match Counted::take(&st.held, opts.max_connections) {
                    Some(counted) => spawn_handshake(stream, counted, t, opts, st, &deliver),
                    None => {
                        let e = Error::new(
                            ErrorKind::Timeout,
                            format!(
                                "the listener is at its connection limit ({}); try again later",
                                opts.max_connections
                            ),
                        );
                        tracing::info!(error = %e, "refused a connection");
                        handshake::refuse_now(t, stream, opts, &e);
                    }
                },
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
    stream: Stream,
    counted: Counted,
    t: &'static dyn Transport,
    opts: &Options,
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
                handshake::server(t, stream, &opts)
            }))
            .unwrap_or_else(|_| {
                Err(Error::new(
                    crate::error::ErrorKind::Io,
                    "the handshake panicked",
                ))
            });
            let delivered = match result {
                Ok(link) => {
                    // Counted until the channel holding the link is closed or dropped.
                    link.conn().hold_count(counted);
                    deliver(link)
                }
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
