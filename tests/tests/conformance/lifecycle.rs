//! How channels and listeners end: orderly close from either side and from another thread, a
//! peer killed mid-stream, a dropped listener, nobody listening, an address already in use.

use std::sync::atomic::Ordering;
use std::time::Duration;

use libipc::{ErrorKind, Options};
use libipc_conformance::api::Api;
use libipc_conformance::stream::{self, Count, Progress, Spec};
use libipc_conformance::transport::Transport;
use libipc_conformance::{api_tests, peer};

use super::{bind, err_kind};

api_tests!(
    peer_killed_mid_stream_is_peer_disconnected,
    close_delivers_everything_then_closed,
    close_from_another_thread_wakes_blocked_calls,
    accepted_channels_outlive_their_listener,
    connect_to_nothing_is_not_found,
    second_bind_is_address_in_use,
);

/// A peer SIGKILLed while both directions stream: the survivor's receiving thread and its
/// (blocked) sending thread both end with PeerDisconnected, and stay there. Checked with the
/// survivor as listener and as client.
fn peer_killed_mid_stream_is_peer_disconnected(t: Transport, api: Api) {
    for survivor_listens in [true, false] {
        let mut site = t.site();
        let args = ["--send", "forever", "--max-size", "262144"];
        let (ch, mut child, _listener) = if survivor_listens {
            let listener = bind(&mut site, api);
            let child = peer!("stream", "connect", site.there())
                .args(args)
                .site(&site)
                .spawn();
            (listener.accept().unwrap(), child, Some(listener))
        } else {
            let child = peer!("stream", "listen", site.there())
                .args(args)
                .listening(&mut site);
            (api.connect(site.here()).unwrap(), child, None)
        };
        child.expect("connected");
        // The child sends forever and never reads, so our sender fills the socket and blocks.
        let spec = Spec {
            send: Count::Forever,
            recv: Count::Forever,
            send_seed: 3,
            recv_seed: 1,
            max_size: 262_144,
            ..Spec::default()
        };
        let progress = Progress::default();
        let report = std::thread::scope(|s| {
            let run = s.spawn(|| stream::run(&ch, &spec, &progress));
            while progress.received.load(Ordering::Relaxed) < 20 {
                std::thread::sleep(Duration::from_millis(5));
            }
            child.kill();
            run.join().unwrap()
        });
        assert_eq!(report.bad, None, "{report}");
        assert_eq!(
            report.recv_end,
            Some(ErrorKind::PeerDisconnected),
            "{report}"
        );
        assert_eq!(
            report.send_end,
            Some(ErrorKind::PeerDisconnected),
            "{report}"
        );
        assert_eq!(err_kind(ch.recv()), ErrorKind::PeerDisconnected);
        assert_eq!(err_kind(ch.send(b"x")), ErrorKind::PeerDisconnected);
    }
}

/// `close()` after sending: the peer receives every message, then Closed (whichever side
/// closes, in either process).
fn close_delivers_everything_then_closed(t: Transport, api: Api) {
    let small = (64 * 1024).to_string();
    // The child sends 1,000 messages and closes.
    let mut site = t.site();
    let listener = bind(&mut site, api);
    let mut child = peer!("stream", "connect", site.there(), "--send", "1000")
        .args(["--max-size", &small, "--close"])
        .site(&site)
        .spawn();
    let ch = listener.accept().unwrap();
    let spec = Spec {
        recv: Count::Forever,
        recv_seed: 1,
        max_size: 64 * 1024,
        ..Spec::default()
    };
    let report = stream::run(&ch, &spec, &Progress::default());
    assert_eq!(
        report.to_string(),
        "sent=0 received=1000 send_end=- recv_end=Closed"
    );
    assert_eq!(err_kind(ch.recv()), ErrorKind::Closed);
    child.expect("connected");
    assert_eq!(
        child.expect("done"),
        "sent=1000 received=0 send_end=- recv_end=-"
    );
    child.finish_ok();

    // We send 1,000 messages and close; the child counts them, then sees Closed.
    let mut site = t.site();
    let mut child = peer!("stream", "listen", site.there(), "--recv", "all")
        .args(["--recv-seed", "7", "--max-size", &small])
        .listening(&mut site);
    let ch = api.connect(site.here()).unwrap();
    let spec = Spec {
        send: Count::N(1000),
        send_seed: 7,
        max_size: 64 * 1024,
        close: true,
        ..Spec::default()
    };
    stream::run(&ch, &spec, &Progress::default());
    assert_eq!(err_kind(ch.recv()), ErrorKind::Closed);
    assert_eq!(err_kind(ch.send(b"late")), ErrorKind::Closed);
    child.expect("connected");
    assert_eq!(
        child.expect("done"),
        "sent=0 received=1000 send_end=- recv_end=Closed"
    );
    child.finish_ok();

    // A process that exits without calling close() closes by dropping its channel; `iter()`
    // yields every message and ends quietly at the orderly close.
    let mut site = t.site();
    let listener = bind(&mut site, api);
    let child = peer!("stream", "connect", site.there())
        .args(["--send", "100", "--max-size", "256"])
        .site(&site)
        .spawn();
    let ch = listener.accept().unwrap();
    let mut messages = ch.iter();
    for (seq, len) in stream::Schedule::new(1, 256).take(100) {
        let m = messages.next().expect("a message").unwrap();
        stream::verify(seq, len, &m).unwrap();
    }
    assert!(messages.next().is_none() && messages.next().is_none());
    assert_eq!(err_kind(ch.recv()), ErrorKind::Closed);
    child.finish_ok();
}

