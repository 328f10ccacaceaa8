//! The fan-out ring: one ring of messages in a segment the publisher writes and every
//! subscriber maps read-only, plus a cursor page per subscriber (`docs/wire-format.md`,
//! section 17.5). A message is written once, whatever the number of subscribers; each
//! subscriber copies it out at its own pace, then checks that the publisher has not begun to
//! overwrite it meanwhile (a sequence-lock check on the ring's tail), and reports a message
//! overwritten before it was read as dropped.
//!
//! ```text
//! segment (publisher-owned, sealed against resizing and against new writable mappings):
//! offset  size  content
//! 0       8     magic "LIPC-FAN"
//! 8       4     layout version u32 (1), then reserved u32 0
//! 16      8     capacity u64 (data bytes, a power of two)
//! 24      8     segment size u64 (4096 + capacity)
//! 64      8     write: end of the last complete record (a byte count that only grows)
//! 128     8     tail: every byte position below it may be being overwritten
//! 192     8     oldest: start of the oldest record at or above the tail
//! 256     8     publisher waiting: the position it waits for every cursor to reach before
//!               it writes (blocking policy), 0 when it does not wait
//! 320     4     closed: no record will follow `write`
//! 4096    C     data: records
//! record: length u32 (topic + payload bytes), topic length u16, kind u16 (1 MESSAGE, 2 PAD),
//!         sequence number u64, topic, payload, padding to a multiple of 16 (unspecified)
//! cursor page (one per subscriber, 4096 bytes, both map it writable):
//! 0       8     read: the subscriber's position (a record start)
//! 64      4     subscriber sleeping
//! 128     4     cut off: set by the publisher before it overwrites what this subscriber has
//!               not read (blocking policy); the subscriber then ends with `Lagged`
//! 192     8     lost: messages this subscriber has reported lost so far (for the
//!               publisher's statistics)
//! ```
//! Header fields at 0..32 are little-endian; the words at 64 and above are native-endian
//! atomics (one machine). A record never wraps: where it would not fit before the end of the
//! data area, a PAD record fills the rest. A record is at most half the capacity.
//!
//! **Neither side trusts the other.** The subscriber validates every word it reads from the
//! segment and copies record bytes with raw pointer copies (never a Rust reference); the
//! publisher only ever reads a subscriber's cursor, clamped to what it could be.

use std::collections::VecDeque;
use std::ptr;

use super::sync::{AtomicU32, AtomicU64, Ordering, fence};
use crate::error::{Error, ErrorKind, Result};

/// Magic bytes at the start of a fan-out segment.
pub(crate) const FAN_MAGIC: [u8; 8] = *b"LIPC-FAN";
/// The layout described above.
pub(crate) const FAN_LAYOUT_VERSION: u32 = 1;
/// The header page (and the cursor page) size.
pub(crate) const PAGE: u64 = 4096;
/// A record's header.
pub(crate) const REC_HEADER: u64 = 16;
const KIND_MESSAGE: u16 = 1;
const KIND_PAD: u16 = 2;

const OFF_WRITE: usize = 64;
const OFF_TAIL: usize = 128;
const OFF_OLDEST: usize = 192;
const OFF_WAITING: usize = 256;
const OFF_CLOSED: usize = 320;
const CUR_READ: usize = 0;
const CUR_SLEEPING: usize = 64;
const CUR_CUT_OFF: usize = 128;
const CUR_LOST: usize = 192;

fn violation(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ProtocolViolation, msg)
}

fn align16(n: u64) -> u64 {
    (n + 15) & !15
}

/// Bytes a record of `len` topic and payload bytes takes in the ring.
pub(crate) fn record_size(len: u64) -> u64 {
    align16(REC_HEADER + len)
}

/// The largest topic + payload one record carries in a ring of `cap` bytes.
pub(crate) fn max_record_len(cap: u64) -> u64 {
    cap / 2 - REC_HEADER
}

/// Raw pointers into one fan-out segment: its fixed header, its shared words and its data
/// area. (Separate pointers per word, so the loom model can point them at its own atomics.)
#[derive(Debug, Clone, Copy)]
pub(crate) struct FanPtrs {
    header: *mut u8,
    write: *const AtomicU64,
    tail: *const AtomicU64,
    oldest: *const AtomicU64,
    waiting: *const AtomicU64,
    closed: *const AtomicU32,
    data: *mut u8,
    cap: u64,
}

// SAFETY: the pointers refer to a mapping (or, in tests, an allocation) that its owner keeps
// alive for as long as any copy is used; shared words are atomics, and record bytes are only
// moved with raw copies (a reader that may race a writer validates what it copied after).
unsafe impl Send for FanPtrs {}
// SAFETY: as above.
unsafe impl Sync for FanPtrs {}

impl FanPtrs {
    /// The pointers into a segment mapped at `header` (4096 + `cap` bytes, page-aligned).
    pub(crate) fn new(header: *mut u8, cap: u64) -> FanPtrs {
        // SAFETY: every offset is inside the 4096-byte header page (or, for `data`, the start
        // of the data area that follows it).
        let at = |off: usize| unsafe { header.add(off) };
        FanPtrs {
            header,
            write: at(OFF_WRITE).cast(),
            tail: at(OFF_TAIL).cast(),
            oldest: at(OFF_OLDEST).cast(),
            waiting: at(OFF_WAITING).cast(),
            closed: at(OFF_CLOSED).cast(),
            data: at(PAGE as usize),
            cap,
        }
    }

