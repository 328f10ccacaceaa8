//! Publish/subscribe (`libipc::pubsub`) within one process: fan-out on every transport, topic
//! prefixes, both overflow policies, departures, closing, limits and refusals. Across
//! processes: `tests/tests/pubsub.rs`.

#![cfg(unix)]

use std::sync::Arc;
use std::time::Duration;

use libipc::pubsub::{AsyncPublisher, AsyncSubscriber, Delivery, Policy, Publisher, Subscriber};
use libipc::rpc::Server;
use libipc::{Channel, ErrorKind, Listener, Options, Wait};

mod common;
use common::{private_dir, watchdog};

fn endpoints(tag: &str) -> (common::TempDir, Vec<String>) {
    let dir = private_dir(tag);
    let eps = vec![
        format!("unix://{}/ps.sock", dir.display()),
        "tcp://127.0.0.1:0".into(),
        format!(
            "shm://ps-{tag}-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ),
    ];
    (dir, eps)
}

fn payload(i: u64, len: usize) -> Vec<u8> {
    let mut v = i.to_le_bytes().to_vec();
    v.resize(len.max(8), (i % 251) as u8);
    v
}

fn index(d: &Delivery) -> u64 {
    u64::from_le_bytes(d.payload()[..8].try_into().unwrap())
}

fn wait_until(mut f: impl FnMut() -> bool) {
    while !f() {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn every_subscriber_gets_every_message_in_order_on_every_transport() {
    watchdog(|| {
        let (_dir, eps) = endpoints("fanout");
        for ep in eps {
            let p = Publisher::bind_with(
                ep.as_str(),
                &Options::new(),
                Policy::block(Duration::from_secs(30), 16),
            )
            .unwrap();
            let local = p.local_endpoint().to_string();
            let subs: Vec<Subscriber> = (0..4)
                .map(|_| Subscriber::connect(local.as_str()).unwrap())
                .collect();
            assert_eq!(p.subscribers(), 4, "{ep}");
            let readers: Vec<_> = subs
                .into_iter()
                .map(|s| {
                    std::thread::spawn(move || {
                        for i in 0..2000u64 {
                            let d = s.recv().unwrap();
                            assert_eq!((d.seq(), d.dropped(), index(&d)), (i, 0, i));
                            assert_eq!(d.topic(), format!("t/{}", i % 3).as_bytes());
                            assert_eq!(d.payload(), payload(i, (i as usize * 37) % 9000));
                        }
                        assert_eq!(s.recv().unwrap_err().kind(), ErrorKind::Closed);
                        s.dropped()
                    })
                })
                .collect();
            for i in 0..2000u64 {
                let n = p
                    .publish(
                        format!("t/{}", i % 3).as_bytes(),
                        &payload(i, (i as usize * 37) % 9000),
                    )
                    .unwrap();
                assert_eq!(n, 4);
            }
            p.close();
            for r in readers {
                assert_eq!(r.join().unwrap(), 0);
            }
            let st = p.stats();
            assert_eq!((st.published, st.dropped, st.cut_off), (2000, 0, 0));
        }
    });
}

#[test]
fn topic_prefixes_are_filtered_by_the_publisher() {
    watchdog(|| {
        let dir = private_dir("topics");
        let p = Publisher::bind(format!("unix://{}/t.sock", dir.display()).as_str()).unwrap();
        let ep = p.local_endpoint().to_string();
        let cams = Subscriber::connect_topics(ep.as_str(), &["cam/"]).unwrap();
        let mixed = Subscriber::connect_topics(ep.as_str(), &["log/", "cam/1"]).unwrap();
        let all = Subscriber::connect(ep.as_str()).unwrap();
        let everything = Subscriber::connect_topics(ep.as_str(), &[""]).unwrap();
        let topics = ["cam/0", "log/x", "cam/1", "cam", "other", "cam/12", "log/"];
        let mut want = [0usize; 4];
        for t in topics {
            let n = p.publish(t.as_bytes(), t.as_bytes()).unwrap();
            let m = [
                t.starts_with("cam/"),
                t.starts_with("log/") || t.starts_with("cam/1"),
                true,
                true,
            ];
            assert_eq!(n, m.iter().filter(|&&x| x).count(), "{t}");
            for (w, hit) in want.iter_mut().zip(m) {
                *w += usize::from(hit);
            }
        }
        p.close();
        for (s, want) in [cams, mixed, all, everything].into_iter().zip(want) {
            let mut got = Vec::new();
            loop {
                match s.recv() {
                    Ok(d) => {
                        assert_eq!(d.seq(), got.len() as u64, "numbered per subscriber");
                        assert_eq!(d.topic(), d.payload());
                        assert!(
                            s.prefixes().is_empty()
                                || s.prefixes().iter().any(|p| d.topic().starts_with(p))
                        );
                        got.push(d.topic().to_vec());
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::Closed);
                        break;
                    }
                }
            }
            assert_eq!(got.len(), want);
        }
    });
}

#[test]
fn drop_oldest_reports_exactly_what_was_dropped() {
    watchdog(|| {
        let (_dir, eps) = endpoints("drop");
        for ep in eps {
            let p =
                Publisher::bind_with(ep.as_str(), &Options::new(), Policy::drop_oldest(4)).unwrap();
            let local = p.local_endpoint().to_string();
            let slow = Subscriber::connect(local.as_str()).unwrap();
            let total = 3000u64;
            for i in 0..total {
                p.publish(b"", &payload(i, 16 * 1024)).unwrap();
            }
            // Over sockets the publisher drops (and counts) at once; over shared memory it
            // overwrites, and the subscriber finds out (and counts) as it reads.
            if !ep.starts_with("shm://") {
                assert!(p.stats().dropped > 0, "{ep}: nothing was dropped");
            }
            let p = Arc::new(p);
            let closing = Arc::clone(&p);
            let closer = std::thread::spawn(move || closing.close());
            let (mut received, mut expect_seq, mut sum) = (0u64, 0u64, 0u64);
            loop {
                match slow.recv() {
                    Ok(d) => {
                        assert_eq!(d.seq(), expect_seq + d.dropped());
                        assert_eq!(index(&d), d.seq(), "the payload is the one numbered");
                        expect_seq = d.seq() + 1;
                        sum += d.dropped();
                        received += 1;
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::Closed);
                        break;
                    }
                }
            }
            // The newest message is never the one dropped.
            assert_eq!(expect_seq, total, "{ep}");
            assert_eq!(received + sum, total);
            assert!(sum > 0, "{ep}: nothing was dropped");
            assert_eq!(sum, slow.dropped());
            closer.join().unwrap();
            assert_eq!(sum, p.stats().dropped, "{ep}: the publisher's count");
        }
    });
}

#[test]
fn block_cuts_off_a_stuck_subscriber_and_the_others_get_everything() {
    watchdog(|| {
        let (_dir, eps) = endpoints("block");
        for ep in eps {
            let p = Publisher::bind_with(
                ep.as_str(),
                &Options::new(),
                Policy::block(Duration::from_millis(200), 8),
            )
            .unwrap();
            let local = p.local_endpoint().to_string();
            let good = Subscriber::connect(local.as_str()).unwrap();
            let stuck = Subscriber::connect(local.as_str()).unwrap();
            let total = 2000u64;
            let reader = std::thread::spawn(move || {
                for i in 0..total {
                    let d = good.recv().unwrap();
                    assert_eq!((d.seq(), d.dropped(), index(&d)), (i, 0, i));
                }
                good.recv().unwrap_err().kind()
            });
            for i in 0..total {
                p.publish(b"x", &payload(i, 64 * 1024)).unwrap();
            }
            assert_eq!(p.stats().cut_off, 1, "{ep}");
            assert_eq!(p.subscribers(), 1);
            p.close();
            assert_eq!(reader.join().unwrap(), ErrorKind::Closed);
            // The stuck one gets what was on its way, in order, then the cut-off.
            let mut n = 0u64;
            let end = loop {
                match stuck.recv() {
                    Ok(d) => {
                        assert_eq!((d.seq(), d.dropped()), (n, 0));
                        n += 1;
                    }
                    Err(e) => break e.kind(),
                }
            };
            assert!(n < total);
            assert_eq!(end, ErrorKind::Lagged, "{ep}: after {n} messages");
        }
    });
}

#[test]
fn subscribers_leave_and_join_at_any_time() {
    watchdog(|| {
        let dir = private_dir("churn");
        let p =
            Arc::new(Publisher::bind(format!("unix://{}/c.sock", dir.display()).as_str()).unwrap());
        let ep = p.local_endpoint().to_string();
        let steady = Subscriber::connect(ep.as_str()).unwrap();
        for round in 0..20u64 {
            let s = Subscriber::connect(ep.as_str()).unwrap();
            p.publish(b"", &payload(round, 8)).unwrap();
            let d = s.recv().unwrap();
            assert_eq!(
                (d.seq(), index(&d)),
                (0, round),
                "a newcomer gets what follows"
            );
            if round % 2 == 0 {
                s.close();
            } // else dropped without closing
            drop(s);
            wait_until(|| p.subscribers() == 1);
        }
        for round in 0..20u64 {
            let d = steady.recv().unwrap();
            assert_eq!((d.seq(), d.dropped(), index(&d)), (round, 0, round));
        }
        p.wait_for_subscribers(1, Wait::no_wait()).unwrap();
        assert_eq!(
            p.wait_for_subscribers(2, Wait::timeout(Duration::from_millis(20)))
                .unwrap_err()
                .kind(),
            ErrorKind::Timeout
        );
    });
}

#[test]
fn limits_and_bad_arguments_are_refused_before_anything_is_sent() {
    watchdog(|| {
        let dir = private_dir("limits");
        let ep = format!("unix://{}/l.sock", dir.display());
        assert_eq!(
            Publisher::bind_with(ep.as_str(), &Options::new(), Policy::drop_oldest(0))
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidArgument
        );
        let p = Publisher::bind_with(
            ep.as_str(),
            &Options::new().with_max_message_size(4096),
            Policy::default(),
        )
        .unwrap();
        let small = Subscriber::connect_with(
            ep.as_str(),
            &Options::new().with_max_message_size(1024),
            &[] as &[&[u8]],
        )
        .unwrap();
        let e = p.publish(b"t", &[0; 4096]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MessageTooLarge);
        assert_eq!(
            p.publish(&[b'a'; 1025], b"").unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            Subscriber::connect_topics(ep.as_str(), &vec!["x"; 65])
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidArgument
        );
        // Over the small subscriber's own limit: dropped for it, and reported.
        p.publish(b"", &[1; 2000]).unwrap();
        p.publish(b"", &[2; 10]).unwrap();
        let d = small.recv().unwrap();
        assert_eq!((d.seq(), d.dropped(), d.payload()), (1, 1, &[2u8; 10][..]));
        assert_eq!(p.stats().dropped, 1);
        p.close();
        assert_eq!(
            p.publish(b"", b"late").unwrap_err().kind(),
            ErrorKind::Closed
        );
    });
}

#[test]
fn other_kinds_of_peer_are_refused_both_ways() {
    watchdog(|| {
        let dir = private_dir("refuse");
        let pub_ep = format!("unix://{}/p.sock", dir.display());
        let _p = Publisher::bind(pub_ep.as_str()).unwrap();
        let e = Channel::connect(pub_ep.as_str()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ProtocolMismatch, "{e}");
        assert!(e.message().contains("subscriber"), "{e}");
        assert_eq!(
            libipc::rpc::Client::connect(pub_ep.as_str())
                .unwrap_err()
                .kind(),
            ErrorKind::ProtocolMismatch
        );

        let plain_ep = format!("unix://{}/l.sock", dir.display());
        let l = Listener::bind(plain_ep.as_str()).unwrap();
        let t = std::thread::spawn(move || {
            let ch = l.accept().unwrap();
            ch.recv().unwrap_err().kind()
        });
        let e = Subscriber::connect(plain_ep.as_str()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ProtocolMismatch, "{e}");
        assert!(e.message().contains("not a publisher"), "{e}");
        assert_eq!(t.join().unwrap(), ErrorKind::PeerDisconnected);

        let rpc_ep = format!("unix://{}/r.sock", dir.display());
        let _s = Server::bind(rpc_ep.as_str()).unwrap();
        assert_eq!(
            Subscriber::connect(rpc_ep.as_str()).unwrap_err().kind(),
            ErrorKind::ProtocolMismatch
        );
    });
}

#[test]
fn the_async_forms_fan_out_and_report_drops() {
    watchdog(|| {
        let rt = libipc::aio::new_runtime().unwrap();
        rt.block_on(async {
            let dir = private_dir("aio");
            let ep = format!("unix://{}/a.sock", dir.display());
            let p = AsyncPublisher::bind_with(
                ep.as_str(),
                &Options::new(),
                Policy::block(Duration::from_secs(30), 4),
            )
            .await
            .unwrap();
            let local = p.local_endpoint().to_string();
            let all = AsyncSubscriber::connect(local.as_str()).await.unwrap();
            let odd = AsyncSubscriber::connect_with(local.as_str(), &Options::new(), &["odd"])
                .await
                .unwrap();
            p.wait_for_subscribers(2, Some(Duration::from_secs(30)))
                .await
                .unwrap();
            let reader = tokio::spawn(async move {
                let mut n = 0u64;
                while let Ok(d) = all.recv().await {
                    assert_eq!((d.seq(), d.dropped(), index(&d)), (n, 0, n));
                    n += 1;
                }
                n
            });
            let odd_reader = tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    match odd.recv_timeout(Duration::from_secs(30)).await {
                        Ok(d) => got.push(index(&d)),
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::Closed);
                            return got;
                        }
                    }
                }
            });
            for i in 0..1000u64 {
                let topic = if i % 2 == 1 { "odd" } else { "even" };
                p.publish(topic.as_bytes(), &payload(i, 100)).await.unwrap();
            }
            p.close().await.unwrap();
            assert_eq!(reader.await.unwrap(), 1000);
            let odd: Vec<u64> = (0..1000).filter(|i| i % 2 == 1).collect();
            assert_eq!(odd_reader.await.unwrap(), odd);

            // Drop-oldest publishes from the task itself; the drops are reported.
            let ep = format!("unix://{}/b.sock", dir.display());
            let p = AsyncPublisher::bind_with(ep.as_str(), &Options::new(), Policy::drop_oldest(2))
                .await
                .unwrap();
            let s = AsyncSubscriber::connect(p.local_endpoint().to_string().as_str())
                .await
                .unwrap();
            for i in 0..2000u64 {
                p.publish(b"", &payload(i, 4096)).await.unwrap();
            }
            let closing = tokio::spawn({
                let p = p.clone();
                async move { p.close().await }
            });
            let (mut got, mut last) = (0u64, 0u64);
            while let Ok(d) = s.recv().await {
                got += 1;
                last = d.seq();
            }
            closing.await.unwrap().unwrap();
            assert_eq!((got + s.dropped(), last), (2000, 1999));
            assert_eq!(p.stats().dropped, s.dropped());
        });
    });
}

