//! The publisher: a listener, a queue and a writing thread per subscriber.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Overflow, Policy, pubsub_options};
use crate::channel::Channel;
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::listener::Listener;
use crate::options::Options;
#[cfg(unix)]
use crate::shm::fanout::Writer;
#[cfg(unix)]
use crate::shm::{FanoutRef, FanoutShare, PublisherEnd};
use crate::wait::Wait;
use crate::wire::{
    PUBSUB_ENVELOPE_LEN, PubSubFrame, PubSubRole, check_topic, decode_pubsub, encode_subscribed,
    message_envelope, topic_matches,
};

/// A publisher: subscribers connect to its endpoint with
/// [`Subscriber::connect`](super::Subscriber::connect); every message it publishes goes to
/// each subscriber whose topic prefixes match. Dropping it (or [`close`](Self::close)) stops
/// accepting subscribers and ends every subscription after what is queued.
#[derive(Debug)]
pub struct Publisher {
    shared: Arc<Shared>,
}

/// Counters of a publisher since it was bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublisherStats {
    /// Subscribers connected now.
    pub subscribers: usize,
    /// Messages published.
    pub published: u64,
    /// Messages dropped for full subscribers ([`Overflow::DropOldest`]), or too large for a
    /// subscriber's limit, summed over subscribers.
    pub dropped: u64,
    /// Subscribers cut off for falling behind ([`Overflow::Block`]).
    pub cut_off: u64,
}

#[derive(Debug)]
struct Shared {
    listener: Listener,
    /// Over shared memory: the one fan-out ring every subscriber reads.
    #[cfg(unix)]
    fan: Option<Fan>,
    policy: Policy,
    max_message: usize,
    handshake_timeout: Duration,
    subs: Mutex<Vec<Arc<Sub>>>,
    /// Signalled when a subscriber joins or leaves.
    changed: Condvar,
    closed: AtomicBool,
    published: AtomicU64,
    dropped: AtomicU64,
    cut_off: AtomicU64,
    /// Over shared memory: the subscribers the publisher's closing ended, which may still be
    /// reading the ring (and counting what they lost there) after they are forgotten.
    #[cfg(unix)]
    retired: Mutex<Vec<Arc<Sub>>>,
}

/// The publisher's side of the fan-out ring (`shm://`): messages are written once, into
/// the ring; each subscriber reads them at its own cursor.
#[cfg(unix)]
#[derive(Debug)]
struct Fan {
    share: Arc<FanoutShare>,
    /// Held while writing (and, under `Overflow::Block`, while waiting for cursors).
    writer: Mutex<Writer>,
    /// Scratch for `publish`: the subscribers a message found asleep (whose flags it took).
    sleepers: Mutex<Vec<Arc<Sub>>>,
    ringer: Arc<Ringer>,
}

/// At most this many sleeping subscribers a message rings from the publishing thread; when it
/// finds more asleep, a thread of the publisher's rings them all (see [`Ringer`]).
#[cfg(unix)]
const DIRECT_RINGS: usize = 2;

/// Ring the data doorbells of `subs` (which it empties).
#[cfg(unix)]
fn ring_all(subs: &mut Vec<Arc<Sub>>) {
    for s in subs.drain(..) {
        if let Some(end) = &s.fan {
            end.data.ring();
        }
    }
}

/// Rings subscribers' data doorbells off the publishing thread, when a message finds more than
/// [`DIRECT_RINGS`] of them asleep. Waking a process costs its waker several µs of system time,
/// more than copying a message of many kilobytes; from here, a subscriber whose doorbell is
/// still due when the next message finds it asleep is not rung again (its flag was taken), so
/// a publisher that outpaces the rings wakes each subscriber once for several messages, and
/// each reads all of them when it wakes. The sleep protocol is unchanged: the publisher took
/// the flag, and the doorbell rings, a little later.
#[cfg(unix)]
#[derive(Debug, Default)]
struct Ringer {
    state: Mutex<RingerState>,
    work: Condvar,
}

