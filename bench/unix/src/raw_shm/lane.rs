//! One direction of a shared region: a single-producer single-consumer ring of messages.
//!
//! Lane header ([`LANE_HEADER`] bytes; the producer's words and the consumer's words sit on
//! separate cache lines):
//!
//! | offset | word              | written by | meaning                                         |
//! |--------|-------------------|------------|-------------------------------------------------|
//! | 0      | `seq`             | producer   | messages published; the consumer's futex word   |
//! | 4      | `producer_asleep` | producer   | 1 while the producer waits for room             |
//! | 64     | `freed`           | consumer   | bytes consumed (wrapping); the producer's futex |
//! | 68     | `consumer_asleep` | consumer   | 1 while the consumer waits for a message        |
//!
//! Then `capacity` bytes of data (a power of two). A message is a record at an 8-aligned
//! offset: a `u32` length, 4 unused bytes, the payload, padding to 8. The length [`WRAP`] means
//! "continue at offset 0" and [`CLOSED`] "the producer has finished"; neither is a message.
//! Records never straddle the end of the data: one that would goes to offset 0 after a
//! `WRAP`. An empty ring also restarts at offset 0 (when the record fits before the current
//! offset), so ping-pong (one message in flight) uses the same bytes every time, like a single
//! slot: sequence word, length, payload.
//!
//! To send, the producer copies the payload in, stores the length, then increments `seq` with
//! Release; the consumer loads `seq` with Acquire before reading the record, copies the payload
//! out, then releases the space by storing `freed` with Release. Nothing here makes a Rust
//! reference to the mapping's bytes except the `AtomicU32`s of these words (and of record
//! lengths, which are only ever accessed atomically while they are lengths); payloads move
//! with raw pointer copies.

use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::region::{LANE_HEADER, Region};
use super::wait::Waiter;
use libipc_bench::{Fail, Result};

/// Record length meaning "the next record is at offset 0".
const WRAP: u32 = u32::MAX - 1;
/// Record length meaning "nothing more will be sent".
const CLOSED: u32 = u32::MAX;
/// Bytes before a record's payload.
const RECORD_HEADER: usize = 8;

const SEQ: usize = 0;
const PRODUCER_ASLEEP: usize = 4;
const FREED: usize = 64;
const CONSUMER_ASLEEP: usize = 68;

/// Bytes a message of `len` bytes takes in the ring.
pub(crate) fn record_len(len: usize) -> usize {
    RECORD_HEADER + len.next_multiple_of(8)
}

/// One lane of a region; keeps the region mapped.
#[derive(Debug)]
struct Lane {
    /// Keeps the mapping alive while `start` points into it.
    _region: Rc<Region>,
    start: NonNull<u8>,
    capacity: u32,
}

impl Lane {
    fn new(region: Rc<Region>, i: usize) -> Lane {
        Lane {
            start: region.lane(i),
            capacity: region.capacity(),
            _region: region,
        }
    }

    fn header_word(&self, offset: usize) -> &AtomicU32 {
        assert!(offset.is_multiple_of(4) && offset + 4 <= LANE_HEADER);
        // SAFETY: the word is inside this lane's header, inside the mapping that `self.region`
        // keeps alive for as long as the returned reference; it is 4-aligned (lanes start on
        // 64-byte boundaries); both processes access lane header words only atomically.
        unsafe { AtomicU32::from_ptr(self.start.as_ptr().add(offset).cast()) }
    }

    /// The length word of the record at data offset `at`.
    fn record_word(&self, at: u32) -> &AtomicU32 {
        assert!(at.is_multiple_of(8) && at < self.capacity);
        // SAFETY: `at + 4 <= capacity`, so the word is inside this lane's data, inside the
        // mapping kept alive by `self.region`; it is 8-aligned. While it holds a record length
        // it is accessed only atomically; the payload copies that may later reuse these bytes
        // happen after the consumer's atomic load (ordered by its Release of `freed` and the
        // producer's Acquire of it).
        unsafe { AtomicU32::from_ptr(self.data().add(at as usize).cast()) }
    }

    fn data(&self) -> *mut u8 {
        // SAFETY: the data follows the lane header inside the mapping.
        unsafe { self.start.as_ptr().add(LANE_HEADER) }
    }
}

/// The sending end of a lane.
#[derive(Debug)]
pub(crate) struct Producer {
    lane: Lane,
    /// Bytes written so far (wrapping): the next record goes at `written % capacity`.
    written: u32,
    /// Messages published so far (wrapping): the value of `seq`.
    published: u32,
}

impl Producer {
    pub(crate) fn new(region: Rc<Region>, i: usize) -> Producer {
        Producer {
            lane: Lane::new(region, i),
            written: 0,
            published: 0,
        }
    }

    /// Copy `msg` into the ring and publish it, first waiting for room if the ring is full.
    pub(crate) fn send(&mut self, msg: &[u8], waiter: &Waiter) -> Result {
        let len = u32::try_from(msg.len())
            .ok()
            .filter(|_| record_len(msg.len()) * 2 <= self.lane.capacity as usize)
            .ok_or_else(|| {
                Fail::new(format!(
                    "a {}-byte message does not fit a {}-byte shared ring",
                    msg.len(),
                    self.lane.capacity
                ))
            })?;
        self.put(len, msg, waiter)
    }

