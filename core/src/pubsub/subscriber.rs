//! The subscriber: a channel that sends its topic prefixes once and then only receives.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
#[cfg(unix)]
use std::time::Instant;

#[cfg(unix)]
use super::fan_in::FanIn;
use super::pubsub_options;
use crate::channel::Channel;
use crate::conn::Message;
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::options::Options;
use crate::wait::Wait;
use crate::wire::{
    PUBSUB_ENVELOPE_LEN, PubSubFrame, PubSubRole, check_prefixes, decode_pubsub, encode_subscribe,
    topic_matches,
};

/// A subscriber: connected to a [`Publisher`](super::Publisher), it receives every message
/// published after [`connect`](Self::connect) returned whose topic starts with one of its
/// prefixes (all of them if it has none), in order, with the number of messages it missed
/// in front of each ([`Delivery::dropped`]).
///
/// Receiving is for one thread at a time; concurrent receives take turns.
#[derive(Debug)]
pub struct Subscriber {
    chan: Channel,
    prefixes: Vec<Vec<u8>>,
    rx: Mutex<Tracker>,
    /// Over shared memory: an epoll set of the fan-out doorbell and the control connection
    /// (what `as_fd` gives), and how long a receive spins before it sleeps.
    #[cfg(unix)]
    readiness: Option<std::os::fd::OwnedFd>,
    #[cfg(unix)]
    spinner: crate::spin::Spinner,
}

/// What a subscriber checks of each message it receives, whichever API receives it: the
/// sequence numbers (never going back; a gap is reported as dropped) and the topics.
#[derive(Debug)]
pub(super) struct Tracker {
    pub(super) prefixes: Vec<Vec<u8>>,
    next_seq: u64,
    pub(super) dropped: u64,
    /// Over shared memory: the fan-out ring the messages come through.
    #[cfg(unix)]
    pub(super) fan: Option<FanIn>,
}

impl Tracker {
    /// The fan-out subscription ends with `e` (the channel already failed with it): later
    /// receives return it too.
    #[cfg(unix)]
    pub(super) fn end_fan(&mut self, e: Error) -> Error {
        self.fan.as_mut().expect("fan").ended = Some(e.clone());
        e
    }

    /// After SUBSCRIBED (`first`, the first message the subscriber receives): the tracker, or
    /// the violation to fail the channel with.
    pub(super) fn start(prefixes: Vec<Vec<u8>>, first: &[u8]) -> Result<Tracker> {
        match decode_pubsub(first, PubSubRole::Subscriber)? {
            PubSubFrame::Subscribed { first_seq } => Ok(Tracker {
                prefixes,
                next_seq: first_seq,
                dropped: 0,
                #[cfg(unix)]
                fan: None,
            }),
            _ => Err(Error::new(
                ErrorKind::ProtocolViolation,
                "the publisher sent a MESSAGE before SUBSCRIBED",
            )),
        }
    }

    /// Over shared memory: take the fan-out ring the connection's transport set up (if it
    /// did), starting at the message SUBSCRIBED numbered; this subscriber then numbers its
    /// messages itself, from 0.
    #[cfg(unix)]
    pub(super) fn start_fan(
        &mut self,
        attachment: Option<Box<dyn std::any::Any + Send>>,
        max_len: usize,
    ) -> Result<()> {
        if attachment.is_some() {
            self.fan = Some(FanIn::start(attachment, self.next_seq, max_len as u64)?);
            self.next_seq = 0;
        }
        Ok(())
    }

