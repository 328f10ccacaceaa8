//! Access control checked with a second, unprivileged uid (docs/security.md, "Access control"):
//! the modes of the runtime directory, sockets and FIFOs; a process of another uid refused by
//! default on every Unix transport, and let in when the listener widens the mode and lists its
//! uid; the shared-memory segment out of that uid's reach.
//!
//! The second uid is 65534 (`nobody`): processes run as it through `setuid`/`setgid` with no
//! supplementary groups (what `setpriv --reuid=65534 --regid=65534 --clear-groups` does), which
//! needs root (or CAP_SETUID and CAP_SETGID); no user is created. The peer binary is linked or
//! copied into a directory of mode 0755 first, so that uid can run it wherever the build put
//! it. When no process can be run as that uid the tests fail and say why, unless
//! `LIBIPC_SKIP_SECOND_UID=1` is set (then they say they did not run).
//!
//! Linux only (abstract sockets, memfds and `/proc`).

#![cfg(target_os = "linux")]

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use libipc::{Channel, ErrorKind, Listener, Options};
use libipc_conformance::peer::{Peer, PeerCommand};
use libipc_conformance::transport::{TempDir, Transport, unique_name};
use libipc_conformance::watchdog::Watchdog;
use libipc_conformance::{my_uid, peer};

/// The other uid, and its group.
const NOBODY: u32 = 65534;

/// A uid other than ours that our tests may run processes as.
struct OtherUser {
    /// `ipc-test-peer`, reachable and executable by that uid.
    exe: PathBuf,
    _dir: TempDir,
}

impl OtherUser {
    /// Get ready to run processes as uid 65534: `None` only when `LIBIPC_SKIP_SECOND_UID=1`
    /// (said loudly); a failure otherwise.
    fn get() -> Option<OtherUser> {
        let test = std::thread::current()
            .name()
            .unwrap_or("access_uid")
            .to_owned();
        if std::env::var_os("LIBIPC_SKIP_SECOND_UID").is_some_and(|v| v == "1") {
            // Straight to the process's stderr, which the test harness does not capture.
            let _ = writeln!(
                std::io::stderr(),
                "\n*** {test}: NOT RUN: LIBIPC_SKIP_SECOND_UID=1 is set, so access control was \
                 not checked against a second uid ***\n"
            );
            return None;
        }
        assert_ne!(my_uid(), NOBODY, "these tests need a uid other than 65534");
        let dir = open_dir("uid", 0o755);
        let exe = dir.path().join("ipc-test-peer");
        let built = Path::new(env!("CARGO_BIN_EXE_ipc-test-peer"));
        if std::fs::hard_link(built, &exe).is_err() {
            std::fs::copy(built, &exe).expect("copy ipc-test-peer");
        }
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let user = OtherUser { exe, _dir: dir };
        let probe = user.command(&user.exe).args(["exit", "0"]).status();
        match probe {
            Ok(s) if s.success() => Some(user),
            Ok(s) => panic!(
                "\n*** {test}: a process of uid {NOBODY} could not run {} ({s}): its \
                 directories must be searchable by others ***\n",
                user.exe.display()
            ),
            Err(e) => panic!(
                "\n*** {test}: FAILED: cannot run a process as uid {NOBODY} ({e}). These tests \
                 need root (or CAP_SETUID and CAP_SETGID) to check access control against a \
                 second uid; set LIBIPC_SKIP_SECOND_UID=1 to skip them (they then say so). ***\n"
            ),
        }
    }

    /// `program` to run as uid and gid 65534, with no supplementary groups (the standard
    /// library drops them when root sets the uid) and nothing on stdin.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.uid(NOBODY).gid(NOBODY).stdin(Stdio::null());
        cmd
    }

    /// `ipc-test-peer` as uid 65534.
    fn peer(&self) -> PeerCommand {
        PeerCommand::new(self.exe.to_str().expect("UTF-8 path")).user(NOBODY, NOBODY)
    }

    /// Whether uid 65534 can open `path` for reading; `Err` with what the shell said if not.
    fn open(&self, path: &Path) -> Result<(), String> {
        let out = self
            .command("/bin/sh")
            .args(["-c", "exec 3<\"$1\"", "sh"])
            .arg(path)
            .env("LC_ALL", "C")
            .output()
            .expect("run /bin/sh");
        match out.status.success() {
            true => Ok(()),
            false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
        }
    }
}

