//! One single-producer single-consumer ring of records in shared memory, seen from one side.
//!
//! The ring's header holds two byte cursors (`write`, advanced only by the producer, and
//! `read`, advanced only by the consumer; each counts every byte ever passed and lives on its
//! own cache line) and two sleep flags. The data area of `cap` bytes (a power of two) holds
//! records: an 8-byte frame header (the wire format's), the payload, padding to 8 bytes. A
//! record never wraps: where it would not fit before the end, a PAD record fills the rest.
//!
//! **The peer is not trusted.** Each side keeps its own cursor privately and only ever
//! *writes* it to shared memory; every value read from shared memory (the other cursor, record
//! headers, lengths) is validated before use, and any inconsistency is a `ProtocolViolation`.
//! Only the header's atomics are accessed through references (any bit pattern is a valid
//! atomic, and atomics allow concurrent writers); record bytes are moved with raw pointer
//! copies, never through `&[u8]`.

use std::ptr;

use super::sync::{AtomicU32, AtomicU64, Ordering, fence};
use crate::error::{Error, ErrorKind, Result};
use crate::wire::{FrameHeader, FrameType, HEADER_LEN};

const H: u64 = HEADER_LEN as u64;

fn violation(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ProtocolViolation, msg)
}

/// Whether the other side asked for a wake-up (its flag is set); if so, take the flag (clear
/// it), so one sleep costs one doorbell however many records follow before the sleeper wakes
/// (docs/wire-format.md, section 11.7). A plain load first keeps the common case (nobody
/// asleep) free of a write to the shared line. The sleeper sets the flag again each time it
/// goes back to sleep.
fn take_flag(flag: &AtomicU32) -> bool {
    flag.load(Ordering::Relaxed) != 0 && flag.swap(0, Ordering::SeqCst) != 0
}

fn align8(n: u64) -> u64 {
    (n + 7) & !7
}

/// Raw pointers to one ring's header words and data area.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingPtrs {
    pub(crate) write: *const AtomicU64,
    pub(crate) read: *const AtomicU64,
    pub(crate) consumer_sleeping: *const AtomicU32,
    pub(crate) producer_waiting: *const AtomicU32,
    pub(crate) data: *mut u8,
    pub(crate) cap: u64,
}

// SAFETY: the pointers refer to a mapping (or, in model tests, an allocation) that the owning
// `Segment` keeps alive for as long as any `RingPtrs` copy is used; all shared words are
// atomics, and record bytes are only touched by the single producer or single consumer side.
unsafe impl Send for RingPtrs {}
// SAFETY: as above.
unsafe impl Sync for RingPtrs {}

impl RingPtrs {
    fn write(&self) -> &AtomicU64 {
        // SAFETY: `write` points at an aligned atomic that outlives `self` (see `Send` above).
        unsafe { &*self.write }
    }
    fn read(&self) -> &AtomicU64 {
        // SAFETY: as for `write`.
        unsafe { &*self.read }
    }
    fn consumer_sleeping(&self) -> &AtomicU32 {
        // SAFETY: as for `write`.
        unsafe { &*self.consumer_sleeping }
    }
    fn producer_waiting(&self) -> &AtomicU32 {
        // SAFETY: as for `write`.
        unsafe { &*self.producer_waiting }
    }

    /// Largest payload one record may carry: half the ring, so that a record always fits
    /// once the consumer has caught up, even after a PAD.
    pub(crate) fn max_record_payload(&self) -> u64 {
        self.cap / 2 - H
    }

    fn read_header(&self, pos: u64) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        debug_assert!(pos + H <= self.cap);
        // SAFETY: `pos + 8 <= cap`, so the 8 bytes lie inside the data area; they may be
        // written concurrently by a hostile peer, which only makes the copied value garbage
        // (validated by the caller), never a Rust reference to shared bytes.
        unsafe {
            ptr::copy_nonoverlapping(self.data.add(pos as usize), h.as_mut_ptr(), HEADER_LEN)
        };
        h
    }

    fn write_header(&self, pos: u64, h: &FrameHeader) {
        debug_assert!(pos + H <= self.cap);
        // SAFETY: inside the data area (as above); the producer owns this region until it
        // publishes the write cursor.
        unsafe {
            ptr::copy_nonoverlapping(h.encode().as_ptr(), self.data.add(pos as usize), HEADER_LEN)
        };
    }
}