    /// One look at the fan-out ring (and at how the control connection ended, if it did),
    /// visiting the next message in place with `f`.
    #[cfg(unix)]
    pub(super) fn fan_step_with<R>(
        &mut self,
        f: impl FnMut(&InPlace<'_>) -> R,
    ) -> FanStep<Visited<R>> {
        let fan = self.fan.as_mut().expect("a fan-out subscriber");
        if let Some(e) = &fan.ended
            && !FanIn::drains_first(e)
        {
            return FanStep::End(e.clone());
        }
        match fan.try_take_with(&self.prefixes, f) {
            Ok(Some((value, lost))) => {
                let seq = self.next_seq + lost;
                self.next_seq = seq + 1;
                self.dropped += lost;
                FanStep::Deliver(Visited {
                    value,
                    seq,
                    dropped: lost,
                })
            }
            Ok(None) => match &fan.ended {
                Some(e) => FanStep::End(e.clone()),
                None => FanStep::Empty,
            },
            Err(e) if e.kind() == ErrorKind::Lagged => {
                fan.ended = Some(e.clone());
                FanStep::End(e)
            }
            Err(e) => FanStep::Fail(e),
        }
    }

    /// [`fan_step_with`](Self::fan_step_with), copying the message out (the async receive).
    #[cfg(unix)]
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(super) fn fan_step(&mut self) -> FanStep<Delivery> {
        self.fan_step_with(|m| m.to_parts())
            .map(Visited::into_delivery)
    }

    /// What the control connection gave while the ring was empty (`Timeout`: nothing yet).
    /// The error to end with, if any, once the ring is read (`drains_first`).
    #[cfg(unix)]
    pub(super) fn control(&mut self, got: Result<Message>) -> Option<Error> {
        let fan = self.fan.as_mut().expect("a fan-out subscriber");
        match got {
            Ok(_) => Some(Error::new(
                ErrorKind::ProtocolViolation,
                "a MESSAGE on the control socket: over shared memory a publisher sends \
                 messages through the fan-out ring only",
            )),
            Err(e) if e.kind() == ErrorKind::Timeout || e.kind() == ErrorKind::Cancelled => None,
            Err(e) => {
                fan.ended = Some(e);
                None
            }
        }
    }

    /// A received message: the delivery, or the violation to fail the channel with.
    pub(super) fn accept(&mut self, m: Message) -> Result<Delivery> {
        let (seq, topic_len) = match decode_pubsub(&m, PubSubRole::Subscriber)? {
            PubSubFrame::Message { seq, topic, .. } => {
                if seq < self.next_seq {
                    return Err(Error::new(
                        ErrorKind::ProtocolViolation,
                        format!(
                            "a MESSAGE with sequence number {seq} after {}: numbers only grow",
                            self.next_seq - 1
                        ),
                    ));
                }
                if !topic_matches(&self.prefixes, topic) {
                    return Err(Error::new(
                        ErrorKind::ProtocolViolation,
                        format!(
                            "a MESSAGE on topic {:?}, which matches none of this subscriber's \
                             prefixes",
                            String::from_utf8_lossy(topic)
                        ),
                    ));
                }
                (seq, topic.len())
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::ProtocolViolation,
                    "a second SUBSCRIBED: a publisher sends one, first",
                ));
            }
        };
        let dropped = seq - self.next_seq;
        self.next_seq = seq + 1;
        self.dropped += dropped;
        Ok(Delivery {
            seq,
            dropped,
            topic_len,
            msg: m.skip(PUBSUB_ENVELOPE_LEN),
        })
    }
}

/// What one look at the fan-out ring found.
#[cfg(unix)]
pub(super) enum FanStep<T> {
    Deliver(T),
    /// Nothing yet.
    Empty,
    /// The subscription ended (reported as is).
    End(Error),
    /// The publisher broke the protocol: fail the connection with it.
    Fail(Error),
}

#[cfg(unix)]
impl<T> FanStep<T> {
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    fn map<U>(self, f: impl FnOnce(T) -> U) -> FanStep<U> {
        match self {
            FanStep::Deliver(t) => FanStep::Deliver(f(t)),
            FanStep::Empty => FanStep::Empty,
            FanStep::End(e) => FanStep::End(e),
            FanStep::Fail(e) => FanStep::Fail(e),
        }
    }
}

/// A message as [`Subscriber::recv_with`] shows it to its visitor. Over `shm://` it is in
/// place in the publisher's ring and read with copies (only what is read is copied: reading a
/// header of a large message costs that header); elsewhere it is the received message.
#[derive(Debug)]
pub struct InPlace<'a> {
    src: Src<'a>,
}

#[derive(Debug)]
enum Src<'a> {
    #[cfg(unix)]
    Ring {
        view: &'a crate::shm::fanout::View,
        topic: &'a [u8],
    },
    Bytes {
        topic: &'a [u8],
        payload: &'a [u8],
    },
}

