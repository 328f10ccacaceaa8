//! Unix (Linux-tested) implementation of the platform layer.

use std::io;
use std::mem::MaybeUninit;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::sockopt::Timeout;
use rustix::net::{AddressFamily, SendFlags, SocketAddrUnix, SocketFlags, SocketType};

use crate::conn::PeerCredentials;
use crate::error::{Error, ErrorKind, Result};

const BACKLOG: i32 = 1024;

/// `std::io::Error` from a rustix errno.
fn ioe(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// `now + d`, saturating (a `Duration::MAX` timeout means "about forever", never a panic).
pub(crate) fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 86_400))
}

/// Lock `m`, waiting at most until `deadline` (`None`: as long as it takes). Another thread
/// blocked in `recv` or `send` holds the lock; a timed call must not wait on it forever.
pub(crate) fn lock_until<T>(
    m: &std::sync::Mutex<T>,
    deadline: Option<Instant>,
) -> Result<std::sync::MutexGuard<'_, T>> {
    let Some(deadline) = deadline else {
        return Ok(m.lock().unwrap_or_else(|p| p.into_inner()));
    };
    loop {
        match m.try_lock() {
            Ok(g) => return Ok(g),
            Err(std::sync::TryLockError::Poisoned(p)) => return Ok(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) if Instant::now() >= deadline => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "another thread is using this side of the channel",
                ));
            }
            Err(std::sync::TryLockError::WouldBlock) => {
                std::thread::sleep(Duration::from_micros(50))
            }
        }
    }
}

pub(crate) fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

pub(crate) fn runtime_dir() -> Result<PathBuf> {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = from_env("LIBIPC_RUNTIME_DIR") {
        return absolute(dir, "LIBIPC_RUNTIME_DIR");
    }
    if let Some(dir) = from_env("XDG_RUNTIME_DIR") {
        return Ok(absolute(dir, "XDG_RUNTIME_DIR")?.join("libipc"));
    }
    Ok(std::env::temp_dir().join(format!("libipc-{}", current_uid())))
}

fn absolute(dir: PathBuf, var: &str) -> Result<PathBuf> {
    if dir.is_absolute() {
        Ok(dir)
    } else {
        Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("${var} must be an absolute path, got {}", dir.display()),
        ))
    }
}

/// Check an existing runtime directory is private (for connecting): missing is `NotFound`.
pub(crate) fn check_private_dir(dir: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::new(
            ErrorKind::NotFound,
            format!("nobody is listening: {} does not exist", dir.display()),
        )),
        Err(e) => Err(Error::from_io(
            &e,
            format_args!("checking {}", dir.display()),
        )),
        Ok(_) => verify_private_dir(dir),
    }
}

/// Create `dir` with mode 0700 if missing, then insist it is a real directory, owned by us,
/// with no group or other permissions.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<()> {
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) => {
            return Err(Error::from_io(
                &e,
                format_args!("creating runtime directory {}", dir.display()),
            ));
        }
    }
    verify_private_dir(dir)
}

fn verify_private_dir(dir: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| Error::from_io(&e, format_args!("checking {}", dir.display())))?;
    if !meta.is_dir() {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("{} is not a directory", dir.display()),
        ));
    }
    if meta.uid() != current_uid() {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "{} is owned by uid {}, not by this user ({})",
                dir.display(),
                meta.uid(),
                current_uid()
            ),
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "{} has mode {:o}; it must not be accessible to group or others (0700)",
                dir.display(),
                meta.permissions().mode() & 0o777
            ),
        ));
    }
    Ok(())
}

/// Where a Unix socket lives.
#[derive(Debug, Clone)]
pub(crate) enum UnixAddr {
    Path(PathBuf),
    Abstract(String),
}

impl UnixAddr {
    fn sockaddr(&self) -> Result<SocketAddrUnix> {
        match self {
            UnixAddr::Path(p) => SocketAddrUnix::new(p.as_path()),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            UnixAddr::Abstract(n) => SocketAddrUnix::new_abstract_name(n.as_bytes()),
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            UnixAddr::Abstract(_) => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    "abstract sockets are Linux-only",
                ));
            }
        }
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidEndpoint,
                format!("socket address: {}", ioe(e)),
            )
        })
    }
}