#[cfg(unix)]
#[derive(Debug, Default)]
struct RingerState {
    due: Vec<Arc<Sub>>,
    /// The thread is running (it is started on first use).
    started: bool,
    /// The thread waits on `work`.
    idle: bool,
    /// The publisher closed: ring what is due, then end.
    stop: bool,
}

#[cfg(unix)]
impl Ringer {
    /// Ring `subs`' doorbells soon (and empty `subs`).
    fn hand_over(self: &Arc<Self>, subs: &mut Vec<Arc<Sub>>) {
        let mut st = lock(&self.state);
        if st.stop {
            drop(st);
            ring_all(subs);
            return;
        }
        st.due.append(subs);
        if st.idle {
            st.idle = false;
            self.work.notify_one();
        } else if !st.started {
            let me = Arc::clone(self);
            let spawned = std::thread::Builder::new()
                .name("libipc-ringer".into())
                .spawn(move || me.run());
            match spawned {
                Ok(_) => st.started = true,
                Err(e) => {
                    tracing::debug!(error = %e, "starting the publisher's ringer thread");
                    let mut due = std::mem::take(&mut st.due);
                    drop(st);
                    ring_all(&mut due);
                }
            }
        }
    }

    fn run(&self) {
        let mut batch = Vec::new();
        loop {
            {
                let mut st = lock(&self.state);
                while st.due.is_empty() && !st.stop {
                    st.idle = true;
                    st = self.work.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                st.idle = false;
                if st.due.is_empty() {
                    st.started = false;
                    return;
                }
                std::mem::swap(&mut st.due, &mut batch);
            }
            ring_all(&mut batch);
        }
    }

    /// Ring what is due, then end the thread.
    fn stop(&self) {
        let mut st = lock(&self.state);
        st.stop = true;
        if st.idle {
            st.idle = false;
            self.work.notify_one();
        }
    }
}

/// One subscriber, as the publisher sees it.
#[derive(Debug)]
struct Sub {
    chan: Channel,
    /// Over shared memory: its cursor page and doorbell.
    #[cfg(unix)]
    fan: Option<PublisherEnd>,
    /// Over shared memory: the lowest its cursor can honestly be (where it was placed).
    #[cfg(unix)]
    floor: AtomicU64,
    prefixes: Vec<Vec<u8>>,
    queue: Mutex<Queue>,
    /// The writer waits here for something to send.
    ready: Condvar,
    /// `publish` waits here for room ([`Overflow::Block`]).
    room: Condvar,
    /// Messages written to the connection (progress, seen by `close`).
    sent: AtomicU64,
}

#[derive(Debug)]
struct Queue {
    items: VecDeque<Item>,
    next_seq: u64,
    end: End,
}

#[derive(Debug, Clone)]
enum End {
    /// Subscribed.
    Open,
    /// The publisher closes: send what is queued, then CLOSE.
    Closing,
    /// Fell behind under `Overflow::Block` (`Lagged`), or sent something it must not
    /// (`ProtocolViolation`): after the message being written, if any, the writer reports the
    /// error (ERROR frame) and hangs up. The writer does it because it owns the sending side,
    /// so the ERROR frame never waits for another thread's send.
    Fail(Error),
    /// The connection ended.
    Gone,
}

#[derive(Debug)]
enum Item {
    /// SUBSCRIBED, with the number of the first message.
    Subscribed(u64),
    Message(u64, Arc<Outgoing>),
}

/// A published message, copied once, shared by every subscriber's queue.
#[derive(Debug)]
pub(super) struct Outgoing {
    topic_len: usize,
    /// The topic, then the payload.
    bytes: Vec<u8>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Publisher {
    /// Publish at `endpoint` with default options and [`Policy`] (errors as
    /// [`Listener::bind`]).
    pub fn bind<E>(endpoint: E) -> Result<Publisher>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        Publisher::bind_with(endpoint, &Options::default(), Policy::default())
    }

