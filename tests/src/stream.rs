//! Checksummed message streams, identical in the test process and in `ipc-test-peer`.
//!
//! A stream is defined by a seed: message `seq` has the size [`Schedule`] draws for it, and
//! its bytes are `seq: u64 LE | crc32: u32 LE | body`, the CRC covering the sequence number
//! and the body. Messages shorter than 12 bytes are that header for an empty body, cut short.
//! The receiver replays the same schedule, so it checks the size of every message, its
//! sequence number (nothing lost, duplicated or reordered) and its checksum (nothing altered).

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use libipc::ErrorKind;

use crate::api::MessageChannel;

use crate::watchdog;

/// Largest message in the volume test: 1 MiB.
pub const MIB: usize = 1 << 20;
/// Bytes of sequence number and checksum at the front of each message.
const TAG: usize = 12;
/// Sent after the last message of a stream when end markers are on.
pub const END: &[u8] = b"\0libipc end of stream\0";
/// Sizes every schedule contains explicitly (clamped to its maximum): the first messages of a
/// stream, and again every 1,000 messages.
const EDGES: [usize; 10] = [0, 1, MIB, 11, 12, 13, 0, 65_535, 65_536, 65_537];

/// Random bytes message bodies are cut from (so producing a message costs one copy).
static POOL: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut rng = fastrand::Rng::with_seed(0x11bc_c0de);
    (0..2 * MIB + 4096).map(|_| rng.u8(..)).collect()
});

/// The sizes of a stream's messages: the edge sizes, then a log-uniform draw from
/// `0..=max` (as many messages of 1–10 bytes as of 100–1,000 or 100 K–1 M), so a stream
/// exercises every size class while its volume stays moderate (about 75 KB per message on
/// average for a 1 MiB maximum).
#[derive(Debug, Clone)]
pub struct Schedule {
    rng: fastrand::Rng,
    max: usize,
    seq: u64,
}

impl Schedule {
    /// The schedule for `seed`, with messages up to `max` bytes.
    pub fn new(seed: u64, max: usize) -> Schedule {
        Schedule {
            rng: fastrand::Rng::with_seed(seed),
            max,
            seq: 0,
        }
    }
}

impl Iterator for Schedule {
    /// `(sequence number, size)`.
    type Item = (u64, usize);
    fn next(&mut self) -> Option<(u64, usize)> {
        let seq = self.seq;
        self.seq += 1;
        let edges = EDGES.len() as u64;
        let size = if seq < edges {
            EDGES[seq as usize].min(self.max)
        } else if seq.is_multiple_of(1000) {
            EDGES[(seq / 1000 % edges) as usize].min(self.max)
        } else {
            let x = (self.rng.f64() * ((self.max + 1) as f64).ln()).exp();
            (x as usize).saturating_sub(1).min(self.max)
        };
        Some((seq, size))
    }
}

/// Write message `seq` of `len` bytes into `out` (replacing its contents).
pub fn encode(seq: u64, len: usize, out: &mut Vec<u8>) {
    out.clear();
    let body = body(seq, len);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq.to_le_bytes());
    crc.update(body);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(body);
    out.truncate(len);
}

fn body(seq: u64, len: usize) -> &'static [u8] {
    let n = len.saturating_sub(TAG);
    let start = (seq as usize).wrapping_mul(4099) % (POOL.len() - n).max(1);
    &POOL[start..start + n]
}

/// Check that `msg` is message `seq` of `len` bytes; describe the difference if not.
pub fn verify(seq: u64, len: usize, msg: &[u8]) -> Result<(), String> {
    let claimed = (msg.len() >= 8).then(|| u64::from_le_bytes(msg[..8].try_into().unwrap()));
    if msg.len() != len {
        return Err(format!(
            "message {seq}: expected {len} bytes, got {} (its sequence field says {claimed:?})",
            msg.len()
        ));
    }
    if len < TAG {
        let mut want = Vec::new();
        encode(seq, len, &mut want);
        return (msg == want)
            .then_some(())
            .ok_or_else(|| format!("message {seq} ({len} bytes): wrong bytes {msg:02x?}"));
    }
    if claimed != Some(seq) {
        return Err(format!("expected message {seq}, got message {claimed:?}"));
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&msg[..8]);
    crc.update(&msg[TAG..]);
    let stored = u32::from_le_bytes(msg[8..TAG].try_into().unwrap());
    if crc.finalize() != stored {
        return Err(format!("message {seq} ({len} bytes): checksum mismatch"));
    }
    Ok(())
}

