//! Publish/subscribe (`publisher`, `Publisher`, `subscribe`, `Subscriber`): the core's
//! `pubsub::AsyncPublisher` and `AsyncSubscriber`, owned handles. Thin: queues, the overflow
//! policy, sequence numbers, drop reports and topic filtering are the core's.

use std::sync::Arc;
use std::time::Duration;

use libipc::pubsub::{AsyncPublisher, AsyncSubscriber, DEFAULT_DEPTH, Policy};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::errors::{invalid, type_error};
use crate::promise::{later, now, or_reject, raw};
use crate::wait::{WaitSpec, already_aborted};
use crate::{channel, options};

/// A publisher: every message goes to each subscriber whose topic prefixes match.
#[napi]
#[derive(Debug)]
pub struct Publisher {
    inner: AsyncPublisher,
    endpoint: String,
}

/// A subscriber: the messages of its topics, in order, with the drops before each.
#[napi]
#[derive(Debug)]
pub struct Subscriber {
    inner: Arc<AsyncSubscriber>,
}

/// One received message.
#[napi(object)]
pub struct Delivery {
    /// The message's topic.
    pub topic: Buffer,
    /// The message's payload.
    pub payload: Buffer,
    /// Its sequence number for this subscriber.
    pub seq: f64,
    /// Messages for this subscriber dropped just before this one.
    pub dropped: f64,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("seq", &self.seq)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

/// The publisher's counters.
#[napi(object)]
#[derive(Debug)]
pub struct PublisherStats {
    /// Subscribers connected now.
    pub subscribers: u32,
    /// Messages published.
    pub published: f64,
    /// Messages dropped for full subscribers (summed).
    pub dropped: f64,
    /// Subscribers cut off for falling behind (`overflow: 'block'`).
    pub cut_off: f64,
}

/// How a publisher treats subscribers that fall behind. (Read by `publisher` itself, to give
/// `IPC_INVALID_ARGUMENT` errors; this declares its type.)
#[napi(object)]
#[derive(Debug)]
pub struct PublisherPolicy {
    /// `'dropOldest'` (the default: a full subscriber's oldest queued message is dropped, and
    /// it is told) or `'block'` (publish waits up to `blockTimeout` ms, then cuts it off).
    pub overflow: Option<String>,
    /// Milliseconds one publish waits for full subscribers (`'block'`; default 10000).
    pub block_timeout: Option<f64>,
    /// Messages queued per subscriber (default 1024).
    pub depth: Option<u32>,
}

fn policy(env: &Env, v: Option<Unknown<'_>>) -> Result<Policy> {
    let Some(v) = v else {
        return Ok(Policy::default());
    };
    if matches!(v.get_type()?, ValueType::Null | ValueType::Undefined) {
        return Ok(Policy::default());
    }
    if v.get_type()? != ValueType::Object {
        return Err(type_error(env, "policy must be an object"));
    }
    // SAFETY: checked to be an object just above.
    let obj: Object<'_> = unsafe { v.cast() }?;
    let names = obj.get_property_names()?;
    for i in 0..names.get_array_length()? {
        let key: String = names.get_element(i)?;
        if !matches!(key.as_str(), "overflow" | "blockTimeout" | "depth") {
            return Err(invalid(env, format!("unknown policy key '{key}'")));
        }
    }
    let overflow: Option<String> = obj.get_named_property("overflow")?;
    let block: Option<f64> = obj.get_named_property("blockTimeout")?;
    let depth: Option<f64> = obj.get_named_property("depth")?;
    let depth = match depth {
        None => DEFAULT_DEPTH,
        Some(d) if d.fract() == 0.0 && d >= 1.0 && d <= u32::MAX as f64 => d as usize,
        Some(d) => {
            return Err(invalid(
                env,
                format!("depth must be a whole number >= 1, not {d}"),
            ));
        }
    };
    match (overflow.as_deref().unwrap_or("dropOldest"), block) {
        ("dropOldest", None) => Ok(Policy::drop_oldest(depth)),
        ("dropOldest", Some(_)) => Err(invalid(env, "blockTimeout is for overflow: 'block'")),
        ("block", t) => Ok(Policy::block(
            options::millis(env, "blockTimeout", t.unwrap_or(10_000.0))?,
            depth,
        )),
        (other, _) => Err(invalid(
            env,
            format!("overflow is '{other}': 'dropOldest' or 'block'"),
        )),
    }
}

/// A topic or prefix: a string (UTF-8) or bytes.
fn topic(env: &Env, v: Unknown<'_>) -> Result<Vec<u8>> {
    Ok(channel::data(env, v)?.bytes().to_vec())
}

/// Publish at `endpoint` (the endpoints and options of `listen`), with `policy` for
/// subscribers that fall behind.
#[napi(
    ts_args_type = "endpoint: string, options?: Options | null, policy?: PublisherPolicy | null",
    ts_return_type = "Promise<Publisher>"
)]
pub fn publisher<'e>(
    env: &'e Env,
    endpoint: Unknown<'e>,
    options: Option<Unknown<'e>>,
    policy_arg: Option<Unknown<'e>>,
) -> Result<PromiseRaw<'e, Publisher>> {
    let made = (|| {
        let ep = channel::endpoint(env, endpoint)?;
        let opts = options::from_js(env, options)?;
        let policy = policy(env, policy_arg)?;
        later(
            env,
            None,
            async move { AsyncPublisher::bind_with(ep.as_str(), &opts, policy).await },
            |env, inner| {
                let endpoint = inner.local_endpoint().to_string();
                raw(env, Publisher { inner, endpoint })
            },
        )
    })();
    or_reject(env, made)
}

