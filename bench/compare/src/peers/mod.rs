//! The peer libraries, each one more [`LinkKind`] (a row `system`): the bench's side and the
//! peer's side of a link built with that library, carrying the bench's messages as the
//! library's users would (no libipc code). Each is behind its cargo feature.

use libipc_bench_unix::LinkKind;

#[cfg(feature = "grpc")]
pub(crate) mod grpc;
#[cfg(feature = "iceoryx2")]
mod iceoryx2;
#[cfg(feature = "interprocess")]
mod interprocess;
#[cfg(feature = "ipc-channel")]
mod ipc_channel_peer;
#[cfg(feature = "zmq")]
mod zmq;

/// Every peer kind this build has, in row order.
pub(crate) fn kinds() -> Vec<&'static dyn LinkKind> {
    let kinds: &[&'static dyn LinkKind] = &[
        #[cfg(feature = "grpc")]
        &grpc::Kind,
        #[cfg(feature = "iceoryx2")]
        &iceoryx2::SPIN,
        #[cfg(feature = "iceoryx2")]
        &iceoryx2::EVENT,
        #[cfg(feature = "interprocess")]
        &interprocess::Kind,
        #[cfg(feature = "ipc-channel")]
        &ipc_channel_peer::Kind,
        #[cfg(feature = "zmq")]
        &zmq::Kind,
    ];
    kinds.to_vec()
}
