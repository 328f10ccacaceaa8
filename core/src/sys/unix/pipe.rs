//! Windows named pipes (`pipe://name`) do not exist on Unix: binding and connecting give
//! `Unsupported`, pointing to the Unix pipe transport.

use std::time::Duration;

use super::socket::StreamListener;
use super::stream::Stream;
use crate::error::{Error, ErrorKind, Result};

fn unsupported(name: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "pipe://{name}: Windows named pipes are not available on Unix; use fifo:///path (FIFOs) or a bare name"
        ),
    )
}

pub(crate) fn bind_pipe(name: &str) -> Result<StreamListener> {
    Err(unsupported(name))
}

pub(crate) fn connect_pipe(name: &str, _timeout: Option<Duration>) -> Result<Stream> {
    Err(unsupported(name))
}