    fn write(&self) -> &AtomicU64 {
        // SAFETY: an aligned word of the header page, which outlives `self` (see `Send`); any
        // bit pattern is a valid atomic.
        unsafe { &*self.write }
    }
    fn tail(&self) -> &AtomicU64 {
        // SAFETY: as for `write`.
        unsafe { &*self.tail }
    }
    fn oldest(&self) -> &AtomicU64 {
        // SAFETY: as for `write`.
        unsafe { &*self.oldest }
    }
    fn waiting(&self) -> &AtomicU64 {
        // SAFETY: as for `write`.
        unsafe { &*self.waiting }
    }
    fn closed(&self) -> &AtomicU32 {
        // SAFETY: as for `write`.
        unsafe { &*self.closed }
    }

    /// Write the segment's fixed header (publisher, before anyone else sees the segment).
    pub(crate) fn init_header(&self) {
        let mut h = [0u8; 32];
        h[0..8].copy_from_slice(&FAN_MAGIC);
        h[8..12].copy_from_slice(&FAN_LAYOUT_VERSION.to_le_bytes());
        h[16..24].copy_from_slice(&self.cap.to_le_bytes());
        h[24..32].copy_from_slice(&(PAGE + self.cap).to_le_bytes());
        // SAFETY: the header page is 4096 bytes; nobody else has the segment yet.
        unsafe { ptr::copy_nonoverlapping(h.as_ptr(), self.header, h.len()) };
    }

    /// Check the fixed header against the announced capacity (subscriber).
    pub(crate) fn check_header(&self) -> Result<()> {
        let mut h = [0u8; 32];
        // SAFETY: the header page is 4096 bytes; we copy, then validate the copy.
        unsafe { ptr::copy_nonoverlapping(self.header, h.as_mut_ptr(), h.len()) };
        let u64_at = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().expect("8 bytes"));
        let u32_at = |o: usize| u32::from_le_bytes(h[o..o + 4].try_into().expect("4 bytes"));
        if h[0..8] != FAN_MAGIC || u32_at(8) != FAN_LAYOUT_VERSION {
            return Err(violation(
                "fan-out segment header: bad magic or layout version",
            ));
        }
        if u32_at(12) != 0 || u64_at(16) != self.cap || u64_at(24) != PAGE + self.cap {
            return Err(violation(
                "fan-out segment header does not match the announced capacity",
            ));
        }
        Ok(())
    }

    /// Copy `len` bytes at data offset `off` (inside the data area) to `dst`, which has room.
    ///
    /// # Safety
    /// `dst` is valid for `len` bytes of writes.
    #[cfg(not(libipc_loom))]
    unsafe fn copy_out_raw(&self, off: u64, dst: *mut u8, len: usize) {
        assert!(off + len as u64 <= self.cap, "a copy outside the data area");
        // SAFETY: within the data area (checked); `dst` as the caller promises; the source may
        // change under us (the publisher overwriting), which the caller detects afterwards.
        unsafe { ptr::copy_nonoverlapping(self.data.add(off as usize), dst, len) }
    }

    /// Copy `len` bytes at data offset `off` (inside the data area) into `out`.
    #[cfg(not(libipc_loom))]
    fn copy_out(&self, off: u64, out: &mut [u8]) {
        debug_assert!(off + out.len() as u64 <= self.cap);
        // SAFETY: callers keep `off + out.len()` within the data area; the source may change
        // under us (the publisher overwriting), which the caller detects afterwards.
        unsafe {
            ptr::copy_nonoverlapping(self.data.add(off as usize), out.as_mut_ptr(), out.len())
        }
    }

    #[cfg(not(libipc_loom))]
    fn copy_in(&self, off: u64, bytes: &[u8]) {
        debug_assert!(off + bytes.len() as u64 <= self.cap);
        // SAFETY: the publisher is the only writer; `off + len` is within the data area.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), self.data.add(off as usize), bytes.len())
        }
    }

    // The loom model's data area is an array of loom atomics, one per 8 bytes (the model's
    // records keep every copy 8-byte aligned): copies are relaxed word loads and stores, so
    // loom sees them race and checks that the tail check catches every torn read.
    #[cfg(libipc_loom)]
    fn word_at(&self, off: u64) -> &AtomicU64 {
        assert!(
            off.is_multiple_of(8) && off < self.cap,
            "loom model: word at {off}"
        );
        // SAFETY: in the model `data` points at `cap / 8` loom atomics that outlive `self`.
        unsafe {
            &*self
                .data
                .cast::<AtomicU64>()
                .cast_const()
                .add((off / 8) as usize)
        }
    }

    #[cfg(libipc_loom)]
    unsafe fn copy_out_raw(&self, off: u64, dst: *mut u8, len: usize) {
        let mut tmp = vec![0u8; len];
        self.copy_out(off, &mut tmp);
        // SAFETY: `dst` is valid for `len` bytes of writes (the caller's promise).
        unsafe { ptr::copy_nonoverlapping(tmp.as_ptr(), dst, len) }
    }

    #[cfg(libipc_loom)]
    fn copy_out(&self, off: u64, out: &mut [u8]) {
        assert!(
            out.len().is_multiple_of(8),
            "loom model: {} bytes",
            out.len()
        );
        for (i, chunk) in out.chunks_mut(8).enumerate() {
            let w = self.word_at(off + 8 * i as u64).load(Ordering::Relaxed);
            chunk.copy_from_slice(&w.to_ne_bytes());
        }
    }

    #[cfg(libipc_loom)]
    fn copy_in(&self, off: u64, bytes: &[u8]) {
        assert!(
            bytes.len().is_multiple_of(8),
            "loom model: {} bytes",
            bytes.len()
        );
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let w = u64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
            self.word_at(off + 8 * i as u64).store(w, Ordering::Relaxed);
        }
    }
}