/// How many messages to send or receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Exactly this many.
    N(u64),
    /// Sending: until sending fails. Receiving: until the stream ends.
    Forever,
}

impl std::str::FromStr for Count {
    type Err = String;
    fn from_str(s: &str) -> Result<Count, String> {
        match s {
            "forever" | "all" => Ok(Count::Forever),
            n => n
                .parse()
                .map(Count::N)
                .map_err(|e| format!("count {n:?}: {e}")),
        }
    }
}

/// What one side of a stream exchange does. Sending and receiving run at the same time on
/// two threads.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Messages to send.
    pub send: Count,
    /// Messages to receive.
    pub recv: Count,
    /// Schedule of what this side sends.
    pub send_seed: u64,
    /// Schedule of what this side expects to receive (the peer's `send_seed`).
    pub recv_seed: u64,
    /// Largest message size of both schedules.
    pub max_size: usize,
    /// Send [`END`] after the last message, and expect it after the last one received.
    pub end_marker: bool,
    /// After receiving, call `recv` once more and record how the stream ended (any message
    /// arriving instead is a failure: it would be a duplicate or an extra).
    pub then_end: bool,
    /// Close the channel when both halves are done.
    pub close: bool,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            send: Count::N(0),
            recv: Count::N(0),
            send_seed: 1,
            recv_seed: 2,
            max_size: MIB,
            end_marker: false,
            then_end: false,
            close: false,
        }
    }
}

/// Live counters of a running exchange.
#[derive(Debug, Default)]
pub struct Progress {
    /// Messages sent so far.
    pub sent: AtomicU64,
    /// Messages received and verified so far.
    pub received: AtomicU64,
}

/// The outcome of one side of an exchange. Its `Display` form is what the peer prints after
/// `done`, so tests compare whole lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Messages sent (not counting the end marker).
    pub sent: u64,
    /// Messages received and verified (not counting the end marker).
    pub received: u64,
    /// The error that stopped sending, if any.
    pub send_end: Option<ErrorKind>,
    /// The error that ended receiving, if any.
    pub recv_end: Option<ErrorKind>,
    /// The first verification failure, if any.
    pub bad: Option<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = |k: Option<ErrorKind>| k.map_or("-", ErrorKind::name);
        write!(
            f,
            "sent={} received={} send_end={} recv_end={}",
            self.sent,
            self.received,
            kind(self.send_end),
            kind(self.recv_end)
        )?;
        if let Some(bad) = &self.bad {
            write!(f, " BAD {bad}")?;
        }
        Ok(())
    }
}

/// Run one side of an exchange on `ch`: a sender thread and a receiver thread.
pub fn run<C: MessageChannel>(ch: &C, spec: &Spec, progress: &Progress) -> Report {
    let (send_result, recv_result) = std::thread::scope(|s| {
        let sender = s.spawn(|| send_half(ch, spec, progress));
        let received = recv_half(ch, spec, progress);
        if received.2.is_some() {
            // A verification failure: stop the peer rather than leave it blocked.
            ch.close_channel();
        }
        (sender.join().expect("sender thread"), received)
    });
    if spec.close {
        ch.close_channel();
    }
    let (received, recv_end, bad) = recv_result;
    Report {
        sent: send_result.0,
        received,
        send_end: send_result.1,
        recv_end,
        bad,
    }
}

fn send_half<C: MessageChannel>(
    ch: &C,
    spec: &Spec,
    progress: &Progress,
) -> (u64, Option<ErrorKind>) {
    let mut buf = Vec::with_capacity(spec.max_size);
    let limit = match spec.send {
        Count::N(n) => n,
        Count::Forever => u64::MAX,
    };
    let mut sent = 0;
    for (seq, len) in Schedule::new(spec.send_seed, spec.max_size).take(limit as usize) {
        encode(seq, len, &mut buf);
        if let Err(e) = ch.send_msg(&buf) {
            return (sent, Some(e.kind()));
        }
        sent += 1;
        progress.sent.fetch_add(1, Ordering::Relaxed);
        watchdog::tick();
    }
    if spec.end_marker
        && let Err(e) = ch.send_msg(END)
    {
        return (sent, Some(e.kind()));
    }
    (sent, None)
}

