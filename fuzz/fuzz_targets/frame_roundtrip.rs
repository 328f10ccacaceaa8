//! The frame writer's round trip: messages written by the stream links' `FrameWriter` (whole,
//! or given up part-way and finished from its pending bytes), fragments and a final CLOSE,
//! read back by the `FrameReader` in arbitrary chunks, give the same messages in order.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use libipc::fuzzing::{Decoded, Reader, Writer};
use libipc::wire::{FLAG_MORE, FrameHeader, FrameType};

#[derive(Debug, Arbitrary)]
enum Payload {
    Bytes(Vec<u8>),
    /// A long run of one byte: reaches the writer's large-frame path (over 64 KiB) cheaply.
    Run {
        byte: u8,
        len: u32,
    },
}

impl Payload {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Payload::Bytes(b) => b.clone(),
            Payload::Run { byte, len } => vec![*byte; (*len % 300_000) as usize],
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// A whole DATA frame through the writer.
    Message(Payload),
    /// A frame the sender gives up after `cut` bytes: the rest goes out as pending bytes,
    /// themselves written in two steps split at `split`.
    Abandoned {
        payload: Payload,
        cut: u32,
        split: u32,
    },
    /// A message sent as fragments (DATA frames with FLAG_MORE, then one without).
    Fragments(Vec<Vec<u8>>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    ops: Vec<Op>,
    close: bool,
    chunks: Vec<u16>,
}

fuzz_target!(|input: Input| {
    let mut w = Writer::new();
    let mut stream = Vec::new();
    let mut want = Vec::new();
    for op in &input.ops {
        assert!(w.is_idle());
        match op {
            Op::Message(p) => {
                let p = p.bytes();
                let frame = w.data_frame(&p, 0);
                assert_eq!(frame.len(), Writer::frame_len(&p));
                stream.extend_from_slice(&frame);
                want.push(p);
            }
            Op::Abandoned {
                payload,
                cut,
                split,
            } => {
                let p = payload.bytes();
                let len = Writer::frame_len(&p);
                let whole = w.data_frame(&p, 0);
                let cut = 1 + *cut as usize % (len - 1);
                assert_eq!(w.data_frame(&p, cut), whole[cut..], "resuming at {cut}");
                stream.extend_from_slice(&whole[..cut]);
                w.keep_rest(&p, cut);
                assert_eq!(w.pending(), &whole[cut..]);
                let n = w.pending().len();
                let first = *split as usize % (n + 1);
                stream.extend_from_slice(&w.pending()[..first]);
                w.advance(first);
                stream.extend_from_slice(w.pending());
                w.advance(n - first);
                want.push(p);
            }
            Op::Fragments(parts) => {
                for (i, part) in parts.iter().enumerate() {
                    let more = if i + 1 < parts.len() { FLAG_MORE } else { 0 };
                    let h = FrameHeader {
                        length: part.len() as u32,
                        frame_type: FrameType::Data,
                        flags: more,
                    };
                    stream.extend_from_slice(&h.encode());
                    stream.extend_from_slice(part);
                }
                if !parts.is_empty() {
                    want.push(parts.concat());
                }
            }
        }
    }
    if input.close {
        w.push_close();
        stream.extend_from_slice(w.pending());
        let n = w.pending().len();
        w.advance(n);
    }
    assert!(w.is_idle());

    let mut r = Reader::new(u32::MAX);
    let mut got = Vec::new();
    let mut closed = false;
    let mut rest = &stream[..];
    let mut i = 0;
    loop {
        while let Some(f) = r.next().expect("the writer's frames are valid") {
            assert!(!closed, "a frame after CLOSE");
            match f {
                Decoded::Message(m) => got.push(m),
                Decoded::Close => closed = true,
                Decoded::Error(e) => panic!("unexpected ERROR {e:?}"),
            }
        }
        if rest.is_empty() {
            break;
        }
        let size = input.chunks.get(i).map_or(rest.len(), |&c| 1 + c as usize);
        let n = size.min(rest.len());
        r.push(&rest[..n]);
        rest = &rest[n..];
        i += 1;
    }
    assert_eq!(got.len(), want.len());
    assert!(got == want, "messages differ");
    assert_eq!(closed, input.close);
    assert!(!r.has_partial());
});