/// One subscriber's cursor page.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CursorPtrs {
    read: *const AtomicU64,
    sleeping: *const AtomicU32,
    cut_off: *const AtomicU32,
    lost: *const AtomicU64,
}

// SAFETY: as for `FanPtrs`: a mapping its owner keeps alive; only atomics are accessed.
unsafe impl Send for CursorPtrs {}
// SAFETY: as above.
unsafe impl Sync for CursorPtrs {}

impl CursorPtrs {
    /// The words of a cursor page mapped at `page` (4096 bytes, page-aligned).
    pub(crate) fn new(page: *mut u8) -> CursorPtrs {
        // SAFETY: every offset is inside the 4096-byte page.
        let at = |off: usize| unsafe { page.add(off) };
        CursorPtrs {
            read: at(CUR_READ).cast(),
            sleeping: at(CUR_SLEEPING).cast(),
            cut_off: at(CUR_CUT_OFF).cast(),
            lost: at(CUR_LOST).cast(),
        }
    }

    fn read(&self) -> &AtomicU64 {
        // SAFETY: an aligned word of the page, which outlives `self` (see `Send`); any bit
        // pattern is a valid atomic.
        unsafe { &*self.read }
    }
    fn sleeping(&self) -> &AtomicU32 {
        // SAFETY: as for `read`.
        unsafe { &*self.sleeping }
    }

    fn cut_off_flag(&self) -> &AtomicU32 {
        // SAFETY: as for `read`.
        unsafe { &*self.cut_off }
    }

    fn lost_word(&self) -> &AtomicU64 {
        // SAFETY: as for `read`.
        unsafe { &*self.lost }
    }

    /// The subscriber's count of messages it reported lost (publisher: clamp it).
    pub(crate) fn lost(&self) -> u64 {
        self.lost_word().load(Ordering::Relaxed)
    }

    /// The subscriber records its count of messages reported lost.
    pub(crate) fn set_lost(&self, n: u64) {
        self.lost_word().store(n, Ordering::Relaxed);
    }

    /// The publisher cuts the subscriber off (before overwriting what it has not read).
    pub(crate) fn cut_off(&self) {
        self.cut_off_flag().store(1, Ordering::SeqCst);
    }

    /// Whether the publisher has cut the subscriber off.
    pub(crate) fn is_cut_off(&self) -> bool {
        self.cut_off_flag().load(Ordering::Acquire) != 0
    }

    /// The publisher places a new subscriber at `pos` (before telling it it is subscribed).
    pub(crate) fn place(&self, pos: u64) {
        self.read().store(pos, Ordering::Release);
        self.sleeping().store(0, Ordering::Relaxed);
    }

    /// The subscriber's position as it last wrote it (unvalidated; see `Writer::cursor`).
    pub(crate) fn position(&self) -> u64 {
        self.read().load(Ordering::Acquire)
    }

    /// Whether the subscriber asked for a wake-up; if so, take the flag (as the SPSC ring
    /// does: one doorbell per sleep however many records follow).
    pub(crate) fn take_sleeper(&self) -> bool {
        let f = self.sleeping();
        f.load(Ordering::Relaxed) != 0 && f.swap(0, Ordering::SeqCst) != 0
    }
}

/// The publisher's side of the ring.
#[derive(Debug)]
pub(crate) struct Writer {
    ring: FanPtrs,
    /// Our own copy of `write` (never read back from shared memory).
    w: u64,
    /// Starts of the records still intact (at or above the tail), with their numbers.
    starts: VecDeque<(u64, u64)>,
    next_seq: u64,
}

impl Writer {
    /// A writer over a fresh (zeroed) segment whose header it writes.
    pub(crate) fn new(ring: FanPtrs) -> Writer {
        ring.init_header();
        Writer {
            ring,
            w: 0,
            starts: VecDeque::new(),
            next_seq: 0,
        }
    }

    /// Where a subscriber joining now starts, and the number of the next message.
    pub(crate) fn position(&self) -> (u64, u64) {
        (self.w, self.next_seq)
    }

    /// The largest topic + payload one message may have.
    pub(crate) fn max_len(&self) -> u64 {
        max_record_len(self.ring.cap)
    }

    /// Where `len` bytes would be written: (record start, end, the tail after writing).
    fn place(&self, len: u64) -> (u64, u64, u64) {
        let size = record_size(len);
        let off = self.w % self.ring.cap;
        let start = if off + size > self.ring.cap {
            self.w + (self.ring.cap - off)
        } else {
            self.w
        };
        let end = start + size;
        (start, end, end.saturating_sub(self.ring.cap))
    }

    /// The tail after writing a message of `len` bytes: every cursor below it would lose
    /// messages (the blocking policy waits for cursors to pass it).
    pub(crate) fn tail_after(&self, len: u64) -> u64 {
        self.place(len).2
    }

    /// A subscriber's cursor as the publisher may use it: what the subscriber wrote, clamped
    /// to the range it can honestly be in (`from`, where it was placed or last clamped, up to
    /// the write position), so a garbage cursor holds back at most that subscriber.
    pub(crate) fn cursor(&self, c: &CursorPtrs, from: u64) -> u64 {
        c.position().clamp(from, self.w)
    }