/// The identity of a socket file this process created, so it only ever removes its own.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path)
            && meta.dev() == self.dev
            && meta.ino() == self.ino
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn unix_socket() -> Result<OwnedFd> {
    rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::from_io(&ioe(e), "creating socket"))
}

/// Bind and listen on a Unix socket. For a path, the socket is created inside a fresh 0700
/// directory beside the target, given `mode`, then hard-linked into place (link fails if the
/// name exists, so nothing is ever replaced), so no one can reach it with wider permissions.
pub(crate) fn bind_unix(addr: &UnixAddr, mode: u32) -> Result<(OwnedFd, Option<SocketFile>)> {
    let path = match addr {
        UnixAddr::Abstract(_) => {
            let fd = unix_socket()?;
            rustix::net::bind(&fd, &addr.sockaddr()?).map_err(|e| match e {
                Errno::ADDRINUSE => Error::new(
                    ErrorKind::AddressInUse,
                    format!("abstract socket {addr:?} is in use"),
                ),
                e => Error::from_io(&ioe(e), "binding abstract socket"),
            })?;
            rustix::net::listen(&fd, BACKLOG).map_err(|e| Error::from_io(&ioe(e), "listen"))?;
            return Ok((fd, None));
        }
        UnixAddr::Path(p) => p,
    };
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("/"));
    for _attempt in 0..8 {
        reclaim_if_stale(path)?;
        let tmp_dir = parent.join(format!(".ipc{:08x}", fastrand::u32(..)));
        let tmp_sock = tmp_dir.join("s");
        if tmp_sock.as_os_str().len() > crate::endpoint::MAX_SOCKET_PATH {
            return Err(Error::new(
                ErrorKind::InvalidEndpoint,
                format!(
                    "directory {} is too long to create a socket in safely",
                    parent.display()
                ),
            ));
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp_dir)
            .map_err(|e| {
                Error::from_io(
                    &e,
                    format_args!("creating a private directory in {}", parent.display()),
                )
            })?;
        let result = bind_in_private_dir(&tmp_sock, path, mode);
        let _ = std::fs::remove_file(&tmp_sock);
        let _ = std::fs::remove_dir(&tmp_dir);
        match result {
            Ok(done) => return Ok(done),
            // Someone else linked a socket at the path between our check and our link: re-check.
            Err(e)
                if e.kind() == ErrorKind::AddressInUse
                    && e.os_error() == Some(Errno::EXIST.raw_os_error()) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::new(
        ErrorKind::AddressInUse,
        format!("{} keeps changing under us", path.display()),
    ))
}

fn bind_in_private_dir(
    tmp_sock: &Path,
    path: &Path,
    mode: u32,
) -> Result<(OwnedFd, Option<SocketFile>)> {
    let fd = unix_socket()?;
    let tmp_addr =
        SocketAddrUnix::new(tmp_sock).map_err(|e| Error::from_io(&ioe(e), "socket address"))?;
    rustix::net::bind(&fd, &tmp_addr).map_err(|e| Error::from_io(&ioe(e), "binding socket"))?;
    std::fs::set_permissions(tmp_sock, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::from_io(&e, "setting socket mode"))?;
    rustix::net::listen(&fd, BACKLOG).map_err(|e| Error::from_io(&ioe(e), "listen"))?;
    if let Err(e) = std::fs::hard_link(tmp_sock, path) {
        let mut err = Error::from_io(&e, format_args!("placing socket at {}", path.display()));
        if e.kind() == io::ErrorKind::AlreadyExists {
            err = Error::new(ErrorKind::AddressInUse, err.message().to_owned())
                .with_os(e.raw_os_error());
        }
        return Err(err);
    }
    let meta =
        std::fs::symlink_metadata(path).map_err(|e| Error::from_io(&e, "checking socket"))?;
    Ok((
        fd,
        Some(SocketFile {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        }),
    ))
}