    /// Publish with options (as [`Listener::bind_with`]) and a policy for slow subscribers.
    /// `InvalidArgument`: a depth of 0.
    pub fn bind_with<E>(endpoint: E, opts: &Options, policy: Policy) -> Result<Publisher>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        if policy.depth == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "a publisher's queue depth must be at least 1",
            ));
        }
        let ep: Endpoint = endpoint.try_into()?;
        #[cfg_attr(not(unix), allow(unused_mut))]
        let mut lopts = pubsub_options(opts);
        #[cfg(unix)]
        let fan = if matches!(ep, Endpoint::Shm(_)) {
            let share = FanoutShare::create(opts.shm_ring_size as u64, opts.shm_posix_fallback)?;
            lopts.fanout = Some(FanoutRef(Arc::clone(&share)));
            let writer = Mutex::new(Writer::new(share.ptrs()));
            Some(Fan {
                share,
                writer,
                sleepers: Mutex::new(Vec::new()),
                ringer: Arc::default(),
            })
        } else {
            None
        };
        let listener = Listener::bind_with(&ep, &lopts)?;
        let shared = Arc::new(Shared {
            listener,
            #[cfg(unix)]
            fan,
            policy,
            max_message: opts.max_message_size,
            handshake_timeout: opts.handshake_timeout,
            subs: Mutex::default(),
            changed: Condvar::new(),
            closed: AtomicBool::new(false),
            published: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            cut_off: AtomicU64::new(0),
            #[cfg(unix)]
            retired: Mutex::new(Vec::new()),
        });
        let s = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("libipc-publisher".into())
            .spawn(move || s.accept_loop())
            .map_err(|e| Error::from_io(&e, "starting the publisher's accepting thread"))?;
        Ok(Publisher { shared })
    }

    /// The endpoint subscribers connect to.
    pub fn local_endpoint(&self) -> &Endpoint {
        self.shared.listener.local_endpoint()
    }

    /// Publish `payload` under `topic` (may be empty) to every subscriber whose prefixes match
    /// it; returns how many subscribers it was queued for. Waits only under
    /// [`Overflow::Block`], for full subscribers, at most the policy's timeout in all.
    ///
    /// Errors (nothing published): `MessageTooLarge` (envelope, topic and payload exceed the
    /// publisher's message size limit), `InvalidArgument` (a topic over 1024 bytes),
    /// `Closed`.
    pub fn publish(&self, topic: &[u8], payload: &[u8]) -> Result<usize> {
        #[cfg(unix)]
        if let Some(fan) = &self.shared.fan {
            self.shared.check(topic, payload)?;
            return self.shared.publish_fan(fan, topic, payload);
        }
        let msg = self.prepare(topic, payload)?;
        Ok(self.publish_prepared(&msg))
    }

    /// Check a message and copy it, once, into the buffer every subscriber's queue shares.
    pub(super) fn prepare(&self, topic: &[u8], payload: &[u8]) -> Result<Arc<Outgoing>> {
        self.shared.check(topic, payload)?;
        let mut bytes = Vec::with_capacity(topic.len() + payload.len());
        bytes.extend_from_slice(topic);
        bytes.extend_from_slice(payload);
        Ok(Arc::new(Outgoing {
            topic_len: topic.len(),
            bytes,
        }))
    }

    /// Queue a prepared message for every matching subscriber (waiting only under
    /// [`Overflow::Block`]); how many it was queued for.
    pub(super) fn publish_prepared(&self, msg: &Arc<Outgoing>) -> usize {
        let sh = &*self.shared;
        let topic = &msg.bytes[..msg.topic_len];
        #[cfg(unix)]
        if let Some(fan) = &sh.fan {
            // Closed since it was prepared: nobody gets it.
            return sh
                .publish_fan(fan, topic, &msg.bytes[msg.topic_len..])
                .unwrap_or(0);
        }
        let subs = lock(&sh.subs).clone();
        let deadline = match sh.policy.overflow {
            Overflow::Block { timeout } => Some(Instant::now() + timeout),
            Overflow::DropOldest => None,
        };
        let mut queued = 0;
        for sub in subs.iter().filter(|s| topic_matches(&s.prefixes, topic)) {
            if sh.enqueue(sub, msg, deadline) {
                queued += 1;
            }
        }
        sh.published.fetch_add(1, Ordering::Relaxed);
        queued
    }

    /// Whether `publish` may wait (the policy is [`Overflow::Block`]).
    #[cfg_attr(not(all(unix, feature = "tokio")), allow(dead_code))]
    pub(super) fn may_wait(&self) -> bool {
        matches!(self.shared.policy.overflow, Overflow::Block { .. })
    }

    /// Subscribers connected now.
    pub fn subscribers(&self) -> usize {
        lock(&self.shared.subs).len()
    }

    /// Wait until at least `count` subscribers are connected; `Timeout` or `Cancelled` if
    /// `wait` ends first, `Closed` if the publisher is closed.
    pub fn wait_for_subscribers(&self, count: usize, wait: Wait<'_>) -> Result<()> {
        let sh = &*self.shared;
        let mut subs = lock(&sh.subs);
        loop {
            if sh.closed.load(Ordering::Acquire) {
                return Err(Error::new(ErrorKind::Closed, "the publisher is closed"));
            }
            if subs.len() >= count {
                return Ok(());
            }
            if let Some(c) = wait.cancel()
                && c.is_cancelled()
            {
                return Err(Error::new(
                    ErrorKind::Cancelled,
                    "waiting for subscribers was cancelled",
                ));
            }
            // Short slices so a cancellation is seen without a second wake-up source.
            let mut slice = Duration::from_millis(20);
            if let Some(d) = wait.deadline() {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "{} of {count} subscribers connected before the wait ended",
                            subs.len()
                        ),
                    ));
                }
                slice = slice.min(left);
            }
            subs = sh
                .changed
                .wait_timeout(subs, slice)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// The publisher's counters.
    pub fn stats(&self) -> PublisherStats {
        let sh = &*self.shared;
        let subs = lock(&sh.subs);
        // Over shared memory the subscribers connected now count their own losses.
        #[cfg(unix)]
        let live: u64 = subs
            .iter()
            .chain(lock(&sh.retired).iter())
            .map(|s| sh.reported_lost(s))
            .sum();
        #[cfg(not(unix))]
        let live = 0;
        PublisherStats {
            subscribers: subs.len(),
            published: sh.published.load(Ordering::Relaxed),
            dropped: sh.dropped.load(Ordering::Relaxed) + live,
            cut_off: sh.cut_off.load(Ordering::Relaxed),
        }
    }

    /// Stop accepting subscribers and end every subscription once what is queued for it has
    /// been sent (each subscriber then receives `Closed`); waits for that. A subscriber that
    /// takes no message for the handshake timeout (default 5 s) is hung up on instead (it
    /// sees `PeerDisconnected` after what it received).
    pub fn close(&self) {
        self.close_timeout(None);
    }

    /// [`close`](Self::close), waiting at most `timeout` for the subscribers to take what is
    /// queued; the ones that have not are hung up on. Returns whether all were served.
    pub fn close_wait(&self, timeout: Duration) -> bool {
        self.close_timeout(Some(timeout))
    }

    fn close_timeout(&self, timeout: Option<Duration>) -> bool {
        let sh = &*self.shared;
        sh.begin_close();
        let deadline = timeout.map(|t| Instant::now() + t);
        // Per subscriber: messages sent when last seen, and since when that count stands.
        let mut seen: Vec<(Arc<Sub>, u64, Instant)> = Vec::new();
        let mut all_served = true;
        let mut subs = lock(&sh.subs);
        while !subs.is_empty() {
            let now = Instant::now();
            let over = deadline.is_some_and(|d| now >= d);
            let mut stalled = Vec::new();
            for s in subs.iter() {
                let sent = s.sent.load(Ordering::Relaxed);
                match seen.iter_mut().find(|(x, ..)| Arc::ptr_eq(x, s)) {
                    Some(e) if e.1 != sent => *e = (Arc::clone(s), sent, now),
                    Some(e) if over || now - e.2 >= sh.handshake_timeout => {
                        stalled.push(Arc::clone(s));
                    }
                    Some(_) => {}
                    None if over => stalled.push(Arc::clone(s)),
                    None => seen.push((Arc::clone(s), sent, now)),
                }
            }
            if !stalled.is_empty() {
                drop(subs);
                all_served = false;
                for s in &stalled {
                    tracing::debug!("closing: a subscriber took nothing; hanging up on it");
                    s.chan.hang_up_now();
                    sh.end(s);
                }
                subs = lock(&sh.subs);
                continue;
            }
            subs = sh
                .changed
                .wait_timeout(subs, Duration::from_millis(50))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        all_served
    }
}