    /// Write one message (`topic.len() + payload.len() <= max_len()`, checked by the caller);
    /// returns its number. Overwrites whatever is below the new tail.
    pub(crate) fn write(&mut self, topic: &[u8], payload: &[u8]) -> u64 {
        let len = (topic.len() + payload.len()) as u64;
        debug_assert!(len <= self.max_len() && topic.len() <= u16::MAX as usize);
        let (start, end, tail) = self.place(len);
        while self.starts.front().is_some_and(|&(p, _)| p < tail) {
            self.starts.pop_front();
        }
        let oldest = self.starts.front().map_or(start, |&(p, _)| p);
        // Mark what is about to be overwritten before touching it (`oldest` first, so a
        // reader that sees the new tail sees an `oldest` at least as new), then order the
        // marks before the data writes: a reader that copied any byte written below checks
        // the tail after its copy and sees it.
        self.ring.oldest().store(oldest, Ordering::Relaxed);
        self.ring.tail().store(tail, Ordering::Release);
        fence(Ordering::Release);
        let cap = self.ring.cap;
        if start != self.w {
            let pad_len = start - self.w - REC_HEADER;
            self.ring
                .copy_in(self.w % cap, &header(pad_len as u32, 0, KIND_PAD, 0));
        }
        let seq = self.next_seq;
        let off = start % cap;
        self.ring.copy_in(
            off,
            &header(len as u32, topic.len() as u16, KIND_MESSAGE, seq),
        );
        self.ring.copy_in(off + REC_HEADER, topic);
        self.ring
            .copy_in(off + REC_HEADER + topic.len() as u64, payload);
        self.ring.write().store(end, Ordering::Release);
        // Order the new write position before reading sleep flags (the subscriber sets its
        // flag, then re-reads the write position: one of the two sees the other).
        fence(Ordering::SeqCst);
        self.starts.push_back((start, seq));
        self.w = end;
        self.next_seq += 1;
        seq
    }

    /// Say that the publisher waits for every cursor to reach `need` (`None`: no longer).
    /// Then look at the cursors again: a subscriber that moves past `need` after that sees
    /// it and rings.
    pub(crate) fn set_waiting(&self, need: Option<u64>) {
        self.ring
            .waiting()
            .store(need.unwrap_or(0), Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// No record will follow: subscribers end after reading what is there.
    pub(crate) fn close(&self) {
        self.ring.closed().store(1, Ordering::Release);
        fence(Ordering::SeqCst);
    }
}

fn header(len: u32, topic_len: u16, kind: u16, seq: u64) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&len.to_le_bytes());
    h[4..6].copy_from_slice(&topic_len.to_le_bytes());
    h[6..8].copy_from_slice(&kind.to_le_bytes());
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h
}

/// A message copied out of the ring (the tests' way to read; subscribers visit).
#[cfg(all(test, not(libipc_loom)))]
#[derive(Debug)]
pub(crate) struct Copied {
    /// Its number among every message the publisher wrote.
    pub(crate) seq: u64,
    pub(crate) topic_len: usize,
    /// The topic, then the payload.
    pub(crate) bytes: Vec<u8>,
    /// Messages overwritten before this subscriber could read them, just before this one.
    pub(crate) lost: u64,
}

/// A message in place in the ring, as a visitor sees it: read with copies only. What is read
/// may be torn (the publisher overwriting it meanwhile); the reader checks after the visit and
/// discards the visit's result if so.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View {
    ring: FanPtrs,
    /// Data offset of the topic, then the payload.
    off: u64,
    len: u64,
    topic_len: u64,
}

impl View {
    /// Topic and payload bytes.
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// The topic's length.
    pub(crate) fn topic_len(&self) -> usize {
        self.topic_len as usize
    }

    /// Copy `dst.len()` bytes from `at` (into the topic-then-payload bytes); `at + dst.len()`
    /// must be at most `len()` (else a panic: a caller's bug, not the peer's).
    pub(crate) fn read(&self, at: usize, dst: &mut [u8]) {
        assert!(
            at.checked_add(dst.len())
                .is_some_and(|end| end <= self.len()),
            "reading {} bytes at {at} of a {}-byte message",
            dst.len(),
            self.len()
        );
        self.ring.copy_out(self.off + at as u64, dst);
    }

    /// The topic and payload, copied into a new vector.
    pub(crate) fn copied(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        // SAFETY: `copy_out_raw` writes exactly `len()` bytes into the vector's spare
        // capacity, which has room for them; then they are initialised.
        unsafe {
            self.ring.copy_out_raw(self.off, v.as_mut_ptr(), self.len());
            v.set_len(self.len());
        }
        v
    }
}

/// What a visitor makes of a message.
#[derive(Debug)]
pub(crate) enum Visit<R> {
    /// Deliver it (with the visit's result).
    Take(R),
    /// Not for us (a topic we do not want): not delivered, not lost.
    Skip,
}

/// A message a visitor took.
#[derive(Debug)]
pub(crate) struct Taken<R> {
    pub(crate) value: R,
    /// Its number among every message the publisher wrote (the subscriber numbers its own
    /// deliveries; the tests check this one).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) seq: u64,
    /// Messages lost just before it (overwritten before we read them, or over our limit).
    pub(crate) lost: u64,
}

/// A subscriber's side of the ring.
#[derive(Debug)]
pub(crate) struct Reader {
    ring: FanPtrs,
    cursor: CursorPtrs,
    /// Our own position (written to the cursor page, never read back).
    r: u64,
    /// The number of the next message we expect.
    next_seq: u64,
    /// The largest message this subscriber accepts (topic + payload).
    max_len: u64,
    /// Messages skipped as too large, reported with the next one delivered.
    pending_lost: u64,
    /// Messages reported lost so far (with the messages taken), as on the cursor page.
    reported_lost: u64,
}

