//! What is particular to `fifo://` (the channel contract itself runs over FIFOs in
//! `conformance/`, `hostile.rs` and `readiness.rs`): the modes FIFOs are created with, the
//! private runtime directory of bare names, the peer's uid, files removed on close and stale
//! ones at the next bind, a live rendezvous left alone, garbage on the rendezvous, SIGPIPE.
//!
//! Unix only (FIFOs).

#![cfg(unix)]

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libipc::wire::{FIFO_REQUEST_LEN, FifoRequest, Hello};
use libipc::{Channel, ErrorKind, Listener, Options};
use libipc_conformance::raw::RawStream;
use libipc_conformance::raw_fifo::{self, RawFifoListener};
use libipc_conformance::transport::TempDir;
use libipc_conformance::watchdog::Watchdog;
use libipc_conformance::{my_uid, peer};

const GUARD: Duration = Duration::from_secs(60);

fn endpoint(path: &Path) -> String {
    format!("fifo://{}", path.display())
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

fn is_fifo(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn mkfifo(path: &Path, mode: u32) {
    rustix::fs::mkfifoat(rustix::fs::CWD, path, rustix::fs::Mode::from_raw_mode(mode)).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Connect to `ep`, have the message echoed.
fn assert_echoes(ep: &str) {
    let ch = Channel::connect(ep).unwrap();
    ch.send(b"fifo").unwrap();
    assert_eq!(&*ch.recv().unwrap(), b"fifo");
}

/// The rendezvous is a FIFO of ours with mode 0600 (or the listener's socket mode); the
/// FIFOs a client makes for its connection are 0600 too, and owned by the client.
#[test]
fn rendezvous_and_connection_fifos_are_0600() {
    let _watchdog = Watchdog::start();
    let dir = TempDir::new("fmode");
    let path = dir.path().join("x.fifo");
    let listener = Listener::bind(endpoint(&path).as_str()).unwrap();
    assert!(is_fifo(&path));
    assert_eq!(mode(&path), 0o600);
    assert_eq!(std::fs::metadata(&path).unwrap().uid(), my_uid());
    drop(listener);
    let opts = Options::new().with_socket_mode(0o640);
    let listener = Listener::bind_with(endpoint(&path).as_str(), &opts).unwrap();
    assert_eq!(mode(&path), 0o640);
    drop(listener);
    assert!(!path.exists(), "closing the listener removes its FIFO");

    // A hand-made listener looks at the client's FIFOs before opening them.
    let raw = RawFifoListener::bind(&path).unwrap();
    let ep = endpoint(&path);
    let client = std::thread::spawn(move || Channel::connect(ep.as_str()).map(|ch| ch.peer()));
    let (up, down) = raw.next_request(GUARD).unwrap();
    for p in [&up, &down] {
        assert!(is_fifo(p), "{}", p.display());
        assert_eq!(mode(p), 0o600, "{}", p.display());
        assert_eq!(std::fs::metadata(p).unwrap().uid(), my_uid());
    }
    let mut s = RawStream::Fifo(raw_fifo::open_pair(&up, &down, GUARD).unwrap());
    assert!(!up.exists() && !down.exists());
    s.read_hello();
    s.put(&Hello::new(1 << 20, 0).encode());
    let peer = client.join().unwrap().unwrap();
    assert_eq!(peer.uid, Some(my_uid()));
    assert_eq!(peer.pid, None, "FIFOs tell no pid");
}

/// `fifo://name` is `<runtime dir>/name.fifo`; binding creates the runtime directory with mode
/// 0700, and a runtime directory that others can enter is refused.
#[test]
fn bare_names_live_in_a_private_runtime_dir() {
    let _watchdog = Watchdog::start();
    let dir = TempDir::new("frun");
    let run = dir.path().join("run");
    let mut server = peer!("echo-server", "fifo://jobs")
        .env("LIBIPC_RUNTIME_DIR", &run)
        .spawn();
    assert_eq!(server.ready(), "fifo://jobs");
    assert!(run.is_dir());
    assert_eq!(mode(&run), 0o700);
    let path = run.join("jobs.fifo");
    assert!(is_fifo(&path));
    assert_eq!(mode(&path), 0o600);
    assert_echoes(&endpoint(&path));
    let mut client = peer!("connect", "fifo://jobs")
        .env("LIBIPC_RUNTIME_DIR", &run)
        .spawn();
    client.expect("connected");
    drop(client);
    server.finish_ok();
    assert!(!path.exists());

    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut refused = peer!("echo-server", "fifo://jobs")
        .env("LIBIPC_RUNTIME_DIR", &open)
        .spawn();
    let line = refused.expect("fail");
    assert!(line.starts_with("PermissionDenied "), "{line}");
    assert!(names(&open).is_empty());
}

/// The peer's uid is the owner of the FIFOs it created: a client running as another user is
/// seen with that uid, refused by an allow-list without it and accepted by one with it. (Root
/// only: only root can run a process as another user.)
#[test]
fn a_peer_of_another_uid_is_seen_and_checked() {
    let _watchdog = Watchdog::start();
    assert_eq!(
        my_uid(),
        0,
        "this test runs a peer as another user, which needs root"
    );
    const NOBODY: u32 = 65534;
    let dir = TempDir::new("fuid");
    // The other user makes its FIFOs in this directory.
    rustix::fs::chown(
        dir.path(),
        Some(rustix::process::Uid::from_raw(NOBODY)),
        Some(rustix::process::Gid::from_raw(NOBODY)),
    )
    .unwrap();
    let path = dir.path().join("x.fifo");
    let ep = endpoint(&path);
    let root_only = Options::new()
        .with_socket_mode(0o666)
        .with_allowed_uids([0]);
    let listener = Listener::bind_with(ep.as_str(), &root_only).unwrap();
    let mut client = peer!("connect", &ep).user(NOBODY, NOBODY).spawn();
    let line = client.expect("fail");
    assert!(line.starts_with("PermissionDenied "), "{line}");
    drop(listener);

    let both = Options::new()
        .with_socket_mode(0o666)
        .with_allowed_uids([0, NOBODY]);
    let listener = Listener::bind_with(ep.as_str(), &both).unwrap();
    let mut client = peer!("connect", &ep).user(NOBODY, NOBODY).spawn();
    let ch = listener.accept().unwrap();
    assert_eq!(client.expect("connected"), "pid=- uid=0");
    assert_eq!(ch.peer().uid, Some(NOBODY));
    assert_eq!(ch.peer().gid, Some(NOBODY));
    ch.send(b"hi").unwrap();
    assert_eq!(&*ch.recv().unwrap(), b"hi");
    drop(ch);

    // And the other way: that client refuses a listener of uid 0 when it allows only itself.
    let mut client = peer!("connect", &ep, "--allowed-uid", NOBODY.to_string())
        .user(NOBODY, NOBODY)
        .spawn();
    let line = client.expect("fail");
    assert!(line.starts_with("PermissionDenied "), "{line}");
}

/// Connection FIFOs that others could open (not 0600), or that are not two FIFOs of one
/// owner, are refused: the listener drops the request and removes the files, and goes on
/// serving.
#[test]
fn connection_fifos_open_to_others_are_refused() {
    let _watchdog = Watchdog::start();
    let dir = TempDir::new("fopen");
    let path = dir.path().join("x.fifo");
    let mut site_server = peer!("echo-server", endpoint(&path)).spawn();
    site_server.ready();
    for (token, m) in [("wide-0644", 0o644), ("wide-0660", 0o660)] {
        let mut s = RawStream::Fifo(raw_fifo::connect_with_mode(&path, token, m, GUARD).unwrap());
        // The listener opened `down` and let go of it: the end, with nothing said.
        s.assert_closed();
        assert_eq!(names(dir.path()), ["x.fifo"]);
    }
    assert_echoes(&endpoint(&path));
}

/// While connected, only the rendezvous is left as a file (connection FIFOs are removed once
/// both sides hold them); closing the listener removes it, and nothing is left.
#[test]
fn files_are_removed_on_close() {
    let _watchdog = Watchdog::start();
    let dir = TempDir::new("fclean");
    let path = dir.path().join("x.fifo");
    let ep = endpoint(&path);
    let listener = Listener::bind(ep.as_str()).unwrap();
    let mut clients = Vec::new();
    let mut served = Vec::new();
    for i in 0..5u8 {
        let c = Channel::connect(ep.as_str()).unwrap();
        let s = listener.accept().unwrap();
        c.send(&[i]).unwrap();
        assert_eq!(&*s.recv().unwrap(), &[i]);
        clients.push(c);
        served.push(s);
    }
    assert_eq!(names(dir.path()), ["x.fifo"]);
    drop(listener);
    assert!(names(dir.path()).is_empty());
    // Channels outlive the listener and its file.
    clients[0].send(b"still").unwrap();
    assert_eq!(&*served[0].recv().unwrap(), b"still");
    drop((clients, served));
    assert!(names(dir.path()).is_empty());
}

/// A listener killed with SIGKILL leaves its rendezvous, and clients killed mid-connect leave
/// their FIFOs: the next bind removes them (FIFOs of ours named after the rendezvous only)
/// and serves.
#[test]
fn stale_fifos_are_cleaned_at_the_next_bind() {
    let _watchdog = Watchdog::start();
    let dir = TempDir::new("fstale");
    let path = dir.path().join("x.fifo");
    let ep = endpoint(&path);
    let mut server = peer!("echo-server", &ep).spawn();
    server.ready();
    assert_echoes(&ep);
    server.kill();
    assert!(is_fifo(&path), "a killed listener leaves its FIFO");
    let stale: Vec<PathBuf> = ["1a-2-3.up", "1a-2-3.down", "raw-9.up"]
        .iter()
        .map(|s| dir.path().join(format!("x.fifo.{s}")))
        .collect();
    for p in &stale {
        mkfifo(p, 0o600);
    }
    let keep = [
        "x.fifo.Upper.up",  // not a token
        "x.fifo.tok.upx",   // not .up / .down
        "y.fifo.tok.up",    // another rendezvous
        "x.fifo.file.down", // not a FIFO
    ];
    for k in &keep[..3] {
        mkfifo(&dir.path().join(k), 0o600);
    }
    std::fs::write(dir.path().join(keep[3]), b"data").unwrap();
    assert_eq!(err_kind(Channel::connect(ep.as_str())), ErrorKind::NotFound);

    let mut server = peer!("echo-server", &ep).spawn();
    server.ready();
    let mut left = names(dir.path());
    left.retain(|n| n != "x.fifo");
    let mut want: Vec<String> = keep.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(left, want);
    assert_echoes(&ep);
}

fn err_kind<T: std::fmt::Debug>(r: libipc::Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

/// A live listener's rendezvous is never taken over; a path holding something else (a regular
/// file, a FIFO of another user) is left alone. All of them are AddressInUse.
#[test]
fn what_is_not_stale_is_left_alone() {
    let _watchdog = Watchdog::start();
    let dir = TempDir::new("flive");
    let path = dir.path().join("x.fifo");
    let ep = endpoint(&path);
    let mut server = peer!("echo-server", &ep).spawn();
    server.ready();
    let ino = std::fs::metadata(&path).unwrap().ino();
    assert_eq!(
        err_kind(Listener::bind(ep.as_str())),
        ErrorKind::AddressInUse
    );
    assert_eq!(std::fs::metadata(&path).unwrap().ino(), ino);
    assert_echoes(&ep);

    let file = dir.path().join("file.fifo");
    std::fs::write(&file, b"mine").unwrap();
    let e = Listener::bind(endpoint(&file).as_str()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddressInUse);
    assert!(e.message().contains("not a FIFO"), "{e}");
    assert_eq!(std::fs::read(&file).unwrap(), b"mine");
    assert_eq!(
        err_kind(Channel::connect(endpoint(&file).as_str())),
        ErrorKind::NotFound
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"mine");

    if my_uid() == 0 {
        let theirs = dir.path().join("theirs.fifo");
        mkfifo(&theirs, 0o600);
        rustix::fs::chown(&theirs, Some(rustix::process::Uid::from_raw(65534)), None).unwrap();
        let e = Listener::bind(endpoint(&theirs).as_str()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddressInUse);
        assert!(is_fifo(&theirs));
    }
}

/// Garbage written into the rendezvous (bytes that are no request, a request of another
/// version, one naming FIFOs that do not exist, a cut-off record) is skipped: the listener
/// keeps serving real clients.
#[test]
fn garbage_on_the_rendezvous_is_skipped() {
    let _watchdog = Watchdog::start();
    let dir = TempDir::new("fjunk");
    let path = dir.path().join("x.fifo");
    let ep = endpoint(&path);
    let mut server = peer!("echo-server", &ep).spawn();
    server.ready();
    let mut rv = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .unwrap();
    let mut version_2 = FifoRequest::new("abc").unwrap().encode();
    version_2[4] = 2;
    let nowhere = FifoRequest::new("no-such-fifos").unwrap().encode();
    let junk: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8 | 0x80).collect();
    rv.write_all(&junk).unwrap();
    rv.write_all(&version_2).unwrap();
    rv.write_all(&nowhere).unwrap();
    rv.write_all(&[0u8; FIFO_REQUEST_LEN]).unwrap();
    rv.write_all(&nowhere[..10]).unwrap();
    for _ in 0..3 {
        assert_echoes(&ep);
    }
    assert_eq!(names(dir.path()), ["x.fifo"]);
    let mut client = peer!("connect", &ep).spawn();
    client.expect("connected");
}

/// Writing into a FIFO whose reader is gone raises SIGPIPE; libipc keeps it from the process
/// even where SIGPIPE's action is the default (ending the process): the writer gets an error.
#[test]
fn a_vanished_reader_does_not_kill_the_writer() {
    let _watchdog = Watchdog::start();
    let dir = TempDir::new("fpipe");
    let path = dir.path().join("x.fifo");
    let ep = endpoint(&path);
    let listener = Listener::bind(ep.as_str()).unwrap();
    let writer = peer!(
        "stream",
        "connect",
        &ep,
        "--send",
        "forever",
        "--sigpipe-default"
    )
    .spawn();
    let ch = listener.accept().unwrap();
    for _ in 0..10 {
        ch.recv().unwrap();
    }
    drop(ch);
    let (status, lines) = writer.finish();
    assert_eq!(status.signal(), None, "killed by a signal: {lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("done ")),
        "{status}: {lines:?}"
    );
}

/// A listener that goes away after taking a client's request, before opening its FIFOs
/// (closed, or killed), leaves the client with `PeerDisconnected` at once, not a `Timeout`
/// after the handshake timeout: the client holds its end of the rendezvous until the
/// listener's first byte, and sees it lose its reader.
#[test]
fn a_listener_gone_after_taking_the_request_disconnects_the_client() {
    let _watchdog = Watchdog::start();
    let dir = TempDir::new("fgone");
    let path = dir.path().join("x.fifo");
    let listener = RawFifoListener::bind(&path).unwrap();
    let mut client = peer!("connect", endpoint(&path)).spawn();
    listener.next_request(GUARD).unwrap();
    drop(listener);
    let end = client.expect("fail");
    assert!(end.starts_with("PeerDisconnected"), "{end}");
}
