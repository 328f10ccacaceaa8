//! Parent and child: `Channel::pair`, `Channel::spawn` and `Channel::from_env` with real child
//! processes (`ipc-test-peer`), a child that never opens its end, bad inherited descriptors,
//! and what a grandchild inherits. (Python and C children: bindings/python/tests/test_spawn.py
//! and tests/c/test_spawn.c.)
//!
//! Unix only (socket pairs and inherited descriptors); Windows gives `Unsupported` for now.

#![cfg(unix)]

use std::process::Command;
use std::time::Duration;

use libipc::aio::AsyncChannel;
use libipc::spawn::{CHANNEL_FD_ENV, ChildEnd};
use libipc::{Channel, ErrorKind, Options};
use libipc_conformance::peer::{Peer, PeerCommand};
use libipc_conformance::stream::{self, Count, Spec};
use libipc_conformance::watchdog::Watchdog;
use libipc_conformance::{my_uid, peer};

/// Send `n` checksummed messages over `ch` to an echoing peer and check what comes back.
fn echo_stream(ch: &Channel, n: u64, max_size: usize) {
    let spec = Spec {
        send: Count::N(n),
        recv: Count::N(n),
        send_seed: 11,
        recv_seed: 11,
        max_size,
        ..Spec::default()
    };
    let report = stream::run(ch, &spec, &stream::Progress::default());
    assert!(report.bad.is_none(), "{report}");
    assert_eq!((report.sent, report.received), (n, n));
}

/// `child-echo` as a child of this process, with a channel.
fn spawn_child_echo(cmd: PeerCommand, opts: &Options) -> (Channel, Peer) {
    cmd.spawn_channel(opts).expect("spawn child-echo")
}

#[test]
fn pair_carries_messages_both_ways() {
    let _watchdog = Watchdog::start();
    let (a, b) = Channel::pair().unwrap();
    for size in [0, 1, 4096, 1 << 20, 3 << 20] {
        let data: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        let sender = {
            let (a, data) = (a.clone(), data.clone());
            std::thread::spawn(move || a.send(&data))
        };
        assert_eq!(&*b.recv().unwrap(), &data[..]);
        sender.join().unwrap().unwrap();
        b.send(&data[..size.min(10)]).unwrap();
        assert_eq!(&*a.recv().unwrap(), &data[..size.min(10)]);
    }
    // Both ends see this process.
    let me = std::process::id();
    assert_eq!((a.peer().pid, b.peer().pid), (Some(me), Some(me)));
    assert_eq!(a.peer().uid, Some(my_uid()));
    a.close();
    assert_eq!(b.recv().unwrap_err().kind(), ErrorKind::Closed);
}

#[test]
fn pair_with_options_negotiates_like_a_connection() {
    let _watchdog = Watchdog::start();
    let (a, b) = Channel::pair_with(&Options::new().with_max_message_size(1000)).unwrap();
    assert_eq!((a.max_message_size(), b.max_message_size()), (1000, 1000));
    assert_eq!(
        a.send(&[0; 1001]).unwrap_err().kind(),
        ErrorKind::MessageTooLarge
    );
    a.send(&[7; 1000]).unwrap();
    assert_eq!(b.recv().unwrap().len(), 1000);
    let bad = Options::new().with_handshake_timeout(Duration::ZERO);
    assert_eq!(
        Channel::pair_with(&bad).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn async_pair_and_spawn() {
    let _watchdog = Watchdog::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (a, b) = AsyncChannel::pair().unwrap();
        a.send(b"async").await.unwrap();
        assert_eq!(&*b.recv().await.unwrap(), b"async");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ipc-test-peer"));
        cmd.arg("child-echo")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        let (ch, mut child) = AsyncChannel::spawn(&mut cmd).await.unwrap();
        assert_eq!(ch.peer().pid, Some(child.id()));
        ch.send(b"to the child").await.unwrap();
        assert_eq!(&*ch.recv().await.unwrap(), b"to the child");
        ch.close().await;
        assert!(child.wait().unwrap().success());
    });
    // Outside a runtime: a clean error, no panic.
    assert_eq!(
        AsyncChannel::pair().unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn rust_parent_and_rust_child_echo() {
    let _watchdog = Watchdog::start();
    let (ch, mut child) = spawn_child_echo(peer!("child-echo"), &Options::new());
    let me = std::process::id();
    assert_eq!(
        child.expect("connected"),
        format!("pid={me} uid={} max={}", my_uid(), 16 << 20)
    );
    assert_eq!(ch.peer().pid, Some(child.pid()));
    assert_eq!(ch.peer().uid, Some(my_uid()));
    echo_stream(&ch, 2000, stream::MIB);
    ch.close();
    assert_eq!(child.expect("end"), "Closed");
    child.finish_ok();
}

#[test]
fn the_parents_options_are_negotiated_with_the_child() {
    let _watchdog = Watchdog::start();
    let opts = Options::new().with_max_message_size(4096);
    let (ch, mut child) = spawn_child_echo(peer!("child-echo"), &opts);
    // The child's limit is the smaller of its own (16 MiB) and ours.
    assert!(child.expect("connected").ends_with(" max=4096"));
    assert_eq!(
        ch.send(&[0; 4097]).unwrap_err().kind(),
        ErrorKind::MessageTooLarge
    );
    ch.send(&[1; 4096]).unwrap();
    assert_eq!(ch.recv().unwrap().len(), 4096);
}

#[test]
fn a_killed_child_is_seen_by_the_parent() {
    let _watchdog = Watchdog::start();
    let (ch, mut child) = spawn_child_echo(peer!("child-echo"), &Options::new());
    child.expect("connected");
    child.kill();
    let err = ch.recv().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PeerDisconnected, "{err}");
}

#[test]
fn a_child_that_exits_without_opening_its_end_fails_the_spawn() {
    let _watchdog = Watchdog::start();
    // A generous handshake timeout: the error must come from the exit, not from waiting.
    let opts = Options::new().with_handshake_timeout(Duration::from_secs(600));
    let err = peer!("exit", "3").spawn_channel(&opts).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PeerDisconnected, "{err}");
    assert!(err.message().contains("without opening"), "{err}");
    assert!(err.message().contains("exit status: 3"), "{err}");
}