impl<'a> InPlace<'a> {
    #[cfg(unix)]
    pub(super) fn ring(view: &'a crate::shm::fanout::View, topic: &'a [u8]) -> InPlace<'a> {
        InPlace {
            src: Src::Ring { view, topic },
        }
    }

    /// The message's topic.
    pub fn topic(&self) -> &[u8] {
        match &self.src {
            #[cfg(unix)]
            Src::Ring { topic, .. } => topic,
            Src::Bytes { topic, .. } => topic,
        }
    }

    /// The payload's length in bytes.
    pub fn payload_len(&self) -> usize {
        match &self.src {
            #[cfg(unix)]
            Src::Ring { view, .. } => view.len() - view.topic_len(),
            Src::Bytes { payload, .. } => payload.len(),
        }
    }

    /// Copy `dst.len()` payload bytes from offset `at` into `dst`. Panics if `at + dst.len()`
    /// is more than [`payload_len`](Self::payload_len).
    pub fn read_payload(&self, at: usize, dst: &mut [u8]) {
        match &self.src {
            #[cfg(unix)]
            Src::Ring { view, .. } => {
                assert!(
                    at.checked_add(dst.len())
                        .is_some_and(|end| end <= self.payload_len()),
                    "reading {} bytes at {at} of a {}-byte payload",
                    dst.len(),
                    self.payload_len()
                );
                view.read(view.topic_len() + at, dst);
            }
            Src::Bytes { payload, .. } => dst.copy_from_slice(&payload[at..at + dst.len()]),
        }
    }

    /// The whole payload, copied.
    pub fn payload_to_vec(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.payload_len()];
        self.read_payload(0, &mut v);
        v
    }

    /// Topic length, and topic then payload in one vector (one copy).
    #[cfg(unix)]
    fn to_parts(&self) -> (usize, Vec<u8>) {
        match &self.src {
            Src::Ring { view, .. } => (view.topic_len(), view.copied()),
            Src::Bytes { topic, payload } => (topic.len(), [*topic, *payload].concat()),
        }
    }
}

/// What [`Subscriber::recv_with`] returns: what the visitor made of the message, and the
/// message's numbers (as [`Delivery`]'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visited<R> {
    value: R,
    seq: u64,
    dropped: u64,
}

impl<R> Visited<R> {
    /// What the visitor returned.
    pub fn value(&self) -> &R {
        &self.value
    }

    /// What the visitor returned, owned.
    pub fn into_value(self) -> R {
        self.value
    }

    /// The message's sequence number for this subscriber ([`Delivery::seq`]).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Messages dropped just before it ([`Delivery::dropped`]).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(unix)]
impl Visited<(usize, Vec<u8>)> {
    fn into_delivery(self) -> Delivery {
        Delivery {
            seq: self.seq,
            dropped: self.dropped,
            topic_len: self.value.0,
            msg: Message::new(self.value.1),
        }
    }
}

/// The confirmation timeout's error.
pub(super) fn unconfirmed(e: Error, timeout: Duration) -> Error {
    if e.kind() == ErrorKind::Timeout {
        Error::new(
            ErrorKind::Timeout,
            format!("the publisher did not confirm the subscription within {timeout:?}"),
        )
    } else {
        e
    }
}

/// One received message: its topic, its payload and what was missed before it.
#[derive(Debug, Clone)]
pub struct Delivery {
    seq: u64,
    dropped: u64,
    topic_len: usize,
    /// The topic, then the payload.
    msg: Message,
}

impl Delivery {
    /// The message's topic.
    pub fn topic(&self) -> &[u8] {
        &self.msg[..self.topic_len]
    }

    /// The message's payload.
    pub fn payload(&self) -> &[u8] {
        &self.msg[self.topic_len..]
    }

    /// The payload, owned.
    pub fn into_payload(self) -> Message {
        self.msg.skip(self.topic_len)
    }

    /// The message's sequence number for this subscriber: 0 for the first message it was
    /// sent, counting the messages dropped for it.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// How many messages for this subscriber were dropped just before this one (the
    /// publisher's [`Overflow::DropOldest`](super::Overflow::DropOldest), or a message over
    /// this subscriber's size limit).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Subscriber {
    /// Subscribe to every topic at `endpoint` with default options. Errors as
    /// [`Channel::connect`]; `ProtocolMismatch` if the endpoint is not a publisher (a plain
    /// listener or a libipc older than wire 1.2).
    pub fn connect<E>(endpoint: E) -> Result<Subscriber>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        Subscriber::connect_with::<E, &[u8]>(endpoint, &Options::default(), &[])
    }