/// A fresh directory with `mode` (0755: others may search it; 0o1777: anyone may create files
/// in it, like /tmp).
fn open_dir(tag: &str, mode: u32) -> TempDir {
    let dir = TempDir::new(tag);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    dir
}

/// `ipc-test-peer` as the test's own uid, started by a shell under umask 000, so the modes
/// checked below come from libipc and not from an inherited umask.
fn peer_under_umask_000() -> PeerCommand {
    PeerCommand::new("/bin/sh")
        .arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_ipc-test-peer"))
}

/// An echo server of ours at `ep` (bare names resolving into `run`), once it is ready.
fn serve(cmd: PeerCommand, ep: &str, run: &Path, extra: &[&str]) -> Peer {
    let mut p = cmd
        .args(["echo-server", ep])
        .args(extra)
        .env("LIBIPC_RUNTIME_DIR", run)
        .spawn();
    p.ready();
    p
}

/// Mode bits (with the sticky, setuid and setgid bits), owner, and whether it is a socket,
/// FIFO or directory.
fn stat(path: &Path) -> (u32, u32, &'static str) {
    let m =
        std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
    let t = m.file_type();
    let kind = match () {
        _ if t.is_socket() => "socket",
        _ if t.is_fifo() => "fifo",
        _ if t.is_dir() => "dir",
        _ => "other",
    };
    (m.permissions().mode() & 0o7777, m.uid(), kind)
}

/// The `fail` line of a peer that must be refused; its error kind.
fn refused(mut p: Peer) -> String {
    let line = p.expect("fail");
    line.split(' ').next().unwrap_or_default().to_owned()
}

/// Every listener makes its runtime directory 0700 (and any parent it creates), its sockets
/// (bare names, `unix://`, the `shm://` control socket) and rendezvous FIFOs 0600, and a
/// client's connection FIFOs 0600, owned by their maker, whatever the umask.
#[test]
fn directories_sockets_and_fifos_are_private() {
    let _watchdog = Watchdog::start();
    let me = my_uid();
    let base = open_dir("modes", 0o755);
    let run = base.path().join("a/b");
    let listeners = [
        ("svc".to_owned(), run.join("svc.sock"), "socket"),
        ("shm://svc".to_owned(), run.join("svc.shm.sock"), "socket"),
        ("fifo://svc".to_owned(), run.join("svc.fifo"), "fifo"),
        (
            format!("unix://{}/x.sock", base.path().display()),
            base.path().join("x.sock"),
            "socket",
        ),
        (
            format!("fifo://{}/x.fifo", base.path().display()),
            base.path().join("x.fifo"),
            "fifo",
        ),
    ];
    let mut servers = Vec::new();
    for (ep, file, kind) in &listeners {
        servers.push(serve(peer_under_umask_000(), ep, &run, &[]));
        assert_eq!(stat(file), (0o600, me, *kind), "{ep}: {}", file.display());
    }
    assert_eq!(stat(&run), (0o700, me, "dir"));
    assert_eq!(stat(run.parent().unwrap()), (0o700, me, "dir"));

    // A client's connection FIFOs, seen while they wait for a listener: a rendezvous held
    // here, which only reads the request.
    let rdv = base.path().join("held.fifo");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &rdv,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let fd = rustix::fs::open(
        &rdv,
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let _client = peer_under_umask_000()
        .args(["connect", &format!("fifo://{}", rdv.display())])
        .spawn();
    let mut request = [0u8; libipc::wire::FIFO_REQUEST_LEN];
    let mut got = 0;
    while got < request.len() {
        got += rustix::io::read(&fd, &mut request[got..]).unwrap();
    }
    let pair: Vec<PathBuf> = std::fs::read_dir(base.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("held.fifo.") && (n.ends_with(".up") || n.ends_with(".down"))
        })
        .collect();
    assert_eq!(pair.len(), 2, "{pair:?}");
    for p in &pair {
        assert_eq!(stat(p), (0o600, me, "fifo"), "{}", p.display());
    }
}

