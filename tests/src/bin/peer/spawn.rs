//! The parent-and-child modes of `ipc-test-peer`: `child-echo`, `from-env`, `fd-is`, `exit`,
//! `sleep` and `spawn-echo` (see the command-line summary in `peer.rs`).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use libipc::spawn::CHANNEL_FD_ENV;
use libipc::{Channel, ErrorKind};
use libipc_conformance::stream;

use super::{Args, Fail, echo, show};

/// `child-echo`: open the inherited channel; report; optionally check what a grandchild
/// inherits; echo until the channel ends.
pub(crate) fn child_echo(args: &Args) -> Result<(), Fail> {
    let ch = Channel::from_env_with(&args.options()?)?;
    let peer = ch.peer();
    println!(
        "connected pid={} uid={} max={}",
        show(peer.pid),
        show(peer.uid),
        ch.max_message_size()
    );
    if args.flag("--twice") {
        let again = Channel::from_env().map(|_| ()).map_err(|e| e.kind());
        println!("second {}", again.err().map_or("ok", ErrorKind::name));
    }
    if args.flag("--check-fd") {
        ch.send(fd_report()?.as_bytes())?;
    }
    echo(&ch);
    Ok(())
}

/// Whether our end (named in the environment) is close-on-exec, and whether a grandchild
/// started now holds it: `cloexec=yes grandchild=not-inherited`.
fn fd_report() -> Result<String, Fail> {
    let token = std::env::var(CHANNEL_FD_ENV).map_err(|e| format!("{CHANNEL_FD_ENV}: {e}"))?;
    let fd: i32 = token.parse().map_err(|e| format!("{token}: {e}"))?;
    let path = format!("/proc/self/fd/{fd}");
    let meta = std::fs::metadata(&path).map_err(|e| format!("{path}: {e}"))?;
    let flags = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
        .map_err(|e| format!("fdinfo: {e}"))?;
    // `flags:` in fdinfo is octal; O_CLOEXEC is 0o2000000 there.
    let octal = flags
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .map(str::trim)
        .ok_or_else(|| "no flags in fdinfo".to_owned())?;
    let cloexec = u32::from_str_radix(octal, 8).map_err(|e| e.to_string())? & 0o2000000 != 0;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .args([
            "fd-is",
            &token,
            &meta.dev().to_string(),
            &meta.ino().to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("grandchild: {e}"))?;
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok(format!(
        "cloexec={} grandchild={answer}",
        if cloexec { "yes" } else { "no" }
    ))
}

/// `fd-is FD DEV INO`: print `inherited` if descriptor FD is open here and is that file,
/// else `not-inherited`.
pub(crate) fn fd_is(args: &Args) -> Result<(), Fail> {
    let fd = args.pos(0, "fd")?;
    let same = std::fs::metadata(format!("/proc/self/fd/{fd}")).is_ok_and(|m| {
        m.dev().to_string() == args.pos(1, "dev").unwrap_or_default()
            && m.ino().to_string() == args.pos(2, "ino").unwrap_or_default()
    });
    println!("{}", if same { "inherited" } else { "not-inherited" });
    Ok(())
}

/// `from-env [--make KIND]`: make a descriptor of KIND and name it in the environment (before
/// any thread starts), then open the channel from the environment; print `connected` (and
/// echo), or `error <ErrorKind> <message>` and, for a made descriptor, whether it is still
/// open (`still-open yes|no`).
pub(crate) fn from_env(args: &Args) -> Result<(), Fail> {
    let made = match args.opts.get("--make") {
        Some(kind) => Some(make(&kind[0])?),
        None => None,
    };
    if let Some(fd) = &made {
        // SAFETY: this process runs no other thread yet (main calls this before starting
        // any), so nothing reads the environment concurrently.
        unsafe { std::env::set_var(CHANNEL_FD_ENV, fd.as_raw_fd().to_string()) };
    }
    match Channel::from_env_with(&args.options()?) {
        Ok(ch) => {
            println!("connected");
            echo(&ch);
        }
        Err(e) => {
            println!("error {} {}", e.kind(), e.message());
            if let Some(fd) = made {
                println!(
                    "still-open {}",
                    if is_open(fd.as_fd()) { "yes" } else { "no" }
                );
                std::mem::forget(fd); // whether it was closed is what we report
            }
        }
    }
    Ok(())
}

fn is_open(fd: BorrowedFd<'_>) -> bool {
    rustix::io::fcntl_getfd(fd).is_ok()
}

/// A descriptor that is not a usable channel end.
fn make(kind: &str) -> Result<OwnedFd, Fail> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, socket_with, socketpair};
    let sock = |family, ty| {
        socket_with(family, ty, SocketFlags::CLOEXEC, None).map_err(|e| Fail::from(e.to_string()))
    };
    Ok(match kind {
        "file" => std::fs::File::open("/proc/self/exe")
            .map_err(|e| e.to_string())?
            .into(),
        "udp" => sock(AddressFamily::INET, SocketType::DGRAM)?,
        "tcp" => {
            let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            let addr = l.local_addr().map_err(|e| e.to_string())?;
            let s = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
            std::mem::forget(l.accept()); // keep the other end open
            s.into()
        }
        "unix-dgram" => sock(AddressFamily::UNIX, SocketType::DGRAM)?,
        "unix-unconnected" => sock(AddressFamily::UNIX, SocketType::STREAM)?,
        "pair-closed" => {
            let (a, b) = socketpair(
                AddressFamily::UNIX,
                SocketType::STREAM,
                SocketFlags::CLOEXEC,
                None,
            )
            .map_err(|e| e.to_string())?;
            drop(b);
            a
        }
        other => return Err(format!("--make {other:?}: unknown kind").into()),
    })
}

/// `exit CODE`: exit at once with CODE, never opening the channel.
pub(crate) fn exit(args: &Args) -> Result<(), Fail> {
    let code = args
        .pos(0, "code")?
        .parse()
        .map_err(|e| format!("<code>: {e}"))?;
    std::process::exit(code);
}

/// `sleep`: sleep (never opening the channel) until killed.
pub(crate) fn sleep(_: &Args) -> Result<(), Fail> {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// `spawn-echo N PROGRAM ARGS...` (everything after N is the child's command line, taken as
/// is): start PROGRAM with a channel (Channel::spawn), print `spawned pid=<pid> peer=<peer
/// pid>`, send N checksummed messages while checking the echoes, close, wait for the child and
/// print `done <exit status>`.
pub(crate) fn spawn_echo(argv: &[String]) -> Result<(), Fail> {
    let [n, program, rest @ ..] = argv else {
        return Err("spawn-echo N PROGRAM ARGS...".to_owned().into());
    };
    let n: u32 = n.parse().map_err(|e| format!("<N>: {e}"))?;
    let mut cmd = Command::new(program);
    cmd.args(rest).stdin(Stdio::null());
    let (ch, mut child) = Channel::spawn(&mut cmd)?;
    println!("spawned pid={} peer={}", child.id(), show(ch.peer().pid));
    let spec = stream::Spec {
        send: stream::Count::N(u64::from(n)),
        recv: stream::Count::N(u64::from(n)),
        send_seed: 7,
        recv_seed: 7,
        max_size: 64 * 1024,
        end_marker: false,
        then_end: false,
        close: true,
    };
    let report = stream::run(&ch, &spec, &stream::Progress::default());
    if let Some(bad) = report.bad {
        return Err(bad.into());
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    println!("done {status}");
    Ok(())
}
