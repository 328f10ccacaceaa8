//! Unix only (Unix sockets, TCP, shared memory, the async API): Windows runs the named-pipe
//! tests (`scripts/windows-tests.sh`).

#![cfg(unix)]

use libipc::{Channel, ErrorKind, Listener, Options};
use std::time::Duration;

mod common;
use common::{private_dir, watchdog};

#[test]
fn smoke_unix_and_tcp() {
    let dir = private_dir("smoke");
    for ep in [
        format!("unix://{}/a.sock", dir.display()),
        "tcp://127.0.0.1:0".to_string(),
        "unix:@smoke-test-x".into(),
    ] {
        let l = Listener::bind(ep.as_str()).unwrap();
        let local = l.local_endpoint().to_string();
        let t = std::thread::spawn(move || {
            let ch = l.accept().unwrap();
            for m in ch.iter() {
                let m = m.unwrap();
                ch.send(&m).unwrap();
            }
        });
        let ch = Channel::connect(local.as_str()).unwrap();
        for n in [0usize, 1, 100, 70_000, 2_000_000] {
            let v: Vec<u8> = (0..n).map(|i| i as u8).collect();
            ch.send(&v).unwrap();
            assert_eq!(&*ch.recv().unwrap(), &v[..]);
        }
        assert_eq!(
            ch.recv_timeout(Duration::from_millis(50))
                .unwrap_err()
                .kind(),
            ErrorKind::Timeout
        );
        ch.close();
        t.join().unwrap();
        println!("{ep} ok, peer {:?}", ch.peer());
    }
}

/// A send_timeout that expires while a large message is half out keeps the rest and delivers
/// the message whole; the stream stays valid (regression: the rest used to be computed from
/// slices already advanced, skipping bytes or panicking).
#[test]
fn send_timeout_mid_message_delivers_it_whole() {
    let dir = private_dir("sendto");
    let ep = format!("unix://{}/s.sock", dir.display());
    let l = Listener::bind(ep.as_str()).unwrap();
    let ch = Channel::connect(ep.as_str()).unwrap();
    let server = l.accept().unwrap();
    let msgs: Vec<Vec<u8>> = [600_000usize, 1_500_000, 3_000_000]
        .iter()
        .enumerate()
        .map(|(k, &n)| (0..n).map(|i| (i * 7 + k) as u8).collect())
        .collect();
    let reader = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        (0..3)
            .map(|_| server.recv().unwrap().into_vec())
            .collect::<Vec<_>>()
    });
    let mut sent = Vec::new();
    for m in &msgs {
        loop {
            match ch.send_timeout(m, Duration::from_millis(20)) {
                Ok(()) => break,
                Err(e) if e.kind() == ErrorKind::Timeout => continue,
                Err(e) => panic!("{e}"),
            }
        }
        sent.push(m.clone());
    }
    ch.close();
    assert_eq!(watchdog(move || reader.join().unwrap()), sent);
}

/// After a local close, recv returns Closed even if complete messages are still buffered.
#[test]
fn recv_after_local_close_is_closed() {
    let dir = private_dir("closed");
    let ep = format!("unix://{}/c.sock", dir.display());
    let l = Listener::bind(ep.as_str()).unwrap();
    let ch = Channel::connect(ep.as_str()).unwrap();
    let server = l.accept().unwrap();
    for m in [&b"one"[..], b"two", b"three"] {
        server.send(m).unwrap();
    }
    assert_eq!(&*ch.recv().unwrap(), b"one");
    ch.close();
    assert_eq!(ch.recv().unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(ch.try_recv().unwrap_err().kind(), ErrorKind::Closed);
}

/// A timed receive or send does not wait forever behind another thread's blocking call.
#[test]
fn timed_calls_do_not_wait_behind_blocking_ones() {
    let dir = private_dir("locks");
    let ep = format!("unix://{}/l.sock", dir.display());
    let l = Listener::bind(ep.as_str()).unwrap();
    let ch = Channel::connect(ep.as_str()).unwrap();
    let server = l.accept().unwrap();
    let blocked = ch.clone();
    let t = std::thread::spawn(move || blocked.recv());
    std::thread::sleep(Duration::from_millis(20));
    let ch2 = ch.clone();
    let r = watchdog(move || ch2.recv_timeout(Duration::from_millis(20)).map(|_| ()));
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Timeout);
    let ch3 = ch.clone();
    assert_eq!(
        watchdog(move || ch3.try_recv().map(|_| ()))
            .unwrap_err()
            .kind(),
        ErrorKind::Timeout
    );
    server.send(b"for the blocked one").unwrap();
    assert_eq!(&*t.join().unwrap().unwrap(), b"for the blocked one");
}

/// Huge timeouts mean "wait as long as it takes", never a panic.
#[test]
fn duration_max_timeouts_do_not_panic() {
    let dir = private_dir("max");
    let ep = format!("unix://{}/m.sock", dir.display());
    let opts = Options::new()
        .with_handshake_timeout(Duration::MAX)
        .with_connect_timeout(Duration::MAX);
    let l = Listener::bind_with(ep.as_str(), &opts).unwrap();
    let ch = Channel::connect_with(ep.as_str(), &opts).unwrap();
    let server = l.accept_timeout(Duration::MAX).unwrap();
    server.send_timeout(b"x", Duration::MAX).unwrap();
    assert_eq!(&*ch.recv_timeout(Duration::MAX).unwrap(), b"x");
    ch.close();
    server.close();
}
