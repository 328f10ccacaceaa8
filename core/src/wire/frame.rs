//! The frame header: `length: u32 LE | type: u8 | flags: u8 | reserved: u16 (zero)`.

use crate::error::{Error, ErrorKind, Result};

/// Size of a frame header in bytes.
pub const HEADER_LEN: usize = 8;
/// DATA flag: this frame is a fragment; the message continues in the next DATA frame.
pub const FLAG_MORE: u8 = 0x01;
/// Largest payload an ERROR frame may carry (code, reserved, UTF-8 text).
pub const MAX_ERROR_PAYLOAD: u32 = 4096;

/// Frame types defined by v1. Every other value is reserved and refused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameType {
    /// A message, or a fragment of one when [`FLAG_MORE`] is set.
    Data = 0x01,
    /// Orderly close: the sender sends nothing after it. Payload must be empty.
    Close = 0x02,
    /// The sender reports an error and closes: `code: u16 | reserved: u16 | UTF-8 text`.
    Error = 0x03,
    /// Shared-memory setup, sent once by the server on an `shm://` control socket (with file
    /// descriptors attached). Invalid anywhere else.
    Setup = 0x04,
    /// Padding to the end of a shared-memory ring. Invalid anywhere else.
    Pad = 0x05,
}

impl FrameType {
    /// Whether the type may appear on a byte-stream connection after the handshake.
    pub fn allowed_on_stream(self) -> bool {
        matches!(self, FrameType::Data | FrameType::Close | FrameType::Error)
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length in bytes (not counting the header).
    pub length: u32,
    /// Frame type.
    pub frame_type: FrameType,
    /// Flag bits; only [`FLAG_MORE`] on DATA frames is defined.
    pub flags: u8,
}

fn violation(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ProtocolViolation, msg)
}

impl FrameHeader {
    /// A DATA header for a whole message of `length` bytes.
    pub fn data(length: u32) -> FrameHeader {
        FrameHeader {
            length,
            frame_type: FrameType::Data,
            flags: 0,
        }
    }

    /// Encode into the 8 wire bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&self.length.to_le_bytes());
        b[4] = self.frame_type as u8;
        b[5] = self.flags;
        b
    }

    /// Decode and validate 8 wire bytes: known type, reserved bits and bytes zero, flags allowed
    /// for the type, CLOSE empty, ERROR within its bounds. The length is not checked against a
    /// message limit here; the reader does that before allocating.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<FrameHeader> {
        let length = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let frame_type = match b[4] {
            0x01 => FrameType::Data,
            0x02 => FrameType::Close,
            0x03 => FrameType::Error,
            0x04 => FrameType::Setup,
            0x05 => FrameType::Pad,
            t => return Err(violation(format!("unknown frame type 0x{t:02x}"))),
        };
        let flags = b[5];
        let reserved = u16::from_le_bytes([b[6], b[7]]);
        if reserved != 0 {
            return Err(violation(format!(
                "reserved header bytes are 0x{reserved:04x}, must be zero"
            )));
        }
        let allowed = if frame_type == FrameType::Data {
            FLAG_MORE
        } else {
            0
        };
        if flags & !allowed != 0 {
            return Err(violation(format!(
                "flags 0x{flags:02x} not allowed on a {frame_type:?} frame"
            )));
        }
        match frame_type {
            FrameType::Close if length != 0 => {
                return Err(violation(format!(
                    "CLOSE frame with a {length}-byte payload"
                )));
            }
            FrameType::Error if !(4..=MAX_ERROR_PAYLOAD).contains(&length) => {
                return Err(violation(format!(
                    "ERROR frame payload of {length} bytes (must be 4..=4096)"
                )));
            }
            _ => {}
        }
        Ok(FrameHeader {
            length,
            frame_type,
            flags,
        })
    }
}

/// The payload of an ERROR frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPayload {
    /// Stable error code ([`ErrorKind::code`]).
    pub code: u16,
    /// Human-readable text.
    pub message: String,
}

impl ErrorPayload {
    /// Build the payload for a local error, truncating the text to fit an ERROR frame.
    pub fn from_error(kind: ErrorKind, message: &str) -> ErrorPayload {
        let mut end = message.len().min(MAX_ERROR_PAYLOAD as usize - 4);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        ErrorPayload {
            code: kind.code(),
            message: message[..end].to_owned(),
        }
    }