/// Space reserved for one record, not yet visible to the consumer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reservation {
    /// Bytes of PAD written before the record (0 if none).
    pad: u64,
    /// Position of the record's header in the data area.
    at: u64,
    len: u64,
}

impl Reservation {
    /// The reservation as plain numbers (to travel through the link seam).
    pub(crate) fn to_token(self) -> [u64; 3] {
        [self.pad, self.at, self.len]
    }

    /// A reservation from [`to_token`](Self::to_token)'s numbers.
    pub(crate) fn from_token(t: [u64; 3]) -> Reservation {
        Reservation {
            pad: t[0],
            at: t[1],
            len: t[2],
        }
    }

    /// Where the payload goes (an offset into the data area).
    pub(crate) fn payload_offset(&self) -> u64 {
        self.at + H
    }
}

/// The producing side of a ring.
#[derive(Debug)]
pub(crate) struct Producer {
    ring: RingPtrs,
    /// Our cursor; the shared copy is only ever written.
    write: u64,
    /// The consumer's cursor as last read (validated). Re-read only when it shows too little
    /// room, so the consumer's cache line is not pulled over on every record.
    cached_read: u64,
}

impl Producer {
    pub(crate) fn new(ring: RingPtrs) -> Producer {
        Producer {
            ring,
            write: 0,
            cached_read: 0,
        }
    }

    pub(crate) fn ring(&self) -> &RingPtrs {
        &self.ring
    }

    /// Bytes in use, from the consumer's published cursor, validated (and cached).
    fn used(&mut self) -> Result<u64> {
        let read = self.ring.read().load(Ordering::Acquire);
        let used = self.write.wrapping_sub(read);
        if used > self.ring.cap || !used.is_multiple_of(8) {
            return Err(violation(format!(
                "peer's read cursor {read} is inconsistent with ours {}",
                self.write
            )));
        }
        self.cached_read = read;
        Ok(used)
    }

    /// Reserve room for a record with `len` payload bytes (`len <= max_record_payload`), or
    /// `None` if the ring is too full now.
    pub(crate) fn try_reserve(&mut self, len: u64) -> Result<Option<Reservation>> {
        debug_assert!(len <= self.ring.max_record_payload());
        let rec = H + align8(len);
        let p = self.write % self.ring.cap;
        let tail = self.ring.cap - p;
        let pad = if rec > tail { tail } else { 0 };
        if !self.fits(pad + rec)? {
            return Ok(None);
        }
        if pad > 0 {
            self.ring.write_header(
                p,
                &FrameHeader {
                    length: (pad - H) as u32,
                    frame_type: FrameType::Pad,
                    flags: 0,
                },
            );
        }
        Ok(Some(Reservation {
            pad,
            at: (p + pad) % self.ring.cap,
            len,
        }))
    }

    /// Copy `src` into the reservation at `offset` bytes into its payload.
    pub(crate) fn write_payload(&self, r: &Reservation, offset: usize, src: &[u8]) {
        assert!(
            offset + src.len() <= r.len as usize,
            "write past the reservation"
        );
        // SAFETY: the reservation lies inside the data area (`try_reserve` checked it fits
        // before the end), and the producer owns it until `commit` publishes it.
        unsafe {
            ptr::copy_nonoverlapping(
                src.as_ptr(),
                self.ring.data.add((r.payload_offset() as usize) + offset),
                src.len(),
            )
        };
    }

    /// A raw pointer to the reservation's payload (for in-place writes).
    pub(crate) fn payload_ptr(&self, r: &Reservation) -> *mut u8 {
        // SAFETY: the offset is inside the data area (see `write_payload`).
        unsafe { self.ring.data.add(r.payload_offset() as usize) }
    }

    /// Publish the record. Returns `true` if the consumer said it is asleep and must be woken.
    pub(crate) fn commit(&mut self, r: Reservation, frame_type: FrameType, flags: u8) -> bool {
        self.ring.write_header(
            r.at,
            &FrameHeader {
                length: r.len as u32,
                frame_type,
                flags,
            },
        );
        self.write = self.write.wrapping_add(r.pad + H + align8(r.len));
        self.ring.write().store(self.write, Ordering::Release);
        // Pairs with the consumer's store of its sleep flag before it re-checks the cursor.
        fence(Ordering::SeqCst);
        take_flag(self.ring.consumer_sleeping())
    }

