//! Windows named pipes: `pipe://name` is `\\.\pipe\name`, and on Windows a bare name is one
//! too. The security defaults (the user and SYSTEM only, no remote clients, the name claimed
//! by the first instance, identification-level clients) are the platform layer's
//! (`sys/windows/pipe.rs`). On Unix, binding and connecting give `Unsupported`.

use super::{Bound, Transport};
use crate::endpoint::Endpoint;
use crate::error::Result;
use crate::options::Options;
use crate::sys::{self, Stream};

/// The named-pipe transport.
#[derive(Debug)]
pub(super) struct Pipe;

/// The pipe's name (the part after `\\.\pipe\`), after checking the options.
fn name<'a>(ep: &'a Endpoint, opts: &Options) -> Result<&'a str> {
    super::refuse_allow_lists(
        opts,
        "needs peer credentials, which named pipes do not report (the pipe's security descriptor already admits only this user and SYSTEM)",
    )?;
    match ep {
        Endpoint::Pipe(n) | Endpoint::Named(n) => Ok(n),
        _ => unreachable!("for_endpoint sends only pipe:// and bare names here"),
    }
}

impl Transport for Pipe {
    fn bind(&self, ep: &Endpoint, opts: &Options) -> Result<Bound> {
        Ok(Bound {
            listener: Box::new(sys::bind_pipe(name(ep, opts)?)?),
            local: ep.clone(),
            file: None,
        })
    }

    fn connect(&self, ep: &Endpoint, opts: &Options) -> Result<Stream> {
        sys::connect_pipe(name(ep, opts)?, opts.connect_timeout)
    }
}
