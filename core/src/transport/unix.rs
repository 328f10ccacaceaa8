//! Unix domain sockets: `unix:///path`, `unix:@abstract` and bare names in the runtime dir.

use std::os::fd::OwnedFd;

use super::Bound;
use crate::endpoint::Endpoint;
use crate::error::Result;
use crate::options::Options;
use crate::sys::{self, UnixAddr};

fn addr(ep: &Endpoint, create_dir: bool) -> Result<UnixAddr> {
    Ok(match ep {
        Endpoint::UnixAbstract(name) => UnixAddr::Abstract(name.clone()),
        Endpoint::Named(_) | Endpoint::Shm(_) => {
            let path = ep
                .socket_path()?
                .expect("named and shm endpoints have a path");
            let dir = path.parent().expect("socket path has a parent");
            if create_dir {
                sys::ensure_private_dir(dir)?;
            } else {
                sys::check_private_dir(dir)?;
            }
            UnixAddr::Path(path)
        }
        Endpoint::Unix(path) => UnixAddr::Path(path.clone()),
        _ => unreachable!("unix transport given {ep}"),
    })
}

pub(super) fn bind(ep: &Endpoint, opts: &Options) -> Result<Bound> {
    let (fd, file) = sys::bind_unix(&addr(ep, true)?, opts.socket_mode)?;
    Ok(Bound {
        fd,
        local: ep.clone(),
        _file: file,
        shm: false,
    })
}

pub(super) fn connect(ep: &Endpoint, opts: &Options) -> Result<OwnedFd> {
    sys::connect_unix(&addr(ep, false)?, opts.connect_timeout)
}
