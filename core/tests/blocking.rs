//! Unix only (Unix sockets, TCP, shared memory, the async API): Windows runs the named-pipe
//! tests (`scripts/windows-tests.sh`).

#![cfg(unix)]

use libipc::{Channel, ErrorKind, Listener, Options, Wait};
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

/// `recv_into` over a stream reads a message straight into the caller's buffer; when its wait
/// ends with the message half-arrived, the half already in that buffer is kept, and the next
/// receive (into another buffer, one too small, or `recv`) gets the message whole.
#[test]
fn recv_into_keeps_a_half_arrived_message_across_calls() {
    let dir = private_dir("recvinto");
    let ep = format!("unix://{}/s.sock", dir.display());
    let l = Listener::bind(ep.as_str()).unwrap();
    let ch = Channel::connect(ep.as_str()).unwrap();
    let server = l.accept().unwrap();
    let msgs: Vec<Vec<u8>> = [3_000_000usize, 2_500_000, 70_000, 10]
        .iter()
        .enumerate()
        .map(|(k, &n)| (0..n).map(|i| (i * 13 + k) as u8).collect())
        .collect();
    // Each message goes out in part (the socket fills), the rest only when the sender flushes,
    // which it does after the receiver has given up once.
    let (go_on, wait_go) = std::sync::mpsc::channel::<()>();
    let to_send = msgs.clone();
    let sender = std::thread::spawn(move || {
        for m in &to_send {
            match ch.send_timeout(m, Duration::from_millis(50)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Timeout => panic!("nothing went out"),
                Err(e) => panic!("{e}"),
            }
            wait_go.recv().unwrap();
            ch.flush_timeout(Duration::from_secs(30)).unwrap();
        }
        ch
    });
    let mut got = Vec::new();
    for (k, m) in msgs.iter().enumerate() {
        // A buffer that fits: part arrives, then the wait ends.
        let mut first = vec![0u8; 4 << 20];
        let r = server.recv_into_wait(&mut first, Wait::timeout(Duration::from_millis(100)));
        let half_arrived = r.is_err();
        if let Err(e) = &r {
            assert_eq!(e.kind(), ErrorKind::Timeout);
        }
        go_on.send(()).unwrap();
        let n = match r {
            Ok(n) => {
                got.push(first[..n].to_vec());
                continue;
            }
            Err(_) => the_rest(&server, k, m.len()),
        };
        assert!(half_arrived);
        got.push(n);
    }
    assert_eq!(got, msgs);
    drop(watchdog(move || sender.join().unwrap()));
}

/// The rest of message `k` (of `len` bytes) after a receive gave up half-way: into a fresh
/// buffer for even `k`, else first into one too small (`BufferTooSmall`, kept) and then `recv`.
fn the_rest(server: &Channel, k: usize, len: usize) -> Vec<u8> {
    if k.is_multiple_of(2) {
        let mut second = vec![0u8; len + 5];
        let n = server
            .recv_into_wait(&mut second, Wait::timeout(Duration::from_secs(30)))
            .unwrap();
        second.truncate(n);
        second
    } else {
        let mut small = vec![0u8; len - 1];
        let e = server
            .recv_into_wait(&mut small, Wait::timeout(Duration::from_secs(30)))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BufferTooSmall);
        assert_eq!(e.needed(), Some(len));
        server.recv().unwrap().into_vec()
    }
}
