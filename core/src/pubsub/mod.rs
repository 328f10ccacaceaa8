//! Publish/subscribe on top of channels: a [`Publisher`] at an endpoint and any number of
//! [`Subscriber`]s, joining and leaving at any time, each receiving every message published
//! after it joined (or, with topic prefixes, every message whose topic starts with one).
//!
//! The framing is wire 1.2's publish/subscribe envelope (`docs/wire-format.md`, section 17):
//! both hellos carry `CAP_PUBSUB`; the subscriber sends its topic prefixes once (SUBSCRIBE),
//! the publisher confirms (SUBSCRIBED) and then sends MESSAGEs, each numbered for that
//! subscriber. A plain channel peer, or a libipc older than 1.2, is refused with
//! `ProtocolMismatch` in either direction.
//!
//! - **Fan-out.** Over sockets the publisher copies a message once into a shared buffer and a
//!   thread per subscriber writes it to that subscriber's connection (each subscriber's
//!   kernel buffer gets its own copy). Over `shm://` the publisher writes it once into one
//!   ring that every subscriber maps read-only and reads at its own cursor
//!   (`docs/wire-format.md`, section 17.5): the message is copied once, whatever the number
//!   of subscribers (each sleeping subscriber costs a doorbell write). The ring is the `shm_ring_size` option; a message (topic and
//!   payload) takes at most half of it.
//! - **Slow subscribers** never hold back the others. Each has a queue of
//!   [`Policy::depth`] messages; when it is full the [`Overflow`] policy decides:
//!   [`Overflow::DropOldest`] (the default) drops that subscriber's oldest queued message, and
//!   the subscriber learns how many it missed on its next receive ([`Delivery::dropped`],
//!   from the gap in the sequence numbers); [`Overflow::Block`] makes `publish` wait for room
//!   up to a timeout, then cuts that subscriber off: it receives what was already on its way,
//!   then the error `Lagged`. Nothing is lost silently.
//! - **Departures.** A subscriber that closes, crashes or is killed is detected by its
//!   connection's end and removed; it holds back nothing.
//! - **Topics.** Over sockets filtering by prefix happens on the publisher's side: a
//!   subscriber's connection carries only the messages it asked for (and the subscriber
//!   checks). Over `shm://` each subscriber filters what it reads from the ring; a message it
//!   lost there is counted as dropped whatever its topic (it never saw it).
//!
//! The async forms (`AsyncPublisher`, `AsyncSubscriber`; Unix, feature `tokio`) have the same
//! behaviour with futures.
//!
//! ```no_run
//! # fn main() -> libipc::Result<()> {
//! use libipc::pubsub::{Publisher, Subscriber};
//! let publisher = Publisher::bind("frames")?;
//! let subscriber = Subscriber::connect("frames")?;
//! publisher.publish(b"cam/0", b"frame 1")?;
//! let d = subscriber.recv()?;
//! assert_eq!((d.topic(), d.payload(), d.dropped()), (&b"cam/0"[..], &b"frame 1"[..], 0));
//! # Ok(()) }
//! ```

#[cfg(all(unix, feature = "tokio"))]
mod aio;
#[cfg(unix)]
mod fan_in;
mod publisher;
mod subscriber;

#[cfg(all(unix, feature = "tokio"))]
pub use aio::{AsyncPublisher, AsyncSubscriber};
pub use publisher::{Publisher, PublisherStats};
pub use subscriber::{Delivery, InPlace, Subscriber, Visited};

use std::time::Duration;

use crate::options::Options;
use crate::wire::CAP_PUBSUB;

/// What the publisher does when a subscriber's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Drop that subscriber's oldest queued message to make room; the subscriber is told how
    /// many it missed on its next receive. The publisher never waits. The default.
    DropOldest,
    /// Wait up to `timeout` for room; if the subscriber is still full then, cut it off: it
    /// gets what was already on its way, then the error `Lagged`, and the publisher goes on
    /// without it. Every subscriber that keeps up receives every message.
    Block {
        /// How long one `publish` waits in total for full subscribers.
        timeout: Duration,
    },
}

/// How a publisher treats subscribers that fall behind. Over `shm://` the ring's size
/// (`shm_ring_size`), not `depth`, bounds how far behind a subscriber may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// What happens when a subscriber's queue is full.
    pub overflow: Overflow,
    /// Messages queued per subscriber (beyond what its connection buffers), at least 1.
    pub depth: usize,
}

/// The default queue depth per subscriber.
pub const DEFAULT_DEPTH: usize = 1024;

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            overflow: Overflow::DropOldest,
            depth: DEFAULT_DEPTH,
        }
    }
}

impl Policy {
    /// Drop the oldest messages of a full subscriber (the default), `depth` queued.
    pub fn drop_oldest(depth: usize) -> Policy {
        Policy {
            overflow: Overflow::DropOldest,
            depth,
        }
    }

    /// Block for up to `timeout`, then cut a full subscriber off; `depth` queued.
    pub fn block(timeout: Duration, depth: usize) -> Policy {
        Policy {
            overflow: Overflow::Block { timeout },
            depth,
        }
    }
}

/// The options of a publish/subscribe endpoint: the caller's, announcing `CAP_PUBSUB`.
fn pubsub_options(opts: &Options) -> Options {
    let mut o = opts.clone();
    o.pattern_caps |= CAP_PUBSUB;
    o
}
