//! Publish/subscribe for Kotlin and Swift: the core's `pubsub::AsyncPublisher` and
//! `AsyncSubscriber` (owned handles). Thin: queues, the overflow policy, sequence numbers,
//! drop reports and topic filtering are the core's.

use std::sync::Arc;
use std::time::Duration;

use libipc::pubsub::{AsyncPublisher, AsyncSubscriber, DEFAULT_DEPTH, Policy};

use crate::{CancelHandle, IpcError, IpcOptions, in_runtime, runtime, wait_for};

/// What a publisher does with a subscriber whose queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Overflow {
    /// Drop that subscriber's oldest queued message (it is told how many it missed). The
    /// default.
    DropOldest,
    /// Wait up to `block_timeout_ms` for room, then cut the subscriber off (it gets
    /// `Lagged`).
    Block,
}

/// How a publisher treats subscribers that fall behind.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PublisherPolicy {
    /// What happens when a subscriber's queue is full.
    pub overflow: Overflow,
    /// `Block`: milliseconds one publish waits for full subscribers.
    #[uniffi(default = 10000)]
    pub block_timeout_ms: u64,
    /// Messages queued per subscriber (0: the default, 1024).
    #[uniffi(default = 0)]
    pub depth: u32,
}

impl PublisherPolicy {
    fn to_core(&self) -> Policy {
        let depth = if self.depth == 0 {
            DEFAULT_DEPTH
        } else {
            self.depth as usize
        };
        match self.overflow {
            Overflow::DropOldest => Policy::drop_oldest(depth),
            Overflow::Block => Policy::block(Duration::from_millis(self.block_timeout_ms), depth),
        }
    }
}

/// One received message: its topic, payload, sequence number for this subscriber, and how
/// many messages for this subscriber were dropped just before it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Delivery {
    pub topic: Vec<u8>,
    pub payload: Vec<u8>,
    pub seq: u64,
    pub dropped: u64,
}

/// A publisher's counters.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PublisherStats {
    pub subscribers: u64,
    pub published: u64,
    pub dropped: u64,
    pub cut_off: u64,
}

/// A publisher: every message goes to each subscriber whose topic prefixes match.
#[derive(Debug, uniffi::Object)]
pub struct Publisher {
    inner: AsyncPublisher,
}

/// A subscriber: the messages of its topics, in order, with the drops before each.
#[derive(Debug, uniffi::Object)]
pub struct Subscriber {
    inner: Arc<AsyncSubscriber>,
}

fn delivery(d: libipc::pubsub::Delivery) -> Delivery {
    Delivery {
        topic: d.topic().to_vec(),
        seq: d.seq(),
        dropped: d.dropped(),
        payload: d.into_payload().into_vec(),
    }
}

/// Publish at `endpoint` with `policy` (none: drop-oldest, 1024 queued).
#[uniffi::export]
pub async fn publisher(
    endpoint: String,
    policy: Option<PublisherPolicy>,
    options: Option<IpcOptions>,
) -> Result<Arc<Publisher>, IpcError> {
    let opts = options.unwrap_or_default().to_core()?;
    let policy = policy.map_or_else(Policy::default, |p| p.to_core());
    let inner =
        in_runtime(
            async move { AsyncPublisher::bind_with(endpoint.as_str(), &opts, policy).await },
        )
        .await?;
    Ok(Arc::new(Publisher { inner }))
}

/// Subscribe at `endpoint` to the topics starting with one of `topics` (empty: every topic).
/// Returns once the publisher confirmed. `ProtocolMismatch` if the endpoint is not a
/// publisher.
#[uniffi::export]
pub async fn subscribe(
    endpoint: String,
    topics: Vec<Vec<u8>>,
    options: Option<IpcOptions>,
) -> Result<Arc<Subscriber>, IpcError> {
    let opts = options.unwrap_or_default().to_core()?;
    let inner = in_runtime(async move {
        AsyncSubscriber::connect_with(endpoint.as_str(), &opts, &topics).await
    })
    .await?;
    Ok(Arc::new(Subscriber {
        inner: Arc::new(inner),
    }))
}

