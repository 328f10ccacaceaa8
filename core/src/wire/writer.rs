//! A sans-IO frame writer, the sending twin of [`FrameReader`](super::FrameReader): it lays
//! out frames as byte slices to write and keeps the partial-frame bookkeeping, so that every
//! stream link (blocking or async, any transport) sends the same way.
//!
//! A frame whose sender gives up half-way (timeout, cancellation, a dropped future) is never
//! left half-written: its rest becomes *pending* and goes out before anything else
//! ([`pending`](FrameWriter::pending), [`advance`](FrameWriter::advance)). A message counts as
//! sent as soon as its first byte is out.

use super::frame::{FrameHeader, FrameType, HEADER_LEN};

/// Messages up to this size are copied behind their header and written with one call.
pub(crate) const COALESCE_MAX: usize = 64 * 1024;

/// The sending state of one stream.
#[derive(Debug, Default)]
pub(crate) struct FrameWriter {
    /// Bytes that must go out before any new frame: the rest of an abandoned frame, CLOSE.
    pending: Vec<u8>,
    /// How much of `pending` is out.
    sent: usize,
    /// Header and payload of a small frame, copied together.
    scratch: Vec<u8>,
}

impl FrameWriter {
    pub(crate) fn new() -> FrameWriter {
        FrameWriter::default()
    }

    /// Whether nothing is pending (a new frame may start).
    pub(crate) fn is_idle(&self) -> bool {
        self.sent == self.pending.len()
    }

    /// The pending bytes still to write.
    pub(crate) fn pending(&self) -> &[u8] {
        &self.pending[self.sent..]
    }

    /// `n` more pending bytes went out.
    pub(crate) fn advance(&mut self, n: usize) {
        self.sent += n;
        debug_assert!(self.sent <= self.pending.len());
        if self.is_idle() {
            self.pending.clear();
            self.sent = 0;
        }
    }

    /// The length of the DATA frame carrying `payload`.
    pub(crate) fn frame_len(payload: &[u8]) -> usize {
        HEADER_LEN + payload.len()
    }

    /// The bytes of the DATA frame carrying `payload` that are still to write once
    /// `progress` of them are out, as two slices (a small frame comes as one).
    pub(crate) fn data_frame<'a>(
        &'a mut self,
        payload: &'a [u8],
        progress: usize,
    ) -> [&'a [u8]; 2] {
        let header = FrameHeader::data(payload.len() as u32).encode();
        if payload.len() <= COALESCE_MAX {
            self.scratch.clear();
            self.scratch.extend_from_slice(&header);
            self.scratch.extend_from_slice(payload);
            return [&self.scratch[progress..], &[]];
        }
        if progress < HEADER_LEN {
            self.scratch.clear();
            self.scratch.extend_from_slice(&header[progress..]);
            [&self.scratch, payload]
        } else {
            [&[], &payload[progress - HEADER_LEN..]]
        }
    }

    /// The sender gives up after `progress` bytes of `payload`'s frame went out (`0 <
    /// progress < frame_len`): the rest becomes pending, to go out before anything else.
    pub(crate) fn keep_rest(&mut self, payload: &[u8], progress: usize) {
        debug_assert!(self.is_idle());
        debug_assert!(progress > 0 && progress < Self::frame_len(payload));
        let header = FrameHeader::data(payload.len() as u32).encode();
        self.pending.clear();
        self.sent = 0;
        if progress < HEADER_LEN {
            self.pending.extend_from_slice(&header[progress..]);
            self.pending.extend_from_slice(payload);
        } else {
            self.pending
                .extend_from_slice(&payload[progress - HEADER_LEN..]);
        }
    }

    /// Queue a CLOSE frame behind whatever is pending.
    pub(crate) fn push_close(&mut self) {
        let close = FrameHeader {
            length: 0,
            frame_type: FrameType::Close,
            flags: 0,
        }
        .encode();
        self.pending.extend_from_slice(&close);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concat(parts: [&[u8]; 2]) -> Vec<u8> {
        [parts[0], parts[1]].concat()
    }

    #[test]
    fn frames_resume_at_any_byte_and_rests_go_first() {
        // Under Miri (scripts/miri.sh), one frame of each kind: small, and past COALESCE_MAX.
        let lens: &[usize] = if cfg!(miri) {
            &[0, 1, 100, COALESCE_MAX + 1]
        } else {
            &[0, 1, 100, COALESCE_MAX, COALESCE_MAX + 1, 200_000]
        };
        for &len in lens {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut whole = FrameHeader::data(len as u32).encode().to_vec();
            whole.extend_from_slice(&payload);
            let mut w = FrameWriter::new();
            assert_eq!(FrameWriter::frame_len(&payload), whole.len());
            for progress in [0, 1, HEADER_LEN - 1, HEADER_LEN, whole.len() / 2] {
                if progress >= whole.len() {
                    continue;
                }
                assert_eq!(concat(w.data_frame(&payload, progress)), &whole[progress..]);
                if progress > 0 {
                    w.keep_rest(&payload, progress);
                    assert!(!w.is_idle());
                    assert_eq!(w.pending(), &whole[progress..]);
                    let n = w.pending().len();
                    w.advance(n / 2);
                    assert_eq!(w.pending(), &whole[progress + n / 2..]);
                    w.advance(n - n / 2);
                    assert!(w.is_idle());
                }
            }
        }
    }

    #[test]
    fn close_queues_behind_a_rest() {
        let mut w = FrameWriter::new();
        w.keep_rest(b"abc", 2);
        w.push_close();
        let mut want = FrameHeader::data(3).encode()[2..].to_vec();
        want.extend_from_slice(b"abc");
        want.extend_from_slice(&[0, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(w.pending(), &want[..]);
    }
}
