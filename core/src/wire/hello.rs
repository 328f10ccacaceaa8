//! The hello: the first bytes each side sends on a new connection.
//!
//! ```text
//! off len field
//!   0   4 magic "LIPC" (4c 49 50 43)
//!   4   1 version major (1)
//!   5   1 version minor (1: this build speaks 1.1)
//!   6   2 hello length in bytes, u16 LE (24 in v1.0; 24..=1024; extra bytes are for later minors)
//!   8   4 capabilities, u32 LE (bit 0: shared memory, bit 1: request/reply, see docs/wire-format.md; unknown bits are ignored)
//!  12   2 status, u16 LE (client: 0; server: 0 = accepted, else an error code, ERROR frame follows)
//!  14   2 reserved, zero
//!  16   4 max message size this side accepts, u32 LE
//!  20   4 reserved, zero
//! ```

use crate::error::{Error, ErrorKind, Result};

/// The four magic bytes that open every libipc connection.
pub const MAGIC: [u8; 4] = *b"LIPC";
/// Major version spoken by this build. Peers with another major are refused.
pub const VERSION_MAJOR: u8 = 1;
/// Minor version spoken by this build.
pub const VERSION_MINOR: u8 = 2;
/// Length of a v1.0 hello.
pub const HELLO_LEN_V1: u16 = 24;
/// Largest hello length a receiver accepts.
pub const HELLO_MAX_LEN: u16 = 1024;

/// A decoded hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Total length on the wire, including any bytes past the v1.0 fields.
    pub length: u16,
    /// Capability bits.
    pub capabilities: u32,
    /// 0, or the error code the server refuses the connection with.
    pub status: u16,
    /// Largest message this side accepts.
    pub max_message_size: u32,
}

impl Hello {
    /// The hello this build sends.
    pub fn new(max_message_size: u32, status: u16) -> Hello {
        Hello {
            major: VERSION_MAJOR,
            minor: VERSION_MINOR,
            length: HELLO_LEN_V1,
            capabilities: 0,
            status,
            max_message_size,
        }
    }

    /// Encode the 24 bytes of the v1.0 fields (the length field is always written as 24:
    /// this build appends nothing).
    pub fn encode(&self) -> [u8; HELLO_LEN_V1 as usize] {
        let mut b = [0u8; HELLO_LEN_V1 as usize];
        b[0..4].copy_from_slice(&MAGIC);
        b[4] = self.major;
        b[5] = self.minor;
        b[6..8].copy_from_slice(&HELLO_LEN_V1.to_le_bytes());
        b[8..12].copy_from_slice(&self.capabilities.to_le_bytes());
        b[12..14].copy_from_slice(&self.status.to_le_bytes());
        b[16..20].copy_from_slice(&self.max_message_size.to_le_bytes());
        b
    }

    /// Check the first 8 bytes (magic, version, length) and return the total hello length.
    /// A different major is reported as ProtocolMismatch, naming both versions.
    pub fn decode_prefix(b: &[u8; 8]) -> Result<(u8, u8, u16)> {
        if b[0..4] != MAGIC {
            return Err(Error::new(
                ErrorKind::ProtocolViolation,
                format!(
                    "bad magic {:02x?}: the peer is not a libipc endpoint",
                    &b[0..4]
                ),
            ));
        }
        let (major, minor) = (b[4], b[5]);
        if major != VERSION_MAJOR {
            return Err(Error::new(
                ErrorKind::ProtocolMismatch,
                format!(
                    "peer speaks wire version {major}.{minor}; this side speaks {VERSION_MAJOR}.{VERSION_MINOR}"
                ),
            ));
        }
        let length = u16::from_le_bytes([b[6], b[7]]);
        if !(HELLO_LEN_V1..=HELLO_MAX_LEN).contains(&length) {
            return Err(Error::new(
                ErrorKind::ProtocolViolation,
                format!("hello length {length} outside 24..=1024"),
            ));
        }
        Ok((major, minor, length))
    }

    /// Decode a whole hello (`b.len()` is its length as announced in the prefix).
    pub fn decode(b: &[u8]) -> Result<Hello> {
        if let Some(prefix) = b.first_chunk::<8>() {
            Hello::decode_prefix(prefix)?;
        }
        if b.len() < HELLO_LEN_V1 as usize {
            return Err(Error::new(
                ErrorKind::ProtocolViolation,
                "hello shorter than 24 bytes",
            ));
        }
        let (major, minor, length) = Hello::decode_prefix(b[0..8].try_into().expect("8 bytes"))?;
        if length as usize != b.len() {
            return Err(Error::new(
                ErrorKind::ProtocolViolation,
                "hello length field does not match",
            ));
        }
        let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        if u16_at(14) != 0 || u32_at(20) != 0 {
            return Err(Error::new(
                ErrorKind::ProtocolViolation,
                "hello reserved fields must be zero",
            ));
        }
        Ok(Hello {
            major,
            minor,
            length,
            capabilities: u32_at(8),
            status: u16_at(12),
            max_message_size: u32_at(16),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = Hello::new(16 << 20, 0);
        assert_eq!(Hello::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn other_major_is_mismatch() {
        let mut b = Hello::new(1, 0).encode();
        b[4] = 2;
        assert_eq!(
            Hello::decode(&b).unwrap_err().kind(),
            ErrorKind::ProtocolMismatch
        );
        b[0] = b'X';
        assert_eq!(
            Hello::decode(&b).unwrap_err().kind(),
            ErrorKind::ProtocolViolation
        );
    }
}
