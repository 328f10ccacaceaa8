//! Unix FIFOs: `fifo:///path` and `fifo://name` (`<runtime dir>/name.fifo`). A connection is
//! two FIFOs, set up through the listener's rendezvous FIFO (`sys::fifo`); after that it is a
//! byte stream like any other, with frames on it.

use super::{Accept, Bound, Transport};
use crate::conn::PeerCredentials;
use crate::endpoint::Endpoint;
use crate::error::Result;
use crate::handshake;
use crate::options::Options;
use crate::sys::{self, Stream, Waker, fifo::FifoListener};

/// The FIFO transport.
#[derive(Debug)]
pub(super) struct Fifo;

/// The rendezvous FIFO of `ep`, after checking (or, to bind, creating) the private runtime
/// directory a bare name resolves into.
fn rendezvous(ep: &Endpoint, create_dir: bool) -> Result<std::path::PathBuf> {
    let path = ep.fifo_path()?.expect("fifo:// endpoints have a FIFO path");
    if matches!(ep, Endpoint::Fifo(p) if !p.starts_with('/')) {
        let dir = path.parent().expect("a FIFO path has a parent");
        if create_dir {
            sys::ensure_private_dir(dir)?;
        } else {
            sys::check_private_dir(dir)?;
        }
    }
    Ok(path)
}

impl Accept for FifoListener {
    fn try_accept(&self) -> Result<Option<Stream>> {
        FifoListener::try_accept(self)
    }

    fn wait(&self, kick: &Waker, accepting: bool) -> Result<()> {
        FifoListener::wait(self, kick, accepting)
    }
}

impl Transport for Fifo {
    fn bind(&self, ep: &Endpoint, opts: &Options) -> Result<Bound> {
        let (listener, file) = sys::fifo::bind_fifo(&rendezvous(ep, true)?, opts.socket_mode)?;
        Ok(Bound {
            listener: Box::new(listener),
            local: ep.clone(),
            file: Some(file),
        })
    }

    fn connect(&self, ep: &Endpoint, opts: &Options) -> Result<Stream> {
        // The listener is checked (the rendezvous's owner) before the request is written.
        let check = |peer: &PeerCredentials| handshake::check_listener(opts, peer, Vec::new);
        sys::fifo::connect_fifo(&rendezvous(ep, false)?, opts.connect_timeout, &check)
    }
}