impl Reader {
    /// A reader starting at `r` (placed by the publisher) expecting message `next_seq`.
    pub(crate) fn new(
        ring: FanPtrs,
        cursor: CursorPtrs,
        r: u64,
        next_seq: u64,
        max_len: u64,
    ) -> Result<Reader> {
        if !r.is_multiple_of(16) {
            return Err(violation(format!(
                "the publisher placed this subscriber at {r}, not a record boundary"
            )));
        }
        Ok(Reader {
            ring,
            cursor,
            r,
            next_seq,
            max_len,
            pending_lost: 0,
            reported_lost: 0,
        })
    }

    /// Whether a record may be waiting (the write position differs from ours).
    pub(crate) fn has_data(&self) -> bool {
        self.ring.write().load(Ordering::Acquire) != self.r
    }

    /// Whether the publisher has said no record will follow (the subscriber learns it from
    /// CLOSE on the control socket; the tests read the flag).
    #[cfg(all(test, not(libipc_loom)))]
    pub(crate) fn is_closed(&self) -> bool {
        self.ring.closed().load(Ordering::Acquire) != 0
    }

    /// Say we sleep (`true`: the publisher rings our doorbell for the next record) or not.
    /// After setting it, check `has_data` again before sleeping.
    pub(crate) fn set_sleeping(&self, on: bool) {
        self.cursor
            .sleeping()
            .store(u32::from(on), Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Our position.
    pub(crate) fn position(&self) -> u64 {
        self.r
    }

    /// Whether the publisher waits for cursors to reach a position that our cursor, which was
    /// at `from`, has just reached (then ring its doorbell: once per wait).
    pub(crate) fn publisher_waiting(&self, from: u64) -> bool {
        // Our cursor's stores come before (the publisher's side of this is in `set_waiting`).
        fence(Ordering::SeqCst);
        let need = self.ring.waiting().load(Ordering::SeqCst);
        need != 0 && from < need && self.r >= need
    }

    /// Whether the publisher has cut us off (read before each message: what it overwrites
    /// after cutting us off is never delivered).
    pub(crate) fn is_cut_off(&self) -> bool {
        self.cursor.is_cut_off()
    }

    /// The next message, copied out, or `None` if there is none yet. A message too large for
    /// this subscriber is skipped and counted as lost. `ProtocolViolation`: the segment holds
    /// something a publisher cannot have written.
    #[cfg(all(test, not(libipc_loom)))]
    pub(crate) fn try_read(&mut self) -> Result<Option<Copied>> {
        Ok(self
            .try_read_with(|v| Visit::Take((v.topic_len(), v.copied())))?
            .map(|t| Copied {
                seq: t.seq,
                topic_len: t.value.0,
                bytes: t.value.1,
                lost: t.lost,
            }))
    }

    /// The next message the visitor takes, or `None` if there is none yet. The visitor sees
    /// each message in place (reading it with copies, [`View::read`]); it may be called for
    /// messages that then turn out to have been overwritten while it read them: such a
    /// visit's result is discarded and the message counted as lost. A message too large for
    /// this subscriber is not visited and counted as lost. `ProtocolViolation`: the segment
    /// holds something a publisher cannot have written.
    pub(crate) fn try_read_with<R>(
        &mut self,
        mut visit: impl FnMut(&View) -> Visit<R>,
    ) -> Result<Option<Taken<R>>> {
        let cap = self.ring.cap;
        loop {
            let w = self.ring.write().load(Ordering::Acquire);
            if w == self.r {
                return Ok(None);
            }
            if w < self.r || !w.is_multiple_of(16) {
                return Err(violation(format!(
                    "the fan-out ring's write position {w} is behind this subscriber's {} or \
                     not a record boundary",
                    self.r
                )));
            }
            let off = self.r % cap;
            let mut h = [0u8; 16];
            self.ring.copy_out(off, &mut h);
            let len = u64::from(u32::from_le_bytes(h[0..4].try_into().expect("4")));
            let topic_len = u64::from(u16::from_le_bytes(h[4..6].try_into().expect("2")));
            let kind = u16::from_le_bytes(h[6..8].try_into().expect("2"));
            let seq = u64::from_le_bytes(h[8..16].try_into().expect("8"));
            let size = record_size(len);
            let fits = off + size <= cap && self.r + size <= w;
            let problem = match kind {
                KIND_PAD if !fits || off + size != cap => {
                    Some("a PAD record that does not end the data area")
                }
                KIND_MESSAGE if !fits || len > max_record_len(cap) => {
                    Some("a record that does not fit the ring")
                }
                KIND_MESSAGE if topic_len > len => Some("a topic longer than its record"),
                KIND_MESSAGE if seq < self.next_seq => Some("a message number that goes back"),
                KIND_PAD | KIND_MESSAGE => None,
                _ => Some("a record of unknown kind"),
            };
            // None: a PAD, a message over our limit, or something broken.
            let visited =
                (problem.is_none() && kind == KIND_MESSAGE && len <= self.max_len).then(|| {
                    visit(&View {
                        ring: self.ring,
                        off: off + REC_HEADER,
                        len,
                        topic_len,
                    })
                });
            // Everything above read copies; was any of it being overwritten meanwhile?
            fence(Ordering::Acquire);
            let tail = self.ring.tail().load(Ordering::Acquire);
            if tail > self.r {
                // Overtaken: go on from the oldest intact record; the numbers of the next
                // message read tell how many were lost.
                let oldest = self.ring.oldest().load(Ordering::Relaxed);
                let w = self.ring.write().load(Ordering::Acquire);
                if oldest <= self.r || oldest > w || !oldest.is_multiple_of(16) {
                    return Err(violation(format!(
                        "the fan-out ring's oldest record {oldest} is not past this \
                         subscriber's position {} and within the written {w}",
                        self.r
                    )));
                }
                self.r = oldest;
                self.cursor.read().store(self.r, Ordering::Release);
                continue;
            }
            if let Some(p) = problem {
                return Err(violation(format!("the fan-out ring at {}: {p}", self.r)));
            }
            self.r += size;
            if kind == KIND_PAD {
                self.cursor.read().store(self.r, Ordering::Release);
                continue;
            }
            let lost = seq - self.next_seq + std::mem::take(&mut self.pending_lost);
            self.next_seq = seq + 1;
            // The count on the cursor page goes before the cursor moves past the message that
            // reports it: a publisher that sees the cursor there sees the count.
            if lost > 0 && matches!(visited, Some(Visit::Take(_))) {
                self.reported_lost += lost;
                self.cursor.set_lost(self.reported_lost);
            }
            self.cursor.read().store(self.r, Ordering::Release);
            match visited {
                Some(Visit::Take(value)) => return Ok(Some(Taken { value, seq, lost })),
                // Not ours: what was lost before it is reported with the next we take.
                Some(Visit::Skip) => self.pending_lost = lost,
                // Over this subscriber's limit: lost to it, reported with the next.
                None => self.pending_lost = lost + 1,
            }
        }
    }
}

#[cfg(all(test, not(libipc_loom)))]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A segment and one cursor page in ordinary memory (as words, so 8-byte aligned).
    struct Heap {
        seg: Box<[AtomicU64]>,
        cursor: Box<[AtomicU64]>,
        cap: u64,
    }

    impl Heap {
        fn new(cap: u64) -> Heap {
            Heap {
                seg: (0..(PAGE + cap) / 8).map(|_| AtomicU64::new(0)).collect(),
                cursor: (0..PAGE / 8).map(|_| AtomicU64::new(0)).collect(),
                cap,
            }
        }
        fn ptrs(&self) -> FanPtrs {
            // Written through these pointers: the words are atomics (interior mutability).
            FanPtrs::new(self.seg.as_ptr().cast::<u8>().cast_mut(), self.cap)
        }
        fn cursor(&self) -> CursorPtrs {
            CursorPtrs::new(self.cursor.as_ptr().cast::<u8>().cast_mut())
        }
        fn poke(&self, byte_off: usize, v: u64) {
            self.seg[byte_off / 8].store(v, Ordering::Relaxed);
        }
    }

    fn payload(seq: u64, len: usize) -> Vec<u8> {
        (0..len).map(|i| (seq as usize * 31 + i) as u8).collect()
    }

    fn reader(h: &Heap, w: &Writer, max: u64) -> Reader {
        let (pos, seq) = w.position();
        h.cursor().place(pos);
        Reader::new(h.ptrs(), h.cursor(), pos, seq, max).unwrap()
    }

    #[test]
    fn messages_arrive_in_order_across_wraps() {
        let h = Heap::new(4096);
        let mut w = Writer::new(h.ptrs());
        h.ptrs().check_header().unwrap();
        let mut r = reader(&h, &w, u64::MAX);
        assert_eq!(w.max_len(), 2048 - 16);
        // Fewer under Miri (slow), still across several wraps of the 4 KiB ring.
        let n = if cfg!(miri) { 40 } else { 500 };
        for seq in 0..n {
            let len = (seq as usize * 37) % 1500;
            let topic = format!("t/{seq}");
            assert_eq!(w.write(topic.as_bytes(), &payload(seq, len)), seq);
            let m = r.try_read().unwrap().expect("a message");
            assert_eq!((m.seq, m.lost), (seq, 0));
            assert_eq!(&m.bytes[..m.topic_len], topic.as_bytes());
            assert_eq!(&m.bytes[m.topic_len..], &payload(seq, len)[..]);
            assert!(r.try_read().unwrap().is_none());
            assert_eq!(h.cursor().position(), w.position().0);
        }
    }

    #[test]
    fn an_overtaken_reader_skips_to_the_oldest_intact_message_and_counts_the_rest() {
        let h = Heap::new(4096);
        let mut w = Writer::new(h.ptrs());
        let mut r = reader(&h, &w, u64::MAX);
        // 100-byte messages take 128 bytes: 32 fit; write 100.
        for seq in 0..100u64 {
            w.write(b"", &payload(seq, 100));
        }
        let first = r.try_read().unwrap().expect("a message");
        assert!(
            first.seq > 60,
            "the oldest intact message, got {}",
            first.seq
        );
        assert_eq!(first.lost, first.seq);
        assert_eq!(first.bytes, payload(first.seq, 100));
        let mut next = first.seq + 1;
        while let Some(m) = r.try_read().unwrap() {
            assert_eq!((m.seq, m.lost), (next, 0));
            next += 1;
        }
        assert_eq!(next, 100);
    }

    #[test]
    fn a_message_over_the_readers_limit_is_reported_lost() {
        let h = Heap::new(4096);
        let mut w = Writer::new(h.ptrs());
        let mut r = reader(&h, &w, 64);
        w.write(b"a", &[1; 10]);
        w.write(b"a", &[2; 100]);
        w.write(b"a", &[3; 100]);
        w.write(b"a", &[4; 10]);
        let m = r.try_read().unwrap().unwrap();
        assert_eq!((m.seq, m.lost), (0, 0));
        let m = r.try_read().unwrap().unwrap();
        assert_eq!((m.seq, m.lost, m.bytes[1]), (3, 2, 4));
    }

    #[test]
    fn a_publishers_garbage_is_a_protocol_violation() {
        for (what, off, value) in [
            ("write position going back", OFF_WRITE, 0u64),
            ("write position off a boundary", OFF_WRITE, 4104),
            ("record kind", PAGE as usize, 0x0009_0000_0000_0010),
            ("record length", PAGE as usize, 0x0001_0000_0fff_ffff),
            (
                "topic longer than record",
                PAGE as usize,
                0x0001_0040_0000_0010,
            ),
        ] {
            let h = Heap::new(4096);
            let mut w = Writer::new(h.ptrs());
            w.write(b"", &[0; 16]);
            let mut r = reader(&h, &w, u64::MAX);
            w.write(b"", &[0; 16]);
            h.poke(off, value);
            if off == OFF_WRITE && value == 0 {
                // Behind the reader's position (32).
            } else if off >= PAGE as usize {
                // Corrupt the record the reader is at (the second one, at data offset 32).
                h.poke(off, 0);
                h.poke(PAGE as usize + 32, value);
            }
            let err = r.try_read().expect_err(what);
            assert_eq!(err.kind(), ErrorKind::ProtocolViolation, "{what}: {err}");
        }
        // An `oldest` that does not move the reader forward, with the tail past it.
        let h = Heap::new(4096);
        let mut w = Writer::new(h.ptrs());
        let mut r = reader(&h, &w, u64::MAX);
        w.write(b"", &[0; 16]);
        h.poke(OFF_TAIL, 64);
        h.poke(OFF_OLDEST, 0);
        assert_eq!(
            r.try_read().unwrap_err().kind(),
            ErrorKind::ProtocolViolation
        );
    }

    /// Not under Miri: the reader's copy races the writer by design (the tail check after it
    /// is what makes that safe), which Miri's race detector reports; the loom model checks it.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_concurrent_reader_never_delivers_a_torn_message() {
        let h = Arc::new(Heap::new(64 * 1024));
        let mut w = Writer::new(h.ptrs());
        let mut r = reader(&h, &w, u64::MAX);
        const N: u64 = 200_000;
        let writer = std::thread::spawn(move || {
            for seq in 0..N {
                let len = 8 + (seq as usize * 131) % 3000;
                let mut p = payload(seq, len);
                p[..8].copy_from_slice(&seq.to_le_bytes());
                w.write(b"x", &p);
            }
            w.close();
        });
        let (mut got, mut lost, mut next) = (0u64, 0u64, 0u64);
        loop {
            match r.try_read().unwrap() {
                Some(m) => {
                    assert_eq!(m.seq, next + m.lost, "numbers");
                    let p = &m.bytes[1..];
                    assert_eq!(u64::from_le_bytes(p[..8].try_into().unwrap()), m.seq);
                    let mut want = payload(m.seq, p.len());
                    want[..8].copy_from_slice(&m.seq.to_le_bytes());
                    assert!(p == &want[..], "message {} is torn", m.seq);
                    got += 1;
                    lost += m.lost;
                    next = m.seq + 1;
                }
                None if r.is_closed() && !r.has_data() => break,
                None => std::hint::spin_loop(),
            }
        }
        writer.join().unwrap();
        assert_eq!(next, N, "the last message was read");
        assert_eq!(got + lost, N, "every message delivered or counted as lost");
        assert!(got > 0);
    }
}

