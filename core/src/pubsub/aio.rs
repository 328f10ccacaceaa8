//! The async forms (tokio, Unix): a subscriber whose receives are futures, and a publisher
//! whose waiting parts never block the calling task's thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::os::fd::{AsFd, OwnedFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::Mutex;

use super::subscriber::{FanStep, Tracker, unconfirmed};
use super::{Delivery, Policy, Publisher, PublisherStats, pubsub_options};
use crate::aio::AsyncChannel;
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::options::Options;
use crate::wait::Wait;
use crate::wire::{PUBSUB_ENVELOPE_LEN, check_prefixes, encode_subscribe};

/// A [`Subscriber`](super::Subscriber) for async code: the same subscription, checks and
/// drop reports; `recv` is a future (cancel-safe: dropping it loses nothing).
#[derive(Debug)]
pub struct AsyncSubscriber {
    chan: AsyncChannel,
    prefixes: Vec<Vec<u8>>,
    rx: Mutex<Tracker>,
    /// The tracker's count of drops, readable while a receive holds the tracker.
    dropped: AtomicU64,
    /// Over shared memory: the fan-out doorbell, registered with tokio.
    bell: Option<AsyncFd<OwnedFd>>,
}

impl AsyncSubscriber {
    /// Subscribe to every topic at `endpoint` with default options.
    pub async fn connect<E>(endpoint: E) -> Result<AsyncSubscriber>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        AsyncSubscriber::connect_with::<E, &[u8]>(endpoint, &Options::default(), &[]).await
    }

    /// Subscribe with options to the topics that start with one of `prefixes` (none: every
    /// topic); as [`Subscriber::connect_with`](super::Subscriber::connect_with).
    pub async fn connect_with<E, P>(
        endpoint: E,
        opts: &Options,
        prefixes: &[P],
    ) -> Result<AsyncSubscriber>
    where
        E: TryInto<Endpoint, Error = Error>,
        P: AsRef<[u8]>,
    {
        check_prefixes(prefixes)?;
        let chan = AsyncChannel::connect_with(endpoint, &pubsub_options(opts)).await?;
        chan.send(&encode_subscribe(prefixes)).await?;
        let first = chan
            .recv_timeout(opts.handshake_timeout)
            .await
            .map_err(|e| unconfirmed(e, opts.handshake_timeout))?;
        let owned: Vec<Vec<u8>> = prefixes.iter().map(|p| p.as_ref().to_vec()).collect();
        let mut tracker = Tracker::start(owned.clone(), &first).map_err(|e| chan.fail(e))?;
        let max_len = opts.max_message_size.saturating_sub(PUBSUB_ENVELOPE_LEN);
        tracker
            .start_fan(chan.take_attachment(), max_len)
            .map_err(|e| chan.fail(e))?;
        let bell = match &tracker.fan {
            Some(f) => {
                let fd = f
                    .bell()
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(|e| Error::from_io(&e, "dup"))?;
                // SAFETY: the `AsyncFd` owns `fd` (our own duplicate of the doorbell), so it
                // stays open and the same for the registration's lifetime.
                let reg = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) };
                Some(reg.map_err(|e| {
                    Error::from_io(&e.into(), "registering the doorbell with tokio")
                })?)
            }
            None => None,
        };
        Ok(AsyncSubscriber {
            chan,
            prefixes: owned,
            rx: Mutex::new(tracker),
            dropped: AtomicU64::new(0),
            bell,
        })
    }

    /// The next message; errors as [`Subscriber::recv`](super::Subscriber::recv).
    pub async fn recv(&self) -> Result<Delivery> {
        self.recv_wait(Wait::forever()).await
    }

    /// [`recv`](Self::recv), giving up with `Timeout` after `timeout` (nothing lost).
    pub async fn recv_timeout(&self, timeout: Duration) -> Result<Delivery> {
        self.recv_wait(Wait::timeout(timeout)).await
    }

    /// [`recv`](Self::recv), waiting as `wait` allows.
    pub async fn recv_wait(&self, wait: Wait<'_>) -> Result<Delivery> {
        let mut rx = self.rx.lock().await;
        if let Some(bell) = &self.bell {
            let d = self.recv_fan(&mut rx, bell, wait).await;
            self.dropped.store(rx.dropped, Ordering::Relaxed);
            return d;
        }
        let m = self.chan.recv_wait(wait).await?;
        let d = rx.accept(m).map_err(|e| self.chan.fail(e))?;
        self.dropped.store(rx.dropped, Ordering::Relaxed);
        Ok(d)
    }

    /// A receive over shared memory: from the fan-out ring, waiting for the doorbell or the
    /// control connection's end (no spinning, as the rest of the async API).
    async fn recv_fan(
        &self,
        rx: &mut Tracker,
        bell: &AsyncFd<OwnedFd>,
        wait: Wait<'_>,
    ) -> Result<Delivery> {
        loop {
            match rx.fan_step() {
                FanStep::Deliver(d) => return Ok(d),
                FanStep::End(e) => return Err(e),
                FanStep::Fail(e) => {
                    return Err(rx.end_fan(self.chan.fail(e)));
                }
                FanStep::Empty => {}
            }
            if rx.fan.as_ref().expect("fan").arm() {
                continue;
            }
            tokio::select! {
                r = bell.readable() => {
                    if let Ok(mut g) = r {
                        g.clear_ready();
                    }
                    rx.fan.as_ref().expect("fan").bell().drain();
                }
                got = self.chan.recv_wait(wait) => {
                    if let Err(e) = &got
                        && matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Cancelled)
                    {
                        return Err(e.clone());
                    }
                    if let Some(e) = rx.control(got) {
                        return Err(rx.end_fan(self.chan.fail(e)));
                    }
                }
            }
        }
    }

    /// Messages dropped for this subscriber so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// This subscriber's topic prefixes (empty: every topic).
    pub fn prefixes(&self) -> &[Vec<u8>] {
        &self.prefixes
    }

    /// Leave (the publisher forgets this subscriber).
    pub async fn close(&self) {
        self.chan.close().await;
    }
}