impl Drop for Publisher {
    /// Stops accepting and lets each subscriber's thread send what is queued, then CLOSE,
    /// without waiting for it (use [`close`](Self::close) to wait).
    fn drop(&mut self) {
        self.shared.begin_close();
    }
}

impl Shared {
    /// Check a message against the publisher's state and limits (nothing published if not).
    fn check(&self, topic: &[u8], payload: &[u8]) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Closed, "the publisher is closed"));
        }
        check_topic(topic)?;
        let len = PUBSUB_ENVELOPE_LEN + topic.len() + payload.len();
        if len > self.max_message {
            return Err(Error::new(
                ErrorKind::MessageTooLarge,
                format!(
                    "a message of {} bytes with a {}-byte topic and its {PUBSUB_ENVELOPE_LEN}-byte \
                     envelope exceeds the publisher's limit of {} bytes",
                    payload.len(),
                    topic.len(),
                    self.max_message
                ),
            ));
        }
        #[cfg(unix)]
        if let Some(fan) = &self.fan {
            let max = lock(&fan.writer).max_len();
            if (topic.len() + payload.len()) as u64 > max {
                return Err(Error::new(
                    ErrorKind::MessageTooLarge,
                    format!(
                        "over shared memory a message's topic and payload take at most half the \
                         fan-out ring, {max} bytes (the shm_ring_size option sets the ring); \
                         this one has {} bytes",
                        topic.len() + payload.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Publish into the fan-out ring (the message is written once, whatever the number of
    /// subscribers): under `Overflow::Block`, first wait for every cursor to be past what the
    /// message overwrites; under `DropOldest`, count what it overwrites unread.
    #[cfg(unix)]
    fn publish_fan(&self, fan: &Fan, topic: &[u8], payload: &[u8]) -> Result<usize> {
        let len = (topic.len() + payload.len()) as u64;
        let mut w = lock(&fan.writer);
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Closed, "the publisher is closed"));
        }
        let need = w.tail_after(len);
        match self.policy.overflow {
            Overflow::Block { timeout } => {
                self.wait_for_cursors(fan, &w, need, Instant::now() + timeout);
            }
            // Overwrite: a subscriber still reading there finds out (and counts it).
            Overflow::DropOldest => {}
        }
        w.write(topic, payload);
        let mut matched = 0;
        let mut sleepers = lock(&fan.sleepers);
        for sub in lock(&self.subs).iter() {
            if let Some(end) = &sub.fan
                && end.cursor().take_sleeper()
            {
                sleepers.push(Arc::clone(sub));
            }
            if topic_matches(&sub.prefixes, topic) {
                matched += 1;
            }
        }
        if sleepers.len() <= DIRECT_RINGS {
            ring_all(&mut sleepers);
        } else {
            fan.ringer.hand_over(&mut sleepers);
        }
        drop(sleepers);
        drop(w);
        self.published.fetch_add(1, Ordering::Relaxed);
        Ok(matched)
    }

    /// `Overflow::Block` over shared memory: wait until every subscriber's cursor is at `need`
    /// or beyond, or until `deadline`, then cut off those that are not.
    #[cfg(unix)]
    fn wait_for_cursors(&self, fan: &Fan, w: &Writer, need: u64, deadline: Instant) {
        let lagging = || -> Vec<Arc<Sub>> {
            lock(&self.subs)
                .iter()
                .filter(|s| {
                    s.fan.as_ref().is_some_and(|e| {
                        w.cursor(&e.cursor(), s.floor.load(Ordering::Relaxed)) < need
                    })
                })
                .cloned()
                .collect()
        };
        if lagging().is_empty() {
            return;
        }
        // Say we wait before looking again: a subscriber that moves its cursor after our last
        // look sees the flag and rings.
        w.set_waiting(Some(need));
        loop {
            let late = lagging();
            if late.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                for s in &late {
                    self.cut_off(s);
                }
                break;
            }
            let bell = fan.share.space();
            if let Err(e) = crate::sys::wait_any(&[bell.source()], [None, None], Some(deadline)) {
                tracing::debug!(error = %e, "waiting for subscribers' cursors");
            }
            bell.drain();
        }
        w.set_waiting(None);
    }

    /// Cut `sub` off for falling behind (`Overflow::Block`): its writer reports `Lagged`.
    fn cut_off(&self, sub: &Arc<Sub>) {
        let mut q = lock(&sub.queue);
        if !matches!(q.end, End::Open) {
            return;
        }
        q.end = End::Fail(Error::new(
            ErrorKind::Lagged,
            "the publisher cut this subscriber off: it stayed behind for longer than the \
             publisher's block timeout",
        ));
        q.items.retain(|i| matches!(i, Item::Subscribed(_)));
        drop(q);
        // Over shared memory, before anything it has not read is overwritten.
        #[cfg(unix)]
        if let Some(end) = &sub.fan {
            end.cursor().cut_off();
        }
        self.cut_off.fetch_add(1, Ordering::Relaxed);
        tracing::debug!("a subscriber fell behind and was cut off");
        sub.ready.notify_all();
        self.remove(sub);
    }

    fn begin_close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        #[cfg(unix)]
        if let Some(fan) = &self.fan {
            // No message follows what is in the ring; wake every sleeper to read the rest.
            lock(&fan.writer).close();
            for s in lock(&self.subs).iter() {
                if let Some(end) = &s.fan {
                    end.data.ring();
                }
            }
            fan.ringer.stop();
        }
        self.listener.close();
        let subs = lock(&self.subs).clone();
        for s in subs {
            let mut q = lock(&s.queue);
            if matches!(q.end, End::Open) {
                q.end = End::Closing;
            }
            drop(q);
            s.ready.notify_all();
            s.room.notify_all();
        }
        self.changed.notify_all();
    }

    /// Queue `msg` for `sub`; whether it was queued (false: the subscriber is gone or was cut
    /// off now).
    fn enqueue(&self, sub: &Arc<Sub>, msg: &Arc<Outgoing>, deadline: Option<Instant>) -> bool {
        let mut q = lock(&sub.queue);
        loop {
            if !matches!(q.end, End::Open) {
                return false;
            }
            if q.items.len() < self.policy.depth {
                break;
            }
            match deadline {
                None => {
                    // Drop the oldest message (never the SUBSCRIBED in front of them).
                    let at = q
                        .items
                        .iter()
                        .position(|i| matches!(i, Item::Message(..)))
                        .expect("a full queue of depth >= 1 holds a message");
                    q.items.remove(at);
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        drop(q);
                        self.cut_off(sub);
                        return false;
                    }
                    q = sub
                        .room
                        .wait_timeout(q, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
        let seq = q.next_seq;
        q.next_seq += 1;
        q.items.push_back(Item::Message(seq, Arc::clone(msg)));
        drop(q);
        sub.ready.notify_one();
        true
    }

    /// What a subscriber over shared memory says it lost (it counts; the publisher cannot
    /// know what it read), at most every message published.
    #[cfg(unix)]
    fn reported_lost(&self, sub: &Sub) -> u64 {
        sub.fan.as_ref().map_or(0, |end| {
            end.cursor()
                .lost()
                .min(self.published.load(Ordering::Relaxed))
        })
    }

    fn remove(&self, sub: &Arc<Sub>) {
        self.forget(sub, false);
    }

    /// Forget `sub`. Over shared memory its count of lost messages joins the publisher's now
    /// or, with `retire` (the publisher's closing ends it, and it may still be reading the
    /// ring and finding losses), goes on being read; retire it before its connection closes,
    /// so that the connection's end does not take the count early.
    fn forget(&self, sub: &Arc<Sub>, retire: bool) {
        let mut subs = lock(&self.subs);
        let before = subs.len();
        subs.retain(|s| !Arc::ptr_eq(s, sub));
        #[cfg(unix)]
        if subs.len() < before {
            if retire {
                lock(&self.retired).push(Arc::clone(sub));
            } else {
                self.dropped
                    .fetch_add(self.reported_lost(sub), Ordering::Relaxed);
            }
        }
        #[cfg(not(unix))]
        let _ = (before, retire);
        drop(subs);
        self.changed.notify_all();
        // A publisher waiting for this subscriber's cursor waits no more.
        #[cfg(unix)]
        if let Some(fan) = &self.fan {
            fan.share.space().ring();
        }
    }

    fn accept_loop(self: Arc<Self>) {
        loop {
            match self.listener.accept() {
                Ok(chan) => {
                    let s = Arc::clone(&self);
                    let spawned = std::thread::Builder::new()
                        .name("libipc-subscriber".into())
                        .spawn(move || s.serve(chan));
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "could not start a subscriber's thread");
                    }
                }
                Err(e) if e.kind() == ErrorKind::Closed => return,
                Err(e) => {
                    tracing::debug!(error = %e, "a subscriber's connection failed");
                    if self.closed.load(Ordering::Acquire) {
                        return;
                    }
                }
            }
        }
    }

    /// A new connection: read its SUBSCRIBE, register it, write on another thread and read
    /// (for its end) on this one.
    fn serve(self: Arc<Self>, chan: Channel) {
        let prefixes = match chan.recv_timeout(self.handshake_timeout) {
            Ok(m) => match decode_pubsub(&m, PubSubRole::Publisher) {
                Ok(PubSubFrame::Subscribe(p)) => p.into_iter().map(<[u8]>::to_vec).collect(),
                Ok(_) => unreachable!("a publisher decodes only SUBSCRIBE"),
                Err(e) => {
                    chan.fail(e);
                    return;
                }
            },
            Err(e) => {
                if e.kind() == ErrorKind::Timeout {
                    chan.fail(Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "no SUBSCRIBE within {:?} of connecting",
                            self.handshake_timeout
                        ),
                    ));
                }
                return;
            }
        };
        #[cfg(unix)]
        let fan_end = match &self.fan {
            Some(_) => match chan
                .take_attachment()
                .and_then(|a| a.downcast::<PublisherEnd>().ok())
            {
                Some(end) => Some(*end),
                None => {
                    chan.fail(Error::new(
                        ErrorKind::Io,
                        "the subscriber's shared-memory connection has no fan-out ends",
                    ));
                    return;
                }
            },
            None => None,
        };
        // Over shared memory: place the subscriber's cursor at the ring's write position
        // (while no message is being written), so it reads every message from the next on.
        #[cfg(unix)]
        let writer = self.fan.as_ref().map(|f| lock(&f.writer));
        #[cfg(unix)]
        let (floor, first) = match (&writer, &fan_end) {
            (Some(w), Some(end)) => {
                let (pos, seq) = w.position();
                end.cursor().place(pos);
                (pos, seq)
            }
            _ => (0, 0),
        };
        #[cfg(not(unix))]
        let first = 0;
        let sub = Arc::new(Sub {
            chan,
            prefixes,
            #[cfg(unix)]
            fan: fan_end,
            #[cfg(unix)]
            floor: AtomicU64::new(floor),
            queue: Mutex::new(Queue {
                items: VecDeque::from([Item::Subscribed(first)]),
                next_seq: 0,
                end: End::Open,
            }),
            ready: Condvar::new(),
            room: Condvar::new(),
            sent: AtomicU64::new(0),
        });
        {
            let mut subs = lock(&self.subs);
            if self.closed.load(Ordering::Acquire) {
                drop(subs);
                #[cfg(unix)]
                drop(writer);
                sub.chan.close();
                return;
            }
            subs.push(Arc::clone(&sub));
        }
        #[cfg(unix)]
        drop(writer);
        self.changed.notify_all();
        let (s, w) = (Arc::clone(&self), Arc::clone(&sub));
        let spawned = std::thread::Builder::new()
            .name("libipc-subscriber-tx".into())
            .spawn(move || s.write_loop(&w));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start a subscriber's writing thread");
            self.end(&sub);
            sub.chan.hang_up_now();
            return;
        }
        // Nothing more may come from a subscriber: anything is a violation, an end is its end.
        match sub.chan.recv() {
            Ok(m) => {
                let e = match decode_pubsub(&m, PubSubRole::Publisher) {
                    Ok(_) => Error::new(
                        ErrorKind::ProtocolViolation,
                        "a second SUBSCRIBE: a subscriber sends one, first",
                    ),
                    Err(e) => e,
                };
                let mut q = lock(&sub.queue);
                if matches!(q.end, End::Open | End::Closing) {
                    q.end = End::Fail(e);
                    q.items.clear();
                }
                drop(q);
                sub.ready.notify_all();
                sub.room.notify_all();
                self.remove(&sub);
            }
            Err(e) => {
                tracing::debug!(error = %e, "a subscriber left");
                self.end(&sub);
            }
        }
    }

    /// The subscriber's connection ended: drop what is queued, wake its writer, forget it.
    fn end(&self, sub: &Arc<Sub>) {
        let mut q = lock(&sub.queue);
        q.end = End::Gone;
        q.items.clear();
        drop(q);
        sub.ready.notify_all();
        sub.room.notify_all();
        self.remove(sub);
    }

    fn write_loop(&self, sub: &Arc<Sub>) {
        loop {
            let mut q = lock(&sub.queue);
            let item = loop {
                if let Some(i) = q.items.pop_front() {
                    break i;
                }
                match &q.end {
                    End::Open => {
                        q = sub.ready.wait(q).unwrap_or_else(|p| p.into_inner());
                    }
                    End::Closing => {
                        drop(q);
                        #[cfg(unix)]
                        if sub.fan.is_some() {
                            self.forget(sub, true);
                        }
                        sub.chan.close();
                        self.end(sub);
                        return;
                    }
                    End::Fail(e) => {
                        let e = e.clone();
                        drop(q);
                        sub.chan.fail(e);
                        self.end(sub);
                        return;
                    }
                    End::Gone => return,
                }
            };
            drop(q);
            sub.room.notify_one();
            let sent = match item {
                Item::Subscribed(first) => sub.chan.send(&encode_subscribed(first)),
                Item::Message(seq, m) => {
                    let env = message_envelope(seq, m.topic_len);
                    sub.chan
                        .send_with(PUBSUB_ENVELOPE_LEN + m.bytes.len(), |b| {
                            b.write_at(0, &env);
                            b.write_at(PUBSUB_ENVELOPE_LEN, &m.bytes);
                        })
                        .or_else(|e| {
                            if e.kind() == ErrorKind::MessageTooLarge {
                                // Over this subscriber's limit: dropped for it (its next
                                // message's sequence number tells it).
                                self.dropped.fetch_add(1, Ordering::Relaxed);
                                Ok(())
                            } else {
                                Err(e)
                            }
                        })
                }
            };
            sub.sent.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = sent {
                tracing::debug!(error = %e, "sending to a subscriber failed");
                self.end(sub);
                sub.chan.hang_up_now();
                return;
            }
        }
    }
}