/// A process of another uid cannot connect to a listener with the default options: a socket
/// or rendezvous FIFO of mode 0600 in a directory anyone may enter stops it
/// (`PermissionDenied`, from the kernel), and so does the 0700 runtime directory of bare
/// names, `shm://` and `fifo://name`, whether it names the endpoint (libipc's own check of the
/// directory) or the file's path (the kernel's), and even when that listener widened its
/// mode and lists that uid. Abstract sockets have no file: a listener with no allow-list
/// admits only its own uid, and one that lists uids admits those.
#[test]
fn another_uid_cannot_connect_by_default() {
    let _watchdog = Watchdog::start();
    let Some(other) = OtherUser::get() else {
        return;
    };
    let me = my_uid().to_string();
    let shared = open_dir("shared", 0o1777);
    let base = open_dir("named", 0o755);
    let run = base.path().join("run");
    let sock = format!("unix://{}/x.sock", shared.path().display());
    let fifo = format!("fifo://{}/x.fifo", shared.path().display());
    let _s = [
        serve(peer!(), &sock, &run, &[]),
        serve(peer!(), &fifo, &run, &[]),
    ];
    for ep in [&sock, &fifo] {
        let p = other.peer().args(["connect", ep]).spawn();
        assert_eq!(refused(p), "PermissionDenied", "{ep}");
    }

    let nobody = NOBODY.to_string();
    let wide = [
        "--socket-mode",
        "666",
        "--allowed-uid",
        &me,
        "--allowed-uid",
        &nobody,
    ];
    for (i, extra) in [&[][..], &wide[..]].into_iter().enumerate() {
        let names = [
            (format!("n{i}"), format!("n{i}.sock"), "unix"),
            (format!("shm://s{i}"), format!("s{i}.shm.sock"), "unix"),
            (format!("fifo://f{i}"), format!("f{i}.fifo"), "fifo"),
        ];
        for (ep, file, scheme) in names {
            let _server = serve(peer!(), &ep, &run, extra);
            let by_name = other
                .peer()
                .args(["connect", &ep])
                .env("LIBIPC_RUNTIME_DIR", &run)
                .spawn();
            assert_eq!(refused(by_name), "PermissionDenied", "{ep} {extra:?}");
            let path = format!("{scheme}://{}", run.join(&file).display());
            let by_path = other.peer().args(["connect", &path]).spawn();
            assert_eq!(refused(by_path), "PermissionDenied", "{path} {extra:?}");
        }
    }

    // unix:@name has no file: with no allow-list of its own, the listener admits only its own
    // uid (docs/endpoints.md) ...
    let abs = format!("unix:@{}", unique_name());
    let _listener = Listener::bind(&abs).unwrap();
    let p = other.peer().args(["connect", &abs]).spawn();
    assert_eq!(refused(p), "PermissionDenied");
    // ... and the uids it lists when it lists them. (A fresh name: a child being started by
    // another test may still hold a copy of the old listener's socket until it execs, keeping
    // that name bound.)
    let abs = format!("unix:@{}", unique_name());
    let open = Options::new().with_allowed_uids([my_uid(), NOBODY]);
    let listener = Listener::bind_with(&abs, &open).unwrap();
    let mut client = other.peer().args(["connect", &abs]).spawn();
    let ch = listener.accept().unwrap();
    assert_eq!(ch.peer().uid, Some(NOBODY));
    assert_eq!(
        client.expect("connected"),
        format!("pid={} uid={me}", std::process::id())
    );
}

