//! SETUP decoding (`wire/setup.rs`): any 32 bytes decode or give `ProtocolViolation`, what
//! decodes is canonical, and every `Setup` value round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libipc::ErrorKind;
use libipc::wire::{HEADER_LEN, SETUP_LEN, Setup};

fuzz_target!(|data: &[u8]| {
    let mut frame = [0u8; HEADER_LEN + SETUP_LEN];
    let n = data.len().min(frame.len());
    frame[..n].copy_from_slice(&data[..n]);
    match Setup::decode_frame(&frame) {
        Ok(s) => assert_eq!(s.encode_frame(), frame, "SETUP frames are canonical"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ProtocolViolation, "{e}"),
    }
    // The same bytes read as field values: encoding then decoding gives them back.
    let u64_at = |o: usize| u64::from_le_bytes(frame[o..o + 8].try_into().unwrap());
    let s = Setup {
        segment_size: u64_at(0),
        ring_capacity: u64_at(8),
        layout_version: u64_at(16) as u32,
        unsealed: frame[24] & 1 != 0,
        fanout: frame[24] & 2 != 0,
    };
    assert_eq!(Setup::decode_frame(&s.encode_frame()).unwrap(), s);
});