/// If `path` holds a socket nobody answers on, remove it. A live socket is AddressInUse; a path
/// holding anything else is left alone and reported.
fn reclaim_if_stale(path: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Error::from_io(
                &e,
                format_args!("checking {}", path.display()),
            ));
        }
        Ok(m) => m,
    };
    use std::os::unix::fs::FileTypeExt;
    if !meta.file_type().is_socket() {
        return Err(Error::new(
            ErrorKind::AddressInUse,
            format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            ),
        ));
    }
    match connect_unix(
        &UnixAddr::Path(path.to_owned()),
        Some(Duration::from_secs(1)),
    ) {
        Ok(_) => Err(Error::new(
            ErrorKind::AddressInUse,
            format!("a listener is live at {}", path.display()),
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            // Narrow the race with another process reclaiming the same path: remove only the
            // very file we found dead. (If it changed, our link will fail and we re-check.)
            match std::fs::symlink_metadata(path) {
                Ok(now) if now.dev() == meta.dev() && now.ino() == meta.ino() => {}
                _ => return Ok(()),
            }
            tracing::debug!(path = %path.display(), "reclaiming stale socket file");
            match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::from_io(
                    &e,
                    format_args!("removing stale socket {}", path.display()),
                )),
            }
        }
        Err(e) if e.kind() == ErrorKind::Timeout => Err(Error::new(
            ErrorKind::AddressInUse,
            format!("a listener is live (busy) at {}", path.display()),
        )),
        Err(e) => Err(e),
    }
}

/// Connect to a Unix socket; a full backlog waits up to `timeout`.
pub(crate) fn connect_unix(addr: &UnixAddr, timeout: Option<Duration>) -> Result<OwnedFd> {
    let fd = unix_socket()?;
    let sa = addr.sockaddr()?;
    // Linux bounds a blocking Unix-socket connect by the send timeout.
    rustix::net::sockopt::set_socket_timeout(&fd, Timeout::Send, timeout)
        .map_err(|e| Error::from_io(&ioe(e), "setsockopt"))?;
    let shown = match addr {
        UnixAddr::Path(p) => format!("unix://{}", p.display()),
        UnixAddr::Abstract(n) => format!("unix:@{n}"),
    };
    loop {
        match rustix::net::connect(&fd, &sa) {
            Ok(()) => break,
            Err(Errno::INTR) => continue,
            Err(Errno::NOENT | Errno::CONNREFUSED) => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("nobody is listening at {shown}"),
                ));
            }
            Err(Errno::AGAIN) => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("connecting to {shown}: listener backlog stayed full"),
                ));
            }
            Err(e) => {
                return Err(Error::from_io(
                    &ioe(e),
                    format_args!("connecting to {shown}"),
                ));
            }
        }
    }
    rustix::net::sockopt::set_socket_timeout(&fd, Timeout::Send, None)
        .map_err(|e| Error::from_io(&ioe(e), "setsockopt"))?;
    Ok(fd)
}

pub(crate) fn bind_tcp(host: &str, port: u16) -> Result<OwnedFd> {
    let listener = TcpListener::bind((host, port)).map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => Error::new(
            ErrorKind::AddressInUse,
            format!("tcp://{host}:{port} is in use"),
        ),
        _ => Error::from_io(&e, format_args!("binding tcp://{host}:{port}")),
    })?;
    Ok(OwnedFd::from(listener))
}

pub(crate) fn connect_tcp(host: &str, port: u16, timeout: Option<Duration>) -> Result<OwnedFd> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::new(ErrorKind::NotFound, format!("resolving {host}: {e}")))?
        .collect();
    let mut last = Error::new(
        ErrorKind::NotFound,
        format!("{host} resolved to no address"),
    );
    for a in addrs {
        let r = match timeout {
            Some(t) => TcpStream::connect_timeout(&a, t),
            None => TcpStream::connect(a),
        };
        match r {
            Ok(s) => {
                s.set_nodelay(true)
                    .map_err(|e| Error::from_io(&e, "TCP_NODELAY"))?;
                return Ok(OwnedFd::from(s));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                last = Error::new(
                    ErrorKind::NotFound,
                    format!("nobody is listening at tcp://{a}"),
                );
            }
            Err(e) => last = Error::from_io(&e, format_args!("connecting to tcp://{a}")),
        }
    }
    Err(last)
}