    /// Say (before re-checking for room and sleeping) that we wait for space, or stop saying so.
    pub(crate) fn set_waiting(&self, waiting: bool) {
        // A swap, for the reason given in `Consumer::set_sleeping`.
        self.ring
            .producer_waiting()
            .swap(waiting as u32, Ordering::SeqCst);
        // Pairs with the consumer's fence in `release`: either it sees our flag, or we see
        // its new cursor when we re-check.
        fence(Ordering::SeqCst);
    }

    /// Whether a record of `len` payload bytes would fit now.
    pub(crate) fn has_room(&mut self, len: u64) -> Result<bool> {
        let rec = H + align8(len);
        let tail = self.ring.cap - self.write % self.ring.cap;
        let pad = if rec > tail { tail } else { 0 };
        self.fits(pad + rec)
    }

    /// Whether `bytes` more fit: first by the cached consumer cursor, then by a fresh read.
    fn fits(&mut self, bytes: u64) -> Result<bool> {
        let cached_used = self.write.wrapping_sub(self.cached_read);
        if cached_used <= self.ring.cap && self.ring.cap - cached_used >= bytes {
            return Ok(true);
        }
        Ok(self.ring.cap - self.used()? >= bytes)
    }
}

/// A record the consumer has validated and not yet released.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record {
    pub(crate) header: FrameHeader,
    /// Offset of the payload in the data area.
    pub(crate) payload_at: u64,
    /// Bytes to release: any PAD before it, the header, the payload and its padding.
    size: u64,
}

impl Record {
    /// Bytes its release gives back.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }
}

/// The consuming side of a ring.
#[derive(Debug)]
pub(crate) struct Consumer {
    ring: RingPtrs,
    /// Our cursor; the shared copy is only ever written.
    read: u64,
    /// The producer's cursor as last read (validated). Re-read only once we have caught up
    /// with it, so the producer's cache line is not pulled over on every record.
    cached_write: u64,
}

impl Consumer {
    pub(crate) fn new(ring: RingPtrs) -> Consumer {
        Consumer {
            ring,
            read: 0,
            cached_write: 0,
        }
    }

    fn available(&mut self) -> Result<u64> {
        if self.cached_write != self.read {
            return Ok(self.cached_write.wrapping_sub(self.read));
        }
        let write = self.ring.write().load(Ordering::Acquire);
        let avail = write.wrapping_sub(self.read);
        if avail > self.ring.cap || !avail.is_multiple_of(8) {
            return Err(violation(format!(
                "peer's write cursor {write} is inconsistent with ours {}",
                self.read
            )));
        }
        self.cached_write = write;
        Ok(avail)
    }

    /// Whether anything is published (cheap; used while spinning).
    pub(crate) fn has_data(&self) -> bool {
        self.cached_write != self.read || self.ring.write().load(Ordering::Acquire) != self.read
    }

    /// The next record, validated, or `None` if nothing is published.
    pub(crate) fn try_peek(&mut self) -> Result<Option<Record>> {
        let avail = self.available()?;
        if avail == 0 {
            return Ok(None);
        }
        let cap = self.ring.cap;
        let mut skip = 0u64;
        // A PAD always reaches the end of the ring, so at most one precedes a record.
        for _ in 0..2 {
            let p = (self.read + skip) % cap;
            if avail - skip < H {
                return Err(violation("a partial record header was published"));
            }
            let header = FrameHeader::decode(&self.ring.read_header(p))?;
            let len = u64::from(header.length);
            match header.frame_type {
                FrameType::Pad => {
                    if p + H + len != cap {
                        return Err(violation(format!(
                            "PAD at {p} of {len} bytes does not end at the ring's end"
                        )));
                    }
                    skip += cap - p;
                    if skip > avail {
                        return Err(violation("PAD extends past the published data"));
                    }
                    if skip == avail {
                        return Err(violation("a PAD was published without the record after it"));
                    }
                }
                FrameType::Data | FrameType::Close => {
                    if len > self.ring.max_record_payload() {
                        return Err(violation(format!(
                            "record of {len} bytes is larger than half the ring"
                        )));
                    }
                    let size = H + align8(len);
                    if p + size > cap || skip + size > avail {
                        return Err(violation(format!(
                            "record of {len} bytes at {p} runs past the published data"
                        )));
                    }
                    return Ok(Some(Record {
                        header,
                        payload_at: p + H,
                        size: skip + size,
                    }));
                }
                other => {
                    return Err(violation(format!(
                        "{other:?} frame is not allowed in a shared-memory ring"
                    )));
                }
            }
        }
        Err(violation("two PAD records in a row"))
    }

