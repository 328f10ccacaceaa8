//! `Listener::close` (and `AsyncListener::close`) is synchronous: when it returns the listening
//! socket is closed, so connecting is refused at once, and the socket file is gone, even though
//! the listener itself is still alive. Nothing here waits for "soon after".
//!
//! Unix only (Unix sockets, TCP, shared memory, the async API): Windows runs the named-pipe
//! tests (`scripts/windows-tests.sh`).

#![cfg(unix)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use libipc::aio::AsyncListener;
use libipc::{Channel, Endpoint, ErrorKind, Listener};

mod common;
use common::{TempDir, private_dir, watchdog};

/// One endpoint of each transport: unix path, tcp, and shm where this build has it; the unix
/// socket's directory goes away when the returned guard drops.
fn endpoints(tag: &str) -> (TempDir, Vec<String>) {
    let dir = private_dir(tag);
    let mut eps = vec![
        format!("unix://{}/c.sock", dir.display()),
        "tcp://127.0.0.1:0".to_string(),
    ];
    if cfg!(target_os = "linux") {
        eps.push(format!(
            "shm://close-{tag}-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
    }
    (dir, eps)
}

fn socket_path(local: &str) -> Option<PathBuf> {
    Endpoint::parse(local).unwrap().socket_path().unwrap()
}

/// After `close` returns (listener still alive): no file, and connecting is refused.
fn assert_closed(local: &str) {
    if let Some(p) = socket_path(local) {
        assert!(
            std::fs::symlink_metadata(&p).is_err(),
            "{local}: socket file {} still there after close",
            p.display()
        );
    }
    let err = Channel::connect(local).expect_err("connect after close succeeded");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{local}: {err}");
}

#[test]
fn listener_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Listener>();
    check::<AsyncListener>();
}

#[test]
fn close_refuses_clients_and_removes_the_file_at_once() {
    let (_dir, eps) = endpoints("refuse");
    for ep in eps {
        // Repeat: the old asynchronous close let some of these connect.
        for _ in 0..20 {
            let l = Listener::bind(ep.as_str()).unwrap();
            let local = l.local_endpoint().to_string();
            if let Some(p) = socket_path(&local) {
                assert!(p.exists(), "{local}: no socket file while listening");
            }
            let ch = Channel::connect(local.as_str()).unwrap();
            let server = l.accept().unwrap();
            l.close();
            assert_closed(&local);
            // Idempotent; accepted channels stay open.
            l.close();
            assert_closed(&local);
            ch.send(b"still here").unwrap();
            assert_eq!(&*server.recv().unwrap(), b"still here");
            assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::Closed);
            drop(l);
            assert_closed(&local);
        }
    }
}

#[test]
fn close_drops_connections_not_yet_accepted() {
    let (_dir, eps) = endpoints("unaccepted");
    for ep in eps {
        let l = Listener::bind(ep.as_str()).unwrap();
        let local = l.local_endpoint().to_string();
        // connect completes before accept (the background acceptor handshakes it).
        let ch = Channel::connect(local.as_str()).unwrap();
        l.close();
        assert_closed(&local);
        let err = ch.recv().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PeerDisconnected, "{ep}: {err}");
    }
}

#[test]
fn close_wakes_accept_blocked_in_another_thread() {
    let (_dir, eps) = endpoints("blocked");
    for ep in eps {
        watchdog(move || {
            let l = Arc::new(Listener::bind(ep.as_str()).unwrap());
            let local = l.local_endpoint().to_string();
            let l2 = Arc::clone(&l);
            let acceptor = std::thread::spawn(move || l2.accept().map(|_| ()));
            let timed = {
                let l3 = Arc::clone(&l);
                std::thread::spawn(move || l3.accept_timeout(Duration::from_secs(3600)).map(|_| ()))
            };
            // Give them time to block (not required for correctness: either way it is Closed).
            std::thread::sleep(Duration::from_millis(100));
            l.close();
            assert_closed(&local);
            assert_eq!(
                acceptor.join().unwrap().unwrap_err().kind(),
                ErrorKind::Closed
            );
            assert_eq!(timed.join().unwrap().unwrap_err().kind(), ErrorKind::Closed);
        });
    }
}

#[test]
fn concurrent_closes_all_return_closed() {
    let (_dir, eps) = endpoints("concurrent");
    for ep in eps {
        watchdog(move || {
            let l = Arc::new(Listener::bind(ep.as_str()).unwrap());
            let local = l.local_endpoint().to_string();
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let (l, local) = (Arc::clone(&l), local.clone());
                    std::thread::spawn(move || {
                        l.close();
                        // Whichever call returns, it returns only once the listener is closed.
                        assert_closed(&local);
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
        });
    }
}

#[test]
fn path_can_be_bound_again_after_close() {
    let dir = private_dir("rebind");
    let ep = format!("unix://{}/r.sock", dir.display());
    let first = Listener::bind(ep.as_str()).unwrap();
    first.close();
    let second = Listener::bind(ep.as_str()).unwrap();
    // Closing or dropping the old listener must not touch the new one's file.
    first.close();
    drop(first);
    let ch = Channel::connect(ep.as_str()).unwrap();
    let server = second.accept().unwrap();
    ch.send(b"x").unwrap();
    assert_eq!(&*server.recv().unwrap(), b"x");
    drop(second);
    assert_closed(&ep);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_close_refuses_clients_and_removes_the_file_at_once() {
    let (_dir, eps) = endpoints("async");
    for ep in eps {
        let l = Arc::new(AsyncListener::bind(ep.as_str()).await.unwrap());
        let local = l.local_endpoint().to_string();
        let l2 = Arc::clone(&l);
        let blocked = tokio::spawn(async move { l2.accept().await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        l.close();
        let check = local.clone();
        tokio::task::spawn_blocking(move || assert_closed(&check))
            .await
            .unwrap();
        assert_eq!(
            blocked.await.unwrap().unwrap_err().kind(),
            ErrorKind::Closed
        );
        assert_eq!(l.accept().await.unwrap_err().kind(), ErrorKind::Closed);
        l.close();
    }
}
