//! The shared-memory ring (`core/src/shm/ring.rs`) fed a hostile segment: our producer and our
//! consumer work one ring in heap memory while the input also writes anything into its shared
//! words (cursors, sleep flags, record headers and bytes), as a peer can.
//!
//! Checked: nothing panics and every failure is `ProtocolViolation`; while the peer wrote
//! nothing, the records come out exactly as they went in.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use libipc::ErrorKind;
use libipc::fuzzing::Ring;
use libipc::wire::{FLAG_MORE, FrameType};

#[derive(Debug, Arbitrary)]
enum Op {
    /// Our producer publishes a record (`len` bytes of `byte`, cut to the largest record).
    Send {
        len: u16,
        byte: u8,
        more: bool,
        close: bool,
    },
    /// Our consumer takes a record.
    Recv,
    /// The peer writes a cursor, a flag or a data word.
    Write(u64),
    Read(u64),
    Flags(u32, u32),
    Word {
        at: u16,
        value: u64,
    },
    /// The peer writes a plausible record header (a random type, flags and length).
    Header {
        at: u16,
        length: u16,
        frame_type: u8,
        flags: u8,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// log2 of the ring's capacity, from 16 bytes to 4 KiB.
    cap_log: u8,
    ops: Vec<Op>,
}

fn documented(e: &libipc::Error) {
    assert_eq!(e.kind(), ErrorKind::ProtocolViolation, "{e}");
}

fuzz_target!(|input: Input| {
    let cap = 1u64 << (4 + input.cap_log % 9);
    let mut ring = Ring::new(cap);
    let mut in_flight = std::collections::VecDeque::new();
    let mut hostile = false;
    let (mut send_ok, mut recv_ok) = (true, true);
    for op in input.ops {
        match op {
            Op::Send {
                len,
                byte,
                more,
                close,
            } if send_ok => {
                let (ty, len) = if close {
                    (FrameType::Close, 0)
                } else {
                    (FrameType::Data, u64::from(len) % (ring.max_record() + 1))
                };
                let flags = if more && !close { FLAG_MORE } else { 0 };
                let payload = vec![byte; len as usize];
                match ring.send(&payload, ty, flags) {
                    Ok(true) => in_flight.push_back((ty, flags, payload)),
                    Ok(false) => {}
                    Err(e) => {
                        documented(&e);
                        assert!(hostile, "a violation without a hostile write: {e}");
                        send_ok = false;
                    }
                }
            }
            Op::Recv if recv_ok => match ring.recv() {
                Ok(Some(rec)) => {
                    assert!(rec.2.len() as u64 <= ring.max_record());
                    if !hostile {
                        assert_eq!(Some(rec), in_flight.pop_front(), "records in order, intact");
                    }
                }
                Ok(None) => {
                    if !hostile {
                        assert!(in_flight.is_empty(), "a published record was not seen");
                    }
                }
                Err(e) => {
                    documented(&e);
                    assert!(hostile, "a violation without a hostile write: {e}");
                    recv_ok = false;
                }
            },
            Op::Send { .. } | Op::Recv => {}
            Op::Write(v) => {
                hostile = true;
                ring.set_write(v);
            }
            Op::Read(v) => {
                hostile = true;
                ring.set_read(v);
            }
            Op::Flags(a, b) => ring.set_flags(a, b),
            Op::Word { at, value } => {
                hostile = true;
                ring.set_word(u64::from(at), value);
            }
            Op::Header {
                at,
                length,
                frame_type,
                flags,
            } => {
                hostile = true;
                let mut h = [0u8; 8];
                h[..4].copy_from_slice(&u32::from(length).to_le_bytes());
                h[4] = 1 + frame_type % 5;
                h[5] = flags % 2;
                ring.set_word(u64::from(at) & !7, u64::from_ne_bytes(h));
            }
        }
    }
});