    /// Copy `dst.len()` payload bytes of `rec`, starting `offset` bytes into it.
    pub(crate) fn read_payload(&self, rec: &Record, offset: usize, dst: &mut [u8]) {
        assert!(
            offset + dst.len() <= rec.header.length as usize,
            "read past the record"
        );
        // SAFETY: `try_peek` checked the record lies inside the data area. The peer may write
        // these bytes concurrently (that only garbles the copy); no reference to them is made.
        unsafe {
            ptr::copy_nonoverlapping(
                self.ring.data.add(rec.payload_at as usize + offset),
                dst.as_mut_ptr(),
                dst.len(),
            )
        };
    }

    /// A raw pointer to the record's payload (for in-place reads under a documented contract).
    pub(crate) fn payload_ptr(&self, rec: &Record) -> *const u8 {
        // SAFETY: inside the data area, as checked by `try_peek`.
        unsafe { self.ring.data.add(rec.payload_at as usize) }
    }

    /// Give the record's space back. Returns `true` if the producer is waiting for room.
    #[cfg(all(test, libipc_loom))]
    pub(crate) fn release(&mut self, rec: Record) -> bool {
        self.release_bytes(rec.size)
    }

    /// Give back `size` bytes: those of a record taken before ([`Record::size`]).
    pub(crate) fn release_bytes(&mut self, size: u64) -> bool {
        self.read = self.read.wrapping_add(size);
        self.ring.read().store(self.read, Ordering::Release);
        // Pairs with the producer's store of its waiting flag before it re-checks the cursor.
        fence(Ordering::SeqCst);
        take_flag(self.ring.producer_waiting())
    }

    /// Say (before re-checking and sleeping) that we are asleep, or awake again. Returns
    /// whether the flag was set: after we set it, `false` on waking means the producer took
    /// it, and so rang the doorbell (or is about to).
    pub(crate) fn set_sleeping(&self, sleeping: bool) -> bool {
        // A swap, not a store: the waker clears the flag with a swap too (`take_flag`), and
        // read-modify-writes of one word are totally ordered, so the waker's swap that comes
        // after this one sees it.
        let was = self
            .ring
            .consumer_sleeping()
            .swap(sleeping as u32, Ordering::SeqCst);
        // Pairs with the producer's fence in `commit`: either it sees our flag, or we see its
        // new cursor when we re-check.
        fence(Ordering::SeqCst);
        was != 0
    }
}

/// A ring in ordinary heap memory, for the unit tests (which Miri runs) and the fuzz targets
/// (`libipc::fuzzing`): the same header words and data area as a segment's ring, with no OS
/// call. Any bit pattern is valid in every word, so a test may write anything into it.
#[cfg(any(test, feature = "fuzzing"))]
#[derive(Debug)]
pub(crate) struct HeapRing {
    write: AtomicU64,
    read: AtomicU64,
    consumer_sleeping: AtomicU32,
    producer_waiting: AtomicU32,
    /// The data area, as words so that it is 8-byte aligned like a mapping.
    data: Box<[AtomicU64]>,
}