/// `recv_with` visits each message in place (over shm, in the publisher's ring: only what the
/// visitor reads is copied): the same messages, numbers and drops as `recv`, on every
/// transport; with drop-oldest over shm, a visit whose message was overwritten meanwhile is
/// never returned (every returned index matches its number).
#[test]
fn recv_with_visits_messages_in_place() {
    watchdog(|| {
        let (_dir, eps) = endpoints("inplace");
        for ep in eps {
            for policy in [
                Policy::block(Duration::from_secs(30), 64),
                Policy::drop_oldest(4),
            ] {
                let p = Publisher::bind_with(ep.as_str(), &Options::new(), policy).unwrap();
                let local = p.local_endpoint().to_string();
                let s = Subscriber::connect_topics(local.as_str(), &["a/"]).unwrap();
                let total = 3000u64;
                let publishing = std::thread::spawn(move || {
                    for i in 0..total {
                        let topic: &[u8] = if i % 3 == 0 { b"b/skip" } else { b"a/take" };
                        p.publish(topic, &payload(i, 4096)).unwrap();
                    }
                    p.close();
                });
                let (mut next, mut taken, mut dropped) = (0u64, 0u64, 0u64);
                loop {
                    let got = s.recv_with(Wait::forever(), |m| {
                        let mut head = [0u8; 8];
                        m.read_payload(0, &mut head);
                        let mut last = [0u8; 1];
                        m.read_payload(m.payload_len() - 1, &mut last);
                        (
                            m.topic().to_vec(),
                            u64::from_le_bytes(head),
                            last[0],
                            m.payload_len(),
                        )
                    });
                    match got {
                        Ok(v) => {
                            let (topic, i, last, len) = v.value().clone();
                            assert_eq!(topic, b"a/take", "{ep}");
                            assert!(i % 3 != 0, "{ep}: a filtered topic arrived");
                            assert_eq!((last, len), ((i % 251) as u8, 4096), "{ep}: message {i}");
                            assert_eq!(v.seq(), next + v.dropped(), "{ep}");
                            next = v.seq() + 1;
                            taken += 1;
                            dropped += v.dropped();
                        }
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::Closed, "{ep}");
                            break;
                        }
                    }
                }
                publishing.join().unwrap();
                assert_eq!(dropped, s.dropped());
                if matches!(policy.overflow, libipc::pubsub::Overflow::Block { .. }) {
                    assert_eq!((taken, dropped), (2000, 0), "{ep}");
                } else {
                    assert!(taken > 0 && taken + dropped <= total, "{ep}");
                }
            }
        }
    });
}

