//! Publish/subscribe over Windows named pipes (the Unix transports are in `pubsub.rs`):
//! fan-out in order with the blocking policy, and drop-oldest reporting its drops.

#![cfg(windows)]

use std::time::Duration;

use libipc::pubsub::{Policy, Publisher, Subscriber};
use libipc::{ErrorKind, Options};

fn name(tag: &str) -> String {
    format!(
        "pipe://libipc-ps-{tag}-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    )
}

#[test]
fn fan_out_over_named_pipes() {
    let p = Publisher::bind_with(
        name("fan").as_str(),
        &Options::new(),
        Policy::block(Duration::from_secs(60), 16),
    )
    .unwrap();
    let ep = p.local_endpoint().to_string();
    let subs: Vec<Subscriber> = (0..3)
        .map(|_| Subscriber::connect(ep.as_str()).unwrap())
        .collect();
    let readers: Vec<_> = subs
        .into_iter()
        .map(|s| {
            std::thread::spawn(move || {
                for i in 0..500u64 {
                    let d = s.recv().unwrap();
                    assert_eq!(
                        (d.seq(), d.dropped(), d.payload()),
                        (i, 0, &i.to_le_bytes()[..])
                    );
                }
                s.recv().unwrap_err().kind()
            })
        })
        .collect();
    for i in 0..500u64 {
        assert_eq!(p.publish(b"", &i.to_le_bytes()).unwrap(), 3);
    }
    p.close();
    for r in readers {
        assert_eq!(r.join().unwrap(), ErrorKind::Closed);
    }
}

#[test]
fn drop_oldest_over_named_pipes() {
    let p = Publisher::bind_with(
        name("drop").as_str(),
        &Options::new(),
        Policy::drop_oldest(2),
    )
    .unwrap();
    let s = Subscriber::connect(p.local_endpoint().to_string().as_str()).unwrap();
    for i in 0..2000u64 {
        let mut v = i.to_le_bytes().to_vec();
        v.resize(8192, 0);
        p.publish(b"", &v).unwrap();
    }
    let closer = std::thread::spawn(move || {
        p.close();
        p.stats().dropped
    });
    let (mut got, mut dropped, mut last) = (0u64, 0u64, 0u64);
    while let Ok(d) = s.recv() {
        got += 1;
        dropped += d.dropped();
        last = d.seq();
        assert_eq!(&d.payload()[..8], &d.seq().to_le_bytes()[..]);
    }
    assert_eq!((got + dropped, last), (2000, 1999));
    assert_eq!(closer.join().unwrap(), dropped);
}