#[cfg(any(test, feature = "fuzzing"))]
impl HeapRing {
    /// A zeroed ring of `cap` data bytes (a power of two, at least 16).
    pub(crate) fn new(cap: u64) -> HeapRing {
        assert!(cap.is_power_of_two() && cap >= 2 * H, "ring capacity {cap}");
        HeapRing {
            write: AtomicU64::new(0),
            read: AtomicU64::new(0),
            consumer_sleeping: AtomicU32::new(0),
            producer_waiting: AtomicU32::new(0),
            data: (0..cap / 8).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Pointers for a [`Producer`] or [`Consumer`]; valid while `self` lives.
    pub(crate) fn ptrs(&self) -> RingPtrs {
        RingPtrs {
            write: &self.write,
            read: &self.read,
            consumer_sleeping: &self.consumer_sleeping,
            producer_waiting: &self.producer_waiting,
            // Record bytes are written through this pointer: the words are atomics (interior
            // mutability), so writing through a pointer derived from a shared borrow is allowed.
            data: self.data.as_ptr().cast::<u8>().cast_mut(),
            cap: self.data.len() as u64 * 8,
        }
    }

    /// Store `v` into the write cursor, as a peer may.
    pub(crate) fn set_write(&self, v: u64) {
        self.write.store(v, Ordering::Relaxed);
    }

    /// Store `v` into the read cursor, as a peer may.
    pub(crate) fn set_read(&self, v: u64) {
        self.read.store(v, Ordering::Relaxed);
    }

    /// Store `v` into the two sleep flags, as a peer may.
    pub(crate) fn set_flags(&self, sleeping: u32, waiting: u32) {
        self.consumer_sleeping.store(sleeping, Ordering::Relaxed);
        self.producer_waiting.store(waiting, Ordering::Relaxed);
    }

    /// Overwrite the data word holding byte `at` (modulo the capacity) with `v`, as a peer may.
    pub(crate) fn set_word(&self, at: u64, v: u64) {
        let i = (at / 8) as usize % self.data.len();
        self.data[i].store(v, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::FLAG_MORE;

    /// Publish one record of `payload` with `flags`; `false` if it does not fit now.
    fn send(prod: &mut Producer, payload: &[u8], flags: u8) -> bool {
        let Some(r) = prod.try_reserve(payload.len() as u64).unwrap() else {
            return false;
        };
        prod.write_payload(&r, 0, payload);
        prod.commit(r, FrameType::Data, flags);
        true
    }

    /// Take the next record's payload and flags, releasing it.
    fn take(cons: &mut Consumer) -> Result<Option<(Vec<u8>, u8)>> {
        let Some(rec) = cons.try_peek()? else {
            return Ok(None);
        };
        let mut got = vec![0u8; rec.header.length as usize];
        cons.read_payload(&rec, 0, &mut got);
        cons.release_bytes(rec.size());
        Ok(Some((got, rec.header.flags)))
    }

    #[test]
    fn records_wrap_with_a_pad_and_arrive_intact() {
        let ring = HeapRing::new(64);
        let (mut prod, mut cons) = (Producer::new(ring.ptrs()), Consumer::new(ring.ptrs()));
        assert_eq!(prod.ring().max_record_payload(), 24);
        // Lengths chosen so that records land at every offset and some need a PAD.
        let mut sent = 0u8;
        for len in [0usize, 1, 7, 8, 9, 24, 17, 3, 24, 24, 0, 16] {
            let msg: Vec<u8> = (0..len).map(|i| sent.wrapping_add(i as u8)).collect();
            assert!(
                send(&mut prod, &msg, FLAG_MORE),
                "an empty ring has room for {len}"
            );
            assert_eq!(take(&mut cons).unwrap(), Some((msg, FLAG_MORE)));
            assert_eq!(take(&mut cons).unwrap(), None);
            sent = sent.wrapping_add(1);
        }
    }

    #[test]
    fn a_full_ring_refuses_until_the_consumer_releases() {
        let ring = HeapRing::new(64);
        let (mut prod, mut cons) = (Producer::new(ring.ptrs()), Consumer::new(ring.ptrs()));
        assert!(send(&mut prod, &[1; 24], 0));
        assert!(send(&mut prod, &[2; 24], 0));
        assert!(!send(&mut prod, &[3; 1], 0), "64 bytes are in use");
        assert!(!prod.has_room(0).unwrap());
        assert_eq!(take(&mut cons).unwrap(), Some((vec![1; 24], 0)));
        assert!(prod.has_room(24).unwrap());
        assert!(send(&mut prod, &[3; 24], 0));
        assert_eq!(take(&mut cons).unwrap(), Some((vec![2; 24], 0)));
        assert_eq!(take(&mut cons).unwrap(), Some((vec![3; 24], 0)));
    }

    #[test]
    fn sleep_flags_of_any_value_ask_for_a_wake_up() {
        let ring = HeapRing::new(64);
        let (mut prod, mut cons) = (Producer::new(ring.ptrs()), Consumer::new(ring.ptrs()));
        ring.set_flags(0x8000_0000, 3);
        let r = prod.try_reserve(1).unwrap().unwrap();
        assert!(
            prod.commit(r, FrameType::Data, 0),
            "the consumer said it sleeps"
        );
        let rec = cons.try_peek().unwrap().unwrap();
        assert!(cons.release_bytes(rec.size()), "the producer said it waits");
        ring.set_flags(0, 0);
        assert!(send(&mut prod, b"x", 0));
        assert_eq!(take(&mut cons).unwrap(), Some((b"x".to_vec(), 0)));
    }

    #[test]
    fn cursor_arithmetic_survives_wrapping_u64() {
        // Cursors count every byte ever passed and wrap at 2^64; start both sides just below.
        let ring = HeapRing::new(64);
        let start = u64::MAX - 31;
        let mut prod = Producer {
            ring: ring.ptrs(),
            write: start,
            cached_read: start,
        };
        let mut cons = Consumer {
            ring: ring.ptrs(),
            read: start,
            cached_write: start,
        };
        ring.set_read(start);
        ring.set_write(start);
        for i in 0..8u8 {
            assert!(send(&mut prod, &[i; 20], 0));
            assert_eq!(take(&mut cons).unwrap(), Some((vec![i; 20], 0)));
        }
        assert!(cons.read < start, "the cursor wrapped");
    }

    #[test]
    fn hostile_cursors_are_violations() {
        let ring = HeapRing::new(64);
        let mut cons = Consumer::new(ring.ptrs());
        for bad in [65, 4, u64::MAX, 1 << 63] {
            ring.set_write(bad);
            let e = cons.try_peek().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ProtocolViolation, "write cursor {bad}");
        }
        let mut prod = Producer::new(ring.ptrs());
        assert!(send(&mut prod, &[0; 24], 0));
        assert!(send(&mut prod, &[0; 24], 0));
        for bad in [u64::MAX, 1, 49, 1 << 40] {
            ring.set_read(bad);
            let e = prod.has_room(24).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ProtocolViolation, "read cursor {bad}");
        }
    }

    #[test]
    fn hostile_records_are_violations() {
        let bad_headers: [(u64, [u8; 8]); 6] = [
            // Larger than half the ring.
            (0, FrameHeader::data(25).encode()),
            // Runs past the published bytes.
            (0, FrameHeader::data(16).encode()),
            // An ERROR record is not allowed in a ring.
            (0, [4, 0, 0, 0, 3, 0, 0, 0]),
            // A PAD that does not reach the end.
            (0, [8, 0, 0, 0, 5, 0, 0, 0]),
            // A PAD that is all that was published.
            (0, [56, 0, 0, 0, 5, 0, 0, 0]),
            // An unknown type.
            (0, [0, 0, 0, 0, 0xff, 0, 0, 0]),
        ];
        for (at, h) in bad_headers {
            let ring = HeapRing::new(64);
            ring.set_word(at, u64::from_ne_bytes(h));
            ring.set_write(if h[4] == 5 { 64 } else { 16 });
            let mut cons = Consumer::new(ring.ptrs());
            let e = cons.try_peek().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ProtocolViolation, "header {h:?}");
        }
    }
}

/// Model checks of the ring's atomics with loom (build with `--cfg libipc_loom`; see
/// `sync.rs`). A producer thread sends four records through a 64-byte ring (so that one of
/// them needs a PAD and wraps) and the consumer checks that each arrives once, in order, whole.
///
/// Record bytes are moved with raw pointer copies, which loom does not see. So that loom still
/// checks that the cursors' Release/Acquire pairs order those bytes, both sides also touch a
/// loom-tracked shadow of the data area (one cell per 8-byte slot) exactly where they touch
/// the bytes: the producer writes the record's number into every slot it fills, the consumer
/// reads and checks them before it releases the record. An access to a slot that is not
/// ordered after the other side's last access is a loom failure.
#[cfg(all(test, libipc_loom))]
mod loom_model {
    use loom::cell::UnsafeCell;
    use loom::sync::{Arc, Notify};
    use loom::thread;