/// Over shared memory, a message that finds more than two subscribers asleep has their
/// doorbells rung by the publisher's ringer thread: lock-step rounds (each message published
/// only once all 6 subscribers took the last, so all are asleep again or about to be) must
/// never leave one asleep with a message waiting (the watchdog catches a lost wake-up).
#[test]
fn sleeping_subscribers_are_woken_for_every_message_over_shm() {
    watchdog(|| {
        let ep = format!("shm://ps-ring-{}-{}", std::process::id(), fastrand::u32(..));
        let p = Publisher::bind_with(
            ep.as_str(),
            &Options::new().with_shm_spin(Duration::ZERO),
            Policy::block(Duration::from_secs(30), 16),
        )
        .unwrap();
        let rounds = 300u64;
        let got = Arc::new(std::sync::Barrier::new(7));
        let readers: Vec<_> = (0..6)
            .map(|_| {
                let s = Subscriber::connect_with(
                    ep.as_str(),
                    &Options::new().with_shm_spin(Duration::ZERO),
                    &[] as &[&[u8]],
                )
                .unwrap();
                let got = Arc::clone(&got);
                std::thread::spawn(move || {
                    for i in 0..rounds {
                        let d = s.recv().unwrap();
                        assert_eq!((index(&d), d.seq(), d.dropped()), (i, i, 0));
                        got.wait();
                    }
                })
            })
            .collect();
        p.wait_for_subscribers(6, Wait::forever()).unwrap();
        for i in 0..rounds {
            p.publish(b"", &payload(i, 64)).unwrap();
            got.wait();
        }
        for r in readers {
            r.join().unwrap();
        }
        p.close();
    });
}