/// The refusals above are about access: with the socket or rendezvous mode widened (0666) in
/// a directory the other uid may use, a listener whose allow-list leaves that uid out refuses
/// it at accept (`PermissionDenied`), and one that lists it lets it in, sees its uid, and
/// serves it; so does an abstract socket. The listener goes on serving after a refusal.
#[test]
fn another_uid_listed_and_let_in_connects() {
    let _watchdog = Watchdog::start();
    let Some(other) = OtherUser::get() else {
        return;
    };
    let shared = open_dir("wide", 0o1777);
    // Two of each kind, one per listener (a fresh abstract name for the second: see above).
    let endpoint = |i: usize| {
        [
            format!("unix://{}/x{i}.sock", shared.path().display()),
            format!("fifo://{}/x{i}.fifo", shared.path().display()),
            format!("unix:@{}", unique_name()),
        ]
    };
    for (ep, ep2) in endpoint(0).iter().zip(&endpoint(1)) {
        let only_me = Options::new()
            .with_socket_mode(0o666)
            .with_allowed_uids([my_uid()]);
        let listener = Listener::bind_with(ep, &only_me).unwrap();
        let p = other.peer().args(["connect", ep]).spawn();
        assert_eq!(refused(p), "PermissionDenied", "{ep}");
        let ch = Channel::connect(ep).unwrap();
        let mine = listener.accept().unwrap();
        assert_eq!(mine.peer().uid, Some(my_uid()), "{ep}");
        drop((ch, mine, listener));

        let both = only_me.with_allowed_uids([my_uid(), NOBODY]);
        let listener = Listener::bind_with(ep2, &both).unwrap();
        let mut client = other.peer().args(["connect", ep2]).spawn();
        let ch = listener.accept().unwrap();
        assert_eq!((ch.peer().uid, ch.peer().gid), (Some(NOBODY), Some(NOBODY)));
        let seen = client.expect("connected");
        assert!(seen.ends_with(&format!("uid={}", my_uid())), "{ep}: {seen}");
        ch.send(b"across uids").unwrap();
        assert_eq!(&*ch.recv().unwrap(), b"across uids", "{ep}");
        ch.close();
        assert_eq!(client.expect("end"), "Closed", "{ep}");
    }
}

/// Another uid cannot reach a shared-memory segment: it exists only as a memfd passed over
/// the control socket (never a file in /dev/shm or elsewhere) and, once mapped, only as a
/// mapping. Neither the listener's nor the client's mapping of it (`/proc/<pid>/map_files`),
/// their memory (`/proc/<pid>/mem`) nor their doorbells (`/proc/<pid>/fd`) can be opened by
/// that uid, while we can open the mapping.
#[test]
fn another_uid_cannot_reach_a_segment() {
    let _watchdog = Watchdog::start();
    let Some(other) = OtherUser::get() else {
        return;
    };
    let denied = |path: &Path, what: &str| {
        let err = other
            .open(path)
            .expect_err(&format!("uid {NOBODY} opened {what} {}", path.display()));
        assert!(
            err.contains("Permission denied") || err.contains("not permitted"),
            "{what}: {err}"
        );
    };
    let mut site = Transport::Shm.site();
    let server = peer!("echo-server", site.there()).listening(&mut site);
    let ch = Channel::connect(site.here()).unwrap();
    ch.send(b"mapped").unwrap();
    assert_eq!(&*ch.recv().unwrap(), b"mapped");
    for pid in [server.pid(), std::process::id()] {
        let proc = Path::new("/proc").join(pid.to_string());
        let maps = std::fs::read_to_string(proc.join("maps")).unwrap();
        let segments: Vec<&str> = maps
            .lines()
            .filter(|l| l.contains("/memfd:"))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        assert!(!segments.is_empty(), "pid {pid}: no memfd mapped:\n{maps}");
        for range in segments {
            let path = proc.join("map_files").join(range);
            std::fs::File::open(&path)
                .unwrap_or_else(|e| panic!("our own {}: {e}", path.display()));
            denied(&path, "the segment's mapping");
        }
        denied(&proc.join("mem"), "the memory");
        let mut bells = 0;
        for entry in std::fs::read_dir(proc.join("fd")).unwrap() {
            let path = entry.unwrap().path();
            if std::fs::read_link(&path).is_ok_and(|t| t == Path::new("anon_inode:[eventfd]")) {
                denied(&path, "a doorbell");
                bells += 1;
            }
        }
        assert!(bells >= 2, "pid {pid}: {bells} doorbells");
    }
}

