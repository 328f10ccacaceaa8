//! Publish/subscribe across processes: a publisher in this process, subscribers in
//! `ipc-test-peer subscribe` processes (each checks that every message it gets carries the
//! index its sequence number says, so a gap is exactly a reported drop). 16 subscribers ×
//! 100,000 messages with the blocking policy (all of them, in order) and with drop-oldest
//! (what arrives, plus what was reported dropped, is everything); subscribers killed and
//! restarted mid-stream; a publisher process killed; hostile bytes both ways.
//!
//! Unix only (raw publishers); Windows runs the core's publish/subscribe test over named pipes.

#![cfg(unix)]

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use libipc::Options;
use libipc::pubsub::{Policy, Publisher, Subscriber};
use libipc::wire::{
    CAP_PUBSUB, FrameType, HELLO_LEN_V1, Hello, PubSubFrame, PubSubRole, decode_pubsub,
    encode_subscribe, encode_subscribed, message_envelope,
};
use libipc::{ErrorKind, Wait};
use libipc_conformance::peer::Peer;
use libipc_conformance::raw::{self, RawListener};
use libipc_conformance::shm_raw;
use libipc_conformance::transport::{Site, TempDir, Transport};
use libipc_conformance::watchdog::{Watchdog, tick};
use libipc_conformance::{peer, transport_tests};
use memmap2::MmapOptions;

transport_tests!(
    sixteen_subscriber_processes_get_every_message_in_order,
    drop_oldest_reports_every_missing_message,
    killed_subscribers_hold_back_nothing_and_new_ones_join;
    sockets_only:
    hostile_subscribers_get_error_9,
);

const MESSAGES: u64 = 100_000;

fn payload(index: u64, size: usize) -> Vec<u8> {
    let mut v = index.to_le_bytes().to_vec();
    v.resize(size.max(8), (index % 251) as u8);
    v
}

/// A subscriber's summary line: received, dropped, first, last, end.
#[derive(Debug, PartialEq, Eq)]
struct Done {
    received: u64,
    dropped: u64,
    first: i64,
    last: i64,
    end: String,
}

fn done(p: Peer) -> Done {
    let lines = p.finish_ok();
    let line = lines
        .iter()
        .find(|l| l.starts_with("done "))
        .unwrap_or_else(|| panic!("no summary in {lines:?}"));
    let w: Vec<&str> = line.split_whitespace().collect();
    Done {
        received: w[2].parse().unwrap(),
        dropped: w[4].parse().unwrap(),
        first: w[6].parse().unwrap(),
        last: w[8].parse().unwrap(),
        end: w[10].to_owned(),
    }
}

fn subscriber(site: &Site, extra: &[&str]) -> Peer {
    let mut p = peer!("subscribe", site.there())
        .args(extra)
        .site(site)
        .spawn();
    p.expect("ready");
    p
}

fn bind(t: Transport, policy: Policy) -> (Site, Publisher) {
    let mut site = t.site();
    let p = Publisher::bind_with(site.here(), &Options::new(), policy).unwrap();
    site.bound(p.local_endpoint());
    (site, p)
}

/// 16 subscriber processes, 100,000 messages of 8 to 200 bytes, the publisher blocking for full
/// subscribers: every subscriber receives every message, in order, none dropped.
fn sixteen_subscriber_processes_get_every_message_in_order(t: Transport) {
    let (site, p) = bind(t, Policy::block(Duration::from_secs(60), 256));
    let subs: Vec<Peer> = (0..16).map(|_| subscriber(&site, &[])).collect();
    p.wait_for_subscribers(16, Wait::forever()).unwrap();
    for i in 0..MESSAGES {
        assert_eq!(
            p.publish(b"", &payload(i, 8 + (i as usize % 193))).unwrap(),
            16
        );
        if i % 1000 == 0 {
            tick();
        }
    }
    p.close();
    for s in subs {
        let d = done(s);
        assert_eq!(
            d,
            Done {
                received: MESSAGES,
                dropped: 0,
                first: 0,
                last: MESSAGES as i64 - 1,
                end: "Closed".into()
            }
        );
    }
    let st = p.stats();
    assert_eq!((st.published, st.dropped, st.cut_off), (MESSAGES, 0, 0));
}

