//! The async forms (tokio, Unix): a subscriber whose receives are futures, and a publisher
//! whose waiting parts never block the calling task's thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;

use super::subscriber::{Tracker, unconfirmed};
use super::{Delivery, Policy, Publisher, PublisherStats, pubsub_options};
use crate::aio::AsyncChannel;
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::options::Options;
use crate::wait::Wait;
use crate::wire::{check_prefixes, encode_subscribe};

/// A [`Subscriber`](super::Subscriber) for async code: the same subscription, checks and
/// drop reports; `recv` is a future (cancel-safe: dropping it loses nothing).
#[derive(Debug)]
pub struct AsyncSubscriber {
    chan: AsyncChannel,
    prefixes: Vec<Vec<u8>>,
    rx: Mutex<Tracker>,
    /// The tracker's count of drops, readable while a receive holds the tracker.
    dropped: AtomicU64,
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
        let tracker = Tracker::start(owned.clone(), &first).map_err(|e| chan.fail(e))?;
        Ok(AsyncSubscriber {
            chan,
            prefixes: owned,
            rx: Mutex::new(tracker),
            dropped: AtomicU64::new(0),
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
        let m = self.chan.recv_wait(wait).await?;
        let d = rx.accept(m).map_err(|e| self.chan.fail(e))?;
        self.dropped.store(rx.dropped, Ordering::Relaxed);
        Ok(d)
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
