//! What every kind of link shares: the connection's limits and state ([`Conn`]), the peer's
//! credentials and the received [`Message`]. Every link (`link/stream.rs`, `shm/link.rs`)
//! builds on this module, and none on another.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::options::Options;

pub(crate) fn closed_error() -> Error {
    Error::new(ErrorKind::Closed, "the channel was closed")
}

/// Credentials of the process at the other end, where the OS reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerCredentials {
    /// Process id (at connect time; pids can be reused, prefer uid checks).
    pub pid: Option<u32>,
    /// User id.
    pub uid: Option<u32>,
    /// Group id.
    pub gid: Option<u32>,
}

/// A received message. Dereferences to its bytes.
#[derive(Clone, Default)]
pub struct Message {
    data: Vec<u8>,
    /// The message is `data[start..]` (a request/reply body after its envelope).
    start: usize,
}

impl Message {
    pub(crate) fn new(data: Vec<u8>) -> Message {
        Message { data, start: 0 }
    }

    /// The message without its first `n` bytes (no copy; `n` at most its length).
    pub(crate) fn skip(mut self, n: usize) -> Message {
        assert!(n <= self.len(), "skipping past the end of a message");
        self.start += n;
        self
    }

    /// The bytes, as an owned vector (no copy, unless the message is the body of a larger
    /// one: a request/reply body is moved to the front).
    pub fn into_vec(mut self) -> Vec<u8> {
        if self.start > 0 {
            self.data.drain(..self.start);
        }
        self.data
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        **self == **other
    }
}

impl Eq for Message {}

impl Deref for Message {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data[self.start..]
    }
}

impl AsRef<[u8]> for Message {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl From<Vec<u8>> for Message {
    /// A message with these bytes (to give back to a channel with `AsyncChannel::put_back`).
    fn from(data: Vec<u8>) -> Message {
        Message::new(data)
    }
}

impl From<Message> for Vec<u8> {
    fn from(m: Message) -> Vec<u8> {
        m.into_vec()
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message").field("len", &self.len()).finish()
    }
}

/// What a connection's handshake settled, and what both halves of a channel share about it,
/// whatever the transport.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) closed: AtomicBool,
    pub(crate) peer: PeerCredentials,
    /// Largest message we may send: the smaller of our limit and the peer's.
    pub(crate) max_send: usize,
    pub(crate) max_recv: u32,
    pub(crate) close_timeout: Duration,
    /// How the receive side ended (peer CLOSE, peer error, violation, disconnect): later sends
    /// report it instead of writing into a connection nobody reads.
    pub(crate) recv_end: OnceLock<Error>,
    /// The listener's count this connection is in (`max_connections`), given back when the
    /// channel is closed or the connection dropped.
    counted: Mutex<Option<Counted>>,
    /// `frame_timeout`: how long the rest of a frame may take once its header was read.
    pub(crate) frame_timeout: Option<Duration>,
}

/// One connection counted by a listener: the count goes down when this is dropped.
#[derive(Debug)]
pub(crate) struct Counted(Arc<AtomicUsize>);

impl Counted {
    /// Count one more in `count`, unless it already holds `max`.
    pub(crate) fn take(count: &Arc<AtomicUsize>, max: usize) -> Option<Counted> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Counted(Arc::clone(count)))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Conn {
    pub(crate) fn new(peer: PeerCredentials, peer_max: u32, opts: &Options) -> Conn {
        Conn {
            closed: AtomicBool::new(false),
            peer,
            max_send: opts.max_message_size.min(peer_max as usize),
            max_recv: opts.max_message_u32(),
            close_timeout: opts.handshake_timeout,
            recv_end: OnceLock::new(),
            counted: Mutex::new(None),
            frame_timeout: opts.frame_timeout,
        }
    }

    /// Count this connection in a listener's `max_connections` until it is closed or dropped.
    pub(crate) fn hold_count(&self, c: Counted) {
        *self.counted.lock().unwrap_or_else(|p| p.into_inner()) = Some(c);
    }

    /// The channel is closed: give its place in the listener's count back.
    pub(crate) fn release_count(&self) {
        drop(
            self.counted
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn check_send_size(&self, len: usize) -> Result<()> {
        if len > self.max_send {
            return Err(Error::new(
                ErrorKind::MessageTooLarge,
                format!(
                    "message of {len} bytes exceeds the limit of {} bytes (the smaller of this side's and the peer's)",
                    self.max_send
                ),
            ));
        }
        Ok(())
    }

    /// The error a send must report because the connection has already ended, if any.
    pub(crate) fn send_blocked(&self) -> Option<Error> {
        if self.is_closed() {
            return Some(closed_error());
        }
        self.recv_end.get().cloned()
    }

    /// Record how the receive side ended (the first end wins).
    pub(crate) fn set_recv_end(&self, err: &Error) {
        let _ = self.recv_end.set(err.clone());
    }
}