fn recv_half<C: MessageChannel>(
    ch: &C,
    spec: &Spec,
    progress: &Progress,
) -> (u64, Option<ErrorKind>, Option<String>) {
    let limit = match spec.recv {
        Count::N(n) => n,
        Count::Forever => u64::MAX,
    };
    let mut received = 0;
    for (seq, len) in Schedule::new(spec.recv_seed, spec.max_size).take(limit as usize) {
        match ch.recv_msg() {
            Ok(msg) => {
                if let Err(bad) = verify(seq, len, &msg) {
                    return (received, None, Some(bad));
                }
            }
            Err(e) if spec.recv == Count::Forever => return (received, Some(e.kind()), None),
            Err(e) => {
                let bad = format!("receiving message {seq}: {e}");
                return (received, Some(e.kind()), Some(bad));
            }
        }
        received += 1;
        progress.received.fetch_add(1, Ordering::Relaxed);
        watchdog::tick();
    }
    if spec.end_marker {
        match ch.recv_msg() {
            Ok(m) if &*m == END => {}
            Ok(m) => {
                let bad = format!("expected the end marker, got {} bytes", m.len());
                return (received, None, Some(bad));
            }
            Err(e) => {
                return (
                    received,
                    Some(e.kind()),
                    Some(format!("no end marker: {e}")),
                );
            }
        }
    }
    if spec.then_end {
        return match ch.recv_msg() {
            Ok(m) => {
                let bad = format!("a message of {} bytes after the last one", m.len());
                (received, None, Some(bad))
            }
            Err(e) => (received, Some(e.kind()), None),
        };
    }
    (received, None, None)
}

/// A message of client `id`, number `seq`, for the many-clients test: `id | seq | filler`,
/// the filler's length and bytes derived from both.
pub fn tagged(id: u32, seq: u32) -> Vec<u8> {
    let len = (id as usize * 131 + seq as usize * 31) % 3000;
    let mut m = Vec::with_capacity(8 + len);
    m.extend_from_slice(&id.to_le_bytes());
    m.extend_from_slice(&seq.to_le_bytes());
    m.extend((0..len).map(|i| (i as u32 ^ id.wrapping_mul(7) ^ seq) as u8));
    m
}

/// The `(id, seq)` of a [`tagged`] message, if it is one, intact.
pub fn untag(msg: &[u8]) -> Option<(u32, u32)> {
    let id = u32::from_le_bytes(msg.get(..4)?.try_into().ok()?);
    let seq = u32::from_le_bytes(msg.get(4..8)?.try_into().ok()?);
    (tagged(id, seq) == msg).then_some((id, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_verifies_and_differs_from_its_neighbours() {
        let mut buf = Vec::new();
        let sched: Vec<_> = Schedule::new(7, MIB).take(3000).collect();
        assert!(sched.iter().any(|&(_, l)| l == 0));
        assert!(sched.iter().any(|&(_, l)| l == 1));
        assert!(sched.iter().any(|&(_, l)| l == MIB));
        for &(seq, len) in &sched {
            encode(seq, len, &mut buf);
            assert_eq!(buf.len(), len);
            verify(seq, len, &buf).unwrap();
            if len >= TAG {
                assert!(verify(seq + 1, len, &buf).is_err());
                let mut bad = buf.clone();
                bad[len - 1] ^= 1;
                assert!(verify(seq, len, &bad).is_err());
            }
        }
        assert!(verify(5, 3, &[1, 2]).is_err());
    }

    #[test]
    fn tagged_round_trips() {
        let m = tagged(17, 999);
        assert_eq!(untag(&m), Some((17, 999)));
        let mut bad = m.clone();
        *bad.last_mut().unwrap() ^= 0xff;
        assert_eq!(untag(&bad), None);
    }
}