    /// Encode to a full ERROR frame (header and payload).
    pub fn encode_frame(&self) -> Vec<u8> {
        let len = 4 + self.message.len();
        let mut out = Vec::with_capacity(HEADER_LEN + len);
        let h = FrameHeader {
            length: len as u32,
            frame_type: FrameType::Error,
            flags: 0,
        };
        out.extend_from_slice(&h.encode());
        out.extend_from_slice(&self.code.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(self.message.as_bytes());
        out
    }

    /// Decode an ERROR payload: code, zero reserved field, UTF-8 text.
    pub fn decode(p: &[u8]) -> Result<ErrorPayload> {
        if p.len() < 4 {
            return Err(violation("ERROR payload shorter than 4 bytes"));
        }
        let code = u16::from_le_bytes([p[0], p[1]]);
        if p[2] != 0 || p[3] != 0 {
            return Err(violation("ERROR payload reserved field must be zero"));
        }
        let message = std::str::from_utf8(&p[4..])
            .map_err(|_| violation("ERROR payload text is not UTF-8"))?
            .to_owned();
        Ok(ErrorPayload { code, message })
    }

    /// The local error this payload reports. Unknown codes, and codes of local-only kinds
    /// (100 and up, which never travel on the wire), become ProtocolViolation.
    pub fn to_error(&self) -> Error {
        match ErrorKind::from_code(self.code).filter(|k| k.on_wire()) {
            Some(kind) => Error::new(kind, format!("peer reported: {}", self.message)),
            None => violation(format!(
                "peer reported unknown error code {}: {}",
                self.code, self.message
            )),
        }
    }
}

/// Decode one complete frame (`header | payload`, nothing more) as a receiver with a
/// `max_message` limit would: the header is validated, a DATA payload longer than the limit is
/// `MessageTooLarge`, a payload that is shorter or longer than the header says is
/// `ProtocolViolation`, and an ERROR payload must itself be well formed.
pub fn decode_frame(bytes: &[u8], max_message: u32) -> Result<(FrameHeader, &[u8])> {
    let Some(head) = bytes.first_chunk::<HEADER_LEN>() else {
        return Err(violation(format!(
            "{} bytes is shorter than a frame header",
            bytes.len()
        )));
    };
    let header = FrameHeader::decode(head)?;
    if !header.frame_type.allowed_on_stream() {
        return Err(violation(format!(
            "{:?} frame is not allowed on a stream",
            header.frame_type
        )));
    }
    if header.frame_type == FrameType::Data && header.length > max_message {
        return Err(Error::new(
            ErrorKind::MessageTooLarge,
            format!(
                "{}-byte message exceeds the limit of {max_message} bytes",
                header.length
            ),
        ));
    }
    let payload = &bytes[HEADER_LEN..];
    if payload.len() != header.length as usize {
        return Err(violation(format!(
            "header announces {} payload bytes, {} present",
            header.length,
            payload.len()
        )));
    }
    if header.frame_type == FrameType::Error {
        ErrorPayload::decode(payload)?;
    }
    Ok((header, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        // Proptest reads and writes its failure files: system calls Miri does not run.
        #[cfg_attr(miri, ignore)]
        fn any_valid_header_round_trips(len in any::<u32>(), more in any::<bool>()) {
            let h = FrameHeader { length: len, frame_type: FrameType::Data, flags: if more { FLAG_MORE } else { 0 } };
            prop_assert_eq!(FrameHeader::decode(&h.encode()).unwrap(), h);
        }

        #[test]
        // Proptest reads and writes its failure files: system calls Miri does not run.
        #[cfg_attr(miri, ignore)]
        fn decode_never_panics_and_accepts_only_canonical(b in any::<[u8; 8]>()) {
            if let Ok(h) = FrameHeader::decode(&b) {
                prop_assert_eq!(h.encode(), b);
            }
        }
    }

    #[test]
    fn error_payload_truncates_on_char_boundary() {
        let long = "é".repeat(5000);
        let p = ErrorPayload::from_error(ErrorKind::Io, &long);
        assert!(p.message.len() <= 4092);
        let f = p.encode_frame();
        let h = FrameHeader::decode(f[..8].try_into().unwrap()).unwrap();
        assert_eq!(ErrorPayload::decode(&f[8..]).unwrap(), p);
        assert_eq!(h.length as usize, f.len() - 8);
    }
}
