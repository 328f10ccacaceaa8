//! The shared-memory transport `shm://name`.
//!
//! Rendezvous and liveness use a Unix socket resolved like a bare name
//! (`<runtime dir>/<name>.shm.sock`, mode 0600, peer credentials, uid allow-list). Client and
//! server exchange hellos carrying the [`CAP_SHM`] capability; the server then creates a sealed
//! memfd with two rings (`segment.rs`, `ring.rs`) and four eventfd doorbells and passes them
//! in one SETUP frame with `SCM_RIGHTS`. Nothing is ever created in `/dev/shm` or on disk: when
//! both processes are gone the kernel frees everything, even after SIGKILL.
//!
//! Messages then travel through the rings; the control socket carries nothing more unless a
//! side reports an error, and its hang-up tells a sleeping peer at once that the other side is
//! gone. See `docs/wire-format.md`, "Shared memory".

mod link;
mod ring;
mod segment;
mod setup;
pub(crate) mod sync;

pub(crate) use link::{RingRecv, RingSend, ShmLink, ShmRecv};
pub(crate) use setup::{CAP_SHM, Offer, ShmSetup, take_offer};
