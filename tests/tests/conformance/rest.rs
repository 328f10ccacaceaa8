//! The rest of a partly sent message (blocking API): a `send_timeout` whose deadline passes
//! after part of a message went out returns `Ok` and keeps the rest, which a receive on the
//! same channel pushes on while it waits. Otherwise the peer, waiting for the end of that
//! message, and this side, waiting for the reply, would wait for each other (easily met over
//! FIFOs, which hold 64 KiB).

use std::sync::mpsc;
use std::time::Duration;

use libipc::{Channel, Listener};
use libipc_conformance::transport::Transport;
use libipc_conformance::transport_tests;

transport_tests!(a_receive_pushes_on_the_rest_of_a_partly_sent_message);

/// Message `i` of the pattern every test here sends.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The server side: once told to, receive one message and answer with its length and
/// whether it arrived intact.
fn answer_when_told(listener: Listener, go: mpsc::Receiver<()>) {
    let ch = listener.accept().unwrap();
    // Not reading until the client's send has given up part-way.
    go.recv().unwrap();
    let m = ch.recv().unwrap();
    let intact = *m == *pattern(m.len());
    ch.send(format!("{} {intact}", m.len()).as_bytes()).unwrap();
}

fn a_receive_pushes_on_the_rest_of_a_partly_sent_message(t: Transport) {
    let mut site = t.site();
    let listener = Listener::bind(site.here()).unwrap();
    site.bound(listener.local_endpoint());
    // The largest message allowed by default: more than any transport takes in at once.
    let big = pattern(libipc::DEFAULT_MAX_MESSAGE_SIZE);
    let (go, told) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let server = s.spawn(move || answer_when_told(listener, told));
        let ch = Channel::connect(site.here()).unwrap();
        // Part of it goes out; the call counts it as sent and keeps the rest.
        ch.send_timeout(&big, Duration::from_millis(20)).unwrap();
        go.send(()).unwrap();
        let reply = ch.recv().unwrap();
        assert_eq!(*reply, *format!("{} true", big.len()).as_bytes());
        server.join().unwrap();
    });
}

/// The async API (Unix).
#[cfg(unix)]
mod aio {
    use super::*;

    transport_tests!(an_async_receive_pushes_on_the_rest_too);

    /// The same through the async API: a `send_timeout` future that gives up part-way, then
    /// `recv().await`.
    fn an_async_receive_pushes_on_the_rest_too(t: Transport) {
        let mut site = t.site();
        let listener = Listener::bind(site.here()).unwrap();
        site.bound(listener.local_endpoint());
        let big = pattern(libipc::DEFAULT_MAX_MESSAGE_SIZE);
        let (go, told) = mpsc::channel::<()>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        std::thread::scope(|s| {
            let server = s.spawn(move || answer_when_told(listener, told));
            rt.block_on(async {
                let ch = libipc::aio::AsyncChannel::connect(site.here())
                    .await
                    .unwrap();
                ch.send_timeout(&big, Duration::from_millis(20))
                    .await
                    .unwrap();
                go.send(()).unwrap();
                let reply = ch.recv().await.unwrap();
                assert_eq!(*reply, *format!("{} true", big.len()).as_bytes());
            });
            server.join().unwrap();
        });
    }
}