#[test]
fn a_child_that_never_opens_its_end_times_out_and_is_killed() {
    let _watchdog = Watchdog::start();
    let opts = Options::new().with_handshake_timeout(Duration::from_millis(300));
    let err = peer!("sleep").spawn_channel(&opts).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.message().contains("killed"), "{err}");
}

#[test]
fn spawning_a_missing_program_is_not_found() {
    let _watchdog = Watchdog::start();
    let err = Channel::spawn(&mut Command::new("/nonexistent/libipc-no-such-program")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[test]
fn the_childs_end_is_close_on_exec_once_opened() {
    let _watchdog = Watchdog::start();
    let (ch, mut child) = spawn_child_echo(peer!("child-echo", "--check-fd"), &Options::new());
    child.expect("connected");
    let report = ch.recv().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&report),
        "cloexec=yes grandchild=not-inherited"
    );
}

#[test]
fn the_channel_can_be_opened_once_per_process() {
    let _watchdog = Watchdog::start();
    let (ch, mut child) = spawn_child_echo(peer!("child-echo", "--twice"), &Options::new());
    child.expect("connected");
    assert_eq!(child.expect("second"), "InvalidEndpoint");
    // The first channel still works.
    ch.send(b"still").unwrap();
    assert_eq!(&*ch.recv().unwrap(), b"still");
}

/// Run `from-env` in a child with `env` (`None`: the variable removed) and `args`; its output.
fn from_env_child(env: Option<&str>, args: &[&str]) -> Vec<String> {
    let mut cmd = peer!("from-env").args(args);
    cmd = match env {
        Some(v) => cmd.env(CHANNEL_FD_ENV, v),
        None => cmd.env_remove(CHANNEL_FD_ENV),
    };
    cmd.spawn().finish_ok()
}

/// The kind and message of a `from-env` child's `error` line.
fn from_env_error(lines: &[String]) -> (String, String) {
    let line = lines.first().expect("a line");
    let rest = line
        .strip_prefix("error ")
        .unwrap_or_else(|| panic!("{line}"));
    let (kind, msg) = rest.split_once(' ').unwrap();
    (kind.to_owned(), msg.to_owned())
}

#[test]
fn from_env_without_the_variable_is_not_found() {
    let _watchdog = Watchdog::start();
    let (kind, msg) = from_env_error(&from_env_child(None, &[]));
    assert_eq!(kind, "NotFound");
    assert!(msg.contains("LIBIPC_CHANNEL_FD is not set"), "{msg}");
}

#[test]
fn from_env_with_bad_values_is_invalid_endpoint() {
    let _watchdog = Watchdog::start();
    for (value, says) in [
        ("", "not a descriptor number"),
        ("abc", "not a descriptor number"),
        ("-1", "not a descriptor number"),
        (" 3", "not a descriptor number"),
        ("99999999999999999999", "too large"),
        ("1000000", "not an open descriptor"),
    ] {
        let (kind, msg) = from_env_error(&from_env_child(Some(value), &[]));
        assert_eq!(kind, "InvalidEndpoint", "{value:?}: {msg}");
        assert!(msg.contains(says), "{value:?}: {msg}");
    }
}

#[test]
fn from_env_refuses_descriptors_that_are_not_connected_unix_streams() {
    let _watchdog = Watchdog::start();
    for (make, says) in [
        ("file", "not a socket"),
        ("udp", "not a Unix socket"),
        ("tcp", "not a Unix socket"),
        ("unix-dgram", "not a stream socket"),
        ("unix-unconnected", "not connected"),
    ] {
        let lines = from_env_child(None, &["--make", make]);
        let (kind, msg) = from_env_error(&lines);
        assert_eq!(kind, "InvalidEndpoint", "{make}: {msg}");
        assert!(msg.contains(says), "{make}: {msg}");
        // A refused descriptor is left alone (not closed).
        assert_eq!(
            lines.get(1).map(String::as_str),
            Some("still-open yes"),
            "{make}"
        );
    }
}

#[test]
fn from_env_whose_parent_is_gone_is_peer_disconnected() {
    let _watchdog = Watchdog::start();
    let lines = from_env_child(None, &["--make", "pair-closed"]);
    let (kind, msg) = from_env_error(&lines);
    assert_eq!(kind, "PeerDisconnected", "{msg}");
    assert!(msg.contains("parent closed its end"), "{msg}");
}

#[test]
fn a_child_end_says_what_to_inherit_and_fails_when_nobody_holds_it() {
    let _watchdog = Watchdog::start();
    let end = ChildEnd::new().unwrap();
    assert_eq!(end.env_name(), CHANNEL_FD_ENV);
    assert_eq!(end.env_value(), end.child_fd().to_string());
    assert!(end.child_fd() >= 3, "above the standard streams");
    // No child inherited it: finishing closes the only other copy, so the handshake sees
    // the end at once (whatever the handshake timeout).
    let err = end.finish(1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PeerDisconnected, "{err}");
}
