//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, which nothing else turns
//! on): thin wrappers that let a fuzzer drive crate-private sans-IO parts, the frame reader and
//! writer and the shared-memory ring, without any OS call. Not an API: hidden from the docs
//! and free to change with the targets. See `docs/security.md`, "Fuzzing".

use crate::error::Result;
use crate::wire::{ErrorPayload, Frame, FrameReader, FrameType, FrameWriter, Got};

/// What [`Reader::next`] decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A whole message (fragments joined).
    Message(Vec<u8>),
    /// An orderly close.
    Close,
    /// The peer's error report.
    Error(ErrorPayload),
}

/// The stream links' frame reader (`wire/reader.rs`), fed from memory.
#[derive(Debug)]
pub struct Reader(FrameReader);

impl Reader {
    /// A reader that refuses messages over `max_message` bytes.
    pub fn new(max_message: u32) -> Reader {
        Reader(FrameReader::new(max_message))
    }

    /// Feed bytes as if a read returned them.
    pub fn push(&mut self, bytes: &[u8]) {
        self.0.push(bytes);
    }

    /// The next complete frame, if the bytes so far hold one.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Decoded>> {
        Ok(self.0.next()?.map(|f| match f {
            Frame::Message(m) => Decoded::Message(m),
            Frame::Close => Decoded::Close,
            Frame::Error(e) => Decoded::Error(e),
        }))
    }

    /// [`push`](Self::push) while `dst` is lent to the reader (as `recv_into` lends the
    /// caller's buffer).
    pub fn push_lent(&mut self, bytes: &[u8], dst: &mut [u8]) {
        self.0.push_into(bytes, dst);
    }

    /// [`next`](Self::next) with `dst` lent: a whole message that fits may be written there
    /// (returned here as a copy, like any other message).
    pub fn next_lent(&mut self, dst: &mut [u8]) -> Result<Option<Decoded>> {
        Ok(self.0.next_into(dst)?.map(|got| match got {
            Got::Into(n) => Decoded::Message(dst[..n].to_vec()),
            Got::Frame(Frame::Message(m)) => Decoded::Message(m),
            Got::Frame(Frame::Close) => Decoded::Close,
            Got::Frame(Frame::Error(e)) => Decoded::Error(e),
        }))
    }

    /// Take back the buffer lent to [`push_lent`](Self::push_lent) and
    /// [`next_lent`](Self::next_lent) before it goes.
    pub fn unlend(&mut self, dst: &[u8]) {
        self.0.unlend(dst);
    }

    /// Whether bytes of an unfinished frame or message are held.
    pub fn has_partial(&self) -> bool {
        self.0.has_partial()
    }
}

/// The stream links' frame writer (`wire/writer.rs`).
#[derive(Debug, Default)]
pub struct Writer(FrameWriter);

impl Writer {
    /// An idle writer.
    pub fn new() -> Writer {
        Writer(FrameWriter::new())
    }

    /// Whether nothing is pending.
    pub fn is_idle(&self) -> bool {
        self.0.is_idle()
    }

    /// Bytes that must go out before any new frame.
    pub fn pending(&self) -> &[u8] {
        self.0.pending()
    }

    /// `n` pending bytes went out.
    pub fn advance(&mut self, n: usize) {
        self.0.advance(n);
    }

    /// The length of the DATA frame carrying `payload`.
    pub fn frame_len(payload: &[u8]) -> usize {
        FrameWriter::frame_len(payload)
    }

    /// The bytes of `payload`'s DATA frame still to write once `progress` are out.
    pub fn data_frame(&mut self, payload: &[u8], progress: usize) -> Vec<u8> {
        let [a, b] = self.0.data_frame(payload, progress);
        [a, b].concat()
    }

    /// The sender gives up after `progress` bytes (`0 < progress < frame_len`).
    pub fn keep_rest(&mut self, payload: &[u8], progress: usize) {
        self.0.keep_rest(payload, progress);
    }

    /// Queue a CLOSE frame behind whatever is pending.
    pub fn push_close(&mut self) {
        self.0.push_close();
    }
}

/// One shared-memory ring (`shm/ring.rs`) in heap memory, with our producer and our consumer
/// on it and every shared word open to a hostile writer.
#[cfg(unix)]
#[derive(Debug)]
pub struct Ring {
    // Declared before `mem`: they point into it.
    prod: crate::shm::Producer,
    cons: crate::shm::Consumer,
    mem: Box<crate::shm::HeapRing>,
}

/// A record [`Ring::recv`] took: type, flags, payload.
#[cfg(unix)]
pub type Record = (FrameType, u8, Vec<u8>);

#[cfg(unix)]
impl Ring {
    /// A zeroed ring of `cap` data bytes (a power of two, at least 16).
    pub fn new(cap: u64) -> Ring {
        let mem = Box::new(crate::shm::HeapRing::new(cap));
        Ring {
            prod: crate::shm::Producer::new(mem.ptrs()),
            cons: crate::shm::Consumer::new(mem.ptrs()),
            mem,
        }
    }

    /// Largest payload one record carries.
    pub fn max_record(&self) -> u64 {
        self.prod.ring().max_record_payload()
    }

    /// Publish a record of `payload` as our producer does; `Ok(false)` if it does not fit now.
    /// `payload` must be at most [`max_record`](Self::max_record) bytes.
    pub fn send(&mut self, payload: &[u8], frame_type: FrameType, flags: u8) -> Result<bool> {
        let Some(r) = self.prod.try_reserve(payload.len() as u64)? else {
            return Ok(false);
        };
        self.prod.write_payload(&r, 0, payload);
        self.prod.commit(r, frame_type, flags);
        Ok(true)
    }

    /// Take the next record as our consumer does (validated, copied, released).
    pub fn recv(&mut self) -> Result<Option<Record>> {
        let Some(rec) = self.cons.try_peek()? else {
            return Ok(None);
        };
        let mut payload = vec![0u8; rec.header.length as usize];
        self.cons.read_payload(&rec, 0, &mut payload);
        self.cons.release_bytes(rec.size());
        Ok(Some((rec.header.frame_type, rec.header.flags, payload)))
    }

    /// A hostile write of the write cursor.
    pub fn set_write(&self, v: u64) {
        self.mem.set_write(v);
    }

    /// A hostile write of the read cursor.
    pub fn set_read(&self, v: u64) {
        self.mem.set_read(v);
    }

    /// A hostile write of the sleep flags.
    pub fn set_flags(&self, sleeping: u32, waiting: u32) {
        self.mem.set_flags(sleeping, waiting);
    }

    /// A hostile write of the data word holding byte `at`.
    pub fn set_word(&self, at: u64, v: u64) {
        self.mem.set_word(at, v);
    }
}
