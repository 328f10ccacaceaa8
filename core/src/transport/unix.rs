//! Unix domain sockets: `unix:///path`, `unix:@abstract` and bare names in the runtime dir.

use super::{Bound, Transport};
use crate::endpoint::Endpoint;
use crate::error::Result;
use crate::options::Options;
use crate::sys::{self, LocalAddr, Stream};

/// The Unix-socket transport.
#[derive(Debug)]
pub(super) struct Unix;

/// Where `ep` lives: its address, after checking (or, to bind, creating) a private runtime
/// directory for names that resolve into one.
pub(super) fn local_addr(ep: &Endpoint, create_dir: bool) -> Result<LocalAddr> {
    if let Endpoint::UnixAbstract(name) = ep {
        return Ok(LocalAddr::Abstract(name.clone()));
    }
    let path = ep
        .socket_path()?
        .expect("file-based local endpoints have a socket path");
    if !matches!(ep, Endpoint::Unix(_)) {
        let dir = path.parent().expect("socket path has a parent");
        if create_dir {
            sys::ensure_private_dir(dir)?;
        } else {
            sys::check_private_dir(dir)?;
        }
    }
    Ok(LocalAddr::Path(path))
}

/// Bind a local socket for `ep` (also the shared-memory control socket).
pub(super) fn bind_local(ep: &Endpoint, opts: &Options) -> Result<Bound> {
    let (listener, file) = sys::bind_local(&local_addr(ep, true)?, opts.socket_mode)?;
    Ok(Bound {
        listener: Box::new(listener),
        local: ep.clone(),
        file,
    })
}

impl Transport for Unix {
    fn bind(&self, ep: &Endpoint, opts: &Options) -> Result<Bound> {
        bind_local(ep, opts)
    }

    fn connect(&self, ep: &Endpoint, opts: &Options) -> Result<Stream> {
        sys::connect_local(&local_addr(ep, false)?, opts.connect_timeout)
    }
}
