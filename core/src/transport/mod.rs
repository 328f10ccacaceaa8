//! The transport seam: how an [`Endpoint`] becomes connected links, one file per transport.
//!
//! A [`Transport`] binds (a listener that yields connected byte streams, [`Accept`]) and
//! connects (one stream). The handshake on top of a stream is shared (`handshake.rs`); after
//! it, the transport makes the connection's [`Link`]: by default frames on the stream itself
//! (`link/stream.rs`), or whatever the transport sets up over it (shared memory: `shm.rs`
//! negotiates rings with the SETUP frame and keeps the stream for liveness).
//!
//! Transports are registered in [`for_endpoint`], the one place that matches on the kind of
//! endpoint. Adding one is a new file here implementing [`Transport`] and a line in
//! `for_endpoint` (see `docs/ARCHITECTURE.md`, "Adding a transport").

#[cfg(unix)]
mod fifo;
mod pipe;
#[cfg(unix)]
mod shm;
mod tcp;
mod unix;

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use crate::conn::Conn;
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::link::Link;
use crate::link::stream::StreamLink;
use crate::options::Options;
use crate::sys::{self, Stream, Waker};

/// The options a listener at `ep` runs with. An abstract Unix socket (`unix:@name`) has no
/// file, hence no file permissions: with no allow-list of its own (neither uids nor gids), such
/// a listener admits only processes of its own uid, so another user cannot connect by default
/// (every other local endpoint is kept from other users by its file's or runtime directory's
/// permissions). A gid list alone is taken as given: members of those groups only.
pub(crate) fn listener_options(ep: &Endpoint, opts: &Options) -> Options {
    #[cfg(unix)]
    if matches!(ep, Endpoint::UnixAbstract(_))
        && opts.allowed_uids.is_none()
        && opts.allowed_gids.is_none()
    {
        return opts.clone().with_allowed_uids([sys::current_uid()]);
    }
    #[cfg(not(unix))]
    let _ = ep;
    opts.clone()
}

/// Refuse the allow-lists (`allowed_uids`, `allowed_gids`) on a transport that cannot check
/// them: `InvalidArgument`, the first option set followed by `why`, the transport's reason.
pub(crate) fn refuse_allow_lists(opts: &Options, why: &str) -> Result<()> {
    for (name, set) in [
        ("allowed_uids", opts.allowed_uids.is_some()),
        ("allowed_gids", opts.allowed_gids.is_some()),
    ] {
        if set {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("{name} {why}"),
            ));
        }
    }
    Ok(())
}

/// A kind of connection: how to listen, how to connect, and what link a connection becomes.
pub(crate) trait Transport: Sync + fmt::Debug {
    /// Listen at `ep`.
    fn bind(&self, ep: &Endpoint, opts: &Options) -> Result<Bound>;

    /// Connect to `ep` (waiting at most the connect timeout), giving a connected stream.
    fn connect(&self, ep: &Endpoint, opts: &Options) -> Result<Stream>;

    /// Hello capability bits both sides must announce for this transport.
    fn capabilities(&self) -> u32 {
        0
    }

    /// Server side, once the client's hello is accepted and before answering it: prepare
    /// what the link needs. A failure here is reported to the client as a refusal.
    fn prepare(&self, opts: &Options) -> Result<Box<dyn Prepared>> {
        let _ = opts;
        Ok(Box::new(OnStream))
    }

    /// Client side, after the hellos: make the link (by default, frames on the stream).
    fn join(
        &self,
        stream: Stream,
        conn: Conn,
        opts: &Options,
        deadline: Instant,
    ) -> Result<Arc<dyn Link>> {
        let _ = deadline;
        Ok(Arc::new(StreamLink::new(conn, stream, opts.stream_spin)))
    }
}

/// What the server side prepared for one connection ([`Transport::prepare`]).
pub(crate) trait Prepared: Send {
    /// After our accepting hello went out: finish the setup and make the link.
    fn finish(
        self: Box<Self>,
        stream: Stream,
        conn: Conn,
        opts: &Options,
        deadline: Instant,
    ) -> Result<Arc<dyn Link>>;
}

/// The default: frames on the stream.
struct OnStream;

impl Prepared for OnStream {
    fn finish(
        self: Box<Self>,
        stream: Stream,
        conn: Conn,
        opts: &Options,
        _deadline: Instant,
    ) -> Result<Arc<dyn Link>> {
        Ok(Arc::new(StreamLink::new(conn, stream, opts.stream_spin)))
    }
}

/// A source of connected streams: what a bound transport listens with.
pub(crate) trait Accept: Send + fmt::Debug {
    /// Accept one pending connection, or `None` if none is pending now.
    fn try_accept(&self) -> Result<Option<Stream>>;

    /// Wait until `kick` fires or (if `accepting`) a connection is pending.
    fn wait(&self, kick: &Waker, accepting: bool) -> Result<()>;
}

impl Accept for sys::StreamListener {
    fn try_accept(&self) -> Result<Option<Stream>> {
        sys::StreamListener::try_accept(self)
    }

    fn wait(&self, kick: &Waker, accepting: bool) -> Result<()> {
        sys::StreamListener::wait(self, kick, accepting)
    }
}

/// A bound, listening transport and what it takes to clean it up.
#[derive(Debug)]
pub(crate) struct Bound {
    pub(crate) listener: Box<dyn Accept>,
    /// The endpoint as clients should name it (TCP port 0 replaced by the real port).
    pub(crate) local: Endpoint,
    /// The socket file to remove (once the listener is closed), for file-based sockets.
    pub(crate) file: Option<sys::SocketFile>,
}

/// The transport that serves `ep`: the registry, and the only place that matches on the kind
/// of endpoint.
pub(crate) fn for_endpoint(ep: &Endpoint) -> Result<&'static dyn Transport> {
    match ep {
        Endpoint::Unix(_) | Endpoint::UnixAbstract(_) => Ok(&unix::Unix),
        // A bare name is the platform's own local transport.
        Endpoint::Named(_) if cfg!(windows) => Ok(&pipe::Pipe),
        Endpoint::Named(_) => Ok(&unix::Unix),
        Endpoint::Tcp { .. } => Ok(&tcp::Tcp),
        #[cfg(unix)]
        Endpoint::Shm(_) => Ok(&shm::Shm),
        #[cfg(not(unix))]
        Endpoint::Shm(_) => Err(Error::new(
            ErrorKind::Unsupported,
            format!("{ep}: shared memory is available on Unix only; use pipe://name on Windows"),
        )),
        #[cfg(unix)]
        Endpoint::Fifo(_) => Ok(&fifo::Fifo),
        #[cfg(not(unix))]
        Endpoint::Fifo(_) => Err(Error::new(
            ErrorKind::Unsupported,
            format!("{ep}: FIFOs are available on Unix only; use pipe://name on Windows"),
        )),
        Endpoint::Pipe(_) => Ok(&pipe::Pipe),
    }
}

/// The transport of a socket pair (`Channel::pair`, a parent and the child it spawned): frames
/// on a local stream, as over a Unix socket.
pub(crate) fn for_pair() -> &'static dyn Transport {
    &unix::Unix
}
