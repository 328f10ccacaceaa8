//! A sans-IO frame reader: the caller reads bytes into [`FrameReader::spare`], reports them
//! with [`FrameReader::filled`], and takes decoded frames from [`FrameReader::next`].
//!
//! All state survives between calls, so a receive that times out or is cancelled half-way
//! through a frame resumes exactly where it stopped: nothing is lost and nothing is re-read.
//! A frame's length is checked against the advertised limit before any allocation.

use std::mem::MaybeUninit;

use super::assembly::Assembly;
use super::frame::{ErrorPayload, FLAG_MORE, FrameHeader, FrameType, HEADER_LEN};
use crate::error::{Error, ErrorKind, Result};

/// Size of the read buffer small frames are parsed from.
const READ_BUF: usize = 64 * 1024;
/// Bodies with more than this many bytes still missing are read straight into the message.
const DIRECT_READ: usize = READ_BUF / 2;

/// One decoded frame.
#[derive(Debug)]
pub(crate) enum Frame {
    /// A complete message (fragments already joined).
    Message(Vec<u8>),
    /// The peer closed the channel in an orderly way.
    Close,
    /// The peer reported an error and is closing.
    Error(ErrorPayload),
}

/// What [`FrameReader::next_into`] decoded.
#[derive(Debug)]
pub(crate) enum Got {
    /// A frame, as [`FrameReader::next`] gives it (a message too large for the buffer, or one
    /// that began arriving before the buffer was lent).
    Frame(Frame),
    /// A whole message of this many bytes, written into the lent buffer.
    Into(usize),
}

#[derive(Debug)]
struct Body {
    header: FrameHeader,
    data: Vec<u8>,
    /// Bytes of a fragment (MORE) already moved into the assembly: a fragment's body goes
    /// there as it arrives, never into a buffer of its own as large as its header says.
    moved: usize,
}

impl Body {
    fn missing(&self) -> usize {
        self.header.length as usize - self.moved - self.data.len()
    }

    /// Read straight into `data` (a body with this much still missing, not a fragment).
    fn direct(&self) -> bool {
        self.missing() > DIRECT_READ && self.header.flags & FLAG_MORE == 0
    }
}

/// A body being written into a buffer the caller lent for one call ([`FrameReader::next_into`]):
/// `done` bytes of its `len` are there. The caller's buffer is only borrowed for that call, so
/// [`FrameReader::unlend`] moves a partial body into memory of the reader's own before it ends.
#[derive(Debug, Clone, Copy)]
struct Lent {
    len: usize,
    done: usize,
}

impl Lent {
    fn missing(&self) -> usize {
        self.len - self.done
    }

    /// Read straight into the lent buffer rather than through the read buffer.
    fn direct(&self) -> bool {
        self.missing() > DIRECT_READ
    }
}

/// Incremental decoder of a byte stream into frames.
#[derive(Debug)]
pub(crate) struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    body: Option<Body>,
    /// Set while the current body (`body`, with no data of its own) goes into a lent buffer.
    lent: Option<Lent>,
    /// Fragments of a message sent with [`FLAG_MORE`], joined so far.
    assembly: Option<Assembly>,
    max_message: u32,
    /// Frames decoded whole so far (progress, for the frame timeout).
    frames: u64,
}

impl FrameReader {
    /// A reader that refuses messages larger than `max_message` bytes.
    pub(crate) fn new(max_message: u32) -> FrameReader {
        FrameReader {
            buf: Vec::with_capacity(READ_BUF),
            start: 0,
            body: None,
            lent: None,
            assembly: None,
            max_message,
            frames: 0,
        }
    }

    /// Bytes received but not yet decoded (used to detect a half-sent frame at EOF).
    pub(crate) fn has_partial(&self) -> bool {
        self.start < self.buf.len() || self.body.is_some() || self.assembly.is_some()
    }

    /// How many frames have been decoded whole so far (fragments included): a frame timeout
    /// restarts when this moves.
    pub(crate) fn frames_done(&self) -> u64 {
        self.frames
    }