/// A [`Publisher`] for async code. Publishing under [`Overflow::DropOldest`](super::Overflow)
/// never waits and happens in the calling task; under [`Overflow::Block`](super::Overflow)
/// the part that may wait runs on tokio's blocking pool, as do binding and closing.
#[derive(Debug, Clone)]
pub struct AsyncPublisher {
    inner: Arc<Publisher>,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("publisher task failed: {e}")))
}

impl AsyncPublisher {
    /// Publish at `endpoint` with default options and policy.
    pub async fn bind<E>(endpoint: E) -> Result<AsyncPublisher>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        AsyncPublisher::bind_with(endpoint, &Options::default(), Policy::default()).await
    }

    /// Publish with options and a policy (as [`Publisher::bind_with`]).
    pub async fn bind_with<E>(endpoint: E, opts: &Options, policy: Policy) -> Result<AsyncPublisher>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        let ep: Endpoint = endpoint.try_into()?;
        let opts = opts.clone();
        let p = blocking(move || Publisher::bind_with(&ep, &opts, policy)).await??;
        Ok(AsyncPublisher { inner: Arc::new(p) })
    }

    /// The endpoint subscribers connect to.
    pub fn local_endpoint(&self) -> &Endpoint {
        self.inner.local_endpoint()
    }

    /// Publish `payload` under `topic`; as [`Publisher::publish`].
    pub async fn publish(&self, topic: &[u8], payload: &[u8]) -> Result<usize> {
        let msg = self.inner.prepare(topic, payload)?;
        if !self.inner.may_wait() {
            return Ok(self.inner.publish_prepared(&msg));
        }
        let p = Arc::clone(&self.inner);
        blocking(move || p.publish_prepared(&msg)).await
    }

    /// Wait until at least `count` subscribers are connected, at most `timeout` (`None`:
    /// no limit); as [`Publisher::wait_for_subscribers`].
    pub async fn wait_for_subscribers(
        &self,
        count: usize,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let p = Arc::clone(&self.inner);
        blocking(move || {
            let wait = timeout.map_or_else(Wait::forever, Wait::timeout);
            p.wait_for_subscribers(count, wait)
        })
        .await?
    }

    /// Subscribers connected now.
    pub fn subscribers(&self) -> usize {
        self.inner.subscribers()
    }

    /// The publisher's counters.
    pub fn stats(&self) -> PublisherStats {
        self.inner.stats()
    }

    /// As [`Publisher::close`], on the blocking pool.
    pub async fn close(&self) -> Result<()> {
        let p = Arc::clone(&self.inner);
        blocking(move || p.close()).await
    }
}