pub(crate) fn set_nodelay(fd: BorrowedFd<'_>) -> Result<()> {
    rustix::net::sockopt::set_tcp_nodelay(fd, true)
        .map_err(|e| Error::from_io(&ioe(e), "TCP_NODELAY"))
}

/// Accept one connection from a non-blocking listener; `None` when none is pending.
pub(crate) fn accept(listener: BorrowedFd<'_>) -> Result<Option<OwnedFd>> {
    loop {
        match rustix::net::accept_with(listener, SocketFlags::CLOEXEC) {
            Ok(fd) => return Ok(Some(fd)),
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Ok(None),
            // The connection died before we got it; not the listener's problem.
            Err(Errno::CONNABORTED | Errno::PROTO) => return Ok(None),
            Err(e) => return Err(Error::from_io(&ioe(e), "accept")),
        }
    }
}

pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> Result<()> {
    rustix::io::ioctl_fionbio(fd, on)
        .map_err(|e| Error::from_io(&ioe(e), "setting non-blocking mode"))
}

pub(crate) fn set_io_timeouts(fd: BorrowedFd<'_>, t: Option<Duration>) -> Result<()> {
    rustix::net::sockopt::set_socket_timeout(fd, Timeout::Send, t)
        .and_then(|()| rustix::net::sockopt::set_socket_timeout(fd, Timeout::Recv, t))
        .map_err(|e| Error::from_io(&ioe(e), "setting socket timeouts"))
}

pub(crate) fn is_unix_socket(fd: BorrowedFd<'_>) -> bool {
    rustix::net::getsockname(fd)
        .map(|a| a.address_family() == AddressFamily::UNIX)
        .unwrap_or(false)
}

/// The peer's credentials where the OS reports them (Unix sockets on Linux).
pub(crate) fn peer_credentials(fd: BorrowedFd<'_>) -> PeerCredentials {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if is_unix_socket(fd) {
        use std::os::fd::AsRawFd;
        // Read SO_PEERCRED into a plain `ucred`: the kernel reports pid 0 for a peer outside our
        // pid namespace, which a non-zero pid type (as in rustix's `UCred`) cannot hold.
        let mut cred = libc::ucred {
            pid: 0,
            uid: 0,
            gid: 0,
        };
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        // SAFETY: `fd` is an open socket; `cred` and `len` are valid for writes and `len` is
        // the size of `cred`, as SO_PEERCRED expects.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERCRED,
                (&raw mut cred).cast(),
                &mut len,
            )
        };
        if rc == 0 && len as usize == std::mem::size_of::<libc::ucred>() {
            return PeerCredentials {
                pid: (cred.pid > 0).then_some(cred.pid as u32),
                uid: Some(cred.uid),
                gid: Some(cred.gid),
            };
        }
    }
    let _ = fd;
    PeerCredentials::default()
}

/// Map a socket errno to an error; EOF-like conditions are PeerDisconnected.
pub(crate) fn io_error(e: Errno, what: &str) -> Error {
    match e {
        Errno::PIPE
        | Errno::CONNRESET
        | Errno::NOTCONN
        | Errno::CONNABORTED
        | Errno::TIMEDOUT
        | Errno::HOSTUNREACH
        | Errno::NETUNREACH
        | Errno::NETDOWN
        | Errno::HOSTDOWN => Error::new(
            ErrorKind::PeerDisconnected,
            format!("{what}: peer disconnected ({})", ioe(e)),
        )
        .with_os(Some(e.raw_os_error())),
        Errno::AGAIN => Error::new(ErrorKind::Timeout, format!("{what}: timed out")),
        e => Error::from_io(&ioe(e), what),
    }
}

