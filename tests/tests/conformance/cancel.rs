//! Cancellation (`libipc::Cancel`, blocking API): a receive, an accept and a send blocked on
//! one thread are ended from another with `Cancelled`, and nothing is lost: after a reset the
//! channel carries on, in order. The other side is a separate process. (The async API
//! cancels by dropping the future: `data::*::aio::timeouts_lose_nothing`.)

use std::time::Duration;

use libipc::{Cancel, Channel, ErrorKind, Listener, Wait};
use libipc_conformance::transport::Transport;
use libipc_conformance::{peer, transport_tests};

use super::err_kind;

transport_tests!(cancel_ends_blocked_calls_and_loses_nothing);

fn cancel_ends_blocked_calls_and_loses_nothing(t: Transport) {
    let cancel = Cancel::new().unwrap();
    let forever = || Wait::forever().or_cancel(&cancel);

    // A receive blocked on another thread; the echo server in another process then echoes
    // what we send after the reset.
    let mut site = t.site();
    let _server = peer!("echo-server", site.there()).listening(&mut site);
    let ch = Channel::connect(site.here()).unwrap();
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
    let listener = Listener::bind(site.here()).unwrap();
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
    // Still full (nothing was taken back): another chunk does not go now.
    assert_eq!(
        err_kind(ch.send_wait(&[7u8; 64 * 1024], Wait::no_wait())),
        ErrorKind::Timeout
    );
}
