//! Cancellation (`libipc::Cancel`, both APIs: the blocking `*_wait` calls and the async ones):
//! a receive, an accept and a send blocked on one thread are ended from another with
//! `Cancelled`, and nothing is lost: after a reset the channel carries on, in order. A
//! cancellation racing with a stream of numbered messages loses none. The other side is a
//! separate process. (The async API also cancels by dropping the future:
//! `data::*::aio::timeouts_lose_nothing`.)

use std::time::Duration;

use libipc::{Cancel, ErrorKind, Wait};
use libipc_conformance::api::Api;
use libipc_conformance::transport::Transport;
use libipc_conformance::{api_tests, peer};

use super::err_kind;

api_tests!(
    cancel_ends_blocked_calls_and_loses_nothing,
    cancel_races_lose_no_message
);

fn cancel_ends_blocked_calls_and_loses_nothing(t: Transport, api: Api) {
    let cancel = Cancel::new().unwrap();
    let forever = || Wait::forever().or_cancel(&cancel);

    // A receive blocked on another thread; the echo server in another process then echoes
    // what we send after the reset.
    let mut site = t.site();
    let _server = peer!("echo-server", site.there()).listening(&mut site);
    let ch = api.connect(site.here()).unwrap();
    std::thread::scope(|s| {
        let receiver = s.spawn(|| ch.recv_wait(forever()));
        // Give it time to block (if it has not, it is cancelled all the same).
        std::thread::sleep(Duration::from_millis(50));
        cancel.cancel();
        assert_eq!(err_kind(receiver.join().unwrap()), ErrorKind::Cancelled);
    });
    // Still cancelled: a call that would wait ends at once.
    assert_eq!(err_kind(ch.recv_wait(forever())), ErrorKind::Cancelled);
    cancel.reset();
    for m in [&b"one"[..], b"two", &[9; 200_000]] {
        ch.send_wait(m, forever()).unwrap();
    }
    for m in [&b"one"[..], b"two", &[9; 200_000]] {
        assert_eq!(*ch.recv_wait(forever()).unwrap(), *m);
    }
    ch.close();

    // An accept blocked on another thread.
    let mut site = t.site();
    let listener = api.bind(site.here()).unwrap();
    site.bound(listener.local_endpoint());
    std::thread::scope(|s| {
        let acceptor = s.spawn(|| listener.accept_wait(forever()).map(drop));
        std::thread::sleep(Duration::from_millis(50));
        cancel.cancel();
        assert_eq!(err_kind(acceptor.join().unwrap()), ErrorKind::Cancelled);
    });
    cancel.reset();
    // A client that connects now is accepted normally.
    let mut child = peer!("raw-client", site.there(), "16").site(&site).spawn();
    let ch = listener.accept_wait(forever()).unwrap();
    child.expect("ready");

    // A send blocked on another thread (the raw client does not read): fill the channel,
    // then block, then cancel. The messages sent so far stay sent.
    std::thread::scope(|s| {
        let sender = s.spawn(|| {
            let chunk = vec![7u8; 64 * 1024];
            loop {
                if let Err(e) = ch.send_wait(&chunk, forever()) {
                    return e;
                }
            }
        });
        std::thread::sleep(Duration::from_millis(100));
        cancel.cancel();
        assert_eq!(sender.join().unwrap().kind(), ErrorKind::Cancelled);
    });
    cancel.reset();
    // Still full (nothing was taken back): a send that does not wait times out. TCP may
    // have grown its buffers since (receive-window autotuning), so a few more chunks can
    // still fit; within 64 MiB one must time out.
    let timed_out = (0..1024).find_map(|_| {
        ch.send_wait(&[7u8; 64 * 1024], Wait::no_wait())
            .err()
            .map(|e| e.kind())
    });
    assert_eq!(timed_out, Some(ErrorKind::Timeout));
}

/// A cancel fired at a random moment while messages stream in: every cancelled receive
/// leaves its message for the next, so all arrive, in order, once each.
fn cancel_races_lose_no_message(t: Transport, api: Api) {
    const N: u32 = 2_000;
    let mut site = t.site();
    let _server = peer!("echo-server", site.there()).listening(&mut site);
    let ch = api.connect(site.here()).unwrap();
    let sender = ch.clone();
    let feeder = std::thread::spawn(move || {
        for i in 0..N {
            sender.send(&i.to_le_bytes()).unwrap();
            // Bursts with pauses, so that receives also wait (a receive that finds a message
            // returns it without looking at the handle).
            if i % 8 == 7 {
                std::thread::sleep(Duration::from_micros(fastrand::u64(0..300)));
            }
        }
    });
    let mut next = 0u32;
    let mut cancelled = 0;
    while next < N {
        let cancel = Cancel::new().unwrap();
        let delay = Duration::from_micros(fastrand::u64(0..200));
        let fire = cancel.clone();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(delay);
            fire.cancel();
        });
        loop {
            match ch.recv_wait(Wait::forever().or_cancel(&cancel)) {
                Ok(m) => {
                    assert_eq!(*m, next.to_le_bytes(), "message {next}");
                    next += 1;
                    if next == N {
                        break;
                    }
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
                    cancelled += 1;
                    break;
                }
            }
        }
        canceller.join().unwrap();
    }
    feeder.join().unwrap();
    assert!(cancelled > 0, "no receive was ever cancelled");
    ch.close();
}
