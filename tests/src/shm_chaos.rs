//! A peer that attacks a shared segment, and a victim that must survive it.
//!
//! [`scribble`] runs one hostile session on a raw connection (either side): it publishes valid
//! messages into its ring (so the victim receives a mix), and between them writes random or
//! crafted values over cursors, sleep flags, record headers and data of *both* rings and of the
//! segment header, rings the doorbells at random, and tries to resize the segment (which the
//! seals must refuse). Actions are paced (a few tens of microseconds apart on average), so the
//! doorbells ring now and then rather than in a storm (a storm is its own test).
//!
//! [`victim_session`] is what the victim does with a channel under attack: one thread sends
//! (`send_timeout`, `try_send`, `send_with`), another receives (`recv_timeout`,
//! `recv_with_timeout`, `try_recv`), until both end. The contents are unpredictable; what is
//! checked is that every call returns, and returns `Ok` or one of [`VICTIM_ENDS`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fastrand::Rng;
use libipc::wire::{FLAG_MORE, FrameHeader, FrameType};
use libipc::{Channel, ErrorKind, Listener, Options};

use crate::shm_raw::{Conn, READ, SLEEPING, WAITING, WRITE, max_record};

/// How a victim's channel may end under attack: the peer broke the layout, vanished, closed
/// (a CLOSE record is valid), or chained fragments past the message limit.
pub const VICTIM_ENDS: [ErrorKind; 4] = [
    ErrorKind::ProtocolViolation,
    ErrorKind::PeerDisconnected,
    ErrorKind::Closed,
    ErrorKind::MessageTooLarge,
];

/// How a victim's `connect` may fail against a hostile server.
pub const CONNECT_ENDS: [ErrorKind; 5] = [
    ErrorKind::ProtocolViolation,
    ErrorKind::ProtocolMismatch,
    ErrorKind::PeerDisconnected,
    ErrorKind::Timeout,
    ErrorKind::NotFound,
];

/// What one hostile session did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Scribbled {
    /// Valid messages published.
    pub published: u64,
    /// Hostile writes and bells.
    pub attacks: u64,
}

/// A random message size up to twice the ring, most of them small.
fn size(rng: &mut Rng, cap: u64) -> usize {
    let max = max_record(cap);
    match rng.u8(..20) {
        0..10 => rng.usize(..64),
        10..16 => rng.usize(64..4096),
        16..19 => rng.usize(4096..=max),
        _ => rng.usize(max + 1..=2 * cap as usize),
    }
}

/// Publish `msg` as libipc would, without waiting long: `false` if it did not fit (possibly
/// after some of its fragments went out, which a hostile peer may well do).
fn try_message(conn: &mut Conn, msg: &[u8]) -> bool {
    let max = max_record(conn.cap);
    let n = msg.len().div_ceil(max).max(1);
    for i in 0..n {
        let chunk = &msg[(i * max).min(msg.len())..((i + 1) * max).min(msg.len())];
        let header = FrameHeader {
            length: chunk.len() as u32,
            frame_type: FrameType::Data,
            flags: if i + 1 < n { FLAG_MORE } else { 0 },
        };
        let mut tries = 0;
        while !conn.try_publish(header.encode(), chunk) {
            tries += 1;
            if tries > 200 {
                return false;
            }
            std::thread::sleep(Duration::from_micros(10));
        }
    }
    true
}

/// A value for a cursor word: random, near the current one, a ring ahead, or misaligned.
fn cursor_value(rng: &mut Rng, cur: u64, cap: u64) -> u64 {
    match rng.u8(..6) {
        0 => rng.u64(..),
        1 => cur.wrapping_add(8 * rng.u64(1..64)),
        2 => cur.wrapping_sub(8 * rng.u64(1..64)),
        3 => cur.wrapping_add(cap + 8),
        4 => cur.wrapping_add(rng.u64(1..8)),
        _ => cur ^ (1 << rng.u32(..64)),
    }
}

/// A record header that is wrong (or just barely right) for position `p` of a ring.
fn crafted_header(rng: &mut Rng, p: u64, cap: u64) -> [u8; 8] {
    let max = max_record(cap) as u64;
    let len = match rng.u8(..10) {
        0 => 0,
        1 => rng.u64(1..64),
        2 => max,
        3 => max + 1,
        4 => (cap - p).saturating_sub(8),
        5 => cap - p,
        6 => cap,
        7 => u64::from(u32::MAX),
        _ => u64::from(rng.u32(..)),
    } as u32;
    let mut h = [0u8; 8];
    h[..4].copy_from_slice(&len.to_le_bytes());
    h[4] = [1, 1, 2, 5, 5, 3, 4, 0, 7][rng.usize(..9)];
    h[5] = if rng.u8(..4) == 0 { rng.u8(..4) } else { 0 };
    if rng.u8(..16) == 0 {
        h[6] = rng.u8(..);
    }
    h
}

