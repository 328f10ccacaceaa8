//! The split in-place API (`Channel::reserve` / `SendSlot`, `Channel::recv_in_place` /
//! `RecvSlot`) over a Unix socket, TCP and shared memory (64 KiB rings, so one ring record
//! holds at most 32 KiB - 8 bytes).
//!
//! Unix only (Unix sockets, TCP, shared memory, the async API): Windows runs the named-pipe
//! tests (`scripts/windows-tests.sh`).

#![cfg(unix)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use libipc::{Channel, ErrorKind, Listener, Options};

mod common;
use common::watchdog;

const RING: usize = 64 * 1024;
/// Larger than one record of a 64 KiB ring: sent as fragments.
const LARGE: usize = 100_000;

fn unique() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "slots-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    )
}

/// A connected pair (client, server) on each transport.
fn pairs() -> Vec<(&'static str, Channel, Channel)> {
    let dir = std::env::temp_dir().join(unique());
    std::fs::create_dir_all(&dir).unwrap();
    let opts = Options::new().with_shm_ring_size(RING);
    let mut out = Vec::new();
    for (name, ep) in [
        ("unix", format!("unix://{}/s.sock", dir.display())),
        ("tcp", "tcp://127.0.0.1:0".to_owned()),
        ("shm", format!("shm://{}", unique())),
    ] {
        let l = Listener::bind_with(ep.as_str(), &opts).unwrap();
        let client = Channel::connect_with(l.local_endpoint().to_string().as_str(), &opts).unwrap();
        let server = l.accept().unwrap();
        out.push((name, client, server));
    }
    // The listeners are closed (their socket files removed); connected channels need no file.
    std::fs::remove_dir_all(&dir).unwrap();
    out
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn reserve_and_commit_deliver_and_recv_in_place_reads() {
    watchdog(|| {
        for (name, a, b) in pairs() {
            for len in [0, 1, 5, 1000, RING / 2 - 8] {
                let data = pattern(len, 7);
                let mut slot = a.reserve(len).unwrap();
                assert_eq!(slot.len(), len);
                assert_eq!(slot.is_empty(), len == 0);
                slot.fill(0xAA);
                slot.write_at(0, &data);
                slot.commit().unwrap();
                let got = b.recv_in_place().unwrap();
                assert_eq!(got.len(), len, "{name}");
                assert_eq!(got.to_vec(), data, "{name} {len}");
                if len > 1 {
                    let mut two = [0u8; 2];
                    got.read_at(len - 2, &mut two);
                    assert_eq!(two, data[len - 2..], "{name}");
                    assert_eq!(got.view().to_vec(), data, "{name}");
                }
            }
            // Writing through the raw pointer and the WriteBuf view.
            let mut slot = a.reserve(4).unwrap();
            // SAFETY: the slot is valid for writes of 4 bytes while it lives.
            unsafe { slot.as_mut_ptr().write(b'r') };
            slot.buf().write_at(1, b"aw!");
            slot.commit().unwrap();
            let got = b.recv_in_place().unwrap();
            let mut first = 0u8;
            // SAFETY: the slot is valid for reads of `len` (4) bytes while it lives.
            unsafe { std::ptr::copy_nonoverlapping(got.as_ptr(), &mut first, 1) };
            assert_eq!((first, got.to_vec()), (b'r', b"raw!".to_vec()), "{name}");
        }
    });
}

#[test]
fn dropping_a_send_slot_sends_nothing() {
    watchdog(|| {
        for (name, a, b) in pairs() {
            for len in [5, LARGE] {
                let mut slot = a.reserve(len).unwrap();
                slot.fill(b'x');
                drop(slot);
                a.send(b"after").unwrap();
                assert_eq!(&*b.recv().unwrap(), b"after", "{name} {len}");
                assert_eq!(
                    b.try_recv().unwrap_err().kind(),
                    ErrorKind::Timeout,
                    "{name}"
                );
            }
            // send_with and send_timeout work after an abort too.
            drop(a.reserve(8).unwrap());
            a.send_with(3, |w| w.write_at(0, b"abc")).unwrap();
            a.send_timeout(b"def", Duration::from_secs(60)).unwrap();
            assert_eq!(b.recv_with(|r| r.to_vec()).unwrap(), b"abc", "{name}");
            assert_eq!(&*b.recv().unwrap(), b"def", "{name}");
        }
    });
}

#[test]
fn dropping_a_recv_slot_releases_the_message() {
    watchdog(|| {
        for (name, a, b) in pairs() {
            a.send(b"first").unwrap();
            a.send(b"second").unwrap();
            let slot = b.recv_in_place().unwrap();
            assert_eq!(slot.to_vec(), b"first", "{name}");
            drop(slot);
            assert_eq!(&*b.recv().unwrap(), b"second", "{name}");
            // Many rings' worth through in-place receives: space must come back every time.
            let sender = {
                let a = a.clone();
                std::thread::spawn(move || {
                    for i in 0..2000u32 {
                        let mut slot = a.reserve(1000).unwrap();
                        slot.fill(i as u8);
                        slot.write_at(0, &i.to_le_bytes());
                        slot.commit().unwrap();
                    }
                })
            };
            for i in 0..2000u32 {
                let slot = b.recv_in_place().unwrap();
                let mut n = [0u8; 4];
                slot.read_at(0, &mut n);
                assert_eq!((u32::from_le_bytes(n), slot.len()), (i, 1000), "{name}");
            }
            sender.join().unwrap();
        }
    });
}

#[test]
fn messages_larger_than_a_ring_record_go_through_reserve() {
    watchdog(|| {
        for (name, a, b) in pairs() {
            let data = pattern(LARGE, 3);
            let reader = std::thread::spawn(move || {
                let slot = b.recv_in_place().unwrap();
                let got = slot.to_vec();
                drop(slot);
                (got, b.recv_in_place().unwrap().to_vec())
            });
            let mut slot = a.reserve(LARGE).unwrap();
            slot.write_at(0, &data);
            slot.commit().unwrap();
            let mut slot = a.reserve_timeout(LARGE, Duration::from_secs(60)).unwrap();
            slot.write_at(0, &data);
            slot.commit().unwrap();
            let (first, second) = reader.join().unwrap();
            assert!(first == data && second == data, "{name}");
        }
    });
}

#[test]
fn errors_and_timeouts() {
    watchdog(|| {
        for (name, a, b) in pairs() {
            // Too large: nothing reserved, the channel stays usable.
            let too_big = a.max_message_size() + 1;
            assert_eq!(
                a.reserve(too_big).unwrap_err().kind(),
                ErrorKind::MessageTooLarge,
                "{name}"
            );
            // Nothing to receive: Timeout, and nothing is lost afterwards.
            for timeout in [Duration::ZERO, Duration::from_millis(20)] {
                assert_eq!(
                    b.recv_in_place_timeout(timeout).unwrap_err().kind(),
                    ErrorKind::Timeout,
                    "{name}"
                );
            }
            let mut slot = a.reserve_timeout(2, Duration::from_secs(60)).unwrap();
            slot.write_at(0, b"ok");
            slot.commit().unwrap();
            let got = b
                .recv_in_place_timeout(Duration::from_secs(60))
                .unwrap()
                .to_vec();
            assert_eq!(got, b"ok", "{name}");
            // While a slot is held, a timed receive on the same channel times out.
            a.send(b"held").unwrap();
            let held = b.recv_in_place().unwrap();
            if name == "shm" {
                assert_eq!(
                    b.recv_timeout(Duration::from_millis(10))
                        .unwrap_err()
                        .kind(),
                    ErrorKind::Timeout
                );
            }
            assert_eq!(held.to_vec(), b"held");
            drop(held);
            // After close: Closed, on both kinds of slot.
            a.close();
            for len in [1, LARGE] {
                assert_eq!(
                    a.reserve(len).unwrap_err().kind(),
                    ErrorKind::Closed,
                    "{name}"
                );
            }
            assert_eq!(b.recv_in_place().unwrap_err().kind(), ErrorKind::Closed);
        }
    });
}

/// Over shared memory, `reserve_timeout` waits for room in the ring and times out (reserving
/// nothing) while the peer does not read; once it reads, reserving works again.
#[test]
fn reserve_timeout_when_the_ring_is_full() {
    watchdog(|| {
        let (_, a, b) = pairs().pop().unwrap();
        let mut sent = 0;
        while a.try_send(&[1; 1000]).is_ok() {
            sent += 1;
        }
        assert!(sent > 0);
        for timeout in [Duration::ZERO, Duration::from_millis(20)] {
            assert_eq!(
                a.reserve_timeout(1000, timeout).unwrap_err().kind(),
                ErrorKind::Timeout
            );
        }
        for _ in 0..sent {
            assert_eq!(b.recv_in_place().unwrap().len(), 1000);
        }
        let mut slot = a.reserve_timeout(3, Duration::from_secs(60)).unwrap();
        slot.write_at(0, b"end");
        slot.commit().unwrap();
        assert_eq!(&*b.recv().unwrap(), b"end");
        assert_eq!(b.try_recv().unwrap_err().kind(), ErrorKind::Timeout);
    });
}

/// A private-buffer commit (sockets, or a message larger than a ring record) that times out
/// sends nothing, and `try_commit` hands the slot back so the message is not lost.
#[test]
fn a_commit_that_times_out_keeps_the_message_with_try_commit() {
    watchdog(|| {
        // Not TCP: its send buffer grows and takes part of the message, which then counts as
        // sent (the rule of `send_timeout`), so "nothing sent" cannot be arranged there.
        for (name, a, b) in pairs().into_iter().filter(|(n, ..)| *n != "tcp") {
            // Fill the way completely: big messages, then 1-byte ones.
            let mut sent = vec![];
            for size in [1000, 1] {
                while a.try_send(&vec![1; size]).is_ok() {
                    sent.push(size);
                }
            }
            let mut slot = a.reserve_timeout(LARGE, Duration::from_millis(20)).unwrap();
            slot.write_at(0, b"kept");
            let (err, slot) = slot
                .try_commit()
                .err()
                .unwrap_or_else(|| panic!("{name}: the commit went through"));
            assert_eq!(err.kind(), ErrorKind::Timeout, "{name}");
            let slot = slot.unwrap_or_else(|| panic!("{name}: the slot must come back"));
            let reader = std::thread::spawn(move || {
                for size in sent {
                    assert_eq!(b.recv().unwrap().len(), size);
                }
                b.recv().unwrap()
            });
            let mut slot = Some(slot);
            // Retry until the reader has made room (each try waits at most 20 ms).
            while let Some(s) = slot.take() {
                if let Err((e, back)) = s.try_commit() {
                    assert_eq!(e.kind(), ErrorKind::Timeout, "{name}");
                    slot = back;
                    assert!(slot.is_some(), "{name}");
                }
            }
            let got = reader.join().unwrap();
            assert_eq!(got.len(), LARGE, "{name}");
            assert_eq!(&got[..4], b"kept", "{name}");
        }
    });
}

/// A timed send that found room for only part of a message counts it as sent and keeps the
/// rest; `flush_timeout` reports `Timeout` while some is queued and sees it out once the peer
/// reads, so the peer gets the whole message without another send.
#[test]
fn flush_timeout_sees_a_half_sent_message_out() {
    watchdog(|| {
        for (name, a, b) in pairs() {
            let big = vec![9u8; 4 << 20]; // more than any socket buffer or 64 KiB ring
            a.send_timeout(&big, Duration::from_millis(20)).unwrap();
            assert_eq!(
                a.flush_timeout(Duration::ZERO).unwrap_err().kind(),
                ErrorKind::Timeout,
                "{name}"
            );
            let reader = std::thread::spawn(move || b.recv().unwrap().len());
            a.flush_timeout(Duration::from_secs(60)).unwrap();
            a.flush_timeout(Duration::ZERO).unwrap();
            assert_eq!(reader.join().unwrap(), big.len(), "{name}");
        }
    });
}
