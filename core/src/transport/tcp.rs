//! TCP: the same frames as the Unix transport, with TCP_NODELAY, for peers on other machines.

use super::{Bound, Transport};
use crate::endpoint::Endpoint;
use crate::error::Result;
use crate::options::Options;
use crate::sys::{self, Stream};

/// The TCP transport.
#[derive(Debug)]
pub(super) struct Tcp;

fn host_port(ep: &Endpoint, opts: &Options) -> Result<(String, u16)> {
    super::refuse_allow_lists(
        opts,
        "needs a transport with peer credentials (unix); TCP peers cannot be verified",
    )?;
    match ep {
        Endpoint::Tcp { host, port } => Ok((host.clone(), *port)),
        _ => unreachable!("the TCP transport is only given tcp:// endpoints"),
    }
}

impl Transport for Tcp {
    fn bind(&self, ep: &Endpoint, opts: &Options) -> Result<Bound> {
        let (host, port) = host_port(ep, opts)?;
        let (listener, actual) = sys::bind_tcp(&host, port)?;
        Ok(Bound {
            listener: Box::new(listener),
            local: Endpoint::Tcp { host, port: actual },
            file: None,
        })
    }

    fn connect(&self, ep: &Endpoint, opts: &Options) -> Result<Stream> {
        let (host, port) = host_port(ep, opts)?;
        sys::connect_tcp(&host, port, opts.connect_timeout)
    }
}