fn random_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill(&mut v);
    v
}

/// One hostile action; `Err` if the segment could be resized.
fn attack(conn: &mut Conn, rng: &mut Rng) -> Result<(), String> {
    let cap = conn.cap;
    let ring = rng.usize(..2);
    match rng.u8(..10) {
        // A header word of either ring: atomically, or torn (a few of its bytes).
        0 | 1 => {
            let field = [WRITE, READ, SLEEPING, WAITING][rng.usize(..4)];
            let off = conn.word(ring, field);
            if field == SLEEPING || field == WAITING {
                conn.seg.store_u32(off, [0, 1, rng.u32(..)][rng.usize(..3)]);
            } else if rng.bool() {
                let v = cursor_value(rng, conn.seg.load_u64(off), cap);
                conn.seg.store_u64(off, v);
            } else {
                let n = rng.usize(1..8);
                conn.seg
                    .write(off + rng.usize(..=8 - n), &random_bytes(rng, n));
            }
        }
        // A crafted header where the victim reads next, sometimes published.
        2 | 3 => {
            let pos = conn.peer_read_cursor();
            let p = (pos % cap).min(cap - 8);
            let h = crafted_header(rng, p, cap);
            conn.seg.write(conn.data(conn.tx()) + p as usize, &h);
            let len = u64::from(u32::from_le_bytes(h[..4].try_into().expect("4 bytes")));
            match rng.u8(..4) {
                0 => conn.publish_cursor(pos + 8),
                1 => conn.publish_cursor(pos + 8 + crate::shm_raw::align8(len.min(cap))),
                2 => conn.publish_cursor(pos + 8 * rng.u64(..=cap / 8)),
                _ => {}
            }
        }
        // Random bytes anywhere: segment header, ring headers, data.
        4 => {
            let n = rng.usize(1..64);
            let off = rng.usize(..conn.seg.len() - n);
            conn.seg.write(off, &random_bytes(rng, n));
        }
        // Random bytes in a data area, near that ring's cursors.
        5 => {
            let cur = conn
                .seg
                .load_u64(conn.word(ring, [WRITE, READ][rng.usize(..2)]));
            let n = rng.usize(1..64);
            let p = ((cur % cap) as usize).min(cap as usize - n);
            conn.seg.write(conn.data(ring) + p, &random_bytes(rng, n));
        }
        // Doorbells.
        6 => {
            for _ in 0..rng.u8(1..4) {
                conn.ring_bell(ring, rng.bool());
            }
        }
        // Our consumer cursor: garbage.
        7 => {
            let v = cursor_value(rng, conn.read_cursor(), cap);
            conn.release_to(v);
        }
        // The seals must keep the segment's size.
        8 => {
            let size = conn.seg.len() as u64;
            for len in [size / 2, size + 4096, 0] {
                if rustix::fs::ftruncate(&conn.memfd, len).is_ok() {
                    return Err(format!("the segment could be resized to {len} bytes"));
                }
            }
        }
        // Let the victim catch up and go to sleep.
        _ => std::thread::sleep(Duration::from_micros(rng.u64(100..2000))),
    }
    Ok(())
}

/// One hostile session on `conn`, until its random number of actions is done or the victim
/// hangs up. See the module docs.
pub fn scribble(conn: &mut Conn, rng: &mut Rng) -> Result<Scribbled, String> {
    let mut done = Scribbled::default();
    let actions = rng.usize(50..3000);
    let calm = rng.usize(..300);
    let violence = [0, 1, 5, 20, 60][rng.usize(..5)];
    for i in 0..actions {
        if i % 16 == 0 && conn.ctrl_readable() {
            break;
        }
        if i >= calm && rng.u32(..100) < violence {
            attack(conn, rng)?;
            done.attacks += 1;
        } else {
            match rng.u8(..10) {
                0..7 => {
                    let n = size(rng, conn.cap);
                    let msg = random_bytes(rng, n);
                    if try_message(conn, &msg) {
                        done.published += 1;
                    }
                }
                7 | 8 => {
                    // Take whatever the victim sent, unread, so its sends go on.
                    let w = conn.peer_write_cursor();
                    conn.release_to(w);
                }
                _ => conn.ring_bell(conn.tx(), true),
            }
        }
        if rng.u8(..4) == 0 {
            std::thread::sleep(Duration::from_micros(rng.u64(10..300)));
        }
    }
    // End the session: hang up, close in order, or (so that every run shows some) break the
    // layout in a way no victim can miss.
    match rng.u8(..3) {
        0 => {
            let close = FrameHeader {
                length: 0,
                frame_type: FrameType::Close,
                flags: 0,
            };
            conn.try_publish(close.encode(), &[]);
        }
        1 => {
            conn.try_publish([0, 0, 0, 0, 0x07, 0, 0, 0], &[]);
            done.attacks += 1;
        }
        _ => {}
    }
    Ok(done)
}

