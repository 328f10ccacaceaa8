//! The blocking request/reply client.
//!
//! Many requests may be in flight on one channel, from any number of threads. Nobody owns
//! the receiving side: a caller waiting for its reply takes the receive role if nobody holds
//! it (a *leader*), receives whatever arrives and hands each reply to the slot of its id,
//! waking that caller; the others (*followers*) sleep on their own condition variable. A
//! leader whose reply came (or whose wait ended) wakes one follower to take over. So a single
//! caller receives its reply itself, with no thread in between, and there is always a
//! receiver while anyone waits.
//!
//! A caller that cannot send (the server is not reading, because its replies are not being
//! read: every waiter gave up) drains replies between short attempts, so requests and
//! replies never block each other.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{check_body, ends_channel, framed, from_server, rpc_options, unknown_id};
use crate::channel::Channel;
use crate::conn::{Message, PeerCredentials};
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::options::Options;
use crate::wait::Wait;
use crate::wire::Envelope;

/// How long one attempt to send a request waits before the caller drains replies and tries
/// again (only while the server is not taking requests).
const SEND_SLICE: Duration = Duration::from_millis(5);
/// How often a follower whose wait has a cancellation handle looks at it.
const CANCEL_POLL: Duration = Duration::from_millis(5);

/// A request/reply client: one channel, many requests in flight. Cheap to clone (clones
/// share the channel); `Send + Sync`.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    chan: Channel,
    state: Mutex<State>,
    /// The next correlation id (ids start at 1 and are never reused).
    next_id: AtomicU64,
    late: AtomicU64,
}

#[derive(Default)]
struct State {
    slots: HashMap<u64, Slot>,
    /// A caller holds the receive role.
    receiving: bool,
    /// How the channel ended: every waiting call gets it.
    ended: Option<Error>,
}

#[derive(Default)]
struct Slot {
    reply: Option<Result<Message>>,
    /// Its caller sleeps as a follower on this.
    parked: Option<Arc<Condvar>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.inner.chan.peer())
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

/// A request that was sent and whose reply has not been taken yet: [`wait`](Self::wait) for
/// it. Dropping it abandons the request (as a timed-out one: its slot is released, a late
/// reply is dropped and counted).
#[must_use = "a request's reply is only received by waiting for it"]
pub struct Pending {
    inner: Arc<Inner>,
    id: u64,
    done: bool,
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending").field("id", &self.id).finish()
    }
}

