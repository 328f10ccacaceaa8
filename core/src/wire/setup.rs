//! The SETUP frame of `shm://` connections (`docs/wire-format.md`, "Shared memory"): sent
//! once by the server after the hellos, with five descriptors attached
//! (`[memfd, ring0 data bell, ring0 space bell, ring1 data bell, ring1 space bell]`).
//!
//! Payload, 24 bytes, little-endian: `segment size u64 | ring capacity u64 | layout version
//! u32 | flags u32` (bit 0: the segment is an unsealed POSIX shm object; other bits zero).

use super::frame::{FrameHeader, FrameType, HEADER_LEN};
use crate::error::{Error, ErrorKind, Result};

/// Hello capability bit: "this connection uses shared memory".
pub const CAP_SHM: u32 = 1;
/// Length of the SETUP payload.
pub const SETUP_LEN: usize = 24;
/// Descriptors attached to a SETUP frame.
pub const SETUP_FDS: usize = 5;
/// SETUP flag: the segment is an unsealed POSIX shm object.
pub const SETUP_UNSEALED: u32 = 1;
/// SETUP flag bit 1: the SETUP of a publish/subscribe connection (both hellos carry
/// `CAP_PUBSUB`): one fan-out segment shared by every subscriber, read-only to them, a cursor
/// page and two doorbells (section 17.5), instead of two rings.
pub const SETUP_FANOUT: u32 = 2;
/// Descriptors that travel with a fan-out SETUP: segment, cursor page, data and space bells.
pub const SETUP_FANOUT_FDS: usize = 4;

/// A decoded SETUP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    /// Size of the whole segment in bytes.
    pub segment_size: u64,
    /// Capacity of each ring's data area.
    pub ring_capacity: u64,
    /// Version of the segment layout.
    pub layout_version: u32,
    /// The segment is an unsealed POSIX shm object (the fallback), not a sealed memfd.
    pub unsealed: bool,
    /// `SETUP_FANOUT`: the fan-out layout of section 17.5.
    pub fanout: bool,
}

fn violation(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ProtocolViolation, msg)
}

impl Setup {
    /// The whole frame: header and payload.
    pub fn encode_frame(&self) -> [u8; HEADER_LEN + SETUP_LEN] {
        let mut b = [0u8; HEADER_LEN + SETUP_LEN];
        b[..HEADER_LEN].copy_from_slice(
            &FrameHeader {
                length: SETUP_LEN as u32,
                frame_type: FrameType::Setup,
                flags: 0,
            }
            .encode(),
        );
        b[8..16].copy_from_slice(&self.segment_size.to_le_bytes());
        b[16..24].copy_from_slice(&self.ring_capacity.to_le_bytes());
        b[24..28].copy_from_slice(&self.layout_version.to_le_bytes());
        let flags = if self.unsealed { SETUP_UNSEALED } else { 0 }
            | if self.fanout { SETUP_FANOUT } else { 0 };
        b[28..32].copy_from_slice(&flags.to_le_bytes());
        b
    }

    /// Decode a whole frame, checking the header and the flags (the layout itself is checked
    /// by the shared-memory layer, which knows the versions it supports).
    pub fn decode_frame(b: &[u8; HEADER_LEN + SETUP_LEN]) -> Result<Setup> {
        let header = FrameHeader::decode(b[..HEADER_LEN].try_into().expect("8 bytes"))?;
        if header.frame_type != FrameType::Setup
            || header.length as usize != SETUP_LEN
            || header.flags != 0
        {
            return Err(violation(format!(
                "expected a SETUP frame of {SETUP_LEN} bytes, got {header:?}"
            )));
        }
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        let flags = u32_at(28);
        if flags & !(SETUP_UNSEALED | SETUP_FANOUT) != 0 {
            return Err(violation("SETUP flags has undefined bits set"));
        }
        Ok(Setup {
            segment_size: u64_at(8),
            ring_capacity: u64_at(16),
            layout_version: u32_at(24),
            unsealed: flags & SETUP_UNSEALED != 0,
            fanout: flags & SETUP_FANOUT != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_bad_frames() {
        let s = Setup {
            segment_size: 12288 + 2 * 65536,
            ring_capacity: 65536,
            layout_version: 1,
            unsealed: false,
            fanout: false,
        };
        let b = s.encode_frame();
        assert_eq!(Setup::decode_frame(&b).unwrap(), s);
        let fan = Setup {
            segment_size: 4096 + 65536,
            fanout: true,
            ..s
        };
        assert_eq!(Setup::decode_frame(&fan.encode_frame()).unwrap(), fan);
        let mut bad = b;
        bad[28] = 4;
        assert_eq!(
            Setup::decode_frame(&bad).unwrap_err().kind(),
            ErrorKind::ProtocolViolation
        );
        let mut bad = b;
        bad[4] = FrameType::Data as u8;
        assert_eq!(
            Setup::decode_frame(&bad).unwrap_err().kind(),
            ErrorKind::ProtocolViolation
        );
    }
}