/// The fan-out protocol under the loom model checker (`--cfg libipc_loom`, see `sync.rs`):
/// every interleaving, and every value the memory model lets a relaxed or acquire load see, of
/// a publisher and a subscriber on a ring of two records. The data area is loom atomics, so a
/// copy racing the publisher's overwrite is seen, and the reader must catch it.
#[cfg(all(test, libipc_loom))]
mod loom_model {
    use loom::sync::{Arc, Notify};
    use loom::thread;

    use super::*;

    /// Two records of 32 bytes (a 16-byte header and a 16-byte payload).
    const CAP: u64 = 64;

    struct Seg {
        header: std::cell::UnsafeCell<[u8; 32]>,
        write: AtomicU64,
        tail: AtomicU64,
        oldest: AtomicU64,
        waiting: AtomicU64,
        closed: AtomicU32,
        data: Box<[AtomicU64]>,
        read: AtomicU64,
        sleeping: AtomicU32,
        cut_off: AtomicU32,
        lost: AtomicU64,
        /// Eventfds in the real transport.
        data_bell: Notify,
        space_bell: Notify,
    }

    // SAFETY: all shared words are loom atomics; `header` is written once by the writer
    // before the reader thread starts.
    unsafe impl Sync for Seg {}

    impl Seg {
        fn new() -> Seg {
            Seg {
                header: std::cell::UnsafeCell::new([0; 32]),
                write: AtomicU64::new(0),
                tail: AtomicU64::new(0),
                oldest: AtomicU64::new(0),
                waiting: AtomicU64::new(0),
                closed: AtomicU32::new(0),
                data: (0..CAP / 8).map(|_| AtomicU64::new(0)).collect(),
                read: AtomicU64::new(0),
                sleeping: AtomicU32::new(0),
                cut_off: AtomicU32::new(0),
                lost: AtomicU64::new(0),
                data_bell: Notify::new(),
                space_bell: Notify::new(),
            }
        }

