//! `shm://` under attack while in use: processes that scribble over the shared segment (both
//! rings' cursors, flags, record headers and data, the segment header), ring the doorbells and
//! try to resize the segment, mixed with valid messages, on either side of the connection
//! (`libipc_conformance::shm_chaos`); and doorbells that never stop ringing. The victim must
//! only ever get messages, Timeout, or a documented end (`shm_chaos::VICTIM_ENDS`), never
//! crash (it runs in a child process whose exit status is checked) or hang (every call is
//! bounded; the watchdog and line timeouts catch the rest).
//!
//! Unix only (Unix sockets, TCP or shared memory); the Windows run covers named pipes.

#![cfg(unix)]

use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use libipc::{Channel, ErrorKind, Listener, Options};
use libipc_conformance::peer::Peer;
use libipc_conformance::shm_raw::{self, SetupPlan};
use libipc_conformance::transport::Transport;
use libipc_conformance::watchdog::Watchdog;
use libipc_conformance::{peer, shm_chaos};

const RING: u64 = 64 * 1024;

/// Listener in this process, 64 KiB rings; an `shm-hostile` client process attacks it session
/// after session for 3 seconds (valid messages mixed with scribbles over both rings' cursors,
/// flags, headers and data, doorbells, resize attempts). Every receive and send returns a
/// message, Timeout, or a documented end (`shm_chaos::VICTIM_ENDS`); this process does not
/// crash; the victim both received valid messages and caught violations.
#[test]
fn a_scribbling_client_cannot_break_a_listener() {
    let _watchdog = Watchdog::start();
    let mut site = Transport::Shm.site();
    let opts = Options::new()
        .with_shm_ring_size(RING as usize)
        .with_handshake_timeout(Duration::from_secs(1));
    let listener = Listener::bind_with(site.here(), &opts).unwrap();
    site.bound(listener.local_endpoint());
    let seed = fastrand::u64(..).to_string();
    let mut hostile = peer!("shm-hostile", site.there(), "--role", "client")
        .args(["--seconds", "3", "--seed", &seed])
        .site(&site)
        .spawn();
    let stop = AtomicBool::new(false);
    let tally = std::thread::scope(|s| {
        let victim = s.spawn(|| shm_chaos::victim_listen(&listener, 2 * RING as usize, &stop));
        let done = hostile.expect("done");
        hostile.finish_ok();
        stop.store(true, Ordering::Relaxed);
        let tally = victim.join().unwrap();
        tally.unwrap_or_else(|e| panic!("seed {seed} ({done}): {e}"))
    });
    assert_mixed(&tally.to_string(), &seed);
}

/// The tally of a victim shows sessions, valid messages received, and caught violations.
fn assert_mixed(tally: &str, seed: &str) {
    let field = |name: &str| -> u64 {
        tally
            .split([' ', ','])
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .map_or(0, |v| v.parse().unwrap())
    };
    assert!(field("sessions") >= 3, "seed {seed}: {tally}");
    assert!(field("received") > 0, "seed {seed}: {tally}");
    assert!(
        field("recv:ProtocolViolation") + field("send:ProtocolViolation") > 0,
        "seed {seed}: {tally}"
    );
}

/// Like the test above with the victim listener in another process, so that a crash
/// (SIGSEGV, SIGBUS) would show as its exit status: it must exit normally, with a tally.
#[test]
fn a_scribbling_client_cannot_crash_a_listener_process() {
    let _watchdog = Watchdog::start();
    let mut site = Transport::Shm.site();
    let seed = fastrand::u64(..).to_string();
    let victim = peer!(
        "shm-victim",
        "listen",
        site.there(),
        "--shm-ring",
        RING.to_string()
    )
    .args(["--handshake-timeout-ms", "1000"])
    .listening(&mut site);
    let mut hostile = peer!("shm-hostile", site.there(), "--role", "client")
        .args(["--seconds", "3", "--seed", &seed])
        .site(&site)
        .spawn();
    hostile.expect("done");
    hostile.finish_ok();
    finish_victim(victim, &seed);
}