/// A client that expects the service's uid refuses a squatter of another uid that bound the
/// name first, before sending its hello (`PermissionDenied`), on Unix sockets (a path in a
/// directory anyone may write, an abstract name) and FIFOs; expecting the squatter's uid
/// connects, so the refusal is the option's. `shm://` and bare names cannot be squatted: a
/// runtime directory another uid made is refused by the client, option or not. Over `shm://`
/// the option is checked all the same (on a listener of ours).
#[test]
fn a_client_expecting_the_server_uid_refuses_a_squatter() {
    let _watchdog = Watchdog::start();
    let Some(other) = OtherUser::get() else {
        return;
    };
    let ours = Options::new().with_expected_server_uid(my_uid());
    let theirs = Options::new().with_expected_server_uid(NOBODY);
    let shared = open_dir("squat", 0o1777);
    // The squatter lets our uid in (an abstract listener admits only its own uid otherwise).
    let me = my_uid().to_string();
    let squat = |ep: &str, env: Option<&Path>| {
        let mut cmd = other.peer().args(["echo-server", ep, "--allowed-uid", &me]);
        if let Some(run) = env {
            cmd = cmd.env("LIBIPC_RUNTIME_DIR", run);
        }
        let mut p = cmd.spawn();
        p.ready();
        p
    };
    let sockets = [
        format!("unix://{}/svc.sock", shared.path().display()),
        format!("unix:@{}", unique_name()),
    ];
    for ep in &sockets {
        let _squatter = squat(ep, None);
        let err = Channel::connect_with(ep, &ours).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{ep}: {err}");
        let ch = Channel::connect_with(ep, &theirs).unwrap();
        assert_eq!(ch.peer().uid, Some(NOBODY));
        ch.send(b"squatted").unwrap();
        assert_eq!(&*ch.recv().unwrap(), b"squatted");
    }
    let fifo = format!("fifo://{}/svc.fifo", shared.path().display());
    let _squatter = squat(&fifo, None);
    let err = Channel::connect_with(&fifo, &ours).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{fifo}: {err}");

    // A runtime directory of another uid, with that uid's listeners in it.
    let run = shared.path().join("run");
    for ep in ["shm://svc", "svc", "fifo://svc"] {
        let _squatter = squat(ep, Some(&run));
        let client = peer!("connect", ep).env("LIBIPC_RUNTIME_DIR", &run).spawn();
        assert_eq!(refused(client), "PermissionDenied", "{ep}");
    }
    assert_eq!(stat(&run), (0o700, NOBODY, "dir"));

    // shm://, on a listener of ours.
    let mut site = Transport::Shm.site();
    let _server = peer!("echo-server", site.there()).listening(&mut site);
    let err = Channel::connect_with(site.here(), &theirs).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    let ch = Channel::connect_with(site.here(), &ours).unwrap();
    ch.send(b"ours").unwrap();
    assert_eq!(&*ch.recv().unwrap(), b"ours");
}

/// A gid none of our processes has, for the group allow-lists below.
const GROUP: u32 = 4242;

/// Our primary gid and supplementary groups (from `/proc/self/status`).
fn my_groups() -> Vec<u32> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let ids = |key: &str| -> Vec<u32> {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        line[key.len()..]
            .split_whitespace()
            .map(|g| g.parse().unwrap())
            .collect()
    };
    let mut all = vec![ids("Gid:")[1]];
    all.extend(ids("Groups:"));
    all
}

/// A process's uid, primary gid and supplementary groups.
type Ids<'a> = (u32, u32, &'a [u32]);

/// `ipc-test-peer connect <ep>` (what `other` can run) as `uid` with primary group `gid` and
/// exactly the supplementary `groups`, set while the child is still root, before its uid.
struct Client(
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
);

impl Client {
    fn start(
        other: &OtherUser,
        (uid, gid, groups): Ids<'_>,
        ep: &str,
        env: &[(String, String)],
    ) -> Client {
        let groups: Vec<libc::gid_t> = groups.to_vec();
        let mut cmd = Command::new(&other.exe);
        cmd.args(["connect", ep])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        // SAFETY: the closure runs in the forked child before exec; it makes three system
        // calls on memory allocated before the fork, and neither allocates nor takes locks.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("start ipc-test-peer");
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        Client(child, out)
    }