        fn ptrs(&self) -> FanPtrs {
            FanPtrs {
                header: self.header.get().cast::<u8>(),
                write: &self.write,
                tail: &self.tail,
                oldest: &self.oldest,
                waiting: &self.waiting,
                closed: &self.closed,
                data: self.data.as_ptr().cast::<u8>().cast_mut(),
                cap: CAP,
            }
        }

        fn cursor(&self) -> CursorPtrs {
            CursorPtrs {
                read: &self.read,
                sleeping: &self.sleeping,
                cut_off: &self.cut_off,
                lost: &self.lost,
            }
        }
    }

    /// Message `seq`'s payload: two words, both `seq + 1`.
    fn payload(seq: u64) -> [u8; 16] {
        let mut p = [0u8; 16];
        p[..8].copy_from_slice(&(seq + 1).to_ne_bytes());
        p[8..].copy_from_slice(&(seq + 1).to_ne_bytes());
        p
    }

    fn visit(v: &View) -> Visit<[u8; 16]> {
        let mut b = [0u8; 16];
        v.read(0, &mut b);
        Visit::Take(b)
    }

    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        if b.preemption_bound.is_none() {
            b.preemption_bound = Some(3);
        }
        b.check(f);
    }

    /// Drop-oldest: the publisher writes three messages into room for two without waiting
    /// (the third overwrites the first, perhaps while the subscriber copies it). Every message
    /// the subscriber takes is whole, and its numbers account for every one it missed.
    #[test]
    fn loom_model_fanout_reader_takes_only_whole_messages() {
        model(|| {
            let seg = Arc::new(Seg::new());
            let mut w = Writer::new(seg.ptrs());
            let mut r = Reader::new(seg.ptrs(), seg.cursor(), 0, 0, u64::MAX).unwrap();
            let writer = thread::spawn(move || {
                for seq in 0..3 {
                    w.write(b"", &payload(seq));
                }
            });
            let mut next = 0;
            loop {
                match r.try_read_with(visit).expect("a well-formed ring") {
                    Some(t) => {
                        assert_eq!(t.value, payload(t.seq), "message {} is torn", t.seq);
                        assert_eq!(t.seq, next + t.lost, "numbers");
                        next = t.seq + 1;
                        if t.seq == 2 {
                            break;
                        }
                    }
                    None => thread::yield_now(),
                }
            }
            writer.join().unwrap();
            drop(seg);
        });
    }

    /// The subscriber sleeps as `fan_in.rs` does (flag, look again, doorbell rung only for a
    /// sleeper): loom reports a deadlock if a wake-up can be lost.
    #[test]
    fn loom_model_fanout_sleep_and_wake_lose_no_wakeup() {
        model(|| {
            let seg = Arc::new(Seg::new());
            let mut w = Writer::new(seg.ptrs());
            let mut r = Reader::new(seg.ptrs(), seg.cursor(), 0, 0, u64::MAX).unwrap();
            let s = seg.clone();
            let writer = thread::spawn(move || {
                for seq in 0..2 {
                    w.write(b"", &payload(seq));
                    if s.cursor().take_sleeper() {
                        s.data_bell.notify();
                    }
                }
            });
            let mut got = 0;
            while got < 2 {
                match r.try_read_with(visit).expect("a well-formed ring") {
                    Some(t) => {
                        assert_eq!((t.seq, t.lost, t.value), (got, 0, payload(got)));
                        got += 1;
                    }
                    None => {
                        r.set_sleeping(true);
                        if !r.has_data() {
                            seg.data_bell.wait();
                        }
                    }
                }
            }
            writer.join().unwrap();
        });
    }

    /// Blocking policy: before overwriting, the publisher waits for the subscriber's cursor
    /// (saying which position it waits for, then looking again); the subscriber rings when
    /// its cursor crosses that position. Nothing is lost, and no wake-up either way is lost.
    #[test]
    fn loom_model_fanout_blocking_publisher_waits_for_the_cursor() {
        model(|| {
            let seg = Arc::new(Seg::new());
            let mut w = Writer::new(seg.ptrs());
            let mut r = Reader::new(seg.ptrs(), seg.cursor(), 0, 0, u64::MAX).unwrap();
            let s = seg.clone();
            let writer = thread::spawn(move || {
                for seq in 0..3 {
                    let need = w.tail_after(16);
                    if w.cursor(&s.cursor(), 0) < need {
                        w.set_waiting(Some(need));
                        while w.cursor(&s.cursor(), 0) < need {
                            s.space_bell.wait();
                        }
                        w.set_waiting(None);
                    }
                    w.write(b"", &payload(seq));
                    if s.cursor().take_sleeper() {
                        s.data_bell.notify();
                    }
                }
            });
            let mut got = 0;
            while got < 3 {
                let from = r.position();
                let t = r.try_read_with(visit).expect("a well-formed ring");
                if r.publisher_waiting(from) {
                    seg.space_bell.notify();
                }
                match t {
                    Some(t) => {
                        assert_eq!((t.seq, t.lost, t.value), (got, 0, payload(got)));
                        got += 1;
                    }
                    None => {
                        r.set_sleeping(true);
                        if !r.has_data() {
                            seg.data_bell.wait();
                        }
                    }
                }
            }
            writer.join().unwrap();
        });
    }
}