    /// Tell the consumer that nothing more will be sent.
    pub(crate) fn close(&mut self, waiter: &Waiter) -> Result {
        self.put(CLOSED, &[], waiter)
    }

    fn put(&mut self, word: u32, payload: &[u8], waiter: &Waiter) -> Result {
        let rec = record_len(payload.len()) as u32;
        let freed = waiter.until(
            self.lane.header_word(FREED),
            self.lane.header_word(PRODUCER_ASLEEP),
            |freed| self.skip(freed, rec).is_some(),
        )?;
        let skip = self.skip(freed, rec).expect("checked by the wait");
        if skip != 0 {
            let at = self.written & (self.lane.capacity - 1);
            self.lane.record_word(at).store(WRAP, Ordering::Relaxed);
            self.written = self.written.wrapping_add(skip);
        }
        let at = self.written & (self.lane.capacity - 1);
        // SAFETY: `skip` puts the record where `at + rec <= capacity`, inside this lane's data,
        // and those bytes are free: the consumer released them (we acquired `freed`) and will not
        // read them before we publish `seq` below. The source is a private slice: no overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                payload.as_ptr(),
                self.lane.data().add(at as usize + RECORD_HEADER),
                payload.len(),
            );
        }
        self.lane.record_word(at).store(word, Ordering::Relaxed);
        self.written = self.written.wrapping_add(rec);
        self.published = self.published.wrapping_add(1);
        let seq = self.lane.header_word(SEQ);
        seq.store(self.published, Ordering::Release);
        waiter.wake(seq, self.lane.header_word(CONSUMER_ASLEEP))
    }

    /// With `freed` bytes consumed, how many bytes to skip before a record of `rec` bytes (to
    /// restart at offset 0), or `None` if there is not room yet.
    fn skip(&self, freed: u32, rec: u32) -> Option<u32> {
        let capacity = self.lane.capacity;
        let used = self.written.wrapping_sub(freed);
        let at = self.written & (capacity - 1);
        let to_end = capacity - at;
        // Past the end, or an empty ring with room before `at`: restart at offset 0. (A record
        // that does not fit before the end fits once the ring is empty, since rec <= capacity / 2.)
        let skip = if at != 0 && (rec > to_end || (used == 0 && rec <= at)) {
            to_end
        } else {
            0
        };
        // Saturating: a `freed` past `written` is the other side's bug, not a reason to panic.
        (capacity.saturating_sub(used) >= skip + rec).then_some(skip)
    }
}

/// The receiving end of a lane.
#[derive(Debug)]
pub(crate) struct Consumer {
    lane: Lane,
    /// Bytes consumed so far (wrapping): the next record is at `read % capacity`.
    read: u32,
    /// Messages received so far (wrapping).
    received: u32,
}

impl Consumer {
    pub(crate) fn new(region: Rc<Region>, i: usize) -> Consumer {
        Consumer {
            lane: Lane::new(region, i),
            read: 0,
            received: 0,
        }
    }

    /// Wait for the next message and copy it to the start of `buf` (grown if needed; with
    /// `buf` `None`, let it go unread); its length, or `None` once the producer has closed the
    /// lane.
    pub(crate) fn recv(
        &mut self,
        buf: Option<&mut Vec<u8>>,
        waiter: &Waiter,
    ) -> Result<Option<usize>> {
        let received = self.received;
        waiter.until(
            self.lane.header_word(SEQ),
            self.lane.header_word(CONSUMER_ASLEEP),
            |seq| seq != received,
        )?;
        let capacity = self.lane.capacity;
        let mut at = self.read & (capacity - 1);
        let mut word = self.lane.record_word(at).load(Ordering::Relaxed);
        if word == WRAP && at != 0 {
            self.read = self.read.wrapping_add(capacity - at);
            at = 0;
            word = self.lane.record_word(at).load(Ordering::Relaxed);
        }
        if word == CLOSED {
            // Left in place: every later receive finds it too.
            return Ok(None);
        }
        let len = word as usize;
        let rec = record_len(len);
        if rec > (capacity - at) as usize {
            return Err(Fail::new(format!(
                "corrupt shared ring: a {len}-byte record at offset {at}"
            )));
        }
        if let Some(buf) = buf {
            if buf.len() < len {
                buf.resize(len, 0);
            }
            // SAFETY: `at + rec <= capacity` (checked above), so the source is inside this lane's
            // data; the producer wrote it before its Release of `seq`, which we acquired, and will
            // not touch it again until we release it below. The destination is our own buffer of
            // at least `len` bytes, which cannot overlap the mapping.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.lane.data().add(at as usize + RECORD_HEADER),
                    buf.as_mut_ptr(),
                    len,
                );
            }
        }
        self.read = self.read.wrapping_add(rec as u32);
        self.received = self.received.wrapping_add(1);
        let freed = self.lane.header_word(FREED);
        freed.store(self.read, Ordering::Release);
        waiter.wake(freed, self.lane.header_word(PRODUCER_ASLEEP))?;
        Ok(Some(len))
    }
}

#[cfg(test)]
mod tests {
    use super::record_len;

    #[test]
    fn records_are_8_aligned() {
        assert_eq!(record_len(0), 8);
        assert_eq!(record_len(1), 16);
        assert_eq!(record_len(8), 16);
        assert_eq!(record_len(64), 72);
    }
}
