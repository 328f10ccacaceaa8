//! The subscriber: a channel that sends its topic prefixes once and then only receives.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

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
}

/// What a subscriber checks of each message it receives, whichever API receives it: the
/// sequence numbers (never going back; a gap is reported as dropped) and the topics.
#[derive(Debug)]
pub(super) struct Tracker {
    pub(super) prefixes: Vec<Vec<u8>>,
    next_seq: u64,
    pub(super) dropped: u64,
}

impl Tracker {
    /// After SUBSCRIBED (`first`, the first message the subscriber receives): the tracker, or
    /// the violation to fail the channel with.
    pub(super) fn start(prefixes: Vec<Vec<u8>>, first: &[u8]) -> Result<Tracker> {
        match decode_pubsub(first, PubSubRole::Subscriber)? {
            PubSubFrame::Subscribed { first_seq } => Ok(Tracker {
                prefixes,
                next_seq: first_seq,
                dropped: 0,
            }),
            _ => Err(Error::new(
                ErrorKind::ProtocolViolation,
                "the publisher sent a MESSAGE before SUBSCRIBED",
            )),
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
        let tracker = Tracker::start(owned.clone(), &first).map_err(|e| chan.fail(e))?;
        Ok(Subscriber {
            chan,
            prefixes: owned,
            rx: Mutex::new(tracker),
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
        let m = self.chan.recv_wait(wait)?;
        rx.accept(m).map_err(|e| self.chan.fail(e))
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
        self.chan.as_fd()
    }
}