/// 16 subscriber processes, half of them slow, drop-oldest with 64 queued: each receives the
/// last message, and what it received plus what it was told it missed is all 100,000; the
/// publisher's count of drops is the sum of the subscribers'.
fn drop_oldest_reports_every_missing_message(t: Transport) {
    let (site, p) = bind(t, Policy::drop_oldest(64));
    let subs: Vec<Peer> = (0..16)
        .map(|i| {
            subscriber(
                &site,
                if i % 2 == 0 {
                    &["--slow-us", "20"]
                } else {
                    &[]
                },
            )
        })
        .collect();
    p.wait_for_subscribers(16, Wait::forever()).unwrap();
    for i in 0..MESSAGES {
        p.publish(b"", &payload(i, 1024)).unwrap();
        if i % 1000 == 0 {
            tick();
        }
    }
    p.close();
    let mut dropped = 0;
    for s in subs {
        let d = done(s);
        assert_eq!(d.received + d.dropped, MESSAGES, "{d:?}");
        assert_eq!(
            (d.first, d.last, d.end.as_str()),
            (0, MESSAGES as i64 - 1, "Closed")
        );
        dropped += d.dropped;
    }
    assert_eq!(p.stats().dropped, dropped);
}

/// 8 subscribers while the publisher streams: 4 are killed mid-stream, 4 new ones start; the
/// publisher (blocking policy) goes on without waiting for the dead, the survivors get
/// everything, the newcomers get everything from the moment they joined, in order.
fn killed_subscribers_hold_back_nothing_and_new_ones_join(t: Transport) {
    let (site, p) = bind(t, Policy::block(Duration::from_secs(60), 64));
    let mut subs: Vec<Peer> = (0..8).map(|_| subscriber(&site, &[])).collect();
    p.wait_for_subscribers(8, Wait::forever()).unwrap();
    let total = 40_000u64;
    let mut newcomers = Vec::new();
    for i in 0..total {
        p.publish(b"", &payload(i, 256)).unwrap();
        if i == 10_000 {
            for s in subs.iter_mut().take(4) {
                s.kill();
            }
        }
        if i == 20_000 {
            newcomers = (0..4).map(|_| subscriber(&site, &[])).collect();
        }
        if i % 1000 == 0 {
            tick();
        }
    }
    p.close();
    for s in subs.drain(4..) {
        let d = done(s);
        assert_eq!((d.received, d.dropped, d.first), (total, 0, 0), "{d:?}");
    }
    for s in newcomers {
        let d = done(s);
        assert!(d.first > 20_000 && d.first < total as i64, "{d:?}");
        assert_eq!(d.received, total - d.first as u64, "{d:?}");
        assert_eq!((d.dropped, d.last), (0, total as i64 - 1));
    }
    let st = p.stats();
    assert_eq!((st.dropped, st.cut_off, st.subscribers), (0, 0, 0));
}

/// A publisher process killed mid-stream: its subscribers end with `PeerDisconnected`, after
/// an unbroken run of messages.
#[test]
fn a_killed_publisher_ends_its_subscriptions() {
    let _w = Watchdog::start();
    let mut site = Transport::Unix.site();
    let mut publisher = peer!("publish", site.there())
        .args([
            "--subscribers",
            "2",
            "--count",
            "100000000",
            "--block-ms",
            "60000",
        ])
        .listening(&mut site);
    let subs: Vec<Subscriber> = (0..2)
        .map(|_| Subscriber::connect(site.here()).unwrap())
        .collect();
    for s in &subs {
        for i in 0..1000u64 {
            let d = s.recv().unwrap();
            assert_eq!(d.seq(), i);
        }
    }
    publisher.kill();
    for s in subs {
        let e = loop {
            match s.recv() {
                Ok(d) => assert_eq!(d.dropped(), 0),
                Err(e) => break e,
            }
        };
        assert_eq!(e.kind(), ErrorKind::PeerDisconnected, "{e}");
    }
}

#[derive(serde::Deserialize)]
struct Vectors {
    vectors: Vec<Vector>,
}

#[derive(serde::Deserialize)]
struct Vector {
    name: String,
    hex: String,
    decoded_by: String,
    valid: bool,
}

fn vectors() -> Vec<Vector> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/pubsub.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str::<Vectors>(&text).unwrap().vectors
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn pubsub_hello(max: u32) -> [u8; 24] {
    let mut h = raw::hello(max);
    h[8..12].copy_from_slice(&CAP_PUBSUB.to_le_bytes());
    h
}