    /// Decode the next complete frame from the bytes read so far, if there is one. After an
    /// error (which ends the connection) the reader holds no message memory: a refused
    /// message's fragments are freed at once, not when the channel is dropped.
    // Stream links use `next_into`; this is for the shm link's control stream (Unix).
    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) fn next(&mut self) -> Result<Option<Frame>> {
        debug_assert!(self.lent.is_none(), "a lent buffer was not taken back");
        Ok(match self.next_into(&mut [])? {
            Some(Got::Frame(f)) => Some(f),
            Some(Got::Into(_)) => unreachable!("nothing fits in an empty buffer"),
            None => None,
        })
    }

    /// [`next`](Self::next), with `dst` lent for this call: a message that begins arriving
    /// now, in one frame (not fragmented), and fits in `dst` is written there
    /// ([`Got::Into`]) instead of into memory of its own, and when much of it is still to
    /// come, [`spare_into`](Self::spare_into) has the caller read it straight into `dst`. Before
    /// the caller gives `dst` up, it calls [`unlend`](Self::unlend).
    pub(crate) fn next_into(&mut self, dst: &mut [u8]) -> Result<Option<Got>> {
        let r = self.decode(dst);
        if r.is_err() {
            self.buf.clear();
            self.start = 0;
            self.body = None;
            self.lent = None;
            self.assembly = None;
        }
        r
    }

    /// The lent buffer `dst` is about to go: move the part of a body already written there
    /// into memory of the reader's own, where the rest will follow.
    pub(crate) fn unlend(&mut self, dst: &[u8]) {
        if let Some(lent) = self.lent.take() {
            let body = self.body.as_mut().expect("a lent body");
            body.data = Vec::with_capacity(lent.len);
            body.data.extend_from_slice(&dst[..lent.done]);
        }
    }

    fn decode(&mut self, dst: &mut [u8]) -> Result<Option<Got>> {
        loop {
            if self.body.is_none() {
                let avail = &self.buf[self.start..];
                if avail.len() < HEADER_LEN {
                    return Ok(None);
                }
                let header = FrameHeader::decode(avail[..HEADER_LEN].try_into().expect("8 bytes"))?;
                if !header.frame_type.allowed_on_stream() {
                    return Err(Error::new(
                        ErrorKind::ProtocolViolation,
                        format!("{:?} frame is not allowed on a stream", header.frame_type),
                    ));
                }
                self.start += HEADER_LEN;
                if header.frame_type == FrameType::Data {
                    let so_far = self.assembly.as_ref().map_or(0, Assembly::len) as u64;
                    let total = so_far + u64::from(header.length);
                    if total > u64::from(self.max_message) {
                        return Err(Error::new(
                            ErrorKind::MessageTooLarge,
                            format!(
                                "peer sent a {total}-byte message; this side accepts at most {} bytes",
                                self.max_message
                            ),
                        ));
                    }
                }
                // Bounded: DATA by max_message above, ERROR by the header check, CLOSE is empty.
                let more = header.flags & FLAG_MORE != 0;
                let len = header.length as usize;
                let whole = header.frame_type == FrameType::Data
                    && !more
                    && self.assembly.is_none()
                    && len <= dst.len()
                    && !dst.is_empty();
                let data = Vec::with_capacity(if more || whole { 0 } else { len });
                self.lent = whole.then_some(Lent { len, done: 0 });
                self.body = Some(Body {
                    header,
                    data,
                    moved: 0,
                });
            }
            if let Some(lent) = &mut self.lent {
                let take = lent.missing().min(self.buf.len() - self.start);
                dst[lent.done..lent.done + take]
                    .copy_from_slice(&self.buf[self.start..self.start + take]);
                lent.done += take;
                self.start += take;
                if self.start == self.buf.len() {
                    self.start = 0;
                    self.buf.clear();
                }
                if lent.missing() > 0 {
                    return Ok(None);
                }
                let n = lent.len;
                self.lent = None;
                self.body = None;
                self.frames += 1;
                return Ok(Some(Got::Into(n)));
            }
            let body = self.body.as_mut().expect("body set above");
            let take = body.missing().min(self.buf.len() - self.start);
            body.data
                .extend_from_slice(&self.buf[self.start..self.start + take]);
            self.start += take;
            if self.start == self.buf.len() {
                self.start = 0;
                self.buf.clear();
            }
            if body.header.flags & FLAG_MORE != 0 {
                let asm = self.assembly.get_or_insert_with(Assembly::default);
                asm.grow(body.data.len()).copy_from_slice(&body.data);
                body.moved += body.data.len();
                body.data.clear();
            }
            if body.missing() > 0 {
                return Ok(None);
            }
            let Body { header, data, .. } = self.body.take().expect("body set above");
            self.frames += 1;
            match header.frame_type {
                // Already moved into the assembly as it arrived.
                FrameType::Data if header.flags & FLAG_MORE != 0 => {
                    self.assembly.get_or_insert_with(Assembly::default);
                }
                FrameType::Data => {
                    let msg = match self.assembly.take() {
                        Some(mut joined) => {
                            joined.grow(data.len()).copy_from_slice(&data);
                            joined.into_vec()
                        }
                        None => data,
                    };
                    return Ok(Some(Got::Frame(Frame::Message(msg))));
                }
                FrameType::Close if self.assembly.is_some() => {
                    return Err(Error::new(
                        ErrorKind::ProtocolViolation,
                        "CLOSE frame in the middle of a fragmented message",
                    ));
                }
                FrameType::Close => return Ok(Some(Got::Frame(Frame::Close))),
                FrameType::Error => {
                    return Ok(Some(Got::Frame(Frame::Error(ErrorPayload::decode(&data)?))));
                }
                FrameType::Setup | FrameType::Pad => {
                    unreachable!("refused when the header was read")
                }
            }
        }
    }

    /// Where the next read should put its bytes; never empty.
    #[cfg_attr(not(unix), allow(dead_code))] // as `next`
    pub(crate) fn spare(&mut self) -> &mut [MaybeUninit<u8>] {
        debug_assert!(self.lent.is_none(), "a lent buffer was not taken back");
        // SAFETY: with an empty `dst` nothing is lent, so the slice returned is the reader's
        // own spare capacity, where writing anything (even uninitialised bytes) is sound.
        unsafe { self.spare_into(&mut []) }
    }

    /// [`spare`](Self::spare) while `dst` is lent (the same buffer as given to
    /// [`next_into`](Self::next_into)): a large part of a body still to come goes straight
    /// into `dst`.
    ///
    /// # Safety
    /// The returned slice may be `dst`'s initialised bytes: the caller writes only initialised
    /// bytes into it (as a `read` does), never `MaybeUninit::uninit()`.
    pub(crate) unsafe fn spare_into<'a>(
        &'a mut self,
        dst: &'a mut [u8],
    ) -> &'a mut [MaybeUninit<u8>] {
        if let Some(lent) = self.lent
            && lent.direct()
        {
            let rest = &mut dst[lent.done..lent.len];
            // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and every byte of `rest` is
            // initialised; our caller promised to write only initialised bytes into it.
            return unsafe { &mut *(std::ptr::from_mut::<[u8]>(rest) as *mut [MaybeUninit<u8>]) };
        }
        // (A lent body's own `data` is empty; what it misses is counted in `lent`.)
        if let Some(body) = &mut self.body
            && self.lent.is_none()
            && body.direct()
        {
            let missing = body.missing();
            return &mut body.data.spare_capacity_mut()[..missing];
        }
        if self.start > 0 && self.buf.capacity() - self.buf.len() < HEADER_LEN.max(READ_BUF / 4) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.spare_capacity_mut()
    }

    /// Record that the first `n` bytes of the last [`spare`](Self::spare) slice were written.
    ///
    /// # Safety
    /// Those `n` bytes must have been initialised (e.g. by a successful `read`), and no other
    /// method may have been called since `spare`.
    pub(crate) unsafe fn filled(&mut self, n: usize) {
        if let Some(lent) = &mut self.lent
            && lent.direct()
        {
            debug_assert!(n <= lent.missing());
            lent.done += n;
            return;
        }
        if let Some(body) = &mut self.body
            && self.lent.is_none()
            && body.direct()
        {
            debug_assert!(n <= body.missing());
            // SAFETY: the caller initialised `n` bytes of this vector's spare capacity,
            // which `spare` returned, and `n <= missing <= capacity - len`.
            unsafe { body.data.set_len(body.data.len() + n) };
            return;
        }
        debug_assert!(self.buf.len() + n <= self.buf.capacity());
        // SAFETY: as above, for the read buffer's spare capacity returned by `spare`.
        unsafe { self.buf.set_len(self.buf.len() + n) };
    }

    /// Feed `bytes` as if read (for tests and the fuzz targets).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.push_into(bytes, &mut []);
    }

    /// [`push`](Self::push) while `dst` is lent (see [`next_into`](Self::next_into)).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn push_into(&mut self, mut bytes: &[u8], dst: &mut [u8]) {
        while !bytes.is_empty() {
            // SAFETY: the loop below writes only bytes of `bytes` into it.
            let spare = unsafe { self.spare_into(dst) };
            let n = spare.len().min(bytes.len());
            for (dst, src) in spare[..n].iter_mut().zip(bytes) {
                dst.write(*src);
            }
            // SAFETY: the loop above initialised the first `n` bytes of `spare`.
            unsafe { self.filled(n) };
            bytes = &bytes[n..];
            if n == 0 {
                // Header-mode buffer full of undecoded frames: grow it (tests only push).
                self.buf.reserve(READ_BUF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_frame(payload: &[u8], flags: u8) -> Vec<u8> {
        let mut v = FrameHeader {
            length: payload.len() as u32,
            frame_type: FrameType::Data,
            flags,
        }
        .encode()
        .to_vec();
        v.extend_from_slice(payload);
        v
    }

    fn drain(r: &mut FrameReader) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(f) = r.next().unwrap() {
            match f {
                Frame::Message(m) => out.push(m),
                other => panic!("unexpected {other:?}"),
            }
        }
        out
    }

    #[test]
    fn byte_by_byte_and_large_bodies() {
        // Under Miri (scripts/miri.sh), the same paths with less data: bodies read from the
        // buffer and one read straight into the message, headers split across chunks.
        let (sizes, chunks): (&[usize], &[usize]) = if cfg!(miri) {
            (&[0, 1, 7, 8, 100, DIRECT_READ + 100], &[7, 4096, 70_000])
        } else {
            (
                &[0, 1, 7, 8, 100, 40_000, 200_000],
                &[1, 3, 8, 1000, 70_000],
            )
        };
        let msgs: Vec<Vec<u8>> = sizes
            .iter()
            .map(|&n| (0..n).map(|i| (i * 31 % 251) as u8).collect())
            .collect();
        let stream: Vec<u8> = msgs.iter().flat_map(|m| data_frame(m, 0)).collect();
        for &chunk in chunks {
            let mut r = FrameReader::new(1 << 20);
            let mut got = Vec::new();
            for c in stream.chunks(chunk) {
                r.push(c);
                got.extend(drain(&mut r));
            }
            assert_eq!(got, msgs, "chunk size {chunk}");
            assert!(!r.has_partial());
        }
    }

    /// Receive `stream` in reads of at most `chunk` bytes, the way a stream link does: each
    /// call decodes, then reads and decodes once or (every other call) twice, then takes its
    /// buffer back (`unlend`). Two calls in three lend a fresh `cap`-byte buffer
    /// (`next_into`), the third lends none.
    fn receive_into(stream: &[u8], chunk: usize, cap: usize) -> (Vec<Vec<u8>>, usize) {
        let mut r = FrameReader::new(1 << 20);
        let (mut out, mut copied) = (Vec::new(), 0);
        let mut take = |r: &mut FrameReader, d: &mut [u8], out: &mut Vec<Vec<u8>>| {
            while let Some(got) = r.next_into(d).unwrap() {
                match got {
                    Got::Into(n) => {
                        copied += 1;
                        out.push(d[..n].to_vec());
                    }
                    Got::Frame(Frame::Message(m)) => out.push(m),
                    Got::Frame(other) => panic!("unexpected {other:?}"),
                }
            }
        };
        let (mut pos, mut call) = (0, 0);
        while pos < stream.len() {
            call += 1;
            let mut lent = vec![0xEE; if call % 3 == 0 { 0 } else { cap }];
            let d = &mut lent[..];
            take(&mut r, d, &mut out);
            for _ in 0..1 + call % 2 {
                // SAFETY: the loop below writes only bytes of `stream` into it.
                let spare = unsafe { r.spare_into(d) };
                let n = spare.len().min(chunk).min(stream.len() - pos);
                for (b, &v) in spare[..n].iter_mut().zip(&stream[pos..pos + n]) {
                    b.write(v);
                }
                // SAFETY: the loop above initialised the first `n` bytes of `spare`.
                unsafe { r.filled(n) };
                pos += n;
                take(&mut r, d, &mut out);
            }
            r.unlend(d);
        }
        assert!(!r.has_partial());
        (out, copied)
    }

    #[test]
    fn lent_buffers_receive_the_same_messages() {
        // Under Miri, fewer and larger reads and smaller buffers (each call fills a fresh one).
        let (sizes, chunks, caps): (&[usize], &[usize], &[usize]) = if cfg!(miri) {
            (
                &[0, 5, 100, DIRECT_READ + 100, 3],
                &[4096, 70_000],
                &[DIRECT_READ + 200, 1],
            )
        } else {
            (
                &[0, 1, 7, 8, 100, 40_000, 65_536, 200_000, 3],
                &[1, 3, 8, 1000, 40_000, 70_000, 1 << 20],
                &[1 << 20, 1000, 1],
            )
        };
        let msgs: Vec<Vec<u8>> = sizes
            .iter()
            .map(|&n| (0..n).map(|i| (i * 29 % 253) as u8).collect())
            .collect();
        let stream: Vec<u8> = msgs.iter().flat_map(|m| data_frame(m, 0)).collect();
        for &chunk in chunks {
            // Buffers that fit every message, some, and none but the empty one.
            for &cap in caps {
                let (got, copied) = receive_into(&stream, chunk, cap);
                assert_eq!(got, msgs, "chunk {chunk}, buffer {cap}");
                if chunk >= 1000 && cap == caps[0] {
                    assert!(
                        copied > 0,
                        "some message went straight into the lent buffer"
                    );
                }
            }
        }
    }

    #[test]
    fn fragments_join_and_limit_counts_all_fragments() {
        let mut r = FrameReader::new(10);
        r.push(&data_frame(b"hello", FLAG_MORE));
        r.push(&data_frame(b"world", 0));
        assert_eq!(drain(&mut r), vec![b"helloworld".to_vec()]);
        r.push(&data_frame(b"hello", FLAG_MORE));
        r.push(&data_frame(b"world!", 0));
        assert_eq!(r.next().unwrap_err().kind(), ErrorKind::MessageTooLarge);
    }

    #[test]
    fn close_between_fragments_is_a_violation() {
        let mut r = FrameReader::new(100);
        r.push(&data_frame(b"half", FLAG_MORE));
        r.push(
            &FrameHeader {
                length: 0,
                frame_type: FrameType::Close,
                flags: 0,
            }
            .encode(),
        );
        assert_eq!(r.next().unwrap_err().kind(), ErrorKind::ProtocolViolation);
    }

    #[test]
    fn a_refused_message_leaves_no_memory_held() {
        let mut r = FrameReader::new(100_000);
        r.push(&data_frame(&[7; 60_000], FLAG_MORE));
        assert!(r.next().unwrap().is_none());
        r.push(&FrameHeader::data(60_000).encode());
        assert_eq!(r.next().unwrap_err().kind(), ErrorKind::MessageTooLarge);
        assert!(!r.has_partial());
    }

    #[test]
    fn oversize_refused_before_body_arrives() {
        let mut r = FrameReader::new(1024);
        r.push(&FrameHeader::data(u32::MAX).encode());
        assert_eq!(r.next().unwrap_err().kind(), ErrorKind::MessageTooLarge);
    }
}
