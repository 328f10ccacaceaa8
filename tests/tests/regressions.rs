//! Regression tests for bugs found in `libipc` core by this suite (both fixed): each test failed
//! before its fix.
//!
//! Unix only (Unix sockets, TCP or shared memory); the Windows run covers named pipes.

#![cfg(unix)]

use libipc::{Channel, ErrorKind, Listener};
use libipc_conformance::peer;
use libipc_conformance::stream::{self, Count, Progress, Spec};
use libipc_conformance::transport::Transport;
use libipc_conformance::watchdog::Watchdog;

/// TCP: a peer that sends messages, calls `close()` and exits while it has unread input
/// used to lose the messages still in its socket's send queue (fixed: close now waits, bounded,
/// for the peer's kernel to acknowledge everything, discarding input meanwhile). Linux answers `close(2)` on a TCP
/// socket with unread received data with a reset and discards the unsent data, so the
/// receiver gets only part of what `send` reported as sent, then PeerDisconnected instead
/// of every message and Closed (docs/wire-format.md section 8.1). Unix sockets are not
/// affected: their data is already in the receiver's queue.
#[test]

fn tcp_close_with_unread_input_delivers_everything() {
    let _watchdog = Watchdog::start();
    let mut site = Transport::Tcp.site();
    let listener = Listener::bind(site.here()).unwrap();
    site.bound(listener.local_endpoint());
    // About 1 MB in 2,000 messages: more than our receive buffer takes while we do not read,
    // less than that plus the child's send buffer, so the child finishes sending and closes
    // with part of it still queued on its side.
    let mut child = peer!("stream", "connect", site.there(), "--send", "2000")
        .args(["--max-size", "4096", "--close", "--wait"])
        .spawn();
    let ch = listener.accept().unwrap();
    child.expect("connected");
    // Input the child never reads.
    for _ in 0..10 {
        ch.send(&[0; 1024]).unwrap();
    }
    child.say("go");
    assert_eq!(
        child.expect("done"),
        "sent=2000 received=0 send_end=- recv_end=-"
    );
    child.finish_ok();
    let spec = Spec {
        recv: Count::Forever,
        recv_seed: 1,
        max_size: 4096,
        ..Spec::default()
    };
    let report = stream::run(&ch, &spec, &Progress::default());
    assert_eq!(
        report.to_string(),
        "sent=0 received=2000 send_end=- recv_end=Closed"
    );
}

/// A client refused by a listener's uid allow-list sometimes reported PeerDisconnected instead
/// of PermissionDenied (fixed: the client reads the refusal even when writing its hello failed). The listener refuses before reading the client's hello (as documented
/// in docs/wire-format.md section 4.2: "a refused client may still be writing its hello when
/// the refusal arrives"); when the refusal and close win the race, writing the hello fails
/// with EPIPE and `handshake::client` returns that error without reading the refusal that is
/// already waiting in its socket. Here one connection in a few loses the race.
#[test]

fn refused_client_reports_the_refusal() {
    let _watchdog = Watchdog::start();
    let mut site = Transport::Unix.site();
    let other = (libipc_conformance::my_uid() + 1).to_string();
    let _server = peer!("echo-server", site.there(), "--allowed-uid", other).listening(&mut site);
    let mut kinds: Vec<ErrorKind> = (0..200)
        .map(|_| Channel::connect(site.here()).unwrap_err().kind())
        .collect();
    kinds.dedup();
    assert_eq!(kinds, [ErrorKind::PermissionDenied]);
}
