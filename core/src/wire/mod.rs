//! Wire format v1: the hello exchanged when a connection opens, the 8-byte frame header that
//! every transport uses for its records, the shared-memory SETUP frame, and the connection
//! request of `fifo://` endpoints.
//! `docs/wire-format.md` is the normative text; this module is sans-IO (pure encode/decode,
//! plus the incremental [`FrameReader`] and `FrameWriter` that keep partial frames across
//! calls) so the blocking, async and shared-memory paths share it.

pub(crate) mod assembly;
mod fifo;
mod frame;
mod hello;
mod pubsub;
mod reader;
mod rpc;
mod setup;
mod writer;

pub use fifo::{FIFO_MAGIC, FIFO_REQUEST_LEN, FIFO_TOKEN_MAX, FIFO_VERSION, FifoRequest};
pub use frame::{
    ErrorPayload, FLAG_MORE, FrameHeader, FrameType, HEADER_LEN, MAX_ERROR_PAYLOAD, decode_frame,
};
pub use hello::{HELLO_LEN_V1, HELLO_MAX_LEN, Hello, MAGIC, VERSION_MAJOR, VERSION_MINOR};
pub use pubsub::{
    CAP_PUBSUB, MAX_PREFIXES, MAX_TOPIC_LEN, PUBSUB_ENVELOPE_LEN, PubSubFrame, PubSubKind,
    PubSubRole, check_prefixes, check_topic, decode_pubsub, encode_subscribe, encode_subscribed,
    message_envelope, topic_matches,
};
pub(crate) use reader::{Frame, FrameReader, Got};
pub use rpc::{CAP_RPC, ENVELOPE_LEN, Envelope, MAX_FAULT_TEXT, RpcKind, RpcRole, fault_text};
pub use setup::{
    CAP_SHM, SETUP_FANOUT, SETUP_FANOUT_FDS, SETUP_FDS, SETUP_LEN, SETUP_UNSEALED, Setup,
};
pub(crate) use writer::FrameWriter;
