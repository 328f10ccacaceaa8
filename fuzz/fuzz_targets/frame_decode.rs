//! Frame decoding: `decode_frame`, `FrameHeader::decode` and `ErrorPayload::decode` on any
//! bytes, and the stream links' `FrameReader` fed the same bytes in arbitrary chunks.
//!
//! Input: `max_message u32 LE | chunk seed u8 | stream bytes`. Checked: nothing panics; what
//! decodes re-encodes to the same bytes; errors are the documented kinds; the reader gives the
//! same frames and the same error whatever the chunking, and whether it reads into buffers
//! lent to it (as `recv_into` does) or not, and agrees with `decode_frame` on a single whole
//! frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libipc::ErrorKind;
use libipc::fuzzing::{Decoded, Reader};
use libipc::wire::{ErrorPayload, FLAG_MORE, FrameHeader, FrameType, HEADER_LEN, decode_frame};

/// Limits above 1 MiB only make the reader allocate more; the checks are the same.
const MAX_LIMIT: u32 = 1 << 20;

fn documented(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ProtocolViolation | ErrorKind::MessageTooLarge
    )
}

/// Everything the reader decodes from `stream` fed in chunks of the given sizes (cycled),
/// up to its first error.
fn read_all(stream: &[u8], max: u32, sizes: &[usize]) -> (Vec<Decoded>, Option<ErrorKind>, bool) {
    let mut r = Reader::new(max);
    let mut out = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    loop {
        loop {
            match r.next() {
                Ok(Some(f)) => out.push(f),
                Ok(None) => break,
                Err(e) => {
                    assert!(documented(e.kind()), "reader error {e}");
                    return (out, Some(e.kind()), true);
                }
            }
        }
        if rest.is_empty() {
            return (out, None, r.has_partial());
        }
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        i += 1;
        r.push(&rest[..n]);
        rest = &rest[n..];
    }
}

/// [`read_all`], the way `recv_into` reads: each chunk in a call that lends the reader a fresh
/// buffer of `cap` bytes, decodes, feeds the chunk, decodes again and takes the buffer back.
fn read_all_lent(
    stream: &[u8],
    max: u32,
    sizes: &[usize],
    cap: usize,
) -> (Vec<Decoded>, Option<ErrorKind>, bool) {
    let mut r = Reader::new(max);
    let mut out = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    loop {
        let mut lent = vec![0u8; cap];
        let mut failed = None;
        for round in 0..2 {
            loop {
                match r.next_lent(&mut lent) {
                    Ok(Some(f)) => out.push(f),
                    Ok(None) => break,
                    Err(e) => {
                        assert!(documented(e.kind()), "reader error {e}");
                        failed = Some(e.kind());
                        break;
                    }
                }
            }
            if failed.is_some() || rest.is_empty() || round == 1 {
                break;
            }
            let n = sizes[i % sizes.len()].clamp(1, rest.len());
            i += 1;
            r.push_lent(&rest[..n], &mut lent);
            rest = &rest[n..];
        }
        r.unlend(&lent);
        if let Some(kind) = failed {
            return (out, Some(kind), true);
        }
        if rest.is_empty() {
            // What the last chunk completed was decoded in the second round.
            return (out, None, r.has_partial());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let max = u32::from_le_bytes(data[..4].try_into().unwrap()) % (MAX_LIMIT + 1);
    let seed = data[4];
    let stream = &data[5..];

    if let Some(head) = stream.first_chunk::<HEADER_LEN>() {
        match FrameHeader::decode(head) {
            Ok(h) => assert_eq!(&h.encode(), head, "headers are canonical"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::ProtocolViolation),
        }
    }
    match ErrorPayload::decode(stream) {
        Ok(p) => assert_eq!(&p.encode_frame()[HEADER_LEN..], stream),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ProtocolViolation),
    }
    let single = decode_frame(stream, max);
    match &single {
        Ok((h, payload)) => {
            let mut again = h.encode().to_vec();
            again.extend_from_slice(payload);
            assert_eq!(again, stream);
        }
        Err(e) => assert!(documented(e.kind()), "decode_frame error {e}"),
    }

    // The reader: whole, byte by byte, and in chunks the seed picks.
    let whole = read_all(stream, max, &[stream.len().max(1)]);
    let bytes = read_all(stream, max, &[1]);
    let sizes = [1 + seed as usize % 7, 1 + seed as usize * 31 % 4099, 8, 3];
    let chunked = read_all(stream, max, &sizes);
    assert_eq!(whole, bytes, "byte-by-byte reading changed the outcome");
    assert_eq!(whole, chunked, "chunked reading changed the outcome");
    // Reading into lent buffers (recv_into): one that fits everything, and a seed-sized one.
    let lent_big = read_all_lent(stream, max, &sizes, stream.len() + 1);
    let lent_small = read_all_lent(stream, max, &sizes, seed as usize * 17);
    assert_eq!(whole, lent_big, "reading into a lent buffer changed the outcome");
    assert_eq!(whole, lent_small, "reading into a small lent buffer changed the outcome");

    if let Ok((h, payload)) = single {
        let want = match h.frame_type {
            FrameType::Data if h.flags & FLAG_MORE != 0 => None,
            FrameType::Data => Some(Decoded::Message(payload.to_vec())),
            FrameType::Close => Some(Decoded::Close),
            _ => Some(Decoded::Error(ErrorPayload::decode(payload).unwrap())),
        };
        match want {
            Some(f) => assert_eq!(whole, (vec![f], None, false)),
            // A lone fragment: nothing yet, and the reader holds it.
            None => assert_eq!(whole, (vec![], None, true)),
        }
    }
});
