//! The channel contract, checked between real processes on every transport.
//!
//! Each module's `fn name(t: Transport, api: Api)` runs once per transport and API, blocking
//! and async (`data::unix::blocking::name`, `data::tcp::aio::name`, ...) through `api_tests!`
//! (`src/api.rs`); a new transport joins every test by being added to `Transport` and to the
//! transport list of `transport_tests!` and `api_tests!` (`src/transport.rs`, `src/api.rs`).
//! The other process is `ipc-test-peer` (`src/bin/peer.rs`), which uses the blocking API.
//!
//! - `data`: what goes in comes out: boundaries, order, volume, concurrency, timeouts, limits;
//! - `lifecycle`: how channels and listeners end: close, kill, drop, nothing listening, in use;
//! - `access`: peer credentials and uid allow-lists;
//! - `cancel`: cancellation handles ending blocked calls, nothing lost;
//! - `rest`: the rest of a partly sent message, pushed on by a receive.
//!
//! Protocol abuse is in `hostile.rs`, socket files and the runtime directory in
//! `socket_file.rs`.

mod access;
mod cancel;
mod data;
mod lifecycle;
mod rest;

use libipc::ErrorKind;
#[cfg(unix)]
use libipc::{Channel, Listener};
use libipc_conformance::api::{Api, Lis};
#[cfg(unix)]
use libipc_conformance::peer;
use libipc_conformance::transport::Site;
#[cfg(unix)]
use libipc_conformance::watchdog::Watchdog;

pub(crate) fn bind(site: &mut Site, api: Api) -> Lis {
    let l = api
        .bind(site.here())
        .unwrap_or_else(|e| panic!("bind {}: {e}", site.here()));
    site.bound(l.local_endpoint());
    l
}

pub(crate) fn err_kind<T: std::fmt::Debug>(r: libipc::Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

pub(crate) fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ salt)
        .collect()
}

/// Transports not on this platform: bind and connect fail with Unsupported, in this process
/// and in another. (Unix: `pipe://` is Windows named pipes.)
#[cfg(unix)]
#[test]
fn pipe_is_unsupported() {
    let _watchdog = Watchdog::start();
    let ep = "pipe://conformance";
    assert_eq!(err_kind(Listener::bind(ep)), ErrorKind::Unsupported);
    assert_eq!(err_kind(Channel::connect(ep)), ErrorKind::Unsupported);
    let mut child = peer!("connect", ep).spawn();
    assert!(child.expect("fail").starts_with("Unsupported "));
}

/// On Windows the transports it does not have fail with Unsupported, saying what to use, in
/// this process and in another.
#[cfg(windows)]
#[test]
fn unix_shm_and_tcp_are_unsupported_on_windows() {
    let _watchdog = libipc_conformance::watchdog::Watchdog::start();
    for ep in [
        "unix:///tmp/x.sock",
        "shm://conformance",
        "tcp://127.0.0.1:0",
    ] {
        let e = libipc::Listener::bind(ep).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{ep}: {e}");
        assert!(e.message().contains("pipe://"), "{ep}: {e}");
        let e = libipc::Channel::connect(ep).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{ep}: {e}");
        let mut child = libipc_conformance::peer!("connect", ep).spawn();
        assert!(child.expect("fail").starts_with("Unsupported "), "{ep}");
    }
}
