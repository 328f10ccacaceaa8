//! Shared memory (`shm://name`): the rings, the segment that holds them, and the link over
//! them. The transport that sets connections up is `transport/shm.rs`.
//!
//! Rendezvous and liveness use a local socket resolved like a bare name
//! (`<runtime dir>/<name>.shm.sock`, mode 0600, peer credentials, uid allow-list). Client and
//! server exchange hellos carrying the `CAP_SHM` capability; the server then creates a sealed
//! memfd with two rings (`segment.rs`, `ring.rs`) and four eventfd doorbells and passes them
//! in one SETUP frame (`setup.rs`). Nothing is ever created in `/dev/shm` or on disk: when
//! both processes are gone the kernel frees everything, even after SIGKILL.
//!
//! Messages then travel through the rings (`link.rs`); the control socket carries nothing more
//! unless a side reports an error, and its hang-up tells a sleeping peer at once that the
//! other side is gone. See `docs/wire-format.md`, "Shared memory". Every OS call this needs
//! (memfd, seals, mapping, eventfd, descriptor passing) is in `sys::shm`.

pub(crate) mod fanout;
mod fanout_setup;
mod link;
mod ring;
mod segment;
mod setup;
pub(crate) mod sync;

pub(crate) use fanout_setup::{
    FanoutOffer, FanoutRef, FanoutShare, PublisherEnd, SubscriberEnd, take_fanout_offer,
};
pub(crate) use link::ShmLink;
#[cfg(feature = "fuzzing")]
pub(crate) use ring::{Consumer, HeapRing, Producer};
pub(crate) use setup::{Offer, take_offer};
