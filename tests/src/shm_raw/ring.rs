//! Records in the rings, by hand: publishing (a PAD first where a record would pass the ring's
//! end) and taking, following the layout libipc documents; and raw access to the cursors for
//! tests that publish something inconsistent on purpose.
//!
//! Taking records trusts nothing but panics on anything malformed: the other side is libipc,
//! and what it publishes must follow the layout exactly.

use std::time::{Duration, Instant};

use libipc::wire::{FLAG_MORE, FrameHeader, FrameType, HEADER_LEN};
use rustix::event::{PollFd, PollFlags, Timespec};

use super::{Conn, READ, SLEEPING, WAITING, WRITE};

const H: u64 = HEADER_LEN as u64;
/// How long a raw side waits for room or data before the test is declared stuck.
const GUARD: Duration = Duration::from_secs(60);

/// `n` rounded up to a multiple of 8.
pub fn align8(n: u64) -> u64 {
    (n + 7) & !7
}

/// A record taken from a ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Cursor value at the record's header (after any PAD).
    pub at: u64,
    /// Bytes of PAD before it (0 if none).
    pub pad: u64,
    /// Its header.
    pub header: FrameHeader,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// What [`Conn::recv`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A whole message (fragments joined).
    Message(Vec<u8>),
    /// The peer's CLOSE record.
    Close,
}

impl Conn {
    /// Our producer cursor (not necessarily what shared memory says).
    pub fn write_cursor(&self) -> u64 {
        self.write
    }

    /// Set our producer cursor to `value`, publish it as it is and ring the data bell.
    pub fn publish_cursor(&mut self, value: u64) {
        self.write = value;
        self.seg.store_u64(self.word(self.tx(), WRITE), value);
        self.ring_bell(self.tx(), true);
    }

    /// Copy `bytes` into the ring we produce, at cursor value `at` (not past the ring's end).
    pub fn put_bytes(&self, at: u64, bytes: &[u8]) {
        let p = (at % self.cap) as usize;
        assert!(p + bytes.len() <= self.cap as usize, "put_bytes wraps");
        self.seg.write(self.data(self.tx()) + p, bytes);
    }

    /// The read cursor the consumer of our ring published.
    pub fn peer_read_cursor(&self) -> u64 {
        self.seg.load_u64(self.word(self.tx(), READ))
    }

    /// Publish one record: `header` as given, then `payload`, padded to 8 bytes, with a PAD
    /// first if it would not fit before the ring's end. `false` (nothing written) if the ring
    /// has no room now.
    pub fn try_publish(&mut self, header: [u8; 8], payload: &[u8]) -> bool {
        let rec = H + align8(payload.len() as u64);
        let p = self.write % self.cap;
        let tail = self.cap - p;
        let pad = if rec > tail { tail } else { 0 };
        let used = self.write.wrapping_sub(self.peer_read_cursor());
        if used > self.cap || self.cap - used < pad + rec {
            return false;
        }
        if pad > 0 {
            let pad_header = FrameHeader {
                length: (pad - H) as u32,
                frame_type: FrameType::Pad,
                flags: 0,
            };
            self.put_bytes(self.write, &pad_header.encode());
        }
        let at = self.write + pad;
        self.put_bytes(at, &header);
        self.put_bytes(at + H, payload);
        self.publish_cursor(at + rec);
        true
    }

    /// [`try_publish`](Self::try_publish), waiting (hang guard: 60 s) for room.
    pub fn publish(&mut self, header: [u8; 8], payload: &[u8]) {
        let end = Instant::now() + GUARD;
        while !self.try_publish(header, payload) {
            assert!(Instant::now() < end, "no room in the ring for {GUARD:?}");
            let (ring, flag) = (self.tx(), self.word(self.tx(), WAITING));
            self.wait(2 * ring + 1, flag);
        }
    }

    /// Publish one well-formed record.
    pub fn send_record(&mut self, frame_type: FrameType, flags: u8, payload: &[u8]) {
        let header = FrameHeader {
            length: payload.len() as u32,
            frame_type,
            flags,
        };
        self.publish(header.encode(), payload);
    }