/// Every malformed message a publisher may receive (the invalid `"publisher"` vectors of
/// `tests/vectors/pubsub.json`) as a raw subscriber's first message, and a second SUBSCRIBE
/// after a good one: the publisher answers ERROR 9 and hangs up, and goes on serving the
/// subscriber process that is there all along. A raw client without `CAP_PUBSUB` is refused
/// with status 8.
fn hostile_subscribers_get_error_9(t: Transport) {
    let (site, p) = bind(t, Policy::block(Duration::from_secs(60), 64));
    let good = subscriber(&site, &[]);
    let connect = || raw::connect(site.here()).unwrap();
    let mut plain = connect();
    plain.put(&raw::hello(1 << 20));
    assert_eq!(
        plain.read_hello().status,
        ErrorKind::ProtocolMismatch.code()
    );
    assert_eq!(
        plain.read_error_frame().code,
        ErrorKind::ProtocolMismatch.code()
    );
    plain.assert_closed();

    let mut cases: Vec<(String, Vec<u8>, bool)> = vectors()
        .into_iter()
        .filter(|v| !v.valid && v.decoded_by == "publisher")
        .map(|v| (v.name, unhex(&v.hex), false))
        .collect();
    assert!(cases.len() >= 6);
    cases.push((
        "a second SUBSCRIBE".into(),
        encode_subscribe::<&[u8]>(&[]),
        true,
    ));
    for (i, (name, bytes, after_good)) in cases.into_iter().enumerate() {
        let mut s = connect();
        s.put(&pubsub_hello(1 << 20));
        let hello = s.read_hello();
        assert_eq!(
            (hello.status, hello.capabilities & CAP_PUBSUB),
            (0, CAP_PUBSUB)
        );
        if after_good {
            s.put(&raw::data_frame(&encode_subscribe(&[b"raw/"])));
            let m = s.read_data();
            assert_eq!(
                decode_pubsub(&m, PubSubRole::Subscriber).unwrap(),
                PubSubFrame::Subscribed { first_seq: 0 }
            );
        }
        s.put(&raw::data_frame(&bytes));
        let (header, _) = s.read_frame();
        assert_eq!(header.frame_type, FrameType::Error, "{name}");
        s.assert_closed();
        p.publish(b"", &payload(i as u64, 16)).unwrap();
    }
    p.close();
    let d = done(good);
    assert_eq!((d.dropped, d.first, d.end.as_str()), (0, 0, "Closed"));
    assert!(d.received >= 7);
}

/// A raw publisher in this process answering a libipc subscriber's SUBSCRIBE with `then`.
fn raw_publisher(then: Vec<Vec<u8>>) -> (TempDir, String, std::thread::JoinHandle<raw::RawStream>) {
    let dir = TempDir::new("pubsub-raw");
    let ep = format!("unix://{}/raw.sock", dir.path().display());
    let (listener, ep) = RawListener::bind(&ep).unwrap();
    let t = std::thread::spawn(move || {
        let mut s = listener.accept().unwrap();
        let _client_hello = s.read_n(HELLO_LEN_V1.into());
        let mut h = Hello::new(1 << 20, 0);
        h.capabilities = CAP_PUBSUB;
        s.put(&h.encode());
        let sub = s.read_data();
        assert!(matches!(
            decode_pubsub(&sub, PubSubRole::Publisher),
            Ok(PubSubFrame::Subscribe(_))
        ));
        for m in then {
            s.put(&raw::data_frame(&m));
        }
        s
    });
    (dir, ep, t)
}

/// Every malformed message a subscriber may receive (the invalid `"subscriber"` vectors), a
/// MESSAGE numbered lower than the last, a second SUBSCRIBED, and a topic outside the
/// subscriber's prefixes: the receive fails with `ProtocolViolation` and the publisher gets
/// ERROR 9. A gap in the numbers is a reported drop.
#[test]
fn hostile_publishers_fail_the_subscriber() {
    let _w = Watchdog::start();
    let msg = |seq: u64, topic: &[u8], body: &[u8]| {
        let mut m = message_envelope(seq, topic.len()).to_vec();
        m.extend_from_slice(topic);
        m.extend_from_slice(body);
        m
    };
    let mut cases: Vec<(String, Vec<u8>)> = vectors()
        .into_iter()
        .filter(|v| !v.valid && v.decoded_by == "subscriber")
        .map(|v| (v.name, unhex(&v.hex)))
        .collect();
    assert!(cases.len() >= 6);
    cases.push(("a number going back".into(), msg(4, b"t/", b"x")));
    cases.push(("a second SUBSCRIBED".into(), encode_subscribed(0).to_vec()));
    cases.push(("a topic not asked for".into(), msg(9, b"other", b"x")));
    for (name, bad) in cases {
        let (_dir, ep, t) = raw_publisher(vec![
            encode_subscribed(0).to_vec(),
            msg(5, b"t/1", b"first"),
            bad,
        ]);
        let s = Subscriber::connect_topics(ep.as_str(), &["t/"]).unwrap();
        let d = s.recv().unwrap();
        assert_eq!((d.seq(), d.dropped(), d.payload()), (5, 5, &b"first"[..]));
        let e = s.recv().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ProtocolViolation, "{name}: {e}");
        let mut raw = t.join().unwrap();
        let (header, _) = raw.read_frame();
        assert_eq!(header.frame_type, FrameType::Error, "{name}");
        raw.assert_closed();
    }
}