/// Write all of `bufs` (never raising SIGPIPE), retrying on EINTR. With a non-blocking fd,
/// returns the number of bytes written before EAGAIN.
pub(crate) fn send_all(
    fd: BorrowedFd<'_>,
    bufs: &mut [io::IoSlice<'_>],
) -> std::result::Result<usize, (usize, Errno)> {
    send_with(fd, bufs, SendFlags::NOSIGNAL)
}

/// Like [`send_all`], but never blocks: stops with `(written, EAGAIN)` when the socket is full.
pub(crate) fn send_nonblocking(
    fd: BorrowedFd<'_>,
    bufs: &mut [io::IoSlice<'_>],
) -> std::result::Result<usize, (usize, Errno)> {
    send_with(fd, bufs, SendFlags::NOSIGNAL | SendFlags::DONTWAIT)
}

fn send_with(
    fd: BorrowedFd<'_>,
    bufs: &mut [io::IoSlice<'_>],
    flags: SendFlags,
) -> std::result::Result<usize, (usize, Errno)> {
    let mut bufs = &mut bufs[..];
    let mut total = 0;
    io::IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        let r = if bufs.len() == 1 {
            rustix::net::send(fd, &bufs[0], flags)
        } else {
            rustix::net::sendmsg(fd, bufs, &mut Default::default(), flags)
        };
        match r {
            Ok(n) => {
                total += n;
                io::IoSlice::advance_slices(&mut bufs, n);
            }
            Err(Errno::INTR) => continue,
            Err(e) => return Err((total, e)),
        }
    }
    Ok(total)
}

/// Best-effort send of a small frame without blocking (error reports, CLOSE from `Drop`).
pub(crate) fn send_nowait(fd: BorrowedFd<'_>, bytes: &[u8]) -> bool {
    matches!(rustix::net::send(fd, bytes, SendFlags::NOSIGNAL | SendFlags::DONTWAIT), Ok(n) if n == bytes.len())
}

/// Bytes a TCP socket has not yet had acknowledged by the peer's kernel (SIOCOUTQ), or `None`
/// where that cannot be asked.
pub(crate) fn tcp_unacked(fd: BorrowedFd<'_>) -> Option<usize> {
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        any(
            target_arch = "x86_64",
            target_arch = "x86",
            target_arch = "aarch64",
            target_arch = "arm",
            target_arch = "riscv64"
        )
    ))]
    {
        const SIOCOUTQ: rustix::ioctl::Opcode = 0x5411;
        // SAFETY: SIOCOUTQ is a valid socket ioctl on these targets and writes one `int`.
        let getter = unsafe { rustix::ioctl::Getter::<SIOCOUTQ, std::ffi::c_int>::new() };
        // SAFETY: `fd` is a valid socket and `getter` matches what the kernel writes.
        return unsafe { rustix::ioctl::ioctl(fd, getter) }
            .ok()
            .map(|n| n.max(0) as usize);
    }
    #[allow(unreachable_code)]
    {
        let _ = fd;
        None
    }
}

/// Whether a socket being closed has nothing left in flight: a Unix socket, a TCP socket whose
/// sent bytes the peer's kernel has all acknowledged, or one that has failed (reset, error)
/// so that nothing more can be delivered anyway. Discards pending input as a side effect.
pub(crate) fn nothing_in_flight(fd: BorrowedFd<'_>) -> bool {
    if is_unix_socket(fd) || drain_nowait(fd).is_err() {
        return true;
    }
    if !matches!(rustix::net::sockopt::socket_error(fd), Ok(Ok(()))) {
        return true;
    }
    matches!(tcp_unacked(fd), Some(0) | None)
}

