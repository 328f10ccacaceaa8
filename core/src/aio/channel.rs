//! [`AsyncChannel`]: the tokio twin of [`Channel`](crate::Channel), over sockets (`stream.rs`)
//! or shared memory (`shm.rs`).

use std::fmt;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use super::shm::ShmChannel;
use super::stream::StreamChannel;
use super::{elapsed, require_runtime};
use crate::conn::{Conn, Message, PeerCredentials};
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::handshake::{self, Established};
use crate::options::Options;
use crate::shm::ShmLink;
use crate::sys;
use crate::transport;

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per channel, behind an Arc
enum Inner {
    Stream(StreamChannel),
    Shm(ShmChannel),
}

/// A connected message channel for async code. Same contract as [`Channel`](crate::Channel):
/// boundaries kept, FIFO, backpressure, errors, on every transport. `Send + Sync`; clones
/// share the connection.
#[derive(Clone)]
pub struct AsyncChannel {
    inner: Arc<Inner>,
}

impl fmt::Debug for AsyncChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncChannel")
            .field("fd", &self.as_raw_fd())
            .field("peer", &self.peer())
            .finish()
    }
}

impl AsyncChannel {
    /// Connect with default options.
    pub async fn connect<E>(endpoint: E) -> Result<AsyncChannel>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        AsyncChannel::connect_with(endpoint, &Options::default()).await
    }

    /// Connect with options. Connecting and the handshake run on tokio's blocking pool, so the
    /// calling task's thread is never blocked.
    pub async fn connect_with<E>(endpoint: E, opts: &Options) -> Result<AsyncChannel>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        require_runtime()?;
        opts.validate()?;
        let ep = endpoint.try_into()?;
        let opts2 = opts.clone();
        let est = tokio::task::spawn_blocking(move || {
            let fd = transport::connect(&ep, &opts2)?;
            handshake::client(fd, &opts2, matches!(ep, Endpoint::Shm(_)))
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("connect task failed: {e}")))??;
        AsyncChannel::from_established(est, opts)
    }

    pub(crate) fn from_established(mut est: Established, opts: &Options) -> Result<AsyncChannel> {
        let inner = match est.shm.take() {
            Some(setup) => {
                let conn = Conn::new(est, opts);
                Inner::Shm(ShmChannel::new(ShmLink::new(conn, setup, opts.shm_spin)?)?)
            }
            None => Inner::Stream(StreamChannel::from_established(est, opts)?),
        };
        Ok(AsyncChannel {
            inner: Arc::new(inner),
        })
    }

    fn conn(&self) -> &Conn {
        match &*self.inner {
            Inner::Stream(s) => s.conn(),
            Inner::Shm(s) => s.conn(),
        }
    }

    /// Send one message, waiting while the peer is not reading.
    pub async fn send(&self, data: &[u8]) -> Result<()> {
        match &*self.inner {
            Inner::Stream(s) => s.send(data).await,
            Inner::Shm(s) => s.send(data, None).await,
        }
    }

    /// Send one message, waiting at most `timeout`. `Timeout` means nothing of the message was
    /// sent. If the deadline passes after part of it went out, the rest is kept in the channel
    /// and written before any later message (or by `close`), and the call returns `Ok`.
    pub async fn send_timeout(&self, data: &[u8], timeout: Duration) -> Result<()> {
        match &*self.inner {
            Inner::Stream(s) => s.send_timeout(data, timeout).await,
            Inner::Shm(s) => {
                s.send(
                    data,
                    Some(tokio::time::Instant::from_std(sys::after(timeout))),
                )
                .await
            }
        }
    }

    /// Receive the next message. Errors as [`Channel::recv`](crate::Channel::recv).
    pub async fn recv(&self) -> Result<Message> {
        match &*self.inner {
            Inner::Stream(s) => s.recv().await,
            Inner::Shm(s) => s.recv().await,
        }
    }

    /// Receive, giving up with `Timeout` after `timeout` (nothing is lost).
    pub async fn recv_timeout(&self, timeout: Duration) -> Result<Message> {
        tokio::time::timeout(timeout, self.recv())
            .await
            .map_err(|_| elapsed("recv"))?
    }

    /// Receive a message if one is already available, without waiting; `Timeout` if none is
    /// (or another task is receiving).
    pub fn try_recv(&self) -> Result<Message> {
        match &*self.inner {
            Inner::Stream(s) => s.try_recv(),
            Inner::Shm(s) => s.try_recv(),
        }
    }

    /// Close the channel: anything a cancelled send left is written out, then CLOSE, waiting
    /// at most the handshake timeout for the peer to take it; then the connection is shut
    /// down. Pending `recv` and `send` calls return `Closed`. Idempotent and cancellation-safe.
    pub async fn close(&self) {
        match &*self.inner {
            Inner::Stream(s) => s.close().await,
            Inner::Shm(s) => s.close().await,
        }
    }

    /// The peer's credentials, as [`Channel::peer`](crate::Channel::peer).
    pub fn peer(&self) -> PeerCredentials {
        self.conn().peer
    }

    /// The largest message `send` accepts (the smaller of both sides' limits).
    pub fn max_message_size(&self) -> usize {
        self.conn().max_send
    }
}

impl AsRawFd for AsyncChannel {
    fn as_raw_fd(&self) -> RawFd {
        self.conn().fd.as_raw_fd()
    }
}