/// `subscribe`, blocking the calling thread.
#[uniffi::export]
pub fn subscribe_blocking(
    endpoint: String,
    topics: Vec<Vec<u8>>,
    options: Option<IpcOptions>,
) -> Result<Arc<Subscriber>, IpcError> {
    let rt = runtime()?;
    let opts = options.unwrap_or_default().to_core()?;
    let inner = rt.block_on(AsyncSubscriber::connect_with(
        endpoint.as_str(),
        &opts,
        &topics,
    ))?;
    Ok(Arc::new(Subscriber {
        inner: Arc::new(inner),
    }))
}

#[uniffi::export]
impl Publisher {
    /// The endpoint subscribers connect to.
    pub fn endpoint(&self) -> String {
        self.inner.local_endpoint().to_string()
    }

    /// Publish `payload` under `topic` to every subscriber whose prefixes match; how many it
    /// was queued for. Waits only with `Overflow.Block`, for full subscribers.
    pub async fn publish(&self, payload: Vec<u8>, topic: Vec<u8>) -> Result<u64, IpcError> {
        let p = self.inner.clone();
        let n = in_runtime(async move { p.publish(&topic, &payload).await }).await?;
        Ok(n as u64)
    }

    /// `publish`, blocking the calling thread.
    pub fn publish_blocking(&self, payload: Vec<u8>, topic: Vec<u8>) -> Result<u64, IpcError> {
        let rt = runtime()?;
        Ok(rt.block_on(self.inner.publish(&topic, &payload))? as u64)
    }

    /// Wait until at least `count` subscribers are connected, at most `timeout_ms`.
    #[uniffi::method(default(timeout_ms = None))]
    pub async fn wait_for_subscribers(
        &self,
        count: u64,
        timeout_ms: Option<u64>,
    ) -> Result<(), IpcError> {
        let p = self.inner.clone();
        in_runtime(async move {
            p.wait_for_subscribers(count as usize, timeout_ms.map(Duration::from_millis))
                .await
        })
        .await
    }

    /// Subscribers connected now.
    pub fn subscribers(&self) -> u64 {
        self.inner.subscribers() as u64
    }

    /// The publisher's counters.
    pub fn stats(&self) -> PublisherStats {
        let s = self.inner.stats();
        PublisherStats {
            subscribers: s.subscribers as u64,
            published: s.published,
            dropped: s.dropped,
            cut_off: s.cut_off,
        }
    }

    /// Stop accepting and end every subscription after what is queued for it (each
    /// subscriber then gets `Closed`). (`shutdown`: `close` frees the object in Kotlin.)
    pub async fn shutdown(&self) -> Result<(), IpcError> {
        let p = self.inner.clone();
        in_runtime(async move { p.close().await }).await
    }
}

#[uniffi::export]
impl Subscriber {
    /// The next message; `cancel` ends the wait with `Cancelled` (nothing lost). Ends with
    /// `Closed` once the publisher closed (after everything it sent), `Lagged` if it cut this
    /// subscriber off.
    #[uniffi::method(default(cancel = None))]
    pub async fn recv(&self, cancel: Option<Arc<CancelHandle>>) -> Result<Delivery, IpcError> {
        let s = Arc::clone(&self.inner);
        let d = in_runtime(async move {
            let wait = wait_for(None, cancel.as_deref());
            s.recv_wait(wait).await
        })
        .await?;
        Ok(delivery(d))
    }

    /// `recv`, blocking the calling thread at most `timeout_ms` or until `cancel` fires.
    pub fn recv_blocking(
        &self,
        timeout_ms: Option<u64>,
        cancel: Option<Arc<CancelHandle>>,
    ) -> Result<Delivery, IpcError> {
        let rt = runtime()?;
        let wait = wait_for(timeout_ms, cancel.as_deref());
        Ok(delivery(rt.block_on(self.inner.recv_wait(wait))?))
    }

    /// Messages dropped for this subscriber so far.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped()
    }

    /// Leave: the publisher forgets this subscriber.
    pub fn shutdown(&self) -> Result<(), IpcError> {
        let rt = runtime()?;
        rt.block_on(self.inner.close());
        Ok(())
    }
}