    /// Publish a message the way libipc does: one record, or fragments of at most half the
    /// ring (minus the header) with the MORE flag on all but the last.
    pub fn send_message(&mut self, msg: &[u8]) {
        let max = super::max_record(self.cap);
        let mut chunks = msg.chunks(max).peekable();
        if msg.is_empty() {
            self.send_record(FrameType::Data, 0, &[]);
        }
        while let Some(c) = chunks.next() {
            let more = if chunks.peek().is_some() {
                FLAG_MORE
            } else {
                0
            };
            self.send_record(FrameType::Data, more, c);
        }
    }

    /// The next record the peer published in the ring we consume, if any. Panics on anything
    /// that breaks the documented layout.
    pub fn try_take(&mut self) -> Option<Record> {
        let ring = self.rx();
        let write = self.seg.load_u64(self.word(ring, WRITE));
        let avail = write.wrapping_sub(self.read);
        if avail == 0 {
            return None;
        }
        assert!(
            avail <= self.cap && avail.is_multiple_of(8),
            "inconsistent write cursor {write} (read {})",
            self.read
        );
        let mut pad = 0;
        loop {
            let p = ((self.read + pad) % self.cap) as usize;
            let mut h = [0u8; HEADER_LEN];
            self.seg.read(self.data(ring) + p, &mut h);
            let header = FrameHeader::decode(&h)
                .unwrap_or_else(|e| panic!("bad record header at {p}: {h:02x?}: {e}"));
            let len = u64::from(header.length);
            if header.frame_type == FrameType::Pad {
                assert_eq!(pad, 0, "two PADs in a row");
                assert_eq!(
                    p as u64 + H + len,
                    self.cap,
                    "PAD must reach the ring's end"
                );
                pad = self.cap - p as u64;
                assert!(pad < avail, "a PAD without a record after it");
                continue;
            }
            let size = H + align8(len);
            assert!(
                p as u64 + size <= self.cap && pad + size <= avail,
                "record of {len} bytes at {p} runs past the end or the published data"
            );
            let mut payload = vec![0u8; len as usize];
            self.seg
                .read(self.data(ring) + p + HEADER_LEN, &mut payload);
            let at = self.read + pad;
            self.release_to(self.read + pad + size);
            return Some(Record {
                at,
                pad,
                header,
                payload,
            });
        }
    }

    /// The next record, waiting for it (hang guard: 60 s).
    pub fn take(&mut self) -> Record {
        let end = Instant::now() + GUARD;
        loop {
            if let Some(r) = self.try_take() {
                return r;
            }
            assert!(Instant::now() < end, "no record arrived for {GUARD:?}");
            let (ring, flag) = (self.rx(), self.word(self.rx(), SLEEPING));
            self.wait(2 * ring, flag);
        }
    }

    /// The next whole message (fragments joined), or the peer's CLOSE.
    pub fn recv(&mut self) -> Received {
        let mut joined = Vec::new();
        loop {
            let r = self.take();
            match r.header.frame_type {
                FrameType::Close => {
                    assert!(joined.is_empty(), "CLOSE between fragments");
                    return Received::Close;
                }
                FrameType::Data => {
                    joined.extend_from_slice(&r.payload);
                    if r.header.flags & FLAG_MORE == 0 {
                        return Received::Message(joined);
                    }
                }
                other => panic!("{other:?} record in a ring"),
            }
        }
    }

    /// Our consumer cursor.
    pub fn read_cursor(&self) -> u64 {
        self.read
    }

    /// The write cursor the producer of the ring we consume published.
    pub fn peer_write_cursor(&self) -> u64 {
        self.seg.load_u64(self.word(self.rx(), WRITE))
    }

    /// Set our consumer cursor to `value`, publish it as it is and ring the space bell.
    pub fn release_to(&mut self, value: u64) {
        self.read = value;
        self.seg.store_u64(self.word(self.rx(), READ), value);
        self.ring_bell(self.rx(), false);
    }

    /// Say we sleep (flag at `flag`), then wait up to 20 ms for bell `bell` and clear the flag.
    fn wait(&self, bell: usize, flag: usize) {
        self.seg.store_u32(flag, 1);
        let mut fds = [PollFd::new(&self.bells[bell], PollFlags::IN)];
        let t = Timespec {
            tv_sec: 0,
            tv_nsec: 20_000_000,
        };
        if rustix::event::poll(&mut fds, Some(&t)).unwrap_or(0) > 0 {
            let mut b = [0u8; 8];
            let _ = rustix::io::read(&self.bells[bell], &mut b);
        }
        self.seg.store_u32(flag, 0);
    }
}
