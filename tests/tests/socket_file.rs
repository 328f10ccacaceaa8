//! Socket files and the runtime directory: what a listener may reclaim, what it must leave
//! alone, the permissions it creates things with, and its cleanup.
//!
//! Unix only (Unix sockets, TCP or shared memory); the Windows run covers named pipes.

#![cfg(unix)]

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use libipc::{Channel, ErrorKind, Listener, Options};
use libipc_conformance::peer::{Peer, PeerCommand};
use libipc_conformance::transport::TempDir;
use libipc_conformance::watchdog::Watchdog;
use libipc_conformance::{my_uid, peer};

fn endpoint(path: &Path) -> String {
    format!("unix://{}", path.display())
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

fn is_socket(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// A client in another process connects to `ep` and echoes one message.
fn assert_serves_other_process(listener: &Listener, ep: &str) {
    let mut client = peer!("connect", ep).spawn();
    let ch = listener.accept().unwrap();
    client.expect("connected");
    assert_eq!(ch.peer().pid, Some(client.pid()));
    ch.send(b"ping").unwrap();
    assert_eq!(&*ch.recv().unwrap(), b"ping");
    ch.close();
    assert_eq!(client.expect("end"), "Closed");
}

/// We connect to `ep` and `server` (another process) echoes.
fn assert_served_by(server: &Peer, ep: &str) {
    let ch = Channel::connect(ep).unwrap();
    assert_eq!(ch.peer().pid, Some(server.pid()));
    ch.send(b"pong").unwrap();
    assert_eq!(&*ch.recv().unwrap(), b"pong");
}

/// Wait until connecting to `path` is refused. A process that another test thread forks
/// while the listening descriptor is open holds it until that process executes its program
/// (close-on-exec), and meanwhile the socket is live; the watchdog guards the wait.
fn wait_until_nobody_listens(path: &Path) {
    while std::os::unix::net::UnixStream::connect(path).is_ok() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A socket file nobody listens on (left by a listener that did not clean up) is reclaimed.
#[test]
fn stale_socket_file_is_reclaimed() {
    let _watchdog = Watchdog::start();
    let dir = TempDir::new("stale");
    let path = dir.path().join("x.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(is_socket(&path), "std leaves its socket file behind");
    wait_until_nobody_listens(&path);
    let listener = Listener::bind(endpoint(&path).as_str()).unwrap();
    assert_serves_other_process(&listener, &endpoint(&path));
}

/// The socket file of a listener process killed with SIGKILL is reclaimed by the next one.
#[test]
fn socket_of_killed_listener_is_reclaimed() {
    let _watchdog = Watchdog::start();
    let dir = TempDir::new("killed");
    let path = dir.path().join("x.sock");
    let mut server = peer!("echo-server", endpoint(&path)).spawn();
    server.ready();
    server.kill();
    assert!(is_socket(&path), "a killed listener cannot remove its file");
    let listener = Listener::bind(endpoint(&path).as_str()).unwrap();
    assert_serves_other_process(&listener, &endpoint(&path));
}

/// Binding where a live listener (in another process) is: AddressInUse, and the first
/// listener keeps its socket file and goes on serving.
#[test]
fn live_listener_is_not_stolen() {
    let _watchdog = Watchdog::start();
    let dir = TempDir::new("live");
    let path = dir.path().join("x.sock");
    let ep = endpoint(&path);
    let mut server = peer!("echo-server", &ep).spawn();
    server.ready();
    let inode = std::fs::metadata(&path).unwrap().ino();
    for _ in 0..3 {
        let err = Listener::bind(ep.as_str()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddressInUse, "{err}");
    }
    assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
    assert_served_by(&server, &ep);
}

/// Socket files are created 0600 by default and with the configured mode otherwise, in this
/// process and in another.
#[test]
fn socket_mode_is_0600_by_default_and_configurable() {
    let _watchdog = Watchdog::start();
    let dir = TempDir::new("mode");
    for (i, m) in [None, Some(0o660), Some(0o604), Some(0o600)]
        .into_iter()
        .enumerate()
    {
        let path = dir.path().join(format!("{i}.sock"));
        let opts = m.map_or_else(Options::new, |m| Options::new().with_socket_mode(m));
        let listener = Listener::bind_with(endpoint(&path).as_str(), &opts).unwrap();
        assert_eq!(mode(&path), m.unwrap_or(0o600), "in process, {m:?}");
        drop(listener);

        let mut cmd = peer!("echo-server", endpoint(&path));
        if let Some(m) = m {
            cmd = cmd.arg("--socket-mode").arg(format!("{m:o}"));
        }
        let mut server = cmd.spawn();
        server.ready();
        assert_eq!(mode(&path), m.unwrap_or(0o600), "other process, {m:?}");
        assert_served_by(&server, &endpoint(&path));
    }
}

/// A path holding something that is not a socket (a regular file, a directory, a symlink,
/// even one to a stale socket) is left exactly as it was: AddressInUse.
#[test]
fn non_socket_paths_are_left_alone() {
    let _watchdog = Watchdog::start();
    let dir = TempDir::new("notsock");
    let file = dir.path().join("file.sock");
    std::fs::write(&file, b"precious data").unwrap();
    let subdir = dir.path().join("dir.sock");
    std::fs::create_dir(&subdir).unwrap();
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let link = dir.path().join("link.sock");
    std::os::unix::fs::symlink(&stale, &link).unwrap();
    let dangling = dir.path().join("dangling.sock");
    std::os::unix::fs::symlink(dir.path().join("nothing"), &dangling).unwrap();
    for path in [&file, &subdir, &link, &dangling] {
        let before = std::fs::symlink_metadata(path).unwrap();
        let err = Listener::bind(endpoint(path).as_str()).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::AddressInUse,
            "{}: {err}",
            path.display()
        );
        let after = std::fs::symlink_metadata(path).unwrap();
        assert_eq!((before.ino(), before.mode()), (after.ino(), after.mode()));
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"precious data");
    assert!(is_socket(&stale), "the symlink's target is untouched too");
}

/// The default runtime directory for bare names is created with mode 0700, wherever the
/// environment puts it: `$LIBIPC_RUNTIME_DIR`, `$XDG_RUNTIME_DIR/libipc`, `$TMPDIR/libipc-<uid>`.
/// (Each case runs in a child process: only children get a changed environment.)
#[test]
fn runtime_dir_is_created_private() {
    let _watchdog = Watchdog::start();
    let tmp = TempDir::new("rundir");
    let xdg = tmp.path().join("xdg");
    std::fs::create_dir(&xdg).unwrap();
    let cases = [
        (
            "LIBIPC_RUNTIME_DIR",
            tmp.path().join("a/b"),
            tmp.path().join("a/b"),
        ),
        ("XDG_RUNTIME_DIR", xdg.clone(), xdg.join("libipc")),
        (
            "TMPDIR",
            tmp.path().to_owned(),
            tmp.path().join(format!("libipc-{}", my_uid())),
        ),
    ];
    for (var, value, expected) in cases {
        let mut server = only(peer!("echo-server", "svc"), var, &value).spawn();
        assert_eq!(server.ready(), "svc", "{var}");
        assert_eq!(mode(&expected), 0o700, "{var}: {}", expected.display());
        let sock = expected.join("svc.sock");
        assert_eq!(mode(&sock), 0o600, "{var}");
        assert_served_by(&server, &endpoint(&sock));
        let mut client = only(peer!("connect", "svc"), var, &value).spawn();
        let seen = client.expect("connected");
        assert!(
            seen.starts_with(&format!("pid={} ", server.pid())),
            "{var}: {seen}"
        );
    }
}

/// `cmd` with `var` as the only one of the variables that choose the runtime directory.
fn only(mut cmd: PeerCommand, var: &str, value: &Path) -> PeerCommand {
    for v in ["LIBIPC_RUNTIME_DIR", "XDG_RUNTIME_DIR", "TMPDIR"] {
        cmd = cmd.env_remove(v);
    }
    cmd.env(var, value)
}

/// A runtime directory that is not private (group or other permission bits, a symlink) or not
/// absolute is refused: binding there fails (PermissionDenied, InvalidArgument) and nothing is
/// created in it. A client whose runtime directory does not exist gets NotFound.
#[test]
fn unsafe_runtime_dir_is_refused() {
    let _watchdog = Watchdog::start();
    let tmp = TempDir::new("openrun");
    let private = tmp.path().join("private");
    std::fs::create_dir(&private).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&private, &link).unwrap();
    for (dir, bits) in [("0755", 0o755), ("0750", 0o750), ("0701", 0o701)] {
        let open = tmp.path().join(dir);
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(bits)).unwrap();
        let mut server = peer!("echo-server", "svc")
            .env("LIBIPC_RUNTIME_DIR", &open)
            .spawn();
        assert!(
            server.expect("fail").starts_with("PermissionDenied "),
            "{dir}"
        );
        assert_eq!(std::fs::read_dir(&open).unwrap().count(), 0, "{dir}");
    }
    let mut server = peer!("echo-server", "svc")
        .env("LIBIPC_RUNTIME_DIR", &link)
        .spawn();
    assert!(
        server.expect("fail").starts_with("PermissionDenied "),
        "symlink"
    );
    assert_eq!(std::fs::read_dir(&private).unwrap().count(), 0);

    let mut server = peer!("echo-server", "svc")
        .env("LIBIPC_RUNTIME_DIR", "relative/dir")
        .spawn();
    assert!(server.expect("fail").starts_with("InvalidArgument "));

    let missing = tmp.path().join("missing");
    let mut client = peer!("connect", "svc")
        .env("LIBIPC_RUNTIME_DIR", &missing)
        .spawn();
    assert!(client.expect("fail").starts_with("NotFound "));
    assert!(
        !missing.exists(),
        "connecting must not create the runtime directory"
    );
}

/// A socket path too long for the OS, or whose directory leaves no room for the private
/// temporary name binding uses, is InvalidEndpoint; nothing is created.
#[test]
fn overlong_socket_paths_are_invalid_endpoints() {
    let _watchdog = Watchdog::start();
    let tmp = TempDir::new("long");
    let room = 95usize.saturating_sub(tmp.path().as_os_str().len());
    let deep = tmp.path().join("d".repeat(room));
    std::fs::create_dir(&deep).unwrap();
    let near_limit = deep.join("s.sock");
    assert!(
        near_limit.as_os_str().len() <= 107,
        "the endpoint itself is valid"
    );
    let err = Listener::bind(endpoint(&near_limit).as_str()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidEndpoint, "{err}");
    assert_eq!(std::fs::read_dir(&deep).unwrap().count(), 0);
    let too_long = deep.join("x".repeat(20));
    let err = Listener::bind(endpoint(&too_long).as_str()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidEndpoint, "{err}");
}

/// A listener removes its socket file when dropped, in this process and in another that
/// stops normally; but never a file that replaced its socket meanwhile.
#[test]
fn listener_removes_its_socket_file() {
    let _watchdog = Watchdog::start();
    let dir = TempDir::new("cleanup");
    let path = dir.path().join("x.sock");
    let listener = Listener::bind(endpoint(&path).as_str()).unwrap();
    assert!(is_socket(&path));
    drop(listener);
    assert!(!path.exists(), "dropped listener left its socket file");

    let mut server = peer!("echo-server", endpoint(&path)).spawn();
    server.ready();
    assert!(is_socket(&path));
    assert_eq!(server.finish_ok(), ["bye"]);
    assert!(
        !path.exists(),
        "a process that stopped normally left its socket file"
    );

    let listener = Listener::bind(endpoint(&path).as_str()).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"someone else's").unwrap();
    drop(listener);
    assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");
}
