//! The blocking request/reply server.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use super::{ToServer, ends_channel, reply_message, rpc_options, to_server};
use crate::channel::Channel;
use crate::conn::{Message, PeerCredentials};
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::listener::Listener;
use crate::options::Options;
use crate::wait::Wait;

/// A request/reply server: a listener whose clients are request/reply
/// [`Client`](super::Client)s (a plain channel client is refused with `ProtocolMismatch`).
#[derive(Debug)]
pub struct Server {
    listener: Listener,
}

/// One client's connection, as the server sees it: receive requests, send replies (in any
/// order, from any thread: clones share the connection).
#[derive(Debug, Clone)]
pub struct Responder {
    chan: Channel,
}

/// A request: its correlation id and body.
#[derive(Debug, Clone)]
pub struct Request {
    pub(super) id: u64,
    pub(super) body: Message,
}

impl Request {
    /// The correlation id, to pass to [`Responder::reply`].
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The request's bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The request's bytes, owned.
    pub fn into_body(self) -> Message {
        self.body
    }
}

/// A request handler: the request in, the reply body or an error reply out
/// ([`Error::remote`] chooses the status; another libipc error answers with its code).
pub trait Handler: Fn(Request) -> Result<Vec<u8>> + Send + Sync + 'static {}
impl<F> Handler for F where F: Fn(Request) -> Result<Vec<u8>> + Send + Sync + 'static {}

/// The status of the error reply to a request whose handler panicked.
pub const PANIC_STATUS: u32 = u32::MAX;

impl Server {
    /// Listen at `endpoint` with default options (errors as [`Listener::bind`]).
    pub fn bind<E>(endpoint: E) -> Result<Server>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        Server::bind_with(endpoint, &Options::default())
    }

    /// Listen with options (as [`Listener::bind_with`]).
    pub fn bind_with<E>(endpoint: E, opts: &Options) -> Result<Server>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        Ok(Server {
            listener: Listener::bind_with(endpoint, &rpc_options(opts))?,
        })
    }

    /// The endpoint clients connect to.
    pub fn local_endpoint(&self) -> &Endpoint {
        self.listener.local_endpoint()
    }

    /// The next client (errors as [`Listener::accept`]).
    pub fn accept(&self) -> Result<Responder> {
        self.accept_wait(Wait::forever())
    }

    /// The next client, within `wait`.
    pub fn accept_wait(&self, wait: Wait<'_>) -> Result<Responder> {
        Ok(Responder {
            chan: self.listener.accept_wait(wait)?,
        })
    }

    /// Serve every client with `handler` until the server is [`close`](Self::close)d: each
    /// client on a thread of its own, its requests handled one after another, in order. A
    /// handler that panics answers with status [`PANIC_STATUS`]; the server goes on.
    /// Returns `Ok(())` once closed.
    pub fn serve(&self, handler: impl Handler) -> Result<()> {
        let handler = Arc::new(handler);
        loop {
            match self.accept() {
                Ok(r) => {
                    let h = Arc::clone(&handler);
                    std::thread::Builder::new()
                        .name("libipc-rpc".into())
                        .spawn(move || {
                            if let Err(e) = r.serve(&*h) {
                                tracing::debug!(error = %e, "request/reply connection failed");
                            }
                        })
                        .map_err(|e| Error::from_io(&e, "starting a connection thread"))?;
                }
                Err(e) if e.kind() == ErrorKind::Closed => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Stop listening: `serve` and `accept` return; connections already accepted go on.
    pub fn close(&self) {
        self.listener.close();
    }
}

/// What a client sent: a request, or the CANCEL of one (see [`Responder::recv_any_wait`]).
#[derive(Debug)]
pub enum Received {
    /// A request to answer.
    Request(Request),
    /// The client no longer waits for the reply to this id (advisory: a server that can
    /// stop the request's work does; a reply sent anyway is dropped by the client).
    Cancel(u64),
}

impl Responder {
    /// The next request or CANCEL, within `wait`: for servers that run requests concurrently
    /// and can stop one (an event loop's tasks).
    pub fn recv_any_wait(&self, wait: Wait<'_>) -> Result<Received> {
        let m = self.chan.recv_wait(wait)?;
        match to_server(m) {
            Ok(ToServer::Request(r)) => Ok(Received::Request(r)),
            Ok(ToServer::Cancel(id)) => Ok(Received::Cancel(id)),
            Err(violation) => Err(self.chan.fail(violation)),
        }
    }

    /// Answer request `id` within `wait` (`Timeout`: nothing was sent, as for
    /// [`Channel::send_wait`]), with a handler's result.
    pub fn respond_wait(
        &self,
        id: u64,
        result: std::result::Result<&[u8], &Error>,
        wait: Wait<'_>,
    ) -> Result<()> {
        self.chan.send_wait(&reply_message(id, result), wait)
    }

    /// The next request (CANCELs are skipped: a blocking server has handled a request by the
    /// time its CANCEL is read). Errors as [`Channel::recv`]: `Closed` once the client closed.
    pub fn recv(&self) -> Result<Request> {
        self.recv_wait(Wait::forever())
    }

    /// The next request, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Request> {
        self.recv_wait(Wait::timeout(timeout))
    }

    /// The next request, within `wait`.
    pub fn recv_wait(&self, wait: Wait<'_>) -> Result<Request> {
        loop {
            let m = self.chan.recv_wait(wait)?;
            match to_server(m) {
                Ok(ToServer::Request(r)) => return Ok(r),
                Ok(ToServer::Cancel(_)) => {}
                Err(violation) => return Err(self.chan.fail(violation)),
            }
        }
    }

    /// Answer request `id` with `body`.
    pub fn reply(&self, id: u64, body: &[u8]) -> Result<()> {
        self.respond(id, Ok(body))
    }

    /// Answer request `id` with an error: `status` (non-zero; 0 is sent as 1) and `text`
    /// (cut to 4092 bytes). The client's call fails with `Remote`.
    pub fn reply_error(&self, id: u64, status: u32, text: &str) -> Result<()> {
        self.respond(id, Err(&Error::remote(status, text)))
    }

    /// Answer request `id` with a handler's result.
    pub fn respond(&self, id: u64, result: std::result::Result<&[u8], &Error>) -> Result<()> {
        self.respond_wait(id, result, Wait::forever())
    }

    /// Answer this client's requests with `handler`, one after another, until it closes or
    /// disconnects (`Ok(())`) or the channel fails.
    pub fn serve(&self, handler: &dyn Fn(Request) -> Result<Vec<u8>>) -> Result<()> {
        loop {
            let req = match self.recv() {
                Ok(r) => r,
                Err(e) if !ends_channel(&e) => continue,
                Err(e) if matches!(e.kind(), ErrorKind::Closed | ErrorKind::PeerDisconnected) => {
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            let id = req.id;
            let result = catch_unwind(AssertUnwindSafe(|| handler(req)))
                .unwrap_or_else(|_| Err(Error::remote(PANIC_STATUS, "the handler panicked")));
            match self.respond(id, result.as_deref()) {
                Ok(()) => {}
                Err(e) if matches!(e.kind(), ErrorKind::Closed | ErrorKind::PeerDisconnected) => {
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The client's credentials.
    pub fn peer(&self) -> PeerCredentials {
        self.chan.peer()
    }

    /// Close this client's connection.
    pub fn close(&self) {
        self.chan.close();
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Responder {
    /// Readable when a receive that found nothing could make progress (the channel's rule).
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.chan.as_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Server {
    /// Readable when an `accept` that found nothing could make progress.
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.listener.as_fd()
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request {} ({} bytes)", self.id, self.body.len())
    }
}