/// `close()` from another thread wakes a thread blocked in `recv` and one blocked in `send`
/// (the peer is not reading), both with Closed.
fn close_from_another_thread_wakes_blocked_calls(t: Transport, api: Api) {
    let mut site = t.site();
    let mut server = peer!("echo-server", site.there()).listening(&mut site);
    let ch = api.connect(site.here()).unwrap();
    std::thread::scope(|s| {
        let receiver = s.spawn(|| ch.recv());
        // Give the receiver time to block (if it has not, it sees Closed all the same).
        std::thread::sleep(Duration::from_millis(100));
        ch.close();
        assert_eq!(err_kind(receiver.join().unwrap()), ErrorKind::Closed);
    });
    assert_eq!(server.expect("end"), "Closed");

    // A raw client that completes the handshake and then never reads.
    let mut site = t.site();
    let listener = bind(&mut site, api);
    let mut child = peer!("raw-client", site.there(), "16").site(&site).spawn();
    let ch = listener.accept().unwrap();
    child.expect("ready");
    std::thread::scope(|s| {
        let sender = s.spawn(|| {
            let chunk = vec![7u8; 64 * 1024];
            loop {
                if let Err(e) = ch.send(&chunk) {
                    return e;
                }
            }
        });
        std::thread::sleep(Duration::from_millis(100));
        ch.close();
        assert_eq!(sender.join().unwrap().kind(), ErrorKind::Closed);
    });
}

/// Dropping a listener stops new connections (NotFound) but not the channels it accepted.
/// A named pipe's name lives as long as any of its instances, so there new clients find it
/// busy and give up when the connect timeout passes (Timeout).
fn accepted_channels_outlive_their_listener(t: Transport, api: Api) {
    let mut site = t.site();
    let listener = bind(&mut site, api);
    let mut child = peer!("connect", site.there()).site(&site).spawn();
    let ch = listener.accept().unwrap();
    child.expect("connected");
    drop(listener);
    if t.is_named_pipe() {
        let soon = Options::new().with_connect_timeout(Duration::from_millis(200));
        assert_eq!(
            err_kind(api.connect_with(site.here(), &soon)),
            ErrorKind::Timeout
        );
    } else {
        assert_eq!(err_kind(api.connect(site.here())), ErrorKind::NotFound);
    }
    for m in [&b"after"[..], b"", &[4; 100_000]] {
        ch.send(m).unwrap();
        assert_eq!(*ch.recv().unwrap(), *m);
    }
    ch.close();
    assert_eq!(child.expect("end"), "Closed");
}

/// Connecting where nobody listens fails with NotFound, here and from another process.
fn connect_to_nothing_is_not_found(t: Transport, api: Api) {
    let site = t.vacant_site();
    assert_eq!(err_kind(api.connect(site.here())), ErrorKind::NotFound);
    let mut child = peer!("connect", site.there()).site(&site).spawn();
    let line = child.expect("fail");
    assert!(line.starts_with("NotFound "), "{line}");
}

/// Binding where a live listener in another process is fails with AddressInUse, and that
/// listener goes on serving.
fn second_bind_is_address_in_use(t: Transport, api: Api) {
    let mut site = t.site();
    let server = peer!("echo-server", site.there()).listening(&mut site);
    for _ in 0..2 {
        assert_eq!(err_kind(api.bind(site.here())), ErrorKind::AddressInUse);
    }
    let ch = api.connect(site.here()).unwrap();
    if t.has_pid() {
        assert_eq!(ch.peer().pid, Some(server.pid()));
    }
    ch.send(b"still mine").unwrap();
    assert_eq!(&*ch.recv().unwrap(), b"still mine");
}