/// Subscribe at `endpoint` to the topics starting with one of `topics` (strings or bytes;
/// none: every topic). Resolves once the publisher confirmed: every message it publishes
/// afterwards reaches this subscriber. Rejects with `IPC_PROTOCOL_MISMATCH` when the
/// endpoint is not a publisher, and as `connect` does.
#[napi(
    ts_args_type = "endpoint: string, topics?: Array<string | Buffer | Uint8Array> | null, options?: Options | null",
    ts_return_type = "Promise<Subscriber>"
)]
pub fn subscribe<'e>(
    env: &'e Env,
    endpoint: Unknown<'e>,
    topics: Option<Unknown<'e>>,
    options: Option<Unknown<'e>>,
) -> Result<PromiseRaw<'e, Subscriber>> {
    let made = (|| {
        let ep = channel::endpoint(env, endpoint)?;
        let mut prefixes = Vec::new();
        if let Some(t) = topics
            && !matches!(t.get_type()?, ValueType::Null | ValueType::Undefined)
        {
            if !t.is_array()? {
                return Err(type_error(env, "topics must be an array of prefixes"));
            }
            // SAFETY: checked to be an array just above.
            let arr: Object<'_> = unsafe { t.cast() }?;
            for i in 0..arr.get_array_length()? {
                prefixes.push(topic(env, arr.get_element(i)?)?);
            }
        }
        let opts = options::from_js(env, options)?;
        later(
            env,
            None,
            async move { AsyncSubscriber::connect_with(ep.as_str(), &opts, &prefixes).await },
            |env, s| raw(env, Subscriber { inner: Arc::new(s) }),
        )
    })();
    or_reject(env, made)
}