/// Before a TCP socket is closed: wait (until `deadline`) for the peer's kernel to acknowledge
/// everything we sent, discarding input meanwhile. Closing a TCP socket with unread input
/// makes Linux send a reset, which would destroy data still in flight.
pub(crate) fn linger_tcp(fd: BorrowedFd<'_>, deadline: Instant) {
    while !nothing_in_flight(fd) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Read and discard whatever is already queued on a socket, without blocking.
pub(crate) fn drain_nowait(fd: BorrowedFd<'_>) -> std::result::Result<(), Errno> {
    let mut buf = [0u8; 4096];
    // Bounded, so a peer that floods us cannot keep a closing thread here.
    for _ in 0..256 {
        match rustix::net::recv(fd, &mut buf, rustix::net::RecvFlags::DONTWAIT) {
            Ok((0, _)) | Err(Errno::AGAIN) => return Ok(()),
            Ok(_) | Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One `read` into `buf`, retrying on EINTR. Returns the number of bytes now initialised.
pub(crate) fn read_into(
    fd: BorrowedFd<'_>,
    buf: &mut [MaybeUninit<u8>],
) -> std::result::Result<usize, Errno> {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Ok((init, _)) => return Ok(init.len()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// One `recv` into `buf` that never waits (`MSG_DONTWAIT`), retrying on EINTR. Returns the
/// number of bytes now initialised (0: end of stream); `AGAIN` if nothing is queued.
pub(crate) fn recv_nowait(
    fd: BorrowedFd<'_>,
    buf: &mut [MaybeUninit<u8>],
) -> std::result::Result<usize, Errno> {
    loop {
        match rustix::net::recv(fd, &mut *buf, rustix::net::RecvFlags::DONTWAIT) {
            Ok(((init, _), _)) => return Ok(init.len()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// A descriptor that is readable while any of `fds` is (an epoll set, level-triggered,
/// close-on-exec). A member that is closed leaves the set.
pub(crate) fn readiness_set(fds: &[BorrowedFd<'_>]) -> Result<OwnedFd> {
    use rustix::event::epoll;
    let fail = |e: Errno| Error::from_io(&ioe(e), "epoll");
    let set = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(fail)?;
    for (i, fd) in fds.iter().enumerate() {
        epoll::add(
            &set,
            fd,
            epoll::EventData::new_u64(i as u64),
            epoll::EventFlags::IN,
        )
        .map_err(fail)?;
    }
    Ok(set)
}

/// Which readiness to wait for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Interest {
    Read,
    Write,
}

/// Wait until `fd` is ready or the deadline passes; `false` on timeout. Hang-up and errors
/// count as ready (the following I/O call reports them).
pub(crate) fn wait(
    fd: BorrowedFd<'_>,
    interest: Interest,
    deadline: Option<Instant>,
) -> Result<bool> {
    let flags = match interest {
        Interest::Read => PollFlags::IN,
        Interest::Write => PollFlags::OUT,
    };
    let mut fds = [PollFd::new(&fd, flags)];
    poll(&mut fds, deadline).map(|n| n > 0)
}

pub(crate) fn poll(fds: &mut [PollFd<'_>], deadline: Option<Instant>) -> Result<usize> {
    loop {
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                Some(rustix::event::Timespec {
                    tv_sec: left.as_secs() as _,
                    tv_nsec: left.subsec_nanos() as _,
                })
            }
        };
        match rustix::event::poll(fds, timeout.as_ref()) {
            Ok(n) => return Ok(n),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(Error::from_io(&ioe(e), "poll")),
        }
    }
}

/// Shut a socket down, for writing only or in both directions (which wakes threads blocked
/// on it). Returns whether the socket was still connected.
pub(crate) fn shutdown(fd: BorrowedFd<'_>, write_only: bool) -> bool {
    let how = if write_only {
        rustix::net::Shutdown::Write
    } else {
        rustix::net::Shutdown::Both
    };
    rustix::net::shutdown(fd, how).is_ok()
}

/// A self-pipe: `wake` makes the read end readable until `drain`.
#[derive(Debug)]
pub(crate) struct WakePipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl WakePipe {
    pub(crate) fn new() -> Result<WakePipe> {
        let (read, write) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )
        .map_err(|e| Error::from_io(&ioe(e), "pipe"))?;
        Ok(WakePipe { read, write })
    }

    pub(crate) fn wake(&self) {
        let _ = rustix::io::write(&self.write, &[1]);
    }

    /// Consume one wake-up (the pipe stays readable while more remain).
    pub(crate) fn take_one(&self) {
        let mut buf = [0u8; 1];
        let _ = rustix::io::read(&self.read, &mut buf);
    }

    pub(crate) fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!(rustix::io::read(&self.read, &mut buf), Ok(n) if n > 0) {}
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}