fn finish_victim(mut victim: Peer, seed: &str) {
    victim.close_stdin();
    let tally = victim.expect("done");
    let (status, rest) = victim.finish();
    assert!(
        status.success(),
        "seed {seed}: the victim exited with {status}: {rest:?}"
    );
    assert_mixed(&tally, seed);
}

/// A raw server process offers good segments, then scribbles over them while a libipc client
/// in another process (connecting again after every session) sends and receives: the client
/// only ever gets messages, Timeout or a documented end, and exits normally.
#[test]
fn a_scribbling_server_cannot_crash_a_client_process() {
    let _watchdog = Watchdog::start();
    let site = Transport::Shm.site();
    let seed = fastrand::u64(..).to_string();
    let mut hostile = peer!("shm-hostile", site.there(), "--role", "server")
        .args([
            "--seconds",
            "3",
            "--seed",
            &seed,
            "--shm-ring",
            &RING.to_string(),
        ])
        .site(&site)
        .spawn();
    hostile.expect("ready");
    let victim = peer!("shm-victim", "connect", site.there())
        .args([
            "--max-size",
            &(2 * RING).to_string(),
            "--handshake-timeout-ms",
            "1000",
        ])
        .site(&site)
        .spawn();
    hostile.expect("done");
    hostile.finish_ok();
    finish_victim(victim, &seed);
}

/// A peer ringing a doorbell in a tight loop, publishing nothing, must not keep a receive or
/// a send from timing out: `recv_timeout(10 ms)` returns Timeout, and so does `try_send` on a
/// full ring. (10 s is a hang guard, a thousand times the timeout asked for. Today the storm
/// only stretches them: each wake-up re-checks the deadline.)
#[test]
fn a_doorbell_storm_does_not_stop_timeouts() {
    let _watchdog = Watchdog::start();
    for (bell, call) in [("data", "recv_timeout"), ("space", "try_send")] {
        let mut site = Transport::Shm.site();
        let opts = Options::new().with_shm_ring_size(RING as usize);
        let listener = Listener::bind_with(site.here(), &opts).unwrap();
        site.bound(listener.local_endpoint());
        let mut storm = peer!("shm-bells", site.there(), bell).site(&site).spawn();
        let ch = listener.accept().unwrap();
        storm.expect("ready");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let kind = if bell == "data" {
                ch.recv_timeout(Duration::from_millis(10))
                    .unwrap_err()
                    .kind()
            } else {
                loop {
                    if let Err(e) = ch.try_send(&[7; 1000]) {
                        break e.kind();
                    }
                }
            };
            let _ = tx.send(kind);
        });
        let got = rx.recv_timeout(Duration::from_secs(10));
        storm.kill();
        assert_eq!(
            got,
            Ok(ErrorKind::Timeout),
            "{call} during a {bell} doorbell storm"
        );
    }
}

/// SETUP descriptors that are not eventfds where the doorbells belong (here copies of the
/// memfd: a regular file, which always polls readable and would wake a sleeper forever) are
/// refused by the client: ProtocolViolation (section 11.3). A doorbell storm from real
/// eventfds is covered by `a_doorbell_storm_does_not_stop_timeouts`.
#[test]
fn doorbells_that_are_not_eventfds_are_refused() {
    let _watchdog = Watchdog::start();
    let site = Transport::Shm.site();
    let listener = UnixListener::bind(shm_raw::socket_path(site.here()).unwrap()).unwrap();
    let plan = SetupPlan {
        bells_are_files: true,
        ..SetupPlan::good(RING)
    };
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        shm_raw::read_client_hello(&mut s).unwrap();
        std::io::Write::write_all(&mut s, &shm_raw::shm_hello(u32::MAX)).unwrap();
        plan.send_only(&s).unwrap();
        s
    });
    let err = Channel::connect(site.here()).unwrap_err();
    drop(server.join().unwrap());
    assert_eq!(err.kind(), ErrorKind::ProtocolViolation, "{err}");
}