    /// Subscribe to the topics that start with one of `prefixes` (none: every topic).
    pub fn connect_topics<E, P>(endpoint: E, prefixes: &[P]) -> Result<Subscriber>
    where
        E: TryInto<Endpoint, Error = Error>,
        P: AsRef<[u8]>,
    {
        Subscriber::connect_with(endpoint, &Options::default(), prefixes)
    }

    /// Subscribe with options (as [`Channel::connect_with`]) to the topics that start with
    /// one of `prefixes` (none: every topic). Returns once the publisher has confirmed the
    /// subscription: everything it publishes from then on reaches this subscriber.
    /// `InvalidArgument`: more than 64 prefixes, or one over 1024 bytes.
    pub fn connect_with<E, P>(endpoint: E, opts: &Options, prefixes: &[P]) -> Result<Subscriber>
    where
        E: TryInto<Endpoint, Error = Error>,
        P: AsRef<[u8]>,
    {
        check_prefixes(prefixes)?;
        let chan = Channel::connect_with(endpoint, &pubsub_options(opts))?;
        chan.send(&encode_subscribe(prefixes))?;
        let first = chan
            .recv_timeout(opts.handshake_timeout)
            .map_err(|e| unconfirmed(e, opts.handshake_timeout))?;
        let owned: Vec<Vec<u8>> = prefixes.iter().map(|p| p.as_ref().to_vec()).collect();
        #[cfg_attr(not(unix), allow(unused_mut))]
        let mut tracker = Tracker::start(owned.clone(), &first).map_err(|e| chan.fail(e))?;
        #[cfg(unix)]
        let readiness = {
            let max_len = opts.max_message_size.saturating_sub(PUBSUB_ENVELOPE_LEN);
            tracker
                .start_fan(chan.take_attachment(), max_len)
                .map_err(|e| chan.fail(e))?;
            match &tracker.fan {
                Some(f) => {
                    use std::os::fd::AsFd;
                    Some(crate::sys::readiness_set(&[
                        f.bell().as_fd(),
                        chan.as_fd(),
                    ])?)
                }
                None => None,
            }
        };
        Ok(Subscriber {
            chan,
            prefixes: owned,
            rx: Mutex::new(tracker),
            #[cfg(unix)]
            readiness,
            #[cfg(unix)]
            spinner: crate::spin::Spinner::new(opts.shm_spin),
        })
    }

    /// The next message, waiting for it. Errors: `Closed` (the publisher closed, after every
    /// message it sent), `Lagged` (the publisher cut this subscriber off), `PeerDisconnected`
    /// (the publisher went away), `ProtocolViolation` (a malformed message: the subscription
    /// ends).
    pub fn recv(&self) -> Result<Delivery> {
        self.recv_wait(Wait::forever())
    }

