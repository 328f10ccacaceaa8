//! The options of docs/security.md, "Resource limits", and the client's expected server uid,
//! in one process over real sockets (the cross-process tests are in tests/tests/limits.rs):
//! the async listener's connection cap, `expected_server_uid` on every transport with
//! credentials and its refusal over TCP, and the options' validation.

#![cfg(unix)]

use std::time::Duration;

use libipc::aio::{AsyncChannel, AsyncListener};
use libipc::{Channel, ErrorKind, Listener, Options};

mod common;
use common::{TempDir, private_dir, watchdog};

fn endpoints(tag: &str) -> (TempDir, Vec<String>) {
    let dir = private_dir(tag);
    let mut eps = vec![
        format!("unix://{}/l.sock", dir.display()),
        format!("fifo://{}/l.fifo", dir.display()),
    ];
    if cfg!(target_os = "linux") {
        eps.push(format!(
            "shm://limits-{tag}-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
    }
    (dir, eps)
}

/// The async listener counts like the blocking one: at its cap of 3 the next client is refused
/// with `Timeout`; an accepted channel dropped, and a handshaken one never accepted but
/// dropped with the listener's queue, give their places back.
#[test]
fn async_listener_caps_connections_and_frees_places() {
    watchdog(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(async_cap())
    });
}

async fn async_cap() {
    let (_dir, mut eps) = endpoints("acap");
    eps.push("tcp://127.0.0.1:0".into());
    for ep in eps {
        let opts = Options::new().with_max_connections(3);
        let listener = AsyncListener::bind_with(ep.as_str(), &opts).await.unwrap();
        let at = listener.local_endpoint().to_string();
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(AsyncChannel::connect(at.as_str()).await.unwrap());
        }
        let a = listener.accept().await.unwrap();
        let err = AsyncChannel::connect(at.as_str()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{ep}: {err}");
        assert!(
            err.message().contains("connection limit (3)"),
            "{ep}: {err}"
        );
        drop(a);
        // The place is free once the accepted channel is dropped.
        held.push(AsyncChannel::connect(at.as_str()).await.unwrap());
        let err = AsyncChannel::connect(at.as_str()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{ep}: {err}");
    }
}

/// A refused client is not a held one: many refusals in a row leave the count where it was.
#[test]
fn refusals_do_not_count() {
    watchdog(refusals_do_not_count_body);
}

fn refusals_do_not_count_body() {
    let (_dir, eps) = endpoints("refuse");
    for ep in eps {
        let opts = Options::new().with_max_connections(1);
        let listener = Listener::bind_with(ep.as_str(), &opts).unwrap();
        let at = listener.local_endpoint().to_string();
        let c = Channel::connect(at.as_str()).unwrap();
        for _ in 0..20 {
            let err = Channel::connect(at.as_str()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Timeout, "{ep}: {err}");
        }
        let s = listener.accept().unwrap();
        c.send(b"x").unwrap();
        assert_eq!(&*s.recv().unwrap(), b"x");
        drop((c, s));
        let c = Channel::connect(at.as_str()).unwrap();
        let s = listener.accept().unwrap();
        s.send(b"y").unwrap();
        assert_eq!(&*c.recv().unwrap(), b"y");
    }
}

fn my_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// A client that expects the listener's uid connects; one that expects another uid is
/// refused with `PermissionDenied` naming both, and the listener gets no connection.
#[test]
fn expected_server_uid_is_checked_before_the_hello() {
    watchdog(expected_server_uid_is_checked_before_the_hello_body);
}

fn expected_server_uid_is_checked_before_the_hello_body() {
    let (_dir, eps) = endpoints("uid");
    for ep in eps {
        let listener = Listener::bind(ep.as_str()).unwrap();
        let at = listener.local_endpoint().to_string();
        let ok = Options::new().with_expected_server_uid(my_uid());
        let c = Channel::connect_with(at.as_str(), &ok).unwrap();
        let s = listener.accept().unwrap();
        c.send(b"hi").unwrap();
        assert_eq!(&*s.recv().unwrap(), b"hi");
        let other = my_uid().wrapping_add(4242);
        let bad = Options::new().with_expected_server_uid(other);
        let err = Channel::connect_with(at.as_str(), &bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{ep}: {err}");
        let msg = err.message();
        assert!(
            msg.contains(&format!("uid {}", my_uid())) && msg.contains(&other.to_string()),
            "{ep}: {msg}"
        );
        // The refused connection never reached `accept`.
        let e = listener
            .accept_timeout(Duration::from_millis(200))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{ep}: {e}");
        // Undone, any uid again.
        let any = bad.with_any_server_uid();
        drop(Channel::connect_with(at.as_str(), &any).unwrap());
    }
}

/// Over `fifo://` connecting writes a request into the listener's rendezvous FIFO: a client
/// expecting another uid (or whose allow-list leaves the owner out) is refused before that,
/// from the rendezvous's owner, and leaves nothing in it and no connection FIFOs beside it.
/// The "listener" here is only a reader holding the rendezvous open, so whatever a client
/// wrote would stay there to be seen.
#[test]
fn fifo_listener_is_checked_before_the_request() {
    watchdog(fifo_listener_is_checked_before_the_request_body);
}

fn fifo_listener_is_checked_before_the_request_body() {
    use rustix::fs::{Mode, OFlags};
    let dir = private_dir("fifo-check");
    let path = dir.join("l.fifo");
    rustix::fs::mkfifoat(rustix::fs::CWD, &path, Mode::from_raw_mode(0o600)).unwrap();
    let reader = rustix::fs::open(&path, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty()).unwrap();
    let other = my_uid().wrapping_add(4242);
    let ep = format!("fifo://{}", path.display());
    for bad in [
        Options::new().with_expected_server_uid(other),
        Options::new().with_allowed_uids([other]),
    ] {
        let err = Channel::connect_with(ep.as_str(), &bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{bad:?}: {err}");
        // Empty: no bytes (0, the end, once the client has closed it; or nothing yet).
        let mut buf = [0u8; 64];
        let got = rustix::io::read(&reader, &mut buf);
        assert!(
            matches!(got, Ok(0) | Err(rustix::io::Errno::AGAIN)),
            "{bad:?}: a request reached the rendezvous: {got:?}"
        );
        let names: Vec<_> = std::fs::read_dir(&*dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["l.fifo"], "{bad:?}");
    }
}

/// TCP reports no credentials: expecting a server uid there is `InvalidArgument`, before
/// anything is connected.
#[test]
fn expected_server_uid_over_tcp_is_invalid() {
    watchdog(expected_server_uid_over_tcp_is_invalid_body);
}

fn expected_server_uid_over_tcp_is_invalid_body() {
    let listener = Listener::bind("tcp://127.0.0.1:0").unwrap();
    let at = listener.local_endpoint().to_string();
    let opts = Options::new().with_expected_server_uid(my_uid());
    let err = Channel::connect_with(at.as_str(), &opts).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let e = listener
        .accept_timeout(Duration::from_millis(200))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
}

#[test]
fn limits_are_validated_and_tabled() {
    let err = Listener::bind_with("tcp://127.0.0.1:0", &Options::new().with_max_connections(0))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    // Zero frame timeout is no limit; 0-byte messages are a real limit (wire-format §3.2).
    let o = Options::new().with_frame_timeout(Duration::ZERO);
    assert_eq!(o.frame_timeout(), None);
    assert_eq!(
        Options::new().frame_timeout(),
        Some(Duration::from_secs(30))
    );
    assert_eq!(Options::new().max_connections(), 1024);
    assert_eq!(Options::new().expected_server_uid(), None);
    drop(
        Listener::bind_with(
            "tcp://127.0.0.1:0",
            &Options::new().with_max_message_size(0),
        )
        .unwrap(),
    );
    let row = |n: &str| Options::TABLE.iter().find(|o| o.name == n).unwrap();
    assert_eq!(row("max_connections").default_value().to_string(), "1024");
    assert_eq!(row("frame_timeout").default_value().to_string(), "30 s");
    assert_eq!(
        row("expected_server_uid").default_value().to_string(),
        "any uid"
    );
}