#[napi]
impl Publisher {
    /// The endpoint subscribers connect to.
    #[napi(getter)]
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// Publish `data` (a string is sent as UTF-8) under `topic` (default: none) to every
    /// subscriber whose prefixes match; resolves with how many it was queued for. Waits only
    /// with `overflow: 'block'`, for full subscribers. Rejects with `IPC_MESSAGE_TOO_LARGE`,
    /// `IPC_INVALID_ARGUMENT` (a topic over 1024 bytes) or `IPC_CLOSED`, nothing published.
    #[napi(
        ts_args_type = "data: Buffer | Uint8Array | string, topic?: string | Buffer | Uint8Array | null",
        ts_return_type = "Promise<number>"
    )]
    pub fn publish<'e>(
        &self,
        env: &'e Env,
        data: Unknown<'e>,
        topic_arg: Option<Unknown<'e>>,
    ) -> Result<PromiseRaw<'e, u32>> {
        let made = (|| {
            let payload = channel::data(env, data)?.bytes().to_vec();
            let t = match topic_arg {
                Some(t) if !matches!(t.get_type()?, ValueType::Null | ValueType::Undefined) => {
                    topic(env, t)?
                }
                _ => Vec::new(),
            };
            let p = self.inner.clone();
            later(
                env,
                None,
                async move { p.publish(&t, &payload).await },
                |env, n| raw(env, u32::try_from(n).unwrap_or(u32::MAX)),
            )
        })();
        or_reject(env, made)
    }

    /// Resolve once at least `count` subscribers are connected; `IPC_TIMEOUT` after
    /// `timeout` ms.
    #[napi(
        ts_args_type = "count: number, options?: { timeout?: number } | null",
        ts_return_type = "Promise<void>"
    )]
    pub fn wait_for_subscribers<'e>(
        &self,
        env: &'e Env,
        count: u32,
        options: Option<Unknown<'e>>,
    ) -> Result<PromiseRaw<'e, ()>> {
        let made = (|| {
            let spec = WaitSpec::parse(env, options)?;
            let timeout: Option<Duration> = spec.timeout;
            let p = self.inner.clone();
            later(
                env,
                None,
                async move { p.wait_for_subscribers(count as usize, timeout).await },
                |env, ()| raw(env, ()),
            )
        })();
        or_reject(env, made)
    }

    /// Subscribers connected now.
    #[napi(getter)]
    pub fn subscribers(&self) -> u32 {
        u32::try_from(self.inner.subscribers()).unwrap_or(u32::MAX)
    }

    /// The publisher's counters.
    #[napi(getter)]
    pub fn stats(&self) -> PublisherStats {
        let s = self.inner.stats();
        PublisherStats {
            subscribers: u32::try_from(s.subscribers).unwrap_or(u32::MAX),
            published: s.published as f64,
            dropped: s.dropped as f64,
            cut_off: s.cut_off as f64,
        }
    }

    /// Stop accepting and end every subscription after what is queued for it (each
    /// subscriber's `recv` then rejects with `IPC_CLOSED`); resolves when done.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'e>(&self, env: &'e Env) -> Result<PromiseRaw<'e, ()>> {
        let p = self.inner.clone();
        later(env, None, async move { p.close().await }, |env, ()| {
            raw(env, ())
        })
    }
}

#[napi]
impl Subscriber {
    /// The next message. Waits at most `timeout` ms (`IPC_TIMEOUT`) or until `signal` aborts
    /// (`IPC_CANCELLED`); nothing is lost either way. Rejects with `IPC_CLOSED` once the
    /// publisher closed (after everything it sent), `IPC_LAGGED` if it cut this subscriber
    /// off, `IPC_PEER_DISCONNECTED` if it went away.
    #[napi(
        ts_args_type = "options?: WaitOptions | null",
        ts_return_type = "Promise<Delivery>"
    )]
    pub fn recv<'e>(
        &self,
        env: &'e Env,
        options: Option<Unknown<'e>>,
    ) -> Result<PromiseRaw<'e, Delivery>> {
        let made = (|| {
            let spec = WaitSpec::parse(env, options)?;
            if spec.aborted()? {
                return now(env, already_aborted());
            }
            let (armed, limits) = spec.arm(env)?;
            let s = Arc::clone(&self.inner);
            later(
                env,
                armed,
                async move { s.recv_wait(limits.wait()).await },
                |env, d| {
                    raw(
                        env,
                        Delivery {
                            topic: d.topic().to_vec().into(),
                            seq: d.seq() as f64,
                            dropped: d.dropped() as f64,
                            payload: d.into_payload().into_vec().into(),
                        },
                    )
                },
            )
        })();
        or_reject(env, made)
    }

    /// Messages dropped for this subscriber so far.
    #[napi(getter)]
    pub fn dropped(&self) -> f64 {
        self.inner.dropped() as f64
    }

    /// Leave: the publisher forgets this subscriber. Resolves when done.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'e>(&self, env: &'e Env) -> Result<PromiseRaw<'e, ()>> {
        let s = Arc::clone(&self.inner);
        later(
            env,
            None,
            async move {
                s.close().await;
                Ok(())
            },
            |env, ()| raw(env, ()),
        )
    }
}
