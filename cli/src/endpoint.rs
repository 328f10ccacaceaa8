//! Binding and connecting by endpoint string, with errors that always name the endpoint.

use libipc::{Channel, Endpoint, Listener};

use crate::fail::{Fail, Result};

/// Listen at `endpoint` (as the user wrote it) with options.
pub fn bind_with(endpoint: &str, opts: &libipc::Options) -> Result<Listener> {
    let ep = Endpoint::parse(endpoint)?;
    Listener::bind_with(&ep, opts).map_err(|e| naming(e, "listening at", endpoint))
}

/// Connect to `endpoint` (as the user wrote it).
pub fn connect(endpoint: &str) -> Result<Channel> {
    let ep = Endpoint::parse(endpoint)?;
    Channel::connect(&ep).map_err(|e| naming(e, "connecting to", endpoint))
}

/// libipc's error, prefixed with `<doing> <endpoint>: ` unless it already names the endpoint.
fn naming(e: libipc::Error, doing: &str, endpoint: &str) -> Fail {
    let named = e.message().contains(endpoint);
    let fail = Fail::from(e);
    if named {
        fail
    } else {
        fail.within(format_args!("{doing} {endpoint}"))
    }
}