    /// [`recv`](Self::recv), giving up with `Timeout` after `timeout` (nothing lost).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Delivery> {
        self.recv_wait(Wait::timeout(timeout))
    }

    /// [`recv`](Self::recv) without waiting: `Timeout` if nothing is there.
    pub fn try_recv(&self) -> Result<Delivery> {
        self.recv_wait(Wait::no_wait())
    }

    /// [`recv`](Self::recv), waiting as `wait` allows (`Timeout`, `Cancelled`: nothing lost).
    pub fn recv_wait(&self, wait: Wait<'_>) -> Result<Delivery> {
        let mut rx = lock(&self.rx);
        #[cfg(unix)]
        if rx.fan.is_some() {
            return self.recv_fan(&mut rx, &wait);
        }
        let m = self.chan.recv_wait(wait)?;
        rx.accept(m).map_err(|e| self.chan.fail(e))
    }

    /// A receive over shared memory: from the fan-out ring, spinning briefly, then sleeping
    /// on the doorbell and the control connection together.
    #[cfg(unix)]
    fn recv_fan(&self, rx: &mut Tracker, wait: &Wait<'_>) -> Result<Delivery> {
        self.recv_fan_with(rx, wait, |m| m.to_parts())
            .map(Visited::into_delivery)
    }

    /// The next message, visited in place by `f` rather than copied out: over `shm://` the
    /// message stays in the publisher's ring and `f` reads what it needs of it
    /// ([`InPlace::read_payload`]: a large message costs only what is read); elsewhere `f` sees
    /// the received message. Returns what `f` made of it with the message's numbers.
    ///
    /// Over `shm://` with the drop-oldest policy the publisher may overwrite a message while
    /// `f` reads it: then `f`'s result is discarded, the message counts as dropped and `f` is
    /// called again for the next one. So `f` should only read and compute; its result is
    /// trustworthy once returned. Errors and waiting as [`recv_wait`](Self::recv_wait).
    pub fn recv_with<R>(
        &self,
        wait: Wait<'_>,
        mut f: impl FnMut(&InPlace<'_>) -> R,
    ) -> Result<Visited<R>> {
        let mut rx = lock(&self.rx);
        #[cfg(unix)]
        if rx.fan.is_some() {
            return self.recv_fan_with(&mut rx, &wait, f);
        }
        let m = self.chan.recv_wait(wait)?;
        let d = rx.accept(m).map_err(|e| self.chan.fail(e))?;
        let value = f(&InPlace {
            src: Src::Bytes {
                topic: d.topic(),
                payload: d.payload(),
            },
        });
        Ok(Visited {
            value,
            seq: d.seq,
            dropped: d.dropped,
        })
    }

    /// A receive over shared memory: from the fan-out ring, spinning a little (adaptively:
    /// not on a busy machine), then sleeping on the doorbell and the control connection
    /// together.
    #[cfg(unix)]
    fn recv_fan_with<R>(
        &self,
        rx: &mut Tracker,
        wait: &Wait<'_>,
        mut f: impl FnMut(&InPlace<'_>) -> R,
    ) -> Result<Visited<R>> {
        use std::os::fd::AsFd;
        // Whether to look at the control connection (a system call, so only when it may have
        // something: it woke us, or we are about to give up).
        let mut look = false;
        loop {
            match rx.fan_step_with(&mut f) {
                FanStep::Deliver(d) => return Ok(d),
                FanStep::End(e) => return Err(e),
                FanStep::Fail(e) => {
                    return Err(rx.end_fan(self.chan.fail(e)));
                }
                FanStep::Empty => {}
            }
            if look || wait.expired() {
                look = false;
                // The control connection carries nothing but its end.
                if let Some(e) = rx.control(self.chan.try_recv()) {
                    return Err(rx.end_fan(self.chan.fail(e)));
                }
                if rx.fan.as_ref().expect("fan").ended.is_some() {
                    continue;
                }
            }
            wait.check()?;
            let fan = rx.fan.as_ref().expect("fan");
            let start = Instant::now();
            if !wait.expired() && self.spinner.spin(|| fan.has_data(), wait.deadline()) {
                continue;
            }
            if fan.arm() {
                continue;
            }
            if wait.expired() {
                return Err(Error::timeout("no message before the deadline"));
            }
            let ready = crate::sys::wait_any(
                &[
                    fan.bell().source(),
                    crate::sys::Source::readable(self.chan.as_fd()),
                ],
                wait.wakers(),
                wait.deadline(),
            )?;
            self.spinner.blocked(start);
            if ready.is(0) {
                fan.bell().drain();
            }
            look = ready.is(1);
            if ready.cancelled() {
                return Err(Error::cancelled());
            }
        }
    }

    /// Messages dropped for this subscriber so far (the sum of [`Delivery::dropped`]).
    pub fn dropped(&self) -> u64 {
        lock(&self.rx).dropped
    }

    /// This subscriber's topic prefixes (empty: every topic).
    pub fn prefixes(&self) -> &[Vec<u8>] {
        &self.prefixes
    }

    /// Leave: the publisher forgets this subscriber. Later receives return `Closed`.
    pub fn close(&self) {
        self.chan.close();
    }

    /// The largest message this subscriber accepts, envelope and topic included.
    pub fn max_message_size(&self) -> usize {
        self.chan.max_message_size()
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Subscriber {
    /// Readable when a message may be waiting (for an event loop; then call
    /// [`try_recv`](Subscriber::try_recv)).
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match &self.readiness {
            Some(r) => r.as_fd(),
            None => self.chan.as_fd(),
        }
    }
}
