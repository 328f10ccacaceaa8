//! Wire format v1: the hello exchanged when a connection opens, and the 8-byte frame header
//! that every transport uses for its records. `docs/wire-format.md` is the normative text;
//! this module is sans-IO (pure encode/decode) so the blocking, async and shared-memory paths
//! share it.

mod frame;
mod hello;
mod reader;

pub use frame::{
    ErrorPayload, FLAG_MORE, FrameHeader, FrameType, HEADER_LEN, MAX_ERROR_PAYLOAD, decode_frame,
};
pub use hello::{HELLO_LEN_V1, HELLO_MAX_LEN, Hello, MAGIC, VERSION_MAJOR, VERSION_MINOR};
pub(crate) use reader::{Frame, FrameReader};
