//! Shared memory, `shm://name`: a local socket at `<runtime dir>/<name>.shm.sock` for the
//! rendezvous (and, after it, liveness and error reports), then two rings in a sealed memfd
//! that the SETUP frame hands over. The rings and their link are `crate::shm`.

use std::sync::Arc;
use std::time::Instant;

use super::unix::{bind_local, local_addr};
use super::{Bound, Prepared, Transport};
use crate::conn::Conn;
use crate::endpoint::Endpoint;
use crate::error::Result;
use crate::link::Link;
use crate::link::stream::StreamLink;
use crate::options::Options;
use crate::shm::{FanoutOffer, Offer, ShmLink, take_fanout_offer, take_offer};
use crate::sys::{self, Stream};
use crate::wire::{CAP_PUBSUB, CAP_SHM};

/// The shared-memory transport.
#[derive(Debug)]
pub(super) struct Shm;

impl Transport for Shm {
    fn bind(&self, ep: &Endpoint, opts: &Options) -> Result<Bound> {
        bind_local(ep, opts)
    }

    fn connect(&self, ep: &Endpoint, opts: &Options) -> Result<Stream> {
        sys::connect_local(&local_addr(ep, false)?, opts.connect_timeout)
    }

    fn capabilities(&self) -> u32 {
        CAP_SHM
    }

    fn prepare(&self, opts: &Options) -> Result<Box<dyn Prepared>> {
        // Created before the hello is answered, so that a failure is a proper refusal.
        if let Some(fanout) = &opts.fanout {
            // A publisher: its one fan-out segment, and a cursor page for this subscriber.
            return Ok(Box::new(FanoutOffer::create(&fanout.0)?));
        }
        let offer = Offer::create(opts.shm_ring_size as u64, opts.shm_posix_fallback)?;
        Ok(Box::new(offer))
    }

    fn join(
        &self,
        stream: Stream,
        conn: Conn,
        opts: &Options,
        deadline: Instant,
    ) -> Result<Arc<dyn Link>> {
        if opts.pattern_caps & CAP_PUBSUB != 0 {
            // A subscriber (the publisher's hello carried CAP_PUBSUB too, or the handshake
            // would have failed): messages come through the fan-out segment, frames on the
            // control socket.
            let end = take_fanout_offer(&stream, deadline, opts.shm_posix_fallback)?;
            return Ok(Arc::new(
                StreamLink::new(conn, stream, opts.stream_spin).with_attachment(Box::new(end)),
            ));
        }
        let setup = take_offer(&stream, deadline, opts.shm_posix_fallback)?;
        Ok(Arc::new(ShmLink::new(conn, stream, setup, opts.shm_spin)?))
    }
}

impl Prepared for FanoutOffer {
    fn finish(
        self: Box<Self>,
        stream: Stream,
        conn: Conn,
        opts: &Options,
        deadline: Instant,
    ) -> Result<Arc<dyn Link>> {
        let end = self.send(&stream, deadline)?;
        Ok(Arc::new(
            StreamLink::new(conn, stream, opts.stream_spin).with_attachment(Box::new(end)),
        ))
    }
}

impl Prepared for Offer {
    fn finish(
        self: Box<Self>,
        stream: Stream,
        conn: Conn,
        opts: &Options,
        deadline: Instant,
    ) -> Result<Arc<dyn Link>> {
        let setup = self.send(&stream, deadline)?;
        Ok(Arc::new(ShmLink::new(conn, stream, setup, opts.shm_spin)?))
    }
}