    use super::*;
    use crate::wire::FLAG_MORE;

    const CAP: u64 = 64;
    const SLOTS: usize = (CAP / 8) as usize;

    /// What the producer sends: payload length, type, flags. With `CAP = 64` (records of at
    /// most 24 payload bytes): record 0 fills 0..16, record 1 (the largest) 16..48; record 2
    /// (32 bytes) does not fit in 48..64, so a PAD fills that and the record goes to 0..32,
    /// which needs records 0 *and* 1 released (32 free bytes are not enough: the PAD counts);
    /// the CLOSE goes to 32..40.
    const RECORDS: [(u64, FrameType, u8); 4] = [
        (8, FrameType::Data, FLAG_MORE),
        (24, FrameType::Data, 0),
        (17, FrameType::Data, 0),
        (0, FrameType::Close, 0),
    ];

    /// Shadow tag of the slots of record `seq`, and of the PAD in front of it.
    fn tag(seq: usize) -> u64 {
        seq as u64 + 1
    }
    fn pad_tag(seq: usize) -> u64 {
        0x100 | seq as u64
    }

    fn byte(seq: usize, i: usize) -> u8 {
        (seq * 64 + i) as u8
    }

    /// One ring in ordinary memory.
    struct Ring {
        write: AtomicU64,
        read: AtomicU64,
        consumer_sleeping: AtomicU32,
        producer_waiting: AtomicU32,
        /// The data area: plain bytes, not seen by loom.
        data: std::cell::UnsafeCell<[u8; CAP as usize]>,
        shadow: [UnsafeCell<u64>; SLOTS],
        /// Doorbells (eventfds in the real transport): rung for a sleeping consumer, and for
        /// a producer waiting for room.
        data_bell: Notify,
        space_bell: Notify,
    }