/// What a victim saw.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Channels used.
    pub sessions: u64,
    /// Messages received.
    pub received: u64,
    /// Messages sent.
    pub sent: u64,
    /// How receives, sends and connects ended, by kind.
    pub ends: BTreeMap<String, u64>,
}

impl Tally {
    fn end(&mut self, what: &str, kind: ErrorKind) {
        *self
            .ends
            .entry(format!("{what}:{}", kind.name()))
            .or_default() += 1;
    }

    /// How many times `what` (`recv`, `send`, `connect`) ended with `kind`.
    pub fn ended(&self, what: &str, kind: ErrorKind) -> u64 {
        self.ends
            .get(&format!("{what}:{}", kind.name()))
            .copied()
            .unwrap_or(0)
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sessions={} received={} sent={} ends=",
            self.sessions, self.received, self.sent
        )?;
        let ends: Vec<String> = self.ends.iter().map(|(k, v)| format!("{k}={v}")).collect();
        write!(f, "{}", ends.join(","))
    }
}

const STEP: Duration = Duration::from_millis(5);

fn sender(
    ch: &Channel,
    max: usize,
    seed: u64,
    stop: &AtomicBool,
) -> Result<(u64, ErrorKind), String> {
    let mut rng = Rng::with_seed(seed);
    let pool = random_bytes(&mut rng, max + 1);
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) {
        let len = rng.usize(..=max);
        let r = match rng.u8(..4) {
            0 => ch.try_send(&pool[..len]),
            1 => ch.send_with(len.min(4096), |b| b.fill(0x5a)),
            _ => ch.send_timeout(&pool[..len], STEP),
        };
        match r {
            Ok(()) => sent += 1,
            Err(e) if e.kind() == ErrorKind::Timeout => {}
            Err(e) if VICTIM_ENDS.contains(&e.kind()) => return Ok((sent, e.kind())),
            Err(e) => return Err(format!("send: unexpected {e}")),
        }
    }
    Ok((sent, ErrorKind::Closed))
}

/// Use `ch` as a victim until both its halves have ended; see the module docs.
pub fn victim_session(
    ch: &Channel,
    max: usize,
    seed: u64,
    tally: &mut Tally,
) -> Result<(), String> {
    tally.sessions += 1;
    let stop = AtomicBool::new(false);
    let (sent, received) = std::thread::scope(|s| {
        let sending = s.spawn(|| sender(ch, max, seed, &stop));
        let mut rng = Rng::with_seed(seed ^ 0x5eed);
        let mut received = 0;
        let end = loop {
            let r = match rng.u8(..3) {
                0 => ch.recv_timeout(STEP).map(|m| m.len()),
                1 => ch.recv_with_timeout(STEP, |b| b.to_vec().len()),
                _ => ch.try_recv().map(|m| m.len()),
            };
            match r {
                Ok(_) => received += 1,
                Err(e) if e.kind() == ErrorKind::Timeout => {}
                Err(e) if VICTIM_ENDS.contains(&e.kind()) => break Ok(e.kind()),
                Err(e) => break Err(format!("recv: unexpected {e}")),
            }
            crate::watchdog::tick();
        };
        stop.store(true, Ordering::Relaxed);
        let sent = sending.join().expect("sender thread");
        (sent, end.map(|k| (received, k)))
    });
    let (sent, send_end) = sent?;
    let (received, recv_end) = received?;
    tally.sent += sent;
    tally.received += received;
    tally.end("send", send_end);
    tally.end("recv", recv_end);
    Ok(())
}

/// Accept channels on `listener` and be their victim until `stop` is set.
pub fn victim_listen(listener: &Listener, max: usize, stop: &AtomicBool) -> Result<Tally, String> {
    let mut tally = Tally::default();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept_timeout(Duration::from_millis(20)) {
            Ok(ch) => victim_session(&ch, max, tally.sessions, &mut tally)?,
            Err(e) if e.kind() == ErrorKind::Timeout => {}
            Err(e) => return Err(format!("accept: unexpected {e}")),
        }
    }
    Ok(tally)
}

/// Connect to `endpoint` again and again and be the victim of each channel, until `stop`.
pub fn victim_connect(
    endpoint: &str,
    opts: &Options,
    max: usize,
    stop: &AtomicBool,
) -> Result<Tally, String> {
    let mut tally = Tally::default();
    while !stop.load(Ordering::Relaxed) {
        match Channel::connect_with(endpoint, opts) {
            Ok(ch) => victim_session(&ch, max, tally.sessions, &mut tally)?,
            Err(e) if CONNECT_ENDS.contains(&e.kind()) => {
                tally.end("connect", e.kind());
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(format!("connect: unexpected {e}")),
        }
    }
    Ok(tally)
}
