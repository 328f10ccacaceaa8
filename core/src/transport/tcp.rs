//! TCP: the same frames as the Unix transport, with TCP_NODELAY, for peers on other machines.

use std::net::TcpListener;

use super::Bound;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::sys;

pub(super) fn bind(host: &str, port: u16) -> Result<Bound> {
    let fd = sys::bind_tcp(host, port)?;
    let listener = TcpListener::from(fd);
    let actual = listener
        .local_addr()
        .map_err(|e| Error::from_io(&e, "local address"))?
        .port();
    Ok(Bound {
        fd: listener.into(),
        local: Endpoint::Tcp {
            host: host.to_owned(),
            port: actual,
        },
        _file: None,
        shm: false,
    })
}