    // SAFETY: the atomics and loom cells are shareable; `data` is only written by the one
    // producer and read by the one consumer, through raw pointers, in regions the cursors hand
    // over (which is what the shadow cells check), and loom runs one thread at a time.
    unsafe impl Sync for Ring {}

    impl Ring {
        fn new() -> Ring {
            Ring {
                write: AtomicU64::new(0),
                read: AtomicU64::new(0),
                consumer_sleeping: AtomicU32::new(0),
                producer_waiting: AtomicU32::new(0),
                data: std::cell::UnsafeCell::new([0; CAP as usize]),
                shadow: std::array::from_fn(|_| UnsafeCell::new(0)),
                data_bell: Notify::new(),
                space_bell: Notify::new(),
            }
        }

        fn ptrs(&self) -> RingPtrs {
            RingPtrs {
                write: &self.write,
                read: &self.read,
                consumer_sleeping: &self.consumer_sleeping,
                producer_waiting: &self.producer_waiting,
                data: self.data.get().cast::<u8>(),
                cap: CAP,
            }
        }

        fn mark(&self, from: u64, to: u64, value: u64) {
            for cell in &self.shadow[(from / 8) as usize..(to / 8) as usize] {
                // SAFETY: a loom cell; loom checks that no other access races with this one.
                cell.with_mut(|p| unsafe { *p = value });
            }
        }

        fn expect(&self, from: u64, to: u64, value: u64) {
            for cell in &self.shadow[(from / 8) as usize..(to / 8) as usize] {
                // SAFETY: as in `mark`.
                let got = cell.with(|p| unsafe { *p });
                assert_eq!(got, value, "slot {from}..{to} holds another record");
            }
        }
    }

    /// Reserve, fill and commit record `seq`; `true` if the consumer must be woken.
    fn send(ring: &Ring, prod: &mut Producer, seq: usize) -> bool {
        let (len, ty, flags) = RECORDS[seq];
        let p = prod.write % CAP;
        let r = prod
            .try_reserve(len)
            .expect("a valid read cursor")
            .expect("room was checked");
        if r.pad > 0 {
            assert_eq!(p + r.pad, CAP, "a PAD reaches the ring's end");
            ring.mark(p, CAP, pad_tag(seq));
        }
        ring.mark(r.at, r.at + H + align8(len), tag(seq));
        let bytes: Vec<u8> = (0..len as usize).map(|i| byte(seq, i)).collect();
        prod.write_payload(&r, 0, &bytes);
        prod.commit(r, ty, flags)
    }