    /// `Ok((uid, gid))` of the client as `listener` saw it once it was let in (the channel is
    /// then closed, which ends the client), or `Err(kind)` of its refusal.
    fn outcome(mut self, listener: &Listener) -> Result<(Option<u32>, Option<u32>), String> {
        use std::io::BufRead;
        let mut line = String::new();
        self.1.read_line(&mut line).unwrap();
        let result = if line.starts_with("connected ") {
            let ch = listener.accept().unwrap();
            Ok((ch.peer().uid, ch.peer().gid))
        } else {
            let fail = line
                .strip_prefix("fail ")
                .unwrap_or_else(|| panic!("{line:?}"));
            Err(fail.split(' ').next().unwrap_or_default().to_owned())
        };
        self.0.wait().unwrap();
        result
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The gid allow-list, with a process of another uid and group (65534) over Unix sockets (a
/// path, an abstract name) and FIFOs: a listener listing that gid lets it in; one listing
/// another gid, or ours, refuses it. A supplementary group counts on sockets, not on FIFOs
/// (whose only group is the connection FIFO's, the client's primary gid). An abstract
/// listener with a gid list alone takes it as given: no own-uid default, so we are refused.
#[test]
fn another_uid_admitted_by_its_groups() {
    let _watchdog = Watchdog::start();
    let Some(other) = OtherUser::get() else {
        return;
    };
    let mine = my_groups();
    assert!(
        !mine.contains(&GROUP) && !mine.contains(&NOBODY),
        "these tests need a process outside groups {GROUP} and {NOBODY}: {mine:?}"
    );
    let shared = open_dir("gids", 0o1777);
    let nobody = (NOBODY, NOBODY, &[][..]);
    let nobody_in_group = (NOBODY, NOBODY, &[GROUP][..]);
    let mut n = 0;
    let mut fresh = |kind: &str| {
        n += 1;
        match kind {
            "unix" => format!("unix://{}/g{n}.sock", shared.path().display()),
            "fifo" => format!("fifo://{}/g{n}.fifo", shared.path().display()),
            _ => format!("unix:@{}", unique_name()),
        }
    };
    for kind in ["unix", "fifo", "abstract"] {
        let wide = Options::new().with_socket_mode(0o666);
        let cases: [(&[u32], _, _); 5] = [
            (&[NOBODY], nobody, Ok((Some(NOBODY), Some(NOBODY)))),
            (&[GROUP], nobody, Err("PermissionDenied".to_owned())),
            (&[mine[0]], nobody, Err("PermissionDenied".to_owned())),
            (
                &[GROUP],
                nobody_in_group,
                match kind {
                    "fifo" => Err("PermissionDenied".to_owned()),
                    _ => Ok((Some(NOBODY), Some(NOBODY))),
                },
            ),
            // Either list admits: a uid list leaving it out does not matter.
            (
                &[GROUP, 7],
                nobody_in_group,
                match kind {
                    "fifo" => Err("PermissionDenied".to_owned()),
                    _ => Ok((Some(NOBODY), Some(NOBODY))),
                },
            ),
        ];
        for (i, (gids, ids, want)) in cases.into_iter().enumerate() {
            let ep = fresh(kind);
            let mut opts = wide.clone().with_allowed_gids(gids.iter().copied());
            if i == 4 {
                opts = opts.with_allowed_uids([my_uid()]);
            }
            let listener = Listener::bind_with(&ep, &opts).unwrap();
            let got = Client::start(&other, ids, &ep, &[]).outcome(&listener);
            assert_eq!(got, want, "{ep}: allowed_gids {gids:?}, client {ids:?}");
        }
    }
    // An abstract listener listing only nobody's group refuses us (no own-uid default).
    let abs = fresh("abstract");
    let _listener = Listener::bind_with(&abs, &Options::new().with_allowed_gids([NOBODY])).unwrap();
    let err = Channel::connect(&abs).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
}

/// The same over `shm://` (whose runtime directory only our uid may use): processes of our
/// uid with other groups, let in by their primary or supplementary group and refused when
/// neither is listed.
#[test]
fn shm_admits_by_groups() {
    let _watchdog = Watchdog::start();
    let Some(other) = OtherUser::get() else {
        return;
    };
    let me = my_uid();
    let cases: [(&[u32], Ids<'_>, bool); 4] = [
        (&[GROUP], (me, GROUP + 1, &[GROUP]), true),
        (&[GROUP], (me, GROUP + 1, &[]), false),
        (&[GROUP + 1], (me, GROUP + 1, &[]), true),
        (&[GROUP + 2], (me, GROUP + 1, &[GROUP]), false),
    ];
    for (i, (gids, ids, admitted)) in cases.into_iter().enumerate() {
        let site = Transport::Shm.site();
        let opts = Options::new().with_allowed_gids(gids.iter().copied());
        let listener = Listener::bind_with(site.here(), &opts).unwrap();
        let got = Client::start(&other, ids, site.there(), site.env()).outcome(&listener);
        let want = match admitted {
            true => Ok((Some(me), Some(GROUP + 1))),
            false => Err("PermissionDenied".to_owned()),
        };
        assert_eq!(got, want, "case {i}: allowed_gids {gids:?}, client {ids:?}");
    }
}
