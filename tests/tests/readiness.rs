//! A channel's descriptor (`AsFd`) as a readiness signal, with the peer in another process:
//! after a receive returns `Timeout`, the descriptor is not readable while nothing is pending,
//! becomes readable when the peer sends, closes or dies, and the next `try_recv` reports it.
//! Every infinite `poll` here is guarded by the watchdog; nothing asserts how long it takes.
//!
//! Unix only (Unix sockets, TCP or shared memory); the Windows run covers named pipes.

#![cfg(unix)]

use std::os::fd::AsFd;
use std::time::Duration;

use libipc::{Channel, ErrorKind, Listener, Message, Result};

type Receive = fn(&Channel) -> Result<Vec<u8>>;

fn try_recv(ch: &Channel) -> Result<Vec<u8>> {
    ch.try_recv().map(Message::into_vec)
}
use libipc_conformance::peer;
use libipc_conformance::peer::Peer;
use libipc_conformance::transport::Transport;
use libipc_conformance::watchdog::Watchdog;

/// Whether the channel's descriptor is readable, waiting at most `timeout` (`None`: forever).
fn readable(ch: &Channel, timeout: Option<Duration>) -> bool {
    let fd = ch.as_fd();
    let mut fds = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    let timeout = timeout.map(|t| rustix::event::Timespec {
        tv_sec: t.as_secs() as _,
        tv_nsec: t.subsec_nanos() as _,
    });
    loop {
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(n) => return n > 0,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("poll: {e}"),
        }
    }
}

/// Nothing pending: `try_recv` times out, and then the descriptor is not readable.
fn assert_idle(ch: &Channel) {
    assert_eq!(ch.try_recv().unwrap_err().kind(), ErrorKind::Timeout);
    assert!(
        !readable(ch, Some(Duration::ZERO)),
        "readable with nothing to receive"
    );
}

/// The event-loop pattern: receive until `Timeout`, then wait on the descriptor, until a
/// receive returns something other than `Timeout`.
fn next_event(ch: &Channel, receive: Receive) -> Result<Vec<u8>> {
    loop {
        match receive(ch) {
            Err(e) if e.kind() == ErrorKind::Timeout => {
                assert!(readable(ch, None));
            }
            other => return other,
        }
    }
}

/// Accept a peer started by `command` (which connects to `site.there()`).
fn accept(t: Transport, command: &[&str]) -> (Channel, Peer, Listener) {
    let mut site = t.site();
    let listener = Listener::bind(site.here()).unwrap();
    site.bound(listener.local_endpoint());
    let args: Vec<String> = command
        .iter()
        .map(|a| a.replace("{ep}", site.there()))
        .collect();
    let mut child = peer!().args(&args).site(&site).spawn();
    let ch = listener.accept().unwrap();
    child.expect("connected");
    (ch, child, listener)
}

fn fd_wakes_for_each_message(t: Transport) {
    let _w = Watchdog::start();
    let (ch, _child, _l) = accept(t, &["connect", "{ep}"]); // an echo peer
    assert_idle(&ch);
    let receivers: [Receive; 3] = [
        try_recv,
        |ch| ch.recv_timeout(Duration::ZERO).map(Message::into_vec),
        |ch| ch.recv_in_place_timeout(Duration::ZERO).map(|s| s.to_vec()),
    ];
    for round in 0..6u8 {
        let msg = [round; 3];
        ch.send(&msg).unwrap();
        let got = next_event(&ch, receivers[usize::from(round) % 3]).unwrap();
        assert_eq!(got, msg);
        assert_idle(&ch);
    }
    // A blocking receive in between leaves nothing armed behind.
    ch.send(b"blocking").unwrap();
    assert_eq!(&*ch.recv().unwrap(), b"blocking");
    ch.send(b"again").unwrap();
    assert_eq!(next_event(&ch, try_recv).unwrap(), b"again");
    assert_idle(&ch);
}

fn fd_wakes_when_the_peer_closes(t: Transport) {
    let _w = Watchdog::start();
    let (ch, mut child, _l) = accept(t, &["stream", "connect", "{ep}", "--wait", "--close"]);
    assert_idle(&ch);
    child.say("go");
    let end = next_event(&ch, try_recv).unwrap_err();
    assert_eq!(end.kind(), ErrorKind::Closed, "{end}");
    child.finish_ok();
}

fn fd_wakes_when_the_peer_process_dies(t: Transport) {
    let _w = Watchdog::start();
    let (ch, mut child, _l) = accept(t, &["connect", "{ep}"]);
    assert_idle(&ch);
    child.kill();
    let end = next_event(&ch, try_recv).unwrap_err();
    assert_eq!(end.kind(), ErrorKind::PeerDisconnected, "{end}");
    assert_eq!(
        ch.try_recv().unwrap_err().kind(),
        ErrorKind::PeerDisconnected
    );
}

libipc_conformance::transport_tests!(
    fd_wakes_for_each_message,
    fd_wakes_when_the_peer_closes,
    fd_wakes_when_the_peer_process_dies,
);