/// Over shared memory a subscriber maps the one fan-out segment read-only: a hostile one cannot
/// map it writable (not even reopened through `/proc`) nor write to it, and whatever it writes
/// into its own cursor page (garbage positions, sleep flag, loss count, its cut-off flag) and
/// however often it rings the doorbells, a subscriber process reading beside it receives every
/// message intact. Under the blocking policy the hostile one is cut off with `Lagged`.
#[test]
fn a_hostile_shm_subscriber_cannot_change_what_the_others_read() {
    let _w = Watchdog::start();
    for block in [true, false] {
        let policy = if block {
            Policy::block(Duration::from_millis(300), 64)
        } else {
            Policy::drop_oldest(64)
        };
        let (site, p) = bind(Transport::Shm, policy);
        let honest = subscriber(&site, &[]);
        let mut evil = shm_raw::connect_fanout(site.here()).unwrap();
        let size = 4096 + evil.cap() as usize;
        // The segment is read-only to us, however we try.
        let seg = File::from(evil.fds[0].try_clone().unwrap());
        assert!(
            MmapOptions::new().len(size).map_raw(&seg).is_err(),
            "the fan-out segment mapped writable"
        );
        assert!((&seg).write(b"x").is_err(), "wrote to the fan-out segment");
        let proc_path = format!("/proc/self/fd/{}", evil.fds[0].as_raw_fd());
        if let Ok(f) = OpenOptions::new().read(true).write(true).open(&proc_path) {
            assert!(
                MmapOptions::new().len(size).map_raw(&f).is_err(),
                "the reopened fan-out segment mapped writable"
            );
            assert!((&f).write(b"x").is_err(), "wrote to the reopened segment");
        }
        let ro = MmapOptions::new()
            .len(size)
            .map_raw_read_only(&seg)
            .unwrap();
        drop(ro);
        // Subscribe, then scribble over our own cursor page while the publisher streams.
        evil.send_message(&encode_subscribe::<&[u8]>(&[])).unwrap();
        let (h, body) = evil.read_frame().unwrap();
        assert_eq!(h.frame_type, FrameType::Data);
        assert!(matches!(
            decode_pubsub(&body, PubSubRole::Subscriber).unwrap(),
            PubSubFrame::Subscribed { .. }
        ));
        p.wait_for_subscribers(2, Wait::forever()).unwrap();
        let cursor = shm_raw::Segment::map(&evil.fds[1], 4096).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let scribbler = std::thread::spawn(move || {
            // Under the blocking policy only positions that stay behind (so it is cut off);
            // otherwise also ones far ahead.
            let garbage: &[u64] = if block {
                &[0, 7, 12_345, 1 << 20 | 3]
            } else {
                &[0, 7, u64::MAX, 1 << 40, 12_345]
            };
            let mut i = 0usize;
            while !stopping.load(Ordering::Relaxed) {
                cursor.store_u64(0, garbage[i % garbage.len()]);
                cursor.store_u32(64, u32::MAX);
                cursor.store_u32(128, 0);
                cursor.store_u64(192, u64::MAX);
                evil.ring(2);
                evil.ring(3);
                i += 1;
                std::thread::yield_now();
            }
            evil
        });
        let total = 20_000u64;
        for i in 0..total {
            p.publish(b"", &payload(i, 256)).unwrap();
            if i % 1000 == 0 {
                tick();
            }
        }
        stop.store(true, Ordering::Relaxed);
        let mut evil = scribbler.join().unwrap();
        let st = p.stats();
        p.close();
        let d = done(honest);
        assert_eq!(
            (d.first, d.last, d.end.as_str()),
            (0, total as i64 - 1, "Closed"),
            "{d:?}"
        );
        assert_eq!(d.received + d.dropped, total, "{d:?}");
        if block {
            assert_eq!(d.dropped, 0, "{d:?}");
            assert_eq!(st.cut_off, 1, "{st:?}");
            // Told on its control socket.
            let (h, body) = evil.read_frame().unwrap();
            assert_eq!(h.frame_type, FrameType::Error);
            let e = libipc::wire::ErrorPayload::decode(&body).unwrap();
            assert_eq!(e.code, ErrorKind::Lagged.code(), "{e:?}");
        }
        // A count it lies about is at most what was published.
        assert!(st.dropped <= 2 * st.published, "{st:?}");
    }
}