impl Client {
    /// Connect to a request/reply [`Server`](super::Server) with default options.
    ///
    /// Errors as [`Channel::connect`], and `ProtocolMismatch` when the endpoint is not a
    /// request/reply server (a plain listener, or a libipc older than wire 1.1).
    pub fn connect<E>(endpoint: E) -> Result<Client>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        Client::connect_with(endpoint, &Options::default())
    }

    /// Connect with options (as [`Channel::connect_with`]).
    pub fn connect_with<E>(endpoint: E, opts: &Options) -> Result<Client>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        let chan = Channel::connect_with(endpoint, &rpc_options(opts))?;
        Ok(Client {
            inner: Arc::new(Inner {
                chan,
                state: Mutex::default(),
                next_id: AtomicU64::new(1),
                late: AtomicU64::new(0),
            }),
        })
    }

    /// Send a request and wait for its reply.
    ///
    /// Errors: `Remote` (the handler answered with an error: [`Error::status`], and its text
    /// as the message; the client stays usable), `MessageTooLarge` (the body and its 16-byte
    /// envelope exceed the channel's limit; nothing sent), and the channel's errors
    /// (`PeerDisconnected`, `Closed`, `ProtocolViolation`), which end every request in flight.
    pub fn call(&self, body: &[u8]) -> Result<Message> {
        self.call_wait(body, Wait::forever())
    }

    /// [`call`](Self::call) with a deadline: `Timeout` after `timeout` (sending included).
    pub fn call_timeout(&self, body: &[u8], timeout: Duration) -> Result<Message> {
        self.call_wait(body, Wait::timeout(timeout))
    }

    /// [`call`](Self::call) within `wait`: `Timeout` when its deadline passes, `Cancelled` when
    /// one of its handles fires. A request that gives up after it was sent releases its slot
    /// and tells the server (CANCEL, best effort); its reply, if it still comes, is dropped
    /// and counted in [`late_replies`](Self::late_replies).
    pub fn call_wait(&self, body: &[u8], wait: Wait<'_>) -> Result<Message> {
        self.start_wait(body, wait)?.wait(wait)
    }

    /// Send a request without waiting for its reply; wait with [`Pending::wait`]. Any number
    /// of requests may be in flight; their replies may come in any order.
    pub fn start(&self, body: &[u8]) -> Result<Pending> {
        self.start_wait(body, Wait::forever())
    }

    /// [`start`](Self::start) within `wait` (which bounds the sending only).
    pub fn start_wait(&self, body: &[u8], wait: Wait<'_>) -> Result<Pending> {
        let inner = &*self.inner;
        check_body(body.len(), inner.chan.max_message_size(), "request")?;
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut st = inner.lock();
            if let Some(e) = &st.ended {
                return Err(e.clone());
            }
            // Before it is sent: its reply may come at once.
            st.slots.insert(id, Slot::default());
        }
        let pending = Pending {
            inner: Arc::clone(&self.inner),
            id,
            done: false,
        };
        let message = framed(Envelope::request(id), body);
        loop {
            let slice = Instant::now() + SEND_SLICE;
            let until = wait.deadline().map_or(slice, |d| d.min(slice));
            match inner
                .chan
                .send_wait(&message, wait.with_deadline(Some(until)))
            {
                Ok(()) => return Ok(pending),
                Err(e) if e.kind() == ErrorKind::Timeout && !wait.expired() => inner.drain(),
                Err(e) => {
                    if e.kind() == ErrorKind::Timeout {
                        // The server may be waiting for us to take its replies: take what
                        // is there, so that a caller trying again (an event loop) gets on.
                        inner.drain();
                    }
                    // Not sent: nothing to cancel.
                    let mut pending = pending;
                    pending.done = true;
                    inner.lock().slots.remove(&id);
                    return Err(e);
                }
            }
        }
    }

    /// Requests sent whose replies have not been taken yet.
    pub fn in_flight(&self) -> usize {
        self.inner.lock().slots.len()
    }

    /// Replies that came for requests nobody waited for any more (timed out, cancelled,
    /// dropped), and duplicates: dropped, never delivered to another caller.
    pub fn late_replies(&self) -> u64 {
        self.inner.late.load(Ordering::Relaxed)
    }

    /// The server's credentials.
    pub fn peer(&self) -> PeerCredentials {
        self.inner.chan.peer()
    }

    /// Close the channel: requests in flight end with `Closed`.
    pub fn close(&self) {
        self.inner.chan.close();
        let mut st = self.inner.lock();
        self.inner.end(&mut st, crate::conn::closed_error());
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The channel ended: remember why and wake every waiting caller.
    fn end(&self, st: &mut State, err: Error) {
        if st.ended.is_none() {
            st.ended = Some(err);
        }
        for slot in st.slots.values() {
            if let Some(cv) = &slot.parked {
                cv.notify_one();
            }
        }
    }

    /// Hand one received message to its slot.
    fn dispatch(&self, st: &mut State, m: Message) {
        match from_server(m) {
            Ok((id, outcome)) => match st.slots.get_mut(&id) {
                Some(slot) if slot.reply.is_none() => {
                    slot.reply = Some(outcome);
                    if let Some(cv) = &slot.parked {
                        cv.notify_one();
                    }
                }
                // A second reply to one request, or one nobody waits for any more.
                _ if id != 0 && id < self.next_id.load(Ordering::Relaxed) => {
                    self.late.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    let e = self.chan.fail(unknown_id(id));
                    self.end(st, e);
                }
            },
            Err(violation) => {
                let e = self.chan.fail(violation);
                self.end(st, e);
            }
        }
    }

    /// A caller leaves: if nobody holds the receive role, wake one follower to take it (it
    /// may have been woken for the role and found its reply instead).
    fn hand_over(&self, st: &State) {
        if st.receiving {
            return;
        }
        if let Some(cv) = st.slots.values().find_map(|s| s.parked.as_ref()) {
            cv.notify_one();
        }
    }

    /// Take what has arrived, if nobody else is receiving (a sender that cannot get its
    /// request out: the server may be waiting for us to read its replies).
    fn drain(&self) {
        let mut st = self.lock();
        if st.receiving || st.ended.is_some() {
            return;
        }
        st.receiving = true;
        drop(st);
        let mut got = Vec::new();
        let end = loop {
            match self.chan.try_recv() {
                Ok(m) => got.push(m),
                Err(e) => break ends_channel(&e).then_some(e),
            }
        };
        let mut st = self.lock();
        st.receiving = false;
        for m in got {
            self.dispatch(&mut st, m);
        }
        if let Some(e) = end {
            self.end(&mut st, e);
        }
        self.hand_over(&st);
    }

    /// Give up request `id` (wait ended, or dropped): release its slot and tell the server.
    fn abandon(&self, id: u64) {
        let was = self.lock().slots.remove(&id);
        if was.is_some_and(|s| s.reply.is_none()) {
            // Advisory and best effort: only if it goes out now.
            let _ = self
                .chan
                .send_wait(&Envelope::cancel(id).encode(), Wait::no_wait());
        }
    }

    /// Wait for request `id`'s reply within `wait`. When the wait ends first, the request is
    /// abandoned if `abandon`, else it stays in flight.
    fn wait_reply(&self, id: u64, wait: &Wait<'_>, abandon: bool) -> Result<Message> {
        let mut st = self.lock();
        loop {
            let state = &mut *st;
            let slot = state
                .slots
                .get_mut(&id)
                .expect("a pending request has its slot");
            if let Some(outcome) = slot.reply.take() {
                state.slots.remove(&id);
                self.hand_over(state);
                return outcome;
            }
            if let Some(e) = &state.ended {
                let e = e.clone();
                state.slots.remove(&id);
                return Err(e);
            }
            let gave_up = if wait.is_cancelled() {
                Some(Error::cancelled())
            } else if wait.expired() {
                Some(Error::timeout("no reply arrived before the timeout"))
            } else {
                None
            };
            if let Some(e) = gave_up {
                slot.parked = None;
                self.hand_over(state);
                drop(st);
                if abandon {
                    self.abandon(id);
                }
                return Err(e);
            }
            if !state.receiving {
                // Lead: receive until our reply is here or our wait ends.
                slot.parked = None;
                state.receiving = true;
                drop(st);
                let got = self.chan.recv_wait(*wait);
                st = self.lock();
                st.receiving = false;
                match got {
                    Ok(m) => self.dispatch(&mut st, m),
                    Err(e) if ends_channel(&e) => self.end(&mut st, e),
                    Err(_) => {}
                }
                continue;
            }
            // Follow: sleep until our reply comes or the leader leaves.
            let cv = Arc::clone(slot.parked.get_or_insert_with(Default::default));
            let now = Instant::now();
            let mut limit = wait.deadline().map(|d| d.saturating_duration_since(now));
            if wait.cancellable() {
                limit = Some(limit.map_or(CANCEL_POLL, |l| l.min(CANCEL_POLL)));
            }
            st = match limit {
                None => cv.wait(st).unwrap_or_else(|p| p.into_inner()),
                Some(l) => cv.wait_timeout(st, l).unwrap_or_else(|p| p.into_inner()).0,
            };
        }
    }
}