    /// Check the record the consumer peeked: number `seq`, whole; then release it. `true` if
    /// the producer must be woken.
    fn receive(ring: &Ring, cons: &mut Consumer, rec: Record, seq: usize) -> bool {
        let (len, ty, flags) = RECORDS[seq];
        assert_eq!(rec.header.frame_type, ty, "record {seq}'s type");
        assert_eq!(rec.header.flags, flags, "record {seq}'s flags");
        assert_eq!(u64::from(rec.header.length), len, "record {seq}'s length");
        let at = rec.payload_at - H;
        let size = H + align8(len);
        if rec.size > size {
            let p = cons.read % CAP;
            assert_eq!(p + rec.size - size, CAP, "the PAD reaches the ring's end");
            assert_eq!(at, 0, "the record after a PAD starts the ring");
            ring.expect(p, CAP, pad_tag(seq));
        }
        ring.expect(at, at + size, tag(seq));
        let mut got = vec![0u8; len as usize];
        cons.read_payload(&rec, 0, &mut got);
        let want: Vec<u8> = (0..len as usize).map(|i| byte(seq, i)).collect();
        assert_eq!(got, want, "record {seq}'s bytes");
        cons.release(rec)
    }

    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        if b.preemption_bound.is_none() {
            b.preemption_bound = Some(3);
        }
        b.check(f);
    }

    /// Both sides spin (yield) instead of sleeping: checks ordering, placement and validation.
    #[test]
    fn loom_model_records_arrive_in_order_and_intact() {
        model(|| {
            let ring = Arc::new(Ring::new());
            let mut prod = Producer::new(ring.ptrs());
            let mut cons = Consumer::new(ring.ptrs());
            let r = ring.clone();
            let producer = thread::spawn(move || {
                for (seq, &(len, ..)) in RECORDS.iter().enumerate() {
                    while !prod.has_room(len).expect("a valid read cursor") {
                        thread::yield_now();
                    }
                    send(&r, &mut prod, seq);
                }
            });
            let mut seq = 0;
            while seq < RECORDS.len() {
                match cons.try_peek().expect("valid records") {
                    Some(rec) => {
                        receive(&ring, &mut cons, rec, seq);
                        seq += 1;
                    }
                    None => thread::yield_now(),
                }
            }
            producer.join().unwrap();
            assert!(!cons.has_data(), "nothing after the CLOSE");
        });
    }

    /// Both sides sleep as `link.rs` does (flag, re-check, doorbell rung only for a sleeper):
    /// loom reports a deadlock if a wake-up can be lost.
    #[test]
    fn loom_model_sleep_and_wake_lose_no_wakeup() {
        model(|| {
            let ring = Arc::new(Ring::new());
            let mut prod = Producer::new(ring.ptrs());
            let mut cons = Consumer::new(ring.ptrs());
            let r = ring.clone();
            let producer = thread::spawn(move || {
                for (seq, &(len, ..)) in RECORDS.iter().enumerate() {
                    while !prod.has_room(len).expect("a valid read cursor") {
                        prod.set_waiting(true);
                        if !prod.has_room(len).expect("a valid read cursor") {
                            r.space_bell.wait();
                        }
                        prod.set_waiting(false);
                    }
                    if send(&r, &mut prod, seq) {
                        r.data_bell.notify();
                    }
                }
            });
            let mut seq = 0;
            while seq < RECORDS.len() {
                if let Some(rec) = cons.try_peek().expect("valid records") {
                    if receive(&ring, &mut cons, rec, seq) {
                        ring.space_bell.notify();
                    }
                    seq += 1;
                    continue;
                }
                cons.set_sleeping(true);
                if !cons.has_data() {
                    ring.data_bell.wait();
                }
                cons.set_sleeping(false);
            }
            producer.join().unwrap();
        });
    }
}