impl Pending {
    /// The request's correlation id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The reply if it is here, without waiting: first takes whatever has arrived on the
    /// channel, unless another caller is receiving (a blocked [`wait`](Self::wait) or
    /// `call`). `None`: not yet; wait until the client's descriptor (`AsFd`) is readable and
    /// try again (the readiness rule of [`Channel`]'s descriptor). For event loops (asyncio)
    /// that drive many requests from one thread. Once it returned `Some`, the request is done
    /// (dropping it changes nothing, and a
    /// later call returns `InvalidArgument`).
    pub fn try_take(&mut self) -> Option<Result<Message>> {
        if self.done {
            return Some(Err(Error::new(
                ErrorKind::InvalidArgument,
                "this request's reply was already taken",
            )));
        }
        let inner = &*self.inner;
        inner.drain();
        let mut st = inner.lock();
        let state = &mut *st;
        let slot = state.slots.get_mut(&self.id)?;
        let outcome = match slot.reply.take() {
            Some(outcome) => outcome,
            None => Err(state.ended.clone()?),
        };
        state.slots.remove(&self.id);
        self.done = true;
        Some(outcome)
    }

    /// Wait for the reply within `wait` (errors as [`Client::call_wait`]). A wait that ends
    /// first abandons the request.
    pub fn wait(mut self, wait: Wait<'_>) -> Result<Message> {
        self.done = true;
        self.inner.wait_reply(self.id, &wait, true)
    }

    /// Wait for the reply within `wait`, keeping the request in flight when the wait ends
    /// first (`Timeout`, `Cancelled`): wait again, or drop the `Pending` to abandon it. After
    /// any other outcome the request is done (a later call returns `InvalidArgument`).
    pub fn wait_for(&mut self, wait: Wait<'_>) -> Result<Message> {
        if self.done {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "this request's reply was already taken",
            ));
        }
        let r = self.inner.wait_reply(self.id, &wait, false);
        if !matches!(&r, Err(e) if matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Cancelled)) {
            self.done = true;
        }
        r
    }

    /// Wait for the reply without a time limit.
    pub fn wait_forever(self) -> Result<Message> {
        self.wait(Wait::forever())
    }

    /// Wait for the reply at most `timeout`.
    pub fn wait_timeout(self, timeout: Duration) -> Result<Message> {
        self.wait(Wait::timeout(timeout))
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Client {
    /// Readable when a [`Pending::try_take`] that found nothing could make progress (the
    /// channel's descriptor, with its rule).
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.inner.chan.as_fd()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            self.inner.abandon(self.id);
        }
    }
}
